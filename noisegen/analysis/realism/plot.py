"""The figure of `noisegen realism`: local log-variance maps of real and simulated residuals next to the NLF.

One row per shown test pair (the first test pair of the first groups): the clean centre crop, the
real residual's local variance (DANet's 7×7 window, noisegen.analysis.realism.akld; G channel, log10 of
8-bit levels², one colour scale for the whole figure), the same for the first draw of each model
(its AKLD on the group in the title), and the group's NLF of the G channel, real (black) and each
model (dashed). JPEG's 8×8 blocks and demosaicing's texture show in the maps; the noise level in the
NLF. matplotlib with the Agg backend.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from noisegen.analysis.plot import save_figure, style_nlf_axes

__all__ = ["plot_realism", "COLOURBAR_LABEL"]

COLOURBAR_LABEL = "local variance of the G residual, log10 of 8-bit levels² (7×7 window)"

_MODEL_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


def _nlf_panel(ax, group, keys: list[str]) -> None:
    first = group.scores[keys[0]].nlf
    x = np.array(first["x"][1], dtype=float)

    def arr(rows) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in rows[1]], dtype=float)
    ax.plot(x, arr(first["real_8bit"]), "-o", color="black", ms=2.5, lw=1.4, label="real")
    for i, k in enumerate(keys):
        ax.plot(x, arr(group.scores[k].nlf["sim_8bit"]), "--", color=_MODEL_COLOURS[i % len(_MODEL_COLOURS)],
                lw=1.1, label=k)
    style_nlf_axes(ax, "G noise std (8-bit levels)")
    ax.legend(fontsize=6.5, frameon=False)


def plot_realism(report, out: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write the figure of a RealismReport (noisegen.analysis.realism.report) to ``out`` (PNG); returns the path.

    Raises:
        ValueError: the report holds no maps (figure_pairs = 0 or no group).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [g for g in report.groups if g.maps]
    if not rows:
        raise ValueError("nothing to plot: no local-variance maps were kept (figure_pairs = 0?)")
    keys = report.keys
    cols = 2 + len(keys) + 1
    fig, axes = plt.subplots(len(rows), cols, figsize=(2.1 * cols + 1.0, 2.3 * len(rows) + 0.7), squeeze=False)
    maps = [m for g in rows for k, m in g.maps.items() if k != "clean"]
    lo = float(np.percentile(np.concatenate([m.ravel() for m in maps]), 1))
    hi = float(np.percentile(np.concatenate([m.ravel() for m in maps]), 99.5))
    image = None
    for r, g in enumerate(rows):
        ax = axes[r, 0]
        ax.imshow(g.maps["clean"])
        ax.set_title(f"{g.name}\n{g.map_pair.rsplit('/', 1)[-1][:28]}", fontsize=7)
        panels = [("real", "real")] + [(k, f"{k}\nAKLD {g.scores[k].akld:.3f}") for k in keys if k in g.scores]
        for c, (k, title) in enumerate(panels, start=1):
            ax = axes[r, c]
            if k in g.maps:
                image = ax.imshow(g.maps[k], cmap="magma", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_title(title, fontsize=7)
        for ax in axes[r, :cols - 1]:
            ax.set_xticks([])
            ax.set_yticks([])
        _nlf_panel(axes[r, cols - 1], g, [k for k in keys if k in g.scores])
    fig.suptitle("Local noise variance (G, log10 of 8-bit levels², DANet's 7×7 window) of real vs simulated "
                 "residuals, and the NLF", fontsize=9, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 0.95, 0.95))
    if image is not None:
        cax = fig.add_axes((0.957, 0.15, 0.008, 0.7))
        bar = fig.colorbar(image, cax=cax)
        bar.ax.tick_params(labelsize=6)
        bar.set_label(COLOURBAR_LABEL, fontsize=7)
    return save_figure(fig, out, dpi, 0)
