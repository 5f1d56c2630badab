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
import os
from pathlib import Path
from typing import Any

from noisegen.atomic import atomic_write_bytes
from noisegen.files import check_regular_file
from noisegen.isp.camera_profile import CCM_CHOICES, SIGMA_LAWS, CameraProfile
from noisegen.isp.mixture import REAL_CAMERAS, load_real_cameras

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

CBDNET_DEFAULT_CURVES = ("gamma-1.6", "gamma-1.8", "gamma-2.0", "gamma-2.2", "gamma-2.4", "gamma-2.6",
                         "brooks-smoothstep-gamma2.2", "sRGB", "BT.709", "SMPTE-240M", "ProPhoto-RGB", "RIMM-RGB")


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
# The calibrated real cameras of PolyU100 and CC60 (noisegen.isp.mixture), when the package data is shipped.
if (_real := load_real_cameras()) is not None:
    BUILTIN_PROFILES[REAL_CAMERAS] = _real


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
        check_regular_file(p, "profile")
        d = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"profile file not found: {p}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: not valid JSON ({exc}); fix the file, or start from `noisegen profile show "
                         "cbdnet`") from None
    except RecursionError:  # the json module recurses once per nesting level
        raise ValueError(f"{p}: not a profile: its JSON is nested too deeply (a profile is 2 levels deep); fix "
                         "the file, or start from `noisegen profile show cbdnet`") from None
    return CameraProfile.from_dict(d, source=str(p))


def save_profile(profile: CameraProfile, path: str | os.PathLike[str]) -> None:
    """Write a profile as JSON (atomically: temporary file, fsync, rename; nothing left on failure)."""
    atomic_write_bytes(path, (profile.to_json() + "\n").encode("utf-8"))


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
    σ replaces the table. A mixture (noisegen.isp.mixture) pins every member (with ``iso``: the members that
    have a per-ISO table).
    """
    name = profile.name if profile.name.endswith("+fixed") else profile.name + "+fixed"
    if profile.members:
        pins = dict(sigma_s=sigma_s, sigma_c=sigma_c, crf=crf, crf_bank=crf_bank, pattern=pattern, demosaic=demosaic,
                    jpeg_quality=jpeg_quality, noise_model=noise_model, iso=iso)
        keep = [k for k, m in enumerate(profile.members) if iso is None or m.iso_noise]
        if not keep:
            raise ValueError(f"fix: no member of mixture {profile.name!r} has a per-ISO noise table to pin --iso in")
        return dataclasses.replace(profile, name=name, members=tuple(fix(profile.members[k], **pins) for k in keep),
                                   weights=tuple(profile.weights[k] for k in keep) if profile.weights else ())
    kw: dict[str, Any] = {"name": name}
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
            kw.update(iso_noise=(), iso_range=None, channel_scale=(1.0, 1.0, 1.0), read_scale=None)
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
