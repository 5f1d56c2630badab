"""`noisegen-train sn` and `noisegen-train tf`: the two training commands, built on TrainConfig and TFConfig.

Both run on the training engine (trainer.engine.loop) and share their options for validation, outputs
and execution, with the same meaning and the same rules: every option is a config field (the
config dataclass validates it, so a bad value is one clear line), options left out keep the
config's default or, with --resume, the checkpoint's value.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from noisegen.command import THREADS_HELP, int_at_least
from noisegen.dataset.reader import is_url
from trainer.engine.checkpoint import load_checkpoint
from trainer.engine.interrupt import RunInterrupted
from trainer.engine.run_config import AMP_MODES, DEVICES, RunConfig
from trainer.engine.run_folder import LAST
from trainer.stages.sn import train
from trainer.stages.sn_config import SCHEDULES, TrainConfig
from trainer.stages.tf import transfer
from trainer.stages.tf_config import TF_MODES, TFConfig

__all__ = ["add_sn_command", "add_tf_command", "config_from_args", "option_of", "interrupted_text"]

_SN = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
_TF = {f.name: f.default for f in dataclasses.fields(TFConfig)}
# Options that are not config fields, and CLI names of fields where they differ.
_RUN_OPTIONS = ("command", "func", "resume", "stop_after")
_FIELD = {"warmup": "warmup_steps", "no_progress": "progress", "num_pairs": "pairs"}
_OPTION = {field: "--" + cli.replace("_", "-") for cli, field in _FIELD.items()}  # field → its CLI option
_FILES = """\
  last.pt          checkpoint every --ckpt-every steps and at the end (atomic; weights_only loading)
  best.pt          checkpoint of the best validation PSNR on the first --val source (with --val)
  config.json      the resolved configuration, model, parameter counts, versions
  metrics.jsonl    JSON lines: loss terms, lr, grad norm, samples/s, validation PSNR
  curves.png       loss and validation PSNR against the step
  data-rank*.json  what each process read"""


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def option_of(field: str) -> str:
    """The command-line option that sets config field ``field`` (``progress`` → ``--no-progress``)."""
    return _OPTION.get(field, "--" + field.replace("_", "-"))


class _MovedOption(argparse.Action):
    """An option that moved: using it is an error that names the new one (argparse's one line, exit 2)."""

    def __init__(self, option_strings, dest, moved_to: str = "", why: str = "", **kwargs):
        super().__init__(option_strings, dest, nargs="?", help=argparse.SUPPRESS, **kwargs)
        self.moved_to, self.why = moved_to, why

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is now {self.moved_to} ({self.why})")


def _add_optimiser_options(g: argparse._ArgumentGroup, d: dict[str, Any], *, batch: str, patch: str) -> None:
    g.add_argument("--steps", type=int_at_least(1), metavar="N", help=f"optimiser steps (default {d['steps']})")
    g.add_argument("--batch", type=int_at_least(1), metavar="B",
                   help=f"samples per step per process; global batch = B × processes (default {batch})")
    g.add_argument("--patch", type=int_at_least(8), metavar="P", help=f"side of the random training crop, {patch}")
    g.add_argument("--lr", type=_float, metavar="LR", help=f"peak Adam learning rate (default {d['lr']:g})")
    g.add_argument("--betas", type=_float, nargs=2, metavar=("B1", "B2"), help="Adam betas (default 0.9 0.999)")
    g.add_argument("--clip-norm", type=_float, metavar="C",
                   help=f"clip the global gradient norm to C, 0 = off (default {d['clip_norm']:g})")
    g.add_argument("--seed", type=int_at_least(0), help="seed of the fresh weights and of every random draw of "
                   "the data (default 0)")


def _add_run_options(p: argparse.ArgumentParser, cls: type[RunConfig]) -> None:
    """Validation, outputs and execution: the engine's options, the same for `sn` and `tf`."""
    d = {f.name: f.default for f in dataclasses.fields(cls)}
    g = p.add_argument_group("validation and outputs")
    g.add_argument("--out", metavar="RUN", required=True, help="run folder (created); holds the checkpoints and logs")
    g.add_argument("--val", action="append", metavar="DIR",
                   help="validation set, repeatable: a folder of clean images (gets synthetic noise from "
                   "--val-profile with --val-seed), a folder of real noisy/clean pairs (paired by name as `eval` "
                   "pairs them), or a noisegen dataset folder (one exact pass). The first one picks best.pt")
    g.add_argument("--val-every", type=int_at_least(1), metavar="K",
                   help=f"validate every K steps and at the end (default {d['val_every']})")
    g.add_argument("--val-profile", metavar="NAME|FILE.json",
                   help="camera profile of synthetic validation noise (default: the training dataset's profile from "
                   "its dataset.json, else cbdnet)")
    g.add_argument("--val-seed", type=int_at_least(0), help="seed of the synthetic validation noise (default 0)")
    g.add_argument("--val-max-images", type=int_at_least(1), metavar="N",
                   help="use the first N images of each set (default all; for a dataset folder, N per process)")
    g.add_argument("--val-crop", type=int_at_least(8), metavar="P",
                   help="centre-crop validation images to P×P (default whole)")
    g.add_argument("--ckpt-every", type=int_at_least(1), metavar="K",
                   help=f"write RUN/last.pt every K steps (default {d['ckpt_every']})")
    g.add_argument("--log-every", type=int_at_least(1), metavar="K",
                   help=f"log the mean loss every K steps (default {d['log_every']})")
    g.add_argument("--no-progress", action="store_const", const=False, help="no progress bar")

    g = p.add_argument_group("execution")
    g.add_argument("--device", choices=DEVICES, help="auto: CUDA when available (default auto)")
    g.add_argument("--amp", choices=AMP_MODES, help="bf16: autocast to bfloat16 (default: bf16 on CUDA, none on CPU)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                   help="NHWC memory format (default on: faster on CUDA and, measured, on CPU)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="torch.compile the model (slow start, faster long GPU runs; default off)")
    g.add_argument("--threads", type=int_at_least(1), metavar="N", help=THREADS_HELP)
    resumable = ", ".join(sorted(option_of(f) for f in cls.RESUMABLE - {"out"}))
    g.add_argument("--resume", action="store_true",
                   help="continue RUN from RUN/last.pt with the checkpoint's settings; options given now replace "
                   f"them, and only these may change: {resumable}. Reaches the same weights as an uninterrupted "
                   "run on CPU (same --threads). Starts a new run when there is no checkpoint. Ctrl-C or SIGTERM "
                   "writes RUN/last.pt after the step in progress, so an interrupted run always has one")
    g.add_argument("--stop-after", type=int_at_least(1), metavar="N",
                   help="stop this invocation once N steps in total are done, writing RUN/last.pt (e.g. to fit a "
                   "job time limit); the schedule still spans --steps; continue with --resume")


def add_sn_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train sn`: train AINDNet's SN stage (trainer.stages.sn.train) from TrainConfig options."""
    p = sub.add_parser(
        "sn", help="train AINDNet on synthetic-noise shards (SN stage)", argument_default=argparse.SUPPRESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"""\
Train AINDNet's SN stage (Kim et al., CVPR 2020): L1 + 0.05 x multi-scale asymmetric
sigma loss (--asymm-weight), Adam, on WebDataset shards made by `noisegen generate`, streamed (never
loaded whole). Writes in RUN:
{_FILES}
Defaults given as 'CUDA/CPU' depend on the device.""",
        epilog="""\
examples:
  noisegen generate --images photos/ --out ds --patch 256
  noisegen-train sn --data ds --out runs/sn --val ../shared/data/Kodak24 --val ../shared/data/CC15
  noisegen-train sn --data ds --out runs/cpu --model tiny --steps 3000 --device cpu --threads 1
  noisegen-train sn --out runs/sn --resume      # continue where it stopped, same settings
  torchrun --standalone --nproc_per_node 8 -m trainer sn --data ds --out runs/x   # each process its shards""",
    )
    g = p.add_argument_group("data")
    g.add_argument("--data", action="append", metavar="DATASET",
                   help="training shards: a noisegen dataset folder, a shard file, a brace pattern "
                   "('d/shard-{000000..000099}.tar') or a 'pipe:' URL ('pipe:curl -s https://host/shard-000000.tar'); "
                   "repeat to combine. Required unless --resume finds a checkpoint")
    g.add_argument("--workers", type=int_at_least(0), metavar="W",
                   help="data loader processes per training process, 0 = in-process (default: 4 on CUDA, 1 on CPU; "
                   "at most the CPU count)")
    g.add_argument("--shuffle-buffer", type=int_at_least(1), metavar="N",
                   help=f"samples in each loader's shuffle buffer (default {_SN['shuffle_buffer']})")
    g.add_argument("--shards-per-round", type=int_at_least(1), metavar="N",
                   help=f"shards each loader reads at once, interleaved at random (default {_SN['shards_per_round']})")
    g.add_argument("--fresh-noise", choices=("off", "noise", "params"),
                   help="off: the stored noisy images and σ maps (default); noise: synthesize the noisy crop and "
                   "its σ map anew in the loader from each sample's parameters (new noise every read); params: "
                   "new parameters from the dataset's profile too (needs clean = source datasets)")

    g = p.add_argument_group("model and optimisation")
    g.add_argument("--model", choices=("paper", "tiny", "small"),
                   help="paper: 13.76M parameters (DESIGN.md §5); tiny: 76K, same code path, for CPU; small: 290K, "
                   "last conv zero-initialised, for CPU runs on real photos (default paper)")
    _add_optimiser_options(g, _SN, batch="16 CUDA, 8 CPU",
                           patch="a multiple of 4, the model's size multiple (default: 256 on CUDA as the paper, "
                           "64 on CPU)")
    g.add_argument("--schedule", choices=SCHEDULES,
                   help="learning-rate schedule after warm-up: cosine to lr × --min-lr-ratio, step (× --gamma at each "
                   "fraction of the run in --milestones) or constant (default cosine)")
    g.add_argument("--warmup", type=int_at_least(0), metavar="N",
                   help="linear warm-up steps (default: 1%% of --steps, at most 1000)")
    g.add_argument("--min-lr-ratio", type=_float, metavar="R",
                   help=f"final/peak lr of the cosine schedule (default {_SN['min_lr_ratio']})")
    g.add_argument("--milestones", type=_float, nargs="+", metavar="F",
                   help="fractions of the run where 'step' multiplies lr by --gamma (default 0.5 0.75)")
    g.add_argument("--gamma", type=_float, help=f"factor of the 'step' schedule (default {_SN['gamma']})")
    g.add_argument("--asymm-weight", type=_float, metavar="L",
                   help=f"weight of the multi-scale asymmetric sigma loss (default {_SN['asymm_weight']}, the paper's)")
    _add_run_options(p, TrainConfig)
    p.set_defaults(func=_cmd_sn)


def add_tf_command(sub: argparse._SubParsersAction) -> None:
    """`noisegen-train tf`: TF stage (and the RT / R / N2N modes) on real data (trainer.stages.tf, TFConfig)."""
    p = sub.add_parser(
        "tf", help="adapt an SN model to real noise with a few real pairs (TF stage)",
        argument_default=argparse.SUPPRESS, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"""\
Transfer learning (Kim et al., CVPR 2020): from the SN run's weights, train only the AIN
modules, the noise estimator and the last conv on real pairs with the L1 loss; everything else
stays bit-identical. Prints the table of trainable and frozen parameters. --mode rt retrains
every parameter from the SN weights; --mode r trains the same architecture from scratch on the
real pairs (the paper's comparisons). --mode n2n trains the same parameters as tf on noisy
images only, with the Neighbor2Neighbor loss (Huang et al., CVPR 2021): --data may then be a
folder of noisy photos without clean targets (of a pairs folder or dataset only the noisy
images are used) and --patch must be a multiple of 8. Writes in RUN:
{_FILES}""",
        epilog="""\
examples:
  noisegen pack-pairs ../shared/data/PolyU100 --out packed --split train:32,test:rest --whole test
  noisegen-train tf --init runs/sn --data packed/train --out runs/tf --num-pairs 16 --val ../shared/data/CC15
  noisegen-train eval runs/tf --pairs packed/test      # a run folder means its best.pt, else last.pt
  noisegen-train tf --out runs/tf --resume --steps 4000
  noisegen-train tf --init runs/sn --data ../shared/data/RNI15 --out runs/n2n --mode n2n""",
    )
    g = p.add_argument_group("data and model")
    g.add_argument("--init", metavar="RUN_SN|CHECKPOINT", help="SN run folder (its best.pt, else last.pt) or a "
                   ".pt checkpoint. Required unless --resume finds a checkpoint")
    g.add_argument("--data", metavar="PAIRS_DATASET",
                   help="`noisegen pack-pairs` dataset folder, or a folder of real pairs; for --mode n2n also a "
                   "folder of noisy images (those directly in it, sorted by name). Required unless --resume finds a "
                   "checkpoint")
    g.add_argument("--num-pairs", type=int_at_least(1), metavar="K",
                   help="use only the first K real pairs in the source's order (n2n: the first K noisy images; "
                   "default all)")
    g.add_argument("--pairs", action=_MovedOption, moved_to="--num-pairs K",
                   why="the number of pairs to use; the pairs themselves come from --data, and --pairs names a "
                   "folder of pairs in eval, stats, calibrate and realism")
    g.add_argument("--mode", choices=TF_MODES,
                   help="tf: AINs + estimator + last conv (default); rt: all from SN; r: all from scratch; "
                   "n2n: the parameters of tf, self-supervised on noisy images (Neighbor2Neighbor)")
    g = p.add_argument_group("optimisation (Adam, constant learning rate)")
    _add_optimiser_options(g, _TF, batch=_TF["batch"],
                           patch=f"a multiple of the model's size multiple (4; n2n: 8); images smaller than it are "
                           f"skipped and listed (default {_TF['patch']})")
    g.add_argument("--n2n-ratio", type=_float, metavar="R",
                   help="n2n: the regulariser's weight ramps linearly from 0 to R over the run (default "
                   f"{_TF['n2n_ratio']:g}, the official sRGB setting)")
    _add_run_options(p, TFConfig)
    p.set_defaults(func=_cmd_tf)


def _absolute(entry: str) -> str:
    """Local paths (brace patterns too) become absolute, so that a resumed run may start elsewhere; URLs stay
    (noisegen.dataset.reader.is_url tells them apart)."""
    if is_url(entry):
        return entry
    return str(Path(entry).expanduser().resolve())


def config_from_args(cls: type[RunConfig], args: argparse.Namespace,
                     required: dict[str, str]) -> tuple[RunConfig, bool, int | None]:
    """(config, resume, stop_after) from parsed `sn` or `tf` options.

    With --resume and a checkpoint in RUN, the checkpoint's configuration is the base and only the
    options given on the command line replace its values. ``required``: field → what it is, for the
    error when a new run lacks it.
    """
    fields = {_FIELD.get(k, k): v for k, v in vars(args).items() if k not in _RUN_OPTIONS}
    for name in ("data", "val", "init"):
        if isinstance(fields.get(name), str):
            fields[name] = _absolute(fields[name])
        elif name in fields:
            fields[name] = tuple(_absolute(e) for e in fields[name])
    resume = bool(getattr(args, "resume", False))
    last = Path(args.out) / LAST
    if resume and last.exists():
        saved = cls.from_checkpoint(load_checkpoint(last), str(last))
        return dataclasses.replace(saved, **fields), True, getattr(args, "stop_after", None)
    for name, what in required.items():
        if name not in fields:
            raise ValueError(f"--{name} is required ({what})" + (f"; --resume found no checkpoint in {args.out}"
                                                                  if resume else ""))
    return cls(**fields), resume, getattr(args, "stop_after", None)


def _summary(result) -> None:
    if result.rank == 0:
        loss = "None" if result.loss is None else f"{result.loss:.5f}"
        best = "" if result.best_psnr is None else f", best validation PSNR {result.best_psnr:.2f} dB"
        print(f"{result.out}: step {result.step}, loss {loss}{best}; checkpoint {result.checkpoint}")


def interrupted_text(command: str, out: str | Path, exc: BaseException) -> str:
    """What to tell after an interrupted `sn`/`tf` run: continue with --resume when RUN/last.pt exists
    (the engine writes it on Ctrl-C and SIGTERM), else that nothing was saved and the command starts over."""
    what = str(exc) or "interrupted"
    if (Path(out) / LAST).exists():
        return f"{what}; continue with: noisegen-train {command} --out {out} --resume"
    return f"{what} before the first checkpoint: nothing was saved in {out}; rerun the same command to start again"


def _run_stage(command: str, args: argparse.Namespace, fn, cls: type[RunConfig], required: dict[str, str]) -> int:
    config, resume, stop_after = config_from_args(cls, args, required)
    try:
        _summary(fn(config, resume=resume, stop_after=stop_after))
    except KeyboardInterrupt as exc:
        raise RunInterrupted(interrupted_text(command, config.out, exc), getattr(exc, "signum", 2)) from None
    return 0


def _cmd_sn(args: argparse.Namespace) -> int:
    required = {"data": "a noisegen dataset folder, shard files, a brace pattern or pipe: URLs"}
    return _run_stage("sn", args, train, TrainConfig, required)


def _cmd_tf(args: argparse.Namespace) -> int:
    required = {"init": "an SN run folder or checkpoint", "data": "a pack-pairs dataset or a folder of pairs or images"}
    return _run_stage("tf", args, transfer, TFConfig, required)
