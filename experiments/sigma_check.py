"""Does an SN model's noise estimator follow the true σ? And can it, given the sigma loss alone?

    python experiments/sigma_check.py experiments/out/table5/sn/last.pt experiments/out/table5/cbsd68-cbdnet

Reads the first 400 samples of DATASET (a `noisegen generate` dataset: noisy.png + sigma.png), and
on the top-left 64×64 crop of samples 300-399 reports the correlation, over samples, between the
mean estimated σ̂ (the model's full-resolution map) and the mean true σ, and both means.
Then, unless --steps 0, it trains a copy of the estimator alone on samples 0-299 with only the
SN stage's multi-scale asymmetric loss (w₁ 0.2, w₄ 0.8, α 0.25; Adam lr 1e-3, batch 8, fixed
seed) and reports the same figures every 100 steps: if they rise, the estimator can learn σ and
what held it back in the SN run is the weight of the sigma loss against L1 (--asymm-weight).
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import numpy as np
import torch

import noisegen as ng
from trainer.infer.inference import load_model
from trainer.stages.losses import SCALE_WEIGHTS, asymmetric_loss, downscale_sigma

CROP = 64


def _batch(samples: list[tuple[np.ndarray, np.ndarray]], idx) -> tuple[torch.Tensor, torch.Tensor]:
    noisy = torch.from_numpy(np.stack([samples[i][0][:CROP, :CROP] for i in idx])).permute(0, 3, 1, 2).float() / 255
    sigma = torch.from_numpy(np.stack([samples[i][1][:CROP, :CROP] for i in idx])).permute(0, 3, 1, 2).float()
    return noisy, sigma


@torch.no_grad()
def agreement(estimator: torch.nn.Module, samples) -> tuple[float, float, float]:
    """(correlation over samples of mean σ̂ and mean σ, mean σ̂, mean σ) on samples 300-399."""
    est, true = [], []
    for start in range(300, 400, 20):
        noisy, sigma = _batch(samples, range(start, start + 20))
        est.append(estimator(noisy)[0].mean(dim=(1, 2, 3)))
        true.append(sigma.mean(dim=(1, 2, 3)))
    e, t = torch.cat(est).numpy(), torch.cat(true).numpy()
    return float(np.corrcoef(e, t)[0, 1]), float(e.mean()), float(t.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("checkpoint", help="SN checkpoint")
    ap.add_argument("dataset", help="noisegen dataset with σ maps (≥ 400 samples of ≥ 64×64)")
    ap.add_argument("--steps", type=int, default=400, help="estimator-only training steps (default 400; 0: none)")
    args = ap.parse_args()
    for path in (args.checkpoint, args.dataset):
        if not Path(path).exists():
            print(f"{path} not found: run `python experiments/table5_cpu.py` first (it writes "
                  "experiments/out/table5/sn/last.pt and experiments/out/table5/cbsd68-cbdnet), or give your own",
                  file=sys.stderr)
            raise SystemExit(2)
    torch.manual_seed(0)
    model, _ = load_model(args.checkpoint)
    samples = []
    for s in ng.open_dataset(args.dataset):
        samples.append((s["noisy"], np.asarray(s["sigma"], np.float32)))
        if len(samples) == 400:
            break
    if len(samples) < 400:
        raise SystemExit(f"{args.dataset}: {len(samples)} samples, 400 needed")
    print("SN model as trained: correlation %.3f, mean σ̂ %.4f, mean σ %.4f" % agreement(model.estimator, samples))
    est = copy.deepcopy(model.estimator).train()
    opt = torch.optim.Adam(est.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    w_full, w_coarse = SCALE_WEIGHTS
    for step in range(1, args.steps + 1):
        noisy, sigma = _batch(samples, rng.integers(0, 300, 8))
        full, coarse = est(noisy)
        loss = w_full * asymmetric_loss(full, sigma) + w_coarse * asymmetric_loss(coarse, downscale_sigma(sigma, 4))
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0:
            print(f"estimator alone, sigma loss only, step {step}: correlation %.3f, mean σ̂ %.4f, mean σ %.4f"
                  % agreement(est.eval(), samples))
            est.train()


if __name__ == "__main__":
    main()
