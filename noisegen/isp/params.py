"""Per-sample camera parameters: a frozen dataclass that serialises to JSON and back exactly.

A SampleParams fixes every choice of the camera model of docs/design.md §Camera model for one sample; together
with the noise seed it determines the output bytes. It is produced by sample_params(profile, rng)
or written by hand (e.g. to reproduce a paper's table) and consumed by synthesize().
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from noisegen.dataclass_json import dataclass_from_dict, dataclass_to_dict
from noisegen.isp.jpeg import JPEG_ENCODER
from noisegen.isp.param_rules import SIGMA_PARAM_MAX, check_params

__all__ = ["SampleParams", "SIGMA_PARAM_MAX", "OPTIONAL_OFF"]

# Fields added after format 2's first datasets, with the value that means "off": to_dict writes them only
# when they differ from it, so that a sample without them has the json (and index columns) it always had.
OPTIONAL_OFF: dict[str, Any] = {"noise_corr": None, "noise_mix": None, "sharpen_amount": 0.0, "sharpen_radius": 1.0}


@dataclass(frozen=True)
class SampleParams:
    """Every parameter of one synthetic sample (docs/design.md §Camera model, §Public API).

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
        noise_corr: None (white noise, the default) or 27 numbers: per channel (R, G, B) the 3×3 quadrant
            q_c[|dy|, |dx|] of a mirror-symmetric 5×5 filter applied to the noise (noisegen.isp.correlation).
        noise_mix: None (the default) or the 3×3 colour mixing of the filtered noise (9 numbers, row-major).
            Either field on: the noise is the unit-variance correlated field of noisegen.isp.correlation times
            σ_raw, so the variance law and the σ map are unchanged. Gaussian noise only.
        sharpen_amount: unsharp mask after the tone curve (noisegen.isp.sharpen): amount a ≥ 0 (0 = off).
        sharpen_radius: the unsharp mask's Gaussian std in pixels (> 0).
    The last four fields are written by to_dict only when they differ from their "off" value (OPTIONAL_OFF).
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
    noise_corr: tuple[float, ...] | None = None
    noise_mix: tuple[float, ...] | None = None
    sharpen_amount: float = 0.0
    sharpen_radius: float = 1.0

    def __post_init__(self) -> None:
        # the rules live in noisegen.isp.param_rules, shared with the dataset reader's checks of a sample's json
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for name, value in check_params(fields).items():
            object.__setattr__(self, name, value)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (tuples become lists); the OPTIONAL_OFF fields only when on."""
        d = dataclass_to_dict(self)
        for name, off in OPTIONAL_OFF.items():
            if getattr(self, name) == off:
                del d[name]
        return d

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
