"""`noisegen pack-pairs`: real noisy/clean pairs into the dataset format, for the trainer's TF stage.

The output is what `noisegen generate` writes (docs/format.md), without σ maps: shards of samples
``clean.png``, ``noisy.png``, ``json`` (written with noisegen.dataset.writer' deterministic tar writer and
PNG encoder), ``index.parquet`` and ``dataset.json``, so noisegen.open_dataset and the trainer read
it unchanged. A sample is a ``patch``×``patch`` tile of a pair (non-overlapping tiles centred in the
image, all of them or ``patches_per_image`` drawn with the seed), or the whole pair for the splits
listed in ``whole`` (test sets are usually scored on whole images).

Split by scene (``--split train:32,test:rest``): pairs that show the same scene (noisegen.dataset.pairs
parses it from the names; PolyU's "toy" or CC's "C1" count as one scene across cameras) never land
in two splits. The scenes are permuted with numpy's default_rng(seed); each split takes whole scenes
in that order until it holds at least its count of pairs (N, or N% of all pairs; it may exceed N
by less than one scene), and ``rest`` takes what is left. Each split is its own dataset folder
OUT/<split>/, and OUT/split.json records the seed, the specification and every split's scenes and
pairs (also in each dataset.json). Without --split, OUT is one dataset. Same inputs, same seed →
same bytes.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from noisegen.atomic import atomic_write_bytes
from noisegen.dataset.format import (
    CLEAN,
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_NAME,
    JSON,
    MANIFEST_NAME,
    NOISY,
    PAIR_MEMBER_DESCRIPTIONS,
    PAIR_MEMBERS,
    encode_meta,
    real_pair_index_row,
    real_pair_meta,
    sample_key,
    shard_name,
)
from noisegen.dataset.pairs import Pair, load_pair, scan_pairs
from noisegen.dataset.plan import samples_per_shard_for
from noisegen.dataset.png import PNG_ENCODER, encode_png
from noisegen.dataset.writer import tar_bytes, versions, write_index, write_manifest, write_tar
from noisegen.version import __version__

__all__ = ["PackPairsConfig", "parse_split", "assign_splits", "pack_pairs"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class PackPairsConfig:
    """Configuration of `noisegen pack-pairs` (see the module docstring).

    pairs: folders of real pairs; out: output folder (new or empty); patch: tile side (256, as
    AINDNet); patches_per_image: at most this many tiles per pair (None: all); split: "name:N,...",
    N a pair count, N% a share, or "rest" (None: one dataset); seed: split and tile choice; whole:
    splits stored as whole images; group_regex: naming rule for camera/ISO/scene (noisegen.dataset.pairs);
    samples_per_shard: exact (None: from shard_size, at least 8 shards when there are enough samples).
    """

    pairs: tuple[str, ...]
    out: str
    patch: int = 256
    patches_per_image: int | None = None
    split: str | None = None
    seed: int = 0
    whole: tuple[str, ...] = ()
    group_regex: str | None = None
    samples_per_shard: int | None = None
    shard_size: int = 512 * 10**6

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "pairs", (self.pairs,) if isinstance(self.pairs, str) else tuple(str(p) for p in self.pairs))
        put(self, "whole", (self.whole,) if isinstance(self.whole, str) else tuple(self.whole))
        if not self.pairs:
            raise ValueError("pairs: give at least one folder of noisy/clean pairs")
        if self.patch < 8:
            raise ValueError(f"patch: expected >= 8, got {self.patch}")
        if self.patches_per_image is not None and self.patches_per_image < 1:
            raise ValueError(f"patches_per_image: expected None or >= 1, got {self.patches_per_image}")
        if self.seed < 0:
            raise ValueError(f"seed: expected >= 0, got {self.seed}")
        names = [n for n, _ in parse_split(self.split)] if self.split else ["all"]
        unknown = [w for w in self.whole if w not in names]
        if unknown:
            raise ValueError(f"whole: {unknown} are not splits of {self.split or 'the dataset'} (splits: {names})")


def parse_split(spec: str) -> list[tuple[str, int | float | None]]:
    """'train:32,test:rest' → [("train", 32), ("test", None)]; 'a:20%,b:rest' → [("a", 0.2), ("b", None)].

    Raises ValueError with the expected form for anything else (at most one 'rest', unique names).
    """
    out: list[tuple[str, int | float | None]] = []
    for part in [p.strip() for p in spec.split(",") if p.strip()]:
        name, colon, count = part.partition(":")
        name, count = name.strip(), count.strip()
        if not colon or not _NAME.match(name):
            raise ValueError(f"--split {spec!r}: expected NAME:COUNT items such as train:32,test:rest (got {part!r})")
        if count == "rest":
            out.append((name, None))
        elif count.endswith("%") and re.fullmatch(r"\d+(\.\d+)?%", count) and 0 < float(count[:-1]) <= 100:
            out.append((name, float(count[:-1]) / 100.0))
        elif count.isdigit() and int(count) > 0:
            out.append((name, int(count)))
        else:
            raise ValueError(f"--split {spec!r}: count of {name!r} must be a positive integer, a percentage or 'rest', "
                             f"got {count!r}")
    names = [n for n, _ in out]
    if not out or len(set(names)) != len(names) or sum(c is None for _, c in out) > 1:
        raise ValueError(f"--split {spec!r}: expected unique split names and at most one 'rest'")
    return out


def assign_splits(pairs: list[Pair], spec: list[tuple[str, int | float | None]], seed: int) -> dict[str, list[Pair]]:
    """Whole scenes to splits (see the module docstring); a pure function of the pairs, the spec and the seed.

    Pairs left over when no split is 'rest' are not used (returned under the key "" ).
    """
    scenes: dict[str, list[Pair]] = {}
    for p in sorted(pairs, key=lambda q: q.id):
        scenes.setdefault(p.scene, []).append(p)
    names = sorted(scenes)
    order = [names[i] for i in np.random.default_rng([seed, 7]).permutation(len(names))]
    total = len(pairs)
    targets = [(n, c if isinstance(c, int) or c is None else int(round(c * total))) for n, c in spec]
    out: dict[str, list[Pair]] = {n: [] for n, _ in spec}
    rest = next((n for n, c in spec if c is None), "")
    out.setdefault(rest, [])
    i = 0
    for name, target in targets:
        if target is None:
            continue
        while i < len(order) and len(out[name]) < target:
            out[name].extend(scenes[order[i]])
            i += 1
    for sc in order[i:]:
        out[rest].extend(scenes[sc])
    return out


def _boxes(pair: Pair, h: int, w: int, config: PackPairsConfig, whole: bool) -> list[tuple[int, int, int, int]]:
    if whole:
        return [(0, 0, h, w)]
    p = config.patch
    gy, gx = h // p, w // p
    y0, x0 = (h - gy * p) // 2, (w - gx * p) // 2
    cells = np.arange(gy * gx)
    if config.patches_per_image is not None and config.patches_per_image < cells.size:
        k = hashlib.sha256(pair.id.encode()).digest()
        rng = np.random.default_rng([config.seed, int.from_bytes(k[:4], "little"), int.from_bytes(k[4:8], "little")])
        cells = np.sort(rng.choice(cells, size=config.patches_per_image, replace=False))
    return [(y0 + int(c // gx) * p, x0 + int(c % gx) * p, p, p) for c in cells]


def _tiles(pair: Pair, clean: np.ndarray, noisy: np.ndarray, boxes: list[tuple[int, int, int, int]], split: str,
           config: PackPairsConfig, first: int) -> list[tuple[str, dict[str, bytes], dict]]:
    """The samples (key, members, index row) of one pair's tiles, numbered from ``first``."""
    out = []
    for idx, (y, x, bh, bw) in enumerate(boxes, start=first):
        c, n = np.ascontiguousarray(clean[y:y + bh, x:x + bw]), np.ascontiguousarray(noisy[y:y + bh, x:x + bw])
        key = sample_key(idx)
        meta = real_pair_meta(
            key=key, sample=idx, source=pair.id, noisy_file=os.path.basename(pair.noisy),
            clean_file=os.path.basename(pair.clean), source_size=(pair.height, pair.width), box=(y, x, bh, bw),
            patch=config.patch if (bh, bw) == (config.patch,) * 2 else None, camera=pair.camera, iso=pair.iso,
            scene=pair.scene, naming_rule=pair.rule, split=split, dataset=pair.root, seed=config.seed,
            version=__version__)
        members = {CLEAN: encode_png(c), NOISY: encode_png(n), JSON: encode_meta(meta)}
        out.append((key, members, real_pair_index_row(meta, clean=c, noisy=n)))
    return out


def _pack(out: Path, samples: list[tuple[str, dict[str, bytes], dict]], per_shard: int) -> tuple[list[dict], list]:
    """Write the samples as shards of ``per_shard``; returns the manifest's shard entries and the index rows."""
    shards, rows = [], []
    for si in range(math.ceil(len(samples) / per_shard)):
        chunk = samples[si * per_shard:(si + 1) * per_shard]
        name = shard_name(si)
        nbytes, sha = write_tar(out / name, [(f"{k}.{m}", members[m]) for k, members, _ in chunk for m in PAIR_MEMBERS])
        shards.append({"name": name, "samples": len(chunk), "bytes": nbytes, "sha256": sha})
        rows += [{"shard": name, **r, "bytes": sum(tar_bytes(len(v)) for v in m.values())} for _, m, r in chunk]
    return shards, rows


def _load_split(pairs: list[Pair], split: str, config: PackPairsConfig, skipped: list[dict],
                progress) -> tuple[list[tuple[str, dict[str, bytes], dict]], int]:
    """Read the split's pairs in its permuted order and cut them; returns the samples and the pairs used."""
    whole = split in config.whole
    k = hashlib.sha256(f"{split}".encode()).digest()
    perm = np.random.default_rng([config.seed, 11, int.from_bytes(k[:4], "little")]).permutation(len(pairs))
    samples: list[tuple[str, dict[str, bytes], dict]] = []
    used = 0
    for pair in (pairs[i] for i in perm):
        try:
            clean, noisy = load_pair(pair)
        except (ValueError, OSError) as exc:
            skipped.append({"source": pair.id, "path": pair.noisy, "reason": str(exc), "stage": "decode"})
            progress(1)
            continue
        boxes = _boxes(pair, *clean.shape[:2], config, whole)
        if not boxes:
            skipped.append({"source": pair.id, "path": pair.noisy, "stage": "probe",
                            "reason": f"{clean.shape[1]}×{clean.shape[0]} is smaller than the "
                            f"{config.patch}×{config.patch} patch"})
        used += bool(boxes)
        samples += _tiles(pair, clean, noisy, boxes, split, config, len(samples))
        progress(1)
    return samples, used


def _write_split(out: Path, split: str, pairs: list[Pair], config: PackPairsConfig, scan_info: dict,
                 skipped: list[dict], split_record: dict | None, progress) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    whole = split in config.whole
    samples, used = _load_split(pairs, split, config, skipped, progress)
    side = config.patch if not whole else max([max(p.height, p.width) for p in pairs] or [config.patch])
    sps = config.samples_per_shard or samples_per_shard_for(side, max(len(samples), 1), config.shard_size)
    shards, rows = _pack(out, samples, sps)
    write_index(lambda: [rows], out / INDEX_NAME)
    cfg = {**{k: v for k, v in asdict(config).items() if k not in ("out",)},
           "profile": {"name": "real-pairs"}, "crop": "whole" if whole else "grid",
           "patches_per_image": config.patches_per_image, "png_encoder": PNG_ENCODER}
    manifest = {
        "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "created_by": f"noisegen {__version__} pack-pairs",
        "kind": "real-pairs", "versions": versions(), "config": cfg, "split_name": split,
        "members": {m: PAIR_MEMBER_DESCRIPTIONS[m] for m in PAIR_MEMBERS},
        "samples_per_shard": sps,
        "counts": {"files_found": scan_info["found"], "pairs": len(pairs), "images_planned": len(pairs),
                   "images_used": used, "skipped": len(skipped), "samples": len(samples), "shards": len(shards),
                   "bytes": sum(s["bytes"] for s in shards)},
        "conversions": {},
        "split": split_record,
        "shards": shards,
        "skipped": skipped,
        "index": INDEX_NAME,
    }
    write_manifest(manifest, out / MANIFEST_NAME)
    return {"split": split, "folder": str(out), "pairs": len(pairs), "samples": len(samples), "shards": len(shards),
            "bytes": manifest["counts"]["bytes"], "skipped": skipped}


def pack_pairs(config: PackPairsConfig, *, progress: bool = True, echo: Callable[[str], None] = print) -> dict:
    """Write the dataset(s) of ``config``; returns a summary {"splits": [...], "skipped": [...], "elapsed": s}.

    Raises:
        FileExistsError: ``out`` exists and is not empty. ValueError: no usable pair, bad split.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    out = Path(config.out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; choose a new or empty --out folder")
    scan = scan_pairs(config.pairs, config.group_regex)
    skipped = [s.to_dict() for s in scan.skipped]
    if not scan.pairs:
        raise ValueError(f"no usable noisy/clean pair in {', '.join(config.pairs)} ({scan.found} files, "
                         f"{len(skipped)} skipped)")
    spec = parse_split(config.split) if config.split else [("all", None)]
    splits = assign_splits(list(scan.pairs), spec, config.seed)
    unused = splits.pop("", [])
    record = None
    if config.split:
        record = {"spec": config.split, "seed": config.seed, "unit": "pairs, whole scenes",
                  "splits": {n: {"pairs": len(ps), "scenes": sorted({p.scene for p in ps}), "ids": [p.id for p in ps]}
                             for n, ps in splits.items()},
                  "unused": [p.id for p in unused]}
    echo(f"{len(scan.pairs)} pairs ({len(skipped)} files skipped) → "
         + ", ".join(f"{n}: {len(ps)} pairs" for n, ps in splits.items()))
    bar = tqdm(total=len(scan.pairs) - len(unused), unit="pair", desc="pack-pairs", disable=not progress,
               dynamic_ncols=True)
    summaries = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, ps in splits.items():
            folder = out / name if config.split else out
            summaries.append(_write_split(folder, name, ps, config, {"found": scan.found}, list(skipped), record,
                                          bar.update))
    finally:
        bar.close()
    if record is not None:
        atomic_write_bytes(out / "split.json", (json.dumps(record, indent=2) + "\n").encode())
    seen = {(d["source"], d["reason"]) for d in skipped}
    for sm in summaries:  # skips found while writing a split (undecodable files, images smaller than the patch)
        for d in sm.pop("skipped"):
            if (d["source"], d["reason"]) not in seen:
                seen.add((d["source"], d["reason"]))
                skipped.append(d)
    return {"splits": summaries, "skipped": skipped, "unused": [p.id for p in unused],
            "elapsed": time.perf_counter() - t0}
