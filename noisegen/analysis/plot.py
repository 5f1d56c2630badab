"""Figures of noise statistics: one small panel per group (camera/ISO, CRF, ...), shared axes.

sRGB panels: residual std in 8-bit levels against clean intensity, R, G and B, valid bins joined by
lines and invalid bins (too few pixels or clipped) as faint hollow markers; the panel's text gives
the image count, PSNR, lag-1/lag-2 autocorrelation and the mean cross-channel correlation.
Raw panels (datasets with σ maps, or the index's parameters): σ_raw against irradiance L.
matplotlib with the Agg backend (no display needed).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

__all__ = ["plot_report", "save_figure", "style_nlf_axes", "invalid_bin_label", "invalid_bin_handle"]

_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")


def _curve(ax, nlf: dict, scale: float, label_prefix: str = "") -> None:
    for c, colour in enumerate(_COLOURS):
        x = np.array(nlf["x"][c], dtype=float)
        y = np.array([np.nan if v is None else v for v in nlf["std"][c]], dtype=float) * scale
        ok = np.array(nlf["valid"][c], dtype=bool) & np.isfinite(y)
        ax.plot(x[ok], y[ok], "-o", color=colour, ms=2.5, lw=1.2, label=f"{label_prefix}{'RGB'[c]}")
        bad = ~ok & np.isfinite(y)
        if bad.any():
            ax.plot(x[bad], y[bad], "o", mfc="none", mec=colour, ms=3, alpha=0.45, lw=0)


def invalid_bin_label(config: dict | None = None) -> str:
    """Legend text of the hollow markers: which bins are left out of the curves, and why."""
    config = config or {}
    few = f"< {config['min_count']} pixels" if config.get("min_count") is not None else "too few pixels"
    clip = f"> {100 * config['max_clip']:g}% clipped" if config.get("max_clip") is not None else "too clipped"
    return f"bin left out ({few} or {clip})"


def invalid_bin_handle():
    """Legend handle of the hollow markers (grey: they come in each channel's colour)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], ls="none", marker="o", mfc="none", mec="0.35", ms=4)


def _text(summary: dict) -> str:
    parts = []
    n = summary.get("images", summary.get("samples"))
    if n is not None:
        parts.append(f"n={n}")
    if summary.get("psnr_mean") is not None:
        parts.append(f"{summary['psnr_mean']:.1f} dB")
    if summary.get("lag1") is not None:
        parts.append(f"ρ1 {summary['lag1']:.2f}, ρ2 {summary['lag2']:.2f}")
        cc = [v for v in summary.get("cross_correlation", {}).values() if v is not None]
        if cc:
            parts.append(f"ρ(ch) {np.mean(cc):.2f}")
    return ", ".join(parts)


def _top(groups, key: str, scale: float) -> float:
    top = 0.0
    for g in groups:
        nlf = g.summary.get(key)
        if not nlf:
            continue
        for c in range(3):
            y = [v for v, ok in zip(nlf["std"][c], nlf["valid"][c]) if ok and v is not None]
            top = max(top, max(y, default=0.0) * scale)
    return 1.08 * top if top > 0 else 1.0


def _save_compact(fig, out: Path, dpi: int, colours: int) -> None:
    """Save as PNG; with ``colours`` > 0 through an adaptive palette (line plots lose nothing visible, ~3× smaller)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    tmp = out.with_name(f".{out.name}.tmp.png")
    if colours:
        with Image.open(io.BytesIO(buf.getvalue())) as im:
            im.convert("RGB").quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(tmp, optimize=True)
    else:
        tmp.write_bytes(buf.getvalue())
    os.replace(tmp, out)


def style_nlf_axes(ax, ylabel: str = "noise std (8-bit levels)") -> None:
    """Axes of an sRGB NLF panel: clean intensity over [0, 1], std from 0, light grid, small labels."""
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    ax.set_xlabel("clean intensity", fontsize=7.5)
    ax.set_ylabel(ylabel, fontsize=7.5)


def save_figure(fig, out: str | os.PathLike[str], dpi: int, colours: int = 0) -> Path:
    """Write ``fig`` as PNG to ``out`` (parent folders made, temporary name then rename; ``colours`` as in
    _save_compact) and close it; returns the path."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        _save_compact(fig, out, dpi, colours)
    finally:
        plt.close(fig)
    return out


def plot_report(report, out: str | os.PathLike[str], *, title: str | None = None, columns: int = 5,
                dpi: int = 100, colours: int = 96) -> Path:
    """Write the figure of a StatsReport (noisegen.analysis.stats) to ``out`` (PNG); returns the path.

    Args:
        report: StatsReport (full, pairs or index mode).
        out: output file (.png); written to a temporary name, then renamed.
        title: figure title (default: the sources).
        columns: panels per row.
        dpi: resolution (the default gives ~320 px per panel).
        colours: palette size of the PNG (0: full colour).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = report.groups
    if not groups:
        raise ValueError("nothing to plot: the report has no group")
    has_srgb = report.mode != "index"
    has_raw = any(g.summary.get("raw_nlf") for g in groups)
    rows_per = int(has_srgb) + int(has_raw)
    cols = max(1, min(columns, len(groups)))
    nrows = math.ceil(len(groups) / cols) * rows_per
    fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.5 * nrows + 0.8), squeeze=False)
    top_srgb, top_raw = _top(groups, "nlf", 255.0), _top(groups, "raw_nlf", 1.0)
    for i in range(nrows * cols):
        axes.flat[i].set_visible(False)
    for gi, g in enumerate(groups):
        r0, col = (gi // cols) * rows_per, gi % cols
        row = r0
        if has_srgb:
            ax = axes[row, col]
            ax.set_visible(True)
            _curve(ax, g.summary["nlf"], 255.0)
            ax.set_title(f"{g.name}\n{_text(g.summary)}", fontsize=8)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7, labelbottom=True)
            if col == 0:
                ax.set_ylabel("noise std (8-bit levels)", fontsize=7.5)
            ax.set_xlabel("clean intensity", fontsize=7.5)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, top_srgb)
            row += 1
        if has_raw and g.summary.get("raw_nlf"):
            ax = axes[row, col]
            ax.set_visible(True)
            _curve(ax, g.summary["raw_nlf"], 1.0)
            if not has_srgb:
                ax.set_title(f"{g.name}\n{_text(g.summary)}", fontsize=8)
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=7, labelbottom=True)
            if col == 0:
                ax.set_ylabel("σ_raw (full scale)", fontsize=7.5)
            ax.set_xlabel("irradiance L", fontsize=7.5)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, top_raw)
    handles, labels = next(ax for ax in axes.flat if ax.get_visible()).get_legend_handles_labels()
    handles, labels = handles[:3] + [invalid_bin_handle()], labels[:3] + [invalid_bin_label(report.config)]
    fig.legend(handles, labels, loc="upper right", ncol=4, fontsize=8, frameon=False)
    what = {"pairs": "real pairs", "full": "dataset", "index": "dataset (index.parquet: parameters only)"}[report.mode]
    fig.suptitle(title or f"Noise level functions, {what}: {', '.join(Path(s).name for s in report.sources)}",
                 fontsize=10, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return save_figure(fig, out, dpi, colours)
