"""Issue 20, Noise-DA (`noisegen-train da`) against SN over several training seeds: the camera command
(`noisegen-train camera`, trainer.camera) run with the DA rows of trainer.camera.rows_da, in one table.

    python experiments/da_rows.py [--sets PolyU100,CC15] [--seeds 0,1] [--scale cpu] [--out experiments/out/da_rows]
    python experiments/da_rows.py --quick --sets PolyU100 --seeds 0          # toy scale, under a minute

Rows, per test set and training seed (trainer.camera.rows_da; one network, one number of steps, the same
held-out images for every row, as experiments/camera_loop.py):
(a)  the noisy input;
(b)  SN on `cbdnet` data (one model for every set, OUT/shared); (d) SN on the calibrated profiles, clean = render;
(j)  (b)'s data + DA on the calibration pairs' noisy photos (their noisy side only: no real clean image is used);
(k)  (d)'s data + DA with the same photos;
(js) (j) without channel shuffling; (jc) (j) without the contrastive term;
(j0) (j) with α = 0 (da_weight 0): the same run as (b); checked on the weights, bit for bit.

Seeds (--seeds): the training seed (initial weights, batch order, every DA draw); split, profiles and data stay
those of seed 0, as in the camera command. At seed 0, (b) and (d) are the camera command's own runs. Sets and
clean photos are camera_loop.py's (PolyU100 split by scene; CC15 tested whole, calibrated on CC60); each set is
one camera run folder (OUT/<set>/, with its report). Written: OUT/da_table.md (per set and row the mean over the
seeds and each seed's PSNR; the targets paired by seed: (j) − (b) ≥ +0.5 dB, (k) − (d) ≥ −0.1 dB, and
(js) − (j), (jc) − (j); whether (j0) = (b) bit for bit) and OUT/da_results.json. Resumable as the command is:
a second invocation trains nothing.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path

import torch
from camera_loop import CALIB_FROM, DATA, SN_SOURCES

from trainer.camera.config import SCALES, CameraConfig
from trainer.camera.rows import ROW_A
from trainer.camera.rows_da import DA_KEYS, da_rows, run_name
from trainer.camera.run import run_camera
from trainer.engine.checkpoint import load_checkpoint

SEED = 0  # split, profiles and data (CameraConfig.seed)
TARGETS = (("(j) − (b)", "j", "b", 0.5), ("(k) − (d)", "k", "d", -0.1), ("(js) − (j)", "js", "j", None),
           ("(jc) − (j)", "jc", "j", None))


def parse_key(key: str) -> tuple[str, int | None]:
    """(row, training seed) of a report key: "j-s1" → ("j", 1); "a" → ("a", None)."""
    base, sep, seed = key.rpartition("-s")
    return (base, int(seed)) if sep and seed.isdigit() else (key, None)


def collect(report: dict) -> dict[str, dict[int, float] | float]:
    """Row → training seed → PSNR of a camera report's rows; "a" (the noisy input) → its PSNR."""
    out: dict = {}
    for r in report["rows"]:
        base, seed = parse_key(r["key"])
        if seed is None:
            out[base] = r["psnr"]
        else:
            out.setdefault(base, {})[seed] = r["psnr"]
    return out


def paired(res: dict, row: str, ref: str, limit: float | None) -> dict | None:
    """The target ``row`` − ``ref`` per seed where both ran: {"per_seed", "mean", "limit", "met"}."""
    diffs = {s: res[row][s] - res[ref][s] for s in res.get(row, {}) if s in res.get(ref, {})}
    if not diffs:
        return None
    mean = statistics.mean(diffs.values())
    return {"per_seed": diffs, "mean": mean, "limit": limit, "met": None if limit is None else mean >= limit}


def same_weights(a: Path, b: Path) -> bool | None:
    """Whether two checkpoints hold the same AINDNet weights, bit for bit (None: one of them is missing)."""
    if not (a.is_file() and b.is_file()):
        return None
    wa, wb = load_checkpoint(a)["model"], load_checkpoint(b)["model"]
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def _cell(values: dict[int, float]) -> str:
    if not values:
        return "—"
    per = ", ".join(f"{s}: {v:.2f}" for s, v in sorted(values.items()))
    return f"{statistics.mean(values.values()):.2f} (seeds {per})"


def render(results: dict, targets: dict, checks: dict, labels: dict, command: str, wall: float,
           notes: list[str]) -> str:
    """Markdown: rows × sets as the mean over seeds (per-seed values), the paired targets, the α = 0 check."""
    names = list(results)
    lines = [f"`{command}`", "", f"wall time of this invocation {wall / 60:.1f} min", "",
             "| row | model | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    noisy = [f"{results[n]['a']:.2f}" if "a" in results[n] else "—" for n in names]
    lines.append("| (a) | noisy input | " + " | ".join(noisy) + " |")
    for row, label in labels.items():
        lines.append(f"| ({row}) | {label} | " + " | ".join(_cell(results[n].get(row, {})) for n in names) + " |")
    lines += ["", "| target (paired by seed) | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for label, row, _, limit in TARGETS:
        cells = []
        for n in names:
            t = targets[n].get(row)
            verdict = "" if t is None or limit is None else (" met" if t["met"] else " NOT met")
            cells.append("—" if t is None else f"{t['mean']:+.2f} dB{verdict} (per seed " + ", ".join(
                f"{s}: {d:+.2f}" for s, d in sorted(t["per_seed"].items())) + ")")
        bound = "" if limit is None else f" ≥ {limit:+.1f} dB"
        lines.append(f"| {label}{bound} | " + " | ".join(cells) + " |")
    check = "; ".join(f"{n} seed {s}: " + {True: "identical", False: "DIFFERENT", None: "—"}[v]
                      for n in names for s, v in sorted(checks[n].items()))
    lines += ["", f"(j0) = (b), weights bit for bit: {check or '—'}", "", *[f"- {x}" for x in notes]]
    return "\n".join(lines) + "\n"


def _config(name: str, args, scale: str, out: Path) -> CameraConfig:
    folder, test = (DATA / CALIB_FROM[name], (str(DATA / name),)) if name in CALIB_FROM else (DATA / name, ())
    return CameraConfig(folder=str(folder), test=test, out=str(out / name.lower()), scale=scale,
                        clean=tuple(str(DATA / n) for n in SN_SOURCES), steps=args.steps, test_crop=args.test_crop,
                        seed=SEED, device="cpu", threads=args.threads, workers=0 if args.quick else args.workers,
                        progress=False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--sets", default="PolyU100,CC15", help="held-out test sets (default PolyU100,CC15)")
    ap.add_argument("--rows", default=",".join(DA_KEYS), metavar="KEYS",
                    help="rows to run, comma-separated (default all: %(default)s)")
    ap.add_argument("--seeds", default="0,1", help="training seeds, comma-separated (default 0,1)")
    ap.add_argument("--scale", choices=tuple(SCALES), default="cpu", help="the camera command's preset (default cpu)")
    ap.add_argument("--quick", action="store_true", help="= --scale quick (toy scale, about a minute)")
    ap.add_argument("--steps", type=int, default=None, help="steps of every trained row (default: the scale's)")
    ap.add_argument("--test-crop", type=int, default=None, help="score the held-out pairs on centre crops of this "
                    "side, 0 = whole images (default: the scale's)")
    ap.add_argument("--out", default="experiments/out/da_rows", help="folder for everything made")
    ap.add_argument("--workers", type=int, default=1, help="SN loader workers (default 1; 0 with --quick)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    keys = [k for k in args.rows.split(",") if k]
    if unknown := sorted(set(keys) - set(DA_KEYS)):
        ap.error(f"--rows: unknown {unknown}; choose from {', '.join(DA_KEYS)}")
    try:
        seeds = sorted({int(s) for s in args.seeds.split(",") if s})
    except ValueError:
        ap.error(f"--seeds: expected comma-separated integers, got {args.seeds!r}")
    if not seeds or min(seeds) < 0:
        ap.error(f"--seeds: expected non-negative integers, got {args.seeds!r}")
    need = set(SN_SOURCES) | set(sets) | {CALIB_FROM[s] for s in sets if s in CALIB_FROM}
    if missing := [n for n in sorted(need) if not (DATA / n).is_dir()]:
        print(f"da_rows: missing {', '.join(str(DATA / n) for n in missing)} (../shared/data)", file=sys.stderr)
        return 2
    keys = [k for k in DA_KEYS if k in keys]
    rows = (ROW_A, *(r for s in seeds for r in da_rows(s, keys)))
    labels = {k: r.label.removesuffix(f" (seed {seeds[0]})") for k, r in zip(keys, rows[1:])}
    out = Path(args.out)
    command = "python experiments/da_rows.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    t0 = time.perf_counter()
    results, targets, checks, reports = {}, {}, {}, {}
    for name in sets:
        config = _config(name, args, "quick" if args.quick else args.scale, out)
        reports[name] = report = run_camera(config, rows=rows, shared=out / "shared", command=command).report
        results[name] = res = collect(report)
        targets[name] = {row: t for _, row, ref, limit in TARGETS if (t := paired(res, row, ref, limit))}
        checks[name] = {s: same_weights(Path(config.out) / "runs" / run_name("j0", s, SEED) / "last.pt",
                                        out / "shared" / "runs" / run_name("b", s, SEED) / "last.pt")
                        for s in seeds if "j0" in keys}
    s = next(iter(reports.values()))["scale"]
    notes = [f"network: `{s['model']}` AINDNet; every row {s['steps']} steps of batch {s['batch']} at {s['patch']}², "
             f"Adam lr {s['lr']:g}", "DA: the `da` stage's defaults (w 0.2, ramp over the run, da_batch = batch/2, "
             "diffusion widths 12/24/48, shuffling and contrastive term on) unless the row says otherwise",
             f"evaluation: {next(iter(reports.values()))['evaluation']}",
             *[f"{n} report: {out / n.lower() / 'report.md'}" for n in sets]]
    wall = time.perf_counter() - t0
    table = render(results, targets, checks, labels, command, wall, notes)
    out.mkdir(parents=True, exist_ok=True)
    (out / "da_table.md").write_text(table)
    summary = {n: {row: {"mean": statistics.mean(v.values()), "per_seed": v} if isinstance(v, dict) else v
                   for row, v in results[n].items()} for n in sets}
    (out / "da_results.json").write_text(json.dumps(
        {"command": command, "scale": s, "seeds": seeds, "rows": keys, "results": summary, "targets": targets,
         "j0_equals_b": checks, "wall_s": wall}, indent=1, ensure_ascii=False) + "\n")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
