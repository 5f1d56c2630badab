"""AINDNet architecture configuration: one frozen dataclass, the paper's values and a CPU-sized one.

The paper configuration follows Kim et al., "Transfer Learning from Synthetic to Real-Noise
Denoising with Adaptive Instance Normalization", CVPR 2020 (the proposed method) and the
released inference model, as summarised in docs/design.md §AINDNet. ``tiny()`` and ``small()`` run the same code
path with fewer channels and blocks, for CPU tests and experiments (training the paper model on a CPU is slow:
docs/results.md §Training).

The resolved configuration is saved inside every checkpoint as ``config.to_dict()`` (plain JSON
types: ints, floats, lists) and restored with ``ModelConfig.from_dict``. This module imports no
torch so that configurations can be read and written without it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from noisegen.dataclass_json import dataclass_from_dict, dataclass_to_dict

__all__ = ["ModelConfig", "MODEL_CONFIGS", "OUT_INITS"]

OUT_INITS = ("default", "zero")  # ModelConfig.out_init


def _int_tuple(value: Any, name: str, *, minimum: int) -> tuple[int, ...]:
    try:
        out = tuple(value)
    except TypeError:
        raise TypeError(f"ModelConfig.{name}: expected a sequence of ints, got {value!r}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in out):
        raise TypeError(f"ModelConfig.{name}: expected ints, got {value!r}")
    if any(v < minimum for v in out):
        raise ValueError(f"ModelConfig.{name}: every value must be >= {minimum}, got {out}")
    return out


def _positive_int(value: Any, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"ModelConfig.{name}: expected an int >= 1, got {value!r}")
    return value


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of AINDNet: noise level estimator, AIN modules and the reconstruction U-Net.

    Attributes:
        in_channels: image channels (3, RGB); also the channels of σ̂ and of the output.
        widths: feature channels per U-Net level, finest first; the image is down-sampled by 2
            between levels, so the U-Net needs H and W divisible by 2**(len(widths) - 1).
            Paper: (64, 128, 256).
        encoder_blocks: AIN-ResBlocks per encoder level, finest first; the last entry is the
            bottleneck. Paper: (2, 2, 5).
        decoder_blocks: AIN-ResBlocks per decoder level, coarsest first (one entry per up-sampling
            step, i.e. len(widths) - 1 entries). Paper: (3, 2).
        ain_hidden: channels of the shared 5×5 conv inside every AIN module. Paper: 64.
        ain_kernel: kernel size of that shared conv. Paper: 5 (γ and β convs are always 3×3).
        estimator_channels: feature channels of the noise level estimator. Paper: 32.
        estimator_pools: average-pooling factors of the estimator's coarse branch. The first pool
            follows the two full-resolution convs; any further pools come after the two
            low-resolution convs, just before the conv to 3 channels. Their product is the coarse
            map's down-scaling factor, ``coarse_factor``. Paper: (4,), see ``paper()``.
        coarse_weight: σ̂ = coarse_weight·up(coarse) + (1 - coarse_weight)·fine. Paper: 0.8.
        leaky_slope: negative slope of the LeakyReLU inside AIN-ResBlocks. Paper: 0.02.
        norm_eps: ε of the instance normalisation inside AIN (added to the variance). 1e-5.
        out_init: initialisation of the last conv (1×1, to 3 channels) before the global residual:
            "default" (PyTorch's) or "zero" (weights and bias zero, so the untrained network is the
            identity, x̂ = y, and training starts from the noisy input's PSNR). Missing in
            configurations saved before this field existed: "default", which is what they used.
    """

    in_channels: int = 3
    widths: tuple[int, ...] = (64, 128, 256)
    encoder_blocks: tuple[int, ...] = (2, 2, 5)
    decoder_blocks: tuple[int, ...] = (3, 2)
    ain_hidden: int = 64
    ain_kernel: int = 5
    estimator_channels: int = 32
    estimator_pools: tuple[int, ...] = (4,)
    coarse_weight: float = 0.8
    leaky_slope: float = 0.02
    norm_eps: float = 1e-5
    out_init: str = "default"

    def __post_init__(self) -> None:
        # Normalise lists (e.g. from JSON) to tuples so that configs compare and hash by value.
        set_ = object.__setattr__
        set_(self, "in_channels", _positive_int(self.in_channels, "in_channels"))
        set_(self, "widths", _int_tuple(self.widths, "widths", minimum=1))
        set_(self, "encoder_blocks", _int_tuple(self.encoder_blocks, "encoder_blocks", minimum=0))
        set_(self, "decoder_blocks", _int_tuple(self.decoder_blocks, "decoder_blocks", minimum=0))
        set_(self, "estimator_pools", _int_tuple(self.estimator_pools, "estimator_pools", minimum=1))
        set_(self, "ain_hidden", _positive_int(self.ain_hidden, "ain_hidden"))
        set_(self, "ain_kernel", _positive_int(self.ain_kernel, "ain_kernel"))
        set_(self, "estimator_channels", _positive_int(self.estimator_channels, "estimator_channels"))
        if not self.widths:
            raise ValueError("ModelConfig.widths: expected at least one level, got ()")
        if len(self.encoder_blocks) != len(self.widths):
            raise ValueError(
                f"ModelConfig.encoder_blocks: expected one entry per level ({len(self.widths)}), "
                f"got {self.encoder_blocks}"
            )
        if len(self.decoder_blocks) != len(self.widths) - 1:
            raise ValueError(
                f"ModelConfig.decoder_blocks: expected one entry per up-sampling step "
                f"({len(self.widths) - 1}), got {self.decoder_blocks}"
            )
        if not self.estimator_pools:
            raise ValueError("ModelConfig.estimator_pools: expected at least one pooling factor, got ()")
        if self.ain_kernel % 2 == 0:
            raise ValueError(
                f"ModelConfig.ain_kernel: expected an odd kernel size ('same' padding), got {self.ain_kernel}"
            )
        for name, lo, hi in (("coarse_weight", 0.0, 1.0), ("leaky_slope", 0.0, 1.0), ("norm_eps", 0.0, 1.0)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
                raise ValueError(f"ModelConfig.{name}: expected a number in [{lo}, {hi}], got {v!r}")
            set_(self, name, float(v))
        if self.out_init not in OUT_INITS:
            raise ValueError(f"ModelConfig.out_init: expected one of {OUT_INITS}, got {self.out_init!r}")
        if self.norm_eps <= 0.0:
            raise ValueError(f"ModelConfig.norm_eps: expected > 0, got {self.norm_eps}")

    @property
    def unet_factor(self) -> int:
        """Total down-sampling of the U-Net: 2**(levels - 1) (4 for the paper)."""
        return 2 ** (len(self.widths) - 1)

    @property
    def coarse_factor(self) -> int:
        """Down-scaling of the estimator's coarse map: the product of ``estimator_pools``."""
        return math.prod(self.estimator_pools)

    @property
    def size_multiple(self) -> int:
        """Inputs are padded to a multiple of this: lcm(unet_factor, coarse_factor)."""
        return math.lcm(self.unet_factor, self.coarse_factor)

    @classmethod
    def paper(cls) -> ModelConfig:
        """The paper's configuration (docs/design.md §AINDNet): ≈13.73M U-Net + ≈29.7K estimator parameters.

        Pooling of the estimator: the paper describes one average pooling by 4 and supervises
        σ̂ at scales 1 and 4 (L_ms-asymm, i ∈ {1, 4}); the released inference code pools by a
        further 2 before its last coarse conv (coarse map at 1/8). We follow the paper, (4,), so
        that the coarse map is exactly the scale-4 map the loss supervises. Pooling has no
        parameters, so the released variant, ``estimator_pools=(4, 2)``, has the same count; use
        it (with ``dataclasses.replace``) to load weights trained with that layout.
        """
        return cls()

    @classmethod
    def tiny(cls) -> ModelConfig:
        """Same code path, scaled down for CPU: 3 levels of width 8/16/32, one block per stage.

        Keeps the paper's three levels (so the same padding multiple, 4) and estimator pooling;
        76,342 parameters (estimator 2,363). At these widths a CPU step costs per-conv overhead,
        not arithmetic (timings: docs/results.md §Training), so fewer blocks would help more than
        fewer channels.
        """
        return cls(
            widths=(8, 16, 32),
            encoder_blocks=(1, 1, 1),
            decoder_blocks=(1, 1),
            ain_hidden=8,
            estimator_channels=8,
        )

    @classmethod
    def small(cls) -> ModelConfig:
        """CPU-sized but able to beat the noisy input on real photos: widths 16/32/64, one block per stage.

        290,110 parameters (estimator 8,011), 3.8× ``tiny``. The tiny model's ceiling on real pairs is
        barely above the noisy input (docs/results.md §Table 5 at CPU scale), so the camera loop
        (experiments/camera_loop.py) uses this one. The last conv starts at zero
        (``out_init="zero"``): the network starts as the identity; what that is worth is measured
        in docs/results.md §Camera loop.
        """
        return cls(
            widths=(16, 32, 64),
            encoder_blocks=(1, 1, 1),
            decoder_blocks=(1, 1),
            ain_hidden=16,
            estimator_channels=16,
            out_init="zero",
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists); safe inside a weights_only checkpoint."""
        return dataclass_to_dict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of to_dict; unknown keys are an error (a typo must not pass silently).

        Missing keys take the paper's defaults.
        """
        return dataclass_from_dict(cls, d)


# Named constructors (the only name → config mapping; e.g. the CLI's --model paper|tiny).
MODEL_CONFIGS: dict[str, Callable[[], ModelConfig]] = {
    "paper": ModelConfig.paper,
    "tiny": ModelConfig.tiny,
    "small": ModelConfig.small,
}
