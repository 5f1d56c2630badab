"""Up-front validation of images and parameters, with messages that say what was expected.

Every public function of noisegen validates its inputs with these helpers before any numba kernel
sees them, so kernels can assume contiguous arrays of the right dtype and shape (kornia's style:
fail early, name the argument, the expected and the received value).
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_image_u8", "check_image_float", "check_plane_float", "check_finite_scalar"]


def _describe(arr: object) -> str:
    if isinstance(arr, np.ndarray):
        return f"array of shape {arr.shape} and dtype {arr.dtype}"
    return f"{type(arr).__name__}"


def check_image_u8(img: object, name: str = "image") -> np.ndarray:
    """Validate an 8-bit RGB image (H×W×3, uint8, H, W ≥ 1) and return it C-contiguous.

    Raises:
        TypeError: not a numpy array or not uint8.
        ValueError: wrong number of dimensions or channels, or an empty image.
    """
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{name}: expected a numpy uint8 array of shape (H, W, 3), got {_describe(img)}")
    if img.dtype != np.uint8:
        raise TypeError(
            f"{name}: expected dtype uint8 (8-bit sRGB), got {img.dtype}; "
            "convert floats in [0, 1] with (x * 255).round().astype(np.uint8)"
        )
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(
            f"{name}: expected shape (H, W, 3) RGB, got {img.shape}; expand grayscale to 3 channels "
            "and drop alpha first"
        )
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{name}: empty image of shape {img.shape}")
    return np.ascontiguousarray(img)


def check_image_float(
    img: object, name: str = "image", *, lo: float | None = 0.0, hi: float | None = 1.0, channels: int = 3
) -> np.ndarray:
    """Validate a float image (H×W×C, float32 or float64, finite, within [lo, hi]).

    Returns a C-contiguous float32 array (a copy only when a conversion is needed).

    Raises:
        TypeError: not a numpy float array.
        ValueError: wrong shape, empty, NaN/inf, or values outside [lo, hi] (a bound of None is open).
    """
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{name}: expected a numpy float array of shape (H, W, {channels}), got {_describe(img)}")
    if img.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected dtype float32 or float64, got {img.dtype}")
    if img.ndim != 3 or img.shape[2] != channels:
        raise ValueError(f"{name}: expected shape (H, W, {channels}), got {img.shape}")
    return _check_float_values(img, name, lo, hi)


def check_plane_float(
    img: object, name: str = "mosaic", *, lo: float | None = 0.0, hi: float | None = 1.0
) -> np.ndarray:
    """Validate a single-channel float image (H×W, finite, within [lo, hi]); return C-contiguous float32."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{name}: expected a numpy float array of shape (H, W), got {_describe(img)}")
    if img.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected dtype float32 or float64, got {img.dtype}")
    if img.ndim != 2:
        raise ValueError(f"{name}: expected shape (H, W), got {img.shape}")
    return _check_float_values(img, name, lo, hi)


def _check_float_values(img: np.ndarray, name: str, lo: float | None, hi: float | None) -> np.ndarray:
    if img.size == 0:
        raise ValueError(f"{name}: empty image of shape {img.shape}")
    if not np.isfinite(img).all():
        n_bad = int(img.size - np.isfinite(img).sum())
        raise ValueError(f"{name}: contains {n_bad} NaN or infinite values")
    if lo is not None and img.min() < lo:
        raise ValueError(f"{name}: values must be >= {lo}, got min {float(img.min()):.6g}")
    if hi is not None and img.max() > hi:
        raise ValueError(f"{name}: values must be <= {hi}, got max {float(img.max()):.6g}")
    return np.ascontiguousarray(img, dtype=np.float32)


def check_finite_scalar(value: object, name: str, *, lo: float | None = None, hi: float | None = None) -> float:
    """Validate a finite real scalar within [lo, hi] and return it as float."""
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a real number, got {value!r}") from None
    if not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v}")
    if lo is not None and v < lo:
        raise ValueError(f"{name}: expected >= {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name}: expected <= {hi}, got {v}")
    return v
