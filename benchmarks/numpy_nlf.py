"""A plain-numpy implementation of noisegen.analysis.nlf.image_stats: the oracle of tests/analysis/test_nlf.py and
the baseline of bench_stats.py.

Built from bincount, where and products over whole arrays (no σ map): the same sums as the numba
kernel, in a different summation order, so the two agree to rounding (the test uses rtol 1e-10).
"""

from __future__ import annotations

import math

import numpy as np

from noisegen.analysis.nlf import LAGS, LEVELS, PAIRS, NoiseStats

__all__ = ["image_stats_numpy"]


def image_stats_numpy(clean: np.ndarray, noisy: np.ndarray) -> NoiseStats:
    """NoiseStats of one (clean, noisy) pair of uint8 H×W×3 images, as noisegen.analysis.nlf.image_stats."""
    h, w, _ = clean.shape
    st = NoiseStats(n_images=1, n_pixels=h * w)
    x = clean.astype(np.int64)
    r = (noisy.astype(np.float64) - clean) / 255.0
    clipped = (noisy == 0) | (noisy == 255)
    valid = ~clipped & (clean > 0) & (clean < 255)
    rc = np.zeros_like(r)
    for c in range(3):
        codes, rr = x[:, :, c].ravel(), r[:, :, c].ravel()
        st.level_n[c] = np.bincount(codes, minlength=LEVELS)
        st.level_sum[c] = np.bincount(codes, weights=rr, minlength=LEVELS)
        st.level_sum2[c] = np.bincount(codes, weights=rr * rr, minlength=LEVELS)
        st.level_clip[c] = np.bincount(codes, weights=clipped[:, :, c].ravel(), minlength=LEVELS)
        vm = valid[:, :, c].ravel()
        nv = np.bincount(codes[vm], minlength=LEVELS)
        mean = np.divide(np.bincount(codes[vm], weights=rr[vm], minlength=LEVELS), nv, out=np.zeros(LEVELS),
                         where=nv > 0)
        rc[:, :, c] = np.where(valid[:, :, c], r[:, :, c] - mean[x[:, :, c]], 0.0)
    for d, (_, dy, dx) in enumerate(LAGS):
        both = valid[: h - dy, : w - dx] & valid[dy:, dx:]
        a, b = np.where(both, rc[: h - dy, : w - dx], 0.0), np.where(both, rc[dy:, dx:], 0.0)
        st.lag_xy[:, d] = np.einsum("ijc,ijc->c", a, b)
        st.lag_xx[:, d] = np.einsum("ijc,ijc->c", a, a)
        st.lag_yy[:, d] = np.einsum("ijc,ijc->c", b, b)
    for p, (_, i, j) in enumerate(PAIRS):
        both = valid[:, :, i] & valid[:, :, j]
        a, b = rc[:, :, i][both], rc[:, :, j][both]
        st.cross_xy[p], st.cross_xx[p], st.cross_yy[p] = a @ b, a @ a, b @ b
    mse = float(np.mean(r * r))
    st.psnr.append(math.inf if mse == 0 else 10 * math.log10(1 / mse))
    return st
