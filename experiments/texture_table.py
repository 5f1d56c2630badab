"""Noise std per clean-texture bin, real vs simulated, on the held-out pairs of the realism table (issue 11.2).

    python experiments/texture_table.py --fits calibrate,calibrate-camera

Reads the reports that experiments/realism_table.py wrote (OUT/<fit>/<set>/realism.json: the split and the
profiles fitted on each group's calibration pairs), simulates each group's *test* pairs with the sRGB a·x+b
baseline and with each named fit's profile (``--draws`` draws, seeds as noisegen realism's), and prints, per
set, the residual std (8-bit levels) per bin of clean texture (noisegen.analysis.texture) pooled over the
groups: real, and each model as a ratio to real. A camera that denoises shows as a real std that rises with
texture faster than a model without noise reduction predicts (ratios > 1 in flat bins, < 1 in textured ones).
Writes OUT/texture_table.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from noisegen.analysis.texture import TEXTURE_EDGES, TextureStats, texture_stats, texture_std
from noisegen.dataset.pairs import load_pair, scan_pairs
from noisegen.isp.camera_profile import CameraProfile
from noisegen.isp.params import SampleParams
from noisegen.isp.pipeline import synthesize
from noisegen.isp.sampling import sample_params

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "realism"
DATA = HERE.parents[1] / "shared" / "data"


def _models(fits: list[str], name: str, group: str, out: Path) -> dict:
    models = {}
    for fit in fits:
        rec = json.loads((out / fit / name / "realism.json").read_text())
        g = next(g for g in rec["groups"] if g["name"] == group)
        for m in g["models"]:
            if m["key"] == "sRGB a·x+b" and "sRGB a·x+b" not in models:
                models["sRGB a·x+b"] = SampleParams.from_dict(m["params"])
            if m["kind"] == "fitted":
                models[fit] = CameraProfile.from_dict(m["profile"])
    return models


def run(name: str, fits: list[str], data: Path, out: Path, draws: int) -> dict[str, TextureStats]:
    rec = json.loads((out / fits[0] / name / "realism.json").read_text())
    by_id = {p.id: p for p in scan_pairs((str(data / name),)).pairs}
    totals: dict[str, TextureStats] = {"real": TextureStats()}
    for g in rec["groups"]:
        models = _models(fits, name, g["name"], out)
        for pid in g["test_pairs"]:
            clean, noisy = load_pair(by_id[pid])
            totals["real"].add(texture_stats(clean, noisy))
            for key, m in models.items():
                for ell in range(draws):
                    params = m if isinstance(m, SampleParams) else sample_params(m, np.random.default_rng([0, 1, ell]))
                    sim = synthesize(clean, params, seed=[0, 2, ell, len(pid)]).noisy
                    totals.setdefault(key, TextureStats()).add(texture_stats(clean, sim))
        print(f"{name}: {g['name']} done", file=sys.stderr)
    return totals


def table(name: str, totals: dict[str, TextureStats]) -> str:
    edges = [f"{255 * a:.0f}–{'∞' if not np.isfinite(b) else f'{255 * b:.0f}'}" for a, b in
             zip(TEXTURE_EDGES[:-1], TEXTURE_EDGES[1:])]
    real = texture_std(totals["real"])
    lines = [f"**{name}** (clean texture in 8-bit levels of local std; real: residual std; models: ratio to real)", "",
             "| | " + " | ".join(edges) + " |", "|" + "---|" * (len(edges) + 1),
             "| real std | " + " | ".join(f"{v:.2f}" for v in real) + " |",
             "| share of pixels | " + " | ".join(f"{v:.0%}" for v in totals["real"].count / totals["real"].count.sum())
             + " |"]
    for key, st in totals.items():
        if key != "real":
            lines.append(f"| {key} | " + " | ".join(f"{v:.2f}" for v in texture_std(st) / real) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--fits", default="calibrate,calibrate-camera", help="fit folders under --out (comma-separated)")
    ap.add_argument("--sets", default="PolyU100,CC60")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--draws", type=int, default=2)
    args = ap.parse_args()
    fits = [f for f in args.fits.split(",") if f]
    text = "\n\n".join(table(s, run(s, fits, Path(args.data), Path(args.out), args.draws))
                       for s in args.sets.split(",") if s)
    (Path(args.out) / "texture_table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
