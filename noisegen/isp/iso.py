"""Noise as a function of ISO: a camera profile's per-ISO noise table and its interpolation.

A sensor's noise grows with the analogue gain that ISO selects. In the model σ²(L) = L·σ_s² + σ_c²
(irradiance L normalised to [0, 1] at the output's full scale), a gain g multiplies the shot
variance by g (fewer photons make the same output level) and a read noise added before the gain
by g², so σ_s ∝ g^½ and σ_c ∝ g; this is how the DNG NoiseProfile tag (variance = S·x + O per
channel, S ∝ gain, O ∝ gain²) behaves across ISOs (Adobe DNG Specification 1.4, NoiseProfile;
Foi et al., "Practical Poissonian-Gaussian noise modeling", IEEE TIP 2008).

``IsoNoise`` holds the σ ranges fitted at one ISO (e.g. by `noisegen calibrate` per camera-ISO
group). ``noise_at(table, iso)`` gives the ranges at any ISO: exact at a calibrated ISO;
log σ linear in log ISO between the two nearest calibrated ISOs (ranges and channel scales
interpolated the same way); beyond the table, the nearest entry scaled by the gain law above
(σ_s × (ISO/ISO₀)^½, σ_c × ISO/ISO₀), so that an uncalibrated ISO is never a silent copy of a
calibrated one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["IsoNoise", "noise_at", "draw_iso", "check_read_scale", "SHOT_EXPONENT", "READ_EXPONENT"]

SHOT_EXPONENT = 0.5   # σ_s ∝ gain^½ (shot variance ∝ gain)
READ_EXPONENT = 1.0   # σ_c ∝ gain (read noise before the amplifier)


def _pair(value: Any, name: str) -> tuple[float, float]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise ValueError(f"{name}: expected a [low, high] pair of numbers, got {value!r}")
    if any(isinstance(v, (bool, str)) or not isinstance(v, (int, float)) for v in value):
        raise ValueError(f"{name}: expected numbers, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < 0 or lo > hi:
        raise ValueError(f"{name}: expected finite 0 <= low <= high, got [{lo}, {hi}]")
    return lo, hi


def check_read_scale(value: Any, name: str) -> tuple[float, float, float]:
    """3 finite numbers ≥ 0 (a channel without read noise has factor 0), as floats."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 3 or any(
            isinstance(v, (bool, str)) or not isinstance(v, (int, float, np.floating, np.integer))
            or not (math.isfinite(v) and v >= 0) for v in value):
        raise ValueError(f"{name}: expected 3 finite numbers >= 0 (R, G, B) or null, got {value!r}")
    return tuple(float(v) for v in value)


@dataclass(frozen=True)
class IsoNoise:
    """σ ranges of a camera at one ISO.

    Attributes:
        iso: the ISO (an integer > 0).
        sigma_s, sigma_c: [low, high] ranges of σ_s and σ_c (full-scale units) drawn uniformly.
        channel_scale: (R, G, B) factors applied to the drawn σ_s and σ_c (white-balance gains make R
            and B noisier than G); (1, 1, 1) for none.
        read_scale: None (σ_c is scaled by channel_scale too) or (R, G, B) factors ≥ 0 applied to the drawn σ_c
            instead: a model whose read noise is not in the same ratio across channels as its shot noise (the
            sRGB var = a·x + b baseline per channel, noisegen.analysis.realism.models). Written only when given.
    """

    iso: int
    sigma_s: tuple[float, float]
    sigma_c: tuple[float, float]
    channel_scale: tuple[float, float, float] = (1.0, 1.0, 1.0)
    read_scale: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__
        iso = self.iso
        if isinstance(iso, float) and iso.is_integer():
            iso = int(iso)
        if isinstance(iso, bool) or not isinstance(iso, (int, np.integer)) or iso <= 0:
            raise ValueError(f"iso_noise: iso must be an integer > 0, got {self.iso!r}")
        put(self, "iso", int(iso))
        put(self, "sigma_s", _pair(self.sigma_s, f"iso_noise ISO {self.iso}: sigma_s"))
        put(self, "sigma_c", _pair(self.sigma_c, f"iso_noise ISO {self.iso}: sigma_c"))
        scale = self.channel_scale
        if isinstance(scale, str) or not hasattr(scale, "__len__") or len(scale) != 3 or any(
                isinstance(v, (bool, str)) or not isinstance(v, (int, float)) or not (math.isfinite(v) and v > 0)
                for v in scale):
            raise ValueError(f"iso_noise ISO {self.iso}: channel_scale must be 3 numbers > 0, got {scale!r}")
        put(self, "channel_scale", tuple(float(v) for v in scale))
        if self.read_scale is not None:
            put(self, "read_scale", check_read_scale(self.read_scale, f"iso_noise ISO {self.iso}: read_scale"))

    @property
    def sigma_c_scale(self) -> tuple[float, float, float]:
        """The factors applied to the drawn σ_c: read_scale when given, else channel_scale."""
        return self.channel_scale if self.read_scale is None else self.read_scale

    def to_dict(self) -> dict:
        d = {"iso": self.iso, "sigma_s": list(self.sigma_s), "sigma_c": list(self.sigma_c),
             "channel_scale": list(self.channel_scale)}
        if self.read_scale is not None:
            d["read_scale"] = list(self.read_scale)
        return d

    @classmethod
    def from_dict(cls, d: Any) -> IsoNoise:
        if isinstance(d, IsoNoise):
            return d
        if not isinstance(d, dict) or set(d) - {"iso", "sigma_s", "sigma_c", "channel_scale", "read_scale"} or not {
                "iso", "sigma_s", "sigma_c"} <= set(d):
            raise ValueError(f"iso_noise: each entry must be an object with iso, sigma_s, sigma_c and optionally "
                             f"channel_scale and read_scale, got {d!r}")
        return cls(**d)


def _scaled(e: IsoNoise, iso: int) -> IsoNoise:
    g = iso / e.iso
    ks, kc = g**SHOT_EXPONENT, g**READ_EXPONENT
    return IsoNoise(iso, (e.sigma_s[0] * ks, e.sigma_s[1] * ks), (e.sigma_c[0] * kc, e.sigma_c[1] * kc),
                    e.channel_scale, e.read_scale)


def _log_interp(a: float, b: float, t: float) -> float:
    if a <= 0 or b <= 0:
        return (1 - t) * a + t * b  # a zero bound: log-linear is undefined; linear keeps it ordered
    return math.exp((1 - t) * math.log(a) + t * math.log(b))


def noise_at(table: tuple[IsoNoise, ...], iso: int) -> IsoNoise:
    """The σ ranges at ``iso`` from a per-ISO table (module docstring: exact, interpolated, or scaled)."""
    if not table:
        raise ValueError("noise_at: empty ISO table")
    entries = sorted(table, key=lambda e: e.iso)
    if iso <= entries[0].iso:
        return entries[0] if iso == entries[0].iso else _scaled(entries[0], iso)
    if iso >= entries[-1].iso:
        return entries[-1] if iso == entries[-1].iso else _scaled(entries[-1], iso)
    k = next(i for i, e in enumerate(entries) if e.iso >= iso)
    lo, hi = entries[k - 1], entries[k]
    if hi.iso == iso:
        return hi
    t = (math.log(iso) - math.log(lo.iso)) / (math.log(hi.iso) - math.log(lo.iso))

    def mix(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
        return tuple(_log_interp(x, y, t) for x, y in zip(a, b))

    read = None if lo.read_scale is None and hi.read_scale is None else mix(lo.sigma_c_scale, hi.sigma_c_scale)
    return IsoNoise(iso, mix(lo.sigma_s, hi.sigma_s), mix(lo.sigma_c, hi.sigma_c),
                    mix(lo.channel_scale, hi.channel_scale), read)


def draw_iso(table: tuple[IsoNoise, ...], iso_range: tuple[int, int] | None, rng: np.random.Generator) -> int:
    """One ISO: uniform over the table's ISOs, or log-uniform over ``iso_range`` (rounded) when given."""
    if iso_range is None:
        return table[int(rng.integers(len(table)))].iso
    lo, hi = iso_range
    return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))
