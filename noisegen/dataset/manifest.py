"""A dataset's two summary files: index.parquet (one row per sample) and dataset.json.

Both are written last, each to a temporary name, fsynced and renamed (DESIGN.md §4), so a folder
with a dataset.json holds a complete dataset. The index has a fixed schema for the columns that
noisegen writes (types below); a SampleParams field added later gets a column of inferred type.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from noisegen.atomic import atomic_write_bytes, temp_path

__all__ = ["INDEX_NAME", "MANIFEST_NAME", "FORMAT_NAME", "FORMAT_VERSION", "index_types", "versions",
           "write_index", "read_index", "write_manifest", "read_manifest"]

INDEX_NAME = "index.parquet"
MANIFEST_NAME = "dataset.json"
FORMAT_NAME = "noisegen-webdataset"
FORMAT_VERSION = 1


def index_types() -> dict[str, Any]:
    """pyarrow type of every column noisegen writes to index.parquet.

    Nullable: pattern, jpeg_quality, wb_gains_*, rgb_to_camera (None where the step was not applied).
    """
    import pyarrow as pa

    s, i32, i64, f64 = pa.string(), pa.int32(), pa.int64(), pa.float64()
    t: dict[str, Any] = {"shard": s, "key": s, "sample": i64, "source": s, "source_height": i32, "source_width": i32,
                         "crop_y": i32, "crop_x": i32, "crop_h": i32, "crop_w": i32, "patch": i32}
    for name in ("camera", "crf", "crf_bank", "noise_model", "pattern", "demosaic", "jpeg_subsampling", "jpeg_encoder"):
        t[name] = s
    for name in ("sigma_s", "sigma_c", "wb_gains"):
        t.update({f"{name}_{c}": f64 for c in "rgb"})
    t.update(rgb_to_camera=pa.list_(f64), jpeg_quality=i32, sigma_step=f64, mean_intensity=f64, noisy_mean=f64,
             residual_std=f64, sigma_mean=f64, sigma_max=f64, bytes=i64)
    return t


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over noisegen's source files and the shipped CRF banks (first 16 hex digits).

    The package version does not change between development commits; this does, so a dataset
    records exactly which code made it and --resume refuses to mix outputs of different code.
    """
    import crf_data

    roots = [Path(__file__).resolve().parent, Path(crf_data.__file__).resolve().parent]
    h = hashlib.sha256()
    for root in roots:
        for f in sorted(root.rglob("*")):
            if f.suffix in (".py", ".npz") and "__pycache__" not in f.parts:
                h.update(f.relative_to(root.parent).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def versions() -> dict[str, str]:
    """Versions of what determines the bytes: noisegen (and its code fingerprint), Python, numpy, numba,
    Pillow and libjpeg-turbo (JPEG step), the zlib that compresses the PNG members, pyarrow (index)."""
    import numba
    import numpy
    import PIL
    import pyarrow
    from PIL import features

    from noisegen.version import __version__

    return {"noisegen": __version__, "noisegen_code": code_fingerprint(), "python": platform.python_version(),
            "numpy": numpy.__version__,
            "numba": numba.__version__, "pillow": PIL.__version__,
            "libjpeg-turbo": str(features.version("libjpeg_turbo")), "zlib": zlib.ZLIB_RUNTIME_VERSION,
            "pyarrow": pyarrow.__version__}


def write_index(batches: Iterable[list[dict]], path: str | os.PathLike[str]) -> None:
    """Write index rows as Parquet, one row group per batch (per shard), atomically.

    Batches are streamed, so memory holds one shard's rows at a time. Columns: index_types() in
    that order, then any other keys of the first non-empty batch (type inferred).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = index_types()
    p = Path(path)
    tmp = temp_path(p)
    writer = None
    try:
        for rows in batches:
            if not rows:
                continue
            if writer is None:
                extra = [k for k in rows[0] if k not in types]
                columns = {c: pa.array([r.get(c) for r in rows], type=types.get(c)) for c in [*types, *extra]}
                schema = pa.table(columns).schema
                writer = pq.ParquetWriter(str(tmp), schema)
            table = pa.table({f.name: pa.array([r.get(f.name) for r in rows], type=f.type) for f in schema})
            writer.write_table(table)
        if writer is None:  # no sample at all: an empty table with the known columns
            empty = pa.table({c: pa.array([], type=t) for c, t in types.items()})
            pq.write_table(empty, str(tmp))
        else:
            writer.close()
            writer = None
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise


def read_index(path: str | os.PathLike[str]):
    """index.parquet as a pyarrow Table (read from the path: DESIGN.md §9 on BytesIO)."""
    import pyarrow.parquet as pq

    return pq.read_table(str(path))


def write_manifest(manifest: dict, path: str | os.PathLike[str]) -> None:
    """Write dataset.json (indented, keys in insertion order), atomically."""
    atomic_write_bytes(path, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))


def read_manifest(folder: str | os.PathLike[str]) -> dict:
    """Read FOLDER/dataset.json with errors that say what is wrong and what to do."""
    p = Path(folder) / MANIFEST_NAME
    if not p.is_file():
        if Path(folder).is_dir() and (Path(folder) / ".partial").is_dir():
            raise FileNotFoundError(f"{folder}: no {MANIFEST_NAME}; the folder holds an unfinished run: "
                                    f"finish it with `noisegen generate --resume` and the same options")
        raise FileNotFoundError(f"{p} not found: {folder} is not a noisegen dataset folder")
    try:
        m = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p}: not valid JSON ({exc})") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT_NAME:
        raise ValueError(
            f"{p}: not a noisegen dataset manifest (format {m.get('format') if isinstance(m, dict) else None!r})"
        )
    return m
