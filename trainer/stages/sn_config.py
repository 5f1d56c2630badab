"""Configuration of a training run (`noisegen-train sn`): one frozen dataclass with documented defaults.

The AINDNet paper (Kim et al., CVPR 2020) states the optimiser (Adam) and the patch size (256×256)
but not the learning rate, the batch size or the schedule (DESIGN.md §5). Our choices, and why:

- **Adam, lr 1e-4, betas (0.9, 0.999)**: the common setting for residual U-Net denoisers trained
  with L1 at batch 16 (published denoisers of this kind use 1e-4 to 1e-3). The AIN blocks start
  close to the identity (trainer.models.aindnet), so no large learning rate is needed to escape a bad
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

The engine's settings (steps, lr, validation, checkpoints, execution) are those of
trainer.engine.run_config.RunConfig, documented there; this class adds the SN stage's data, model,
schedule and loss. ``None`` fields are resolved for the device by ``resolved(device_type)``; the
resolved config is what a run records (config.json, metrics header, every checkpoint). Fields
that do not change the trained weights (``RESUMABLE_FIELDS``) may differ when a run is resumed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from trainer.engine.run_config import (
    AMP_MODES,
    DEVICES,
    RunConfig,
    check_int,
    check_number,
    check_patch,
    cpu_count,
    model_multiple,
)
from trainer.models.config import MODEL_CONFIGS

__all__ = ["TrainConfig", "SCHEDULES", "AMP_MODES", "DEVICES", "RESUMABLE_FIELDS"]

FRESH_MODES = ("off", "noise", "params")  # TrainConfig.fresh_noise (trainer.data.stream.fresh_pair)

SCHEDULES = ("cosine", "step", "constant")


@dataclass(frozen=True, kw_only=True)
class TrainConfig(RunConfig):
    """One training run of the SN stage (synthetic noise). ``None`` = resolved for the device.

    Fields of every run (out, steps, lr, betas, clip_norm, seed, val*, ckpt_every, log_every,
    progress, device, amp, channels_last, compile, threads): trainer.engine.run_config.RunConfig, with
    its defaults (300k steps, lr 1e-4, clip norm 1.0, validation and last.pt every 5000 steps).
    Here:
        batch: None: 16 on CUDA, 8 on CPU.
        patch: a multiple of the model's size multiple (4). None: 256 on CUDA (the paper), 64 on CPU.
    Data:
        data: training shards: dataset folders (shards from their dataset.json), shard files,
            brace patterns (``d/shard-{000000..000099}.tar``) or ``pipe:`` URLs (``pipe:curl -s URL``).
        workers: DataLoader worker processes per training process (0: load in the main process).
            None: 4 on CUDA, 1 on CPU with ≥ 2 cores (else 0). At most the CPU count.
        shuffle_buffer: samples in each worker's shuffle buffer (raw bytes, ~0.4 MB each at 256²).
        shards_per_round: shards a worker reads at once, interleaved at random (trainer.data.stream).
        fresh_noise: "off" (the stored noisy samples and σ maps), "noise" (each crop's noisy image and σ
            map synthesized anew in the loader from the sample's own parameters: new noise every
            time a sample is read) or "params" (new parameters from the dataset's camera profile
            too); reproducible from (seed, stream, round, position) like every draw of the loader;
            needs a dataset whose clean member is the source crop (trainer.data.stream.fresh_pair).
    Model, schedule and loss:
        model: a name of trainer.models.config.MODEL_CONFIGS ("paper" or "tiny").
        schedule: "cosine" (after warm-up, cosine to lr·min_lr_ratio), "step" (×gamma at each
            fraction of ``steps`` in milestones) or "constant".
        warmup_steps: linear warm-up from 0 to lr. None: 1% of steps, at most 1000.
        min_lr_ratio: final lr / lr of the cosine schedule. milestones, gamma: of "step".
        asymm_weight: λ of the SN loss L1 + λ·L_ms-asymm (paper: 0.05, with images and σ on the
            [0, 1] scale). Measured with the tiny model on CPU: at 0.05 the L1 gradient that reaches
            the estimator through the AINs dominates and σ̂ does not follow σ (correlation −0.09
            after 4000 steps; the estimator alone reaches 0.65 in 100 steps of the sigma loss:
            experiments/sigma_check.py); a larger λ trains σ̂ harder.
    """

    # Changing ``workers`` restarts the data streams (reported), so the weights differ from then on.
    RESUMABLE: ClassVar[frozenset[str]] = RunConfig.RESUMABLE | {"workers"}
    STAGES: ClassVar[tuple[str, ...]] = ("sn",)

    data: tuple[str, ...]
    model: str = "paper"
    schedule: str = "cosine"
    warmup_steps: int | None = None
    min_lr_ratio: float = 0.01
    milestones: tuple[float, ...] = (0.5, 0.75)
    gamma: float = 0.5
    asymm_weight: float = 0.05
    workers: int | None = None
    shuffle_buffer: int = 128
    shards_per_round: int = 4
    fresh_noise: str = "off"

    def __post_init__(self) -> None:
        super().__post_init__()
        put, owner = object.__setattr__, "TrainConfig"
        put(self, "data", (str(self.data),) if isinstance(self.data, str) else tuple(map(str, self.data)))
        if not self.data:
            raise ValueError("TrainConfig.data: expected at least one dataset folder, shard file, pattern or URL")
        if self.model not in MODEL_CONFIGS:
            raise ValueError(f"TrainConfig.model: expected one of {sorted(MODEL_CONFIGS)}, got {self.model!r}")
        check_int(owner, "warmup_steps", self.warmup_steps, 0, optional=True)
        check_int(owner, "workers", self.workers, 0, optional=True)
        check_int(owner, "shuffle_buffer", self.shuffle_buffer, 1)
        check_int(owner, "shards_per_round", self.shards_per_round, 1)
        if self.fresh_noise not in FRESH_MODES:
            raise ValueError(f"TrainConfig.fresh_noise: expected one of {FRESH_MODES}, got {self.fresh_noise!r}")
        for name in ("min_lr_ratio", "gamma"):
            put(self, name, check_number(owner, name, getattr(self, name), 0.0, 1.0))
        put(self, "asymm_weight", check_number(owner, "asymm_weight", self.asymm_weight, 0.0))
        ms = tuple(float(m) for m in self.milestones)
        if any(not 0.0 < m < 1.0 for m in ms) or list(ms) != sorted(ms):
            raise ValueError(f"TrainConfig.milestones: expected increasing fractions in (0, 1), "
                             f"got {self.milestones!r}")
        put(self, "milestones", ms)
        if self.schedule not in SCHEDULES:
            raise ValueError(f"TrainConfig.schedule: expected one of {SCHEDULES}, got {self.schedule!r}")
        if self.patch is not None:
            check_patch(owner, self.patch, model_multiple(self.model),
                        f"the {self.model} model's size multiple, so that no padding is trained on")

    def resolved(self, device_type: str) -> TrainConfig:
        """A copy with every None field filled in for ``device_type`` ("cpu" or "cuda")."""
        gpu = device_type == "cuda"
        # Loader workers feed one consumer: 4 keep a GPU busy, 1 keeps the CPU's training threads busy
        # (benchmarks/bench_train.py); never more than the cores (noisegen.command's rule).
        workers = self.workers if self.workers is not None else (4 if gpu else (1 if cpu_count() >= 2 else 0))
        workers = min(workers, cpu_count())
        return self._resolved(
            device_type, loader_workers=workers, workers=workers,
            batch=self.batch if self.batch is not None else (16 if gpu else 8),
            patch=self.patch if self.patch is not None else (256 if gpu else 64),
            warmup_steps=self.warmup_steps if self.warmup_steps is not None else min(1000, self.steps // 100))

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


RESUMABLE_FIELDS = TrainConfig.RESUMABLE
