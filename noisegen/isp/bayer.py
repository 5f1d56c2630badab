"""Bayer colour filter arrays: mosaic an RGB image and demosaic it back (pipeline step 4).

CFA convention: a pattern's name gives the colours of the top-left 2×2 block in reading order,
so "RGGB" puts R at (0, 0), G at (0, 1) and (1, 0), B at (1, 1), and pixel (i, j) carries the
colour of position (i % 2, j % 2). ``BayerPattern.cfa`` holds that block as channel indices
(0 = R, 1 = G, 2 = B).

Demosaicing methods:
- "malvar" (default; what MATLAB's ``demosaic`` implements): H. S. Malvar, L.-W. He and
  R. Cutler, "High-quality linear interpolation for demosaicing of Bayer-patterned color
  images", ICASSP 2004 — bilinear interpolation plus a gradient correction from the channel
  sampled at the site (gains α = 1/2, β = 5/8, γ = 3/4), as 5×5 linear filters with
  coefficients in eighths.
- "bilinear": G by [0 1 0; 1 4 1; 0 1 0]/4 on the green samples, R and B by
  [1 2 1; 2 4 2; 1 2 1]/4 on the red and blue samples.

Borders mirror the mosaic about the edge pixel (scipy.ndimage mode="mirror"), which keeps the
CFA phase, so flat colour fields stay flat up to the edge and sampled values pass through
everywhere. colour-demosaicing's half-sample "reflect" swaps the phase at the edge (a flat
field's red channel becomes ×2.25 in a bilinear corner); the results agree with it exactly away
from the border and with it applied to a mirror-padded mosaic over the whole image. Outputs are
not clipped: Malvar's filters overshoot near edges, and noisy mosaics may lie outside [0, 1].
"""

from __future__ import annotations

import enum

import numpy as np

from noisegen.checks import check_image_float, check_plane_float
from noisegen.isp.param_rules import DEMOSAIC_METHODS
from noisegen.kernels.bayer import _demosaic_bilinear, _demosaic_malvar, _mosaic

__all__ = ["BayerPattern", "DEMOSAIC_METHODS", "parse_pattern", "mosaic", "demosaic"]


_CHANNEL = {"R": 0, "G": 1, "B": 2}


class BayerPattern(str, enum.Enum):
    """A Bayer pattern, named by its top-left 2×2 block in reading order."""

    RGGB = "RGGB"
    BGGR = "BGGR"
    GRBG = "GRBG"
    GBRG = "GBRG"

    def __str__(self) -> str:
        return self.value

    @property
    def cfa(self) -> np.ndarray:
        """The top-left 2×2 block as channel indices (0 = R, 1 = G, 2 = B); int64, shape (2, 2).

        Pixel (i, j) of a mosaic carries channel ``cfa[i % 2, j % 2]``. A fresh array each call.
        """
        idx = [_CHANNEL[c] for c in self.value]
        return np.array([idx[:2], idx[2:]], dtype=np.int64)


def parse_pattern(value: str | BayerPattern | None) -> BayerPattern | None:
    """Turn a pattern name into a :class:`BayerPattern`, or None for "no mosaic".

    Args:
        value: a BayerPattern, a pattern name in any case ("rggb"), or None / "none" (any case).

    Returns:
        The pattern, or None.

    Raises:
        ValueError: anything else; the message lists the valid values.
    """
    if value is None or isinstance(value, BayerPattern):
        return value
    if isinstance(value, str):
        name = value.strip().upper()
        if name == "NONE":
            return None
        if name in BayerPattern.__members__:
            return BayerPattern[name]
    valid = ", ".join(p.value for p in BayerPattern)
    raise ValueError(f"pattern: expected one of {valid} or None/'none', got {value!r}")


def _require_pattern(pattern: str | BayerPattern) -> BayerPattern:
    parsed = parse_pattern(pattern)
    if parsed is None:
        valid = ", ".join(p.value for p in BayerPattern)
        raise ValueError(f"pattern: a Bayer pattern is required here ({valid}), got {pattern!r}")
    return parsed


def mosaic(img: np.ndarray, pattern: str | BayerPattern) -> np.ndarray:
    """Sample an RGB image through a Bayer colour filter array.

    Args:
        img: H×W×3 RGB, float32 or float64, finite (any range; [0, 1] in the pipeline), H, W ≥ 1.
        pattern: "RGGB", "BGGR", "GRBG" or "GBRG" (any case) or a :class:`BayerPattern`.

    Returns:
        H×W float32 mosaic with ``out[i, j] = img[i, j, pattern.cfa[i % 2, j % 2]]``.

    Raises:
        TypeError: img is not a float numpy array.
        ValueError: wrong shape, empty, NaN/inf, or an unknown or missing pattern.
    """
    p = _require_pattern(pattern)
    img32 = check_image_float(img, "img", lo=None, hi=None)
    out = np.empty(img32.shape[:2], dtype=np.float32)
    _mosaic(img32, p.cfa, out)
    return out


def demosaic(mosaic: np.ndarray, pattern: str | BayerPattern, method: str = "malvar") -> np.ndarray:
    """Reconstruct an RGB image from a Bayer mosaic.

    Args:
        mosaic: H×W float32 or float64, finite (any range: noisy mosaics may leave [0, 1]),
            H, W ≥ 2 (a 1-pixel-wide mosaic lacks one of the three colours entirely).
        pattern: the mosaic's pattern, "RGGB", "BGGR", "GRBG" or "GBRG" (any case) or a
            :class:`BayerPattern`.
        method: "malvar" (Malvar, He & Cutler, ICASSP 2004; MATLAB's demosaic) or "bilinear".

    Returns:
        H×W×3 float32 RGB, not clipped. Sampled values are passed through unchanged; borders
        mirror the mosaic about the edge pixel, which keeps the Bayer phase.

    Raises:
        TypeError: mosaic is not a float numpy array.
        ValueError: wrong shape, smaller than 2×2, empty, NaN/inf, unknown or missing pattern,
            or unknown method.
    """
    p = _require_pattern(pattern)
    if not isinstance(method, str) or method.lower() not in DEMOSAIC_METHODS:
        raise ValueError(f"method: expected one of {', '.join(DEMOSAIC_METHODS)}, got {method!r}")
    m32 = check_plane_float(mosaic, "mosaic", lo=None, hi=None)
    h, w = m32.shape
    if h < 2 or w < 2:
        raise ValueError(
            f"mosaic: demosaicing needs at least 2×2 pixels so that R, G and B are all sampled, "
            f"got shape {m32.shape}"
        )
    out = np.empty((h, w, 3), dtype=np.float32)
    kernel = _demosaic_malvar if method.lower() == "malvar" else _demosaic_bilinear
    kernel(m32, p.cfa, out)
    return out
