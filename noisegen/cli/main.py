"""The `noisegen` command line: one subcommand per job, each built on a module's functions.

The subcommand modules import their library code inside their handlers, so that `noisegen --help`
and light commands do not load numba and the whole pipeline (the one place where project imports
are function-local; tests/test_import_rules.py)."""

from __future__ import annotations

import argparse
import sys

from noisegen.cli.calibrate import add_calibrate_command
from noisegen.cli.crf import add_crf_commands
from noisegen.cli.generate import add_generate_commands
from noisegen.cli.pack_pairs import add_pack_pairs_command
from noisegen.cli.profile import add_profile_commands
from noisegen.cli.realism import add_realism_command
from noisegen.cli.stats import add_preview_command, add_stats_command
from noisegen.cli.synth import add_synth_command
from noisegen.command import CommandParser, run_command
from noisegen.version import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="noisegen",
        description="Realistic synthetic camera noise: simulate cameras on clean photos, manage camera "
        "response curves and camera profiles.",
    )
    parser.add_argument("--version", action="version", version=f"noisegen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_synth_command(sub)
    add_crf_commands(sub)
    add_profile_commands(sub)
    add_generate_commands(sub)
    add_stats_command(sub)
    add_calibrate_command(sub)
    add_preview_command(sub)
    add_pack_pairs_command(sub)
    add_realism_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command("noisegen", build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
