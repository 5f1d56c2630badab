"""`noisegen synth`: simulate the camera on one image and write what it did, to look at."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from noisegen.analysis.nlf import psnr
from noisegen.atomic import atomic_write
from noisegen.cli.profile import add_profile_arguments, profile_from_args
from noisegen.command import pixel_count
from noisegen.dataset.images import DEFAULT_MAX_PIXELS, MAX_PIXELS_HINT, read_rgb8, write_png
from noisegen.dataset.samples import default_photo
from noisegen.isp.pipeline import synthesize
from noisegen.isp.sampling import sample_params

__all__ = ["add_synth_command", "plot_sigma_map"]


def plot_sigma_map(sigma_raw: np.ndarray, path: str | os.PathLike[str], title: str = "") -> None:
    """Save a figure of a σ map (H×W×3): one heat map per channel with a shared colour bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    h, w, _ = sigma_raw.shape
    fig, axes = plt.subplots(1, 3, figsize=(12, 4.2 * h / max(w, 1) + 0.8), constrained_layout=True)
    vmax = max(float(sigma_raw.max()), 1e-6)
    for c, (ax, name) in enumerate(zip(axes, "RGB")):
        im = ax.imshow(sigma_raw[:, :, c], cmap="magma", vmin=0.0, vmax=vmax, interpolation="nearest")
        ax.set_title(f"σ_raw {name}: mean {sigma_raw[:, :, c].mean():.4f}")
        ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.8, label="noise std (full scale)")
    if title:
        fig.suptitle(title, fontsize=9)
    try:
        atomic_write(path, lambda f: fig.savefig(f, dpi=100, format="png"))
    finally:
        plt.close(fig)


OUTPUTS = ("clean.png", "noisy.png", "sigma_map.png", "sigma_raw.npy", "params.json")


def _cmd_synth(args: argparse.Namespace) -> int:
    out = Path(args.out)
    clash = [n for n in OUTPUTS if (out / n).exists()]
    if clash and not args.overwrite:
        raise FileExistsError(f"{out} already holds {', '.join(clash)}; choose another --out, or pass --overwrite")
    profile = profile_from_args(args)
    if args.image is None:
        args.image = str(default_photo())
        print(f"no IMAGE given: using the bundled sample photo {args.image}")
    clean, conversions = read_rgb8(args.image, max_pixels=args.max_pixels, hint=MAX_PIXELS_HINT)
    params = sample_params(profile, np.random.default_rng([args.seed, 0]))
    s = synthesize(clean, params, seed=[args.seed, 1])
    out.mkdir(parents=True, exist_ok=True)
    write_png(out / "clean.png", s.clean)
    write_png(out / "noisy.png", s.noisy)
    np.save(out / "sigma_raw.npy", s.sigma_raw)
    title = (f"{params.camera}  crf={params.crf}  σ_s={[round(v, 4) for v in params.sigma_s]}  "
             f"σ_c={[round(v, 4) for v in params.sigma_c]}  pattern={params.pattern}  jpeg={params.jpeg_quality}")
    plot_sigma_map(s.sigma_raw, out / "sigma_map.png", title)
    record = {"image": str(args.image), "conversions": conversions, "seed": args.seed,
              "params_seed": [args.seed, 0], "noise_seed": [args.seed, 1], "params": params.to_dict()}
    (out / "params.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}/{', '.join(OUTPUTS)}")
    print(f"{title}\nPSNR(noisy, clean) = {psnr(s.clean, s.noisy):.2f} dB, mean σ_raw = {s.sigma_raw.mean():.4f}")
    return 0


def add_synth_command(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="simulate the camera noise model on one image (writes noisy.png, clean.png, sigma_map.png)",
        description="Draw camera parameters from a profile (seeded), simulate the camera on IMAGE and write "
        "clean.png, noisy.png, a picture of the σ map (sigma_map.png), the σ map itself (sigma_raw.npy, float32 "
        "H×W×3) and params.json. Parameters are drawn with seed [SEED, 0], noise with [SEED, 1]. "
        "Existing outputs in --out are not overwritten unless --overwrite is given.",
        epilog="example: noisegen synth photo.png --profile cbdnet --seed 0 --out out/one",
    )
    p.add_argument("image", metavar="IMAGE", nargs="?", default=None,
                   help="input image (PNG/JPEG/BMP/TIFF; gray, RGBA and 16-bit are converted); "
                   "default: a photo bundled with scikit-image")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument("--overwrite", action="store_true", help="replace the outputs of an earlier run in --out")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed → same bytes")
    p.add_argument("--max-pixels", type=pixel_count, default=DEFAULT_MAX_PIXELS, metavar="N",
                   help=f"refuse images larger than N pixels, e.g. 150M (default {DEFAULT_MAX_PIXELS // 10**6}M; the "
                   "camera simulation holds several float copies of the image)")
    add_profile_arguments(p)
    p.set_defaults(func=_cmd_synth)
