"""Neighbor2Neighbor: self-supervised denoising loss from single noisy images.

Reference: T. Huang, S. Li, X. Jia, H. Lu, J. Liu, "Neighbor2Neighbor: Self-Supervised Denoising
from Single Noisy Images", CVPR 2021 (§3: the random neighbour sub-sampler and the regularised loss),
and its official code (TaoHuang2018/Neighbor2Neighbor) for the defaults.

Random neighbour sub-sampler (``sample_neighbors`` draws it, ``subsample`` applies it): the image y
(H×W, H and W even) is split into 2×2 cells; in each cell one pixel is picked at random for g1(y)
and, for g2(y), one of the two pixels of the same cell that share its row or its column (never the
diagonal one). That is one of 8 equally likely ordered pairs per cell, the same for every channel;
g1(y) and g2(y) are H/2×W/2. With f the denoiser:

    L = λ1·mean((f(g1(y)) − g2(y))²) + λ2·γ_t·mean((f(g1(y)) − g2(y) − (g1(f(y)) − g2(f(y))))²)

where f(y), the full-size output, is computed without gradient (stop-gradient, as in the paper's
training procedure) and sub-sampled with the same two masks. λ1 = λ2 = 1; γ_t = ratio·t/T ramps linearly
over the T training steps (``gamma_at``; ratio 2 is the official code's default for sRGB).

Indices are flat pixel indices into H×W (row·W + column) so that both sub-images are one
``gather``; every random draw comes from an explicit numpy Generator.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

__all__ = ["GAMMA_RATIO", "LAMBDA_REC", "LAMBDA_REG", "NEIGHBOR_PAIRS", "gamma_at", "n2n_loss", "n2n_objective",
           "sample_neighbors", "subsample"]

# Huang et al. 2021, the regularised loss, with the official training script's defaults (sRGB).
LAMBDA_REC = 1.0  # λ1: weight of the reconstruction term
LAMBDA_REG = 1.0  # λ2: weight of the regulariser (before γ_t)
GAMMA_RATIO = 2.0  # γ_T: the regulariser's weight at the last step ("increase ratio")

# The 8 ordered (g1, g2) pixel pairs of a 2×2 cell that are 4-adjacent; a cell position is
# 2·row + column, i.e. 0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right.
NEIGHBOR_PAIRS = np.array([(0, 1), (0, 2), (1, 0), (1, 3), (2, 0), (2, 3), (3, 1), (3, 2)], dtype=np.int64)


def sample_neighbors(rng: np.random.Generator, n: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Draw the random neighbour sub-sampler's choice for a batch (one of the 8 pairs per 2×2 cell).

    Args:
        rng: numpy Generator; the only source of randomness (the same state gives the same masks).
        n: batch size N ≥ 1.
        height, width: H, W of the images, even and ≥ 2.

    Returns:
        (idx1, idx2): int64 arrays of shape N×(H/2)×(W/2), flat indices row·W + column into H×W of
        the pixel that g1 (resp. g2) takes from each cell; idx1 ≠ idx2, 4-adjacent, same cell.
    """
    if n < 1:
        raise ValueError(f"sample_neighbors: n must be ≥ 1, got {n}")
    if height < 2 or width < 2 or height % 2 or width % 2:
        raise ValueError(f"sample_neighbors: H and W must be even and ≥ 2 (2×2 cells), got {height}×{width}")
    h, w = height // 2, width // 2
    choice = rng.integers(len(NEIGHBOR_PAIRS), size=(n, h, w))
    corner = (2 * np.arange(h))[:, None] * width + (2 * np.arange(w))[None, :]  # top-left pixel of each cell
    pos1, pos2 = NEIGHBOR_PAIRS[choice, 0], NEIGHBOR_PAIRS[choice, 1]
    idx1 = corner + (pos1 // 2) * width + pos1 % 2
    idx2 = corner + (pos2 // 2) * width + pos2 % 2
    return idx1, idx2


def subsample(x: Tensor, idx: Tensor | np.ndarray) -> Tensor:
    """g(x): the pixels ``idx`` of every channel of x, as a half-size image.

    Args:
        x: N×C×H×W tensor (any dtype, any device).
        idx: N×(H/2)×(W/2) integer flat indices into H×W (``sample_neighbors``), tensor or array.

    Returns:
        N×C×(H/2)×(W/2) tensor in x's dtype and device; differentiable in x.
    """
    if not isinstance(x, Tensor) or x.ndim != 4:
        raise ValueError(f"subsample: expected x of shape (N, C, H, W), got {getattr(x, 'shape', type(x).__name__)}")
    idx = torch.as_tensor(idx, device=x.device)
    n, c, height, width = x.shape
    if idx.ndim != 3 or idx.shape[0] != n or 2 * idx.shape[1] != height or 2 * idx.shape[2] != width:
        raise ValueError(f"subsample: expected idx of shape ({n}, {height // 2}, {width // 2}) for x of shape "
                         f"{tuple(x.shape)}, got {tuple(idx.shape)}")
    if idx.dtype != torch.int64:
        raise TypeError(f"subsample: expected int64 indices, got {idx.dtype}")
    flat = idx.reshape(n, 1, -1).expand(n, c, -1)
    return x.reshape(n, c, height * width).gather(2, flat).reshape(n, c, *idx.shape[1:])


def gamma_at(step: int, steps: int, ratio: float = GAMMA_RATIO) -> float:
    """γ_t = ratio·t/T, the regulariser's weight at step t of T (0 at t = 0, ``ratio`` at t = T)."""
    if steps < 1 or not 0 <= step <= steps:
        raise ValueError(f"gamma_at: expected 0 ≤ step ≤ steps and steps ≥ 1, got step {step} of {steps}")
    if not ratio >= 0:
        raise ValueError(f"gamma_at: ratio must be ≥ 0, got {ratio}")
    return ratio * step / steps


def n2n_loss(out_sub1: Tensor, sub2: Tensor, full_out: Tensor, idx1: Tensor | np.ndarray, idx2: Tensor | np.ndarray,
             gamma: float, *, lambda_rec: float = LAMBDA_REC,
             lambda_reg: float = LAMBDA_REG) -> tuple[Tensor, dict[str, Tensor]]:
    """Neighbor2Neighbor loss (Huang et al. 2021; formula in the module docstring).

    Args:
        out_sub1: f(g1(y)), N×C×(H/2)×(W/2), the denoiser's output on the first sub-image ([0, 1] scale).
        sub2: g2(y), N×C×(H/2)×(W/2), the second sub-image of the noisy input.
        full_out: f(y), N×C×H×W, the denoiser's output on the whole image; detached here (no
            gradient flows through it whatever the caller did).
        idx1, idx2: the masks that made g1(y), g2(y) (``sample_neighbors``), N×(H/2)×(W/2).
        gamma: γ_t ≥ 0 (``gamma_at``).
        lambda_rec, lambda_reg: λ1, λ2 (paper: 1, 1).

    Returns:
        (total, {"total", "rec", "reg"}): total is a 0-d float32 tensor to back-propagate; "rec"
        and "reg" are the two means before their weights, detached.
    """
    if out_sub1.shape != sub2.shape:
        raise ValueError(f"n2n_loss: out_sub1 and sub2 must have equal shapes, got {tuple(out_sub1.shape)} and "
                         f"{tuple(sub2.shape)}")
    if not gamma >= 0:
        raise ValueError(f"n2n_loss: gamma must be ≥ 0, got {gamma}")
    full = full_out.detach().float()
    expected = subsample(full, idx1) - subsample(full, idx2)
    if expected.shape != out_sub1.shape:
        raise ValueError(f"n2n_loss: full_out of shape {tuple(full_out.shape)} and the masks give sub-images of "
                         f"shape {tuple(expected.shape)}, expected {tuple(out_sub1.shape)}")
    diff = out_sub1.float() - sub2.float()
    rec = diff.square().mean()
    reg = (diff - expected).square().mean()
    total = lambda_rec * rec + lambda_reg * gamma * reg
    return total, {"total": total.detach(), "rec": rec.detach(), "reg": reg.detach()}


def n2n_objective(denoise: Callable[[Tensor], Tensor], noisy: Tensor, idx1: Tensor | np.ndarray,
                  idx2: Tensor | np.ndarray, gamma: float) -> tuple[Tensor, dict[str, Tensor]]:
    """One Neighbor2Neighbor loss evaluation on a batch (the paper's training step without the update).

    Args:
        denoise: f, N×C×h×w → N×C×h×w (e.g. ``lambda t: model(t)[0]`` for AINDNet).
        noisy: y, N×C×H×W, [0, 1] scale, H and W even.
        idx1, idx2: masks from ``sample_neighbors`` for this batch.
        gamma: γ_t.

    Returns:
        ``n2n_loss``'s (total, parts); gradients reach f's parameters through f(g1(y)) only,
        f(y) being computed under ``torch.no_grad()``.
    """
    sub1, sub2 = subsample(noisy, idx1), subsample(noisy, idx2)
    out_sub1 = denoise(sub1)
    with torch.no_grad():
        full = denoise(noisy)
    return n2n_loss(out_sub1, sub2, full, idx1, idx2, gamma)
