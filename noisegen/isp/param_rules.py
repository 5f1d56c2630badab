"""The rules a sample's parameters obey, in one place: SampleParams checks itself with them, and the
dataset reader checks every sample's json with them (noisegen.dataset.format.check_sample_meta), so
that `inspect --verify`, every read mode (stored σ, derived σ, fresh noise) and synthesis agree on
what a valid sample is.

numpy only (no numba): the dataset reader imports this module.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from noisegen.isp.correlation import check_noise_corr, check_noise_mix, corr_enabled
from noisegen.isp.jpeg import JPEG_SUBSAMPLINGS
from noisegen.isp.nr import check_nr
from noisegen.isp.sharpen import check_sharpen

__all__ = ["SIGMA_PARAM_MAX", "NOISE_MODELS", "DEMOSAIC_METHODS", "PATTERN_NAMES", "PARAM_FIELDS", "floats",
           "pattern_name", "check_params", "check_sample_params"]

# Upper bound of σ_s and σ_c (full-scale units). The CBDNet ranges end at 0.16 and 0.06 and Brooks'
# log-linear law below 0.2; 4 is far beyond any camera and keeps σ_raw = sqrt(L·σ_s² + σ_c²) < 16,
# the range the dataset format's σ codec carries (noisegen.dataset.sigma_codec.SIGMA_MAX).
SIGMA_PARAM_MAX = 4.0
NOISE_MODELS = ("gaussian", "poisson")
DEMOSAIC_METHODS: tuple[str, ...] = ("malvar", "bilinear")
PATTERN_NAMES = ("RGGB", "BGGR", "GRBG", "GBRG")  # noisegen.isp.bayer.BayerPattern's values
# The fields of noisegen.isp.params.SampleParams (a test checks that they agree).
PARAM_FIELDS = ("camera", "crf", "crf_bank", "noise_model", "sigma_s", "sigma_c", "pattern", "demosaic",
                "rgb_to_camera", "wb_gains", "jpeg_quality", "jpeg_subsampling", "jpeg_encoder", "iso", "nr_flat_gain",
                "nr_knee", "noise_corr", "noise_mix", "sharpen_amount", "sharpen_radius")


def floats(value: Any, n: int, name: str, *, positive: bool = False, nonneg: bool = False) -> tuple[float, ...]:
    """``n`` finite floats (a scalar is repeated); ``nonneg``: each in [0, SIGMA_PARAM_MAX]; ``positive``: > 0."""
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


def pattern_name(value: Any) -> str | None:
    """A Bayer pattern name in any case (or a BayerPattern) → "RGGB", ...; None or "none" → None.

    Raises:
        ValueError: anything else; the message lists the valid values.
    """
    if value is None:
        return None
    if isinstance(value, str):  # BayerPattern is a str enum: its value is the string
        name = value.strip().upper()
        if name == "NONE":
            return None
        if name in PATTERN_NAMES:
            return name
    raise ValueError(f"pattern: expected one of {', '.join(PATTERN_NAMES)} or None/'none', got {value!r}")


def _text(d: dict, name: str, where: str) -> None:
    if name in d and (not isinstance(d[name], str) or not d[name]):
        raise TypeError(f"{where}.{name}: expected a non-empty string, got {d[name]!r}")


def check_params(d: dict[str, Any], where: str = "SampleParams") -> dict[str, Any]:
    """Check the fields of a SampleParams given as a dict (missing ones are not checked) and return them
    normalised (tuples, ints, pattern names); the checks of SampleParams itself.

    Raises:
        TypeError / ValueError: naming ``where``, the field and the value.
    """
    out = dict(d)
    for name in ("camera", "crf", "crf_bank"):
        _text(d, name, where)
    if "noise_model" in d and d["noise_model"] not in NOISE_MODELS:
        raise ValueError(f"{where}.noise_model: expected one of {NOISE_MODELS}, got {d['noise_model']!r}")
    for name in ("sigma_s", "sigma_c"):
        if name in d:
            out[name] = floats(d[name], 3, f"{where}.{name}", nonneg=True)
    if "pattern" in d:
        out["pattern"] = pattern_name(d["pattern"])
    if "demosaic" in d and d["demosaic"] not in DEMOSAIC_METHODS:
        raise ValueError(f"{where}.demosaic: expected one of {DEMOSAIC_METHODS}, got {d['demosaic']!r}")
    if d.get("rgb_to_camera") is not None:
        m = floats(np.asarray(d["rgb_to_camera"], dtype=float).ravel(), 9, f"{where}.rgb_to_camera")
        if abs(np.linalg.det(np.reshape(m, (3, 3)))) < 1e-9:
            raise ValueError(f"{where}.rgb_to_camera: the matrix is singular and cannot be inverted")
        out["rgb_to_camera"] = m
    if d.get("wb_gains") is not None:
        out["wb_gains"] = floats(d["wb_gains"], 3, f"{where}.wb_gains", positive=True)
    q = d.get("jpeg_quality")
    if q is not None:
        if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not 1 <= q <= 100:
            raise ValueError(f"{where}.jpeg_quality: expected None or an integer in 1..100, got {q!r}")
        out["jpeg_quality"] = int(q)
    iso = d.get("iso")
    if iso is not None and (isinstance(iso, bool) or not isinstance(iso, (int, np.integer)) or iso <= 0):
        raise ValueError(f"{where}.iso: expected None or an integer > 0, got {iso!r}")
    if "nr_flat_gain" in d or "nr_knee" in d:
        out["nr_flat_gain"], out["nr_knee"] = check_nr(d.get("nr_flat_gain", 1.0), d.get("nr_knee", 0.02), where)
    for name, check in (("noise_corr", check_noise_corr), ("noise_mix", check_noise_mix)):
        if name in d:
            out[name] = check(d[name], f"{where}.{name}")
    if corr_enabled(out.get("noise_corr"), out.get("noise_mix")) and out.get("noise_model", "gaussian") != "gaussian":
        raise ValueError(f"{where}: correlated noise (noise_corr, noise_mix) needs noise_model 'gaussian', "
                         f"got {out['noise_model']!r}")
    if "sharpen_amount" in d or "sharpen_radius" in d:
        out["sharpen_amount"], out["sharpen_radius"] = check_sharpen(d.get("sharpen_amount", 0.0),
                                                                     d.get("sharpen_radius", 1.0), where)
    if "jpeg_subsampling" in d and d["jpeg_subsampling"] not in JPEG_SUBSAMPLINGS:
        raise ValueError(f"{where}.jpeg_subsampling: expected one of {sorted(JPEG_SUBSAMPLINGS)}, "
                         f"got {d['jpeg_subsampling']!r}")
    return out


def check_sample_params(params: Any, where: str = "json: params") -> dict[str, Any]:
    """The ``params`` of a synthetic sample's json (in memory: noisegen.dataset.format.from_disk) as the
    reader checks them: a dict of SampleParams fields only, σ_s and σ_c present, every value valid
    (check_params). Returns it unchanged.

    Raises:
        ValueError: naming the field and the value.
    """
    if not isinstance(params, dict):
        raise ValueError(f"{where}: expected an object, got {type(params).__name__}")
    unknown = sorted(set(params) - set(PARAM_FIELDS))
    missing = [k for k in ("sigma_s", "sigma_c") if k not in params]
    if unknown or missing:
        raise ValueError(f"{where}: " + "; ".join(([f"unknown fields {unknown}"] if unknown else [])
                                                  + ([f"missing {missing}"] if missing else [])))
    try:
        check_params(params, where)
    except TypeError as exc:
        raise ValueError(str(exc)) from None
    return params
