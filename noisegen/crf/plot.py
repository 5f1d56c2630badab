"""Look at a CRF bank: a figure of its curves and a printable table.

Uses matplotlib's object API on the Agg canvas (no pyplot state, no display needed).
Curves are those of ``noisegen.crf.bank`` (Grossberg & Nayar, CVPR 2003: f(L) on [0, 1]).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from noisegen.crf.bank import CRFBank

__all__ = ["plot_bank", "describe_bank"]

_LEGEND_MAX = 40


def plot_bank(bank: CRFBank, out_path: str | os.PathLike, *, curves: list[str] | tuple[str, ...] | None = None) -> Path:
    """Draw the curves of ``bank`` (all, or those named in ``curves``) into an image file.

    Args:
        bank: the bank.
        out_path: image path; the suffix picks the format (.png, .pdf, .svg).
        curves: names to draw (default: every curve). Unknown names raise KeyError with close matches.
    Returns:
        The path written. A legend is drawn when at most 40 curves are shown.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(bank.names) if curves is None else list(curves)
    if not names:
        raise ValueError("curves: give at least one curve name to plot")
    rows = [bank.index(n) for n in names]
    n = len(rows)
    cmap = colormaps["turbo"]
    legend = n <= _LEGEND_MAX
    fig = Figure(figsize=(9.5 if legend else 7.0, 6.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    lw = 1.2 if n <= 10 else (0.8 if n <= _LEGEND_MAX else 0.5)
    for j, (name, r) in enumerate(zip(names, rows)):
        ax.plot(bank.grid, bank.curves[r], color=cmap(j / max(n - 1, 1)), lw=lw, alpha=0.9, label=name)
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.6, ls=":", zorder=0)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("irradiance L")
    ax.set_ylabel("brightness f(L)")
    shown = f"{n} of {len(bank)}" if n != len(bank) else f"{n}"
    ax.set_title(f"CRF bank '{bank.name}': {shown} curves")
    ax.grid(True, lw=0.3, alpha=0.5)
    if legend:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=6 if n > 20 else 8, frameon=False,
                  ncol=1 if n <= 25 else 2)
    fig.tight_layout()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    return out


def describe_bank(bank: CRFBank) -> str:
    """A text table of the bank: index, name, f at L = 0.18 and 0.5, and source (one line per curve)."""
    at = np.array([0.18, 0.5])
    width = max(len("name"), *(len(n) for n in bank.names))
    lines = [f"CRF bank '{bank.name}': {len(bank)} curves on {bank.grid.shape[0]} points",
             f"{'#':>4}  {'name':<{width}}  f(0.18)  f(0.5)  source"]
    for i, (name, src) in enumerate(zip(bank.names, bank.sources)):
        v = np.interp(at, bank.grid, bank.curves[i])
        lines.append(f"{i:>4}  {name:<{width}}  {v[0]:7.4f}  {v[1]:6.4f}  {src}")
    return "\n".join(lines)
