"""Reading noisegen datasets: a WebDataset pipeline of decoded samples (DESIGN.md §4, §8).

    ds = noisegen.open_dataset("out/")          # or a list of shard paths / URLs
    for s in ds:  s["clean"], s["noisy"] (uint8 H×W×3), s["sigma"] (float32 H×W×3 or None), s["params"]
    ds.errors.count                              # damaged samples and shards skipped so far

The pipeline is webdataset's own (shard list → node split → worker split → tar reader → decode),
so the trainer can iterate it in a torch DataLoader. It never unpickles: members named *.pyd,
*.pickle or *.pkl are not even read, and only clean.png, noisy.png, sigma.png and json are decoded
(PNG with Pillow, JSON with the json module). A truncated or corrupt shard, a sample with a
missing or undecodable member, or a shard with fewer samples than dataset.json lists, is reported
with a DamagedDataWarning, counted in ``ds.errors``, and skipped; the stream goes on with the
next sample or shard. Counts are per process (each DataLoader worker has its own).
"""

from __future__ import annotations

import functools
import io
import json
import os
import random
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from noisegen.dataset.manifest import read_manifest
from noisegen.dataset.writer import SIGMA_MEMBER, SIGMA_STEP, decode_sigma

__all__ = ["open_dataset", "decode_sample", "check_counts", "shard_urls", "DamageCounter", "DamagedDataWarning",
           "PICKLE_SUFFIXES"]

PICKLE_SUFFIXES = (".pyd", ".pickle", ".pkl")


class DamagedDataWarning(UserWarning):
    """A shard or sample could not be read and was skipped."""


class DamageCounter:
    """webdataset exception handler: warn, count, keep the last messages, continue (return True)."""

    def __init__(self, keep: int = 100) -> None:
        self.count = 0
        self.messages: list[str] = []
        self._keep = keep

    def __call__(self, exn: BaseException) -> bool:
        self.count += 1
        where = next((a for a in reversed(exn.args) if isinstance(a, str) and a.endswith(".tar")), None)
        text = str(exn.args[0]) if exn.args else repr(exn)
        msg = f"skipping damaged data{' in ' + where if where else ''}: {type(exn).__name__}: {text[:300]}"
        self.messages = (self.messages + [msg])[-self._keep:]
        warnings.warn(msg, DamagedDataWarning, stacklevel=2)
        return True


def shard_urls(source: str | os.PathLike[str] | Sequence[str]) -> tuple[list[str], dict | None]:
    """Shard paths of a dataset folder (from its dataset.json), or the given list; plus the manifest."""
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        m = read_manifest(source)
        return [str(Path(source) / s["name"]) for s in m["shards"]], m
    if isinstance(source, (str, os.PathLike)):
        return [str(source)], None
    return [str(u) for u in source], None


def _rgb(data: bytes, name: str) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        if im.format != "PNG" or im.mode != "RGB":
            raise ValueError(f"{name}: expected an 8-bit RGB PNG, got {im.format} mode {im.mode}")
        return np.asarray(im).copy()


def decode_sample(sample: dict, *, require_sigma: bool = False) -> dict:
    """Decode one raw webdataset sample (bytes per member) of the noisegen format.

    Returns:
        {"key", "url", "clean": uint8 H×W×3, "noisy": uint8 H×W×3,
         "sigma": float32 H×W×3 σ_raw or None (real pairs), "params": the sample's json as a dict}.
    Raises:
        ValueError: a member is missing (sigma.png only when ``require_sigma``) or undecodable.
    """
    key = sample.get("__key__", "?")
    where = f"sample {key}" + (f" in {sample['__url__']}" if sample.get("__url__") else "")
    missing = [m for m in ("clean.png", "noisy.png", "json") if m not in sample]
    if require_sigma and SIGMA_MEMBER not in sample:
        missing.append(SIGMA_MEMBER)
    if missing:
        raise ValueError(
            f"{where}: missing members {missing} (have {sorted(k for k in sample if not k.startswith('__'))})"
        )
    try:
        meta = json.loads(sample["json"])
        clean = _rgb(sample["clean.png"], "clean.png")
        noisy = _rgb(sample["noisy.png"], "noisy.png")
        sigma = None
        if SIGMA_MEMBER in sample:
            step = float(meta.get("sigma", {}).get("step", SIGMA_STEP))
            sigma = decode_sigma(sample[SIGMA_MEMBER], step)
    except (OSError, ValueError, TypeError, KeyError, AttributeError, SyntaxError) as exc:
        raise ValueError(f"{where}: {type(exc).__name__}: {exc}") from None
    if noisy.shape != clean.shape or (sigma is not None and sigma.shape != clean.shape):
        raise ValueError(f"{where}: member shapes differ: clean {clean.shape}, noisy {noisy.shape}, "
                         f"sigma {None if sigma is None else sigma.shape}")
    return {"key": key, "url": sample.get("__url__"), "clean": clean, "noisy": noisy, "sigma": sigma, "params": meta}


def _not_pickle(fname: str) -> bool:
    return not fname.lower().endswith(PICKLE_SUFFIXES)


def check_counts(samples, expected: dict[str, int], handler):
    """Pipeline stage: report a shard that yields fewer samples than its manifest lists.

    A tar cut at a member boundary reads as a shorter, valid tar; only the recorded count shows
    the loss. Expects samples grouped by shard (place it before any shuffle).
    """
    url, n = None, 0

    def close(url: str, n: int) -> None:
        want = expected.get(url)
        if want is not None and n < want:
            handler(ValueError(f"only {n} of {want} samples could be read (truncated shard?)", url))

    for sample in samples:
        u = sample.get("__url__")
        if u != url:
            if url is not None:
                close(url, n)
            url, n = u, 0
        n += 1
        yield sample
    if url is not None:
        close(url, n)


def open_dataset(
    source: str | os.PathLike[str] | Sequence[str],
    *,
    shuffle: int = 0,
    seed: int = 0,
    split_by_node: bool = True,
    split_by_worker: bool = True,
    require_sigma: bool | None = None,
):
    """A webdataset pipeline of decoded noisegen samples.

    Args:
        source: dataset folder (shards listed in its dataset.json), one shard path/URL, or a list.
        shuffle: sample shuffle buffer size (0: off, shards and samples in order); when > 0 the
            shard order is shuffled too. Both use random.Random(seed).
        seed: seed of the shuffles.
        split_by_node: give each torch.distributed rank its own shards (webdataset.split_by_node).
        split_by_worker: give each DataLoader worker its own shards.
        require_sigma: treat a sample without sigma.png as damaged; default: True for a dataset
            folder whose manifest lists sigma.png, else False.
    Returns:
        webdataset.DataPipeline yielding decode_sample dicts, with attributes ``errors``
        (DamageCounter) and ``urls`` (the shard list).
    """
    import webdataset as wds  # imported here: webdataset imports torch when it is installed

    urls, manifest = shard_urls(source)
    if require_sigma is None:
        require_sigma = bool(manifest) and SIGMA_MEMBER in manifest.get("members", {})
    errors = DamageCounter()
    stages: list = [wds.SimpleShardList(urls)]
    if shuffle:
        stages.append(wds.shuffle(len(urls), initial=len(urls), rng=random.Random(seed)))
    if split_by_node:
        stages.append(wds.split_by_node)
    if split_by_worker:
        stages.append(wds.split_by_worker)
    stages.append(wds.tarfile_to_samples(handler=errors, select_files=_not_pickle))
    if manifest:
        counts = {u: s["samples"] for u, s in zip(urls, manifest["shards"])}
        stages.append(functools.partial(check_counts, expected=counts, handler=errors))
    if shuffle:
        stages.append(wds.shuffle(shuffle, initial=min(shuffle, 100), rng=random.Random(seed + 1)))
    stages.append(wds.map(functools.partial(decode_sample, require_sigma=require_sigma), handler=errors))
    pipeline = wds.DataPipeline(*stages)
    pipeline.errors = errors
    pipeline.urls = urls
    return pipeline
