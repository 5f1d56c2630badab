"""The noise level of the heteroscedastic model, in numpy: the reference of σ_raw = sqrt(max(L, 0)·σ_s² + σ_c²).

Noise in irradiance has variance σ²(L) = L·σ_s² + σ_c² per channel (the signal-dependent shot part and
the constant read part: Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting for
single-image raw-data", IEEE TIP 2008; CBDNet, Guo et al., CVPR 2019, eq. 1; AINDNet, Kim et al.,
CVPR 2020, §3.1). Irradiance below 0 (possible after a colour matrix) counts as 0.

The formula has two implementations, each named as such:
- ``sigma_raw_reference`` here, numpy: the dataset reader derives σ maps with it (noisegen.isp.raw_sigma,
  `noisegen generate --sigma derived`), and the pipeline's 8-bit fast path tabulates it for the 256 codes
  (noisegen.isp.noise.add_raw_noise_u8); ``noise_variance`` is its square before the float32 rounding,
  for the statistics;
- the numba kernel ``noisegen.kernels.gauss._sigma_raw_kernel`` (wrapper noisegen.isp.noise.sigma_raw): the
  pipeline's per-pixel σ map, fused with the noise draws.
Both compute in float64 and round the result to float32; tests/isp/test_noise.py checks that they agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["noise_variance", "sigma_raw_reference"]


def noise_variance(L: Any, sigma_s: Any, sigma_c: Any) -> np.ndarray:
    """σ²(L) = max(L, 0)·σ_s² + σ_c² per channel, float64.

    Args:
        L: irradiance, any float array whose last axis is the 3 channels (or broadcasts against 3).
        sigma_s, sigma_c: a scalar or 3 values (per channel), in units of full scale.
    Returns:
        float64 array of L's shape broadcast against (3,).
    """
    s = np.broadcast_to(np.asarray(sigma_s, dtype=np.float64), (3,))
    c = np.broadcast_to(np.asarray(sigma_c, dtype=np.float64), (3,))
    return np.maximum(np.asarray(L).astype(np.float64), 0.0) * (s * s) + c * c


def sigma_raw_reference(L: Any, sigma_s: Any, sigma_c: Any) -> np.ndarray:
    """σ_raw = sqrt(max(L, 0)·σ_s² + σ_c²) per channel: float64 arithmetic, float32 result (as the numba kernel).

    Args and shape: as ``noise_variance``. Returns float32 standard deviations.
    """
    return np.sqrt(noise_variance(L, sigma_s, sigma_c)).astype(np.float32)
