"""Rows (g), (h), (i) of the camera command: what the camera's noisy images alone give, through a D-BSN
(Wu, Liu, Cao, Ren, Zuo, "Unpaired Learning of Deep Image Denoising", ECCV 2020) trained on them.

(g) D-BSN alone: trained (trainer.stages.dbsn) on the run's noisy calibration images, with AP-BSN's PD
    (Lee, Son, Lee, CVPR 2022): stride 5 in training, 2 at inference with R³, the MAP output; the setting
    measured on CC60's held-out pairs (experiments/dbsn_heldout.py, issue 19.2: tiny D-BSN, 1000 steps, PD 2
    MAP + R³ 36.05 dB against the noisy input's 35.04);
(h) SN on the noisy-only profile: (g)'s pseudo-pairs of the same images (trainer.infer.pseudo_pairs: the
    D-BSN output and its σ maps) → per camera-ISO group a profile fitted as `noisegen calibrate --noisy-only`
    fits it (noisegen.camera.api.fit_noisy_profiles, the scale's fit step) → `generate --clean-target render`
    on the clean photos (data/noisy-only/<group>) → the SN stage, as row (d) but without a clean image of the
    camera;
(i) distilled: AINDNet on (h)'s synthetic datasets and (g)'s pseudo-pairs together (trainer.stages.distill,
    the paper's §3.4), from scratch, the same steps, half of every batch from each.

Noisy images (``noisy_groups``): the calibration pairs' noisy files when the folder has pairs (their clean
files are never linked, so no clean image of the camera is read by these rows), else the calibration
noisy-only photos; held-out images are never trained on. They are linked, or centre-cropped to Scale.crop,
into RUN/noisy-images/<calib or calib-crop<C>>/ (the names kept: the profiles find each group's images by
their stems). Pseudo-pairs go to RUN/pseudo/<same name>/ with the sha256 of the D-BSN checkpoint that wrote
them (checkpoint.sha256: another checkpoint empties the folder); profiles to RUN/profiles/noisy-only/.

D-BSN sizes per scale (``dbsn_sizes``): quick: tiny D-BSN, 40² crops; cpu: tiny, 100² crops (the measured
setting above: about 2 s per step of 5 crops on one loaded core; small is about 3 times slower); gpu: the
paper's D-BSN, 120² crops (AP-BSN's). Steps: the scale's, at most DBSN_MAX_STEPS (DBSNTrainConfig's
default: the D-BSN reaches its plateau long before the SN stage's 300k); the scale's batch and lr. All
three rows are resumable like the others (trainer.camera.context). ``ROWS_DBSN`` are added to a run by
CameraConfig.dbsn (`noisegen-train camera --dbsn`); docs/training.md §The camera command's D-BSN rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from noisegen.camera.api import GroupSplit, files_digest, fit_noisy_profiles
from trainer.camera.context import RunContext, link_or_crop, made_from, sha256_file
from trainer.camera.rows import Row
from trainer.engine.checkpoint import load_checkpoint
from trainer.infer.pseudo_pairs import CLEAN_DIR, SIGMA_DIR, PseudoPairsConfig, write_pseudo_pairs
from trainer.stages.dbsn import train_dbsn
from trainer.stages.dbsn_config import DBSNTrainConfig
from trainer.stages.distill import DistillConfig, distill

__all__ = ["DBSN_SIZES", "DBSN_MAX_STEPS", "DBSN_PD", "dbsn_sizes", "noisy_groups", "link_noisy", "noisy_images",
           "dbsn_config", "pseudo_pairs", "noisy_profiles", "ROW_G", "ROW_H", "ROW_I", "ROWS_DBSN"]

DBSN_SIZES = {"quick": ("tiny", 40), "cpu": ("tiny", 100), "gpu": ("paper", 120)}  # scale → (D-BSN model, patch)
DBSN_MAX_STEPS = 20_000
DBSN_PD = 5  # PD stride in training (pd_infer 2 and R³ follow: DBSNTrainConfig.model_config)


def dbsn_sizes(scale_name: str, model: str) -> tuple[str, int]:
    """(D-BSN model, training patch) of a scale (DBSN_SIZES; a scale not listed: tiny at 40² for the small
    AINDNet, else the paper's at 120²). The patch is a multiple of DBSN_PD."""
    return DBSN_SIZES.get(scale_name, ("tiny", 40) if model != "paper" else ("paper", 120))


def noisy_groups(ctx: RunContext) -> tuple[GroupSplit, ...]:
    """The camera-ISO groups whose calibration images the D-BSN rows learn from: the pairs' groups when the
    run has pairs (their noisy sides only), else the noisy-only photos' groups."""
    return ctx.split.groups if ctx.has_pairs else ctx.split.photos


def link_noisy(items: Sequence, folder: Path, crop: int | None = None) -> Path:
    """A folder of the noisy files of ``items`` (pairs or photos: their ``.noisy``) and nothing else: symlinks
    with the source names, or with ``crop`` lossless PNG centre crops named <stem>.png. Existing entries are
    kept."""
    folder.mkdir(parents=True, exist_ok=True)
    for item in items:
        link_or_crop(Path(item.noisy), folder, crop)
    return folder


def _data_name(ctx: RunContext) -> str:
    return "calib" if ctx.scale.crop is None else f"calib-crop{ctx.scale.crop}"


def noisy_images(ctx: RunContext) -> Path:
    """RUN/noisy-images/<calib[-crop<C>]>: the noisy calibration images of noisy_groups (link_noisy)."""
    items = [x for g in noisy_groups(ctx) for x in g.calib]
    return link_noisy(items, ctx.out / "noisy-images" / _data_name(ctx), ctx.scale.crop)


def dbsn_config(ctx: RunContext, data: Path, run: Path) -> DBSNTrainConfig:
    """Row (g)'s `noisegen-train dbsn` run on ``data`` into ``run`` (module docstring for the sizes)."""
    s, c = ctx.scale, ctx.config
    model, patch = dbsn_sizes(s.name, s.model)
    steps = min(s.steps, DBSN_MAX_STEPS)
    return DBSNTrainConfig(data=str(data), out=str(run), model=model, pd=DBSN_PD, steps=steps, batch=s.batch,
                           patch=patch, lr=s.lr, device=c.device, threads=c.threads, seed=c.seed,
                           log_every=max(1, min(50, steps // 4)), ckpt_every=min(s.ckpt_every, steps),
                           val_every=steps, progress=c.progress)


def _done(run: Path, steps: int) -> bool:
    return (run / "last.pt").exists() and load_checkpoint(run / "last.pt")["step"] >= steps


def _g(ctx: RunContext) -> Path:
    run = ctx.out / "runs" / "g-dbsn"
    cfg = dbsn_config(ctx, noisy_images(ctx), run)
    if not _done(run, cfg.steps):
        t = time.perf_counter()
        ctx.say(f"row g-dbsn: {cfg.model} D-BSN, PD {cfg.pd}, {cfg.steps} steps of batch {cfg.batch} at "
                f"{cfg.patch}² on the noisy images of {Path(cfg.data).name}")
        r = train_dbsn(cfg, resume=True, echo=lambda m: None)
        ctx.say(f"row g-dbsn: {r.step} steps in {time.perf_counter() - t:.0f} s, final loss {r.loss:.4f}")
    return run / "last.pt"


def pseudo_pairs(ctx: RunContext) -> Path:
    """RUN/pseudo/<calib[-crop<C>]>: the pseudo-pairs (noisy/, gt/, sigma/) of the noisy images by row (g)'s
    D-BSN (trained here when (g) has not run); complete ones are reused, a folder of another checkpoint is
    emptied first."""
    ckpt = ctx.checkpoints.get("g") or _g(ctx)
    images = noisy_images(ctx)
    out = ctx.out / "pseudo" / images.name
    made_from(out, "checkpoint.sha256", sha256_file(Path(ckpt)))
    files = sorted(f for f in images.iterdir() if f.is_file())
    if not all((out / CLEAN_DIR / f"{f.stem}.png").exists() and (out / SIGMA_DIR / f"{f.stem}.npy").exists()
               for f in files):
        t = time.perf_counter()
        r = write_pseudo_pairs(PseudoPairsConfig(checkpoint=str(ckpt), images=tuple(map(str, files)), out=str(out),
                                                 device=ctx.config.device, threads=ctx.config.threads,
                                                 progress=ctx.config.progress))
        ctx.say(f"pseudo-pairs: {len(r.pairs)} by the D-BSN of row (g) in {time.perf_counter() - t:.0f} s")
    return out


def noisy_profiles(ctx: RunContext) -> list[tuple[str, Path]]:
    """(group slug, profile) per group of noisy_groups, fitted with the scale's fit step on the group's
    pseudo-pairs with noisy_only (RUN/profiles/noisy-only/<slug>.json and .fit.json)."""
    return fit_noisy_profiles(noisy_groups(ctx), pseudo_pairs(ctx), ctx.scale.fit,
                              ctx.out / "profiles" / "noisy-only", ctx.config.seed, echo=ctx.say)


def _datasets(ctx: RunContext) -> list[Path]:
    """The datasets of the noisy-only profiles (data/noisy-only/<group>). What was made from other profiles (refitted
    on another (g)'s pseudo-pairs, or with another NLF target) is removed first, with rows (h) and (i) trained on it:
    data/noisy-only/profiles.sha256 records the profiles it was made from."""
    profiles = noisy_profiles(ctx)
    made_from(ctx.out / "data" / "noisy-only", "profiles.sha256", files_digest([str(path) for _, path in profiles]),
              ctx.out / "runs" / "h-noisy-only", ctx.out / "runs" / "i-distill")
    return ctx.group_datasets("render", profiles, tag="noisy-only")


def _h(ctx: RunContext) -> Path:
    return ctx.train_sn("h-noisy-only", _datasets(ctx))


def _i(ctx: RunContext) -> Path:
    run, s, c = ctx.out / "runs" / "i-distill", ctx.scale, ctx.config
    datasets, pseudo = _datasets(ctx), pseudo_pairs(ctx)
    if not _done(run, s.steps):
        t = time.perf_counter()
        ctx.say(f"row i-distill: {s.steps} steps of batch {s.batch} at {s.patch}², half synthetic, half pseudo-pairs")
        cfg = DistillConfig(data=tuple(map(str, datasets)), pseudo=str(pseudo), out=str(run), model=s.model,
                            steps=s.steps, batch=s.batch, patch=s.patch, lr=s.lr, device=c.device, workers=c.workers,
                            threads=c.threads, seed=c.seed, log_every=max(1, min(50, s.steps // 4)),
                            ckpt_every=s.ckpt_every, progress=c.progress)
        r = distill(cfg, resume=True, echo=lambda m: None)
        ctx.say(f"row i-distill: {r.step} steps in {time.perf_counter() - t:.0f} s, final loss {r.loss:.4f}")
    return run / "last.pt"


ROW_G = Row("g", "D-BSN alone, trained on the noisy images (PD 5/2, R³)", "any", _g)
ROW_H = Row("h", "SN, noisy-only profile from (g)'s pseudo-pairs, clean = render", "any", _h)
ROW_I = Row("i", "distilled: (h)'s synthetic pairs + (g)'s pseudo-pairs", "any", _i)
ROWS_DBSN: tuple[Row, ...] = (ROW_G, ROW_H, ROW_I)
