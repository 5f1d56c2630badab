"""`noisegen crf list|import|plot`: manage camera response curve banks from the command line.

Banks and their lookup order are described in ``noisegen.crf.bank``; importers in ``noisegen.crf.dorf``.
Handlers return an exit code; bad input raises ValueError/FileNotFoundError/KeyError, which
``noisegen.cli.main.main`` reports.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from noisegen.cli.output import with_examples
from noisegen.crf.io import list_banks, load_bank, save_bank, user_bank_dir

__all__ = ["add_crf_commands"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def _bank_name(text: str) -> str:
    if not _NAME.match(text) or text.endswith(".npz"):
        raise argparse.ArgumentTypeError(
            f"invalid bank name {text!r}: use letters, digits, '.', '_' and '-' (no path, no .npz suffix)")
    return text


def _cmd_list(args: argparse.Namespace) -> int:
    if args.bank is not None:
        from noisegen.crf.plot import describe_bank

        print(describe_bank(load_bank(args.bank)))
        return 0
    banks = list_banks()
    if not banks:
        print(f"no CRF banks found (user directory: {user_bank_dir()})")
        return 0
    width = max(len(n) for n in banks)
    for name, path in banks.items():
        try:
            count = f"{len(load_bank(path)):>4} curves"
        except ValueError as err:  # one bad file must not hide the others
            count = f"unreadable: {err}"
        print(f"{name:<{width}}  {count}  {path}")
    print(f"(user banks: {user_bank_dir()}; set NOISEGEN_CRF_DIR to change; "
          "`noisegen crf list --bank NAME` lists a bank's curves)")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from noisegen.crf.dorf import import_bank

    out = Path(args.out) if args.out is not None else user_bank_dir() / f"{args.name}.npz"
    existing = list_banks().get(args.name) if args.out is None else None
    if not args.force and (out.exists() or existing is not None):
        clash = out if out.exists() else existing
        print(f"noisegen crf import: error: a bank already exists at {clash}; pass --force to replace "
              f"{'it' if out.exists() else 'it for this name (yours will shadow it)'}, or choose another --name",
              file=sys.stderr)
        return 1
    bank = import_bank(args.file, args.name)
    path = save_bank(bank, out)
    print(f"wrote bank {bank.name!r} with {len(bank)} curves (including 'linear') to {path}")
    if args.out is None:
        print(f"use it with --crf-bank {bank.name}")
    else:
        print(f"use it with --crf-bank {path}")
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from noisegen.crf.plot import plot_bank

    bank = load_bank(args.bank)
    curves = [c.strip() for c in args.curves.split(",") if c.strip()] if args.curves else None
    path = plot_bank(bank, args.out, curves=curves)
    print(f"wrote {path} ({len(curves) if curves else len(bank)} curves of bank {bank.name!r})")
    return 0


def add_crf_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `crf list|import|plot` on the top-level subparsers of `noisegen`."""
    p = subparsers.add_parser(
        "crf", help="list, import and plot camera response curve (CRF) banks",
        description="Camera response curve banks: named sets of monotone curves f: [0,1] -> [0,1]. "
                    f"User banks live in {user_bank_dir()} (NOISEGEN_CRF_DIR overrides); "
                    "the default bank ships with noisegen.")
    with_examples(p, """\
examples:
  noisegen crf list --bank default
  noisegen crf import ../shared/data/crf/201_CRF_data.mat --name dorf
  noisegen crf plot --bank default --out out/curves.png""")
    sub = p.add_subparsers(dest="crf_command", required=True, metavar="{list,import,plot}")

    lp = sub.add_parser("list", help="list the available banks, or the curves of one bank",
                        description="Without --bank: every bank with its file and curve count. "
                                    "With --bank: that bank's curves and where each came from.")
    lp.add_argument("--bank", metavar="NAME|FILE.npz", default=None,
                    help="bank name or .npz path whose curves to list (default: list the banks)")
    lp.set_defaults(func=_cmd_list)

    ip = sub.add_parser("import", help="import DoRF curves (dorfCurves.txt, CBDNet .mat) as a bank",
                        description="Read dorfCurves.txt, CBDNet's 201_CRF_data.mat or dorfCurvesInv.mat "
                                    "(or a noisegen .npz) and save it as a bank.")
    ip.add_argument("file", metavar="FILE", help="dorfCurves.txt, 201_CRF_data.mat, dorfCurvesInv.mat or .npz")
    ip.add_argument("--name", required=True, type=_bank_name, metavar="NAME",
                    help="name of the new bank (letters, digits, '.', '_', '-'), e.g. dorf")
    ip.add_argument("--out", metavar="PATH.npz", default=None,
                    help="write the bank here instead of the user bank directory")
    ip.add_argument("--force", action="store_true",
                    help="replace an existing bank file, or shadow a bank of the same name")
    ip.set_defaults(func=_cmd_import)

    pp = sub.add_parser("plot", help="draw a bank's curves into an image",
                        description="Plot the curves of a bank, all or a chosen few.")
    pp.add_argument("--bank", default="default", metavar="NAME|FILE.npz",
                    help="bank name or .npz path (default: default)")
    pp.add_argument("--out", required=True, metavar="FILE.png", help="output image (.png, .pdf or .svg)")
    pp.add_argument("--curves", default=None, metavar="A,B,C",
                    help="comma-separated curve names to draw (default: all curves of the bank)")
    pp.set_defaults(func=_cmd_plot)
