"""Noise-DA rows of the camera command (issue 20): SN adapted to the camera's noisy photos by the `da` stage's
diffusion loss (Liao et al., ICLR 2025; trainer.stages.da), beside the SN rows they extend, over training seeds.

(j)  row (b)'s data (`cbdnet`, the same shared dataset) + DA on the calibration pairs' noisy photos;
(k)  row (d)'s data (the calibrated profiles, clean = render) + DA on the same photos;
(js) (j) without channel shuffling; (jc) (j) without the contrastive term;
(j0) (j) with α = 0 (da_weight 0): the `da` stage then trains exactly the SN stage, so its weights equal
     (b)'s at the same seed, bit for bit (experiments/da_rows.py checks it).

Every row trains at the run's scale (RunContext.train_fields: model, steps, batch, patch, lr, ckpt_every,
workers, threads) with the `da` stage's defaults otherwise, resumably as the SN rows do (continued from its
last.pt, reused when complete). The real photos are the noisy sides of the calibration pairs only: a folder
of links to the noisy files of RUN/pairs/calib* (RUN/pairs/<calib>-noisy); no real clean image is used (the
diffusion model's clean references are the synthetic clean patches, the stage's default).

Seeds: ``da_rows(seed)`` builds the rows (b), (d), (j), (k), (js), (jc), (j0) for one training seed (initial
weights, batch order, every DA draw); data, split and profiles stay those of CameraConfig.seed. Their keys
carry the seed ("j-s1"), their runs too ("runs/j-da-seed1"; (b) and (d) at a seed other than the run's:
"b-cbdnet-seed1", "d-render-seed1"); at the run's own seed (b) and (d) are the command's own runs
(rows.ROW_B, rows.ROW_D). ``da_rows()`` (seed None: the run's seed) gives plain keys; ``ROWS_DA`` is its (j)
and (k), to append to rows.ROWS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from types import MappingProxyType

from trainer.camera.context import RunContext
from trainer.camera.rows import Row, cbdnet_data
from trainer.stages.da import adapt
from trainer.stages.da_config import DAConfig

__all__ = ["DA_KEYS", "DA_VARIANTS", "ROWS_DA", "da_rows", "noisy_photos", "real_photos", "row_key", "run_name",
           "train_da"]

# key → (label, data: "cbdnet" (row (b)'s) or "render" (row (d)'s), DAConfig fields that differ from the defaults)
DA_VARIANTS = MappingProxyType({
    "j": ("`cbdnet` data + DA (calibration pairs' noisy photos)", "cbdnet", ()),
    "k": ("calibrated render data + DA (calibration pairs' noisy photos)", "render", ()),
    "js": ("(j) without channel shuffling", "cbdnet", (("shuffle", False),)),
    "jc": ("(j) without the contrastive term", "cbdnet", (("contrastive", False),)),
    "j0": ("(j) with α = 0 (da_weight 0): = (b) bit for bit", "cbdnet", (("da_weight", 0.0),)),
})
SN_LABELS = MappingProxyType({"b": "SN on `cbdnet` data", "d": "SN, calibrated profile, clean = render"})
DA_KEYS: tuple[str, ...] = ("b", "d", *DA_VARIANTS)


def row_key(base: str, seed: int | None) -> str:
    """The report key of row ``base`` at training seed ``seed`` ("j-s1"; None, the run's seed: "j")."""
    return base if seed is None else f"{base}-s{seed}"


def run_name(base: str, seed: int, run_seed: int) -> str:
    """The run folder name (under runs/) of row ``base`` trained with seed ``seed`` in a run of seed
    ``run_seed``: (b), (d) at the run's seed are the command's own runs; every other run names its seed."""
    own = {"b": "b-cbdnet", "d": "d-render"}
    if base in own:
        return own[base] if seed == run_seed else f"{own[base]}-seed{seed}"
    return f"{base}-da-seed{seed}"


def noisy_photos(pairs: Path, folder: Path) -> Path:
    """``folder`` holding links to the noisy files of the pairs folder ``pairs`` (pairs/noisy/*) and nothing
    else (the clean side is never linked; links of files no longer there are removed). Returns ``folder``."""
    wanted = {f.name: f.resolve() for f in sorted((pairs / "noisy").iterdir()) if f.is_file()}
    folder.mkdir(parents=True, exist_ok=True)
    for entry in folder.iterdir():
        if entry.name not in wanted or not entry.is_symlink() or entry.resolve() != wanted[entry.name]:
            entry.unlink()
    for name, src in wanted.items():
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(src)
    return folder


def real_photos(ctx: RunContext) -> Path:
    """The DA rows' real photos: RUN/pairs/<calib>-noisy, the noisy side of ctx.pairs["calib"]."""
    calib = ctx.pairs["calib"]
    return noisy_photos(calib, calib.parent / f"{calib.name}-noisy")


def train_da(ctx: RunContext, name: str, datasets: Sequence[Path], *, seed: int | None = None,
             **options) -> Path:
    """The `da` stage on ``datasets`` with the real photos (real_photos) into RUN/runs/<name>, at the run's
    scale (RunContext.train_fields; ``seed`` as there), DAConfig ``options`` replacing the stage's defaults;
    continued from its last.pt, reused when complete. Returns the checkpoint."""
    run, s = ctx.out / "runs" / name, ctx.scale
    real = real_photos(ctx)
    if not ctx.done(run, s.steps):
        ctx.say(f"row {name}: DA, {s.steps} steps of batch {s.batch} at {s.patch}², real photos {real.name}")
        cfg = DAConfig(**ctx.train_fields(run, datasets, seed), real=str(real), **options)
        r = adapt(cfg, resume=True, echo=lambda m: None)
        ctx.say(f"row {name}: {r.step} steps, final loss {r.loss:.4f}")
    return run / "last.pt"


def _data(ctx: RunContext, kind: str) -> list[Path]:
    return [cbdnet_data(ctx)] if kind == "cbdnet" else ctx.group_datasets("render")


def _trainer(base: str, seed: int | None) -> Callable[[RunContext], Path]:
    def train(ctx: RunContext) -> Path:
        s = ctx.config.seed if seed is None else seed
        name = run_name(base, s, ctx.config.seed)
        if base == "b":
            return ctx.train_sn(name, [cbdnet_data(ctx)], shared=True, seed=s)
        if base == "d":
            return ctx.train_sn(name, ctx.group_datasets("render"), seed=s)
        _, data, options = DA_VARIANTS[base]
        return train_da(ctx, name, _data(ctx, data), seed=s, **dict(options))
    return train


def da_rows(seed: int | None = None, keys: Sequence[str] = DA_KEYS) -> tuple[Row, ...]:
    """The rows ``keys`` (of DA_KEYS, in that order) trained with seed ``seed`` (None: CameraConfig.seed;
    module docstring). (b), (j), (js), (jc), (j0) need no pairs to train but the real photos and the
    evaluation do, so every row needs "pairs"."""
    if unknown := sorted(set(keys) - set(DA_KEYS)):
        raise ValueError(f"da_rows: unknown rows {unknown}; choose from {', '.join(DA_KEYS)}")
    rows = []
    for base in keys:
        label = SN_LABELS[base] if base in SN_LABELS else DA_VARIANTS[base][0]
        rows.append(Row(row_key(base, seed), label if seed is None else f"{label} (seed {seed})", "pairs",
                        _trainer(base, seed)))
    return tuple(rows)


ROWS_DA: tuple[Row, ...] = da_rows(None, ("j", "k"))
