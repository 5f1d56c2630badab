"""The output folder of `noisegen generate`: checks before anything is written, the run lock, resuming
an interrupted run, and repairing a complete dataset whose shards were damaged.

- ``--out`` must be a folder (new, empty, an interrupted run, or a dataset with ``--resume``).
- One run at a time: a run holds an exclusive lock (``flock``) on ``OUT/.partial/lock`` from before it
  removes stale temporary files until it ends; the kernel releases it when the process dies, even by
  ``kill -9`` (noisegen.runlock). A second run on the same folder stops with one line, naming the live
  run's pid, instead of deleting the first run's temporary files; the lock is probed before anything
  else, so a live run is never called an interrupted one.
- Resume compares the plan of the interrupted run (``.partial/plan.json``: options, versions and the
  content sha256 of every source) with the current one, and names what changed.
- ``--resume`` on a complete dataset checks every shard's size and sha256 against dataset.json; when
  some are missing or damaged, and the options, versions and sources are those that made it, it
  turns the dataset back into an interrupted run (records of the intact shards rebuilt from
  dataset.json and index.parquet, or from the shards where the index is lost: noisegen.dataset.repair;
  damaged shards, index and manifest removed), so that the run rewrites exactly the damaged shards
  (same bytes as before). When every shard is intact but index.parquet or the counts are wrong, it
  repairs those from the shards (noisegen.dataset.repair). This is the repair that
  `noisegen inspect --verify` advises.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

from noisegen.atomic import atomic_write_bytes
from noisegen.dataset.format import INDEX_NAME, MANIFEST_NAME, PARTIAL_DIR, shard_name
from noisegen.dataset.make_shard import ShardRecord, read_record, record_path
from noisegen.dataset.plan import ShardPlan
from noisegen.dataset.reader import read_manifest
from noisegen.dataset.repair import IndexRows, repair_summary
from noisegen.dataset.sources import file_sha256
from noisegen.files import file_kind
from noisegen.runlock import FolderLock, LockHeld, probe_lock

__all__ = ["RunLock", "check_not_live", "differences", "sources_digest", "prepare_out", "finished", "remove_temp_files",
           "damaged_shards"]

LOCK_NAME = "lock"


class RunLock(FolderLock):
    """The exclusive lock on OUT/.partial/lock, held by the run that writes OUT (noisegen.runlock: released
    on close or exit, even by kill -9).

    Raises:
        ValueError: another live `noisegen generate` holds it (its pid named).
    """

    def __init__(self, out: Path) -> None:
        try:
            super().__init__(out / PARTIAL_DIR / LOCK_NAME)
        except LockHeld as exc:
            raise ValueError(_live_message(out, exc.pid)) from None


def _live_message(out: Path, pid: str) -> str:
    return (f"{out} is being written by another `noisegen generate` (pid {pid}, still running); wait for it to "
            "end, or stop it and rerun with --resume")


def check_not_live(out: Path) -> str | None:
    """Raise ValueError when a live `noisegen generate` writes ``out``; else the pid of an interrupted run
    that left its lock (None if none)."""
    live, stale = probe_lock(out / PARTIAL_DIR / LOCK_NAME)
    if live is not None:
        raise ValueError(_live_message(out, live))
    return stale


def differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """'key: old then, new now' for every leaf that differs between two nested dicts."""
    out = []
    for k in sorted(set(a) | set(b)):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += differences(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va!r} then, {vb!r} now")
    return out


def sources_digest(sources: dict[str, str]) -> str:
    """One sha256 over the sources' ids and content digests (recorded in dataset.json)."""
    return hashlib.sha256(json.dumps(sorted(sources.items())).encode()).hexdigest()


def _source_changes(then: dict[str, str], now: dict[str, str]) -> list[str]:
    changed = [f"{k} (content differs)" for k in sorted(set(then) & set(now)) if then[k] != now[k]]
    return changed + [f"{k} (new)" for k in sorted(set(now) - set(then))] + \
        [f"{k} (gone)" for k in sorted(set(then) - set(now))]


def _check_same_run(out: Path, saved: dict, fingerprint: dict) -> None:
    changes = _source_changes(saved.get("sources") or {}, fingerprint["sources"])
    if changes:
        raise ValueError(f"cannot resume {out}: {len(changes)} source file(s) changed since the interrupted run: "
                         f"{', '.join(changes[:5])}{' ...' if len(changes) > 5 else ''}; restore them, or start "
                         "again in a new --out")
    diff = differences({k: v for k, v in saved.items() if k != "sources"},
                       {k: v for k, v in fingerprint.items() if k != "sources"})
    if diff:
        raise ValueError(f"cannot resume {out}: the run there used other options, sources or versions "
                         f"({'; '.join(diff[:6])}); rerun with the original options or choose another --out")


def damaged_shards(out: Path, manifest: dict) -> dict[str, str]:
    """Shards of a complete dataset that are missing or differ from dataset.json: name → problem."""
    bad = {}
    for s in manifest["shards"]:
        p = out / s["name"]
        if not p.is_file():
            bad[s["name"]] = f"{file_kind(p)}, not a regular file" if p.exists() else "missing"
        elif p.stat().st_size != s["bytes"]:
            bad[s["name"]] = f"size {p.stat().st_size} bytes, dataset.json records {s['bytes']}"
        elif file_sha256(p) != s["sha256"]:
            bad[s["name"]] = "sha256 differs from dataset.json"
    return bad


def _write_plan(out: Path, fingerprint: dict) -> None:
    atomic_write_bytes(out / PARTIAL_DIR / "plan.json", (json.dumps(fingerprint, indent=2) + "\n").encode())


def _reopen_for_repair(out: Path, m: dict, bad: dict[str, str], fingerprint: dict) -> None:
    """Turn a complete dataset with damaged shards back into an interrupted run (module docstring)."""
    what = ", ".join(f"{k}: {v}" for k, v in sorted(bad.items()))
    redo = f"regenerate it in a new --out (damaged: {what})"
    if m.get("sources_sha256") != sources_digest(fingerprint["sources"]):
        raise ValueError(f"{out}: cannot repair: its sources changed since it was made, or it predates source "
                         f"digests; {redo}")
    diff = differences(m.get("versions", {}), fingerprint["versions"])
    if diff:
        raise ValueError(f"{out}: cannot repair: it was made by other versions ({'; '.join(diff[:4])}); {redo}")
    folders = [name for name in bad if (out / name).is_dir()]
    if folders:
        raise ValueError(f"{out}: cannot repair: {', '.join(folders)} is a folder where a shard belongs; remove it, "
                         "then rerun with --resume")
    intact = [s["name"] for s in m["shards"] if s["name"] not in bad]
    try:
        index = IndexRows(out, intact)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{out}: cannot repair: {exc}; {redo}") from None
    decode_skips = [s for s in m.get("skipped", []) if s.get("stage") == "decode"]
    first = True
    for i, s in enumerate(m["shards"]):
        if s["name"] in bad:
            continue
        try:
            rows = index.rows(s["name"])
        except (OSError, ValueError) as exc:
            raise ValueError(f"{out}: cannot repair: {exc}; {redo}") from None
        rec = ShardRecord(shard=i, name=s["name"], samples=len(index.keys[s["name"]]), bytes=s["bytes"],
                          sha256=s["sha256"], rows=rows, skipped=decode_skips if first else [],
                          conversions=m.get("converted_images", {}) if first else {})
        atomic_write_bytes(record_path(out, i), rec.to_json().encode("utf-8"))
        first = False
    _write_plan(out, fingerprint)
    for name in bad:
        (out / name).unlink(missing_ok=True)
    (out / INDEX_NAME).unlink(missing_ok=True)
    (out / MANIFEST_NAME).unlink()  # last: from here on the folder is an interrupted run


def prepare_out(out: Path, fingerprint: dict, config: dict, *, resume: bool,
                echo: Callable[[str], None]) -> tuple[str | None, RunLock | None]:
    """Check and set up the output folder before anything is written.

    Args:
        out: the dataset folder. fingerprint: the run's plan (options, versions, "sources": id → sha256).
        config: the run's content options (as recorded in dataset.json). resume: --resume.
    Returns:
        ("complete", None) when the dataset there is complete and intact, ("repaired", None) when its shards
        were intact and its index or counts were repaired (noisegen.dataset.repair); else (None, lock held).
    Raises:
        ValueError / FileExistsError: with the one line that says what to do.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file, not a folder; choose a new or empty folder")
    partial = out / PARTIAL_DIR
    stale = check_not_live(out) if out.is_dir() else None  # a live run first: never "interrupted" while it runs
    if (out / MANIFEST_NAME).exists():
        if not resume:
            raise FileExistsError(f"{out} already holds a dataset ({MANIFEST_NAME}); choose another --out, "
                                  "or pass --resume to check that it is complete (and repair damaged shards)")
        m = read_manifest(out)
        diff = differences(m["config"], config)
        if diff:
            raise ValueError(f"{out} holds a dataset made with other options ({'; '.join(diff)}); choose another --out")
        bad = damaged_shards(out, m)
        if not bad:
            lock = RunLock(out)
            try:
                repaired = repair_summary(out, m, echo)  # index.parquet and the counts, from the intact shards
            finally:
                lock.close()
                shutil.rmtree(partial, ignore_errors=True)  # also a run killed after dataset.json, before its clean-up
            return "repaired" if repaired else "complete", None
        lock = RunLock(out)
        try:
            _reopen_for_repair(out, m, bad, fingerprint)
        except BaseException:
            lock.close()
            shutil.rmtree(partial, ignore_errors=True)
            raise
        echo(f"{out}: {len(bad)} damaged shard(s) ({', '.join(sorted(bad))}); rewriting them")
        return None, lock
    if partial.is_dir():
        if not resume:
            who = f" (its process {stale} has ended)" if stale else ""
            raise FileExistsError(f"{out} holds an interrupted run{who}; pass --resume (with the same options) to "
                                  "finish it, or choose another --out")
        lock = RunLock(out)
        try:
            saved = json.loads((partial / "plan.json").read_text())
            if not isinstance(saved, dict):
                raise ValueError("not a JSON object")
            _check_same_run(out, saved, fingerprint)
        except (OSError, ValueError) as exc:
            lock.close()
            if isinstance(exc, ValueError) and str(exc).startswith("cannot resume"):
                raise
            raise ValueError(f"{partial / 'plan.json'} is unreadable ({exc}); start again in an empty "
                             "--out") from None
    elif out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty and holds no noisegen run; choose an empty or new --out folder")
    else:
        lock = RunLock(out)
    _write_plan(out, fingerprint)
    remove_temp_files(out)  # half-written by a killed run; its shard is redone
    return None, lock


def remove_temp_files(out: Path) -> int:
    """Remove temporary files of unfinished shards and records (.shard-*.tmp, .partial/.*.tmp); returns how many."""
    stale = list(out.glob(".shard-*.tmp")) + list((out / PARTIAL_DIR).glob(".*.tmp"))
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def finished(out: Path, plan: ShardPlan) -> dict[int, ShardRecord]:
    """Shards of the plan that an earlier run finished: record and tar both there, sizes agreeing."""
    done = {}
    for i in range(plan.n_shards):
        rec_path = record_path(out, i)
        tar = out / shard_name(i)
        if rec_path.is_file() and tar.is_file():
            try:
                rec = read_record(rec_path)
            except ValueError:
                continue
            if rec.bytes == tar.stat().st_size:
                rec.rows = []
                done[i] = rec
    return done
