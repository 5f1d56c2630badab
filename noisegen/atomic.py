"""Atomic files: write to a temporary name beside the target, fsync, rename (docs/format.md).

Readers see the old file or the whole new one, never a part. A small utility: imports nothing of
the project, so the dataset writer, the trainer's checkpoints and the CLI share it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, TypeVar

__all__ = ["atomic_write", "atomic_write_bytes", "temp_path"]

T = TypeVar("T")


def temp_path(path: str | os.PathLike[str]) -> Path:
    """A fresh hidden temporary name in the folder of ``path`` (``.NAME.PID-RANDOM.tmp``): same file
    system, so the final rename is atomic; unique per process and call."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], T]) -> T:
    """Call ``write(f)`` on a temporary file beside ``path``, fsync, then rename onto ``path``.

    Readers see the old file or the whole new one, never a part; on any error the temporary file
    is removed and the error re-raised. Returns what ``write`` returns.
    """
    p = Path(path)
    tmp = temp_path(p)
    try:
        with open(tmp, "wb") as f:
            result = write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (``atomic_write``)."""
    atomic_write(path, lambda f: f.write(data))
