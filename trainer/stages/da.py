"""The `da` stage: the SN stage adapted to a real camera by Noise-DA's diffusion loss (Liao et al., ICLR 2025).

    batch = SN batch (synthetic shards) + da_batch real crops (+ reference crops) + diffusion draws
    ŝ, σ̂, σ̂_k = R([y_s; y_r])                          one forward over the synthetic and the real crops
    loss = sn_loss(ŝ, x, σ̂, σ̂_k, σ)                      the SN stage's loss on the synthetic part
         + α(step)·L_noise(ε_θ; ŝ[:m], r̂, x_0, ε, γ)     trainer.stages.noise_da (formulas and guards)

R is the restoration network (AINDNet, any named model); ε_θ the auxiliary diffusion U-Net
(trainer.models.diffusion.CondUNet), the engine's ``aux`` module: trained by the same Adam, wrapped
for DDP like R, stored in checkpoints under "aux", never needed at test time (`eval` and `denoise`
read a `da` checkpoint as any AINDNet one).

Random streams (trainer.stages.da_config lists them): the synthetic batches are the SN stage's
(same shards, seed, loader); everything Noise-DA adds is drawn from generators seeded by
(seed, rank, step, tag), and the diffusion network is initialised under a forked RNG. A step with
α = 0 (step 0, or every step when da_weight = 0) skips the diffusion branch: the diffusion
parameters get no gradient (None), so Adam and the gradient clipping see exactly the SN stage's
gradients, and a run with da_weight = 0 gives the SN stage's weights bit for bit. Resuming needs
no more data state than SN's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from noisegen.dataset.reader import holds_pairs
from trainer.data.real_pairs import TFData, content_digest, draw_crops, keep_croppable, load_noisy, load_pairs
from trainer.engine.loop import TrainResult, echo_stderr, run
from trainer.engine.stage import Forward, StageContext, data_changed, to_device
from trainer.models.aindnet import count_parameters
from trainer.models.diffusion import CondUNet, cumulative_alphas, draw_noise_levels, linear_betas, q_sample
from trainer.stages.da_config import DAConfig
from trainer.stages.losses import sn_loss
from trainer.stages.noise_da import alpha_at, noise_loss, shuffle_pair, swap_mask, swapped_residuals
from trainer.stages.sn import SNStage

__all__ = ["DAConfig", "DAStage", "adapt", "load_references", "stream_seed"]

# Tags of the (seed, rank, step, tag) generators; SN's loader and the TF stage use their own seeds.
REAL, REF, DRAWS, NOISE, INIT = 11, 12, 13, 14, 15


def stream_seed(*key: int) -> int:
    """A 63-bit seed (for torch generators) from non-negative integers, via numpy's SeedSequence."""
    return int(np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def load_references(folder: str, k: int | None, option: str = "--ref") -> TFData:
    """Clean reference images as 1-tuples: the clean side of a pairs folder or pack-pairs dataset, else
    the images directly in ``folder`` (sorted by name; the first K when K is given), as load_noisy reads them.

    Raises:
        FileNotFoundError: ``folder`` is not a folder.
    """
    if holds_pairs(folder):
        pairs = load_pairs(folder, k, option)
        return TFData([(clean,) for _, clean in pairs.samples], pairs.names, "pairs", pairs.skipped)
    return load_noisy(folder, k, option)


def _images(what: str, data: TFData, patch: int, say: Callable[[str], None]) -> TFData:
    if not data.samples:
        first = f"; first: {data.skipped[0]}" if data.skipped else ""
        raise ValueError(f"{what}: no readable image ({len(data.skipped)} skipped{first})")
    data = keep_croppable(data, patch)
    for msg in data.skipped:
        say(f"{what}: skipped {msg}")
    if not data.samples:
        raise ValueError(f"{what}: no image is at least {patch}×{patch} (the crop); use a smaller --patch")
    return data


def _digest(module: nn.Module) -> str:
    h = hashlib.sha256()
    for v in module.state_dict().values():
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class DAStage(SNStage):
    """The `da` stage (trainer.engine.stage.Stage): SNStage's model, data and schedule, plus Noise-DA."""

    name = "da"
    loss_terms = ("total", "l1", "asymm", "noise", "mse", "contrast")

    def __init__(self, cfg: DAConfig, ctx: StageContext):
        super().__init__(cfg, ctx)  # the model first: the global RNG draws the SN stage's initial weights
        self.title = self.title.replace("SN stage", "DA stage (Noise-DA)")
        real = load_noisy(cfg.real, cfg.real_images, "--real", "--real-images")
        self.real = _images(f"--real {cfg.real}", real, cfg.patch, ctx.say)
        self.ref = (None if cfg.ref is None else
                    _images(f"--ref {cfg.ref}", load_references(cfg.ref, None), cfg.patch, ctx.say))
        self.real_digest = content_digest(self.real) + ("" if self.ref is None else content_digest(self.ref))
        if ctx.saved:
            data_changed(ctx.saved, self.real_digest, ctx, key="real_digest")
        ctx.say(f"da: {len(self.real.samples)} real noisy photos ({self.real.kind}), clean references: "
                + ("the synthetic clean patches" if self.ref is None else f"{len(self.ref.samples)} images"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(stream_seed(cfg.seed, INIT))
            self.aux = CondUNet(cfg.diffusion_widths)
        if ctx.saved is not None:
            if "aux" not in ctx.saved:
                raise ValueError(f"cannot resume {cfg.out}: its checkpoint holds no diffusion network (\"aux\")")
            self.aux.load_state_dict(ctx.saved["aux"])
        self.aux.to(ctx.device).to(memory_format=ctx.memory_format)
        self.alphas_bar = cumulative_alphas(linear_betas(cfg.timesteps, cfg.beta_start, cfg.beta_end))
        self._real_draws: list[list[int]] = []

    def trainable(self) -> list[nn.Parameter]:
        return list(self.model.parameters()) + list(self.aux.parameters())

    def alpha(self, step: int) -> float:
        return alpha_at(step, self.cfg.steps, self.cfg.da_weight, self.cfg.da_ramp)

    def _crops(self, data: TFData, tag: int, step: int) -> tuple[Tensor, list[list[int]]]:
        cfg, ctx = self.cfg, self.ctx
        rng = np.random.default_rng([cfg.seed, ctx.rank, step, tag])
        (arr,), draws = draw_crops(data.samples, rng, cfg.da_batch, cfg.patch)
        return to_device(torch.from_numpy(arr).permute(0, 3, 1, 2), ctx.device, ctx.memory_format, 1 / 255), draws

    def batch(self, step: int) -> dict[str, Any]:
        b = super().batch(step)
        if self.alpha(step) == 0.0:
            return b  # no diffusion branch this step (module docstring)
        cfg, ctx, m = self.cfg, self.ctx, self.cfg.da_batch
        b["real"], self._real_draws = self._crops(self.real, REAL, step)
        if self.ref is not None:
            b["ref"], _ = self._crops(self.ref, REF, step)
        rng = np.random.default_rng([cfg.seed, ctx.rank, step, DRAWS])
        _, gamma = draw_noise_levels(rng, self.alphas_bar, m)
        b["gamma"] = torch.from_numpy(gamma).float().to(ctx.device)
        b["swap"] = torch.from_numpy(swap_mask(rng, m) if cfg.shuffle else np.zeros(m, bool)).to(ctx.device)
        b["swap_neg"] = torch.from_numpy(swap_mask(rng, m) if cfg.shuffle else np.zeros(m, bool)).to(ctx.device)
        gen = torch.Generator(device=ctx.device).manual_seed(stream_seed(cfg.seed, ctx.rank, step, NOISE))
        eps = torch.randn((m, 3, cfg.patch, cfg.patch), generator=gen, device=ctx.device)
        b["eps"] = eps.contiguous(memory_format=ctx.memory_format)
        return b

    def loss(self, forward: Forward, batch: dict[str, Any], step: int, *,
             aux: Forward | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        alpha = self.alpha(step)
        if alpha == 0.0:  # exactly the SN stage's computation
            total, parts = super().loss(forward, batch, step)
            zero = torch.zeros((), device=total.device)
            return total, {**parts, "noise": zero, "mse": zero, "contrast": zero}
        if aux is None:
            raise RuntimeError("DAStage.loss: the engine passed no aux forward for the diffusion network")
        noisy, real, m = batch["noisy"], batch["real"], self.cfg.da_batch
        n = noisy.shape[0]
        restored, sigma_hat, coarse = forward(torch.cat([noisy, real]), return_coarse=True)
        total, parts = sn_loss(restored[:n], batch["clean"], sigma_hat[:n], coarse[:n], batch["sigma"],
                               coarse_factor=self.model.coarse_factor, lambda_asymm=self.cfg.asymm_weight)
        syn_out, real_out = restored[:m], restored[n:]
        x0 = batch["ref"] if "ref" in batch else batch["clean"][:m]
        x_t = q_sample(x0, batch["gamma"], batch["eps"])
        c1, c2 = shuffle_pair(syn_out, real_out, batch["swap"])
        if self.cfg.contrastive:
            neg1, neg2 = shuffle_pair(*swapped_residuals(noisy[:m], syn_out, real, real_out), batch["swap_neg"])
            # one call over the true and the negative conditions (one DDP forward per step)
            both = aux(torch.cat([x_t, x_t]), torch.cat([c1, neg1]), torch.cat([c2, neg2]), batch["gamma"].repeat(2))
            pred, pred_neg = both[:m], both[m:]
        else:
            pred, pred_neg = aux(x_t, c1, c2, batch["gamma"]), None
        l_noise, noise_parts = noise_loss(batch["eps"], pred, pred_neg, self.cfg.margin)
        total = total + alpha * l_noise
        return total, {**parts, "total": total.detach(), "noise": l_noise.detach(), **noise_parts}

    def log_extras(self, step: int) -> dict[str, float]:
        return {"alpha": self.alpha(step)}

    def skipped(self) -> list[str]:
        return super().skipped() + list(self.real.skipped) + ([] if self.ref is None else list(self.ref.skipped))

    def data_state(self) -> dict[str, Any]:
        return {**super().data_state(), "real_digest": self.real_digest}

    def data_report(self) -> dict[str, Any]:
        # the weights' digests tell, per rank, that DDP kept every copy of both networks identical
        return {**super().data_report(), "real": self.cfg.real, "real_images": len(self.real.samples),
                "real_skipped": self.real.skipped, "last_real_crops": self._real_draws,
                "weights_sha256": {"model": _digest(self.model), "aux": _digest(self.aux)}}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "real": self.cfg.real, "real_images": len(self.real.samples),
                "real_names": self.real.names, "ref": self.cfg.ref,
                "ref_images": None if self.ref is None else len(self.ref.samples),
                "diffusion_parameters": count_parameters(self.aux)}


def adapt(config: DAConfig, *, resume: bool = False, stop_after: int | None = None,
          echo: Callable[[str], None] = echo_stderr, accept_data_change: bool = False) -> TrainResult:
    """Train the `da` stage as configured (trainer.engine.loop.run: arguments, files written, errors).

    ``accept_data_change``: resume even though the shards, the noisy photos or the references changed
    (trainer.engine.stage.data_changed).

    Writes what an SN run writes; metrics.jsonl adds the terms "noise" (L_noise before α), "mse" and
    "contrast" (0 on steps without the diffusion branch) and each record's "alpha"; last.pt and best.pt
    hold the diffusion network under "aux" beside the AINDNet weights that `eval` and `denoise` read.
    """
    return run(config, DAStage, resume=resume, stop_after=stop_after, echo=echo,
               accept_data_change=accept_data_change)
