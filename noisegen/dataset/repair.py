"""Repairing the summary files of a complete dataset from its shards: what `inspect --verify` names,
`generate --resume` repairs (noisegen.dataset.resume).

When every shard has its recorded size and sha256 but index.parquet is missing, unreadable or
disagrees with the shards, or dataset.json's counts are wrong, the shards themselves are the truth:

- each shard's sample count is read from its tar (headers only) and written back to its entry;
- index rows are kept where index.parquet lists exactly the shard's keys, and rebuilt from the shard
  otherwise (every sample decoded; the row as `generate` writes it, its σ statistics taken from
  the stored 16-bit σ map, within the codec's step of the original);
- the counts (samples, shards, bytes, images used, skipped) are recomputed.

index.parquet (only when it was wrong) and dataset.json are then rewritten atomically, one shard's
rows in memory at a time. ``IndexRows`` also serves the repair of damaged shards, whose intact
neighbours keep their rows.
"""

from __future__ import annotations

import tarfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

from noisegen.dataset.format import INDEX_NAME, MANIFEST_NAME, index_row
from noisegen.dataset.reader import QuietDamageCounter, decode_sample, read_index, read_shard, shard_entries
from noisegen.dataset.writer import tar_bytes, write_index, write_manifest

__all__ = ["shard_keys", "rows_from_shard", "IndexRows", "repair_summary"]


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


class IndexRows:
    """The index rows of a complete dataset's intact shards: index.parquet's where it lists exactly a
    shard's keys (read a shard at a time), rebuilt from the shard otherwise.

    Attributes:
        keys: shard name → its keys, from the tar. rebuilt: the shards whose rows come from the tar.
        problem: why index.parquet cannot be used at all (None when it can).
    """

    def __init__(self, out: Path, names: list[str]) -> None:
        self.out = out
        self.table, self.positions, self.problem = None, {}, None
        self._decoded: dict[str, list[dict]] = {}  # rows of rebuilt shards, decoded once
        if not (out / INDEX_NAME).exists():
            self.problem = "missing"
        else:
            try:
                self.table = read_index(out / INDEX_NAME)
                listed_keys = self.table.column("key").to_pylist()
                positions: dict[str, list[int]] = defaultdict(list)
                for i, shard in enumerate(self.table.column("shard").to_pylist()):
                    positions[shard].append(i)
                self.positions = dict(positions)
            except (OSError, ValueError, KeyError) as exc:
                self.table, self.problem = None, f"unreadable ({type(exc).__name__})"
        self.keys = {name: shard_keys(out / name) for name in names}
        self.rebuilt = [name for name in names
                        if [listed_keys[i] for i in self.positions.get(name, [])] != self.keys[name]] \
            if self.table is not None else list(names)
        self.stray = sorted(set(self.positions) - set(names))

    def rows(self, name: str) -> list[dict]:
        """The shard's index rows; a rebuilt shard is decoded once (write_index reads the rows twice)."""
        if name in self.rebuilt:
            if name not in self._decoded:
                self._decoded[name] = rows_from_shard(self.out / name)
            return self._decoded[name]
        return self.table.take(self.positions.get(name, [])).to_pylist()

    def sources(self, name: str) -> set[str]:
        """The sources of a shard whose index rows are kept (the others' come with their rebuilt rows)."""
        return set(self.table.column("source").take(self.positions.get(name, [])).to_pylist())

    def describe(self) -> list[str]:
        """What is wrong with index.parquet, in words ([] when nothing)."""
        if self.problem is not None:
            return [f"{INDEX_NAME} {self.problem}"]
        out = []
        if self.rebuilt:
            out.append(f"{INDEX_NAME} rows of {len(self.rebuilt)} shard(s) ({', '.join(self.rebuilt[:3])}"
                       + (" ..." if len(self.rebuilt) > 3 else "") + ")")
        if self.stray:
            out.append(f"{INDEX_NAME} lists shards that dataset.json does not ({', '.join(map(str, self.stray[:3]))})")
        return out


def _counts(manifest: dict, shards: list[dict], used: set[str]) -> dict:
    counts = dict(manifest["counts"])
    counts.update(samples=sum(s["samples"] for s in shards), shards=len(shards), bytes=sum(s["bytes"] for s in shards),
                  images_used=len(used), skipped=len(manifest.get("skipped", [])))
    return counts


def repair_summary(out: Path, manifest: dict, echo: Callable[[str], None]) -> bool:
    """Rebuild index.parquet and correct dataset.json of a dataset whose shards are intact (module
    docstring); returns whether anything was wrong."""
    names = [s["name"] for s in manifest["shards"]]
    index = IndexRows(out, names)
    problems = index.describe()
    shards = [dict(s, samples=len(index.keys[s["name"]])) for s in manifest["shards"]]
    wrong = [s["name"] for s, f in zip(manifest["shards"], shards) if s["samples"] != f["samples"]]
    if wrong:
        problems.append(f"{MANIFEST_NAME} sample counts of {', '.join(wrong[:3])}" + (" ..." if len(wrong) > 3 else ""))
    used: set[str] = set()
    if index.describe():  # rewrite index.parquet, one shard's rows at a time, noting the sources on the way

        def batches() -> Iterator[list[dict]]:
            for name in names:
                rows = index.rows(name)
                used.update(r["source"] for r in rows)
                yield rows

        write_index(batches, out / INDEX_NAME)
    else:
        used = set().union(*(index.sources(n) for n in names))
    counts = _counts(manifest, shards, used)
    changed = [f"{k} {manifest['counts'].get(k)} → {v}" for k, v in counts.items() if manifest["counts"].get(k) != v]
    if changed:
        problems.append(f"{MANIFEST_NAME} counts ({', '.join(changed)})")
    if not problems:
        return False
    write_manifest(dict(manifest, shards=shards, counts=counts), out / MANIFEST_NAME)
    echo(f"{out}: repaired from the shards: {'; '.join(problems)}")
    return True
