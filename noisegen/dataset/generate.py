"""`noisegen generate`: clean photos → sharded WebDataset dataset with σ maps (docs/design.md §Dataset generation).

Steps: scan the sources (noisegen.dataset.sources), plan the shards (noisegen.dataset.plan: a pure function of
the seed and the source list), write the shards that are not done yet in parallel — one task =
one shard (noisegen.dataset.writer.write_shard) — on local cores with joblib's loky backend (spawned
processes: forking after numba's parallel kernels can hang, docs/design.md §Implementation notes) or on a Dask cluster,
then write index.parquet and dataset.json, last and atomically.

Reproducibility: the bytes of every file depend only on the content fields of GenerateConfig
(and the versions recorded in dataset.json), never on ``workers``, ``backend`` or interruptions.
Resume: every finished shard leaves .partial/shard-NNNNNN.json; ``resume=True`` checks that the
configuration and sources are unchanged, removes half-written temporary files and writes the
missing shards only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from noisegen.command import Terminated, cpu_count
from noisegen.dataset.backends import close_dask, dask_client, run_dask, run_local
from noisegen.dataset.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    INDEX_NAME,
    MANIFEST_NAME,
    MEMBER_DESCRIPTIONS,
    MEMBERS,
    PARTIAL_DIR,
    SIGMA,
    SIGMA_DERIVED,
    SIGMA_ENCODING,
    SIGMA_MODES,
    SIGMA_STEP,
)
from noisegen.dataset.images import DEFAULT_MAX_PIXELS
from noisegen.dataset.make_shard import ShardRecord, ShardTask, read_record, record_path
from noisegen.dataset.plan import CROP_MODES, ShardPlan, samples_per_shard_for
from noisegen.dataset.png import PNG_ENCODER
from noisegen.dataset.reader import read_manifest
from noisegen.dataset.resume import finished, prepare_out, remove_temp_files, sources_digest
from noisegen.dataset.samples import sample_photo_paths
from noisegen.dataset.sources import SourceScan, hash_sources, printable_path, scan_sources
from noisegen.dataset.writer import versions, write_index, write_manifest
from noisegen.isp.pipeline import CLEAN_TARGETS
from noisegen.isp.profiles import CameraProfile, get_profile

__all__ = ["BACKENDS", "GenerateConfig", "GenerateSummary", "generate", "default_workers", "worker_count"]

BACKENDS = ("local", "dask")


def default_workers() -> int:
    """The CPU cores this process may use (noisegen.command.cpu_count): one worker per core."""
    return cpu_count()


@dataclass(frozen=True)
class GenerateConfig:
    """Configuration of `noisegen generate`.

    Content fields (they determine the bytes and are recorded in dataset.json):
        images: source folders or files; empty = the photos bundled with scikit-image.
        profile: camera profile (default "cbdnet": CBDNet/AINDNet noise, Guo et al. 2019).
        patch: patch side in pixels (256: AINDNet, Kim et al. 2020, trains on 256×256 patches).
        patches_per_image: patches cut from each photo (grid crops: at most the grid's cells).
        crop: "random" (uniform top-left corner) or "grid" (non-overlapping tiles).
        seed: dataset seed; every random draw derives from it (noisegen.dataset.plan).
        samples_per_shard: exact samples per shard; None = derived from shard_size.
        shard_size: target shard size in bytes when samples_per_shard is None (estimated from the
            patch size; small datasets still get at least 8 shards).
        max_images: use only the first N usable photos (in id order).
        max_pixels: photos with more pixels (H·W) are skipped and listed, before any is decoded
            (noisegen.dataset.images.DEFAULT_MAX_PIXELS: 100 MP, about 1.1 GB per worker).
        clean_target: "source" (the clean member is the source crop, as CBDNet/AINDNet) or "render"
            (its noise-free render through the sample's ISP; noisegen.isp.pipeline.render_clean).
        sigma: "stored" (the σ map as a 16-bit PNG member) or "derived" (no member, about a third fewer
            bytes: the reader recomputes σ from the clean source crop and the parameters; needs
            clean_target "source").
    Execution fields (never change the bytes, not recorded):
        out: dataset folder. workers: parallel processes (local) or dask workers of a LocalCluster
        started for the run. backend: "local" (joblib loky) or "dask". scheduler: address of a
        running dask scheduler (backend "dask"; workers must see ``out`` and the images at the same
        paths). resume: continue an interrupted run in ``out`` (or repair a complete one whose
        shards were damaged; noisegen.dataset.resume). ``workers`` is capped at the shards to write and
        at the CPU cores this process may use (``default_workers``), unless ``force_workers``: more
        processes than cores only cost memory and time.
    """

    out: str
    images: tuple[str, ...] = ()
    profile: CameraProfile = field(default_factory=lambda: get_profile("cbdnet"))
    patch: int = 256
    patches_per_image: int = 16
    crop: str = "random"
    seed: int = 0
    samples_per_shard: int | None = None
    shard_size: int = 512 * 10**6
    max_images: int | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS
    clean_target: str = "source"
    sigma: str = "stored"
    workers: int = field(default_factory=default_workers)
    backend: str = "local"
    scheduler: str | None = None
    resume: bool = False
    force_workers: bool = False

    def __post_init__(self) -> None:
        put = object.__setattr__
        if isinstance(self.images, (str, os.PathLike)):
            put(self, "images", (self.images,))
        put(self, "images", tuple(str(Path(p).expanduser().resolve()) for p in self.images))
        if not isinstance(self.profile, CameraProfile):
            raise TypeError("profile: expected a CameraProfile (noisegen.get_profile / load_profile), "
                            f"got {type(self.profile).__name__}")
        for name, lo in (("patch", 8), ("patches_per_image", 1), ("workers", 1), ("shard_size", 1),
                         ("max_pixels", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"{name}: expected an integer >= {lo}, got {v!r}")
        for name in ("samples_per_shard", "max_images"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ValueError(f"{name}: expected None or an integer >= 1, got {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed: expected an integer >= 0, got {self.seed!r}")
        if self.clean_target not in CLEAN_TARGETS:
            raise ValueError(f"clean_target: expected one of {CLEAN_TARGETS}, got {self.clean_target!r}")
        if self.sigma not in SIGMA_MODES:
            raise ValueError(f"sigma: expected one of {SIGMA_MODES}, got {self.sigma!r}")
        if self.sigma == "derived" and self.clean_target != "source":
            raise ValueError("sigma 'derived' recomputes σ from the clean source crop, so it needs clean_target "
                             "'source'; store the σ maps (--sigma stored) with --clean-target render")
        if self.crop not in CROP_MODES:
            raise ValueError(f"crop: expected one of {CROP_MODES}, got {self.crop!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {self.backend!r}")
        if self.scheduler is not None and self.backend != "dask":
            raise ValueError("scheduler: only used with backend 'dask' (add --backend dask)")

    def content(self) -> dict:
        """The fields that determine the output bytes (recorded in dataset.json)."""
        return {"images": list(self.images) or "embedded:scikit-image", "profile": self.profile.to_dict(),
                "patch": self.patch, "patches_per_image": self.patches_per_image, "crop": self.crop,
                "seed": self.seed, "samples_per_shard": self.samples_per_shard, "shard_size": self.shard_size,
                "max_images": self.max_images, "max_pixels": self.max_pixels, "clean_target": self.clean_target,
                "sigma": self.sigma, "png_encoder": PNG_ENCODER,
                "sigma_encoding": SIGMA_ENCODING if self.sigma == "stored" else SIGMA_DERIVED}


@dataclass
class GenerateSummary:
    """What a run produced. records: ShardRecords written by this run (timings, peak memory)."""

    out: Path
    samples: int
    shards: int
    bytes: int
    skipped: list[dict]
    conversions: dict[str, int]
    elapsed: float
    resumed_shards: int = 0
    records: list[ShardRecord] = field(default_factory=list)
    already_complete: bool = False


def _scan(config: GenerateConfig) -> SourceScan:
    if config.images:
        scan = scan_sources(config.images, min_size=config.patch, max_images=config.max_images,
                            max_pixels=config.max_pixels)
    else:
        scan = scan_sources([str(p) for p in sample_photo_paths()], min_size=config.patch,
                            max_images=config.max_images, label="skimage", max_pixels=config.max_pixels)
    return hash_sources(scan)


def _plan(config: GenerateConfig, scan: SourceScan) -> ShardPlan:
    plan = ShardPlan(images=scan.images, seed=config.seed, patch=config.patch,
                     patches_per_image=config.patches_per_image, crop=config.crop, samples_per_shard=1)
    sps = config.samples_per_shard or samples_per_shard_for(config.patch, plan.n_samples, config.shard_size)
    return dataclasses.replace(plan, samples_per_shard=sps)


def _fingerprint(config: GenerateConfig, scan: SourceScan, plan: ShardPlan) -> dict:
    """What a resumed run must share with the interrupted one (.partial/plan.json): options, versions,
    the plan's shape, and the content digest of every source (a photo replaced by another of the same
    name and size is noticed)."""
    sources = json.dumps([[i.id, i.height, i.width] for i in scan.images]).encode()
    return {"config": config.content(), "versions": versions(), "samples_per_shard": plan.samples_per_shard,
            "shards": plan.n_shards, "sources_sha256": hashlib.sha256(sources).hexdigest(),
            "sources": {i.id: i.sha256 for i in scan.images}}


def _tasks(config: GenerateConfig, plan: ShardPlan, shards: Iterable[int], *,
           parent_pid: int | None) -> Iterator[ShardTask]:
    for i in shards:
        jobs = plan.shard_jobs(i)
        used = sorted({j.image for j in jobs})
        yield ShardTask(shard=i, out_dir=str(Path(config.out).resolve()), jobs=tuple(jobs),
                        images=tuple((k, plan.images[k]) for k in used), profile=config.profile,
                        seed=config.seed, max_pixels=config.max_pixels, parent_pid=parent_pid,
                        clean_target=config.clean_target, sigma=config.sigma)


def _rows_by_shard(out: Path, records: list[ShardRecord], used: set[str]) -> Iterator[list[dict]]:
    for r in records:  # read back from the records on disk: one shard's rows in memory at a time
        rows = read_record(record_path(out, r.shard)).rows
        used.update(row["source"] for row in rows)
        yield rows


def _sigma_encoding(mode: str) -> dict:
    if mode == "derived":
        return {"member": "", "name": SIGMA_DERIVED, "note": "no σ member: the reader recomputes σ_raw from the "
                "clean source crop and the sample's parameters (noisegen.isp.raw_sigma), exactly"}
    return {"member": SIGMA, "name": SIGMA_ENCODING, "step": SIGMA_STEP, "max_abs_error": SIGMA_STEP / 2,
            "note": "the step of each sample is in its json (sigma.step) and in the PNG"}


def _finish(config: GenerateConfig, scan: SourceScan, plan: ShardPlan, records: list[ShardRecord]) -> dict:
    out = Path(config.out)
    records = sorted(records, key=lambda r: r.shard)
    used: set[str] = set()
    write_index(lambda: _rows_by_shard(out, records, used), out / INDEX_NAME)
    decode_skips = {s["source"]: s for r in records for s in r.skipped}
    skipped = [s.to_dict() for s in scan.skipped] + [decode_skips[k] for k in sorted(decode_skips)]
    converted = {k: v for r in records for k, v in r.conversions.items()}
    counts: dict[str, int] = {}
    for conv in converted.values():
        for c in conv:
            counts[c] = counts.get(c, 0) + 1
    manifest = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "created_by": f"noisegen {versions()['noisegen']}",
        "versions": versions(),
        "config": config.content(),
        "members": {m: MEMBER_DESCRIPTIONS[m] for m in MEMBERS if m != SIGMA or config.sigma == "stored"},
        "sigma_encoding": _sigma_encoding(config.sigma),
        "samples_per_shard": plan.samples_per_shard,
        "counts": {"files_found": scan.found, "images_planned": len(scan.images), "images_used": len(used),
                   "skipped": len(skipped), "samples_planned": plan.n_samples,
                   "samples": sum(r.samples for r in records),
                   "shards": len(records), "bytes": sum(r.bytes for r in records)},
        "conversions": dict(sorted(counts.items())),
        "converted_images": dict(sorted(converted.items())),
        "shards": [{"name": r.name, "samples": r.samples, "bytes": r.bytes, "sha256": r.sha256} for r in records],
        "skipped": skipped,
        "index": INDEX_NAME,
        "sources_sha256": sources_digest({i.id: i.sha256 for i in scan.images}),
    }
    write_manifest(manifest, out / MANIFEST_NAME)
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)
    return manifest


def _no_samples(out: Path, scan: SourceScan, written: list[ShardRecord]) -> None:
    """Every planned sample failed (each source failed to decode): an empty dataset is no dataset. Remove
    what this run wrote (empty shards, records) and raise ValueError naming the reasons."""
    skips = [s for r in written for s in r.skipped]
    for r in written:
        (out / r.name).unlink(missing_ok=True)
    shutil.rmtree(out / PARTIAL_DIR, ignore_errors=True)
    try:
        out.rmdir()  # only when nothing else is there
    except OSError:
        pass
    reasons = "; ".join(f"{s['source']}: {s['reason']}" for s in skips[:3])
    raise ValueError(f"no sample could be made: all {len(scan.images)} source images failed to decode"
                     + (f" ({reasons}{' ...' if len(skips) > 3 else ''})" if reasons else "")
                     + f"; nothing was written to {printable_path(out)}. Fix or replace the images and rerun")


def _summary_from_manifest(out: Path, m: dict, elapsed: float, **kw) -> GenerateSummary:
    c = m["counts"]
    return GenerateSummary(out=out, samples=c["samples"], shards=c["shards"], bytes=c["bytes"], skipped=m["skipped"],
                           conversions=m["conversions"], elapsed=elapsed, **kw)


def generate(config: GenerateConfig, *, progress: bool = True, echo: Callable[[str], None] = print) -> GenerateSummary:
    """Write the dataset described by ``config`` (see the module docstring).

    Args:
        config: GenerateConfig.
        progress: show a tqdm bar (patches/s, ETA) on stderr.
        echo: where one-line status messages go (print; pass lambda s: None for silence).
    Returns:
        GenerateSummary (also printed by the CLI).
    Raises:
        ValueError: no usable image, or --resume with different options.
        FileExistsError: ``out`` holds something else and resume is off.
    """
    t_start = time.perf_counter()
    out = Path(config.out)
    scan = _scan(config)
    if not scan.images:
        reasons = "; ".join(f"{s.source}: {s.reason}" for s in scan.skipped[:3])
        raise ValueError(f"no usable source image in {', '.join(config.images) or 'the embedded photos'} "
                         f"({scan.found} files found, {len(scan.skipped)} skipped{': ' + reasons if reasons else ''})")
    plan = _plan(config, scan)
    client = cluster = None
    if config.backend == "dask":  # connect first: an unreachable scheduler must not leave a half-made folder
        client, cluster = dask_client(worker_count(config, plan.n_shards)[0], config.scheduler)
    try:
        complete, lock = prepare_out(out, _fingerprint(config, scan, plan), config.content(), resume=config.resume,
                                     echo=echo)
    except BaseException:
        if client is not None:
            close_dask(client, cluster)
        raise
    if complete:
        echo(f"{out} is {'complete' if complete == 'repaired' else 'already complete'} (every shard has its recorded "
             f"size and sha256){'' if complete == 'repaired' else '; nothing to do'}")
        return _summary_from_manifest(out, read_manifest(out), time.perf_counter() - t_start, already_complete=True)
    try:
        summary = _write(config, scan, plan, t_start, echo, progress, client, cluster)
    except BaseException:
        lock.close(finished=False)  # the lock file keeps this pid: a later run reads "interrupted"
        raise
    finally:
        if client is not None:
            close_dask(client, cluster)
    lock.close()
    return summary


def worker_count(config: GenerateConfig, pending: int) -> tuple[int, str]:
    """(workers to start, why fewer than asked: "" when as asked): at most one per shard to write, and at
    most the CPU cores this process may use unless ``force_workers``."""
    cores = cpu_count()
    bounds = [(pending, f"capped at the {pending} shards to write")]
    if not config.force_workers and config.scheduler is None:
        bounds.append((cores, f"capped at the {cores} CPU cores; --force-workers to use more"))
    n, why = min(bounds, key=lambda b: b[0])
    n = max(1, n)
    return (n, f" (--workers {config.workers} {why})") if n < config.workers else (config.workers, "")


def _batch(plan: ShardPlan, pending: int, workers: int) -> int:
    """Consecutive shards per local worker batch: those one photo's patches span (its boundary photo is
    then decoded once), at most an even share of the pending shards."""
    return max(1, min(math.ceil(plan.patches_per_image / plan.samples_per_shard), pending // workers))


def _write(config: GenerateConfig, scan: SourceScan, plan: ShardPlan, t_start: float, echo, progress: bool,
           client, cluster) -> GenerateSummary:
    out = Path(config.out)
    done = finished(out, plan)
    pending = [i for i in range(plan.n_shards) if i not in done]
    workers, capped = worker_count(config, len(pending))  # noisegen.command's rule, unless forced
    echo(f"{len(scan.images)} source images ({len(scan.skipped)} skipped) → {plan.n_samples} patches of "
         f"{config.patch}×{config.patch} in {plan.n_shards} shards of ≤{plan.samples_per_shard}"
         + (f"; resuming: {len(done)} shards already done" if done else "")
         + f"; backend {config.backend}, {workers} worker{'s' if workers > 1 else ''}"
         + (capped if config.backend == "local" else ""))

    from tqdm import tqdm

    bar = tqdm(total=plan.n_samples, initial=sum(len(plan.shard_range(i)) for i in done), unit="patch",
               desc="generate", disable=not progress, smoothing=0.1, mininterval=0.5, dynamic_ncols=True)
    in_process = config.backend == "local" and workers == 1
    # Workers of a local pool check that this process still runs and stop when it is gone (kill -9).
    tasks = _tasks(config, plan, pending, parent_pid=None if in_process or client else os.getpid())
    written: list[ShardRecord] = []
    try:
        if client is None:
            results = run_local(tasks, workers, lambda: bar.update(1), _batch(plan, len(pending), workers))
        else:
            results = run_dask(tasks, client, cluster)
        for rec in results:
            rec.rows = []  # on disk in .partial/; the index is built from there at the end
            written.append(rec)
            planned = len(plan.shard_range(rec.shard))
            bar.update(planned - rec.samples if in_process else planned)
    except KeyboardInterrupt as exc:  # Ctrl-C, and SIGTERM (noisegen.command.Terminated)
        bar.close()
        remove_temp_files(out)  # the pool is stopped by now: no worker writes any more
        raise type(exc)(f"{'terminated' if isinstance(exc, Terminated) else 'interrupted'}: "
                        f"{len(done) + len(written)} of {plan.n_shards} shards are finished and kept in "
                        f"{printable_path(out)}; rerun the same command with --resume to finish") from None
    finally:
        bar.close()
    if not any(r.samples for r in done.values()) and not any(r.samples for r in written):
        _no_samples(out, scan, written)
    manifest = _finish(config, scan, plan, list(done.values()) + written)
    return _summary_from_manifest(out, manifest, time.perf_counter() - t_start, resumed_shards=len(done),
                                  records=written)
