"""Spatially and cross-channel correlated raw noise: a small filter applied to white noise.

Real sRGB residuals are correlated between neighbours and between channels (lag-1 ρ ≈ 0.6-0.8 on
PolyU100 and CC60, also in PNG files: the camera's demosaicing, noise reduction and sharpening mix
neighbouring samples). Demosaicing a white mosaic explains part of it; this term supplies the rest.
The noise of a sample is σ_raw(L)·z with z a unit-variance Gaussian field

    y_c = k̃_c ⋆ w_c  (w ~ N(0, 1) white, H×W×3),      z = M̃ · y  (per pixel)

- k̃_c: a 5×5 kernel per channel, mirror-symmetric (k(dy, dx) = q_c[|dy|, |dx|], q_c the 3×3 quadrant
  given by ``noise_corr``), scaled to unit energy Σ k̃² = 1, so that y_c has unit variance;
- M̃: the 3×3 colour mixing matrix ``noise_mix`` with its rows scaled to unit norm, so that z_i has
  unit variance (Var z_i = Σ_j M̃_ij², the y_j being independent).

So the noise variance at every pixel is exactly σ_raw² = L·σ_s² + σ_c²: the variance law and the σ
map (noisegen.isp.raw_sigma, ``generate --sigma derived``) are those of the white model; the term only
moves noise power between spatial frequencies and between channels. Its correlations are exact
(``field_correlation``): corr(z_i(p), z_j(p + d)) = Σ_c M̃_ic M̃_jc a_c(d), a_c the autocorrelation of
k̃_c; at d = 0 that is (M̃ M̃ᵀ)_ij, the cross-channel correlation. The field is drawn on (H+4)×(W+4)
and filtered without padding, so it is stationary up to the border. On a Bayer mosaic the pixel of
colour c takes channel c of the field (a sensor has one noisy value per pixel). Both fields None
(the default) is white noise, and the pipeline then runs exactly as without this module.

This module is numpy only (the parameters' checks; SampleParams and the dataset reader import it); the
field is drawn by noisegen.isp.correlated_noise. Fitting the term to measured correlations:
noisegen.analysis.calibrate.correlation_fit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["CORR_RADIUS", "N_KERNEL", "N_MIX", "check_noise_corr", "check_noise_mix", "corr_enabled",
           "quadrant_kernel", "corr_kernels", "mix_matrix", "field_correlation"]

CORR_RADIUS = 2           # kernel radius: lags up to 2 (a 5×5 kernel)
N_KERNEL = 27             # noise_corr: 3 channels × the 3×3 quadrant q_c[|dy|, |dx|], row-major
N_MIX = 9                 # noise_mix: the 3×3 matrix, row-major


def _finite(value: Any, n: int, name: str) -> tuple[float, ...]:
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__len__") or len(value) != n:
        raise ValueError(f"{name}: expected null or {n} numbers, got {value!r}")
    if any(isinstance(v, (bool, str)) or not isinstance(v, (int, float, np.floating, np.integer))
           or not math.isfinite(v) for v in value):
        raise ValueError(f"{name}: expected {n} finite numbers, got {value!r}")
    return tuple(float(v) for v in value)


def check_noise_corr(value: Any, name: str) -> tuple[float, ...] | None:
    """None, or 27 finite numbers whose 3 channel kernels each have some energy."""
    if value is None:
        return None
    q = _finite(value, N_KERNEL, name)
    if any(sum(v * v for v in q[9 * c:9 * c + 9]) <= 1e-12 for c in range(3)):
        raise ValueError(f"{name}: every channel's kernel needs a non-zero entry, got {list(q)}")
    return q


def check_noise_mix(value: Any, name: str) -> tuple[float, ...] | None:
    """None, or 9 finite numbers: a 3×3 matrix without a zero row and with |det| > 1e-6 after row scaling."""
    if value is None:
        return None
    m = np.reshape(_finite(value, N_MIX, name), (3, 3))
    norms = np.sqrt((m * m).sum(axis=1))
    if (norms <= 1e-12).any() or abs(np.linalg.det(m / norms[:, None])) < 1e-6:
        raise ValueError(f"{name}: expected a 3×3 mixing matrix of independent non-zero rows, got {m.tolist()}")
    return tuple(float(v) for v in m.ravel())


def corr_enabled(noise_corr: Any, noise_mix: Any) -> bool:
    """True when either field is given (the noise is then drawn by ``correlated_normal``)."""
    return noise_corr is not None or noise_mix is not None


def quadrant_kernel(q: Any) -> np.ndarray:
    """The 5×5 mirror-symmetric kernel k(dy, dx) = q[|dy|, |dx|] of a 3×3 quadrant, scaled to Σk² = 1 (float64)."""
    q = np.asarray(q, dtype=np.float64).reshape(3, 3)
    idx = np.abs(np.arange(-CORR_RADIUS, CORR_RADIUS + 1))
    k = q[idx[:, None], idx[None, :]]
    return k / math.sqrt(float((k * k).sum()))


def corr_kernels(noise_corr: Any) -> np.ndarray:
    """(3, 5, 5) unit-energy kernels of ``noise_corr`` (None: the identity, a centred 1)."""
    if noise_corr is None:
        k = np.zeros((3, 5, 5))
        k[:, CORR_RADIUS, CORR_RADIUS] = 1.0
        return k
    q = np.asarray(noise_corr, dtype=np.float64).reshape(3, 3, 3)
    return np.stack([quadrant_kernel(q[c]) for c in range(3)])


def mix_matrix(noise_mix: Any) -> np.ndarray:
    """The 3×3 mixing matrix of ``noise_mix`` with unit-norm rows (None: the identity), float64."""
    if noise_mix is None:
        return np.eye(3)
    m = np.asarray(noise_mix, dtype=np.float64).reshape(3, 3)
    return m / np.sqrt((m * m).sum(axis=1, keepdims=True))


def field_correlation(noise_corr: Any, noise_mix: Any, lags: Any) -> tuple[np.ndarray, np.ndarray]:
    """Exact correlations of the field: per channel at each lag, and between channels at lag 0.

    Args:
        noise_corr, noise_mix: the SampleParams fields. lags: (n, 2) integer (row, column) offsets, |·| ≤ 4.
    Returns:
        (auto (3, n): corr(z_c(p), z_c(p + d)), cross (3,): corr of the pairs RG, RB, GB at lag 0).
    """
    k = corr_kernels(noise_corr)
    m = mix_matrix(noise_mix)
    lags = np.asarray(lags, dtype=np.int64).reshape(-1, 2)
    r2 = 2 * CORR_RADIUS
    if (np.abs(lags) > r2).any():
        raise ValueError(f"lags: offsets beyond ±{r2} have zero correlation; got {lags.tolist()}")
    # a_c(d) = Σ_p k_c(p)·k_c(p + d): |FFT|² on a 9×9 grid, large enough for the linear autocorrelation of 5×5
    size = 2 * r2 + 1
    a = np.fft.ifft2(np.abs(np.fft.fft2(k, s=(size, size))) ** 2).real     # a[c, d mod 9]
    ad = a[:, lags[:, 0] % size, lags[:, 1] % size]     # (3, n)
    auto = np.einsum("ic,cn->in", m * m, ad)
    cross_m = m @ m.T
    cross = np.array([cross_m[0, 1], cross_m[0, 2], cross_m[1, 2]])
    return auto, cross
