"""The `noisegen-train` command: one subcommand per job, each built on a configuration dataclass.

    noisegen-train sn --data DATASET --out RUN [options]       SN stage on synthetic-noise shards
    noisegen-train tf --init RUN_SN --data PAIRS --out RUN_TF   TF stage / RT / R / N2N on real data
    noisegen-train da --data DATASET --real PHOTOS --out RUN    SN stage + Noise-DA on a camera's noisy photos
    noisegen-train eval RUN|CHECKPOINT --pairs DIR [options]   PSNR/SSIM on real pairs (trainer.infer.evaluate)
    noisegen-train denoise RUN|CHECKPOINT IMAGE... --out DIR   denoised PNGs (trainer.infer.denoise)
    noisegen-train dbsn --data NOISY --out RUN                 D-BSN on noisy photos alone (trainer.stages.dbsn)
    noisegen-train pseudo-pairs RUN NOISY... --out DIR         (noisy, D-BSN output) pairs and σ maps
    noisegen-train distill --data SYN --pseudo PAIRS --out RUN  AINDNet on synthetic + pseudo-pairs
    noisegen-train camera FOLDER --out RUN [--scale S]          a camera's photos → denoiser + report (trainer.camera)

Modules:
    train   sn, tf: the training engine's options
    da      da: the SN options plus Noise-DA's
    infer   eval, denoise
    dbsn    dbsn, pseudo-pairs, distill: learning from noisy photos alone
    camera  camera: the whole loop from a camera's photos

Multi-GPU / multi-node: ``torchrun --nproc_per_node N -m trainer sn ...`` (or ``tf``, ``da``).
Bad values and missing files give one line on stderr and exit status 2 (noisegen's run_command).
"""

from __future__ import annotations

import argparse
import sys

from noisegen.command import CommandParser, run_command
from noisegen.version import __version__
from trainer.cli.camera import add_camera_command
from trainer.cli.da import add_da_command
from trainer.cli.dbsn import add_dbsn_command, add_distill_command, add_pseudo_pairs_command
from trainer.cli.infer import add_denoise_command, add_eval_command
from trainer.cli.train import add_sn_command, add_tf_command, config_from_args

__all__ = ["build_parser", "main", "add_sn_command", "add_tf_command", "add_eval_command", "add_denoise_command",
           "add_camera_command", "config_from_args"]


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="noisegen-train",
        description="Train the AINDNet denoiser on noisegen shards: `sn` (synthetic-noise stage), `tf` (transfer to "
        "real pairs), `da` (SN adapted to a camera's noisy photos, Noise-DA); `eval` (PSNR/SSIM on real pairs) and "
        "`denoise` (PNGs) with a run folder or checkpoint; `dbsn`, `pseudo-pairs`, `distill`: learning from noisy "
        "photos alone (D-BSN); `camera`: all of it from a folder of one camera's photos, with a held-out report. "
        "Run a command with --help for its options; under torchrun every process runs the same command.",
    )
    parser.add_argument("--version", action="version", version=f"noisegen-train {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_sn_command(sub)
    add_tf_command(sub)
    add_da_command(sub)
    add_eval_command(sub)
    add_denoise_command(sub)
    add_dbsn_command(sub)
    add_pseudo_pairs_command(sub)
    add_distill_command(sub)
    add_camera_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    hint = "interrupted"
    if args.command == "camera":
        args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded in the run's report
        hint += "; continue with the same command (everything finished is kept)"
    return run_command("noisegen-train", args, interrupted=hint)


if __name__ == "__main__":
    sys.exit(main())
