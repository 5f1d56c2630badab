"""The simulation search behind `noisegen calibrate`: simulated statistics, the loss, simulation-corrected
σ fits with Aitken acceleration, and the memo of evaluated candidates (the method: noisegen.analysis.calibrate.fit).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from noisegen.analysis.calibrate.model_nlf import demosaic_gains
from noisegen.analysis.calibrate.noisy_only import sigma_target_stats
from noisegen.analysis.calibrate.report import PATTERN, Candidate
from noisegen.analysis.calibrate.sigma_fit import fit_sigma, model_nlf_std
from noisegen.analysis.nlf import (
    LAGS,
    PAIRS,
    NoiseStats,
    accumulate,
    autocorrelation,
    cross_correlation,
    image_stats,
    nlf_from_stats,
)
from noisegen.analysis.texture import TextureStats, texture_loss, texture_stats
from noisegen.crf.io import load_bank
from noisegen.isp.nr import clean_texture
from noisegen.isp.params import SampleParams
from noisegen.isp.pipeline import render_clean, synthesize

__all__ = ["CalibrationGroup", "Search", "sample_params_for", "simulate", "subset_stats", "compare", "total_loss",
           "fit_channels", "aitken"]


@dataclass
class CalibrationGroup:
    """The crops of one ISO group: clean and real noisy crops, their statistics, the search subset."""

    name: str
    iso: int | None
    pairs: list[str]
    clean: list[np.ndarray]
    noisy: list[np.ndarray]
    target: NoiseStats
    search: list[int]           # crop indices used in step 2
    textures: list[np.ndarray] | None = None   # clean texture map per crop (noisegen.isp.nr), when needed
    sigmas: list[np.ndarray] | None = None     # σ map per crop (calibrate --noisy-only): the NLF target's source
    stats: list[NoiseStats] | None = None      # per crop: the real statistics (their sum is ``target``)
    boxes: list[tuple[int, int, int, int, int]] | None = None   # per crop: (pair index, y, x, h, w)
    scenes: list[str] | None = None            # per pair: its scene
    widths: list[int] | None = None            # per pair: the image width
    whole: list[NoiseStats] | None = None      # per pair: statistics of the whole image (the realism baselines' data)

    def texture(self, i: int) -> np.ndarray:
        if self.textures is None:
            self.textures = [None] * len(self.clean)
        if self.textures[i] is None:
            self.textures[i] = clean_texture(self.clean[i])
        return self.textures[i]


def sample_params_for(camera: str, crf: str, bank: str, demosaic: str, jpeg: int | None, s, c,
                      nr: tuple[float, float] | None = None, subsampling: str = "4:2:0",
                      corr: tuple | None = None) -> SampleParams:
    """The SampleParams of a candidate camera with per-channel σ (s, c: 3 values each), optional in-camera
    noise reduction nr = (flat gain, knee), JPEG chroma subsampling and correlated noise and sharpening
    corr = (noise_corr, noise_mix, sharpen_amount, sharpen_radius) (noisegen.isp.correlation, sharpen)."""
    kw = {} if nr is None else {"nr_flat_gain": nr[0], "nr_knee": nr[1]}
    if corr is not None:
        kw.update(noise_corr=corr[0], noise_mix=corr[1], sharpen_amount=corr[2], sharpen_radius=corr[3])
    return SampleParams(camera=camera, crf=crf, crf_bank=bank, sigma_s=tuple(s), sigma_c=tuple(c),
                        pattern=None if demosaic == "none" else PATTERN,
                        demosaic="malvar" if demosaic == "none" else demosaic, jpeg_quality=jpeg,
                        jpeg_subsampling=subsampling, **kw)


def simulate(group: CalibrationGroup, gi: int, params: SampleParams, config, subset: list[int] | None,
             cache: dict, tex: TextureStats | None = None) -> NoiseStats:
    """Statistics of the simulated residuals of a group's crops (and their texture statistics into ``tex``)."""
    st = NoiseStats()
    for i in (range(len(group.clean)) if subset is None else subset):
        clean = group.clean[i]
        noisy = synthesize(clean, params, seed=[config.seed, 2, gi, i]).noisy
        ref = clean
        if config.reference == "render":
            key = (gi, i, params.crf, params.pattern, params.demosaic, params.sharpen_amount, params.sharpen_radius)
            if key not in cache:
                cache[key] = render_clean(clean, params)  # the clean target of `generate --clean-target render`
            ref = cache[key]
        accumulate(st, image_stats(ref, noisy))
        if tex is not None:
            tex.add(texture_stats(ref, noisy, group.texture(i)))
    return st


def subset_stats(group: CalibrationGroup, subset: list[int] | None) -> NoiseStats:
    if subset is None:
        return group.target
    st = NoiseStats()
    for i in subset:
        accumulate(st, crop_target_stats(group, i))
    return st


def crop_target_stats(group: CalibrationGroup, i: int) -> NoiseStats:
    """The real statistics of crop ``i``: of its residual, or with its σ map as the NLF target (noisy-only)."""
    if group.sigmas is not None:
        return sigma_target_stats(group.clean[i], group.noisy[i], group.sigmas[i])
    return image_stats(group.clean[i], group.noisy[i])


def compare(real: NoiseStats, sim: NoiseStats, config, real_tex: TextureStats | None = None,
            sim_tex: TextureStats | None = None) -> dict:
    """Loss parts and readable errors of a simulation against the real statistics; with texture statistics,
    ``loss_texture`` = config.texture_weight × noisegen.analysis.texture.texture_loss."""
    kw = dict(bins=config.bins, min_count=config.min_count)
    rf = nlf_from_stats(real, max_clip=config.fit_max_clip, **kw)
    sf = nlf_from_stats(sim, max_clip=config.fit_max_clip, **kw)
    ok = rf.valid & sf.valid
    e = np.log(sf.std[ok] / rf.std[ok]) if ok.any() else np.array([np.inf])
    # var(log σ̂) ≈ 1/(2n) for each side: weight bins by 1/(1/n_real + 1/n_sim), normalised to mean 1
    w = 1.0 / (1.0 / rf.count[ok] + 1.0 / sf.count[ok]) if ok.any() else np.ones(1)
    w = w / w.mean()
    strict = nlf_from_stats(real, max_clip=config.max_clip, **kw).valid & ok
    with np.errstate(divide="ignore", invalid="ignore"):  # empty bins (std 0 or NaN) are outside ``strict``
        rel = np.abs(sf.std / rf.std - 1.0)
    ra, sa = autocorrelation(real), autocorrelation(sim)
    rc, sc = cross_correlation(real), cross_correlation(sim)
    ac_err = np.nan_to_num(sa - ra, nan=1.0)
    cc_err = np.nan_to_num(sc - rc, nan=1.0)
    names = [n for n, _, _ in LAGS]
    h1v1, h2v2 = [names.index("h1"), names.index("v1")], [names.index("h2"), names.index("v2")]
    fin = [p for p in real.psnr if math.isfinite(p)]
    fins = [p for p in sim.psnr if math.isfinite(p)]
    tex = {}
    if real_tex is not None and sim_tex is not None:
        tex = {"loss_texture": float(config.texture_weight * texture_loss(real_tex, sim_tex)),
               "texture": {"real": real_tex.to_dict(), "sim": sim_tex.to_dict()}}
    return tex | {
        "loss_nlf": float(np.mean(w * e**2)), "loss_autocorr": float(np.mean(ac_err**2)),
        "loss_cross": float(np.mean(cc_err**2)),
        "nlf_rel_mean": float(rel[strict].mean()) if strict.any() else float("nan"),
        "nlf_rel_max": float(rel[strict].max()) if strict.any() else float("nan"),
        "nlf_rel_wmean": float(np.average(rel[strict], weights=rf.count[strict])) if strict.any() else float("nan"),
        "nlf_rel_mean_rgb": [float(rel[c][strict[c]].mean()) if strict[c].any() else None for c in range(3)],
        "nlf_bins": int(strict.sum()),
        "autocorrelation": {n: {"real": ra[:, d].tolist(), "sim": sa[:, d].tolist()} for d, n in enumerate(names)},
        "lag1": {"real": float(np.nanmean(ra[:, h1v1])), "sim": float(np.nanmean(sa[:, h1v1]))},
        "lag2": {"real": float(np.nanmean(ra[:, h2v2])), "sim": float(np.nanmean(sa[:, h2v2]))},
        "autocorr_abs_err": float(np.mean(np.abs(ac_err))),
        "cross_correlation": {n: {"real": float(rc[p]), "sim": float(sc[p])} for p, (n, _, _) in enumerate(PAIRS)},
        "cross": {"real": float(np.nanmean(rc)), "sim": float(np.nanmean(sc))},
        "cross_abs_err": float(np.mean(np.abs(cc_err))),
        "psnr": {"real": float(np.mean(fin)) if fin else float("nan"),
                 "sim": float(np.mean(fins)) if fins else float("nan")},
    }


LOSS_PARTS = ("loss_nlf", "loss_autocorr", "loss_cross", "loss_texture")


def total_loss(parts: dict) -> float:
    return sum(parts.get(k, 0.0) for k in LOSS_PARTS)


def fit_channels(curve, target, counts, gains, ratio, start, channels: str, extra=None) -> tuple[list, list, float]:
    """σ_s, σ_c per channel and the loss, under the ``channels`` model of CalibrateConfig."""
    if channels in ("shared", "scaled"):
        st = None if start is None else (float(start[0][1]), float(start[1][1]))
        a0 = None if start is None else tuple(float(start[0][ch] / start[0][1]) for ch in range(3))
        f = fit_sigma(curve, target, counts, gains=gains, ratio=ratio, start=st,
                      channel_scale=channels == "scaled", scale_start=a0, extra_var=extra)
        return f.sigma_s_rgb, f.sigma_c_rgb, f.loss
    fits = [fit_sigma(curve, target, counts, gains=gains, ratio=ratio, channels=(ch,), extra_var=extra,
                      start=None if start is None else (start[0][ch], start[1][ch])) for ch in range(3)]
    losses = [f.loss for f in fits if math.isfinite(f.loss)]
    return [f.sigma_s for f in fits], [f.sigma_c for f in fits], float(np.mean(losses)) if losses else math.inf


class Search:
    """The candidates evaluated so far, with memoised simulation fits (see noisegen.analysis.calibrate.fit)."""

    def __init__(self, groups: list[CalibrationGroup], config, camera: str) -> None:
        self.groups, self.config, self.camera = groups, config, camera
        self.bank = load_bank(config.crf_bank)
        self.curves = config.crf_curves or tuple(self.bank.names)
        for c in self.curves:
            self.bank.index(c)  # unknown names fail before any work, with close matches
        self.cache: dict = {}
        self.memo: dict = {}
        self.targets = {}
        self.tex_targets: dict = {}
        self.candidates: list[Candidate] = []
        self.families: tuple[str, ...] | None = None   # restricts model selection (None: every family)

    def gains(self, demosaic: str):
        return None if demosaic == "none" else demosaic_gains(PATTERN, demosaic).mean(0, keepdims=True)

    def crop_stats(self, gi: int, i: int) -> NoiseStats:
        """The real statistics of crop ``i`` of group ``gi`` (computed once)."""
        g = self.groups[gi]
        if g.stats is None:
            g.stats = [None] * len(g.clean)
        if g.stats[i] is None:
            g.stats[i] = crop_target_stats(g, i)
        return g.stats[i]

    def real(self, gi: int, subset: list[int] | None) -> NoiseStats:
        key = (gi, None if subset is None else tuple(subset))
        if key not in self.targets:
            self.targets[key] = subset_stats(self.groups[gi], subset)
        return self.targets[key]

    def real_texture(self, gi: int, subset: list[int] | None) -> TextureStats | None:
        """Texture statistics of the real crops (None when the loss does not use them)."""
        if self.config.texture_weight <= 0:
            return None
        key = (gi, None if subset is None else tuple(subset))
        if key not in self.tex_targets:
            g, st = self.groups[gi], TextureStats()
            for i in (range(len(g.clean)) if subset is None else subset):
                st.add(texture_stats(g.clean[i], g.noisy[i], g.texture(i)))
            self.tex_targets[key] = st
        return self.tex_targets[key]

    def nlf(self, st: NoiseStats):
        cfg = self.config
        return nlf_from_stats(st, bins=cfg.bins, min_count=cfg.min_count, max_clip=cfg.fit_max_clip)

    def analytic(self, crf: str, demosaic: str) -> Candidate:
        sig, loss = [], 0.0
        for gi, g in enumerate(self.groups):
            s3, c3, f_loss = fit_channels(self.bank.get(crf), self.nlf(g.target), g.target.level_n,
                                          self.gains(demosaic),
                                           None, None, self.config.channels)
            sig.append((s3, c3))
            loss += f_loss
        cand = Candidate(crf, demosaic, None, "analytic", loss, {"loss_nlf": loss}, sig)
        self.candidates.append(cand)
        return cand

    def simulate_fit(self, crf: str, demosaic: str, jpeg: int | None, start: list | None, step: str, full: bool,
                     hint: list | None = None, nr: tuple[float, float] | None = None,
                     subsampling: str = "4:2:0", corr: tuple | None = None,
                     iterations: int | None = None) -> tuple[Candidate, list[dict], list[tuple]]:
        """Simulation-corrected σ fit of one configuration for every group (memoised).

        start: σ per group ([s_rgb], [c_rgb]) or None (analytic start, corrected by ``hint`` =
        per-group (ratio, extra) of a similar configuration when given). Returns the candidate,
        per-group comparison parts and per-group (ratio, extra) corrections. nr: in-camera noise reduction
        (flat gain, knee) or None; subsampling: JPEG chroma subsampling; corr: correlated noise and sharpening
        (sample_params_for) or None. iterations: simulation-correction rounds (default config.iterations).
        """
        key = (crf, demosaic, jpeg, full, nr, subsampling, corr)
        if key not in self.memo:
            out = [self._fit_group(gi, crf, demosaic, jpeg, None if start is None else start[gi], full,
                                   None if hint is None else hint[gi], nr, subsampling, corr, iterations)
                   for gi in range(len(self.groups))]
            parts = [o[1] for o in out]
            summary = {k: float(sum(p.get(k, 0.0) for p in parts)) for k in LOSS_PARTS}
            cand = Candidate(crf, demosaic, jpeg, step, float(sum(total_loss(p) for p in parts)), summary,
                             [o[0] for o in out], nr, subsampling, corr)
            self.candidates.append(cand)
            self.memo[key] = (cand, parts, [o[2] for o in out])
        return self.memo[key]

    def _fit_group(self, gi: int, crf: str, demosaic: str, jpeg: int | None, start, full: bool, hint, nr=None,
                   subsampling: str = "4:2:0", corr: tuple | None = None, iterations: int | None = None):
        cfg = self.config
        g = self.groups[gi]
        subset = None if full else g.search
        curve, gains = self.bank.get(crf), self.gains(demosaic)
        real = self.real(gi, subset)
        target = self.nlf(real)

        def params(s, c) -> SampleParams:
            return sample_params_for(self.camera, crf, cfg.crf_bank, demosaic, jpeg, s, c, nr, subsampling, corr)

        # the residual without noise (demosaicing and JPEG error of the clean signal): an additive
        # variance that does not change with σ
        zero = simulate(g, gi, params([0.0] * 3, [0.0] * 3), cfg, subset, self.cache)
        extra = np.nan_to_num(nlf_from_stats(zero, bins=cfg.bins, min_count=1).std ** 2)
        if start is None:
            ratio0 = None if hint is None else hint[0]
            s, c, _ = fit_channels(curve, target, real.level_n, gains, ratio0, None, cfg.channels, extra)
            start = (s, c)
        x = np.log(np.maximum(np.array(list(start[0]) + list(start[1]), dtype=float), 1e-6))
        seq = [x]  # plain fixed-point iterates since the last extrapolation (Steffensen's method)
        ratio, sim, converged = None, None, False
        for _ in range(cfg.iterations if iterations is None else iterations):
            s, c = np.exp(x[:3]).tolist(), np.exp(x[3:]).tolist()
            sim = simulate(g, gi, params(s, c), cfg, subset, self.cache)
            simf = self.nlf(sim)
            # what the analytic model misses besides ``extra``, at the current σ, on the simulation's pixels
            m = model_nlf_std(curve, s, c, sim.level_n, cfg.bins, gains)
            with np.errstate(invalid="ignore", divide="ignore"):
                noise_var = np.maximum(simf.std**2 - extra, 0.25 * simf.std**2)
                ratio = np.where(simf.valid & np.isfinite(m) & (m > 0), np.sqrt(noise_var) / m, np.nan)
            s_new, c_new, _ = fit_channels(curve, target, real.level_n, gains, ratio, (s, c), cfg.channels, extra)
            fx = np.log(np.array(s_new + c_new))
            if np.abs(fx - x).max() < 0.005:
                x, converged = fx, True
                break
            seq.append(fx)
            x = fx
            if len(seq) == 3:
                x = aitken(*seq)
                seq = [x]
        s, c = np.exp(x[:3]).tolist(), np.exp(x[3:]).tolist()
        real_tex = self.real_texture(gi, subset)
        sim_tex = None if real_tex is None else TextureStats()
        if not converged or sim is None or sim_tex is not None:
            sim = simulate(g, gi, params(s, c), cfg, subset, self.cache, sim_tex)
        parts = compare(real, sim, cfg, real_tex, sim_tex)
        parts["_sim"] = sim
        parts["converged"] = converged
        return (s, c), parts, (ratio, extra)


def aitken(x0: np.ndarray, x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Aitken's Δ² extrapolation of a linearly converging fixed-point sequence, per component.

    Used only where the two steps point the same way and shrink (contraction 0 < r < 0.9); the jump
    is limited to 3 times the last step. Elsewhere the last iterate is kept.
    """
    d1, d2 = x1 - x0, x2 - x1
    out = x2.copy()
    with np.errstate(invalid="ignore", divide="ignore"):
        r = d2 / d1
    ok = np.isfinite(r) & (r > 0) & (r < 0.9)
    jump = np.clip(d2 * r / (1 - np.where(ok, r, 0.0)), -3 * np.abs(d2), 3 * np.abs(d2))
    out[ok] = x2[ok] + jump[ok]
    return out
