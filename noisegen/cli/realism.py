"""`noisegen realism`: score noise models (camera profiles, baselines, fitted profiles) against held-out real pairs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from noisegen.cli.output import add_pairs_options, clean_nan, skips_text, write_json
from noisegen.command import default_workers, fraction, int_at_least, nonneg_int, positive_int

__all__ = ["add_realism_command"]

_EXAMPLES = """\
examples:
  # one folder, split by scene within each camera-ISO group; baselines and cbdnet
  noisegen realism --pairs ../shared/data/PolyU100 --out out/realism-polyu
  # also fit a profile per group with noisegen calibrate on the calibration scenes (held out)
  noisegen realism --pairs ../shared/data/CC60 --fit calibrate --draws 8 --workers 2 --out out/realism-cc60
  # a profile you fitted yourself on --calib, scored on --test
  noisegen calibrate --pairs calib/ --camera Nikon_D800 --iso 3200 --out d800.json
  noisegen realism --calib calib/ --test test/ --profile d800.json --camera Nikon_D800 --iso 3200
  # a profile fitted elsewhere: say on what (or 'none'), so that no fitting pair is scored
  noisegen realism --pairs ../shared/data/CC60 --profile mine.json --fitted-on none

AKLD (Yue et al., DANet, ECCV 2020; lower is better) is computed exactly as DANet's code does (see
noisegen.analysis.realism.akld). Published anchors on SIDD sRGB validation: CBDNet's model 0.728 and DANet 0.212
(both reported by DANet), PNGAN 0.153 (Cai et al., NeurIPS 2021).
"""


def _cmd_realism(args: argparse.Namespace) -> int:
    from noisegen.analysis.realism.protocol import RealismConfig, run_realism

    user = list(args.profile or [])
    profiles = user if args.no_reference else ["cbdnet"] + [p for p in user if p != "cbdnet"]
    fit = args.fit or ("calibrate" if args.calibrate else None)
    config = RealismConfig(pairs=tuple(args.pairs or ()), calib=tuple(args.calib or ()), test=tuple(args.test or ()),
                           profiles=tuple(profiles), fitted_on=tuple(args.fitted_on or ()), fit=fit, split=args.split,
                           seed=args.seed, draws=args.draws, camera=args.camera, iso=tuple(args.iso or ()),
                           group_regex=args.group_regex, crop=args.crop, in_sample=args.in_sample, bins=args.bins,
                           min_count=args.min_count, max_clip=args.max_clip, figure_pairs=args.figure_pairs,
                           workers=default_workers(args.workers))
    report = run_realism(config, echo=lambda s: print(s, file=sys.stderr), progress=not args.no_progress)
    text = report.markdown()
    print(text, end="")
    print(skips_text(report.skipped_files))
    out = Path(args.out) if args.out else None
    json_path = args.json or (out / "realism.json" if out else None)
    md_path = args.table or (out / "realism.md" if out else None)
    png_path = args.plot or (out / "realism.png" if out else None)
    if json_path:
        write_json(str(json_path), clean_nan(report.to_dict()))
        print(f"wrote {json_path}")
    if md_path:
        Path(md_path).parent.mkdir(parents=True, exist_ok=True)
        Path(md_path).write_text(text)
        print(f"wrote {md_path}")
    if png_path and config.figure_pairs > 0:
        from noisegen.analysis.realism.plot import plot_realism

        plot_realism(report, png_path)
        print(f"wrote {png_path}")
    return 0


def add_realism_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `realism`."""
    from noisegen.analysis.realism.models import FIT_STEPS
    from noisegen.analysis.realism.split import DEFAULT_SPLIT

    r = subparsers.add_parser(
        "realism", help="score noise models against held-out real pairs: AKLD, NLF, correlations, 8×8 blocks",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_EXAMPLES,
        description="Per camera-ISO group of real noisy/clean pairs, simulate each model on the clean images of the "
        "test pairs (L draws with explicit seeds) and compare the simulated residuals with the real ones: AKLD, the "
        "NLF per intensity bin, lag-1/2 autocorrelation, cross-channel correlation and 8×8 block statistics "
        "(JPEG). Two baselines are fitted on the calibration pairs of each group and printed beside every score: "
        "AWGN with one std and an sRGB Gaussian with var = a·x + b per channel. Held out by default: no model is "
        "scored on a pair it was fitted on unless --in-sample is given. Writes JSON, a Markdown table and a figure "
        "of real vs simulated local log-variance maps next to the NLF.")
    src = r.add_argument_group("pairs (one of)")
    src.add_argument("--pairs", action="append", metavar="DIR",
                     help="folder of real pairs, split by scene within each camera-ISO group (--split); repeatable")
    src.add_argument("--calib", action="append", metavar="DIR",
                     help="folder of calibration pairs (baselines and fits use only these); repeatable; with --test")
    src.add_argument("--test", action="append", metavar="DIR", help="folder of test pairs (scored); repeatable")
    mod = r.add_argument_group("models")
    mod.add_argument("--profile", action="append", metavar="NAME|FILE.json",
                     help="camera profile to score (built-in name or JSON file, e.g. from `noisegen calibrate`); "
                     "repeatable. The built-in cbdnet is always scored for reference")
    mod.add_argument("--fitted-on", action="append", metavar="DIR|REPORT.json|none",
                     help="the pairs the --profile files were fitted on (a folder of pairs or the calibrate report), "
                     "or 'none'; a calibrate report beside the profile (NAME.report.json) is read by itself, and "
                     "with --calib the calibration pairs count as fitting pairs")
    mod.add_argument("--fit", metavar="STEP",
                     help=f"fit a profile per camera-ISO group on its calibration pairs and score it: "
                     f"{', '.join(FIT_STEPS)} or module:function (pairs, camera, iso, seed) -> CameraProfile")
    mod.add_argument("--calibrate", action="store_true", help="the same as --fit calibrate")
    mod.add_argument("--no-reference", action="store_true", help="do not score the built-in cbdnet profile")
    how = r.add_argument_group("protocol")
    how.add_argument("--split", default=DEFAULT_SPLIT, metavar="calib:N,test:rest",
                     help="scene split of --pairs within each group, in pack-pairs' syntax (N pairs or N%%; whole "
                     f"scenes). Default: {DEFAULT_SPLIT.replace('%', '%%')}")
    how.add_argument("--seed", type=nonneg_int, default=0, help="split, parameter draws and noise (default 0)")
    how.add_argument("--draws", type=positive_int, default=8, metavar="L",
                     help="simulated draws per test pair and model (default 8)")
    how.add_argument("--camera", metavar="NAME", help="only groups whose camera contains NAME (case-insensitive)")
    how.add_argument("--iso", type=positive_int, action="append", metavar="ISO", help="only this ISO; repeatable")
    add_pairs_options(how)
    how.add_argument("--crop", type=int_at_least(16, "an integer >= 16"), metavar="N",
                     help="score the centre N×N crop of every pair (default: whole images)")
    how.add_argument("--in-sample", action="store_true",
                     help="score the calibration pairs themselves (biased low; for diagnosis only)")
    how.add_argument("--bins", type=positive_int, default=16, help="NLF bins over the clean intensity (default 16)")
    how.add_argument("--min-count", type=positive_int, default=1000, metavar="N",
                     help="fewest pixels for a valid NLF bin (default 1000)")
    how.add_argument("--max-clip", type=fraction, default=0.01, metavar="F",
                     help="largest clipped fraction in a valid NLF bin and a fitted code (default 0.01)")
    how.add_argument("--workers", type=positive_int, metavar="W",
                     help="parallel processes for fitting and scoring (default: one per CPU core; at most the CPU "
                     "count)")
    out = r.add_argument_group("outputs")
    out.add_argument("--out", metavar="DIR", help="write DIR/realism.json, realism.md and realism.png")
    out.add_argument("--json", metavar="FILE.json", help="JSON report (overrides --out's)")
    out.add_argument("--table", metavar="FILE.md", help="Markdown report (overrides --out's)")
    out.add_argument("--plot", metavar="FILE.png", help="figure (overrides --out's)")
    out.add_argument("--figure-pairs", type=nonneg_int, default=3, metavar="N",
                     help="rows of the figure: the first test pair of the first N groups (default 3)")
    out.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=_cmd_realism)
