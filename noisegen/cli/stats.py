"""`noisegen stats`, `calibrate`, `preview` and `pack-pairs`: noise statistics, camera calibration, contact
sheets and real pairs in the dataset format."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from noisegen.command import fraction, nonneg_int, positive_int

__all__ = ["add_stats_commands"]


def _csv(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _jpeg_list(text: str) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for t in _csv(text):
        if t.lower() in ("none", "off", "no"):
            out.append(None)
        elif t.isdigit() and 1 <= int(t) <= 100:
            out.append(int(t))
        else:
            raise argparse.ArgumentTypeError(f"expected JPEG qualities 1..100 or none, comma-separated, got {t!r}")
    if not out:
        raise argparse.ArgumentTypeError("expected at least one JPEG option")
    return tuple(out)


def _write_json(path: str, data: dict) -> None:
    from noisegen.atomic import atomic_write_bytes

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(p, (json.dumps(data, indent=2, allow_nan=False, default=_json_default) + "\n").encode())


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _clean_nan(x):
    """NaN and inf → None, recursively (JSON has no NaN)."""
    import math

    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _clean_nan(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean_nan(v) for v in x]
    return x


def _skips(skipped: list[dict], limit: int = 8) -> str:
    if not skipped:
        return "skipped inputs: 0"
    lines = [f"skipped inputs: {len(skipped)}"]
    lines += [f"  {s.get('source')}: {s.get('reason')}" for s in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more (all listed in the --json output)")
    return "\n".join(lines)


def _cmd_stats(args: argparse.Namespace) -> int:
    from noisegen.analysis.plot import plot_report
    from noisegen.analysis.stats import StatsConfig, run_stats
    from noisegen.dataset.generate import default_workers

    if (args.dataset is None) == (not args.pairs):
        raise ValueError("give a DATASET folder or --pairs DIR (not both)")
    config = StatsConfig(dataset=args.dataset, pairs=tuple(args.pairs or ()), by=args.by, group_regex=args.group_regex,
                         bins=args.bins, min_count=args.min_count, max_clip=args.max_clip, fast=args.fast,
                         max_samples=args.max_samples, workers=args.workers or (1 if args.pairs else default_workers()),
                         progress=not args.no_progress)
    report = run_stats(config, echo=lambda s: print(s, file=sys.stderr))
    print(report.table())
    print(_skips(report.skipped))
    if args.json:
        _write_json(args.json, _clean_nan(report.to_dict()))
        print(f"wrote {args.json}")
    if args.table:
        Path(args.table).parent.mkdir(parents=True, exist_ok=True)
        Path(args.table).write_text(report.table(markdown=True) + "\n")
        print(f"wrote {args.table}")
    if args.plot:
        plot_report(report, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from noisegen.analysis.calibrate import CalibrateConfig, calibrate
    from noisegen.analysis.calibrate_report import plot_calibration
    from noisegen.isp.profiles import save_profile

    kw = {}
    if args.crf_curves is not None:
        kw["crf_curves"] = () if args.crf_curves == ("all",) else args.crf_curves
    if args.demosaic is not None:
        kw["demosaic"] = args.demosaic
    if args.jpeg is not None:
        kw["jpeg"] = args.jpeg
    config = CalibrateConfig(pairs=tuple(args.pairs), camera=args.camera, iso=tuple(args.iso or ()),
                             group_regex=args.group_regex, crf_bank=args.crf_bank, bins=args.bins,
                             crop=args.crop, max_pixels=args.max_pixels, search_pixels=args.search_pixels,
                             top_k=args.top_k, channels=args.channels, reference=args.reference, spread=args.spread,
                             seed=args.seed, name=args.name, **kw)
    cal = calibrate(config, echo=lambda s: print(s, file=sys.stderr))
    print(cal.text())
    print(_skips(cal.skipped))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_profile(cal.profile, out)
    report = args.report or str(out.with_name(out.stem + ".report.json"))
    _write_json(report, _clean_nan(cal.to_dict()))
    print(f"wrote {out} (use it with `noisegen generate --profile {out}`) and {report}")
    if args.plot:
        plot_calibration(cal, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _cmd_preview(args: argparse.Namespace) -> int:
    from noisegen.analysis.preview import PreviewConfig, run_preview

    path = run_preview(PreviewConfig(dataset=args.dataset, out=args.out, n=args.n, seed=args.seed, amplify=args.amplify,
                                     tile=args.tile, sigma_max=args.sigma_max))
    print(f"wrote {path}")
    return 0


def _cmd_pack_pairs(args: argparse.Namespace) -> int:
    from noisegen.dataset.pack_pairs import PackPairsConfig, pack_pairs

    config = PackPairsConfig(pairs=tuple(args.pairs), out=args.out, patch=args.patch,
                             patches_per_image=args.patches_per_image, split=args.split, seed=args.seed,
                             whole=tuple(args.whole or ()), group_regex=args.group_regex,
                             samples_per_shard=args.samples_per_shard)
    try:
        summary = pack_pairs(config, progress=not args.no_progress, echo=lambda s: print(s, file=sys.stderr))
    except FileExistsError as exc:
        print(f"noisegen pack-pairs: error: {exc}", file=sys.stderr)
        return 2
    for s in summary["splits"]:
        print(f"{s['folder']}: split {s['split']}, {s['pairs']} pairs → {s['samples']} samples in "
              f"{s['shards']} shards, "
              f"{s['bytes'] / 1e6:.1f} MB")
    if summary["unused"]:
        print(f"unused pairs (no 'rest' split): {len(summary['unused'])}")
    print(_skips(summary["skipped"]))
    print(f"{summary['elapsed']:.1f} s")
    return 0


def _pairs_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--group-regex", metavar="REGEX",
                   help="regular expression with named groups camera, iso and/or scene, searched in each noisy file's "
                   r"path relative to its folder, e.g. '(?P<camera>[^_]+)_ISO(?P<iso>\d+)'; tried before the built-in "
                   "rules for PolyU, CC (Nam et al.), CC15 and SIDD names")


def add_stats_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `stats`, `calibrate`, `preview` and `pack-pairs`."""
    from noisegen.analysis.calibrate import DEFAULT_JPEG, DEMOSAIC_OPTIONS
    from noisegen.analysis.stats import GROUP_KEYS

    s = subparsers.add_parser(
        "stats", help="noise statistics per group: NLF, correlations, PSNR (datasets or real pairs)",
        description="Per group: the noise level function (residual std vs clean intensity per channel, sRGB domain; "
        "and σ_raw vs irradiance from the σ maps), residual autocorrelation at lags 1-2, cross-channel correlation, "
        "PSNR and counts. A dataset is grouped by --by; --fast reads index.parquet only. Real pairs (--pairs, "
        "noisy/ + gt/ folders, SIDD folders, or *_real/*_mean names) are grouped by camera and ISO parsed from "
        "the names. Unreadable files, missing partners and size mismatches are listed and skipped.")
    s.add_argument("dataset", nargs="?", metavar="DATASET", help="dataset folder written by `noisegen generate`")
    s.add_argument("--pairs", action="append", metavar="DIR",
                   help="folder of real noisy/clean pairs; repeat for several")
    s.add_argument("--by", default="camera", metavar="KEY[,KEY]",
                   help=f"dataset grouping: one or more of {', '.join(GROUP_KEYS)} (jpeg groups by quality decade). "
                   "Default: camera")
    _pairs_options(s)
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
                   help="parallel processes for the shard pass (default: all cores)")
    s.add_argument("--no-progress", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_stats)

    c = subparsers.add_parser(
        "calibrate", help="fit a camera profile (σ ranges, CRF, demosaicing, JPEG) to real pairs of one camera",
        description="Simulate the clean images of the pairs through candidate cameras (a CRF from a bank, "
        "demosaicing on/off, JPEG quality) and fit σ_s, σ_c so that the simulated NLF, autocorrelation and "
        "cross-channel correlation match the real ones; report the fit error per statistic and write a "
        "profile for `noisegen generate --profile OUT`. A full report goes to OUT's name + .report.json.")
    c.add_argument("--pairs", action="append", required=True, metavar="DIR",
                   help="folder of real pairs; repeat for several")
    c.add_argument("--camera", metavar="NAME", help="camera to fit (exact name or a unique part of it); required when "
                   "the pairs hold several cameras")
    c.add_argument("--iso", type=positive_int, action="append", metavar="ISO",
                   help="use only this ISO; repeat for several")
    c.add_argument("--out", required=True, metavar="PROFILE.json", help="profile file to write")
    c.add_argument("--report", metavar="REPORT.json", help="full report (default: OUT with .report.json)")
    c.add_argument("--plot", metavar="FIT.png", help="figure of the real and fitted NLF per ISO")
    c.add_argument("--name", help="profile name (default calibrated-CAMERA)")
    _pairs_options(c)
    c.add_argument("--crf-bank", default="default", metavar="NAME|FILE.npz",
                   help="bank of candidate curves (default: default)")
    c.add_argument("--crf-curves", type=_csv, metavar="A,B,...",
                   help="candidate curves ('all' = the whole bank; default: the still-camera curves of the "
                   "cbdnet profile)")
    c.add_argument("--demosaic", type=_csv, metavar="OPT[,OPT]",
                   help=f"demosaicing options among {', '.join(DEMOSAIC_OPTIONS)} (default: all)")
    c.add_argument("--jpeg", type=_jpeg_list, metavar="Q[,Q]",
                   help="JPEG options, 'none' or qualities (default: "
                   f"{','.join('none' if q is None else str(q) for q in DEFAULT_JPEG)})")
    c.add_argument("--channels", choices=("scaled", "shared", "independent"), default="scaled",
                   help="scaled: one σ_s, σ_c with a noise scale for R and B (default); shared: the same σ for all; "
                   "independent: σ per channel")
    c.add_argument("--reference", choices=("source", "render"), default="source",
                   help="simulated residual against the clean source (as the generator's pairs; default) or against "
                   "the noise-free render through the same curve and demosaicing")
    c.add_argument("--bins", type=positive_int, default=16, help="NLF bins (default 16)")
    c.add_argument("--crop", type=positive_int, default=128, help="side of the crops cut from the pairs (default 128)")
    c.add_argument("--max-pixels", type=positive_int, default=1_000_000, metavar="N",
                   help="pixels of crops per ISO group (default 1000000; more separates similar curves better)")
    c.add_argument("--search-pixels", type=positive_int, default=250_000, metavar="N",
                   help="pixels per group for the demosaicing/JPEG and curve search (default 250000)")
    c.add_argument("--top-k", type=positive_int, default=3, metavar="K",
                   help="curves re-fitted on all crops (default 3)")
    c.add_argument("--spread", type=float, default=0.1,
                   help="relative widening of the profile's σ ranges (default 0.1)")
    c.add_argument("--seed", type=nonneg_int, default=0, help="crop choice and simulation noise (default 0)")
    c.set_defaults(func=_cmd_calibrate)

    p = subparsers.add_parser(
        "preview", help="contact sheet of samples: clean | noisy | σ map | amplified residual, with parameters",
        description="One row per sample with its parameters written above it. Tiles are centre crops (never "
        "resized). The σ map shows σ_raw of R, G, B as colours (white = --sigma-max); the residual is "
        "0.5 + AMPLIFY·(noisy − clean).")
    p.add_argument("dataset", metavar="DATASET", help="dataset folder (generate or pack-pairs)")
    p.add_argument("--n", type=positive_int, default=16, help="rows (default 16)")
    p.add_argument("--out", required=True, metavar="GRID.png", help="PNG to write")
    p.add_argument("--seed", type=nonneg_int, help="draw the samples at random with this seed (default: the first N)")
    p.add_argument("--amplify", type=float, default=4.0, help="residual gain (default 4)")
    p.add_argument("--tile", type=positive_int, default=192, help="tile side in pixels (default 192)")
    p.add_argument("--sigma-max", type=float, metavar="S", help="σ shown as white (default: 99th percentile)")
    p.set_defaults(func=_cmd_preview)

    k = subparsers.add_parser(
        "pack-pairs", help="real noisy/clean pairs into the dataset format (no σ map), split by scene",
        description="Cut real pairs into patches and write them as a noisegen dataset (clean.png, noisy.png, json per "
        "sample, index.parquet, dataset.json) for the trainer's TF stage. With --split, each split is a dataset "
        "folder OUT/NAME and OUT/split.json records the split: whole scenes per split, chosen with --seed.")
    k.add_argument("pairs", nargs="+", metavar="DIR", help="folder(s) of real pairs")
    k.add_argument("--out", required=True, metavar="OUT", help="output folder (new or empty)")
    k.add_argument("--patch", type=positive_int, default=256, help="patch side (default 256)")
    k.add_argument("--patches-per-image", type=positive_int, metavar="N",
                   help="at most N non-overlapping tiles per pair, drawn with the seed (default: all)")
    k.add_argument("--split", metavar="NAME:N,...",
                   help="e.g. train:32,test:rest (N pairs, N%% of the pairs, or rest), whole scenes per split")
    k.add_argument("--seed", type=nonneg_int, default=0, help="split and tile choice (default 0)")
    k.add_argument("--whole", type=_csv, metavar="SPLIT[,SPLIT]",
                   help="store these splits as whole images, not patches")
    k.add_argument("--samples-per-shard", type=positive_int, metavar="N", help="exact samples per shard")
    _pairs_options(k)
    k.add_argument("--no-progress", action="store_true", help="no progress bar")
    k.set_defaults(func=_cmd_pack_pairs)
