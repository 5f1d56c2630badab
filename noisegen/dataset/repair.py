"""Repairing the summary files of a complete dataset from its shards: what `inspect --verify` names,
`generate --resume` repairs (noisegen.dataset.resume).

When every shard has its recorded size and sha256 but index.parquet is missing, unreadable or
disagrees with the shards, or dataset.json's counts are wrong, the shards themselves are the truth:

- each shard's sample count is read from its tar (headers only) and written back to its entry;
- index rows are kept where index.parquet lists exactly the shard's keys, and rebuilt from the shard
  otherwise (every sample decoded; the row as `generate` writes it, its σ statistics taken from
  the stored 16-bit σ map, within the codec's step of the original);
- the counts (samples, shards, bytes, images used, skipped) are recomputed.

index.parquet and dataset.json are then rewritten atomically. ``intact_rows`` also serves the repair
of damaged shards, whose intact neighbours keep their rows.
"""

from __future__ import annotations

import tarfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from noisegen.dataset.format import INDEX_NAME, MANIFEST_NAME, index_row
from noisegen.dataset.reader import QuietDamageCounter, decode_sample, read_index, read_shard, shard_entries
from noisegen.dataset.writer import tar_bytes, write_index, write_manifest

__all__ = ["shard_keys", "rows_from_shard", "intact_rows", "summary_problems", "repair_summary"]


def shard_keys(path: Path) -> list[str]:
    """The sample keys of a shard's tar, in order (headers only).

    Raises:
        ValueError: the tar is unreadable (then the shard is damaged, not the summary).
    """
    keys: list[str] = []
    try:
        for info, _ in shard_entries(str(path)):
            key = info.name.partition(".")[0]
            if info.isreg() and (not keys or keys[-1] != key):
                keys.append(key)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValueError(f"{path.name}: unreadable tar ({type(exc).__name__}: {exc})") from None
    return keys


def rows_from_shard(path: Path) -> list[dict]:
    """The index rows of a shard's samples, rebuilt by decoding them (as make_shard writes them)."""
    errors = QuietDamageCounter()
    rows = []
    for raw in read_shard(str(path), handler=errors):
        s = decode_sample(raw)
        row = index_row(s["params"], clean=s["clean"], noisy=s["noisy"], sigma=s["sigma"])
        row["bytes"] = sum(tar_bytes(len(v)) for k, v in raw.items() if not k.startswith("__"))
        rows.append(dict(row, shard=path.name))
    if errors.count:
        raise ValueError(f"{path.name}: {errors.messages[0]}")
    return rows


def _index_by_shard(out: Path) -> tuple[dict[str, list[dict]], str | None]:
    """index.parquet's rows by shard, and why it cannot be used (None when it can)."""
    if not (out / INDEX_NAME).exists():
        return {}, "missing"
    try:
        rows = read_index(out / INDEX_NAME).to_pylist()
    except (OSError, ValueError) as exc:
        return {}, f"unreadable ({type(exc).__name__})"
    by_shard: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_shard[r.get("shard")].append(r)
    return by_shard, None


def intact_rows(out: Path, manifest: dict, names: list[str]) -> tuple[dict[str, list[dict]], dict[str, list[str]],
                                                                       list[str]]:
    """For intact shards ``names``: (rows by shard, keys by shard, what was rebuilt and why).

    Rows come from index.parquet where it lists exactly the shard's keys, else from the shard itself.
    """
    index, why = _index_by_shard(out)
    rows: dict[str, list[dict]] = {}
    keys: dict[str, list[str]] = {}
    rebuilt: list[str] = []
    for name in names:
        keys[name] = shard_keys(out / name)
        listed = index.get(name, [])
        if [r["key"] for r in listed] == keys[name]:
            rows[name] = listed
        else:
            rows[name] = rows_from_shard(out / name)
            rebuilt.append(name)
    if why is not None and names:
        rebuilt = [f"{INDEX_NAME} {why}"]
    elif rebuilt:
        rebuilt = [f"{INDEX_NAME} rows of {len(rebuilt)} shard(s) ({', '.join(rebuilt[:3])}"
                   + (" ..." if len(rebuilt) > 3 else "") + ")"]
    return rows, keys, rebuilt


def _fixed_counts(manifest: dict, rows: dict[str, list[dict]]) -> dict:
    shards = manifest["shards"]
    counts = dict(manifest["counts"])
    counts.update(samples=sum(s["samples"] for s in shards), shards=len(shards), bytes=sum(s["bytes"] for s in shards),
                  images_used=len({r["source"] for rs in rows.values() for r in rs}),
                  skipped=len(manifest.get("skipped", [])))
    return counts


def summary_problems(out: Path, manifest: dict) -> tuple[dict[str, list[dict]], dict, list[str]]:
    """(index rows by shard, the corrected manifest, what was wrong) of a dataset whose shards are intact."""
    names = [s["name"] for s in manifest["shards"]]
    rows, keys, problems = intact_rows(out, manifest, names)
    index, _ = _index_by_shard(out)
    stray = sorted(set(index) - set(names))
    if stray and not problems:
        problems.append(f"{INDEX_NAME} lists shards that dataset.json does not ({', '.join(map(str, stray[:3]))})")
    fixed = dict(manifest, shards=[dict(s, samples=len(keys[s["name"]])) for s in manifest["shards"]])
    wrong = [s["name"] for s, f in zip(manifest["shards"], fixed["shards"]) if s["samples"] != f["samples"]]
    if wrong:
        problems.append(f"{MANIFEST_NAME} sample counts of {', '.join(wrong[:3])}" + (" ..." if len(wrong) > 3 else ""))
    fixed["counts"] = _fixed_counts(fixed, rows)
    changed = [f"{k} {manifest['counts'].get(k)} → {v}" for k, v in fixed["counts"].items()
               if manifest["counts"].get(k) != v]
    if changed:
        problems.append(f"{MANIFEST_NAME} counts ({', '.join(changed)})")
    return rows, fixed, problems


def repair_summary(out: Path, manifest: dict, echo: Callable[[str], None]) -> bool:
    """Rebuild index.parquet and correct dataset.json of a dataset whose shards are intact (module
    docstring); returns whether anything was wrong."""
    rows, fixed, problems = summary_problems(out, manifest)
    if not problems:
        return False
    write_index((rows[s["name"]] for s in fixed["shards"]), out / INDEX_NAME)
    write_manifest(fixed, out / MANIFEST_NAME)
    echo(f"{out}: repaired from the shards: {'; '.join(problems)}")
    return True
