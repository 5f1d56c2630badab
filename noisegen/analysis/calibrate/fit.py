"""`noisegen calibrate`: fit a camera profile to real noisy/clean pairs of one camera.

What is matched, per ISO group of the camera (noisegen.analysis.nlf): the sRGB NLF (pooled within-code
std per intensity bin and channel), the residual autocorrelation at lags h1, v1, h2, v2, d1, and
the cross-channel correlations. The loss of a candidate is

    mean over bins of w·log(σ_sim/σ_real)²  +  mean of (ρ_sim − ρ_real)² over lags and channels
                                          +  mean of (ρ_sim − ρ_real)² over channel pairs,

summed over groups, with w ∝ 1/(1/n_real + 1/n_sim) (mean 1): a log-std estimate from n pixels
varies by ≈ 1/(2n), so sparse bins must not decide. A 10% NLF error and a 0.1 correlation error
cost about the same.

Candidates are a CRF from a bank, demosaicing (none, or an RGGB mosaic with Malvar or bilinear
interpolation), and JPEG quality (none or a grid); σ_s and σ_c are continuous, per ISO group: by
default one (σ_s, σ_c) for G and a noise scale for R and B (σ of channel c = a_c·σ; white balance
gains make R and B noisier than G in every camera), see ``channels``. Simulation is the
reference (it is the generator itself): the clean crops of the real pairs go through
noisegen.synthesize with the candidate parameters and fixed noise seeds (common random numbers,
so the loss is smooth in σ), and the statistics of (clean, simulated noisy) are compared with
those of (clean, real noisy).

Simulation-corrected fit of σ for one discrete candidate (noisegen.analysis.calibrate.search): the
simulated per-bin variance is modelled as r²·σ²_model(σ) + v₀, where σ_model is the exact
analytic NLF (noisegen.analysis.calibrate.model_nlf: rounding and clipping included, demosaicing as a variance gain),
v₀ the variance of a noise-free simulation (the demosaicing and JPEG error of the clean signal
itself, which does not change with σ) and r the rest (JPEG smoothing, mixing of neighbours),
measured at the current σ. Refit σ to the real NLF with r and v₀ fixed (least squares,
noisegen.analysis.calibrate.sigma_fit), simulate again, repeat (``iterations``); the fixed point is where simulation
and real NLF agree. Aitken's Δ² extrapolation every third iterate speeds up its linear convergence.

Search, fast to slow:
1. analytic: for every CRF and demosaicing option, fit σ to the NLF with the analytic model alone;
   rank the CRFs. Bins up to ``fit_max_clip`` clipped are used: the model predicts clipping, and
   the dark bins are what tells one curve from another.
2. demosaicing and JPEG: with each option's best analytic CRF, the simulation-corrected fit for
   every JPEG quality (started from the previous quality's σ); keep the lowest total loss (NLF
   and correlations). On a subset of the crops (``search_pixels``).
3. curve: with that demosaicing and JPEG, the simulation-corrected fit for every CRF on the subset
   (the analytic model cannot rank curves once JPEG or demosaicing is on: what it misses depends
   on the curve), then for the ``top_k`` best on all crops; the lowest total loss wins.
4. a second round of step 2 with the curve found; when it picks other demosaicing or JPEG,
   step 3 runs again with them. Fits are memoised, so repeats cost nothing.

The profile draws σ_s and σ_c uniformly from the range of the per-group fits widened by
``spread``: with channels="scaled", one draw per sample for G, and R, B scaled by the mean fitted
ratios (CameraProfile.channel_scale); otherwise per channel from the range of all channels' fits.
Everything depends only on the pairs, the configuration and ``seed``.

Model selection (the default, issue 18): the search above (noisegen.analysis.calibrate.camera_search) is the
``camera`` family; calibrate also fits camera+nr, srgb (var = a·x + b) and awgn, each also with the correlated-noise
term (noisegen.analysis.calibrate.candidates), and writes the family with the lowest nested held-out AKLD on scene
folds of the pairs (noisegen.analysis.calibrate.select); the JPEG settings are then read from the files when they
are JPEGs. ``fast`` skips the selection (the camera family alone, as before), ``family`` forces one. A group where a
channel has less than LOW_SIGNAL of its pixels usable (not near black, saturated or clipped) gets a warning, and
the selection falls back to the sRGB families, which are fitted on the usable codes only.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from noisegen.analysis.calibrate.camera_search import search_camera
from noisegen.analysis.calibrate.candidates import FAMILIES
from noisegen.analysis.calibrate.noisy_only import (
    DEFAULT_NOISY_TARGET,
    NOISY_TARGETS,
    load_sigma,
    resolve_target,
    sigma_target_stats,
)
from noisegen.analysis.calibrate.report import Calibration, Candidate, GroupFit, build_profile
from noisegen.analysis.calibrate.search import CalibrationGroup, Search
from noisegen.analysis.calibrate.select import select_family
from noisegen.analysis.nlf import NoiseStats, accumulate, image_stats, nlf_from_stats
from noisegen.dataset.pairs import Pair, load_pair, scan_pairs
from noisegen.isp.jpeg import JPEG_SUBSAMPLINGS, jpeg_settings
from noisegen.isp.nr import check_nr
from noisegen.isp.profiles import CBDNET_DEFAULT_CURVES

__all__ = ["DEMOSAIC_OPTIONS", "LOW_SIGNAL", "USABLE_CLIP", "SIMPLE_FAMILIES", "NOISY_ONLY_FAMILIES", "low_signal",
           "DEFAULT_JPEG", "NR_GRID", "CalibrateConfig", "jpeg_options", "Candidate", "GroupFit", "Calibration",
           "select_pairs", "calibrate", "search_camera"]

DEMOSAIC_OPTIONS = ("none", "malvar", "bilinear")
LOW_SIGNAL = 0.25     # least fraction of usable pixels per channel for the camera families (else the fallback)
USABLE_CLIP = 0.05    # a clean code's pixels are usable when at most this fraction of their noisy values is clipped
SIMPLE_FAMILIES = ("srgb", "srgb+corr", "awgn", "awgn+corr")
# noisy-only calibration chooses among the families without the correlated-noise term: a blind-spot denoiser's
# output keeps the low-frequency (chroma) part of the noise, so the correlations of noisy − pseudo-clean are the
# denoiser's, not the camera's (measured in docs/realism.md#noisy-only-calibration-and-noise-correlations)
NOISY_ONLY_FAMILIES = ("camera", "camera+nr", "srgb", "awgn")
NOISY_ONLY_WHY = ("noisy-only: the families with the correlated-noise term are not fitted (the pseudo-clean images "
                  "keep the low-frequency chroma noise, so the residuals' correlations are not the camera's); "
                  "--family NAME+corr forces one")
DEFAULT_JPEG: tuple[int | None, ...] = (None, 98, 95, 90, 85, 80, 75, 70, 60)
# The in-camera noise reduction grid of `calibrate --nr` (noisegen.isp.nr): flat gains × knees (full-scale
# texture std: 0.01 ≈ 2.5 levels of 8-bit std), and "off".
NR_GRID: tuple[tuple[float, float] | None, ...] = (None,) + tuple(
    (f, k) for f in (0.85, 0.7, 0.55, 0.4, 0.25) for k in (0.01, 0.02, 0.04))


@dataclass(frozen=True)
class CalibrateConfig:
    """Configuration of `noisegen calibrate` (see the module docstring for the method).

    pairs: folders of real pairs (noisegen.dataset.pairs layouts). camera: camera name (exact, else a
    case-insensitive substring; required when the pairs hold several cameras). iso: restrict to these
    ISOs (empty: all). group_regex: user naming rule (noisegen.dataset.pairs). crf_bank, crf_curves: the
    candidate curves (empty: every curve of the bank). demosaic: options among DEMOSAIC_OPTIONS.
    jpeg: JPEG qualities to try, None = no JPEG. bins, min_count: NLF bins and fewest pixels per bin.
    max_clip: clipped fraction above which a bin is left out of the reported errors; fit_max_clip:
    the same for fitting. crop: side of the crops cut from the pairs; max_pixels: pixels per group
    (crops drawn at random from all pairs of the group); search_pixels: pixels per group in step 2.
    top_k: curves simulated on all crops in step 3. iterations: simulation-correction rounds.
    channels: "scaled" (one σ_s, σ_c and a noise scale for R and B relative to G, as white balance
    gains make them), "shared" (the same σ for all channels) or "independent" (σ_s, σ_c per channel;
    ill-posed once demosaicing and 4:2:0 JPEG mix the channels). reference:
    "source" (simulated residual = noisy − clean source, as the generator's training pairs) or
    "render" (noisy − the noise-free render through the same CRF and demosaicing, closer to a
    multi-shot mean ground truth). spread: relative widening of the profile's σ ranges. seed: crop
    choice and simulation noise. name: profile name (default calibrated-<camera>).
    nr: in-camera noise reduction candidates (flat gain, knee) or None (off), tried after step 4 with the
    chosen camera (step 5; NR_GRID for the full grid); the default (None,) tries none. subsampling: JPEG
    chroma subsamplings tried with every quality. jpeg_from_files: when every noisy file of the camera is
    a JPEG, use the quality and subsampling read from the files (noisegen.isp.jpeg.jpeg_settings; the most
    common setting) instead of searching ``jpeg`` and ``subsampling``. texture_weight: weight of the
    noise-std-per-clean-texture term in the loss (noisegen.analysis.texture; 0: not used), the statistic
    that tells noise reduction apart. noisy_only: the pairs are pseudo-pairs (pseudo-clean = a self-supervised
    denoiser's output, `noisegen-train pseudo-pairs`). noisy_target: where their NLF target comes from:
    "residual" (noisy − pseudo-clean, as for real pairs), "sigma" (the denoiser's σ maps in a sigma/ folder
    beside noisy/, the rest from the residuals) or "auto" (the default: residual for a D-BSN trained with PD,
    sigma without; noisegen.analysis.calibrate.noisy_only.resolve_target; the Calibration's config holds the
    target used); model selection scores the families against these targets too, among NOISY_ONLY_FAMILIES
    (no correlated-noise term: the pseudo-clean images keep the low-frequency noise) unless ``family`` forces one.
    fast: today's single camera model (the search above), without model selection. family: None (the default)
    fits every family of noisegen.analysis.calibrate.candidates (camera, camera+nr, srgb, awgn, each also with
    the correlation term) and keeps the one with the lowest nested held-out AKLD on these pairs
    (noisegen.analysis.calibrate.select); a family name forces it (no selection). Without ``fast`` the JPEG
    settings are read from the files when they are JPEGs (``jpeg_from_files``).
    """

    pairs: tuple[str, ...]
    camera: str | None = None
    iso: tuple[int, ...] = ()
    group_regex: str | None = None
    crf_bank: str = "default"
    crf_curves: tuple[str, ...] = CBDNET_DEFAULT_CURVES
    demosaic: tuple[str, ...] = DEMOSAIC_OPTIONS
    jpeg: tuple[int | None, ...] = DEFAULT_JPEG
    bins: int = 16
    min_count: int = 500
    max_clip: float = 0.01
    fit_max_clip: float = 0.3
    crop: int = 128
    max_pixels: int = 1_000_000
    search_pixels: int = 250_000
    top_k: int = 3
    iterations: int = 6
    channels: str = "scaled"
    reference: str = "source"
    spread: float = 0.1
    seed: int = 0
    name: str | None = None
    nr: tuple[tuple[float, float] | None, ...] = (None,)
    subsampling: tuple[str, ...] = ("4:2:0",)
    jpeg_from_files: bool = False
    texture_weight: float = 0.0
    noisy_only: bool = False
    noisy_target: str = DEFAULT_NOISY_TARGET
    fast: bool = False
    family: str | None = None

    def __post_init__(self) -> None:
        put = object.__setattr__
        put(self, "pairs", (self.pairs,) if isinstance(self.pairs, str) else tuple(str(p) for p in self.pairs))
        if not self.pairs:
            raise ValueError("pairs: give at least one folder of noisy/clean pairs")
        put(self, "iso", tuple(int(i) for i in self.iso))
        put(self, "crf_curves", tuple(self.crf_curves))
        put(self, "demosaic", tuple(self.demosaic))
        put(self, "jpeg", tuple(None if q is None else int(q) for q in self.jpeg))
        bad = [d for d in self.demosaic if d not in DEMOSAIC_OPTIONS]
        if bad or not self.demosaic:
            raise ValueError(f"demosaic: expected options among {DEMOSAIC_OPTIONS}, got {list(self.demosaic)}")
        if not self.jpeg or any(q is not None and not 1 <= q <= 100 for q in self.jpeg):
            raise ValueError(f"jpeg: expected qualities in 1..100 or none, got {list(self.jpeg)}")
        if self.channels not in ("scaled", "shared", "independent"):
            raise ValueError(f"channels: expected 'scaled', 'shared' or 'independent', got {self.channels!r}")
        if self.reference not in ("source", "render"):
            raise ValueError(f"reference: expected 'source' or 'render', got {self.reference!r}")
        for name, lo in (("bins", 2), ("min_count", 1), ("crop", 16), ("max_pixels", 256), ("search_pixels", 256),
                         ("top_k", 1), ("iterations", 1)):
            if int(getattr(self, name)) < lo:
                raise ValueError(f"{name}: expected >= {lo}, got {getattr(self, name)}")
        put(self, "nr", tuple(None if v is None else check_nr(v[0], v[1], "nr") for v in self.nr))
        put(self, "subsampling", tuple(self.subsampling))
        if not self.nr or not self.subsampling or any(v not in JPEG_SUBSAMPLINGS for v in self.subsampling):
            raise ValueError(f"nr and subsampling: expected non-empty lists (subsampling among "
                             f"{sorted(JPEG_SUBSAMPLINGS)}), got {self.nr}, {self.subsampling}")
        if self.noisy_target not in NOISY_TARGETS:
            raise ValueError(f"noisy_target: expected one of {', '.join(NOISY_TARGETS)}, got {self.noisy_target!r}")
        if self.family is not None and self.family not in FAMILIES:
            raise ValueError(f"family: expected one of {', '.join(FAMILIES)}, got {self.family!r}")
        if self.family is not None and self.fast:
            raise ValueError("fast and family exclude each other: --fast is the camera family without selection")
        if not 0 <= self.texture_weight < 1e6:
            raise ValueError(f"texture_weight: expected >= 0, got {self.texture_weight}")
        if not 0 <= self.spread < 1 or not 0 <= self.max_clip <= 1 or not 0 <= self.fit_max_clip <= 1:
            raise ValueError("spread must be in [0, 1), max_clip and fit_max_clip in [0, 1]")


# ------------------------------------------------------------------------------------------------
# Data


def select_pairs(pairs: tuple[Pair, ...], camera: str | None, iso: tuple[int, ...] = ()) -> tuple[str, list[Pair]]:
    """The pairs of one camera (and ISOs): (camera name, pairs). Raises ValueError naming the choices."""
    cams = sorted({p.camera or "unknown" for p in pairs})
    if camera is None:
        if len(cams) > 1:
            raise ValueError(f"the pairs hold {len(cams)} cameras ({', '.join(cams)}); choose one with --camera")
        chosen = cams[0]
    else:
        exact = [c for c in cams if c.lower() == camera.lower()]
        sub = exact or [c for c in cams if camera.lower() in c.lower()]
        if len(sub) != 1:
            raise ValueError(f"--camera {camera!r} matches {'no camera' if not sub else ', '.join(sub)}; "
                             f"cameras in the pairs: {', '.join(cams)}")
        chosen = sub[0]
    out = [p for p in pairs if (p.camera or "unknown") == chosen and (not iso or p.iso in iso)]
    if not out:
        isos = sorted({p.iso for p in pairs if (p.camera or "unknown") == chosen and p.iso is not None})
        raise ValueError(f"no pair of {chosen} with ISO {', '.join(map(str, iso))}; its ISOs: {isos}")
    return chosen, out


def _prepare(pairs: list[Pair], config: CalibrateConfig, skipped: list[dict]) -> list[CalibrationGroup]:
    by: dict[tuple, list[Pair]] = {}
    several_roots = len({p.root for p in pairs}) > 1
    for p in pairs:
        by.setdefault((p.root if several_roots else "", p.iso or 0), []).append(p)
    groups = []
    for gi, key in enumerate(sorted(by)):
        members = by[key]
        boxes: list[tuple[int, int, int, int, int]] = []
        images: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        sigmas: dict[int, np.ndarray] = {}
        for pi, p in enumerate(members):
            try:
                images[pi] = load_pair(p, noisy_required=True)
                if config.noisy_only and config.noisy_target == "sigma":
                    sigmas[pi] = load_sigma(p, images[pi][0].shape)
            except (ValueError, OSError) as exc:
                images.pop(pi, None)
                skipped.append({"source": p.id, "path": p.noisy, "reason": str(exc), "stage": "decode"})
                continue
            h, w = images[pi][0].shape[:2]
            ch, cw = min(config.crop, h), min(config.crop, w)
            for y in range(0, h - ch + 1, ch):
                for x in range(0, w - cw + 1, cw):
                    boxes.append((pi, y, x, ch, cw))
        if not boxes:
            continue
        rng = np.random.default_rng([config.seed, 1, gi])
        order = rng.permutation(len(boxes))
        chosen, pixels = [], 0
        for i in order:
            if pixels >= config.max_pixels:
                break
            chosen.append(boxes[i])
            pixels += boxes[i][3] * boxes[i][4]
        clean = [np.ascontiguousarray(images[pi][0][y:y + h, x:x + w]) for pi, y, x, h, w in chosen]
        noisy = [np.ascontiguousarray(images[pi][1][y:y + h, x:x + w]) for pi, y, x, h, w in chosen]
        sig = [np.ascontiguousarray(sigmas[pi][y:y + h, x:x + w]) for pi, y, x, h, w in chosen] if sigmas else None
        stats = [image_stats(c, n) if sig is None else sigma_target_stats(c, n, sig[i])
                 for i, (c, n) in enumerate(zip(clean, noisy))]
        target = NoiseStats()
        for st in stats:
            accumulate(target, st)
        search, px = [], 0
        for i, c in enumerate(clean):
            if px >= config.search_pixels:
                break
            search.append(i)
            px += c.shape[0] * c.shape[1]
        iso = members[0].iso
        name = " · ".join(x for x in ((members[0].root if several_roots else ""),
                                      f"ISO {iso}" if iso is not None else "all") if x)
        whole = None if sig is not None else [image_stats(*images[pi]) if pi in images else NoiseStats()
                                              for pi in range(len(members))]
        groups.append(CalibrationGroup(name, iso, [p.id for p in members], clean, noisy, target, search, sigmas=sig,
                                       stats=stats, boxes=chosen, scenes=[p.scene or p.id for p in members],
                                       widths=[images[pi][0].shape[1] if pi in images else 0
                                               for pi in range(len(members))], whole=whole))
    return groups


def low_signal(group: CalibrationGroup) -> str | None:
    """A message when a channel of the group has less than LOW_SIGNAL of its pixels usable (codes strictly between
    0 and 255 with at most USABLE_CLIP of their noisy values clipped: not near-black, not saturated), else None."""
    st = group.target
    n = st.level_n.astype(np.float64)
    ok = (st.level_clip <= USABLE_CLIP * n) & (np.arange(256) > 0) & (np.arange(256) < 255)
    frac = (n * ok).sum(axis=1) / np.maximum(n.sum(axis=1), 1)
    if frac.min() >= LOW_SIGNAL:
        return None
    worst = int(np.argmin(frac))
    return (f"{group.name}: only {100 * frac[worst]:.0f}% of the {'RGB'[worst]} pixels carry usable signal (the rest "
            f"near black, saturated or clipped): too little to fit a camera model reliably; falling back to the "
            f"sRGB models (srgb, awgn, with and without correlation), fitted on the usable codes only")


def jpeg_options(config: CalibrateConfig, pairs: Sequence[Pair]) -> tuple[tuple[int | None, str], ...]:
    """The (quality, subsampling) options to search: read from the files when config.jpeg_from_files and every
    noisy file is a JPEG (the most common setting among them), else config.jpeg × config.subsampling."""
    if config.jpeg_from_files and pairs:
        found = [jpeg_settings(p.noisy) for p in pairs]
        if all(q is not None for q, _ in found):
            return (max(set(found), key=found.count),)
    return tuple(dict.fromkeys((q, "4:2:0" if q is None else sub) for q in config.jpeg for sub in config.subsampling))


def calibrate(config: CalibrateConfig, echo: Callable[[str], None] = lambda s: None,
              pairs: Sequence[Pair] | None = None) -> Calibration:
    """Fit a camera profile to the pairs of one camera (see the module docstring).

    ``pairs``: fit exactly these pairs (e.g. the calibration split of one camera-ISO group, as
    noisegen.analysis.realism.protocol does) instead of scanning ``config.pairs``; camera and ISO filters still apply.

    Returns:
        Calibration (its ``profile`` is a CameraProfile for `noisegen generate --profile`).
    Raises:
        ValueError: no usable pair, several cameras without --camera, unknown curve names.
    """
    t0 = time.perf_counter()
    if pairs is None:
        scan = scan_pairs(config.pairs, config.group_regex)
        skipped = [s.to_dict() for s in scan.skipped]
        if not scan.pairs:
            raise ValueError(f"no usable noisy/clean pair in {', '.join(config.pairs)} ({len(skipped)} files skipped)")
        pairs = scan.pairs
    elif not pairs:
        raise ValueError("pairs: no pair to calibrate on")
    else:
        skipped = []
    camera, pairs = select_pairs(tuple(pairs), config.camera, config.iso)
    if config.noisy_only:
        target, why = resolve_target(config.noisy_target, pairs)
        echo(why)
        config = dataclasses.replace(config, noisy_target=target)
    groups = _prepare(pairs, config, skipped)
    if not groups:
        first = f"; first: {skipped[0]['reason']}" if skipped else ""
        raise ValueError(f"no usable pair of {camera} ({len(skipped)} skipped{first})")
    echo(f"{camera}: {len(pairs)} pairs in {len(groups)} group(s), "
         f"{sum(sum(c.shape[0] * c.shape[1] for c in g.clean) for g in groups) / 1e6:.2f} Mpx of crops")
    warnings = [w for g in groups if (w := low_signal(g))]
    for w in warnings:
        echo(w)
    search = Search(groups, config if config.fast else dataclasses.replace(config, jpeg_from_files=True), camera)
    if warnings and not config.fast and config.family is None:
        search.families = SIMPLE_FAMILIES   # the fallback: no camera model on too little signal
    if config.noisy_only and not config.fast and config.family is None:
        search.families = tuple(f for f in (search.families or FAMILIES) if f in NOISY_ONLY_FAMILIES)
        echo(NOISY_ONLY_WHY)
    jpegs = jpeg_options(search.config, pairs)
    if search.config.jpeg_from_files and len(jpegs) == 1 and jpegs[0][0] is not None:
        echo(f"JPEG read from the noisy files: q{jpegs[0][0]} {jpegs[0][1]}")
    selection, profile, family = None, None, "camera"
    if config.fast:
        cand, parts, _ = search_camera(search, jpegs, echo)
    else:
        fam, selection = select_family(search, lambda: search_camera(search, jpegs, echo), len(pairs), echo)
        cand, parts, profile, family = fam.cand, fam.parts, fam.profile, fam.name

    fits = []
    for gi, g in enumerate(groups):
        s3, c3 = cand.sigma[gi]
        p = dict(parts[gi])
        sim = p.pop("_sim")
        kw = dict(bins=config.bins, min_count=config.min_count, max_clip=config.max_clip)
        fits.append(GroupFit(
            name=g.name, iso=g.iso, pairs=g.pairs, crops=len(g.clean),
            pixels=int(sum(x.shape[0] * x.shape[1] for x in g.clean)), sigma_s=float(np.mean(s3)),
            sigma_c=float(np.mean(c3)), sigma_s_rgb=list(s3), sigma_c_rgb=list(c3), errors=p,
            real_nlf=nlf_from_stats(g.target, **kw).to_dict(), sim_nlf=nlf_from_stats(sim, **kw).to_dict()))
    profile = profile or build_profile(config, camera, cand, fits, len(pairs))
    return Calibration(camera=camera, crf=cand.crf, crf_bank=config.crf_bank, demosaic=cand.demosaic, jpeg=cand.jpeg,
                       loss=cand.loss, groups=fits, candidates=search.candidates, profile=profile, config=config,
                       skipped=skipped, elapsed=time.perf_counter() - t0, nr=cand.nr, subsampling=cand.subsampling,
                       family=family, selection=selection, corr=cand.corr, warnings=warnings)
