"""In-camera noise reduction: noise attenuated where the scene is flat, kept where it is textured.

Camera ISPs denoise before they write a JPEG, and they denoise flat regions more than textured ones
(edges and texture hide noise, and an edge-preserving filter cannot average across them). Real
residuals of PolyU100 and CC60 show it: their noise std in flat regions is lower, relative to
textured regions of the same brightness, than a plain heteroscedastic model predicts
(noisegen.analysis.texture measures it). The model here is the smallest one with that behaviour:

    t(x)  = local std of the clean luma Y = (R + G + B)/3 in [0, 1], over a NR_WINDOW × NR_WINDOW
            box window with mirrored borders (numpy 'symmetric', scipy.ndimage 'reflect'): sqrt(max(E[Y²] − E[Y]², 0))
    g(t)  = f + (1 − f)·min(t / knee, 1)        f = nr_flat_gain ∈ (0, 1], knee = nr_knee > 0

a gain that is ``f`` on perfectly flat clean content and rises linearly to 1 at texture ``knee``
(full-scale units: 0.02 ≈ 5 levels of 8-bit std) and above. The pipeline (noisegen.isp.pipeline)
applies it to the raw noise after it is drawn and before demosaicing: noisy_raw = L + g·(noisy_raw − L),
so the ground-truth σ map is g·σ_raw. f = 1 is "no noise reduction": the pipeline then skips this
step entirely and its output is byte-identical to that of a model without it.

The texture is measured on the clean image (the simulation knows it; a camera estimates it from the
noisy one), which keeps g, and with it σ, a deterministic function of the clean source
(noisegen.isp.raw_sigma.derive_sigma). numpy only: the dataset reader imports this, and scipy.ndimage
would slow its import down (docs/results.md §Statistics and calibration).
"""

from __future__ import annotations

import math

import numpy as np

from noisegen.checks import check_image_u8

__all__ = ["NR_WINDOW", "NR_OFF", "nr_enabled", "check_nr", "clean_texture", "box_mean", "nr_gain", "nr_gain_map"]

NR_WINDOW = 5      # side of the box window of the texture measure (pixels)
NR_OFF = 1.0       # nr_flat_gain that means "no noise reduction"


def nr_enabled(flat_gain: float) -> bool:
    """True when ``flat_gain`` attenuates anything (< 1)."""
    return float(flat_gain) < NR_OFF


def check_nr(flat_gain: object, knee: object, where: str) -> tuple[float, float]:
    """Validate (nr_flat_gain, nr_knee): finite numbers, 0 < flat_gain ≤ 1, 0 < knee ≤ 1. Returns floats."""
    ok = all(isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool)
             for v in (flat_gain, knee))
    if not ok or not (math.isfinite(float(flat_gain)) and math.isfinite(float(knee))):
        raise ValueError(f"{where}: nr_flat_gain and nr_knee must be finite numbers, got {flat_gain!r}, {knee!r}")
    f, k = float(flat_gain), float(knee)
    if not 0.0 < f <= 1.0:
        raise ValueError(f"{where}: nr_flat_gain must lie in (0, 1] (1 = no noise reduction), got {f}")
    if not 0.0 < k <= 1.0:
        raise ValueError(f"{where}: nr_knee must lie in (0, 1] (texture std in full-scale units), got {k}")
    return f, k


def clean_texture(clean: np.ndarray, window: int = NR_WINDOW) -> np.ndarray:
    """Local std of the clean luma (module docstring).

    Args:
        clean: uint8 H×W×3 sRGB image. window: odd side of the box window (≥ 1).
    Returns:
        float64 H×W, texture in full-scale units [0, 0.5].
    """
    clean = check_image_u8(clean, "clean")
    if not isinstance(window, int) or window < 1 or window % 2 == 0:
        raise ValueError(f"window: expected an odd integer >= 1, got {window!r}")
    y = clean.astype(np.float64).mean(axis=2) / 255.0
    m1 = box_mean(y, window)
    m2 = box_mean(y * y, window)
    return np.sqrt(np.maximum(m2 - m1 * m1, 0.0))


def box_mean(a: np.ndarray, window: int) -> np.ndarray:
    """Mean of ``a`` (float64 H×W) over a window × window box, borders mirrored with the edge sample
    repeated (numpy 'symmetric'); separable: a sum of ``window`` shifted rows, then of columns."""
    r = window // 2
    h, w = a.shape
    p = np.pad(a, r, mode="symmetric")
    rows = p[:, 0:w].copy()
    for k in range(1, window):
        rows += p[:, k:k + w]
    out = rows[0:h].copy()
    for k in range(1, window):
        out += rows[k:k + h]
    return out / float(window * window)


def nr_gain(texture: np.ndarray, flat_gain: float, knee: float) -> np.ndarray:
    """g(t) = f + (1 − f)·min(t / knee, 1): the noise gain at texture ``t`` (float64, same shape)."""
    f, k = check_nr(flat_gain, knee, "nr_gain")
    t = np.asarray(texture, dtype=np.float64)
    return f + (1.0 - f) * np.minimum(t / k, 1.0)


def nr_gain_map(clean: np.ndarray, flat_gain: float, knee: float) -> np.ndarray:
    """The per-pixel noise gain of the clean image ``clean`` (uint8 H×W×3): float32 H×W in [f, 1]."""
    return nr_gain(clean_texture(clean), flat_gain, knee).astype(np.float32)
