"""PyTorch tensors from decoded samples, in a form that ``DataLoader``'s default collate batches.

    loader = DataLoader(ng.open_dataset("out/").compose(ng.to_torch), batch_size=8, num_workers=2)

Decoded samples (noisegen.dataset.reader.decode_sample) hold numpy arrays and a json dict with None
values (no JPEG, no mosaic, a real pair without parameters), which default_collate cannot batch.
``to_torch`` turns each into tensors and a flat dict of parameters without None: an absent value is
the typed empty value the sample json stores on disk (noisegen.dataset.format.to_disk): "" for a
string (no mosaic: pattern ""), 0 for JPEG quality and ISO, and 1 for white-balance gains (no
gains). torch is imported when the stage runs, never when this module is imported (noisegen
imports no torch).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

__all__ = ["to_torch", "sample_to_torch"]


def _params(meta: dict) -> dict[str, Any]:
    """Collate-safe parameters: strings ("" where absent), ints (0 where absent), float32 triples."""
    p = meta.get("params") or {}

    def triple(name: str, empty: float) -> np.ndarray:
        v = p.get(name)
        return np.asarray(v if v is not None else (empty,) * 3, dtype=np.float32)

    return {"camera": str(p.get("camera") or meta.get("camera") or ""), "crf": str(p.get("crf") or ""),
            "noise_model": str(p.get("noise_model") or ""), "pattern": str(p.get("pattern") or ""),
            "demosaic": str(p.get("demosaic") or ""), "jpeg_quality": int(p.get("jpeg_quality") or 0),
            "iso": int(meta.get("iso") or 0), "sigma_s": triple("sigma_s", 0.0), "sigma_c": triple("sigma_c", 0.0),
            "wb_gains": triple("wb_gains", 1.0)}


def sample_to_torch(s: dict) -> dict[str, Any]:
    """One decoded sample as tensors.

    Returns:
        {"key": str, "clean", "noisy": float32 3×H×W in [0, 1], "sigma": float32 3×H×W σ_raw (zeros when
         the sample has no σ map), "has_sigma": bool, "params": _params (jpeg_quality 0 = no JPEG,
         pattern "" = no mosaic, wb_gains 1 = none, iso 0 = unknown)}
    """
    import torch  # here: the data toolkit imports torch only when tensors are asked for

    def chw(a: np.ndarray, scale: float) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1), dtype=np.float32) * np.float32(scale))

    has_sigma = s["sigma"] is not None
    sigma = s["sigma"] if has_sigma else np.zeros(s["clean"].shape, np.float32)
    params = {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in _params(s["params"]).items()}
    return {"key": str(s["key"]), "clean": chw(s["clean"], 1 / 255), "noisy": chw(s["noisy"], 1 / 255),
            "sigma": chw(sigma, 1.0), "has_sigma": has_sigma, "params": params}


def to_torch(samples: Iterable[dict]) -> Iterator[dict[str, Any]]:
    """Stage: sample_to_torch on each decoded sample (``open_dataset(...).compose(to_torch)``)."""
    for s in samples:
        yield sample_to_torch(s)
