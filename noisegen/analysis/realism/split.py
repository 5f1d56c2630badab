"""The held-out split of `noisegen realism`: camera-ISO groups of real pairs, their calibration and test
pairs, and the check that no model is scored on a pair it was fitted on (noisegen.analysis.realism.protocol).

Splitting one set: within each group, pack-pairs' rule (noisegen.dataset.pack_pairs.assign_splits:
scenes permuted with the seed, whole scenes to ``calib`` until it holds its share, the rest to
``test``); when uneven scene sizes would leave a part empty, ``calib`` gets the first scene of the same
order alone. Pairs are compared across folders and reports by the noisy file's stem (pair_stem).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from noisegen.dataset.pack_pairs import assign_splits, parse_split
from noisegen.dataset.pairs import Pair, scan_pairs

__all__ = ["DEFAULT_SPLIT", "GroupSplit", "group_name", "split_groups", "match_groups", "pair_stem", "fitted_stems",
           "check_held_out"]

DEFAULT_SPLIT = "calib:50%,test:rest"


@dataclass(frozen=True)
class GroupSplit:
    """One camera-ISO group: its calibration and test pairs (sorted by id)."""

    camera: str | None
    iso: int | None
    calib: tuple[Pair, ...]
    test: tuple[Pair, ...]

    @property
    def name(self) -> str:
        return group_name(self.camera, self.iso)


def group_name(camera: str | None, iso: int | None) -> str:
    """'Canon5D2 · ISO 3200' ('unknown camera' and no ISO part when not parsed)."""
    return (camera or "unknown camera") + ("" if iso is None else f" · ISO {iso}")


def _by_group(pairs: Sequence[Pair], camera: str | None, iso: tuple[int, ...]) -> dict[tuple, list[Pair]]:
    out: dict[tuple, list[Pair]] = {}
    for p in sorted(pairs, key=lambda q: q.id):
        if camera is not None and camera.lower() not in (p.camera or "unknown camera").lower():
            continue
        if iso and p.iso not in iso:
            continue
        out.setdefault((p.camera or "", p.iso if p.iso is not None else -1), []).append(p)
    return out


def _key_parts(key: tuple) -> tuple[str | None, int | None]:
    return key[0] or None, None if key[1] == -1 else key[1]


def split_groups(pairs: Sequence[Pair], split: str = DEFAULT_SPLIT, seed: int = 0, *, camera: str | None = None,
                 iso: tuple[int, ...] = (), in_sample: bool = False) -> tuple[list[GroupSplit], list[dict]]:
    """Split each camera-ISO group by scene (pack-pairs' rule, see the module docstring).

    Returns:
        (groups that have both calibration and test pairs, skipped groups as {"group", "reason"}).
        With ``in_sample`` every group is kept whole, as both its calibration and test pairs.
    """
    spec = parse_split(split)
    groups, skipped = [], []
    for key, members in sorted(_by_group(pairs, camera, iso).items()):
        cam, i = _key_parts(key)
        if in_sample:
            groups.append(GroupSplit(cam, i, tuple(members), tuple(members)))
            continue
        scenes = sorted({p.scene for p in members})
        if len(scenes) < 2:
            skipped.append({"group": group_name(cam, i),
                            "reason": f"1 scene ({scenes[0]}, {len(members)} pairs): cannot hold scenes out"})
            continue
        parts = assign_splits(members, spec, seed)
        if not parts.get("calib") or not parts.get("test"):
            # uneven scene sizes: the share took every scene (or none); calibrate on the first scene of
            # the same permuted order instead, so that both parts hold whole scenes
            parts = assign_splits(members, [("calib", 1), ("test", None)], seed)
        calib, test = parts["calib"], parts["test"]
        groups.append(GroupSplit(cam, i, tuple(sorted(calib, key=lambda q: q.id)),
                                 tuple(sorted(test, key=lambda q: q.id))))
    return groups, skipped


def match_groups(calib: Sequence[Pair], test: Sequence[Pair], *, camera: str | None = None,
                 iso: tuple[int, ...] = ()) -> tuple[list[GroupSplit], list[dict]]:
    """Pair the groups of separate calibration and test sets by (camera, ISO); test groups without
    calibration pairs are skipped (nothing to fit the baselines on)."""
    cg, tg = _by_group(calib, camera, iso), _by_group(test, camera, iso)
    groups, skipped = [], []
    for key in sorted(tg):
        cam, i = _key_parts(key)
        if key not in cg:
            skipped.append({"group": group_name(cam, i), "reason": f"no calibration pair of this camera and ISO "
                            f"({len(tg[key])} test pairs)"})
            continue
        groups.append(GroupSplit(cam, i, tuple(cg[key]), tuple(tg[key])))
    return groups, skipped


def pair_stem(id_or_path: str) -> str:
    """The noisy file's name without folder and extension, lower-case: how pairs are compared across
    folders and reports (a pair id is ``ROOT/relative/path``)."""
    name = id_or_path.replace("\\", "/").rsplit("/", 1)[-1]
    stem, dot, ext = name.rpartition(".")
    return (stem if dot and ext.isalnum() and len(ext) <= 4 else name).lower()


def fitted_stems(path: str, group_regex: str | None = None) -> set[str]:
    """Stems of the pairs listed by ``path``: a folder of pairs, or a `noisegen calibrate` report
    (its groups' pair ids). Raises FileNotFoundError / ValueError with what was expected."""
    import json

    p = Path(path)
    if p.is_dir():
        return {pair_stem(q.noisy) for q in scan_pairs([p], group_regex).pairs}
    if not p.is_file():
        raise FileNotFoundError(f"--fitted-on {path}: no such folder or calibrate report")
    try:
        report = json.loads(p.read_text())
        return {pair_stem(i) for g in report["groups"] for i in g["pairs"]}
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"--fitted-on {path}: expected a folder of pairs or a `noisegen calibrate` report "
                         "(*.report.json with groups[].pairs)") from None


def check_held_out(groups: Sequence[GroupSplit], fitted: dict[str, set[str]]) -> None:
    """Raise ValueError when a test pair is among the pairs a model was fitted on (``fitted``: model → stems)."""
    test = {pair_stem(p.noisy): p.id for g in groups for p in g.test}
    for model, stems in fitted.items():
        hit = sorted(test[s] for s in set(test) & stems)
        if hit:
            raise ValueError(f"{model} was fitted on {len(hit)} of the test pairs (e.g. {hit[0]}); score it on "
                             "other pairs (--calib/--test or another --split/--seed), or pass --in-sample to score "
                             "in-sample on purpose")
