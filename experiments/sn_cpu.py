"""CPU experiment (~10 minutes on 2 cores): does training on realistic camera noise beat plain AWGN on real photos?

    python experiments/sn_cpu.py [--out experiments/out/sn_cpu] [--steps 2500] [--quick]

1. Generate two training sets from ../shared/data/CBSD68 (68 photos; 24 random 80×80 patches per
   photo): one with the ``cbdnet`` camera profile (heteroscedastic noise in irradiance, random CRF,
   Bayer mosaic + demosaic, JPEG on half of them) and one with ``gauss`` (AWGN, σ ~ U[0, 55]/255).
2. Train the tiny AINDNet (76K parameters, same code as the paper model) on each with the SN loss:
   --steps steps of batch 8 at 64×64 random crops, Adam lr 1e-3 with cosine decay (a higher lr than
   the paper model's default suits this small network and short schedule), 1 loader worker.
3. Evaluate both, on whole images: Kodak24 with cbdnet noise (fixed seed 0), and the real
   noisy/clean pairs of CC15 and PolyU100. PSNR (dB, 8-bit) of the noisy input and of the output.

Prints a table and writes OUT/results.json; each run folder has metrics.jsonl and curves.png.
--quick runs a 3-minute version (fewer steps and images) to check that everything works.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from cpu_common import DATA, cbsd68_dataset, require_data, train_tiny_sn

import noisegen as ng
from trainer.engine.checkpoint import load_checkpoint
from trainer.engine.validate import evaluate, open_val_source
from trainer.models.aindnet import AINDNet
from trainer.models.config import ModelConfig

PROFILES = ("gauss", "cbdnet")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--out", default="experiments/out/sn_cpu", help="folder for datasets, runs and results")
    ap.add_argument("--steps", type=int, default=2500, help="training steps per model (default 2500)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for training (default 1: the loader worker gets the other core)")
    ap.add_argument("--quick", action="store_true", help="short check: 400 steps, 8 images per test set")
    args = ap.parse_args()
    if not require_data("CBSD68", "Kodak24", "CC15", "PolyU100"):
        return 2
    steps = 400 if args.quick else args.steps
    max_images = 8 if args.quick else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    models = {}
    for profile in PROFILES:
        ds = cbsd68_dataset(out / f"cbsd68-{profile}", profile)
        ckpt = train_tiny_sn(ds, out / f"run-{profile}", steps=steps, threads=args.threads)
        model = AINDNet(ModelConfig.tiny())
        model.load_state_dict(load_checkpoint(ckpt)["model"])
        models[profile] = model

    sets = {
        "Kodak24 + cbdnet noise": open_val_source(str(DATA / "Kodak24"), profile=ng.get_profile("cbdnet"), seed=0,
                                                  max_images=max_images),
        "CC15 (real)": open_val_source(str(DATA / "CC15"), max_images=max_images),
        "PolyU100 (real)": open_val_source(str(DATA / "PolyU100"), max_images=max_images),
    }
    results: dict[str, dict[str, float]] = {"noisy input": {}}
    for set_name, src in sets.items():
        for profile, model in models.items():
            t = time.perf_counter()
            r = evaluate(model, src, device=torch.device("cpu"), channels_last=True)
            results.setdefault(f"tiny AINDNet trained on {profile}", {})[set_name] = r["psnr"]
            results["noisy input"][set_name] = r["psnr_noisy"]
            print(f"evaluated {profile} on {set_name} ({r['images']} images) in {time.perf_counter() - t:.0f} s")

    names = list(sets)
    print(f"\nPSNR (dB), tiny AINDNet, {steps} steps × batch 8 of 64² on CBSD68 patches; whole test images"
          + (" (quick run: first 8 images of each set)" if args.quick else ""))
    print("| | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for row, vals in results.items():
        print(f"| {row} | " + " | ".join(f"{vals[n]:.2f}" for n in names) + " |")
    print(f"\ntotal time {time.perf_counter() - t_all:.0f} s")
    (out / "results.json").write_text(json.dumps({"steps": steps, "quick": args.quick, "psnr": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
