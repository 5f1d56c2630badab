"""The reader of noisegen datasets (DESIGN.md §4, §8): small composable stages, and ``open_dataset``.

    ds = noisegen.open_dataset("out/")          # or a list of shard paths / URLs
    for s in ds:  s["clean"], s["noisy"] (uint8 H×W×3), s["sigma"] (float32 H×W×3 or None), s["params"]
    ds.errors.count                              # damaged samples and shards skipped so far

Stages (generator functions; bind keyword arguments with functools.partial; all picklable):

    list_shards      dataset folders, shard files, brace patterns, pipe: URLs → ShardSet (is_url: the
                     one rule that tells a URL from a local path)
    split_by_rank    a process's disjoint shards; split_by_worker: a loader worker's
    read_shard       one tar, streamed: only the format's members are read (pickles and unknown
                     members are skipped without reading), each within a size limit; members
                     grouped into raw samples {member: bytes, "__key__", "__url__"}
    check_counts     a shard that yields fewer samples than dataset.json lists is reported
    decode_samples   PNG and JSON only (decode_sample), σ from its 16-bit PNG; then validate_sample:
                     shapes, dtypes, the json schema and σ finite, ≥ 0, within the format's range;
                     each sample through decode_or_report, the one decoding step of every chain
                     (open_dataset's and the trainer's loader stages)
    iter_samples     one exact, ordered pass over a rank's shards (validation, evaluation)
    to_torch         decoded samples → tensors and collate-safe parameters (PyTorch DataLoader)

Everything that fails (a truncated or corrupt shard, a missing or undecodable member, a member over
its size limit, a decompression bomb, a json nested too deep, a σ out of range) goes to an error
handler (``DamageCounter``: warn, count, continue) and the stream goes on with the next sample or
shard: one bad sample never ends a run.

The reader imports neither the writer, nor the camera pipeline, nor numba (a test checks
``sys.modules``). Real pairs and plain image folders are read here too (``read_pairs``: the one
pairing of a folder; ``list_images``: the one listing of an image folder; ``read_rgb8``, ``centre_crop``),
so that the trainer reads everything through this package.

Modules:
    shards   manifest, shard lists, splitting
    samples  tar reading, decoding, validation, ``open_dataset``
    pairs    real pairs (``read_pairs``)
    tensors  decoded samples → tensors (``to_torch``)

This file exports them.
"""

from noisegen.dataset.format import MANIFEST_NAME, PICKLE_SUFFIXES, dataset_sigma, wds_decoders
from noisegen.dataset.images import ImageReadError, centre_crop, read_rgb8, write_png
from noisegen.dataset.pairs import Pair, scan_pairs
from noisegen.dataset.reader.pairs import PairItem, PairSource, group_label, holds_pairs, read_pairs
from noisegen.dataset.reader.samples import (
    LIMITS,
    DamageCounter,
    DamagedDataWarning,
    Limits,
    QuietDamageCounter,
    check_counts,
    decode_or_report,
    decode_sample,
    decode_samples,
    iter_samples,
    open_dataset,
    read_shard,
    validate_sample,
)
from noisegen.dataset.reader.shards import (
    DatasetInfo,
    ShardSet,
    dataset_info,
    is_url,
    list_shards,
    read_index,
    read_manifest,
    shard_urls,
    split_by_rank,
    split_by_worker,
)
from noisegen.dataset.reader.tensors import sample_to_torch, to_torch
from noisegen.dataset.sources import IMAGE_EXTENSIONS, list_images

__all__ = [
    "DamageCounter", "QuietDamageCounter", "DamagedDataWarning", "ShardSet", "Limits", "LIMITS", "PairItem",
    "PairSource", "DatasetInfo", "dataset_info", "is_url", "read_manifest", "read_index", "list_shards",
    "shard_urls", "split_by_rank", "split_by_worker", "read_shard", "check_counts", "decode_sample", "decode_or_report",
    "validate_sample", "decode_samples", "iter_samples", "open_dataset", "read_pairs", "holds_pairs",
    "group_label", "list_images", "read_rgb8", "write_png", "centre_crop", "ImageReadError", "IMAGE_EXTENSIONS",
    "MANIFEST_NAME", "Pair", "scan_pairs", "PICKLE_SUFFIXES", "dataset_sigma", "to_torch", "sample_to_torch",
    "wds_decoders",
]
