"""Noise std against the local texture of the clean image: the statistic that shows in-camera denoising.

Camera ISPs denoise flat regions more than textured ones (noisegen.isp.nr), so in real residuals the noise
std falls, relative to a plain heteroscedastic model, where the clean image is flat. Binning the residual
by clean texture t (noisegen.isp.nr.clean_texture: 5×5 local std of the clean luma, full-scale units) and
comparing real with simulated residuals of the *same* clean images (so each bin holds the same pixels and
intensities on both sides) shows how much: a simulation without noise reduction is too noisy in the
flat bins and about right in the textured ones.

    std_b = sqrt(mean over the pixels and channels of bin b of (noisy − clean)²)   (8-bit levels)

Pixels whose clean value is clipped (0 or 255 in any channel) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from noisegen.checks import check_image_u8
from noisegen.isp.nr import clean_texture

__all__ = ["TEXTURE_EDGES", "TextureStats", "texture_stats", "texture_std", "texture_loss"]

# Bin edges of the clean texture (full-scale std); 1/255 ≈ 0.004 is one 8-bit level.
TEXTURE_EDGES = (0.0, 0.004, 0.008, 0.016, 0.032, 0.064, np.inf)


@dataclass
class TextureStats:
    """Accumulated residual second moments per texture bin: sum2 and count (float64, len(TEXTURE_EDGES) − 1)."""

    sum2: np.ndarray = field(default_factory=lambda: np.zeros(len(TEXTURE_EDGES) - 1))
    count: np.ndarray = field(default_factory=lambda: np.zeros(len(TEXTURE_EDGES) - 1))

    def add(self, other: TextureStats) -> TextureStats:
        """Accumulate ``other`` into this (in place); returns self."""
        self.sum2 += other.sum2
        self.count += other.count
        return self

    def to_dict(self) -> dict:
        return {"edges": [float(e) for e in TEXTURE_EDGES], "std": [None if not np.isfinite(v) else float(v)
                                                                   for v in texture_std(self)],
                "count": self.count.astype(int).tolist()}


def texture_stats(clean: np.ndarray, noisy: np.ndarray, texture: np.ndarray | None = None) -> TextureStats:
    """Residual second moments per clean-texture bin of one pair (uint8 H×W×3 each).

    texture: the clean texture map when already computed (float H×W; default clean_texture(clean)).
    """
    clean, noisy = check_image_u8(clean, "clean"), check_image_u8(noisy, "noisy")
    if clean.shape != noisy.shape:
        raise ValueError(f"clean and noisy differ in shape: {clean.shape} vs {noisy.shape}")
    t = clean_texture(clean) if texture is None else texture
    r2 = ((noisy.astype(np.float64) - clean) ** 2).sum(axis=2)
    ok = ((clean > 0) & (clean < 255)).all(axis=2)
    b = np.clip(np.searchsorted(TEXTURE_EDGES, t[ok], side="right") - 1, 0, len(TEXTURE_EDGES) - 2)
    n = len(TEXTURE_EDGES) - 1
    return TextureStats(np.bincount(b, weights=r2[ok], minlength=n)[:n],
                        3.0 * np.bincount(b, minlength=n)[:n].astype(np.float64))


def texture_std(st: TextureStats, min_count: int = 300) -> np.ndarray:
    """Residual std per bin in 8-bit levels (NaN where fewer than ``min_count`` values)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(st.count >= min_count, np.sqrt(st.sum2 / np.maximum(st.count, 1)), np.nan)


def texture_loss(real: TextureStats, sim: TextureStats, min_count: int = 300) -> float:
    """Mean over the bins both sides fill of log(std_sim/std_real)², the NLF loss's scale (calibrate)."""
    r, s = texture_std(real, min_count), texture_std(sim, min_count)
    ok = np.isfinite(r) & np.isfinite(s) & (r > 0) & (s > 0)
    return float(np.mean(np.log(s[ok] / r[ok]) ** 2)) if ok.any() else 0.0
