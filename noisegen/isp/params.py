"""Per-sample camera parameters: a frozen dataclass that serialises to JSON and back exactly.

A SampleParams fixes every choice of the camera model of DESIGN.md §2 for one sample; together
with the noise seed it determines the output bytes. It is produced by sample_params(profile, rng)
or written by hand (e.g. to reproduce a paper's table) and consumed by synthesize().
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from noisegen.dataclass_json import dataclass_from_dict, dataclass_to_dict
from noisegen.isp.bayer import DEMOSAIC_METHODS, parse_pattern
from noisegen.isp.jpeg import JPEG_ENCODER, JPEG_SUBSAMPLINGS
from noisegen.isp.noise import NOISE_MODELS
from noisegen.isp.nr import check_nr

__all__ = ["SampleParams", "SIGMA_PARAM_MAX"]

# Upper bound of σ_s and σ_c (full-scale units). The CBDNet ranges end at 0.16 and 0.06 and Brooks'
# log-linear law below 0.2; 4 is far beyond any camera and keeps σ_raw = sqrt(L·σ_s² + σ_c²) < 16,
# the range the dataset format's σ codec carries (noisegen.dataset.sigma_codec.SIGMA_MAX).
SIGMA_PARAM_MAX = 4.0


def _floats(value: Any, n: int, name: str, *, positive: bool = False, nonneg: bool = False) -> tuple[float, ...]:
    if np.isscalar(value):
        value = (value,) * n
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected {n} numbers, got {value!r}") from None
    if len(out) != n:
        raise ValueError(f"{name}: expected {n} values, got {len(out)}: {value!r}")
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{name}: values must be finite, got {out}")
    if nonneg and any(not 0 <= v <= SIGMA_PARAM_MAX for v in out):
        raise ValueError(f"{name}: values must lie in [0, {SIGMA_PARAM_MAX:g}], got {out}")
    if positive and any(v <= 0 for v in out):
        raise ValueError(f"{name}: values must be > 0, got {out}")
    return out


@dataclass(frozen=True)
class SampleParams:
    """Every parameter of one synthetic sample (DESIGN.md §2, §8).

    Attributes:
        camera: name of the profile that drew these parameters (free text when written by hand).
        crf: curve name in ``crf_bank``; "linear" (identity) exists in every bank.
        crf_bank: bank name or path (see noisegen.crf.bank.load_bank).
        noise_model: "gaussian" (heteroscedastic Gaussian) or "poisson" (Poisson + Gaussian σ_c).
        sigma_s: per-channel signal-dependent parameter (R, G, B), σ²(L) = L·σ_s² + σ_c².
        sigma_c: per-channel signal-independent std (R, G, B), full-scale units.
        pattern: None (no mosaic) or "RGGB" | "BGGR" | "GRBG" | "GBRG".
        demosaic: "malvar" (Malvar-He-Cutler 2004, MATLAB's demosaic) or "bilinear".
        rgb_to_camera: None or the 9 entries (row-major) of the linear sRGB → camera matrix whose
            inverse is the colour correction matrix (Brooks et al. 2019).
        wb_gains: None or forward white-balance gains (R, G, B) > 0; the overall digital gain of
            Brooks et al. is folded in (all three gains scaled by it).
        jpeg_quality: None (no compression) or 1..100.
        jpeg_subsampling: chroma subsampling of the JPEG step ("4:2:0", "4:2:2", "4:4:4").
        jpeg_encoder: which encoder produced the JPEG artefacts (recorded, not chosen).
        iso: the ISO whose noise a per-ISO profile drew (None: the profile has no ISO table).
        nr_flat_gain: in-camera noise reduction (noisegen.isp.nr): the noise gain on flat clean content,
            in (0, 1]; 1 = no noise reduction (the default: the output is that of a model without it).
        nr_knee: clean-texture std (full-scale units) at and above which the noise is kept whole.
    """

    camera: str = "custom"
    crf: str = "linear"
    crf_bank: str = "default"
    noise_model: str = "gaussian"
    sigma_s: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sigma_c: tuple[float, float, float] = (0.0, 0.0, 0.0)
    pattern: str | None = None
    demosaic: str = "malvar"
    rgb_to_camera: tuple[float, ...] | None = None
    wb_gains: tuple[float, float, float] | None = None
    jpeg_quality: int | None = None
    jpeg_subsampling: str = "4:2:0"
    jpeg_encoder: str = JPEG_ENCODER
    iso: int | None = None
    nr_flat_gain: float = 1.0
    nr_knee: float = 0.02

    def __post_init__(self) -> None:
        put = object.__setattr__
        for name in ("camera", "crf", "crf_bank"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise TypeError(f"SampleParams.{name}: expected a non-empty string, got {getattr(self, name)!r}")
        if self.noise_model not in NOISE_MODELS:
            raise ValueError(f"SampleParams.noise_model: expected one of {NOISE_MODELS}, got {self.noise_model!r}")
        put(self, "sigma_s", _floats(self.sigma_s, 3, "SampleParams.sigma_s", nonneg=True))
        put(self, "sigma_c", _floats(self.sigma_c, 3, "SampleParams.sigma_c", nonneg=True))
        pat = parse_pattern(self.pattern)
        put(self, "pattern", None if pat is None else pat.value)
        if self.demosaic not in DEMOSAIC_METHODS:
            raise ValueError(f"SampleParams.demosaic: expected one of {DEMOSAIC_METHODS}, got {self.demosaic!r}")
        if self.rgb_to_camera is not None:
            m = _floats(np.asarray(self.rgb_to_camera, dtype=float).ravel(), 9, "SampleParams.rgb_to_camera")
            if abs(np.linalg.det(np.reshape(m, (3, 3)))) < 1e-9:
                raise ValueError("SampleParams.rgb_to_camera: the matrix is singular and cannot be inverted")
            put(self, "rgb_to_camera", m)
        if self.wb_gains is not None:
            put(self, "wb_gains", _floats(self.wb_gains, 3, "SampleParams.wb_gains", positive=True))
        q = self.jpeg_quality
        if q is not None:
            if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not 1 <= q <= 100:
                raise ValueError(f"SampleParams.jpeg_quality: expected None or an integer in 1..100, got {q!r}")
            put(self, "jpeg_quality", int(q))
        if self.iso is not None and (isinstance(self.iso, bool) or not isinstance(self.iso, (int, np.integer))
                                     or self.iso <= 0):
            raise ValueError(f"SampleParams.iso: expected None or an integer > 0, got {self.iso!r}")
        f, k = check_nr(self.nr_flat_gain, self.nr_knee, "SampleParams")
        put(self, "nr_flat_gain", f)
        put(self, "nr_knee", k)
        if self.jpeg_subsampling not in JPEG_SUBSAMPLINGS:
            raise ValueError(
                f"SampleParams.jpeg_subsampling: expected one of {sorted(JPEG_SUBSAMPLINGS)}, "
                f"got {self.jpeg_subsampling!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists)."""
        return dataclass_to_dict(self)

    def to_json(self) -> str:
        """JSON text; floats are written with full precision so from_json restores equal params."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SampleParams:
        """Inverse of to_dict; unknown keys are an error (a typo must not pass silently).

        Missing keys take the defaults. A sample json as stored in a dataset writes absent values as
        typed empty ones (format 2: pattern "", jpeg_quality 0, ...): read it through the dataset
        reader, or noisegen.dataset.format.from_disk, which gives them back their None.
        """
        return dataclass_from_dict(cls, d)

    @classmethod
    def from_json(cls, text: str) -> SampleParams:
        """Inverse of to_json."""
        return cls.from_dict(json.loads(text))
