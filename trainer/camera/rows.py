"""The rows of the camera command's held-out report: what each row trains, from what, and which one is the
denoiser the run hands over.

One network (the scale's), one number of steps and the same held-out images for every row:

(a) the noisy input itself (no training);
(b) SN on `cbdnet` data (the paper's synthetic camera; camera-independent, so it can be shared by runs);
(b1) SN on AWGN fitted per group on its calibration pairs (one σ); (b2) SN on the sRGB Gaussian
    var = a·x + b per channel fitted the same way: the honest controls (issue 18). Clean = source, no camera
    steps: these rows carry no render target, so (d) − (b1/b2) is what the camera model and its render target
    add over the best fitted simple noise;
(d) SN on the calibrated profiles (one per camera-ISO group, the groups sharing the patches), clean = the
    noise-free render through the same ISP (`generate --clean-target render`);
(e) the same network from scratch on the real calibration pairs (TF stage, mode r);
(f) TF (AINs, estimator, last conv) with K real calibration pairs, from (d).
(c), SN on the same profiles with clean = the source crop, is the camera loop's ablation
(experiments/camera_loop.py adds it with ``ROW_C``).

A row is a ``Row``: its key, its label, what it needs ("pairs": the folder's real pairs; "photos": noisy-only
photos; "any") and ``train(ctx) -> checkpoint`` built from RunContext's resumable steps; rows run in order, so a
row may start from an earlier row's checkpoint (``ctx.checkpoints``). New rows (other stages, other data) are
added by passing a longer tuple to run_camera; the D-BSN rows (g), (h), (i) are trainer.camera.rows_dbsn's
``ROWS_DBSN`` (CameraConfig.dbsn). The run's denoiser (RUN/denoiser.pt) is the first row of ``DENOISER_ORDER``
that ran: TF when there are pairs (the paper's full pipeline), else SN on the calibrated profiles; without
pairs the distilled row (i) when the D-BSN rows ran, else the SN model on `cbdnet` data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from trainer.camera.context import RunContext

__all__ = ["Row", "cbdnet_data", "ROW_A", "ROW_B", "ROW_B1", "ROW_B2", "ROW_C", "ROW_D", "ROW_E", "ROW_F", "ROWS",
           "DENOISER_ORDER", "NEEDS"]

NEEDS = ("pairs", "photos", "any")


@dataclass(frozen=True)
class Row:
    """One row of the report. train: None for the noisy input (a); else builds (or reuses) the row's
    checkpoint. needs: "pairs", "photos" or "any" (the row is left out when the run lacks it)."""

    key: str
    label: str
    needs: str
    train: Callable[[RunContext], Path] | None = None

    def applies(self, ctx: RunContext) -> bool:
        return self.needs == "any" or (self.needs == "pairs" and ctx.has_pairs) or (
            self.needs == "photos" and ctx.has_photos)


def cbdnet_data(ctx: RunContext) -> Path:
    """Row (b)'s data: `generate` of the `cbdnet` profile, clean = source, in the shared folder (data seed:
    CameraConfig.seed). Other rows on the same data (trainer.camera.rows_da) call this too."""
    return ctx.dataset("cbdnet", "cbdnet", "source", seed=ctx.config.seed, shared=True)


def _b(ctx: RunContext) -> Path:
    return ctx.train_sn("b-cbdnet", [cbdnet_data(ctx)], shared=True)


def _baseline(kind: str, name: str) -> Callable[[RunContext], Path]:
    def train(ctx: RunContext) -> Path:
        return ctx.train_sn(name, ctx.group_datasets("source", ctx.baselines(kind), tag=kind))
    return train


def _c(ctx: RunContext) -> Path:
    return ctx.train_sn("c-source", ctx.group_datasets("source"))


def _d(ctx: RunContext) -> Path:
    return ctx.train_sn("d-render", ctx.group_datasets("render"))


def _e(ctx: RunContext) -> Path:
    return ctx.train_real("e-real", ctx.fresh_init(), ctx.pairs["calib"], "r", ctx.scale.steps)


def _f(ctx: RunContext) -> Path:
    return ctx.train_real(f"f-tf-k{ctx.scale.k}", ctx.checkpoints["d"], ctx.pairs["kpairs"], "tf", ctx.scale.tf_steps)


ROW_A = Row("a", "noisy input", "pairs")
ROW_B = Row("b", "SN on `cbdnet` data", "any", _b)
ROW_B1 = Row("b1", "SN on AWGN fitted on the calibration pairs", "pairs", _baseline("awgn", "b1-awgn"))
ROW_B2 = Row("b2", "SN on sRGB var = a·x + b fitted on the calibration pairs", "pairs",
             _baseline("srgb-ax-b", "b2-srgb"))
ROW_C = Row("c", "SN, calibrated profile, clean = source", "pairs", _c)
ROW_D = Row("d", "SN, calibrated profile, clean = render", "pairs", _d)
ROW_E = Row("e", "trained on the real calibration pairs (mode r)", "pairs", _e)
ROW_F = Row("f", "TF, K real pairs, from (d)", "pairs", _f)
ROWS: tuple[Row, ...] = (ROW_A, ROW_B, ROW_B1, ROW_B2, ROW_D, ROW_E, ROW_F)
DENOISER_ORDER = ("f", "d", "i", "h", "g", "b")
