"""Checks of CameraProfile fields (noisegen.isp.profiles): strict JSON types (a profile file's "false" is
not False, nor "0.1" 0.1), numeric ranges, and the bound on every σ_s and σ_c a profile can draw
(noisegen.isp.params.SIGMA_PARAM_MAX, which keeps σ_raw within the dataset format's range)."""

from __future__ import annotations

import math
from typing import Any

from noisegen.isp.iso import noise_at
from noisegen.isp.params import SIGMA_PARAM_MAX

__all__ = ["is_number", "numbers", "number_range", "check_types", "check_sigma_bounds", "check_iso_bounds"]


def is_number(v: Any) -> bool:
    # JSON numbers only: "0.1", "yes" and true are not numbers (a profile file is checked strictly).
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def numbers(value: Any, n: int, name: str, what: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or len(value) != n or not all(is_number(v) for v in value):
        raise ValueError(f"{name}: expected {what}, got {value!r}")
    return tuple(float(v) for v in value)


def number_range(value: Any, name: str, *, lo: float = 0.0, integer: bool = False) -> tuple:
    a, b = numbers(value, 2, name, "a [low, high] pair of numbers")
    if not (math.isfinite(a) and math.isfinite(b)) or a > b or a < lo:
        raise ValueError(f"{name}: expected finite {lo} <= low <= high, got [{a}, {b}]")
    if integer:
        if a != int(a) or b != int(b):
            raise ValueError(f"{name}: expected integers, got [{a}, {b}]")
        return (int(a), int(b))
    return (a, b)


def check_types(p, where: str) -> None:
    """JSON types of the fields, strictly: a profile file's "false" is not False, nor "0.1" 0.1."""
    for name in ("description", "crf_bank", "noise_model", "sigma_law", "demosaic", "ccm", "jpeg_subsampling"):
        if not isinstance(getattr(p, name), str):
            raise ValueError(f"{where}: {name} must be a string, got {getattr(p, name)!r}")
    for name in ("per_channel", "white_balance"):
        if not isinstance(getattr(p, name), bool):
            raise ValueError(f"{where}: {name} must be true or false (a JSON boolean, not a string or number), "
                             f"got {getattr(p, name)!r}")
    if not is_number(p.jpeg_probability):
        raise ValueError(f"{where}: jpeg_probability must be a number, got {p.jpeg_probability!r}")
    if not isinstance(p.crf_curves, (list, tuple)) or not all(isinstance(c, str) for c in p.crf_curves):
        raise ValueError(f"{where}: crf_curves must be a list of curve names, got {p.crf_curves!r}")
    if not isinstance(p.patterns, (list, tuple)) or not all(p is None or isinstance(p, str)
                                                               for p in p.patterns):
        raise ValueError(f"{where}: patterns must be a list of Bayer pattern names or null, got {p.patterns!r}")

def _exp(x: float) -> float:
    """exp(x), inf where it would overflow (a log-σ of 1e308) or x is not a number."""
    return math.exp(x) if x < 700 else math.inf


def check_sigma_bounds(p, where: str) -> None:
    """Every σ_s and σ_c the profile can draw lies within SampleParams' bound (SIGMA_PARAM_MAX)."""
    top = SIGMA_PARAM_MAX
    k = max(p.channel_scale)
    kc = k if p.read_scale is None else max(p.read_scale)
    if p.sigma_law == "log_linear":
        slope, intercept, std = p.log_read
        read = max(slope * p.log_shot[0], slope * p.log_shot[1]) + intercept + 8 * std  # 8σ: p < 1e-15
        highs = {"log_shot high": _exp(p.log_shot[1] / 2), "log_read (8 std)": _exp(read / 2)}
    else:
        s_hi = 1 / math.sqrt(p.poisson_lambda[0]) if p.sigma_law == "poisson_lambda" else p.sigma_s[1]
        highs = {"sigma_s" if p.sigma_law == "uniform" else "poisson_lambda": s_hi, "sigma_c": p.sigma_c[1]}
    for name, v in highs.items():
        f = kc if name.startswith(("sigma_c", "log_read")) else k
        if v * f > top:
            raise ValueError(f"{where}: {name} gives σ up to {v * f:.3g} (× channel_scale {f:g}), over the "
                             f"bound of {top:g} for σ_s and σ_c")


def check_iso_bounds(p, where: str) -> None:
    """The per-ISO σ table stays within the bound at every ISO the profile can draw."""
    # σ grows with the ISO (noisegen.isp.iso): its largest values are at the table's or the range's ends
    for iso in {e.iso for e in p.iso_noise} | set(p.iso_range or ()):
        at = noise_at(p.iso_noise, iso)
        top = max(at.sigma_s[1] * max(at.channel_scale), at.sigma_c[1] * max(at.sigma_c_scale)) * max(
            p.channel_scale)
        if top > SIGMA_PARAM_MAX:
            raise ValueError(f"{where}: iso_noise gives σ up to {top:.3g} at ISO {iso}, over the bound of "
                             f"{SIGMA_PARAM_MAX:g} for σ_s and σ_c")

