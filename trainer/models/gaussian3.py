"""Per-pixel 3×3 Gaussians in Cholesky form: the covariance algebra of D-BSN (Wu et al., ECCV 2020).

A covariance Σ (3×3, symmetric positive definite) is carried by its lower-triangular Cholesky factor
L (Σ = L·Lᵀ, positive diagonal), stored per pixel as 6 channels of an N×6×H×W tensor in the order
(l00, l10, l11, l20, l21, l22). A vector field (a residual, an image) is N×3×H×W. Everything is
closed form (3×3 triangular solves and the 3×3 Cholesky), elementwise over pixels, differentiable,
and exact up to float rounding: no batched LAPACK calls, no explicit inverse, log-determinants as
2·Σ log l_ii. Inputs should be float32 or float64 (bf16 has too few bits for these solves).

- ``factor_from_raw``: network output → L (softplus diagonal plus a floor, so Σ is always PD);
- ``covariance`` (L → Σ's 6 entries), ``cholesky`` (Σ's 6 entries → L), ``add_cov``;
- ``solve_lower`` (L⁻¹v), ``solve_upper`` (L⁻ᵀv), ``logdet`` (log|Σ|), ``diag_std`` (√Σ_ii);
- ``map_combine``: x̂ = (Σ_μ⁻¹ + Σ_n⁻¹)⁻¹(Σ_μ⁻¹μ + Σ_n⁻¹y), computed as μ + Σ_μ(Σ_μ + Σ_n)⁻¹(y − μ)
  (the same matrix identity, with one solve against the well-conditioned Σ_y instead of three inverses).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SOFTPLUS_SHIFT", "factor_from_raw", "covariance", "cholesky", "add_cov", "solve_lower", "solve_upper",
           "logdet", "diag_std", "matvec", "map_combine", "to_matrix"]

# The authors' code maps the estimator's output through softplus(x − 4) (+ 1e-3): a fresh network (outputs
# near 0) then starts at σ ≈ softplus(−4) ≈ 0.018, about 5 levels of 8-bit noise, instead of softplus(0) ≈ 0.69.
SOFTPLUS_SHIFT = 4.0

# Entries of the 6-channel layout: (row, column) of l00, l10, l11, l20, l21, l22.
_IDX = ((0, 0), (1, 0), (1, 1), (2, 0), (2, 1), (2, 2))


def _check(t: Tensor, channels: int, name: str) -> None:
    if not isinstance(t, Tensor) or t.ndim != 4 or t.shape[1] != channels:
        got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
        raise ValueError(f"{name}: expected a tensor of shape (N, {channels}, H, W), got {got}")


def factor_from_raw(raw: Tensor, floor: float) -> Tensor:
    """L from unconstrained N×6×H×W network output: diagonal softplus(raw − SOFTPLUS_SHIFT) + floor (> 0),
    off-diagonal entries as they are. ``floor`` (> 0, standard-deviation units) bounds Σ away from singular."""
    _check(raw, 6, "factor_from_raw")
    if not floor > 0:
        raise ValueError(f"factor_from_raw: floor must be > 0, got {floor}")
    l00, l10, l11, l20, l21, l22 = raw.unbind(1)
    d = [F.softplus(v - SOFTPLUS_SHIFT) + floor for v in (l00, l11, l22)]
    return torch.stack([d[0], l10, d[1], l20, l21, d[2]], dim=1)


def covariance(L: Tensor) -> Tensor:
    """Σ = L·Lᵀ as its 6 lower entries (s00, s10, s11, s20, s21, s22), N×6×H×W."""
    _check(L, 6, "covariance")
    l00, l10, l11, l20, l21, l22 = L.unbind(1)
    return torch.stack([l00 * l00, l10 * l00, l10 * l10 + l11 * l11, l20 * l00, l20 * l10 + l21 * l11,
                        l20 * l20 + l21 * l21 + l22 * l22], dim=1)


def cholesky(S: Tensor) -> Tensor:
    """The Cholesky factor of Σ given as 6 lower entries (Σ must be positive definite), N×6×H×W."""
    _check(S, 6, "cholesky")
    s00, s10, s11, s20, s21, s22 = S.unbind(1)
    l00 = torch.sqrt(s00)
    l10 = s10 / l00
    l20 = s20 / l00
    l11 = torch.sqrt(s11 - l10 * l10)
    l21 = (s21 - l20 * l10) / l11
    l22 = torch.sqrt(s22 - l20 * l20 - l21 * l21)
    return torch.stack([l00, l10, l11, l20, l21, l22], dim=1)


def add_cov(La: Tensor, Lb: Tensor) -> Tensor:
    """The Cholesky factor of La·Laᵀ + Lb·Lbᵀ (e.g. Σ_y = Σ_μ + Σ_n)."""
    return cholesky(covariance(La) + covariance(Lb))


def solve_lower(L: Tensor, v: Tensor) -> Tensor:
    """L⁻¹v by forward substitution; v N×3×H×W → N×3×H×W."""
    _check(L, 6, "solve_lower")
    _check(v, 3, "solve_lower")
    l00, l10, l11, l20, l21, l22 = L.unbind(1)
    v0, v1, v2 = v.unbind(1)
    z0 = v0 / l00
    z1 = (v1 - l10 * z0) / l11
    z2 = (v2 - l20 * z0 - l21 * z1) / l22
    return torch.stack([z0, z1, z2], dim=1)


def solve_upper(L: Tensor, v: Tensor) -> Tensor:
    """L⁻ᵀv by back substitution; v N×3×H×W → N×3×H×W."""
    _check(L, 6, "solve_upper")
    _check(v, 3, "solve_upper")
    l00, l10, l11, l20, l21, l22 = L.unbind(1)
    v0, v1, v2 = v.unbind(1)
    z2 = v2 / l22
    z1 = (v1 - l21 * z2) / l11
    z0 = (v0 - l10 * z1 - l20 * z2) / l00
    return torch.stack([z0, z1, z2], dim=1)


def matvec(S: Tensor, v: Tensor) -> Tensor:
    """Σ·v for Σ given as 6 lower entries (symmetric); v N×3×H×W."""
    _check(S, 6, "matvec")
    _check(v, 3, "matvec")
    s00, s10, s11, s20, s21, s22 = S.unbind(1)
    v0, v1, v2 = v.unbind(1)
    return torch.stack([s00 * v0 + s10 * v1 + s20 * v2, s10 * v0 + s11 * v1 + s21 * v2,
                        s20 * v0 + s21 * v1 + s22 * v2], dim=1)


def logdet(L: Tensor) -> Tensor:
    """log|Σ| = 2·(log l00 + log l11 + log l22), N×H×W."""
    _check(L, 6, "logdet")
    return 2.0 * (torch.log(L[:, 0]) + torch.log(L[:, 2]) + torch.log(L[:, 5]))


def diag_std(L: Tensor) -> Tensor:
    """√Σ_ii per channel, N×3×H×W: the per-channel noise level (standard deviation) of the Gaussian."""
    S = covariance(L)
    return torch.sqrt(torch.stack([S[:, 0], S[:, 2], S[:, 5]], dim=1))


def map_combine(mu: Tensor, y: Tensor, L_mu: Tensor, L_n: Tensor) -> Tensor:
    """MAP estimate of x given the prior N(μ, Σ_μ) and the likelihood N(y; x, Σ_n) (D-BSN's Bayes step):

        x̂ = (Σ_μ⁻¹ + Σ_n⁻¹)⁻¹ (Σ_μ⁻¹ μ + Σ_n⁻¹ y) = μ + Σ_μ (Σ_μ + Σ_n)⁻¹ (y − μ).

    Args:
        mu, y: N×3×H×W (e.g. [0, 1] sRGB). L_mu, L_n: Cholesky factors of Σ_μ and Σ_n, N×6×H×W.
    Returns:
        x̂, N×3×H×W in the dtype of the inputs.
    """
    L_y = add_cov(L_mu, L_n)
    w = solve_upper(L_y, solve_lower(L_y, y - mu))  # Σ_y⁻¹ (y − μ)
    return mu + matvec(covariance(L_mu), w)


def to_matrix(L: Tensor) -> Tensor:
    """The 6-channel factor as N×H×W×3×3 lower-triangular matrices (for tests and inspection)."""
    _check(L, 6, "to_matrix")
    n, _, h, w = L.shape
    out = L.new_zeros(n, h, w, 3, 3)
    for k, (i, j) in enumerate(_IDX):
        out[..., i, j] = L[:, k]
    return out
