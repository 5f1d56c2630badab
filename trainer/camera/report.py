"""The camera command's held-out report: RUN/report.json, RUN/report.md and RUN/report.png.

The report holds no time and no path outside the run folder's own names, so that a run that was killed
and resumed writes the same bytes as one that was not (timings go to RUN/timings.json). The figure shows
the before/after crops (noisy, every trained row, clean when there is one) and the noise level per
intensity bin: of the held-out pairs (real) beside the profile's simulation, or of the noisy photos
against the denoiser's output.
"""

from __future__ import annotations

import io
import math

import numpy as np

__all__ = ["render_markdown", "render_figure"]

_COLOURS = ("#d62728", "#2ca02c", "#1f77b4")


def _f(v, fmt: str = ".2f") -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def _rows_table(report: dict) -> list[str]:
    groups = [g["name"] for g in report["split"]["groups"]]
    n = sum(len(g["test"]) for g in report["split"]["groups"])
    head = "| row | model | all " + f"({n} pairs) | " + " | ".join(groups) + " |"
    lines = [head, "|---|---|---:|" + "---:|" * len(groups)]
    for r in report["rows"]:
        cells = [_f(r["groups"].get(g)) for g in groups]
        lines.append(f"| ({r['key']}) | {r['label']} | {_f(r['psnr'])} | " + " | ".join(cells) + " |")
    return lines


def _realism_table(report: dict) -> list[str]:
    lines = ["| group | test pairs | profile | AWGN | sRGB a·x+b | profile's NLF error |",
             "|---|---:|---:|---:|---:|---:|"]
    for g in report["realism"]:
        m = g["models"]
        err = m.get("profile", {}).get("nlf_rel_mean")
        lines.append(f"| {g['group']} | {g['test_pairs']} | {_f(m.get('profile', {}).get('akld'), '.3f')} | "
                     f"{_f(m.get('AWGN', {}).get('akld'), '.3f')} | {_f(m.get('sRGB a·x+b', {}).get('akld'), '.3f')} | "
                     f"{_f(None if err is None else 100 * err, '.0f')}% |")
    return lines


def _levels_table(levels: dict) -> list[str]:
    x = levels["x"]
    lines = ["| channel \\ intensity | " + " | ".join(f"{v:.2f}" for v in x) + " |", "|---|" + "---:|" * len(x)]
    for c, row in zip("RGB", levels["std_8bit"]):
        lines.append(f"| {c} | " + " | ".join(_f(v) for v in row) + " |")
    return lines


def render_markdown(report: dict) -> str:
    """report.md from report.json's dict."""
    sp, sc, out = report["split"], report["scale"], []
    out += [f"# Camera report: {', '.join(report['folder']['cameras'])}", "",
            f"`{report['command']}`", "",
            f"Scale `{sc['name']}`: `{sc['model']}` AINDNet, {sc['steps']} steps of batch {sc['batch']} at "
            f"{sc['patch']}² for every trained row (TF: {sc['tf_steps']}), Adam lr {sc['lr']:g}; profiles: "
            f"`{sc['fit']}` per camera-ISO group; clean photos: {report['clean']}.", ""]
    if report["rows"]:
        out += [f"## Held-out denoising: PSNR (dB) on {report['evaluation']}", "", *_rows_table(report), ""]
    d = report["denoiser"]
    if d:
        out += ["## The denoiser", "", f"`denoiser.pt` is row ({d['row']}): {d['why']}. Use it with", "",
                f"    {d['use']}", ""]
    if report["realism"]:
        out += ["## Realism of the profiles on the held-out pairs (AKLD, lower is better)", "",
                "The baselines are fitted on the same calibration pairs; NLF error: mean relative error of the "
                "simulated noise std per intensity bin.", "", *_realism_table(report), ""]
    for lv in report["noise_levels"]:
        out += [f"## Noise level of {lv['group']} (noisy-only photos)", "",
                f"Std of the noisy photo minus {lv['pseudo_clean']}, in 8-bit levels, per channel and intensity bin "
                f"({lv['images']} held-out photos, {lv['crop']}).", "", *_levels_table(lv), ""]
    out += ["## Split", "", f"Held out by shot and checked by content ({sp['rule']}).", ""]
    for g in sp["groups"]:
        out.append(f"- {g['name']}: {len(g['calib'])} calibration pairs ({', '.join(g['calib_scenes'])}), "
                   f"{len(g['test'])} test pairs ({', '.join(g['test_scenes'])})")
    for g in sp["photos"]:
        out.append(f"- {g['name']}, noisy-only photos: {len(g['calib'])} to learn from, {len(g['test'])} held out")
    for x in sp["dropped"]:
        why = f"overlaps it, correlation {x['corr']}" if x["why"] == "content" else "same shot"
        out.append(f"- dropped {x['item']}: shows shot {x['shot']} of test image {x['test']} ({why})")
    for x in sp["skipped"]:
        out.append(f"- left out {x['group']}: {x['reason']}")
    c = sp["checked"]
    out += [f"- content check: {c['test_images']} test images against {c['calibration_images']} calibration images "
            f"and {c['clean_photos']} clean photos; threshold {c['threshold']}, closest below it "
            f"{c['closest_calibration_below_threshold']} (calibration), {c['closest_photo_below_threshold']} (photos)",
            "", "## Before/after crops", "", "report.png; the crops as PNG files in crops/: "
            + ", ".join(f"{x['id']}" for x in report["crops"]), ""]
    if report["notes"]:
        out += ["## Notes", "", *[f"- {n}" for n in report["notes"]], ""]
    return "\n".join(out)


def _nlf_panel(ax, levels: list[list], x: list, style: str, label: str) -> None:
    for c, colour in enumerate(_COLOURS):
        y = np.array([np.nan if v is None else v for v in levels[c]], dtype=float)
        xs = np.array(x[c] if isinstance(x[0], list) else x, dtype=float)
        ok = np.isfinite(y) & np.isfinite(xs)
        ax.plot(xs[ok], y[ok], style, color=colour, ms=3, lw=1.1, label=f"{label} {'RGB'[c]}")


def render_figure(report: dict, crops: list[dict]) -> bytes:
    """report.png: one line of crops per shown image (columns: noisy, each row's output, clean), then one
    noise-level panel per group. ``crops``: [{"id", "group", "tiles": [(title, uint8 H×W×3)]}]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("real", g) for g in report["realism"]] + [("photos", g) for g in report["noise_levels"]]
    ncols = max([len(c["tiles"]) for c in crops] + [len(panels), 1])
    nrows = len(crops) + (1 if panels else 0)
    fig, axes = plt.subplots(max(nrows, 1), ncols, figsize=(2.1 * ncols, 2.3 * max(nrows, 1)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, c in enumerate(crops):
        for j, (title, img) in enumerate(c["tiles"]):
            ax = axes[i, j]
            ax.imshow(img, interpolation="nearest")
            ax.set_title(title, fontsize=7)
        axes[i, 0].text(-0.05, 0.5, c["group"], transform=axes[i, 0].transAxes, rotation=90, fontsize=6,
                        ha="right", va="center")
    for j, (kind, g) in enumerate(panels):
        ax = axes[nrows - 1, j]
        ax.axis("on")
        if kind == "real":
            _nlf_panel(ax, g["nlf"]["real_8bit"], g["nlf"]["x"], "-o", "real")
            _nlf_panel(ax, g["nlf"]["profile"], g["nlf"]["x"], "--", "profile")
            ax.set_title(f"{g['group']}\nreal (—) vs profile (--)", fontsize=6)
        else:
            _nlf_panel(ax, g["std_8bit"], g["x"], "-o", "estimated")
            ax.set_title(f"{g['group']}\nnoise of the noisy photos", fontsize=6)
        ax.set_xlabel("intensity", fontsize=6)
        ax.set_ylabel("noise std (8-bit levels)", fontsize=6)
        ax.tick_params(labelsize=5)
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
