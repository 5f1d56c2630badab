"""The noise level function that the camera model predicts, exactly, in the 8-bit sRGB domain.

For a clean code k (x = k/255) the simulator (DESIGN.md §2, no mosaic, no JPEG) computes
L = f⁻¹(x), adds n ~ N(0, s²) with s² = g·(L·σ_s² + σ_c²), and writes y = round(255·f(clip(L + n))).
So y = j exactly when L + n falls between the irradiance thresholds t_{j-1} and t_j where 255·f
crosses j − ½ and j + ½ (clipping sends everything below t_0 to 0 and above t_254 to 255):

    P(y = j | k) = Φ((t_j − L)/s) − Φ((t_{j−1} − L)/s),   t_j = f⁻¹((j + ½)/255).

From these probabilities we get the mean and variance of the residual y/255 − x per code and
channel, including rounding and clipping: no first-order (f'·σ) approximation, valid at any noise
level. Binned with the pixel counts of real data, this is the NLF that noisegen.analysis.nlf measures.

Demosaicing (Malvar et al. 2004, bilinear) is linear, so the demosaiced noise at a pixel of Bayer
phase p is Σ_q w_pq n_q; with a locally constant σ its variance is g_p·σ², g_p = Σ_q w_pq². We get
the weights w by demosaicing unit impulses (``demosaic_gains``); the model then averages the
code moments over the four phases. This is an approximation (neighbours of other colours have
other σ, and the clean signal's own demosaicing error is ignored); calibration corrects it by
simulation (noisegen.analysis.calibrate.fit). JPEG has no closed form here.
"""

from __future__ import annotations

import functools

import numpy as np

from noisegen.analysis.nlf import LEVELS
from noisegen.crf.bank import CRF, invert_curve
from noisegen.isp.bayer import demosaic, parse_pattern
from noisegen.isp.noise_level import noise_variance
from noisegen.kernels.stats import _code_moments

__all__ = ["code_thresholds", "code_moments", "code_variance_table", "code_variance", "demosaic_gains",
           "binned_model_std"]


@functools.lru_cache(maxsize=256)
def _thresholds_cached(crf: CRF) -> np.ndarray:
    m = crf.forward_lut.shape[0]
    grid = np.arange(m) / (m - 1)
    return invert_curve(grid, crf.forward_lut.astype(np.float64), (np.arange(LEVELS - 1) + 0.5) / 255.0)


def code_thresholds(crf: CRF) -> np.ndarray:
    """Irradiances t_j (j = 0..254) where the rendered 8-bit code changes from j to j + 1 (float64 (255,))."""
    if not isinstance(crf, CRF):
        raise TypeError(f"crf: expected a noisegen.crf.bank.CRF, got {type(crf).__name__}")
    return _thresholds_cached(crf)


def _three(v, name: str) -> np.ndarray:
    a = np.broadcast_to(np.asarray(v, dtype=np.float64), (3,))
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError(f"{name}: expected finite values >= 0, got {v!r}")
    return a


def code_moments(crf: CRF, sigma_s, sigma_c, gains=None, codes: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the residual y/255 − k/255 for each clean code k and channel.

    Args:
        crf: the camera response curve of the simulation.
        sigma_s, sigma_c: scalars or per-channel (3,) noise parameters (full-scale units).
        gains: None (no demosaicing) or (P, 3) variance gains, one row per Bayer phase (from
            ``demosaic_gains``); the moments are averaged over the P phases.
        codes: the clean codes to evaluate (default all 256).
    Returns:
        (mean, var), float64 arrays (3, len(codes)), in full-scale units.
    """
    g = np.ones((1, 3)) if gains is None else np.asarray(gains, dtype=np.float64).reshape(-1, 3)
    k = np.ascontiguousarray(np.arange(LEVELS) if codes is None else np.asarray(codes, dtype=np.int64))
    L = np.ascontiguousarray(crf.inverse_u8.astype(np.float64)[k])
    var = noise_variance(L[:, None], _three(sigma_s, "sigma_s"), _three(sigma_c, "sigma_c"))  # (codes, 3)
    t = code_thresholds(crf)
    mean = np.zeros((3, k.size))
    second = np.zeros((3, k.size))
    m, v = np.empty(k.size), np.empty(k.size)
    for c in range(3):
        for p in range(g.shape[0]):
            s = np.sqrt(g[p, c] * var[:, c])
            _code_moments(k, L, s, t, m, v)
            mean[c] += m / 255.0
            second[c] += (v + m**2) / 255.0**2
        mean[c] /= g.shape[0]
        second[c] /= g.shape[0]
    return mean, np.maximum(second - mean**2, 0.0)


# Grid of the noise std s (irradiance units) for code_variance_table: 1e-5 .. 2 in steps of 5%
# (ln-spacing 0.049); log var is smooth in log s, and linear interpolation between the nodes gives
# the std within 0.1% of code_moments where the noise spans a code or more, 0.7% at worst below
# (tests/analysis/test_nlf.py).
_S_GRID = np.exp(np.arange(np.log(1e-5), np.log(2.0) + 0.049, 0.049))


@functools.lru_cache(maxsize=64)
def code_variance_table(crf: CRF) -> tuple[np.ndarray, np.ndarray]:
    """(log s grid (S,), log var (256, S)): the residual variance of every code for every noise std s.

    The moments of a code depend on σ_s, σ_c and demosaicing only through the total std s of the
    irradiance noise at that code, so one table per curve serves every fit (code_variance).
    """
    L = np.ascontiguousarray(crf.inverse_u8.astype(np.float64))
    t = code_thresholds(crf)
    k = np.arange(LEVELS, dtype=np.int64)
    out = np.empty((LEVELS, _S_GRID.size))
    m, v = np.empty(LEVELS), np.empty(LEVELS)
    for i, sv in enumerate(_S_GRID):
        _code_moments(k, L, np.full(LEVELS, sv), t, m, v)
        out[:, i] = v
    return np.log(_S_GRID), np.log(np.maximum(out, 1e-30)) - 2 * np.log(255.0)


def code_variance(crf: CRF, sigma_s, sigma_c, gains=None, codes: np.ndarray | None = None) -> np.ndarray:
    """Residual variance (3, len(codes)) per code and channel, as code_moments' but from the table.

    Interpolates log var linearly in log s (code_variance_table); s outside the table is clamped.
    """
    g = np.ones((1, 3)) if gains is None else np.asarray(gains, dtype=np.float64).reshape(-1, 3)
    k = np.arange(LEVELS) if codes is None else np.asarray(codes, dtype=np.int64)
    log_s, table = code_variance_table(crf)
    var = noise_variance(crf.inverse_u8.astype(np.float64)[k][:, None], _three(sigma_s, "sigma_s"),
                         _three(sigma_c, "sigma_c"))  # (codes, 3)
    step = log_s[1] - log_s[0]
    rows = table[k]
    out = np.zeros((3, k.size))
    for c in range(3):
        for p in range(g.shape[0]):
            ls = 0.5 * np.log(np.maximum(g[p, c] * var[:, c], 1e-300))
            pos = np.clip((ls - log_s[0]) / step, 0.0, log_s.size - 1 - 1e-9)
            i = pos.astype(np.int64)
            f = pos - i
            lv = rows[np.arange(k.size), i] * (1 - f) + rows[np.arange(k.size), np.minimum(i + 1, log_s.size - 1)] * f
            out[c] += np.exp(lv)
        out[c] /= g.shape[0]
    return out


@functools.lru_cache(maxsize=16)
def _gains_cached(pattern: str, method: str) -> np.ndarray:
    size, r = 16, 3
    out = np.zeros((4, 3))
    for p, (y0, x0) in enumerate(((6, 6), (6, 7), (7, 6), (7, 7))):
        acc = np.zeros(3)
        for dy in range(-r, r + 1):
            for dx in range(-r, r + 1):
                m = np.zeros((size, size), dtype=np.float32)
                m[y0 + dy, x0 + dx] = 1.0
                acc += demosaic(m, pattern, method)[y0, x0].astype(np.float64) ** 2
        out[p] = acc
    return out


def demosaic_gains(pattern: str, method: str = "malvar") -> np.ndarray:
    """Variance gains g (4, 3) of demosaicing white noise: one row per 2×2 Bayer phase, one column per channel.

    g[p, c] = Σ_q w² over the weights with which channel c at a pixel of phase p mixes the raw
    samples (1 where the channel was sampled there). Read off by demosaicing unit impulses.
    """
    pat = parse_pattern(pattern)
    if pat is None:
        raise ValueError("pattern: demosaic_gains needs a Bayer pattern, got None")
    return _gains_cached(pat.value, method).copy()


def binned_model_std(var: np.ndarray, counts: np.ndarray, bins: int) -> np.ndarray:
    """Model std per bin: sqrt of the count-weighted mean of per-code variances (as nlf_from_stats pools).

    Args:
        var: (3, 256) per-code residual variances (code_moments).
        counts: (3, 256) pixels per code in the data being compared (NoiseStats.level_n).
        bins: the bin count used for the measured NLF.
    Returns:
        (3, bins) std, NaN for empty bins.
    """
    b = np.minimum((np.arange(LEVELS) * bins) // LEVELS, bins - 1)
    out = np.full((3, bins), np.nan)
    for c in range(3):
        n = np.bincount(b, weights=counts[c], minlength=bins)
        v = np.bincount(b, weights=counts[c] * var[c], minlength=bins)
        out[c] = np.where(n > 0, np.sqrt(v / np.maximum(n, 1)), np.nan)
    return out
