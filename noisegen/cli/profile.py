"""Command-line options that choose a camera profile and pin its parameters (shared by commands)."""

from __future__ import annotations

import argparse

from noisegen.cli.output import with_examples
from noisegen.command import float_in
from noisegen.isp.params import SIGMA_PARAM_MAX
from noisegen.isp.profiles import BUILTIN_PROFILES, CameraProfile, fix, resolve_profile

__all__ = ["add_profile_arguments", "profile_from_args", "add_profile_commands"]


def _none_or(cast):
    def parse(text: str):
        if text.lower() in ("none", "off", "no"):
            return None
        try:
            return cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected 'none' or a value of type {cast.__name__}, got {text!r}"
            ) from None
    return parse


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --profile and the overrides that pin single parameters of the profile."""
    g = parser.add_argument_group("camera profile")
    g.add_argument("--profile", default="cbdnet", metavar="NAME|FILE.json",
                   help=f"built-in profile ({', '.join(BUILTIN_PROFILES)}) or a profile JSON file "
                        "(write one with `noisegen profile show cbdnet > mine.json`). Default: cbdnet")
    g.add_argument("--sigma-s", type=float_in(0.0, SIGMA_PARAM_MAX), metavar="S",
                   help=f"fix the signal-dependent noise parameter σ_s for all channels "
                   f"(e.g. 0.08; 0..{SIGMA_PARAM_MAX:g})")
    g.add_argument("--sigma-c", type=float_in(0.0, SIGMA_PARAM_MAX), metavar="C",
                   help=f"fix the signal-independent noise std σ_c for all channels "
                   f"(e.g. 0.02; 0..{SIGMA_PARAM_MAX:g})")
    g.add_argument("--crf", metavar="NAME", help="fix the camera response curve (see `noisegen crf list --bank B`)")
    g.add_argument("--crf-bank", metavar="NAME|FILE.npz", help="CRF bank to draw curves from (default: the profile's)")
    g.add_argument("--pattern", type=_none_or(str), default=argparse.SUPPRESS, metavar="RGGB|BGGR|GRBG|GBRG|none",
                   help="fix the Bayer pattern; 'none' disables mosaicing")
    g.add_argument("--demosaic", choices=("malvar", "bilinear"), help="fix the demosaicing method")
    g.add_argument("--jpeg", type=_none_or(int), default=argparse.SUPPRESS, metavar="Q|none",
                   help="fix JPEG quality 1..100, or 'none' to disable compression")
    g.add_argument("--noise-model", choices=("gaussian", "poisson"), help="fix the noise distribution")
    g.add_argument("--iso", type=int, metavar="ISO",
                   help="fix the ISO of a profile with σ per ISO (calibrated profiles); other ISOs than the "
                   "calibrated ones are interpolated (noisegen.isp.iso)")


def profile_from_args(args: argparse.Namespace) -> CameraProfile:
    """The profile named by --profile with every given override pinned."""
    profile = resolve_profile(args.profile)
    kw = {}
    for name in ("sigma_s", "sigma_c", "crf", "crf_bank", "demosaic", "noise_model", "iso"):
        if getattr(args, name, None) is not None:
            kw[name] = getattr(args, name)
    if hasattr(args, "pattern"):
        kw["pattern"] = args.pattern
    if hasattr(args, "jpeg"):
        kw["jpeg_quality"] = args.jpeg
    return fix(profile, **kw) if kw else profile


def _cmd_list(args: argparse.Namespace) -> int:
    width = max(len(n) for n in BUILTIN_PROFILES)
    for name, p in BUILTIN_PROFILES.items():
        print(f"{name:<{width}}  {p.description}")
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    print(resolve_profile(args.name).to_json())
    return 0


def add_profile_commands(subparsers: argparse._SubParsersAction) -> None:
    """`noisegen profile list|show NAME`."""
    p = subparsers.add_parser("profile", help="list built-in camera profiles or print one as JSON",
                              description="Camera profiles describe the distributions of camera parameters.")
    with_examples(p, """\
examples:
  noisegen profile list
  noisegen profile show unprocess > mine.json && noisegen generate --profile mine.json --out out/mine""")
    sub = p.add_subparsers(dest="profile_command", required=True, metavar="{list,show}")
    lp = sub.add_parser("list", help="list built-in profiles")
    lp.set_defaults(func=_cmd_list)
    sp = sub.add_parser("show", help="print a profile as JSON (a starting point for your own)")
    sp.add_argument("name", metavar="NAME|FILE.json", help="built-in profile name or JSON file")
    sp.set_defaults(func=_cmd_show)
