"""What the `noisegen` and `noisegen-train` commands share: the parser class (``CommandParser``: no
abbreviated options), argparse value types with clear messages for bad values, the one rule for
``--workers`` and ``--threads`` defaults (``default_workers``, ``default_threads`` and their help
wording), and ``run_command``, which turns expected errors into one line and an exit code.
A small utility: imports nothing of the project."""

from __future__ import annotations

import argparse
import errno
import os
import re
import sys

__all__ = ["CommandParser", "cpu_count", "default_workers", "default_threads", "WORKERS_HELP", "THREADS_HELP",
           "parse_size", "int_at_least", "positive_int", "nonneg_int", "fraction", "float_in", "os_error_text",
           "run_command"]

class CommandParser(argparse.ArgumentParser):
    """The parser of every command and subcommand: options must be spelled out (``allow_abbrev``
    False), since an accepted prefix (``--worker 2``, ``--pair DIR``) would contradict "unknown
    options are errors" and silently change meaning when an option is added. Subparsers made with
    ``add_subparsers`` are of the parent's class, so the rule reaches every level."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def cpu_count() -> int:
    """The CPU cores this process may use (its affinity mask; os.cpu_count() where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


# One rule for parallel work, shared by every computing command of both CLIs:
# - ``--workers W`` (processes): default one per core, and never more than the cores (more processes
#   than cores only add switching). A command that has fewer tasks than that uses fewer.
# - ``--threads N`` (torch's intra-op threads of the main process): default the cores left after the
#   loader workers and one more core, at least 1. torch's OpenMP regions end with a barrier, so a
#   team with one thread preempted (by a loader worker, the OS or another job) runs at the pace of
#   that thread. Measured on 2 cores shared with other jobs, 60 `tf` steps of the tiny model took
#   130 s and 408 s with 2 threads, 20 s and 43 s with 1. One free core costs at most 1/cores of the
#   peak and removes that cliff.
WORKERS_HELP = "default: one per CPU core; at most the CPU count"
THREADS_HELP = ("torch threads on CPU (default: the CPU cores minus one, minus the loader workers where there are any, "
                "at least 1; more threads than free cores stall on shared machines)")


def default_workers(requested: int | None = None, *, cap: int | None = None) -> int:
    """Worker processes: ``requested`` (None: one per core), at most the CPU count and, when given, ``cap``."""
    n = cpu_count() if requested is None else requested
    n = min(n, cpu_count())
    return max(1, min(n, cap) if cap is not None else n)


def default_threads(loader_workers: int = 0) -> int:
    """torch intra-op threads of a computing process: the cores minus ``loader_workers`` minus one, at least 1."""
    return max(1, cpu_count() - loader_workers - 1)


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


def float_in(lo: float, hi: float):
    """argparse type: a finite number in [lo, hi] ("expected a number in [LO, HI], got ..." otherwise)."""
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number in [{lo:g}, {hi:g}], got {text!r}") from None
        if not lo <= v <= hi:  # also NaN
            raise argparse.ArgumentTypeError(f"expected a number in [{lo:g}, {hi:g}], got {text}")
        return v
    return parse


fraction = float_in(0.0, 1.0)


# What to do about an OSError, by errno (the message also names the file and the system's reason).
_OS_ADVICE = {
    errno.ENOSPC: "the disk is full: free space (or choose another --out), then rerun; `generate` continues "
                  "with --resume",
    errno.EDQUOT: "the disk quota is exhausted: free space, then rerun; `generate` continues with --resume",
    errno.EACCES: "no permission: choose a folder you can write to (or fix its permissions)",
    errno.EPERM: "no permission: choose a folder you can write to (or fix its permissions)",
    errno.EROFS: "the file system is read-only: choose another folder",
    errno.ENOTDIR: "a path component is a file, not a folder: choose another path",
    errno.EISDIR: "a folder stands where a file was expected: choose another path",
    errno.ENAMETOOLONG: "the path is too long: choose a shorter one",
}


def os_error_text(exc: OSError) -> str:
    """One line for an OSError: what failed, on which file, and what to do."""
    where = f": {exc.filename!r}" if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    advice = _OS_ADVICE.get(exc.errno or -1, "check the path and rerun")
    return f"{reason}{where} ({advice})"


def _key_error_text(exc: KeyError) -> str:
    arg = exc.args[0] if exc.args else ""
    if isinstance(arg, str) and " " in arg:
        return arg  # our own KeyErrors carry a sentence (unknown profile, curve, collection)
    return (f"missing entry {arg!r} in an input file: the file is damaged or was written by another "
            "version (regenerate it, or use the version that wrote it)")


def run_command(prog: str, args: argparse.Namespace, *, interrupted: str = "interrupted") -> int:
    """Run a parsed subcommand (args.func): expected errors (bad input, missing files, unknown names,
    full disks, read-only folders) become one line on stderr and exit code 2; Ctrl-C prints
    ``interrupted`` (or the exception's own message) and gives 130 (128 + the exception's ``signum``
    where it carries one: 143 for SIGTERM); a closed pipe (``| head``) ends quietly with 141 (128 + SIGPIPE).
    Shared by `noisegen` and `noisegen-train`."""
    try:
        try:
            code = int(args.func(args) or 0)
            sys.stdout.flush()
            return code
        except KeyError as exc:
            print(f"{prog} {args.command}: error: {_key_error_text(exc)}", file=sys.stderr)
            return 2
        except (ValueError, FileNotFoundError, FileExistsError) as exc:
            print(f"{prog} {args.command}: error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            print(f"{prog} {args.command}: error: {os_error_text(exc)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt as exc:
            print(str(exc) or interrupted, file=sys.stderr)  # a handler may say what was kept and what to do
            return 128 + int(getattr(exc, "signum", 2))  # 130 for Ctrl-C (SIGINT), 143 for SIGTERM
    except BrokenPipeError:
        # The reader of our output went away (`noisegen inspect D | head -1`): as other Unix tools,
        # stop without a word; point stdout at /dev/null so that the exit flush cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
