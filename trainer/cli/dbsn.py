"""`noisegen-train dbsn` and `noisegen-train pseudo-pairs`: learning from noisy photos alone.

`dbsn` trains a D-BSN (Wu et al., ECCV 2020) on the training engine, with the engine's options for
validation, outputs and execution (trainer.cli.train); `pseudo-pairs` turns a trained D-BSN and noisy
photos into a pairs folder with noise-level maps (trainer.infer.pseudo_pairs), the input of
`noisegen calibrate --noisy-only` and of `noisegen-train distill`.
"""

from __future__ import annotations

import argparse
import dataclasses

from noisegen.command import int_at_least
from trainer.cli.train import _add_optimiser_options, _add_run_options, _float, _summary, config_from_args
from trainer.engine.run_config import DEVICES
from trainer.infer.inference import AUTO_TILE, AUTO_TILE_PIXELS
from trainer.infer.pseudo_pairs import PseudoPairsConfig, write_pseudo_pairs
from trainer.models.dbsn_config import DBSN_OUTPUTS
from trainer.stages.dbsn import train_dbsn
from trainer.stages.dbsn_config import NLL_KINDS, PD_INFER, R3_PROB, R3_STEPS, DBSNTrainConfig

__all__ = ["add_dbsn_command", "add_pseudo_pairs_command"]

_D = {f.name: f.default for f in dataclasses.fields(DBSNTrainConfig)}


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
    _add_run_options(p, DBSNTrainConfig, threads="default: every core")
    p.set_defaults(func=_cmd_dbsn)


def _cmd_dbsn(args: argparse.Namespace) -> int:
    required = {"data": "a folder of noisy photos, pairs or a pack-pairs dataset"}
    config, resume, stop_after = config_from_args(DBSNTrainConfig, args, required)
    _summary(train_dbsn(config, resume=resume, stop_after=stop_after))
    return 0


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
    p.add_argument("--threads", type=int_at_least(1), metavar="N", help="torch threads on CPU (default: torch's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_pseudo_pairs)


def _cmd_pseudo_pairs(args: argparse.Namespace) -> int:
    config = PseudoPairsConfig(checkpoint=args.checkpoint, images=tuple(args.images), out=args.out,
                               overwrite=args.overwrite, tile=args.tile, overlap=args.overlap, device=args.device,
                               threads=args.threads, progress=not args.no_progress)
    result = write_pseudo_pairs(config)
    print(f"{len(result.pairs)} pseudo-pairs written to {result.out} in {result.seconds:.1f} s")
    for m in result.skipped:
        print(f"  skipped {m}")
    return 1 if result.skipped else 0
