"""Noise-DA's losses: the diffusion loss that adapts a restoration network, its ramp and its shortcut guards.

Reference: K. Liao, Z. Yue, Z. Wang, C. C. Loy, "Denoising as Adaptation: Noise-Space Domain
Adaptation for Image Restoration", ICLR 2025, and its released code (KangLiao929/Noise-DA,
models/network.py, models/model.py, models/loss.py) for the exact terms and constants.

With R the restoration network, y_s a synthetic noisy input with clean x, y_r a real noisy photo
(no clean image), x_0 a clean reference, ε ~ N(0, I) and γ a noise level (trainer.models.diffusion):

    ŝ = R(y_s),  r̂ = R(y_r)                                       restored synthetic and real images
    x_γ = √γ·x_0 + √(1 − γ)·ε
    (c₁, c₂) = shuffle(ŝ, r̂)                                      channel shuffling of the condition
    ε̂ = ε_θ(x_γ, c₁, c₂, γ)
    L_noise = ‖ε − ε̂‖²                                             (mean squared error)
    with the contrastive term:
        (n₁, n₂) = shuffle'(y_s + (r̂ − y_r), y_r + (ŝ − y_s))     residuals swapped: negative conditions
        ε̂⁻ = ε_θ(x_γ, n₁, n₂, γ)
        L_noise = (‖ε − ε̂‖² + max(0, ‖ε − ε̂‖² − ‖ε − ε̂⁻‖² + m)) / 2,  margin m = 0.1
    L = L_rec(ŝ, x) + α·L_noise,  α = w·(2 / (1 + e^(−5p)) − 1),  p = training progress in [0, 1]

Both networks learn from L (one optimiser). The diffusion loss can only fall if both conditions look
like clean images, so its gradient pulls R's outputs on real inputs towards the clean distribution.

Shortcuts the paper names, and the guards:
- the diffusion model could rely on the synthetic condition alone (it is the restored version of
  x_0 itself when x_0 = x): **channel shuffling** puts ŝ and r̂ in the two 3-channel slots in an
  order drawn per sample (the code's ``mask = rand(b) > 0.5`` swap), so no slot is "the synthetic one";
- it could tell the domains apart by their residual (noise) statistics: the **residual-swapping
  contrastive term** builds negatives whose residuals come from the other domain and asks the
  prediction with the true conditions to beat them by a margin.

Constants from the released code: w = 0.2 (``diff_weight``), the ramp's 5 and its form (a DANN-style
schedule over ``ctrl_epoch``), margin 0.1 (TripletMarginLoss with MSE distances), the ½ averaging.
The released code reconstructs with the Charbonnier loss; here L_rec is the SN stage's loss
(trainer.stages.losses.sn_loss), so that with α = 0 the stage is the SN stage.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DA_WEIGHT", "RAMP_RATE", "MARGIN", "alpha_at", "swap_mask", "shuffle_pair", "swapped_residuals",
           "contrastive_term", "noise_loss"]

DA_WEIGHT = 0.2  # w: the released denoising configuration's diff_weight
RAMP_RATE = 5.0  # α = w·(2/(1 + e^(−5p)) − 1) (models/model.py, train_step)
MARGIN = 0.1  # the triplet margin (models/loss.py, TripletMarginLoss)


def alpha_at(step: int, steps: int, weight: float = DA_WEIGHT, ramp: float = 1.0) -> float:
    """α of the update at 0-based ``step``: w·(2/(1 + e^(−5p)) − 1), p = min(1, step / (ramp·steps)).

    Args:
        step: 0 ≤ step (steps past the run's length keep p = 1). steps: the run's length ≥ 1.
        weight: w ≥ 0. ramp: the fraction of the run over which p goes from 0 to 1, in (0, 1].
    Returns:
        α in [0, w·0.9866]; exactly 0 at step 0 and whenever w = 0.
    """
    if steps < 1 or step < 0:
        raise ValueError(f"alpha_at: expected step ≥ 0 and steps ≥ 1, got step {step} of {steps}")
    if not weight >= 0 or not 0 < ramp <= 1:
        raise ValueError(f"alpha_at: expected weight ≥ 0 and ramp in (0, 1], got {weight!r}, {ramp!r}")
    p = min(1.0, step / (ramp * steps))
    return weight * (2.0 / (1.0 + math.exp(-RAMP_RATE * p)) - 1.0)


def swap_mask(rng: np.random.Generator, n: int) -> np.ndarray:
    """Which samples swap their two condition slots: bool (n,), each True with probability ½ (``rand > 0.5``)."""
    return rng.random(n) > 0.5


def shuffle_pair(first: Tensor, second: Tensor, mask: Tensor | np.ndarray) -> tuple[Tensor, Tensor]:
    """Channel shuffling of a two-part condition: sample i's parts change places where ``mask[i]``.

    Args:
        first, second: N×C×H×W tensors (the synthetic and the real part).
        mask: N booleans (tensor or array).
    Returns:
        (slot 1, slot 2), N×C×H×W each: (second[i], first[i]) where mask[i], else (first[i], second[i]);
        differentiable in both inputs.
    """
    if first.shape != second.shape:
        raise ValueError(f"shuffle_pair: expected equal shapes, got {tuple(first.shape)} and {tuple(second.shape)}")
    m = torch.as_tensor(mask, dtype=torch.bool, device=first.device)
    if m.shape != first.shape[:1]:
        raise ValueError(f"shuffle_pair: expected a mask of shape ({first.shape[0]},), got {tuple(m.shape)}")
    m = m.view(-1, 1, 1, 1)
    return torch.where(m, second, first), torch.where(m, first, second)


def swapped_residuals(noisy_syn: Tensor, restored_syn: Tensor, noisy_real: Tensor,
                      restored_real: Tensor) -> tuple[Tensor, Tensor]:
    """The negative conditions of the contrastive term: each input with the other domain's residual.

    Returns:
        (y_s + (r̂ − y_r), y_r + (ŝ − y_s)), N×C×H×W each, differentiable in the restored images.
    """
    return noisy_syn + (restored_real - noisy_real), noisy_real + (restored_syn - noisy_syn)


def contrastive_term(noise: Tensor, pred: Tensor, pred_neg: Tensor, margin: float = MARGIN) -> Tensor:
    """max(0, ‖ε − ε̂‖² − ‖ε − ε̂⁻‖² + margin) with batch-mean squared errors (Noise-DA's triplet loss).

    Equals ``margin`` when the prediction ignores the condition (ε̂ = ε̂⁻); 0-d float32 tensor.
    """
    pos = F.mse_loss(pred.float(), noise.float())
    neg = F.mse_loss(pred_neg.float(), noise.float())
    return torch.relu(pos - neg + margin)


def noise_loss(noise: Tensor, pred: Tensor, pred_neg: Tensor | None = None,
               margin: float = MARGIN) -> tuple[Tensor, dict[str, Tensor]]:
    """L_noise: ‖ε − ε̂‖², or with negatives (‖ε − ε̂‖² + contrastive term) / 2 (module docstring).

    Args:
        noise: ε, N×C×H×W. pred: ε̂ with the true (shuffled) conditions. pred_neg: ε̂⁻ with the
            residual-swapped conditions, or None (no contrastive term).
    Returns:
        (L_noise as a 0-d float32 tensor, {"mse": ‖ε − ε̂‖², "contrast": the term or 0}, detached).
    """
    mse = F.mse_loss(pred.float(), noise.float())
    if pred_neg is None:
        return mse, {"mse": mse.detach(), "contrast": torch.zeros((), device=mse.device)}
    contrast = contrastive_term(noise, pred, pred_neg, margin)
    return (mse + contrast) / 2, {"mse": mse.detach(), "contrast": contrast.detach()}
