"""Drawing per-sample parameters from a camera profile.

Sampling is separate from the deterministic pipeline (as in Brooks et al.'s unprocess.py): this
module turns (profile, Generator) into a frozen SampleParams; noisegen.isp.pipeline turns
(image, SampleParams, seed) into pixels.

Independent streams: every parameter is drawn from its own child of the Generator
(``rng.spawn``; child i is SeedSequence(entropy, spawn_key=(..., i)), see ``STREAMS``), so pinning
one parameter (``--crf sRGB``, ``--pattern none``) never changes the draws of the others for the
same seed, and adding a stream later leaves the existing ones as they are. The same Generator state
gives the same parameters on every machine. (noisegen 0.1 drew all parameters in sequence from the
Generator itself; datasets of 0.1 and 0.2 differ for the same seed.)
"""

from __future__ import annotations

import math

import numpy as np

from noisegen.crf.io import load_bank
from noisegen.isp.color import XYZ_TO_CAMERA_BROOKS, random_rgb_to_camera
from noisegen.isp.iso import draw_iso, noise_at
from noisegen.isp.mixture import draw_member
from noisegen.isp.noise import sample_brooks_shot_read
from noisegen.isp.params import SampleParams
from noisegen.isp.profiles import CameraProfile

__all__ = ["sample_params", "STREAMS"]

# Child stream of each parameter (index into rng.spawn): fixed forever, new ones appended. "member" (the
# member of a mixture profile, noisegen.isp.mixture) is spawned only for mixtures, so that the Generator of
# any other profile is left exactly as before it existed.
STREAMS = ("crf", "sigma", "pattern", "ccm", "white_balance", "jpeg", "iso", "member")


def _uniform3(rng: np.random.Generator, lo_hi: tuple[float, float], per_channel: bool) -> tuple[float, float, float]:
    lo, hi = lo_hi
    if per_channel:
        v = rng.uniform(lo, hi, size=3)
        return (float(v[0]), float(v[1]), float(v[2]))
    x = float(rng.uniform(lo, hi))
    return (x, x, x)


def _sigmas(profile: CameraProfile, rng: np.random.Generator) -> tuple[tuple[float, ...], tuple[float, ...]]:
    if profile.sigma_law == "uniform":
        return (_uniform3(rng, profile.sigma_s, profile.per_channel),
                _uniform3(rng, profile.sigma_c, profile.per_channel))
    if profile.sigma_law == "log_linear":
        if profile.per_channel:
            pairs = [sample_brooks_shot_read(rng, profile.log_shot, profile.log_read) for _ in range(3)]
        else:
            pairs = [sample_brooks_shot_read(rng, profile.log_shot, profile.log_read)] * 3
        return tuple(math.sqrt(s) for s, _ in pairs), tuple(math.sqrt(r) for _, r in pairs)
    # poisson_lambda: λ photons at full scale, variance L/λ.
    lam = _uniform3(rng, profile.poisson_lambda, profile.per_channel)
    return tuple(1.0 / math.sqrt(v) for v in lam), _uniform3(rng, profile.sigma_c, profile.per_channel)


def _wb_gains(profile: CameraProfile, rng: np.random.Generator) -> tuple[float, float, float]:
    red = rng.uniform(*profile.red_gain)
    blue = rng.uniform(*profile.blue_gain)
    mean, std = profile.rgb_gain
    # Brooks et al.: overall gain = 1 / N(0.8, 0.1); guard the (rare) non-positive draw.
    digital = 1.0 / max(float(rng.normal(mean, std)), 0.05)
    return (float(red * digital), float(digital), float(blue * digital))


def sample_params(profile: CameraProfile, rng: np.random.Generator) -> SampleParams:
    """Draw one sample's camera parameters from ``profile``.

    Each parameter comes from its own child stream of ``rng`` (``STREAMS``; module docstring). A mixture
    profile first draws its member (stream "member"); the sample's ``camera`` is then the member's name.

    Args:
        profile: a CameraProfile (e.g. noisegen.get_profile("cbdnet")).
        rng: numpy Generator; the only source of randomness.
    Returns:
        a frozen SampleParams; every curve name it holds exists in the profile's bank.
    Raises:
        KeyError: a curve named by the profile is not in its bank (with close matches).
    """
    if not isinstance(profile, CameraProfile):
        raise TypeError(f"profile: expected a CameraProfile, got {type(profile).__name__}")
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng: expected numpy.random.Generator, got {type(rng).__name__}")
    n = len(STREAMS) if profile.members else STREAMS.index("member")
    r = dict(zip(STREAMS, rng.spawn(n)))
    if profile.members:  # a mixture: one member per sample, then its parameters from the same streams
        profile = draw_member(profile, r["member"])
    bank = load_bank(profile.crf_bank)
    curves = profile.crf_curves or tuple(bank.names)
    for name in curves:
        bank.index(name)  # unknown names fail here, before any sample is made
    crf = curves[int(r["crf"].integers(len(curves)))]
    iso, scale, read = None, profile.channel_scale, profile.read_scale
    if profile.iso_noise:  # an ISO first, then that ISO's σ ranges and channel scale
        iso = draw_iso(profile.iso_noise, profile.iso_range, r["iso"])
        at = noise_at(profile.iso_noise, iso)
        sigma_s = _uniform3(r["sigma"], at.sigma_s, profile.per_channel)
        sigma_c = _uniform3(r["sigma"], at.sigma_c, profile.per_channel)
        scale, read = at.channel_scale, at.read_scale
    else:
        sigma_s, sigma_c = _sigmas(profile, r["sigma"])
    read = scale if read is None else read  # σ_c scaled as σ_s unless the profile says otherwise
    if scale != (1.0, 1.0, 1.0):
        sigma_s = tuple(v * k for v, k in zip(sigma_s, scale))
    if read != (1.0, 1.0, 1.0):
        sigma_c = tuple(v * k for v, k in zip(sigma_c, read))
    pattern = profile.patterns[int(r["pattern"].integers(len(profile.patterns)))]
    rgb_to_camera = None
    if profile.ccm == "brooks":
        rgb_to_camera = tuple(float(v) for v in random_rgb_to_camera(r["ccm"], XYZ_TO_CAMERA_BROOKS).ravel())
    wb_gains = _wb_gains(profile, r["white_balance"]) if profile.white_balance else None
    jpeg_quality = None
    if r["jpeg"].random() < profile.jpeg_probability:
        lo, hi = profile.jpeg_quality
        jpeg_quality = int(r["jpeg"].integers(lo, hi + 1))
    return SampleParams(
        camera=profile.name,
        crf=crf,
        crf_bank=profile.crf_bank,
        noise_model=profile.noise_model,
        sigma_s=sigma_s,
        sigma_c=sigma_c,
        pattern=pattern,
        demosaic=profile.demosaic,
        rgb_to_camera=rgb_to_camera,
        wb_gains=wb_gains,
        jpeg_quality=jpeg_quality,
        jpeg_subsampling=profile.jpeg_subsampling,
        iso=iso,
        nr_flat_gain=profile.nr_flat_gain,
        nr_knee=profile.nr_knee,
        noise_corr=profile.noise_corr,
        noise_mix=profile.noise_mix,
        sharpen_amount=profile.sharpen_amount,
        sharpen_radius=profile.sharpen_radius,
    )
