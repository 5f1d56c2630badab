"""Small inputs for the trainer tests: a freshly initialised tiny checkpoint, synthetic noisy/clean
images and a real-pairs folder (noisy/ + gt/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from noisegen.dataset.reader import write_png
from trainer.engine.checkpoint import save_checkpoint
from trainer.models.aindnet import AINDNet
from trainer.models.config import ModelConfig


def make_checkpoint(path: Path, seed: int = 0) -> Path:
    """A freshly initialised tiny AINDNet as a trainer checkpoint."""
    torch.manual_seed(seed)
    model = AINDNet(ModelConfig.tiny())
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    return save_checkpoint(path, model=model, optimizer=opt, scheduler=sched, step=0, train_config={"model": "tiny"},
                           model_config=model.config.to_dict(), data=[])


def make_image(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) uint8 H×W×3: smooth gradients + edges, Gaussian noise σ = 20/255."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    clean = np.stack([128 + 80 * np.sin(xx / 7.0 + c) * np.cos(yy / 9.0) + 30 * ((xx + yy) % 17 < 8)
                      for c in range(3)], axis=-1)
    clean = np.clip(clean, 0, 255).astype(np.uint8)
    noisy = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).round().astype(np.uint8)
    return clean, noisy


def write_pairs(folder: Path, pairs: dict[str, tuple[np.ndarray, np.ndarray]]) -> Path:
    """A real-pairs folder: folder/noisy/NAME_real.png and folder/gt/NAME_mean.png for each NAME: (clean, noisy)."""
    (folder / "noisy").mkdir(parents=True)
    (folder / "gt").mkdir()
    for name, (clean, noisy) in pairs.items():
        write_png(folder / "noisy" / f"{name}_real.png", noisy)
        write_png(folder / "gt" / f"{name}_mean.png", clean)
    return folder
