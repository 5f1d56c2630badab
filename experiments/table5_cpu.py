"""Table 5 of Kim et al. (CVPR 2020) at CPU scale: how many real pairs does each way of using them need?

    python experiments/table5_cpu.py [--out experiments/out/table5] [--quick]

1. Split PolyU100 by scene with `noisegen pack-pairs --split train:50%,test:rest --seed 0` (whole
   images; no scene is in both): the train split is the pool of real pairs, the test split the
   held-out scenes. CC15 (3 other cameras) is a second, unseen test set.
2. SN stage: the tiny AINDNet trained on synthetic camera noise (``cbdnet`` profile on CBSD68
   patches, experiments/cpu_common.py, the run of experiments/sn_cpu.py).
3. For K ∈ {1, 4, 16, 32} real pairs (the first K of the pool in its stored, scene-permuted
   order; the same K pairs for every mode) train
   - TF: from SN, only the AIN modules, the noise estimator and the last conv (L1);
   - RT: from SN, every parameter (L1);
   - R:  from a fresh initialisation on the real pairs only (L1);
   - N2N: from SN, the TF subset, with the Neighbor2Neighbor loss on the K noisy images alone
     (no clean image: what a camera without ground truth allows; not in the paper's table);
   all with the same budget: --tf-steps Adam steps of batch 8 at 64×64 random crops with random
   flips/rotations, constant lr --lr (the paper does not publish the TF schedule). K = 0 is the
   SN model itself for TF, RT and N2N; R has nothing to train on at K = 0.
4. PSNR (dB, 8-bit, whole images, no self-ensemble) on the held-out PolyU100 scenes and on CC15.

Every run keeps its folder (checkpoint, metrics.jsonl, eval JSON); a rerun reuses finished runs, so
an interrupted experiment continues where it stopped. Prints the two tables (Markdown) and writes
OUT/results.json. --quick runs a short version (few steps, K ∈ {0, 1, 4}) to check the plumbing.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from cpu_common import DATA, cbsd68_dataset, require_data, train_tiny_sn

from noisegen.dataset.pack_pairs import PackPairsConfig, pack_pairs
from trainer.engine.checkpoint import load_checkpoint
from trainer.infer.evaluate import EvalConfig, evaluate_checkpoint
from trainer.stages.tf import TFConfig, transfer

MODES = ("tf", "rt", "r", "n2n")
MODE_NAMES = {"tf": "TF (AINs + estimator + last conv)", "rt": "RT (all, from SN)", "r": "R (all, from scratch)",
              "n2n": "N2N (TF subset, noisy images only)"}


def _split_polyu(out: Path) -> tuple[Path, Path]:
    """PolyU100 split by scene into OUT/polyu/train (pool) and OUT/polyu/test (held out)."""
    root = out / "polyu"
    if not (root / "split.json").exists():
        pack_pairs(PackPairsConfig(pairs=(str(DATA / "PolyU100"),), out=str(root), split="train:50%,test:rest",
                                   whole=("train", "test"), seed=0), progress=False, echo=lambda m: None)
    return root / "train", root / "test"


def _evaluate(ckpt: Path, tests: dict[str, Path], max_images: int | None) -> dict[str, dict]:
    """{test set: overall summary} for ``ckpt``, cached next to it as eval.json."""
    cache = ckpt.parent / f"eval-{ckpt.stem}.json"
    if cache.exists():
        found = json.loads(cache.read_text())
        if set(found) == set(tests) and all(found[k]["images"] for k in found):
            return found
    res = {}
    for name, path in tests.items():
        r = evaluate_checkpoint(EvalConfig(checkpoint=str(ckpt), pairs=(str(path),), device="cpu", progress=False,
                                           max_images=max_images), echo=lambda m: None)
        res[name] = r["overall"]
    cache.write_text(json.dumps(res, indent=1) + "\n")
    return res


def _table(title: str, results: dict, test: str, ks: list[int], noisy: float) -> list[str]:
    lines = [f"\n{title}", "| method | " + " | ".join(f"K = {k}" for k in ks) + " |", "|---|" + "---:|" * len(ks)]
    lines.append("| noisy input | " + " | ".join(f"{noisy:.2f}" for _ in ks) + " |")
    for mode in MODES:
        cells = []
        for k in ks:
            r = results.get(f"{mode}-{k}")
            cells.append("—" if r is None else f"{r[test]['psnr']:.2f}")
        lines.append(f"| {MODE_NAMES[mode]} | " + " | ".join(cells) + " |")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                 allow_abbrev=False)
    ap.add_argument("--out", default="experiments/out/table5", help="folder for datasets, runs and results")
    ap.add_argument("--sn-steps", type=int, default=4000, help="SN steps of the tiny model (default 4000)")
    ap.add_argument("--tf-steps", type=int, default=1500, help="steps of every TF/RT/R run (default 1500)")
    ap.add_argument("--lr", type=float, default=5e-4, help="Adam lr of every TF/RT/R run (default 5e-4)")
    ap.add_argument("--ks", default="0,1,4,16,32", help="numbers of real pairs (default 0,1,4,16,32)")
    ap.add_argument("--modes", default=",".join(MODES), help=f"modes to train (default {','.join(MODES)}); the "
                    "table shows every finished run")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--quick", action="store_true", help="short check: 300 SN / 100 TF steps, K ∈ {0, 1, 4}, "
                    "8 test images per set")
    args = ap.parse_args()
    if not require_data("CBSD68", "Kodak24", "CC15", "PolyU100"):
        return 2
    torch.set_num_threads(args.threads)
    ks = [0, 1, 4] if args.quick else sorted({int(k) for k in args.ks.split(",")})
    sn_steps, tf_steps = (300, 100) if args.quick else (args.sn_steps, args.tf_steps)
    max_images = 8 if args.quick else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()

    pool, held_out = _split_polyu(out)
    split = json.loads((out / "polyu" / "split.json").read_text())
    tests = {"PolyU100 held-out scenes": held_out, "CC15": DATA / "CC15"}
    sn = train_tiny_sn(cbsd68_dataset(out / "cbsd68-cbdnet", "cbdnet"), out / "sn", steps=sn_steps,
                       threads=args.threads)
    results: dict[str, dict] = {}
    sn_eval = _evaluate(sn, tests, max_images)
    for mode in ("tf", "rt", "n2n"):
        if 0 in ks:
            results[f"{mode}-0"] = sn_eval
    modes = [m for m in MODES if m in args.modes.split(",")]
    for k in [k for k in ks if k > 0]:
        for mode in MODES:
            run = out / f"{mode}-k{k}"
            done = (run / "last.pt").exists() and load_checkpoint(run / "last.pt")["step"] >= tf_steps
            if mode not in modes and not done:
                continue
            if not done:  # a new run, or an interrupted one (last.pt every 500 steps): resume continues it
                t = time.perf_counter()
                transfer(TFConfig(init=str(sn), data=str(pool), out=str(run), pairs=k, mode=mode, steps=tf_steps,
                                  lr=args.lr, device="cpu", threads=args.threads, progress=False), resume=True,
                         echo=lambda m: None)
                print(f"{mode} K={k}: {tf_steps} steps in {time.perf_counter() - t:.0f} s", flush=True)
            results[f"{mode}-{k}"] = _evaluate(run / "last.pt", tests, max_images)
            print(f"{mode} K={k}: " + ", ".join(f"{n} {r['psnr']:.2f} dB" for n, r in results[f"{mode}-{k}"].items()),
                  flush=True)

    lines = [f"tiny AINDNet; SN {sn_steps} steps on cbdnet-noised CBSD68; TF/RT/R {tf_steps} steps, batch 8 of 64², "
             f"lr {args.lr:g}; PolyU100 pool {split['splits']['train']['pairs']} pairs / held-out "
             f"{split['splits']['test']['pairs']} pairs (by scene)" + (" — QUICK RUN" if args.quick else "")]
    for test in tests:
        lines += _table(f"PSNR (dB) on {test}", results, test, ks, sn_eval[test]["psnr_noisy"])
    lines.append(f"\ntotal time {time.perf_counter() - t_all:.0f} s")
    print("\n".join(lines))
    (out / "results.json").write_text(json.dumps({"sn_steps": sn_steps, "tf_steps": tf_steps, "lr": args.lr, "ks": ks,
                                                  "quick": args.quick, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
