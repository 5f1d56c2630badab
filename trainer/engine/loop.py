"""The training engine: one loop for every stage of AINDNet (SN, TF, RT, R, N2N), nanoGPT style.

    run(config, make_stage):
        join the process group; resolve the config for the device; read OUT/last.pt when resuming
        seed and set numerics (restored when the run ends: trainer.engine.global_state)
        stage = make_stage(config, context)        # model, trainable parameters, data, loss, schedule
        Adam over stage.trainable(), LambdaLR(stage.lr_factor); restore weights, moments, step, RNGs
        for step in range(start, steps):
            batch = stage.batch(step)
            loss  = stage.loss(forward, batch, step)       # forward: DDP / compile / bf16 autocast applied
            backward, clip the gradient norm, Adam step, schedule step
            every log_every: interval means of the loss terms and the gradient norm (the only host
                sync), averaged over ranks → metrics.jsonl
            every val_every: validation PSNR on every source, curves.png, best.pt on a new best
            every ckpt_every: last.pt (atomic), data-rank<R>.json
        a non-finite loss or gradient stops the run before the next log, validation or checkpoint
        (NonFiniteLossError): no checkpoint ever holds the weights it produced
        Ctrl-C or SIGTERM: the step in progress ends, last.pt is written, RunInterrupted is raised
            (trainer.engine.interrupt), so --resume always has a checkpoint to continue from
        after the first steps: one warning when the run cannot end in reasonable time on its device,
            naming settings that can (trainer.engine.pace)

Multi-process: under torchrun each process joins the group (trainer.engine.distributed) and wraps the
model in DistributedDataParallel; each rank draws its own batches (the stage's business: disjoint
shards for SN, crops seeded by the rank for TF); losses are averaged over ranks for the log,
validation sums are all-reduced, rank 0 writes the shared files.

Exact resumption (CPU, fixed seed): a checkpoint holds the weights, Adam's moments, the schedule
position, every global RNG state and the data position of every rank (``stage.data_state()``).
``resume=True`` restores all of it; since a stage's batch of step t is a pure function of the
configuration, the rank, t and that data position, a resumed run reaches bit-identical weights on
CPU (same machine, same thread count; on GPU cuDNN's autotuner and atomics make runs differ in the
last bits anyway).
"""

from __future__ import annotations

import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import torch
from tqdm import tqdm

from noisegen.atomic import atomic_write_bytes
from trainer.engine.checkpoint import load_checkpoint, save_checkpoint, versions
from trainer.engine.distributed import DistInfo, all_gather_objects, all_sum, barrier, init_distributed
from trainer.engine.global_state import apply_numerics, preserved_global_state, set_rng_state
from trainer.engine.interrupt import RunInterrupted, StopRequest
from trainer.engine.meter import Meter, NonFiniteLossError
from trainer.engine.metrics import MetricsLog, plot_curves, read_metrics
from trainer.engine.pace import PaceCheck
from trainer.engine.run_config import RunConfig
from trainer.engine.run_folder import BEST, CONFIG, CURVES, LAST, METRICS, data_report_name
from trainer.engine.stage import Stage, StageContext
from trainer.engine.validate import ValSource, evaluate, open_val_source
from trainer.models.aindnet import count_parameters

__all__ = ["TrainResult", "run", "echo_stderr", "NonFiniteLossError", "RunInterrupted"]

C = TypeVar("C", bound=RunConfig)
# Builds a stage from the resolved configuration (a RunConfig subclass: TrainConfig, TFConfig) and the context.
MakeStage = Callable[[C, StageContext], Stage]


@dataclass
class TrainResult:
    """What a run did: the run folder, the step reached, the last logged loss, the best validation
    PSNR (first source), the last validation results, the checkpoint written and the rank of this process."""

    out: Path
    step: int
    loss: float | None
    best_psnr: float | None
    val: dict[str, dict[str, float]] = field(default_factory=dict)
    checkpoint: Path | None = None
    rank: int = 0


def echo_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _silent(msg: str) -> None:
    pass


@dataclass
class _Run:
    """Everything the loop's functions share; ``step`` counts the updates done."""

    cfg: RunConfig
    stage: Stage
    dist: DistInfo
    say: Callable[[str], None]
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    params: list[torch.nn.Parameter] = field(default_factory=list)
    forward: Callable[..., Any] | None = None
    val: list[ValSource] = field(default_factory=list)
    log: MetricsLog | None = None
    step: int = 0
    lr: float = 0.0
    metrics: dict[str, Any] = field(default_factory=lambda: {"best_psnr": None, "best_step": None, "loss": None})
    last_val: dict[str, dict[str, float]] = field(default_factory=dict)
    checkpoint: Path | None = None

    @property
    def out(self) -> Path:
        return Path(self.cfg.out)

    @property
    def model(self):
        return self.stage.model


def run(config: C, make_stage: MakeStage[C], *, resume: bool = False, stop_after: int | None = None,
        echo: Callable[[str], None] = echo_stderr) -> TrainResult:
    """Train as configured; returns when ``config.steps`` (or ``stop_after``) steps are done.

    Args:
        config: the run (None fields are resolved for the device; the resolved config is recorded).
        make_stage: builds the stage from the resolved config and a StageContext.
        resume: continue from OUT/last.pt when it exists (a new run otherwise). Without it, an OUT
            holding a checkpoint is an error.
        stop_after: stop this call after this many steps in total (writing last.pt), e.g. to fit a
            job's time limit; continue later with resume=True. Does not change the schedule.
        echo: receives progress messages (rank 0).
    Raises:
        FileExistsError: OUT holds a checkpoint and resume is False.
        ValueError: the checkpoint was made with settings that cannot change on resume.
    The process's global RNG states, thread count and cuDNN/TF32 flags are restored on return.
    """
    dist = init_distributed(config.device)
    say = echo if dist.is_main else _silent
    try:
        with preserved_global_state():
            cfg = config.resolved(dist.device.type)
            saved = _read_checkpoint(cfg, resume, say)
            apply_numerics(dist.device, seed=cfg.seed, threads=cfg.threads)
            fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
            ctx = StageContext(dist.rank, dist.world, dist.device, fmt, saved, say)
            stage = make_stage(cfg, ctx)
            try:
                return _train(_setup(cfg, stage, ctx, dist), stop_after)
            finally:
                stage.close()
    finally:
        dist.close()


def _read_checkpoint(cfg: RunConfig, resume: bool, say: Callable[[str], None]) -> dict[str, Any] | None:
    """OUT/last.pt when resuming (checked against ``cfg``), None for a new run."""
    last = Path(cfg.out) / LAST
    if not last.exists():
        if resume:
            say(f"no {LAST} in {cfg.out}: starting a new run")
        return None
    if not resume:
        raise FileExistsError(f"{last} exists: {cfg.out} already holds a run; pass --resume to continue it, "
                              "or choose another --out")
    saved = load_checkpoint(last)
    diff = type(cfg).from_checkpoint(saved, str(last)).differences(cfg)
    fixed = {k: v for k, v in diff.items() if k not in cfg.RESUMABLE}
    if fixed:
        raise ValueError("cannot resume: these settings differ from the checkpoint's (it was trained with the first "
                         "value): " + "; ".join(f"{k} {a!r} vs {b!r}" for k, (a, b) in fixed.items()))
    if diff:
        say("resuming with changed settings: " + "; ".join(f"{k} {a!r} → {b!r}" for k, (a, b) in diff.items()))
    return saved


def _setup(cfg: RunConfig, stage: Stage, ctx: StageContext, dist: DistInfo) -> _Run:
    """Model on the device, optimiser, schedule, restored state, wrapped forward, validation, log header."""
    saved = ctx.saved
    stage.model.to(dist.device).to(memory_format=ctx.memory_format)
    params = stage.trainable()
    optimizer = torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas)
    r = _Run(cfg, stage, dist, ctx.say, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, stage.lr_factor),
             params)
    if saved:
        stage.model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        r.scheduler.load_state_dict(saved["scheduler"])
        set_rng_state(saved["rng"])
        r.step = int(saved["step"])
        r.metrics.update(saved.get("metrics", {}))
    r.forward = functools.partial(_forward, _wrap(stage.model, cfg, dist), dist.device.type, cfg.amp == "bf16")
    r.val = _open_validation(cfg, stage, ctx.say)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)
    r.log = MetricsLog(r.out / METRICS)
    if dist.is_main:
        _start_log(r, resumed=saved is not None)
    return r


def _wrap(model: torch.nn.Module, cfg: RunConfig, dist: DistInfo) -> torch.nn.Module:
    net = model
    if dist.world > 1:
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return torch.compile(net) if cfg.compile else net


def _forward(net: torch.nn.Module, device_type: str, bf16: bool, *args: Any, **kwargs: Any) -> Any:
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=bf16):
        return net(*args, **kwargs)


def _open_validation(cfg: RunConfig, stage: Stage, say: Callable[[str], None]) -> list[ValSource]:
    """The validation sources of ``cfg.val``; the noise of clean-image sets is validation's business
    (trainer.engine.validate.val_profile), from --val-profile or the profile of the stage's data."""
    sources = [open_val_source(v, profile=cfg.val_profile, dataset_profile=stage.dataset_profile, seed=cfg.val_seed,
                               max_images=cfg.val_max_images, crop=cfg.val_crop) for v in cfg.val]
    for s in sources:
        say(f"validation {s.name}: {s.description}" + (f"; {len(s.skipped)} files skipped" if s.skipped else ""))
    return sources


def _start_log(r: _Run, resumed: bool) -> None:
    """metrics.jsonl (continued after the checkpoint's step, or new), its header, config.json."""
    cfg, model = r.cfg, r.model
    if resumed:
        r.log.truncate_after(r.step)
    else:
        r.log.path.unlink(missing_ok=True)
    n, trainable = count_parameters(model), count_parameters(model, trainable_only=True)
    header = {"event": "start", "step": r.step, "stage": r.stage.name, "config": cfg.to_dict(),
              "model_config": model.config.to_dict(), "parameters": n, "trainable_parameters": trainable,
              "world": r.dist.world, "device": str(r.dist.device), "versions": versions(), "time": time.time(),
              **r.stage.describe()}
    r.log.write(header)
    atomic_write_bytes(r.out / CONFIG, json.dumps(header, indent=2).encode())
    r.say(f"{r.stage.title}: AINDNet ({n:,} parameters, {trainable:,} trained) on {r.dist.device} × {r.dist.world}, "
          f"batch {cfg.batch}×{r.dist.world} of {cfg.patch}², lr {cfg.lr:g}, amp {cfg.amp}, "
          f"{'from step ' + str(r.step) if r.step else 'new run'} → {cfg.steps} steps")


def _train(r: _Run, stop_after: int | None) -> TrainResult:
    cfg = r.cfg
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    bar = tqdm(total=cfg.steps, initial=r.step, disable=not (cfg.progress and r.dist.is_main), unit="step",
               dynamic_ncols=True, file=sys.stderr)
    meter = Meter(len(r.stage.loss_terms) + 1, r.dist.device, r.step)
    pace = PaceCheck(r.step, end, r.dist.device.type, cfg.to_dict(), r.say)
    r.model.train()
    try:
        with StopRequest(r.say, world=r.dist.world, device=r.dist.device) as stop:
            while r.step < end:
                meter.add(_train_step(r, bar))
                r.step += 1
                if r.step % cfg.log_every == 0 or r.step == end:
                    meter.check(r)
                    _log(r, meter, bar)
                if r.val and (r.step % cfg.val_every == 0 or r.step == cfg.steps):
                    meter.check(r)
                    _validate(r)
                interrupted = stop.due(r.step, cfg.log_every) and r.step < end
                if r.step % cfg.ckpt_every == 0 or r.step == end or interrupted:
                    meter.check(r)
                    r.checkpoint = _checkpoint(r, LAST)
                bar.update(1)
                pace.after_step(r.step)
                if interrupted:
                    if r.dist.is_main:
                        r.log.write({"step": r.step, "event": "interrupted", "signal": stop.name})
                    raise RunInterrupted(f"interrupted ({stop.name}) at step {r.step} of {cfg.steps}: wrote "
                                         f"{r.out / LAST}", stop.signum or 15)
    finally:
        bar.close()
    if r.dist.is_main:
        _finish(r, time.perf_counter() - meter.start)
    last = r.out / LAST
    return TrainResult(out=r.out, step=r.step, loss=r.metrics["loss"], best_psnr=r.metrics["best_psnr"],
                       val=r.last_val, checkpoint=r.checkpoint or (last if last.exists() else None),
                       rank=r.dist.rank)


def _train_step(r: _Run, bar: tqdm) -> torch.Tensor:
    """One update; returns the step's loss terms and gradient norm as one tensor (still on the device)."""
    batch = r.stage.batch(r.step)
    _report(r, batch.get("messages", ()), bar)
    loss, parts = r.stage.loss(r.forward, batch, r.step)
    r.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(r.params, r.cfg.clip_norm or math.inf)
    r.lr = r.optimizer.param_groups[0]["lr"]
    r.optimizer.step()
    r.scheduler.step()
    return torch.stack([parts[k].float() for k in r.stage.loss_terms] + [grad_norm.float()])


def _report(r: _Run, messages: Iterable[str], bar: tqdm) -> None:
    for msg in messages:
        bar.write(f"rank {r.dist.rank}: {msg}", file=sys.stderr)
        if r.dist.is_main:
            r.log.write({"step": r.step, "event": "damaged", "rank": r.dist.rank, "message": msg})


def _log(r: _Run, meter: Meter, bar: tqdm) -> None:
    """One record of interval means (over the ranks) to metrics.jsonl, and the progress bar's numbers."""
    means, rate = meter.flush(r.step, r.dist.world)
    counters = r.stage.counters()
    if counters:
        summed = all_sum(torch.tensor(list(counters.values()), device=r.dist.device), r.dist.world).tolist()
        counters = dict(zip(counters, map(int, summed)))
    r.metrics["loss"] = means[0]
    samples = rate * r.cfg.batch * r.dist.world
    if r.dist.is_main:
        names = ("loss", *r.stage.loss_terms[1:], "grad_norm")
        rec = {"step": r.step, **dict(zip(names, means)), "lr": r.lr, "steps_per_s": rate, "samples_per_s": samples,
               "elapsed": time.perf_counter() - meter.start, **counters, **r.stage.log_extras(r.step - 1)}
        if r.dist.device.type == "cuda":
            rec["gpu_peak_gib"] = torch.cuda.max_memory_allocated(r.dist.device) / 2**30
        r.log.write(rec)
    post = {"loss": f"{means[0]:.4f}", "samples/s": f"{samples:.0f}"}
    if r.last_val:
        post["val"] = f"{r.last_val[r.val[0].name]['psnr']:.2f}dB"
    bar.set_postfix(post, refresh=False)


def _validate(r: _Run) -> None:
    """PSNR on every validation source (all ranks), best.pt on a new best of the first, curves.png."""
    rec: dict[str, Any] = {"step": r.step}
    for s in r.val:
        res = evaluate(r.model, s, device=r.dist.device, amp=r.cfg.amp, channels_last=r.cfg.channels_last,
                       rank=r.dist.rank, world=r.dist.world)
        r.last_val[s.name] = res
        rec.update({f"val/{s.name}/psnr": res["psnr"], f"val/{s.name}/psnr_noisy": res["psnr_noisy"]})
    first = r.last_val[r.val[0].name]["psnr"]
    if r.metrics["best_psnr"] is None or first > r.metrics["best_psnr"]:
        r.metrics.update(best_psnr=first, best_step=r.step)
        _checkpoint(r, BEST)
    if r.dist.is_main:
        r.log.write(rec)
        plot_curves(read_metrics(r.log.path), r.out / CURVES, title=f"{r.out.name}: {r.stage.title}")


def _checkpoint(r: _Run, name: str) -> Path:
    """OUT/name (rank 0, with every rank's data position) and this rank's data report; all ranks call it."""
    data = all_gather_objects(r.stage.data_state(), r.dist.world)
    if r.dist.is_main:
        save_checkpoint(r.out / name, model=r.model, optimizer=r.optimizer, scheduler=r.scheduler, step=r.step,
                        stage=r.stage.name, train_config=r.cfg.to_dict(), model_config=r.model.config.to_dict(),
                        data=data, metrics=r.metrics)
    report = {"rank": r.dist.rank, "world": r.dist.world, **r.stage.data_report()}
    atomic_write_bytes(r.out / data_report_name(r.dist.rank), json.dumps(report, indent=1).encode())
    barrier(r.dist.world)
    return r.out / name


def _finish(r: _Run, elapsed: float) -> None:
    r.log.write({"step": r.step, "event": "end", "elapsed": elapsed, **r.stage.counters()})
    plot_curves(read_metrics(r.log.path), r.out / CURVES, title=f"{r.out.name}: {r.stage.title}")
    loss = r.metrics["loss"]
    r.say(f"step {r.step}: loss {loss if loss is None else round(loss, 5)}"
          + "".join(f", {k} {v['psnr']:.2f} dB (input {v['psnr_noisy']:.2f})" for k, v in r.last_val.items())
          + f"; {r.out / METRICS}, {r.out / CURVES}, {r.out / LAST}")
