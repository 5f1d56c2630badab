"""The model families `noisegen calibrate` chooses among (issue 18), each fitted on all calibration crops and
refitted on part of them for the nested held-out scores of noisegen.analysis.calibrate.select.

Families:
- ``camera``: the camera model of the search (noisegen.analysis.calibrate.fit: curve, demosaicing, JPEG read from
  the files when they are JPEGs, σ per group);
- ``camera+nr``: the same camera with in-camera noise reduction (noisegen.isp.nr), the flat gain and knee chosen
  on SELECT_NR with the texture statistic in the loss (noisegen.analysis.texture);
- ``srgb``: the sRGB Gaussian var = a·x + b per channel, no ISP (noisegen.analysis.realism.baselines.fit_srgb_linear,
  the realism baseline itself), and ``awgn``: one std (fit_awgn);
- each with ``+corr``: the correlated-noise term (noisegen.isp.correlation) fitted so that the simulated residuals
  have the real ones' correlations at lags 1-2 and between channels. The fit is simulation-corrected, like σ's:
  the term's target starts at the real correlations and is moved by (real − simulated) after each simulation
  (CORR_ITERATIONS), starting from real − the white-noise simulation's correlations (demosaicing and JPEG add
  correlation of their own). When the term leaves the spatial correlations off by more than SHARPEN_TRY, the camera
  families also try an unsharp mask of the noise (noisegen.isp.sharpen, SELECT_SHARPEN) and keep it when the
  search's loss is lower.

A FamilyFit holds the profile fitted on all crops and ``refit(group, crops)``: that group's profile with σ (or a,
b) fitted again on a subset of its crops, everything else kept from the full fit (the curve, demosaicing, JPEG,
noise reduction and correlation term; for the camera families also the simulation's corrections of the analytic
σ fit). So a validation fold's scenes never set σ, the parameter that differs most between scenes; the discrete
choices were made on all calibration crops.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from noisegen.analysis.calibrate.correlation_fit import fit_correlation
from noisegen.analysis.calibrate.report import PATTERN, Candidate
from noisegen.analysis.calibrate.search import (
    LOSS_PARTS,
    Search,
    compare,
    fit_channels,
    sample_params_for,
    simulate,
    total_loss,
)
from noisegen.analysis.nlf import NoiseStats, autocorrelation, cross_correlation, merge
from noisegen.analysis.realism.baselines import fit_awgn, fit_srgb_linear
from noisegen.isp.iso import IsoNoise
from noisegen.isp.params import SampleParams
from noisegen.isp.profiles import CameraProfile

__all__ = ["FAMILIES", "SELECT_NR", "SELECT_SHARPEN", "SHARPEN_TRY", "CORR_ITERATIONS", "CORR_SIGMA_ROUNDS",
           "FamilyFit", "baseline_stats", "camera_family", "nr_family", "srgb_family", "with_correlation",
           "family_profile", "summary_parts"]

FAMILIES = ("camera", "camera+corr", "camera+nr", "camera+nr+corr", "srgb", "srgb+corr", "awgn", "awgn+corr")
# noise reduction (flat gain, knee) tried by camera+nr: the settings calibrate-camera chose on PolyU100 and CC60
# (benchmarks/RESULTS.md, issue 11.2) and one step either side
SELECT_NR = ((0.55, 0.02), (0.7, 0.02), (0.55, 0.04), (0.4, 0.02), (0.85, 0.02))
SELECT_SHARPEN = 0.6        # unsharp-mask amount tried with the correlation term (radius SHARPEN_RADIUS) ...
SHARPEN_TRY = 0.001         # ... when the term alone leaves loss_autocorr above this (spatial errors ≈ 0.03 rms)
SHARPEN_RADIUS = 1.0
CORR_ITERATIONS = 3         # correction rounds of the term's target
CORR_SIGMA_ROUNDS = 3       # σ correction rounds per simulation of the term or of an NR setting (from a close σ)


@dataclass
class FamilyFit:
    """One family fitted on all calibration crops.

    name: a FAMILIES entry. profile: the profile fitted on all crops. sigma: per group (σ_s RGB, σ_c RGB) at the
    centre of its ranges. cand: the structure (curve, demosaicing, JPEG, NR, correlation) as a search Candidate;
    parts: per group, the comparison of the simulation with the real statistics (noisegen.analysis.calibrate.search
    .compare, with "_sim"); refit: (group, crop indices) → that group's profile refitted on those crops.
    """

    name: str
    profile: CameraProfile
    sigma: list
    cand: Candidate
    parts: list[dict]
    refit: Callable[[int, list[int]], CameraProfile]
    seconds: float = 0.0
    info: dict = field(default_factory=dict)


def _scaled_entry(config, iso: int | None, s3, c3, spread: float) -> IsoNoise:
    """The σ ranges of one group as the profile draws them (noisegen.analysis.calibrate.report.build_profile)."""
    lo, hi = 1.0 - spread, 1.0 + spread
    s_ref, c_ref = max(s3), max(c3)
    if config.channels == "scaled" and spread > 0 and s3[1] > 0:
        scale = tuple(float(v) / s3[1] for v in s3)
        return IsoNoise(iso or 1, (s3[1] * lo, s3[1] * hi), (c3[1] * lo, c3[1] * hi), scale)
    scale = tuple(max(v / s_ref, 1e-9) for v in s3) if s_ref > 0 else (1.0, 1.0, 1.0)
    read = tuple(v / c_ref for v in c3) if c_ref > 0 else (1.0, 1.0, 1.0)
    return IsoNoise(iso or 1, (s_ref * lo, s_ref * hi), (c_ref * lo, c_ref * hi), scale, read)


def family_profile(config, camera: str, name: str, cand: Candidate, sigma: list, isos: list, n_pairs: int,
                   spread: float) -> CameraProfile:
    """The profile of a family: its structure (``cand``) and per group the σ ranges around ``sigma`` (±spread), as
    a per-ISO table when every group has an ISO, else the ranges of the one group (several groups without ISO:
    the range over them)."""
    entries = [_scaled_entry(config, iso, s3, c3, spread) for iso, (s3, c3) in zip(isos, sigma)]
    corr = {} if cand.corr is None else dict(noise_corr=cand.corr[0], noise_mix=cand.corr[1],
                                             sharpen_amount=cand.corr[2], sharpen_radius=cand.corr[3])
    base = entries[0]
    if len(entries) > 1 and not all(iso is not None for iso in isos):
        base = IsoNoise(1, (min(e.sigma_s[0] for e in entries), max(e.sigma_s[1] for e in entries)),
                        (min(e.sigma_c[0] for e in entries), max(e.sigma_c[1] for e in entries)),
                        entries[0].channel_scale, entries[0].read_scale)
    pname = config.name or "calibrated-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in camera)
    return CameraProfile(
        name=pname, description=f"fitted by noisegen calibrate to {camera} ({n_pairs} pairs), family {name}",
        crf_bank=config.crf_bank, crf_curves=(cand.crf,), sigma_law="uniform", sigma_s=base.sigma_s,
        sigma_c=base.sigma_c, per_channel=False, channel_scale=base.channel_scale, read_scale=base.read_scale,
        patterns=(None,) if cand.demosaic == "none" else (PATTERN,),
        demosaic="malvar" if cand.demosaic == "none" else cand.demosaic,
        jpeg_probability=0.0 if cand.jpeg is None else 1.0,
        jpeg_quality=(60, 100) if cand.jpeg is None else (cand.jpeg, cand.jpeg), jpeg_subsampling=cand.subsampling,
        nr_flat_gain=1.0 if cand.nr is None else cand.nr[0], nr_knee=0.02 if cand.nr is None else cand.nr[1],
        iso_noise=tuple(entries) if all(iso is not None for iso in isos) else (), **corr)


def _crop_stats(search: Search, gi: int, crops: list[int]) -> NoiseStats:
    return merge(search.crop_stats(gi, i) for i in crops)


def camera_family(search: Search, name: str, found: tuple, n_pairs: int, seconds: float) -> FamilyFit:
    """A camera family from a search result ``found`` = (candidate, parts, corrections) (simulate_fit's)."""
    cand, parts, corrections = found
    cfg, groups = search.config, search.groups
    isos = [g.iso for g in groups]
    prof = family_profile(cfg, search.camera, name, cand, cand.sigma, isos, n_pairs, cfg.spread)

    def refit(gi: int, crops: list[int]) -> CameraProfile:
        st = _crop_stats(search, gi, crops)
        ratio, extra = corrections[gi]
        s, c, _ = fit_channels(search.bank.get(cand.crf), search.nlf(st), st.level_n, search.gains(cand.demosaic),
                               ratio, cand.sigma[gi], cfg.channels, extra)
        return family_profile(cfg, search.camera, name, cand, [(s, c)], [isos[gi]], n_pairs, cfg.spread)

    return FamilyFit(name, prof, cand.sigma, cand, parts, refit, seconds)


def nr_family(search: Search, base: Candidate, n_pairs: int, echo) -> FamilyFit:
    """camera+nr: SELECT_NR on the search subset (texture statistic in the loss), started from the camera's σ; the
    best on all crops. ``search`` must have texture_weight > 0."""
    t0 = time.perf_counter()
    best = min((search.simulate_fit(base.crf, base.demosaic, base.jpeg, base.sigma, "nr", full=False, nr=nr,
                                    subsampling=base.subsampling, iterations=CORR_SIGMA_ROUNDS)[0]
                for nr in SELECT_NR), key=lambda c: c.loss)
    found = search.simulate_fit(base.crf, base.demosaic, base.jpeg, best.sigma, "nr-final", full=True, nr=best.nr,
                                subsampling=base.subsampling, iterations=CORR_SIGMA_ROUNDS)
    echo(f"camera+nr: flat gain {best.nr[0]:g}, knee {best.nr[1]:g}, loss {found[0].loss:.3e}")
    return camera_family(search, "camera+nr", found, n_pairs, time.perf_counter() - t0)


def _baseline_sigma(kind: str, st: NoiseStats, max_clip: float) -> tuple[list[float], list[float]]:
    model = fit_awgn(st, max_clip) if kind == "awgn" else fit_srgb_linear(st, max_clip=max_clip)
    return list(model.params.sigma_s), list(model.params.sigma_c)


def baseline_stats(search: Search, gi: int, crops: list[int] | None = None) -> NoiseStats:
    """The statistics the simple families are fitted on. crops=None: the whole calibration images of the group, the
    data the realism baselines are fitted on (noisegen.analysis.realism.protocol), not the ``max_pixels`` of crops.
    Else (a fold's training crops): the whole images of the pairs whose every chosen crop is in ``crops`` (as scene
    folds leave them), and the other crops of ``crops`` alone (pairs split between training and validation, as
    image-half folds split them). Groups without whole-image statistics (calibrate --noisy-only) use their crops."""
    g = search.groups[gi]
    if g.whole is not None and crops is None:
        return merge(g.whole)
    crops = list(range(len(g.clean))) if crops is None else crops
    if g.whole is None or g.boxes is None:
        return _crop_stats(search, gi, crops)
    chosen = set(crops)
    outside = {g.boxes[i][0] for i in range(len(g.clean)) if i not in chosen}
    pairs = sorted({g.boxes[i][0] for i in crops} - outside)
    rest = [i for i in crops if g.boxes[i][0] in outside]
    return merge([*(g.whole[p] for p in pairs), *(search.crop_stats(gi, i) for i in rest)])


def srgb_family(search: Search, kind: str, n_pairs: int, max_clip: float = 0.01) -> FamilyFit:
    """``srgb`` (var = a·x + b per channel) or ``awgn``: the realism baselines fitted on each group's calibration
    images (``baseline_stats``: the same data as the baselines), as a profile with no spread and independent
    channels (every sample has exactly the fitted per-channel σ). Raises ValueError when they cannot be fitted."""
    t0 = time.perf_counter()
    groups, cfg = search.groups, dataclasses.replace(search.config, channels="independent")
    sigma = [_baseline_sigma(kind, baseline_stats(search, gi), max_clip) for gi in range(len(groups))]
    cand = Candidate("linear", "none", None, kind, 0.0, {}, sigma)
    parts = [_compare_params(search, gi, _central(search, cand, gi)) for gi in range(len(groups))]
    cand.parts, cand.loss = summary_parts(parts), float(sum(total_loss(p) for p in parts))
    isos = [g.iso for g in groups]
    prof = family_profile(cfg, search.camera, kind, cand, sigma, isos, n_pairs, 0.0)

    def refit(gi: int, crops: list[int]) -> CameraProfile:
        s = _baseline_sigma(kind, baseline_stats(search, gi, crops), max_clip)
        return family_profile(cfg, search.camera, kind, cand, [s], [isos[gi]], n_pairs, 0.0)

    return FamilyFit(kind, prof, sigma, cand, parts, refit, time.perf_counter() - t0)


def _central(search: Search, cand: Candidate, gi: int) -> SampleParams:
    """The SampleParams of group ``gi`` at the centre of the family's σ ranges."""
    s3, c3 = cand.sigma[gi]
    return sample_params_for(search.camera, cand.crf, search.config.crf_bank, cand.demosaic, cand.jpeg, s3, c3,
                             cand.nr, cand.subsampling, cand.corr)


def _compare_params(search: Search, gi: int, params: SampleParams, subset: bool = False) -> dict:
    g = search.groups[gi]
    sub = g.search if subset else None
    sim = simulate(g, gi, params, search.config, sub, search.cache)
    parts = compare(search.real(gi, sub), sim, search.config)
    parts["_sim"] = sim
    return parts


def _corr_loop(search: Search, simulate_with: Callable[[tuple, list | None], tuple], base_parts: list[dict],
               sharpen: float, start: tuple | None = None, rounds: int = CORR_ITERATIONS) -> tuple:
    """Simulation-corrected fit of the correlation term (module docstring). ``simulate_with(corr, sigma)`` returns
    (candidate, per-group parts with "_sim", corrections); ``base_parts``: the white-noise fit's parts on the
    search subset, whose simulated correlations (those of demosaicing and JPEG alone) start the correction,
    unless ``start`` = (target, σ) of an earlier loop is given. Returns (the last simulate_with result, (its
    target, σ))."""
    real = merge(search.real(gi, g.search) for gi, g in enumerate(search.groups))
    ra, rc = np.nan_to_num(autocorrelation(real)), np.nan_to_num(cross_correlation(real))
    if start is None:
        base = merge(p["_sim"] for p in base_parts)
        ta = np.clip(ra - np.nan_to_num(autocorrelation(base)), -0.9, 0.99)
        tc = np.clip(rc - np.nan_to_num(cross_correlation(base)), -0.95, 0.99)
        sigma = None
    else:
        (ta, tc), sigma = start
    out = None
    for _ in range(rounds):
        fit = fit_correlation(ta, tc)
        out = simulate_with((fit.noise_corr, fit.noise_mix, sharpen, SHARPEN_RADIUS), sigma)
        sigma = out[0].sigma
        sim = merge(p["_sim"] for p in out[1])
        da, dc = ra - np.nan_to_num(autocorrelation(sim)), rc - np.nan_to_num(cross_correlation(sim))
        if max(np.abs(da).max(), np.abs(dc).max()) < 0.02:
            break
        ta, tc = np.clip(ta + da, -0.9, 0.99), np.clip(tc + dc, -0.95, 0.99)
    return out, ((ta, tc), sigma)


def with_correlation(search: Search, base: FamilyFit, n_pairs: int, echo) -> FamilyFit:
    """``base`` + the correlation term (module docstring); camera families also try SELECT_SHARPEN."""
    t0 = time.perf_counter()
    cand0 = base.cand
    name = base.name + "+corr"
    if cand0.step in ("srgb", "awgn"):
        def sim_baseline(corr: tuple, _sigma) -> tuple:
            c = dataclasses.replace(cand0, corr=corr, step=name)
            parts = [_compare_params(search, gi, _central(search, c, gi), subset=True)
                     for gi in range(len(search.groups))]
            return c, parts, None

        base_parts = [_compare_params(search, gi, _central(search, cand0, gi), subset=True)
                      for gi in range(len(search.groups))]
        cand = _corr_loop(search, sim_baseline, base_parts, 0.0)[0][0]
        parts = [_compare_params(search, gi, _central(search, cand, gi)) for gi in range(len(search.groups))]
        cand.parts, cand.loss = summary_parts(parts), float(sum(total_loss(p) for p in parts))
        prof = dataclasses.replace(base.profile, noise_corr=cand.corr[0], noise_mix=cand.corr[1],
                                   description=base.profile.description.replace(base.name, name))

        def refit(gi: int, crops: list[int]) -> CameraProfile:
            return dataclasses.replace(base.refit(gi, crops), noise_corr=cand.corr[0], noise_mix=cand.corr[1])

        echo(f"{name}: loss {cand.loss:.3e}")
        return FamilyFit(name, prof, cand0.sigma, cand, parts, refit, time.perf_counter() - t0)

    def sim_camera(corr: tuple, sigma) -> tuple:
        return search.simulate_fit(cand0.crf, cand0.demosaic, cand0.jpeg, sigma or cand0.sigma, "corr", full=False,
                                   nr=cand0.nr, subsampling=cand0.subsampling, corr=corr, iterations=CORR_SIGMA_ROUNDS)

    base_parts = search.simulate_fit(cand0.crf, cand0.demosaic, cand0.jpeg, cand0.sigma, "corr-base", full=False,
                                     nr=cand0.nr, subsampling=cand0.subsampling)[1]
    found, state = _corr_loop(search, sim_camera, base_parts, 0.0)
    best = found[0]
    if best.parts.get("loss_autocorr", 0.0) > SHARPEN_TRY:   # the sharpened noise, from the same target
        sharp = _corr_loop(search, sim_camera, base_parts, SELECT_SHARPEN, state, rounds=2)[0][0]
        best = min((best, sharp), key=lambda c: c.loss)
    found = search.simulate_fit(cand0.crf, cand0.demosaic, cand0.jpeg, best.sigma, "corr-final", full=True,
                                nr=cand0.nr, subsampling=cand0.subsampling, corr=best.corr, iterations=2)
    echo(f"{name}: sharpening {best.corr[2]:g}, loss {found[0].loss:.3e} (without the term {cand0.loss:.3e})")
    return camera_family(search, name, found, n_pairs, time.perf_counter() - t0)


def summary_parts(parts: list[dict]) -> dict:
    """The loss parts summed over groups."""
    return {k: float(sum(p.get(k, 0.0) for p in parts)) for k in LOSS_PARTS}
