"""`noisegen generate`, `noisegen inspect` and `noisegen download`: the dataset commands."""

from __future__ import annotations

import argparse
import sys

from noisegen.cli.output import with_examples
from noisegen.cli.profile import add_profile_arguments, profile_from_args
from noisegen.command import float_in, nonneg_int, parse_size, positive_int


def _pixels(text: str) -> int:
    """--max-pixels: '100M', '150MP', '2e8' or a plain count."""
    t = text.strip().upper().removesuffix("P")
    scale = 10**6 if t.endswith("M") else 1
    try:
        v = int(float(t.removesuffix("M")) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a pixel count such as 100M or 150000000, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a pixel count >= 1, got {text!r}")
    return v

__all__ = ["add_generate_commands", "parse_size"]


def _cmd_generate(args: argparse.Namespace) -> int:
    from noisegen.dataset.generate import GenerateConfig, default_workers, generate

    if args.scheduler and args.backend != "dask":
        raise ValueError("--scheduler needs --backend dask")
    config = GenerateConfig(
        out=args.out, images=tuple(args.images or ()), profile=profile_from_args(args), patch=args.patch,
        patches_per_image=args.patches_per_image, crop=args.crop, seed=args.seed,
        samples_per_shard=args.samples_per_shard, shard_size=args.shard_size or 512 * 10**6,
        max_images=args.max_images, max_pixels=args.max_pixels, clean_target=args.clean_target, sigma=args.sigma,
        workers=args.workers or default_workers(),
        backend=args.backend, scheduler=args.scheduler, resume=args.resume,
    )
    if not config.images:
        print("no --images given: using the photos bundled with scikit-image", file=sys.stderr)
    try:
        summary = generate(config, progress=not args.no_progress, echo=lambda s: print(s, file=sys.stderr))
    except FileExistsError as exc:
        print(f"noisegen generate: error: {exc}", file=sys.stderr)
        return 2
    print(summary_text(summary))
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from noisegen.dataset.inspect import describe_dataset, repair_advice, verify_dataset

    print(describe_dataset(args.dataset))
    if not args.verify:
        return 0
    damages = verify_dataset(args.dataset)
    if damages:
        names = sorted({d.name for d in damages})
        print(f"verify: DAMAGED: {len(names)} file(s): {', '.join(names)}")
        for d in damages:
            print(f"  {d}")
        print(repair_advice(args.dataset))
        return 1
    print("verify: ok (every shard has its recorded size and sha256, exactly its listed samples and members, and "
          "every sample decodes and validates)")
    return 0


def _cmd_download(args: argparse.Namespace) -> int:
    from noisegen.dataset.download import DownloadError, ExtractLimits, UnsafeArchiveError, download_dataset

    try:
        download_dataset(args.name, args.to, url=args.url, sha256=args.sha256, keep_archive=args.keep_archive,
                         progress=not args.no_progress,
                         limits=ExtractLimits(max_bytes=args.max_extract_size, max_ratio=args.max_ratio))
    except (DownloadError, UnsafeArchiveError) as exc:
        print(f"noisegen download: error: {exc}", file=sys.stderr)
        return 1
    return 0


def add_generate_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `generate`, `inspect` and `download`."""
    add_generate_command(subparsers)
    add_inspect_command(subparsers)
    add_download_command(subparsers)


def add_generate_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `generate`."""
    from noisegen.dataset.images import DEFAULT_MAX_PIXELS
    from noisegen.dataset.plan import MIN_SHARDS

    g = subparsers.add_parser(
        "generate", help="turn folders of clean photos into a sharded WebDataset dataset with σ maps",
        description="Cut patches from clean photos, simulate a camera on each (profile below) and write "
        "WebDataset shards (clean.png, noisy.png, sigma.png16, json per sample), index.parquet and dataset.json. "
        "The bytes depend only on the sources, the seed and the options that shape the data, never on "
        "--workers, --backend or interruptions (--resume).",
    )
    with_examples(g, """\
examples:
  noisegen generate --out out/demo                      # the bundled photos, cbdnet, 128 patches of 256²
  noisegen generate --images photos/ --out out/ds --profile cbdnet --patch 256 --patches-per-image 16 --seed 0
  noisegen generate --images photos/ --out out/ds-render --clean-target render
  noisegen generate --images photos/ --out out/ds --resume   # finish an interrupted run (same options)""")
    g.add_argument("--images", action="append", metavar="DIR",
                   help="folder (searched recursively for PNG/JPEG/BMP/TIFF; the Waterloo layout "
                   "pristine_images/ is found inside it) or image file; repeat for several. "
                   "Default: the photos bundled with scikit-image")
    g.add_argument("--out", required=True, metavar="OUT",
                   help="dataset folder (new or empty, or an interrupted run with --resume)")
    g.add_argument("--patch", type=positive_int, default=256, metavar="P",
                   help="patch side in pixels (default 256, as AINDNet)")
    g.add_argument("--patches-per-image", type=positive_int, default=16, metavar="N",
                   help="patches per photo (default 16; grid crops: at most the number of grid cells)")
    g.add_argument("--crop", choices=("random", "grid"), default="random",
                   help="random: uniform positions; grid: non-overlapping tiles, a random subset when there are "
                   "more than N (default random)")
    g.add_argument("--seed", type=nonneg_int, default=0,
                   help="dataset seed (default 0); same seed and inputs → same bytes")
    sz = g.add_mutually_exclusive_group()
    sz.add_argument("--shard-size", type=parse_size, metavar="SIZE",
                    help=f"target shard size, e.g. 512MB (default), 1GiB; turned into a sample count from an "
                    f"estimate of bytes per patch, and small datasets get at least {MIN_SHARDS} shards")
    sz.add_argument("--samples-per-shard", type=positive_int, metavar="N", help="exact number of samples per shard")
    g.add_argument("--clean-target", choices=("source", "render"), default="source",
                   help="the clean member: the source crop (default, as CBDNet/AINDNet) or its noise-free render "
                   "through the same curve, mosaic, demosaic and colour steps (no noise, no JPEG), so that "
                   "noisy − clean is the camera's noise only")
    g.add_argument("--sigma", choices=("stored", "derived"), default="stored",
                   help="stored: each sample holds its σ map as a 16-bit PNG (default); derived: no σ member "
                   "(about a third fewer bytes), the reader recomputes σ exactly from the clean crop and the "
                   "sample's parameters (needs --clean-target source)")
    g.add_argument("--max-images", type=positive_int, metavar="M",
                   help="use only the first M usable photos (sorted by name)")
    g.add_argument("--max-pixels", type=_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help="skip (and list) photos larger than N pixels, e.g. 150M "
                   f"(default {DEFAULT_MAX_PIXELS // 10**6}M; a photo costs about 11 bytes per pixel while decoded)")
    g.add_argument("--workers", type=positive_int, metavar="W",
                   help="parallel worker processes (default: one per CPU core; at most the CPU count, and one per "
                   "shard)")
    g.add_argument("--backend", choices=("local", "dask"), default="local",
                   help="local: joblib processes on this machine (default); dask: dask.distributed "
                   "(a LocalCluster of --workers processes, or --scheduler)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="dask scheduler address, e.g. tcp://10.0.0.5:8786 (workers must see --out and --images "
                   "at the same paths)")
    g.add_argument("--resume", action="store_true",
                   help="finish an interrupted run in OUT: keep its complete shards, redo the rest "
                   "(same options required); on a complete dataset, check every shard and rewrite damaged ones")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_profile_arguments(g)
    g.set_defaults(func=_cmd_generate)


def add_inspect_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `inspect`."""
    i = subparsers.add_parser(
        "inspect", help="summarise a dataset (counts, sizes, parameter distributions); --verify checks every shard",
        description="Print counts, shard sizes, sources, parameter distributions and statistics of a dataset "
        "from its dataset.json and index.parquet. With --verify, read every shard and check its size, sha256, "
        "tar structure and member set; exit code 1 names the damaged shards.",
    )
    with_examples(i, """\
examples:
  noisegen inspect out/demo
  noisegen inspect out/demo --verify     # exit code 1 and the damaged shards when something is wrong""")
    i.add_argument("dataset", metavar="OUT", help="dataset folder written by `noisegen generate`")
    i.add_argument("--verify", action="store_true",
                   help="check every shard's size, sha256 and members (reads all data)")
    i.set_defaults(func=_cmd_inspect)


def add_download_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `download`."""
    from noisegen.dataset.download import DATASETS, ExtractLimits

    d = subparsers.add_parser(
        "download", help="download a public photo collection (resumable, checksum-verified, safe extraction)",
        description="Download an archive of clean photos, verify its sha256 and extract it safely into DIR. "
        "Interrupted downloads resume when the command is rerun. The Waterloo archive is RAR: extracting it "
        "needs `pip install 'noisegen[rar]'` (checked before the download starts). Archives that would expand "
        "beyond --max-extract-size, --max-ratio or the free disk space are refused before anything is written.",
    )
    with_examples(d, """\
example:
  noisegen download waterloo --to data/waterloo && noisegen generate --images data/waterloo --out out/waterloo""")
    d.add_argument("name", choices=sorted(DATASETS),
                   help="collection: waterloo (Waterloo Exploration Database, 4,744 photos)")
    d.add_argument("--to", required=True, metavar="DIR", help="folder to download and extract into")
    d.add_argument("--url", metavar="URL", help="download from this address instead (a mirror)")
    d.add_argument("--sha256", metavar="HEX", help="expected sha256 of the archive (checked before extraction)")
    d.add_argument("--keep-archive", action="store_true", help="keep the archive after extraction")
    d.add_argument("--max-extract-size", type=parse_size, default=ExtractLimits.max_bytes, metavar="SIZE",
                   help="refuse archives that extract to more than SIZE "
                   f"(default {ExtractLimits.max_bytes // 10**9}GB)")
    d.add_argument("--max-ratio", type=float_in(1.0, 1e9), default=ExtractLimits.max_ratio, metavar="R",
                   help="refuse archives that expand more than R times their size "
                   f"(default {ExtractLimits.max_ratio:g}; decompression bombs expand 1000×)")
    d.add_argument("--no-progress", action="store_true", help="no progress bar")
    d.set_defaults(func=_cmd_download)


def summary_text(summary) -> str:
    """What `noisegen generate` prints at the end: sizes, rate, conversions, skipped inputs."""
    made = sum(r.samples for r in summary.records)
    rate = f", {made / summary.elapsed:.1f} patches/s" if made and summary.elapsed > 0 else ""
    per = f" ({summary.bytes / summary.samples / 1e3:.0f} KB/patch)" if summary.samples else ""
    lines = [f"{summary.out}: {summary.samples} patches in {summary.shards} shards, {summary.bytes / 1e6:.1f} MB"
             f"{per}; {summary.elapsed:.1f} s{rate}"
             + (f"; {summary.resumed_shards} shards kept from the interrupted run" if summary.resumed_shards else "")]
    if summary.conversions:
        lines.append("converted inputs: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.conversions.items())))
    lines.append(f"skipped inputs: {len(summary.skipped)}" + (" (reasons in dataset.json)" if summary.skipped else ""))
    for s in summary.skipped[:5]:
        lines.append(f"  {s['source']}: {s['reason']}")
    if len(summary.skipped) > 5:
        lines.append(f"  ... and {len(summary.skipped) - 5} more")
    return "\n".join(lines)
