"""`noisegen pack-pairs`: real noisy/clean pairs in the dataset format, split by scene."""

from __future__ import annotations

import argparse
import sys

from noisegen.cli.output import add_pairs_options, csv_list, skips_text, with_examples
from noisegen.command import nonneg_int, positive_int

__all__ = ["add_pack_pairs_command"]


def _cmd_pack_pairs(args: argparse.Namespace) -> int:
    from noisegen.dataset.pack_pairs import PackPairsConfig, pack_pairs

    config = PackPairsConfig(pairs=tuple(args.pairs), out=args.out, patch=args.patch,
                             patches_per_image=args.patches_per_image, split=args.split, seed=args.seed,
                             whole=tuple(args.whole or ()), group_regex=args.group_regex,
                             samples_per_shard=args.samples_per_shard)
    summary = pack_pairs(config, progress=not args.no_progress, echo=lambda s: print(s, file=sys.stderr))
    for s in summary["splits"]:
        print(f"{s['folder']}: split {s['split']}, {s['pairs']} pairs → {s['samples']} samples in "
              f"{s['shards']} shards, "
              f"{s['bytes'] / 1e6:.1f} MB")
    if summary["unused"]:
        print(f"unused pairs (no 'rest' split): {len(summary['unused'])}")
    print(skips_text(summary["skipped"]))
    print(f"{summary['elapsed']:.1f} s")
    return 0


def add_pack_pairs_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `pack-pairs`."""
    k = subparsers.add_parser(
        "pack-pairs", help="real noisy/clean pairs into the dataset format (no σ map), split by scene",
        description="Cut real pairs into patches and write them as a noisegen dataset (clean.png, noisy.png, json per "
        "sample, index.parquet, dataset.json) for the trainer's TF stage. With --split, each split is a dataset "
        "folder OUT/NAME and OUT/split.json records the split: whole scenes per split, chosen with --seed.")
    with_examples(k, """\
examples:
  noisegen pack-pairs ../shared/data/PolyU100 --out out/polyu-tf --split train:50%,test:rest --whole test
  noisegen-train tf --init runs/sn --data out/polyu-tf/train --out runs/tf""")
    k.add_argument("pairs", nargs="+", metavar="DIR", help="folder(s) of real pairs")
    k.add_argument("--out", required=True, metavar="OUT", help="output folder (new or empty)")
    k.add_argument("--patch", type=positive_int, default=256, help="patch side (default 256)")
    k.add_argument("--patches-per-image", type=positive_int, metavar="N",
                   help="at most N non-overlapping tiles per pair, drawn with the seed (default: all)")
    k.add_argument("--split", metavar="NAME:N,...",
                   help="e.g. train:32,test:rest (N pairs, N%% of the pairs, or rest), whole scenes per split")
    k.add_argument("--seed", type=nonneg_int, default=0, help="split and tile choice (default 0)")
    k.add_argument("--whole", type=csv_list, metavar="SPLIT[,SPLIT]",
                   help="store these splits as whole images, not patches")
    k.add_argument("--samples-per-shard", type=positive_int, metavar="N", help="exact samples per shard")
    add_pairs_options(k)
    k.add_argument("--no-progress", action="store_true", help="no progress bar")
    k.set_defaults(func=_cmd_pack_pairs)
