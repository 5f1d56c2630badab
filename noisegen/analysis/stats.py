"""`noisegen stats`: per-group noise statistics of a synthetic dataset or of real noisy/clean pairs.

Datasets (DESIGN.md §4): samples are grouped by their parameters (``by``: camera, crf, jpeg,
pattern, or several). ``fast=True`` reads index.parquet only: counts, parameter ranges, the
residual std and PSNR estimated from it, and the irradiance-domain NLF that the recorded σ_s, σ_c
imply (the σ map is a function of L and the parameters, so this equals what the σ maps hold, with
samples weighted equally). The full pass reads every shard (in parallel with joblib, one task per
shard, progress in samples/s) and measures what needs pixels: the sRGB NLF from residuals, spatial
and cross-channel correlations, PSNR, and the raw NLF binned from the σ maps (noisegen.analysis.nlf).
Damaged shards or samples are counted, listed and skipped.

Pairs (noisegen.dataset.pairs): grouped by camera and ISO (and by root when several roots are given).

Both return a StatsReport: per-group summaries (noisegen.analysis.nlf.summarize), skipped inputs, the
configuration and versions; ``to_dict`` is the JSON written by ``--json``, ``table`` the text
printed (and ``--table`` in Markdown).
"""

from __future__ import annotations

import math
import os
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from noisegen.analysis.nlf import RAW_BINS, NoiseStats, accumulate, image_stats, summarize
from noisegen.analysis.table import format_table
from noisegen.crf.bank import crf_inverse_u8
from noisegen.crf.io import load_bank
from noisegen.dataset.format import INDEX_NAME
from noisegen.dataset.pairs import load_pair, scan_pairs
from noisegen.dataset.reader import decode_sample, read_index, read_manifest, read_shard
from noisegen.dataset.writer import versions
from noisegen.isp.color import unprocess_color
from noisegen.isp.noise_level import noise_variance

__all__ = ["GROUP_KEYS", "StatsConfig", "GroupStats", "StatsReport", "group_of", "dataset_stats", "pairs_stats",
           "run_stats", "sample_irradiance", "shard_stats"]

GROUP_KEYS = ("camera", "crf", "jpeg", "pattern")
_PICKLE = (".pyd", ".pickle", ".pkl")


@dataclass(frozen=True)
class StatsConfig:
    """Configuration of `noisegen stats`.

    dataset: a dataset folder (written by `noisegen generate`); or pairs: folders of real pairs.
    by: grouping keys for datasets, any of GROUP_KEYS (jpeg groups by quality decade: none, q60-69, ...).
    group_regex: user regex with named groups camera/iso/scene for pair names (noisegen.dataset.pairs).
    bins: NLF bins over [0, 1]; min_count: fewest pixels for a valid bin; max_clip: largest clipped
    fraction for a valid bin. fast: datasets only, index.parquet only (no pixels). max_samples:
    datasets only, use at most this many samples, evenly spread over the index (None: all).
    workers: parallel processes for the shard pass. progress: tqdm bar on stderr.
    """

    dataset: str | None = None
    pairs: tuple[str, ...] = ()
    by: tuple[str, ...] = ("camera",)
    group_regex: str | None = None
    bins: int = 16
    min_count: int = 1000
    max_clip: float = 0.01
    fast: bool = False
    max_samples: int | None = None
    workers: int = 1
    progress: bool = True

    def __post_init__(self) -> None:
        put = object.__setattr__
        if isinstance(self.pairs, (str, os.PathLike)):
            put(self, "pairs", (str(self.pairs),))
        put(self, "pairs", tuple(str(p) for p in self.pairs))
        if (self.dataset is None) == (not self.pairs):
            raise ValueError("give either a dataset folder or --pairs folders (not both, not neither)")
        if isinstance(self.by, str):
            put(self, "by", tuple(b.strip() for b in self.by.split(",") if b.strip()))
        bad = [b for b in self.by if b not in GROUP_KEYS]
        if bad or not self.by:
            raise ValueError(f"by: expected one or more of {', '.join(GROUP_KEYS)}, "
                             f"got {', '.join(self.by) or 'nothing'}")
        if not isinstance(self.bins, int) or not 2 <= self.bins <= 256:
            raise ValueError(f"bins: expected an integer in 2..256, got {self.bins!r}")
        if self.min_count < 1 or not 0 <= self.max_clip <= 1:
            raise ValueError("min_count must be >= 1 and max_clip in [0, 1]")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"max_samples: expected None or >= 1, got {self.max_samples}")
        if self.workers < 1:
            raise ValueError(f"workers: expected >= 1, got {self.workers}")
        if self.pairs and (self.fast or self.max_samples):
            raise ValueError("fast and max_samples apply to datasets only, not to --pairs")


@dataclass
class GroupStats:
    """One group: its name, the values that define it, its sums (None in fast mode) and the summary."""

    name: str
    key: dict
    stats: NoiseStats | None
    summary: dict


@dataclass
class StatsReport:
    """What `noisegen stats` measured (``to_dict`` is the --json file)."""

    kind: str                   # "dataset" or "pairs"
    mode: str                   # "full", "index" or "pairs"
    sources: list[str]
    config: dict
    groups: list[GroupStats]
    skipped: list[dict] = field(default_factory=list)
    elapsed: float = 0.0
    layouts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"format": "noisegen-stats/1", "kind": self.kind, "mode": self.mode, "sources": self.sources,
                "config": self.config, "versions": versions(), "elapsed_s": round(self.elapsed, 3),
                "units": "std and σ in full-scale units [0, 1] (×255 for 8-bit levels) unless the name ends in _8bit; "
                         "PSNR in dB; nlf bins by clean intensity, raw_nlf bins by irradiance L",
                "layouts": self.layouts,
                "groups": [{"name": g.name, "key": g.key, **g.summary} for g in self.groups],
                "skipped": self.skipped}

    def table(self, markdown: bool = False) -> str:
        """One row per group (noisegen.analysis.table.format_table); Markdown when ``markdown``."""
        return format_table(self, markdown=markdown)


def _jpeg_bucket(q) -> str:
    if q is None or (isinstance(q, float) and math.isnan(q)):
        return "none"
    q = int(q)
    return "q100" if q >= 100 else f"q{10 * (q // 10)}-{10 * (q // 10) + 9}"


def group_of(params: dict, by: tuple[str, ...]) -> tuple[str, dict]:
    """(name, key) of the group of a sample from its parameters (SampleParams.to_dict() or an index row)."""
    key = {}
    for b in by:
        if b == "jpeg":
            key[b] = _jpeg_bucket(params.get("jpeg_quality"))
        elif b == "pattern":
            key[b] = params.get("pattern") or "none"
        else:
            key[b] = str(params.get(b))
    name = key[by[0]] if len(by) == 1 else " ".join(f"{k}={v}" for k, v in key.items())
    return name, key


def sample_irradiance(clean: np.ndarray, params: dict) -> np.ndarray | None:
    """Raw irradiance at which the sample's σ map holds: f⁻¹(clean), then CCM⁻¹ and WB⁻¹ when recorded.

    Returns None when the sample's CRF bank is not available on this machine.
    """
    try:
        crf = load_bank(params.get("crf_bank", "default")).get(params.get("crf", "linear"))
    except (FileNotFoundError, KeyError, ValueError):
        return None
    L = crf_inverse_u8(clean, crf)
    ccm = params.get("rgb_to_camera")
    wb = params.get("wb_gains")
    if ccm is None and wb is None:
        return L
    raw, _ = unprocess_color(L, None if ccm is None else np.reshape(ccm, (3, 3)), None if wb is None else tuple(wb))
    return raw


def _shard_damage(path: str, damaged: list[dict]) -> Callable[[BaseException], bool]:
    """A reader error handler that lists each problem of shard ``path`` in ``damaged`` (and goes on)."""
    def handle(exn: BaseException) -> bool:
        damaged.append({"source": Path(path).name, "reason": str(exn.args[0]) if exn.args else repr(exn),
                        "stage": "shard"})
        return True
    return handle


def shard_stats(path: str, by: tuple[str, ...], keys: frozenset[str] | None = None,
                on_sample: Callable[[], None] | None = None) -> tuple[dict, list[dict], int]:
    """NoiseStats per group of one shard: ({name: (key, NoiseStats)}, damaged [{source, reason}], samples read).

    keys: only these sample keys (None: all). A shard that cannot be read is one damage entry.
    """
    groups: dict[str, list] = {}
    damaged: list[dict] = []
    n = 0
    for raw in read_shard(path, handler=_shard_damage(path, damaged)):
        if keys is not None and raw["__key__"] not in keys:
            continue
        try:
            s = decode_sample(raw)
        except ValueError as exc:
            damaged.append({"source": f"{Path(path).name}:{raw['__key__']}", "reason": str(exc), "stage": "decode"})
            continue
        meta = s["params"]
        # real pairs packed by noisegen pack-pairs have no camera parameters, only camera/ISO
        params = meta.get("params") or {"camera": meta.get("camera"), "iso": meta.get("iso")}
        name, key = group_of(params, by)
        L = sample_irradiance(s["clean"], params) if s["sigma"] is not None else None
        st = image_stats(s["clean"], s["noisy"], s["sigma"] if L is not None else None, L)
        if name in groups:
            accumulate(groups[name][1], st)
        else:
            groups[name] = [key, st]
        n += 1
        if on_sample is not None:
            on_sample()
    return {k: tuple(v) for k, v in groups.items()}, damaged, n


def _raw_nlf_from_params(rows: list[dict]) -> dict:
    """RMS over samples of σ(L) = sqrt(L·σ_s² + σ_c²) at the raw bin centres (the σ maps' NLF, per sample)."""
    centres = (np.arange(RAW_BINS) + 0.5) / RAW_BINS
    acc = np.zeros((3, RAW_BINS))
    for r in rows:
        s, k = ([r.get(f"{name}_{ch}") or 0.0 for ch in "rgb"] for name in ("sigma_s", "sigma_c"))
        acc += noise_variance(centres[:, None], s, k).T
    std = np.sqrt(acc / max(len(rows), 1))
    return {"edges": np.linspace(0, 1, RAW_BINS + 1).tolist(), "x": [centres.tolist()] * 3, "std": std.tolist(),
            "valid": [[True] * RAW_BINS] * 3, "source": "parameters (index.parquet)"}


def _index_summary(rows: list[dict]) -> dict:
    def dist(name: str) -> dict | None:
        v = np.array([r[name] for r in rows if r.get(name) is not None], dtype=float)
        if v.size == 0:
            return None
        return {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max()),
                "p5": float(np.percentile(v, 5)), "p95": float(np.percentile(v, 95))}

    res = np.array([r["residual_std"] for r in rows if r.get("residual_std")], dtype=float)
    res = res[res > 0]
    out = {"samples": len(rows),
           "psnr_est_mean": float(np.mean(-20 * np.log10(res))) if res.size else None,
           "residual_std_index_mean": float(res.mean()) if res.size else None,
           "jpeg_share": float(np.mean([r.get("jpeg_quality") is not None for r in rows])) if rows else None}
    for name in ("sigma_s", "sigma_c"):
        for ch in "rgb":
            out[f"{name}_{ch}"] = dist(f"{name}_{ch}")
    for name in ("crf", "pattern", "demosaic", "camera"):
        counts: dict[str, int] = defaultdict(int)
        for r in rows:
            counts[str(r.get(name) or "none")] += 1
        out[f"{name}_counts"] = dict(sorted(counts.items()))
    return out


def _select(keys: list[str], max_samples: int | None) -> frozenset[str] | None:
    if max_samples is None or max_samples >= len(keys):
        return None
    idx = np.unique(np.linspace(0, len(keys) - 1, max_samples).round().astype(int))
    return frozenset(keys[i] for i in idx)


def dataset_stats(config: StatsConfig, echo: Callable[[str], None] = lambda s: None) -> StatsReport:
    """Statistics of a dataset folder (see the module docstring)."""
    t0 = time.perf_counter()
    folder = Path(config.dataset)
    manifest = read_manifest(folder)
    index_rows = read_index(folder / INDEX_NAME).to_pylist() if (folder / INDEX_NAME).is_file() else []
    by_group: dict[str, tuple[dict, list[dict]]] = {}
    for r in index_rows:
        name, key = group_of(r, config.by)
        by_group.setdefault(name, (key, []))[1].append(r)
    skipped = [dict(s) for s in manifest.get("skipped", [])]
    kw = dict(bins=config.bins, min_count=config.min_count, max_clip=config.max_clip)
    if config.fast:
        if not index_rows:
            raise ValueError(f"{folder}: no {INDEX_NAME} (or it is empty); run without --fast to read the shards")
        groups = [GroupStats(name, key, None, {**_index_summary(rows), "raw_nlf": _raw_nlf_from_params(rows)})
                  for name, (key, rows) in sorted(by_group.items())]
        return StatsReport("dataset", "index", [str(folder)], _config_dict(config), groups, skipped,
                           time.perf_counter() - t0)
    keys = _select([r["key"] for r in index_rows], config.max_samples)
    urls = [str(folder / s["name"]) for s in manifest["shards"]]
    per_shard = {str(folder / s["name"]): s["samples"] for s in manifest["shards"]}
    if keys is not None:
        by_shard: dict[str, int] = defaultdict(int)
        for r in index_rows:
            if r["key"] in keys:
                by_shard[str(folder / r["shard"])] += 1
        urls = [u for u in urls if by_shard.get(u)]
        per_shard = {u: by_shard[u] for u in urls}
    total = sum(per_shard.values())
    echo(f"{folder}: reading {total} samples from {len(urls)} shards with {config.workers} worker(s)")
    from tqdm import tqdm

    bar = tqdm(total=total, unit="sample", desc="stats", disable=not config.progress, smoothing=0.1,
               mininterval=0.5, dynamic_ncols=True)
    merged: dict[str, list] = {}
    try:
        if config.workers == 1:
            results = (shard_stats(u, config.by, keys, on_sample=lambda: bar.update(1)) for u in urls)
        else:
            from joblib import Parallel, delayed

            results = Parallel(n_jobs=min(config.workers, len(urls)), backend="loky", return_as="generator")(
                delayed(shard_stats)(u, config.by, keys) for u in urls)
        for u, (groups, damaged, n) in zip(urls, results):
            if config.workers > 1:
                bar.update(per_shard[u])
            skipped.extend(damaged)
            for name, (key, st) in groups.items():
                if name in merged:
                    accumulate(merged[name][1], st)
                else:
                    merged[name] = [key, st]
    finally:
        bar.close()
    out = []
    for name in sorted(merged):
        key, st = merged[name]
        summary = summarize(st, **kw)
        if name in by_group:
            summary["parameters"] = _index_summary(by_group[name][1])
        out.append(GroupStats(name, key, st, summary))
    return StatsReport("dataset", "full", [str(folder)], _config_dict(config), out, skipped, time.perf_counter() - t0)


def pairs_stats(config: StatsConfig, echo: Callable[[str], None] = lambda s: None) -> StatsReport:
    """Statistics of real noisy/clean pairs, per camera and ISO (see noisegen.dataset.pairs)."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    scan = scan_pairs(config.pairs, config.group_regex)
    skipped = [s.to_dict() for s in scan.skipped]
    if not scan.pairs:
        raise ValueError(f"no usable noisy/clean pair in {', '.join(config.pairs)} ({scan.found} image files, "
                         f"{len(skipped)} skipped; first reasons: "
                         + "; ".join(f"{s['source']}: {s['reason']}" for s in skipped[:3]) + ")")
    echo(f"{len(scan.pairs)} pairs ({len(skipped)} files skipped) in {', '.join(config.pairs)}")
    with_root = len(config.pairs) > 1
    merged: dict[str, list] = {}
    for pair in tqdm(scan.pairs, unit="pair", desc="stats", disable=not config.progress, dynamic_ncols=True):
        try:
            clean, noisy = load_pair(pair)
        except (ValueError, OSError) as exc:
            skipped.append({"source": pair.id, "path": pair.noisy, "reason": str(exc), "stage": "decode"})
            continue
        name = pair.group(with_root=with_root)
        st = image_stats(clean, noisy)
        if name in merged:
            accumulate(merged[name][1], st)
            merged[name][2].append(pair.id)
        else:
            key = {"root": pair.root, "camera": pair.camera, "iso": pair.iso}
            merged[name] = [key, st, [pair.id]]
    kw = dict(bins=config.bins, min_count=config.min_count, max_clip=config.max_clip)
    groups = []
    def order(n: str) -> tuple:
        key = merged[n][0]
        return key["root"], str(key["camera"]), key["iso"] or 0

    for name in sorted(merged, key=order):
        key, st, ids = merged[name]
        groups.append(GroupStats(name, key, st, {**summarize(st, **kw), "pairs": ids}))
    return StatsReport("pairs", "pairs", list(config.pairs), _config_dict(config), groups, skipped,
                       time.perf_counter() - t0, list(scan.layouts))


def run_stats(config: StatsConfig, echo: Callable[[str], None] = lambda s: None) -> StatsReport:
    """dataset_stats or pairs_stats, as the configuration says."""
    return pairs_stats(config, echo) if config.pairs else dataset_stats(config, echo)


def _config_dict(config: StatsConfig) -> dict:
    d = asdict(config)
    d.pop("progress", None)
    d.pop("workers", None)
    return d
