"""`noisegen-train pseudo-pairs`: (noisy, pseudo-clean) pairs and noise-level maps from a trained D-BSN.

For every noisy photo NAME.ext it writes, under OUT:

    noisy/NAME.ext    the noisy file itself, byte for byte (JPEG settings stay readable: calibrate --jpeg-from-files)
    gt/NAME.png       the D-BSN output: the MAP combination of μ and y (with PD and R³ when the run used them)
    sigma/NAME.npy    the noise level √diag Σ_n per pixel and channel, float32 H×W×3, [0, 1] sRGB units
                      (numpy .npy, never pickled; read with numpy.load(..., allow_pickle=False))
    pseudo_pairs.json the checkpoint (path, step, model_config), the inputs, what was skipped, versions

OUT is a pairs folder in the ``noisy/`` + ``gt/`` layout that noisegen.dataset.pairs recognises, with
camera, ISO and scene read from the names as for real pairs. What it is for:

- noisy-only calibration: ``noisegen calibrate --pairs OUT --noisy-only`` fits a camera profile with the
  NLF target taken from the σ maps and the correlation targets from noisy − pseudo-clean
  (noisegen.analysis.calibrate.noisy_only);
- distillation (Wu et al., ECCV 2020, §3.4): the (real noisy, D-BSN output) pairs, beside synthetic pairs
  of that profile, train AINDNet (`noisegen-train distill`).

Images are denoised whole up to trainer.infer.inference.AUTO_TILE_PIXELS, tiled above. Unreadable inputs,
names another input already took and existing outputs (without ``overwrite``) are skipped and listed.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from noisegen.atomic import atomic_write_bytes
from noisegen.command import default_threads
from noisegen.dataset.reader import IMAGE_EXTENSIONS, ImageReadError, read_rgb8, scan_pairs, write_png
from trainer.engine.checkpoint import versions
from trainer.engine.distributed import resolve_device
from trainer.engine.global_state import torch_threads
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.engine.run_config import check_int
from trainer.engine.run_folder import resolve_checkpoint
from trainer.infer.inference import auto_tile, check_tiling, load_model, predict
from trainer.models.dbsn import DBSN

__all__ = ["PseudoPairsConfig", "PseudoPairsResult", "NOISY_DIR", "CLEAN_DIR", "SIGMA_DIR", "MANIFEST",
           "write_pseudo_pairs"]

NOISY_DIR, CLEAN_DIR, SIGMA_DIR = "noisy", "gt", "sigma"  # SIGMA_DIR: noisegen.analysis.calibrate.noisy_only reads it
MANIFEST = "pseudo_pairs.json"


@dataclass(frozen=True)
class PseudoPairsConfig:
    """checkpoint: a `noisegen-train dbsn` run folder (best.pt, else last.pt) or checkpoint file; images:
    noisy image files or folders (searched recursively); out: output folder; overwrite: replace existing
    outputs; tile, overlap: tiling (None: whole images up to AUTO_TILE_PIXELS); device; threads (None: the
    cores minus one, at least 1: noisegen.command.default_threads); progress."""

    checkpoint: str
    images: tuple[str, ...]
    out: str
    overwrite: bool = False
    tile: int | None = None
    overlap: int | None = None
    device: str = "auto"
    threads: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "images", (self.images,) if isinstance(self.images, str) else tuple(self.images))
        if not self.images:
            raise ValueError("pseudo-pairs: give at least one noisy IMAGE or folder")
        check_tiling("pseudo-pairs", self.tile, self.overlap)
        check_int("PseudoPairsConfig", "threads", self.threads, 1, optional=True)


@dataclass
class PseudoPairsResult:
    """pairs: names written (one pair each); skipped: "input: reason"; kept: how many of the skipped inputs had
    their outputs already (kept without --overwrite); seconds: wall time; out: the folder."""

    out: str
    pairs: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    kept: int = 0
    seconds: float = 0.0


def _inputs(entries: tuple[str, ...], skipped: list[str]) -> list[Path]:
    files: list[Path] = []
    for e in entries:
        p = Path(e).expanduser()
        if p.is_dir():
            pairs = scan_pairs([p], probe=False).pairs  # a folder of pairs: its noisy side only
            found = sorted(Path(q.noisy) for q in pairs) or sorted(
                q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_EXTENSIONS)
            if not found:
                skipped.append(f"{e}: folder without images ({', '.join(IMAGE_EXTENSIONS)})")
            files += found
        elif p.is_file():
            files.append(p)
        else:
            skipped.append(f"{e}: no such file or folder")
    return files


def _npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(a, dtype=np.float32), allow_pickle=False)
    return buf.getvalue()


def write_pseudo_pairs(config: PseudoPairsConfig) -> PseudoPairsResult:
    """Write the pseudo-pairs folder (module docstring); returns what was written and skipped.

    Raises:
        FileNotFoundError: no checkpoint. ValueError: the checkpoint holds no D-BSN.
    """
    t0 = time.perf_counter()
    out = Path(config.out)
    result = PseudoPairsResult(out=str(out))
    path = resolve_checkpoint(config.checkpoint, "CHECKPOINT")
    device = resolve_device(config.device)
    with torch_threads(config.threads if config.threads is not None else default_threads()):
        model, state = load_model(path, device=device)
        if not isinstance(model, DBSN):
            raise ValueError(f"{path}: holds an AINDNet, not a D-BSN; pseudo-pairs needs a `noisegen-train dbsn` run")
        files = _inputs(config.images, result.skipped)
        for d in (NOISY_DIR, CLEAN_DIR, SIGMA_DIR):
            (out / d).mkdir(parents=True, exist_ok=True)
        taken: set[str] = set()
        for f in tqdm(files, unit="img", disable=not config.progress, dynamic_ncols=True):
            stem = f.stem
            if stem.lower() in taken:
                result.skipped.append(f"{f}: another input already writes {stem}")
                continue
            taken.add(stem.lower())
            gt, sig = out / CLEAN_DIR / f"{stem}.png", out / SIGMA_DIR / f"{stem}.npy"
            if gt.exists() and sig.exists() and not config.overwrite:
                result.skipped.append(f"{f}: {gt} exists (pass --overwrite to replace it)")
                result.kept += 1
                continue
            try:
                noisy = read_rgb8(f)[0]
            except ImageReadError as exc:
                result.skipped.append(str(exc))
                continue
            h, w = noisy.shape[:2]
            with torch.no_grad():
                den, sigma = predict(model, image_to_tensor(noisy, device), tile=auto_tile(h, w, config.tile),
                                     overlap=config.overlap)
            shutil.copyfile(f, out / NOISY_DIR / f.name)
            atomic_write_bytes(sig, _npy_bytes(sigma[0].permute(1, 2, 0).cpu().numpy()))
            write_png(gt, tensor_to_u8(den))
            result.pairs.append(stem)
    result.seconds = time.perf_counter() - t0
    manifest = {"created_by": "noisegen-train pseudo-pairs", "config": asdict(config),
                "checkpoint": {"path": str(path), "step": state.get("step"), "stage": state.get("stage"),
                               "model_config": state.get("model_config")},
                "pairs": result.pairs, "skipped": result.skipped, "seconds": result.seconds, "versions": versions(),
                "layout": {"noisy": NOISY_DIR, "clean": CLEAN_DIR, "sigma": SIGMA_DIR,
                           "sigma_units": "std of the noise per channel, [0, 1] sRGB scale, float32 H×W×3 .npy"}}
    atomic_write_bytes(out / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return result
