"""`noisegen-train denoise`: denoise photos of any size with a trained AINDNet, writing PNGs.

For each input ``NAME.ext`` it writes ``OUT/NAME_denoised.png`` (uint8 sRGB, clipped and rounded)
and, with ``sigma_map``, ``OUT/NAME_sigma.png``: a picture of the estimated noise level σ̂ (sRGB
[0, 1] scale) coloured from its 1st to its 99th percentile, with a colour bar that states both
(trainer.infer.sigma_picture). Images above trainer.infer.inference.AUTO_TILE_PIXELS are denoised in tiles
(trainer.infer.inference: whole-image AIN statistics, blended overlaps), so memory stays bounded
whatever the size. Unreadable inputs, inputs whose output name another input already takes, and
existing outputs (without ``overwrite``) are reported and skipped; the rest are still done.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from noisegen.atomic import atomic_write_bytes
from noisegen.command import default_threads
from noisegen.dataset.reader import IMAGE_EXTENSIONS, ImageReadError, list_images, read_rgb8, write_png
from trainer.engine.distributed import resolve_device
from trainer.engine.global_state import torch_threads
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.engine.run_config import check_int
from trainer.infer.inference import auto_tile, check_tiling, default_overlap, load_model, predict, tile_calls
from trainer.infer.sigma_picture import sigma_picture_png
from trainer.models.ain import AIN

__all__ = ["DenoiseConfig", "DenoiseResult", "output_paths", "denoise_images"]


@dataclass(frozen=True)
class DenoiseConfig:
    """Configuration of `noisegen-train denoise`.

    checkpoint: trainer checkpoint, or a run folder (its best.pt, else last.pt); images: image
    files or folders (searched recursively for IMAGE_EXTENSIONS: noisegen.dataset.reader.list_images); out:
    output folder (created);
    sigma_map: also write NAME_sigma.png;
    overwrite: replace existing outputs (otherwise they are skipped); tile: tile side (None: whole
    images up to AUTO_TILE_PIXELS, AUTO_TILE above); overlap: minimum tile overlap (None:
    trainer.infer.inference.default_overlap); ensemble: geometric self-ensemble ×8 (8× slower);
    tile_stats: tiles normalise with their own AIN statistics (one pass, about 14× faster for the
    paper model, less accurate) instead of the whole image's (trainer.infer.inference); device:
    "auto", "cpu" or "cuda"; threads: torch CPU threads (None: the cores minus one, at least 1:
    noisegen.command.default_threads); progress: progress bars.
    """

    checkpoint: str
    images: tuple[str, ...]
    out: str
    sigma_map: bool = False
    overwrite: bool = False
    tile: int | None = None
    overlap: int | None = None
    ensemble: bool = False
    tile_stats: bool = False
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", (self.images,) if isinstance(self.images, str) else tuple(self.images))
        if not self.images:
            raise ValueError("denoise: give at least one IMAGE")
        check_tiling("denoise", self.tile, self.overlap)
        check_int("DenoiseConfig", "threads", self.threads, 1, optional=True)


@dataclass
class DenoiseResult:
    """written: output paths; skipped: "input: reason" messages; seconds: wall time."""

    written: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    seconds: float = 0.0


def output_paths(image: str | os.PathLike[str], out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """(OUT/NAME_denoised.png, OUT/NAME_sigma.png) for an input NAME.ext."""
    stem = Path(image).stem
    return Path(out) / f"{stem}_denoised.png", Path(out) / f"{stem}_sigma.png"


def _expand(entries: tuple[str, ...], skipped: list[str]) -> list[Path]:
    files: list[Path] = []
    for e in entries:
        p = Path(e).expanduser()
        if p.is_dir():
            found = list_images(p, recursive=True)
            if not found:
                skipped.append(f"{e}: folder without images ({', '.join(IMAGE_EXTENSIONS)})")
            files += found
        else:
            files.append(p)
    return files


def denoise_images(config: DenoiseConfig, *, echo=print) -> DenoiseResult:
    """Denoise every input (module docstring); returns what was written and what was skipped, with why."""
    with torch_threads(config.threads if config.threads is not None else default_threads()):
        return _denoise_images(config)


def _denoise_images(config: DenoiseConfig) -> DenoiseResult:
    t0 = time.perf_counter()
    model, _ = load_model(config.checkpoint, device=resolve_device(config.device))
    device = next(model.parameters()).device
    n_ain = sum(isinstance(m, AIN) for m in model.modules())
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    result = DenoiseResult()
    files = _expand(config.images, result.skipped)
    taken: dict[Path, Path] = {}
    bar = tqdm(files, unit="img", disable=not config.progress, dynamic_ncols=True)
    for f in bar:
        bar.set_postfix_str(f.name[:40])
        den_path, sig_path = output_paths(f, out)
        if den_path in taken:
            result.skipped.append(f"{f}: its output {den_path.name} is already made from {taken[den_path]}; "
                                  "rename one of them or denoise them into different folders")
            continue
        taken[den_path] = f
        targets = [den_path] + ([sig_path] if config.sigma_map else [])
        existing = [t.name for t in targets if t.exists()]
        if existing and not config.overwrite:
            result.skipped.append(f"{f}: {', '.join(existing)} exists in {out}; use --overwrite to replace it")
            continue
        try:
            noisy, _ = read_rgb8(f)
        except (ImageReadError, OSError) as exc:
            result.skipped.append(f"{f}: {exc}")
            continue
        h, w = noisy.shape[:2]
        tile = auto_tile(h, w, config.tile)
        if tile is not None and (h > tile or w > tile):
            ov = config.overlap if config.overlap is not None else default_overlap(tile)
            steps = tile_calls(h, w, tile, ov, model.config.size_multiple, n_ain, not config.tile_stats)
        else:
            tile, ov, steps = None, None, 1
        steps *= 8 if config.ensemble else 1
        with tqdm(total=steps, unit="tile", desc=f.name[:30], leave=False,
                  disable=not config.progress or steps == 1, dynamic_ncols=True) as tbar:
            denoised, sigma = predict(model, image_to_tensor(noisy, device), tile=tile, overlap=ov,
                                      ensemble=config.ensemble, global_norm=not config.tile_stats,
                                      on_tile=lambda: tbar.update(1))
        write_png(den_path, tensor_to_u8(denoised))
        result.written.append(str(den_path))
        if config.sigma_map:
            atomic_write_bytes(sig_path, sigma_picture_png((sigma[0] if sigma.ndim == 4 else sigma).permute(1, 2, 0)
                                                           .float().cpu().numpy())[0])
            result.written.append(str(sig_path))
    bar.close()
    result.seconds = time.perf_counter() - t0
    return result
