"""From shards to validated samples: the error handler, the safe streaming tar reader, decoding and
validation, one exact pass (``iter_samples``) and the webdataset pipeline of ``open_dataset``."""

from __future__ import annotations

import functools
import io
import json
import os
import random
import re
import tarfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from noisegen.dataset.format import (
    CLEAN,
    JSON,
    KNOWN_MEMBERS,
    NOISY,
    PICKLE_SUFFIXES,
    SIGMA,
    SIGMA_MAX,
    SIGMA_MEMBERS,
    check_sample_meta,
    decode_sigma,
    from_disk,
    sigma_is_derived,
    sigma_step_of,
)
from noisegen.dataset.images import open_image
from noisegen.dataset.reader.shards import is_url, list_shards, split_by_rank
from noisegen.isp.raw_sigma import derive_sigma

__all__ = ["DamagedDataWarning", "DamageCounter", "QuietDamageCounter", "Limits", "LIMITS", "read_shard",
           "check_counts", "validate_sample", "decode_sample", "decode_or_report", "decode_samples", "iter_samples",
           "open_dataset"]

_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# ------------------------------------------------------------------------------------------------
# Errors


class DamagedDataWarning(UserWarning):
    """A shard or sample could not be read and was skipped."""


class DamageCounter:
    """Error handler of the stages: warn, count, keep the last messages, continue (returns True).

    ``streak`` counts the damage reports since the last good sample (``good()``, called by
    decode_samples for each sample it delivers): a consumer can stop with a message naming the
    cause when nothing usable arrives any more (e.g. every shard missing or damaged), instead of
    waiting forever on an endless, resampled stream.
    """

    def __init__(self, keep: int = 100) -> None:
        self.count = 0
        self.streak = 0
        self.messages: list[str] = []
        self._keep = keep

    def message(self, exn: BaseException) -> str:
        where = next((a for a in reversed(exn.args) if isinstance(a, str) and a.endswith(".tar")), None)
        text = str(exn.args[0]) if exn.args else repr(exn)
        return f"skipping damaged data{' in ' + where if where else ''}: {type(exn).__name__}: {text[:300]}"

    def __call__(self, exn: BaseException) -> bool:
        self.count += 1
        self.streak += 1
        msg = self.message(exn)
        self.messages = (self.messages + [msg])[-self._keep:]
        self.warn(msg)
        return True

    def warn(self, msg: str) -> None:
        warnings.warn(msg, DamagedDataWarning, stacklevel=3)

    def good(self) -> None:
        """A usable sample arrived: the streak of damage starts again from 0."""
        self.streak = 0


class QuietDamageCounter(DamageCounter):
    """A DamageCounter that only counts and keeps messages (loader workers report through their batches)."""

    def warn(self, msg: str) -> None:
        pass


# ------------------------------------------------------------------------------------------------
# Reading tars


@dataclass(frozen=True)
class Limits:
    """Bounds on what one sample may make the reader allocate.

    image_bytes: largest PNG member read (a whole 24 MP pair packed by pack-pairs is ~40 MB);
    json_bytes: largest json member; pixels: largest decoded image (H·W; Pillow's own bomb limit is
    89 MP); json_depth: deepest nesting of the json member (ours is 3 deep).
    """

    image_bytes: int = 256 * 2**20
    json_bytes: int = 2**20
    pixels: int = 64 * 10**6
    json_depth: int = 16


LIMITS = Limits()


def _open_url(url: str):
    if is_url(url):
        import webdataset as wds  # here: webdataset imports torch; only remote shards need it

        return wds.gopen(url, "rb")
    return open(url, "rb")


def _member(name: str) -> tuple[str, str] | None:
    """(key, member) of a tar member name, or None when it is not a format member (never read)."""
    if "/" in name or name.lower().endswith(PICKLE_SUFFIXES):
        return None
    key, dot, member = name.partition(".")
    if not dot or member not in KNOWN_MEMBERS or not _KEY.match(key):
        return None
    return key, member


def read_shard(url: str, *, handler: Callable[[BaseException], bool], expected: int | None = None,
               limits: Limits = LIMITS) -> Iterator[dict]:
    """Raw samples (member → bytes, plus ``__key__`` and ``__url__``) of one shard, in order.

    Reads the tar member by member: members that are not clean.png, noisy.png, sigma.png16 (or
    format 1's sigma.png) or json of a plain key (pickles, unknown names, paths) and non-regular
    entries are skipped without being read (a local file is seeked past them; a stream is read
    through in small blocks, never held); a known member over its size limit is reported and its
    sample dropped. A read error ends the shard (reported); a shard yielding fewer than
    ``expected`` samples is reported too (also an empty or unreadable one).
    """
    n = 0
    current: dict | None = None
    try:
        with _open_url(url) as f, tarfile.open(fileobj=f, mode="r|*" if is_url(url) else "r:*") as tar:
            for info in tar:
                named = _member(info.name) if info.isreg() else None
                if named is None:
                    continue
                key, member = named
                if current is not None and current["__key__"] != key:
                    if not current.get("__bad__"):
                        n += 1
                        yield current
                    current = None
                if current is None:
                    current = {"__key__": key, "__url__": url}
                limit = limits.json_bytes if member == JSON else limits.image_bytes
                if info.size > limit:
                    handler(ValueError(f"sample {key}: member {member} is {info.size} bytes, over the limit of "
                                       f"{limit}", url))
                    current["__bad__"] = True
                elif member in current:
                    handler(ValueError(f"sample {key}: member {member} appears twice", url))
                    current["__bad__"] = True
                elif not current.get("__bad__"):
                    current[member] = tar.extractfile(info).read()
        if current is not None and not current.get("__bad__"):
            n += 1
            yield current
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        handler(ValueError(f"unreadable shard ({type(exc).__name__}: {exc})", url))
    if expected is not None and n < expected:
        handler(ValueError(f"only {n} of {expected} samples could be read (truncated shard?)", url))


def check_counts(samples: Iterable[dict], expected: dict[str, int], handler) -> Iterator[dict]:
    """Stage: report a shard that yields fewer samples than its manifest lists.

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


# ------------------------------------------------------------------------------------------------
# Decoding and validation


def _depth(obj: Any, limit: int) -> int:
    depth, level = 0, [obj]
    while level:
        depth += 1
        if depth > limit:
            return depth
        level = [v for o in level if isinstance(o, (dict, list)) for v in (o.values() if isinstance(o, dict) else o)]
    return depth


def _rgb(data: bytes, name: str, limits: Limits) -> np.ndarray:
    with open_image(io.BytesIO(data), max_pixels=limits.pixels, name=name) as im:
        if im.format != "PNG" or im.mode != "RGB":
            raise ValueError(f"{name}: expected an 8-bit RGB PNG, got {im.format} mode {im.mode}")
        return np.asarray(im).copy()


def _json(data: bytes, limits: Limits) -> Any:
    # The json module recurses once per nesting level: a hostile file 10⁵ levels deep raises
    # RecursionError (caught by the caller); within the interpreter's limit, check the depth here.
    meta = json.loads(data)
    if _depth(meta, limits.json_depth) > limits.json_depth:
        raise ValueError(f"json: nested deeper than {limits.json_depth} levels")
    return meta


def validate_sample(s: dict) -> dict:
    """Check a decoded sample: same H×W×3 shapes, σ finite, ≥ 0 and ≤ SIGMA_MAX. Returns it.

    Raises:
        ValueError: naming the sample and what is wrong.
    """
    clean, noisy, sigma = s["clean"], s["noisy"], s["sigma"]
    if noisy.shape != clean.shape or (sigma is not None and sigma.shape != clean.shape):
        raise ValueError(f"member shapes differ: clean {clean.shape}, noisy {noisy.shape}, "
                         f"sigma {None if sigma is None else sigma.shape}")
    if sigma is not None and not (np.isfinite(sigma).all() and sigma.min(initial=0) >= 0
                                  and sigma.max(initial=0) <= SIGMA_MAX):
        raise ValueError(f"σ map outside the format's range [0, {SIGMA_MAX}] (or not finite)")
    return s


def decode_sample(sample: dict, *, require_sigma: bool = False, limits: Limits = LIMITS,
                  clean_only: bool = False) -> dict:
    """Decode and validate one raw sample of the noisegen format.

    ``clean_only``: decode the clean image and the json only ("noisy" and "sigma" are None), for
    loaders that synthesize fresh noise on the clean crop (trainer --fresh-noise).

    Returns:
        {"key", "url", "clean": uint8 H×W×3, "noisy": uint8 H×W×3,
         "sigma": float32 H×W×3 σ_raw or None (real pairs), "params": the sample's json as a dict}.
    Raises:
        ValueError: a member is missing (sigma.png only when ``require_sigma``), undecodable, over a
            limit, or the sample fails validate_sample; the message names the sample and shard.
    """
    key = sample.get("__key__", "?")
    where = f"sample {key}" + (f" in {sample['__url__']}" if sample.get("__url__") else "")
    missing = [m for m in (CLEAN, NOISY, JSON) if m not in sample]
    sigmas = [m for m in SIGMA_MEMBERS if m in sample]
    if missing:
        have = sorted(k for k in sample if not k.startswith("__"))
        raise ValueError(f"{where}: missing members {missing} (have {have})")
    try:
        meta = from_disk(_json(sample[JSON], limits))
        derived = isinstance(meta, dict) and sigma_is_derived(meta)
        if require_sigma and not (sigmas or derived):
            raise ValueError(f"missing member {SIGMA} (have {sorted(k for k in sample if not k.startswith('__'))})")
        meta = check_sample_meta(meta, synthetic=bool(sigmas) or derived)
        clean = _rgb(sample[CLEAN], CLEAN, limits)
        if clean_only:
            return {"key": key, "url": sample.get("__url__"), "clean": clean, "noisy": None, "sigma": None,
                    "params": meta}
        noisy = _rgb(sample[NOISY], NOISY, limits)
        sigma = None
        if derived:
            sigma = derive_sigma(clean, meta["params"])  # from_disk gave the parameters back their None
        elif sigmas:
            member = meta["sigma"].get("member", sigmas[0])
            if member not in sample:
                raise ValueError(f"json names σ member {member!r}, the sample holds {sigmas}")
            with open_image(io.BytesIO(sample[member]), max_pixels=3 * limits.pixels, name=member):
                pass
            sigma = decode_sigma(sample[member], sigma_step_of(meta))
        out = {"key": key, "url": sample.get("__url__"), "clean": clean, "noisy": noisy, "sigma": sigma,
               "params": meta}
        return validate_sample(out)
    except Exception as exc:  # noqa: BLE001 - Pillow's DecompressionBombError, RecursionError, ...: all mean damaged
        raise ValueError(f"{where}: {type(exc).__name__}: {str(exc)[:300]}") from None


def decode_or_report(raw: dict, *, handler, require_sigma: bool = False, clean_only: bool = False,
                     limits: Limits = LIMITS) -> dict | None:
    """decode_sample of one raw sample, or None after reporting its failure to ``handler``.

    The one decoding step of every stage chain (decode_samples here; the trainer's loader stages):
    a good sample is told to a DamageCounter handler (``good()``), a damaged one is reported to it.
    """
    try:
        sample = decode_sample(raw, require_sigma=require_sigma, limits=limits, clean_only=clean_only)
    except ValueError as exc:
        handler(exc)
        return None
    if isinstance(handler, DamageCounter):
        handler.good()
    return sample


def decode_samples(raws: Iterable[dict], *, handler, require_sigma: bool = False,
                   limits: Limits = LIMITS) -> Iterator[dict]:
    """Stage: decode_sample on each raw sample; failures go to ``handler`` and are skipped (decode_or_report)."""
    for raw in raws:
        sample = decode_or_report(raw, handler=handler, require_sigma=require_sigma, limits=limits)
        if sample is not None:
            yield sample


def iter_samples(urls: Sequence[str], *, handler, rank: int = 0, world: int = 1, require_sigma: bool = False,
                 counts: dict[str, int] | None = None, limits: Limits = LIMITS) -> Iterator[dict]:
    """One exact, ordered pass over this rank's shards: decoded samples, each once.

    Across ranks every sample is seen exactly once (ranks take disjoint shards; a rank may get none).
    """
    counts = counts or {}
    for url in split_by_rank(urls, rank, world, allow_empty=True):
        raws = read_shard(url, handler=handler, expected=counts.get(url), limits=limits)
        yield from decode_samples(raws, handler=handler, require_sigma=require_sigma, limits=limits)


def _shard_samples(urls: Iterable[dict], *, handler, limits: Limits, counts: dict[str, int]) -> Iterator[dict]:
    # webdataset's shard stages yield {"url": ...}; read each with the safe reader, which also reports
    # the samples missing from a shard that yields fewer than dataset.json lists (even none at all).
    for item in urls:
        yield from read_shard(item["url"], handler=handler, expected=counts.get(item["url"]), limits=limits)


def open_dataset(
    source: str | os.PathLike[str] | Sequence[str],
    *,
    shuffle: int = 0,
    seed: int = 0,
    split_by_node: bool = True,
    split_by_worker: bool = True,
    require_sigma: bool | None = None,
    limits: Limits = LIMITS,
):
    """A webdataset pipeline of decoded noisegen samples (the stages above).

    Args:
        source: dataset folder (shards listed in its dataset.json), one shard path/URL, or a list.
        shuffle: sample shuffle buffer size (0: off, shards and samples in order); when > 0 the
            shard order is shuffled too. Both use random.Random(seed).
        seed: seed of the shuffles.
        split_by_node: give each torch.distributed rank its own shards (webdataset.split_by_node).
        split_by_worker: give each DataLoader worker its own shards.
        require_sigma: treat a sample without sigma.png as damaged; default: True for dataset
            folders whose manifests list sigma.png, else False.
        limits: size limits of members and decoded images.
    Returns:
        webdataset.DataPipeline yielding decode_sample dicts, with attributes ``errors``
        (DamageCounter) and ``urls`` (the shard list).
    """
    import webdataset as wds  # here: webdataset imports torch when it is installed

    shards = list_shards(source)
    urls = list(shards.urls)
    if require_sigma is None:
        require_sigma = bool(shards.has_sigma())
    errors = DamageCounter()
    stages: list = [wds.SimpleShardList(urls)]
    if shuffle:
        stages.append(wds.shuffle(len(urls), initial=len(urls), rng=random.Random(seed)))
    if split_by_node:
        stages.append(wds.split_by_node)
    if split_by_worker:
        stages.append(wds.split_by_worker)
    stages.append(functools.partial(_shard_samples, handler=errors, limits=limits, counts=dict(shards.counts)))
    if shuffle:
        stages.append(wds.shuffle(shuffle, initial=min(shuffle, 100), rng=random.Random(seed + 1)))
    stages.append(functools.partial(decode_samples, handler=errors, require_sigma=require_sigma, limits=limits))
    pipeline = wds.DataPipeline(*stages)
    pipeline.errors = errors
    pipeline.urls = urls
    return pipeline
