"""Camera profiles: frozen descriptions of the distributions that per-sample parameters come from.

A profile says how to draw a SampleParams (noisegen.isp.sampling.sample_params): which CRF bank and
curves, the σ law and its ranges, Bayer patterns, demosaicing, colour correction and white
balance, JPEG probability and quality. Built-in profiles reproduce the papers' settings:

- ``cbdnet``: Guo et al. 2019 (and AINDNet, Kim et al. 2020): σ_s ~ U[0, 0.16), σ_c ~ U[0, 0.06)
  per channel, CRF uniform over a bank, pattern uniform over 4 Bayer patterns and none,
  Malvar demosaicing, JPEG with q ~ U[60, 100] for half of the samples (CBDNet trained separate
  models with and without compression; mixing both covers both). The papers draw from DoRF's
  201 film/camera curves, which we may not ship; by default the profile draws from the
  still-camera-like curves of the shipped bank (CBDNET_DEFAULT_CURVES: power laws γ 1.6-2.6,
  sRGB, BT.709, SMPTE 240M, ProPhoto/RIMM, Brooks' tone curve), whose f⁻¹(0.5) of 0.16-0.33
  spans DoRF's typical range. Cinema log encodings (f⁻¹(0.5) < 0.1) are in the bank but not
  drawn. For the paper's exact setting: `noisegen crf import 201_CRF_data.mat --name dorf`,
  then `--crf-bank dorf` (uniform over all its curves).
- ``unprocess``: Brooks et al. 2019: random convex mixture of 4 XYZ→camera matrices, red gain
  U(1.9, 2.4), blue gain U(1.5, 1.9), overall gain 1/N(0.8, 0.1), log-linear shot/read noise,
  gamma 2.2 with the smoothstep tone curve, RGGB mosaic, bilinear demosaicing, no JPEG.
- ``gauss`` (AWGN σ ~ U[0, 55]/255, DnCNN-B's blind range), ``poisson`` (σ_s ~ U[0, 0.16)), and
  Neighbor2Neighbor's named types (Huang et al. CVPR 2021): ``gauss25``, ``gauss5_50``,
  ``poisson30``, ``poisson5_50``, applied to the sRGB image directly (linear CRF, no mosaic).

Profiles load from and save to JSON, so users can write their own; fix() pins any parameter.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noisegen.isp.bayer import DEMOSAIC_METHODS, BayerPattern, parse_pattern
from noisegen.isp.iso import IsoNoise
from noisegen.isp.jpeg import JPEG_SUBSAMPLINGS
from noisegen.isp.noise import BROOKS_LOG_READ, BROOKS_LOG_SHOT, NOISE_MODELS
from noisegen.isp.nr import check_nr
from noisegen.isp.profile_checks import check_iso_bounds, check_sigma_bounds, check_types, number_range, numbers

__all__ = [
    "CameraProfile",
    "SIGMA_LAWS",
    "CCM_CHOICES",
    "BUILTIN_PROFILES",
    "get_profile",
    "load_profile",
    "save_profile",
    "resolve_profile",
    "fix",
]

SIGMA_LAWS = ("uniform", "log_linear", "poisson_lambda")
CCM_CHOICES = ("none", "brooks")
ALL_PATTERNS: tuple[str | None, ...] = tuple(p.value for p in BayerPattern) + (None,)
CBDNET_DEFAULT_CURVES = ("gamma-1.6", "gamma-1.8", "gamma-2.0", "gamma-2.2", "gamma-2.4", "gamma-2.6",
                         "brooks-smoothstep-gamma2.2", "sRGB", "BT.709", "SMPTE-240M", "ProPhoto-RGB", "RIMM-RGB")


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
        provenance: free-form record of where the profile came from (data set, camera, ISO, scene count,
            command, noisegen version); not used for sampling.
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
    provenance: dict | None = dataclasses.field(default=None, compare=False)  # unhashable: kept out of eq/hash

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
        if self.provenance is not None and not isinstance(self.provenance, dict):
            raise ValueError(f"{where}: provenance must be a JSON object or null, got {self.provenance!r}")

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


def _n2n(name: str, description: str, **kw: Any) -> CameraProfile:
    # Neighbor2Neighbor adds its synthetic noise to the sRGB image: identity CRF, no ISP.
    base: dict[str, Any] = dict(crf_curves=("linear",), patterns=(None,), per_channel=False,
                                sigma_s=(0.0, 0.0), sigma_c=(0.0, 0.0))
    return CameraProfile(name=name, description=description, **{**base, **kw})


BUILTIN_PROFILES: dict[str, CameraProfile] = {
    p.name: p
    for p in (
        CameraProfile(
            name="cbdnet",
            description="CBDNet/AINDNet realistic noise: CRF bank, per-channel heteroscedastic Gaussian, "
            "Bayer mosaic + Malvar demosaic, JPEG q~U[60,100] half of the time",
            crf_curves=CBDNET_DEFAULT_CURVES,
            jpeg_probability=0.5,
        ),
        CameraProfile(
            name="unprocess",
            description="Brooks et al. 2019 unprocessing: Brooks CCMs, WB gains, log-linear shot/read noise, "
            "gamma 2.2 + smoothstep, RGGB, bilinear demosaic",
            crf_curves=("brooks-smoothstep-gamma2.2",),
            sigma_law="log_linear",
            per_channel=False,
            patterns=("RGGB",),
            demosaic="bilinear",
            ccm="brooks",
            white_balance=True,
        ),
        _n2n("gauss", "AWGN with sigma ~ U[0, 55]/255 per image (DnCNN-B's blind range)", sigma_c=(0.0, 55 / 255)),
        CameraProfile(
            name="poisson",
            description="Poisson noise Poisson(L/σ_s²)·σ_s² with σ_s ~ U[0, 0.16) per image, no ISP",
            noise_model="poisson", crf_curves=("linear",), patterns=(None,), per_channel=False,
            sigma_s=(0.0, 0.16), sigma_c=(0.0, 0.0),
        ),
        _n2n("gauss25", "Neighbor2Neighbor gauss25: AWGN sigma = 25/255", sigma_c=(25 / 255, 25 / 255)),
        _n2n("gauss5_50", "Neighbor2Neighbor gauss5_50: AWGN sigma ~ U[5, 50]/255", sigma_c=(5 / 255, 50 / 255)),
        _n2n("poisson30", "Neighbor2Neighbor poisson30: Poisson(30x)/30", noise_model="poisson",
             sigma_law="poisson_lambda", poisson_lambda=(30.0, 30.0)),
        _n2n("poisson5_50", "Neighbor2Neighbor poisson5_50: Poisson(λx)/λ, λ ~ U[5, 50]", noise_model="poisson",
             sigma_law="poisson_lambda", poisson_lambda=(5.0, 50.0)),
    )
}


def get_profile(name: str) -> CameraProfile:
    """A built-in profile by name (see BUILTIN_PROFILES); unknown names list the choices."""
    try:
        return BUILTIN_PROFILES[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), BUILTIN_PROFILES, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"unknown profile {name!r}.{hint} Built-in profiles: {', '.join(BUILTIN_PROFILES)}; "
            "or pass a path to a profile .json file"
        ) from None


def load_profile(path: str | os.PathLike[str]) -> CameraProfile:
    """Read a profile from a JSON file (the format written by save_profile)."""
    p = Path(path)
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"profile file not found: {p}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from None
    return CameraProfile.from_dict(d, source=str(p))


def save_profile(profile: CameraProfile, path: str | os.PathLike[str]) -> None:
    """Write a profile as JSON (atomically: temporary file, then rename)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(profile.to_json() + "\n")
    os.replace(tmp, p)


def resolve_profile(name_or_path: str | CameraProfile) -> CameraProfile:
    """A CameraProfile, a built-in name, or a path to a .json file."""
    if isinstance(name_or_path, CameraProfile):
        return name_or_path
    s = str(name_or_path)
    if s in BUILTIN_PROFILES:
        return BUILTIN_PROFILES[s]
    if s.endswith(".json") or os.sep in s or Path(s).exists():
        return load_profile(s)
    return get_profile(s)


_UNSET: Any = object()


def fix(
    profile: CameraProfile,
    *,
    sigma_s: float | None = None,
    sigma_c: float | None = None,
    crf: str | None = None,
    crf_bank: str | None = None,
    pattern: str | None = _UNSET,
    demosaic: str | None = None,
    jpeg_quality: int | None = _UNSET,
    noise_model: str | None = None,
    iso: int | None = None,
) -> CameraProfile:
    """Pin parameters of a profile, e.g. to reproduce a table: fix(p, sigma_s=0.08, sigma_c=0.02,
    crf="sRGB", pattern=None, jpeg_quality=None).

    ``crf_bank`` without ``crf`` switches the profile to draw uniformly over that bank's curves.
    Arguments left out keep the profile's distribution. For ``pattern`` and ``jpeg_quality``,
    None means "no mosaic" / "no JPEG". σ values are the same for all three channels; the
    resulting profile keeps the source's name with "+fixed" appended. ``iso`` pins the ISO of a
    profile with a per-ISO noise table (its σ ranges at that ISO, noisegen.isp.iso.noise_at); pinning
    σ replaces the table.
    """
    kw: dict[str, Any] = {"name": profile.name if profile.name.endswith("+fixed") else profile.name + "+fixed"}
    if sigma_s is not None or sigma_c is not None:
        both = sigma_s is not None and sigma_c is not None
        if both or profile.sigma_law == "uniform":
            kw["sigma_law"] = "uniform"
        elif not (profile.sigma_law == "poisson_lambda" and sigma_s is None):
            raise ValueError(
                f"fix: profile {profile.name!r} draws sigma with the {profile.sigma_law!r} law; "
                "give sigma_s and sigma_c together to replace it"
            )
        kw["sigma_s"] = (sigma_s, sigma_s) if sigma_s is not None else profile.sigma_s
        kw["sigma_c"] = (sigma_c, sigma_c) if sigma_c is not None else profile.sigma_c
        if both:
            kw["per_channel"] = False
        if profile.iso_noise:
            if not both:
                raise ValueError(f"fix: profile {profile.name!r} has σ per ISO; give sigma_s and sigma_c together "
                                 "to replace its table, or pin the ISO instead")
            kw.update(iso_noise=(), iso_range=None, channel_scale=(1.0, 1.0, 1.0))
    if iso is not None:
        if not profile.iso_noise or "iso_noise" in kw:
            raise ValueError(f"fix: profile {profile.name!r} has no per-ISO noise table; --iso needs one "
                             "(e.g. a profile written by `noisegen calibrate`)")
        kw["iso_range"] = (iso, iso)
    if crf is not None:
        kw["crf_curves"] = (crf,)
    if crf_bank is not None:
        kw["crf_bank"] = crf_bank
        if crf is None:  # another bank: draw uniformly over all of its curves
            kw["crf_curves"] = ()
    if pattern is not _UNSET:
        kw["patterns"] = (pattern,)
    if demosaic is not None:
        kw["demosaic"] = demosaic
    if jpeg_quality is not _UNSET:
        if jpeg_quality is None:
            kw["jpeg_probability"] = 0.0
        else:
            kw["jpeg_probability"] = 1.0
            kw["jpeg_quality"] = (jpeg_quality, jpeg_quality)
    if noise_model is not None:
        kw["noise_model"] = noise_model
    return dataclasses.replace(profile, **kw)
