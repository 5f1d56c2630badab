"""End-to-end `noisegen generate` figures: patches/s with 1 worker and with all cores, bytes per
sample, where the time goes, and the peak memory of a worker.

    python benchmarks/bench_generate.py [--samples 384] [--patch 256] [--big-mp 24] [--sigma stored|derived]

Sources: Kodak24 from ../shared/data when present (768×512), else the photos bundled with
scikit-image. Profile cbdnet, 256×256 random crops, PNG compress_level 1, shards written to a
temporary folder on the local disk (fsync included). Every run is the library call the CLI makes
(noisegen.dataset.generate.generate), so the wall time includes the source scan, worker start-up (loky),
index.parquet and dataset.json.

- Throughput: wall time of the whole run with workers=1 (in process) and workers=all cores (loky,
  with fresh workers and again with the workers already started), scaling efficiency =
  rate(W) / (W · rate(1)); and the machine's own ceiling: W copies of a fixed CPU-bound job run at
  once vs one alone (1.0 on independent cores; shared or throttled vCPUs give less).
- Shares: per-shard timers inside the workers: read (decode the source photo), synthesis (crop,
  sample_params, synthesize), encode (3 PNGs, json, index statistics), write (tar, fsync, rename).
- Bytes per sample: total shard bytes / samples, and the mean size of each member.
- Peak memory per worker (ru_maxrss of fresh loky workers): small sources with two dataset sizes
  (memory must not grow with the dataset), and with a 24 MP source added (bounded by the largest
  source image; target < 1 GiB).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tarfile
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from noisegen.dataset.generate import GenerateConfig, default_workers, generate
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.samples import sample_photo_paths

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "Kodak24"
QUIET = dict(progress=False, echo=lambda s: None)


def _fresh_pool() -> None:
    """Shut joblib's reusable loky executor down so that the next run starts new workers."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)


def _cpu_task(n: int) -> float:
    """A fixed CPU-bound job (PNG-encode a noise image n times); returns its own wall time."""
    from noisegen.dataset.png import encode_png

    img = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    for _ in range(n):
        encode_png(img)
    return time.perf_counter() - t0


def _hardware_ceiling(workers: int, n: int = 300) -> float:
    """t(1 job alone) / t(W jobs at once in W warm loky workers): 1.0 on W independent cores."""
    from joblib import Parallel, delayed

    par = Parallel(n_jobs=workers, backend="loky")
    par(delayed(_cpu_task)(5) for _ in range(workers))  # start the workers
    alone = min(par(delayed(_cpu_task)(n) for _ in range(1)))
    together = max(par(delayed(_cpu_task)(n) for _ in range(workers)))
    return alone / together


def _run(cfg: GenerateConfig):
    t0 = time.perf_counter()
    s = generate(cfg, **QUIET)
    return s, time.perf_counter() - t0


def _member_sizes(out: Path) -> dict[str, float]:
    sizes = defaultdict(list)
    for shard in sorted(out.glob("shard-*.tar"))[:4]:
        with tarfile.open(shard) as t:
            for m in t.getmembers():
                sizes[m.name.split(".", 1)[1]].append(m.size)
    return {k: float(np.mean(v)) for k, v in sizes.items()}


def _peak_per_worker(summary) -> float:
    by_pid: dict[int, int] = {}
    for r in summary.records:
        by_pid[r.pid] = max(by_pid.get(r.pid, 0), r.peak_rss)
    return max(by_pid.values()) / 2**20


def _big_photo(folder: Path, megapixels: float) -> Path:
    """A photo-like source of ~megapixels: a bundled photo upscaled (bicubic) to 3:2."""
    w = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    h = int(round(w / 1.5))
    img, _ = read_rgb8(sample_photo_paths()[2])
    big = Image.fromarray(img).resize((w, h), Image.BICUBIC)
    p = folder / "big" / f"big_{w}x{h}.png"
    p.parent.mkdir(parents=True)
    big.save(p, compress_level=1)
    return p


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--samples", type=int, default=384, help="patches per throughput run (default 384)")
    ap.add_argument("--patch", type=int, default=256, help="patch side (default 256)")
    ap.add_argument("--big-mp", type=float, default=24.0, help="megapixels of the large source (default 24)")
    ap.add_argument("--sigma", choices=("stored", "derived"), default="stored",
                    help="σ maps stored as a member (default) or derived by the reader (generate --sigma)")
    args = ap.parse_args()
    cores = default_workers()

    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        tmp = Path(tmp)
        src = [str(SHARED)] if SHARED.is_dir() else [str(p) for p in sample_photo_paths()]
        n_img = len(list(SHARED.glob("*.png"))) if SHARED.is_dir() else len(src)
        ppi = max(1, -(-args.samples // n_img))
        base = GenerateConfig(out="", images=tuple(src), patch=args.patch, patches_per_image=ppi,
                              samples_per_shard=16, workers=1, sigma=args.sigma)
        _run(dataclasses.replace(base, out=str(tmp / "warm"), patches_per_image=1))  # numba cache load

        s1, wall1 = _run(dataclasses.replace(base, out=str(tmp / "w1")))
        rate1 = s1.samples / wall1
        _fresh_pool()
        sW, wallW = _run(dataclasses.replace(base, out=str(tmp / "wN"), workers=cores))
        rateW = sW.samples / wallW
        # the same run again with the loky workers already started (steady state of a long run)
        sW2, wallW2 = _run(dataclasses.replace(base, out=str(tmp / "wN2"), workers=cores))
        rateW2 = sW2.samples / wallW2
        ceiling = _hardware_ceiling(cores)
        same = all((tmp / "w1" / f).read_bytes() == (tmp / "wN" / f).read_bytes()
                   for f in ["dataset.json", "index.parquet"] + [p.name for p in (tmp / "w1").glob("shard-*.tar")])

        t = defaultdict(float)
        for r in s1.records:
            for k, v in r.timings.items():
                t[k] += v
        total = sum(t.values())
        members = _member_sizes(tmp / "w1")

        # Peak memory per worker: small sources (two dataset sizes), then with a large source added.
        _fresh_pool()
        small_a, _ = _run(dataclasses.replace(base, out=str(tmp / "m1"), workers=cores,
                                              patches_per_image=max(1, ppi // 4)))
        _fresh_pool()
        small_b, _ = _run(dataclasses.replace(base, out=str(tmp / "m2"), workers=cores))
        big = _big_photo(tmp, args.big_mp)
        with Image.open(big) as im:
            big_size = im.size
        _fresh_pool()
        big_s, big_wall = _run(dataclasses.replace(base, out=str(tmp / "m3"), workers=cores,
                                                   images=(str(big.parent), *src), patches_per_image=8))
        _fresh_pool()

    src_name = "Kodak24" if SHARED.is_dir() else "scikit-image photos"
    print(f"noisegen generate --sigma {args.sigma}, cbdnet profile, {args.patch}x{args.patch} patches from {src_name}, "
          f"{s1.samples} patches in {s1.shards} shards, {cores} cores available, python {sys.version.split()[0]}")
    print(f"  {'1 worker':<19}: {rate1:7.1f} patches/s  (wall {wall1:.1f} s, end to end)")
    print(f"  {f'{cores} workers':<19}: {rateW:7.1f} patches/s  (wall {wallW:.1f} s, incl. worker start-up)")
    print(f"  {f'{cores} workers, warm':<19}: {rateW2:7.1f} patches/s  (wall {wallW2:.1f} s, workers already started)")
    print(f"  scaling efficiency : {100 * rateW / (cores * rate1):7.1f} % cold, "
          f"{100 * rateW2 / (cores * rate1):.1f} % warm "
          f"(1 → {cores} workers)")
    print(f"  this machine's own : {100 * ceiling:7.1f} %   ({cores} copies of a fixed CPU job at once vs one alone; "
          "100% on independent cores)")
    print(f"  bytes identical    : {same}  (workers 1 vs {cores})")
    kb = s1.bytes / s1.samples / 1e3
    print(f"  bytes per sample   : {kb:7.1f} KB  ("
          + ", ".join(f"{k} {v / 1e3:.1f} KB" for k, v in sorted(members.items()))
          + "; the rest is tar headers and padding)")
    print("  time shares (1 worker, summed over shards): "
          + ", ".join(f"{k} {100 * v / total:.1f}%" for k, v in sorted(t.items(), key=lambda kv: -kv[1]))
          + f"  = {1000 * total / s1.samples:.1f} ms/patch")
    print(f"  peak RSS per worker, small sources, {small_a.samples} patches : {_peak_per_worker(small_a):7.0f} MiB")
    print(f"  peak RSS per worker, small sources, {small_b.samples} patches : {_peak_per_worker(small_b):7.0f} MiB")
    print(f"  peak RSS per worker, + {big_size[0]}x{big_size[1]} ({big_size[0] * big_size[1] / 1e6:.1f} MP) source : "
          f"{_peak_per_worker(big_s):7.0f} MiB  ({big_s.samples} patches, {big_wall:.1f} s)")


if __name__ == "__main__":
    main()
