"""The resumable training loader: one endless TrainStream per rank, in a torch DataLoader.

A TrainStream runs the stages of trainer.data.stream in each DataLoader worker (one data stream per
worker; global stream id g = rank·W + v) and yields batches made in the worker; the DataLoader
pins them on CUDA so that the loop's copies to the GPU are non-blocking.

**Exact resumption.** Every batch carries its stream's position after its last sample (round,
offset; a round is a pure function of the seed, the stream and the shard files, see trainer.data.stream).
The training loop feeds each consumed batch to ``StreamState.update`` and stores the state of every
rank in its checkpoints. A TrainStream built from that state starts each stream at its recorded
position (replaying at most one round of tar reading, without decoding). The DataLoader hands out
batches round-robin (worker 0, 1, ..., W-1, 0, ...), so after n batches the next one is stream
n mod W's: a resumed loader rotates the stream ids by n mod W (``StreamState.consumed``) so that
its worker 0 serves that stream. Batches after a resume are then exactly those an uninterrupted
run would have used. If the layout changed (world size, workers, shards, batch, patch, seed,
buffer), the streams restart at rounds never drawn before, and the caller is told.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from noisegen.dataset.reader import ShardSet, split_by_rank, split_by_worker
from noisegen.isp.api import CameraProfile
from trainer.data.stream import (
    NoUsableData,
    StreamGuard,
    collate_batches,
    crop_and_augment,
    decode_items,
    mark_usable,
    mix_rounds,
    resampled_rounds,
)

__all__ = ["StreamState", "TrainStream", "build_train_stream", "make_train_loader"]


@dataclass
class StreamState:
    """Where the data streams of one rank stand; saved in checkpoints as plain lists and ints.

    layout: what the streams depend on (shard list fingerprint, world size, streams, seed, batch,
        patch, buffer, shards per round); positions[v] = [round, samples of that round used] of
        stream v; consumed: batches taken by the loop; damaged: damaged items reported so far.
    """

    layout: dict[str, Any]
    positions: list[list[int]]
    consumed: int = 0
    damaged: int = 0
    _counts: dict[int, int] = field(default_factory=dict, repr=False)

    @classmethod
    def fresh(cls, layout: dict[str, Any], streams: int, first_round: int = 0) -> StreamState:
        return cls(layout=dict(layout), positions=[[first_round, 0] for _ in range(streams)])

    def update(self, batch: dict[str, Any]) -> list[str]:
        """Record a batch the loop consumed; returns its new damage messages."""
        v = int(batch["stream"])
        expected = self.consumed % len(self.positions)
        if v != expected:
            raise RuntimeError(f"data stream order broken: got a batch of stream {v}, expected {expected} "
                               "(the DataLoader must hand out batches round-robin, in_order=True)")
        self.positions[v] = [int(batch["round"]), int(batch["offset"])]
        self.consumed += 1
        new = int(batch["damaged"]) - self._counts.get(v, 0)
        self._counts[v] = int(batch["damaged"])
        self.damaged += max(0, new)
        return list(batch["messages"])

    def to_dict(self) -> dict[str, Any]:
        return {"layout": dict(self.layout), "positions": [list(p) for p in self.positions],
                "consumed": self.consumed, "damaged": self.damaged}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StreamState:
        return cls(layout=dict(d["layout"]), positions=[[int(a), int(b)] for a, b in d["positions"]],
                   consumed=int(d["consumed"]), damaged=int(d.get("damaged", 0)))


class TrainStream(IterableDataset):
    """Endless training batches of one rank (see the module docstring); one instance per rank.

    Args:
        shards: the training shards. patch, batch: crop side and samples per batch.
        seed: seed of every draw. rank, world: this process and the world size.
        workers: DataLoader workers (0: load in the main process); one data stream per worker.
        state: where to start (StreamState of a checkpoint with the same layout); None: fresh.
        buffer, shards_per_round: see mix_rounds and resampled_rounds.
    """

    def __init__(self, shards: ShardSet, *, patch: int, batch: int, seed: int, rank: int = 0, world: int = 1,
                 workers: int = 0, state: StreamState | None = None, buffer: int = 128, shards_per_round: int = 4,
                 fresh: str = "off", profile: CameraProfile | None = None):
        super().__init__()
        self.shards, self.patch, self.batch, self.seed = shards, patch, batch, seed
        self.fresh, self.profile = fresh, profile
        self.rank, self.world, self.workers, self.streams = rank, world, workers, max(1, workers)
        self.buffer, self.shards_per_round = buffer, shards_per_round
        mine = split_by_rank(shards.urls, rank, world)
        self.assigned = [split_by_worker(mine, v, self.streams) for v in range(self.streams)]
        self.layout = self.stream_layout(shards, world=world, streams=self.streams, seed=seed, batch=batch,
                                         patch=patch, buffer=buffer, shards_per_round=shards_per_round)
        self.state = state if state is not None else StreamState.fresh(self.layout, self.streams)
        if self.state.layout != self.layout:
            raise ValueError("TrainStream: the state's layout differs from this stream's; start fresh streams "
                             "with StreamState.fresh(layout, streams, first_round)")

    @staticmethod
    def stream_layout(shards: ShardSet, *, world: int, streams: int, seed: int, batch: int, patch: int, buffer: int,
                      shards_per_round: int) -> dict[str, Any]:
        """What the stream contents depend on; a saved position is only valid for the same layout."""
        return {"shards": shards.fingerprint(), "world": world, "streams": streams, "seed": seed, "batch": batch,
                "patch": patch, "buffer": buffer, "shards_per_round": shards_per_round}

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if workers != self.streams:
            raise RuntimeError(f"TrainStream built for {self.streams} streams runs in {workers} DataLoader workers")
        v = (worker + self.state.consumed) % self.streams  # see "exact resumption" in the module docstring
        g = self.rank * self.streams + v  # global stream id: distinct on every rank and worker
        first_round, skip = self.state.positions[v]
        handler = StreamGuard()
        rounds = resampled_rounds(self.assigned[v], seed=self.seed, stream=g, first_round=first_round,
                                  shards_per_round=self.shards_per_round)
        items = mix_rounds(rounds, seed=self.seed, stream=g, buffer=self.buffer, handler=handler,
                           counts=self.shards.counts, skip=skip)
        items = decode_items(items, handler=handler, require_sigma=True, clean_only=self.fresh != "off")
        items = crop_and_augment(items, patch=self.patch, seed=self.seed, stream=g, handler=handler,
                                 fresh=self.fresh, profile=self.profile)
        items = mark_usable(items, guard=handler)
        return _fatal_as_batch(collate_batches(items, batch=self.batch, stream=v, handler=handler), v)


def _fatal_as_batch(batches: Iterator[dict[str, Any]], stream: int) -> Iterator[dict[str, Any]]:
    """The stream's batches; when it finds nothing usable, one {"fatal": message} item and the end, so that
    the training process stops with that message (an exception in a loader worker would arrive as a
    traceback)."""
    try:
        yield from batches
    except NoUsableData as exc:
        yield {"fatal": f"data stream {stream}: {exc}", "stream": stream}


def build_train_stream(shards: ShardSet, *, patch: int, batch: int, seed: int, workers: int, rank: int = 0,
                       world: int = 1, buffer: int = 128, shards_per_round: int = 4,
                       saved: list[dict] | None = None, fresh: str = "off",
                       profile: CameraProfile | None = None) -> tuple[TrainStream, str | None]:
    """A TrainStream for this rank, continuing a checkpoint's streams when the layout is unchanged.

    Args:
        saved: the checkpoint's StreamState dicts, one per rank, or None for a fresh start.
    Returns:
        (stream, note): note says why the saved positions could not be continued, or None.
    """
    streams = max(1, workers)
    layout = TrainStream.stream_layout(shards, world=world, streams=streams, seed=seed, batch=batch, patch=patch,
                                       buffer=buffer, shards_per_round=shards_per_round)
    state, note = None, None
    if saved:
        if len(saved) == world and saved[rank]["layout"] == layout:
            state = StreamState.from_dict(saved[rank])
        else:
            # Another world size, worker count, shard list, ...: start rounds that were never drawn.
            first = 1 + max((p[0] for s in saved for p in s["positions"]), default=-1)
            state = StreamState.fresh(layout, streams, first_round=first)
            if rank == 0:
                state.damaged = sum(int(s.get("damaged", 0)) for s in saved)
            old = dict(saved[0]["layout"], world=len(saved))
            diff = ", ".join(f"{k} {old.get(k)!r} → {v!r}" for k, v in sorted(layout.items()) if old.get(k) != v)
            note = (f"the data layout changed since the checkpoint ({diff}): the data streams restart at round "
                    f"{first}, so the run is no longer identical to an uninterrupted one")
    stream = TrainStream(shards, patch=patch, batch=batch, seed=seed, rank=rank, world=world, workers=workers,
                         state=state, buffer=buffer, shards_per_round=shards_per_round, fresh=fresh, profile=profile)
    return stream, note


def _worker_init(_: int) -> None:
    # Decoding is single-threaded per worker; keep torch from starting intra-op threads there.
    torch.set_num_threads(1)
    # Ctrl-C reaches the whole foreground process group, and so does SIGTERM from `timeout`, SLURM or
    # `kill -- -PGID`: the main process stops after its step and writes a checkpoint
    # (trainer.engine.interrupt). A forked worker would otherwise run the handler it inherited, or die
    # and fail the main process's next batch. Workers end with the main process (DataLoader shutdown,
    # or their watchdog).
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)


def make_train_loader(stream: TrainStream, *, device: torch.device, seed: int) -> DataLoader:
    """DataLoader over a TrainStream: batching happens in the workers (batch_size=None), one worker per
    stream, pinned memory on CUDA, batches handed out round-robin in order.

    The stream is endless, so a run makes one iterator: persistent workers would bring nothing.
    """
    w = stream.workers
    return DataLoader(
        stream,
        batch_size=None,
        num_workers=w,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if w > 0 else None,
        worker_init_fn=_worker_init if w > 0 else None,
        generator=torch.Generator().manual_seed(seed),  # the DataLoader draws its workers' base seed here
        in_order=True,
    )
