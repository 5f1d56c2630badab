"""A network from a checkpoint's configuration, checked against its stored weights before anything is
allocated: the one check that AINDNet's and D-BSN's loaders share (trainer.infer.inference.model_from_checkpoint,
trainer.models.dbsn.dbsn_from_state)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor, nn

__all__ = ["checked_model"]

M = TypeVar("M", bound=nn.Module)


def checked_model(state: dict, where: str, build: Callable[[], M], modules: int, what: str) -> M:
    """``build()`` once the checkpoint's weights fit it: ``state["model"]`` is a dict of tensors, holds at least
    ``modules`` of them (every level and block of the configuration holds tensors, so a configuration asking for
    more is a lie of a damaged or hostile file) and has exactly the names and shapes of ``build()``'s state dict,
    which is computed on the "meta" device (a huge configuration fails here, allocating nothing).

    Args:
        what: the configuration's name in messages ("model", "D-BSN").
    Raises:
        ValueError: naming ``where`` and what does not fit.
    """
    weights = state.get("model")
    if not isinstance(weights, dict):
        raise ValueError(f"{where}: the checkpoint holds no model weights")
    stored = {k: tuple(v.shape) for k, v in weights.items() if isinstance(v, Tensor)}
    if modules > len(stored):
        raise ValueError(f"{where}: the {what} configuration asks for more blocks and levels ({modules}) than there "
                         f"are tensors: the checkpoint stores only {len(stored)}; the file is damaged")
    with torch.device("meta"):
        shapes = {k: tuple(v.shape) for k, v in build().state_dict().items()}
    if shapes != stored:
        diff = sorted(set(shapes) ^ set(stored)) or [k for k in shapes if shapes[k] != stored[k]]
        raise ValueError(f"{where}: weights do not match its {what} configuration (e.g. {diff[:3]}); the file is "
                         "damaged or was not written by noisegen-train")
    return build()
