"""Issue 11.3, "give me a denoiser for my camera": calibrate → generate → SN, against real-pair training.

    python experiments/camera_loop.py [--sets PolyU100,CC15] [--steps 3000] [--out experiments/out/camera_loop]
    python experiments/camera_loop.py --quick --sets PolyU100          # toy scale (CI)

One network (``small`` AINDNet, trainer.models.config), one number of steps, the same held-out real scenes for
every row of the table:

(a) the noisy input itself;
(b) SN on ``cbdnet`` data (the paper's synthetic camera; one model for every test set);
(c) SN on the calibrated profiles, clean = source crop;
(d) SN on the same profiles and crops, clean = the noise-free render through the same ISP
    (``generate --clean-target render``);
(e) the same network trained from scratch on the camera's real calibration pairs (TF stage, mode r);
(f) TF with K = 4 real calibration pairs (AINs, estimator, last conv) from the better of (c)/(d),
    chosen on those 4 pairs, never on the test scenes.

Splits (experiments/loop_split.py): PolyU100 split by scene within each camera-ISO group; CC15 tested
whole, calibrated on CC60's pairs of the same camera-ISO groups; both verified by content (calibration
pairs showing a test scene are dropped; SN photos showing one are an error). SN data: CBSD68 and
Kodak24 (not test scenes), 80² patches, one dataset per camera-ISO group's profile (``--fit``, default
noisegen calibrate on that group's calibration pairs), the groups sharing the patches equally.
Evaluation: PSNR on the held-out pairs in 64² tiles, each with its own AIN statistics (``--tile-stats``).

Resumable: profiles, datasets, runs (last.pt at the final step) and evaluations are reused when
complete; the table (OUT/table.md, with the command and wall time) and OUT/results.json are rewritten
after every row, so an interrupted run leaves a partial table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from loop_split import LoopSplit, split_set

import noisegen as ng
from noisegen.analysis.calibrate.fit import CalibrateConfig, calibrate
from noisegen.analysis.realism.models import resolve_fit
from noisegen.analysis.realism.split import GroupSplit
from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.pairs import scan_pairs
from noisegen.dataset.reader import read_rgb8, write_png
from trainer.engine.checkpoint import load_checkpoint, save_checkpoint
from trainer.infer.evaluate import EvalConfig, evaluate_checkpoint
from trainer.models.aindnet import AINDNet
from trainer.models.config import ModelConfig
from trainer.stages.sn import train
from trainer.stages.sn_config import TrainConfig
from trainer.stages.tf import TFConfig, transfer

# ../shared/data beside the project (DESIGN.md §6); NOISEGEN_SHARED_DATA points elsewhere (a worktree), as in tests.
DATA = Path(os.environ.get("NOISEGEN_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
CALIB_FROM = {"CC15": "CC60"}  # test sets calibrated on another folder of the same cameras
SN_SOURCES = ("CBSD68", "Kodak24")
ROWS = {"a": "noisy input", "b": "SN on `cbdnet` data", "c": "SN, calibrated profile, clean = source",
        "d": "SN, calibrated profile, clean = render", "e": "trained on the real calibration pairs",
        "f": "TF, K = 4 real pairs, from the better of (c)/(d)"}
# Extra row of --init-check: (e) again with PyTorch's default init of the last conv instead of zero.
INIT_ROW = ("e0", "as (e), last conv with PyTorch's default init (`out_init=\"default\"`)")
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
    """A seconds-long calibration for --quick: one curve, no mosaic, no JPEG, 1 iteration, few pixels."""
    cfg = CalibrateConfig(pairs=("-",), camera=camera, iso=(iso,) if iso else (), crf_curves=("sRGB",),
                          demosaic=("none",), jpeg=(None,), crop=64, max_pixels=40_000, search_pixels=20_000,
                          iterations=1, top_k=1, min_count=50, seed=seed)
    return calibrate(cfg, pairs=pairs).profile


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()


def centre_crop(img, side: int | None):
    """The centre side×side crop of an H×W×3 array (the whole array when side is None)."""
    if side is None:
        return img
    y, x = max(0, (img.shape[0] - side) // 2), max(0, (img.shape[1] - side) // 2)
    return img[y:y + side, x:x + side]


def _link_pairs(pairs, folder: Path, crop: int | None = None) -> Path:
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


def _crop_name(name: str, crop: int | None) -> str:
    return name if crop is None else f"{name}-crop{crop}"


def _cached_split(path: Path, key: dict) -> LoopSplit | None:
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


def _k_pairs(split: LoopSplit, k: int):
    """K calibration pairs spread over the groups: round robin, first pair of each group's sorted list first."""
    lists, out = [list(g.calib) for g in split.groups], []
    while len(out) < k and any(lists):
        for lst in lists:
            if lst and len(out) < k:
                out.append(lst.pop(0))
    return out


def _profiles(split: LoopSplit, fit: str, folder: Path, seed: int, say) -> list[tuple[str, Path]]:
    """(group slug, profile JSON) per group, fitted on its calibration pairs; reused when written."""
    out = []
    for g in split.groups:
        path = folder / f"{_slug(g.name)}.json"
        if not path.exists():
            t = time.perf_counter()
            prof = resolve_fit(fit)(list(g.calib), g.camera, g.iso, seed)
            folder.mkdir(parents=True, exist_ok=True)
            ng.save_profile(prof, path)
            say(f"{split.name}: {g.name}: {fit} on {len(g.calib)} pairs, {time.perf_counter() - t:.0f} s")
        out.append((_slug(g.name), path))
    return out


def _dataset(out: Path, profile, clean_target: str, scale: Scale, seed: int, workers: int, say) -> Path:
    """``noisegen generate`` on the SN photos; reused when out/dataset.json exists."""
    if not (out / "dataset.json").exists():
        t = time.perf_counter()
        s = generate(GenerateConfig(out=str(out), images=tuple(str(DATA / n) for n in SN_SOURCES), profile=profile,
                                    patch=80, patches_per_image=scale.patches_per_image, samples_per_shard=64,
                                    seed=seed, clean_target=clean_target, max_images=scale.max_images,
                                    workers=workers), progress=False, echo=lambda m: None)
        say(f"generated {out.name}: {s.samples} patches, {time.perf_counter() - t:.0f} s")
    return out


def _done(run: Path, steps: int) -> bool:
    return (run / "last.pt").exists() and load_checkpoint(run / "last.pt")["step"] >= steps


def _train_sn(datasets: list[Path], run: Path, scale: Scale, args, say) -> Path:
    if not _done(run, scale.steps):
        t = time.perf_counter()
        cfg = TrainConfig(data=tuple(map(str, datasets)), out=str(run), model="small", steps=scale.steps,
                          batch=scale.batch, patch=scale.patch, lr=scale.lr, device="cpu", workers=args.workers,
                          threads=args.threads, seed=0, log_every=50, ckpt_every=max(50, scale.steps // 4),
                          progress=False)
        r = train(cfg, resume=True, echo=lambda m: None)
        say(f"{run.name}: {r.step} SN steps, {time.perf_counter() - t:.0f} s, final loss {r.loss:.4f}")
    return run / "last.pt"


def _train_real(init: Path, data: Path, run: Path, mode: str, scale: Scale, args, say) -> Path:
    if not _done(run, scale.steps):
        t = time.perf_counter()
        transfer(TFConfig(init=str(init), data=str(data), out=str(run), mode=mode, steps=scale.steps,
                          batch=scale.batch, patch=scale.patch, lr=scale.lr, device="cpu", threads=args.threads,
                          seed=0, ckpt_every=max(50, scale.steps // 4), val_every=scale.steps, progress=False),
                 resume=True, echo=lambda m: None)
        say(f"{run.name}: {scale.steps} {mode} steps, {time.perf_counter() - t:.0f} s")
    return run / "last.pt"


def _fresh_init(path: Path, out_init: str = "zero") -> Path:
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


def _evaluate(ckpt: Path, pairs: Path, tag: str, threads: int) -> dict:
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


def _cell(results: dict, row: str, name: str) -> str:
    v = results.get(name, {}).get(row)
    return "—" if v is None else f"{v:.2f}"


def render_table(results: dict, splits: dict, notes: dict, command: str, wall: float, partial: bool) -> str:
    """The Markdown table: one column per test set, rows (a)–(f), targets and notes."""
    names = list(splits)
    lines = [f"`{command}`", "", f"wall time {wall / 60:.1f} min" + (" — PARTIAL: rows marked — are not done"
                                                                       if partial else ""), "",
             "| row | model | " + " | ".join(f"{n} ({len(splits[n]['test'])} held-out pairs)" for n in names) + " |",
             "|---|---|" + "---:|" * len(names)]
    extra = [INIT_ROW] if any(INIT_ROW[0] in results.get(n, {}) for n in names) else []
    for row, label in [*ROWS.items(), *extra]:
        lines.append(f"| ({row}) | {label} | " + " | ".join(_cell(results, row, n) for n in names) + " |")
    lines += ["", "| target | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, fn in (("best of (c)/(d) − (a) > 0", lambda r: r["best_cd"] - r["a"]),
                      ("best of (c)/(d) − (b) ≥ 2 dB", lambda r: r["best_cd"] - r["b"]),
                      ("PGap = (e) − best of (c)/(d) ≤ 1 dB", lambda r: r["e"] - r["best_cd"])):
        cells = []
        for n in names:
            r = results.get(n, {})
            try:
                r = {**r, "best_cd": max(r["c"], r["d"])}
                v = fn(r)
                ok = v > 0 if "(a)" in label else (v >= 2 if "(b)" in label else v <= 1)
                cells.append(f"{v:+.2f} dB {'met' if ok else 'NOT met'}")
            except KeyError:
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", *[f"- {k}: {v}" for k, v in notes.items()]]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--sets", default="PolyU100,CC15", help="held-out test sets (default PolyU100,CC15)")
    ap.add_argument("--fit", default=None, help="profile step per camera-ISO group: calibrate (default), "
                    "calibrate-render or module:function (pairs, camera, iso, seed) -> CameraProfile")
    ap.add_argument("--steps", type=int, default=3000, help="steps of every trained row (default 3000)")
    ap.add_argument("--lr", type=float, default=5e-4, help="Adam lr of every trained row (default 5e-4)")
    ap.add_argument("--out", default="experiments/out/camera_loop", help="folder for everything made")
    ap.add_argument("--workers", type=int, default=1, help="SN loader workers (default 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--test-crop", type=int, default=None,
                    help="evaluate on centre crops of this side of the held-out pairs (default: whole images)")
    ap.add_argument("--seed", type=int, default=0, help="split and data seed (default 0)")
    ap.add_argument("--init-check", default="", metavar="SETS",
                    help="also train row (e) with the default init of the last conv on these sets (comma-separated)")
    ap.add_argument("--quick", action="store_true", help="toy scale (seconds): 1 group, 2 pairs, few steps")
    args = ap.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    need = set(SN_SOURCES) | set(sets) | {CALIB_FROM[s] for s in sets if s in CALIB_FROM}
    if missing := [n for n in sorted(need) if not (DATA / n).is_dir()]:
        print(f"camera_loop: missing {', '.join(str(DATA / n) for n in missing)} (../shared/data)", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    scale = (Scale(steps=min(args.steps, 8), batch=2, patch=32, lr=1e-3, patches_per_image=2, max_images=3,
                   max_groups=1, max_pairs=2, k=1, crop=128, test_crop=128) if args.quick else
             Scale(steps=args.steps, batch=8, patch=64, lr=args.lr, patches_per_image=16, max_images=None,
                   max_groups=None, max_pairs=None, k=4, crop=None, test_crop=args.test_crop))
    fit = args.fit or ("camera_loop:quick_fit" if args.quick else "calibrate")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python experiments/camera_loop.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    t0 = time.perf_counter()
    say = lambda m: print(f"[{time.perf_counter() - t0:6.0f} s] {m}", flush=True)  # noqa: E731
    workers = 1 if args.quick else 2
    results: dict[str, dict] = {}
    splits: dict[str, dict] = {}
    picks: dict[str, str] = {}

    def write(partial: bool = True) -> None:
        where = ("whole held-out images" if scale.test_crop is None
                 else f"the {scale.test_crop}² centre crops of the held-out images")
        notes = {"network": "`small` AINDNet (290,110 parameters, last conv zero-initialised)",
                 "training": f"{scale.steps} steps of batch {scale.batch} at {scale.patch}² for every trained row, "
                 f"Adam lr {scale.lr:g} (SN: cosine schedule; (e), (f): constant, the TF stage's)",
                 "evaluation": f"PSNR (dB, 8-bit) on {where} run in {TILE}² tiles, each normalised with "
                 "its own AIN statistics (`eval --tile-stats`): the nets learnt their AIN statistics on 64² crops",
                 "profiles": f"--fit {fit}, one per camera-ISO group, on that group's calibration pairs",
                 "(f) starts from": ", ".join(f"{k}: ({v})" for k, v in picks.items()) or "—"}
        for n, s in splits.items():
            notes[f"{n} split"] = (f"{len(s['groups'])} groups, {len(s['calib'])} calibration / {len(s['test'])} test "
                                   f"pairs; content check dropped {len(s['dropped'])} calibration pairs")
        text = render_table(results, splits, notes, command, time.perf_counter() - t0, partial)
        (out / "table.md").write_text(text)
        (out / "results.json").write_text(json.dumps({"command": command, "quick": args.quick, "scale": scale.__dict__,
                                                      "fit": fit, "results": results, "splits": splits,
                                                      "picks": picks, "wall_s": time.perf_counter() - t0,
                                                      "partial": partial}, indent=1) + "\n")

    loops = {}
    for name in sets:
        folder = out / _slug(name)
        key = {"seed": args.seed, "max_groups": scale.max_groups, "max_pairs": scale.max_pairs}
        split = _cached_split(folder / "split.json", key)
        if split is None:
            split = split_set(name, DATA, calib_from=CALIB_FROM.get(name), seed=args.seed,
                              clean_sources=[DATA / n for n in SN_SOURCES], max_groups=scale.max_groups,
                              max_pairs=scale.max_pairs)
        info = {**split.to_dict(), "calib": [p.id for p in split.calib], "test": [p.id for p in split.test], **key}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "split.json").write_text(json.dumps(info, indent=1) + "\n")
        splits[name] = info
        say(f"{name}: {len(split.groups)} groups, {len(split.calib)} calibration / {len(split.test)} test pairs, "
            f"{len(split.dropped)} calibration pairs dropped by the content check")
        test = _link_pairs(split.test, folder / _crop_name("test", scale.test_crop), scale.test_crop)
        loops[name] = (split, folder, test,
                       _link_pairs(split.calib, folder / _crop_name("calib", scale.crop), scale.crop),
                       _link_pairs(_k_pairs(split, scale.k), folder / _crop_name(f"calib-k{scale.k}", scale.crop),
                                   scale.crop))

    cbdnet = _dataset(out / "data-cbdnet", ng.get_profile("cbdnet"), "source", scale, args.seed, workers, say)
    row_b = _train_sn([cbdnet], out / "run-b-cbdnet", scale, args, say)
    for name, (split, folder, test, calib, kpairs) in loops.items():
        res = results.setdefault(name, {})
        ev = _evaluate(row_b, test, _slug(name), args.threads)
        res["a"], res["b"] = ev["overall"]["psnr_noisy"], ev["overall"]["psnr"]
        write()
    for name, (split, folder, test, calib, kpairs) in loops.items():
        res = results[name]
        profiles = _profiles(split, fit, folder / "profiles", args.seed, say)
        ckpts = {}
        for row, target in (("c", "source"), ("d", "render")):
            per_group = max(1, scale.patches_per_image // len(profiles))
            data = [_dataset(folder / f"data-{target}" / slug, ng.load_profile(path), target,
                             Scale(**{**scale.__dict__, "patches_per_image": per_group}), args.seed + i, workers, say)
                    for i, (slug, path) in enumerate(profiles)]
            ckpts[row] = _train_sn(data, folder / f"run-{row}-{target}", scale, args, say)
            res[row] = _evaluate(ckpts[row], test, "test", args.threads)["overall"]["psnr"]
            write()
        init = _fresh_init(out / "init-small.pt")
        ckpts["e"] = _train_real(init, calib, folder / "run-e-real", "r", scale, args, say)
        res["e"] = _evaluate(ckpts["e"], test, "test", args.threads)["overall"]["psnr"]
        write()
        on_k = {r: _evaluate(ckpts[r], kpairs, f"k{scale.k}", args.threads)["overall"]["psnr"] for r in ("c", "d")}
        picks[name] = max(on_k, key=on_k.get)
        ckpts["f"] = _train_real(ckpts[picks[name]], kpairs, folder / f"run-f-tf-k{scale.k}", "tf", scale, args, say)
        res["f"] = _evaluate(ckpts["f"], test, "test", args.threads)["overall"]["psnr"]
        write()
        if name in args.init_check.split(","):
            init = _fresh_init(out / "init-small-default.pt", "default")
            run = _train_real(init, calib, folder / "run-e0-real-default-init", "r", scale, args, say)
            res[INIT_ROW[0]] = _evaluate(run, test, "test", args.threads)["overall"]["psnr"]
            write()
    write(partial=False)
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
