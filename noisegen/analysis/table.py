"""The table of `noisegen stats`: one row per group, as text (aligned columns) or Markdown.

Pixel statistics (full pass, real pairs): images, PSNR, residual std per channel and the NLF at
x = 0.25 / 0.5 / 0.75 (mean over channels), in 8-bit levels; lag-1 and lag-2 autocorrelation
(horizontal/vertical, mean over channels); cross-channel correlations. Index-only reports: samples,
PSNR estimated from the recorded residual std, σ_s and σ_c (mean, 5-95% range), JPEG share.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["format_table"]


def _f(v, fmt: str = "{:.2f}") -> str:
    return "-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else fmt.format(v)


def _mean(vals) -> float | None:
    v = [x for x in vals if x is not None]
    return float(np.mean(v)) if v else None


def format_table(report, markdown: bool = False) -> str:
    """One row per group: images, PSNR, residual std per channel and the NLF at x = 0.25/0.5/0.75 (mean over
    channels), all in 8-bit levels, lag-1 / lag-2 autocorrelation and the cross-channel correlations."""
    if report.mode == "index":
        head = ["group", "samples", "PSNR≈", "σ_s (mean, p5-p95)", "σ_c (mean, p5-p95)", "JPEG share"]
        rows = []
        for g in report.groups:
            s = g.summary

            def rng(name: str) -> str:
                d = [s.get(f"{name}_{c}") for c in "rgb"]
                d = [x for x in d if x]
                if not d:
                    return "-"
                mean = np.mean([x["mean"] for x in d])
                return f"{mean:.4f} ({min(x['p5'] for x in d):.4f}-{max(x['p95'] for x in d):.4f})"
            rows.append([g.name, str(s["samples"]), _f(s["psnr_est_mean"]), rng("sigma_s"), rng("sigma_c"),
                         _f(s["jpeg_share"], "{:.0%}")])
    else:
        head = ["group", "images", "PSNR dB", "σ R/G/B (8-bit)", "σ@.25", "σ@.50", "σ@.75", "ρ h1/v1", "ρ h2/v2",
                "ρ RG/RB/GB"]
        rows = []
        for g in report.groups:
            s = g.summary
            std = "/".join(_f(v, "{:.2f}") for v in s["residual_std_8bit"])
            at = [_mean(s["nlf_at"][k]) for k in ("0.25", "0.50", "0.75")]
            ac = s["autocorrelation"]
            cc = s["cross_correlation"]
            rows.append([g.name, str(s["images"]), _f(s["psnr_mean"]), std,
                         *[_f(None if a is None else a * 255) for a in at],
                         f"{_f(_mean(ac['h1']))}/{_f(_mean(ac['v1']))}", f"{_f(_mean(ac['h2']))}/{_f(_mean(ac['v2']))}",
                         "/".join(_f(cc[p]) for p in ("RG", "RB", "GB"))])
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    return "\n".join([fmt.format(*head)] + [fmt.format(*r) for r in rows])
