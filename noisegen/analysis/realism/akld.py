"""AKLD: the average KL divergence between the local noise variances of simulated and real residuals.

Yue, Zhao, Zhang, Meng, "Dual Adversarial Network: Toward Real-world Noise Removal and Noise
Generation", ECCV 2020 (DANet), the metric of its noise-generation experiments, re-implemented from
the definition in their released code (github.com/zsyOAOA/DANet: ``utils.estimate_sigma_gauss``,
``utils.kl_gauss_zero_center``, ``loss.get_gausskernel`` / ``loss.gaussblur``, ``demo_AKLD.py``).
For one clean image x, its real noisy image y and L simulated noisy images ŷ_l:

1. residuals in [0, 1] units: r = y − x, r̂_l = ŷ_l − x (8-bit images divided by 255, as skimage's
   ``img_as_float32`` does in DANet);
2. local variance per channel: v = max(G ⊛ r², 1e-10), with G the 7×7 window
   g·gᵀ, g = OpenCV's ``getGaussianKernel(7, sigma=-1)``, and borders reflected without repeating the
   edge sample (torch ``F.pad(mode='reflect')`` = OpenCV BORDER_REFLECT_101 = scipy.ndimage 'mirror');
3. per pixel and channel, ρ = clamp(v̂ / v, 0.1, 10) and
   KL(N(0, v̂) ‖ N(0, v)) = ½(ρ − 1 − ln ρ): the divergence of the *simulated* distribution from the
   real one (DANet's ``kl_gauss_zero_center(sigma_fake, sigma_real)``);
4. the mean over pixels and channels, then over the L draws:
   AKLD = (1/L) Σ_l mean KL(v̂_l, v). Lower is better; 0 when the local variances agree everywhere.

A set of images (DANet's SIDD validation blocks) reports the mean of the per-image values.

The window. For an odd size ≤ 7 and sigma ≤ 0, OpenCV's getGaussianKernel does not evaluate the
Gaussian: it returns a fixed table (``small_gaussian_tab`` in imgproc's smooth code), for size 7
[2, 7, 14, 18, 14, 7, 2] / 64. Only for other sizes, or sigma > 0, it evaluates
exp(−i²/(2σ²)) normalised to sum 1, with the default σ = 0.3·((ksize − 1)/2 − 1) + 0.8 (1.4 for size 7).
DANet calls it with size 7 and sigma −1, so AKLD uses the table; the σ = 1.4 Gaussian differs from
it by at most 0.007 per tap (``opencv_gaussian_kernel(7, 1.4)`` gives it, for comparison).

Scale and bounds. The ratio ρ does not depend on the residual's scale; the scale enters only through
the 1e-10 floor on v, which is in [0, 1]² units (6.5e-6 in 8-bit levels²): where the real residual
is exactly zero over a window (JPEG blocks whose noise the camera removed, clipped highlights) and
the simulation's is not, ρ clamps to 10. The clamp bounds every pixel's KL: at most
½(10 − 1 − ln 10) ≈ 3.349 (simulation too noisy) and ½(0.1 − 1 + ln 10) ≈ 0.701 (too clean).

Estimation floor: v and v̂ are estimates from an effective 1/ΣG² ≈ 25 samples, so two independent
draws of the *same* noise score about ¼·var(ln v̂ − ln v) ≈ ¼·4/25 ≈ 0.04, not 0.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.ndimage import correlate1d

__all__ = ["AKLD_KSIZE", "VAR_FLOOR", "RATIO_CLAMP", "opencv_gaussian_kernel", "residual01", "local_variance",
           "kl_zero_mean", "akld_draw", "akld"]

AKLD_KSIZE = 7                 # DANet: estimate_sigma_gauss, win_size = 7
VAR_FLOOR = 1e-10              # DANet: sigma.clamp_(min=1e-10), [0, 1]² units
RATIO_CLAMP = (0.1, 10.0)      # DANet: div_sigma.clamp_(min=0.1, max=10)
# OpenCV imgproc getGaussianKernel: fixed kernels for odd sizes ≤ 7 when sigma ≤ 0 (exact binary fractions)
_OPENCV_SMALL = {1: (1.0,), 3: (0.25, 0.5, 0.25), 5: (0.0625, 0.25, 0.375, 0.25, 0.0625),
                 7: (0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125)}


def opencv_gaussian_kernel(ksize: int = AKLD_KSIZE, sigma: float = -1.0) -> np.ndarray:
    """The 1-D kernel of OpenCV's ``getGaussianKernel(ksize, sigma)`` (float64, sums to 1).

    Args:
        ksize: odd size ≥ 1.
        sigma: standard deviation in pixels; ≤ 0 selects OpenCV's default: the fixed table for
            sizes 1, 3, 5, 7, else σ = 0.3·((ksize − 1)/2 − 1) + 0.8.
    Returns:
        float64 array of shape (ksize,).
    """
    if not isinstance(ksize, (int, np.integer)) or ksize < 1 or ksize % 2 == 0:
        raise ValueError(f"ksize: expected an odd integer >= 1, got {ksize!r}")
    if sigma <= 0 and ksize in _OPENCV_SMALL:
        k = np.array(_OPENCV_SMALL[ksize], dtype=np.float64)
    else:
        s = sigma if sigma > 0 else 0.3 * ((ksize - 1) * 0.5 - 1.0) + 0.8
        i = np.arange(ksize, dtype=np.float64) - (ksize - 1) * 0.5
        k = np.exp(-0.5 * (i / s) ** 2)
    return k / k.sum()


def residual01(noisy: np.ndarray, clean: np.ndarray) -> np.ndarray:
    """noisy − clean in [0, 1] units as float64 H×W×C (uint8 inputs are divided by 255, floats taken as they are).

    Raises:
        TypeError: not numpy arrays of uint8 or float; ValueError: shapes differ or are not H×W or H×W×C.
    """
    out = []
    for name, a in (("noisy", noisy), ("clean", clean)):
        if not isinstance(a, np.ndarray) or not (a.dtype == np.uint8 or a.dtype.kind == "f"):
            got = f"{a.dtype} array" if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"{name}: expected a uint8 (0-255) or float ([0, 1]) image, got {got}")
        if a.ndim not in (2, 3):
            raise ValueError(f"{name}: expected shape (H, W) or (H, W, C), got {a.shape}")
        out.append(a.astype(np.float64) / 255.0 if a.dtype == np.uint8 else a.astype(np.float64))
    if out[0].shape != out[1].shape:
        raise ValueError(f"noisy and clean differ in shape: {noisy.shape} vs {clean.shape}")
    return out[0] - out[1]


def local_variance(residual: np.ndarray, kernel: np.ndarray | None = None, floor: float = VAR_FLOOR) -> np.ndarray:
    """DANet's local noise variance: max(G ⊛ r², floor) per channel, G = kernel·kernelᵀ.

    Args:
        residual: float H×W or H×W×C residual in [0, 1] units (see residual01); H, W > ksize // 2.
        kernel: 1-D window (default: opencv_gaussian_kernel(7), DANet's).
        floor: lower bound of the variance ([0, 1]² units; DANet's 1e-10).
    Returns:
        float64 array of the residual's shape. Borders: reflection without repeating the edge sample
        (OpenCV BORDER_REFLECT_101, torch 'reflect', scipy.ndimage 'mirror').
    Raises:
        ValueError: the image is smaller than the half-window in a direction (torch's reflect padding
            is undefined there).
    """
    k = opencv_gaussian_kernel() if kernel is None else np.asarray(kernel, dtype=np.float64)
    r = np.asarray(residual, dtype=np.float64)
    if r.ndim not in (2, 3) or min(r.shape[:2]) <= k.size // 2:
        raise ValueError(f"residual: expected H×W[×C] with H, W > {k.size // 2} (the half-window), got {r.shape}")
    v = correlate1d(correlate1d(r * r, k, axis=0, mode="mirror"), k, axis=1, mode="mirror")
    return np.maximum(v, floor)


def kl_zero_mean(var_p: np.ndarray, var_q: np.ndarray, clamp: tuple[float, float] | None = RATIO_CLAMP) -> np.ndarray:
    """KL(N(0, var_p) ‖ N(0, var_q)) = ½(ρ − 1 − ln ρ), ρ = var_p / var_q clamped to ``clamp``, elementwise.

    Args:
        var_p, var_q: positive variances of the same shape (any units, the same for both).
        clamp: (low, high) bounds of ρ (DANet's (0.1, 10)); None leaves ρ unclamped.
    Returns:
        float64 array, ≥ 0.
    """
    rho = np.asarray(var_p, dtype=np.float64) / np.asarray(var_q, dtype=np.float64)
    if clamp is not None:
        rho = np.clip(rho, clamp[0], clamp[1])
    return 0.5 * (rho - 1.0 - np.log(rho))


def akld_draw(var_real: np.ndarray, var_sim: np.ndarray) -> float:
    """Mean over pixels and channels of KL(N(0, var_sim) ‖ N(0, var_real)) for one simulated draw
    (local variances from local_variance)."""
    if np.shape(var_real) != np.shape(var_sim):
        raise ValueError(f"var_real and var_sim differ in shape: {np.shape(var_real)} vs {np.shape(var_sim)}")
    return float(np.mean(kl_zero_mean(var_sim, var_real)))


def akld(clean: np.ndarray, noisy_real: np.ndarray, noisy_sims: Sequence[np.ndarray]) -> float:
    """AKLD of one image (see the module docstring): the mean over draws of the mean KL.

    Args:
        clean: the clean image, uint8 (0-255) or float ([0, 1]), H×W or H×W×C.
        noisy_real: the real noisy image, same shape and convention.
        noisy_sims: L ≥ 1 simulated noisy images of ``clean``, same shape and convention.
    Returns:
        AKLD ≥ 0 (lower is better).
    """
    if len(noisy_sims) == 0:
        raise ValueError("noisy_sims: expected at least one simulated image")
    v_real = local_variance(residual01(noisy_real, clean))
    return float(np.mean([akld_draw(v_real, local_variance(residual01(s, clean))) for s in noisy_sims]))
