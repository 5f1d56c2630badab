"""`noisegen-train da`: the SN stage adapted to a camera's noisy photos by Noise-DA, built on DAConfig.

Every `sn` option keeps its meaning (trainer.cli.train.add_sn_options); the Noise-DA options are
DAConfig's fields (trainer.stages.da_config). Options left out keep the config's default or, with
--resume, the checkpoint's value.
"""

from __future__ import annotations

import argparse
import dataclasses

from noisegen.command import int_at_least
from trainer.cli.train import _FILES, _absolute, _add_run_options, _float, _run_stage, add_sn_options
from trainer.stages.da import adapt
from trainer.stages.da_config import DAConfig

__all__ = ["add_da_command"]

_DA = {f.name: f.default for f in dataclasses.fields(DAConfig)}


def add_da_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train da`: SN training plus Noise-DA's diffusion loss on real noisy photos (trainer.stages.da)."""
    p = sub.add_parser(
        "da", help="SN stage adapted to a camera's noisy photos (Noise-DA: diffusion loss, no clean pairs)",
        argument_default=argparse.SUPPRESS, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"""\
Denoising as adaptation (Liao et al., ICLR 2025): AINDNet trains on synthetic-noise shards with
the SN loss, exactly as `sn`; a small conditional diffusion network learns jointly to predict the
noise added to clean images, conditioned on AINDNet's outputs on synthetic inputs and on the
camera's real noisy photos (--real, no clean images needed). Its loss, weighted by
alpha = w (2 / (1 + exp(-5 p)) - 1) with p the training progress, flows back into AINDNet and pulls
its outputs on real photos towards clean images. Channel shuffling and a residual-swapping
contrastive term keep the diffusion network from telling the two conditions apart. Only AINDNet
is used afterwards: `eval` and `denoise` read the run like an SN run. --da-weight 0 is the SN
stage, bit for bit. Writes in RUN:
{_FILES}
The checkpoints also hold the diffusion network ("aux"); metrics.jsonl adds noise, mse, contrast, alpha.""",
        epilog="""\
examples:
  noisegen generate --images photos/ --out ds --patch 96
  noisegen-train da --data ds --real my_camera_photos/ --out runs/da --val my_pairs/
  noisegen-train da --data ds --real my_camera_photos/ --ref clean_photos/ --out runs/da2 --model small \\
      --steps 3000 --device cpu --threads 1 --workers 1
  noisegen-train da --out runs/da --resume
  noisegen-train eval runs/da --pairs my_pairs/""",
    )
    add_sn_options(p)
    g = p.add_argument_group("Noise-DA")
    g.add_argument("--real", metavar="DIR",
                   help="the camera's noisy photos: the images directly in DIR (sorted by name), or the noisy side of "
                   "a pairs folder or `noisegen pack-pairs` dataset. Required unless --resume finds a checkpoint")
    g.add_argument("--real-images", type=int_at_least(1), metavar="K", help="use the first K of them (default all)")
    g.add_argument("--ref", metavar="DIR",
                   help="clean reference images of the diffusion network (images in DIR, or the clean side of pairs); "
                   "default: the synthetic batch's own clean patches (no other clean images)")
    g.add_argument("--da-weight", type=_float, metavar="W",
                   help=f"w of the diffusion loss weight alpha (default {_DA['da_weight']:g}, the authors' code); "
                   "0 = the SN stage")
    g.add_argument("--da-ramp", type=_float, metavar="F",
                   help="alpha reaches its plateau after this fraction of --steps (default 1: p = step / steps)")
    g.add_argument("--da-batch", type=int_at_least(1), metavar="M",
                   help="real crops and diffusion samples per step, at most --batch (default: half the batch)")
    g.add_argument("--shuffle", action=argparse.BooleanOptionalAction,
                   help="channel shuffling: swap the synthetic and real condition per sample at random (default on)")
    g.add_argument("--contrastive", action=argparse.BooleanOptionalAction,
                   help="the residual-swapping contrastive term (default on)")
    g.add_argument("--margin", type=_float, metavar="M",
                   help=f"margin of the contrastive term (default {_DA['margin']:g})")
    g.add_argument("--diffusion-widths", type=int_at_least(1), nargs="+", metavar="C",
                   help="channels per level of the diffusion U-Net (default 12 24 48); --patch must be a multiple of "
                   "2^(levels - 1)")
    g.add_argument("--timesteps", type=int_at_least(2), metavar="T", help="DDPM steps (default 1000)")
    g.add_argument("--beta-start", type=_float, metavar="B", help="first beta of the linear schedule (default 1e-6)")
    g.add_argument("--beta-end", type=_float, metavar="B", help="last beta of the linear schedule (default 1e-2)")
    _add_run_options(p, DAConfig)
    p.set_defaults(func=_cmd_da)


def _cmd_da(args: argparse.Namespace) -> int:
    for name in ("real", "ref"):
        if isinstance(getattr(args, name, None), str):
            setattr(args, name, _absolute(getattr(args, name)))
    required = {"data": "a noisegen dataset folder, shard files, a brace pattern or pipe: URLs",
                "real": "a folder of the camera's noisy photos"}
    return _run_stage("da", args, adapt, DAConfig, required)
