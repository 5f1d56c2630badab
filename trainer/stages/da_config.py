"""Configuration of `noisegen-train da`: the SN stage plus Noise-DA's adaptation, one frozen dataclass.

The `da` stage (trainer.stages.da) trains the restoration network exactly as the SN stage does
(every TrainConfig field keeps its meaning and default) and adds an auxiliary conditional diffusion
model whose noise-prediction loss, weighted by α, pulls the network's outputs on the camera's real
noisy photos towards clean images (Liao et al., ICLR 2025; trainer.stages.noise_da).

Defaults, and where they come from:
- ``da_weight`` w = 0.2, the ramp α = w·(2/(1 + e^(−5p)) − 1), the contrastive margin 0.1, channel
  shuffling and the contrastive term on: the released code's denoising configuration.
- ``da_ramp`` = 1: p = step / steps, the paper's "training progress" (the released code ramps over
  its first 300 epochs of an open-ended run: ``ctrl_epoch``).
- Diffusion schedule: linear β from 1e-6 to 1e-2 over 1000 steps (the released configuration).
- ``da_batch`` (real photos and diffusion samples per step): half the batch. The released code
  pairs every synthetic sample with a real one; half the pairs keeps a step at most twice the SN
  step (benchmarks/bench_da.py measures it), since the restoration network then runs on 1.5× the
  samples and the diffusion network on the rest of the budget.
- ``diffusion_widths`` (12, 24, 48): far smaller than the released 64-channel, 4-level U-Net with
  attention, for the same budget (the step against the SN step: benchmarks/bench_da.py, figures in
  benchmarks/RESULTS.md §Noise-DA step cost); the diffusion network is discarded after training.
This module needs no torch.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

from trainer.engine.run_config import check_int, check_number, check_patch, model_multiple
from trainer.stages.sn_config import TrainConfig

__all__ = ["DAConfig"]


@dataclass(frozen=True, kw_only=True)
class DAConfig(TrainConfig):
    """One run of the `da` stage: TrainConfig's fields (data = the synthetic shards) and these.

    Real and reference images:
        real: folder of the camera's noisy photos (no clean images needed): the images directly in it,
            sorted by name; or a pairs folder / `noisegen pack-pairs` dataset, whose noisy side is used
            (trainer.data.real_pairs.load_noisy, as `tf --mode n2n`). Photos smaller than the patch are
            skipped and listed.
        real_images: use the first K of them (None: all).
        ref: folder of clean reference images x_0 of the diffusion model (the images directly in it;
            of a pairs folder or dataset, the clean side). None: the clean patches of the synthetic
            batch itself (the released code's default setting, ``diff_flag`` 1).
    Noise-DA:
        da_weight: w of α = w·(2/(1 + e^(−5p)) − 1), ≥ 0. 0: no diffusion branch at all, and the run
            is the SN stage's, bit for bit.
        da_ramp: p = min(1, step / (da_ramp·steps)), in (0, 1].
        da_batch: real photos and diffusion samples per step per process (≤ batch; the first da_batch
            synthetic samples are paired with them). None: max(1, batch // 2).
        shuffle: channel shuffling of the condition (per sample). contrastive: the residual-swapping
            contrastive term, with margin ``margin`` ≥ 0.
        diffusion_widths: channels per level of the diffusion U-Net (trainer.models.diffusion.CondUNet);
            the patch must be a multiple of 2^(levels − 1) as well as of the model's size multiple.
        timesteps, beta_start, beta_end: the linear DDPM schedule.
    Random draws of step t on process r (besides the SN stage's): real crops from numpy
    default_rng([seed, r, t, 11]), reference crops [.., 12], noise levels and swap masks [.., 13],
    ε from a torch Generator on the device seeded from [.., 14]; the diffusion network's initial
    weights from a torch seed made of [seed, 15], under a forked RNG (the global one is untouched).
    """

    STAGES: ClassVar[tuple[str, ...]] = ("da",)

    real: str
    real_images: int | None = None
    ref: str | None = None
    da_weight: float = 0.2
    da_ramp: float = 1.0
    da_batch: int | None = None
    shuffle: bool = True
    contrastive: bool = True
    margin: float = 0.1
    diffusion_widths: tuple[int, ...] = (12, 24, 48)
    timesteps: int = 1000
    beta_start: float = 1e-6
    beta_end: float = 1e-2

    def __post_init__(self) -> None:
        super().__post_init__()
        put, owner = object.__setattr__, "DAConfig"
        if not isinstance(self.real, str) or not self.real:
            raise ValueError(f"{owner}.real: expected a folder of noisy photos, got {self.real!r}")
        if self.ref is not None and (not isinstance(self.ref, str) or not self.ref):
            raise ValueError(f"{owner}.ref: expected a folder of clean images or None, got {self.ref!r}")
        check_int(owner, "real_images", self.real_images, 1, optional=True)
        check_int(owner, "da_batch", self.da_batch, 1, optional=True)
        check_int(owner, "timesteps", self.timesteps, 2)
        put(self, "da_weight", check_number(owner, "da_weight", self.da_weight, 0.0))
        put(self, "da_ramp", check_number(owner, "da_ramp", self.da_ramp, 0.0, 1.0))
        if self.da_ramp == 0.0:
            raise ValueError(f"{owner}.da_ramp: expected a fraction in (0, 1], got 0")
        put(self, "margin", check_number(owner, "margin", self.margin, 0.0))
        put(self, "beta_start", check_number(owner, "beta_start", self.beta_start, 0.0, 1.0))
        put(self, "beta_end", check_number(owner, "beta_end", self.beta_end, 0.0, 1.0))
        if not 0.0 < self.beta_start <= self.beta_end < 1.0:
            raise ValueError(f"{owner}.beta_start, beta_end: expected 0 < beta_start ≤ beta_end < 1, got "
                             f"{self.beta_start}, {self.beta_end}")
        widths = tuple(self.diffusion_widths)
        if not widths or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"{owner}.diffusion_widths: expected positive integers, got {self.diffusion_widths!r}")
        put(self, "diffusion_widths", widths)
        for name in ("shuffle", "contrastive"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{owner}.{name}: expected True or False, got {getattr(self, name)!r}")
        if self.batch is not None and self.da_batch is not None and self.da_batch > self.batch:
            raise ValueError(f"{owner}.da_batch: expected at most batch ({self.batch}), got {self.da_batch}")
        if self.patch is not None:
            check_patch(owner, self.patch, self.patch_multiple(),
                        f"the {self.model} model's size multiple and the diffusion U-Net's 2^(levels − 1)")

    def patch_multiple(self) -> int:
        """What the patch must be a multiple of: the restoration model's and the diffusion U-Net's multiples."""
        return math.lcm(model_multiple(self.model), 2 ** (len(self.diffusion_widths) - 1))

    def resolved(self, device_type: str) -> DAConfig:
        """TrainConfig.resolved, and da_batch = max(1, batch // 2) when None."""
        r = super().resolved(device_type)
        return dataclasses.replace(r, da_batch=r.da_batch if r.da_batch is not None else max(1, r.batch // 2))
