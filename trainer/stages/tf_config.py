"""Configuration of `noisegen-train tf`: the TF stage and its comparison modes, one frozen dataclass.

Modes (Kim et al., CVPR 2020, §3.3 and Table 5; trainer.stages.tf runs them):
- ``tf``: from the SN weights, train only every AIN module, the noise estimator and the last conv.
- ``rt``: from the SN weights, retrain every parameter.
- ``r``: the same architecture from a fresh initialisation (``seed``), trained on the real pairs only.
- ``n2n``: the parameters of ``tf``, trained on noisy images alone with the Neighbor2Neighbor
  loss (Huang et al., CVPR 2021; trainer.stages.n2n).

The paper does not publish the TF learning rate, batch or schedule. Defaults, chosen for
fine-tuning a few pairs on CPU and recorded in every checkpoint: Adam lr 1e-4 (the SN stage's),
constant; batch 8 of 64×64 crops; 2000 steps; no gradient clipping (the TF runs of
experiments/table5_cpu.py trained without it); validation and last.pt every 500 steps.
This module needs no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from trainer.engine.run_config import RunConfig, check_int, check_number, check_patch, model_multiple
from trainer.engine.run_folder import resolve_checkpoint
from trainer.models.config import MODEL_CONFIGS

__all__ = ["TFConfig", "TF_MODES", "GAMMA_RATIO"]

TF_MODES = ("tf", "rt", "r", "n2n")
# γ_T of the N2N regulariser ramp: 2, the official Neighbor2Neighbor training script's sRGB default
# (trainer.stages.n2n.GAMMA_RATIO, repeated here so that this module needs no torch; a test checks they agree).
GAMMA_RATIO = 2.0
# The size multiple every named model shares; a checkpoint with another one is checked when loaded.
_MULTIPLE = math.lcm(*(model_multiple(name) for name in MODEL_CONFIGS))


@dataclass(frozen=True, kw_only=True)
class TFConfig(RunConfig):
    """One run of `noisegen-train tf` (module docstring).

    Fields of every run: trainer.engine.run_config.RunConfig, with these defaults here: steps 2000,
    batch 8, patch 64 (a multiple of the model's size multiple, 4; in mode n2n of twice it, 8, so
    that the P/2×P/2 sub-images need no padding), clip_norm 0 (off), val_every and ckpt_every 500.
    Samples whose images are smaller than the patch are skipped and listed.

    init: SN run folder (its best.pt, else last.pt) or checkpoint file; resolved to the file.
    data: `noisegen pack-pairs` dataset or pairs folder (mode n2n: also a folder of noisy images).
    pairs: use the first K real pairs (n2n: K noisy images) in the source's order (None: all).
    mode: "tf", "rt", "r" or "n2n".
    n2n_ratio: γ_T of mode n2n's regulariser ramp γ_t = n2n_ratio·t/T (≥ 0).
    Random draws: the crops of step t on process r come from numpy default_rng([seed, r, t, 1]),
    n2n's sub-sampler masks from default_rng([seed, r, t, 2]), mode r's weights from ``seed``.
    """

    STAGES: ClassVar[tuple[str, ...]] = TF_MODES

    init: str
    data: str
    pairs: int | None = None
    mode: str = "tf"
    n2n_ratio: float = GAMMA_RATIO
    steps: int = 2000
    batch: int = 8
    patch: int = 64
    clip_norm: float = 0.0
    val_every: int = 500
    ckpt_every: int = 500

    def __post_init__(self) -> None:
        super().__post_init__()
        put, owner = object.__setattr__, "TFConfig"
        if self.mode not in TF_MODES:
            raise ValueError(f"{owner}.mode: expected one of {', '.join(TF_MODES)}, got {self.mode!r}")
        for name in ("init", "data"):
            if not str(getattr(self, name)):
                raise ValueError(f"{owner}.{name}: expected a path, got {getattr(self, name)!r}")
            put(self, name, str(getattr(self, name)))
        check_int(owner, "pairs", self.pairs, 1, optional=True)
        put(self, "n2n_ratio", check_number(owner, "n2n_ratio", self.n2n_ratio, 0.0))
        check_int(owner, "batch", self.batch, 1)
        check_int(owner, "patch", self.patch, 8)
        check_patch(owner, self.patch, self.patch_multiple(_MULTIPLE), self.patch_reason())

    def patch_multiple(self, size_multiple: int) -> int:
        """What the patch must be a multiple of, for a model of ``size_multiple``."""
        return size_multiple * (2 if self.mode == "n2n" else 1)

    def patch_reason(self) -> str:
        if self.mode == "n2n":
            return "twice the model's size multiple in mode n2n, so that the P/2×P/2 sub-images need no padding"
        return "the model's size multiple, so that no padding is trained on"

    def resolved(self, device_type: str) -> TFConfig:
        """A copy with the execution fields filled in for ``device_type`` and a run folder ``init``
        replaced by the checkpoint it names (a file stays as given: a resumed run does not need it)."""
        init = Path(self.init).expanduser()
        if init.is_dir():
            init = resolve_checkpoint(init, "--init").resolve()
        return self._resolved(device_type, init=str(init))
