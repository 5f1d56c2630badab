"""Held-out splits of the camera loop (experiments/camera_loop.py): calibration and test pairs per
camera-ISO group, split by scene, then verified by content.

Two ways to hold scenes out:
- ``within``: one folder split by scene inside each camera-ISO group (noisegen.analysis.realism.split,
  pack-pairs' rule ``calib:50%,test:rest`` with a seed); groups with one scene are left out. PolyU100.
- ``across``: the test folder whole, the calibration pairs from another folder of the same cameras,
  matched by (camera, ISO). CC15 tested, calibrated on CC60 (Nam et al.'s cameras, other crops).

Names are not proof: the same scene can sit under two names (two ISOs of one scene, or two crops of
one shot in CC15 and CC60). So every test image is compared with every calibration image and every
clean training photo by content (``overlap``): grey thumbnails (block means over ``THUMB``×``THUMB``
pixels), high-passed (minus a 3×3 box blur, so that smooth gradients do not match everything), and
the masked normalised cross-correlation of Padfield (IEEE TIP 2012) over every shift with at least
``MIN_OVERLAP`` of the smaller thumbnail's area in common. Same content, even shifted or cropped,
correlates above 0.9 (the thumbnails of one scene differ only by noise, which block means average
away); different photos stay far below (measured in tests/training/test_camera_loop.py). Calibration
pairs that overlap a test image are dropped and listed; an overlap with the clean training photos
is an error (the SN data would contain a test scene).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noisegen.analysis.realism.split import GroupSplit, match_groups, split_groups
from noisegen.dataset.pairs import Pair, load_pair, scan_pairs
from noisegen.dataset.reader import list_images, read_rgb8

__all__ = ["THUMB", "MIN_OVERLAP", "THRESHOLD", "LoopSplit", "thumbnail", "overlap", "split_set", "check_content"]

THUMB = 4  # thumbnail block size in pixels: 512² → 128²
MIN_OVERLAP = 0.25  # smallest common area, as a fraction of the smaller thumbnail
THRESHOLD = 0.9  # correlation above which two images are taken to show the same content


@dataclass(frozen=True)
class LoopSplit:
    """One test set's groups (calibration and test pairs each), and what the content check found.

    dropped: calibration pairs removed because they overlap a test image {"pair", "test", "corr"}.
    skipped: groups left out {"group", "reason"}.
    """

    name: str
    groups: tuple[GroupSplit, ...]
    dropped: tuple[dict, ...] = ()
    skipped: tuple[dict, ...] = ()
    checked: dict = field(default_factory=dict)

    @property
    def calib(self) -> list[Pair]:
        return [p for g in self.groups for p in g.calib]

    @property
    def test(self) -> list[Pair]:
        return [p for g in self.groups for p in g.test]

    def to_dict(self) -> dict:
        return {"name": self.name, "dropped": list(self.dropped), "skipped": list(self.skipped),
                "checked": self.checked,
                "groups": [{"name": g.name, "camera": g.camera, "iso": g.iso, "calib": [p.id for p in g.calib],
                            "test": [p.id for p in g.test]} for g in self.groups]}


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


def _thumbs_of_pairs(pairs: Sequence[Pair]) -> dict[str, np.ndarray]:
    return {p.id: thumbnail(load_pair(p)[0]) for p in pairs}  # the clean (mean) image: no noise


def _thumbs_of_folder(folder: Path) -> dict[str, np.ndarray]:
    files = list_images(folder, recursive=False)
    return {f"{folder.name}/{f.name}": thumbnail(read_rgb8(f)[0]) for f in files}


def check_content(test: dict[str, np.ndarray], others: dict[str, np.ndarray],
                  threshold: float = THRESHOLD) -> tuple[list[dict], float]:
    """Every (test, other) whose content overlaps: [{"test", "other", "corr"}], highest first, and the
    highest correlation of the pairs below ``threshold`` (the margin of the check; -1 when none)."""
    hits, closest = [], -1.0
    for tid, t in test.items():
        for oid, o in others.items():
            c = overlap(t, o)
            if c >= threshold:
                hits.append({"test": tid, "other": oid, "corr": round(c, 4)})
            else:
                closest = max(closest, c)
    return sorted(hits, key=lambda h: -h["corr"]), closest


def split_set(name: str, data: Path, *, calib_from: str | None = None, seed: int = 0,
              clean_sources: Sequence[Path] = (), max_groups: int | None = None,
              max_pairs: int | None = None) -> LoopSplit:
    """The verified split of one test set (module docstring).

    Args:
        name: folder of real pairs under ``data`` whose held-out scenes are tested.
        calib_from: another folder under ``data`` whose pairs of the same camera-ISO groups are the
            calibration pairs (mode ``across``); None: split ``name`` by scene (mode ``within``).
        clean_sources: folders of clean photos the SN data are generated from; none may show a test scene.
        max_groups, max_pairs: keep the first groups / pairs per part of a group (toy runs).
    Raises:
        ValueError: a test scene is among the clean training photos, or no group is left.
    """
    test_pairs = scan_pairs([data / name]).pairs
    if calib_from is None:
        groups, skipped = split_groups(test_pairs, seed=seed)
    else:
        groups, skipped = match_groups(scan_pairs([data / calib_from]).pairs, test_pairs)
    groups = [GroupSplit(g.camera, g.iso, g.calib[:max_pairs], g.test[:max_pairs]) for g in groups[:max_groups]]
    test = _thumbs_of_pairs([p for g in groups for p in g.test])
    calib = _thumbs_of_pairs([p for g in groups for p in g.calib])
    hits, closest_calib = check_content(test, calib)
    bad = {h["other"] for h in hits}
    dropped = tuple({"pair": h["other"], "test": h["test"], "corr": h["corr"]} for h in hits)
    kept = [GroupSplit(g.camera, g.iso, tuple(p for p in g.calib if p.id not in bad), g.test) for g in groups]
    skipped = list(skipped) + [{"group": g.name, "reason": "every calibration pair overlaps a test image"}
                               for g in kept if not g.calib]
    kept = [g for g in kept if g.calib]
    if not kept:
        raise ValueError(f"{name}: no camera-ISO group with both calibration and test pairs")
    photos: dict[str, np.ndarray] = {}
    for folder in clean_sources:
        photos.update(_thumbs_of_folder(folder))
    leaks, closest_photo = check_content({p.id: test[p.id] for g in kept for p in g.test}, photos)
    if leaks:
        raise ValueError(f"{name}: test image {leaks[0]['test']} shows the content of training photo "
                         f"{leaks[0]['other']} (correlation {leaks[0]['corr']}); remove it from the SN sources")
    checked = {"test_images": len(test), "calibration_images": len(calib), "clean_photos": len(photos),
               "threshold": THRESHOLD, "thumb": THUMB, "min_overlap": MIN_OVERLAP,
               "closest_calibration_below_threshold": round(closest_calib, 4),
               "closest_photo_below_threshold": round(closest_photo, 4)}
    return LoopSplit(name, tuple(kept), dropped, tuple(skipped), checked)
