"""Sharpening: an unsharp mask after the tone curve, as phone and camera ISPs apply before JPEG.

    USM(y) = y + a·(y − G_r ⋆ y)        (threshold 0: every difference is amplified)

G_r is the Gaussian of standard deviation r pixels, separable, truncated at ⌈4r⌉ pixels and normalised
to sum 1 (scipy.ndimage.gaussian_filter's kernel with its default truncate = 4), with borders mirrored
with the edge sample repeated (numpy 'symmetric', scipy.ndimage 'reflect'); a = ``sharpen_amount`` ≥ 0
(0: off), r = ``sharpen_radius`` > 0. Pillow's ImageFilter.UnsharpMask(radius, percent, threshold) is
the same operation on 8-bit data with a box-filter approximation of the Gaussian.

In the pipeline (noisegen.isp.pipeline) the source photo is taken to be a camera's output, already
sharpened; what the simulation adds to it is the noise. So the step sharpens the image's noise, the
difference d = y − c between the noisy render y and the noise-free render c (both after the tone curve,
in [0, 1], before 8 bits): y ← y + a·(d − G_r ⋆ d) = c + USM(d). USM is linear, so this is exactly what
sharpening the noisy image does to its noise, without sharpening the photo's edges a second time (which
would put edge artefacts into the residual, absent from real pairs whose clean image is the same camera's
output). The σ map is the raw-domain σ and is not changed by this step. USM has no exact inverse on a
bounded image (its inverse filter has unbounded support); none is needed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["SHARPEN_MAX_AMOUNT", "SHARPEN_MAX_RADIUS", "check_sharpen", "sharpen_enabled", "gaussian_kernel1d",
           "gaussian_blur", "unsharp_mask", "sharpen_noise"]

SHARPEN_MAX_AMOUNT = 10.0   # a gain of 11 at the highest frequencies: far beyond any camera
SHARPEN_MAX_RADIUS = 10.0   # pixels


def check_sharpen(amount: Any, radius: Any, where: str) -> tuple[float, float]:
    """Validate (sharpen_amount, sharpen_radius): 0 ≤ amount ≤ 10, 0 < radius ≤ 10. Returns floats."""
    ok = all(isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) for v in (amount, radius))
    if not ok or not (math.isfinite(float(amount)) and math.isfinite(float(radius))):
        raise ValueError(f"{where}: sharpen_amount and sharpen_radius must be finite numbers, "
                         f"got {amount!r}, {radius!r}")
    a, r = float(amount), float(radius)
    if not 0.0 <= a <= SHARPEN_MAX_AMOUNT:
        raise ValueError(f"{where}: sharpen_amount must lie in [0, {SHARPEN_MAX_AMOUNT:g}] (0 = off), got {a}")
    if not 0.0 < r <= SHARPEN_MAX_RADIUS:
        raise ValueError(f"{where}: sharpen_radius must lie in (0, {SHARPEN_MAX_RADIUS:g}] pixels, got {r}")
    return a, r


def sharpen_enabled(amount: float) -> bool:
    """True when the unsharp mask changes anything (amount > 0)."""
    return float(amount) > 0.0


def gaussian_kernel1d(radius: float) -> np.ndarray:
    """The 1-D Gaussian of std ``radius`` on −⌈4r⌉..⌈4r⌉, normalised to sum 1 (float64)."""
    half = int(math.ceil(4.0 * float(radius)))
    x = np.arange(-half, half + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / float(radius)) ** 2)
    return k / k.sum()


def gaussian_blur(img: np.ndarray, radius: float) -> np.ndarray:
    """G_r ⋆ img over the two spatial axes of a float H×W×C (or H×W) array; float64 result, same shape."""
    a = np.asarray(img, dtype=np.float64)
    k = gaussian_kernel1d(radius)
    half = k.size // 2
    for axis in (0, 1):
        n = a.shape[axis]
        # mirrored with the edge repeated ('symmetric'); repeated padding covers kernels longer than the image
        idx = np.arange(-half, n + half)
        period = 2 * n
        idx = np.mod(idx, period)
        idx = np.where(idx >= n, period - 1 - idx, idx)
        p = np.take(a, idx, axis=axis)
        out = np.zeros_like(a)
        for t in range(k.size):
            sl = [slice(None)] * a.ndim
            sl[axis] = slice(t, t + n)
            out += k[t] * p[tuple(sl)]
        a = out
    return a


def unsharp_mask(img: np.ndarray, amount: float, radius: float) -> np.ndarray:
    """USM(img) = img + amount·(img − G_radius ⋆ img), float64, no clipping (module docstring)."""
    a, r = check_sharpen(amount, radius, "unsharp_mask")
    x = np.asarray(img, dtype=np.float64)
    if x.ndim not in (2, 3) or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"img: expected an H×W or H×W×C array, got shape {x.shape}")
    if a == 0.0:
        return x.copy()
    return x + a * (x - gaussian_blur(x, r))


def sharpen_noise(noisy: np.ndarray, clean: np.ndarray, amount: float, radius: float) -> np.ndarray:
    """clean + USM(noisy − clean): sharpen what the simulation added to the noise-free render (module docstring).

    Args:
        noisy, clean: float H×W×3 renders after the tone curve (same shape). amount, radius: the USM's.
    Returns:
        float64 H×W×3, not clipped.
    """
    noisy = np.asarray(noisy, dtype=np.float64)
    clean = np.asarray(clean, dtype=np.float64)
    if noisy.shape != clean.shape:
        raise ValueError(f"noisy and clean differ in shape: {noisy.shape} vs {clean.shape}")
    return clean + unsharp_mask(noisy - clean, amount, radius)
