"""The dataset format (DESIGN.md §4), in one place: names, the σ codec (noisegen.dataset.sigma_codec),
and the schemas of a sample's JSON, of index.parquet and of dataset.json.

A dataset is a folder:

    shard-000000.tar ...  USTAR tars; one sample = one patch, key ``s<9-digit index>``, members
                          clean.png, noisy.png, sigma.png16 (synthetic samples only) and json
    index.parquet         one row per sample (``index_types``)
    dataset.json          the manifest (``check_manifest``)

Members:
    clean.png    uint8 RGB PNG, the clean patch (the training target)
    noisy.png    uint8 RGB PNG (lossless, also when JPEG was simulated)
    sigma.png16  σ_raw as a 16-bit grayscale PNG of shape 3H×W (noisegen.dataset.sigma_codec); the
                 extension is not ``.png`` so that generic image decoders (webdataset's ``rgb8``,
                 Hugging Face's Image) leave it alone instead of cutting it to 8 bits. Format 1
                 named it ``sigma.png``; each sample's json names its member (``sigma.member``).
    json         UTF-8 JSON: every parameter of the sample, its source, crop box, seeds, σ encoding
                 and the package version (``SAMPLE_FIELDS``). Format 2 writes every field with one
                 JSON type in every sample (``to_disk``: "", 0, [-1] or zeros instead of null), so
                 that Arrow's schema inference (Hugging Face ``datasets``) works; the reader turns
                 them back into None (``from_disk``).

An absent value (no mosaic, no JPEG, unknown ISO) has one spelling per layer:

    layer                                  no mosaic     no JPEG          unknown ISO
    Python (SampleParams, decoded json)    None          None             None
    sample json on disk (format 2)         ""            0                0       (to_disk; read back as None)
    index.parquet                          null          null (Int32)     null (Int32)
    to_torch parameters (collate-safe)     ""            0                0       (as the json on disk)
    text for people (inspect, stats, CLI)  none          none             none

This module imports neither the writer nor the camera pipeline nor numba: the reader and the writer
both build on it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from noisegen.dataset.sigma_codec import (
    SIGMA,
    SIGMA_ENCODING,
    SIGMA_MAX,
    SIGMA_MEMBERS,
    SIGMA_STEP,
    SIGMA_V1,
    decode_sigma,
    encode_sigma,
    sigma_step_of,
    wds_decoders,
)

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "MANIFEST_NAME", "INDEX_NAME", "PARTIAL_DIR", "CLEAN", "NOISY", "SIGMA",
    "JSON", "MEMBERS", "PAIR_MEMBERS", "KNOWN_MEMBERS", "PICKLE_SUFFIXES", "SIGMA_ENCODING", "SIGMA_STEP",
    "SIGMA_MAX", "SIGMA_V1", "SIGMA_MEMBERS", "MEMBER_DESCRIPTIONS", "SAMPLE_FIELDS", "shard_name", "sample_key",
    "encode_sigma", "decode_sigma", "sigma_step_of", "wds_decoders", "synthetic_sample_meta", "encode_meta",
    "to_disk", "from_disk", "params_from_disk", "check_sample_meta", "index_row",
    "index_types", "MANIFEST_FIELDS", "check_manifest", "PAIR_MEMBER_DESCRIPTIONS", "real_pair_meta",
    "real_pair_index_row", "SIGMA_MODES", "SIGMA_DERIVED", "sigma_is_derived", "dataset_sigma",
    "NULLABLE_INT_COLUMNS", "pandas_metadata",
]

FORMAT_NAME = "noisegen-webdataset"
# 1: sigma.png, nullable json fields. 2: sigma.png16 (the step inside the PNG), json fields of one
# type in every sample (typed empty values instead of null; see to_disk). Version 1 is still read.
FORMAT_VERSION = 2
MANIFEST_NAME = "dataset.json"
INDEX_NAME = "index.parquet"
PARTIAL_DIR = ".partial"  # records of finished shards of an unfinished `generate` run

CLEAN, NOISY, JSON = "clean.png", "noisy.png", "json"
MEMBERS = (CLEAN, NOISY, SIGMA, JSON)        # a synthetic sample, in write order
PAIR_MEMBERS = (CLEAN, NOISY, JSON)          # a real pair packed by `noisegen pack-pairs`
KNOWN_MEMBERS = frozenset(MEMBERS) | {SIGMA_V1}
PICKLE_SUFFIXES = (".pyd", ".pickle", ".pkl")  # never read, whatever the key (DESIGN.md §4)

MEMBER_DESCRIPTIONS = {
    CLEAN: "uint8 RGB PNG, the clean patch",
    NOISY: "uint8 RGB PNG (lossless), the simulated camera's output",
    SIGMA: "σ_raw as 16-bit grayscale PNG, planes R,G,B stacked vertically (3H×W); σ = v·step (step in the "
           "PNG's tEXt chunk noisegen:sigma-step and in the json)",
    JSON: "UTF-8 JSON: params (SampleParams), source, crop, seeds, sigma encoding, version",
}

# The sample json of a synthetic sample: field → type(s). Real pairs (pack-pairs) carry "real": true,
# "params": null and no "sigma" (their fields are listed in noisegen.dataset.pack_pairs).
SAMPLE_FIELDS: dict[str, tuple[type, ...]] = {
    "key": (str,), "sample": (int,), "source": (str,), "source_size": (list,), "conversions": (list,),
    "crop": (dict,), "patch": (int,), "seed": (int,), "crop_seed": (list, type(None)), "params_seed": (list,),
    "noise_seed": (list,), "params": (dict,), "sigma": (dict,), "noisegen_version": (str,),
}
# Fields added after format version 1's first datasets: checked when present ("source" when absent).
SAMPLE_OPTIONAL_FIELDS: dict[str, tuple[type, ...]] = {"clean_target": (str,)}
# In memory (from_disk) the format-2 json has one field more: its format version.


def shard_name(shard: int) -> str:
    """File name of shard ``shard``: shard-000000.tar, ..."""
    return f"shard-{shard:06d}.tar"


def sample_key(index: int) -> str:
    """WebDataset key of sample ``index`` (no dots: webdataset splits member names at the first dot)."""
    return f"s{index:09d}"


# ------------------------------------------------------------------------------------------------
# Schemas


# How a dataset carries σ_raw: "stored" as the 16-bit PNG member, or "derived" (no member; the reader
# recomputes it from the clean source crop and the parameters, noisegen.isp.raw_sigma; needs the
# clean target "source").
SIGMA_MODES = ("stored", "derived")
SIGMA_DERIVED = "derived-from-clean"  # the json's sigma.encoding of a derived map


def sigma_is_derived(meta: dict) -> bool:
    """True when a sample's json says its σ map is derived (no σ member)."""
    sigma = meta.get("sigma")
    return isinstance(sigma, dict) and sigma.get("encoding") == SIGMA_DERIVED


def dataset_sigma(manifest: dict) -> str | None:
    """How a dataset carries σ maps: "stored", "derived", or None (real pairs: no σ)."""
    enc = manifest.get("sigma_encoding")
    if isinstance(enc, dict) and enc.get("name") == SIGMA_DERIVED:
        return "derived"
    return "stored" if any(m in manifest.get("members", {}) for m in SIGMA_MEMBERS) else None


def check_sample_meta(meta: Any, *, synthetic: bool) -> dict:
    """Check a decoded sample json against the format; returns it unchanged.

    Args:
        meta: the parsed json member.
        synthetic: the sample has a σ map (generate); False for real pairs (pack-pairs).
    Raises:
        ValueError: not an object, or (synthetic) a field of SAMPLE_FIELDS missing or of another type.
    """
    if not isinstance(meta, dict):
        raise ValueError(f"json: expected an object, got {type(meta).__name__}")
    if not synthetic:
        if not isinstance(meta.get("key", ""), str):
            raise ValueError(f"json: key must be a string, got {meta.get('key')!r}")
        return meta
    for name, types in {**SAMPLE_FIELDS, **SAMPLE_OPTIONAL_FIELDS}.items():
        if name not in meta:
            if name in SAMPLE_OPTIONAL_FIELDS:
                continue
            raise ValueError(f"json: missing field {name!r}")
        value = meta[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise ValueError(f"json: field {name!r} must be {' or '.join(t.__name__ for t in types)}, "
                             f"got {type(value).__name__}")
    if sigma_is_derived(meta):
        if meta.get("clean_target", "source") != "source":
            raise ValueError("json: a derived σ map needs the clean target 'source'")
        return meta
    sigma_step_of(meta)
    if meta["sigma"].get("member", SIGMA_V1) not in SIGMA_MEMBERS:
        raise ValueError(f"json: sigma.member {meta['sigma'].get('member')!r} is not one of {list(SIGMA_MEMBERS)}")
    return meta


def synthetic_sample_meta(*, key: str, sample: int, source: str, source_size: tuple[int, int],
                          conversions: list[str], box: tuple[int, int, int, int], patch: int, seed: int,
                          crop_seed: tuple[int, ...] | None, params_seed: tuple[int, ...],
                          noise_seed: tuple[int, ...], params: dict, sigma_step: float | None, version: str,
                          clean_target: str = "source") -> dict:
    """The json of a synthetic sample (SAMPLE_FIELDS): identity, source, crop box, seeds, the SampleParams
    as a dict, the clean target and the σ encoding (``sigma_step`` None: a derived σ map, no member).
    ``synthesize(crop, SampleParams.from_dict(params), seed=noise_seed, clean_target=clean_target)``
    reproduces the sample."""
    y, x, h, w = box
    return {
        "key": key, "sample": sample, "source": source, "source_size": list(source_size),
        "conversions": list(conversions), "crop": {"y": y, "x": x, "h": h, "w": w}, "patch": patch, "seed": seed,
        "crop_seed": None if crop_seed is None else list(crop_seed), "params_seed": list(params_seed),
        "noise_seed": list(noise_seed), "params": params, "clean_target": clean_target,
        "sigma": ({"member": SIGMA, "encoding": SIGMA_ENCODING, "step": sigma_step} if sigma_step is not None
                  else {"member": "", "encoding": SIGMA_DERIVED, "step": 0.0}),
        "noisegen_version": version,
    }


# Format 2's typed empty values: what stands on disk for None (absent), per field. Sentinels are
# values the field can never take otherwise (a JPEG quality of 0, white-balance gains of 0, a
# singular colour matrix, an ISO of 0).
_PARAMS_EMPTY: dict[str, Any] = {"pattern": "", "jpeg_quality": 0, "wb_gains": [0.0] * 3, "rgb_to_camera": [0.0] * 9,
                                 "iso": 0}
_REAL_EMPTY: dict[str, Any] = {"camera": "", "iso": 0, "scene": "", "naming_rule": "", "patch": 0}


def to_disk(meta: dict) -> dict:
    """A sample's json as format 2 writes it: no field is null where another sample could hold a value.

    conversions → one string ("gray,alpha"; "" for none); crop_seed None (grid crops) → [-1] (seeds are
    never negative; an empty list would be typed null by Arrow); in params, pattern
    None → "", jpeg_quality None → 0, iso None → 0, wb_gains None → [0, 0, 0], rgb_to_camera None → nine zeros;
    real pairs: camera/scene/naming_rule None → "", iso/patch None → 0. Adds "format_version".
    """
    out = dict(meta, format_version=FORMAT_VERSION)
    if isinstance(meta.get("conversions"), list):
        out["conversions"] = ",".join(meta["conversions"])
    if "crop_seed" in meta and meta["crop_seed"] is None:
        out["crop_seed"] = [-1]
    if isinstance(meta.get("params"), dict):
        out["params"] = {k: (_PARAMS_EMPTY[k] if v is None and k in _PARAMS_EMPTY else v)
                         for k, v in meta["params"].items()}
    if meta.get("real"):
        out.update({k: e for k, e in _REAL_EMPTY.items() if k in meta and meta[k] is None})
    return out


def from_disk(meta: Any) -> Any:
    """Inverse of to_disk: the in-memory form of a sample's json (None for absent values), any version.

    Format-1 json (no "format_version") is returned unchanged.
    """
    if not isinstance(meta, dict) or meta.get("format_version") is None:
        return meta
    out = dict(meta)
    if isinstance(meta.get("conversions"), str):
        out["conversions"] = [c for c in meta["conversions"].split(",") if c]
    if meta.get("crop_seed") == [-1]:
        out["crop_seed"] = None
    if isinstance(meta.get("params"), dict):
        out["params"] = params_from_disk(meta["params"])
    if meta.get("real") is True:
        out.update({k: None for k, e in _REAL_EMPTY.items() if k in meta and meta[k] == e})
    return out


def params_from_disk(params: dict) -> dict:
    """A sample's ``params`` (SampleParams as a dict) with format 2's typed empty values read as None."""
    return {k: (None if k in _PARAMS_EMPTY and v == _PARAMS_EMPTY[k] and type(v) is type(_PARAMS_EMPTY[k]) else v)
            for k, v in params.items()}


def encode_meta(meta: dict) -> bytes:
    """The json member's bytes (to_disk form): sorted keys, no spaces, UTF-8 (same dict → same bytes)."""
    return json.dumps(to_disk(meta), sort_keys=True, separators=(",", ":"), allow_nan=False).encode("utf-8")


# SampleParams fields with one value per channel: index columns NAME_r, NAME_g, NAME_b.
_PER_CHANNEL = ("sigma_s", "sigma_c", "wb_gains")


def index_row(meta: dict, *, clean: np.ndarray, noisy: np.ndarray, sigma: np.ndarray) -> dict:
    """One index.parquet row of a synthetic sample (``index_types``), without ``shard`` and ``bytes``.

    Args:
        meta: the sample's json (synthetic_sample_meta). clean, noisy: uint8 H×W×3. sigma: float H×W×3.
    """
    c = meta["crop"]
    row = {"key": meta["key"], "sample": meta["sample"], "source": meta["source"],
           "source_height": meta["source_size"][0], "source_width": meta["source_size"][1],
           "crop_y": c["y"], "crop_x": c["x"], "crop_h": c["h"], "crop_w": c["w"], "patch": meta["patch"]}
    for name, value in meta["params"].items():
        if name in _PER_CHANNEL:
            row.update({f"{name}_{ch}": v for ch, v in zip("rgb", [None] * 3 if value is None else value)})
        else:
            row[name] = value
    clean32 = clean.astype(np.float32)
    resid = (noisy.astype(np.float32) - clean32) / 255.0
    row.update(sigma_step=meta["sigma"]["step"], mean_intensity=float(clean32.mean()) / 255.0,
               noisy_mean=float(noisy.mean()) / 255.0, residual_std=float(resid.std()),
               sigma_mean=float(sigma.mean()), sigma_max=float(sigma.max()))
    return row


PAIR_MEMBER_DESCRIPTIONS = {
    CLEAN: "uint8 RGB PNG, the clean (ground truth) crop",
    NOISY: "uint8 RGB PNG, the real noisy crop",
    JSON: "UTF-8 JSON: source pair, crop, camera, ISO, scene, split, seed (params: null, no σ map)",
}


def real_pair_meta(*, key: str, sample: int, source: str, noisy_file: str, clean_file: str,
                   source_size: tuple[int, int], box: tuple[int, int, int, int], patch: int | None,
                   camera: str | None, iso: int | None, scene: str | None, naming_rule: str | None, split: str,
                   dataset: str, seed: int, version: str) -> dict:
    """The json of a real pair's sample (`noisegen pack-pairs`): which pair, which crop, camera, ISO, scene,
    split; "real": true and "params": null (no σ map)."""
    y, x, h, w = box
    return {"key": key, "sample": sample, "source": source, "noisy_file": noisy_file, "clean_file": clean_file,
            "source_size": list(source_size), "crop": {"y": y, "x": x, "h": h, "w": w}, "patch": patch,
            "camera": camera, "iso": iso, "scene": scene, "naming_rule": naming_rule, "split": split,
            "dataset": dataset, "seed": seed, "real": True, "params": None, "noisegen_version": version}


def real_pair_index_row(meta: dict, *, clean: np.ndarray, noisy: np.ndarray) -> dict:
    """One index.parquet row of a real pair's sample, without ``shard`` and ``bytes``."""
    c = meta["crop"]
    resid = (noisy.astype(np.float32) - clean) / 255.0
    return {"key": meta["key"], "sample": meta["sample"], "source": meta["source"],
            "source_height": meta["source_size"][0], "source_width": meta["source_size"][1],
            "crop_y": c["y"], "crop_x": c["x"], "crop_h": c["h"], "crop_w": c["w"],
            "patch": c["h"] if c["h"] == c["w"] else None, "camera": meta["camera"], "iso": meta["iso"],
            "scene": meta["scene"], "split": meta["split"], "real": True,
            "mean_intensity": float(clean.mean()) / 255.0, "noisy_mean": float(noisy.mean()) / 255.0,
            "residual_std": float(resid.std())}


def index_types() -> dict[str, Any]:
    """pyarrow type of every column noisegen writes to index.parquet (synthetic datasets).

    Nullable: pattern, jpeg_quality, wb_gains_*, rgb_to_camera (None where the step was not applied).
    Columns: identity (shard, key, sample, source, source size), crop box, patch, every scalar
    SampleParams field (per-channel ones as NAME_r/g/b), and cheap statistics (sigma_step,
    mean_intensity, noisy_mean, residual_std, sigma_mean, sigma_max, bytes).
    """
    import pyarrow as pa  # here: only writers and `inspect` need pyarrow

    s, i32, i64, f64 = pa.string(), pa.int32(), pa.int64(), pa.float64()
    t: dict[str, Any] = {"shard": s, "key": s, "sample": i64, "source": s, "source_height": i32, "source_width": i32,
                         "crop_y": i32, "crop_x": i32, "crop_h": i32, "crop_w": i32, "patch": i32}
    for name in ("camera", "crf", "crf_bank", "noise_model", "pattern", "demosaic", "jpeg_subsampling", "jpeg_encoder"):
        t[name] = s
    for name in ("sigma_s", "sigma_c", "wb_gains"):
        t.update({f"{name}_{c}": f64 for c in "rgb"})
    t.update(nr_flat_gain=f64, nr_knee=f64)
    t.update(rgb_to_camera=pa.list_(f64), jpeg_quality=i32, iso=i32, sigma_step=f64, mean_intensity=f64, noisy_mean=f64,
             residual_std=f64, sigma_mean=f64, sigma_max=f64, bytes=i64)
    return t


# Integer columns of index.parquet that may hold nulls (no JPEG, unknown ISO, a real pair's crop that is
# not square). Arrow keeps them as integers with nulls; pyarrow's to_pandas would make them float64
# with NaN, so the file's pandas metadata names pandas' nullable Int32 for them (``pandas_metadata``).
NULLABLE_INT_COLUMNS = ("jpeg_quality", "iso", "patch")


def pandas_metadata(columns: list[tuple[str, Any]]) -> bytes:
    """The ``pandas`` schema metadata of index.parquet: for each (name, pyarrow type) column that is an
    integer in NULLABLE_INT_COLUMNS, pandas' nullable integer dtype of the same width (``pd.read_parquet``
    then gives Int32 with <NA>). Only pandas reads it; Arrow, polars and Hugging Face read the types."""
    entries = [{"name": n, "field_name": n, "pandas_type": str(t), "numpy_type": str(t).replace("int", "Int", 1),
                "metadata": None}
               for n, t in columns if n in NULLABLE_INT_COLUMNS and str(t) in ("int32", "int64")]
    return json.dumps({"index_columns": [], "column_indexes": [], "columns": entries}, sort_keys=True).encode()


# dataset.json: key → type. Written by generate and pack-pairs (noisegen.dataset.writer.write_manifest).
MANIFEST_FIELDS: dict[str, type] = {
    "format": str, "format_version": int, "created_by": str, "versions": dict, "config": dict, "members": dict,
    "samples_per_shard": int, "counts": dict, "shards": list, "skipped": list, "index": str,
}


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _shard_entry_ok(s: Any) -> bool:
    """A shard entry names a file in the folder (no path) and records its samples, bytes and sha256."""
    return (isinstance(s, dict) and isinstance(s.get("name"), str) and "/" not in s["name"]
            and s["name"] not in ("", ".", "..") and _count(s.get("samples")) and _count(s.get("bytes"))
            and isinstance(s.get("sha256"), str))


def check_manifest(m: Any, where: str) -> dict:
    """Check a parsed dataset.json; returns it unchanged.

    Raises:
        ValueError: another format, a newer format version, or a field missing or of another type
            (e.g. a shard entry without name/samples/bytes/sha256), naming ``where``.
    """
    if not isinstance(m, dict) or m.get("format") != FORMAT_NAME:
        got = m.get("format") if isinstance(m, dict) else type(m).__name__
        raise ValueError(f"{where}: not a noisegen dataset manifest (format {got!r})")
    for name, typ in MANIFEST_FIELDS.items():
        if not isinstance(m.get(name), typ) or isinstance(m.get(name), bool):
            raise ValueError(f"{where}: field {name!r} is missing or not a {typ.__name__}; the file is damaged "
                             "(regenerate the dataset, or restore dataset.json)")
    if m["format_version"] > FORMAT_VERSION:
        raise ValueError(f"{where}: format version {m['format_version']} is newer than this noisegen reads "
                         f"({FORMAT_VERSION}); upgrade noisegen")
    for i, s in enumerate(m["shards"]):
        if not _shard_entry_ok(s):
            raise ValueError(f"{where}: shard entry {i} is damaged ({str(s)[:120]}); expected name (a file in the "
                             "folder), samples, bytes, sha256")
    return m
