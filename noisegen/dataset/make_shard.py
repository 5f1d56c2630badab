"""One shard of `noisegen generate`: synthesize its planned samples, encode them, write the tar.

The unit of work of generation (one task = one shard, run in a worker process). Sources are decoded
one at a time; samples follow the format of noisegen.dataset.format and are written by
noisegen.dataset.writer. A finished shard's record (index rows, skipped inputs, sha256) goes to
``.partial/shard-NNNNNN.json`` atomically, which marks it complete for ``--resume``.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from noisegen.atomic import atomic_write, atomic_write_bytes
from noisegen.dataset.format import (
    CLEAN,
    JSON,
    MEMBERS,
    NOISY,
    PARTIAL_DIR,
    SIGMA,
    encode_meta,
    encode_sigma,
    index_row,
    shard_name,
    synthetic_sample_meta,
)
from noisegen.dataset.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_HINT, read_rgb8
from noisegen.dataset.plan import PatchJob
from noisegen.dataset.png import encode_png
from noisegen.dataset.sources import SourceImage
from noisegen.dataset.writer import DeterministicTarWriter
from noisegen.isp.pipeline import synthesize
from noisegen.isp.profiles import CameraProfile
from noisegen.isp.sampling import sample_params
from noisegen.version import __version__

__all__ = ["ShardTask", "ShardRecord", "write_shard", "read_record", "record_path"]


def record_path(out: str | os.PathLike[str], shard: int) -> Path:
    """Where the record of finished shard ``shard`` lives until the run ends: OUT/.partial/shard-NNNNNN.json."""
    return Path(out) / PARTIAL_DIR / f"{shard_name(shard)[:-4]}.json"


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs to write one shard (picklable; no open files, no Generators).

    shard: shard number; out_dir: dataset folder (shared by all workers); jobs: the planned samples
    (ShardPlan.shard_jobs); images: (index, SourceImage) pairs of the images the jobs use;
    profile: camera profile; seed: dataset seed (recorded); max_pixels: the sources' pixel limit;
    parent_pid: the run's main process: a worker whose parent is no longer that process (killed)
    stops before its next sample and removes its temporary file (None: no check); clean_target:
    "source" or "render" (noisegen.isp.pipeline); sigma: "stored" (the σ member) or "derived" (none;
    the reader recomputes the map from the clean source, noisegen.isp.raw_sigma).
    """

    shard: int
    out_dir: str
    jobs: tuple[PatchJob, ...]
    images: tuple[tuple[int, SourceImage], ...]
    profile: CameraProfile
    seed: int
    max_pixels: int | None = DEFAULT_MAX_PIXELS
    parent_pid: int | None = None
    clean_target: str = "source"
    sigma: str = "stored"


class RunGone(RuntimeError):
    """The main process of the run has ended: the worker stops writing."""


_WATCHED: dict[str, object] = {"pid": None, "gone": False, "writing": False}


def _watch_parent(pid: int) -> None:
    # A worker pool's processes outlive a main process killed with SIGKILL (they are reparented);
    # idle ones would wait for tasks for minutes. Check twice a second: an idle worker exits at once,
    # a writing one stops before its next sample (write_shard) and removes its temporary file.
    while True:
        time.sleep(0.5)
        if os.getppid() != pid:
            _WATCHED["gone"] = True
            for _ in range(40):
                if not _WATCHED["writing"]:
                    os._exit(1)
                time.sleep(0.25)
            os._exit(1)


def _start_watch(pid: int | None) -> None:
    if pid is None or _WATCHED["pid"] == pid:
        return
    _WATCHED["pid"] = pid
    # Ctrl-C (and a SIGTERM sent to the group) reaches every process: the main process stops the pool
    # (loky ends its workers with SIGKILL) and removes what was half-written; a worker hit mid-call
    # (numba loading its cache) could otherwise crash loudly. A worker whose main process died ends
    # by the parent watch below.
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except ValueError:  # not the main thread of the worker
        pass
    threading.Thread(target=_watch_parent, args=(pid,), name="noisegen-parent-watch", daemon=True).start()


@dataclass
class ShardRecord:
    """What writing a shard produced (also stored as .partial/shard-NNNNNN.json until the end).

    rows: index rows (one per sample); skipped: Skipped.to_dict() of sources that failed to decode;
    conversions: image id → conversions made when reading it; timings: seconds spent in "read",
    "synthesis", "encode", "write"; peak_rss: the worker's peak resident memory in bytes.
    """

    shard: int
    name: str
    samples: int
    bytes: int
    sha256: str
    rows: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    conversions: dict[str, list[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    peak_rss: int = 0
    pid: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ShardRecord:
        return cls(**json.loads(text))


def _sample(task: ShardTask, job: PatchJob, img: SourceImage, pixels: np.ndarray,
            conv: list[str]) -> tuple[dict[str, bytes], dict, dict[str, float]]:
    """Synthesize and encode one planned sample: (members, index row without bytes, seconds per stage)."""
    t0 = time.perf_counter()
    y, x, h, w = job.box
    crop = np.ascontiguousarray(pixels[y:y + h, x:x + w])
    params = sample_params(task.profile, np.random.default_rng(list(job.params_seed)))
    s = synthesize(crop, params, seed=list(job.noise_seed), clean_target=task.clean_target)
    t1 = time.perf_counter()
    sigma_png, step = encode_sigma(s.sigma_raw) if task.sigma == "stored" else (None, None)
    meta = synthetic_sample_meta(
        key=job.key, sample=job.index, source=img.id, source_size=(img.height, img.width), conversions=conv,
        box=job.box, patch=job.patch, seed=task.seed, crop_seed=job.crop_seed, params_seed=job.params_seed,
        noise_seed=job.noise_seed, params=s.params.to_dict(), sigma_step=step, version=__version__,
        clean_target=task.clean_target)
    members = {CLEAN: encode_png(s.clean), NOISY: encode_png(s.noisy), SIGMA: sigma_png, JSON: encode_meta(meta)}
    if sigma_png is None:
        del members[SIGMA]
    row = index_row(meta, clean=s.clean, noisy=s.noisy, sigma=s.sigma_raw)
    return members, row, {"synthesis": t1 - t0, "encode": time.perf_counter() - t1}


# The last source this process decoded, kept between shards: consecutive shards share the photo at
# their boundary (a photo's patches are consecutive in the plan), and generate gives a local worker
# consecutive shards in one batch, so each photo is decoded once per worker that needs it, not once
# per shard. Keyed by the SourceImage (path, size and content sha256). Failures are not kept.
_LAST: tuple[SourceImage | None, np.ndarray | None, list[str]] = (None, None, [])


class _Sources:
    """The decoded source of the current jobs: one image in memory at a time (jobs of one image are
    consecutive), failures remembered so that a bad file is tried once."""

    def __init__(self, images: dict[int, SourceImage], max_pixels: int | None) -> None:
        self.images = images
        self.max_pixels = max_pixels
        self.current: tuple[int, np.ndarray | None, list[str]] = (-1, None, [])
        self.skipped: dict[str, dict] = {}
        self.conversions: dict[str, list[str]] = {}
        self.seconds = 0.0
        self.decoded = 0

    def get(self, index: int) -> tuple[np.ndarray | None, list[str]]:
        global _LAST
        if self.current[0] != index:
            img = self.images[index]
            self.current = (index, None, [])  # drop the previous source before reading the next
            if _LAST[0] == img:
                self.current = (index, _LAST[1], _LAST[2])
                if _LAST[2]:
                    self.conversions[img.id] = _LAST[2]
                return _LAST[1], _LAST[2]
            _LAST = (None, None, [])
            t0 = time.perf_counter()
            try:
                self.decoded += 1
                pixels, conv = read_rgb8(img.path, max_pixels=self.max_pixels, hint=MAX_PIXELS_HINT)
                if pixels.shape[:2] != (img.height, img.width):
                    raise ValueError(f"size changed since the scan: now {pixels.shape[1]}×{pixels.shape[0]}, "
                                     f"was {img.width}×{img.height}")
                self.current = (index, pixels, conv)
                _LAST = (img, pixels, conv)
                if conv:
                    self.conversions[img.id] = conv
            except (ValueError, OSError) as exc:
                self.skipped[img.id] = {"source": img.id, "path": img.path, "reason": str(exc), "stage": "decode"}
            self.seconds += time.perf_counter() - t0
        return self.current[1], self.current[2]


def write_shard(task: ShardTask, on_sample: Callable[[], None] | None = None) -> ShardRecord:
    """Make and write one shard (the unit of work of `noisegen generate`; runs in a worker).

    Sources are decoded one at a time, so memory is bounded by the largest source image, not by the
    shard. A source that cannot be decoded is skipped and listed in the record; its planned samples
    are left out.

    Returns:
        the ShardRecord, after the shard and its record are both on disk under their final names.
    """
    out, name = Path(task.out_dir), shard_name(task.shard)
    _start_watch(task.parent_pid)
    sources = _Sources(dict(task.images), task.max_pixels)
    rows: list[dict] = []
    t = {"synthesis": 0.0, "encode": 0.0}

    def write_samples(f) -> str:
        tw = DeterministicTarWriter(f)
        for job in task.jobs:
            if task.parent_pid is not None and (_WATCHED["gone"] or os.getppid() != task.parent_pid):
                raise RunGone(f"the run's main process {task.parent_pid} has ended; {name} was not finished")
            pixels, conv = sources.get(job.image)
            if pixels is None:
                continue
            members, row, seconds = _sample(task, job, sources.images[job.image], pixels, conv)
            t0 = time.perf_counter()
            row["bytes"] = sum(tw.add(f"{job.key}.{m}", members[m]) for m in MEMBERS if m in members)
            rows.append(dict(row, shard=name))
            t["synthesis"] += seconds["synthesis"]
            t["encode"] += seconds["encode"] + time.perf_counter() - t0
            if on_sample is not None:
                on_sample()
        return tw.close()

    t0 = time.perf_counter()
    _WATCHED["writing"] = True
    try:
        sha = atomic_write(out / name, write_samples)
    finally:
        _WATCHED["writing"] = False
    t["read"] = sources.seconds
    # "write" = tar headers and data, fsync and rename: the wall time not spent elsewhere.
    t["write"] = max(0.0, time.perf_counter() - t0 - t["read"] - t["synthesis"] - t["encode"])
    record = ShardRecord(
        shard=task.shard, name=name, samples=len(rows), bytes=(out / name).stat().st_size, sha256=sha,
        rows=rows, skipped=list(sources.skipped.values()), conversions=sources.conversions, timings=t,
        peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, pid=os.getpid(),
    )
    rec_path = record_path(out, task.shard)
    rec_path.parent.mkdir(exist_ok=True)
    atomic_write_bytes(rec_path, record.to_json().encode("utf-8"))
    return record


def read_record(path: str | os.PathLike[str]) -> ShardRecord:
    """Read a .partial/shard-NNNNNN.json record (ValueError if it is damaged)."""
    try:
        return ShardRecord.from_json(Path(path).read_text())
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: damaged shard record ({exc})") from None
