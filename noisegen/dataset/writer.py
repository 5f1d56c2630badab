"""Writing one WebDataset shard: synthesize its planned samples, encode them, write a tar atomically.

The format is DESIGN.md §4. One sample = one patch, key ``s<9-digit global index>``, members:

    clean.png   uint8 RGB PNG (noisegen.dataset.png: Up filter, zlib Z_RLE), the clean patch
    noisy.png   uint8 RGB PNG (lossless, also when JPEG was simulated)
    sigma.png   σ_raw as a 16-bit grayscale PNG of shape 3H×W: the R, G and B planes stacked
                vertically, value v ↦ σ = v·step; step = 2⁻¹⁴ (recorded as ``sigma.step`` in the
                sample's json) unless σ reaches 4.0, then the smallest power of two that fits.
                Absolute error ≤ step/2 = 3.05e-5 (contract: ≤ 1e-4). Planar, because PNG's row
                filters predict a value from its neighbours in the same plane.
    json        UTF-8 JSON: every parameter (SampleParams.to_dict()), source id, crop box, seeds,
                σ encoding, package version

Tars are byte-reproducible: members in a fixed order, USTAR headers with mtime 0, uid/gid 0, empty
user and group names, mode 0644 (webdataset's TarWriter needs mtime=0 for the same, DESIGN.md §9;
we write the headers ourselves so that the sha256 is computed while writing). A shard is written
to ``.shard-NNNNNN.tar.<token>.tmp``, fsynced and renamed; then its record (index rows, skipped
inputs, sha256) goes to ``.partial/shard-NNNNNN.json`` the same way, which marks it complete for
``--resume``.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import resource
import tarfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from noisegen.atomic import atomic_write
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.plan import PatchJob
from noisegen.dataset.png import PNG_ENCODER, encode_png
from noisegen.dataset.sources import SourceImage
from noisegen.isp.pipeline import Synthesis, synthesize
from noisegen.isp.profiles import CameraProfile
from noisegen.isp.sampling import sample_params
from noisegen.version import __version__

__all__ = [
    "MEMBERS",
    "SIGMA_MEMBER",
    "SIGMA_ENCODING",
    "SIGMA_STEP",
    "PNG_ENCODER",
    "PARTIAL_DIR",
    "shard_name",
    "encode_png",
    "encode_sigma",
    "decode_sigma",
    "DeterministicTarWriter",
    "ShardTask",
    "ShardRecord",
    "write_shard",
    "read_record",
]

MEMBERS = ("clean.png", "noisy.png", "sigma.png", "json")
SIGMA_MEMBER = "sigma.png"
SIGMA_ENCODING = "png16-planar"
SIGMA_STEP = 2.0**-14
PARTIAL_DIR = ".partial"
_TAR_BLOCK = 512
_TAR_RECORD = 20 * _TAR_BLOCK  # tar's default blocking factor, as written by GNU tar and tarfile


def shard_name(shard: int) -> str:
    """File name of shard ``shard``: shard-000000.tar, ..."""
    return f"shard-{shard:06d}.tar"


def encode_sigma(sigma_raw: np.ndarray) -> tuple[bytes, float]:
    """Encode a σ map (float H×W×3, ≥ 0) as a planar 16-bit PNG; returns (png bytes, step).

    σ ≈ v·step with |error| ≤ step/2; step = 2⁻¹⁴ when max σ < 65535·2⁻¹⁴ ≈ 4.0.
    """
    s = np.asarray(sigma_raw, dtype=np.float64)
    if s.ndim != 3 or s.shape[2] != 3:
        raise ValueError(f"sigma_raw: expected shape (H, W, 3), got {s.shape}")
    if not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("sigma_raw: expected finite values >= 0")
    step = SIGMA_STEP
    top = float(s.max()) if s.size else 0.0
    if top / step > 65535.0:
        step = 2.0 ** math.ceil(math.log2(top / 65535.0))
    v = np.rint(s / step).astype(np.uint16)
    planes = np.ascontiguousarray(v.transpose(2, 0, 1)).reshape(3 * s.shape[0], s.shape[1])
    return encode_png(planes), step


def decode_sigma(data: bytes, step: float) -> np.ndarray:
    """Inverse of encode_sigma: float32 H×W×3 σ map from the PNG bytes and the recorded step."""
    with Image.open(io.BytesIO(data)) as im:
        if im.mode not in ("I;16", "I;16B", "I"):
            raise ValueError(f"sigma.png: expected a 16-bit grayscale PNG, got mode {im.mode!r}")
        planes = np.asarray(im).astype(np.float32)
    if planes.ndim != 2 or planes.shape[0] % 3:
        raise ValueError(f"sigma.png: expected 3·H rows (R, G, B planes), got shape {planes.shape}")
    h = planes.shape[0] // 3
    return np.ascontiguousarray(planes.reshape(3, h, planes.shape[1]).transpose(1, 2, 0)) * np.float32(step)


class DeterministicTarWriter:
    """Minimal tar writer with fixed metadata; hashes the bytes while writing them.

    Members are regular files with USTAR headers: mtime 0, uid/gid 0, no user/group names, mode
    0644. ``close()`` writes the two zero end blocks and pads to a 10240-byte record, like tar.
    """

    def __init__(self, fileobj) -> None:
        self._f = fileobj
        self._hash = hashlib.sha256()
        self.bytes_written = 0

    def _write(self, data: bytes) -> None:
        self._f.write(data)
        self._hash.update(data)
        self.bytes_written += len(data)

    def add(self, name: str, data: bytes) -> int:
        """Append a member; returns the bytes it took in the archive (header + data + padding)."""
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        before = self.bytes_written
        self._write(info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict"))
        self._write(data)
        pad = -len(data) % _TAR_BLOCK
        if pad:
            self._write(b"\0" * pad)
        return self.bytes_written - before

    def close(self) -> str:
        """Write the end-of-archive blocks; returns the sha256 (hex) of the whole archive."""
        self._write(b"\0" * (2 * _TAR_BLOCK))
        pad = -self.bytes_written % _TAR_RECORD
        if pad:
            self._write(b"\0" * pad)
        return self._hash.hexdigest()


@dataclass(frozen=True)
class ShardTask:
    """Everything a worker needs to write one shard (picklable; no open files, no Generators).

    shard: shard number; out_dir: dataset folder (shared by all workers); jobs: the planned samples
    (ShardPlan.shard_jobs); images: (index, SourceImage) pairs of the images the jobs use;
    profile: camera profile; seed: dataset seed (recorded); threads: numba threads for this worker
    (None: leave as is).
    """

    shard: int
    out_dir: str
    jobs: tuple[PatchJob, ...]
    images: tuple[tuple[int, SourceImage], ...]
    profile: CameraProfile
    seed: int
    threads: int | None = None


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


# SampleParams fields with one value per channel: index columns NAME_r, NAME_g, NAME_b.
_PER_CHANNEL = ("sigma_s", "sigma_c", "wb_gains")


def _split3(name: str, value: list) -> dict:
    return {f"{name}_{c}": v for c, v in zip("rgb", value)}


def _index_row(shard: str, job: PatchJob, img: SourceImage, s: Synthesis, step: float, nbytes: int) -> dict:
    """One index.parquet row: identity, crop, every scalar parameter, cheap statistics."""
    y, x, h, w = job.box
    row = {"shard": shard, "key": job.key, "sample": job.index, "source": img.id,
           "source_height": img.height, "source_width": img.width,
           "crop_y": y, "crop_x": x, "crop_h": h, "crop_w": w, "patch": job.patch}
    for name, value in s.params.to_dict().items():
        if name in _PER_CHANNEL:
            row.update(_split3(name, [None] * 3 if value is None else value))
        else:
            row[name] = value
    clean = s.clean.astype(np.float32)
    resid = (s.noisy.astype(np.float32) - clean) / 255.0
    row.update(sigma_step=step, mean_intensity=float(clean.mean()) / 255.0,
               noisy_mean=float(s.noisy.mean()) / 255.0, residual_std=float(resid.std()),
               sigma_mean=float(s.sigma_raw.mean()), sigma_max=float(s.sigma_raw.max()), bytes=nbytes)
    return row


def _sample_json(task: ShardTask, job: PatchJob, img: SourceImage, conv: list[str], s: Synthesis, step: float) -> bytes:
    y, x, h, w = job.box
    rec = {
        "key": job.key,
        "sample": job.index,
        "source": img.id,
        "source_size": [img.height, img.width],
        "conversions": conv,
        "crop": {"y": y, "x": x, "h": h, "w": w},
        "patch": job.patch,
        "seed": task.seed,
        "crop_seed": None if job.crop_seed is None else list(job.crop_seed),
        "params_seed": list(job.params_seed),
        "noise_seed": list(job.noise_seed),
        "params": s.params.to_dict(),
        "sigma": {"member": SIGMA_MEMBER, "encoding": SIGMA_ENCODING, "step": step},
        "noisegen_version": __version__,
    }
    return json.dumps(rec, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _set_threads(n: int | None) -> None:
    if n is None:
        return
    import numba

    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


def write_shard(task: ShardTask, on_sample: Callable[[], None] | None = None) -> ShardRecord:
    """Make and write one shard (the unit of work of `noisegen generate`; runs in a worker).

    Sources are decoded one at a time (jobs of one image are consecutive), so memory is bounded
    by the largest source image, not by the shard. A source that cannot be decoded is skipped
    and listed in the record; its planned samples are left out.

    Returns:
        the ShardRecord, after the shard and its record are both on disk under their final names.
    """
    _set_threads(task.threads)
    out = Path(task.out_dir)
    name = shard_name(task.shard)
    images = dict(task.images)
    t = {"read": 0.0, "synthesis": 0.0, "encode": 0.0}
    rows: list[dict] = []
    skipped: dict[str, dict] = {}
    conversions: dict[str, list[str]] = {}
    current: tuple[int, np.ndarray | None, list[str]] = (-1, None, [])

    def write_samples(f) -> str:
        nonlocal current
        tw = DeterministicTarWriter(f)
        for job in task.jobs:
            img = images[job.image]
            if current[0] != job.image:
                current = (job.image, None, [])  # drop the previous source before reading the next
                t0 = time.perf_counter()
                try:
                    pixels, conv = read_rgb8(img.path)
                    if pixels.shape[:2] != (img.height, img.width):
                        raise ValueError(f"size changed since the scan: now {pixels.shape[1]}×{pixels.shape[0]}, "
                                         f"was {img.width}×{img.height}")
                    current = (job.image, pixels, conv)
                    if conv:
                        conversions[img.id] = conv
                except (ValueError, OSError) as exc:
                    skipped[img.id] = {"source": img.id, "path": img.path, "reason": str(exc), "stage": "decode"}
                t["read"] += time.perf_counter() - t0
            _, pixels, conv = current
            if pixels is None:
                continue
            t0 = time.perf_counter()
            y, x, h, w = job.box
            crop = np.ascontiguousarray(pixels[y:y + h, x:x + w])
            params = sample_params(task.profile, np.random.default_rng(list(job.params_seed)))
            s = synthesize(crop, params, seed=list(job.noise_seed))
            t1 = time.perf_counter()
            sigma_png, step = encode_sigma(s.sigma_raw)
            payload = {"clean.png": encode_png(s.clean), "noisy.png": encode_png(s.noisy), "sigma.png": sigma_png,
                       "json": _sample_json(task, job, img, conv, s, step)}
            t2 = time.perf_counter()
            nbytes = sum(tw.add(f"{job.key}.{m}", payload[m]) for m in MEMBERS)
            t3 = time.perf_counter()
            rows.append(_index_row(name, job, img, s, step, nbytes))
            t["synthesis"] += t1 - t0
            t["encode"] += t2 - t1 + (time.perf_counter() - t3)
            if on_sample is not None:
                on_sample()
        return tw.close()

    t0 = time.perf_counter()
    sha = atomic_write(out / name, write_samples)
    # "write" = tar headers and data, fsync and rename: the wall time not spent elsewhere.
    t["write"] = max(0.0, time.perf_counter() - t0 - t["read"] - t["synthesis"] - t["encode"])
    record = ShardRecord(
        shard=task.shard, name=name, samples=len(rows), bytes=(out / name).stat().st_size, sha256=sha,
        rows=rows, skipped=list(skipped.values()), conversions=conversions, timings=t,
        peak_rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, pid=os.getpid(),
    )
    partial = out / PARTIAL_DIR
    partial.mkdir(exist_ok=True)
    atomic_write(partial / f"{name[:-4]}.json", lambda f: f.write(record.to_json().encode("utf-8")))
    return record


def read_record(path: str | os.PathLike[str]) -> ShardRecord:
    """Read a .partial/shard-NNNNNN.json record (ValueError if it is damaged)."""
    try:
        return ShardRecord.from_json(Path(path).read_text())
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: damaged shard record ({exc})") from None
