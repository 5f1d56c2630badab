"""Trainer throughput and memory: is the loader ever the bottleneck, and does memory stay flat?

    python benchmarks/bench_train.py                       # CPU: tiny model, 64² crops of 128² shards
    python benchmarks/bench_train.py --model paper --patch 128 --batch 16 --device cuda --amp bf16 --compile both

Four figures, each in samples/s (one sample = one patch):
1. loader alone: the real DataLoader (trainer.data.stream: tar reading, shuffle, PNG decode, crop/flip,
   batching in the workers) drained as fast as possible, for each worker count in --workers; the
   per-worker rate says how many workers a given step rate needs.
2. train step alone: forward + SN loss + backward + clip + Adam on batches already in memory on
   the device (uint8 → float conversion included, as in the loop); best of 5 chunks.
3. real pipeline: trainer.stages.sn.train() itself (loader + step + logging), rate of its best log
   interval in metrics.jsonl (the first one, with start-up, and the last are left out), so that
   2. and 3. are both "best observed" on a machine shared with other work; ratio = 3 / 2 (target
   ≥ 0.95). The median interval is printed too.
4. memory: peak memory (PSS) of the training process plus its loader workers (sampled every
   0.2 s with psutil) during a long run of 3., and its trend from half-way to 95% of the run
   (MB per 1000 steps; flat ≈ 0). Peak GPU memory (torch.cuda.max_memory_allocated) on CUDA.

The dataset is --data when given, else one generated in a temporary folder from
../shared/data/CBSD68 (or the bundled photos) at --shard-patch with the cbdnet profile. On CUDA,
--compile both measures the step with and without torch.compile.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
import torch

from noisegen.command import default_threads
from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.reader import list_shards
from trainer.data.loader import build_train_stream, make_train_loader
from trainer.engine.metrics import read_metrics
from trainer.models.aindnet import AINDNet, count_parameters
from trainer.models.config import MODEL_CONFIGS
from trainer.stages.losses import sn_loss
from trainer.stages.sn_config import TrainConfig

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "CBSD68"


class MemorySampler:
    """Samples the memory of this process + its children every ``period`` s in a thread.

    PSS (proportional set size: pages shared between the processes, e.g. torch's libraries in the
    forked loader workers, are split between them), so the sum is the memory the run really holds.
    """

    def __init__(self, period: float = 0.2):
        self.period, self.samples, self._stop = period, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        me = psutil.Process()
        total = me.memory_full_info().pss
        for c in me.children(recursive=True):
            try:
                total += c.memory_full_info().pss
            except psutil.Error:
                pass
        return total

    def _run(self) -> None:
        t0 = time.perf_counter()
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - t0, self._rss()))
            self._stop.wait(self.period)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def make_dataset(root: Path, patch: int, per_image: int) -> Path:
    images = (str(SHARED),) if SHARED.is_dir() else ()
    out = root / f"ds{patch}"
    if not (out / "dataset.json").exists():
        t = time.perf_counter()
        # in-process (workers=1): no idle loky workers left behind to distort the memory figures
        s = generate(GenerateConfig(out=str(out), images=images, patch=patch, patches_per_image=per_image,
                                    samples_per_shard=32, seed=0, workers=1), progress=False, echo=lambda s: None)
        print(f"dataset: {s.samples} patches of {patch}² in {s.shards} shards ({s.bytes / 1e6:.0f} MB), "
              f"generated in {time.perf_counter() - t:.0f} s")
    return out


def bench_loader(data: Path, *, patch: int, batch: int, workers: int, device: torch.device, batches: int,
                 **stream_kw) -> float:
    """Samples/s of the real loader alone (stream_kw: e.g. fresh="noise" for trainer --fresh-noise)."""
    stream, _ = build_train_stream(list_shards(str(data)), patch=patch, batch=batch, seed=0, workers=workers,
                                   **stream_kw)
    it = iter(make_train_loader(stream, device=device, seed=0))
    for _ in range(max(2, workers * 2)):  # start-up and first rounds
        next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    rate = batches * batch / (time.perf_counter() - t)
    getattr(it, "_shutdown_workers", lambda: None)()
    return rate


def bench_step(model_name: str, *, patch: int, batch: int, device: torch.device, amp: bool, channels_last: bool,
               compile_: bool, steps: int) -> tuple[float, float]:
    """(samples/s, seconds of the first step) of the train step on in-memory batches."""
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = AINDNet(MODEL_CONFIGS[model_name]()).to(device).to(memory_format=fmt)
    net = torch.compile(model) if compile_ else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    u8 = [torch.randint(0, 256, (batch, 3, patch, patch), dtype=torch.uint8, generator=g).to(device) for _ in range(2)]
    sigma = (torch.rand(batch, 3, patch, patch, generator=g) * 0.1).to(device).contiguous(memory_format=fmt)

    def step() -> None:
        clean = u8[0].float().div_(255).contiguous(memory_format=fmt)
        noisy = u8[1].float().div_(255).contiguous(memory_format=fmt)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            d, s, c = net(noisy, return_coarse=True)
        loss, _ = sn_loss(d, clean, s, c, sigma, coarse_factor=model.coarse_factor)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    t = time.perf_counter()
    step()
    sync()
    first = time.perf_counter() - t
    for _ in range(3):
        step()
    sync()
    rates = []
    for _ in range(5):  # best of 5 chunks: other processes on a shared machine only ever slow it down
        t = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        rates.append(steps * batch / (time.perf_counter() - t))
    return max(rates), first


def bench_pipeline(data: Path, out: Path, *, model: str, patch: int, batch: int, workers: int, device: str,
                   amp: str, compile_: bool, steps: int, threads: int | None, log_every: int) -> dict:
    cfg = TrainConfig(data=(str(data),), out=str(out), model=model, steps=steps, batch=batch, patch=patch,
                      workers=workers, device=device, amp=amp, compile=compile_, threads=threads, log_every=log_every,
                      ckpt_every=10**9, val_every=10**9, progress=False)
    from trainer.stages.sn import train

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    with MemorySampler() as mem:
        t = time.perf_counter()
        train(cfg, echo=lambda s: None)
        wall = time.perf_counter() - t
    recs = [r for r in read_metrics(out / "metrics.jsonl") if "samples_per_s" in r]
    steady = [r["samples_per_s"] for r in recs[1:-1]] or [recs[-1]["samples_per_s"]]  # not start-up, not the tail
    rss = [m for _, m in mem.samples]
    times = [t for t, _ in mem.samples]
    # the run's steady part: from half-way to 95% (the end has the loader's shutdown)
    half, end = len(rss) // 2, max(len(rss) // 2 + 1, int(0.95 * len(rss)))
    slope = 0.0
    if end - half >= 2:  # least squares: bytes per second → MB per 1000 steps
        ts, ms = times[half:end], rss[half:end]
        mt, mm = statistics.fmean(ts), statistics.fmean(ms)
        b = sum((a - mt) * (m - mm) for a, m in zip(ts, ms)) / max(1e-12, sum((a - mt) ** 2 for a in ts))
        slope = b / 1e6 * (1000 / (steps / wall))
    return {"rate": max(steady), "median": statistics.median(steady), "rates": steady, "wall": wall,
            "peak_rss": max(rss),
            "rss_quartiles": [rss[int(q * (len(rss) - 1))] for q in (0.25, 0.5, 0.75, 0.95)], "slope_mb_per_1k": slope,
            "gpu_peak": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--data", help="a noisegen dataset folder (default: generate one)")
    ap.add_argument("--model", default="tiny", choices=sorted(MODEL_CONFIGS))
    ap.add_argument("--patch", type=int, default=64, help="training crop")
    ap.add_argument("--shard-patch", type=int, default=128, help="patch size of the generated dataset")
    ap.add_argument("--per-image", type=int, default=8, help="patches per photo of the generated dataset")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="loader worker counts to measure")
    ap.add_argument("--pipeline-workers", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--amp", default="none", choices=("none", "bf16"))
    ap.add_argument("--compile", default="no", choices=("no", "yes", "both"))
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads on CPU (default: as the trainer, noisegen.command.default_threads: the cores "
                    "minus the loader workers minus one, at least 1)")
    ap.add_argument("--step-iters", type=int, default=30)
    ap.add_argument("--pipeline-steps", type=int, default=400)
    ap.add_argument("--long-steps", type=int, default=3000, help="steps of the memory-flatness run (0: skip)")
    args = ap.parse_args()
    device = torch.device(args.device)
    cores = len(os.sched_getaffinity(0))
    threads = args.threads or default_threads(args.pipeline_workers)
    if device.type == "cpu":
        torch.set_num_threads(threads)
    print(f"torch {torch.__version__}, {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else f", {threads} threads, {cores} cores")
          + f"; model {args.model} ({count_parameters(AINDNet(MODEL_CONFIGS[args.model]())):,} parameters), "
          f"batch {args.batch} × {args.patch}², amp {args.amp}")
    with tempfile.TemporaryDirectory(prefix="bench_train_") as tmp:
        tmp = Path(tmp)
        data = Path(args.data) if args.data else make_dataset(tmp, args.shard_patch, args.per_image)

        print("\n1. loader alone (samples/s)")
        for w in args.workers:
            r = bench_loader(data, patch=args.patch, batch=args.batch, workers=w, device=device, batches=60)
            print(f"   workers {w}: {r:8.1f} samples/s   ({r / max(1, w):.1f} per worker)")

        print("\n2. train step on in-memory batches (samples/s)"
              + (f", {threads} torch thread(s) as in 3." if device.type == "cpu" else ""))
        variants = [False, True] if args.compile == "both" else [args.compile == "yes"]
        step_rate = None
        for comp in variants:
            for cl in ([True, False] if device.type == "cpu" and not comp else [True]):
                r, first = bench_step(args.model, patch=args.patch, batch=args.batch, device=device,
                                      amp=args.amp == "bf16", channels_last=cl, compile_=comp, steps=args.step_iters)
                step_rate = step_rate or r
                print(f"   compile {'on ' if comp else 'off'} channels_last {'on ' if cl else 'off'}: "
                      f"{r:8.1f} samples/s   (first step {first:.1f} s)")
        if device.type == "cpu" and threads != cores:
            torch.set_num_threads(cores)
            r, _ = bench_step(args.model, patch=args.patch, batch=args.batch, device=device, amp=args.amp == "bf16",
                              channels_last=True, compile_=False, steps=args.step_iters)
            torch.set_num_threads(threads)
            print(f"   (with all {cores} cores for the step and none left for loading: {r:.1f} samples/s)")

        print(f"\n3. real pipeline: trainer.stages.sn.train, {args.pipeline_workers} loader worker(s)")
        p = bench_pipeline(data, tmp / "run", model=args.model, patch=args.patch, batch=args.batch,
                           workers=args.pipeline_workers, device=args.device, amp=args.amp,
                           compile_=args.compile == "yes", steps=args.pipeline_steps, threads=threads,
                           log_every=max(10, args.pipeline_steps // 10))
        print(f"   {p['rate']:.1f} samples/s (best log interval; median {p['median']:.1f}; intervals "
              f"{', '.join(f'{x:.0f}' for x in p['rates'])}); pipeline / in-memory step = {p['rate'] / step_rate:.2f}")

        if args.long_steps:
            print(f"\n4. memory over a {args.long_steps}-step run")
            q = bench_pipeline(data, tmp / "long", model=args.model, patch=args.patch, batch=args.batch,
                               workers=args.pipeline_workers, device=args.device, amp=args.amp,
                               compile_=args.compile == "yes", steps=args.long_steps, threads=threads,
                               log_every=max(10, args.long_steps // 20))
            mb = [f"{v / 2**20:.0f}" for v in q["rss_quartiles"]]
            print(f"   peak host memory (PSS, process + workers) {q['peak_rss'] / 2**20:.0f} MiB; "
                  f"at 25/50/75/95% of the run "
                  f"{'/'.join(mb)} MiB; trend over the second half {q['slope_mb_per_1k']:+.1f} MB per 1000 steps; "
                  f"{q['median']:.1f} samples/s median")
            if q["gpu_peak"] is not None:
                print(f"   peak GPU memory {q['gpu_peak'] / 2**30:.2f} GiB")


if __name__ == "__main__":
    sys.exit(main())
