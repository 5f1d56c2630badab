"""The `noisegen` command line: one subcommand per job, each built on a module's functions."""

from __future__ import annotations

import argparse
import sys

from noisegen.command import run_command
from noisegen.version import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    from noisegen.cli.crf import add_crf_commands
    from noisegen.cli.generate import add_generate_commands
    from noisegen.cli.profile import add_profile_commands
    from noisegen.cli.stats import add_stats_commands
    from noisegen.cli.synth import add_synth_command

    parser = argparse.ArgumentParser(
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
    add_stats_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command("noisegen", build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
