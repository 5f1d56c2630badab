"""Image quality and run records: PSNR, the metrics JSON-lines file and its plotted curves.

PSNR is computed as the saved images would be: the output is clipped to [0, 1] and rounded to
8 bits, then PSNR = 10·log10(255² / MSE) over all pixels and channels of the image (float64), and
averaged over the images of a set (the convention of the denoising papers' tables).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from noisegen.atomic import atomic_write, atomic_write_bytes
from noisegen.command import brief

__all__ = ["PSNR_CAP", "psnr_u8", "MetricsLog", "read_metrics", "plot_curves", "skipped_text"]

# PSNR of identical images is infinite; reported as this value so that means stay finite.
PSNR_CAP = 100.0


def psnr_u8(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two uint8 images of the same shape (peak 255), capped at PSNR_CAP."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"psnr_u8: expected images of the same shape, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise TypeError(f"psnr_u8: expected uint8 images, got {a.dtype} and {b.dtype} (clip and round first, as "
                        "trainer.engine.images.tensor_to_u8 does)")
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP if mse == 0.0 else min(PSNR_CAP, 10.0 * math.log10(255.0**2 / mse))


class MetricsLog:
    """Append-only JSON-lines file, one record (dict of JSON values) per line, flushed per record.

    ``truncate_after(step)`` drops records logged after a checkpoint's step (a resumed run then
    does not list those steps twice).
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)

    def write(self, record: dict[str, Any]) -> None:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, sort_keys=True) + "\n")

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        keep = [r for r in read_metrics(self.path) if r.get("step", 0) <= step]
        # atomic: a full disk leaves the old file and no temporary one
        atomic_write_bytes(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in keep).encode("utf-8"))


def read_metrics(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The records of a metrics file (a damaged last line, e.g. after a kill, is ignored)."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def plot_curves(records: Iterable[dict[str, Any]], path: str | os.PathLike[str], *, title: str = "") -> None:
    """Training loss (log scale while it stays positive) and validation PSNR against the step, as a PNG (Agg).

    Loss records carry "loss"; validation records carry "val/<source>/psnr" (and "psnr_noisy",
    drawn dashed: the input's PSNR, the level to beat). Written atomically.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    records = list(records)
    fig = Figure(figsize=(10, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax_loss, ax_psnr = fig.subplots(1, 2)
    pts = [(r["step"], r["loss"]) for r in records if "loss" in r and r["loss"] is not None]
    if pts:
        ax_loss.plot(*zip(*pts), lw=1)
        if min(v for _, v in pts) > 0:  # a negative log-likelihood (D-BSN's) may go below zero: linear then
            ax_loss.set_yscale("log")
    ax_loss.set(xlabel="step", ylabel="loss", title="training loss")
    ax_loss.grid(True, which="both", alpha=0.3)
    names = sorted({k[4:-5] for r in records for k in r if k.startswith("val/") and k.endswith("/psnr")})
    for i, name in enumerate(names):
        color = f"C{i}"
        pts = [(r["step"], r[f"val/{name}/psnr"]) for r in records if f"val/{name}/psnr" in r]
        ax_psnr.plot(*zip(*pts), marker="o", ms=3, color=color, label=f"{name} denoised")
        noisy = [(r["step"], r[f"val/{name}/psnr_noisy"]) for r in records if f"val/{name}/psnr_noisy" in r]
        if noisy:
            ax_psnr.plot(*zip(*noisy), ls="--", color=color, alpha=0.6, label=f"{name} noisy input")
    ax_psnr.set(xlabel="step", ylabel="PSNR (dB)", title="validation")
    ax_psnr.grid(True, alpha=0.3)
    if names:
        ax_psnr.legend(fontsize=8)
    if title:  # a run folder's name may hold bytes that are not UTF-8 (surrogates): matplotlib cannot draw those
        fig.suptitle(title.encode("utf-8", "backslashreplace").decode("utf-8"), fontsize=9)
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))


def skipped_text(skipped: list[str], damaged: int | None) -> str:
    """'; skipped 3 damaged item(s) (2 distinct; first: ...)' for the run's final line ('' when none)."""
    if not skipped and not damaged:
        return ""
    first = "; ".join(brief(m, 140) for m in skipped[:3]) + (" ..." if len(skipped) > 3 else "")
    if damaged is not None:
        return f"; skipped {damaged} damaged item(s) ({len(skipped)} distinct; first: {first})"
    return f"; skipped {len(skipped)} input(s) (first: {first})"
