"""Data of the TF stage: a few real pairs (or noisy images) in memory, and random crops drawn as a
pure function of (seed, rank, step).

Sources: a `noisegen pack-pairs` dataset folder or a folder of pairs (noisegen.dataset.reader.read_pairs,
the pairing `eval` and validation use too), read once into memory (the TF protocol uses few pairs).
``pairs`` = K keeps the first K distinct pairs in the source's order (Table 5 protocol: K real
images): for a pack-pairs dataset that is its stored order, whose scenes `pack-pairs` permuted with
its seed, so K pairs span scenes and cameras rather than the alphabetically first camera; for a
folder, sorted file names. A pack-pairs dataset of patches stores several samples (tiles) per pair:
all of them are kept.
Mode n2n reads only noisy images: from a pack-pairs dataset or a folder where read_pairs finds
pairs, their noisy side (K as above); otherwise the images directly in the folder (not its
subfolders: noisegen.dataset.reader.list_images), in sorted name order, K keeping the first K
readable ones (e.g. ../shared/data/RNI15, DND_patches).

Crops: ``draw_crops`` takes a numpy Generator; the TF stage seeds it with
default_rng([seed, rank, step, 1]), so a step's crops need no RNG state to resume and every rank
of a DDP run draws its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from noisegen.dataset.reader import ImageReadError, holds_pairs, list_images, read_pairs, read_rgb8
from trainer.data.stream import dihedral

__all__ = ["TFData", "load_pairs", "load_noisy", "keep_croppable", "draw_crops"]


@dataclass(frozen=True)
class TFData:
    """Training samples in memory.

    samples: tuples of aligned uint8 H×W×3 images, (noisy, clean) or, for n2n, (noisy,).
    names: a name per sample (the pair's id or the file name). kind: "pairs" or "images".
    skipped: "name: reason" for every input left out.
    """

    samples: list[tuple[np.ndarray, ...]]
    names: list[str]
    kind: str
    skipped: list[str] = field(default_factory=list)


def load_pairs(data: str, k: int | None, option: str = "--data", count_option: str = "--num-pairs") -> TFData:
    """(noisy, clean) samples of the first K pairs of ``data`` (all when K is None); unreadable pairs skipped.
    ``option`` / ``count_option``: the command's options that gave ``data`` and K, named in messages."""
    by_id: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    try:
        source = read_pairs(data)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{option} {exc}") from None
    skipped = list(source.skipped)
    for item in source.items():
        if item.error is None:
            by_id.setdefault(item.id, []).append((item.noisy, item.clean))
        else:
            skipped.append(f"{item.id}: {item.error}")
    ids = list(by_id)  # insertion order = the source's order
    if k is not None:
        if k > len(ids):
            raise ValueError(f"{count_option} {k}: {data} holds only {len(ids)} usable pairs")
        ids = ids[:k]
    return TFData([s for i in ids for s in by_id[i]], [i for i in ids for _ in by_id[i]], "pairs", skipped)


def load_noisy(data: str, k: int | None, option: str = "--data", count_option: str = "--num-pairs") -> TFData:
    """Mode n2n's training images as 1-tuples (module docstring: which images, in which order); ``option`` /
    ``count_option`` as load_pairs'.

    Raises:
        FileNotFoundError: ``data`` is not a folder. ValueError: fewer than K readable images.
    """
    p = Path(data)
    if not p.is_dir():
        raise FileNotFoundError(f"{option} {data}: not a folder (give a folder of noisy images, a folder of pairs "
                                "or a `noisegen pack-pairs` dataset)")
    if holds_pairs(p):
        pairs = load_pairs(data, k, option, count_option)
        return replace(pairs, samples=[(noisy,) for noisy, _ in pairs.samples])
    samples: list[tuple[np.ndarray, ...]] = []
    names: list[str] = []
    special: list[Path] = []
    files = list_images(p, recursive=False, special=special)
    skipped = [f"{f.name}: not a regular file (a FIFO, socket or device): not opened" for f in special]
    for f in files:
        if k is not None and len(samples) == k:
            break
        try:
            samples.append((read_rgb8(f)[0],))
            names.append(f.name)
        except ImageReadError as exc:
            skipped.append(str(exc))
    if k is not None and len(samples) < k:
        raise ValueError(f"{count_option} {k}: {data} holds only {len(samples)} readable images")
    return TFData(samples, names, "images", skipped)


def keep_croppable(data: TFData, side: int) -> TFData:
    """``data`` without the samples smaller than side×side (each listed in ``skipped``)."""
    keep = [i for i, s in enumerate(data.samples) if min(s[0].shape[:2]) >= side]
    small = [f"{data.names[i]}: {s[0].shape[0]}×{s[0].shape[1]}, smaller than the {side}×{side} crop"
             for i, s in enumerate(data.samples) if min(s[0].shape[:2]) < side]
    return replace(data, samples=[data.samples[i] for i in keep], names=[data.names[i] for i in keep],
                   skipped=data.skipped + small)


def draw_crops(samples: list[tuple[np.ndarray, ...]], rng: np.random.Generator, batch: int,
               side: int) -> tuple[list[np.ndarray], list[list[int]]]:
    """``batch`` random side×side crops, each with a random dihedral transform shared by the images of its sample.

    Args:
        samples: tuples of aligned uint8 H×W×3 images, each at least side×side.
        rng: per crop, draws the sample, the row, the column and the transform (in that order).

    Returns:
        (one uint8 batch×side×side×3 array per position in the samples' tuples,
        the draws [sample, row, column, transform] of every crop).
    """
    picked, draws = [], []
    for _ in range(batch):
        i = int(rng.integers(len(samples)))
        s = samples[i]
        y, x = int(rng.integers(s[0].shape[0] - side + 1)), int(rng.integers(s[0].shape[1] - side + 1))
        t = int(rng.integers(8))
        picked.append([dihedral(a[y:y + side, x:x + side], t) for a in s])
        draws.append([i, y, x, t])
    return [np.ascontiguousarray(np.stack(crops)) for crops in zip(*picked)], draws


def content_digest(data: TFData) -> str:
    """Content digest of the training images in memory (names and pixels): 16 hex digits, what a run records
    to notice on resume that its data changed (trainer.engine.stage.data_changed)."""
    h = hashlib.sha256()
    for name, sample in zip(data.names, data.samples):
        h.update(name.encode("utf-8", "backslashreplace"))
        for a in sample:
            h.update(str(a.shape).encode())
            h.update(np.ascontiguousarray(a).data)
    return h.hexdigest()[:16]
