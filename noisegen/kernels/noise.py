"""numba kernels for heteroscedastic noise on linear (irradiance) images.

The variance law is the one of Guo et al. 2019 (CBDNet), Eq. (1)-(2), also used by AINDNet:
    σ²(L) = L·σ_s² + σ_c²        (per channel c; L clipped below at 0 inside the law only)
Kernels receive pre-drawn standard normal values ``z`` (no RNG inside a kernel), so the noise is
a pure function of the caller's numpy Generator.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _sigma_map(L, var_s, var_c, sigma):
    """sigma[i,j,c] = sqrt(max(L[i,j,c], 0)·var_s[c] + var_c[c]); L, sigma float32 (H,W,3)."""
    H, W, _ = L.shape
    for i in range(H):
        for j in range(W):
            for c in range(3):
                v = L[i, j, c]
                if v < 0.0:
                    v = 0.0
                sigma[i, j, c] = np.sqrt(v * var_s[c] + var_c[c])


@njit(cache=True, nogil=True)
def _gauss_rgb(L, z, var_s, var_c, noisy, sigma):
    """Noise on every channel: noisy = L + σ(L)·z and the σ map, in one pass.

    L, z, noisy, sigma: float32 (H,W,3); var_s, var_c: float64 (3,).
    """
    H, W, _ = L.shape
    for i in range(H):
        for j in range(W):
            for c in range(3):
                v = L[i, j, c]
                vp = v if v > 0.0 else 0.0
                s = np.float32(np.sqrt(vp * var_s[c] + var_c[c]))
                sigma[i, j, c] = s
                noisy[i, j, c] = v + s * z[i, j, c]


@njit(cache=True, nogil=True)
def _gauss_cfa(L, z, cfa, var_s, var_c, noisy_mosaic, sigma):
    """Mosaic and noise in one pass: only the CFA channel of each pixel gets a draw.

    L, sigma: float32 (H,W,3); z, noisy_mosaic: float32 (H,W); cfa: int64 (2,2) channel index of
    each position of the 2×2 Bayer block. The σ map is filled for all three channels (the ground
    truth a denoiser is trained against), the noise only where the sensor samples.
    """
    H, W, _ = L.shape
    for i in range(H):
        for j in range(W):
            k = cfa[i & 1, j & 1]
            for c in range(3):
                v = L[i, j, c]
                vp = v if v > 0.0 else 0.0
                s = np.float32(np.sqrt(vp * var_s[c] + var_c[c]))
                sigma[i, j, c] = s
                if c == k:
                    noisy_mosaic[i, j] = v + s * z[i, j]
