"""The held-out split of the camera command: calibration and test images per camera-ISO group, by shot,
checked by content.

Two ways to hold scenes out:
- within one folder: each camera-ISO group split by scene (noisegen.analysis.realism.split.split_groups,
  pack-pairs' rule ``calib:50%,test:rest`` with a seed); a group with one scene cannot be split and is
  skipped with the reason. Pairs and noisy-only photos are split separately, the same way.
- across folders (``test_pairs``): those pairs are tested whole, calibrated on the folder's pairs of the
  same camera and ISO (match_groups): CC15 tested, calibrated on CC60.

Held out by shot, not by region. A shot is (camera, scene name): the names carry it (PolyU's
``..._<scene>_<index>_real``, CC60's ``CC_Noisy_<camera>_ISO_<iso>_<scene>_<index>``: scene ``A4``, crop 49),
and the same scene of one camera at another ISO is the same view on a tripod, so the same shot. Then:

1. content: every test image is compared with every calibration image (noisegen.camera.scenes; pairs by
   their clean image, noisy-only photos as they are). A calibration image that shows a test image's
   content reveals the test image's shot: CC15's ``d800_iso3200_1`` carries no scene name, and overlaps
   CC60's ``A4_114``, so it shows shot (Nikon_D800, A4).
2. shots: every calibration image of a shot that a test image shows (by its name or by step 1) is
   dropped: all of A4_49, A4_51, A4_54, not only the crop that overlaps. The same scene name under
   another camera is another shot (another view); step 1 still catches a shared view.
3. clean photos: a test image whose content is among the clean photos that generate renders is an error
   (the training data would show a test scene).
Dropped images are listed with the test image and the reason ("content", with the correlation, or
"shot"); groups left without calibration images are skipped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noisegen.analysis.realism.split import DEFAULT_SPLIT, GroupSplit, match_groups, split_groups
from noisegen.camera.folder import CameraFolder, Photo
from noisegen.camera.scenes import MIN_OVERLAP, THRESHOLD, block_for, check_content, thumbnail
from noisegen.dataset.images import open_image, oriented_size
from noisegen.dataset.pairs import Pair
from noisegen.dataset.reader import read_rgb8

__all__ = ["CameraSplit", "shot", "split_camera", "split_from_dict"]


def shot(item: Pair | Photo) -> tuple[str, str]:
    """(camera, scene name) of a pair or photo: what the names say was one view (module docstring)."""
    return (item.camera or "", item.scene)


@dataclass(frozen=True)
class CameraSplit:
    """Calibration and test images per camera-ISO group, and what the checks found.

    groups: pairs per group; photos: noisy-only photos per group (``calib`` = the photos to learn from).
    dropped: calibration images removed {"item", "test", "why": "content"|"shot", "corr"?, "shot"}.
    skipped: groups left out {"group", "reason"}. checked: what the content check compared, its margin.
    """

    groups: tuple[GroupSplit, ...]
    photos: tuple[GroupSplit, ...] = ()
    dropped: tuple[dict, ...] = ()
    skipped: tuple[dict, ...] = ()
    checked: dict = field(default_factory=dict)

    @property
    def calib(self) -> list[Pair]:
        return [p for g in self.groups for p in g.calib]

    @property
    def test(self) -> list[Pair]:
        return [p for g in self.groups for p in g.test]

    @property
    def calib_photos(self) -> list[Photo]:
        return [p for g in self.photos for p in g.calib]

    @property
    def test_photos(self) -> list[Photo]:
        return [p for g in self.photos for p in g.test]

    def to_dict(self) -> dict:
        def groups(gs):
            return [{"name": g.name, "camera": g.camera, "iso": g.iso, "calib": [p.id for p in g.calib],
                     "test": [p.id for p in g.test], "calib_scenes": sorted({p.scene for p in g.calib}),
                     "test_scenes": sorted({p.scene for p in g.test})} for g in gs]
        return {"groups": groups(self.groups), "photos": groups(self.photos), "dropped": list(self.dropped),
                "skipped": list(self.skipped), "checked": self.checked}


def split_from_dict(d: dict, folder: CameraFolder, test_pairs: Sequence[Pair] = ()) -> CameraSplit:
    """The split that ``CameraSplit.to_dict`` listed, with the images of ``folder`` (and ``test_pairs``).

    Raises:
        ValueError: a listed image is no longer there (the folder changed).
    """
    by_id = {x.id: x for x in (*folder.pairs, *folder.photos, *test_pairs)}

    def groups(gs):
        out = []
        for g in gs:
            missing = [i for i in g["calib"] + g["test"] if i not in by_id]
            if missing:
                raise ValueError(f"{missing[0]} is listed in the run's split but no longer in {folder.folder}; the "
                                 "folder changed since the run started: restore it, or start a new run (--out)")
            out.append(GroupSplit(g["camera"], g["iso"], tuple(by_id[i] for i in g["calib"]),
                                  tuple(by_id[i] for i in g["test"])))
        return tuple(out)
    return CameraSplit(groups(d["groups"]), groups(d["photos"]), tuple(d["dropped"]), tuple(d["skipped"]),
                       d["checked"])


def _thumb(item: Pair | Photo, block: int) -> np.ndarray:
    # pairs by their clean (mean) image, which has no noise; photos as they are: block means average
    # most of their noise away
    return thumbnail(read_rgb8(item.clean if isinstance(item, Pair) else item.path)[0], block)


def _cut(groups: list[GroupSplit], max_groups: int | None, max_items: int | None) -> list[GroupSplit]:
    return [GroupSplit(g.camera, g.iso, g.calib[:max_items], g.test[:max_items]) for g in groups[:max_groups]]


def _size(path: str | Path) -> tuple[int, int]:
    with open_image(path, max_pixels=None) as im:
        return oriented_size(im)


def split_camera(folder: CameraFolder, *, test_pairs: Sequence[Pair] = (), seed: int = 0,
                 clean_photos: Sequence[str | Path] = (), max_groups: int | None = None,
                 max_items: int | None = None, split: str = DEFAULT_SPLIT, progress: bool = False) -> CameraSplit:
    """The checked split of a camera's images (module docstring).

    Args:
        folder: the scanned folder. test_pairs: pairs tested whole, calibrated on the folder's pairs of the
            same camera-ISO groups (empty: split the folder's pairs by scene).
        seed: the scene split. clean_photos: the files of the clean photos generate renders
            (noisegen.camera.steps.clean_photo_files).
        max_groups, max_items: keep the first groups, and the first images per part of a group (toy runs).
        progress: bars over the comparisons of the content check (stderr).
    Raises:
        ValueError: no group can be held out (one scene only, or every calibration image shows a test
            shot), or a test image shows a clean photo's content.
    """
    if test_pairs:
        groups, skipped = match_groups(folder.pairs, test_pairs)
    else:
        groups, skipped = split_groups(folder.pairs, split, seed)
    photos, skipped_photos = split_groups(folder.photos, split, seed)
    skipped = [*skipped, *({**s, "group": f"{s['group']} (noisy-only photos)"} for s in skipped_photos)]
    groups, photos = _cut(groups, max_groups, max_items), _cut(photos, max_groups, max_items)
    test = {x.id: x for g in (*groups, *photos) for x in g.test}
    calib = {x.id: x for g in (*groups, *photos) for x in g.calib}
    block = block_for([(x.height, x.width) for x in (*test.values(), *calib.values())])
    thumbs = {i: _thumb(x, block) for i, x in sorted({**test, **calib}.items())}
    hits, closest = check_content({i: thumbs[i] for i in test}, {i: thumbs[i] for i in calib}, progress=progress,
                                  what="content check: test vs calibration")
    shown = {shot(x): (x.id, "shot") for x in test.values()}
    for h in hits:
        shown.setdefault(shot(calib[h["other"]]), (h["test"], "content"))
    by_content = {h["other"]: h for h in reversed(hits)}
    dropped = []
    for i, x in calib.items():
        if i in by_content:
            h = by_content[i]
            dropped.append({"item": i, "test": h["test"], "why": "content", "corr": h["corr"],
                            "shot": "/".join(shot(x))})
        elif shot(x) in shown:
            dropped.append({"item": i, "test": shown[shot(x)][0], "why": "shot", "shot": "/".join(shot(x))})
    gone = {d["item"] for d in dropped}

    def keep(gs: list[GroupSplit], what: str) -> tuple[GroupSplit, ...]:
        out = []
        for g in gs:
            kept = GroupSplit(g.camera, g.iso, tuple(x for x in g.calib if x.id not in gone), g.test)
            if kept.calib:
                out.append(kept)
            else:
                skipped.append({"group": g.name + what, "reason": f"every calibration image of its {len(g.calib)} "
                                "shows a test shot"})
        return tuple(out)
    groups_t, photos_t = keep(groups, ""), keep(photos, " (noisy-only photos)")
    if not groups_t and not photos_t:
        why = "; ".join(f"{s['group']}: {s['reason']}" for s in skipped) or "no images"
        raise ValueError(f"{folder.folder}: no camera-ISO group can be held out by scene ({why}). The report tests "
                         "on scenes the models never saw: add photos of a second scene per ISO (scenes come from the "
                         "names, e.g. CAMERA_APERTURE_SHUTTER_ISO_SCENE_N_real; without a scene name each image is "
                         "its own scene)")
    kept = [x for g in (*groups_t, *photos_t) for x in g.test]
    block_p = block_for([(x.height, x.width) for x in kept] + [_size(p) for p in clean_photos])
    photos_seen = {str(p): thumbnail(read_rgb8(p)[0], block_p) for p in clean_photos}
    kept_tests = {x.id: thumbs[x.id] if block_p == block else _thumb(x, block_p) for x in kept}
    leaks, closest_photo = check_content(kept_tests, photos_seen, progress=progress,
                                         what="content check: test vs clean photos")
    if leaks:
        raise ValueError(f"test image {leaks[0]['test']} shows the content of clean photo {leaks[0]['other']} "
                         f"(correlation {leaks[0]['corr']}): the training data would show a test scene; remove it "
                         "from the clean photos (--clean)")
    checked = {"test_images": len(test), "calibration_images": len(calib), "clean_photos": len(photos_seen),
               "threshold": THRESHOLD, "thumb": block, "thumb_photos": block_p, "min_overlap": MIN_OVERLAP,
               "closest_calibration_below_threshold": round(closest, 4),
               "closest_photo_below_threshold": round(closest_photo, 4)}
    return CameraSplit(groups_t, photos_t, tuple(dropped), tuple(skipped), checked)
