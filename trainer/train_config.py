"""Configuration of a training run (`noisegen-train sn`): one frozen dataclass with documented defaults.

The AINDNet paper (Kim et al., CVPR 2020) states the optimiser (Adam) and the patch size (256×256)
but not the learning rate, the batch size or the schedule (DESIGN.md §5). Our choices, and why:

- **Adam, lr 1e-4, betas (0.9, 0.999)**: the common setting for residual U-Net denoisers trained
  with L1 at batch 16 (published denoisers of this kind use 1e-4 to 1e-3). The AIN blocks start
  close to the identity (trainer.model), so no large learning rate is needed to escape a bad
  start; small networks on short runs tolerate more (experiments/sn_cpu.py uses 1e-3 for the
  tiny model).
- **Linear warm-up, then cosine decay to 1% of lr** (``schedule="cosine"``): cosine needs no
  milestones to re-tune when the number of steps changes, and it is a function of the step only,
  which keeps resumed runs exact. Warm-up: 1% of the steps (at most 1000) guards Adam's first
  steps, when its second-moment estimate is still noisy. ``"step"`` (×gamma at fixed fractions
  of the run) and ``"constant"`` are available for comparison.
- **Batch 16 per GPU at 256²** (the paper's patch size); the global batch is batch × world size.
  GPU memory at this setting was not measured here (no GPU); the metrics file records the peak
  on CUDA, and benchmarks/bench_train.py measures it. **On CPU** the defaults are batch 8 at 64²
  (DESIGN.md §9: a 467K-parameter U-Net trains at ~0.33 Mpix/s on 2 cores), and ``--model tiny``
  is the sensible network there.
- **Gradient clipping at norm 1.0**: the gradient norm of the SN loss, averaged over 50-step log
  intervals, stayed between 0.14 and 0.86 in the 2500-step tiny runs of experiments/sn_cpu.py,
  so the clip only cuts rare spikes.
- **300k steps** on GPU: 4.8M patch views at batch 16, in the range used for U-Net denoisers of
  this size (a few hundred thousand iterations); the SN stage is followed by the short TF stage.

``None`` fields are resolved for the device by ``resolved(device_type)``; the resolved config is
what a run records (metrics file header, every checkpoint). Fields that do not change the
trained weights (``RESUMABLE_FIELDS``) may differ when a run is resumed.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from noisegen.dataclass_json import dataclass_from_dict, dataclass_to_dict

__all__ = ["TrainConfig", "SCHEDULES", "AMP_MODES", "DEVICES", "RESUMABLE_FIELDS"]

SCHEDULES = ("cosine", "step", "constant")
AMP_MODES = ("none", "bf16")
DEVICES = ("auto", "cpu", "cuda")

# Fields that may change between a run and its resumption without changing the weights it
# reaches (they only change how long it runs, what it reports, or how fast it goes). Changing
# ``workers`` restarts the data streams (reported), and ``threads`` changes the order of float
# reductions on CPU, so with either the weights differ in the last bits from then on.
RESUMABLE_FIELDS = frozenset({"out", "steps", "val", "val_every", "val_max_images", "val_crop", "ckpt_every",
                              "log_every", "workers", "compile", "progress", "threads"})


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class TrainConfig:
    """One training run of the SN stage (synthetic noise). ``None`` = resolved for the device.

    Data:
        data: training shards: dataset folders (shards from their dataset.json), shard files,
            brace patterns (``d/shard-{000000..000099}.tar``) or ``pipe:`` URLs (``pipe:curl -s URL``).
        patch: side of the random training crop, a multiple of the model's padding multiple (4).
            None: 256 on CUDA (the paper), 64 on CPU.
        batch: samples per step **per process** (global batch = batch × world size).
            None: 16 on CUDA, 8 on CPU.
        workers: DataLoader worker processes per training process (0: load in the main process).
            None: 4 on CUDA, 1 on CPU with ≥ 2 cores (else 0).
        shuffle_buffer: samples in each worker's shuffle buffer (raw bytes, ~0.4 MB each at 256²).
        shards_per_round: shards a worker reads at once, interleaved at random (trainer.data).
    Model and optimisation:
        model: a name of trainer.config.MODEL_CONFIGS ("paper" or "tiny").
        steps: optimiser steps of the whole run (the schedule spans them).
        lr: peak learning rate of Adam; betas: Adam's (β₁, β₂).
        schedule: "cosine" (after warm-up, cosine to lr·min_lr_ratio), "step" (×gamma at each
            fraction of ``steps`` in milestones) or "constant".
        warmup_steps: linear warm-up from 0 to lr. None: 1% of steps, at most 1000.
        min_lr_ratio: final lr / lr of the cosine schedule. milestones, gamma: of "step".
        clip_norm: clip the global gradient norm to this (0: no clipping).
        asymm_weight: λ of the SN loss L1 + λ·L_ms-asymm (paper: 0.05, with images and σ on the
            [0, 1] scale). Measured with the tiny model on CPU: at 0.05 the L1 gradient that reaches
            the estimator through the AINs dominates and σ̂ does not follow σ (correlation −0.09
            after 4000 steps; the estimator alone reaches 0.65 in 100 steps of the sigma loss:
            experiments/sigma_check.py); a larger λ trains σ̂ harder.
    Validation and outputs:
        out: run folder (metrics.jsonl, curves.png, last.pt, best.pt, data-rank*.json).
        val: validation sources, each a folder of clean images (synthetic noise from val_profile
            with val_seed), a real-pairs folder (noisy/ + gt/, matched by name) or a noisegen
            dataset folder (one exact pass over its shards). Empty: no validation.
        val_every: validate every this many steps (and at the end).
        val_profile: camera profile (name or JSON file) of synthetic validation noise. None: the
            profile recorded in the (first) training dataset's dataset.json, else "cbdnet".
        val_seed: seed of the synthetic validation noise (same seed → same noisy images).
        val_max_images: use at most this many images of each source (None: all).
        val_crop: centre-crop validation images to this side (None: whole images).
        ckpt_every: write last.pt every this many steps (and at the end).
        log_every: average the loss over, and log, this many steps.
        progress: show a progress bar (rank 0).
    Execution:
        device: "auto" (CUDA when available), "cpu" or "cuda".
        amp: "bf16" (autocast to bfloat16) or "none". None: bf16 on CUDA, none on CPU.
        channels_last: NHWC memory format. None: on (faster on CUDA with tensor cores, and
            measured 1.2-1.6× faster for the tiny model on CPU too, benchmarks/bench_train.py).
        compile: torch.compile the model (slow first steps; worth it for long GPU runs).
        threads: torch intra-op threads of each training process on CPU. None: the cores left
            after the loader workers (at least 1), so that decoding never waits for a core. More
            threads than free cores stall OpenMP: measured on 2 cores with another process busy,
            2 threads made some steps 10-100× slower than 1. Ignored on CUDA.
        seed: seed of the weights' initialisation and of every data stream.
    """

    data: tuple[str, ...]
    out: str
    model: str = "paper"
    steps: int = 300_000
    batch: int | None = None
    patch: int | None = None
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "cosine"
    warmup_steps: int | None = None
    min_lr_ratio: float = 0.01
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = 0.5
    clip_norm: float = 1.0
    asymm_weight: float = 0.05
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
    seed: int = 0
    workers: int | None = None
    shuffle_buffer: int = 128
    shards_per_round: int = 4

    def __post_init__(self) -> None:
        put = object.__setattr__
        for name in ("data", "val"):
            v = getattr(self, name)
            if isinstance(v, (str, os.PathLike)):
                v = (v,)
            put(self, name, tuple(str(x) for x in v))
        if not self.data:
            raise ValueError("TrainConfig.data: expected at least one dataset folder, shard file, pattern or URL")
        if not isinstance(self.out, (str, os.PathLike)) or not str(self.out):
            raise ValueError(f"TrainConfig.out: expected a run folder path, got {self.out!r}")
        put(self, "out", str(self.out))
        from trainer.config import MODEL_CONFIGS

        if self.model not in MODEL_CONFIGS:
            raise ValueError(f"TrainConfig.model: expected one of {sorted(MODEL_CONFIGS)}, got {self.model!r}")
        ints = {"steps": 1, "batch": 1, "patch": 8, "warmup_steps": 0, "val_every": 1, "val_seed": 0,
                "val_max_images": 1, "val_crop": 8, "ckpt_every": 1, "log_every": 1, "seed": 0, "workers": 0,
                "shuffle_buffer": 1, "shards_per_round": 1, "threads": 1}
        optional = {"batch", "patch", "warmup_steps", "val_max_images", "val_crop", "workers", "threads"}
        for name, lo in ints.items():
            v = getattr(self, name)
            if v is None and name in optional:
                continue
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ValueError(f"TrainConfig.{name}: expected an integer >= {lo}, got {v!r}")
        for name, lo, hi in (("lr", 0.0, 1.0), ("min_lr_ratio", 0.0, 1.0), ("gamma", 0.0, 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ValueError(f"TrainConfig.{name}: expected a number in [{lo}, {hi}], got {v!r}")
            put(self, name, float(v))
        if self.lr == 0.0:
            raise ValueError("TrainConfig.lr: expected > 0, got 0")
        c = self.clip_norm
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c) or c < 0:
            raise ValueError(f"TrainConfig.clip_norm: expected a number >= 0 (0: off), got {c!r}")
        put(self, "clip_norm", float(c))
        a = self.asymm_weight
        if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or a < 0:
            raise ValueError(f"TrainConfig.asymm_weight: expected a number >= 0, got {a!r}")
        put(self, "asymm_weight", float(a))
        betas = tuple(float(b) for b in self.betas)
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"TrainConfig.betas: expected two numbers in [0, 1), got {self.betas!r}")
        put(self, "betas", betas)
        ms = tuple(float(m) for m in self.milestones)
        if any(not 0.0 < m < 1.0 for m in ms) or list(ms) != sorted(ms):
            raise ValueError(f"TrainConfig.milestones: expected increasing fractions in (0, 1), "
                             f"got {self.milestones!r}")
        put(self, "milestones", ms)
        for name, choices in (("schedule", SCHEDULES), ("device", DEVICES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"TrainConfig.{name}: expected one of {choices}, got {getattr(self, name)!r}")
        if self.amp is not None and self.amp not in AMP_MODES:
            raise ValueError(f"TrainConfig.amp: expected one of {AMP_MODES} or None, got {self.amp!r}")
        for name in ("channels_last", "compile", "progress"):
            v = getattr(self, name)
            if not isinstance(v, bool) and not (v is None and name == "channels_last"):
                raise ValueError(f"TrainConfig.{name}: expected True or False, got {v!r}")
        if self.patch is not None:
            from trainer.config import MODEL_CONFIGS

            m = MODEL_CONFIGS[self.model]().size_multiple
            if self.patch % m:
                raise ValueError(f"TrainConfig.patch: expected a multiple of {m} (the {self.model} model's padding "
                                 f"multiple, so no padding is trained on), got {self.patch}")

    def resolved(self, device_type: str) -> TrainConfig:
        """A copy with every None field filled in for ``device_type`` ("cpu" or "cuda")."""
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"resolved: device_type must be 'cpu' or 'cuda', got {device_type!r}")
        gpu = device_type == "cuda"
        cores = _cpu_count()
        workers = self.workers if self.workers is not None else (4 if gpu else (1 if cores >= 2 else 0))
        threads = self.threads if self.threads is not None or gpu else max(1, cores - workers)
        return dataclasses.replace(
            self,
            batch=self.batch if self.batch is not None else (16 if gpu else 8),
            patch=self.patch if self.patch is not None else (256 if gpu else 64),
            workers=workers,
            threads=threads,
            warmup_steps=self.warmup_steps if self.warmup_steps is not None else min(1000, self.steps // 100),
            amp=self.amp if self.amp is not None else ("bf16" if gpu else "none"),
            channels_last=self.channels_last if self.channels_last is not None else True,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types (tuples → lists); stored in checkpoints (weights_only-safe) and metrics."""
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of to_dict; unknown keys are an error.

        Missing keys take the defaults (``data`` and ``out`` have none: their absence is a TypeError).
        """
        return dataclass_from_dict(cls, d)

    def differences(self, other: TrainConfig) -> dict[str, tuple[Any, Any]]:
        """{field: (self's value, other's value)} for every field that differs."""
        a, b = self.to_dict(), other.to_dict()
        return {k: (a[k], b[k]) for k in a if a[k] != b[k]}

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier (of ``lr``) for the update at 0-based ``step`` (resolved config).

        Warm-up: (step + 1)/warmup for step < warmup. Then "cosine": min_lr_ratio + (1 -
        min_lr_ratio)·(1 + cos(π·t))/2 with t = (step - warmup)/(steps - warmup) in [0, 1];
        "step": gamma ** (number of milestones·steps ≤ step); "constant": 1.
        """
        warmup = self.warmup_steps or 0
        if step < warmup:
            return (step + 1) / warmup
        if self.schedule == "constant":
            return 1.0
        if self.schedule == "step":
            return self.gamma ** sum(step >= m * self.steps for m in self.milestones)
        t = min(1.0, (step - warmup) / max(1, self.steps - warmup))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
