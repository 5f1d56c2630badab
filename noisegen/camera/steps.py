"""The noisegen steps of the camera command: per-ISO profiles, generated datasets, realism scores of the
profiles on the held-out pairs, and the noise level of noisy photos per intensity bin.

Each step is a function of its inputs and a seed, and each writes its result atomically, so that a
resumed run reuses what is complete (profiles: a JSON file per group; datasets: `generate`'s own resume).

- profiles: a fit step per camera-ISO group on its calibration pairs (noisegen.analysis.realism.models:
  ``calibrate`` and the other FIT_STEPS, or ``module:function``), plus ``quick`` (``quick_fit``: one curve,
  no mosaic, no JPEG, one iteration on few pixels; seconds, for toy runs and CI).
- noisy-only profiles: the same fit steps on the pseudo-pairs of a group's calibration images (a D-BSN's
  output, `noisegen-train pseudo-pairs`), with ``noisy_only`` (`noisegen calibrate --noisy-only`,
  noisegen.analysis.calibrate.noisy_only): no clean image of the camera is needed.
- datasets: `noisegen generate` (noisegen.dataset.generate) on the clean photos: the folders given, else
  the embedded photos (noisegen.dataset.samples).
- realism: per group, the AWGN and sRGB a·x+b baselines fitted on the calibration pairs and the group's
  profile, scored on its test pairs with `noisegen realism`'s functions (noisegen.analysis.realism:
  AKLD, NLF, correlations; the same draws and seeds).
- noise levels: the std of (noisy − pseudo-clean) per channel and clean-intensity bin (noisegen.analysis.nlf's
  pooled within-code std), where the pseudo-clean image is a denoiser's output: what can be said of a
  camera's noise without a clean reference.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from noisegen.analysis.calibrate.fit import CalibrateConfig, calibrate
from noisegen.analysis.calibrate.noisy_only import DEFAULT_NOISY_TARGET
from noisegen.analysis.nlf import NoiseStats, accumulate, image_stats, nlf_from_stats
from noisegen.analysis.realism.models import (
    FIT_STEPS,
    NoiseModel,
    baseline_profile,
    fit_awgn,
    fit_srgb_linear,
    profile_model,
    resolve_fit,
)
from noisegen.analysis.realism.protocol import RealismConfig, score_pair
from noisegen.analysis.realism.report import summarise_group
from noisegen.analysis.realism.split import GroupSplit
from noisegen.atomic import atomic_write_bytes
from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.images import centre_crop, open_image, oriented_size
from noisegen.dataset.pairs import Pair, load_pair
from noisegen.dataset.samples import sample_photo_paths
from noisegen.dataset.sources import file_sha256, scan_sources
from noisegen.isp.profiles import CameraProfile, load_profile, resolve_profile, save_profile

__all__ = ["QUICK_FIT", "quick_fit", "fit_step", "slug", "clean_photo_files", "files_digest", "fit_profiles",
           "noisy_fit_step", "pseudo_pairs_of", "fit_noisy_profiles", "BASELINE_FITS", "baseline_profiles",
           "make_dataset", "realism_scores", "noise_levels"]

QUICK_FIT = "quick"


def quick_fit(pairs: Sequence[Pair], camera: str | None, iso: int | None, seed: int,
              noisy_only: bool = False, noisy_target: str = DEFAULT_NOISY_TARGET) -> CameraProfile:
    """A seconds-long calibration for toy runs: one curve, no mosaic, no JPEG, 1 iteration, few pixels.
    ``noisy_only``, ``noisy_target``: the pairs are pseudo-pairs (CalibrateConfig.noisy_only, .noisy_target)."""
    cfg = CalibrateConfig(pairs=("-",), camera=camera, iso=(iso,) if iso is not None else (), crf_curves=("sRGB",),
                          demosaic=("none",), jpeg=(None,), crop=64, max_pixels=40_000, search_pixels=20_000,
                          iterations=1, top_k=1, min_count=50, seed=seed, noisy_only=noisy_only,
                          noisy_target=noisy_target)
    return calibrate(cfg, pairs=pairs).profile


def fit_step(name: str) -> Callable[[Sequence[Pair], str | None, int | None, int], CameraProfile]:
    """``quick`` (quick_fit) or a fit step of `noisegen realism --fit` (resolve_fit: ValueError when unknown)."""
    return quick_fit if name == QUICK_FIT else resolve_fit(name)


def slug(text: str) -> str:
    """A file-name-safe lower-case form of a group name ('Canon5D2 · ISO 3200' → 'canon5d2-iso-3200')."""
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-") or "group"


def clean_photo_files(clean: Sequence[str], patch: int, max_images: int | None = None) -> list[str]:
    """The photos `generate` renders for ``clean`` (folders or files; empty: the embedded photos), as it
    scans them: at least patch×patch, the first ``max_images`` by id.

    Raises:
        ValueError: no usable photo, saying where it looked and what to give.
    """
    try:
        roots = [str(p) for p in (clean or sample_photo_paths())]
    except RuntimeError as exc:
        raise ValueError(f"no clean photos for generate: {exc}; give --clean DIR") from None
    scan = scan_sources(roots, min_size=patch, max_images=max_images)
    if not scan.images:
        where = ", ".join(clean) if clean else "the embedded photos"
        raise ValueError(f"no clean photos for generate in {where} ({len(scan.skipped)} files skipped): give --clean "
                         f"DIR with photos of at least {patch}×{patch} pixels")
    return [im.path for im in scan.images]


def files_digest(paths: Sequence[str]) -> str:
    """sha256 over the files' names and contents, in order: whether a list of photos is still the same."""
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{p}\0{file_sha256(p)}\0".encode())
    return h.hexdigest()


def fit_profiles(groups: Sequence[GroupSplit], fit: str, folder: Path, seed: int,
                 echo: Callable[[str], None] = lambda s: None) -> list[tuple[str, Path]]:
    """(group slug, profile JSON) per group, fitted on its calibration pairs with ``fit``; a profile already
    written (by an interrupted run) is reused. Each JSON records the pairs it was fitted on beside it
    (``<slug>.fit.json``)."""
    fn, out = fit_step(fit), []
    folder.mkdir(parents=True, exist_ok=True)
    for i, g in enumerate(groups):
        path = folder / f"{slug(g.name)}.json"
        if not path.exists():
            t = time.perf_counter()
            echo(f"profile {i + 1}/{len(groups)}: {g.name}: {fit} on {len(g.calib)} calibration pairs")
            prof = fn(list(g.calib), g.camera, g.iso, seed)
            info = {"group": g.name, "camera": g.camera, "iso": g.iso, "fit": fit, "seed": seed,
                    "fitted_on": [p.id for p in g.calib], "seconds": round(time.perf_counter() - t, 1)}
            atomic_write_bytes(folder / f"{slug(g.name)}.fit.json", (json.dumps(info, indent=1) + "\n").encode())
            save_profile(prof, path)
            echo(f"profile {i + 1}/{len(groups)}: {g.name}: done in {info['seconds']:.0f} s")
        out.append((slug(g.name), path))
    return out


def noisy_fit_step(name: str) -> Callable[[Sequence[Pair], str | None, int | None, int], CameraProfile]:
    """The fit step ``name`` on pseudo-pairs: ``quick`` or a FIT_STEPS name with CalibrateConfig.noisy_only.

    Raises:
        ValueError: a ``module:function`` step (it has no noisy-only form) or an unknown name.
    """
    if name == QUICK_FIT:
        return functools.partial(quick_fit, noisy_only=True, noisy_target=DEFAULT_NOISY_TARGET)
    if name in FIT_STEPS:  # calibrate_fit with CalibrateConfig options
        return functools.partial(FIT_STEPS[name], noisy_only=True, noisy_target=DEFAULT_NOISY_TARGET)
    raise ValueError(f"noisy-only fit: expected {QUICK_FIT} or one of {', '.join(FIT_STEPS)} (a module:function "
                     f"step has no noisy-only form), got {name!r}")


def pseudo_pairs_of(group: GroupSplit, pseudo: Path) -> list[Pair]:
    """The pseudo-pairs of ``group``'s calibration images (pairs' noisy sides or noisy photos) in the
    `noisegen-train pseudo-pairs` folder ``pseudo`` (noisy/, gt/, sigma/), matched by file stem, with the
    group's camera and ISO and each image's scene. Images without a written pseudo-pair and σ map are left out."""
    noisy = {f.stem: f for f in sorted((pseudo / "noisy").iterdir()) if f.is_file()}
    out = []
    for item in group.calib:
        stem = Path(item.noisy).stem
        gt = pseudo / "gt" / f"{stem}.png"
        if stem not in noisy or not gt.exists() or not (pseudo / "sigma" / f"{stem}.npy").exists():
            continue
        with open_image(gt, max_pixels=None) as im:
            w, h = oriented_size(im)
        out.append(Pair(id=f"{pseudo.name}/{stem}", noisy=str(noisy[stem]), clean=str(gt), root=pseudo.name, height=h,
                        width=w, camera=group.camera, iso=group.iso, scene=item.scene or stem))
    return out


def fit_noisy_profiles(groups: Sequence[GroupSplit], pseudo: Path, fit: str, folder: Path, seed: int,
                       echo: Callable[[str], None] = lambda s: None) -> list[tuple[str, Path]]:
    """(group slug, profile JSON) per group, fitted with ``fit`` (noisy_fit_step) on the pseudo-pairs of its
    calibration images (pseudo_pairs_of), as `noisegen calibrate --noisy-only` fits them (the NLF target by
    DEFAULT_NOISY_TARGET, ``auto``: noisy − pseudo-clean after a PD-trained D-BSN, as the camera command's (g) is;
    noisegen.analysis.calibrate.noisy_only.resolve_target).

    Each profile's ``<slug>.fit.json`` records ``noisy_only``, the NLF target, the pseudo-pairs and their content
    digest; a profile written for the same pseudo-pairs (same files, same bytes) and target is reused, else
    refitted.

    Raises:
        ValueError: a group without pseudo-pairs, or a fit step without a noisy-only form.
    """
    fn, out = noisy_fit_step(fit), []
    folder.mkdir(parents=True, exist_ok=True)
    for i, g in enumerate(groups):
        pairs = pseudo_pairs_of(g, pseudo)
        if not pairs:
            raise ValueError(f"{g.name}: no pseudo-pair of its calibration images in {pseudo}")
        path, info_path = folder / f"{slug(g.name)}.json", folder / f"{slug(g.name)}.fit.json"
        digest = files_digest([str(f) for p in pairs
                               for f in (p.noisy, p.clean, pseudo / "sigma" / f"{Path(p.noisy).stem}.npy")])
        known = json.loads(info_path.read_text()) if info_path.exists() else {}
        if path.exists() and (known.get("digest"), known.get("noisy_target")) == (digest, DEFAULT_NOISY_TARGET):
            out.append((slug(g.name), path))
            continue
        t = time.perf_counter()
        echo(f"noisy-only profile {i + 1}/{len(groups)}: {g.name}: {fit} on {len(pairs)} pseudo-pairs")
        prof = fn(pairs, g.camera, g.iso, seed)
        info = {"group": g.name, "camera": g.camera, "iso": g.iso, "fit": fit, "noisy_only": True,
                "noisy_target": DEFAULT_NOISY_TARGET, "seed": seed,
                "pseudo_pairs": str(pseudo), "fitted_on": [p.id for p in pairs], "digest": digest,
                "seconds": round(time.perf_counter() - t, 1)}
        save_profile(prof, path)
        atomic_write_bytes(info_path, (json.dumps(info, indent=1) + "\n").encode())
        echo(f"noisy-only profile {i + 1}/{len(groups)}: {g.name}: done in {info['seconds']:.0f} s")
        out.append((slug(g.name), path))
    return out


# The simple noise models of `noisegen realism` (noisegen.analysis.realism.baselines) as rows of the camera
# command: the honest control of a calibrated profile (issue 18).
BASELINE_FITS = {"awgn": fit_awgn, "srgb-ax-b": fit_srgb_linear}


def baseline_profiles(groups: Sequence[GroupSplit], kind: str, folder: Path,
                      echo: Callable[[str], None] = lambda s: None) -> list[tuple[str, Path]]:
    """(group slug, profile JSON) per group: the baseline ``kind`` ("awgn": one σ; "srgb-ax-b": per channel
    var = a·x + b in sRGB) fitted on the group's calibration pairs (whole images, as `noisegen realism` fits
    them) and written as a profile with no camera steps (noisegen.analysis.realism.baselines.baseline_profile);
    a profile already written is reused.

    Raises:
        ValueError: an unknown kind, or a group whose pairs cannot fit the baseline (named).
    """
    if kind not in BASELINE_FITS:
        raise ValueError(f"baseline: expected one of {sorted(BASELINE_FITS)}, got {kind!r}")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for g in groups:
        path = folder / f"{slug(g.name)}-{kind}.json"
        if not path.exists():
            st = NoiseStats()
            for p in g.calib:
                accumulate(st, image_stats(*load_pair(p)))
            try:
                model = BASELINE_FITS[kind](st)
            except ValueError as exc:
                raise ValueError(f"{g.name}: the {kind} baseline cannot be fitted on its calibration pairs: {exc}") \
                    from None
            save_profile(baseline_profile(model, name=f"{kind}-{slug(g.name)}"), path)
            echo(f"baseline {kind}: {g.name}: {model.description}, on {len(g.calib)} calibration pairs")
        out.append((slug(g.name), path))
    return out


def make_dataset(out: Path, profile: str | Path, clean: Sequence[str], *, clean_target: str, patch: int,
                 patches_per_image: int, seed: int, max_images: int | None = None, workers: int = 1,
                 progress: bool = False, echo: Callable[[str], None] = lambda s: None) -> Path:
    """`noisegen generate` of ``profile`` (a built-in name or a profile file) on the clean photos, resumed when
    ``out`` holds an interrupted or complete run of the same options; returns ``out``."""
    prof = resolve_profile(str(profile))
    done = (out / "dataset.json").exists()
    t = time.perf_counter()
    s = generate(GenerateConfig(out=str(out), images=tuple(clean), profile=prof, patch=patch,
                                patches_per_image=patches_per_image, samples_per_shard=64, seed=seed,
                                clean_target=clean_target, max_images=max_images, workers=workers,
                                resume=out.exists()), progress=progress, echo=lambda m: None)
    if not done:
        echo(f"dataset {out.name}: {s.samples} patches of {patch}² ({prof.name}, clean = {clean_target}), "
             f"{time.perf_counter() - t:.0f} s")
    return out


def realism_scores(groups: Sequence[GroupSplit], profiles: Sequence[tuple[str, Path]], *, draws: int, seed: int,
                   crop: int | None, echo: Callable[[str], None] = lambda s: None) -> list[dict]:
    """Per group: AKLD and NLF error of its profile and of the two baselines, on its test pairs (module docstring).

    Returns:
        [{"group", "test_pairs", "models": {key: {"akld", "self_akld", "nlf_rel_mean", "lag1", "description"}},
        "nlf": {key: per-bin 8-bit std, real included}}] in group order; the profile's key is "profile".
    """
    config = RealismConfig(calib=("-",), test=("-",), draws=draws, seed=seed, crop=crop)
    out = []
    for i, (g, (_, path)) in enumerate(zip(groups, profiles)):
        t = time.perf_counter()
        st = NoiseStats()
        for p in g.calib:
            clean, noisy = (centre_crop(a, crop) for a in load_pair(p))
            accumulate(st, image_stats(clean, noisy))
        ids = tuple(p.id for p in g.calib)
        models: list[NoiseModel] = []
        for fit in (fit_awgn, fit_srgb_linear):
            try:
                m = fit(st)
                models.append(NoiseModel(m.key, m.kind, m.description, params=m.params, fitted_on=ids, fit=m.fit))
            except ValueError as exc:  # a baseline that cannot be fitted is left out, not the group
                echo(f"realism {g.name}: {exc}")
        prof = load_profile(path)
        models.append(profile_model(prof, "profile", kind="fitted", fitted_on=ids))
        scores = [score_pair(p, g.name, models, draws, seed, crop) for p in g.test]
        res = summarise_group(g, models, scores, config)
        out.append({"group": g.name, "test_pairs": len(g.test), "models": {
            k: {"akld": s.akld, "self_akld": s.self_akld, "nlf_rel_mean": s.stats.get("nlf_rel_mean"),
                "lag1": s.stats.get("lag1"), "description": next(m.description for m in models if m.key == k)}
            for k, s in res.scores.items()},
            "nlf": {"x": res.scores["profile"].nlf["x"], "real_8bit": res.scores["profile"].nlf["real_8bit"],
                    **{k: s.nlf["sim_8bit"] for k, s in res.scores.items()}}})
        echo(f"realism {i + 1}/{len(groups)}: {g.name}: AKLD " + ", ".join(
            f"{k} {v['akld']:.3f}" for k, v in out[-1]["models"].items()) + f" ({time.perf_counter() - t:.0f} s)")
    return out


def noise_levels(images: Sequence[tuple[np.ndarray, np.ndarray]], *, bins: int = 8,
                 min_count: int = 200) -> dict:
    """The noise std per channel and intensity bin of noisy images against their pseudo-clean images.

    Args:
        images: (noisy, pseudo_clean) uint8 H×W×3 pairs of one camera-ISO group.
        bins: equal-width bins of the pseudo-clean intensity; min_count: fewest pixels of a reported bin.
    Returns:
        {"x": bin centres in [0, 1], "std_8bit": [[R…], [G…], [B…]] (8-bit levels, None where a bin has
        fewer than min_count pixels or is clipped), "pixels": [per bin, G channel], "images": count}.
    """
    st = NoiseStats()
    for noisy, clean in images:
        accumulate(st, image_stats(clean, noisy))
    nlf = nlf_from_stats(st, bins=bins, min_count=min_count)
    std = np.where(nlf.valid, nlf.std * 255.0, np.nan)
    return {"x": [round(float(v), 4) for v in nlf.x[1]],
            "std_8bit": [[None if not np.isfinite(v) else round(float(v), 3) for v in row] for row in std],
            "pixels": [int(v) for v in nlf.count[1]], "images": len(images)}
