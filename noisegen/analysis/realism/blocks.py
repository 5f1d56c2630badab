"""8×8 block statistics of a noise residual: the traces that JPEG compression leaves in it.

JPEG (Wallace 1992; ITU-T T.81) quantises the DCT of each 8×8 block independently, so a compressed
residual r = noisy − clean changes abruptly across block boundaries, and in blocks whose AC
coefficients were all quantised to zero the noise is gone (flat blocks; issue 11 saw them in
PolyU's real residuals). Two numbers per image, each comparable between a real and a simulated
residual of the same clean image:

- boundary ratio: the mean squared step of r between horizontal (vertical) neighbours, for each of
  the 8 column (row) phases x mod 8; the block boundary is the phase with the largest mean, and the
  ratio is that mean over the mean of the other 7 phases, averaged over the two directions. It is
  ≈ 1 for noise without blocks (slightly above: the largest of 8 estimates) and grows with
  blocking. Taking the phase from the data makes it independent of where a crop cut the block grid.
- flat-block fraction: on the block grid found above, the fraction of whole 8×8 blocks (per
  channel) whose residual variance is below ``flat_var`` (8-bit levels²; default 0.25, a std of half
  a level: camera noise of a few levels never gets there by chance over 64 pixels). Blocks where the
  clean image touches 0 or 255 are left out (clipping flattens the noise there, with or without JPEG).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["BLOCK", "FLAT_VAR", "BlockStats", "block_stats"]

BLOCK = 8          # JPEG block size (ITU-T T.81)
FLAT_VAR = 0.25    # 8-bit levels²: a "flat" (noise-free) block has residual std below half a level


@dataclass(frozen=True)
class BlockStats:
    """Block statistics of one residual (see the module docstring).

    boundary_ratio: mean of the horizontal and vertical ratios (NaN when the image has fewer than
    2·BLOCK + 1 columns or rows); boundary_ratio_hv: (horizontal, vertical); phase: (row, column)
    offset of the first whole block; flat_fraction: flat blocks / usable blocks over all channels
    (NaN without a usable block); flat_fraction_rgb: per channel; blocks: usable blocks per channel.
    """

    boundary_ratio: float
    boundary_ratio_hv: tuple[float, float]
    phase: tuple[int, int]
    flat_fraction: float
    flat_fraction_rgb: tuple[float, ...]
    blocks: tuple[int, ...]

    def to_dict(self) -> dict:
        """JSON-able dict (NaN → None)."""
        def num(v: float) -> float | None:
            return float(v) if np.isfinite(v) else None
        return {"boundary_ratio": num(self.boundary_ratio),
                "boundary_ratio_hv": [num(v) for v in self.boundary_ratio_hv], "phase": list(self.phase),
                "flat_fraction": num(self.flat_fraction),
                "flat_fraction_rgb": [num(v) for v in self.flat_fraction_rgb], "blocks": list(self.blocks)}


def _step_profile(r: np.ndarray, axis: int, block: int) -> np.ndarray:
    """Mean squared step of r along ``axis`` for each phase (position of the first pixel mod block)."""
    d = (np.diff(r, axis=axis) ** 2).mean(axis=(1 - axis, 2))   # (n − 1,) steps along the axis
    phase = np.arange(d.shape[0]) % block
    return np.bincount(phase, weights=d, minlength=block) / np.bincount(phase, minlength=block)


def _boundary(r: np.ndarray, axis: int, block: int) -> tuple[float, int]:
    """(ratio, first block offset) along one axis; (NaN, 0) when the axis is too short."""
    if r.shape[axis] < 2 * block + 1:
        return float("nan"), 0
    m = _step_profile(r, axis, block)
    k = int(np.argmax(m))
    rest = np.delete(m, k).mean()
    ratio = float(m[k] / rest) if rest > 0 else (1.0 if m[k] == 0 else float("inf"))
    return ratio, (k + 1) % block


def block_stats(clean: np.ndarray, noisy: np.ndarray, flat_var: float = FLAT_VAR, block: int = BLOCK) -> BlockStats:
    """Block statistics of the residual noisy − clean (see the module docstring).

    Args:
        clean, noisy: uint8 H×W×C images of the same shape (8-bit levels).
        flat_var: variance threshold of a flat block, 8-bit levels².
        block: block side (8 for JPEG).
    Returns:
        BlockStats.
    Raises:
        TypeError / ValueError: not uint8 H×W×C arrays of one shape.
    """
    for name, a in (("clean", clean), ("noisy", noisy)):
        if not isinstance(a, np.ndarray) or a.dtype != np.uint8 or a.ndim != 3:
            got = f"{a.dtype} {a.shape}" if isinstance(a, np.ndarray) else type(a).__name__
            raise TypeError(f"{name}: expected a uint8 H×W×C array, got {got}")
    if clean.shape != noisy.shape:
        raise ValueError(f"clean and noisy differ in shape: {clean.shape} vs {noisy.shape}")
    r = noisy.astype(np.float64) - clean
    (rh, px), (rv, py) = _boundary(r, 1, block), _boundary(r, 0, block)
    h, w, c = r.shape
    ny, nx = (h - py) // block, (w - px) // block
    if ny == 0 or nx == 0:
        flat = np.full(c, np.nan)
        usable = np.zeros(c, dtype=np.int64)
    else:
        def tiles(a: np.ndarray) -> np.ndarray:          # (ny, nx, C, block²)
            a = a[py:py + ny * block, px:px + nx * block]
            return a.reshape(ny, block, nx, block, c).transpose(0, 2, 4, 1, 3).reshape(ny, nx, c, block * block)
        tc = tiles(clean)
        ok = (tc.min(axis=-1) > 0) & (tc.max(axis=-1) < 255)
        is_flat = (tiles(r).var(axis=-1) < flat_var) & ok
        usable = ok.sum(axis=(0, 1))
        with np.errstate(invalid="ignore", divide="ignore"):
            flat = np.where(usable > 0, is_flat.sum(axis=(0, 1)) / np.maximum(usable, 1), np.nan)
    total = int(usable.sum())
    frac = float(sum(np.nan_to_num(flat) * usable) / total) if total else float("nan")
    ratios = [v for v in (rh, rv) if np.isfinite(v)]
    return BlockStats(boundary_ratio=float(np.mean(ratios)) if ratios else float("nan"),
                      boundary_ratio_hv=(rh, rv), phase=(py, px), flat_fraction=frac,
                      flat_fraction_rgb=tuple(float(v) for v in flat), blocks=tuple(int(v) for v in usable))
