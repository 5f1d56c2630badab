"""What several `noisegen` subcommands share: list arguments, the real-pairs naming option, JSON
outputs (NaN-free, atomic) and the list of skipped inputs."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from noisegen.atomic import atomic_write_bytes

__all__ = ["csv_list", "add_pairs_options", "write_json", "clean_nan", "skips_text", "with_examples"]


def csv_list(text: str) -> tuple[str, ...]:
    """'a, b,c' → ('a', 'b', 'c')."""
    return tuple(t.strip() for t in text.split(",") if t.strip())


def add_pairs_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--group-regex", metavar="REGEX",
                   help="regular expression with named groups camera, iso and/or scene, searched in each noisy file's "
                   r"path relative to its folder, e.g. '(?P<camera>[^_]+)_ISO(?P<iso>\d+)'; tried before the built-in "
                   "rules for PolyU, CC (Nam et al.), CC15 and SIDD names")




def write_json(path: str, data: dict) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(p, (json.dumps(data, indent=2, allow_nan=False, default=_json_default) + "\n").encode())


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def clean_nan(x):
    """NaN and inf → None, recursively (JSON has no NaN)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: clean_nan(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean_nan(v) for v in x]
    return x


def skips_text(skipped: list[dict], limit: int = 8) -> str:
    if not skipped:
        return "skipped inputs: 0"
    lines = [f"skipped inputs: {len(skipped)}"]
    lines += [f"  {s.get('source')}: {s.get('reason')}" for s in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more (all listed in the --json output)")
    return "\n".join(lines)


def with_examples(parser: argparse.ArgumentParser, text: str) -> None:
    """Show ``text`` (example command lines) after the options in --help, line breaks kept."""
    parser.epilog = text
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
