"""What `noisegen calibrate` found: candidates, per-group fits, the profile, the text report and the figure.

Kept apart from noisegen.analysis.calibrate.fit (the search) so that reports can be read and plotted without it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from noisegen.analysis.plot import save_figure, style_nlf_axes
from noisegen.dataset.writer import versions
from noisegen.isp.iso import IsoNoise
from noisegen.isp.profiles import CameraProfile

__all__ = ["PATTERN", "Candidate", "GroupFit", "Calibration", "build_profile", "plot_calibration"]

PATTERN = "RGGB"  # Canon, Nikon and Sony sensors; the four patterns give the same statistics up to R/B


@dataclass
class Candidate:
    """One evaluated configuration: step ("analytic", "search", "curve"), loss and its parts, σ per group."""

    crf: str
    demosaic: str
    jpeg: int | None
    step: str
    loss: float
    parts: dict
    sigma: list[tuple[list[float], list[float]]]
    nr: tuple[float, float] | None = None     # in-camera noise reduction (flat gain, knee), None = off
    subsampling: str = "4:2:0"                # JPEG chroma subsampling


@dataclass
class GroupFit:
    """The fit of one ISO group: σ (shared and per channel) and the error of every statistic."""

    name: str
    iso: int | None
    pairs: list[str]
    crops: int
    pixels: int
    sigma_s: float
    sigma_c: float
    sigma_s_rgb: list[float]
    sigma_c_rgb: list[float]
    errors: dict
    real_nlf: dict
    sim_nlf: dict


@dataclass
class Calibration:
    """Result of calibrate(): the chosen configuration, per-group fits, all candidates, the profile."""

    camera: str
    crf: str
    crf_bank: str
    demosaic: str
    jpeg: int | None
    loss: float
    groups: list[GroupFit]
    candidates: list[Candidate]
    profile: CameraProfile
    config: object  # CalibrateConfig
    skipped: list[dict] = field(default_factory=list)
    elapsed: float = 0.0
    nr: tuple[float, float] | None = None
    subsampling: str = "4:2:0"

    def to_dict(self) -> dict:
        return {"format": "noisegen-calibration/1", "camera": self.camera, "crf": self.crf, "crf_bank": self.crf_bank,
                "demosaic": self.demosaic, "pattern": None if self.demosaic == "none" else PATTERN,
                "jpeg_quality": self.jpeg, "jpeg_subsampling": self.subsampling,
                "noise_reduction": None if self.nr is None else {"flat_gain": self.nr[0], "knee": self.nr[1]},
                "loss": self.loss, "profile": self.profile.to_dict(),
                "groups": [dataclasses.asdict(g) for g in self.groups],
                "candidates": [dataclasses.asdict(c) for c in sorted(self.candidates, key=lambda c: (c.step, c.loss))],
                "config": dataclasses.asdict(self.config), "versions": versions(), "skipped": self.skipped,
                "elapsed_s": round(self.elapsed, 2)}

    def text(self) -> str:
        dm = "off" if self.demosaic == "none" else f"{PATTERN} + {self.demosaic}"
        lines = [f"camera {self.camera}: CRF {self.crf} ({self.crf_bank}), demosaicing {dm}, "
                 f"JPEG {'none' if self.jpeg is None else f'q{self.jpeg} {self.subsampling}'}, "
                 f"NR {'off' if self.nr is None else f'flat gain {self.nr[0]:g}, knee {self.nr[1]:g}'}; "
                 f"loss {self.loss:.4g}; {self.elapsed:.1f} s",
                 f"{'group':<18} {'pairs':>5}  {'σ_s R/G/B':>20}  {'σ_c R/G/B':>20}  {'NLF err mean/max':>16}  "
                 f"{'ρ1 real/sim':>11}  {'ρ2 real/sim':>11}  {'ρch real/sim':>12}  {'PSNR real/sim':>13}"]
        for g in self.groups:
            e = g.errors
            lines.append(f"{g.name:<18} {len(g.pairs):>5}  {'/'.join(f'{v:.4f}' for v in g.sigma_s_rgb):>20}  "
                         f"{'/'.join(f'{v:.4f}' for v in g.sigma_c_rgb):>20}  "
                         f"{100 * e['nlf_rel_mean']:>7.1f}%/{100 * e['nlf_rel_max']:>6.1f}%  "
                         f"{e['lag1']['real']:>5.2f}/{e['lag1']['sim']:<5.2f}  "
                         f"{e['lag2']['real']:>5.2f}/{e['lag2']['sim']:<5.2f}  "
                         f"{e['cross']['real']:>6.2f}/{e['cross']['sim']:<5.2f}  "
                         f"{e['psnr']['real']:>6.2f}/{e['psnr']['sim']:<6.2f}")
        p = self.profile
        scale = "" if p.channel_scale == (1.0, 1.0, 1.0) else \
            f", channel scale R/G/B {'/'.join(f'{v:.3f}' for v in p.channel_scale)}"
        lines.append(f"profile {p.name}: σ_s ~ U[{p.sigma_s[0]:.4f}, {p.sigma_s[1]:.4f}], σ_c ~ U[{p.sigma_c[0]:.4f}, "
                     f"{p.sigma_c[1]:.4f}] {'per channel' if p.per_channel else 'one draw per sample'}{scale}")
        return "\n".join(lines)


def _iso_table(config, fits: list[GroupFit]) -> tuple[IsoNoise, ...]:
    """One entry per ISO group: its fitted σ widened by ``config.spread``; with channels="scaled" the G
    fit and that group's R/G, B/G ratios, otherwise the range over the three channels."""
    lo, hi = 1.0 - config.spread, 1.0 + config.spread
    out = []
    for f in fits:
        if config.channels == "scaled":
            g_s, g_c = f.sigma_s_rgb[1], f.sigma_c_rgb[1]
            scale = tuple(float(v) / max(g_s, 1e-12) for v in f.sigma_s_rgb) if g_s > 0 else (1.0, 1.0, 1.0)
            out.append(IsoNoise(f.iso, (g_s * lo, g_s * hi), (g_c * lo, g_c * hi), scale))
        else:
            out.append(IsoNoise(f.iso, (min(f.sigma_s_rgb) * lo, max(f.sigma_s_rgb) * hi),
                                (min(f.sigma_c_rgb) * lo, max(f.sigma_c_rgb) * hi)))
    return tuple(out)


def build_profile(config, camera: str, cand: Candidate, fits: list[GroupFit], n_pairs: int) -> CameraProfile:
    """The CameraProfile of a calibration: the chosen curve, demosaicing and JPEG, and σ ranges that span the
    per-group, per-channel fits widened by ``config.spread``. When every group has an ISO, the profile
    also holds the fit of each ISO (``iso_noise``): generation then draws an ISO, then its σ."""
    lo, hi = 1.0 - config.spread, 1.0 + config.spread
    scale = (1.0, 1.0, 1.0)
    if config.channels == "scaled":
        # One draw per sample for G, R and B scaled by the fitted ratios (a camera's gains tie them).
        ratios = np.array([np.asarray(f.sigma_s_rgb) / max(f.sigma_s_rgb[1], 1e-12) for f in fits])
        scale = tuple(float(v) for v in ratios.mean(axis=0))
        ss = [f.sigma_s_rgb[1] for f in fits]
        cc = [f.sigma_c_rgb[1] for f in fits]
    else:
        ss = [v for f in fits for v in f.sigma_s_rgb]
        cc = [v for f in fits for v in f.sigma_c_rgb]
    err = np.mean([f.errors["nlf_rel_mean"] for f in fits])
    isos = sorted({f.iso for f in fits if f.iso is not None})
    name = config.name or "calibrated-" + "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in camera)
    return CameraProfile(
        name=name,
        description=f"fitted by noisegen calibrate to {camera} ({n_pairs} pairs"
        + (f", ISO {', '.join(map(str, isos))}" if isos else "") + f"): NLF error {100 * err:.1f}% mean",
        crf_bank=config.crf_bank, crf_curves=(cand.crf,), sigma_law="uniform",
        sigma_s=(min(ss) * lo, max(ss) * hi), sigma_c=(min(cc) * lo, max(cc) * hi),
        per_channel=config.channels == "independent", channel_scale=scale,
        patterns=(None,) if cand.demosaic == "none" else (PATTERN,),
        demosaic="malvar" if cand.demosaic == "none" else cand.demosaic,
        jpeg_probability=0.0 if cand.jpeg is None else 1.0,
        jpeg_quality=(60, 100) if cand.jpeg is None else (cand.jpeg, cand.jpeg),
        jpeg_subsampling=cand.subsampling,
        nr_flat_gain=1.0 if cand.nr is None else cand.nr[0], nr_knee=0.02 if cand.nr is None else cand.nr[1],
        iso_noise=_iso_table(config, fits) if fits and all(f.iso is not None for f in fits) else (),
    )


def plot_calibration(cal: Calibration, out: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Figure of a calibration: per ISO group, the real NLF (solid) and the fitted simulation (dashed), R/G/B."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(cal.groups)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(max(3.6 * cols, 5.5), 2.9 * rows + 0.9), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    colours = ("#d62728", "#2ca02c", "#1f77b4")
    for ax, g in zip(axes.flat, cal.groups):
        for which, style in ((g.real_nlf, "-o"), (g.sim_nlf, "--")):
            for c in range(3):
                x = np.array(which["x"][c], dtype=float)
                y = np.array([np.nan if v is None else v for v in which["std"][c]], dtype=float) * 255
                ok = np.array(which["valid"][c], dtype=bool) & np.isfinite(y)
                ax.plot(x[ok], y[ok], style, color=colours[c], ms=2.5, lw=1.1)
        e = g.errors
        ax.set_title(f"{g.name}: NLF err {100 * e['nlf_rel_mean']:.1f}%\n"
                     f"ρ1 {e['lag1']['real']:.2f}/{e['lag1']['sim']:.2f}, "
                     f"ρch {e['cross']['real']:.2f}/{e['cross']['sim']:.2f}"
                     " (real/sim)", fontsize=8)
        style_nlf_axes(ax)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colours[c], lw=1.5) for c in range(3)] + [
        Line2D([], [], color="0.2", marker="o", ms=2.5, lw=1.1), Line2D([], [], color="0.2", ls="--", lw=1.1)]
    fig.legend(handles, ["R", "G", "B", "real pairs", "calibrated simulation"], loc="upper right", ncol=5, fontsize=8,
               frameon=False)
    dm = "off" if cal.demosaic == "none" else f"{PATTERN}+{cal.demosaic}"
    fig.suptitle(f"{cal.camera}: real (solid) vs calibrated simulation (dashed)\nCRF {cal.crf}, demosaicing {dm}, "
                 f"JPEG {'none' if cal.jpeg is None else cal.jpeg}", fontsize=9, x=0.01, ha="left")
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return save_figure(fig, out, dpi, 96)
