"""GPU acceptance of the trainer: one script that proves it on one accelerator in ≤ 8 minutes.

    pip install -e ".[train,test]"                                   # on the GPU machine, once
    python benchmarks/gpu_check.py --json gpu_check.json             # H100/H200: ≈ 6-8 minutes
    python benchmarks/gpu_check.py --dry-run --json /tmp/dry.json    # CPU, tiny model, seconds (CI)

Sections (each prints its lines and goes into the JSON; a section that fails is reported and the
next one runs; sections are skipped once the time budget is spent):
  data       a dataset generated on all CPU cores (patches/s), or --data
  flops      forward MACs of the model counted from its layers (trainer.models.flops), training FLOPs
             per 256² patch (≈ 0.96 TFLOP for the paper model)
  step       train step on in-memory batches (bench_train.bench_step), bf16 + channels_last:
             samples/s, step time and peak memory at batch 16/32/64, eager and torch.compile; MFU
  loader     the full streaming pipeline (trainer.stages.sn.train: tar reading, PNG decoding, crops,
             batches in loader workers, pinned memory) vs the in-memory rate, for 2/4/8 workers;
             the loader alone per worker says how many CPU cores per GPU the step needs, with the
             stored noise and with --fresh-noise (noise synthesized in the loader)
  train      a 1,000-step SN run (the loss must fall), checkpoint, then resume for 100 more steps
  eval       PSNR of that checkpoint on real pairs (--pairs, or ../shared/data/CC15, or a copy in the
             git-ignored .device_data/CC15), with and without ×8 self-ensemble
  denoise    a 24 MP photo, whole-image AIN statistics vs --tile-stats
``--dry-run`` runs the same code with the tiny model, small crops and a few steps on the CPU, so that
CI keeps the script working (tests/test_gpu_check.py).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_train beside this script

from bench_train import bench_loader, bench_pipeline, bench_step  # noqa: E402

from noisegen.dataset.generate import GenerateConfig, generate  # noqa: E402
from noisegen.dataset.reader import write_png  # noqa: E402
from trainer.engine.metrics import read_metrics  # noqa: E402
from trainer.infer.denoise import DenoiseConfig, denoise_images  # noqa: E402
from trainer.infer.evaluate import EvalConfig, evaluate_checkpoint  # noqa: E402
from trainer.models.aindnet import AINDNet, count_parameters  # noqa: E402
from trainer.models.config import MODEL_CONFIGS  # noqa: E402
from trainer.models.flops import forward_macs, mfu, peak_tflops  # noqa: E402
from trainer.stages.sn import train  # noqa: E402
from trainer.stages.sn_config import TrainConfig  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAIR_CANDIDATES = (ROOT.parent / "shared" / "data" / "CC15", ROOT / ".device_data" / "CC15")


@dataclass(frozen=True)
class Plan:
    """Sizes of one check (the GPU plan, or the CPU dry run)."""

    device: str
    model: str
    patch: int
    samples: int
    batches: tuple[int, ...]
    compile_batches: tuple[int, ...]
    step_iters: int
    loader_workers: tuple[int, ...]
    loader_steps: int
    train_steps: int
    resume_steps: int
    train_batch: int
    eval_images: int
    megapixels: float
    amp: str


GPU = Plan(device="cuda", model="paper", patch=256, samples=2048, batches=(16, 32, 64), compile_batches=(32,),
           step_iters=10, loader_workers=(2, 4, 8), loader_steps=150, train_steps=1000, resume_steps=100,
           train_batch=16, eval_images=6, megapixels=24.0, amp="bf16")
DRY = Plan(device="cpu", model="tiny", patch=32, samples=48, batches=(2, 4), compile_batches=(), step_iters=2,
           loader_workers=(0, 1), loader_steps=6, train_steps=20, resume_steps=5, train_batch=4, eval_images=1,
           megapixels=0.1, amp="none")


class Report:
    """Collects every section's figures (the JSON) and prints its lines (the table)."""

    def __init__(self, budget: float) -> None:
        self.t0, self.budget = time.perf_counter(), budget
        self.data: dict = {"sections": {}, "errors": {}}

    def line(self, text: str) -> None:
        print(text, flush=True)

    def section(self, name: str, fn, *args):
        left = self.budget - (time.perf_counter() - self.t0)
        if left <= 0:
            self.line(f"[{name}] skipped: the time budget is spent")
            self.data["errors"][name] = "skipped (time budget)"
            return None
        self.line(f"[{name}]")
        t = time.perf_counter()
        try:
            out = fn(*args)
        except Exception as exc:  # noqa: BLE001 - report and go on with the next section
            self.line(f"  FAILED: {type(exc).__name__}: {exc}")
            self.data["errors"][name] = "".join(traceback.format_exception(exc))[-4000:]
            return None
        self.data["sections"][name] = {**(out or {}), "seconds": round(time.perf_counter() - t, 2)}
        return out


def environment(plan: Plan) -> dict:
    dev = torch.device(plan.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or "cpu"
    return {"device": name, "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "cpu_cores": len(os.sched_getaffinity(0)), "peak_bf16_tflops": peak_tflops(name) if dev.type == "cuda"
            else None}


def make_data(plan: Plan, root: Path, say) -> dict:
    workers = len(os.sched_getaffinity(0))
    per_image = max(1, -(-plan.samples // 8))  # the 8 photos bundled with scikit-image
    cfg = GenerateConfig(out=str(root / "ds"), patch=plan.patch, patches_per_image=per_image, seed=0,
                         samples_per_shard=max(8, plan.samples // (4 * workers)), workers=workers)
    t = time.perf_counter()
    s = generate(cfg, progress=False, echo=lambda m: None)
    wall = time.perf_counter() - t
    say(f"  {s.samples} patches of {plan.patch}² in {s.shards} shards on {workers} cores: {wall:.1f} s, "
        f"{s.samples / wall:.0f} patches/s ({s.bytes / s.samples / 1e3:.0f} KB/patch)")
    return {"path": str(root / "ds"), "samples": s.samples, "workers": workers, "patches_per_s": s.samples / wall,
            "bytes_per_sample": s.bytes / s.samples}


def flops(plan: Plan, say) -> dict:
    model = AINDNet(MODEL_CONFIGS[plan.model]())
    macs = forward_macs(model, 64, 64) // (64 * 64)  # convolutions: MACs ∝ pixels
    per_patch = 6 * macs * plan.patch * plan.patch
    say(f"  {plan.model}: {count_parameters(model):,} parameters, {macs:,} forward MACs/pixel, "
        f"{per_patch / 1e12:.3f} TFLOP per {plan.patch}² training patch (6 × forward MACs)")
    return {"parameters": count_parameters(model), "macs_per_pixel": macs, "train_flops_per_patch": per_patch}


def steps(plan: Plan, peak: float | None, per_patch: float, say) -> dict:
    dev = torch.device(plan.device)
    rows = []
    for compiled in (False, True):
        for batch in (plan.compile_batches if compiled else plan.batches):
            if dev.type == "cuda":
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
            rate, first = bench_step(plan.model, patch=plan.patch, batch=batch, device=dev, amp=plan.amp == "bf16",
                                     channels_last=True, compile_=compiled, steps=plan.step_iters)
            mem = torch.cuda.max_memory_allocated() / 2**30 if dev.type == "cuda" else None
            u = mfu(rate, per_patch, peak)
            rows.append({"batch": batch, "compile": compiled, "samples_per_s": rate, "step_ms": 1e3 * batch / rate,
                         "first_step_s": first, "peak_gib": mem, "mfu": u})
            say(f"  batch {batch:3d} {'compile' if compiled else 'eager  '}: {rate:8.1f} samples/s, "
                f"{1e3 * batch / rate:7.1f} ms/step" + (f", peak {mem:.1f} GiB" if mem is not None else "")
                + (f", MFU {100 * u:.1f}%" if u is not None else "") + f" (first step {first:.1f} s)")
    return {"rows": rows}


def loader(plan: Plan, data: Path, in_memory: float, root: Path, say) -> dict:
    dev = torch.device(plan.device)
    rows = []
    for w in plan.loader_workers:
        r = bench_pipeline(data, root / f"pipe{w}", model=plan.model, patch=plan.patch, batch=plan.train_batch,
                           workers=w, device=plan.device, amp=plan.amp, compile_=False, steps=plan.loader_steps,
                           threads=None, log_every=max(2, plan.loader_steps // 6))
        alone = bench_loader(data, patch=plan.patch, batch=plan.train_batch, workers=max(1, w), device=dev,
                             batches=max(4, plan.loader_steps // 3))
        rows.append({"workers": w, "pipeline_samples_per_s": r["rate"], "ratio": r["rate"] / in_memory,
                     "loader_alone_samples_per_s": alone, "per_worker": alone / max(1, w)})
        say(f"  {w} workers: pipeline {r['rate']:7.1f} samples/s = {100 * r['rate'] / in_memory:5.1f}% of in-memory "
            f"{in_memory:.1f}; loader alone {alone:.1f} samples/s ({alone / max(1, w):.1f} per worker)")
    per_worker = max(r["per_worker"] for r in rows)
    cores = in_memory / per_worker if per_worker else None
    fresh = bench_loader(data, patch=plan.patch, batch=plan.train_batch, workers=1, device=dev,
                         batches=max(4, plan.loader_steps // 3), fresh="noise")
    say(f"  loader cores per GPU to keep up: ≈ {cores:.2f} stored, ≈ {in_memory / fresh:.2f} with --fresh-noise "
        f"({fresh:.1f} samples/s per worker)" if cores else "  loader cores: unknown")
    return {"rows": rows, "in_memory_samples_per_s": in_memory, "cores_per_gpu": cores,
            "fresh_noise_per_worker": fresh, "cores_per_gpu_fresh": in_memory / fresh}


def train_and_resume(plan: Plan, data: Path, root: Path, say) -> dict:
    out = root / "sn"
    cfg = TrainConfig(data=(str(data),), out=str(out), model=plan.model, steps=plan.train_steps,
                      batch=plan.train_batch, patch=plan.patch, device=plan.device, amp=plan.amp,
                      workers=max(plan.loader_workers), lr=2e-4, log_every=max(1, plan.train_steps // 20),
                      ckpt_every=max(1, plan.train_steps // 2), progress=False)
    t = time.perf_counter()
    first = train(cfg, echo=lambda m: None)
    wall = time.perf_counter() - t
    again = train(replace(cfg, steps=plan.train_steps + plan.resume_steps), resume=True, echo=lambda m: None)
    losses = [r["loss"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    k = max(1, len(losses) // 5)
    start, end = float(np.mean(losses[:k])), float(np.mean(losses[-k:]))
    say(f"  {plan.train_steps} steps in {wall:.0f} s ({plan.train_steps * plan.train_batch / wall:.0f} samples/s with "
        f"start-up), loss {start:.4f} → {end:.4f} ({'falls' if end < start else 'DOES NOT FALL'}); resumed to step "
        f"{again.step}")
    return {"steps": first.step, "resumed_to": again.step, "wall_s": wall, "loss_start": start, "loss_end": end,
            "loss_falls": end < start, "checkpoint": str(out / "last.pt")}


def evaluate(plan: Plan, ckpt: str, pairs: Path | None, say) -> dict:
    if pairs is None:
        say("  no real pairs: pass --pairs, or copy ../shared/data/CC15 to .device_data/CC15 and carry it")
        return {"skipped": "no pairs"}
    out = {}
    for ens in (False, True):
        t = time.perf_counter()
        r = evaluate_checkpoint(EvalConfig(checkpoint=ckpt, pairs=(str(pairs),), ensemble=ens,
                                           max_images=plan.eval_images, device=plan.device, progress=False),
                                echo=lambda m: None)
        s = r["overall"]
        out["ensemble" if ens else "plain"] = {"psnr": s["psnr"], "psnr_noisy": s["psnr_noisy"],
                                               "seconds": time.perf_counter() - t}
        say(f"  {'×8 ensemble' if ens else 'plain      '}: {s['psnr']:.2f} dB (noisy {s['psnr_noisy']:.2f}) on "
            f"{s['images']} pairs, {time.perf_counter() - t:.1f} s")
    return out


def denoise(plan: Plan, ckpt: str, root: Path, say) -> dict:
    h = int(round((plan.megapixels * 1e6 * 2 / 3) ** 0.5)) // 8 * 8
    w = int(h * 1.5) // 8 * 8
    img = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    write_png(root / "big.png", img)
    out = {}
    for stats in (False, True):
        if plan.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        t = time.perf_counter()
        denoise_images(DenoiseConfig(checkpoint=ckpt, images=(str(root / "big.png"),), out=str(root / f"dn{stats}"),
                                     tile_stats=stats, device=plan.device, progress=False), echo=lambda m: None)
        sec = time.perf_counter() - t
        mem = torch.cuda.max_memory_allocated() / 2**30 if plan.device == "cuda" else None
        out["tile_stats" if stats else "whole_image_stats"] = {"seconds": sec, "peak_gib": mem}
        say(f"  {w}×{h} ({h * w / 1e6:.1f} MP) {'--tile-stats ' if stats else 'whole-image stats'}: {sec:.1f} s"
            + (f", peak {mem:.1f} GiB" if mem is not None else ""))
    return out


def run(plan: Plan, args: argparse.Namespace) -> dict:
    rep = Report(args.budget)
    env = environment(plan)
    rep.data["environment"] = env
    rep.line(f"gpu_check: {env['device']}, torch {env['torch']} (CUDA {env['cuda']}), {env['cpu_cores']} CPU cores; "
             f"plan: {plan.model} model, {plan.patch}² crops, amp {plan.amp}")
    peak = args.peak_tflops or env["peak_bf16_tflops"]
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        root = Path(tmp)
        data = Path(args.data) if args.data else None
        if data is None:
            made = rep.section("data", make_data, plan, root, rep.line)
            data = Path(made["path"]) if made else None
        fl = rep.section("flops", flops, plan, rep.line)
        per_patch = fl["train_flops_per_patch"] if fl else 0.0
        st = rep.section("step", steps, plan, peak, per_patch, rep.line)
        eager = [r for r in (st or {}).get("rows", []) if not r["compile"] and r["batch"] == plan.train_batch]
        if data is not None and eager:
            rep.section("loader", loader, plan, data, eager[0]["samples_per_s"], root, rep.line)
        tr = rep.section("train", train_and_resume, plan, data, root, rep.line) if data is not None else None
        if tr:
            pairs = Path(args.pairs) if args.pairs else next((p for p in PAIR_CANDIDATES if p.is_dir()), None)
            rep.section("eval", evaluate, plan, tr["checkpoint"], pairs, rep.line)
            rep.section("denoise", denoise, plan, tr["checkpoint"], root, rep.line)
    rep.data["wall_s"] = time.perf_counter() - rep.t0
    rep.line(f"done in {rep.data['wall_s']:.0f} s; " + (f"failed or skipped: {', '.join(rep.data['errors'])}"
                                                        if rep.data["errors"] else "every section ran"))
    return rep.data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--dry-run", action="store_true", help="tiny model, small crops, few steps, on the CPU")
    ap.add_argument("--json", metavar="OUT.json", help="write every figure here")
    ap.add_argument("--data", metavar="DATASET", help="use this dataset instead of generating one")
    ap.add_argument("--pairs", metavar="DIR", help="real pairs for the eval section (default: CC15 if present)")
    ap.add_argument("--budget", type=float, default=None, help="seconds after which sections are skipped "
                    "(default 470 on the GPU, 600 for the dry run)")
    ap.add_argument("--peak-tflops", type=float, help="the device's dense bf16 peak for MFU (default: from its name)")
    args = ap.parse_args(argv)
    plan = DRY if args.dry_run else GPU
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device; run with --dry-run on a CPU", file=sys.stderr)
        return 2
    args.budget = args.budget if args.budget is not None else (600.0 if args.dry_run else 470.0)
    data = run(plan, args)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 1 if data["errors"] and args.dry_run else 0


if __name__ == "__main__":
    raise SystemExit(main())
