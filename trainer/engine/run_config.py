"""What every training run shares (`noisegen-train sn` and `tf`): the engine's settings, one frozen
dataclass that TrainConfig (SN stage) and TFConfig (TF / RT / R / N2N) extend.

The engine (trainer.engine.loop) reads only these fields: where the run goes, how many steps, the
optimiser (Adam: lr, betas, gradient clipping), the seed, validation, logging and checkpoint
periods, and how it executes (device, bf16 autocast, memory format, torch.compile, threads).
The subclasses add their data, model and loss settings and pick their own defaults where the
stages differ (documented in each). ``None`` fields are resolved for the device by
``resolved(device_type)``; the resolved configuration is what a run records (config.json, the
metrics header and every checkpoint), nanoGPT style.

Patch sizes follow one rule everywhere (``check_patch``): a patch that is not a multiple of what
the model needs is an error that names the multiple and the nearest valid values, never rounded.
This module needs no torch.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from noisegen.command import cpu_count, default_threads
from noisegen.dataclass_json import dataclass_from_dict, dataclass_to_dict
from trainer.models.config import MODEL_CONFIGS

__all__ = ["RunConfig", "AMP_MODES", "DEVICES", "check_int", "check_number", "check_patch", "model_multiple",
           "cpu_count"]

AMP_MODES = ("none", "bf16")
DEVICES = ("auto", "cpu", "cuda")

C = TypeVar("C", bound="RunConfig")


def check_int(owner: str, name: str, value: Any, lo: int, *, optional: bool = False) -> None:
    """ValueError unless ``value`` is an int ≥ lo (or None when ``optional``)."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ValueError(f"{owner}.{name}: expected an integer >= {lo}, got {value!r}")


def check_number(owner: str, name: str, value: Any, lo: float, hi: float = math.inf) -> float:
    """``value`` as a float when it is a finite number in [lo, hi]; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        where = f"in [{lo}, {hi}]" if math.isfinite(hi) else f">= {lo}"
        raise ValueError(f"{owner}.{name}: expected a number {where}, got {value!r}")
    return float(value)


def model_multiple(name: str) -> int:
    """The size multiple (ModelConfig.size_multiple) of a named model of trainer.models.config.MODEL_CONFIGS."""
    return MODEL_CONFIGS[name]().size_multiple


def check_patch(owner: str, patch: int, multiple: int, why: str) -> None:
    """The one patch rule: ``patch`` must be a multiple of ``multiple``; the error names the nearest valid values.

    Args:
        owner: the config class, for the message. why: why that multiple (said in the message).
    """
    if patch % multiple == 0:
        return
    below, above = patch // multiple * multiple, (patch // multiple + 1) * multiple
    near = f"{below} or {above}" if below >= multiple else str(above)
    raise ValueError(f"{owner}.patch (--patch): expected a multiple of {multiple} ({why}), got {patch}; "
                     f"the nearest valid values are {near}")


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """Settings of the training engine, shared by every stage. ``None`` = resolved for the device.

    Optimisation:
        steps: optimiser steps of the whole run (the schedule spans them).
        batch: samples per step **per process** (global batch = batch × world size).
        patch: side of the random training crop (the subclass states the multiple it must be).
        lr: peak learning rate of Adam; betas: Adam's (β₁, β₂).
        clip_norm: clip the global gradient norm to this (0: no clipping; the norm is logged either way).
        seed: seed of the initial weights (where fresh) and of every random draw of the data.
    Validation and outputs:
        out: run folder (trainer.engine.run_folder lists its files).
        val: validation sources, each a folder of clean images (synthetic noise from val_profile
            with val_seed), a folder of real pairs (paired by name as `eval` pairs them:
            noisegen.dataset.reader.read_pairs) or a noisegen dataset folder (one exact pass over its
            shards). Empty: no validation, no best.pt (trainer.engine.validate).
        val_every: validate every this many steps (and at the end).
        val_profile: camera profile (name or JSON file) of synthetic validation noise. None: the
            profile of the training data when it records one, else "cbdnet".
        val_seed: seed of the synthetic validation noise (same seed → same noisy images).
        val_max_images: use at most this many images of each source (None: all).
        val_crop: centre-crop validation images to this side (None: whole images).
        ckpt_every: write last.pt every this many steps (and at the end).
        log_every: average the loss over, and log, this many steps (the only host syncs of the loop).
        progress: show a progress bar (rank 0).
    Execution:
        device: "auto" (CUDA when available), "cpu" or "cuda".
        amp: "bf16" (autocast to bfloat16) or "none". None: bf16 on CUDA, none on CPU.
        channels_last: NHWC memory format. None: on (faster on CUDA with tensor cores, and
            measured 1.2-1.6× faster for the tiny model on CPU too, benchmarks/bench_train.py).
        compile: torch.compile the model (slow first steps; worth it for long GPU runs).
        threads: torch intra-op threads of each training process on CPU. None: the rule of every
            command (noisegen.command.default_threads): the cores minus the loader workers minus
            one, at least 1, so that decoding and anything else on the machine never wait for a
            core. More threads than free cores stall OpenMP: measured on 2 cores with another
            process busy, 2 threads made some steps 10-100× slower than 1. Ignored on CUDA.
    """

    # Fields that may differ when a run is resumed: they change how long it runs, what it reports
    # or how fast it goes. ``threads`` changes the order of float reductions on CPU, so the weights
    # then differ in the last bits from an uninterrupted run.
    RESUMABLE: ClassVar[frozenset[str]] = frozenset({
        "out", "steps", "val", "val_every", "val_max_images", "val_crop", "ckpt_every", "log_every", "compile",
        "progress", "threads"})
    # Names of the stages this configuration runs (a checkpoint's "stage" must be one of them to resume).
    STAGES: ClassVar[tuple[str, ...]] = ()

    out: str
    steps: int = 300_000
    batch: int | None = None
    patch: int | None = None
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    clip_norm: float = 1.0
    seed: int = 0
    val: tuple[str, ...] = ()
    val_every: int = 5000
    val_profile: str | None = None
    val_seed: int = 0
    val_max_images: int | None = None
    val_crop: int | None = None
    ckpt_every: int = 5000
    log_every: int = 50
    progress: bool = True
    device: str = "auto"
    amp: str | None = None
    channels_last: bool | None = None
    compile: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        put, owner = object.__setattr__, type(self).__name__
        if not isinstance(self.out, (str, os.PathLike)) or not str(self.out):
            raise ValueError(f"{owner}.out: expected a run folder path, got {self.out!r}")
        put(self, "out", str(self.out))
        put(self, "val", (str(self.val),) if isinstance(self.val, (str, os.PathLike)) else tuple(map(str, self.val)))
        for name, lo in (("steps", 1), ("val_every", 1), ("val_seed", 0), ("ckpt_every", 1), ("log_every", 1),
                         ("seed", 0)):
            check_int(owner, name, getattr(self, name), lo)
        for name, lo in (("batch", 1), ("patch", 8), ("val_max_images", 1), ("val_crop", 8), ("threads", 1)):
            check_int(owner, name, getattr(self, name), lo, optional=True)
        put(self, "lr", check_number(owner, "lr", self.lr, 0.0, 1.0))
        if self.lr == 0.0:
            raise ValueError(f"{owner}.lr: expected > 0, got 0")
        put(self, "clip_norm", check_number(owner, "clip_norm", self.clip_norm, 0.0))
        betas = tuple(float(b) for b in self.betas)
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"{owner}.betas: expected two numbers in [0, 1), got {self.betas!r}")
        put(self, "betas", betas)
        if self.device not in DEVICES:
            raise ValueError(f"{owner}.device: expected one of {DEVICES}, got {self.device!r}")
        if self.amp is not None and self.amp not in AMP_MODES:
            raise ValueError(f"{owner}.amp: expected one of {AMP_MODES} or None, got {self.amp!r}")
        for name in ("channels_last", "compile", "progress"):
            v = getattr(self, name)
            if not isinstance(v, bool) and not (v is None and name == "channels_last"):
                raise ValueError(f"{owner}.{name}: expected True or False, got {v!r}")

    def _resolved(self: C, device_type: str, *, loader_workers: int = 0, **fields: Any) -> C:
        """A copy with the execution fields resolved for ``device_type`` (threads: default_threads of
        ``loader_workers``) and ``fields`` replaced."""
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"resolved: device_type must be 'cpu' or 'cuda', got {device_type!r}")
        gpu = device_type == "cuda"
        threads = self.threads if self.threads is not None or gpu else default_threads(loader_workers)
        return dataclasses.replace(
            self, threads=threads,
            amp=self.amp if self.amp is not None else ("bf16" if gpu else "none"),
            channels_last=self.channels_last if self.channels_last is not None else True, **fields)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples → lists); stored in checkpoints (weights_only-safe) and metrics."""
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls: type[C], d: dict[str, Any]) -> C:
        """Inverse of to_dict; unknown keys are an error. Missing keys take the defaults (required
        fields have none: their absence is a TypeError)."""
        return dataclass_from_dict(cls, d)

    @classmethod
    def from_checkpoint(cls: type[C], saved: dict[str, Any], where: str) -> C:
        """The configuration a checkpoint was trained with (``saved["train_config"]``), to resume it.

        Raises:
            ValueError: it is another stage's run, or was written by a trainer whose runs of this
                kind could not be resumed (TF runs before trainer.engine.loop), saying so.
        """
        d = saved.get("train_config")
        if not isinstance(d, dict):
            raise ValueError(f"cannot resume {where}: the checkpoint holds no training configuration (damaged?)")
        # Checkpoints written before trainer.engine.loop: SN runs record no "stage"; TF runs kept it in train_config.
        stage = saved.get("stage") or d.get("stage") or "sn"
        if stage not in cls.STAGES:
            raise ValueError(f"cannot resume {where}: it holds a run of stage {stage}; this command continues "
                             f"{'/'.join(cls.STAGES)} runs")
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ValueError(f"cannot resume {where}: it was written by an older trainer (settings {unknown} are "
                             "unknown now); start a new run with another --out")
        try:
            return cls.from_dict(d)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot resume {where}: its training configuration is damaged ({str(exc)[:200]}); "
                             "start a new run with another --out") from None

    def differences(self, other: RunConfig) -> dict[str, tuple[Any, Any]]:
        """{field: (self's value, other's value)} for every field that differs."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}
