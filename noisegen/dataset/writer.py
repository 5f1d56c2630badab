"""Writing datasets in the format of noisegen.dataset.format: byte-reproducible tars, the index and
the manifest, atomically. Shared by `noisegen generate` (noisegen.dataset.make_shard) and
`noisegen pack-pairs`; imports no camera code.

Tars are byte-reproducible: members in a fixed order, USTAR headers with mtime 0, uid/gid 0, empty
user and group names, mode 0644 (webdataset's TarWriter needs mtime=0 for the same, see
docs/design.md §Implementation notes; we write the headers ourselves so that the sha256 is computed
while writing). Every file is written to a temporary name, fsynced and renamed (noisegen.atomic), so
a reader never sees a part.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import tarfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import PIL
from PIL import features

from noisegen.atomic import atomic_write, atomic_write_bytes, temp_path
from noisegen.crf.io import shipped_bank_dir
from noisegen.dataset.format import index_types, pandas_metadata
from noisegen.dataset.png import COMPRESSOR
from noisegen.version import __version__

__all__ = ["DeterministicTarWriter", "tar_bytes", "write_tar", "write_index", "write_manifest", "versions",
           "code_fingerprint"]

_TAR_BLOCK = 512
_TAR_RECORD = 20 * _TAR_BLOCK  # tar's default blocking factor, as written by GNU tar and tarfile


class DeterministicTarWriter:
    """Minimal tar writer with fixed metadata; hashes the bytes while writing them.

    Members are regular files with USTAR headers: mtime 0, uid/gid 0, no user/group names, mode
    0644. ``close()`` writes the two zero end blocks and pads to a 10240-byte record, like tar.
    """

    def __init__(self, fileobj) -> None:
        self._f = fileobj
        self._hash = hashlib.sha256()
        self.bytes_written = 0

    def _write(self, data: bytes) -> None:
        self._f.write(data)
        self._hash.update(data)
        self.bytes_written += len(data)

    def add(self, name: str, data: bytes) -> int:
        """Append a member; returns the bytes it took in the archive (header + data + padding)."""
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), 0, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.type = tarfile.REGTYPE
        before = self.bytes_written
        self._write(info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict"))
        self._write(data)
        pad = -len(data) % _TAR_BLOCK
        if pad:
            self._write(b"\0" * pad)
        return self.bytes_written - before

    def close(self) -> str:
        """Write the end-of-archive blocks; returns the sha256 (hex) of the whole archive."""
        self._write(b"\0" * (2 * _TAR_BLOCK))
        pad = -self.bytes_written % _TAR_RECORD
        if pad:
            self._write(b"\0" * pad)
        return self._hash.hexdigest()


def tar_bytes(size: int) -> int:
    """Bytes a member of ``size`` bytes takes in a tar: its 512-byte header and the data padded to 512."""
    return _TAR_BLOCK + size + (-size % _TAR_BLOCK)


def write_tar(path: str | os.PathLike[str], members: Iterable[tuple[str, bytes]]) -> tuple[int, str]:
    """Write (name, data) members as one deterministic tar, atomically; returns (size in bytes, sha256)."""
    def write(f) -> str:
        tw = DeterministicTarWriter(f)
        for name, data in members:
            tw.add(name, data)
        return tw.close()

    sha = atomic_write(path, write)
    return Path(path).stat().st_size, sha


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """sha256 over noisegen's source files and the shipped CRF banks (first 16 hex digits).

    The package version does not change between development commits; this does, so a dataset
    records exactly which code made it and --resume refuses to mix outputs of different code.
    """
    roots = [Path(__file__).resolve().parents[1], shipped_bank_dir()]
    h = hashlib.sha256()
    for root in roots:
        for f in sorted(root.rglob("*")):
            if f.suffix in (".py", ".npz") and "__pycache__" not in f.parts:
                h.update(f.relative_to(root.parent).as_posix().encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def versions() -> dict[str, str]:
    """Versions of what determines the bytes: noisegen (and its code fingerprint), Python, numpy, numba,
    Pillow and libjpeg-turbo (JPEG step), the zlib that compresses the PNG members, pyarrow (index)."""
    import numba  # here: the reader imports the format, never numba or pyarrow
    import pyarrow

    return {"noisegen": __version__, "noisegen_code": code_fingerprint(), "python": platform.python_version(),
            "numpy": np.__version__,
            "numba": numba.__version__, "pillow": PIL.__version__,
            "libjpeg-turbo": str(features.version("libjpeg_turbo")), "zlib": zlib.ZLIB_RUNTIME_VERSION,
            "png_deflate": COMPRESSOR,
            "pyarrow": pyarrow.__version__}


def index_extra_columns(batches: Iterable[list[dict]]) -> dict[str, Any]:
    """The keys of the rows beyond index_types(), in the order first seen over all batches, each with
    its pyarrow type, inferred from its first non-None value (null when every value is None)."""
    import pyarrow as pa

    types, example = index_types(), {}
    for rows in batches:
        for row in rows:
            for k, v in row.items():
                if k not in types and example.get(k) is None:
                    example[k] = v
    return {k: pa.array([v]).type for k, v in example.items()}


def write_index(batches: Callable[[], Iterable[list[dict]]], path: str | os.PathLike[str]) -> None:
    """Write index rows as Parquet, one row group per batch (per shard), atomically.

    ``batches()`` gives the batches afresh; it is called twice: a first pass finds the columns beyond
    index_types() that any row has (the optional parameters of noisegen.isp.params.OPTIONAL_OFF are
    present only in the samples that use them, which need not be the first), the second writes. Memory
    holds one shard's rows at a time. Columns: index_types() in that order, then the others in the
    order first seen (type inferred; None where a row lacks the key).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = index_types()
    types.update(index_extra_columns(batches()))
    p = Path(path)
    tmp = temp_path(p)
    # pyarrow opens paths itself and cannot open one that is not UTF-8: hand it a file object Python opened.
    try:
        with open(tmp, "wb") as f:
            writer = None
            try:
                for rows in batches():
                    if not rows:
                        continue
                    if writer is None:
                        columns = {c: pa.array([r.get(c) for r in rows], type=t) for c, t in types.items()}
                        schema = pa.table(columns).schema
                        pandas = pandas_metadata([(fl.name, fl.type) for fl in schema])
                        schema = schema.with_metadata({b"pandas": pandas})
                        writer = pq.ParquetWriter(f, schema)
                    table = pa.table({fl.name: pa.array([r.get(fl.name) for r in rows], type=fl.type)
                                      for fl in schema})
                    writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()
            if writer is None:  # no sample at all: an empty table with the known columns
                empty = pa.table({c: pa.array([], type=t) for c, t in types.items()})
                empty = empty.replace_schema_metadata({b"pandas": pandas_metadata(list(types.items()))})
                pq.write_table(empty, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_manifest(manifest: dict, path: str | os.PathLike[str]) -> None:
    """Write dataset.json (indented, keys in insertion order), atomically."""
    atomic_write_bytes(path, (json.dumps(manifest, indent=2) + "\n").encode("utf-8"))
