"""Issue 18's time budget: `noisegen calibrate` per camera-ISO group with model selection (the default) against
`--fast` (the single camera model, the default before issue 18), on the calibration halves of `noisegen realism`.

    python experiments/calibrate_timing.py [--sets PolyU100,CC60] [--out experiments/out/calibrate_timing]

For each group of each set (split by scene as `noisegen realism --pairs` splits it, seed 0), calibrate runs on the
calibration pairs twice in this process (after one small warm-up run that loads numba's kernels), --fast first, then
the default; wall time and this process's CPU time
(the fairer figure on a shared machine) of each, the chosen family and the ratio. Resumable: OUT/timing.json keeps
the finished groups; OUT/timing.md is the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

from noisegen.analysis.calibrate.fit import CalibrateConfig, calibrate
from noisegen.analysis.realism.split import split_groups
from noisegen.dataset.pairs import scan_pairs

DATA = Path(os.environ.get("NOISEGEN_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def _time(config: CalibrateConfig, pairs) -> tuple[float, float, str]:
    w, c = time.perf_counter(), time.process_time()
    cal = calibrate(config, pairs=pairs)
    return time.perf_counter() - w, time.process_time() - c, cal.family


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--sets", default="PolyU100,CC60")
    ap.add_argument("--out", default="experiments/out/calibrate_timing")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "timing.json"
    rows = json.loads(path.read_text()) if path.exists() else {}
    warm = False
    for name in args.sets.split(","):
        groups, _ = split_groups(scan_pairs([DATA / name]).pairs)
        for g in groups:
            key = f"{name} · {g.name}"
            if key in rows:
                continue
            roots = tuple(sorted({os.path.dirname(p.noisy) for p in g.calib}))
            base = dict(pairs=roots, camera=g.camera, iso=() if g.iso is None else (g.iso,), seed=0)
            if not warm:   # numba's first calls compile or load its cache: not part of either figure
                calibrate(CalibrateConfig(**base, max_pixels=40_000, search_pixels=20_000, crop=64),
                          pairs=list(g.calib)[:1])
                warm = True
            fw, fc, _ = _time(CalibrateConfig(**base, fast=True), list(g.calib))
            sw, sc, family = _time(CalibrateConfig(**base), list(g.calib))
            rows[key] = {"pairs": len(g.calib), "fast_wall": fw, "fast_cpu": fc, "select_wall": sw, "select_cpu": sc,
                         "family": family}
            print(f"{key}: fast {fw:.1f} s wall / {fc:.1f} s CPU, selection {sw:.1f} / {sc:.1f} s ({family}); "
                  f"ratio {sw / fw:.2f} wall, {sc / fc:.2f} CPU", flush=True)
            path.write_text(json.dumps(rows, indent=1) + "\n")
    lines = ["`python experiments/calibrate_timing.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]) + "`", "",
             "| group | calib pairs | --fast wall / CPU s | selection wall / CPU s | ratio wall / CPU | family |",
             "|---|---|---|---|---|---|"]
    for key, r in rows.items():
        lines.append(f"| {key} | {r['pairs']} | {r['fast_wall']:.1f} / {r['fast_cpu']:.1f} | {r['select_wall']:.1f} / "
                     f"{r['select_cpu']:.1f} | {r['select_wall'] / r['fast_wall']:.2f} / "
                     f"{r['select_cpu'] / r['fast_cpu']:.2f} | {r['family']} |")
    tw = sum(r["select_wall"] for r in rows.values()) / sum(r["fast_wall"] for r in rows.values())
    tc = sum(r["select_cpu"] for r in rows.values()) / sum(r["fast_cpu"] for r in rows.values())
    lines += ["", f"total ratio: {tw:.2f} wall, {tc:.2f} CPU"]
    (out / "timing.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
