"""Lookup-table kernels for camera response curves (CRFs).

Pure numba kernels behind the typed wrappers in ``noisegen.crf.bank``: no I/O, no RNG, no validation.
Callers pass C-contiguous 1-D arrays (``x.ravel()``) of the dtypes stated below.

- ``_lut_interp``: piecewise-linear interpolation of a table sampled on the uniform grid
  ``k / (M - 1)``, k = 0..M-1, over [0, 1]. Inputs are clamped to [0, 1] first. The position in
  the table is computed in float64, so float32 inputs lose no precision before the lookup.
- ``_lut_gather_u8``: ``out[i] = table256[codes[i]]``, for 8-bit input where a function needs
  only be known at the 256 code values k/255 (the inverse CRF applied to sRGB-encoded images).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _lut_interp(x: np.ndarray, lut: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - numba
    """out[i] = linear interpolation of ``lut`` (float32, M >= 2, uniform over [0, 1]) at clamp(x[i], 0, 1).

    x: float32 (n,); lut: float32 (M,); out: float32 (n,). x must hold no NaN (checked by the caller).
    """
    m1 = lut.shape[0] - 1
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        if v <= 0.0:
            out[i] = lut[0]
            continue
        if v >= 1.0:
            out[i] = lut[m1]
            continue
        pos = v * m1
        k = np.int64(pos)
        if k >= m1:  # v just below 1.0 can round up to m1
            k = m1 - 1
        t = pos - k
        a = np.float64(lut[k])
        b = np.float64(lut[k + 1])
        out[i] = np.float32(a + t * (b - a))


@njit(cache=True, nogil=True)
def _lut_gather_u8(codes_u8: np.ndarray, table256: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover
    """out[i] = table256[codes_u8[i]]. codes_u8: uint8 (n,); table256: float32 (256,); out: float32 (n,)."""
    for i in range(codes_u8.shape[0]):
        out[i] = table256[codes_u8[i]]
