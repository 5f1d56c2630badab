"""How well a D-BSN's noise model matches the real noise level, per intensity bin (a diagnostic for
noisy-only calibration, issue 19.2; the clean images are read here to *check*, never to fit).

    python experiments/dbsn_sigma_check.py experiments/out/dbsn/PolyU100/pd5 --set PolyU100 --part calib

For the pairs of one part of the split (realism's rule, seed 0), per bin of clean intensity (all channels):
the real residual std (noisy − clean, pooled within code, noisegen.analysis.nlf), the D-BSN's RMS σ
(√diag Σ_n) binned by the clean code, and the residual std against its outputs (noisy − μ, noisy − x̂); then
the lag-1 and cross-channel correlations of the three residuals.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

from noisegen.analysis.calibrate.noisy_only import sigma_target_stats
from noisegen.analysis.nlf import (
    NoiseStats,
    accumulate,
    autocorrelation,
    cross_correlation,
    image_stats,
    nlf_from_stats,
)
from noisegen.analysis.realism.split import split_groups
from noisegen.dataset.pairs import load_pair, scan_pairs
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.infer.inference import load_model

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--set", default="PolyU100")
    ap.add_argument("--part", choices=("calib", "test"), default="calib")
    ap.add_argument("--max-pairs", type=int, default=12)
    ap.add_argument("--bins", type=int, default=8)
    args = ap.parse_args()
    torch.set_num_threads(1)
    groups, _ = split_groups(scan_pairs([DATA / args.set]).pairs, seed=0)
    pairs = [p for g in groups for p in getattr(g, args.part)][:args.max_pairs]
    model, _ = load_model(Path(args.run) / "last.pt")
    base = model.config
    real, sig, res_mu, res_map = NoiseStats(), NoiseStats(), NoiseStats(), NoiseStats()
    for p in pairs:
        clean, noisy = load_pair(p)
        x = image_to_tensor(noisy)
        with torch.no_grad():
            model.config = dataclasses.replace(base, output="mu", r3_steps=0)
            mu, sigma = model(x)
            model.config = base
            xhat, _ = model(x)
        s = sigma[0].permute(1, 2, 0).numpy().astype(np.float64)
        accumulate(real, image_stats(clean, noisy))
        accumulate(sig, sigma_target_stats(clean, noisy, s))
        accumulate(res_mu, image_stats(tensor_to_u8(mu), noisy))
        accumulate(res_map, image_stats(tensor_to_u8(xhat), noisy))
    print(f"{args.run}: {len(pairs)} {args.part} pairs of {args.set}; std in 8-bit levels, mean over channels")
    print(f"{'bin':>9s} {'real':>6s} {'σ_n':>6s} {'y−μ':>6s} {'y−x̂':>6s}")
    curves = [nlf_from_stats(st, bins=args.bins, min_count=200) for st in (real, sig, res_mu, res_map)]
    for b in range(args.bins):
        with warnings.catch_warnings():   # a bin no channel fills (e.g. the brightest on CC60) prints nan
            warnings.simplefilter("ignore", RuntimeWarning)
            vals = [np.nanmean(np.where(c.valid[:, b], c.std[:, b], np.nan)) * 255 for c in curves]
        lo, hi = curves[0].edges[b], curves[0].edges[b + 1]
        print(f"{lo:4.2f}-{hi:4.2f} " + " ".join(f"{v:6.2f}" for v in vals))
    ratio = [np.nanmean(curves[k].std[curves[0].valid & curves[k].valid] / curves[0].std[curves[0].valid
                                                                                      & curves[k].valid])
             for k in (1, 2, 3)]
    print("mean ratio to real: σ_n {:.3f}, y−μ {:.3f}, y−x̂ {:.3f}".format(*ratio))
    # the correlations of the residuals (why noisy-only calibration fits no correlation term): mean over channels
    # of the lag-1 (h1, v1) autocorrelation, mean over channel pairs of the cross-channel correlation
    print(f"{'':9s} {'real':>6s} {'':>6s} {'y−μ':>6s} {'y−x̂':>6s}")
    for label, fn in (("lag-1", lambda st: np.nanmean(autocorrelation(st)[:, :2])),
                      ("cross", lambda st: np.nanmean(cross_correlation(st)))):
        print(f"{label:>9s} {fn(real):6.2f} {'':>6s} {fn(res_mu):6.2f} {fn(res_map):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
