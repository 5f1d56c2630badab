"""The D-BSN training loss: a negative log-likelihood of the noisy image under the network's Gaussians.

Reference: Wu, Liu, Cao, Ren, Zuo, "Unpaired Learning of Deep Image Denoising", ECCV 2020, §3.3. With
x the clean image, the blind-spot network's prior x ~ N(μ, Σ_μ) and the noise model y | x ~ N(x, Σ_n),
the noisy pixel is y ~ N(μ, Σ_y), Σ_y = Σ_μ + Σ_n. Per pixel (3×3 covariances, values in [0, 1]):

    "paper"    ℓ = ½ (y − μ)ᵀ Σ_y⁻¹ (y − μ) + ½ log|Σ_n| + ½ tr(Σ_n⁻¹ Σ_μ)
    "marginal" ℓ = ½ (y − μ)ᵀ Σ_y⁻¹ (y − μ) + ½ log|Σ_y|

"marginal" is the exact negative log-density −log N(y; μ, Σ_y) without its constant (3/2)·log 2π.
"paper" replaces ½ log|Σ_y| = ½ log|Σ_n| + ½ log|I + Σ_n⁻¹Σ_μ| by its upper bound ½ log|Σ_n| +
½ tr(Σ_n⁻¹Σ_μ) (log(1 + λ) ≤ λ for the eigenvalues λ of Σ_n⁻¹Σ_μ), which penalises Σ_μ more and so
keeps the noise in Σ_n rather than in the prior's uncertainty; it is the loss the paper states and the
one its released grey-level code (DBSNLoss) trains with. The released colour code finetunes with the
marginal form (MAPLoss). Both are offered (``DBSNTrainConfig.nll``); "paper" is the default.

The loss is the mean of ℓ over pixels and batch (the released code sums and divides by 2·batch, a
constant factor). Everything runs in float32 through the Cholesky factors (trainer.models.gaussian3).
"""

from __future__ import annotations

import torch
from torch import Tensor

from trainer.models.gaussian3 import add_cov, logdet, solve_lower

__all__ = ["NLL_KINDS", "WARMUP_SIGMA", "dbsn_nll", "nll_map", "warmup_loss"]

NLL_KINDS = ("paper", "marginal")
# σ₀ of the warm-up: μ is first fitted as under a fixed isotropic Σ_y = σ₀²·I (the released code pre-trains μ
# with L2 alone). 0.02 on the [0, 1] scale ≈ 5 levels of 8-bit noise, the order of real sRGB noise, so that
# this term's gradient is of the same size as the NLL's that trains the Σ heads beside it.
WARMUP_SIGMA = 0.02


def nll_map(y: Tensor, mu: Tensor, L_mu: Tensor, L_n: Tensor, kind: str = "paper") -> dict[str, Tensor]:
    """Per-pixel terms of the loss (module docstring), each N×H×W float32.

    Args:
        y, mu: N×3×H×W noisy image and the blind-spot estimate ([0, 1] scale).
        L_mu, L_n: Cholesky factors of Σ_μ and Σ_n, N×6×H×W (trainer.models.gaussian3 layout).
        kind: "paper" or "marginal".
    Returns:
        {"nll": ℓ, "maha": ½ (y−μ)ᵀΣ_y⁻¹(y−μ), "logdet": ½ log|Σ_n| ("paper") or ½ log|Σ_y|,
        "trace": ½ tr(Σ_n⁻¹Σ_μ) (zeros for "marginal")}.
    """
    if kind not in NLL_KINDS:
        raise ValueError(f"dbsn_nll: kind must be one of {NLL_KINDS}, got {kind!r}")
    if y.shape != mu.shape:
        raise ValueError(f"dbsn_nll: y and mu must have the same shape, got {tuple(y.shape)} and {tuple(mu.shape)}")
    y, mu, L_mu, L_n = (t if t.dtype == torch.float64 else t.float() for t in (y, mu, L_mu, L_n))
    L_y = add_cov(L_mu, L_n)
    maha = 0.5 * solve_lower(L_y, y - mu).square().sum(1)
    if kind == "marginal":
        half_logdet = 0.5 * logdet(L_y)
        trace = maha.new_zeros(maha.shape)
    else:
        half_logdet = 0.5 * logdet(L_n)
        # tr(Σ_n⁻¹Σ_μ) = ‖L_n⁻¹ L_μ‖²_F: solve against each column of L_μ (columns (l00, l10, l20), (0, l11, l21),
        # (0, 0, l22) in the 6-channel layout)
        zero = torch.zeros_like(L_mu[:, :1])
        cols = (L_mu[:, [0, 1, 3]], torch.cat([zero, L_mu[:, [2, 4]]], 1), torch.cat([zero, zero, L_mu[:, [5]]], 1))
        trace = 0.5 * sum(solve_lower(L_n, c).square().sum(1) for c in cols)
    return {"nll": maha + half_logdet + trace, "maha": maha, "logdet": half_logdet, "trace": trace}


def dbsn_nll(y: Tensor, mu: Tensor, L_mu: Tensor, L_n: Tensor, kind: str = "paper") -> tuple[Tensor, dict[str, Tensor]]:
    """The training loss: the mean of ``nll_map``'s ℓ, and its terms' means (detached) for the log.

    Returns:
        (loss 0-d float32 tensor, {"total", "maha", "logdet", "trace"}).
    """
    terms = nll_map(y, mu, L_mu, L_n, kind)
    loss = terms["nll"].mean()
    return loss, {"total": loss.detach(), "maha": terms["maha"].mean().detach(),
                  "logdet": terms["logdet"].mean().detach(), "trace": terms["trace"].mean().detach()}


def warmup_loss(y: Tensor, mu: Tensor, L_mu: Tensor, L_n: Tensor,
                kind: str = "paper") -> tuple[Tensor, dict[str, Tensor]]:
    """The warm-up objective (the released code's pre-training, in one step): μ learns from ½‖y − μ‖²/σ₀²
    (WARMUP_SIGMA) while Σ_μ and Σ_n learn from the NLL with μ held fixed (detached), so that the noise
    model follows μ as it improves instead of the NLL's 1/Σ weights steering a poor μ.

    Returns:
        (loss, {"total", "maha", "logdet", "trace"}): "total" is the NLL at the detached μ, comparable with
        the joint phase's loss; the L2 term is not logged.
    """
    terms = nll_map(y, mu.detach(), L_mu, L_n, kind)
    nll = terms["nll"].mean()
    l2 = 0.5 * (y.float() - mu.float()).square().sum(1).mean() / WARMUP_SIGMA**2
    return nll + l2, {"total": nll.detach(), "maha": terms["maha"].mean().detach(),
                      "logdet": terms["logdet"].mean().detach(), "trace": terms["trace"].mean().detach()}
