"""White balance, numpy only: the highlight-safe inverse gains of unprocessing (Brooks et al. 2019, §3.3).

The camera pipeline's colour step (noisegen.isp.color.unprocess_color) applies them to a linear image,
and the dataset reader recomputes the raw irradiance of a sample with them (noisegen.isp.raw_sigma), so
this module imports neither numba nor the pipeline.

Reference: T. Brooks, B. Mildenhall, T. Xue, J. Chen, D. Sharlet, J. T. Barron, "Unprocessing Images for
Learned Raw Denoising", CVPR 2019, §3.3 (the inflection 0.9 of their released code).
"""

from __future__ import annotations

import numpy as np

__all__ = ["safe_inverse_gains"]


def safe_inverse_gains(img: np.ndarray, gains: tuple[float, float, float], inflection: float = 0.9) -> np.ndarray:
    """Per-pixel inverse white-balance gains that do not darken highlights (Brooks et al. §3.3).

    Plain inversion multiplies by 1/g; near saturation that would turn clipped whites into
    impossible un-clipped raw values. With gray = mean over channels and
    mask = (max(gray − inflection, 0) / (1 − inflection))², the safe inverse gain is
    max(mask + (1 − mask)/g, 1/g): 1/g in the shadows and mid-tones, blending to 1 in highlights.

    Args:
        img: float32 H×W×3 white-balanced linear image.
        gains: forward gains (r, g, b) > 0 that white-balance camera RGB.
    Returns:
        float32 H×W×3 per-pixel multipliers (camera = img · result).
    Raises:
        ValueError: ``gains`` are not 3 finite positive numbers.
    """
    g = np.asarray(gains, dtype=np.float32)
    if g.shape != (3,) or not np.all(np.isfinite(g)) or np.any(g <= 0):
        raise ValueError(f"gains: expected 3 finite positive values, got {gains}")
    inv = 1.0 / g
    gray = img.mean(axis=2, keepdims=True)
    mask = (np.maximum(gray - inflection, 0.0) / (1.0 - inflection)) ** 2
    return np.maximum(mask + (1.0 - mask) * inv, inv).astype(np.float32)
