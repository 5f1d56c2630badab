"""`noisegen stats` and `noisegen preview`: noise statistics of datasets and real pairs, contact sheets."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from noisegen.cli.output import add_pairs_options, clean_nan, skips_text, with_examples, write_json
from noisegen.command import default_workers, fraction, nonneg_int, positive_int

__all__ = ["add_stats_command", "add_preview_command"]


def _cmd_stats(args: argparse.Namespace) -> int:
    from noisegen.analysis.plot import plot_report
    from noisegen.analysis.stats import StatsConfig, run_stats

    if (args.dataset is None) == (not args.pairs):
        raise ValueError("give a DATASET folder or --pairs DIR (not both)")
    config = StatsConfig(dataset=args.dataset, pairs=tuple(args.pairs or ()), by=args.by, group_regex=args.group_regex,
                         bins=args.bins, min_count=args.min_count, max_clip=args.max_clip, fast=args.fast,
                         max_samples=args.max_samples, workers=default_workers(args.workers),
                         progress=not args.no_progress)
    report = run_stats(config, echo=lambda s: print(s, file=sys.stderr))
    print(report.table())
    print(skips_text(report.skipped))
    if args.json:
        write_json(args.json, clean_nan(report.to_dict()))
        print(f"wrote {args.json}")
    if args.table:
        Path(args.table).parent.mkdir(parents=True, exist_ok=True)
        Path(args.table).write_text(report.table(markdown=True) + "\n")
        print(f"wrote {args.table}")
    if args.plot:
        plot_report(report, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from noisegen.analysis.preview import PreviewConfig, run_preview

    if Path(args.out).exists() and not args.overwrite:
        raise FileExistsError(f"{args.out} exists; choose another --out, or pass --overwrite")
    path = run_preview(PreviewConfig(dataset=args.dataset, out=args.out, n=args.n, seed=args.seed, amplify=args.amplify,
                                     tile=args.tile, sigma_max=args.sigma_max))
    print(f"wrote {path}")
    return 0


def add_stats_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `stats`."""
    from noisegen.analysis.stats import GROUP_KEYS

    s = subparsers.add_parser(
        "stats", help="noise statistics per group: NLF, correlations, PSNR (datasets or real pairs)",
        description="Per group: the noise level function (residual std vs clean intensity per channel, sRGB domain; "
        "and σ_raw vs irradiance from the σ maps), residual autocorrelation at lags 1-2, cross-channel correlation, "
        "PSNR and counts. A dataset is grouped by --by; --fast reads index.parquet only. Real pairs (--pairs, "
        "noisy/ + gt/ folders, SIDD folders, or *_real/*_mean names) are grouped by camera and ISO parsed from "
        "the names. Unreadable files, missing partners and size mismatches are listed and skipped.")
    with_examples(s, """\
examples:
  noisegen stats out/demo --by crf --plot out/nlf.png
  noisegen stats --pairs ../shared/data/PolyU100 --pairs ../shared/data/CC60 --table out/nlf.md --json out/nlf.json""")
    s.add_argument("dataset", nargs="?", metavar="DATASET", help="dataset folder written by `noisegen generate`")
    s.add_argument("--pairs", action="append", metavar="DIR",
                   help="folder of real noisy/clean pairs; repeat for several")
    s.add_argument("--by", default="camera", metavar="KEY[,KEY]",
                   help=f"dataset grouping: one or more of {', '.join(GROUP_KEYS)} (jpeg groups by quality decade). "
                   "Default: camera")
    add_pairs_options(s)
    s.add_argument("--json", metavar="OUT.json", help="write every statistic (per group, per bin, per channel) as JSON")
    s.add_argument("--plot", metavar="OUT.png", help="write the NLF figure (one panel per group)")
    s.add_argument("--table", metavar="OUT.md", help="write the table as Markdown")
    s.add_argument("--bins", type=positive_int, default=16,
                   help="NLF bins over the clean intensity [0, 1] (default 16)")
    s.add_argument("--min-count", type=positive_int, default=1000, metavar="N",
                   help="fewest pixels for a bin to count as valid (default 1000)")
    s.add_argument("--max-clip", type=fraction, default=0.01, metavar="F",
                   help="largest fraction of clipped noisy values (0 or 255) in a valid bin (default 0.01)")
    s.add_argument("--fast", action="store_true",
                   help="datasets: index.parquet only (counts, parameters, PSNR estimate, σ_raw NLF from parameters)")
    s.add_argument("--max-samples", type=positive_int, metavar="N",
                   help="datasets: use N samples spread evenly over the index")
    s.add_argument("--workers", type=positive_int, metavar="W",
                   help="parallel processes for the shard pass (default: one per CPU core; at most the CPU count)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_stats)


def add_preview_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `preview`."""
    p = subparsers.add_parser(
        "preview", help="contact sheet of samples: clean | noisy | σ map | amplified residual, with parameters",
        description="One row per sample with its parameters written above it. Tiles are centre crops (never "
        "resized). The σ map shows σ_raw of R, G, B as colours (white = --sigma-max); the residual is "
        "0.5 + AMPLIFY·(noisy − clean).")
    with_examples(p, """\
example:
  noisegen preview out/demo --n 8 --out out/grid.png""")
    p.add_argument("dataset", metavar="DATASET", help="dataset folder (generate or pack-pairs)")
    p.add_argument("--n", type=positive_int, default=16, help="rows (default 16)")
    p.add_argument("--out", required=True, metavar="GRID.png", help="PNG to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out (default: refuse)")
    p.add_argument("--seed", type=nonneg_int, help="draw the samples at random with this seed (default: the first N)")
    p.add_argument("--amplify", type=float, default=4.0, help="residual gain (default 4)")
    p.add_argument("--tile", type=positive_int, default=192, help="tile side in pixels (default 192)")
    p.add_argument("--sigma-max", type=float, metavar="S", help="σ shown as white (default: 99th percentile)")
    p.set_defaults(func=_cmd_preview)
