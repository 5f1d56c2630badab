"""numba kernels for the forward (rendering) half of the camera pipeline.

The last steps of every sample are fused into one pass: forward CRF by linear interpolation of a
LUT on a uniform grid, clipping to [0, 1] and rounding to 8 bits (docs/design.md §Camera model, step 6).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _crf_quantize(img, lut, out):
    """out = round(255·f(clip(img, 0, 1))) as uint8, f given by ``lut`` on a uniform grid of [0, 1].

    img: float32 of any shape, raveled (N,); lut: float32 (M,), M ≥ 2, values in [0, 1];
    out: uint8 (N,). Branch-free float32 arithmetic (faster than a float64 version with
    branches; results differ from float64 interpolation by at most one code in rare ties).
    """
    m1 = lut.shape[0] - 1
    fm1 = np.float32(m1)
    for n in range(img.shape[0]):
        x = min(max(img[n], np.float32(0.0)), np.float32(1.0)) * fm1
        k = min(np.int32(x), m1 - 1)
        f = x - np.float32(k)
        a = lut[k]
        y = a + f * (lut[k + 1] - a)
        out[n] = np.uint8(np.int32(y * np.float32(255.0) + np.float32(0.5)))


@njit(cache=True, nogil=True)
def _color_transform(img, gains, matrix, out):
    """out[p] = matrix @ (gains[p] ⊙ img[p]) for every pixel p.

    img, gains, out: float32 (N,3) (per-pixel gains, e.g. white balance with highlight protection);
    matrix: float64 (3,3). One pass instead of two numpy broadcasts and a matmul.
    """
    for n in range(img.shape[0]):
        a = img[n, 0] * gains[n, 0]
        b = img[n, 1] * gains[n, 1]
        c = img[n, 2] * gains[n, 2]
        out[n, 0] = matrix[0, 0] * a + matrix[0, 1] * b + matrix[0, 2] * c
        out[n, 1] = matrix[1, 0] * a + matrix[1, 1] * b + matrix[1, 2] * c
        out[n, 2] = matrix[2, 0] * a + matrix[2, 1] * b + matrix[2, 2] * c
