"""The `noisegen` command line: one subcommand per job, each built on a module's functions."""

from __future__ import annotations

import argparse
import sys

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


def run_command(prog: str, args: argparse.Namespace, *, interrupted: str = "interrupted") -> int:
    """Run a parsed subcommand (args.func): expected errors (bad input, missing files, unknown names)
    become one line on stderr and exit code 2; Ctrl-C prints ``interrupted`` and gives 130.
    Shared by `noisegen` and `noisegen-train`."""
    try:
        return int(args.func(args) or 0)
    except (KeyError, ValueError, FileNotFoundError, FileExistsError) as exc:
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        print(f"{prog} {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130


def main(argv: list[str] | None = None) -> int:
    return run_command("noisegen", build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
