"""`noisegen-train distill`: AINDNet trained on two sets of pairs at once, the second stage of unpaired learning
(Wu, Liu, Cao, Ren, Zuo, "Unpaired Learning of Deep Image Denoising", ECCV 2020, §3.4 knowledge distillation):

1. synthetic pairs: noisegen shards generated from clean photos with the profile fitted to the noisy photos
   (`noisegen calibrate --noisy-only`), streamed exactly as in the SN stage (σ maps included);
2. pseudo-pairs: (real noisy photo, D-BSN output), `noisegen-train pseudo-pairs`, in memory, random crops.

Every batch holds ``round(batch·pseudo_share)`` pseudo-pair crops and the rest synthetic samples:

    x̂, σ̂, σ̂_k = model(concat(noisy_syn, noisy_pseudo))
    loss = L1(x̂, concat(clean_syn, pseudo_clean)) + λ·L_ms-asymm(σ̂_syn, σ̂_k,syn; σ_syn)

The σ term only on the synthetic part: a pseudo-pair has no σ_raw (its σ map is in sRGB units, and the
estimator learns σ_raw). Learning rate, schedule, model and the synthetic stream: the SN stage's
(TrainConfig, trainer.stages.sn). The pseudo-pair crops of step t on rank r come from
default_rng([seed, r, t, 3]), so a resumed run sees the batches of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from trainer.data.real_pairs import TFData, content_digest, draw_crops, keep_croppable, load_pairs
from trainer.engine.loop import TrainResult, echo_stderr, run
from trainer.engine.run_config import check_int, check_number
from trainer.engine.stage import Forward, StageContext, data_changed, to_device
from trainer.stages.losses import sn_loss
from trainer.stages.sn import SNStage
from trainer.stages.sn_config import TrainConfig

__all__ = ["DistillConfig", "DistillStage", "distill", "pseudo_count"]


def pseudo_count(batch: int, share: float) -> int:
    """Pseudo-pair crops per batch: round(batch·share), at least 1 and at most batch − 1 when 0 < share < 1."""
    n = int(round(batch * share))
    if 0 < share < 1:
        n = min(max(n, 1), batch - 1)
    return n


@dataclass(frozen=True, kw_only=True)
class DistillConfig(TrainConfig):
    """`noisegen-train distill` (module docstring): TrainConfig's fields (data = the synthetic shards), and
    pseudo: a pseudo-pairs folder (`noisegen-train pseudo-pairs`), any pairs folder or a pack-pairs dataset;
    pseudo_share: the fraction of each batch taken from it, in [0, 1] (0.5: as many crops as synthetic ones);
    pseudo_pairs: use its first K pairs (None: all). batch ≥ 2 when 0 < pseudo_share < 1.
    """

    STAGES: ClassVar[tuple[str, ...]] = ("distill",)

    pseudo: str
    pseudo_share: float = 0.5
    pseudo_pairs: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        owner = "DistillConfig"
        if not str(self.pseudo):
            raise ValueError(f"{owner}.pseudo: expected a folder of pseudo-pairs")
        object.__setattr__(self, "pseudo", str(self.pseudo))
        object.__setattr__(self, "pseudo_share", check_number(owner, "pseudo_share", self.pseudo_share, 0.0, 1.0))
        check_int(owner, "pseudo_pairs", self.pseudo_pairs, 1, optional=True)
        if self.batch is not None and 0 < self.pseudo_share < 1 and self.batch < 2:
            raise ValueError(f"{owner}.batch: a batch mixing two sets needs at least 2 samples, got {self.batch}")


class DistillStage(SNStage):
    """The SN stage with pseudo-pair crops in every batch (module docstring)."""

    name = "distill"
    loss_terms = ("total", "l1", "asymm", "l1_pseudo")

    def __init__(self, cfg: DistillConfig, ctx: StageContext):
        self.n_pseudo = pseudo_count(cfg.batch, cfg.pseudo_share)
        # the SN stage's own batch: the synthetic part (its copy has no pseudo share, so a part of 1 is valid)
        super().__init__(dataclasses.replace(cfg, batch=max(1, cfg.batch - self.n_pseudo), pseudo_share=0.0), ctx)
        self.full = cfg
        self.only_pseudo = self.n_pseudo == cfg.batch
        self.pseudo = self._load(cfg, ctx.say)
        self.pseudo_digest = content_digest(self.pseudo)
        if ctx.saved:
            data_changed(ctx.saved, self.pseudo_digest, ctx, key="pseudo_digest")
        self.title = (f"{cfg.model} AINDNet, distillation: {cfg.batch - self.n_pseudo} synthetic + {self.n_pseudo} "
                      f"pseudo-pair crops per batch ({len(self.pseudo.samples)} pseudo-pairs)")
        self._draws: list[list[int]] = []

    @staticmethod
    def _load(cfg: DistillConfig, say: Callable[[str], None]) -> TFData:
        data = keep_croppable(load_pairs(cfg.pseudo, cfg.pseudo_pairs, "--pseudo", "--pseudo-pairs"), cfg.patch)
        for msg in data.skipped:
            say(f"skipped {msg}")
        if not data.samples:
            raise ValueError(f"--pseudo {cfg.pseudo}: no pair of at least {cfg.patch}×{cfg.patch} (the crop)")
        return data

    def batch(self, step: int) -> dict[str, Any]:
        b = super().batch(step) if not self.only_pseudo else {"messages": []}
        if not self.n_pseudo:
            return {**b, "n_syn": b["noisy"].shape[0]}
        cfg, ctx = self.full, self.ctx
        rng = np.random.default_rng([cfg.seed, ctx.rank, step, 3])
        (noisy, clean), self._draws = draw_crops(self.pseudo.samples, rng, self.n_pseudo, cfg.patch)
        pn, pc = (to_device(torch.from_numpy(a).permute(0, 3, 1, 2), ctx.device, ctx.memory_format, 1 / 255)
                  for a in (noisy, clean))
        if self.only_pseudo:
            return {"noisy": pn, "clean": pc, "n_syn": 0, "messages": []}
        n = b["noisy"].shape[0]
        fmt = ctx.memory_format
        return {**b, "noisy": torch.cat([b["noisy"], pn]).contiguous(memory_format=fmt),
                "clean": torch.cat([b["clean"], pc]).contiguous(memory_format=fmt), "n_syn": n}

    def loss(self, forward: Forward, batch: dict[str, Any], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        denoised, sigma_hat, sigma_coarse = forward(batch["noisy"], return_coarse=True)
        n, clean = batch["n_syn"], batch["clean"]
        l1 = F.l1_loss(denoised.float(), clean.float())  # over both sets
        total, asymm = l1, l1.new_zeros(())
        if n:  # the σ term of the SN loss, synthetic samples only: sn_loss's total minus its own L1
            syn, parts = sn_loss(denoised[:n], clean[:n], sigma_hat[:n], sigma_coarse[:n], batch["sigma"],
                                 coarse_factor=self.model.coarse_factor, lambda_asymm=self.full.asymm_weight)
            total = l1 + (syn - F.l1_loss(denoised[:n].float(), clean[:n].float()))
            asymm = parts["asymm"]
        l1_pseudo = (F.l1_loss(denoised[n:].float(), clean[n:].float()).detach() if self.n_pseudo
                     else l1.new_zeros(()))
        return total, {"total": total.detach(), "l1": l1.detach(), "asymm": asymm, "l1_pseudo": l1_pseudo}

    def skipped(self) -> list[str]:
        return super().skipped() + list(self.pseudo.skipped)

    def data_state(self) -> dict[str, Any]:
        return {**super().data_state(), "pseudo_digest": self.pseudo_digest}

    def data_report(self) -> dict[str, Any]:
        return {**super().data_report(), "pseudo_digest": self.pseudo_digest,
                "pseudo_pairs": len(set(self.pseudo.names)), "pseudo_samples": len(self.pseudo.samples),
                "last_pseudo_crops": self._draws}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "pseudo": self.full.pseudo, "pseudo_per_batch": self.n_pseudo,
                "pseudo_skipped": self.pseudo.skipped}


def distill(config: DistillConfig, *, resume: bool = False, stop_after: int | None = None,
            echo: Callable[[str], None] = echo_stderr, accept_data_change: bool = False) -> TrainResult:
    """Train AINDNet on synthetic shards and pseudo-pairs together (trainer.engine.loop.run: files, errors)."""
    return run(config, DistillStage, resume=resume, stop_after=stop_after, echo=echo,
               accept_data_change=accept_data_change)
