"""A plain-numpy implementation of the same camera chain, the baseline for bench_pipeline.py.

Built from the tools people reach for: np.interp for the CRF on the bank's native grid,
colour-demosaicing for mosaic and demosaic, numpy's Generator for the noise (on the mosaic, as
in noisegen), Pillow for JPEG. Statistically it is the same model as noisegen.synthesize, so the
benchmark compares like with like.
"""

from __future__ import annotations

import io

import colour_demosaicing as cd
import numpy as np
from PIL import Image

from noisegen.crf.io import load_bank
from noisegen.isp.params import SampleParams

__all__ = ["numpy_synthesize"]


def _inverse_curve(grid: np.ndarray, curve: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Collapse flat runs so np.interp gets strictly increasing sample points.
    y, idx = np.unique(curve, return_index=True)
    return y, grid[idx]


def numpy_synthesize(clean: np.ndarray, params: SampleParams, seed) -> tuple[np.ndarray, np.ndarray]:
    """Return (noisy uint8 H×W×3, sigma_raw float64 H×W×3) for the cbdnet-style chain (no CCM/WB)."""
    rng = np.random.default_rng(seed)
    bank = load_bank(params.crf_bank)
    k = bank.index(params.crf)
    grid, curve = bank.grid, bank.curves[k]
    inv_y, inv_x = _inverse_curve(grid, curve)
    x = clean.astype(np.float64) / 255.0
    L = np.interp(x, inv_y, inv_x)
    s2 = np.square(params.sigma_s)
    c2 = np.square(params.sigma_c)
    sigma = np.sqrt(L * s2 + c2)
    if params.pattern is None:
        noisy = L + sigma * rng.standard_normal(L.shape)
    else:
        m = cd.mosaicing_CFA_Bayer(L, params.pattern)
        sm = cd.mosaicing_CFA_Bayer(sigma, params.pattern)
        m = m + sm * rng.standard_normal(m.shape)
        if params.demosaic == "malvar":
            noisy = cd.demosaicing_CFA_Bayer_Malvar2004(m, params.pattern)
        else:
            noisy = cd.demosaicing_CFA_Bayer_bilinear(m, params.pattern)
    y = np.interp(np.clip(noisy, 0, 1), grid, curve)
    out = np.round(np.clip(y, 0, 1) * 255).astype(np.uint8)
    if params.jpeg_quality is not None:
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=params.jpeg_quality, subsampling=2)
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return out, sigma
