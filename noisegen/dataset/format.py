"""The dataset format (DESIGN.md §4), in one place: names, the σ codec, and the schemas of a sample's
JSON, of index.parquet and of dataset.json.

A dataset is a folder:

    shard-000000.tar ...  USTAR tars; one sample = one patch, key ``s<9-digit index>``, members
                          clean.png, noisy.png, sigma.png (synthetic samples only) and json
    index.parquet         one row per sample (``index_types``)
    dataset.json          the manifest (``check_manifest``)

Members:
    clean.png   uint8 RGB PNG, the clean patch (the training target)
    noisy.png   uint8 RGB PNG (lossless, also when JPEG was simulated)
    sigma.png   σ_raw as a 16-bit grayscale PNG of shape 3H×W: the R, G and B planes stacked
                vertically, value v ↦ σ = v·step; step = 2⁻¹⁴ (recorded as ``sigma.step`` in the
                sample's json) unless σ reaches 4.0, then the smallest power of two that fits.
                Absolute error ≤ step/2 = 3.05e-5 (contract: ≤ 1e-4). Planar, because PNG's row
                filters predict a value from its neighbours in the same plane.
    json        UTF-8 JSON: every parameter of the sample, its source, crop box, seeds, σ encoding
                and the package version (``SAMPLE_FIELDS``)

This module imports neither the writer nor the camera pipeline nor numba: the reader and the writer
both build on it.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any

import numpy as np
from PIL import Image

from noisegen.dataset.png import encode_png

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "MANIFEST_NAME", "INDEX_NAME", "PARTIAL_DIR", "CLEAN", "NOISY", "SIGMA",
    "JSON", "MEMBERS", "PAIR_MEMBERS", "KNOWN_MEMBERS", "PICKLE_SUFFIXES", "SIGMA_ENCODING", "SIGMA_STEP",
    "SIGMA_MAX", "MEMBER_DESCRIPTIONS", "SAMPLE_FIELDS", "shard_name", "sample_key", "encode_sigma",
    "decode_sigma", "sigma_step_of", "synthetic_sample_meta", "encode_meta", "check_sample_meta", "index_row",
    "index_types", "MANIFEST_FIELDS", "check_manifest", "PAIR_MEMBER_DESCRIPTIONS", "real_pair_meta",
    "real_pair_index_row",
]

FORMAT_NAME = "noisegen-webdataset"
FORMAT_VERSION = 1
MANIFEST_NAME = "dataset.json"
INDEX_NAME = "index.parquet"
PARTIAL_DIR = ".partial"  # records of finished shards of an unfinished `generate` run

CLEAN, NOISY, SIGMA, JSON = "clean.png", "noisy.png", "sigma.png", "json"
MEMBERS = (CLEAN, NOISY, SIGMA, JSON)        # a synthetic sample, in write order
PAIR_MEMBERS = (CLEAN, NOISY, JSON)          # a real pair packed by `noisegen pack-pairs`
KNOWN_MEMBERS = frozenset(MEMBERS)
PICKLE_SUFFIXES = (".pyd", ".pickle", ".pkl")  # never read, whatever the key (DESIGN.md §4)

SIGMA_ENCODING = "png16-planar"
SIGMA_STEP = 2.0**-14
# The σ values the format carries: σ_raw is the standard deviation of noise on an irradiance in
# [0, 1]; SampleParams bounds σ_s and σ_c by 4, so σ_raw < 16 everywhere. encode_sigma picks
# steps from 2⁻¹⁴ (σ < 4) up to 2⁻¹² (σ < 16). A sample whose recorded step lies outside
# [2⁻²⁴, 2⁻⁸], or whose decoded σ exceeds SIGMA_MAX, is damaged.
SIGMA_MAX = 16.0
_STEP_RANGE = (2.0**-24, 2.0**-8)

MEMBER_DESCRIPTIONS = {
    CLEAN: "uint8 RGB PNG, the clean patch",
    NOISY: "uint8 RGB PNG (lossless), the simulated camera's output",
    SIGMA: "σ_raw as 16-bit grayscale PNG, planes R,G,B stacked vertically (3H×W); σ = v·step",
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


def shard_name(shard: int) -> str:
    """File name of shard ``shard``: shard-000000.tar, ..."""
    return f"shard-{shard:06d}.tar"


def sample_key(index: int) -> str:
    """WebDataset key of sample ``index`` (no dots: webdataset splits member names at the first dot)."""
    return f"s{index:09d}"


# ------------------------------------------------------------------------------------------------
# σ codec


def encode_sigma(sigma_raw: np.ndarray) -> tuple[bytes, float]:
    """Encode a σ map (float H×W×3, ≥ 0) as a planar 16-bit PNG; returns (png bytes, step).

    σ ≈ v·step with |error| ≤ step/2; step = 2⁻¹⁴ when max σ < 65535·2⁻¹⁴ ≈ 4.0.
    """
    s = np.asarray(sigma_raw, dtype=np.float64)
    if s.ndim != 3 or s.shape[2] != 3:
        raise ValueError(f"sigma_raw: expected shape (H, W, 3), got {s.shape}")
    if not np.isfinite(s).all() or (s < 0).any():
        raise ValueError("sigma_raw: expected finite values >= 0")
    step = SIGMA_STEP
    top = float(s.max()) if s.size else 0.0
    if top / step > 65535.0:
        step = 2.0 ** math.ceil(math.log2(top / 65535.0))
    v = np.rint(s / step).astype(np.uint16)
    planes = np.ascontiguousarray(v.transpose(2, 0, 1)).reshape(3 * s.shape[0], s.shape[1])
    return encode_png(planes), step


def decode_sigma(data: bytes, step: float) -> np.ndarray:
    """Inverse of encode_sigma: float32 H×W×3 σ map from the PNG bytes and the recorded step."""
    with Image.open(io.BytesIO(data)) as im:
        if im.format != "PNG" or im.mode not in ("I;16", "I;16B", "I"):
            raise ValueError(f"{SIGMA}: expected a 16-bit grayscale PNG, got {im.format} mode {im.mode!r}")
        planes = np.asarray(im).astype(np.float32)
    if planes.ndim != 2 or planes.shape[0] % 3:
        raise ValueError(f"{SIGMA}: expected 3·H rows (R, G, B planes), got shape {planes.shape}")
    h = planes.shape[0] // 3
    return np.ascontiguousarray(planes.reshape(3, h, planes.shape[1]).transpose(1, 2, 0)) * np.float32(step)


def sigma_step_of(meta: dict) -> float:
    """The σ step recorded in a sample's json, checked: finite, in the format's range.

    Raises:
        ValueError: missing, not a number, NaN/inf, ≤ 0 or outside [2⁻²⁴, 2⁻¹].
    """
    sigma = meta.get("sigma")
    step = sigma.get("step") if isinstance(sigma, dict) else None
    if isinstance(step, bool) or not isinstance(step, (int, float)):
        raise ValueError(f"json: sigma.step must be a number, got {step!r}")
    if not (math.isfinite(step) and _STEP_RANGE[0] <= step <= _STEP_RANGE[1]):
        raise ValueError(f"json: sigma.step {step!r} is outside the format's range "
                         f"[{_STEP_RANGE[0]:g}, {_STEP_RANGE[1]:g}]")
    return float(step)


# ------------------------------------------------------------------------------------------------
# Schemas


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
    sigma_step_of(meta)
    return meta


def synthetic_sample_meta(*, key: str, sample: int, source: str, source_size: tuple[int, int],
                          conversions: list[str], box: tuple[int, int, int, int], patch: int, seed: int,
                          crop_seed: tuple[int, ...] | None, params_seed: tuple[int, ...],
                          noise_seed: tuple[int, ...], params: dict, sigma_step: float, version: str,
                          clean_target: str = "source") -> dict:
    """The json of a synthetic sample (SAMPLE_FIELDS): identity, source, crop box, seeds, the SampleParams
    as a dict, the clean target and the σ encoding. ``synthesize(crop, SampleParams.from_dict(params),
    seed=noise_seed, clean_target=clean_target)`` reproduces the sample."""
    y, x, h, w = box
    return {
        "key": key, "sample": sample, "source": source, "source_size": list(source_size),
        "conversions": list(conversions), "crop": {"y": y, "x": x, "h": h, "w": w}, "patch": patch, "seed": seed,
        "crop_seed": None if crop_seed is None else list(crop_seed), "params_seed": list(params_seed),
        "noise_seed": list(noise_seed), "params": params, "clean_target": clean_target,
        "sigma": {"member": SIGMA, "encoding": SIGMA_ENCODING, "step": sigma_step}, "noisegen_version": version,
    }


def encode_meta(meta: dict) -> bytes:
    """The json member's bytes: sorted keys, no spaces, UTF-8 (same dict → same bytes)."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("utf-8")


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
    t.update(rgb_to_camera=pa.list_(f64), jpeg_quality=i32, iso=i32, sigma_step=f64, mean_intensity=f64, noisy_mean=f64,
             residual_std=f64, sigma_mean=f64, sigma_max=f64, bytes=i64)
    return t


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
