"""Fitting σ_s, σ_c of the camera model to a measured sRGB noise level function, for one CRF.

The model NLF is noisegen.analysis.calibrate.model_nlf's exact per-code prediction (rounding and clipping included),
pooled over each bin with the measured pixel counts, optionally corrected per bin by what
simulation shows that the analytic model misses (noisegen.analysis.calibrate.fit): σ_bin = sqrt(ratio²·σ_model²
+ extra_var), where extra_var is the residual variance that is there without noise (the
demosaicing and JPEG error of the clean signal itself) and ratio the rest (JPEG smoothing, the
mixing of neighbours with other σ). We minimise the squared log ratio of model to measured std
over the valid bins (a relative error), each bin weighted by its pixel count (the variance of a
log-std estimate is ≈ 1/(2n)), with scipy.optimize.least_squares over (log σ_s, log σ_c), started from
a closed-form guess.

Start (first-order error propagation, Foi et al. 2008 use the same model in the raw domain): the
sRGB std at a bin is ≈ f'(L)·sqrt(g·(L·σ_s² + σ_c²)), so (std/f'(L))²/g is linear in L with slope
σ_s² and intercept σ_c²; non-negative least squares gives both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import least_squares, nnls

from noisegen.analysis.calibrate.model_nlf import binned_model_std, code_variance
from noisegen.analysis.nlf import LEVELS, NLF
from noisegen.crf.bank import CRF

__all__ = ["SigmaFit", "model_nlf_std", "fit_sigma", "SIGMA_BOUNDS"]

# Search range of both parameters (full-scale units): below 1e-4 noise is under 1/40 of a code in
# the raw domain; 1.0 is far above any camera (CBDNet draws σ_s < 0.16, σ_c < 0.06).
SIGMA_BOUNDS = (1e-4, 1.0)


@dataclass(frozen=True)
class SigmaFit:
    """Result of fit_sigma: parameters, the loss (count-weighted mean squared log ratio), the model std
    (3, B), the mask of bins used and the per-channel noise scale (σ of channel c = scale[c]·σ)."""

    sigma_s: float
    sigma_c: float
    loss: float
    model_std: np.ndarray
    used: np.ndarray
    scale: tuple[float, float, float] = (1.0, 1.0, 1.0)

    @property
    def sigma_s_rgb(self) -> list[float]:
        return [self.sigma_s * a for a in self.scale]

    @property
    def sigma_c_rgb(self) -> list[float]:
        return [self.sigma_c * a for a in self.scale]


def _codes_needed(mask: np.ndarray, counts: np.ndarray, bins: int) -> np.ndarray:
    b = np.minimum((np.arange(LEVELS) * bins) // LEVELS, bins - 1)
    need = np.zeros(LEVELS, dtype=bool)
    for c in range(3):
        need |= mask[c][b] & (counts[c] > 0)
    return np.flatnonzero(need)


def model_nlf_std(crf: CRF, sigma_s, sigma_c, counts: np.ndarray, bins: int, gains=None,
                  codes: np.ndarray | None = None) -> np.ndarray:
    """Model std (3, bins) of the binned sRGB NLF for these counts (only ``codes`` evaluated when given).

    Uses the tabulated variances (noisegen.analysis.calibrate.model_nlf.code_variance, within 0.1% of the exact model).
    """
    if codes is None:
        var = code_variance(crf, sigma_s, sigma_c, gains)
    else:
        var = np.zeros((3, LEVELS))
        var[:, codes] = code_variance(crf, sigma_s, sigma_c, gains, codes=codes)
    return binned_model_std(var, counts, bins)


def _start(crf: CRF, target: NLF, used: np.ndarray, ratio: np.ndarray, gains, extra: np.ndarray) -> tuple[float, float]:
    m = crf.forward_lut.shape[0] - 1
    g = np.ones(3) if gains is None else np.asarray(gains, dtype=float).reshape(-1, 3).mean(0)
    rows, ys = [], []
    for c in range(3):
        for b in np.flatnonzero(used[c]):
            x = float(target.x[c, b])
            L = float(np.interp(x, np.arange(crf.inverse_lut.size) / (crf.inverse_lut.size - 1), crf.inverse_lut))
            h = 2.0 / m
            lo, hi = max(L - h, 0.0), min(L + h, 1.0)
            grid = np.arange(m + 1) / m
            slope = (np.interp(hi, grid, crf.forward_lut) - np.interp(lo, grid, crf.forward_lut)) / max(hi - lo, 1e-12)
            if slope <= 1e-6:
                continue
            s = np.sqrt(max(target.std_q[c, b] ** 2 - extra[c, b], 0.25 * target.std_q[c, b] ** 2)) / ratio[c, b]
            rows.append([L, 1.0])
            ys.append((s / slope) ** 2 / g[c])
    if len(rows) < 2:
        return 0.01, 0.01
    A, y = np.array(rows), np.array(ys)
    w = 1.0 / np.maximum(y, 1e-12)  # relative weighting: every bin counts alike
    coef, _ = nnls(A * w[:, None], y * w)
    lo_b, hi_b = SIGMA_BOUNDS
    return (float(np.clip(np.sqrt(coef[0]), lo_b * 2, hi_b / 2)), float(np.clip(np.sqrt(coef[1]), lo_b * 2, hi_b / 2)))


def fit_sigma(crf: CRF, target: NLF, counts: np.ndarray, *, gains=None, ratio: np.ndarray | None = None,
              channels: tuple[int, ...] = (0, 1, 2), start: tuple[float, float] | None = None,
              channel_scale: bool = False, scale_start: tuple[float, float, float] | None = None,
              extra_var: np.ndarray | None = None) -> SigmaFit:
    """Least-squares σ_s, σ_c (shared by ``channels``) of the model NLF to the measured one.

    Args:
        crf: the candidate camera response curve.
        target: measured NLF (noisegen.analysis.nlf.nlf_from_stats); its valid bins are used.
        counts: (3, 256) pixels per clean code behind ``target`` (NoiseStats.level_n).
        gains: demosaicing variance gains (noisegen.analysis.calibrate.model_nlf.demosaic_gains) or None.
        ratio: (3, B) multiplicative correction of the model per bin (default 1); bins where it is
            NaN (unknown) are left out of the fit.
        channels: channels that share the parameters (one channel for per-channel fits).
        start: starting (σ_s, σ_c); default the closed-form guess of the module docstring.
        channel_scale: also fit a noise scale for R and B relative to G (σ_s and σ_c of channel c
            are scale[c]·σ_s and scale[c]·σ_c; white balance gains scale a camera's noise so).
            Needs all three channels.
        scale_start: starting scales (default 1).
        extra_var: (3, B) variance added to the model in every bin (the residual that is there
            without noise: the demosaicing and JPEG error of the clean signal); the fitted model is
            sqrt(ratio²·model² + extra_var).
    Returns:
        SigmaFit. With no valid bin the loss is inf and the start is returned.
    """
    bins = target.std.shape[1]
    used = target.valid.copy()
    if ratio is None:
        ratio = np.ones((3, bins))
    else:
        known = np.isfinite(ratio) & (ratio > 0)
        used &= known
        ratio = np.where(known, ratio, 1.0)
    for c in range(3):
        if c not in channels:
            used[c] = False
    if not used.any():
        s0 = start or (0.01, 0.01)
        return SigmaFit(s0[0], s0[1], float("inf"), np.full((3, bins), np.nan), used,
                        tuple(scale_start) if channel_scale and scale_start is not None else (1.0, 1.0, 1.0))
    extra = (np.zeros((3, bins)) if extra_var is None
             else np.where(np.isfinite(extra_var), np.maximum(extra_var, 0.0), 0.0))
    used &= target.std > 0  # a bin without noise (log 0) tells the fit nothing
    if not used.any():
        s0 = start or (0.01, 0.01)
        return SigmaFit(s0[0], s0[1], float("inf"), np.full((3, bins), np.nan), used,
                        tuple(scale_start) if channel_scale and scale_start is not None else (1.0, 1.0, 1.0))
    codes = _codes_needed(used, counts, bins)
    log_t = np.log(target.std[used])
    # var(log σ̂) ≈ 1/(2n): weight each bin by its pixel count (normalised to mean 1), so that sparse
    # bins, whose estimates scatter by several percent, do not decide the fit
    w = target.count[used].astype(float)
    sw = np.sqrt(w / w.mean())
    s0 = start or _start(crf, target, used, ratio, gains, extra)
    lo, hi = np.log(SIGMA_BOUNDS[0]), np.log(SIGMA_BOUNDS[1])

    def residual(theta: np.ndarray) -> np.ndarray:
        m = model_nlf_std(crf, np.exp(theta[0]), np.exp(theta[1]), counts, bins, gains, codes)
        return sw * (0.5 * np.log(np.maximum((m[used] * ratio[used]) ** 2 + extra[used], 1e-24)) - log_t)

    theta0 = np.clip(np.log(np.asarray(s0, dtype=float)), lo + 1e-6, hi - 1e-6)
    if channel_scale:
        if tuple(channels) != (0, 1, 2):
            raise ValueError("channel_scale needs all three channels")
        a0 = np.log(np.clip(np.asarray(scale_start if scale_start is not None else (1.0, 1.0, 1.0), dtype=float),
                            0.3, 3.0))
        scale_of = lambda th: np.exp(np.array([th[2], 0.0, th[3]]))  # noqa: E731 - G is the reference

        def residual_scaled(theta: np.ndarray) -> np.ndarray:
            a = scale_of(theta)
            m = model_nlf_std(crf, np.exp(theta[0]) * a, np.exp(theta[1]) * a, counts, bins, gains, codes)
            return sw * (0.5 * np.log(np.maximum((m[used] * ratio[used]) ** 2 + extra[used], 1e-24)) - log_t)

        # scales are relative to G: theta = (log σ_s, log σ_c, log a_R, log a_B), a_G = 1, a in [1/4, 4]
        x0 = np.concatenate([theta0, a0[[0, 2]] - a0[1]])  # a0 holds log scales; the start σ is G's
        bounds = ([lo, lo, np.log(0.25), np.log(0.25)], [hi, hi, np.log(4.0), np.log(4.0)])
        res = least_squares(residual_scaled, np.clip(x0, np.array(bounds[0]) + 1e-6, np.array(bounds[1]) - 1e-6),
                            bounds=bounds, x_scale=1.0, diff_step=1e-3, xtol=1e-4, ftol=1e-6, max_nfev=100)
        a = scale_of(res.x)
        s, c = float(np.exp(res.x[0])), float(np.exp(res.x[1]))
        model = model_nlf_std(crf, s * a, c * a, counts, bins, gains, codes)
        return SigmaFit(s, c, float(np.mean(res.fun**2)), model, used, tuple(float(v) for v in a))
    res = least_squares(residual, theta0, bounds=([lo, lo], [hi, hi]), x_scale=1.0, diff_step=1e-3,
                        xtol=1e-4, ftol=1e-6, max_nfev=60)
    s, c = float(np.exp(res.x[0])), float(np.exp(res.x[1]))
    model = model_nlf_std(crf, s, c, counts, bins, gains, codes)
    return SigmaFit(s, c, float(np.mean(res.fun**2)), model, used)
