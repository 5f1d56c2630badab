"""The training loader's CPU cost per sample in each data mode, on one core.

    python benchmarks/bench_loader_modes.py [--samples 256] [--patch 256] [--crop 256] [--batches 12]

Four ways to feed the SN stage the same cbdnet data (one loader worker, i.e. one core; the loader
alone, drained as fast as possible, as in benchmarks/bench_train.py):
  stored          noisy.png and the σ member decoded (the default)
  derived σ       noisy.png decoded, σ recomputed from clean + parameters (generate --sigma derived)
  fresh noise     clean.png decoded, the noisy crop and σ synthesized anew (sn --fresh-noise noise)
  fresh params    the same with new parameters from the dataset's profile (sn --fresh-noise params)
Also bytes per sample on disk. A GPU step needs (samples/s of the step) / (samples/s per core) cores.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import SHARED, bench_loader  # noqa: E402

import noisegen as ng  # noqa: E402
from noisegen.dataset.generate import GenerateConfig, generate  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(allow_abbrev=False, description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--patch", type=int, default=256, help="patch size of the generated datasets")
    ap.add_argument("--crop", type=int, default=256, help="training crop")
    ap.add_argument("--batches", type=int, default=12)
    args = ap.parse_args(argv)
    images = (str(SHARED),) if SHARED.is_dir() else ()
    per_image = max(1, args.samples // (68 if images else 8))
    with tempfile.TemporaryDirectory() as tmp:
        ds = {}
        for mode in ("stored", "derived"):
            out = Path(tmp) / mode
            generate(GenerateConfig(out=str(out), images=images, patch=args.patch, patches_per_image=per_image,
                                    seed=0, sigma=mode, samples_per_shard=32, workers=2), progress=False,
                     echo=lambda s: None)
            ds[mode] = out
        size = {m: json.loads((p / "dataset.json").read_text())["counts"] for m, p in ds.items()}
        manifest = json.loads((ds["stored"] / "dataset.json").read_text())
        profile = ng.CameraProfile.from_dict(manifest["config"]["profile"])
        runs = [("stored", ds["stored"], {}), ("derived σ", ds["derived"], {}),
                ("fresh noise", ds["stored"], {"fresh": "noise"}),
                ("fresh params", ds["stored"], {"fresh": "params", "profile": profile})]
        print(f"{size['stored']['samples']} cbdnet patches of {args.patch}², crops {args.crop}², batch 8, 1 loader "
              "worker (one core)")
        print(f"{'mode':14s} {'samples/s/core':>15s} {'KB/sample':>10s}")
        for name, path, kw in runs:
            rate = bench_loader(path, patch=args.crop, batch=8, workers=1, device=torch.device("cpu"),
                                batches=args.batches, **kw)
            c = size["derived" if path == ds["derived"] else "stored"]
            print(f"{name:14s} {rate:15.1f} {c['bytes'] / c['samples'] / 1e3:10.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
