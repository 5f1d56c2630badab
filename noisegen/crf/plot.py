"""Look at a CRF bank: a figure of its curves and a printable table.

Uses matplotlib's object API on the Agg canvas (no pyplot state, no display needed).
Curves are those of ``noisegen.crf.bank`` (Grossberg & Nayar, CVPR 2003: f(L) on [0, 1]).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from noisegen.crf.bank import CRFBank

__all__ = ["plot_bank", "bank_figure", "highlights", "describe_bank", "LEGEND_MAX", "REFERENCES"]

# Up to this many curves each get a colour and a legend entry; beyond, the curves are drawn grey and a
# few are highlighted and named (``highlights``): 51-202 colours cannot be told apart.
LEGEND_MAX = 12
REFERENCES = ("linear", "sRGB")  # always named when shown: the axes of comparison
_AT = 0.18  # mid-grey irradiance: where the curves of a bank differ most in practice
_QUANTILES = ((0.0, "darkest"), (0.25, "25th percentile"), (0.5, "median"), (0.75, "75th percentile"),
              (1.0, "brightest"))  # of f(_AT) among the curves shown


def highlights(bank: CRFBank, rows: list[int]) -> list[tuple[int, str]]:
    """The curves named in a plot of many: the references present (linear, sRGB) and those at the
    extremes and quartiles of f(0.18) among ``rows``; (row, why) pairs, no row twice."""
    at = {r: float(np.interp(_AT, bank.grid, bank.curves[r])) for r in rows}
    chosen: dict[int, str] = {}
    for name in REFERENCES:
        r = bank.index(name) if name in bank.names else None
        if r is not None and r in at:
            chosen[r] = "reference"
    order = sorted(rows, key=lambda r: (at[r], bank.names[r]))
    for q, why in _QUANTILES:
        r = order[round(q * (len(order) - 1))]
        chosen.setdefault(r, f"{why} at L = {_AT}")
    return list(chosen.items())


def bank_figure(bank: CRFBank, curves: list[str] | tuple[str, ...] | None = None):
    """The matplotlib Figure of plot_bank (a legend names every curve up to LEGEND_MAX curves, else the
    highlighted ones over the others drawn grey)."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = list(bank.names) if curves is None else list(curves)
    if not names:
        raise ValueError("curves: give at least one curve name to plot")
    rows = [bank.index(n) for n in names]
    n = len(rows)
    fig = Figure(figsize=(9.5, 6.0), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.6, ls=":", zorder=0)
    shown = f"{n} of {len(bank)}" if n != len(bank) else f"{n}"
    if n <= LEGEND_MAX:
        cmap = colormaps["tab10" if n <= 10 else "tab20"]
        for j, r in enumerate(rows):
            ax.plot(bank.grid, bank.curves[r], color=cmap(j), lw=1.3, label=bank.names[r])
        ax.set_title(f"CRF bank '{bank.name}': {shown} curves")
        legend_title = None
    else:
        for r in rows:
            ax.plot(bank.grid, bank.curves[r], color="0.75", lw=0.5, zorder=1)
        ax.plot([], [], color="0.75", lw=0.5, label=f"the other {n - len(highlights(bank, rows))} curves")
        cmap = colormaps["tab10"]
        for j, (r, why) in enumerate(highlights(bank, rows)):
            f18 = float(np.interp(_AT, bank.grid, bank.curves[r]))
            ax.plot(bank.grid, bank.curves[r], color=cmap(j), lw=1.6, zorder=3,
                    label=f"{bank.names[r]}: {why}" + ("" if why == "reference" else f" (f = {f18:.2f})"))
        ax.axvline(_AT, color="0.4", lw=0.6, ls="--", zorder=2)
        ax.set_title(f"CRF bank '{bank.name}': {shown} curves, {len(highlights(bank, rows))} named")
        legend_title = f"named: the references, and the spread at L = {_AT} (dashed);\n--curves A,B draws chosen ones"
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_xlabel("irradiance L")
    ax.set_ylabel("brightness f(L)")
    ax.grid(True, lw=0.3, alpha=0.5)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False, title=legend_title,
              title_fontsize=7, alignment="left")
    fig.tight_layout()
    return fig


def plot_bank(bank: CRFBank, out_path: str | os.PathLike, *, curves: list[str] | tuple[str, ...] | None = None) -> Path:
    """Draw the curves of ``bank`` (all, or those named in ``curves``) into an image file.

    Args:
        bank: the bank.
        out_path: image path; the suffix picks the format (.png, .pdf, .svg).
        curves: names to draw (default: every curve). Unknown names raise KeyError with close matches.
    Returns:
        The path written. Up to LEGEND_MAX curves each get a colour and a legend entry; more are drawn
        grey, with the references (linear, sRGB) and the extremes and quartiles of f(0.18) coloured and
        named (``highlights``).
    """
    fig = bank_figure(bank, curves)
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
