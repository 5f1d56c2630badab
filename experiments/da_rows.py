"""Issue 20's rows of the camera loop: Noise-DA (`noisegen-train da`) against SN, over several training seeds.

    python experiments/da_rows.py --steps 500 --lr 1e-3 --threads 1 --workers 1 --test-crop 256 --seeds 0,1
    python experiments/da_rows.py --quick --sets PolyU100 --rows b,j,j0 --seeds 0      # toy scale (CI)

The same network (``small`` AINDNet), steps, split, data and held-out test crops as experiments/camera_loop.py,
whose functions build them (run both with the same --out to share the split, profiles, datasets and the seed-0
runs of (b) and (d)). Rows, per test set:

(b)  SN on `cbdnet` data (the loop's row; one model for every set)
(d)  SN on the calibrated profiles, clean = render (the loop's row)
(j)  (b)'s data + DA: the diffusion loss on the calibration half's noisy photos (their noisy side only; the
     diffusion model's clean references are the synthetic clean patches: no real clean image is used)
(k)  (d)'s data + DA with the same photos
(js) (j) without channel shuffling;  (jc) (j) without the contrastive term
(j0) (j) with α = 0 (da_weight 0): the same run as (b); checked on the weights, bit for bit

Seeds (--seeds): the training seed (initial weights, batch order, every DA draw); split, profiles and datasets
stay those of --seed, as in the loop. Seed 0 of (b) and (d) is the loop's own run folder. Reported: the mean over
the seeds and the spread (max − min) beside each seed's PSNR. Resumable: finished runs and evaluations are
reused; OUT/da_table.md and OUT/da_results.json are rewritten after every row with every finished run.

Callable from the loop: ``train_sn_row`` (the loop's SN row with a seed), ``train_da_row`` and ``noisy_only``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import camera_loop as loop
import torch
from loop_split import split_set

import noisegen as ng
from noisegen.dataset.pairs import scan_pairs
from trainer.engine.checkpoint import load_checkpoint
from trainer.stages.da import DAConfig, adapt
from trainer.stages.sn import train
from trainer.stages.sn_config import TrainConfig

ROWS = {"b": "SN on `cbdnet` data", "d": "SN, calibrated profile, clean = render",
        "j": "`cbdnet` data + DA (calibration half's noisy photos)", "k": "calibrated render data + DA",
        "js": "(j) without channel shuffling", "jc": "(j) without the contrastive term",
        "j0": "(j) with α = 0 (= (b)?)"}
DA_OPTIONS = {"j": {}, "k": {}, "js": {"shuffle": False}, "jc": {"contrastive": False}, "j0": {"da_weight": 0.0}}


def _sn_fields(datasets: list[Path], run: Path, scale: loop.Scale, seed: int, args) -> dict:
    """The loop's SN training settings (camera_loop._train_sn) with a seed."""
    return dict(data=tuple(map(str, datasets)), out=str(run), model="small", steps=scale.steps, batch=scale.batch,
                patch=scale.patch, lr=scale.lr, device="cpu", workers=args.workers, threads=args.threads, seed=seed,
                log_every=50, ckpt_every=max(50, scale.steps // 4), progress=False)


def train_sn_row(datasets: list[Path], run: Path, scale: loop.Scale, seed: int, args, say) -> Path:
    """The loop's SN row (camera_loop._train_sn) with training seed ``seed``; reused when finished."""
    if not loop._done(run, scale.steps):
        t = time.perf_counter()
        r = train(TrainConfig(**_sn_fields(datasets, run, scale, seed, args)), resume=True, echo=lambda m: None)
        say(f"{run.name}: {r.step} SN steps, {time.perf_counter() - t:.0f} s, final loss {r.loss:.4f}")
    return run / "last.pt"


def train_da_row(datasets: list[Path], real: Path, run: Path, scale: loop.Scale, seed: int, args, say,
                 **options) -> Path:
    """SN's row plus Noise-DA on the noisy photos in ``real`` (DAConfig ``options``); reused when finished."""
    if not loop._done(run, scale.steps):
        t = time.perf_counter()
        cfg = DAConfig(**_sn_fields(datasets, run, scale, seed, args), real=str(real), **options)
        r = adapt(cfg, resume=True, echo=lambda m: None)
        say(f"{run.name}: {r.step} DA steps, {time.perf_counter() - t:.0f} s, final loss {r.loss:.4f}")
    return run / "last.pt"


def noisy_only(pairs, folder: Path) -> Path:
    """A folder with only the noisy images of ``pairs`` (symlinks): what a user without clean images has."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in pairs:
        dst = folder / Path(p.noisy).name
        if not dst.exists():
            dst.symlink_to(Path(p.noisy).resolve())
    return folder


def _same_weights(a: Path, b: Path) -> bool:
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _stats(values: list[float]) -> str:
    if not values:
        return "—"
    spread = f" ± {(max(values) - min(values)) / 2:.2f}" if len(values) > 1 else ""
    return f"{statistics.mean(values):.2f}{spread} ({', '.join(f'{v:.2f}' for v in values)})"


def render(results: dict, checks: dict, seeds: list[int], command: str, wall: float, notes: list[str]) -> str:
    """Markdown: rows × sets as mean ± half-range (per-seed values), targets, the α = 0 check, notes."""
    names = list(results)
    lines = [f"`{command}`", "", f"wall time of this invocation {wall / 60:.1f} min; seeds {seeds}", "",
             "| row | model | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for row, label in ROWS.items():
        cells = [_stats([results[n][row][s] for s in seeds if s in results[n].get(row, {})]) for n in names]
        lines.append(f"| ({row}) | {label} | " + " | ".join(cells) + " |")
    lines += ["", "| target (paired by seed) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, row, ref, limit in (("(j) − (b) ≥ +0.5 dB", "j", "b", 0.5), ("(k) − (d) ≥ −0.1 dB", "k", "d", -0.1),
                                   ("(js) − (j)", "js", "j", None), ("(jc) − (j)", "jc", "j", None)):
        cells = []
        for n in names:
            r = results[n]
            diffs = [r[row][s] - r[ref][s] for s in seeds if s in r.get(row, {}) and s in r.get(ref, {})]
            if not diffs:
                cells.append("—")
                continue
            mean = statistics.mean(diffs)
            verdict = "" if limit is None else (" met" if mean >= limit else " NOT met")
            cells.append(f"{mean:+.2f} dB{verdict} (per seed {', '.join(f'{d:+.2f}' for d in diffs)})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "(j0) = (b), weights bit for bit: " + (", ".join(f"{k}: {v}" for k, v in checks.items()) or "—"),
              "", *[f"- {n}" for n in notes]]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--sets", default="PolyU100,CC15", help="held-out test sets (default PolyU100,CC15)")
    ap.add_argument("--rows", default="b,j,d,k,js,jc,j0", help="rows to train, in this order (default all)")
    ap.add_argument("--seeds", default="0,1", help="training seeds (default 0,1)")
    ap.add_argument("--fit", default=None, help="profile step per camera-ISO group (as camera_loop.py)")
    ap.add_argument("--steps", type=int, default=500, help="steps of every trained row (default 500)")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam lr of every trained row (default 1e-3)")
    ap.add_argument("--out", default="experiments/out/camera_loop", help="the loop's folder (default: camera_loop's)")
    ap.add_argument("--workers", type=int, default=1, help="SN loader workers (default 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--test-crop", type=int, default=None, help="centre crops of the held-out pairs (as the loop)")
    ap.add_argument("--seed", type=int, default=0, help="split and data seed (default 0)")
    ap.add_argument("--quick", action="store_true", help="toy scale (seconds), as camera_loop.py --quick")
    args = ap.parse_args()
    sets, rows = [s for s in args.sets.split(",") if s], [r for r in args.rows.split(",") if r]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if unknown := set(rows) - set(ROWS):
        ap.error(f"unknown rows {sorted(unknown)}; choose from {', '.join(ROWS)}")
    torch.set_num_threads(args.threads)
    scale = (loop.Scale(steps=min(args.steps, 8), batch=2, patch=32, lr=1e-3, patches_per_image=2, max_images=3,
                        max_groups=1, max_pairs=2, k=1, crop=128, test_crop=128) if args.quick else
             loop.Scale(steps=args.steps, batch=8, patch=64, lr=args.lr, patches_per_image=16, max_images=None,
                        max_groups=None, max_pairs=None, k=4, crop=None, test_crop=args.test_crop))
    fit = args.fit or ("camera_loop:quick_fit" if args.quick else "calibrate")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python experiments/da_rows.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    t0 = time.perf_counter()
    say = lambda m: print(f"[{time.perf_counter() - t0:6.0f} s] {m}", flush=True)  # noqa: E731
    workers = 1 if args.quick else 2

    inputs = {}
    for name in sets:
        folder = out / loop._slug(name)
        key = {"seed": args.seed, "max_groups": scale.max_groups, "max_pairs": scale.max_pairs}
        split = loop._cached_split(folder / "split.json", key) or split_set(
            name, loop.DATA, calib_from=loop.CALIB_FROM.get(name), seed=args.seed,
            clean_sources=[loop.DATA / n for n in loop.SN_SOURCES], max_groups=scale.max_groups,
            max_pairs=scale.max_pairs)
        folder.mkdir(parents=True, exist_ok=True)
        if not (folder / "split.json").exists():
            info = {**split.to_dict(), "calib": [p.id for p in split.calib], "test": [p.id for p in split.test], **key}
            (folder / "split.json").write_text(json.dumps(info, indent=1) + "\n")
        test = loop._link_pairs(split.test, folder / loop._crop_name("test", scale.test_crop), scale.test_crop)
        calib = loop._link_pairs(split.calib, folder / loop._crop_name("calib", scale.crop), scale.crop)
        real = noisy_only(scan_pairs([calib]).pairs, folder / loop._crop_name("calib-noisy", scale.crop))
        profiles = loop._profiles(split, fit, folder / "profiles", args.seed, say)
        per_group = max(1, scale.patches_per_image // len(profiles))
        render_data = [loop._dataset(folder / "data-render" / slug, ng.load_profile(path), "render",
                                     loop.Scale(**{**scale.__dict__, "patches_per_image": per_group}), args.seed + i,
                                     workers, say) for i, (slug, path) in enumerate(profiles)]
        inputs[name] = (folder, test, real, render_data)
        say(f"{name}: {len(split.calib)} calibration photos (noisy side for DA), {len(split.test)} test pairs")
    cbdnet = [loop._dataset(out / "data-cbdnet", ng.get_profile("cbdnet"), "source", scale, args.seed, workers, say)]

    def run_folder(row: str, name: str, seed: int) -> Path:
        if row == "b":
            return out / ("run-b-cbdnet" if seed == 0 else f"run-b-cbdnet-seed{seed}")
        folder = inputs[name][0]
        if row == "d":
            return folder / ("run-d-render" if seed == 0 else f"run-d-render-seed{seed}")
        return folder / f"run-{row}-da-seed{seed}"

    def train_row(row: str, name: str, seed: int) -> Path:
        folder, test, real, render_data = inputs[name]
        if row == "b":
            return train_sn_row(cbdnet, run_folder(row, name, seed), scale, seed, args, say)
        if row == "d":
            return train_sn_row(render_data, run_folder(row, name, seed), scale, seed, args, say)
        data = render_data if row == "k" else cbdnet
        return train_da_row(data, real, run_folder(row, name, seed), scale, seed, args, say, **DA_OPTIONS[row])

    results: dict[str, dict] = {n: {} for n in sets}
    checks: dict[str, str] = {}

    def write() -> None:
        for name in sets:
            test = inputs[name][1]
            for row in ROWS:
                for seed in seeds:
                    run = run_folder(row, name, seed)
                    if loop._done(run, scale.steps):
                        ev = loop._evaluate(run / "last.pt", test, "test" if row != "b" else loop._slug(name),
                                            args.threads)
                        results[name].setdefault(row, {})[seed] = ev["overall"]["psnr"]
                        results[name].setdefault("a", {})[seed] = ev["overall"]["psnr_noisy"]
                for seed in seeds:
                    b, j0 = run_folder("b", name, seed) / "last.pt", run_folder("j0", name, seed) / "last.pt"
                    if loop._done(b.parent, scale.steps) and loop._done(j0.parent, scale.steps):
                        checks[f"{name} seed {seed}"] = "identical" if _same_weights(b, j0) else "DIFFERENT"
        noisy = ", ".join(f"{n} {statistics.mean(results[n]['a'].values()):.2f}" for n in sets if results[n].get("a"))
        where = "whole" if scale.test_crop is None else f"{scale.test_crop}² centre crops"
        notes = ["network: `small` AINDNet; every row: "
                 f"{scale.steps} steps of batch {scale.batch} at {scale.patch}², Adam lr {scale.lr:g}, cosine schedule",
                 "DA: `noisegen-train da` defaults (w 0.2, ramp over the run, da_batch = batch/2, diffusion widths "
                 "12/24/48, shuffling and contrastive term on) unless the row says otherwise",
                 f"noisy input (a): {noisy or '—'}",
                 f"evaluation: PSNR (dB) on the held-out pairs ({where}), {loop.TILE}² tiles with per-tile AIN "
                 "statistics (as camera_loop.py)"]
        (out / "da_table.md").write_text(render(results, checks, seeds, command, time.perf_counter() - t0, notes))
        (out / "da_results.json").write_text(json.dumps({"command": command, "quick": args.quick, "seeds": seeds,
                                                         "scale": scale.__dict__, "results": results,
                                                         "alpha0_equals_b": checks}, indent=1) + "\n")

    for seed in seeds:
        for row in rows:
            for name in (sets[:1] if row == "b" else sets):
                train_row(row, name, seed)
                write()
    write()
    print((out / "da_table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
