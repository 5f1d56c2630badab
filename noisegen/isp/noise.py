"""Noise models in the irradiance (raw) domain, with their ground-truth σ maps.

The central model is the heteroscedastic Gaussian of Guo et al., "Toward Convolutional Blind
Denoising of Real Photographs" (CBDNet), CVPR 2019, Eq. (1), used by AINDNet (Kim et al., CVPR
2020, §3.1):

    n ~ N(0, σ²(L)),   σ²(L) = L·σ_s² + σ_c²   (per channel)

with ground truth σ_raw = sqrt(L·σ_s² + σ_c²). The same two parameters describe the other models:
AWGN is σ_s = 0; Poisson(λL)/λ has variance L/λ, i.e. σ_s² = 1/λ; Poisson-Gaussian adds σ_c²; the
log-linear shot/read sampling of Brooks et al. 2019 (§3.4) draws (σ_s², σ_c²) = (shot, read).
``model`` chooses the distribution ("gaussian" or "poisson": a true Poisson draw for the signal-
dependent part plus Gaussian σ_c), the σ law is the same. Note that CBDNet's MATLAB code uses std
σ_s·L (variance σ_s²L²) against its own paper; we follow the paper.

When a Bayer pattern is given the noise is drawn on the mosaic, one value per pixel, as a sensor
does; the σ map is still given for all three channels. Gaussian deviates come from our numba
ziggurat over the Generator's raw 64-bit words (noisegen.kernels.gauss), ~3× cheaper than
numpy's standard_normal and still a pure function of the Generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from noisegen.checks import check_finite_scalar, check_image_float
from noisegen.isp.bayer import BayerPattern, mosaic, parse_pattern
from noisegen.isp.noise_level import sigma_raw_reference
from noisegen.kernels.gauss import (
    ZIG_F,
    ZIG_X,
    _gauss_cfa,
    _gauss_cfa_u8,
    _gauss_rgb,
    _gauss_rgb_u8,
    _sigma_raw_kernel,
    _standard_normal,
)

__all__ = [
    "NOISE_MODELS",
    "NoisyRaw",
    "sigma_raw",
    "standard_normal",
    "add_raw_noise",
    "add_raw_noise_u8",
    "awgn",
    "poisson",
    "poisson_gaussian",
    "sample_brooks_shot_read",
    "BROOKS_LOG_SHOT",
    "BROOKS_LOG_READ",
]

NOISE_MODELS = ("gaussian", "poisson")

# Brooks et al. 2019 §3.4: log shot ~ U(log 1e-4, log 0.012); log read = 2.18·log shot + 1.20 + N(0, 0.26).
BROOKS_LOG_SHOT = (math.log(1e-4), math.log(0.012))
BROOKS_LOG_READ = (2.18, 1.20, 0.26)  # slope, intercept, std of the residual


def _three(values: object, name: str) -> np.ndarray:
    arr = np.broadcast_to(np.asarray(values, dtype=np.float64), (3,)).copy()
    for c, v in enumerate(arr):
        check_finite_scalar(v, f"{name}[{c}]", lo=0.0)
    return arr


@dataclass(frozen=True, eq=False)
class NoisyRaw:
    """Result of add_raw_noise.

    noisy: float32, H×W (the noisy mosaic) when a pattern was given, else H×W×3; not clipped.
    sigma_raw: float32 H×W×3, the standard deviation of the noise at every pixel and channel.
    """

    noisy: np.ndarray
    sigma_raw: np.ndarray


def standard_normal(rng: np.random.Generator, size: int | tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """N(0, 1) deviates of the given shape (float32 or float64) from the ziggurat kernel.

    n + n/16 + 64 raw words are drawn up front (rejections need ~2% more); in the rare event that
    is not enough, the buffer is extended from the same Generator and the kernel rerun, so the
    result is a pure function of the Generator state.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}")
    out = np.empty(size, dtype=dtype)
    flat = out.reshape(-1)
    words = rng.bit_generator.random_raw(flat.size + flat.size // 16 + 64)
    while _standard_normal(words, ZIG_X, ZIG_F, flat) < 0:
        words = np.concatenate([words, rng.bit_generator.random_raw(words.size)])
    return out


def sigma_raw(L: np.ndarray, sigma_s: object, sigma_c: object) -> np.ndarray:
    """Ground-truth noise level map σ_raw = sqrt(max(L, 0)·σ_s² + σ_c²), by the pipeline's numba kernel.

    Equal to the numpy reference noisegen.isp.noise_level.sigma_raw_reference (tests/isp/test_noise.py).

    Args:
        L: float H×W×3 irradiance (values below 0, possible after a colour matrix, count as 0).
        sigma_s, sigma_c: a scalar or 3 values ≥ 0 (per channel).
    Returns:
        float32 H×W×3 standard deviations.
    """
    L = check_image_float(L, "L", lo=None, hi=None)
    s = _three(sigma_s, "sigma_s")
    c = _three(sigma_c, "sigma_c")
    out = np.empty_like(L)
    _sigma_raw_kernel(L, s * s, c * c, out)
    return out


def add_raw_noise(
    L: np.ndarray,
    sigma_s: object,
    sigma_c: object,
    rng: np.random.Generator,
    *,
    model: str = "gaussian",
    pattern: str | BayerPattern | None = None,
) -> NoisyRaw:
    """Add heteroscedastic noise of variance L·σ_s² + σ_c² to an irradiance image.

    Args:
        L: float H×W×3 irradiance, nominally in [0, 1].
        sigma_s, sigma_c: scalar or per-channel (3,) parameters ≥ 0 (in units of full scale).
        rng: numpy Generator; the only randomness used (same state → same noise).
        model: "gaussian" (N(0, σ²(L))) or "poisson" (Poisson(L/σ_s²)·σ_s² + N(0, σ_c²)).
        pattern: Bayer pattern name; when given, the output is the noisy mosaic (H×W).
    Returns:
        NoisyRaw(noisy, sigma_raw).
    """
    L = check_image_float(L, "L", lo=None, hi=None)
    if model not in NOISE_MODELS:
        raise ValueError(f"model: expected one of {NOISE_MODELS}, got {model!r}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}")
    s = _three(sigma_s, "sigma_s")
    c = _three(sigma_c, "sigma_c")
    pat = parse_pattern(pattern)
    H, W, _ = L.shape
    sig = np.empty_like(L)
    if model == "gaussian":
        if pat is None:
            noisy = np.empty_like(L)
            _gauss_rgb(L, standard_normal(rng, (H, W, 3)), s * s, c * c, noisy, sig)
        else:
            noisy = np.empty((H, W), dtype=np.float32)
            _gauss_cfa(L, standard_normal(rng, (H, W)), pat.cfa, s * s, c * c, noisy, sig)
        return NoisyRaw(noisy, sig)
    # Poisson: the signal-dependent part is a true counting process, the rest Gaussian.
    _sigma_raw_kernel(L, s * s, c * c, sig)
    if pat is None:
        signal, var_s, std_c = L, s * s, c
    else:
        signal = mosaic(L, pat)
        idx = pat.cfa[np.arange(H)[:, None] & 1, np.arange(W)[None, :] & 1]
        var_s, std_c = (s * s)[idx], c[idx]
    noisy = _poisson_part(np.maximum(signal, 0.0), var_s, rng) + std_c * standard_normal(rng, signal.shape, np.float64)
    return NoisyRaw(noisy.astype(np.float32), sig)


def add_raw_noise_u8(
    img: np.ndarray,
    linear: np.ndarray,
    sigma_s: object,
    sigma_c: object,
    rng: np.random.Generator,
    *,
    pattern: str | BayerPattern | None = None,
) -> NoisyRaw:
    """Gaussian add_raw_noise on L = linear[img], fused with the inverse CRF (the cbdnet fast path).

    Args:
        img: uint8 H×W×3 codes (already validated by the caller).
        linear: float32 (256,), the irradiance of each code, f⁻¹(k/255).
        sigma_s, sigma_c, rng, pattern: as add_raw_noise (model "gaussian").
    Returns:
        exactly what add_raw_noise(linear[img], ...) returns for the same Generator state.
    """
    s = _three(sigma_s, "sigma_s")
    c = _three(sigma_c, "sigma_c")
    lin = np.ascontiguousarray(linear, dtype=np.float32)
    if lin.shape != (256,):
        raise ValueError(f"linear: expected a (256,) table, got shape {lin.shape}")
    # σ of every code and channel, by the numpy reference (float64 math, float32 result, as the kernel).
    sig_tab = np.ascontiguousarray(sigma_raw_reference(lin[:, None], s, c).T)
    pat = parse_pattern(pattern)
    H, W, _ = img.shape
    sig = np.empty((H, W, 3), dtype=np.float32)
    if pat is None:
        noisy = np.empty((H, W, 3), dtype=np.float32)
        _gauss_rgb_u8(img, lin, sig_tab, standard_normal(rng, (H, W, 3)), noisy, sig)
    else:
        noisy = np.empty((H, W), dtype=np.float32)
        _gauss_cfa_u8(img, lin, sig_tab, standard_normal(rng, (H, W)), pat.cfa, noisy, sig)
    return NoisyRaw(noisy, sig)


def _poisson_part(signal: np.ndarray, var_s: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Poisson(signal/var_s)·var_s, element-wise; exactly the signal where var_s == 0."""
    var_s = np.broadcast_to(var_s, signal.shape)
    out = signal.astype(np.float64)
    on = var_s > 0
    out[on] = rng.poisson(signal[on] / var_s[on]) * var_s[on]
    return out


def awgn(img: np.ndarray, sigma: float, rng: np.random.Generator) -> NoisyRaw:
    """Additive white Gaussian noise of std σ (full-scale units, e.g. 25/255) on every channel."""
    check_finite_scalar(sigma, "sigma", lo=0.0)
    return add_raw_noise(img, 0.0, sigma, rng)


def poisson(img: np.ndarray, lam: float, rng: np.random.Generator) -> NoisyRaw:
    """Poisson noise Poisson(λ·x)/λ (Neighbor2Neighbor's convention: λ photons at full scale)."""
    lam = check_finite_scalar(lam, "lam", lo=1e-12)
    return add_raw_noise(img, 1.0 / math.sqrt(lam), 0.0, rng, model="poisson")


def poisson_gaussian(img: np.ndarray, lam: float, sigma: float, rng: np.random.Generator) -> NoisyRaw:
    """Poisson(λ·x)/λ plus N(0, σ²): variance x/λ + σ²."""
    lam = check_finite_scalar(lam, "lam", lo=1e-12)
    check_finite_scalar(sigma, "sigma", lo=0.0)
    return add_raw_noise(img, 1.0 / math.sqrt(lam), sigma, rng, model="poisson")


def sample_brooks_shot_read(
    rng: np.random.Generator,
    log_shot: tuple[float, float] = BROOKS_LOG_SHOT,
    log_read: tuple[float, float, float] = BROOKS_LOG_READ,
) -> tuple[float, float]:
    """Draw (shot, read) noise variances with Brooks et al.'s log-linear relation (§3.4).

    log shot ~ U(log_shot); log read = slope·log shot + intercept + N(0, std²).
    Returns variances: σ²(L) = shot·L + read, i.e. σ_s = sqrt(shot), σ_c = sqrt(read).
    """
    ls = rng.uniform(log_shot[0], log_shot[1])
    slope, intercept, std = log_read
    lr = slope * ls + intercept + rng.normal(0.0, std)
    return float(math.exp(ls)), float(math.exp(lr))
