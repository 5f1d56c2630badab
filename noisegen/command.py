"""What the `noisegen` and `noisegen-train` commands share: argparse value types with clear messages
for bad values, and ``run_command``, which turns expected errors into one line and an exit code.
A small utility: imports nothing of the project."""

from __future__ import annotations

import argparse
import re
import sys

__all__ = ["parse_size", "int_at_least", "positive_int", "nonneg_int", "fraction", "run_command"]

_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9,
          "kib": 2**10, "mib": 2**20, "gib": 2**30}


def parse_size(text: str) -> int:
    """'512MB' → 512·10⁶ bytes; also KB, GB, KiB, MiB, GiB and plain byte counts."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in _UNITS:
        raise argparse.ArgumentTypeError(f"expected a size such as 512MB, 2GiB or 100000000, got {text!r}")
    n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n < 1:
        raise argparse.ArgumentTypeError(f"size must be at least 1 byte, got {text!r}")
    return n


def int_at_least(lo: int, what: str | None = None):
    """argparse type: an integer ≥ ``lo`` ("expected WHAT, got ..." otherwise; WHAT defaults to
    "an integer >= LO")."""
    what = what if what is not None else f"an integer >= {lo}"

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"expected {what}, got {v}")
        return v
    return parse


positive_int = int_at_least(1, "a positive integer")
nonneg_int = int_at_least(0, "an integer >= 0")


def fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {text!r}") from None
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1], got {v}")
    return v


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
