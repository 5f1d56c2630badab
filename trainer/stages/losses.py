"""Training losses of AINDNet: the SN stage (L1 + multi-scale asymmetric σ loss) and the TF stage (L1).

References:
- Kim et al., "Transfer Learning from Synthetic to Real-Noise Denoising with Adaptive Instance
  Normalization", CVPR 2020: the noise level estimator, the SN-stage loss (weights 0.05, w₁ = 0.2,
  w₄ = 0.8, α = 0.25) and L1 only in the TF stage.
- Guo et al., "Toward Convolutional Blind Denoising of Real Photographs" (CBDNet), CVPR 2019,
  Eq. (4): the asymmetric loss, which penalises under-estimating σ (weight 1 - α) more than
  over-estimating it (weight α < 0.5), because a non-blind denoiser given too low a σ leaves
  noise, while too high a σ only over-smooths a little.

SN loss (docs/design.md §AINDNet):

    L = L1(x̂, x) + λ·L_ms-asymm,   λ = 0.05
    L_ms-asymm = Σ_{i∈{1,k}} w_i · mean(|α − 1(σ̂_i − σ_i < 0)| · (σ̂_i − σ_i)²),   w₁ = 0.2, w_k = 0.8

Scale k (the paper's "4") is the coarse scale of the estimator, ``AINDNet.coarse_factor``:
σ_k is the k×k average pool of the true σ map, and σ̂_k is the estimator's **coarse map itself**
(``model(noisy, return_coarse=True)[2]``), not the full-resolution σ̂ pooled by k. Why: the
estimator produces σ̂ at two scales (a map at 1/4 that is up-sampled and refined to full size,
σ̂ = 0.8·up(σ̂_coarse) + 0.2·fine) and the multi-scale loss supervises those two outputs, one per
scale; the released code also has a model variant that returns the down-scaled map beside the
output, which points the same way. Pooling the full-resolution σ̂ instead would supervise the
0.8/0.2 blend twice and never the coarse branch on its own. With the paper's estimator (one
pooling by 4) k = 4, matching i ∈ {1, 4}; with the released layout (pools 4 and 2) k = 8.

Each scale's term is a mean over its own elements, so the coarse term is not down-weighted by its
having k² times fewer pixels. Every loss is computed in float32 whatever the input dtype.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from trainer.models.aindnet import pad_to_multiple

__all__ = [
    "ASYMM_ALPHA",
    "LAMBDA_ASYMM",
    "SCALE_WEIGHTS",
    "asymmetric_loss",
    "downscale_sigma",
    "sn_loss",
    "tf_loss",
]

# Kim et al. 2020, SN-stage loss (as in docs/design.md §AINDNet).
ASYMM_ALPHA = 0.25  # α: weight of over-estimation; under-estimation weighs 1 - α = 0.75
LAMBDA_ASYMM = 0.05  # weight of L_ms-asymm against L1
SCALE_WEIGHTS = (0.2, 0.8)  # (w₁, w₄): full resolution, coarse scale


def _check_pair(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    for t, name in ((a, name_a), (b, name_b)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
        if not t.is_floating_point():
            raise TypeError(f"{name}: expected a floating tensor, got {t.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"{name_a} and {name_b}: expected equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}")


def asymmetric_loss(sigma_hat: Tensor, sigma: Tensor, alpha: float = ASYMM_ALPHA) -> Tensor:
    """Asymmetric squared error mean(|α − 1(σ̂ − σ < 0)|·(σ̂ − σ)²) (CBDNet Eq. 4, averaged).

    Args:
        sigma_hat: estimated noise level, any shape, ≥ 0 (same units as sigma).
        sigma: true noise level (standard deviation), same shape.
        alpha: weight of over-estimation (σ̂ > σ), in [0, 1]; under-estimation weighs 1 - α.

    Returns:
        0-d float32 tensor; differentiable in sigma_hat.
    """
    _check_pair(sigma_hat, sigma, "sigma_hat", "sigma")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"asymmetric_loss: alpha must be in [0, 1], got {alpha}")
    d = sigma_hat.float() - sigma.float()
    weight = (alpha - (d < 0).to(d.dtype)).abs()
    return (weight * d.square()).mean()


def downscale_sigma(sigma: Tensor, factor: int) -> Tensor:
    """σ_k: the k×k average pool of a N×C×H×W σ map, k = ``factor``.

    H and W that are not multiples of k are first reflect-padded at the bottom and right, exactly
    as ``AINDNet.forward`` pads the image, so the result has ⌈H/k⌉×⌈W/k⌉ cells aligned with the
    model's coarse map.
    """
    if sigma.ndim != 4:
        raise ValueError(f"downscale_sigma: expected shape (N, C, H, W), got {tuple(sigma.shape)}")
    if factor == 1:
        return sigma
    return F.avg_pool2d(pad_to_multiple(sigma, factor), factor)


def sn_loss(
    denoised: Tensor,
    clean: Tensor,
    sigma_hat: Tensor,
    sigma_coarse: Tensor,
    sigma: Tensor,
    *,
    coarse_factor: int,
    alpha: float = ASYMM_ALPHA,
    scale_weights: tuple[float, float] = SCALE_WEIGHTS,
    lambda_asymm: float = LAMBDA_ASYMM,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss of the SN stage: L1(x̂, x) + λ·Σ_i w_i·L_asymm(σ̂_i, σ_i) over the full and coarse scales.

    Args:
        denoised: x̂, N×3×H×W, the model's output (sRGB, [0, 1] scale).
        clean: x, N×3×H×W in [0, 1].
        sigma_hat: σ̂₁, N×3×H×W ≥ 0, the model's full-resolution noise level map.
        sigma_coarse: σ̂_k, N×3×⌈H/k⌉×⌈W/k⌉, the estimator's coarse map (``return_coarse=True``).
        sigma: σ₁, N×3×H×W, the true noise standard deviation (the shards' σ map).
        coarse_factor: k, ``model.coarse_factor`` (4 for the paper).
        alpha, scale_weights, lambda_asymm: α, (w₁, w_k) and λ; the paper's values by default.

    Returns:
        (total, components): total is a 0-d float32 tensor to back-propagate; components maps
        "total", "l1", "asymm" (= Σ w_i·L_asymm,i, before λ), "asymm_full" and "asymm_coarse"
        (unweighted) to detached 0-d tensors for logging.
    """
    _check_pair(denoised, clean, "denoised", "clean")
    _check_pair(sigma_hat, sigma, "sigma_hat", "sigma")
    if denoised.shape != sigma.shape:
        raise ValueError(
            f"denoised and sigma: expected equal shapes, got {tuple(denoised.shape)} and {tuple(sigma.shape)}"
        )
    sigma_k = downscale_sigma(sigma.float(), coarse_factor)
    if sigma_coarse.shape != sigma_k.shape:
        raise ValueError(
            f"sigma_coarse: expected shape {tuple(sigma_k.shape)} (σ pooled by coarse_factor={coarse_factor}), "
            f"got {tuple(sigma_coarse.shape)}; pass model.coarse_factor and the map from return_coarse=True"
        )
    l1 = F.l1_loss(denoised.float(), clean.float())
    asymm_full = asymmetric_loss(sigma_hat, sigma, alpha)
    asymm_coarse = asymmetric_loss(sigma_coarse, sigma_k, alpha)
    w_full, w_coarse = scale_weights
    asymm = w_full * asymm_full + w_coarse * asymm_coarse
    total = l1 + lambda_asymm * asymm
    parts = {"total": total, "l1": l1, "asymm": asymm, "asymm_full": asymm_full, "asymm_coarse": asymm_coarse}
    return total, {k: v.detach() for k, v in parts.items()}


def tf_loss(denoised: Tensor, clean: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Loss of the TF stage (and of the R/RT comparison modes): L1(x̂, x) only (Kim et al. 2020).

    Args:
        denoised, clean: N×3×H×W, [0, 1] scale.

    Returns:
        (total, {"total", "l1"}) as in ``sn_loss``.
    """
    _check_pair(denoised, clean, "denoised", "clean")
    l1 = F.l1_loss(denoised.float(), clean.float())
    return l1, {"total": l1.detach(), "l1": l1.detach()}
