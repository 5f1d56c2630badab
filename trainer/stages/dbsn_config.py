"""Configuration of `noisegen-train dbsn`: D-BSN trained on noisy photos alone, one frozen dataclass.

Defaults and why (the D-BSN paper, Wu et al. ECCV 2020, and its released code train with Adam on 96²
patches at lr 3e-4 for pre-training and 3e-5 for the joint fine-tuning, batch 8; AP-BSN, Lee et al.
CVPR 2022, trains its PD blind-spot network with Adam, lr 1e-4, batch 8, on 120² crops):
- Adam, lr 1e-4 (between the two), cosine decay to 1% of it over the run (a function of the step only,
  so resumed runs stay exact), no warm-up; no gradient clipping (``clip_norm`` 0): the NLL's gradient with
  respect to the noise model scales as 1/σ² and is 10³-10⁵ times that of μ early on, so a global norm clip
  shrinks μ's updates by that much and by a factor that changes from step to step, which Adam's moments
  cannot undo (measured, tiny model on PolyU100, 200 steps: μ at 25.2 dB with clipping at 1, 28.9 dB
  without); Adam's per-parameter scaling handles the two scales;
- batch 8; patch 96 without PD (the released code's), 120 with PD (AP-BSN's, a multiple of 5);
- 20,000 steps: not published in steps; the released schedule is 100 epochs of its image set. A
  number that a GPU does in minutes and a CPU run shortens with --steps;
- nll "paper" (trainer.stages.dbsn_loss: the loss the paper states), after a warm-up of 20% of the steps
  (``mu_warmup``) in which μ learns from an L2 loss and the Σ heads from the NLL at the fixed μ, as the
  released code pre-trains μ with L2, then Σ, before the joint fine-tuning (dbsn_loss.warmup_loss). Measured
  without it on PolyU100 (tiny model, lr 1e-3): after 150 steps the noise model had moved its σ by 22% from
  its initial 0.018 while the residual was about 4σ: the NLL steers μ with weights from a noise model that
  has not caught up yet;
- PD off (``pd`` 1, the D-BSN paper); ``pd`` 5 turns on AP-BSN's asymmetric PD: stride 5 in training,
  ``pd_infer`` 2 at inference, with R³ (``r3_steps`` 8, ``r3_prob`` 0.16). Real sRGB noise is spatially
  correlated (lag-1 ≈ 0.7 on PolyU100 and CC60), which a plain blind spot learns to reproduce.
Random draws: the crops of step t on process r come from numpy default_rng([seed, r, t, 1]), the
fresh weights from ``seed``. This module needs no torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

from trainer.engine.run_config import RunConfig, check_int, check_number, check_patch
from trainer.models.dbsn_config import DBSN_CONFIGS, DBSN_OUTPUTS, DBSNConfig

__all__ = ["DBSNTrainConfig", "NLL_KINDS", "R3_STEPS", "R3_PROB", "PD_INFER"]

NLL_KINDS = ("paper", "marginal")  # trainer.stages.dbsn_loss.NLL_KINDS (repeated: this module needs no torch)
PD_INFER = 2  # AP-BSN's inference stride (b)
R3_STEPS, R3_PROB = 8, 0.16  # AP-BSN's R³: T masks, replacement probability p


@dataclass(frozen=True, kw_only=True)
class DBSNTrainConfig(RunConfig):
    """One run of `noisegen-train dbsn` (module docstring for the defaults).

    Engine fields: trainer.engine.run_config.RunConfig (steps 20000, batch 8, lr 1e-4, clip_norm 0,
    validation and last.pt every 1000 steps here). ``None`` fields are resolved by ``resolved``.
    data: a folder of noisy images (those directly in it), a folder of pairs or a `noisegen pack-pairs`
        dataset (their noisy side only: no clean image is ever read for training).
    images: use the first K noisy images in the source's order (None: all).
    model: "paper", "small" or "tiny" (trainer.models.dbsn_config.DBSN_CONFIGS).
    pd: PD stride in training (1: off). pd_infer: at inference (None: 2 with PD, else 1).
    r3_steps: R³ passes at inference (None: 8 with PD, else 0); r3_prob: its replacement probability.
    output: "map" (MAP combination of μ and the noisy input) or "mu".
    nll: "paper" or "marginal" (trainer.stages.dbsn_loss).
    mu_warmup: steps of the warm-up objective (dbsn_loss.warmup_loss) before the joint NLL (None: steps // 5).
    min_lr_ratio: the cosine schedule's final lr / lr.
    patch: a multiple of ``pd`` (None: 120 with PD, 96 without).
    """

    STAGES: ClassVar[tuple[str, ...]] = ("dbsn",)

    data: str
    images: int | None = None
    model: str = "paper"
    pd: int = 1
    pd_infer: int | None = None
    r3_steps: int | None = None
    r3_prob: float = R3_PROB
    output: str = "map"
    nll: str = "paper"
    mu_warmup: int | None = None
    min_lr_ratio: float = 0.01
    steps: int = 20_000
    batch: int = 8
    clip_norm: float = 0.0
    val_every: int = 1000
    ckpt_every: int = 1000

    def __post_init__(self) -> None:
        super().__post_init__()
        put, owner = object.__setattr__, "DBSNTrainConfig"
        if not str(self.data):
            raise ValueError(f"{owner}.data: expected a folder of noisy images, pairs or a pack-pairs dataset")
        put(self, "data", str(self.data))
        check_int(owner, "images", self.images, 1, optional=True)
        if self.model not in DBSN_CONFIGS:
            raise ValueError(f"{owner}.model: expected one of {sorted(DBSN_CONFIGS)}, got {self.model!r}")
        check_int(owner, "pd", self.pd, 1)
        check_int(owner, "pd_infer", self.pd_infer, 1, optional=True)
        check_int(owner, "r3_steps", self.r3_steps, 0, optional=True)
        check_int(owner, "mu_warmup", self.mu_warmup, 0, optional=True)
        put(self, "r3_prob", check_number(owner, "r3_prob", self.r3_prob, 0.0, 1.0))
        if self.output not in DBSN_OUTPUTS:
            raise ValueError(f"{owner}.output: expected one of {DBSN_OUTPUTS}, got {self.output!r}")
        if self.nll not in NLL_KINDS:
            raise ValueError(f"{owner}.nll: expected one of {NLL_KINDS}, got {self.nll!r}")
        put(self, "min_lr_ratio", check_number(owner, "min_lr_ratio", self.min_lr_ratio, 0.0, 1.0))
        if self.patch is not None:
            check_patch(owner, self.patch, self.pd, f"the PD stride {self.pd}, so that every sub-image is whole")
        self.model_config()  # bad combinations (e.g. R³ without PD at inference) fail here, before a run starts

    def model_config(self) -> DBSNConfig:
        """The network of this run: the named architecture with this run's PD, R³ and output settings."""
        pd_infer = self.pd_infer if self.pd_infer is not None else (PD_INFER if self.pd > 1 else 1)
        r3 = self.r3_steps if self.r3_steps is not None else (R3_STEPS if pd_infer > 1 else 0)
        return dataclasses.replace(DBSN_CONFIGS[self.model](), pd_train=self.pd, pd_infer=pd_infer, r3_steps=r3,
                                   r3_prob=self.r3_prob, output=self.output)

    def resolved(self, device_type: str) -> DBSNTrainConfig:
        """A copy with the execution fields, patch, pd_infer and r3_steps filled in for ``device_type``."""
        m = self.model_config()
        return self._resolved(device_type, patch=self.patch if self.patch is not None else (120 if self.pd > 1 else 96),
                              pd_infer=m.pd_infer, r3_steps=m.r3_steps,
                              mu_warmup=self.mu_warmup if self.mu_warmup is not None else self.steps // 5)

    def lr_factor(self, step: int) -> float:
        """Cosine from 1 to min_lr_ratio over the run: min + (1 − min)·(1 + cos(π·step/steps))/2."""
        t = min(1.0, step / max(1, self.steps))
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * t))
