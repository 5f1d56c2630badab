"""The steps of the camera loop (experiments/camera_loop.py): data folders, splits, profiles, datasets, training
and evaluation, each resumable (reused when its output is complete). The rows of the table compose them.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from loop_split import LoopSplit

import noisegen as ng
from noisegen.analysis.calibrate.fit import CalibrateConfig, calibrate
from noisegen.analysis.nlf import NoiseStats, accumulate, image_stats
from noisegen.analysis.realism.models import baseline_profile, fit_awgn, fit_srgb_linear, resolve_fit
from noisegen.analysis.realism.split import GroupSplit
from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.pairs import load_pair, scan_pairs
from noisegen.dataset.reader import read_rgb8, write_png
from trainer.engine.checkpoint import load_checkpoint, save_checkpoint
from trainer.infer.evaluate import EvalConfig, evaluate_checkpoint
from trainer.models.aindnet import AINDNet
from trainer.models.config import ModelConfig
from trainer.stages.sn import train
from trainer.stages.sn_config import TrainConfig
from trainer.stages.tf import TFConfig, transfer

# ../shared/data beside the project (docs/design.md §Data); NOISEGEN_SHARED_DATA points elsewhere, as in tests.
DATA = Path(os.environ.get("NOISEGEN_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
CALIB_FROM = {"CC15": "CC60"}  # test sets calibrated on another folder of the same cameras
SN_SOURCES = ("CBSD68", "Kodak24")
TILE = 64  # evaluation tile = training crop


@dataclass(frozen=True)
class Scale:
    """Sizes of one invocation (full or --quick)."""

    steps: int
    batch: int
    patch: int
    lr: float
    patches_per_image: int  # per SN dataset, shared among the groups of a set
    max_images: int | None  # SN photos per source folder
    max_groups: int | None
    max_pairs: int | None
    k: int
    crop: int | None  # centre crops of every real pair folder (None: whole images)
    test_crop: int | None  # centre crops of the held-out test pairs (None: whole images)


def quick_fit(pairs, camera, iso, seed):
    """A seconds-long calibration for --quick: one curve, no mosaic, no JPEG, 1 iteration, few pixels, no model
    selection (`calibrate --fast`)."""
    cfg = CalibrateConfig(pairs=("-",), camera=camera, iso=(iso,) if iso else (), crf_curves=("sRGB",),
                          demosaic=("none",), jpeg=(None,), crop=64, max_pixels=40_000, search_pixels=20_000,
                          iterations=1, top_k=1, min_count=50, seed=seed, fast=True)
    return calibrate(cfg, pairs=pairs).profile


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def centre_crop(img, side: int | None):
    """The centre side×side crop of an H×W×3 array (the whole array when side is None)."""
    if side is None:
        return img
    y, x = max(0, (img.shape[0] - side) // 2), max(0, (img.shape[1] - side) // 2)
    return img[y:y + side, x:x + side]


def link_pairs(pairs, folder: Path, crop: int | None = None) -> Path:
    """A pairs folder (noisy/, gt/) for ``pairs``, file stems kept so that they match as in the source:
    symlinks, or with ``crop`` (--quick) lossless PNG centre crops."""
    for p in pairs:
        for role, src in (("noisy", Path(p.noisy)), ("gt", Path(p.clean))):
            dst = folder / role / (src.name if crop is None else src.stem + ".png")
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.exists():
                continue
            if crop is None:
                dst.symlink_to(src.resolve())
            else:
                write_png(dst, np.ascontiguousarray(centre_crop(read_rgb8(src)[0], crop)))
    return folder


def crop_name(name: str, crop: int | None) -> str:
    return name if crop is None else f"{name}-crop{crop}"


def cached_split(path: Path, key: dict) -> LoopSplit | None:
    """The split written by an earlier invocation with the same seed and sizes (it was checked then), or None."""
    if not path.exists():
        return None
    info = json.loads(path.read_text())
    if any(info.get(k) != v for k, v in key.items()):
        return None
    roots = {i.split("/", 1)[0] for g in info["groups"] for i in g["calib"] + g["test"]}
    by_id = {p.id: p for p in scan_pairs([DATA / r for r in sorted(roots)]).pairs}
    groups = tuple(GroupSplit(g["camera"], g["iso"], tuple(by_id[i] for i in g["calib"]),
                              tuple(by_id[i] for i in g["test"])) for g in info["groups"])
    return LoopSplit(info["name"], groups, tuple(info["dropped"]), tuple(info["skipped"]), info["checked"])


def k_pairs(split: LoopSplit, k: int):
    """K calibration pairs spread over the groups: round robin, first pair of each group's sorted list first."""
    lists, out = [list(g.calib) for g in split.groups], []
    while len(out) < k and any(lists):
        for lst in lists:
            if lst and len(out) < k:
                out.append(lst.pop(0))
    return out


def fitted_profiles(split: LoopSplit, fit: str, folder: Path, seed: int, say) -> list[tuple[str, Path]]:
    """(group slug, profile JSON) per group, fitted on its calibration pairs; reused when written."""
    out = []
    for g in split.groups:
        path = folder / f"{slug(g.name)}.json"
        if not path.exists():
            t = time.perf_counter()
            prof = resolve_fit(fit)(list(g.calib), g.camera, g.iso, seed)
            folder.mkdir(parents=True, exist_ok=True)
            ng.save_profile(prof, path)
            say(f"{split.name}: {g.name}: {fit} on {len(g.calib)} pairs, {time.perf_counter() - t:.0f} s")
        out.append((slug(g.name), path))
    return out


def make_dataset(out: Path, profile, clean_target: str, scale: Scale, seed: int, workers: int, say) -> Path:
    """``noisegen generate`` on the SN photos; reused when out/dataset.json exists."""
    if not (out / "dataset.json").exists():
        t = time.perf_counter()
        s = generate(GenerateConfig(out=str(out), images=tuple(str(DATA / n) for n in SN_SOURCES), profile=profile,
                                    patch=80, patches_per_image=scale.patches_per_image, samples_per_shard=64,
                                    seed=seed, clean_target=clean_target, max_images=scale.max_images,
                                    workers=workers), progress=False, echo=lambda m: None)
        say(f"generated {out.name}: {s.samples} patches, {time.perf_counter() - t:.0f} s")
    return out


def done(run: Path, steps: int) -> bool:
    return (run / "last.pt").exists() and load_checkpoint(run / "last.pt")["step"] >= steps


def train_sn(datasets: list[Path], run: Path, scale: Scale, args, say) -> Path:
    if not done(run, scale.steps):
        t = time.perf_counter()
        cfg = TrainConfig(data=tuple(map(str, datasets)), out=str(run), model="small", steps=scale.steps,
                          batch=scale.batch, patch=scale.patch, lr=scale.lr, device="cpu", workers=args.workers,
                          threads=args.threads, seed=0, log_every=50, ckpt_every=max(50, scale.steps // 4),
                          progress=False)
        r = train(cfg, resume=True, echo=lambda m: None)
        say(f"{run.name}: {r.step} SN steps, {time.perf_counter() - t:.0f} s, final loss {r.loss:.4f}")
    return run / "last.pt"


def train_real(init: Path, data: Path, run: Path, mode: str, scale: Scale, args, say) -> Path:
    if not done(run, scale.steps):
        t = time.perf_counter()
        transfer(TFConfig(init=str(init), data=str(data), out=str(run), mode=mode, steps=scale.steps,
                          batch=scale.batch, patch=scale.patch, lr=scale.lr, device="cpu", threads=args.threads,
                          seed=0, ckpt_every=max(50, scale.steps // 4), val_every=scale.steps, progress=False),
                 resume=True, echo=lambda m: None)
        say(f"{run.name}: {scale.steps} {mode} steps, {time.perf_counter() - t:.0f} s")
    return run / "last.pt"


def fresh_init(path: Path, out_init: str = "zero") -> Path:
    """A freshly initialised ``small`` checkpoint (with ``out_init``): mode r takes its configuration and
    re-draws the weights."""
    if not path.exists():
        torch.manual_seed(0)
        model = AINDNet(replace(ModelConfig.small(), out_init=out_init))
        opt = torch.optim.Adam(model.parameters())
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        save_checkpoint(path, model=model, optimizer=opt, scheduler=sched, step=0,
                        train_config={"model": "small"}, model_config=model.config.to_dict(), data=[])
    return path


def evaluate(ckpt: Path, pairs: Path, tag: str, threads: int) -> dict:
    """Overall and per-group PSNR on ``pairs`` in 64² tiles with their own statistics; cached beside ``ckpt``."""
    cache = ckpt.parent / f"eval-{tag}-{pairs.name}.json"  # the folder name tells crops from whole images
    if cache.exists() and cache.stat().st_mtime >= ckpt.stat().st_mtime:
        return json.loads(cache.read_text())
    r = evaluate_checkpoint(EvalConfig(checkpoint=str(ckpt), pairs=(str(pairs),), tile=TILE, tile_stats=True,
                                       device="cpu", threads=threads, progress=False), echo=lambda m: None)
    res = {"overall": r["overall"], "groups": r["groups"], "images": [{k: i[k] for k in ("id", "psnr", "psnr_noisy")}
                                                                       for i in r["images"]]}
    cache.write_text(json.dumps(res, indent=1) + "\n")
    return res


BASELINES = {"b1": ("awgn", fit_awgn), "b2": ("srgb-ax-b", fit_srgb_linear)}


def baseline_profiles(split: LoopSplit, row: str, folder: Path, say) -> list[tuple[str, Path]]:
    """(group slug, profile JSON) per group for row (b1) (AWGN) or (b2) (sRGB var = a·x + b per channel): the
    baselines of noisegen.analysis.realism.models fitted on the group's calibration pairs (whole images, as
    `noisegen realism` fits them), as profiles (noisegen.analysis.realism.models.baseline_profile); reused when
    written."""
    tag, fit = BASELINES[row]
    out = []
    for g in split.groups:
        path = folder / f"{slug(g.name)}-{tag}.json"
        if not path.exists():
            st = NoiseStats()
            for p in g.calib:
                accumulate(st, image_stats(*load_pair(p)))
            model = fit(st)
            folder.mkdir(parents=True, exist_ok=True)
            ng.save_profile(baseline_profile(model, name=f"{tag}-{slug(g.name)}"), path)
            say(f"{split.name}: {g.name}: ({row}) {model.description}, on {len(g.calib)} pairs")
        out.append((slug(g.name), path))
    return out


def noisy_psnr(pairs: Path) -> float:
    """Row (a): the mean over the pairs of ``pairs`` (noisy/, gt/) of the noisy image's PSNR (8-bit peak)."""
    scan = scan_pairs([pairs]).pairs
    vals = []
    for p in scan:
        clean, noisy = (a.astype(np.float64) for a in load_pair(p))
        vals.append(10 * np.log10(255.0**2 / np.mean((noisy - clean) ** 2)))
    return float(np.mean(vals))
