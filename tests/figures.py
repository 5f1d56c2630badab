"""Test helper: the matplotlib figures a module saves, kept for inspection of their legends and labels."""

from __future__ import annotations


def capture_figures(monkeypatch, module) -> list:
    """Figures passed to ``module.save_figure`` from now on in the test (the files are still written)."""
    figures: list = []
    real = module.save_figure

    def keep(fig, *args, **kwargs):
        figures.append(fig)
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(module, "save_figure", keep)
    return figures
