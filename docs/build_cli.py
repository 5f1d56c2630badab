"""Write docs/cli.md: every command and option of `noisegen` and `noisegen-train`, from their parsers.

    python docs/build_cli.py            # rewrite docs/cli.md
    python docs/build_cli.py --check    # exit 1 when docs/cli.md differs from the parsers

The page is generated, never edited by hand: each command's section is its own ``--help`` text,
formatted at a fixed width (COLUMNS=100, set here before argparse reads it) and with the user's
folders written as ``~``, so that the output is the same on every terminal and machine.
tests/test_docs.py fails when the page is stale.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ["COLUMNS"] = "100"  # argparse's HelpFormatter takes its width from the terminal size
# Help texts that name the user's CRF folder show the default one, written from "~" (render()).
for _name in ("NOISEGEN_CRF_DIR", "XDG_DATA_HOME"):
    os.environ.pop(_name, None)

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cli.md"

HEADER = """\
# Command reference

Every command and option of the two console scripts, `noisegen` (data: simulate, generate, inspect,
statistics, calibration, realism) and `noisegen-train` (the AINDNet trainer). `python -m noisegen` and
`python -m trainer` are the same commands. Unknown or abbreviated options are errors; every command has
`--help`.

This page is generated from the argparse parsers (`noisegen/cli/main.py` and `trainer/cli/__init__.py`,
`build_parser`) by `python docs/build_cli.py`; do not edit it by hand. `tests/test_docs.py` fails when it is
stale. What the commands are for, with examples: [the README](../README.md); the training options and their
defaults explained: [training.md](training.md).
"""


def _subcommands(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser's subcommand parsers, in the order they were added (aliases once)."""
    out: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if all(sub is not seen for seen in out):
                    out.append(sub)
    return out


def _walk(parser: argparse.ArgumentParser, depth: int = 0) -> list[tuple[int, argparse.ArgumentParser]]:
    """(depth, parser) for the parser and every subcommand below it, depth first."""
    found = [(depth, parser)]
    for sub in _subcommands(parser):
        found += _walk(sub, depth + 1)
    return found


def _anchor(prog: str) -> str:
    """The GitHub anchor of a heading whose text is ``prog`` (lower case, spaces as hyphens)."""
    return prog.lower().replace(" ", "-")


def render() -> str:
    """The text of docs/cli.md for the parsers as they are now."""
    sys.path.insert(0, str(ROOT))  # the repository's packages, also when they are not installed
    from noisegen.cli.main import build_parser as noisegen_parser
    from trainer.cli import build_parser as train_parser

    trees = [_walk(noisegen_parser()), _walk(train_parser())]
    lines = [HEADER, "## Contents", ""]
    for tree in trees:
        for depth, parser in tree:
            lines.append(f"{'  ' * depth}- [`{parser.prog}`](#{_anchor(parser.prog)})")
    lines.append("")
    for tree in trees:
        for depth, parser in tree:
            level = "#" * min(2 + depth, 4)
            help_text = parser.format_help().rstrip()
            lines += [f"{level} {parser.prog}", "", "```text", help_text, "```", ""]
    text = "\n".join(lines).rstrip() + "\n"
    return text.replace(str(Path.home()) + "/", "~/")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write docs/cli.md from the command-line parsers.")
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 when docs/cli.md is stale")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        current = PAGE.read_text(encoding="utf-8") if PAGE.exists() else ""
        if current != text:
            print(f"{PAGE.relative_to(ROOT)} is stale: run `python docs/build_cli.py`", file=sys.stderr)
            return 1
        print(f"{PAGE.relative_to(ROOT)} is current")
        return 0
    PAGE.write_text(text, encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
