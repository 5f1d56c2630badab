"""The `noisegen-train` command: one subcommand per job, each built on a configuration dataclass.

    noisegen-train sn --data DATASET --out RUN [options]       SN stage on synthetic-noise shards
    noisegen-train tf --init RUN_SN --data PAIRS --out RUN_TF   TF stage / RT / R / N2N on real data
    noisegen-train eval RUN|CHECKPOINT --pairs DIR [options]   PSNR/SSIM on real pairs (trainer.infer.evaluate)
    noisegen-train denoise RUN|CHECKPOINT IMAGE... --out DIR   denoised PNGs (trainer.infer.denoise)

Modules:
    train  sn, tf: the training engine's options
    infer  eval, denoise

Multi-GPU / multi-node: ``torchrun --nproc_per_node N -m trainer sn ...`` (or ``tf``).
Bad values and missing files give one line on stderr and exit status 2 (noisegen's run_command).
"""

from __future__ import annotations

import argparse
import sys

from noisegen.command import CommandParser, run_command
from noisegen.version import __version__
from trainer.cli.infer import add_denoise_command, add_eval_command
from trainer.cli.train import add_sn_command, add_tf_command, config_from_args

__all__ = ["build_parser", "main", "add_sn_command", "add_tf_command", "add_eval_command", "add_denoise_command",
           "config_from_args"]


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="noisegen-train",
        description="Train the AINDNet denoiser on noisegen shards: `sn` (synthetic-noise stage), `tf` (transfer to "
        "real pairs); `eval` (PSNR/SSIM on real pairs) and `denoise` (PNGs) with a run folder or checkpoint. "
        "Run a command with --help for its options; under torchrun every process runs the same command.",
    )
    parser.add_argument("--version", action="version", version=f"noisegen-train {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_sn_command(sub)
    add_tf_command(sub)
    add_eval_command(sub)
    add_denoise_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command("noisegen-train", build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
