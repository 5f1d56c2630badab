"""Pixel-shuffle down-sampling (PD) and the masks of random-replacing refinement (R³).

Reference: W. Lee, S. Son, K. M. Lee, "AP-BSN: Self-Supervised Denoising for Real-World Images via
Asymmetric PD and Blind-Spot Network", CVPR 2022 (§3.2 asymmetric PD, §3.3 R³), after Zhou et al.,
"When AWGN-based denoiser meets real noises", AAAI 2020 (PD).

PD with stride f splits an H×W image (H, W multiples of f) into f² sub-images of (H/f)×(W/f): sub-image
(i, j) holds the pixels (i + f·r, j + f·c). Neighbours inside a sub-image are f pixels apart in the
photo, where real sRGB noise (spatially correlated by demosaicing, noise reduction and JPEG) is close to
independent, so a blind-spot network run on the sub-images cannot predict the noise of a pixel from its
neighbours' noise. AP-BSN lays the sub-images out as one mosaic with 2 zero pixels between them; here
they are a batch of f² images (N·f² × C × H/f × W/f), so that a large receptive field never reaches
into another sub-image either (in a mosaic the pixel next to p in the photo is a fixed distance away
in the neighbouring sub-image). ``pd_up`` is the exact inverse. PD is a permutation, so a network
blind to the centre pixel of a sub-image is blind to it in the photo too.

Sizes that are not multiples of f are padded with zeros at the bottom and right (``pad_to``), never by
reflection or replication: a copy of a pixel in the padding would let a blind-spot network see that
pixel.

R³ (``r3_masks``): T independent Bernoulli(p) masks, one per element of the image; where a mask is
set, the PD-denoised image takes the noisy value back, and the blind-spot network (without PD) is run
on each of the T images; their mean is the output (AP-BSN: T = 8, p = 0.16).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["pad_to", "pd_down", "pd_up", "r3_masks"]


def pad_to(x: Tensor, multiple: int) -> tuple[Tensor, tuple[int, int]]:
    """x (N×C×H×W) zero-padded at the bottom and right to multiples of ``multiple``; returns (padded, (H, W))."""
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    return x, (h, w)


def pd_down(x: Tensor, f: int) -> Tensor:
    """The PD sub-images of x as a batch (module docstring).

    Args:
        x: N×C×H×W, H and W multiples of f. f: stride ≥ 1 (1: x itself).
    Returns:
        (N·f²)×C×(H/f)×(W/f): sub-image (i, j) of image n at batch index n·f² + i·f + j.
    """
    if f < 1:
        raise ValueError(f"pd_down: expected a stride f >= 1, got {f}")
    n, c, h, w = x.shape
    if h % f or w % f:
        raise ValueError(f"pd_down: H and W must be multiples of the stride {f}, got {h}×{w} (use pad_to)")
    if f == 1:
        return x
    sub = F.pixel_unshuffle(x, f).reshape(n, c, f * f, h // f, w // f)  # channel c·f² + i·f + j
    return sub.transpose(1, 2).reshape(n * f * f, c, h // f, w // f)


def pd_up(s: Tensor, f: int) -> Tensor:
    """Inverse of ``pd_down``: the N×C×H×W images from their (N·f²)×C×(H/f)×(W/f) sub-images."""
    if f < 1:
        raise ValueError(f"pd_up: expected a stride f >= 1, got {f}")
    if f == 1:
        return s
    nf, c, h, w = s.shape
    if nf % (f * f):
        raise ValueError(f"pd_up: expected a batch that is a multiple of f² = {f * f}, got {nf}")
    n = nf // (f * f)
    return F.pixel_shuffle(s.reshape(n, f * f, c, h, w).transpose(1, 2).reshape(n, c * f * f, h, w), f)


def r3_masks(shape: tuple[int, ...], steps: int, prob: float, seed: int) -> Tensor:
    """``steps`` Bernoulli(prob) boolean masks of ``shape`` (T×shape), from torch.Generator seeded with ``seed``
    on the CPU: the same seed gives the same masks on every device."""
    if steps < 1 or not 0 < prob < 1:
        raise ValueError(f"r3_masks: expected steps >= 1 and 0 < prob < 1, got {steps}, {prob}")
    g = torch.Generator().manual_seed(seed)
    return torch.rand((steps, *shape), generator=g) < prob
