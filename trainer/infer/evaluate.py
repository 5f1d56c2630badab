"""`noisegen-train eval`: PSNR and SSIM of a checkpoint on real noisy/clean pairs, per image, per
camera/ISO group and overall, on whole images (tiled when large), optionally with the ×8 self-ensemble.

Metrics are computed as the saved images would be (trainer.engine.metrics): the output is clipped to
[0, 1] and rounded to 8 bits. PSNR: trainer.engine.metrics.psnr_u8 (peak 255, float64, over all pixels
and channels), equal to ``skimage.metrics.peak_signal_noise_ratio(clean, out, data_range=255)``.
SSIM: Wang et al., "Image quality assessment: from error visibility to structural similarity",
IEEE TIP 2004, with the settings of ``skimage.metrics.structural_similarity(clean, out,
channel_axis=2, data_range=255)`` (its defaults): a 7×7 uniform window, K1 = 0.01, K2 = 0.03,
sample covariances (×49/48), the mean over the pixels whose window lies inside the image, then
the mean over the 3 channels. Set means are plain means over images (the papers' tables).

Sources (``--pairs``, repeatable): a folder of pairs in any layout noisegen.dataset.pairs recognises
(camera and ISO parsed from the names), or a dataset folder written by `noisegen pack-pairs`
(whole-image splits; camera and ISO from each sample's json).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from noisegen.atomic import atomic_write_bytes
from noisegen.command import default_threads
from noisegen.dataset.reader import PairSource, read_pairs
from trainer.engine.checkpoint import versions
from trainer.engine.distributed import resolve_device
from trainer.engine.global_state import torch_threads
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.engine.metrics import psnr_u8
from trainer.engine.run_config import check_int
from trainer.engine.run_folder import resolve_checkpoint
from trainer.infer.inference import auto_tile, check_tiling, load_model, predict

__all__ = ["EvalConfig", "ssim_u8", "iter_pairs", "evaluate_checkpoint"]

# skimage.metrics.structural_similarity defaults (Wang et al. 2004).
_SSIM_WIN, _SSIM_K1, _SSIM_K2 = 7, 0.01, 0.03


@dataclass(frozen=True)
class EvalConfig:
    """Configuration of `noisegen-train eval`.

    checkpoint: trainer checkpoint; pairs: pair folders or pack-pairs dataset folders; ensemble:
    geometric self-ensemble ×8; json: write the full report here; tile: tile side (None: whole
    images up to AUTO_TILE_PIXELS, AUTO_TILE above); overlap: minimum tile overlap in pixels
    (None: trainer.infer.inference.default_overlap); tile_stats: tiles normalise with their own AIN
    statistics instead of the whole image's (trainer.infer.inference; faster, less accurate);
    group_regex: naming rule for camera/ISO (noisegen.dataset.pairs); max_images: first N pairs per
    source; device: "cpu", "cuda" or "auto"; threads: torch CPU threads (None: the cores minus one,
    at least 1: noisegen.command.default_threads); progress: show a progress bar.
    """

    checkpoint: str
    pairs: tuple[str, ...]
    ensemble: bool = False
    json: str | None = None
    tile: int | None = None
    overlap: int | None = None
    tile_stats: bool = False
    group_regex: str | None = None
    max_images: int | None = None
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairs", (self.pairs,) if isinstance(self.pairs, str) else tuple(self.pairs))
        if not self.pairs:
            raise ValueError("eval: give at least one --pairs folder")
        check_tiling("eval", self.tile, self.overlap)
        check_int("EvalConfig", "threads", self.threads, 1, optional=True)


def _box_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over every k×k window lying inside the 2-D array (valid mode), via summed-area tables."""
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1), dtype=np.float64)
    s[1:, 1:] = a.cumsum(0).cumsum(1)
    return (s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]) / (k * k)


def ssim_u8(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of two uint8 H×W×3 images (settings in the module docstring; H, W ≥ 7).

    Equal to skimage.metrics.structural_similarity(a, b, channel_axis=2, data_range=255) up to
    float64 rounding: skimage filters the whole image and crops (7−1)/2 pixels per side, which
    leaves exactly the windows inside the image that the valid box mean here computes.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"ssim_u8: expected two H×W×3 images of the same shape, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise TypeError(f"ssim_u8: expected uint8 images, got {a.dtype} and {b.dtype}")
    if min(a.shape[:2]) < _SSIM_WIN:
        raise ValueError(f"ssim_u8: images must be at least {_SSIM_WIN}×{_SSIM_WIN}, got {a.shape[1]}×{a.shape[0]}")
    c1, c2 = (_SSIM_K1 * 255.0) ** 2, (_SSIM_K2 * 255.0) ** 2
    cov_norm = _SSIM_WIN**2 / (_SSIM_WIN**2 - 1.0)
    vals = []
    for c in range(3):
        x, y = a[..., c].astype(np.float64), b[..., c].astype(np.float64)
        ux, uy = _box_mean(x, _SSIM_WIN), _box_mean(y, _SSIM_WIN)
        vx = cov_norm * (_box_mean(x * x, _SSIM_WIN) - ux * ux)
        vy = cov_norm * (_box_mean(y * y, _SSIM_WIN) - uy * uy)
        vxy = cov_norm * (_box_mean(x * y, _SSIM_WIN) - ux * uy)
        s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
        vals.append(float(s.mean()))
    return float(np.mean(vals))


def iter_pairs(path: str, *, group_regex: str | None = None, max_images: int | None = None) -> PairSource:
    """Real pairs of a folder or pack-pairs dataset (noisegen.dataset.reader.read_pairs), with this command's
    flag named in errors."""
    try:
        return read_pairs(path, group_regex=group_regex, max_images=max_images)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"--pairs {exc}") from None


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows])) if rows else math.nan


def _summary(rows: list[dict]) -> dict:
    return {"images": len(rows), "psnr": _mean(rows, "psnr"), "ssim": _mean(rows, "ssim"),
            "psnr_noisy": _mean(rows, "psnr_noisy"), "ssim_noisy": _mean(rows, "ssim_noisy")}


def _score(model, sources: list[PairSource], config: EvalConfig, device) -> tuple[list[dict], list[str]]:
    """One row per readable pair of every source, and the pairs skipped with why."""
    rows: list[dict] = []
    skipped: list[str] = [f"{Path(s.path).name}: {m}" for s in sources for m in s.skipped]
    bar = tqdm(total=sum(s.count for s in sources), unit="img", disable=not config.progress, dynamic_ncols=True)
    try:
        for src in sources:
            for item in src.items():
                bar.update(1)
                if item.error is not None:
                    skipped.append(f"{item.id}: {item.error}")
                    continue
                h, w = item.noisy.shape[:2]
                tile = auto_tile(h, w, config.tile)
                x = image_to_tensor(item.noisy, device)
                out, _ = predict(model, x, tile=tile, overlap=config.overlap, ensemble=config.ensemble,
                                 global_norm=not config.tile_stats)
                y = tensor_to_u8(out)
                rows.append({"id": item.id, "source": src.path, "group": item.group, "height": h, "width": w,
                             "psnr": psnr_u8(item.clean, y), "ssim": ssim_u8(item.clean, y),
                             "psnr_noisy": psnr_u8(item.clean, item.noisy),
                             "ssim_noisy": ssim_u8(item.clean, item.noisy), "tiled": tile is not None})
    finally:
        bar.close()
    return rows, skipped


def evaluate_checkpoint(config: EvalConfig, *, echo=print) -> dict:
    """Run the evaluation; returns the report (also written to ``config.json`` when set).

    ``config.checkpoint`` may be a run folder (its best.pt, else last.pt) or a .pt file.
    Report: {"config", "checkpoint": {path, step, stage, model_config, versions}, "images": [{id,
    source, group, height, width, psnr, ssim, psnr_noisy, ssim_noisy, tiled}], "groups": {label:
    summary}, "overall": summary, "skipped": [messages], "seconds"}. Unreadable pairs are skipped and listed.
    """
    device = resolve_device(config.device)
    path = resolve_checkpoint(config.checkpoint, "CHECKPOINT")
    t0 = time.perf_counter()
    with torch_threads(config.threads if config.threads is not None else default_threads()):
        model, state = load_model(path, device=device)
        sources = [iter_pairs(s, group_regex=config.group_regex, max_images=config.max_images)
                   for s in config.pairs]
        rows, skipped = _score(model, sources, config, device)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["group"], []).append(r)
    report = {
        "config": asdict(config),
        "checkpoint": {"path": str(path), "step": state.get("step"), "stage": state.get("stage"),
                       "model_config": state.get("model_config"), "versions": state.get("versions")},
        "versions": versions(),
        "device": str(device),
        "images": rows,
        "groups": {g: _summary(v) for g, v in sorted(groups.items())},
        "overall": _summary(rows),
        "skipped": skipped,
        "seconds": time.perf_counter() - t0,
    }
    if config.json is not None:
        atomic_write_bytes(Path(config.json), (json.dumps(report, indent=1, sort_keys=True) + "\n").encode("utf-8"))
    return report


def print_report(report: dict, echo=print) -> None:
    """Per-group and overall table (PSNR dB / SSIM, input's values in brackets)."""
    echo(f"{'group':40s} {'images':>6s} {'PSNR':>8s} {'SSIM':>7s}   {'noisy PSNR':>10s} {'noisy SSIM':>10s}")
    for name, s in list(report["groups"].items()) + [("overall", report["overall"])]:
        echo(f"{name[:40]:40s} {s['images']:6d} {s['psnr']:8.3f} {s['ssim']:7.4f}   {s['psnr_noisy']:10.3f} "
             f"{s['ssim_noisy']:10.4f}")
    if report["skipped"]:
        echo(f"skipped {len(report['skipped'])}:")
        for m in report["skipped"]:
            echo(f"  {m}")
