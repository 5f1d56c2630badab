"""The `noisegen-train` command: one subcommand per job, each built on a configuration dataclass.

    noisegen-train sn --data DATASET --out RUN [options]      SN stage on synthetic-noise shards
    noisegen-train tf --init RUN_SN --data PAIRS --out RUN_TF  TF stage / RT / R on real pairs (trainer.transfer)
    noisegen-train eval CHECKPOINT --pairs DIR [options]      PSNR/SSIM on real pairs (trainer.evaluate)
    noisegen-train denoise CHECKPOINT IMAGE... --out DIR      denoised PNGs (trainer.denoise)

(Each command adds an ``add_<name>_command(subparsers)`` below.)
Multi-GPU / multi-node: ``torchrun --nproc_per_node N -m trainer sn ...``.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from noisegen.command import int_at_least, run_command
from trainer.train_config import AMP_MODES, DEVICES, SCHEDULES, TrainConfig

__all__ = ["build_parser", "main", "add_sn_command", "add_tf_command", "add_eval_command", "add_denoise_command",
           "sn_config_from_args"]

_D = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
# Options of `sn` that are not TrainConfig fields.
_RUN_OPTIONS = ("resume", "stop_after")
# CLI name → TrainConfig field, where they differ.
_FIELD = {"warmup": "warmup_steps", "no_progress": "progress"}


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def add_sn_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train sn`: train AINDNet's SN stage (trainer.loop.train) from TrainConfig options."""
    S = argparse.SUPPRESS  # unspecified options stay absent: --resume keeps the checkpoint's values
    p = sub.add_parser(
        "sn", help="train AINDNet on synthetic-noise shards (SN stage)", argument_default=S,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Train AINDNet's SN stage (Kim et al., CVPR 2020): L1 + 0.05 x multi-scale asymmetric
sigma loss (--asymm-weight), Adam, on WebDataset shards made by `noisegen generate`, streamed (never
loaded whole). Writes in RUN:
  metrics.jsonl    JSON lines: loss, lr, grad norm, samples/s, validation PSNR
  curves.png       loss and validation PSNR against the step
  last.pt          checkpoint every --ckpt-every steps (atomic; weights_only loading)
  best.pt          checkpoint of the best validation PSNR (first --val set)
  config.json      the resolved configuration, versions, parameter count
  data-rank*.json  shards each process read, damaged data skipped
Defaults given as 'CUDA/CPU' depend on the device.""",
        epilog="""\
examples:
  noisegen generate --images photos/ --out ds --patch 256
  noisegen-train sn --data ds --out runs/sn --val ../shared/data/Kodak24 --val ../shared/data/CC15
  noisegen-train sn --data ds --out runs/cpu --model tiny --steps 3000 --device cpu --threads 1
  noisegen-train sn --out runs/sn --resume      # continue where it stopped, same settings
  torchrun --standalone --nproc_per_node 8 -m trainer sn \\
      --data 'ds/shard-{000000..000999}.tar' --out runs/x""",
    )
    g = p.add_argument_group("data")
    g.add_argument("--data", action="append", metavar="DATASET",
                   help="training shards: a noisegen dataset folder, a shard file, a brace pattern "
                   "('d/shard-{000000..000099}.tar') or a 'pipe:' URL ('pipe:curl -s https://host/shard-000000.tar'); "
                   "repeat to combine. Required unless --resume finds a checkpoint")
    g.add_argument("--patch", type=int_at_least(8), metavar="P",
                   help="side of the random training crop, a multiple of 4 (default: 256 on CUDA as the paper, "
                   "64 on CPU)")
    g.add_argument("--batch", type=int_at_least(1), metavar="B",
                   help="samples per step per process; global batch = B × processes (default: 16 CUDA, 8 CPU)")
    g.add_argument("--workers", type=int_at_least(0), metavar="W",
                   help="data loader processes per training process, 0 = in-process (default: 4 CUDA, 1 CPU)")
    g.add_argument("--shuffle-buffer", type=int_at_least(1), metavar="N",
                   help=f"samples in each loader's shuffle buffer (default {_D['shuffle_buffer']})")
    g.add_argument("--shards-per-round", type=int_at_least(1), metavar="N",
                   help=f"shards each loader reads at once, interleaved at random (default {_D['shards_per_round']})")

    g = p.add_argument_group("model and optimisation")
    g.add_argument("--model", choices=("paper", "tiny"),
                   help="paper: 13.76M parameters (DESIGN.md §5); tiny: 76K, same code path, for CPU (default paper)")
    g.add_argument("--steps", type=int_at_least(1), metavar="N",
                   help=f"optimiser steps of the whole run (default {_D['steps']})")
    g.add_argument("--lr", type=_float, metavar="LR", help=f"peak Adam learning rate (default {_D['lr']:g})")
    g.add_argument("--betas", type=_float, nargs=2, metavar=("B1", "B2"), help="Adam betas (default 0.9 0.999)")
    g.add_argument("--schedule", choices=SCHEDULES,
                   help="learning-rate schedule after warm-up: cosine to lr × --min-lr-ratio, step (× --gamma at each "
                   "fraction of the run in --milestones) or constant (default cosine)")
    g.add_argument("--warmup", type=int_at_least(0), metavar="N",
                   help="linear warm-up steps (default: 1%% of --steps, at most 1000)")
    g.add_argument("--min-lr-ratio", type=_float, metavar="R",
                   help=f"final/peak lr of the cosine schedule (default {_D['min_lr_ratio']})")
    g.add_argument("--milestones", type=_float, nargs="+", metavar="F",
                   help="fractions of the run where 'step' multiplies lr by --gamma (default 0.5 0.75)")
    g.add_argument("--gamma", type=_float, help=f"factor of the 'step' schedule (default {_D['gamma']})")
    g.add_argument("--clip-norm", type=_float, metavar="C",
                   help=f"clip the global gradient norm to C, 0 = off (default {_D['clip_norm']})")
    g.add_argument("--asymm-weight", type=_float, metavar="L",
                   help=f"weight of the multi-scale asymmetric sigma loss (default {_D['asymm_weight']}, the paper's)")
    g.add_argument("--seed", type=int_at_least(0),
                   help="seed of the initial weights and of all data streams (default 0)")

    g = p.add_argument_group("validation and outputs")
    g.add_argument("--out", metavar="RUN", required=True, help="run folder (created); holds the checkpoints and logs")
    g.add_argument("--val", action="append", metavar="DIR",
                   help="validation set, repeatable: a folder of clean images (gets synthetic noise from "
                   "--val-profile with --val-seed), a folder with noisy/ and gt/ (real pairs, matched by name), or a "
                   "noisegen dataset folder (one exact pass). The first one picks best.pt")
    g.add_argument("--val-every", type=int_at_least(1), metavar="K",
                   help=f"validate every K steps and at the end (default {_D['val_every']})")
    g.add_argument("--val-profile", metavar="NAME|FILE.json",
                   help="camera profile of synthetic validation noise (default: the training dataset's profile from "
                   "its dataset.json, else cbdnet)")
    g.add_argument("--val-seed", type=int_at_least(0), help="seed of the synthetic validation noise (default 0)")
    g.add_argument("--val-max-images", type=int_at_least(1), metavar="N",
                   help="use the first N images of each set (default all; for a dataset folder, N per process)")
    g.add_argument("--val-crop", type=int_at_least(8), metavar="P",
                   help="centre-crop validation images to P×P (default whole)")
    g.add_argument("--ckpt-every", type=int_at_least(1), metavar="K",
                   help=f"write RUN/last.pt every K steps (default {_D['ckpt_every']})")
    g.add_argument("--log-every", type=int_at_least(1), metavar="K",
                   help=f"log the mean loss every K steps (default {_D['log_every']})")
    g.add_argument("--no-progress", action="store_const", const=False, help="no progress bar")

    g = p.add_argument_group("execution")
    g.add_argument("--device", choices=DEVICES, help="auto: CUDA when available (default auto)")
    g.add_argument("--amp", choices=AMP_MODES, help="bf16: autocast to bfloat16 (default: bf16 on CUDA, none on CPU)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="NHWC memory format (default on: faster on CUDA and, measured, on CPU)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="torch.compile the model (slow start, faster long GPU runs; default off)")
    g.add_argument("--threads", type=int_at_least(1), metavar="N",
                   help="torch threads per training process on CPU (default: the cores left after the loader "
                   "workers, at least 1)")
    g.add_argument("--resume", action="store_true",
                   help="continue RUN from RUN/last.pt with the checkpoint's settings; options given now replace "
                   "them, and only these may change: --steps, --val*, --ckpt-every, --log-every, --workers, "
                   "--threads, --compile, --no-progress. Reaches the same weights as an uninterrupted run (same "
                   "--workers and --threads). Starts a new run when there is no checkpoint")
    g.add_argument("--stop-after", type=int_at_least(1), metavar="N",
                   help="stop this invocation once N steps in total are done, writing RUN/last.pt (e.g. to fit a "
                   "job time limit); the schedule still spans --steps; continue with --resume")
    p.set_defaults(func=_cmd_sn)


def _absolute(entry: str) -> str:
    """Local paths become absolute (a resumed run may start elsewhere); patterns and URLs stay."""
    if entry.startswith("pipe:") or "://" in entry or "{" in entry:
        return entry
    return str(Path(entry).expanduser().resolve())


def sn_config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, bool, int | None]:
    """(TrainConfig, resume, stop_after) from parsed `sn` options.

    With --resume and a checkpoint in RUN, the checkpoint's configuration is the base and only the
    options given on the command line replace its values.
    """
    given = {k: v for k, v in vars(args).items() if k not in ("command", "func") + _RUN_OPTIONS}
    fields = {_FIELD.get(k, k): v for k, v in given.items()}
    for name in ("data", "val"):
        if name in fields:
            fields[name] = tuple(_absolute(e) for e in fields[name])
    resume = bool(getattr(args, "resume", False))
    stop_after = getattr(args, "stop_after", None)
    last = Path(args.out) / "last.pt"
    if resume and last.exists():
        from trainer.checkpoint import load_checkpoint

        base = dict(load_checkpoint(last)["train_config"])
        base.update(fields)
        return TrainConfig.from_dict(base), resume, stop_after
    if "data" not in fields:
        raise ValueError("--data is required (a noisegen dataset folder, shard files, a brace pattern or pipe: URLs)"
                         + (f"; --resume found no checkpoint in {args.out}" if resume else ""))
    return TrainConfig(**fields), resume, stop_after


def _cmd_sn(args: argparse.Namespace) -> int:
    from trainer.loop import train

    config, resume, stop_after = sn_config_from_args(args)
    result = train(config, resume=resume, stop_after=stop_after)
    if result.rank == 0:
        print(f"{result.out}: step {result.step}, loss {result.loss if result.loss is None else f'{result.loss:.5f}'}"
              + (f", best validation PSNR {result.best_psnr:.2f} dB" if result.best_psnr is not None else ""))
    return 0


def _add_inference_options(p: argparse.ArgumentParser) -> None:
    """Options shared by `eval` and `denoise`: tiling, AIN statistics, self-ensemble, device, progress."""
    from trainer.inference import AUTO_TILE, AUTO_TILE_PIXELS

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
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto (CUDA if any)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_eval_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train eval`: PSNR/SSIM of a checkpoint on real pairs (trainer.evaluate.EvalConfig)."""
    from trainer.inference import AUTO_TILE, AUTO_TILE_PIXELS

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
  noisegen-train eval runs/sn/best.pt --pairs ../shared/data/CC15 --pairs ../shared/data/PolyU100
  noisegen-train eval runs/tf/best.pt --pairs packed/test --ensemble --json runs/tf/eval.json""",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="trainer checkpoint (best.pt / last.pt of a run)")
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
    from trainer.evaluate import EvalConfig, evaluate_checkpoint, print_report

    config = EvalConfig(checkpoint=args.checkpoint, pairs=tuple(args.pairs), ensemble=args.ensemble, json=args.json,
                        tile=args.tile, overlap=args.overlap, tile_stats=args.tile_stats,
                        group_regex=args.group_regex,
                        max_images=args.max_images, device=args.device, progress=not args.no_progress)
    print_report(evaluate_checkpoint(config))
    return 0


def add_denoise_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train denoise`: denoise image files into PNGs (trainer.denoise.DenoiseConfig)."""
    from trainer.denoise import SIGMA_DISPLAY_MAX
    from trainer.inference import AUTO_TILE, AUTO_TILE_PIXELS

    p = sub.add_parser(
        "denoise", help="denoise photos with a checkpoint, writing PNGs",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"""\
Denoise each IMAGE (files, or folders searched recursively) with CHECKPOINT and write
OUT/NAME_denoised.png (8-bit sRGB) and, with --sigma-map, OUT/NAME_sigma.png (the estimated
noise level per channel, black 0 to white {SIGMA_DISPLAY_MAX} on the [0, 1] scale). Any size: images
above {AUTO_TILE_PIXELS} pixels go in {AUTO_TILE}x{AUTO_TILE} tiles that use the whole image's AIN
statistics and are blended over their overlap. Unreadable inputs and existing outputs (without
--overwrite) are reported and skipped; the exit status is 1 when anything was skipped.""",
        epilog="""\
examples:
  noisegen-train denoise runs/tf/best.pt photo.jpg --out denoised --sigma-map
  noisegen-train denoise runs/tf/best.pt shots/ --out denoised --tile 512 --device cpu""",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="trainer checkpoint (best.pt / last.pt of a run)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders of images")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    p.add_argument("--sigma-map", action="store_true", help="also write the estimated sigma map as NAME_sigma.png")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip those inputs)")
    _add_inference_options(p)
    p.set_defaults(func=_cmd_denoise)


def _cmd_denoise(args: argparse.Namespace) -> int:
    from trainer.denoise import DenoiseConfig, denoise_images

    config = DenoiseConfig(checkpoint=args.checkpoint, images=tuple(args.images), out=args.out,
                           sigma_map=args.sigma_map, overwrite=args.overwrite, tile=args.tile, overlap=args.overlap,
                           ensemble=args.ensemble, tile_stats=args.tile_stats, device=args.device,
                           progress=not args.no_progress)
    result = denoise_images(config)
    print(f"{len(result.written)} files written to {args.out} in {result.seconds:.1f} s")
    if result.skipped:
        print(f"skipped {len(result.skipped)}:")
        for m in result.skipped:
            print(f"  {m}")
    return 1 if result.skipped else 0


def add_tf_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train tf`: TF stage (and the RT / R comparisons) on real pairs (trainer.transfer.TFConfig)."""
    from trainer.transfer import TF_MODES, TFConfig

    d = {f.name: f.default for f in dataclasses.fields(TFConfig)}
    p = sub.add_parser(
        "tf", help="adapt an SN model to real noise with a few real pairs (TF stage)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="""\
Transfer learning (Kim et al., CVPR 2020): from the SN run's weights, train only the AIN
modules, the noise estimator and the last conv on real pairs with the L1 loss; everything else
stays bit-identical. Prints the table of trainable and frozen parameters. --mode rt retrains
every parameter from the SN weights; --mode r trains the same architecture from scratch on the
real pairs (the paper's comparisons). --mode n2n trains the same parameters as tf on noisy
images only, with the Neighbor2Neighbor loss (Huang et al., CVPR 2021): --data may then be a
folder of noisy photos without clean targets (of a pairs folder or dataset only the noisy
images are used) and --patch must be a multiple of 8. Writes OUT/last.pt, OUT/config.json,
OUT/metrics.jsonl.""",
        epilog="""\
examples:
  noisegen pack-pairs ../shared/data/PolyU100 --out packed --split train:32,test:rest --whole test
  noisegen-train tf --init runs/sn --data packed/train --out runs/tf --pairs 16
  noisegen-train eval runs/tf/last.pt --pairs packed/test
  noisegen-train tf --init runs/sn --data ../shared/data/RNI15 --out runs/n2n --mode n2n""",
    )
    p.add_argument("--init", required=True, metavar="RUN_SN",
                   help="SN run folder (best.pt, else last.pt) or checkpoint")
    p.add_argument("--data", required=True, metavar="PAIRS_DATASET",
                   help="`noisegen pack-pairs` dataset folder, or a folder of real pairs; for --mode n2n also a "
                   "folder of noisy images (those directly in it, sorted by name)")
    p.add_argument("--out", required=True, metavar="RUN_TF", help="run folder (created; must hold no last.pt)")
    p.add_argument("--pairs", type=int_at_least(1), metavar="K",
                   help="use only the first K real pairs in the source's order (n2n: the first K noisy images; "
                   "default all)")
    p.add_argument("--mode", choices=TF_MODES, default=d["mode"],
                   help="tf: AINs + estimator + last conv (default); rt: all from SN; r: all from scratch; "
                   "n2n: the parameters of tf, self-supervised on noisy images (Neighbor2Neighbor)")
    p.add_argument("--steps", type=int_at_least(1), default=d["steps"], metavar="N",
                   help=f"Adam steps (default {d['steps']})")
    p.add_argument("--batch", type=int_at_least(1), default=d["batch"], metavar="B",
                   help=f"crops per step (default {d['batch']})")
    p.add_argument("--patch", type=int_at_least(4), default=d["patch"], metavar="P",
                   help=f"crop side, rounded down to the model's size multiple; n2n: must be a multiple of twice it "
                   f"(8) (default {d['patch']})")
    p.add_argument("--lr", type=_float, default=d["lr"], metavar="LR", help=f"Adam learning rate (default {d['lr']:g})")
    p.add_argument("--seed", type=int_at_least(0), default=d["seed"],
                   help="seed of the crops, of n2n's masks and of mode r's weights")
    p.add_argument("--log-every", type=int_at_least(1), default=d["log_every"], metavar="K",
                   help=f"log the mean L1 (n2n: the N2N loss and gamma) every K steps (default {d['log_every']})")
    p.add_argument("--n2n-ratio", type=_float, default=d["n2n_ratio"], metavar="R",
                   help="n2n: the regulariser's weight ramps linearly from 0 to R over the run (default "
                   f"{d['n2n_ratio']:g}, the official sRGB setting)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default auto (CUDA if any)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_tf)


def _cmd_tf(args: argparse.Namespace) -> int:
    from trainer.transfer import TFConfig, transfer

    config = TFConfig(init=args.init, data=args.data, out=args.out, pairs=args.pairs, mode=args.mode, steps=args.steps,
                      batch=args.batch, patch=args.patch, lr=args.lr, seed=args.seed, log_every=args.log_every,
                      device=args.device, progress=not args.no_progress, n2n_ratio=args.n2n_ratio)
    print(f"wrote {transfer(config)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from noisegen.version import __version__

    parser = argparse.ArgumentParser(
        prog="noisegen-train",
        description="Train the AINDNet denoiser on noisegen shards: `sn` (synthetic-noise stage), `tf` (transfer to "
        "real pairs); `eval` (PSNR/SSIM "
        "on real pairs) and `denoise` (PNGs) with a checkpoint. "
        "Run a command with --help for its options; under torchrun every process runs the same command.",
    )
    parser.add_argument("--version", action="version", version=f"noisegen-train {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_sn_command(sub)
    add_tf_command(sub)
    add_eval_command(sub)
    add_denoise_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    hint = f"interrupted; continue with: noisegen-train {args.command} --out {getattr(args, 'out', 'RUN')} --resume"
    return run_command("noisegen-train", args, interrupted=hint)


if __name__ == "__main__":
    sys.exit(main())
