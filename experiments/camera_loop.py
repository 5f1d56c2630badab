"""Issue 11.3 / 19, "give me a denoiser for my camera", on two sets of real pairs: the camera command
(`noisegen-train camera`, trainer.camera) run on each, plus the loop's ablation row (c), in one table.

    python experiments/camera_loop.py [--sets PolyU100,CC15] [--scale cpu] [--out experiments/out/camera_loop]
    python experiments/camera_loop.py --quick --sets PolyU100          # toy scale (CI)

Rows (trainer.camera.rows; one network, one number of steps, the same held-out images for every row):
(a) noisy input; (b) SN on `cbdnet` data (one model for both sets); (b1)/(b2) SN on AWGN / sRGB a·x + b fitted
on each group's calibration pairs (the honest controls); (c) SN on the calibrated profiles,
clean = source crop; (d) the same, clean = the noise-free render; (e) from scratch on the real calibration
pairs (mode r); (f) TF with K real calibration pairs from (d).

Sets: PolyU100 split by scene within each camera-ISO group (the command's default); CC15 tested whole,
calibrated on CC60's pairs of the same camera-ISO groups (the command's --test), held out by shot: every CC60
crop of a shot that a CC15 image shows is dropped (noisegen.camera.split). Clean photos: CBSD68 and Kodak24.
Each set is one camera run folder (OUT/<set>/, with its report), row (b) and its data are shared (OUT/shared);
the table (OUT/table.md, with the command and wall time) and OUT/results.json are written at the end.
Resumable as the command is: run it again after an interruption.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from trainer.camera.config import SCALES, CameraConfig
from trainer.camera.rows import ROW_A, ROW_B, ROW_B1, ROW_B2, ROW_C, ROW_D, ROW_E, ROW_F, Row
from trainer.camera.rows_dbsn import ROWS_DBSN
from trainer.camera.run import run_camera
from trainer.engine.checkpoint import save_checkpoint
from trainer.models.aindnet import AINDNet
from trainer.models.config import ModelConfig

# ../shared/data beside the project (docs/design.md §Data); NOISEGEN_SHARED_DATA points elsewhere, as in tests.
DATA = Path(os.environ.get("NOISEGEN_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
CALIB_FROM = {"CC15": "CC60"}  # test sets calibrated on another folder of the same cameras
SN_SOURCES = ("CBSD68", "Kodak24")
ROWS = (ROW_A, ROW_B, ROW_B1, ROW_B2, ROW_C, ROW_D, ROW_E, ROW_F)
OPTIONAL = ROWS_DBSN  # (g), (h), (i): on request (--rows), D-BSN trains for long on a CPU


def _e0(ctx) -> Path:
    """Row (e) with PyTorch's default init of the last conv (the out_init measurement of issue 11.3)."""
    path = ctx.out / "runs" / "init-small-default.pt"
    if not path.exists():
        torch.manual_seed(0)
        model = AINDNet(replace(ModelConfig.small(), out_init="default"))
        opt = torch.optim.Adam(model.parameters())
        save_checkpoint(path, model=model, optimizer=opt, scheduler=torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1),
                        step=0, train_config={"model": "small"}, model_config=model.config.to_dict(), data=[])
    return ctx.train_real("e0-real-default-init", path, ctx.pairs["calib"], "r", ctx.scale.steps)


ROW_E0 = Row("e0", "as (e), last conv with PyTorch's default init (`out_init=\"default\"`)", "pairs", _e0)


def render_table(results: dict, counts: dict, notes: dict, command: str, wall: float) -> str:
    """The Markdown table: one column per test set, the rows, the targets of issue 11.3, notes."""
    names = list(results)
    order = [r.key for r in (*ROWS, *OPTIONAL, ROW_E0)]
    keys = [k for k in order if any(k in results[n] for n in names)]
    labels = {r.key: r.label for r in (*ROWS, *OPTIONAL, ROW_E0)}
    lines = [f"`{command}`", "", f"wall time {wall / 60:.1f} min", "",
             "| row | model | " + " | ".join(f"{n} ({counts[n]} held-out pairs)" for n in names) + " |",
             "|---|---|" + "---:|" * len(names)]
    for k in keys:
        cells = [f"{results[n][k]:.2f}" if k in results[n] else "—" for n in names]
        lines.append(f"| ({k}) | {labels[k]} | " + " | ".join(cells) + " |")
    lines += ["", "| target | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    def best(r):  # of (c)/(d), whichever ran
        return max(r[k] for k in ("c", "d") if k in r) if "c" in r or "d" in r else r["d"]

    for label, fn, ok in (("best of (c)/(d) − (a) > 0", lambda r: best(r) - r["a"], lambda v: v > 0),
                          ("best of (c)/(d) − (b) ≥ 2 dB", lambda r: best(r) - r["b"], lambda v: v >= 2),
                          ("(d) − max((b1), (b2)) ≥ 1 dB (issue 18)", lambda r: r["d"] - max(r["b1"], r["b2"]),
                           lambda v: v >= 1),
                          ("PGap = (e) − best of (c)/(d) ≤ 1 dB", lambda r: r["e"] - best(r),
                           lambda v: v <= 1)):
        cells = []
        for n in names:
            try:
                v = fn(results[n])
                cells.append(f"{v:+.2f} dB {'met' if ok(v) else 'NOT met'}")
            except KeyError:
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", *[f"- {k}: {v}" for k, v in notes.items()]]) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--sets", default="PolyU100,CC15", help="held-out test sets (default PolyU100,CC15)")
    ap.add_argument("--scale", choices=tuple(SCALES), default="cpu", help="the camera command's preset (default cpu)")
    ap.add_argument("--quick", action="store_true", help="= --scale quick (toy scale, seconds)")
    ap.add_argument("--fit", default=None, help="profile fit step per camera-ISO group (default: the scale's)")
    ap.add_argument("--steps", type=int, default=None, help="steps of every trained row (default: the scale's)")
    ap.add_argument("--test-crop", type=int, default=None, help="score the held-out pairs on centre crops of this "
                    "side, 0 = whole images (default: the scale's)")
    ap.add_argument("--out", default="experiments/out/camera_loop", help="folder for everything made")
    ap.add_argument("--workers", type=int, default=1, help="SN loader workers (default 1)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="split, data and weights seed (default 0)")
    ap.add_argument("--rows", default=",".join(r.key for r in ROWS), metavar="KEYS",
                    help="rows to run, comma-separated (default: %(default)s; also g, h, i: the D-BSN rows of "
                    "`camera --dbsn`); (f) needs (d)")
    ap.add_argument("--init-check", default="", metavar="SETS",
                    help="also train row (e0), (e) with the default init of the last conv, on these sets")
    args = ap.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    need = set(SN_SOURCES) | set(sets) | {CALIB_FROM[s] for s in sets if s in CALIB_FROM}
    if missing := [n for n in sorted(need) if not (DATA / n).is_dir()]:
        print(f"camera_loop: missing {', '.join(str(DATA / n) for n in missing)} (../shared/data)", file=sys.stderr)
        return 2
    keys = [k for k in args.rows.split(",") if k]
    if unknown := sorted(set(keys) - {r.key for r in (*ROWS, *OPTIONAL)}):
        ap.error(f"--rows: unknown {unknown}; choose from {', '.join(r.key for r in (*ROWS, *OPTIONAL))}")
    if "f" in keys and "d" not in keys:
        ap.error("--rows: (f) starts from (d); add d")
    scale = "quick" if args.quick else args.scale
    out = Path(args.out)
    command = "python experiments/camera_loop.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    t0 = time.perf_counter()
    results, counts, notes, reports = {}, {}, {}, {}
    for name in sets:
        folder, test = (DATA / CALIB_FROM[name], (str(DATA / name),)) if name in CALIB_FROM else (DATA / name, ())
        config = CameraConfig(folder=str(folder), test=test, out=str(out / name.lower()), scale=scale,
                              clean=tuple(str(DATA / n) for n in SN_SOURCES), fit=args.fit, steps=args.steps,
                              test_crop=args.test_crop, seed=args.seed, device="cpu", threads=args.threads,
                              workers=0 if args.quick else args.workers, progress=False)
        rows = tuple(r for r in (*ROWS, *OPTIONAL) if r.key in keys)
        rows += (ROW_E0,) if name in args.init_check.split(",") else ()
        r = run_camera(config, rows=rows, shared=out / "shared", command=command, echo=print).report
        reports[name] = r
        results[name] = {x["key"]: x["psnr"] for x in r["rows"]}
        counts[name] = sum(len(g["test"]) for g in r["split"]["groups"])
        sp = r["split"]
        notes[f"{name} split"] = (f"{len(sp['groups'])} groups, {sum(len(g['calib']) for g in sp['groups'])} "
                                  f"calibration / {counts[name]} test pairs; {len(sp['dropped'])} calibration pairs "
                                  f"dropped ({sum(d['why'] == 'content' for d in sp['dropped'])} by content, "
                                  f"{sum(d['why'] == 'shot' for d in sp['dropped'])} by shot)")
        notes[f"{name} report"] = f"{out / name.lower() / 'report.md'}"
    s = next(iter(reports.values()))["scale"]
    notes = {"network": f"`{s['model']}` AINDNet", "training": f"{s['steps']} steps of batch {s['batch']} at "
             f"{s['patch']}² for every trained row (TF {s['tf_steps']}), Adam lr {s['lr']:g}",
             "evaluation": next(iter(reports.values()))["evaluation"], "profiles": f"{s['fit']} per camera-ISO group",
             **notes}
    wall = time.perf_counter() - t0
    table = render_table(results, counts, notes, command, wall)
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.md").write_text(table)
    (out / "results.json").write_text(json.dumps({"command": command, "scale": s, "results": results,
                                                  "splits": {n: r["split"] for n, r in reports.items()},
                                                  "wall_s": wall}, indent=1) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
