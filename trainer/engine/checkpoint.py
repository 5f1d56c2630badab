"""Training checkpoints: written atomically, read with ``torch.load(weights_only=True)`` only.

A checkpoint is a dict of tensors and plain Python values (str, int, float, bool, None, lists,
dicts), so that loading never unpickles arbitrary objects:

    format          "noisegen-trainer-checkpoint/1"
    step            optimiser steps done
    stage           "sn", "tf", "rt", "r", "n2n" or "da" (trainer.engine.stage; absent in checkpoints made before it)
    model           state_dict of the AINDNet (unwrapped from DDP / torch.compile)
    optimizer       Adam's state_dict;  scheduler: LambdaLR's state_dict (no callables in it)
    rng             torch (CPU ByteTensor), cuda (list of ByteTensors), numpy (the legacy global
                    MT19937 state as a tensor and ints), python (random.getstate() as lists);
                    trainer.engine.global_state.rng_state
    data            one dict per rank: where its data stands (SN: a trainer.data.loader.StreamState
                    dict; TF: its crops are a function of the step, so nothing)
    train_config    the resolved TrainConfig / TFConfig .to_dict();  model_config: ModelConfig.to_dict()
    versions        torch, numpy, python, noisegen, webdataset, CUDA/cuDNN when present
    metrics         small dict: best validation PSNR and its step, last logged loss
    aux             only for stages with an auxiliary module (trainer.engine.stage.Stage.aux, e.g. the `da`
                    stage's diffusion network): its state_dict; inference never reads it

Writing: torch.save to a temporary file in the same folder, flush + fsync, then os.replace onto
the final name, so a crash leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import os
import pickle
import platform
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from noisegen.atomic import atomic_write
from noisegen.command import brief
from noisegen.files import check_regular_file
from noisegen.version import __version__
from trainer.engine.global_state import rng_state

__all__ = ["CHECKPOINT_FORMAT", "unwrap", "versions", "save_checkpoint", "load_checkpoint", "check_finite_weights"]

CHECKPOINT_FORMAT = "noisegen-trainer-checkpoint/1"


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module inside DistributedDataParallel and/or torch.compile wrappers."""
    while True:
        if hasattr(model, "_orig_mod"):  # torch.compile's OptimizedModule
            model = model._orig_mod
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def versions() -> dict[str, str | None]:
    """Versions that produced a checkpoint."""
    import webdataset  # here, not at the top: inference (eval, denoise) never needs it

    return {"torch": str(torch.__version__), "numpy": str(np.__version__), "python": platform.python_version(),
            "noisegen": __version__, "webdataset": getattr(webdataset, "__version__", None),
            "cuda": torch.version.cuda,
            "cudnn": str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None}


def save_checkpoint(path: str | os.PathLike[str], *, model: nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, step: int, train_config: dict[str, Any],
                    model_config: dict[str, Any], data: list[dict[str, Any]],
                    metrics: dict[str, Any] | None = None, stage: str | None = None,
                    aux: nn.Module | None = None) -> Path:
    """Write a checkpoint atomically (temporary file, fsync, os.replace); returns its path.

    ``stage`` names the stage that trained it (None: not a training run's, e.g. a test's fresh model).
    ``aux``: the stage's auxiliary module, stored under "aux" (not at all when None).
    """
    path = Path(path)
    state = {
        "format": CHECKPOINT_FORMAT,
        "step": int(step),
        "stage": stage,
        "model": unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": rng_state(),
        "data": data,
        "train_config": train_config,
        "model_config": model_config,
        "versions": versions(),
        "metrics": metrics or {},
    }
    if aux is not None:
        state["aux"] = unwrap(aux).state_dict()
    atomic_write(path, lambda f: torch.save(state, f))
    return path


def load_checkpoint(path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint with ``torch.load(weights_only=True)`` (no arbitrary unpickling), and check its
    weights: every floating-point tensor of "model" must be finite (a run that diverged, or a damaged
    file, must not give an all-black denoiser or a silent 11 dB).

    Raises:
        ValueError: the file is not a trainer checkpoint, is damaged or truncated, holds pickled objects,
            or has non-finite weights (the message names the tensor).
    """
    check_regular_file(path, "checkpoint")
    try:
        with warnings.catch_warnings():  # torch's notes on pickle protocols: the message below says what matters
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except pickle.UnpicklingError as exc:  # torch's safe loader met something that is not plain data
        found = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n|$)", str(exc))
        detail = brief(found.group(1) if found else str(exc), 100)
        raise ValueError(f"{path}: not a readable checkpoint: torch's safe loader refuses it ({detail}); the file is "
                         "damaged, or holds pickled Python objects (never run here): use a checkpoint written by "
                         "noisegen-train") from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, ... for truncated or damaged files
        raise ValueError(f"{path}: not a readable checkpoint, the file is truncated or damaged ({type(exc).__name__}: "
                         f"{brief(str(exc), 160)}); use another checkpoint (best.pt, or an earlier copy) or rerun "
                         "the stage") from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"{path}: not a noisegen trainer checkpoint (format {found!r}, "
                         f"expected {CHECKPOINT_FORMAT!r})")
    check_finite_weights(state.get("model"), str(path))
    optimizer = state.get("optimizer")
    if isinstance(optimizer, dict) and isinstance(optimizer.get("state"), dict):  # Adam's moments, for --resume
        check_finite_weights({f"optimizer state {i}.{k}": t for i, st in optimizer["state"].items()
                              if isinstance(st, dict) for k, t in st.items()}, str(path))
    return state


def check_finite_weights(weights: Any, where: str) -> None:
    """ValueError naming the first floating-point tensor of a state_dict (or Adam's state) that holds NaN or inf."""
    if not isinstance(weights, dict):
        return
    for name, t in weights.items():
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            what = name if name.startswith("optimizer") else f"weight {name!r}"
            raise ValueError(f"{where}: {what} holds {bad} NaN or infinite value(s) of {t.numel()}; the "
                             "checkpoint comes from a run that diverged, or is damaged: use an earlier checkpoint "
                             "(best.pt, or a copy of last.pt) and retrain from there with a lower --lr")
