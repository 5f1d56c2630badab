"""Drawing the correlated raw noise of noisegen.isp.correlation: the unit-variance field z and σ_raw·z.

    z = M̃ · (k̃_c ⋆ w_c)_c,    w ~ N(0, 1) white on (H+4)×(W+4)×3,    noise = σ_raw(L) · z

(the model, its normalisation and its exact correlations: noisegen.isp.correlation). The white deviates
come from noisegen.isp.noise.standard_normal, so the field is a pure function of the Generator. The sum runs in
the numba kernel noisegen.kernels.correlate (``correlated_normal_numpy`` is its plain-numpy reference).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from noisegen.checks import check_image_float
from noisegen.isp.bayer import BayerPattern, mosaic, parse_pattern
from noisegen.isp.correlation import CORR_RADIUS, corr_kernels, mix_matrix
from noisegen.isp.noise import NoisyRaw, sigma_raw, standard_normal
from noisegen.kernels.correlate import _correlated_field

__all__ = ["correlated_normal", "correlated_normal_numpy", "add_correlated_noise"]


def _white(rng: np.random.Generator, shape: tuple[int, int]) -> tuple[int, int, np.ndarray]:
    h, w = int(shape[0]), int(shape[1])
    if h < 1 or w < 1:
        raise ValueError(f"shape: expected (H, W) with H, W >= 1, got {shape}")
    pad = 2 * CORR_RADIUS
    return h, w, standard_normal(rng, (h + pad, w + pad, 3), np.float64)


def correlated_normal(rng: np.random.Generator, shape: tuple[int, int], noise_corr: Any,
                      noise_mix: Any) -> np.ndarray:
    """The unit-variance correlated field z (module docstring), by the numba kernel.

    Args:
        rng: numpy Generator (the only randomness used). shape: (H, W), H, W ≥ 1.
        noise_corr, noise_mix: the SampleParams fields (None: identity kernel / no mixing).
    Returns:
        float32 H×W×3 with Var z = 1 and the correlations of noisegen.isp.correlation.field_correlation.
    """
    h, w, white = _white(rng, shape)
    out = np.empty((h, w, 3), dtype=np.float32)
    _correlated_field(white, np.ascontiguousarray(corr_kernels(noise_corr)), mix_matrix(noise_mix), out)
    return out


def correlated_normal_numpy(rng: np.random.Generator, shape: tuple[int, int], noise_corr: Any,
                            noise_mix: Any) -> np.ndarray:
    """The same field as ``correlated_normal`` in plain numpy (25 shifted slices): the reference of the kernel
    (equal to float32 rounding) and of benchmarks/bench_correlation.py."""
    h, w, white = _white(rng, shape)
    k = corr_kernels(noise_corr)
    y = np.zeros((h, w, 3))
    for dy in range(k.shape[1]):
        for dx in range(k.shape[2]):
            y += white[dy:dy + h, dx:dx + w] * k[:, dy, dx]
    return (y @ mix_matrix(noise_mix).T).astype(np.float32)


def add_correlated_noise(L: np.ndarray, sigma_s: object, sigma_c: object, rng: np.random.Generator,
                         noise_corr: Any, noise_mix: Any, *, pattern: str | BayerPattern | None = None) -> NoisyRaw:
    """Gaussian noise of variance L·σ_s² + σ_c² with the correlations of ``noise_corr``/``noise_mix``.

    Args:
        L: float H×W×3 irradiance. sigma_s, sigma_c: scalar or 3 values ≥ 0. rng: numpy Generator.
        noise_corr, noise_mix: the SampleParams fields. pattern: Bayer pattern; when given, the output is the
            noisy mosaic (H×W), each pixel taking its colour's channel of the field.
    Returns:
        NoisyRaw(noisy, sigma_raw) with sigma_raw exactly noisegen.isp.noise.sigma_raw(L, σ_s, σ_c).
    """
    L = check_image_float(L, "L", lo=None, hi=None)
    pat = parse_pattern(pattern)
    sig = sigma_raw(L, sigma_s, sigma_c)
    z = correlated_normal(rng, L.shape[:2], noise_corr, noise_mix)
    noisy = (L + sig * z).astype(np.float32)
    if pat is not None:
        noisy = mosaic(noisy, pat)
    return NoisyRaw(noisy, sig)
