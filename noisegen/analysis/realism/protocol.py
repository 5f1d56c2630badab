"""`noisegen realism`: how close a noise model's residuals are to a real camera's, on pairs it was not fitted on.

Protocol (DESIGN.md §6 "Measuring realism", issue 11 §1), per camera-ISO group of real noisy/clean pairs:

1. Split. Either the user gives calibration and test folders (``calib``, ``test``; groups are
   matched by camera and ISO), or one set of folders (``pairs``) is split by scene *within each
   group* with noisegen pack-pairs' rule (noisegen.dataset.pack_pairs.assign_splits: scenes permuted
   with the seed, whole scenes to ``calib`` until it holds its share, the rest to ``test``); when
   uneven scene sizes would leave a part empty, ``calib`` gets the first scene of the same order
   alone. A group with one scene cannot be split and is skipped, with the reason listed.
2. Fit, on the calibration pairs only: the AWGN and sRGB a·x+b baselines
   (noisegen.analysis.realism.models) and, with ``fit``, a profile per group (e.g. noisegen calibrate).
   Profiles given as names or files are scored as they are; a profile *file* must say which pairs
   it was fitted on (``fitted_on``: pair folders or calibrate reports, or "none"; the report that
   `noisegen calibrate` writes beside a profile is read when present, and in calib/test mode the
   calibration folders count as its fitting pairs). Scoring a test pair that a model was fitted on
   is an error unless ``in_sample`` is set (then test = calibration pairs and the report says so).
3. Score each test pair: L draws per model (explicit seeds: the parameters of draw l of a pair come
   from default_rng([seed, 1, h₁, h₂, l]) and its noise from seed [seed, 2, h₁, h₂, l], h = the
   sha256 of the pair id, so every model sees the same seeds), the simulation made from the pair's
   clean image with noisegen.isp.pipeline.synthesize. Statistics, real against simulated:
   AKLD (noisegen.analysis.realism.akld); the NLF per intensity bin, lag-1/lag-2 autocorrelation and
   cross-channel correlation (noisegen.analysis.nlf, pooled over the group's test pairs and draws);
   8×8 block statistics (noisegen.analysis.realism.blocks); and each model's own estimation floor (AKLD of
   its draws 2..L against its draw 1, what it would score if it were the real camera).
4. Report (noisegen.analysis.realism.report): per group and model; the mean over groups; and per
   non-baseline model the groups where it beats both baselines. The published AKLD anchors are
   printed beside it.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noisegen.analysis.nlf import NoiseStats, accumulate, image_stats
from noisegen.analysis.realism.akld import akld_draw, local_variance, residual01
from noisegen.analysis.realism.blocks import BlockStats, block_stats
from noisegen.analysis.realism.models import (
    NoiseModel,
    fit_awgn,
    fit_srgb_linear,
    profile_model,
    resolve_fit,
)
from noisegen.analysis.realism.report import GroupResult, RealismReport, summarise_group
from noisegen.analysis.realism.split import (
    DEFAULT_SPLIT,
    GroupSplit,
    check_held_out,
    fitted_stems,
    match_groups,
    pair_stem,
    split_groups,
)
from noisegen.dataset.images import centre_crop
from noisegen.dataset.pack_pairs import parse_split
from noisegen.dataset.pairs import Pair, load_pair, scan_pairs
from noisegen.isp.pipeline import synthesize
from noisegen.isp.profiles import BUILTIN_PROFILES, resolve_profile

__all__ = ["MAP_SIDE", "RealismConfig", "PairScore", "score_pair", "run_realism"]

MAP_SIDE = 128   # side of the centre crop shown in the figure's local-variance maps (8×8 blocks stay visible)


@dataclass(frozen=True)
class RealismConfig:
    """Configuration of `noisegen realism` (see the module docstring).

    pairs: folders split by scene within each camera-ISO group; calib, test: or separate folders (both).
    profiles: built-in profile names or profile JSON files, scored as given (default: cbdnet, for
    reference). fitted_on: for profile files, folders of pairs or calibrate reports they were fitted
    on, or ("none",). fit: a fit step run per group on the calibration split ("calibrate",
    "calibrate-render" or module:function; None: none). split: "calib:N,test:rest" in pack-pairs' syntax.
    seed: split, parameter draws and noise. draws: L simulations per test pair and model. camera,
    iso: restrict to these (camera: case-insensitive substring). group_regex: naming rule
    (noisegen.dataset.pairs). crop: score centre crops of this side (None: whole images); the baselines
    are fitted on the same crops of the calibration pairs, fit steps get the pair files. in_sample:
    score the calibration pairs themselves (biased; for diagnosis). bins, min_count, max_clip: NLF
    bins (noisegen.analysis.nlf). figure_pairs: pairs shown in the figure. workers: processes.
    """

    pairs: tuple[str, ...] = ()
    calib: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ("cbdnet",)
    fitted_on: tuple[str, ...] = ()
    fit: str | None = None
    split: str = DEFAULT_SPLIT
    seed: int = 0
    draws: int = 8
    camera: str | None = None
    iso: tuple[int, ...] = ()
    group_regex: str | None = None
    crop: int | None = None
    in_sample: bool = False
    bins: int = 16
    min_count: int = 1000
    max_clip: float = 0.01
    figure_pairs: int = 3
    workers: int = 1

    def __post_init__(self) -> None:
        put = object.__setattr__
        for name in ("pairs", "calib", "test", "profiles", "fitted_on"):
            v = getattr(self, name)
            put(self, name, (v,) if isinstance(v, str) else tuple(str(x) for x in v))
        put(self, "iso", tuple(int(i) for i in self.iso))
        if bool(self.pairs) == bool(self.calib or self.test):
            raise ValueError("give either --pairs DIR (split by scene) or --calib DIR and --test DIR")
        if bool(self.calib) != bool(self.test):
            raise ValueError("--calib and --test go together: the baselines are fitted on --calib, scored on --test")
        names = sorted(n for n, _ in parse_split(self.split))
        if names != ["calib", "test"]:
            raise ValueError(f"--split {self.split!r}: expected the two splits calib and test, "
                             "e.g. calib:50%,test:rest")
        for name, lo in (("draws", 1), ("bins", 2), ("min_count", 1), ("workers", 1), ("seed", 0),
                         ("figure_pairs", 0)):
            if int(getattr(self, name)) < lo:
                raise ValueError(f"{name}: expected >= {lo}, got {getattr(self, name)}")
        if self.crop is not None and self.crop < 16:
            raise ValueError(f"crop: expected >= 16 pixels (the 7×7 window and 8×8 blocks need room), got {self.crop}")
        if not 0.0 <= self.max_clip <= 1.0:
            raise ValueError(f"max_clip: expected a fraction in [0, 1], got {self.max_clip}")
        if self.fit is not None:
            resolve_fit(self.fit)   # unknown names fail before any work


# ------------------------------------------------------------------------------------------------
# Scoring one test pair


@dataclass
class PairScore:
    """What one test pair contributes: the real statistics, and per model key the pooled simulated
    statistics, the AKLD of each draw, its estimation floor (draws 2..L against draw 1), block statistics
    per draw, and (for the figure) G-channel log10 local variance maps in 8-bit levels² of the centre."""

    pair_id: str
    group: str
    real: NoiseStats
    real_blocks: BlockStats
    sims: dict[str, NoiseStats]
    akld: dict[str, list[float]]
    self_akld: dict[str, list[float]]
    blocks: dict[str, list[BlockStats]]
    maps: dict[str, np.ndarray] | None = None


def _pair_words(pair_id: str) -> list[int]:
    k = hashlib.sha256(pair_id.encode("utf-8")).digest()
    return [int.from_bytes(k[:4], "little"), int.from_bytes(k[4:8], "little")]


def _log_map(var: np.ndarray) -> np.ndarray:
    g = centre_crop(var[:, :, 1], MAP_SIDE)
    return np.log10(g * 255.0**2).astype(np.float32)


def score_pair(pair: Pair, group: str, models: Sequence[NoiseModel], draws: int, seed: int,
               crop: int | None = None, figure: bool = False) -> PairScore:
    """Score every model on one real pair (module docstring, step 3). Pure given the files and seeds."""
    clean, noisy = (centre_crop(a, crop) for a in load_pair(pair))
    var_real = local_variance(residual01(noisy, clean))
    words = _pair_words(pair.id)
    out = PairScore(pair.id, group, image_stats(clean, noisy), block_stats(clean, noisy), {}, {}, {}, {},
                    {"clean": centre_crop(clean, MAP_SIDE), "real": _log_map(var_real)} if figure else None)
    for m in models:
        st, kl, floor, blocks, var0 = NoiseStats(), [], [], [], None
        for ell in range(draws):
            params = m.draw(np.random.default_rng([seed, 1, *words, ell]))
            sim = synthesize(clean, params, seed=[seed, 2, *words, ell]).noisy
            var = local_variance(residual01(sim, clean))
            accumulate(st, image_stats(clean, sim))
            kl.append(akld_draw(var_real, var))
            blocks.append(block_stats(clean, sim))
            if var0 is None:
                var0 = var
                if out.maps is not None:
                    out.maps[m.key] = _log_map(var)
            else:
                floor.append(akld_draw(var0, var))
        out.sims[m.key], out.akld[m.key], out.self_akld[m.key], out.blocks[m.key] = st, kl, floor, blocks
    return out


# ------------------------------------------------------------------------------------------------
# The whole run


def _scan(folders: tuple[str, ...], what: str, group_regex: str | None) -> tuple[tuple[Pair, ...], list[dict]]:
    scan = scan_pairs(folders, group_regex)
    if not scan.pairs:
        raise ValueError(f"no usable noisy/clean pair in {what} {', '.join(folders)} ({scan.found} image files, "
                         f"{len(scan.skipped)} skipped)")
    return scan.pairs, [s.to_dict() for s in scan.skipped]


def _profile_models(config: RealismConfig, calib_stems: set[str]) -> tuple[list[NoiseModel], dict[str, set[str]]]:
    models, fitted = [], {}
    explicit: set[str] | None = None
    if config.fitted_on and config.fitted_on != ("none",):
        explicit = set().union(*(fitted_stems(p, config.group_regex) for p in config.fitted_on if p != "none"))
    for spec in config.profiles:
        prof = resolve_profile(spec)
        key, n = prof.name, 2
        while key in {m.key for m in models} | {"AWGN", "sRGB a·x+b"}:
            key, n = f"{prof.name}~{n}", n + 1
        stems: set[str] = set()
        if spec not in BUILTIN_PROFILES:
            report = Path(spec).with_name(Path(spec).stem + ".report.json")
            if report.is_file():
                stems |= fitted_stems(str(report))
            if explicit is not None:
                stems |= explicit
            if config.calib:
                stems |= calib_stems
            elif not report.is_file() and not config.fitted_on:
                raise ValueError(f"profile {spec}: say which pairs it was fitted on with --fitted-on (a folder of "
                                 "pairs or its calibrate report; 'none' if it was fitted on none of these pairs), "
                                 "or score it with --calib DIR --test DIR")
        fitted[f"profile {key}"] = stems
        models.append(profile_model(prof, key, fitted_on=sorted(stems)))
    return models, fitted


def _calib_stats(group: GroupSplit, crop: int | None) -> NoiseStats:
    st = NoiseStats()
    for p in group.calib:
        clean, noisy = (centre_crop(a, crop) for a in load_pair(p))
        accumulate(st, image_stats(clean, noisy))
    return st


def _fit_group(group: GroupSplit, config: RealismConfig) -> tuple[list[NoiseModel], list[dict]]:
    """The baselines and the optional fitted profile of one group, fitted on its calibration pairs."""
    st = _calib_stats(group, config.crop)
    ids = tuple(p.id for p in group.calib)
    try:
        models = [fit_awgn(st, config.max_clip), fit_srgb_linear(st, max_clip=config.max_clip)]
    except ValueError as exc:
        return [], [{"group": group.name, "reason": f"baselines cannot be fitted: {exc}"}]
    models = [NoiseModel(m.key, m.kind, m.description, params=m.params, fitted_on=ids, fit=m.fit) for m in models]
    skipped = []
    if config.fit is not None:
        t0 = time.perf_counter()
        try:
            prof = resolve_fit(config.fit)(list(group.calib), group.camera, group.iso, config.seed)
            m = profile_model(prof, config.fit, kind="fitted", fitted_on=ids)
            models.append(NoiseModel(m.key, m.kind, m.description, profile=prof, fitted_on=ids,
                                     fit={"seconds": round(time.perf_counter() - t0, 1)}))
        except (ValueError, KeyError) as exc:
            skipped.append({"group": group.name, "model": config.fit, "reason": f"fit failed: {exc}"})
    return models, skipped


def _fit_line(group: GroupSplit, models: list[NoiseModel], skipped: list[dict]) -> str:
    """One progress line per fitted group: what was fitted, or why not."""
    if not models:
        return f"{group.name}: skipped: {skipped[0]['reason']}"
    fitted = [m for m in models if m.kind == "fitted"]
    return (f"{group.name}: fitted on {len(group.calib)} pairs: " + "; ".join(m.description for m in models[:2])
            + "".join(f"; {m.key} ({m.fit.get('seconds')} s): {m.description}" for m in fitted)
            + "".join(f"; {s['model']}: {s['reason']}" for s in skipped))


def _parallel(fn, items: list, workers: int):
    """fn(*item) for each item, in order, in ``workers`` processes (loky: safe after numba's threads)."""
    if workers <= 1 or len(items) <= 1:
        yield from (fn(*it) for it in items)
        return
    from joblib import Parallel, delayed

    yield from Parallel(n_jobs=workers, backend="loky", return_as="generator")(delayed(fn)(*it) for it in items)


def run_realism(config: RealismConfig, echo: Callable[[str], None] = lambda s: None,
                progress: bool = False) -> RealismReport:
    """Score the configured models on held-out real pairs (see the module docstring).

    Raises:
        FileNotFoundError: a folder does not exist. ValueError: no pairs, no usable group, a model
            fitted on test pairs (without in_sample), bad profile or fit names.
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    skipped_files: list[dict] = []
    if config.pairs:
        pairs, skipped_files = _scan(config.pairs, "--pairs", config.group_regex)
        groups, skipped_groups = split_groups(pairs, config.split, config.seed, camera=config.camera,
                                              iso=config.iso, in_sample=config.in_sample)
    else:
        calib, s1 = _scan(config.calib, "--calib", config.group_regex)
        test, s2 = _scan(config.test, "--test", config.group_regex)
        skipped_files = s1 + s2
        groups, skipped_groups = match_groups(calib, test, camera=config.camera, iso=config.iso)
    if not groups:
        why = "; ".join(f"{s['group']}: {s['reason']}" for s in skipped_groups) or "no pair matches --camera/--iso"
        raise ValueError(f"no camera-ISO group to score ({why})")
    calib_stems = {pair_stem(p.noisy) for g in groups for p in g.calib}
    profile_models, fitted = _profile_models(config, calib_stems if config.calib else set())
    if not config.in_sample:
        fitted["the baselines (calibration pairs)"] = calib_stems
        check_held_out(groups, fitted)
    echo(f"{len(groups)} camera-ISO groups, {sum(len(g.calib) for g in groups)} calibration and "
         f"{sum(len(g.test) for g in groups)} test pairs" + (" (IN-SAMPLE: test = calibration pairs)"
                                                               if config.in_sample else "")
         + "".join(f"; skipped {s['group']}: {s['reason']}" for s in skipped_groups))

    fits = []
    for g, fit in zip(groups, _parallel(_fit_group, [(g, config) for g in groups], config.workers)):
        fits.append(fit)
        echo(_fit_line(g, *fit))
    skipped_groups += [s for models, sk in fits if not models for s in sk]
    skipped_models = [s for models, sk in fits if models for s in sk]
    groups, fits = [g for g, f in zip(groups, fits) if f[0]], [f for f in fits if f[0]]
    if not groups:
        raise ValueError("no camera-ISO group to score (" + "; ".join(f"{s['group']}: {s['reason']}"
                                                                      for s in skipped_groups) + ")")
    tasks = []
    for gi, (g, (models, _)) in enumerate(zip(groups, fits)):
        ordered = models[:2] + profile_models + models[2:]
        for pi, p in enumerate(g.test):
            tasks.append((p, g.name, ordered, config.draws, config.seed, config.crop,
                          pi == 0 and gi < config.figure_pairs))
    bar = tqdm(total=len(tasks), unit="pair", desc="realism", disable=not progress, dynamic_ncols=True)
    scores: list[PairScore] = []
    try:
        for s in _parallel(score_pair, tasks, config.workers):
            scores.append(s)
            bar.update(1)
    finally:
        bar.close()
    results: list[GroupResult] = []
    for g, (models, _) in zip(groups, fits):
        ordered = models[:2] + profile_models + models[2:]
        results.append(summarise_group(g, ordered, [s for s in scores if s.group == g.name], config))
    return RealismReport(config=config, groups=results, skipped_groups=skipped_groups, skipped_models=skipped_models,
                         skipped_files=skipped_files, elapsed=time.perf_counter() - t0,
                         roots={"pairs": [os.path.abspath(p) for p in config.pairs],
                                "calib": [os.path.abspath(p) for p in config.calib],
                                "test": [os.path.abspath(p) for p in config.test]})
