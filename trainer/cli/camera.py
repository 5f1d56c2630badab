"""`noisegen-train camera`: a denoiser for one camera from a folder of its photos (trainer.camera.run),
built on CameraConfig: every option is a config field with the config's default."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys

from noisegen.command import THREADS_HELP, int_at_least
from trainer.camera.config import SCALE_NAMES, SCALES, CameraConfig
from trainer.engine.run_config import DEVICES

__all__ = ["add_camera_command"]

_D = {f.name: f.default for f in dataclasses.fields(CameraConfig)}


def _scales() -> str:
    out = []
    for s in SCALES.values():
        crop = "whole images" if s.test_crop is None else f"{s.test_crop}² centre crops"
        out.append(f"  {s.name:6s} {s.model} AINDNet, {s.steps} steps (TF {s.tf_steps}) of batch {s.batch} at "
                   f"{s.patch}², lr {s.lr:g}, {s.gen_patch}² generated patches, fit {s.fit}, K = {s.k}, test on {crop}")
    return "\n".join(out)


def add_camera_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train camera FOLDER --out RUN`."""
    p = sub.add_parser(
        "camera", help="a denoiser for your camera from a folder of its photos, with a held-out report",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"""\
From one folder of a camera's photos (noisy/clean pairs in the layouts `eval` reads, noisy photos
without a clean partner, or both): split them by shot (half the scenes of every camera-ISO group
held out, checked by content), fit a profile per ISO on the calibration pairs, score its realism,
generate training data on clean photos, train AINDNet (SN; TF with a few real pairs) and report
every row on the held-out images. Camera and ISO come from EXIF, else from the file names.
Resumable: run the same command again after an interruption. Writes in RUN:
  report.md, report.json, report.png   the held-out table, realism, noise levels, before/after crops
  denoiser.pt                          the checkpoint for `noisegen-train denoise` (the last stage that ran)
  split.json, profiles/, data/, runs/, evals/, crops/, camera.json (settings), timings.json
Rows: (a) noisy input, (b) SN on `cbdnet` data, (b1)/(b2) SN on AWGN / sRGB var = a·x + b fitted on the
calibration pairs (the controls a camera model must beat), (d) SN on the calibrated profiles (clean =
render), (e) from scratch on the real calibration pairs, (f) TF with K real pairs from (d); without
pairs, (b) and the noise level of the noisy photos. With --dbsn, from the noisy images alone: (g) a
D-BSN, (h) SN on the profile fitted to its pseudo-pairs (calibrate --noisy-only), (i) AINDNet
distilled from both; without pairs (i) is the denoiser.
Scales:
{_scales()}""",
        epilog="""\
examples:
  noisegen-train camera my_camera/ --out runs/cam --scale cpu --threads 1
  noisegen-train camera ../shared/data/PolyU100 --out runs/polyu --scale cpu --clean ../shared/data/CBSD68 \\
      --clean ../shared/data/Kodak24
  noisegen-train camera ../shared/data/CC60 --test ../shared/data/CC15 --out runs/cc --scale cpu
  noisegen-train camera ../shared/data/DND_patches --camera DND --out runs/dnd --scale quick
  noisegen-train camera ../shared/data/DND_patches --camera DND --out runs/dnd-dbsn --scale cpu --dbsn
  noisegen-train denoise runs/cam/denoiser.pt photo.jpg --out denoised --tile 64 --tile-stats""",
    )
    p.add_argument("folder", metavar="FOLDER", help="the camera's photos: pairs, noisy-only photos, or both "
                   "(searched recursively)")
    p.add_argument("--out", required=True, metavar="RUN", help="run folder (created; the same command continues it)")
    g = p.add_argument_group("what to learn from")
    g.add_argument("--scale", choices=SCALE_NAMES, default=_D["scale"],
                   help="preset of sizes (above); auto: gpu when CUDA is available, else cpu (default auto)")
    g.add_argument("--test", action="append", default=[], metavar="DIR",
                   help="pairs tested whole, calibrated on FOLDER's pairs of the same camera and ISO, repeatable "
                   "(e.g. CC15 with FOLDER CC60); default: half the scenes of FOLDER are held out")
    g.add_argument("--clean", action="append", default=[], metavar="DIR",
                   help="clean photos the training data are rendered from, repeatable (default: the photos embedded "
                   "in the package, scikit-image's 8; more and other photos train better)")
    g.add_argument("--camera", metavar="NAME", help="keep only this camera's images (case-insensitive substring); "
                   "images whose EXIF and name carry no camera are taken to be this camera's (default: all)")
    g.add_argument("--iso", type=int_at_least(1), metavar="N",
                   help="ISO of the images whose EXIF and name carry none (default: none; with --camera they form "
                   "one group of unknown ISO)")
    g.add_argument("--group-regex", metavar="REGEX", help="naming rule with named groups camera, iso, scene "
                   "(noisegen.dataset.pairs), tried before the built-in rules (default: built-in rules only)")
    g.add_argument("--fit", metavar="STEP", help="profile fit step per camera-ISO group: quick, calibrate, "
                   "calibrate-camera, ... or module:function (default: the scale's)")
    g.add_argument("--steps", type=int_at_least(1), metavar="N", help="steps of every trained row (default: the "
                   "scale's)")
    g.add_argument("--test-crop", type=int_at_least(0), metavar="P",
                   help="score the held-out images on their P×P centre crops, 0 = whole images (default: the scale's)")
    g.add_argument("--tf-pairs", type=int_at_least(1), metavar="K", help="real calibration pairs of the TF row (f) "
                   "(default: the scale's)")
    g.add_argument("--seed", type=int_at_least(0), default=_D["seed"], help="seed of the split, the data and the "
                   "weights (default 0)")
    g.add_argument("--dbsn", action="store_true",
                   help="add rows (g)-(i), learnt from the noisy calibration images alone (never a clean image): a "
                   "D-BSN (PD 5/2 with R3; tiny at quick and cpu scale), SN on the profile fitted to its "
                   "pseudo-pairs, and their distillation, the denoiser when FOLDER has no pairs; slow on a CPU "
                   "(default off)"),
    g = p.add_argument_group("execution (does not change the report)")
    g.add_argument("--device", choices=DEVICES, default=_D["device"], help="auto: CUDA when available (default auto)")
    g.add_argument("--threads", type=int_at_least(1), metavar="N", help=THREADS_HELP)
    g.add_argument("--workers", type=int_at_least(0), metavar="W",
                   help="data loader processes of each SN row, 0 = in-process (default: 4 on CUDA, 1 on CPU; at most "
                   "the CPU count), and `generate` processes (default 1)")
    g.add_argument("--no-progress", action="store_true", help="no progress bars (step lines still print)")
    p.set_defaults(func=_cmd_camera)


def _cmd_camera(args: argparse.Namespace) -> int:
    from trainer.camera.run import run_camera  # here: `noisegen-train --help` need not import the camera steps

    config = CameraConfig(folder=args.folder, out=args.out, scale=args.scale, test=tuple(args.test),
                          clean=tuple(args.clean), camera=args.camera, iso=args.iso, group_regex=args.group_regex,
                          fit=args.fit, steps=args.steps, test_crop=args.test_crop, k=args.tf_pairs, seed=args.seed,
                          dbsn=args.dbsn,
                          device=args.device, threads=args.threads, workers=args.workers,
                          progress=not args.no_progress)
    command = "noisegen-train " + " ".join(shlex.quote(a) for a in getattr(args, "argv", sys.argv[1:]))
    result = run_camera(config, command=command)
    print(f"{result.out}: report.md, report.json, report.png"
          + (f"; denoiser.pt from row ({result.report['denoiser']['row']})" if result.denoiser else "")
          + f" ({result.seconds:.0f} s)")
    return 0
