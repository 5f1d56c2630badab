"""`noisegen calibrate`: fit a camera profile to real pairs of one camera."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from noisegen.cli.output import add_pairs_options, clean_nan, csv_list, skips_text, write_json
from noisegen.command import nonneg_int, positive_int

__all__ = ["add_calibrate_command"]


def _jpeg_list(text: str) -> tuple[int | None, ...]:
    out: list[int | None] = []
    for t in csv_list(text):
        if t.lower() in ("none", "off", "no"):
            out.append(None)
        elif t.isdigit() and 1 <= int(t) <= 100:
            out.append(int(t))
        else:
            raise argparse.ArgumentTypeError(f"expected JPEG qualities 1..100 or none, comma-separated, got {t!r}")
    if not out:
        raise argparse.ArgumentTypeError("expected at least one JPEG option")
    return tuple(out)


def _nr_list(text: str) -> tuple:
    """--nr: 'off', 'grid' (NR_GRID) or comma-separated FLAT:KNEE candidates (off is always tried)."""
    from noisegen.analysis.calibrate.fit import NR_GRID

    if text == "grid":
        return NR_GRID
    out: list = [None]
    for t in csv_list(text):
        if t.lower() in ("off", "none"):
            continue
        f, colon, k = t.partition(":")
        try:
            out.append((float(f), float(k) if colon else 0.02))
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected 'grid', 'off' or FLAT:KNEE pairs such as 0.5:0.02, got {t!r}")
    return tuple(out)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from noisegen.analysis.calibrate.fit import CalibrateConfig, calibrate
    from noisegen.analysis.calibrate.noisy_only import DEFAULT_NOISY_TARGET
    from noisegen.analysis.calibrate.report import plot_calibration
    from noisegen.isp.profiles import save_profile

    if args.noisy_target is not None and not args.noisy_only:
        raise ValueError("--noisy-target says where the noise level of pseudo-pairs comes from: it goes with "
                         "--noisy-only")
    kw = {}
    if args.crf_curves is not None:
        kw["crf_curves"] = () if args.crf_curves == ("all",) else args.crf_curves
    if args.demosaic is not None:
        kw["demosaic"] = args.demosaic
    if args.jpeg is not None:
        kw["jpeg"] = args.jpeg
    if args.nr is not None:
        kw.update(nr=args.nr, texture_weight=1.0 if args.texture_weight is None else args.texture_weight)
    elif args.texture_weight is not None:
        kw["texture_weight"] = args.texture_weight
    config = CalibrateConfig(pairs=tuple(args.pairs), camera=args.camera, iso=tuple(args.iso or ()),
                             group_regex=args.group_regex, crf_bank=args.crf_bank, bins=args.bins,
                             crop=args.crop, max_pixels=args.max_pixels, search_pixels=args.search_pixels,
                             top_k=args.top_k, channels=args.channels, reference=args.reference, spread=args.spread,
                             seed=args.seed, name=args.name, subsampling=args.subsampling,
                             jpeg_from_files=args.jpeg_from_files, noisy_only=args.noisy_only, fast=args.fast,
                             noisy_target=args.noisy_target or DEFAULT_NOISY_TARGET,
                             family=args.family, **kw)
    cal = calibrate(config, echo=lambda s: print(s, file=sys.stderr))
    print(cal.text())
    print(skips_text(cal.skipped, limit=len(cal.skipped)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_profile(cal.profile, out)
    report = args.report or str(out.with_name(out.stem + ".report.json"))
    write_json(report, clean_nan(cal.to_dict()))
    print(f"wrote {out} (use it with `noisegen generate --profile {out}`) and {report}")
    if args.plot:
        plot_calibration(cal, args.plot)
        print(f"wrote {args.plot}")
    return 0


def add_calibrate_command(subparsers: argparse._SubParsersAction) -> None:
    """Register `calibrate`."""
    from noisegen.analysis.calibrate.candidates import FAMILIES
    from noisegen.analysis.calibrate.fit import DEFAULT_JPEG, DEMOSAIC_OPTIONS
    from noisegen.analysis.calibrate.noisy_only import NOISY_TARGETS

    c = subparsers.add_parser(
        "calibrate", help="fit a camera profile (σ ranges, CRF, demosaicing, JPEG) to real pairs of one camera",
        description="Simulate the clean images of the pairs through candidate cameras (a CRF from a bank, "
        "demosaicing on/off, JPEG quality) and fit σ_s, σ_c so that the simulated NLF, autocorrelation and "
        "cross-channel correlation match the real ones; report the fit error per statistic and write a "
        "profile for `noisegen generate --profile OUT`. By default several model families are fitted (the camera "
        "model with and without in-camera noise reduction, an sRGB Gaussian var = a·x + b, AWGN, each with and "
        "without a fitted correlated-noise term) and the one with the lowest held-out AKLD on folds of the pairs "
        "(by scene) is written; the report lists every family's score and why the winner won. --fast fits the "
        "camera model alone. A full report goes to OUT's name + .report.json.")
    c.add_argument("--pairs", action="append", required=True, metavar="DIR",
                   help="folder of real pairs; repeat for several")
    c.add_argument("--noisy-only", action="store_true",
                   help="the pairs are pseudo-pairs of noisy photos alone, written by `noisegen-train pseudo-pairs` "
                   "(gt/ = a D-BSN's output, sigma/ = its noise-level maps); everything is fitted as with real pairs "
                   "except where --noisy-target says, and model selection leaves out the families with the "
                   "correlated-noise term (the pseudo-clean images keep the low-frequency noise)")
    c.add_argument("--noisy-target", choices=NOISY_TARGETS,
                   help="with --noisy-only, where the noise level target comes from: residual = noisy - pseudo-clean; "
                   "sigma = the D-BSN's noise-level maps in sigma/ (the correlations still from the residual); auto "
                   "(default) = residual for a D-BSN trained with --pd (its maps read ~3x high), sigma without (its "
                   "output keeps correlated noise), as measured in docs/results.md")
    c.add_argument("--camera", metavar="NAME", help="camera to fit (exact name or a unique part of it); required when "
                   "the pairs hold several cameras")
    c.add_argument("--iso", type=positive_int, action="append", metavar="ISO",
                   help="use only this ISO; repeat for several")
    c.add_argument("--out", required=True, metavar="PROFILE.json", help="profile file to write")
    c.add_argument("--report", metavar="REPORT.json", help="full report (default: OUT with .report.json)")
    c.add_argument("--plot", metavar="FIT.png", help="figure of the real and fitted NLF per ISO")
    c.add_argument("--name", help="profile name (default calibrated-CAMERA)")
    c.add_argument("--fast", action="store_true",
                   help="fit the camera model alone, without model selection (faster; the behaviour before issue 18)")
    c.add_argument("--family", choices=FAMILIES, metavar="NAME",
                   help=f"force one model family instead of choosing by held-out AKLD: {', '.join(FAMILIES)}")
    add_pairs_options(c)
    c.add_argument("--crf-bank", default="default", metavar="NAME|FILE.npz",
                   help="bank of candidate curves (default: default)")
    c.add_argument("--crf-curves", type=csv_list, metavar="A,B,...",
                   help="candidate curves ('all' = the whole bank; default: the still-camera curves of the "
                   "cbdnet profile)")
    c.add_argument("--demosaic", type=csv_list, metavar="OPT[,OPT]",
                   help=f"demosaicing options among {', '.join(DEMOSAIC_OPTIONS)} (default: all)")
    c.add_argument("--jpeg", type=_jpeg_list, metavar="Q[,Q]",
                   help="JPEG options, 'none' or qualities (default: "
                   f"{','.join('none' if q is None else str(q) for q in DEFAULT_JPEG)})")
    c.add_argument("--subsampling", type=csv_list, default=("4:2:0",), metavar="S[,S]",
                   help="JPEG chroma subsamplings tried with every quality: 4:2:0, 4:2:2, 4:4:4 (default 4:2:0)")
    c.add_argument("--jpeg-from-files", action="store_true",
                   help="when every noisy file is a JPEG, use the quality and subsampling read from the files "
                   "instead of searching --jpeg and --subsampling")
    c.add_argument("--nr", type=_nr_list, metavar="grid|FLAT:KNEE,...",
                   help="search in-camera noise reduction (noisegen.isp.nr) after the curve: 'grid' (flat gains "
                   "0.85-0.25 × knees 0.01-0.04) or FLAT:KNEE candidates; off is always tried (default: not searched)")
    c.add_argument("--texture-weight", type=float, metavar="W",
                   help="weight of the noise-std-per-clean-texture term in the loss (default 1 with --nr, else 0)")
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
