"""Do two photos show the same content? The content check behind the camera command's held-out split.

Names are not proof: the same scene can sit under two names (two ISOs of one scene, or two crops of
one shot in CC15 and CC60). So every test image is compared with every calibration image and every
clean training photo by content (``overlap``): grey thumbnails (block means over ``THUMB``×``THUMB``
pixels), high-passed (minus a 3×3 box blur, so that smooth gradients do not match everything), and
the masked normalised cross-correlation of Padfield ("Masked object registration in the Fourier
domain", IEEE TIP 21(5), 2012) over every shift with at least ``MIN_OVERLAP`` of the smaller
thumbnail's area in common. Same content, even shifted or cropped, correlates above 0.9 (the
thumbnails of one scene differ only by noise, which block means average away); different photos
stay far below (measured on PolyU100, CC15/CC60 and CBSD68/Kodak24: at most 0.64; tests/camera).
Images over 1024 pixels on a side get larger blocks (``block_for``; the same for every image of one
comparison), so that a 24-megapixel photo costs what a 1-megapixel one does: the same framing still
correlates at 1, a crop whose offset is not a multiple of the block less (0.92 for a texture whose
features span 2.5 blocks; tests/camera).
The check finds shared image regions; other, non-overlapping crops of the same shot are found by
name (noisegen.camera.split).
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

__all__ = ["THUMB", "THUMB_SIDE", "MIN_OVERLAP", "THRESHOLD", "block_for", "thumbnail", "overlap", "check_content"]

THUMB = 4  # thumbnail block size in pixels: 512² → 128²
THUMB_SIDE = 256  # larger images get larger blocks, so that thumbnails stay about this size (block_for)
MIN_OVERLAP = 0.25  # smallest common area, as a fraction of the smaller thumbnail
THRESHOLD = 0.9  # correlation above which two images are taken to show the same content


def block_for(sizes) -> int:
    """The block size of thumbnails that are compared with each other: THUMB, or more where the largest image
    (``sizes``: (height, width) pairs) is over THUMB·THUMB_SIDE pixels on a side, so that no thumbnail is much
    over THUMB_SIDE (a 24-megapixel photo: block 24, 250×167; the cost of ``overlap`` grows with the area)."""
    longest = max((max(int(h), int(w)) for h, w in sizes), default=0)
    return max(THUMB, -(-longest // THUMB_SIDE))


def thumbnail(img: np.ndarray, block: int = THUMB) -> np.ndarray:
    """High-passed grey thumbnail of a uint8 H×W×3 image: float64 ⌊H/block⌋×⌊W/block⌋, zero mean."""
    g = np.asarray(img, dtype=np.float64).mean(axis=2)
    h, w = g.shape[0] // block * block, g.shape[1] // block * block
    t = g[:h, :w].reshape(h // block, block, w // block, block).mean(axis=(1, 3))
    p = np.pad(t, 1, mode="edge")
    blur = sum(p[i:i + t.shape[0], j:j + t.shape[1]] for i in range(3) for j in range(3)) / 9.0
    d = t - blur
    return d - d.mean()


def _xcorr(a: np.ndarray, b: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Σ_x a(x)·b(x + s) for every shift s (circular over ``shape``, which is large enough to be linear)."""
    return np.fft.irfft2(np.conj(np.fft.rfft2(a, shape)) * np.fft.rfft2(b, shape), shape)


def overlap(a: np.ndarray, b: np.ndarray, min_overlap: float = MIN_OVERLAP) -> float:
    """Highest normalised cross-correlation of two thumbnails over all shifts with enough common area.

    Masked NCC (Padfield 2012): at each shift, Pearson's correlation of the two images over their
    overlap only. Returns a value in [-1, 1] (1: one is a shifted crop of the other).
    """
    shape = (a.shape[0] + b.shape[0], a.shape[1] + b.shape[1])
    ma, mb = np.ones_like(a), np.ones_like(b)
    n = np.rint(_xcorr(ma, mb, shape))
    sa, sb = _xcorr(a, mb, shape), _xcorr(ma, b, shape)
    saa, sbb = _xcorr(a * a, mb, shape), _xcorr(ma, b * b, shape)
    sab = _xcorr(a, b, shape)
    enough = n >= min_overlap * min(a.size, b.size)
    n = np.where(enough, n, 1.0)
    cov = sab - sa * sb / n
    var = np.clip(saa - sa * sa / n, 0, None) * np.clip(sbb - sb * sb / n, 0, None)
    ncc = np.where(enough & (var > 1e-12), cov / np.sqrt(np.where(var > 1e-12, var, 1.0)), -1.0)
    return float(ncc.max())


def check_content(test: dict[str, np.ndarray], others: dict[str, np.ndarray], threshold: float = THRESHOLD, *,
                  progress: bool = False, what: str = "content check") -> tuple[list[dict], float]:
    """Every (test, other) whose content overlaps: [{"test", "other", "corr"}], highest first, and the
    highest correlation of the pairs below ``threshold`` (the margin of the check; -1 when none).

    Args:
        test, others: id → thumbnail (``thumbnail``). progress: a bar over the comparisons (stderr), named ``what``.
    """
    hits, closest = [], -1.0
    with tqdm(total=len(test) * len(others), desc=what, unit="pair", disable=not progress, dynamic_ncols=True) as bar:
        for tid, t in test.items():
            for oid, o in others.items():
                c = overlap(t, o)
                if c >= threshold:
                    hits.append({"test": tid, "other": oid, "corr": round(c, 4)})
                else:
                    closest = max(closest, c)
                bar.update(1)
    return sorted(hits, key=lambda h: (-h["corr"], h["test"], h["other"])), closest
