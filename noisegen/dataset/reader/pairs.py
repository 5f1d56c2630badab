"""Real noisy/clean pairs (a folder of pairs, or a dataset written by `noisegen pack-pairs`), read for
evaluation, transfer learning and validation: ``read_pairs`` is the one way every command pairs a folder
(noisegen.dataset.pairs.scan_pairs' rules)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noisegen.dataset.format import MANIFEST_NAME
from noisegen.dataset.images import ImageReadError
from noisegen.dataset.pairs import load_pair, scan_pairs
from noisegen.dataset.reader.samples import QuietDamageCounter, iter_samples
from noisegen.dataset.reader.shards import list_shards

__all__ = ["PairItem", "PairSource", "group_label", "holds_pairs", "read_pairs"]


@dataclass
class PairItem:
    """One real pair: id, camera/ISO group label, uint8 H×W×3 noisy and clean (None when unreadable,
    with ``error`` saying why)."""

    id: str
    group: str
    noisy: np.ndarray | None = None
    clean: np.ndarray | None = None
    error: str | None = None


@dataclass
class PairSource:
    """Real pairs of one folder: its kind ("pairs": a folder of pairs, "dataset": a pack-pairs dataset),
    how many, files skipped while scanning, and ``items()`` yielding PairItems, decoded lazily."""

    path: str
    kind: str
    count: int
    skipped: list[str] = field(default_factory=list)
    _items: Callable[[int, int], Iterator[PairItem]] | None = field(default=None, repr=False)

    def items(self, rank: int = 0, world: int = 1) -> Iterator[PairItem]:
        """The pairs of process ``rank`` of ``world`` (disjoint shares, together all of them; the defaults:
        all): pair i of a folder goes to rank i mod world, a dataset's shards are split as iter_samples does."""
        if not 0 <= rank < world:
            raise ValueError(f"PairSource.items: rank must be in [0, {world}), got {rank}")
        return self._items(rank, world)


def group_label(camera: str | None, iso: int | None) -> str:
    """'Camera · ISO n' label of a camera/ISO group."""
    return " · ".join([camera or "unknown camera"] + ([f"ISO {iso}"] if iso is not None else []))


def holds_pairs(path: str | os.PathLike[str]) -> bool:
    """True when read_pairs reads pairs from ``path``: a noisegen dataset folder (a `noisegen pack-pairs`
    dataset of real pairs, or any other: its noisy and clean members) or a folder in which at least one
    noisy/clean pair matches by name (the files' headers are not read: read_pairs may still skip them)."""
    p = Path(path)
    return p.is_dir() and ((p / MANIFEST_NAME).exists() or bool(scan_pairs([p], probe=False).pairs))


def read_pairs(path: str | os.PathLike[str], *, group_regex: str | None = None,
               max_images: int | None = None) -> PairSource:
    """Real noisy/clean pairs from a folder of pairs (noisegen.dataset.pairs layouts) or a dataset
    written by `noisegen pack-pairs` (in its stored, scene-permuted order).

    Raises:
        FileNotFoundError: ``path`` is not a folder, or holds no usable pairs.
    """
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"{path}: not a folder (expected noisy/ + gt/ folders, *_real/*_mean files, "
                                "SIDD scene folders, or a `noisegen pack-pairs` dataset)")
    if (p / MANIFEST_NAME).exists():
        shards = list_shards(str(p))
        total = sum(shards.counts.values())
        count = min(total, max_images) if max_images is not None else total

        def from_shards(rank: int, world: int) -> Iterator[PairItem]:
            handler = QuietDamageCounter()
            samples = iter_samples(shards.urls, handler=handler, counts=shards.counts, rank=rank, world=world)
            for i, s in enumerate(samples):
                if max_images is not None and i >= max_images:
                    break
                meta = s["params"]
                yield PairItem(str(meta.get("source") or s["key"]), group_label(meta.get("camera"), meta.get("iso")),
                               s["noisy"], s["clean"])

        return PairSource(str(p), "dataset", count, _items=from_shards)
    scan = scan_pairs([p], group_regex)
    pairs = list(scan.pairs)[:max_images]
    skipped = [f"{s.source}: {s.reason}" for s in scan.skipped]
    if not pairs:
        raise FileNotFoundError(f"{path}: no noisy/clean pairs found ({scan.found} image files; "
                                f"{'; '.join(skipped[:3]) or 'none skipped'})")

    def from_folder(rank: int, world: int) -> Iterator[PairItem]:
        for pair in pairs[rank::world]:
            try:
                clean, noisy = load_pair(pair)
            except (ImageReadError, OSError) as exc:
                yield PairItem(pair.id, pair.group(), error=str(exc))
                continue
            yield PairItem(pair.id, pair.group(), noisy, clean)

    return PairSource(str(p), "pairs", len(pairs), skipped, _items=from_folder)
