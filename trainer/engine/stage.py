"""The interface between the training engine and a stage (SN, TF, RT, R, N2N, DA).

A stage says *what* is trained: the model and which of its parameters learn, the batches, the
loss and the learning-rate schedule. The engine (trainer.engine.loop) does the rest for every stage
alike: process group, seeds and numerics, restoring a checkpoint, the optimiser step, logging,
validation and checkpoints. The engine builds a stage with ``make_stage(config, context)`` once
the run's configuration is resolved and its checkpoint (if resuming) is read.

Reproducibility contract: ``batch(step)`` must depend only on the configuration, the rank, the
step and what ``data_state()`` returned into the checkpoint (given back in ``context.saved``), so
that a resumed run sees the batches an uninterrupted one would have seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from trainer.models.aindnet import AINDNet

__all__ = ["Forward", "Stage", "StageContext", "to_device", "data_changed"]

# The model as the stage calls it: DDP / torch.compile wrappers and bf16 autocast applied by the engine.
Forward = Callable[..., tuple[Tensor, ...]]


@dataclass(frozen=True)
class StageContext:
    """What the engine has set up when it builds a stage.

    rank, world: this process in the process group. device, memory_format: where batches go, and
    in which layout. saved: the checkpoint being resumed (trainer.engine.checkpoint), else None.
    say: progress messages (rank 0 only; a no-op elsewhere). accept_data_change: resuming, go on even
    though the training data's contents differ from the checkpoint's (else the stage refuses).
    """

    rank: int
    world: int
    device: torch.device
    memory_format: torch.memory_format
    saved: dict[str, Any] | None
    say: Callable[[str], None]
    accept_data_change: bool = False


class Stage(Protocol):
    """One kind of training run, as the engine sees it.

    Attributes:
        name: "sn", "tf", "rt", "r", "n2n" or "da"; recorded in checkpoints as "stage".
        title: one line for the curves' title and messages.
        model: the AINDNet with its initial weights (the engine moves it to the device and loads
            a checkpoint's weights into it when resuming); ``requires_grad`` marks what learns.
        loss_terms: names of the values ``loss`` returns in its dict, logged as means over each
            log interval; the first is the loss itself and is logged as "loss".
        dataset_profile: the camera profile (a dict) the training data was made with, if known:
            the default noise of synthetic validation sets.
        aux: optional (absent or None in most stages): a module trained together with the model but
            not part of it (the `da` stage's diffusion network). The stage builds it on ctx.device in
            ctx.memory_format and restores it from ``ctx.saved["aux"]`` when resuming, and lists its
            parameters in ``trainable()``; the engine wraps it like the model (DDP, torch.compile,
            bf16 autocast), passes the wrapped module to ``loss`` as ``aux=`` and stores its
            state_dict in every checkpoint under "aux". Inference never reads it.
    """

    name: str
    title: str
    model: AINDNet
    loss_terms: tuple[str, ...]
    dataset_profile: dict | None

    def trainable(self) -> list[nn.Parameter]:
        """The parameters Adam updates (the rest of the model stays bit-identical)."""

    def lr_factor(self, step: int) -> float:
        """Learning-rate multiplier for the update at 0-based ``step`` (a function of the step only)."""

    def batch(self, step: int) -> dict[str, Any]:
        """The batch of 0-based ``step`` on the device; an optional "messages" list holds data problems to report."""

    def loss(self, forward: Forward, batch: dict[str, Any], step: int) -> tuple[Tensor, dict[str, Tensor]]:
        """(loss to back-propagate, {term: 0-d tensor} with every name of ``loss_terms``); a stage with an
        ``aux`` module also gets its wrapped forward as the keyword argument ``aux``."""

    def log_extras(self, step: int) -> dict[str, float]:
        """Values for the log record of 0-based ``step`` beside the interval means (e.g. n2n's γ_t)."""

    def counters(self) -> dict[str, int]:
        """Counts summed over ranks into every log record (e.g. damaged samples)."""

    def skipped(self) -> list[str]:
        """What this rank left out, each once, in the order found (damaged samples, unusable pairs):
        counted and named (the first few) in metrics.jsonl's end record and the run's final line."""

    def data_state(self) -> dict[str, Any]:
        """This rank's data position for the checkpoint (the engine gathers one per rank)."""

    def data_report(self) -> dict[str, Any]:
        """What this rank read, for OUT/data-rank<R>.json."""

    def describe(self) -> dict[str, Any]:
        """Entries for config.json and the metrics header (data source, parameter table, ...)."""

    def close(self) -> None:
        """Release loader processes and the like."""


def to_device(t: Tensor, device: torch.device, memory_format: torch.memory_format,
              scale: float | None = None) -> Tensor:
    """A batch tensor as float32 on ``device`` in ``memory_format``, times ``scale`` (e.g. 1/255 for uint8).

    Pinned CPU tensors are copied without blocking, so the copy overlaps with compute on CUDA.
    """
    t = t.to(device, non_blocking=device.type == "cuda")
    t = t.float() if scale is None else t.float().mul_(scale)
    return t.contiguous(memory_format=memory_format)


def data_changed(saved: dict[str, Any], digest: str | None, ctx: StageContext, key: str = "data_digest") -> bool:
    """Whether the training data's contents differ from those the checkpoint was trained on (the
    "data_digest" every stage stores in its ``data_state``), when the run may go on anyway.

    A stage resuming on other data would train on it without a word; so it is refused, unless
    ``ctx.accept_data_change`` (then this says so and returns True). ``key``: the ``data_state`` entry
    compared (a stage with two data sources records one digest per source). Checkpoints without a digest,
    and data that cannot be digested (remote shards: None), are not compared.

    Raises:
        ValueError: the data changed, naming both digests and what to do.
    """
    data = saved.get("data") or [{}]
    then = data[0].get(key) if isinstance(data[0], dict) else None
    if then is None or digest is None or then == digest:
        return False
    what = (f"the training data changed since the checkpoint of step {saved.get('step')} (content digest {then} "
            f"then, {digest} now)")
    if not ctx.accept_data_change:
        raise ValueError(f"cannot resume: {what}. Restore the data it was trained on, start a new run in another "
                         "--out, or pass --accept-data-change to continue on the new data")
    ctx.say(f"{what}: continuing on the new data (--accept-data-change)")
    return True
