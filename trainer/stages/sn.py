"""The SN stage of AINDNet: the whole network trained on streamed synthetic-noise shards.

    batch = next(loader)                                 # uint8 clean/noisy + float σ, made in workers
    x̂, σ̂, σ̂_k = model(noisy, return_coarse=True)        # bf16 autocast when amp = bf16 (the engine's)
    loss = L1(x̂, clean) + λ·L_ms-asymm(σ̂, σ̂_k; σ)      # λ = asymm_weight (paper: 0.05; trainer.stages.losses.sn_loss)
    lr = lr·TrainConfig.lr_factor(step)                  # warm-up, then cosine / step / constant

Data: this rank's disjoint shards (trainer.data.stream, trainer.data.loader). A stream's data is a pure function
of (seed, stream, round) and the shard files, so its position (round, offset), saved by
``data_state`` in every checkpoint, is all a resumed run needs to continue with exactly the batches
of an uninterrupted one. Damaged data is warned about once (DamagedDataWarning), logged and skipped.
``train`` runs this stage on the engine (trainer.engine.loop).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn

from noisegen.dataset.reader import DamagedDataWarning, list_shards
from noisegen.isp.api import CameraProfile
from trainer.data.loader import build_train_stream, make_train_loader
from trainer.engine.loop import TrainResult, echo_stderr, run
from trainer.engine.stage import Forward, StageContext, to_device
from trainer.infer.inference import model_from_checkpoint
from trainer.models.aindnet import AINDNet
from trainer.models.config import MODEL_CONFIGS
from trainer.stages.losses import sn_loss
from trainer.stages.sn_config import TrainConfig

__all__ = ["SNStage", "train", "check_usable"]


def check_usable(shards, patch: int) -> None:
    """Refuse, before any loader starts, datasets whose manifests say no sample can be used: no σ maps
    (real pairs packed by pack-pairs) or patches smaller than the training crop.

    Raises:
        ValueError: naming the dataset and what to do.
    """
    for d in shards.datasets:
        if d.sigma is None:
            raise ValueError(f"{d.name}: the dataset has no σ maps (real pairs from `noisegen pack-pairs`?); the SN "
                             "stage trains on synthetic samples with σ maps: use `noisegen-train tf` for real pairs")
        if d.patch is not None and d.patch < patch:
            raise ValueError(f"{d.name}: its samples are {d.patch}×{d.patch}, smaller than the {patch}×{patch} "
                             f"training crop; use --patch {d.patch // 4 * 4} or less, or generate larger patches")


class SNStage:
    """The SN stage (trainer.engine.stage.Stage): every parameter, shards, the SN loss, TrainConfig's schedule."""

    name = "sn"
    loss_terms = ("total", "l1", "asymm")

    def __init__(self, cfg: TrainConfig, ctx: StageContext):
        self.cfg, self.ctx = cfg, ctx
        saved = ctx.saved
        self.model = model_from_checkpoint(saved, cfg.out) if saved else AINDNet(MODEL_CONFIGS[cfg.model]())
        self.shards = list_shards(cfg.data)
        check_usable(self.shards, cfg.patch)
        self.dataset_profile = self.shards.profile()
        self.stream, note = build_train_stream(
            self.shards, patch=cfg.patch, batch=cfg.batch, seed=cfg.seed, workers=cfg.workers, rank=ctx.rank,
            world=ctx.world, buffer=cfg.shuffle_buffer, shards_per_round=cfg.shards_per_round,
            saved=saved["data"] if saved else None, fresh=cfg.fresh_noise, profile=self._fresh_profile(cfg))
        if note:
            warnings.warn(note, RuntimeWarning, stacklevel=2)
            ctx.say(note)
        self.loader = make_train_loader(self.stream, device=ctx.device, seed=cfg.seed)
        self.title = f"{cfg.model} AINDNet, SN stage, {len(self.shards.urls)} shards, {cfg.schedule} schedule"
        self._it = None
        self._seen: set[str] = set()
        self._reported: list[str] = []

    def _fresh_profile(self, cfg: TrainConfig) -> CameraProfile | None:
        """The camera profile that fresh parameters are drawn from (fresh_noise "params"), checked up front."""
        if cfg.fresh_noise == "off":
            return None
        for d in self.shards.datasets:
            if d.clean_target != "source":
                raise ValueError(f"{d.name}: --fresh-noise needs the clean source crops, this dataset stores rendered "
                                 "targets (generate --clean-target source)")
        if cfg.fresh_noise == "noise":
            return None
        if self.dataset_profile is None:
            raise ValueError("--fresh-noise params draws new parameters from the dataset's camera profile, but the "
                             "shards were given without their dataset folder (no dataset.json to read it from)")
        return CameraProfile.from_dict(self.dataset_profile, source="training dataset's dataset.json")

    def trainable(self) -> list[nn.Parameter]:
        return list(self.model.parameters())

    def lr_factor(self, step: int) -> float:
        return self.cfg.lr_factor(step)

    def batch(self, step: int) -> dict[str, Any]:
        if self._it is None:
            self._it = iter(self.loader)
        b = next(self._it)
        if "fatal" in b:
            raise ValueError(f"{b['fatal']}. Check the data with `noisegen inspect DATASET --verify` (the SN stage "
                             f"needs samples with σ maps, at least {self.cfg.patch}×{self.cfg.patch})")
        new = [m for m in self.stream.state.update(b) if m not in self._reported]
        for msg in new:
            warnings.warn(msg, DamagedDataWarning, stacklevel=2)
        self._reported += new
        self._seen.update(b["urls"])
        d, fmt = self.ctx.device, self.ctx.memory_format
        return {"clean": to_device(b["clean"], d, fmt, 1 / 255), "noisy": to_device(b["noisy"], d, fmt, 1 / 255),
                "sigma": to_device(b["sigma"], d, fmt), "messages": new}

    def loss(self, forward: Forward, batch: dict[str, Any], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        denoised, sigma_hat, sigma_coarse = forward(batch["noisy"], return_coarse=True)
        return sn_loss(denoised, batch["clean"], sigma_hat, sigma_coarse, batch["sigma"],
                       coarse_factor=self.model.coarse_factor, lambda_asymm=self.cfg.asymm_weight)

    def log_extras(self, step: int) -> dict[str, float]:
        return {}

    def counters(self) -> dict[str, int]:
        return {"damaged": self.stream.state.damaged}

    def data_state(self) -> dict[str, Any]:
        return self.stream.state.to_dict()

    def data_report(self) -> dict[str, Any]:
        return {"streams": self.stream.assigned, "seen_shards": sorted(self._seen),
                "batches": self.stream.state.consumed, "damaged": self.stream.state.damaged,
                "messages": self._reported}

    def describe(self) -> dict[str, Any]:
        return {"shards": len(self.shards.urls)}

    def close(self) -> None:
        # Stop the loader processes now: left to the garbage collector, their shutdown can stall a
        # later call for seconds (measured: 20 s inside the next run's plotting).
        shutdown = getattr(self._it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()
        self._it = None


def train(config: TrainConfig, *, resume: bool = False, stop_after: int | None = None,
          echo: Callable[[str], None] = echo_stderr) -> TrainResult:
    """Train AINDNet's SN stage as configured (trainer.engine.loop.run: arguments, files written, errors)."""
    return run(config, SNStage, resume=resume, stop_after=stop_after, echo=echo)
