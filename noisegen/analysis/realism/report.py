"""What `noisegen realism` found: per-group scores of every model, the summary over groups, the published
anchors, the Markdown tables and the JSON record (the scoring itself: noisegen.analysis.realism.protocol).

Group AKLD = the mean over the group's test pairs of each pair's AKLD (mean over its L draws), as
DANet averages over SIDD's validation images; the summary is the mean over groups (each camera-ISO
group counts once, however many pairs it has). NLF, correlations and PSNR pool all test pairs (real)
or all test pairs and draws (simulated) of the group (noisegen.analysis.nlf); block statistics are
means over pairs (and draws).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from noisegen.analysis.calibrate.search import compare
from noisegen.analysis.nlf import NoiseStats, merge, nlf_from_stats
from noisegen.dataset.writer import versions

__all__ = ["ANCHORS", "BASELINES", "ModelScore", "GroupResult", "RealismReport", "summarise_group"]

BASELINES = ("AWGN", "sRGB a·x+b")
# Published AKLD on SIDD sRGB validation (Abdelhamed et al., CVPR 2018), lower is better. Other
# cameras and data than ours: a scale for the numbers, not a comparison.
ANCHORS = (
    {"model": "CBDNet noise model", "akld": 0.728,
     "source": "reported by Yue et al., DANet, ECCV 2020 (noise generation on SIDD sRGB validation)"},
    {"model": "DANet", "akld": 0.212,
     "source": "Yue et al., DANet, ECCV 2020 (noise generation on SIDD sRGB validation)"},
    {"model": "PNGAN", "akld": 0.153,
     "source": "Cai et al., PNGAN, NeurIPS 2021 (SIDD sRGB validation)"},
)


def _num(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _nanmean(values) -> float:
    a = np.array([np.nan if v is None else v for v in values], dtype=float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


@dataclass
class ModelScore:
    """One model on one group. akld: group AKLD; akld_pairs: pair id → its AKLD; self_akld: the model's
    estimation floor (None with one draw); stats: real-vs-simulated statistics (calibrate_search.compare:
    nlf_rel_mean/max, lag1, lag2, cross, psnr, ...); nlf: per-bin NLF (8-bit levels) real, simulated and
    relative error; blocks: {"real"|"sim": {"boundary_ratio", "flat_fraction"}}."""

    akld: float
    akld_pairs: dict[str, float]
    self_akld: float | None
    stats: dict
    nlf: dict
    blocks: dict

    def to_dict(self) -> dict:
        return {"akld": self.akld, "akld_pairs": self.akld_pairs, "self_akld": self.self_akld, "stats": self.stats,
                "nlf": self.nlf, "blocks": self.blocks}


@dataclass
class GroupResult:
    """One camera-ISO group: its split, the models (fitted on its calibration pairs where they are
    fitted), their scores by key, and figure data (maps of one test pair; not in the JSON)."""

    name: str
    camera: str | None
    iso: int | None
    calib: list[str]
    test: list[str]
    calib_scenes: list[str]
    test_scenes: list[str]
    models: list
    scores: dict[str, ModelScore]
    real: dict
    maps: dict | None = None
    map_pair: str | None = None

    def to_dict(self) -> dict:
        return {"name": self.name, "camera": self.camera, "iso": self.iso, "calib_pairs": self.calib,
                "test_pairs": self.test, "calib_scenes": self.calib_scenes, "test_scenes": self.test_scenes,
                "models": [m.to_dict() for m in self.models], "real": self.real,
                "scores": {k: s.to_dict() for k, s in self.scores.items()}}


def _blocks_mean(blocks) -> dict:
    return {"boundary_ratio": _num(_nanmean([b.boundary_ratio for b in blocks])),
            "flat_fraction": _num(_nanmean([b.flat_fraction for b in blocks]))}


def _nlf_detail(real: NoiseStats, sim: NoiseStats, config) -> dict:
    kw = dict(bins=config.bins, min_count=config.min_count, max_clip=config.max_clip)
    rf, sf = nlf_from_stats(real, **kw), nlf_from_stats(sim, **kw)
    ok = rf.valid & sf.valid
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(ok, sf.std / rf.std - 1.0, np.nan)

    def rows(a) -> list:
        return [[_num(v) for v in row] for row in np.asarray(a, dtype=float)]
    return {"x": rows(rf.x), "real_8bit": rows(np.where(rf.valid, rf.std * 255, np.nan)),
            "sim_8bit": rows(np.where(sf.valid, sf.std * 255, np.nan)), "rel_err": rows(rel)}


def _clean_stats(d: dict) -> dict:
    out = {}
    for k, v in d.items():
        if k.startswith("_"):
            continue
        if isinstance(v, dict):
            out[k] = _clean_stats(v)
        elif isinstance(v, (list, tuple)):
            out[k] = [_num(x) if isinstance(x, (int, float, np.floating)) or x is None else x for x in v]
        elif isinstance(v, (bool, np.bool_)):
            out[k] = bool(v)
        elif isinstance(v, (int, float, np.floating, np.integer)):
            out[k] = _num(v)
        else:
            out[k] = v
    return out


def summarise_group(group, models: list, scores: list, config) -> GroupResult:
    """Aggregate the PairScores of one GroupSplit into a GroupResult (see the module docstring)."""
    real = merge(s.real for s in scores)
    cmp_cfg = SimpleNamespace(bins=config.bins, min_count=config.min_count, max_clip=config.max_clip,
                              fit_max_clip=config.max_clip)
    out: dict[str, ModelScore] = {}
    for m in models:
        sim = merge(s.sims[m.key] for s in scores)
        with np.errstate(invalid="ignore", divide="ignore"):
            stats = _clean_stats(compare(real, sim, cmp_cfg))
        floors = [f for s in scores for f in s.self_akld[m.key]]
        per_pair = {s.pair_id: float(np.mean(s.akld[m.key])) for s in scores}
        out[m.key] = ModelScore(
            akld=float(np.mean(list(per_pair.values()))), akld_pairs=per_pair,
            self_akld=float(np.mean(floors)) if floors else None, stats=stats, nlf=_nlf_detail(real, sim, config),
            blocks={"real": _blocks_mean([s.real_blocks for s in scores]),
                    "sim": _blocks_mean([b for s in scores for b in s.blocks[m.key]])})
    first = next((s for s in scores if s.maps is not None), None)
    return GroupResult(
        name=group.name, camera=group.camera, iso=group.iso, calib=[p.id for p in group.calib],
        test=[p.id for p in group.test], calib_scenes=sorted({p.scene for p in group.calib}),
        test_scenes=sorted({p.scene for p in group.test}), models=list(models), scores=out,
        real={"pairs": len(scores), "pixels": int(real.n_pixels)}, maps=None if first is None else first.maps,
        map_pair=None if first is None else first.pair_id)


def _f(v, fmt: str = ".3f") -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


@dataclass
class RealismReport:
    """Result of run_realism: per-group results, what was skipped, the run's configuration and time."""

    config: object
    groups: list[GroupResult]
    skipped_groups: list[dict] = field(default_factory=list)
    skipped_models: list[dict] = field(default_factory=list)
    skipped_files: list[dict] = field(default_factory=list)
    elapsed: float = 0.0
    roots: dict = field(default_factory=dict)

    @property
    def keys(self) -> list[str]:
        """Model keys in column order (baselines first)."""
        out: list[str] = []
        for g in self.groups:
            out += [k for k in g.scores if k not in out]
        return out

    def akld(self, group: GroupResult, key: str) -> float | None:
        s = group.scores.get(key)
        return None if s is None else s.akld

    def mean_akld(self) -> dict[str, float | None]:
        """Mean group AKLD per model over the groups where it was scored."""
        out = {}
        for k in self.keys:
            v = [self.akld(g, k) for g in self.groups if self.akld(g, k) is not None]
            out[k] = float(np.mean(v)) if v else None
        return out

    def wins(self) -> dict[str, tuple[int, int]]:
        """Per non-baseline model: (groups where it beats both baselines, groups where it was scored)."""
        out = {}
        for k in self.keys:
            if k in BASELINES:
                continue
            won = scored = 0
            for g in self.groups:
                v = self.akld(g, k)
                if v is None:
                    continue
                scored += 1
                base = [a for b in BASELINES if (a := self.akld(g, b)) is not None]   # a skipped baseline: the other
                won += bool(base) and v < min(base)
            out[k] = (won, scored)
        return out

    def table(self) -> str:
        """The AKLD table (Markdown): one row per group, one column per model, mean and wins below."""
        keys = self.keys
        head = ["group", "test pairs (scenes)", *keys, "best"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for g in self.groups:
            vals = {k: self.akld(g, k) for k in keys}
            best = min((k for k in keys if vals[k] is not None), key=lambda k: vals[k])
            lines.append(f"| {g.name} | {len(g.test)} ({len(g.test_scenes)}) | "
                         + " | ".join(_f(vals[k]) for k in keys) + f" | {best} |")
        mean = self.mean_akld()
        lines.append(f"| **mean** ({len(self.groups)} groups) | {sum(len(g.test) for g in self.groups)} | "
                     + " | ".join(_f(mean[k]) for k in keys) + " | |")
        wins = self.wins()
        lines.append("| beats both baselines | | " + " | ".join(
            "" if k in BASELINES else f"{wins[k][0]}/{wins[k][1]}" for k in keys) + " | |")
        return "\n".join(lines)

    def stats_table(self) -> str:
        """Real vs simulated statistics (Markdown): per group a 'real' row, then one row per model."""
        head = ["group", "model", "AKLD", "floor", "NLF err mean/max", "ρ lag 1", "ρ lag 2", "ρ RGB", "8×8 step ratio",
                "flat 8×8 blocks", "PSNR dB"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for g in self.groups:
            first = next(iter(g.scores.values()))
            st, bl = first.stats, first.blocks["real"]
            lines.append(f"| {g.name} | real | | | | {_f(st['lag1']['real'], '.2f')} | "
                         f"{_f(st['lag2']['real'], '.2f')} | {_f(st['cross']['real'], '.2f')} | "
                         f"{_f(bl['boundary_ratio'], '.2f')} | "
                         f"{_f(_pct(bl['flat_fraction']), '.1f')}% | {_f(st['psnr']['real'], '.2f')} |")
            for k, s in g.scores.items():
                st, bl = s.stats, s.blocks["sim"]
                lines.append(
                    f"| | {k} | {_f(s.akld)} | {_f(s.self_akld)} | {_f(_pct(st['nlf_rel_mean']), '.1f')}%/"
                    f"{_f(_pct(st['nlf_rel_max']), '.0f')}% | {_f(st['lag1']['sim'], '.2f')} | "
                    f"{_f(st['lag2']['sim'], '.2f')} | {_f(st['cross']['sim'], '.2f')} | "
                    f"{_f(bl['boundary_ratio'], '.2f')} | {_f(_pct(bl['flat_fraction']), '.1f')}% | "
                    f"{_f(st['psnr']['sim'], '.2f')} |")
        return "\n".join(lines)

    def anchors_text(self) -> str:
        return "Published AKLD anchors (SIDD sRGB validation, lower is better; other cameras and data):\n" + "\n".join(
            f"  {a['model']}: {a['akld']:.3f} ({a['source']})" for a in ANCHORS)

    def markdown(self) -> str:
        """The whole report as Markdown: setup, AKLD table, statistics table, anchors, skipped."""
        c = self.config
        where = (f"pairs {', '.join(c.pairs)} split by scene within each camera-ISO group ({c.split}, seed {c.seed})"
                 if c.pairs else f"calibration {', '.join(c.calib)}, test {', '.join(c.test)}")
        parts = ["# Realism: AKLD on held-out real pairs (lower is better)\n",
                 f"{where}; {c.draws} draws per test pair and model"
                 + (f"; centre crops {c.crop}²" if c.crop else "") + (" ; **IN-SAMPLE** (test = calibration pairs)"
                                                                       if c.in_sample else "") + ".\n",
                 self.table(), "\nReal vs simulated (floor: the model's AKLD against its own draws; NLF error: "
                 "|σ_sim/σ_real − 1| over valid bins and channels; ρ: residual correlations; 8×8 step ratio and flat "
                 "blocks: JPEG traces, noisegen.analysis.realism.blocks):\n", self.stats_table(),
                 "\n" + self.anchors_text()]
        skipped = self.skipped_groups + self.skipped_models
        if skipped:
            parts.append("\nSkipped: " + "; ".join(
                f"{s['group']}" + (f" ({s['model']})" if "model" in s else "") + f": {s['reason']}" for s in skipped))
        parts.append(f"\n{self.elapsed:.0f} s")
        return "\n".join(parts) + "\n"

    def to_dict(self) -> dict:
        return {"format": "noisegen-realism/1", "config": dataclasses.asdict(self.config), "roots": self.roots,
                "metric": {"akld": "Yue et al. 2020 (noisegen.analysis.realism.akld): residuals in [0,1], 7×7 OpenCV "
                           "getGaussianKernel(7,-1) window, BORDER_REFLECT_101, variance floor 1e-10, "
                           "KL(N(0,v_sim)||N(0,v_real)) with v_sim/v_real clamped to [0.1,10]; mean over pixels, "
                           "draws, then test pairs (group) and groups (mean)"},
                "models": self.keys, "mean_akld": self.mean_akld(),
                "wins": {k: {"beats_both_baselines": w, "groups": n} for k, (w, n) in self.wins().items()},
                "groups": [g.to_dict() for g in self.groups], "anchors": list(ANCHORS),
                "skipped_groups": self.skipped_groups, "skipped_models": self.skipped_models,
                "skipped_files": self.skipped_files, "versions": versions(), "elapsed_s": round(self.elapsed, 2)}


def _pct(v) -> float | None:
    return None if v is None else 100.0 * v
