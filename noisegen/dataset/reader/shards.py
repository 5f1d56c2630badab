"""Which shards to read: a dataset's manifest and index, shard lists (folders, files, brace patterns,
``pipe:`` URLs) and their split across processes and loader workers.

A shard source is a URL or a local path, by one rule (``is_url``): ``pipe:COMMAND`` and
``scheme://...`` are URLs, opened through webdataset; everything else is a local path, which may be
a brace pattern naming several shards (``d/shard-{000000..000009}.tar``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from noisegen.dataset.format import MANIFEST_NAME, PARTIAL_DIR, check_manifest, dataset_sigma

__all__ = ["is_url", "read_manifest", "read_index", "DatasetInfo", "dataset_info", "ShardSet", "shard_urls",
           "list_shards", "split_by_rank", "split_by_worker"]

# ``pipe:COMMAND`` (webdataset's shell pipes) or a URL scheme (RFC 3986: a letter, then letters, digits, + - .).
_URL = re.compile(r"^(?:pipe:|[A-Za-z][A-Za-z0-9+.-]*://)")


def is_url(source: str | os.PathLike[str]) -> bool:
    """True when a shard source is a URL (``pipe:curl -s https://host/s.tar``, ``https://host/s.tar``, ``gs://b/s.tar``),
    False when it is a local path (a file, a folder, or a brace pattern of files)."""
    return bool(_URL.match(os.fspath(source)))


# ------------------------------------------------------------------------------------------------
# Summary files


def read_manifest(folder: str | os.PathLike[str]) -> dict:
    """Read and check FOLDER/dataset.json (noisegen.dataset.format.check_manifest).

    Raises:
        FileNotFoundError: no dataset.json (the message says when the folder holds an unfinished run).
        ValueError: not JSON, not a noisegen manifest, or damaged; the message says what to do.
    """
    p = Path(folder) / MANIFEST_NAME
    if not p.is_file():
        if Path(folder).is_dir() and (Path(folder) / PARTIAL_DIR).is_dir():
            raise FileNotFoundError(f"{folder}: no {MANIFEST_NAME}; the folder holds an unfinished run: "
                                    f"finish it with `noisegen generate --resume` and the same options")
        raise FileNotFoundError(f"{p} not found: {folder} is not a noisegen dataset folder")
    try:
        m = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{p}: not valid JSON ({type(exc).__name__}: {str(exc)[:200]}); the file is damaged "
                         "(regenerate the dataset, or restore dataset.json)") from None
    return check_manifest(m, str(p))


def read_index(path: str | os.PathLike[str]):
    """index.parquet as a pyarrow Table (read from the path: DESIGN.md §9 on BytesIO)."""
    import pyarrow.parquet as pq  # here: only `inspect` and statistics need pyarrow

    return pq.read_table(str(path))


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset.json says about its samples, for a reader that decides how to use them.

    name: what made it (``created_by``, e.g. "noisegen 0.2.0"); real_pairs: real noisy/clean pairs
    written by `noisegen pack-pairs`; sigma: how samples carry σ maps ("stored", "derived") or None
    (none); patch: the side of its square patches, None for whole images or when unknown;
    clean_target: the clean member, "source" (the source crop) or "render" (its noise-free render);
    profile: the camera profile it was generated with (CameraProfile.to_dict), None for real pairs.
    """

    name: str
    real_pairs: bool
    sigma: str | None
    patch: int | None
    clean_target: str
    profile: dict | None


def dataset_info(manifest: dict) -> DatasetInfo:
    """The DatasetInfo of a checked dataset.json (read_manifest)."""
    config = manifest.get("config", {})
    real = manifest.get("kind") == "real-pairs"
    patch = config.get("patch")
    whole = config.get("crop") == "whole" or not isinstance(patch, int) or isinstance(patch, bool)
    profile = config.get("profile")
    return DatasetInfo(name=str(manifest.get("created_by", "a dataset")), real_pairs=real,
                       sigma=dataset_sigma(manifest), patch=None if whole else patch,
                       clean_target=str(config.get("clean_target", "source")),
                       profile=profile if isinstance(profile, dict) and not real else None)


# ------------------------------------------------------------------------------------------------
# Shard lists and splitting


@dataclass(frozen=True)
class ShardSet:
    """Shards to read: ``urls`` in order, ``counts`` (url → samples listed in dataset.json, where known)
    and ``manifests`` (the dataset.json of each dataset folder given)."""

    urls: tuple[str, ...]
    counts: dict[str, int] = field(default_factory=dict)
    manifests: tuple[dict, ...] = ()

    def fingerprint(self) -> str:
        """sha256 of the URL list (identifies the data layout, e.g. in checkpoints)."""
        return hashlib.sha256(json.dumps(list(self.urls)).encode()).hexdigest()[:16]

    @property
    def datasets(self) -> tuple[DatasetInfo, ...]:
        """What the dataset.json of each dataset folder given says (empty for bare shard files)."""
        return tuple(dataset_info(m) for m in self.manifests)

    def profile(self) -> dict | None:
        """The camera profile (as a dict) the first dataset folder was generated with, if any."""
        return next((d.profile for d in self.datasets if d.profile is not None), None)

    def has_sigma(self) -> bool | None:
        """Whether the datasets carry σ maps (None: unknown, shards given without their folder)."""
        if not self.manifests:
            return None
        return all(d.sigma is not None for d in self.datasets)


def shard_urls(folder: str | os.PathLike[str]) -> tuple[list[str], dict]:
    """Shard paths of a dataset folder (from its dataset.json) and the manifest."""
    m = read_manifest(folder)
    return [str(Path(folder) / s["name"]) for s in m["shards"]], m


def list_shards(sources: str | os.PathLike[str] | Sequence[str]) -> ShardSet:
    """Shards of one or more sources.

    Args:
        sources: each a dataset folder (its dataset.json lists the shards and their sample counts),
            a shard file, a brace pattern (``d/shard-{000000..000009}.tar``) or a ``pipe:`` URL
            (``pipe:curl -s https://host/shard-000000.tar``; braces are expanded there too).
    Raises:
        FileNotFoundError: a local source (not ``pipe:`` or a URL) does not exist.
        ValueError: no shards at all, or a damaged dataset.json.
    """
    import braceexpand  # installed with webdataset

    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    urls: list[str] = []
    counts: dict[str, int] = {}
    manifests: list[dict] = []
    for src in map(str, sources):
        if not is_url(src) and Path(src).is_dir():
            found, manifest = shard_urls(src)
            urls += found
            manifests.append(manifest)
            counts.update({u: s["samples"] for u, s in zip(found, manifest["shards"])})
            continue
        named = list(braceexpand.braceexpand(src))
        missing = [u for u in named if not is_url(u) and not Path(u).is_file()]
        if missing:
            raise FileNotFoundError(_missing_shards(src, named, missing))
        urls += named
    if not urls:
        raise ValueError(f"no shards in {list(map(str, sources))}")
    return ShardSet(urls=tuple(urls), counts=counts, manifests=tuple(manifests))


def _missing_shards(src: str, named: list[str], missing: list[str]) -> str:
    """One line: which shard of ``src`` is missing, how many the pattern named and found, what to give instead."""
    if len(named) == 1:
        return (f"shard {src!r} does not exist; give a noisegen dataset folder, shard files, a brace pattern such as "
                "d/shard-{000000..000009}.tar, or pipe: URLs")
    folder = Path(missing[0]).parent
    instead = (f"give the dataset folder {str(folder)!r} instead (its dataset.json lists its shards)"
               if (folder / MANIFEST_NAME).is_file() else "give a pattern that names only existing shards")
    return (f"shard {missing[0]!r} does not exist: the pattern {src!r} names {len(named)} shards and "
            f"{len(named) - len(missing)} of them exist; {instead}")


def split_by_rank(urls: Sequence[str], rank: int, world: int, *, allow_empty: bool = False) -> list[str]:
    """Shards of rank ``rank``: urls[rank::world] (disjoint across ranks, together all of them)."""
    if not 0 <= rank < world:
        raise ValueError(f"split_by_rank: rank must be in [0, {world}), got {rank}")
    mine = list(urls)[rank::world]
    if not mine and not allow_empty:
        raise ValueError(f"{len(urls)} shards cannot give each of {world} ranks its own shards; make more, smaller "
                         "shards (noisegen generate --samples-per-shard N) or use fewer processes")
    return mine


def split_by_worker(urls: Sequence[str], worker: int, workers: int) -> list[str]:
    """Shards of loader worker ``worker``: every ``workers``-th one, or all when there are fewer shards
    than workers (the workers then differ by their seeds only)."""
    if not 0 <= worker < workers:
        raise ValueError(f"split_by_worker: worker must be in [0, {workers}), got {worker}")
    urls = list(urls)
    return urls[worker::workers] if len(urls) >= workers else urls
