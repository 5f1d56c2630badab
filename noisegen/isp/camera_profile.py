"""The CameraProfile dataclass: a frozen description of the distributions that per-sample parameters come from.

A profile says how to draw a SampleParams (noisegen.isp.sampling.sample_params); the built-in profiles, JSON
files and fix() live in noisegen.isp.profiles, which re-exports everything here. A profile with ``members``
is a mixture (noisegen.isp.mixture): each sample draws one member, then that member's parameters.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from dataclasses import dataclass
from typing import Any

from noisegen.isp.bayer import DEMOSAIC_METHODS, BayerPattern, parse_pattern
from noisegen.isp.correlation import check_noise_corr, check_noise_mix, corr_enabled
from noisegen.isp.iso import IsoNoise, check_read_scale
from noisegen.isp.jpeg import JPEG_SUBSAMPLINGS
from noisegen.isp.noise import BROOKS_LOG_READ, BROOKS_LOG_SHOT, NOISE_MODELS
from noisegen.isp.nr import check_nr
from noisegen.isp.profile_checks import (
    check_iso_bounds,
    check_sigma_bounds,
    check_types,
    is_number,
    number_range,
    numbers,
)
from noisegen.isp.sharpen import check_sharpen

__all__ = ["CameraProfile", "SIGMA_LAWS", "CCM_CHOICES", "ALL_PATTERNS", "PROFILE_OPTIONAL_OFF"]

SIGMA_LAWS = ("uniform", "log_linear", "poisson_lambda")
CCM_CHOICES = ("none", "brooks")
ALL_PATTERNS: tuple[str | None, ...] = tuple(p.value for p in BayerPattern) + (None,)
# Fields added with correlated noise and sharpening, with their "off" value: to_dict writes them only when on,
# so that the JSON of every other profile (and the dataset.json that records it) is what it always was.
PROFILE_OPTIONAL_OFF: dict[str, Any] = {"read_scale": None, "noise_corr": None, "noise_mix": None,
                                        "sharpen_amount": 0.0, "sharpen_radius": 1.0}

@dataclass(frozen=True)
class CameraProfile:
    """Distribution of camera parameters (see module docstring for the built-ins).

    Attributes:
        name: profile name, recorded as ``camera`` in every sample's parameters.
        description: one line for humans.
        crf_bank: CRF bank name or path.
        crf_curves: curve names to draw from uniformly; empty = every curve of the bank.
        noise_model: "gaussian" or "poisson" (distribution; the variance law is always L·σ_s² + σ_c²).
        sigma_law: "uniform" (σ_s ~ U[sigma_s], σ_c ~ U[sigma_c]), "log_linear" (Brooks' shot/read:
            log shot ~ U[log_shot], log read = a·log shot + b + N(0, s²) with log_read = (a, b, s)),
            or "poisson_lambda" (λ ~ U[poisson_lambda], σ_s = λ^-1/2, σ_c ~ U[sigma_c]).
        sigma_s, sigma_c: [low, high] ranges (full-scale units) of the uniform law; low == high fixes.
        per_channel: draw σ per channel (CBDNet) rather than one value for all three.
        channel_scale: (R, G, B) factors applied to the drawn σ_s and σ_c of each channel, e.g. a
            camera whose white-balance gains make R and B noisier than G ((1.3, 1, 1.2) with
            per_channel=False keeps one draw per sample, scaled per channel). Default (1, 1, 1).
        log_shot, log_read, poisson_lambda: parameters of the other two laws.
        patterns: Bayer patterns drawn uniformly; None in the tuple stands for "no mosaic".
        demosaic: "malvar" or "bilinear".
        ccm: "none" or "brooks" (random convex mixture of Brooks' four XYZ→camera matrices).
        white_balance: invert/apply white balance gains drawn from red_gain, blue_gain, rgb_gain.
        red_gain, blue_gain: uniform ranges of the WB gains; rgb_gain: (mean, std) of N whose
            inverse is the overall digital gain.
        jpeg_probability: probability that a sample is JPEG-compressed.
        jpeg_quality: [low, high] integer quality range, drawn uniformly (inclusive).
        jpeg_subsampling: chroma subsampling of the JPEG step.
        iso_noise: per-ISO σ ranges (noisegen.isp.iso.IsoNoise), e.g. from `noisegen calibrate` per
            camera-ISO group; when given, each sample draws an ISO first, then σ_s, σ_c and the
            channel scale of that ISO (and the top-level sigma_s, sigma_c, channel_scale are unused).
        iso_range: [low, high] ISOs drawn log-uniformly (σ interpolated between calibrated ISOs,
            scaled by the gain law beyond them: noisegen.isp.iso.noise_at); None draws uniformly
            among the ISOs of iso_noise.
        nr_flat_gain, nr_knee: in-camera noise reduction (noisegen.isp.nr), the same for every sample:
            noise gain on flat content in (0, 1] (1, the default: none) and the clean-texture std at which
            the noise is kept whole. No random draw: profiles without it sample exactly as before.
        read_scale: None (σ_c is scaled by channel_scale) or (R, G, B) factors ≥ 0 for σ_c alone (a model whose
            read noise is not in the ratio of its shot noise across channels, e.g. the sRGB var = a·x + b fit).
        noise_corr, noise_mix: correlated noise (noisegen.isp.correlation; the SampleParams fields), the same for
            every sample; None: white noise.
        sharpen_amount, sharpen_radius: unsharp mask after the tone curve (noisegen.isp.sharpen), the same for
            every sample; amount 0: off. These five fields are written by to_dict only when on.
        provenance: free-form record of where the profile came from (data set, camera, ISO, scene count,
            command, noisegen version); not used for sampling.
        members: a mixture (noisegen.isp.mixture): each sample draws one member profile (stream "member" of
            noisegen.isp.sampling.STREAMS), then that member's parameters; the mixture's own noise, ISP and
            JPEG fields are then unused. Members cannot be mixtures themselves. Empty: not a mixture.
        weights: relative probabilities of the members (empty: uniform).
    """

    name: str
    description: str = ""
    crf_bank: str = "default"
    crf_curves: tuple[str, ...] = ()
    noise_model: str = "gaussian"
    sigma_law: str = "uniform"
    sigma_s: tuple[float, float] = (0.0, 0.16)
    sigma_c: tuple[float, float] = (0.0, 0.06)
    per_channel: bool = True
    channel_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    log_shot: tuple[float, float] = BROOKS_LOG_SHOT
    log_read: tuple[float, float, float] = BROOKS_LOG_READ
    poisson_lambda: tuple[float, float] = (30.0, 30.0)
    patterns: tuple[str | None, ...] = ALL_PATTERNS
    demosaic: str = "malvar"
    ccm: str = "none"
    white_balance: bool = False
    red_gain: tuple[float, float] = (1.9, 2.4)
    blue_gain: tuple[float, float] = (1.5, 1.9)
    rgb_gain: tuple[float, float] = (0.8, 0.1)
    jpeg_probability: float = 0.0
    jpeg_quality: tuple[int, int] = (60, 100)
    jpeg_subsampling: str = "4:2:0"
    iso_noise: tuple[IsoNoise, ...] = ()
    iso_range: tuple[int, int] | None = None
    nr_flat_gain: float = 1.0
    nr_knee: float = 0.02
    read_scale: tuple[float, float, float] | None = None
    noise_corr: tuple[float, ...] | None = None
    noise_mix: tuple[float, ...] | None = None
    sharpen_amount: float = 0.0
    sharpen_radius: float = 1.0
    provenance: dict | None = dataclasses.field(default=None, compare=False)  # unhashable: kept out of eq/hash
    members: tuple[CameraProfile, ...] = ()
    weights: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        put = object.__setattr__
        where = f"profile {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"profile name: expected a non-empty string, got {self.name!r}")
        check_types(self, where)
        put(self, "crf_curves", tuple(self.crf_curves))
        if self.noise_model not in NOISE_MODELS:
            raise ValueError(f"{where}: noise_model must be one of {NOISE_MODELS}, got {self.noise_model!r}")
        if self.sigma_law not in SIGMA_LAWS:
            raise ValueError(f"{where}: sigma_law must be one of {SIGMA_LAWS}, got {self.sigma_law!r}")
        put(self, "sigma_s", number_range(self.sigma_s, f"{where}: sigma_s"))
        put(self, "sigma_c", number_range(self.sigma_c, f"{where}: sigma_c"))
        scale = numbers(self.channel_scale, 3, f"{where}: channel_scale", "3 numbers")
        if not all(math.isfinite(v) and v > 0 for v in scale):
            raise ValueError(f"{where}: channel_scale must be 3 finite numbers > 0, got {self.channel_scale!r}")
        put(self, "channel_scale", scale)
        put(self, "log_shot", number_range(self.log_shot, f"{where}: log_shot", lo=-math.inf))
        lr = numbers(self.log_read, 3, f"{where}: log_read", "(slope, intercept, std >= 0)")
        if not all(math.isfinite(v) for v in lr) or lr[2] < 0:
            raise ValueError(f"{where}: log_read must be (slope, intercept, std >= 0), got {self.log_read!r}")
        put(self, "log_read", lr)
        put(self, "poisson_lambda", number_range(self.poisson_lambda, f"{where}: poisson_lambda", lo=1e-9))
        check_sigma_bounds(self, where)
        if len(self.patterns) == 0:
            raise ValueError(
                f"{where}: patterns must be a non-empty list of Bayer patterns or null, got {self.patterns!r}"
            )
        pats = []
        for p in self.patterns:
            pp = parse_pattern(p)
            pats.append(None if pp is None else pp.value)
        put(self, "patterns", tuple(pats))
        if self.demosaic not in DEMOSAIC_METHODS:
            raise ValueError(f"{where}: demosaic must be one of {DEMOSAIC_METHODS}, got {self.demosaic!r}")
        if self.ccm not in CCM_CHOICES:
            raise ValueError(f"{where}: ccm must be one of {CCM_CHOICES}, got {self.ccm!r}")
        put(self, "red_gain", number_range(self.red_gain, f"{where}: red_gain", lo=1e-6))
        put(self, "blue_gain", number_range(self.blue_gain, f"{where}: blue_gain", lo=1e-6))
        mean, std = numbers(self.rgb_gain, 2, f"{where}: rgb_gain", "(mean > 0, std >= 0)")
        if not (math.isfinite(mean) and math.isfinite(std)) or mean <= 0 or std < 0:
            raise ValueError(f"{where}: rgb_gain must be (mean > 0, std >= 0), got {self.rgb_gain!r}")
        put(self, "rgb_gain", (mean, std))
        p = float(self.jpeg_probability)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{where}: jpeg_probability must be in [0, 1], got {self.jpeg_probability!r}")
        put(self, "jpeg_probability", p)
        q = number_range(self.jpeg_quality, f"{where}: jpeg_quality", lo=1, integer=True)
        if q[1] > 100:
            raise ValueError(f"{where}: jpeg_quality must lie in 1..100, got {list(q)}")
        put(self, "jpeg_quality", q)
        if self.jpeg_subsampling not in JPEG_SUBSAMPLINGS:
            raise ValueError(f"{where}: jpeg_subsampling must be one of {sorted(JPEG_SUBSAMPLINGS)}")
        self._check_iso(where)
        f, k = check_nr(self.nr_flat_gain, self.nr_knee, where)
        put(self, "nr_flat_gain", f)
        put(self, "nr_knee", k)
        if self.read_scale is not None:
            put(self, "read_scale", check_read_scale(self.read_scale, f"{where}: read_scale"))
        put(self, "noise_corr", check_noise_corr(self.noise_corr, f"{where}: noise_corr"))
        put(self, "noise_mix", check_noise_mix(self.noise_mix, f"{where}: noise_mix"))
        if corr_enabled(self.noise_corr, self.noise_mix) and self.noise_model != "gaussian":
            raise ValueError(f"{where}: correlated noise (noise_corr, noise_mix) needs noise_model 'gaussian'")
        a, r = check_sharpen(self.sharpen_amount, self.sharpen_radius, where)
        put(self, "sharpen_amount", a)
        put(self, "sharpen_radius", r)
        if self.provenance is not None and not isinstance(self.provenance, dict):
            raise ValueError(f"{where}: provenance must be a JSON object or null, got {self.provenance!r}")
        self._check_members(where)

    def _check_members(self, where: str) -> None:
        put = object.__setattr__
        if isinstance(self.members, (str, dict)) or not isinstance(self.members, (list, tuple)):
            raise ValueError(f"{where}: members must be a list of profiles, got {type(self.members).__name__}")
        members = tuple(m if isinstance(m, CameraProfile) else CameraProfile.from_dict(m, source=f"{where} member")
                        for m in self.members)
        if any(m.members for m in members):
            raise ValueError(f"{where}: a mixture's members cannot be mixtures themselves")
        put(self, "members", members)
        weights = tuple(self.weights)
        if weights:
            if len(weights) != len(members) or not all(is_number(w) and math.isfinite(w) and w > 0
                                                       for w in weights):
                raise ValueError(f"{where}: weights must be {len(members)} finite numbers > 0 (one per member), "
                                 f"got {list(weights)}")
            weights = tuple(float(w) for w in weights)
        put(self, "weights", weights)

    def _check_iso(self, where: str) -> None:
        put = object.__setattr__
        if isinstance(self.iso_noise, (str, dict)):
            raise ValueError(f"{where}: iso_noise must be a list of per-ISO entries, got {self.iso_noise!r}")
        table = tuple(IsoNoise.from_dict(e) for e in self.iso_noise)
        if len({e.iso for e in table}) != len(table):
            raise ValueError(f"{where}: iso_noise lists an ISO twice ({sorted(e.iso for e in table)})")
        if table and self.sigma_law != "uniform":
            raise ValueError(f"{where}: iso_noise holds uniform σ ranges per ISO; sigma_law must be 'uniform'")
        put(self, "iso_noise", tuple(sorted(table, key=lambda e: e.iso)))
        if self.iso_range is not None:
            if not table:
                raise ValueError(f"{where}: iso_range needs iso_noise (the σ of each ISO)")
            lo, hi = number_range(self.iso_range, f"{where}: iso_range", lo=1, integer=True)
            put(self, "iso_range", (lo, hi))
        check_iso_bounds(self, where)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (tuples become lists, None stays null, ISO entries become objects)."""
        d = {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
             for f in dataclasses.fields(self)}
        d["iso_noise"] = [e.to_dict() for e in self.iso_noise]
        d["members"] = [m.to_dict() for m in self.members]
        for name, off in PROFILE_OPTIONAL_OFF.items():
            if getattr(self, name) == off:
                del d[name]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, source: str = "profile") -> CameraProfile:
        """Build from a dict; unknown keys are an error that lists the known ones."""
        if not isinstance(d, dict):
            raise ValueError(f"{source}: expected a JSON object, got {type(d).__name__}")
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(known))
        if unknown:
            hints = {k: difflib.get_close_matches(k, known, n=1) for k in unknown}
            hint = "; ".join(f"{k!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for k, h in hints.items())
            raise ValueError(f"{source}: unknown fields {hint}; known fields: {', '.join(known)}")
        if "name" not in d:
            raise ValueError(f"{source}: missing required field 'name'")
        return cls(**d)


