"""The training stages of the streaming loader (DESIGN.md §4): resampled rounds, shuffling, crops,
batches. Reading the format (shard lists, splitting, safe tar reading, decoding, validation) is
noisegen.dataset.reader's; these stages sit on top of it.

Each DataLoader worker composes its own chain, webdataset style (trainer.data.loader.TrainStream):

    list_shards ─ split_by_rank ─ split_by_worker ─ resampled_rounds ─ mix_rounds (read_shard of
    each shard of the round, interleaved, shuffle buffer; raw bytes) ─ decode_items (the reader's
    decode_sample: PNG/JSON only, never pickle, validated) ─ crop_and_augment (random P×P crop +
    one of the 8 flips/rotations, the same for clean, noisy and σ) ─ collate_batches (batches made
    in the worker)

Validation reads shards with the reader's ``iter_samples``: one exact, ordered pass.

**Splitting.** Rank r of a world of size R takes shards r, r+R, r+2R, ... (``split_by_rank``),
so ranks read disjoint shards; within a rank, data stream v of the W worker streams takes every
W-th of those (``split_by_worker``), or all of them when the rank has fewer shards than streams.

**Rounds.** Training streams are endless: stream g (a global id, distinct per rank and worker)
runs rounds k = 0, 1, 2, ...; round k draws ``shards_per_round`` shards of the stream's subset
with replacement ("resampled", from ``default_rng([seed, g, k, 1])``), reads them together, picks
the next sample from a random open shard, and passes the samples through a shuffle buffer that is
drained at the end of the round (both from ``default_rng([seed, g, k, 2])``); the crop/flip of the
sample at position i of round k comes from ``default_rng([seed, g, k, i, 3])``. (The last,
non-zero tag keeps the seeds apart: numpy's SeedSequence ignores trailing zeros.) So a round is a
pure function of (seed, g, k) and the shard files, and a stream's position is just (round, samples
of the round already used): ``mix_rounds(skip=...)`` replays the tar reading and shuffling of the
current round without decoding and drops what was used (trainer.data.loader uses this to resume).

**Damaged data.** A truncated or corrupt shard, a sample with a missing or undecodable member,
a shard that yields fewer samples than its dataset.json lists, or a sample smaller than the crop
is counted (noisegen.dataset.reader.DamageCounter), reported with the next batch and skipped; training
goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from noisegen.dataset.reader import DamageCounter, QuietDamageCounter, decode_or_report, read_shard
from noisegen.isp.api import CameraProfile, SampleParams, sample_params, synthesize
from trainer.stages.sn_config import FRESH_MODES

__all__ = ["resampled_rounds", "mix_rounds", "decode_items", "crop_and_augment", "dihedral", "collate_batches",
           "NoUsableData", "StreamGuard", "mark_usable", "MAX_UNUSABLE", "FRESH_MODES", "fresh_pair"]

# Consecutive unusable items (damaged, too small, without σ, unreadable shards) after which a stream
# gives up: a dataset where nothing is usable must end the run with a message, not hang it. Far
# above one damaged shard's worth of samples (the default shard holds ≤ 1000 patches at 256²).
MAX_UNUSABLE = 5000


class NoUsableData(RuntimeError):
    """A training stream found no usable sample in MAX_UNUSABLE consecutive tries."""


class StreamGuard(QuietDamageCounter):
    """The stream's damage handler: counts and keeps messages like QuietDamageCounter, and raises
    NoUsableData (naming the last problem) after ``limit`` failures without a usable item between."""

    def __init__(self, limit: int | None = None) -> None:
        super().__init__()
        self.limit, self.since_usable = MAX_UNUSABLE if limit is None else limit, 0

    def __call__(self, exn: BaseException) -> bool:
        super().__call__(exn)
        self.since_usable += 1
        if self.since_usable >= self.limit:
            raise NoUsableData(f"no usable training sample in the last {self.since_usable} tries; the last problem: "
                               f"{self.messages[-1]}")
        return True

    def usable(self) -> None:
        self.since_usable = 0


def mark_usable(items: Iterable[tuple[int, int, dict]], *, guard: StreamGuard) -> Iterator[tuple[int, int, dict]]:
    """Stage: tell the guard that an item made it through (resets its count of consecutive failures)."""
    for item in items:
        guard.usable()
        yield item



# ------------------------------------------------------------------------------------------------
# Stages (generator functions; bind their keyword arguments with functools.partial)


def resampled_rounds(urls: Sequence[str], *, seed: int, stream: int, first_round: int = 0,
                     shards_per_round: int = 4) -> Iterator[tuple[int, list[str]]]:
    """Endless (round k, shards of round k): ``shards_per_round`` draws with replacement from ``urls``,
    from default_rng([seed, stream, k, 1])."""
    urls = list(urls)
    if not urls:
        raise ValueError("resampled_rounds: no shards for this data stream")
    k = first_round
    while True:
        rng = np.random.default_rng([seed, stream, k, 1])
        yield k, [urls[i] for i in rng.integers(len(urls), size=shards_per_round)]
        k += 1


def mix_rounds(rounds: Iterable[tuple[int, list[str]]], *, seed: int, stream: int, buffer: int,
               handler: DamageCounter, counts: dict[str, int] | None = None,
               skip: int = 0) -> Iterator[tuple[int, int, dict]]:
    """Raw samples of each round: its shards read together in a random interleaving, then a
    shuffle buffer of ``buffer`` samples, drained at the round's end (draws: default_rng([seed,
    stream, round, 2])).

    Yields (round, position in round, raw sample). The first ``skip`` samples of the first round
    are read and dropped without decoding (resumption).
    """
    counts = counts or {}
    for k, urls in rounds:
        rng = np.random.default_rng([seed, stream, k, 2])
        readers = [read_shard(u, handler=handler, expected=counts.get(u)) for u in urls]
        pending: list[dict] = []
        pos = 0

        def emit(sample: dict):
            nonlocal pos, skip
            pos += 1
            if pos <= skip:
                return None
            return (k, pos - 1, sample)

        try:
            while readers:
                j = int(rng.integers(len(readers)))
                try:
                    sample = next(readers[j])
                except StopIteration:
                    readers.pop(j)
                    continue
                if len(pending) < buffer:
                    pending.append(sample)
                    continue
                i = int(rng.integers(buffer))
                pending[i], sample = sample, pending[i]
                if (out := emit(sample)) is not None:
                    yield out
            while pending:
                sample = pending.pop(int(rng.integers(len(pending))))
                if (out := emit(sample)) is not None:
                    yield out
        finally:
            for r in readers:
                r.close()
        skip = 0


def decode_items(items: Iterable[tuple[int, int, dict]], *, handler: DamageCounter,
                 require_sigma: bool = True, clean_only: bool = False) -> Iterator[tuple[int, int, dict]]:
    """The reader's decoding step (decode_or_report) on the raw sample of each (round, position, raw) item;
    failures → handler. ``clean_only``: the clean image and json only (fresh-noise mode synthesizes the rest)."""
    for k, i, raw in items:
        sample = decode_or_report(raw, handler=handler, require_sigma=require_sigma and not clean_only,
                                  clean_only=clean_only)
        if sample is not None:
            yield k, i, sample


def dihedral(a: np.ndarray, t: int) -> np.ndarray:
    """Element t ∈ 0..7 of the dihedral group on an H×W×C array: rot90 by t mod 4 (counter-clockwise),
    then a left-right flip when t ≥ 4. A view; t = 0 is the identity."""
    if not 0 <= t < 8:
        raise ValueError(f"dihedral: t must be in 0..7, got {t}")
    a = np.rot90(a, t % 4, axes=(0, 1))
    return a[:, ::-1] if t >= 4 else a


def fresh_pair(clean: np.ndarray, meta: dict, *, mode: str, profile: CameraProfile | None,
               key: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(noisy, σ_raw) synthesized anew on a clean crop: the sample's own parameters with new noise
    (mode "noise"), or new parameters drawn from ``profile`` too (mode "params").

    Seeds: parameters default_rng(key + [5]), noise key + [4] (key = [seed, stream, round, position]).
    Raises ValueError when the sample's clean member is not the source crop (a rendered target
    would pass through the camera twice).
    """
    if meta.get("clean_target", "source") != "source":
        raise ValueError(f"sample {meta.get('key')}: fresh noise needs the clean source crop, the dataset stores "
                         "its rendered target (generate --clean-target source)")
    if mode == "params":
        params = sample_params(profile, np.random.default_rng(key + [5]))
    else:
        params = SampleParams.from_dict(meta["params"])
    s = synthesize(np.ascontiguousarray(clean), params, seed=key + [4])
    return s.noisy, s.sigma_raw


def crop_and_augment(items: Iterable[tuple[int, int, dict]], *, patch: int, seed: int, stream: int,
                     handler: DamageCounter, fresh: str = "off",
                     profile: CameraProfile | None = None) -> Iterator[tuple[int, int, dict]]:
    """Random patch×patch crop and a random flip/rotation (one of 8), the same for clean, noisy and σ.

    Offsets and transform come from default_rng([seed, stream, round, position, 3]). With ``fresh``
    "noise" or "params" the noisy crop and its σ map are synthesized on the clean crop before the
    flip/rotation (``fresh_pair``), so every round sees new noise, reproducibly. A sample smaller
    than the patch, or without σ (stored mode), is reported and skipped.
    """
    for k, i, s in items:
        h, w = s["clean"].shape[:2]
        if h < patch or w < patch or (s["sigma"] is None and fresh == "off"):
            what = f"is {h}×{w}, smaller than the {patch}×{patch} crop" if h < patch or w < patch else "has no σ map"
            handler(ValueError(f"sample {s['key']} {what}", s["url"]))
            continue
        rng = np.random.default_rng([seed, stream, k, i, 3])
        y, x = int(rng.integers(h - patch + 1)), int(rng.integers(w - patch + 1))
        t = int(rng.integers(8))
        views = {"clean": s["clean"][y:y + patch, x:x + patch]}
        if fresh == "off":
            views.update(noisy=s["noisy"][y:y + patch, x:x + patch], sigma=s["sigma"][y:y + patch, x:x + patch])
        else:
            try:
                views["noisy"], views["sigma"] = fresh_pair(views["clean"], s["params"], mode=fresh,
                                                            profile=profile, key=[seed, stream, k, i])
            except (ValueError, KeyError, TypeError) as exc:
                handler(ValueError(f"sample {s['key']}: {exc}", s["url"]))
                continue
        out = dict(s, **{name: dihedral(v, t) for name, v in views.items()}, crop=(y, x, t))
        yield k, i, out


def collate_batches(items: Iterable[tuple[int, int, dict]], *, batch: int, stream: int,
                    handler: DamageCounter) -> Iterator[dict[str, Any]]:
    """Batches of ``batch`` samples (full batches only), made in the worker.

    Each batch: clean, noisy (uint8 B×3×P×P) and sigma (float32 B×3×P×P), all with channels_last
    strides (a B×P×P×3 array seen as NCHW, no copy); stream (the data stream id), round and
    offset (the stream's position after this batch), urls, keys and crops ([y, x, transform]) of
    the samples, damaged (the worker's count of damaged items so far) and messages (new damage
    messages).
    """
    buf: list[dict] = []
    reported = 0
    for k, i, s in items:
        buf.append(s)
        if len(buf) < batch:
            continue
        out: dict[str, Any] = {
            name: torch.from_numpy(np.stack([b[name] for b in buf])).permute(0, 3, 1, 2)
            for name in ("clean", "noisy", "sigma")
        }
        new = handler.count - reported
        out.update(stream=stream, round=k, offset=i + 1, urls=[b["url"] for b in buf], keys=[b["key"] for b in buf],
                   crops=[list(b["crop"]) for b in buf], damaged=handler.count,
                   messages=handler.messages[-new:] if new else [])
        reported = handler.count
        buf = []
        yield out
