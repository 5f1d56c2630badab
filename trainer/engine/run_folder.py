"""A run folder: the files a training run writes, and how a checkpoint argument names one.

Every run (`noisegen-train sn` and `tf`) writes the same files:

    last.pt           checkpoint every ckpt_every steps and at the end (atomic)
    best.pt           checkpoint of the best validation PSNR (first validation source; runs with --val)
    config.json       the resolved configuration, model, parameter counts, versions (atomic)
    metrics.jsonl     one JSON record per line: start, losses per log interval, validation, end
    curves.png        loss and validation PSNR against the step
    data-rank<R>.json what process R read (SN: shards, damaged data; TF: images, last crops)
    .lock             held by the live run (a second run on the folder stops); keeps an interrupted run's pid

Wherever a command takes a checkpoint (`eval`, `denoise`, `tf --init`) it accepts a run folder
or a ``.pt`` file: a folder means its best.pt, else its last.pt (``resolve_checkpoint``).
This module needs no torch.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from noisegen.runlock import FolderLock, LockHeld

__all__ = ["LAST", "BEST", "CONFIG", "METRICS", "CURVES", "LOCK", "data_report_name", "resolve_checkpoint",
           "held_run_folder"]

LAST, BEST, CONFIG, METRICS, CURVES = "last.pt", "best.pt", "config.json", "metrics.jsonl", "curves.png"
LOCK = ".lock"  # held by the live run (noisegen.runlock); names an interrupted one's pid


def data_report_name(rank: int) -> str:
    return f"data-rank{rank}.json"


def resolve_checkpoint(path: str | os.PathLike[str], what: str = "checkpoint") -> Path:
    """The checkpoint a run folder or file names: FOLDER/best.pt, else FOLDER/last.pt, or the file itself.

    Args:
        path: a run folder of `noisegen-train sn` / `tf`, or a checkpoint file.
        what: how messages name the argument (e.g. "--init", "CHECKPOINT").
    Raises:
        FileNotFoundError: no such file or folder, or a folder with neither checkpoint.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        for name in (BEST, LAST):
            if (p / name).is_file():
                return p / name
        raise FileNotFoundError(f"{what} {path}: the folder holds no {BEST} or {LAST}; give a run folder of "
                                "`noisegen-train sn` or `tf`, or a .pt checkpoint file")
    if not p.is_file():
        raise FileNotFoundError(f"{what} {path}: no such checkpoint file or run folder")
    return p


@contextlib.contextmanager
def held_run_folder(out: Path, say: Callable[[str], None], enabled: bool = True) -> Iterator[None]:
    """Hold OUT/.lock while the block runs (noisegen.runlock; ``enabled``: rank 0 of a process group).

    A second run on the same folder stops with one line while this one lives; a lock left by an
    interrupted run is named as such and taken over. When the block fails, the lock keeps this pid (a
    later run reads "interrupted"), and a folder this call created holding nothing else is removed.

    Raises:
        ValueError: a live run holds OUT.
    """
    if not enabled:
        yield
        return
    created = not out.exists()
    try:
        lock = FolderLock(out / LOCK)
    except LockHeld as exc:
        raise ValueError(f"{out} is in use by a live training run (pid {exc.pid}, still running); wait for it to end, "
                         "or stop it and continue with --resume") from None
    if lock.previous and lock.previous != str(os.getpid()):
        say(f"{out}: the previous run there (pid {lock.previous}) was interrupted")
    try:
        yield
    except BaseException:
        lock.close(finished=False)
        if created and [p.name for p in out.iterdir()] == [LOCK]:
            (out / LOCK).unlink()
            out.rmdir()
        raise
    lock.close()
