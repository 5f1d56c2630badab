"""D-BSN trained on the noisy images of a set's calibration half, scored on its held-out pairs (issue 19.2).

    python experiments/dbsn_heldout.py --set PolyU100 --variants nopd,pd5 --steps 1000 --threads 1

Split: every camera-ISO group of the set split by scene with realism's and the camera loop's rule
(noisegen.analysis.realism.split.split_groups, calib:50%,test:rest, seed 0); groups with one scene are left
out. Training reads only the *noisy* images of the calibration pairs (`noisegen-train dbsn` on a folder of
links to them); the clean images are used for scoring the held-out pairs only.

Variants (each a run folder OUT/<set>/<variant>, resumable: rerun the same command after an interruption):
- ``nopd``: the D-BSN paper, no pixel-shuffle down-sampling;
- ``pd5``: AP-BSN's asymmetric PD, stride 5 in training.
Each trained network is scored (PSNR in dB on 8-bit outputs, whole images) with several inference settings:
μ alone and the MAP output; for ``pd5`` also PD stride 2 without R³, with R³ (T = 8, p = 0.16) and PD stride 5.
OUT/<set>/table.md and results.json hold the numbers and the command. Default OUT: experiments/out/dbsn.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from noisegen.analysis.realism.split import split_groups
from noisegen.dataset.pairs import load_pair, scan_pairs
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.engine.metrics import psnr_u8
from trainer.infer.inference import load_model
from trainer.stages.dbsn import train_dbsn
from trainer.stages.dbsn_config import DBSNTrainConfig

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
OUT = Path(__file__).resolve().parent / "out" / "dbsn"
VARIANTS = {"nopd": 1, "pd5": 5}
# Inference settings scored per variant: (label, pd_infer, r3_steps, output).
SETTINGS = {
    "nopd": [("μ", 1, 0, "mu"), ("MAP", 1, 0, "map")],
    "pd5": [("PD2 μ", 2, 0, "mu"), ("PD2 MAP", 2, 0, "map"), ("PD2 μ + R³", 2, 8, "mu"),
            ("PD2 MAP + R³", 2, 8, "map"), ("PD5 μ", 5, 0, "mu")],
}


def split(data: Path, name: str, seed: int):
    """(calibration pairs, test pairs) of the set, split by scene within each camera-ISO group."""
    groups, _ = split_groups(scan_pairs([data / name]).pairs, seed=seed)
    return [p for g in groups for p in g.calib], [p for g in groups for p in g.test]


def link_noisy(pairs, folder: Path) -> Path:
    """A folder of links to the noisy images of ``pairs`` (all that `dbsn` training sees)."""
    folder.mkdir(parents=True, exist_ok=True)
    for p in pairs:
        dst = folder / Path(p.noisy).name
        if not dst.exists():
            dst.symlink_to(Path(p.noisy).resolve())
    return folder


def score(checkpoint: Path, test, settings, threads: int) -> dict[str, float]:
    """Mean PSNR over the test pairs for each inference setting (label → dB), and the noisy input's."""
    torch.set_num_threads(threads)
    model, _ = load_model(checkpoint)
    base = model.config
    images = [load_pair(p) for p in test]
    out = {"noisy input": float(np.mean([psnr_u8(n, c) for c, n in images]))}
    for label, pd, r3, output in settings:
        model.config = dataclasses.replace(base, pd_infer=pd, r3_steps=r3, output=output)
        vals = []
        with torch.no_grad():
            for clean, noisy in images:
                den, _ = model(image_to_tensor(noisy))
                vals.append(psnr_u8(tensor_to_u8(den), clean))
        out[label] = float(np.mean(vals))
    model.config = base
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="PolyU100")
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--variants", default="nopd,pd5")
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--patch", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    out = Path(args.out) / args.set
    calib, test = split(Path(args.data), args.set, args.seed)
    noisy = link_noisy(calib, out / "calib-noisy")
    print(f"{args.set}: {len(calib)} calibration images (noisy only), {len(test)} held-out pairs", file=sys.stderr)
    results = {}
    for v in args.variants.split(","):
        run = out / v
        cfg = DBSNTrainConfig(data=str(noisy), out=str(run), model=args.model, pd=VARIANTS[v], steps=args.steps,
                              batch=args.batch, patch=args.patch, lr=args.lr, seed=args.seed, device="cpu",
                              threads=args.threads, progress=False, log_every=50, ckpt_every=100)
        t = time.perf_counter()
        train_dbsn(cfg, resume=True)
        results[v] = {"train_s": round(time.perf_counter() - t, 1),
                      "psnr": score(run / "last.pt", test, SETTINGS[v], args.threads)}
        print(v, json.dumps(results[v]), file=sys.stderr)
    command = "python experiments/dbsn_heldout.py " + shlex.join(sys.argv[1:])
    rec = {"set": args.set, "calibration_images": len(calib), "test_pairs": len(test), "args": vars(args),
           "results": results, "command": command, "wall_s": round(time.perf_counter() - t0, 1)}
    (out / "results.json").write_text(json.dumps(rec, indent=1))
    rows = [f"| {v} | {label} | {db:.2f} |" for v, r in results.items() for label, db in r["psnr"].items()]
    (out / "table.md").write_text(f"`{command}`\n\n| run | inference | PSNR (dB) |\n|---|---|---:|\n"
                                  + "\n".join(rows) + "\n")
    print((out / "table.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
