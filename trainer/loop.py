"""The SN-stage training loop of AINDNet on streamed noisegen shards (one readable loop, nanoGPT style).

    for step in range(start, steps):
        batch   = next(loader)                          # uint8 clean/noisy + float σ, made in workers
        x̂, σ̂, σ̂_k = model(noisy, return_coarse=True)  # bf16 autocast when amp = bf16
        loss    = L1(x̂, clean) + λ·L_ms-asymm(σ̂, σ̂_k; σ), λ = asymm_weight (paper: 0.05; trainer.losses.sn_loss)
        backward, clip the gradient norm, Adam step, schedule step
        every log_every: metrics.jsonl; every val_every: validation PSNR, curves.png, best.pt;
        every ckpt_every: last.pt (atomic)

Multi-process: under torchrun each process joins the group (trainer.distributed), wraps the
model in DistributedDataParallel, and streams its own disjoint shards (trainer.data); losses are
averaged over ranks for the log, validation sums are all-reduced, rank 0 writes the files.

Exact resumption (CPU, fixed seed): a checkpoint holds the weights, Adam's moments, the schedule
position, every RNG state and the position of every data stream of every rank (trainer.loader:
a stream's data is a pure function of (seed, stream, round) and the shard files, so (round,
offset) is enough). ``train(..., resume=True)`` restores all of it and continues with exactly the
batches the uninterrupted run would have seen, so it reaches bit-identical weights on CPU (same
machine, same thread count; on GPU cuDNN's autotuner and atomics make runs differ in the last bits
anyway).
"""

from __future__ import annotations

import json
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from noisegen.atomic import atomic_write_bytes
from noisegen.dataset.reader import DamagedDataWarning, list_shards
from noisegen.isp.profiles import CameraProfile, resolve_profile
from trainer.checkpoint import load_checkpoint, save_checkpoint, set_rng_state, versions
from trainer.config import MODEL_CONFIGS, ModelConfig
from trainer.distributed import DistInfo, all_gather_objects, all_mean, all_sum, barrier, init_distributed
from trainer.loader import build_train_stream, make_train_loader
from trainer.losses import sn_loss
from trainer.metrics import MetricsLog, plot_curves, read_metrics
from trainer.model import AINDNet, count_parameters
from trainer.train_config import RESUMABLE_FIELDS, TrainConfig
from trainer.validate import ValSource, evaluate, open_val_source

__all__ = ["TrainResult", "train"]

LAST, BEST, METRICS, CURVES = "last.pt", "best.pt", "metrics.jsonl", "curves.png"


@dataclass
class TrainResult:
    """What a call of ``train`` did: the run folder, the step reached, the last logged loss, the
    best validation PSNR (first source), the last validation results, the checkpoint written and
    the rank of this process."""

    out: Path
    step: int
    loss: float | None
    best_psnr: float | None
    val: dict[str, dict[str, float]] = field(default_factory=dict)
    checkpoint: Path | None = None
    rank: int = 0


def _echo_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _val_profile(cfg: TrainConfig, dataset_profile: dict | None) -> CameraProfile:
    if cfg.val_profile is not None:
        return resolve_profile(cfg.val_profile)
    if dataset_profile is not None:
        return CameraProfile.from_dict(dataset_profile, source="training dataset's dataset.json")
    return resolve_profile("cbdnet")


def _check_resume(saved: dict[str, Any], cfg: TrainConfig, say: Callable[[str], None]) -> None:
    diff = TrainConfig.from_dict(saved).differences(cfg)
    fixed = {k: v for k, v in diff.items() if k not in RESUMABLE_FIELDS}
    if fixed:
        raise ValueError("cannot resume: these settings differ from the checkpoint's (it was trained with the first "
                         "value): " + "; ".join(f"{k} {a!r} vs {b!r}" for k, (a, b) in fixed.items()))
    if diff:
        say("resuming with changed settings: " + "; ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in diff.items()))


def _to_device(t: torch.Tensor, device: torch.device, fmt: torch.memory_format, scale: float | None) -> torch.Tensor:
    # Batches arrive in pinned memory on CUDA: the copy overlaps with compute (non_blocking).
    t = t.to(device, non_blocking=device.type == "cuda")
    t = t.float() if scale is None else t.float().mul_(scale)
    return t.contiguous(memory_format=fmt)


def train(config: TrainConfig, *, resume: bool = False, stop_after: int | None = None,
          echo: Callable[[str], None] = _echo_stderr) -> TrainResult:
    """Train AINDNet's SN stage as configured; returns when ``config.steps`` (or ``stop_after``) steps are done.

    Args:
        config: the run (None fields are resolved for the device; the resolved config is recorded).
        resume: continue from OUT/last.pt when it exists (a new run otherwise). Without it, an OUT
            holding a checkpoint is an error.
        stop_after: stop this call after this many steps in total (writing last.pt), e.g. to fit a
            job's time limit; continue later with resume=True. Does not change the schedule.
        echo: receives progress messages (rank 0).
    Raises:
        FileExistsError: OUT holds a checkpoint and resume is False.
        ValueError: the checkpoint was made with settings that cannot change on resume.
    """
    dist_info = init_distributed(config.device)
    say = echo if dist_info.is_main else (lambda msg: None)
    threads = torch.get_num_threads()
    try:
        return _train(config.resolved(dist_info.device.type), dist_info, resume, stop_after, say)
    finally:
        torch.set_num_threads(threads)
        dist_info.close()


def _train(cfg: TrainConfig, d: DistInfo, resume: bool, stop_after: int | None,
           say: Callable[[str], None]) -> TrainResult:
    rank, world, device, main = d.rank, d.world, d.device, d.is_main
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = None
    if (out / LAST).exists():
        if not resume:
            raise FileExistsError(f"{out} already holds a run ({LAST}); pass --resume to continue it, "
                                  "or choose another --out")
        ckpt = load_checkpoint(out / LAST)
        _check_resume(ckpt["train_config"], cfg, say)
    elif resume:
        say(f"no {LAST} in {out}: starting a new run")

    # Seeds, and per-device numerics.
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    if device.type == "cpu":
        if cfg.threads is not None:
            torch.set_num_threads(cfg.threads)
    else:
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    amp = cfg.amp == "bf16"
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format

    # Model, optimiser, schedule (restored from the checkpoint when resuming).
    model_config = ModelConfig.from_dict(ckpt["model_config"]) if ckpt else MODEL_CONFIGS[cfg.model]()
    model = AINDNet(model_config).to(device).to(memory_format=fmt)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=cfg.betas)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: cfg.lr_factor(s))
    step, metrics = 0, {"best_psnr": None, "best_step": None, "loss": None}
    if ckpt:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        step = int(ckpt["step"])
        metrics.update(ckpt.get("metrics", {}))
    net: torch.nn.Module = model
    if world > 1:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if cfg.compile:
        net = torch.compile(net)

    # Data: this rank's disjoint shards, streams continued from the checkpoint.
    shards = list_shards(cfg.data)
    stream, note = build_train_stream(shards, patch=cfg.patch, batch=cfg.batch, seed=cfg.seed, workers=cfg.workers,
                                      rank=rank, world=world, buffer=cfg.shuffle_buffer,
                                      shards_per_round=cfg.shards_per_round, saved=ckpt["data"] if ckpt else None)
    if note:
        warnings.warn(note, RuntimeWarning, stacklevel=2)
        say(note)
    loader = make_train_loader(stream, device=device, seed=cfg.seed)
    profile = _val_profile(cfg, shards.profile()) if cfg.val else None
    val_sources: list[ValSource] = [
        open_val_source(v, profile=profile, seed=cfg.val_seed, max_images=cfg.val_max_images, crop=cfg.val_crop)
        for v in cfg.val]
    for s in val_sources:
        say(f"validation {s.name}: {s.description}" + (f"; {len(s.skipped)} files skipped" if s.skipped else ""))

    log = MetricsLog(out / METRICS)
    if main:
        if ckpt:
            log.truncate_after(step)
        else:
            log.path.unlink(missing_ok=True)
        header = {"event": "start", "step": step, "config": cfg.to_dict(), "model_config": model_config.to_dict(),
                  "parameters": count_parameters(model), "world": world, "device": str(device),
                  "shards": len(shards.urls), "versions": versions(), "time": time.time()}
        log.write(header)
        atomic_write_bytes(out / "config.json", json.dumps(header, indent=2).encode())
        say(f"{cfg.model} AINDNet ({count_parameters(model):,} parameters) on {device} × {world}, "
            f"{len(shards.urls)} shards, batch {cfg.batch}×{world} of {cfg.patch}², lr {cfg.lr:g} {cfg.schedule}, "
            f"amp {cfg.amp}, {'from step ' + str(step) if step else 'new run'} → {cfg.steps} steps")

    seen_shards: set[str] = set()
    reported: list[str] = []
    last_val: dict[str, dict[str, float]] = {}

    def data_report() -> None:
        rec = {"rank": rank, "world": world, "streams": stream.assigned, "seen_shards": sorted(seen_shards),
               "batches": stream.state.consumed, "damaged": stream.state.damaged, "messages": reported}
        atomic_write_bytes(out / f"data-rank{rank}.json", json.dumps(rec, indent=1).encode())

    def checkpoint(name: str) -> Path:
        data = all_gather_objects(stream.state.to_dict(), world)
        if main:
            save_checkpoint(out / name, model=model, optimizer=optimizer, scheduler=scheduler, step=step,
                            train_config=cfg.to_dict(), model_config=model_config.to_dict(), data=data, metrics=metrics)
        data_report()
        barrier(world)
        return out / name

    def validate() -> None:
        rec: dict[str, Any] = {"step": step}
        for s in val_sources:
            r = evaluate(model, s, device=device, amp=cfg.amp, channels_last=cfg.channels_last, rank=rank, world=world)
            last_val[s.name] = r
            rec.update({f"val/{s.name}/psnr": r["psnr"], f"val/{s.name}/psnr_noisy": r["psnr_noisy"]})
        first = last_val[val_sources[0].name]["psnr"]
        if metrics["best_psnr"] is None or first > metrics["best_psnr"]:
            metrics.update(best_psnr=first, best_step=step)
            checkpoint(BEST)
        if main:
            log.write(rec)
            plot_curves(read_metrics(log.path), out / CURVES, title=f"{out.name}: {cfg.model} AINDNet, SN stage")

    from tqdm import tqdm

    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = tqdm(total=cfg.steps, initial=step, disable=not (cfg.progress and main), unit="step", dynamic_ncols=True,
               file=sys.stderr)
    sums = torch.zeros(4, dtype=torch.float32, device=device)  # loss, l1, asymm, grad norm over the log interval
    n_sum, t_mark, step_mark, t_start = 0, time.perf_counter(), step, time.perf_counter()
    it = iter(loader)
    ckpt_path = None
    model.train()
    try:
        while step < end:
            batch = next(it)
            for msg in stream.state.update(batch):
                if msg not in reported:
                    reported.append(msg)
                    warnings.warn(msg, DamagedDataWarning, stacklevel=2)
                    bar.write(f"rank {rank}: {msg}", file=sys.stderr)
                    if main:
                        log.write({"step": step, "event": "damaged", "rank": rank, "message": msg})
            seen_shards.update(batch["urls"])
            clean = _to_device(batch["clean"], device, fmt, 1 / 255)
            noisy = _to_device(batch["noisy"], device, fmt, 1 / 255)
            sigma = _to_device(batch["sigma"], device, fmt, None)

            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
                denoised, sigma_hat, sigma_coarse = net(noisy, return_coarse=True)
            loss, parts = sn_loss(denoised, clean, sigma_hat, sigma_coarse, sigma, coarse_factor=model.coarse_factor,
                                  lambda_asymm=cfg.asymm_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm or float("inf"))
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            step += 1
            sums += torch.stack([parts["total"], parts["l1"], parts["asymm"], grad_norm.float()])
            n_sum += 1

            if step % cfg.log_every == 0 or step == end:
                means = all_mean(sums / n_sum, world).tolist()  # the only host sync per interval
                damaged = int(all_sum(torch.tensor([stream.state.damaged], device=device), world).item())
                now = time.perf_counter()
                rate = (step - step_mark) / max(now - t_mark, 1e-9)
                metrics["loss"] = means[0]
                if main:
                    rec = {"step": step, "loss": means[0], "l1": means[1], "asymm": means[2], "grad_norm": means[3],
                           "lr": lr, "steps_per_s": rate, "samples_per_s": rate * cfg.batch * world,
                           "damaged": damaged, "elapsed": now - t_start}
                    if device.type == "cuda":
                        rec["gpu_peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
                    log.write(rec)
                post = {"loss": f"{means[0]:.4f}", "samples/s": f"{rate * cfg.batch * world:.0f}"}
                if last_val:
                    post["val"] = f"{last_val[val_sources[0].name]['psnr']:.2f}dB"
                bar.set_postfix(post, refresh=False)
                sums.zero_()
                n_sum, t_mark, step_mark = 0, now, step
            if val_sources and (step % cfg.val_every == 0 or step == cfg.steps):
                validate()
            if step % cfg.ckpt_every == 0 or step == end:
                ckpt_path = checkpoint(LAST)
            bar.update(1)
    finally:
        bar.close()
        # Stop the loader processes now: left to the garbage collector, their shutdown can stall a
        # later call for seconds (measured: 20 s inside the next run's plotting).
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        del it
    if main:
        log.write({"step": step, "event": "end", "elapsed": time.perf_counter() - t_start,
                   "damaged": stream.state.damaged})
        plot_curves(read_metrics(log.path), out / CURVES, title=f"{out.name}: {cfg.model} AINDNet, SN stage")
        say(f"step {step}: loss {metrics['loss'] if metrics['loss'] is None else round(metrics['loss'], 5)}"
            + "".join(f", {k} {v['psnr']:.2f} dB (input {v['psnr_noisy']:.2f})" for k, v in last_val.items())
            + f"; {out / METRICS}, {out / CURVES}, {out / LAST}")
    return TrainResult(out=out, step=step, loss=metrics["loss"], best_psnr=metrics["best_psnr"], val=last_val,
                       checkpoint=ckpt_path or (out / LAST if (out / LAST).exists() else None), rank=rank)

