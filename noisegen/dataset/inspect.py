"""`noisegen inspect OUT [--verify]`: what a dataset holds, and whether its shards are intact.

The summary (counts, shard sizes, sources, parameter distributions, cheap statistics) reads only
dataset.json and index.parquet. ``--verify`` reads every shard: it must exist, have the recorded
size and sha256, be a readable tar of regular files named KEY.MEMBER (read by the readers' own rule,
noisegen.dataset.reader.shard_entries), hold exactly the members listed in dataset.json for every key
(no pickle), and hold the keys that index.parquet lists for it; every sample must decode and
validate as the readers read it in every mode (noisegen.dataset.reader: PNGs within the limits, the
json's schema and parameters by the rules of SampleParams, σ stored or derived finite, ≥ 0 and
within the format's range), and its json must agree with its index.parquet row; and dataset.json's
counts must agree with its shard list and with index.parquet.
"""

from __future__ import annotations

import os
import tarfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from noisegen.command import brief
from noisegen.dataset.format import INDEX_NAME, MANIFEST_NAME, PARTIAL_DIR, PICKLE_SUFFIXES, index_fields
from noisegen.dataset.reader import (
    QuietDamageCounter,
    decode_sample,
    read_index,
    read_manifest,
    read_shard,
    shard_entries,
)
from noisegen.dataset.sources import file_sha256
from noisegen.files import file_kind

__all__ = ["Damage", "verify_dataset", "describe_dataset", "repair_advice"]


@dataclass(frozen=True)
class Damage:
    """A problem found by verify_dataset: the shard (or file) and what is wrong with it."""

    name: str
    problem: str

    def __str__(self) -> str:
        return f"{self.name}: {self.problem}"


def _check_members(path: Path, expected: set[str], index_keys: list[str]) -> list[str]:
    problems: list[str] = []
    members: dict[str, set[str]] = defaultdict(set)
    order: list[str] = []
    try:
        for info, _ in shard_entries(str(path)):  # the readers' rule on compressed shards applies here too
            if not info.isreg():
                problems.append(f"member {info.name!r} is not a regular file")
                continue
            key, dot, member = info.name.partition(".")
            if not dot or "/" in info.name:
                problems.append(f"member {info.name!r} is not named KEY.MEMBER")
                continue
            if info.name.lower().endswith(PICKLE_SUFFIXES):
                problems.append(f"member {info.name!r} is a pickle (never allowed)")
            if key not in members:
                order.append(key)
            if member in members[key]:
                problems.append(f"member {info.name!r} appears twice")
            members[key].add(member)
    except ValueError as exc:
        return [str(exc)]
    except (tarfile.TarError, OSError, EOFError) as exc:
        return [f"unreadable tar ({type(exc).__name__}: {exc})"]
    for key in order:
        if members[key] != expected:
            missing, extra = sorted(expected - members[key]), sorted(members[key] - expected)
            problems.append(f"sample {key}: " + ", ".join(
                ([f"missing {missing}"] if missing else []) + ([f"unexpected {extra}"] if extra else [])))
    if order != index_keys:
        problems.append(f"holds {len(order)} samples, index.parquet lists {len(index_keys)} "
                        f"({'different keys' if len(order) == len(index_keys) else 'counts differ'})")
    return problems


def _index_rows(folder: Path) -> dict[str, list[dict]]:
    """index.parquet's rows by shard (ValueError / OSError when it is unreadable)."""
    index = read_index(folder / INDEX_NAME)
    positions: dict[str, list[int]] = defaultdict(list)
    for i, shard in enumerate(index.column("shard").to_pylist()):
        positions[shard].append(i)
    return {shard: index.take(rows).to_pylist() for shard, rows in positions.items()}


def _check_counts(m: dict, index_rows: dict[str, list[dict]] | None) -> list[Damage]:
    """dataset.json's counts against its own shard list (and index.parquet's rows)."""
    shards = m["shards"]
    expect = {"samples": sum(s["samples"] for s in shards), "shards": len(shards),
              "bytes": sum(s["bytes"] for s in shards)}
    out = [Damage(MANIFEST_NAME, f"counts.{k} is {m['counts'].get(k, 'missing')}, its shard list holds {v}")
           for k, v in expect.items() if m["counts"].get(k) != v]
    if not expect["samples"]:
        out.append(Damage(MANIFEST_NAME, "lists no samples: the dataset is empty (regenerate it from readable images)"))
    if index_rows is not None:
        rows = sum(map(len, index_rows.values()))
        if rows != expect["samples"]:
            out.append(Damage(INDEX_NAME, f"lists {rows} samples, dataset.json's shards {expect['samples']}"))
        stray = sorted(set(index_rows) - {s["name"] for s in shards})
        if stray:
            out.append(Damage(INDEX_NAME, f"lists samples of shards that dataset.json does not: {stray[:3]}"))
    return out


def verify_dataset(folder: str | os.PathLike[str]) -> list[Damage]:
    """Check every shard of the dataset in ``folder`` (see module docstring); [] when intact."""
    folder = Path(folder)
    m = read_manifest(folder)
    damages: list[Damage] = []
    try:
        rows_by_shard: dict[str, list[dict]] | None = _index_rows(folder)
    except (OSError, ValueError) as exc:
        damages.append(Damage(INDEX_NAME, f"unreadable ({type(exc).__name__}: {exc})"))
        rows_by_shard = None
    damages += _check_counts(m, rows_by_shard)
    expected = set(m.get("members", {}))
    for s in m["shards"]:
        p = folder / s["name"]
        if not p.is_file():
            damages.append(Damage(s["name"], "missing" if not p.exists() else f"is {file_kind(p)}, not a regular file"))
            continue
        size = p.stat().st_size
        if size != s["bytes"]:
            damages.append(Damage(s["name"], f"size {size} bytes, dataset.json records {s['bytes']} "
                                  "(truncated or replaced)"))
        digest = file_sha256(p)
        if digest != s["sha256"]:
            damages.append(Damage(s["name"], f"sha256 {digest[:16]}…, dataset.json records {s['sha256'][:16]}…"))
        rows = rows_by_shard.get(s["name"], []) if rows_by_shard is not None else None
        if rows is not None and len(rows) != s["samples"]:
            damages.append(Damage(s["name"], f"index.parquet lists {len(rows)} samples, dataset.json {s['samples']}"))
        problems = _check_members(p, expected, [r["key"] for r in rows] if rows is not None else [])
        if rows is None:
            problems = [q for q in problems if "index.parquet" not in q]
        problems += _check_contents(p, require_sigma=any(k.startswith("sigma.") for k in expected), rows=rows)
        damages.extend(Damage(s["name"], q) for q in problems[:5])
        if len(problems) > 5:
            damages.append(Damage(s["name"], f"... and {len(problems) - 5} more problems"))
    return damages


def _same(a, b) -> bool:
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return a is not None and b is not None and list(a) == list(b)
    return a == b


def _check_contents(path: Path, *, require_sigma: bool, rows: list[dict] | None) -> list[str]:
    """Decode and validate every sample of a shard as the reader does (the same checks in every read mode:
    the json's schema and parameters, σ stored or derived), and compare each json with its index row."""
    errors = QuietDamageCounter()
    by_key = {r["key"]: r for r in rows} if rows is not None else {}
    bad, differ = [], []
    for raw in read_shard(str(path), handler=errors):
        try:
            meta = decode_sample(raw, require_sigma=require_sigma)["params"]
        except ValueError as exc:
            bad.append(str(exc))
            continue
        row = by_key.get(raw["__key__"])
        if row is not None:
            wrong = [c for c, v in index_fields(meta).items() if c in row and not _same(row[c], v)]
            if wrong:
                c = wrong[0]
                differ.append(f"sample {raw['__key__']}: {', '.join(wrong[:4])} (index {row[c]!r}, json "
                              f"{index_fields(meta)[c]!r})")
    out = []
    if bad:
        out.append(f"{len(bad)} sample(s) fail to decode or validate; first: {brief(bad[0], 300)}")
    if differ:
        out.append(f"{len(differ)} sample(s) disagree with index.parquet; first: {differ[0]}")
    return out


def repair_advice(folder: str | os.PathLike[str]) -> str:
    """What to do about damaged shards of the dataset in ``folder`` (printed by `inspect --verify`)."""
    try:
        m = read_manifest(folder)
    except (OSError, ValueError):
        m = {}
    if m.get("kind") == "real-pairs":
        return ("repair: rerun the same `noisegen pack-pairs` command into a new --out folder "
                "(same inputs and seed give the same bytes)")
    return (f"repair: rerun the same `noisegen generate ... --out {folder}` command with --resume: it checks every "
            "shard and rewrites the damaged ones (or regenerate into a new --out folder)")


def _dist(values: list, label: str) -> str:
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    if v.size == 0:
        return f"  {label}: none"
    p5, p50, p95 = np.percentile(v, [5, 50, 95])
    return (f"  {label}: mean {v.mean():.4f}, median {p50:.4f}, 5-95% [{p5:.4f}, {p95:.4f}], "
            f"range [{v.min():.4f}, {v.max():.4f}]")


def _shares(values: list, top: int = 6) -> str:
    c = Counter("none" if v is None else str(v) for v in values)
    n = max(sum(c.values()), 1)
    parts = [f"{k} {100 * k_n / n:.0f}%" for k, k_n in c.most_common(top)]
    if len(c) > top:
        parts.append(f"... {len(c) - top} more")
    return ", ".join(parts)


class _Fields:
    """A manifest section whose missing entries print as "?" (a damaged dataset.json still gets a summary)."""

    def __init__(self, d: dict) -> None:
        self.d = d

    def __getitem__(self, key: str):
        return self.d.get(key, "?")


def describe_dataset(folder: str | os.PathLike[str]) -> str:
    """A human summary of the dataset in ``folder`` from dataset.json and index.parquet."""
    folder = Path(folder)
    m = read_manifest(folder)
    c, cfg = _Fields(m["counts"]), _Fields(m["config"])
    prof = m["config"].get("profile")
    sizes = np.array([s["bytes"] for s in m["shards"]] or [0], dtype=np.float64)
    n, nbytes = len(m["shards"]), int(sizes.sum())
    samples = sum(s["samples"] for s in m["shards"])
    lines = [
        f"dataset {folder}  (format {m['format']} v{m['format_version']}, {m['created_by']})",
        f"  {samples} samples in {n} shards, {nbytes / 1e6:.1f} MB, "
        f"{nbytes / max(samples, 1) / 1e3:.0f} KB/sample; shard size min {sizes.min() / 1e6:.1f} / "
        f"median {np.median(sizes) / 1e6:.1f} / max {sizes.max() / 1e6:.1f} MB",
        f"  profile {prof.get('name', '?') if isinstance(prof, dict) else '?'}, patch {cfg['patch']}, "
        f"{cfg['patches_per_image']} per image ({cfg['crop']} crops), seed {cfg['seed']}",
        f"  sources: {c['images_used']} images used of {c['files_found']} files found; {c['skipped']} skipped"
        + (" (" + _shares([s.get("stage") if isinstance(s, dict) else "?" for s in m["skipped"]]) + ")"
           if m["skipped"] else ""),
    ]
    if isinstance(m.get("conversions"), dict) and m["conversions"]:
        lines.append("  conversions: " + ", ".join(f"{k} {v}" for k, v in m["conversions"].items()))
    try:
        t = read_index(folder / INDEX_NAME)
    except (OSError, ValueError) as exc:
        lines.append(f"  {INDEX_NAME}: unreadable ({exc})")
        return "\n".join(lines)
    col = {name: t.column(name).to_pylist() for name in t.column_names}
    lines.append("parameters:")
    for name in ("camera", "crf", "pattern", "demosaic", "noise_model"):
        if name in col:
            lines.append(f"  {name}: {_shares(col[name])}")
    if "jpeg_quality" in col:
        q = [v for v in col["jpeg_quality"] if v is not None]
        frac = len(q) / max(len(col["jpeg_quality"]), 1)
        quality = f", quality {min(q)}..{max(q)} (median {int(np.median(q))})" if q else ""
        lines.append(f"  jpeg: {100 * frac:.0f}% compressed{quality}")
    for name in ("sigma_s", "sigma_c", "wb_gains"):
        for ch in "rgb":
            if f"{name}_{ch}" in col and any(v is not None for v in col[f"{name}_{ch}"]):
                lines.append(_dist(col[f"{name}_{ch}"], f"{name}_{ch}"))
    lines.append("statistics:")
    for name in ("mean_intensity", "residual_std", "sigma_mean", "sigma_max"):
        if name in col:
            lines.append(_dist(col[name], name))
    if (folder / PARTIAL_DIR).exists() or list(folder.glob(".shard-*.tmp")):
        lines.append("note: leftover files of an interrupted run (.partial/ or .shard-*.tmp) are present")
    listed = {s["name"] for s in m["shards"]}
    extra = sorted(p.name for p in folder.glob("shard-*.tar") if p.name not in listed)
    if extra:
        lines.append(f"note: shard files not listed in dataset.json: {', '.join(extra[:5])}")
    return "\n".join(lines)
