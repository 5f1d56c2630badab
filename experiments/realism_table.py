"""The realism table of issue 11: held-out AKLD per camera-ISO group on PolyU100 and CC60.

    python experiments/realism_table.py                       # --fit calibrate, 8 draws, seed 0
    python experiments/realism_table.py --fit calibrate-render
    python experiments/realism_table.py --fit calibrate-camera --workers 2   # issue 11.2: NR, JPEG from files
    python experiments/realism_table.py --fit mypackage.fits:fit_iso_profile --workers 2

For each set, `noisegen realism` (noisegen.analysis.realism.protocol) splits every camera-ISO group by scene
(pack-pairs' rule, calib:50%,test:rest), fits the AWGN and sRGB a·x+b baselines and the ``--fit``
step (default: noisegen calibrate, run per group on its calibration scenes) on the calibration
pairs, and scores them and the built-in ``cbdnet`` profile on the test pairs with L draws each.
A new camera model is measured by naming its profile-producing step with ``--fit`` (any
``module:function`` (pairs, camera, iso, seed) -> CameraProfile) and rerunning this script.

Resumable: each set's report is written to OUT/<fit>/<set>/realism.json and reused when it exists
with the same configuration (--force recomputes). OUT/<fit>/table.md holds the summary table, the
per-group table and the command. Default OUT: experiments/out/realism (git-ignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import sys
import time
from pathlib import Path

from noisegen.analysis.realism.plot import plot_realism
from noisegen.analysis.realism.protocol import RealismConfig, run_realism
from noisegen.analysis.realism.report import BASELINES
from noisegen.cli.output import clean_nan, write_json

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "out" / "realism"
SETS = ("PolyU100", "CC60")


def _config(args: argparse.Namespace, folder: Path) -> RealismConfig:
    return RealismConfig(pairs=(str(folder),), profiles=("cbdnet", *args.profile), fit=args.fit or None,
                         draws=args.draws, seed=args.seed, crop=args.crop, workers=args.workers)


def _same(a: dict, b: dict) -> bool:
    keys = ("pairs", "profiles", "fit", "draws", "seed", "crop", "split", "bins", "min_count", "max_clip")
    return all(json.dumps(a.get(k)) == json.dumps(b.get(k)) for k in keys)


def run_set(name: str, args: argparse.Namespace, out: Path) -> dict:
    """The report of one set as its JSON dict (computed, or reused when done with this configuration)."""
    config = _config(args, Path(args.data) / name)
    path = out / name / "realism.json"
    want = json.loads(json.dumps(dataclasses.asdict(config)))
    if path.exists() and not args.force:
        rec = json.loads(path.read_text())
        if _same(rec["config"], want):
            print(f"{name}: reusing {path} ({rec['elapsed_s']:.0f} s when computed)", file=sys.stderr)
            return rec
    report = run_realism(config, echo=lambda s: print(f"{name}: {s}", file=sys.stderr), progress=not args.no_progress)
    rec = clean_nan(report.to_dict())
    (out / name).mkdir(parents=True, exist_ok=True)
    (out / name / "realism.md").write_text(report.markdown())
    plot_realism(report, out / name / "realism.png")
    write_json(str(path), rec)   # last: its presence marks the set as done
    return rec


def _f(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def tables(records: dict[str, dict]) -> str:
    """Summary (one row per set) and per-group AKLD tables in Markdown."""
    models = list(dict.fromkeys(k for r in records.values() for k in r["models"]))
    others = [k for k in models if k not in BASELINES]
    head = ["set", "groups", *models] + [f"groups where {k} beats both baselines" for k in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in records.items():
        wins = [f"{r['wins'][k]['beats_both_baselines']}/{r['wins'][k]['groups']}" if k in r["wins"] else "–"
                for k in others]
        lines.append(f"| {name} | {len(r['groups'])} | " + " | ".join(_f(r["mean_akld"].get(k)) for k in models)
                     + " | " + " | ".join(wins) + " |")
    lines += ["", "| set | group | test pairs | " + " | ".join(models) + " | beats both baselines |",
              "|" + "---|" * (len(models) + 4)]
    for name, r in records.items():
        for g in r["groups"]:
            ak = {k: s["akld"] for k, s in g["scores"].items()}
            best_base = min(ak[b] for b in BASELINES)
            beat = ", ".join(k for k in others if k in ak and ak[k] < best_base) or "–"
            lines.append(f"| {name} | {g['name']} | {len(g['test_pairs'])} | "
                         + " | ".join(_f(ak.get(k)) for k in models) + f" | {beat} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--fit", default="calibrate",
                    help="profile-producing step run per camera-ISO group on its calibration scenes: calibrate, "
                    "calibrate-render, calibrate-camera (with in-camera noise reduction and the JPEG settings of the "
                    "files), calibrate-nr, calibrate-jpeg, or module:function; '' for none (default: calibrate)")
    ap.add_argument("--profile", action="append", default=[], metavar="NAME",
                    help="another built-in profile to score (repeatable); cbdnet is always scored")
    ap.add_argument("--sets", default=",".join(SETS), help=f"pair folders under --data (default: {','.join(SETS)})")
    ap.add_argument("--data", default=str(DATA), help=f"the shared data folder (default: {DATA})")
    ap.add_argument("--draws", type=int, default=8, help="L draws per test pair and model (default 8)")
    ap.add_argument("--seed", type=int, default=0, help="split, draws and noise (default 0)")
    ap.add_argument("--crop", type=int, help="centre crops of this side (default: whole images)")
    ap.add_argument("--workers", type=int, default=1, help="processes (default 1)")
    ap.add_argument("--out", default=str(OUT), help=f"output folder (default: {OUT})")
    ap.add_argument("--force", action="store_true", help="recompute sets that are already done")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    sets = [s for s in args.sets.split(",") if s]
    missing = [s for s in sets if not (Path(args.data) / s).is_dir()]
    if missing:
        sys.exit(f"realism_table: missing {', '.join(str(Path(args.data) / s) for s in missing)} "
                 "(../shared/data, DESIGN.md §6; or pass --data)")
    out = Path(args.out) / (re.sub(r"[^A-Za-z0-9_.-]+", "_", args.fit) or "no-fit")
    t0 = time.perf_counter()
    records = {name: run_set(name, args, out) for name in sets}
    wall = time.perf_counter() - t0
    command = "python experiments/realism_table.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    computed = sum(r["elapsed_s"] for r in records.values())
    text = (f"# Held-out AKLD per camera-ISO group (lower is better)\n\n`{command}`\n\n{tables(records)}\n\n"
            f"Compute time of the reports: {computed:.0f} s (this invocation: {wall:.0f} s wall).\n")
    (out / "table.md").write_text(text)
    print(text)
    print(f"wrote {out / 'table.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
