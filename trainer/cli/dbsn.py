"""`noisegen-train dbsn`, `pseudo-pairs` and `distill`: learning from noisy photos alone (Wu et al., ECCV 2020).

`dbsn` trains a D-BSN on the training engine, with the engine's options for validation, outputs and
execution (trainer.cli.train); `pseudo-pairs` turns a trained D-BSN and noisy photos into a pairs folder
with noise-level maps (trainer.infer.pseudo_pairs), the input of `noisegen calibrate --noisy-only` and of
`distill`, which trains AINDNet on synthetic shards and those pseudo-pairs together (trainer.stages.distill).
"""

from __future__ import annotations

import argparse
import dataclasses

from noisegen.command import THREADS_HELP, int_at_least
from trainer.cli.train import _add_optimiser_options, _add_run_options, _float, _run_stage
from trainer.engine.run_config import DEVICES
from trainer.infer.inference import AUTO_TILE, AUTO_TILE_PIXELS
from trainer.infer.pseudo_pairs import PseudoPairsConfig, write_pseudo_pairs
from trainer.models.dbsn_config import DBSN_OUTPUTS
from trainer.stages.dbsn import train_dbsn
from trainer.stages.dbsn_config import NLL_KINDS, PD_INFER, R3_PROB, R3_STEPS, DBSNTrainConfig
from trainer.stages.distill import DistillConfig, distill

__all__ = ["add_dbsn_command", "add_pseudo_pairs_command", "add_distill_command"]

_D = {f.name: f.default for f in dataclasses.fields(DBSNTrainConfig)}
_K = {f.name: f.default for f in dataclasses.fields(DistillConfig)}


def add_dbsn_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train dbsn`: D-BSN on noisy images (trainer.stages.dbsn, DBSNTrainConfig)."""
    p = sub.add_parser(
        "dbsn", help="train a D-BSN denoiser and noise model on noisy photos alone (no clean images)",
        argument_default=argparse.SUPPRESS, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Unpaired learning (Wu et al., "Unpaired Learning of Deep Image Denoising", ECCV 2020): a dilated
blind-spot network gives a clean estimate mu and its covariance, a 1x1-conv noise model a per-pixel
3x3 noise covariance; both are trained jointly on noisy photos only, by the negative log-likelihood
of each noisy pixel (--nll). The output is the MAP combination of mu and the noisy image (--output).
Real sRGB noise is spatially correlated; --pd 5 trains on pixel-shuffle sub-images of stride 5 and
denoises at stride 2 with random-replacing refinement (AP-BSN, Lee et al., CVPR 2022). Writes the
run folder of every training command (last.pt, best.pt with --val, config.json, metrics.jsonl,
curves.png); eval, denoise and pseudo-pairs read its checkpoints.""",
        epilog="""\
examples:
  noisegen-train dbsn --data photos/ --out runs/dbsn --pd 5 --val ../shared/data/PolyU100
  noisegen-train dbsn --data ../shared/data/RNI15 --out runs/rni --model small --steps 2000 --device cpu
  noisegen-train dbsn --out runs/dbsn --resume
  noisegen-train pseudo-pairs runs/dbsn photos/ --out pseudo
  noisegen calibrate --pairs pseudo --noisy-only --out my-camera.json""",
    )
    g = p.add_argument_group("data and model")
    g.add_argument("--data", metavar="DIR", help="noisy photos: a folder of images (those directly in it), or the "
                   "noisy side of a folder of pairs or a pack-pairs dataset. Required unless --resume finds a "
                   "checkpoint")
    g.add_argument("--images", type=int_at_least(1), metavar="K", help="use the first K noisy images (default all)")
    g.add_argument("--model", choices=("paper", "small", "tiny"),
                   help="paper: the released widths (96 channels, 8 blocks per branch, 6.6M parameters); small: 32 "
                   "channels, 3 blocks (307K); tiny: 16 channels, 2 blocks (57K), for CPU runs (default paper)")
    g.add_argument("--pd", type=int_at_least(1), metavar="F",
                   help="pixel-shuffle down-sampling stride in training, 1 = off (default 1; AP-BSN: 5)")
    g.add_argument("--pd-infer", type=int_at_least(1), metavar="F",
                   help=f"PD stride at inference (default {PD_INFER} with --pd, else 1)")
    g.add_argument("--r3-steps", type=int_at_least(0), metavar="T",
                   help=f"random-replacing refinement passes at inference, 0 = off (default {R3_STEPS} when PD is on "
                   "at inference, else 0)")
    g.add_argument("--r3-prob", type=_float, metavar="P", help=f"R3 replacement probability (default {R3_PROB})")
    g.add_argument("--output", choices=DBSN_OUTPUTS,
                   help="map: the MAP combination of mu and the noisy input (the paper's); mu: the blind-spot "
                   "estimate alone (default map)")
    g.add_argument("--nll", choices=NLL_KINDS,
                   help="paper: 1/2 log|Sigma_n| + 1/2 tr(Sigma_n^-1 Sigma_mu) (the paper's bound); marginal: "
                   "1/2 log|Sigma_mu + Sigma_n| (the exact Gaussian likelihood) (default paper)")
    g.add_argument("--mu-warmup", type=int_at_least(0), metavar="N",
                   help="first N steps: mu learns from an L2 loss, the noise model from the NLL at that mu (the "
                   "released code's pre-training); then the joint NLL (default: a fifth of --steps)")
    g = p.add_argument_group("optimisation (Adam, cosine schedule)")
    _add_optimiser_options(g, _D, batch=str(_D["batch"]),
                           patch="a multiple of --pd (default: 120 with PD, 96 without)")
    g.add_argument("--min-lr-ratio", type=_float, metavar="R",
                   help=f"final/peak lr of the cosine schedule (default {_D['min_lr_ratio']})")
    _add_run_options(p, DBSNTrainConfig)
    p.set_defaults(func=_cmd_dbsn)


def _cmd_dbsn(args: argparse.Namespace) -> int:
    required = {"data": "a folder of noisy photos, pairs or a pack-pairs dataset"}
    return _run_stage("dbsn", args, train_dbsn, DBSNTrainConfig, required)


def add_pseudo_pairs_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train pseudo-pairs`: (noisy, D-BSN output) pairs and σ maps (trainer.infer.pseudo_pairs)."""
    p = sub.add_parser(
        "pseudo-pairs", help="write (noisy, D-BSN output) pairs and noise-level maps for noisy-only calibration",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"""\
Denoise each IMAGE (files, or folders searched recursively; of a folder of pairs, only its noisy
side) with a D-BSN CHECKPOINT and write OUT/noisy/NAME.ext (the input file, copied), OUT/gt/NAME.png
(the D-BSN output) and OUT/sigma/NAME.npy (the estimated noise std per pixel and channel, float32,
[0, 1] scale), plus OUT/pseudo_pairs.json. OUT is a pairs folder for `noisegen calibrate --noisy-only`
and `noisegen-train distill`. Images above {AUTO_TILE_PIXELS} pixels are done in {AUTO_TILE}x{AUTO_TILE}
tiles. Exit status 1 when anything was skipped.""",
        epilog="""\
examples:
  noisegen-train pseudo-pairs runs/dbsn photos/ --out pseudo
  noisegen calibrate --pairs pseudo --noisy-only --out my-camera.json""",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a `noisegen-train dbsn` run folder or .pt checkpoint")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="noisy image files or folders")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip those inputs)")
    p.add_argument("--tile", type=int_at_least(8), metavar="T", help="denoise in TxT tiles (default: whole images, "
                   f"{AUTO_TILE} tiles above {AUTO_TILE_PIXELS} pixels)")
    p.add_argument("--overlap", type=int_at_least(0), metavar="O", help="minimum tile overlap in pixels")
    p.add_argument("--device", choices=DEVICES, default="auto", help="default auto (CUDA if any)")
    p.add_argument("--threads", type=int_at_least(1), metavar="N", help=THREADS_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_pseudo_pairs)


def _cmd_pseudo_pairs(args: argparse.Namespace) -> int:
    config = PseudoPairsConfig(checkpoint=args.checkpoint, images=tuple(args.images), out=args.out,
                               overwrite=args.overwrite, tile=args.tile, overlap=args.overlap, device=args.device,
                               threads=args.threads, progress=not args.no_progress)
    result = write_pseudo_pairs(config)
    if not result.pairs and result.skipped and not result.kept:  # nothing usable: an error, not "0 pairs written"
        raise ValueError(f"no pseudo-pair written: every input was skipped ({len(result.skipped)}; first: "
                         f"{result.skipped[0]})")
    print(f"{len(result.pairs)} pseudo-pairs written to {result.out} in {result.seconds:.1f} s")
    for m in result.skipped:
        print(f"  skipped {m}")
    return 1 if result.skipped else 0


def add_distill_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train distill`: AINDNet on synthetic shards + pseudo-pairs (trainer.stages.distill, DistillConfig)."""
    p = sub.add_parser(
        "distill", help="train AINDNet on synthetic shards and (noisy, D-BSN output) pseudo-pairs together",
        argument_default=argparse.SUPPRESS, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Knowledge distillation, the second stage of unpaired learning (Wu et al., ECCV 2020): AINDNet trained
on synthetic pairs (shards of `noisegen generate` with the profile of `noisegen calibrate
--noisy-only`) and on the real noisy photos with their D-BSN outputs (`noisegen-train pseudo-pairs`),
mixed in every batch (--pseudo-share). Loss: L1 on both, plus the SN stage's sigma loss on the
synthetic part. Schedule, model and the shard stream as in `noisegen-train sn`. Writes the usual
run folder; eval and denoise read it.""",
        epilog="""\
examples:
  noisegen-train dbsn --data photos/ --out runs/dbsn --pd 5
  noisegen-train pseudo-pairs runs/dbsn photos/ --out pseudo
  noisegen calibrate --pairs pseudo --noisy-only --out cam.json
  noisegen generate --images clean_photos/ --profile cam.json --clean-target render --out syn
  noisegen-train distill --data syn --pseudo pseudo --out runs/distill --model small""",
    )
    g = p.add_argument_group("data and model")
    g.add_argument("--data", action="append", metavar="DATASET",
                   help="synthetic shards (a noisegen dataset folder, shard files, patterns); repeatable. Required "
                   "unless --resume finds a checkpoint")
    g.add_argument("--pseudo", metavar="PAIRS", help="pseudo-pairs folder (`noisegen-train pseudo-pairs`), or any "
                   "pairs folder or pack-pairs dataset. Required unless --resume finds a checkpoint")
    g.add_argument("--pseudo-share", type=_float, metavar="S",
                   help=f"fraction of each batch from --pseudo, 0..1 (default {_K['pseudo_share']})")
    g.add_argument("--pseudo-pairs", type=int_at_least(1), metavar="K", help="use the first K pseudo-pairs")
    g.add_argument("--workers", type=int_at_least(0), metavar="W",
                   help="shard loader processes per training process, 0 = in-process (default: 4 on CUDA, 1 on CPU; "
                   "at most the CPU count)")
    g.add_argument("--model", choices=("paper", "tiny", "small"), help="AINDNet size (default paper)")
    g.add_argument("--asymm-weight", type=_float, metavar="L",
                   help=f"weight of the sigma loss on the synthetic part (default {_K['asymm_weight']})")
    g = p.add_argument_group("optimisation (Adam, the SN stage's warm-up and cosine schedule)")
    _add_optimiser_options(g, _K, batch="16 CUDA, 8 CPU", patch="a multiple of 4 (default: 256 CUDA, 64 CPU)")
    _add_run_options(p, DistillConfig)
    p.set_defaults(func=_cmd_distill)


def _cmd_distill(args: argparse.Namespace) -> int:
    required = {"data": "synthetic shards", "pseudo": "a pseudo-pairs folder"}
    return _run_stage("distill", args, distill, DistillConfig, required)
