"""numba kernels for noise statistics of noisy/clean pairs (behind noisegen.analysis.nlf.image_stats).

Pure array functions: no I/O, no validation, no allocation of outputs (callers pass zeroed arrays).
Images are uint8 C-contiguous (H, W, 3); residuals are r = (noisy − clean)/255 in float64.
Several times faster than numpy on a 512×512 pair (benchmarks/bench_stats.py; figures in docs/results.md).
``_code_moments`` is the exact per-code model of noisegen.analysis.calibrate.model_nlf, banded to ±7 σ.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _level_sums(clean, noisy, n, s1, s2, clip, nv, sv):  # pragma: no cover - numba
    """Per channel c and clean code k: n, Σr, Σr², clipped count; nv, Σr over *valid* pixels.

    A value is clipped when noisy is 0 or 255; valid = not clipped and 0 < clean < 255.
    n, clip, nv: int64 (3, 256); s1, s2, sv: float64 (3, 256). All accumulated (+=).
    """
    h, w = clean.shape[0], clean.shape[1]
    for i in range(h):
        for j in range(w):
            for c in range(3):
                k = np.int64(clean[i, j, c])
                y = np.int64(noisy[i, j, c])
                r = (y - k) / 255.0
                n[c, k] += 1
                s1[c, k] += r
                s2[c, k] += r * r
                if y == 0 or y == 255:
                    clip[c, k] += 1
                elif k > 0 and k < 255:
                    nv[c, k] += 1
                    sv[c, k] += r


@njit(cache=True, nogil=True)
def _centred(clean, noisy, mean, rc, valid):  # pragma: no cover - numba
    """rc = r − mean[c, clean] on valid values (0 elsewhere); valid as in _level_sums.

    mean: float64 (3, 256); rc: float64 (H, W, 3); valid: bool (H, W, 3). Overwritten.
    """
    h, w = clean.shape[0], clean.shape[1]
    for i in range(h):
        for j in range(w):
            for c in range(3):
                k = np.int64(clean[i, j, c])
                y = np.int64(noisy[i, j, c])
                ok = y != 0 and y != 255 and k > 0 and k < 255
                valid[i, j, c] = ok
                rc[i, j, c] = (y - k) / 255.0 - mean[c, k] if ok else 0.0


@njit(cache=True, nogil=True)
def _lag_sums(rc, valid, lags, xy, xx, yy):  # pragma: no cover - numba
    """For each lag d = (dy, dx) in ``lags`` (int64 (D, 2), dy, dx ≥ 0) and channel c, over pixel pairs
    p, p + d both valid: xy[c, d] += rc[p]·rc[p+d], xx += rc[p]², yy += rc[p+d]². Outputs float64 (3, D)."""
    h, w = rc.shape[0], rc.shape[1]
    for d in range(lags.shape[0]):
        dy, dx = lags[d, 0], lags[d, 1]
        for i in range(h - dy):
            for j in range(w - dx):
                for c in range(3):
                    if valid[i, j, c] and valid[i + dy, j + dx, c]:
                        a = rc[i, j, c]
                        b = rc[i + dy, j + dx, c]
                        xy[c, d] += a * b
                        xx[c, d] += a * a
                        yy[c, d] += b * b


@njit(cache=True, nogil=True)
def _cross_sums(rc, valid, pairs, xy, xx, yy):  # pragma: no cover - numba
    """For each channel pair (a, b) in ``pairs`` (int64 (P, 2)), over pixels valid in both channels:
    xy[p] += rc[a]·rc[b], xx[p] += rc[a]², yy[p] += rc[b]². Outputs float64 (P,)."""
    h, w = rc.shape[0], rc.shape[1]
    for i in range(h):
        for j in range(w):
            for p in range(pairs.shape[0]):
                a, b = pairs[p, 0], pairs[p, 1]
                if valid[i, j, a] and valid[i, j, b]:
                    u = rc[i, j, a]
                    v = rc[i, j, b]
                    xy[p] += u * v
                    xx[p] += u * u
                    yy[p] += v * v


@njit(cache=True, nogil=True)
def _code_moments(codes, L, s, t, mean, var):  # pragma: no cover - numba
    """Mean and variance of y − k (in codes) where y = the code of L[i] + s[i]·z, z ~ N(0, 1), k = codes[i].

    The code is j when L + s·z lies in (t[j−1], t[j]] (t[−1] = −inf, t[255] = +inf: clipping).
    codes: int64 (K,) clean codes; L, s: float64 (K,) their irradiance and noise std; t: float64 (255,)
    increasing thresholds; mean, var: float64 (K,) outputs (overwritten). Only thresholds within
    ±7 s of L are evaluated: beyond them Φ differs from 0 or 1 by < 1.3e-12.
    """
    nt = t.shape[0]
    for i in range(L.shape[0]):
        k = codes[i]
        if s[i] <= 0.0:
            j = np.searchsorted(t, L[i], side="left")  # y = j where t[j-1] < L <= t[j]
            mean[i] = j - k
            var[i] = 0.0
            continue
        lo = np.searchsorted(t, L[i] - 7.0 * s[i], side="left")
        hi = min(np.searchsorted(t, L[i] + 7.0 * s[i], side="right"), nt)
        inv = 1.0 / (s[i] * np.sqrt(2.0))
        m1 = 0.0
        m2 = 0.0
        prev = 0.0
        for j in range(lo, hi):
            cdf = 0.5 * math.erfc(-(t[j] - L[i]) * inv)
            p = cdf - prev
            d = j - k
            m1 += p * d
            m2 += p * d * d
            prev = cdf
        d = hi - k  # the rest of the mass lies above the last threshold evaluated
        p = 1.0 - prev
        m1 += p * d
        m2 += p * d * d
        mean[i] = m1
        var[i] = max(m2 - m1 * m1, 0.0)
