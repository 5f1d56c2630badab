"""`noisegen-train dbsn`: D-BSN and its noise model trained jointly on noisy photos alone, as a stage of
the training engine (trainer.engine.loop: resume, validation, DDP, atomic checkpoints, metrics).

    y = random crops of the noisy photos                  (no clean image is read)
    μ, L_μ, L_n = model(y, heads=True)                    # PD stride pd_train when configured
    loss = mean NLL(y; μ, Σ_μ, Σ_n)                       # trainer.stages.dbsn_loss ("paper" or "marginal");
                                                          # the first mu_warmup steps: warmup_loss
    lr = lr·cosine(step)                                   # DBSNTrainConfig.lr_factor

References: Wu, Liu, Cao, Ren, Zuo, "Unpaired Learning of Deep Image Denoising", ECCV 2020 (D-BSN, the
loss, the MAP output); Lee, Son, Lee, "AP-BSN", CVPR 2022 (PD, R³). The network is
trainer.models.dbsn.DBSN; its configuration, with the PD / R³ / output settings of the run, is each
checkpoint's ``model_config`` (network "dbsn"), so `eval`, `denoise` and `pseudo-pairs` apply it as
trained. Validation (``--val``) scores ``model(y)[0]``, the inference output, like any other stage.

Data (trainer.data.real_pairs.load_noisy): the noisy images in memory; the crops of step t on rank r
come from default_rng([seed, r, t, 1]) with a random flip/rotation, so a step's batch is a pure
function of (seed, rank, step): resuming needs no data state and every DDP rank draws its own crops.
``train_dbsn`` runs it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from trainer.data.real_pairs import TFData, content_digest, draw_crops, keep_croppable, load_noisy
from trainer.engine.loop import TrainResult, echo_stderr, run
from trainer.engine.stage import Forward, StageContext, data_changed, to_device
from trainer.infer.inference import model_from_checkpoint
from trainer.models.dbsn import DBSN
from trainer.stages.dbsn_config import DBSNTrainConfig
from trainer.stages.dbsn_loss import dbsn_nll, warmup_loss

__all__ = ["DBSNStage", "DBSNTrainConfig", "train_dbsn", "load_training_images"]


def load_training_images(cfg: DBSNTrainConfig, say: Callable[[str], None]) -> TFData:
    """The run's noisy images, those smaller than the crop left out and listed.

    Raises:
        FileNotFoundError: no readable image. ValueError: none as large as the crop.
    """
    data = load_noisy(cfg.data, cfg.images, "--data", "--images")
    if not data.samples:
        raise FileNotFoundError(f"--data {cfg.data}: no readable noisy images")
    data = keep_croppable(data, cfg.patch)
    for msg in data.skipped:
        say(f"skipped {msg}")
    if not data.samples:
        raise ValueError(f"--data {cfg.data}: no image is at least {cfg.patch}×{cfg.patch} (the crop); use a smaller "
                         f"--patch (a multiple of --pd {cfg.pd})")
    return data


class DBSNStage:
    """The D-BSN stage (trainer.engine.stage.Stage); module docstring."""

    name = "dbsn"
    loss_terms = ("total", "maha", "logdet", "trace")
    dataset_profile = None

    def __init__(self, cfg: DBSNTrainConfig, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        self.model = model_from_checkpoint(ctx.saved, cfg.out) if ctx.saved else DBSN(cfg.model_config())
        if not isinstance(self.model, DBSN):
            raise ValueError(f"cannot resume {cfg.out}: its checkpoint holds no D-BSN")
        self.data = load_training_images(cfg, ctx.say)
        self.digest = content_digest(self.data)
        if ctx.saved:
            data_changed(ctx.saved, self.digest, ctx)  # a step's crops depend on the data only: nothing to reset
        c = self.model.config
        pd = f"PD {c.pd_train}/{c.pd_infer}" + (f", R³ {c.r3_steps}×{c.r3_prob:g}" if c.r3_steps else "") \
            if c.pd_train > 1 or c.pd_infer > 1 else "no PD"
        self.title = f"{cfg.model} D-BSN, {pd}, {cfg.nll} NLL, output {c.output}, {len(self.data.samples)} noisy images"
        ctx.say(f"dbsn: {len(self.data.samples)} noisy images from "
                f"{'the noisy side of pairs' if self.data.kind == 'pairs' else 'a folder'}")
        self._draws: list[list[int]] = []

    def trainable(self) -> list[nn.Parameter]:
        return list(self.model.parameters())

    def lr_factor(self, step: int) -> float:
        return self.cfg.lr_factor(step)

    def batch(self, step: int) -> dict[str, Any]:
        cfg, ctx = self.cfg, self.ctx
        rng = np.random.default_rng([cfg.seed, ctx.rank, step, 1])
        (noisy,), self._draws = draw_crops(self.data.samples, rng, cfg.batch, cfg.patch)
        return {"noisy": to_device(torch.from_numpy(noisy).permute(0, 3, 1, 2), ctx.device, ctx.memory_format, 1 / 255)}

    def loss(self, forward: Forward, batch: dict[str, Any], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        y = batch["noisy"]
        mu, L_mu, L_n = forward(y, heads=True)
        objective = warmup_loss if step < self.cfg.mu_warmup else dbsn_nll
        return objective(y, mu, L_mu, L_n, self.cfg.nll)

    def log_extras(self, step: int) -> dict[str, float]:
        return {}

    def counters(self) -> dict[str, int]:
        return {}

    def skipped(self) -> list[str]:
        return list(self.data.skipped)

    def data_state(self) -> dict[str, Any]:
        return {"data_digest": self.digest}  # a step's crops are a function of (seed, rank, step) and the data

    def data_report(self) -> dict[str, Any]:
        return {"source": self.data.kind, "images": len(self.data.samples), "data_digest": self.digest,
                "skipped": self.data.skipped,
                "last_crops": self._draws}

    def describe(self) -> dict[str, Any]:
        return {"network": "dbsn", "source": self.data.kind, "images": len(self.data.samples),
                "image_names": self.data.names, "skipped": self.data.skipped}

    def close(self) -> None:
        pass


def train_dbsn(config: DBSNTrainConfig, *, resume: bool = False, stop_after: int | None = None,
               echo: Callable[[str], None] = echo_stderr, accept_data_change: bool = False) -> TrainResult:
    """Train a D-BSN on noisy images (trainer.engine.loop.run: arguments, files written, errors).

    Writes OUT/last.pt (read by `eval`, `denoise`, `pseudo-pairs`; continued by --resume), OUT/best.pt with
    validation, OUT/config.json, OUT/metrics.jsonl (interval means of the NLL and its terms "maha",
    "logdet", "trace"), OUT/curves.png and OUT/data-rank<R>.json.
    """
    return run(config, DBSNStage, resume=resume, stop_after=stop_after, echo=echo,
               accept_data_change=accept_data_change)
