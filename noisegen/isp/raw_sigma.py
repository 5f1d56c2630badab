"""σ_raw of a sample from its clean source and its parameters, in numpy alone.

The ground-truth noise level is a deterministic function of the clean image and the camera
parameters, not of the noise: σ_raw = sqrt(max(L, 0)·σ_s² + σ_c²) per channel (DESIGN.md §2),
where L is the raw irradiance the noise was added to:

    L = f⁻¹(clean)                                  (the curve's 8-bit inverse table)
    L ← CCM⁻¹ · L,  L ← L · safe_inverse_gains(L)   (when the sample had Brooks' colour steps)

times the in-camera noise reduction's gain g (noisegen.isp.nr) when the sample had one (g is a function of the
clean source too), so a dataset can leave the σ map out (`generate --sigma derived`) and the reader recompute it.
This module computes it with numpy only (the reader imports no numba) in the pipeline's precision
(float32 irradiance, float64 arithmetic, float32 result), so that it equals the map the pipeline
writes to within float rounding (tests: ≤ 1e-6, far below the stored codec's step of 3.05e-5): the
σ formula is noisegen.isp.noise_level's numpy reference, the inverse white balance noisegen.isp.white_balance's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from noisegen.crf.io import load_bank
from noisegen.isp.noise_level import sigma_raw_reference
from noisegen.isp.nr import nr_enabled, nr_gain_map
from noisegen.isp.white_balance import safe_inverse_gains

__all__ = ["raw_irradiance", "derive_sigma"]


def raw_irradiance(clean: np.ndarray, inverse_u8: np.ndarray, rgb_to_camera: Any = None,
                   wb_gains: Any = None) -> np.ndarray:
    """The raw irradiance at which a sample's noise was drawn.

    Args:
        clean: uint8 H×W×3 source crop. inverse_u8: float32 (256,) f⁻¹(k/255) of the sample's curve.
        rgb_to_camera: None or 9 numbers (row-major linear sRGB → camera matrix).
        wb_gains: None or 3 forward white-balance gains.
    Returns:
        float32 H×W×3.
    """
    L = np.asarray(inverse_u8, dtype=np.float32)[clean]
    if rgb_to_camera is not None:
        m = np.asarray(rgb_to_camera, dtype=np.float64).reshape(3, 3)
        L = (L.astype(np.float64) @ m.T).astype(np.float32)  # as the colour kernel: float64 sums, float32
    if wb_gains is not None:
        L = (L * safe_inverse_gains(L, wb_gains)).astype(np.float32)
    return L


def derive_sigma(clean: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """σ_raw of a sample from its clean *source* crop and its parameters (SampleParams.to_dict()).

    Raises:
        KeyError / FileNotFoundError: the sample's curve or bank is not available here.
    """
    crf = load_bank(params.get("crf_bank", "default")).get(params.get("crf", "linear"))
    L = raw_irradiance(clean, crf.inverse_u8, params.get("rgb_to_camera"), params.get("wb_gains"))
    sigma = sigma_raw_reference(L, params["sigma_s"], params["sigma_c"])
    flat, knee = params.get("nr_flat_gain", 1.0), params.get("nr_knee", 0.02)
    if flat is not None and nr_enabled(flat):   # in-camera noise reduction (noisegen.isp.nr): σ ← g·σ
        sigma = (sigma * nr_gain_map(clean, flat, knee)[:, :, None]).astype(np.float32)
    return sigma
