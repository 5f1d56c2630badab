"""A run folder: the files a training run writes, and how a checkpoint argument names one.

Every run (`noisegen-train sn` and `tf`) writes the same files:

    last.pt           checkpoint every ckpt_every steps and at the end (atomic)
    best.pt           checkpoint of the best validation PSNR (first validation source; runs with --val)
    config.json       the resolved configuration, model, parameter counts, versions (atomic)
    metrics.jsonl     one JSON record per line: start, losses per log interval, validation, end
    curves.png        loss and validation PSNR against the step
    data-rank<R>.json what process R read (SN: shards, damaged data; TF: images, last crops)

Wherever a command takes a checkpoint (`eval`, `denoise`, `tf --init`) it accepts a run folder
or a ``.pt`` file: a folder means its best.pt, else its last.pt (``resolve_checkpoint``).
This module needs no torch.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["LAST", "BEST", "CONFIG", "METRICS", "CURVES", "data_report_name", "resolve_checkpoint"]

LAST, BEST, CONFIG, METRICS, CURVES = "last.pt", "best.pt", "config.json", "metrics.jsonl", "curves.png"


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
