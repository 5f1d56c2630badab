"""Issue 11.3, "give me a denoiser for my camera": calibrate → generate → SN, against real-pair training.

    python experiments/camera_loop.py [--sets PolyU100,CC15] [--steps 3000] [--out experiments/out/camera_loop]
    python experiments/camera_loop.py --quick --sets PolyU100          # toy scale (CI)
    python experiments/camera_loop.py --rows b1,b2,d ...                # only these rows (the others are kept)

One network (``small`` AINDNet, trainer.models.config), one number of steps, the same held-out real scenes for
every row of the table:

(a) the noisy input itself;
(b) SN on ``cbdnet`` data (the paper's synthetic camera; one model for every test set);
(b1) SN on AWGN fitted on each group's calibration pairs (noisegen.analysis.realism.models.fit_awgn), and
(b2) SN on the sRGB Gaussian var = a·x + b per channel fitted on the same pairs (fit_srgb_linear): the
    honest controls, the simple noise models a user could fit to the same pairs (linear curve, no mosaic, no
    JPEG, so clean = source is also their render); every model change is judged against max((b1), (b2));
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

Rows are functions of this module (``row_*``), the steps they compose are in experiments/loop_steps.py.
Resumable: profiles, datasets, runs (last.pt at the final step) and evaluations are reused when
complete; the table (OUT/table.md, with the command and wall time) and OUT/results.json are rewritten
after every row, so an interrupted run leaves a partial table. ``--rows`` reruns a subset; the other rows
of an earlier results.json in OUT with the same sizes are kept ((f) needs (c) and (d) and runs them too).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from loop_split import LoopSplit, split_set
from loop_steps import (
    CALIB_FROM,
    DATA,
    SN_SOURCES,
    TILE,
    Scale,
    baseline_profiles,
    cached_split,
    crop_name,
    evaluate,
    fitted_profiles,
    fresh_init,
    k_pairs,
    link_pairs,
    make_dataset,
    noisy_psnr,
    quick_fit,
    slug,
    train_real,
    train_sn,
)

import noisegen as ng

__all__ = ["ROWS", "INIT_ROW", "Loop", "quick_fit", "row_a", "row_b", "row_baseline", "row_calibrated", "row_e",
           "row_f", "row_e0", "render_table", "main"]

ROWS = {"a": "noisy input", "b": "SN on `cbdnet` data",
        "b1": "SN on AWGN fitted on the calibration pairs",
        "b2": "SN on sRGB var = a·x + b fitted on the calibration pairs",
        "c": "SN, calibrated profile, clean = source",
        "d": "SN, calibrated profile, clean = render", "e": "trained on the real calibration pairs",
        "f": "TF, K = 4 real pairs, from the better of (c)/(d)"}
# Extra row of --init-check: (e) again with PyTorch's default init of the last conv instead of zero.
INIT_ROW = ("e0", "as (e), last conv with PyTorch's default init (`out_init=\"default\"`)")


@dataclass
class Loop:
    """What the rows of one invocation share: sizes, options, output folder, log, data workers, the (f) picks."""

    scale: Scale
    args: argparse.Namespace
    out: Path
    fit: str
    say: object
    workers: int
    picks: dict


@dataclass
class TestSet:
    """One held-out set: its split, folder, and the pair folders of its test, calibration and K pairs."""

    split: LoopSplit
    folder: Path
    test: Path
    calib: Path
    kpairs: Path


def row_a(loop: Loop, ts: TestSet) -> float:
    """(a) the noisy input: mean PSNR of the held-out pairs."""
    return noisy_psnr(ts.test)


def row_b(loop: Loop, ts: TestSet) -> float:
    """(b) SN on `cbdnet` data (one network for every set)."""
    data = make_dataset(loop.out / "data-cbdnet", ng.get_profile("cbdnet"), "source", loop.scale, loop.args.seed,
                        loop.workers, loop.say)
    run = train_sn([data], loop.out / "run-b-cbdnet", loop.scale, loop.args, loop.say)
    return evaluate(run, ts.test, slug(ts.split.name), loop.args.threads)["overall"]["psnr"]


def _per_group_datasets(loop: Loop, profiles: list[tuple[str, Path]], root: Path, target: str) -> list[Path]:
    """One dataset per group's profile, the groups sharing the SN patches equally."""
    per_group = max(1, loop.scale.patches_per_image // len(profiles))
    scale = Scale(**{**loop.scale.__dict__, "patches_per_image": per_group})
    return [make_dataset(root / s, ng.load_profile(path), target, scale, loop.args.seed + i, loop.workers, loop.say)
            for i, (s, path) in enumerate(profiles)]


def row_baseline(loop: Loop, ts: TestSet, row: str) -> float:
    """(b1) / (b2): SN on the AWGN / sRGB a·x+b baseline fitted per group on its calibration pairs."""
    profiles = baseline_profiles(ts.split, row, ts.folder / "profiles-baselines", loop.say)
    data = _per_group_datasets(loop, profiles, ts.folder / f"data-{row}", "source")
    run = train_sn(data, ts.folder / f"run-{row}", loop.scale, loop.args, loop.say)
    return evaluate(run, ts.test, "test", loop.args.threads)["overall"]["psnr"]


def row_calibrated(loop: Loop, ts: TestSet, row: str) -> tuple[float, Path]:
    """(c) / (d): SN on the calibrated profiles (``--fit``), clean = source / render. Returns (PSNR, checkpoint)."""
    target = {"c": "source", "d": "render"}[row]
    profiles = fitted_profiles(ts.split, loop.fit, ts.folder / "profiles", loop.args.seed, loop.say)
    data = _per_group_datasets(loop, profiles, ts.folder / f"data-{target}", target)
    run = train_sn(data, ts.folder / f"run-{row}-{target}", loop.scale, loop.args, loop.say)
    return evaluate(run, ts.test, "test", loop.args.threads)["overall"]["psnr"], run


def row_e(loop: Loop, ts: TestSet) -> float:
    """(e) the same network trained from scratch on the real calibration pairs (TF stage, mode r)."""
    init = fresh_init(loop.out / "init-small.pt")
    run = train_real(init, ts.calib, ts.folder / "run-e-real", "r", loop.scale, loop.args, loop.say)
    return evaluate(run, ts.test, "test", loop.args.threads)["overall"]["psnr"]


def row_f(loop: Loop, ts: TestSet, ckpts: dict[str, Path]) -> float:
    """(f) TF with K real pairs from the better of (c)/(d) on those K pairs (never on the test scenes)."""
    k = loop.scale.k
    on_k = {r: evaluate(ckpts[r], ts.kpairs, f"k{k}", loop.args.threads)["overall"]["psnr"] for r in ("c", "d")}
    loop.picks[ts.split.name] = max(on_k, key=on_k.get)
    run = train_real(ckpts[loop.picks[ts.split.name]], ts.kpairs, ts.folder / f"run-f-tf-k{k}", "tf", loop.scale,
                     loop.args, loop.say)
    return evaluate(run, ts.test, "test", loop.args.threads)["overall"]["psnr"]


def row_e0(loop: Loop, ts: TestSet) -> float:
    """(e0) as (e) with PyTorch's default init of the last conv (--init-check)."""
    init = fresh_init(loop.out / "init-small-default.pt", "default")
    run = train_real(init, ts.calib, ts.folder / "run-e0-real-default-init", "r", loop.scale, loop.args, loop.say)
    return evaluate(run, ts.test, "test", loop.args.threads)["overall"]["psnr"]


def _cell(results: dict, row: str, name: str) -> str:
    v = results.get(name, {}).get(row)
    return "—" if v is None else f"{v:.2f}"


TARGETS = (
    ("best of (c)/(d) − (a) > 0", lambda r: max(r["c"], r["d"]) - r["a"], lambda v: v > 0),
    ("best of (c)/(d) − (b) ≥ 2 dB", lambda r: max(r["c"], r["d"]) - r["b"], lambda v: v >= 2),
    ("(d) − max((b1), (b2)) ≥ 1 dB", lambda r: r["d"] - max(r["b1"], r["b2"]), lambda v: v >= 1),
    ("PGap = (e) − best of (c)/(d) ≤ 1 dB", lambda r: r["e"] - max(r["c"], r["d"]), lambda v: v <= 1),
)


def render_table(results: dict, splits: dict, notes: dict, command: str, wall: float, partial: bool) -> str:
    """The Markdown table: one column per test set, rows (a)–(f) with (b1), (b2), targets and notes."""
    names = list(splits)
    lines = [f"`{command}`", "", f"wall time {wall / 60:.1f} min" + (" — PARTIAL: rows marked — are not done"
                                                                       if partial else ""), "",
             "| row | model | " + " | ".join(f"{n} ({len(splits[n]['test'])} held-out pairs)" for n in names) + " |",
             "|---|---|" + "---:|" * len(names)]
    extra = [INIT_ROW] if any(INIT_ROW[0] in results.get(n, {}) for n in names) else []
    for row, label in [*ROWS.items(), *extra]:
        lines.append(f"| ({row}) | {label} | " + " | ".join(_cell(results, row, n) for n in names) + " |")
    lines += ["", "| target | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, value, ok in TARGETS:
        cells = []
        for n in names:
            try:
                v = value(results.get(n, {}))
                cells.append(f"{v:+.2f} dB {'met' if ok(v) else 'NOT met'}")
            except KeyError:
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", *[f"- {k}: {v}" for k, v in notes.items()]]
    return "\n".join(lines) + "\n"


def _rows(text: str) -> list[str]:
    rows = [r.strip() for r in text.split(",") if r.strip()]
    bad = [r for r in rows if r not in ROWS]
    if bad or not rows:
        raise argparse.ArgumentTypeError(f"--rows: expected rows among {', '.join(ROWS)}, got {text!r}")
    if "f" in rows:  # (f) starts from the better of (c)/(d)
        rows += [r for r in ("c", "d") if r not in rows]
    return [r for r in ROWS if r in rows]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--sets", default="PolyU100,CC15", help="held-out test sets (default PolyU100,CC15)")
    ap.add_argument("--rows", type=_rows, default=list(ROWS), metavar="R,R,...",
                    help=f"rows to compute, among {','.join(ROWS)} (default: all; (f) brings (c) and (d))")
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
    return ap


def _test_set(name: str, loop: Loop) -> tuple[TestSet, dict]:
    """The verified split of one set (reused when written with the same seed and sizes) and its pair folders."""
    scale, seed = loop.scale, loop.args.seed
    folder = loop.out / slug(name)
    key = {"seed": seed, "max_groups": scale.max_groups, "max_pairs": scale.max_pairs}
    split = cached_split(folder / "split.json", key)
    if split is None:
        split = split_set(name, DATA, calib_from=CALIB_FROM.get(name), seed=seed,
                          clean_sources=[DATA / n for n in SN_SOURCES], max_groups=scale.max_groups,
                          max_pairs=scale.max_pairs)
    info = {**split.to_dict(), "calib": [p.id for p in split.calib], "test": [p.id for p in split.test], **key}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "split.json").write_text(json.dumps(info, indent=1) + "\n")
    loop.say(f"{name}: {len(split.groups)} groups, {len(split.calib)} calibration / {len(split.test)} test pairs, "
             f"{len(split.dropped)} calibration pairs dropped by the content check")
    ts = TestSet(split, folder, link_pairs(split.test, folder / crop_name("test", scale.test_crop), scale.test_crop),
                 link_pairs(split.calib, folder / crop_name("calib", scale.crop), scale.crop),
                 link_pairs(k_pairs(split, scale.k), folder / crop_name(f"calib-k{scale.k}", scale.crop), scale.crop))
    return ts, info


def main() -> int:
    args = _parser().parse_args()
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
    fit = args.fit or ("loop_steps:quick_fit" if args.quick else "calibrate")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python experiments/camera_loop.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    t0 = time.perf_counter()
    say = lambda m: print(f"[{time.perf_counter() - t0:6.0f} s] {m}", flush=True)  # noqa: E731
    loop = Loop(scale, args, out, fit, say, 1 if args.quick else 2, {})
    results: dict[str, dict] = {}
    prev = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    if prev.get("scale") == scale.__dict__ and prev.get("fit") == fit:  # rows not rerun now are kept
        results = {n: {r: v for r, v in rows.items() if r not in args.rows} for n, rows in prev["results"].items()
                   if n in sets}
        loop.picks.update({k: v for k, v in prev.get("picks", {}).items() if "f" not in args.rows})
    splits: dict[str, dict] = {}

    def write(partial: bool = True) -> None:
        where = ("whole held-out images" if scale.test_crop is None
                 else f"the {scale.test_crop}² centre crops of the held-out images")
        notes = {"network": "`small` AINDNet (290,110 parameters, last conv zero-initialised)",
                 "training": f"{scale.steps} steps of batch {scale.batch} at {scale.patch}² for every trained row, "
                 f"Adam lr {scale.lr:g} (SN: cosine schedule; (e), (f): constant, the TF stage's)",
                 "evaluation": f"PSNR (dB, 8-bit) on {where} run in {TILE}² tiles, each normalised with "
                 "its own AIN statistics (`eval --tile-stats`): the nets learnt their AIN statistics on 64² crops",
                 "profiles": f"--fit {fit}, one per camera-ISO group, on that group's calibration pairs; (b1), (b2): "
                 "the realism baselines fitted on the same pairs",
                 "(f) starts from": ", ".join(f"{k}: ({v})" for k, v in loop.picks.items()) or "—"}
        for n, s in splits.items():
            notes[f"{n} split"] = (f"{len(s['groups'])} groups, {len(s['calib'])} calibration / {len(s['test'])} test "
                                   f"pairs; content check dropped {len(s['dropped'])} calibration pairs")
        text = render_table(results, splits, notes, command, time.perf_counter() - t0, partial)
        (out / "table.md").write_text(text)
        (out / "results.json").write_text(json.dumps({"command": command, "quick": args.quick, "scale": scale.__dict__,
                                                      "fit": fit, "results": results, "splits": splits,
                                                      "picks": loop.picks, "wall_s": time.perf_counter() - t0,
                                                      "partial": partial}, indent=1) + "\n")

    tests = {}
    for name in sets:
        tests[name], splits[name] = _test_set(name, loop)
    for name, ts in tests.items():  # (a) and (b) first: (b) is one network for every set
        res = results.setdefault(name, {})
        if "a" in args.rows:
            res["a"] = row_a(loop, ts)
        if "b" in args.rows:
            res["b"] = row_b(loop, ts)
        write()
    for name, ts in tests.items():
        res = results[name]
        for row in ("b1", "b2"):
            if row in args.rows:
                res[row] = row_baseline(loop, ts, row)
                write()
        ckpts = {}
        for row in ("c", "d"):
            if row in args.rows:
                res[row], ckpts[row] = row_calibrated(loop, ts, row)
                write()
        if "e" in args.rows:
            res["e"] = row_e(loop, ts)
            write()
        if "f" in args.rows:
            res["f"] = row_f(loop, ts, ckpts)
            write()
        if name in args.init_check.split(","):
            res[INIT_ROW[0]] = row_e0(loop, ts)
            write()
    write(partial=not all(r in results.get(n, {}) for n in sets for r in ROWS))
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
