"""Fitting the correlated-noise term (noisegen.isp.correlation) to target correlations.

Targets: the correlations of a unit-variance field per channel at the lags of noisegen.analysis.nlf.LAGS
(h1, v1, h2, v2, d1), and between channels at lag 0 (RG, RB, GB, noisegen.analysis.nlf.PAIRS). Unknowns:
``noise_corr`` (3 mirror-symmetric 5×5 kernels, 9 numbers each) and ``noise_mix`` (3×3), whose field has
exactly the correlations of noisegen.isp.correlation.field_correlation:

1. mixing: M̃ = C^½, the symmetric square root of the target cross-channel correlation matrix C (eigenvalues
   floored at 0.02, so that it stays invertible); then M̃M̃ᵀ = C: the cross-channel correlations are met.
2. kernels: the autocorrelation of channel i is Σ_c M̃_ic²·a_c(d), linear in the kernels' own autocorrelations
   a_c; solving it gives each kernel's target (clipped to [−0.45, 0.95]), and each kernel's quadrant is fitted
   to it by least squares (scipy.optimize.least_squares), with a small penalty on the corner entries
   (|dy| + |dx| ≥ 3), whose lags are not measured.
3. a joint least-squares polish of all 36 numbers against all targets, started from 1.-2.

A target no 5×5 field can reach (ρ(h1) = 0.99 with ρ(h2) = 0, say) is met as closely as least squares can;
``CorrelationFit`` reports what is left. Used by calibrate (noisegen.analysis.calibrate.candidates) to fit the
raw-domain term whose simulated sRGB residuals have the real residuals' correlations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares

from noisegen.analysis.nlf import LAGS
from noisegen.isp.correlation import CORR_RADIUS, field_correlation

__all__ = ["LAG_OFFSETS", "CorrelationFit", "fit_correlation", "cross_matrix"]

LAG_OFFSETS = np.array([[dy, dx] for _, dy, dx in LAGS], dtype=np.int64)
_CORNERS = np.array([[abs(dy) + abs(dx) >= 3 for dx in range(3)] for dy in range(3)]).ravel()
_PENALTY = 0.05      # weight of the corner entries' penalty (relative to a correlation error of 1)
_FLOOR = 0.02        # smallest eigenvalue kept in the cross-channel correlation matrix


@dataclass(frozen=True)
class CorrelationFit:
    """The fitted term and what it reaches.

    noise_corr: 27 numbers, noise_mix: 9 numbers (the SampleParams fields). auto: (3, n) and cross: (3,) the
    field's correlations at the target lags; auto_err, cross_err: the largest absolute errors against the targets.
    """

    noise_corr: tuple[float, ...]
    noise_mix: tuple[float, ...]
    auto: np.ndarray
    cross: np.ndarray
    auto_err: float
    cross_err: float


def cross_matrix(cross: np.ndarray) -> np.ndarray:
    """The 3×3 correlation matrix of the pair correlations (RG, RB, GB)."""
    rg, rb, gb = (float(v) for v in cross)
    return np.array([[1.0, rg, rb], [rg, 1.0, gb], [rb, gb, 1.0]])


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    m = v @ np.diag(np.sqrt(np.maximum(w, _FLOOR))) @ v.T
    return m / np.sqrt((m * m).sum(axis=1, keepdims=True))


class _Field:
    """Fast correlations of the field for the least squares: the 5×5 kernels as index maps into the quadrants,
    and for each lag the index pairs (p, p + d) inside the kernel, so a(d) = Σ k[p]·k[p + d] is a gather and a
    sum (the same numbers as noisegen.isp.correlation.field_correlation, which the result is checked against)."""

    def __init__(self, lags: np.ndarray) -> None:
        r = CORR_RADIUS
        idx = np.abs(np.arange(-r, r + 1))
        self.quad = (3 * idx[:, None] + idx[None, :]).ravel()          # kernel entry → quadrant entry
        size = 2 * r + 1
        self.pairs = []
        for dy, dx in lags:
            a = [(y * size + x, (y + dy) * size + x + dx) for y in range(size) for x in range(size)
                 if 0 <= y + dy < size and 0 <= x + dx < size]
            self.pairs.append((np.array([p for p, _ in a]), np.array([q for _, q in a])))

    def kernel_auto(self, q: np.ndarray) -> np.ndarray:
        """(n,) autocorrelation of the unit-energy kernel of quadrant q (9,)."""
        k = q[self.quad]
        k = k / np.sqrt(float(k @ k))
        return np.array([k[a] @ k[b] for a, b in self.pairs])

    def correlations(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(auto (3, n), cross (3,)) of x = 27 quadrant numbers + 9 mixing numbers."""
        a = np.stack([self.kernel_auto(x[9 * c:9 * c + 9]) for c in range(3)])
        m = x[27:].reshape(3, 3)
        m = m / np.sqrt((m * m).sum(axis=1, keepdims=True))
        mm = m @ m.T
        return (m * m) @ a, np.array([mm[0, 1], mm[0, 2], mm[1, 2]])


def _kernel(field_: _Field, target: np.ndarray) -> np.ndarray:
    delta = np.zeros(9)
    delta[0] = 1.0

    def residual(q: np.ndarray) -> np.ndarray:
        return np.concatenate([field_.kernel_auto(q) - target, _PENALTY * q[_CORNERS] / max(abs(q[0]), 1e-3)])

    return least_squares(residual, delta + 0.05, method="trf", xtol=1e-6, ftol=1e-6).x


def fit_correlation(auto: np.ndarray, cross: np.ndarray, lags: np.ndarray = LAG_OFFSETS) -> CorrelationFit:
    """noise_corr and noise_mix whose field has the target correlations (module docstring).

    Args:
        auto: (3, n) target correlation per channel (R, G, B) at each lag; NaN entries are not fitted.
        cross: (3,) target correlations RG, RB, GB at lag 0 (NaN: 0).
        lags: (n, 2) (row, column) offsets of ``auto`` (default: LAGS, h1 v1 h2 v2 d1), |·| ≤ 4.
    Returns:
        CorrelationFit.
    """
    auto = np.asarray(auto, dtype=np.float64)
    lags = np.asarray(lags, dtype=np.int64).reshape(-1, 2)
    if auto.shape != (3, len(lags)):
        raise ValueError(f"auto: expected shape (3, {len(lags)}), got {auto.shape}")
    if (np.abs(lags) > 2 * CORR_RADIUS).any():
        raise ValueError(f"lags: offsets beyond ±{2 * CORR_RADIUS} have zero correlation; got {lags.tolist()}")
    cross = np.nan_to_num(np.clip(np.asarray(cross, dtype=np.float64).reshape(3), -0.99, 0.99))
    ok = np.isfinite(auto)
    target = np.where(ok, np.clip(auto, -0.95, 0.99), 0.0)
    field_ = _Field(lags)
    m = _sqrt_psd(cross_matrix(cross))
    per_kernel = np.linalg.solve(m * m, target)   # Σ_c M̃_ic² a_c(d) = target_i(d)
    qs = [_kernel(field_, np.clip(per_kernel[c], -0.45, 0.95)) for c in range(3)]

    def residual(x: np.ndarray) -> np.ndarray:
        a, c = field_.correlations(x)
        corners = np.concatenate([x[9 * k:9 * k + 9][_CORNERS] / max(abs(x[9 * k]), 1e-3) for k in range(3)])
        return np.concatenate([(a - target)[ok], c - cross, _PENALTY * corners])

    x = np.concatenate([*qs, m.ravel()])
    if np.abs(residual(x)[:ok.sum() + 3]).max() > 0.002:   # the two steps leave an error: polish jointly
        x = least_squares(residual, x, method="trf", xtol=1e-6, ftol=1e-6, max_nfev=200).x
    q = x[:27].reshape(3, 9)
    q = q / np.sqrt((q * q).sum(axis=1, keepdims=True))   # scale is free: store unit-norm quadrants
    mix = x[27:].reshape(3, 3)
    mix = mix / np.sqrt((mix * mix).sum(axis=1, keepdims=True))
    a, c = field_correlation(q.ravel(), mix.ravel(), lags)   # the numbers of the model itself
    return CorrelationFit(tuple(float(v) for v in q.ravel()), tuple(float(v) for v in mix.ravel()), a, c,
                          float(np.abs(a - target)[ok].max()) if ok.any() else 0.0, float(np.abs(c - cross).max()))
