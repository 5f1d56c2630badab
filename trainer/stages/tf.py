"""`noisegen-train tf`: adapt an SN-stage AINDNet to real noise with a few real pairs (Kim et al.,
CVPR 2020, §3.3 "transfer learning"), the paper's comparison modes, and self-supervised adaptation
on noisy images only (Neighbor2Neighbor), as stages of the training engine (trainer.engine.loop).

Modes (trainer.stages.tf_config.TFConfig):
- ``tf``: start from the SN weights; train only every AIN module, the noise estimator and the
  last conv (trainer.models.aindnet.freeze_for_tf); everything else stays bit-identical.
- ``rt``: start from the SN weights and retrain every parameter.
- ``r``: the same architecture from a fresh initialisation (``seed``), trained on the real pairs only.
- ``n2n``: the parameters of ``tf`` (same freezing), trained on noisy images alone with the
  Neighbor2Neighbor loss (Huang et al., "Neighbor2Neighbor: Self-Supervised Denoising from Single
  Noisy Images", CVPR 2021; trainer.stages.n2n): no clean image is used. Its regulariser weight ramps as
  γ_t = ``n2n_ratio``·t/T (official default 2 for sRGB).
Loss: L1 only (trainer.stages.losses.tf_loss) in modes tf, rt, r. Optimiser: Adam on the trainable
parameters, constant learning rate (defaults and why: trainer.stages.tf_config).

Data (trainer.data.real_pairs): the pairs or noisy images in memory; the crops of step t on rank r come
from default_rng([seed, r, t, 1]) and n2n's sub-sampler masks from default_rng([seed, r, t, 2]),
so a step's batch is a pure function of (seed, rank, step): resuming needs no data state and every
DDP rank draws its own crops. Mode n2n's crop must be a multiple of twice the model's size multiple
(8 for AINDNet), so that the P/2×P/2 sub-images need no padding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from trainer.data.real_pairs import TFData, draw_crops, keep_croppable, load_noisy, load_pairs
from trainer.engine.checkpoint import load_checkpoint
from trainer.engine.loop import TrainResult, echo_stderr, run
from trainer.engine.run_config import check_patch
from trainer.engine.run_folder import resolve_checkpoint
from trainer.engine.stage import Forward, StageContext, to_device
from trainer.infer.inference import load_model, model_from_checkpoint
from trainer.models.ain import AIN
from trainer.models.aindnet import AINDNet, NoiseEstimator, freeze_for_tf
from trainer.stages.losses import tf_loss
from trainer.stages.n2n import gamma_at, n2n_objective, sample_neighbors
from trainer.stages.tf_config import TF_MODES, TFConfig

__all__ = ["TFConfig", "TF_MODES", "TFStage", "parameter_table", "transfer"]


def _group_of(model: AINDNet) -> dict[str, str]:
    """Parameter name → "AIN modules" | "noise estimator" | "last conv" | "other (U-Net convs)"."""
    kind: dict[int, str] = {}
    for m in model.modules():
        if isinstance(m, AIN):
            kind.update({id(p): "AIN modules" for p in m.parameters()})
        elif isinstance(m, NoiseEstimator):
            kind.update({id(p): "noise estimator" for p in m.parameters()})
    kind.update({id(p): "last conv" for p in model.out_conv.parameters()})
    return {n: kind.get(id(p), "other (U-Net convs)") for n, p in model.named_parameters()}


def parameter_table(model: AINDNet) -> list[dict]:
    """Rows {group, trainable, frozen} of parameter counts, by the requires_grad flags now set."""
    groups = _group_of(model)
    rows: dict[str, dict] = {}
    for n, p in model.named_parameters():
        r = rows.setdefault(groups[n], {"group": groups[n], "trainable": 0, "frozen": 0})
        r["trainable" if p.requires_grad else "frozen"] += p.numel()
    out = [rows[g] for g in ("AIN modules", "noise estimator", "last conv", "other (U-Net convs)") if g in rows]
    out.append({"group": "total", "trainable": sum(r["trainable"] for r in out),
                "frozen": sum(r["frozen"] for r in out)})
    return out



def _initial_model(cfg: TFConfig, saved: dict | None) -> tuple[AINDNet, int | None]:
    """The model to train and the step of the SN checkpoint it starts from (None when resuming or in mode r)."""
    if saved:  # the engine loads the checkpoint's weights
        return model_from_checkpoint(saved, cfg.out), None
    init = resolve_checkpoint(cfg.init, "--init")
    if cfg.mode == "r":  # fresh weights, from the global RNG the engine seeded with cfg.seed
        return model_from_checkpoint(load_checkpoint(init), str(init)), None
    model, state = load_model(init)
    return model, state.get("step")


def _load_data(cfg: TFConfig, say: Callable[[str], None]) -> TFData:
    data = load_noisy(cfg.data, cfg.pairs) if cfg.mode == "n2n" else load_pairs(cfg.data, cfg.pairs)
    if not data.samples:
        what = "readable noisy images" if cfg.mode == "n2n" else "usable pairs"
        raise FileNotFoundError(f"--data {cfg.data}: no {what}")
    data = keep_croppable(data, cfg.patch)
    for msg in data.skipped:
        say(f"skipped {msg}")
    if not data.samples:
        raise ValueError(f"--data {cfg.data}: no image is at least {cfg.patch}×{cfg.patch} (the crop); use a "
                         "smaller --patch")
    if cfg.mode == "n2n":
        say(f"n2n: {len(data.samples)} noisy images from "
            f"{'the noisy side of pairs' if data.kind == 'pairs' else 'a folder'}")
    else:
        say(f"{cfg.mode}: {len(data.samples)} samples of {len(set(data.names))} real pairs")
    return data


class TFStage:
    """The TF stage and its comparison modes (trainer.engine.stage.Stage); module docstring."""

    def __init__(self, cfg: TFConfig, ctx: StageContext):
        self.cfg, self.ctx, self.name = cfg, ctx, cfg.mode
        self.n2n = cfg.mode == "n2n"
        self.model, self.init_step = _initial_model(cfg, ctx.saved)
        if cfg.mode in ("tf", "n2n"):
            freeze_for_tf(self.model)
        check_patch("TFConfig", cfg.patch, cfg.patch_multiple(self.model.config.size_multiple), cfg.patch_reason())
        self.data = _load_data(cfg, ctx.say)
        self.table = parameter_table(self.model)
        ctx.say(f"{'parameters':24s} {'trainable':>10s} {'frozen':>10s}")
        for r in self.table:
            ctx.say(f"{r['group']:24s} {r['trainable']:10d} {r['frozen']:10d}")
        self.loss_terms = ("total", "rec", "reg") if self.n2n else ("total", "l1")
        self.dataset_profile = None
        self.title = f"AINDNet, TF stage, mode {cfg.mode}, {len(self.data.samples)} samples"
        self._draws: list[list[int]] = []

    def trainable(self) -> list[nn.Parameter]:
        return [p for p in self.model.parameters() if p.requires_grad]

    def lr_factor(self, step: int) -> float:
        return 1.0

    def batch(self, step: int) -> dict[str, Any]:
        cfg, ctx = self.cfg, self.ctx
        rng = np.random.default_rng([cfg.seed, ctx.rank, step, 1])
        arrays, self._draws = draw_crops(self.data.samples, rng, cfg.batch, cfg.patch)
        images = [to_device(torch.from_numpy(a).permute(0, 3, 1, 2), ctx.device, ctx.memory_format, 1 / 255)
                  for a in arrays]
        if not self.n2n:
            return {"noisy": images[0], "clean": images[1]}
        masks = sample_neighbors(np.random.default_rng([cfg.seed, ctx.rank, step, 2]), cfg.batch, cfg.patch, cfg.patch)
        return {"noisy": images[0], "idx1": torch.from_numpy(masks[0]).to(ctx.device),
                "idx2": torch.from_numpy(masks[1]).to(ctx.device)}

    def _gamma(self, step: int) -> float:
        return gamma_at(step + 1, self.cfg.steps, self.cfg.n2n_ratio)

    def loss(self, forward: Forward, batch: dict[str, Any], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        if self.n2n:
            return n2n_objective(lambda t: forward(t)[0], batch["noisy"], batch["idx1"], batch["idx2"],
                                 self._gamma(step))
        denoised, _ = forward(batch["noisy"])
        return tf_loss(denoised, batch["clean"])

    def log_extras(self, step: int) -> dict[str, float]:
        return {"gamma": self._gamma(step)} if self.n2n else {}

    def counters(self) -> dict[str, int]:
        return {}

    def data_state(self) -> dict[str, Any]:
        return {}  # a step's crops are a function of (seed, rank, step): nothing to save

    def data_report(self) -> dict[str, Any]:
        return {"source": self.data.kind, "samples": len(self.data.samples), "skipped": self.data.skipped,
                "last_crops": self._draws}

    def describe(self) -> dict[str, Any]:
        return {"init": self.cfg.init, "init_step": self.init_step, "source": self.data.kind,
                "samples": len(self.data.samples), "skipped": self.data.skipped, "parameter_table": self.table}

    def close(self) -> None:
        pass


def transfer(config: TFConfig, *, resume: bool = False, stop_after: int | None = None,
             echo: Callable[[str], None] = echo_stderr) -> TrainResult:
    """Run the TF / RT / R / N2N training (trainer.engine.loop.run: arguments, files written, errors).

    Writes OUT/last.pt (a checkpoint that `eval` and `denoise` read, and `--resume` continues),
    OUT/best.pt with validation, OUT/config.json (configuration, parameter table, data, versions),
    OUT/metrics.jsonl (interval means of the loss: L1, or for n2n the N2N loss, its terms "rec"
    and "reg" and the step's γ_t "gamma"), OUT/curves.png and OUT/data-rank<R>.json.
    """
    return run(config, TFStage, resume=resume, stop_after=stop_after, echo=echo)
