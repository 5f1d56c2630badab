"""`noisegen-train eval` and `noisegen-train denoise`: a trained checkpoint on real pairs and on photos.

Both take CHECKPOINT as a run folder (its best.pt, else last.pt: trainer.engine.run_folder) or a .pt file
of any stage, and share their tiling, self-ensemble, device and thread options.
"""

from __future__ import annotations

import argparse

from noisegen.command import THREADS_HELP, int_at_least
from trainer.engine.run_config import DEVICES
from trainer.infer.denoise import DenoiseConfig, denoise_images
from trainer.infer.evaluate import EvalConfig, evaluate_checkpoint, print_report
from trainer.infer.inference import AUTO_TILE, AUTO_TILE_PIXELS
from trainer.infer.sigma_picture import PERCENTILES

__all__ = ["add_eval_command", "add_denoise_command"]

_CHECKPOINT_HELP = "a run folder of `sn` or `tf` (its best.pt, else last.pt) or a .pt checkpoint"


def _add_inference_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `eval` and `denoise`: tiling, AIN statistics, self-ensemble, device, threads, progress."""
    p.add_argument("--tile", type=int_at_least(8), metavar="T", help="denoise in TxT tiles (default: whole images, "
                   f"{AUTO_TILE} tiles above {AUTO_TILE_PIXELS} pixels)")
    p.add_argument("--overlap", type=int_at_least(0), metavar="O", help="minimum overlap of tiles in pixels "
                   "(default: a quarter of the tile, at most 64; tiles use the whole image's AIN statistics, so "
                   "only the receptive field at tile borders differs from a whole-image run)")
    p.add_argument("--tile-stats", action="store_true",
                   help="tiled images: each tile normalises with its own AIN statistics, in one pass (11x faster "
                   "than the default for the paper model on CPU, measured at 1.2 MP; it changes the result: see "
                   "README); default: the whole image's statistics, exact, one extra partial pass per AIN")
    p.add_argument("--ensemble", action="store_true", help="geometric self-ensemble x8 (mean of the 8 "
                   "flip/rotation predictions, each transformed back; 8 times slower)")
    p.add_argument("--device", choices=DEVICES, default="auto", help="default auto (CUDA if any)")
    p.add_argument("--threads", type=int_at_least(1), metavar="N", help=THREADS_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_eval_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train eval`: PSNR/SSIM of a checkpoint on real pairs (trainer.infer.evaluate.EvalConfig)."""
    p = sub.add_parser(
        "eval", help="PSNR and SSIM of a checkpoint on real noisy/clean pairs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"""\
PSNR and SSIM (skimage's settings: 7x7 uniform window, data_range 255, per channel then
averaged) of CHECKPOINT's 8-bit outputs against the clean images, per image, per camera/ISO
group (parsed from the file names by noisegen.dataset.pairs) and overall, on whole images. Images
above {AUTO_TILE_PIXELS} pixels are denoised in {AUTO_TILE}x{AUTO_TILE} tiles blended over their overlap
unless --tile is given. Unreadable pairs are skipped and listed.""",
        epilog="""\
examples:
  noisegen-train eval runs/sn --pairs ../shared/data/CC15 --pairs ../shared/data/PolyU100
  noisegen-train eval runs/tf/last.pt --pairs packed/test --ensemble --json runs/tf/eval.json""",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help=_CHECKPOINT_HELP)
    p.add_argument("--pairs", action="append", required=True, metavar="DIR|DATASET",
                   help="real pairs: a folder (noisy/ + gt/, *_real/*_mean names, SIDD scene folders) or a "
                   "`noisegen pack-pairs` dataset folder; repeatable")
    p.add_argument("--json", metavar="OUT", help="write the full report (per image, per group, overall) as JSON")
    _add_inference_options(p)
    p.add_argument("--group-regex", metavar="REGEX",
                   help="regex with named groups camera, iso (noisegen.dataset.pairs)")
    p.add_argument("--max-images", type=int_at_least(1), metavar="N", help="first N pairs of each source")
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> int:
    config = EvalConfig(checkpoint=args.checkpoint, pairs=tuple(args.pairs), ensemble=args.ensemble, json=args.json,
                        tile=args.tile, overlap=args.overlap, tile_stats=args.tile_stats,
                        group_regex=args.group_regex,
                        max_images=args.max_images, device=args.device, threads=args.threads,
                        progress=not args.no_progress)
    print_report(evaluate_checkpoint(config))
    if config.json is not None:
        print(f"wrote {config.json}")
    return 0


def add_denoise_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train denoise`: denoise image files into PNGs (trainer.infer.denoise.DenoiseConfig)."""
    p = sub.add_parser(
        "denoise", help="denoise photos with a checkpoint, writing PNGs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"""\
Denoise each IMAGE (files, or folders searched recursively) with CHECKPOINT and write
OUT/NAME_denoised.png (8-bit sRGB) and, with --sigma-map, OUT/NAME_sigma.png (a picture of the
estimated noise level on the [0, 1] scale, coloured from its {PERCENTILES[0]:g}st to its {PERCENTILES[1]:g}th
percentile, with a colour bar and the mean of each channel). Any size: images
above {AUTO_TILE_PIXELS} pixels go in {AUTO_TILE}x{AUTO_TILE} tiles that use the whole image's AIN
statistics and are blended over their overlap. Unreadable inputs and existing outputs (without
--overwrite) are reported and skipped; the exit status is 1 when anything was skipped.""",
        epilog="""\
examples:
  noisegen-train denoise runs/tf photo.jpg --out denoised --sigma-map
  noisegen-train denoise runs/tf/last.pt shots/ --out denoised --tile 512 --device cpu --threads 2""",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help=_CHECKPOINT_HELP)
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--sigma-map", action="store_true",
                   help="also write a picture of the estimated sigma map, with its scale, as NAME_sigma.png")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip those inputs)")
    _add_inference_options(p)
    p.set_defaults(func=_cmd_denoise)


def _cmd_denoise(args: argparse.Namespace) -> int:
    config = DenoiseConfig(checkpoint=args.checkpoint, images=tuple(args.images), out=args.out,
                           sigma_map=args.sigma_map, overwrite=args.overwrite, tile=args.tile, overlap=args.overlap,
                           ensemble=args.ensemble, tile_stats=args.tile_stats, device=args.device,
                           threads=args.threads, progress=not args.no_progress)
    result = denoise_images(config)
    print(f"{len(result.written)} files written to {args.out} in {result.seconds:.1f} s")
    if result.skipped:
        print(f"skipped {len(result.skipped)}:")
        for m in result.skipped:
            print(f"  {m}")
    return 1 if result.skipped else 0
