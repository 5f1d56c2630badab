"""Adaptive instance normalisation (AIN), the noise-conditioned normalisation of AINDNet, and where
its statistics come from.

Reference: Y. Kim, J. W. Soh, G. Y. Park, N. I. Cho, "Transfer Learning from Synthetic to
Real-Noise Denoising with Adaptive Instance Normalization", CVPR 2020, §3.2:

    AIN(h, σ̂) = IN(h)·(1 + γ(s)) + β(s),   s = ReLU(conv_k×k(resize(σ̂))),   γ, β: 3×3 convs of s

IN normalises each channel of each sample over H×W with the feature's own mean and (biased)
variance, ε = 1e-5, no learned affine (``instance_normalize``).

**External statistics.** A forward pass may give every AIN other statistics than its input's own:
``AINDNet.forward(..., stats=S)`` passes an ``AINStatistics`` S down to each AIN, which asks
``S(ain, h)`` for a (mean, variance) and normalises with it (``normalize_with``) instead of h's
own (None: h's own). Tiled inference uses this to normalise every tile with the whole image's
statistics (trainer.infer.inference). S may also *halt* the pass once it has what it needs
(``S.halted``): the network then skips the rest of it, and the forward returns no output (see
``halted``). The modulation itself, γ and β, exists once: ``AIN.forward``.
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["AIN", "AINStatistics", "halted", "instance_normalize", "normalize_with", "resize_to"]


def resize_to(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Bilinear resize of N×C×H×W to ``size`` (align_corners=False, no antialias); identity when equal."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def normalize_with(h: Tensor, mean: Tensor, var: Tensor, eps: float = 1e-5) -> Tensor:
    """(h − mean) / sqrt(var + eps), computed in float32 (also under bf16 autocast) and returned in h's dtype.

    mean, var: float32, broadcastable to h (N×C×1×1 or 1×C×1×1).
    """
    return ((h.float() - mean) * torch.rsqrt(var + eps)).to(h.dtype)


def instance_normalize(h: Tensor, eps: float = 1e-5) -> Tensor:
    """(h - mean) / sqrt(var + eps) per sample and channel over H×W (biased variance, no affine).

    Same as ``torch.nn.functional.instance_norm(h, eps=eps)``; computed in float32 (also under
    bf16 autocast) and returned in h's dtype.
    """
    var, mean = torch.var_mean(h.float(), dim=(-2, -1), keepdim=True, correction=0)
    return normalize_with(h, mean, var, eps)


class AINStatistics(Protocol):
    """Where the AINs of one forward pass take their normalisation statistics from (module docstring).

    Attributes:
        halted: True once the pass has given the caller what it needs; the network then skips the
            rest of the pass (every module checks it after each AIN it runs, ``halted``).
    """

    halted: bool

    def __call__(self, ain: AIN, h: Tensor) -> tuple[Tensor, Tensor] | None:
        """(mean, var), float32 and broadcastable to ``h`` (the AIN's N×C×H×W input), to normalise h with;
        None: h's own statistics (instance normalisation)."""


def halted(stats: AINStatistics | None) -> bool:
    """True when ``stats`` halted the forward pass (never without statistics)."""
    return stats is not None and stats.halted


class AIN(nn.Module):
    """Adaptive instance normalisation conditioned on a noise level map (Kim et al. 2020).

    out = IN(h)·(1 + γ) + β, with γ = conv3×3(s), β = conv3×3(s), s = ReLU(conv_k×k(resize(σ̂))).

    Args:
        channels: C, channels of the feature h.
        sigma_channels: channels of σ̂ (3).
        hidden: channels of the shared conv (paper: 64).
        kernel: kernel size of the shared conv (paper: 5).
        eps: ε of the normalisation (1e-5).
    """

    def __init__(self, channels: int, sigma_channels: int = 3, hidden: int = 64, kernel: int = 5, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.shared = nn.Conv2d(sigma_channels, hidden, kernel, padding=kernel // 2)
        self.gamma = nn.Conv2d(hidden, channels, 3, padding=1)
        self.beta = nn.Conv2d(hidden, channels, 3, padding=1)

    def forward(self, h: Tensor, sigma: Tensor, stats: AINStatistics | None = None) -> Tensor:
        """h: N×C×H×W feature; sigma: N×3×H'×W' noise level map (resized to H×W). Returns N×C×H×W.

        stats: statistics to normalise with instead of h's own (module docstring); when they halt the
        pass here, h is returned unchanged (the caller discards the pass).
        """
        fixed = None if stats is None else stats(self, h)
        if halted(stats):
            return h
        hn = instance_normalize(h, self.eps) if fixed is None else normalize_with(h, *fixed, self.eps)
        s = F.relu(self.shared(resize_to(sigma, h.shape[-2:])))
        return hn * (1 + self.gamma(s)) + self.beta(s)
