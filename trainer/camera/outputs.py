"""What the camera command shows of its models: before/after crops of the held-out images, and the noise
level of noisy-only photos measured against the denoiser's output.

Crops: the first held-out image of each group (at most ``MAX_SHOWN``), denoised by every trained row as the
evaluation runs it (the same test crop, tiles and AIN statistics), then the centre ``Scale.crop_side``² of
noisy, outputs and clean. They are written as PNG files under RUN/crops/<row>/, with the sha256 of the
checkpoint they came from in RUN/crops/<row>/checkpoint.sha256, so that a resumed run reads them back
instead of recomputing them (the report stays byte-identical) and a retrained row gets new ones.

Noise level of noisy photos (no clean reference): each held-out photo's test crop is denoised by the run's
denoiser, and the std of (noisy − denoised) per channel and intensity bin is reported per camera-ISO group
(noisegen.camera.steps.noise_levels). The denoiser's residual holds the noise it removed; what it leaves
(too weak a denoiser) lowers the estimate, what it blurs away from the content raises it at edges.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from noisegen.atomic import atomic_write_bytes
from noisegen.camera.api import noise_levels
from noisegen.dataset.reader import centre_crop, read_rgb8, write_png
from trainer.camera.context import RunContext, made_from, sha256_file
from trainer.engine.distributed import resolve_device
from trainer.engine.global_state import torch_threads
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.infer.inference import auto_tile, load_model, predict

__all__ = ["MAX_SHOWN", "predict_images", "pair_crops", "photo_levels"]

MAX_SHOWN = 4


def predict_images(ckpt: Path, images: Sequence[np.ndarray], ctx: RunContext) -> list[np.ndarray]:
    """uint8 H×W×3 outputs of ``ckpt`` on ``images``, run as the evaluation runs them (tiles, AIN statistics)."""
    device = resolve_device(ctx.config.device)
    out = []
    with torch_threads(ctx.config.threads):
        model, _ = load_model(ckpt, device=device)
        for img in images:
            tile = auto_tile(img.shape[0], img.shape[1], ctx.scale.eval_tile)
            y, _ = predict(model, image_to_tensor(img, device), tile=tile, global_norm=not ctx.scale.eval_tile_stats)
            out.append(tensor_to_u8(y))
    return out


def _folder(ctx: RunContext, row: str, ckpt: Path) -> Path:
    """RUN/crops/<row>, emptied when it holds crops of another checkpoint than ``ckpt``."""
    folder = ctx.out / "crops" / row
    made_from(folder, "checkpoint.sha256", sha256_file(ckpt))
    return folder


def _stem(item) -> str:
    return Path(item.noisy).stem


def _cached(folder: Path, stems: list[str], make) -> list[np.ndarray]:
    files = [folder / f"{s}.png" for s in stems]
    if not all(f.exists() for f in files):
        folder.mkdir(parents=True, exist_ok=True)
        for f, img in zip(files, make()):
            write_png(f, img)  # written whole, then renamed (noisegen's atomic PNG writer)
    return [read_rgb8(f)[0] for f in files]


def pair_crops(ctx: RunContext, rows: Sequence[tuple[str, str]], psnr: dict[str, dict[str, float]]) -> list[dict]:
    """Crops of the first held-out pair of each group: [{"id", "group", "files": {title: path}, "tiles"}].

    ``rows``: (key, label) of the trained rows to show, in order (their checkpoints in ctx.checkpoints).
    ``psnr``: row key (and "noisy") → noisy file stem → PSNR of the whole test image, for the titles.
    """
    shown = [(g.name, g.test[0]) for g in ctx.split.groups][:MAX_SHOWN]
    if not shown:
        return []
    side, crop = ctx.scale.crop_side, ctx.scale.test_crop
    stems = [_stem(p) for _, p in shown]
    tests = [(centre_crop(read_rgb8(p.clean)[0], crop), centre_crop(read_rgb8(p.noisy)[0], crop)) for _, p in shown]
    base = ctx.out / "crops" / "pairs"
    cols = {"noisy": _cached(base / "noisy", stems, lambda: [centre_crop(n, side) for _, n in tests]),
            "clean": _cached(base / "clean", stems, lambda: [centre_crop(c, side) for c, _ in tests])}
    outs, folders = {}, {}
    for key, _ in rows:
        ckpt = ctx.checkpoints[key]
        folders[key] = _folder(ctx, key, ckpt)
        outs[key] = _cached(folders[key], stems, lambda ckpt=ckpt: [
            centre_crop(o, side) for o in predict_images(ckpt, [n for _, n in tests], ctx)])
    out = []
    def title(key: str, stem: str) -> str:
        v = psnr.get(key, {}).get(stem)
        return (key if key == "noisy" else f"({key})") + ("" if v is None else f" {v:.2f} dB")
    for i, ((group, pair), stem) in enumerate(zip(shown, stems)):
        tiles = [(title("noisy", stem), cols["noisy"][i]), *((title(k, stem), outs[k][i]) for k, _ in rows),
                 ("clean", cols["clean"][i])]
        out.append({"id": pair.id, "group": group, "tiles": tiles,
                    "files": {"noisy": f"crops/pairs/noisy/{stem}.png", "clean": f"crops/pairs/clean/{stem}.png",
                              **{k: str(folders[k].relative_to(ctx.out) / f"{stem}.png") for k, _ in rows}}})
    return out


def photo_levels(ctx: RunContext, row: str) -> tuple[list[dict], list[dict]]:
    """Noise level per group of the held-out noisy-only photos against the output of ``row``'s checkpoint,
    and their crops (as pair_crops). Cached in RUN/photos.json while it names the same checkpoint."""
    ckpt = ctx.checkpoints[row]
    sha, cache = sha256_file(ckpt), ctx.out / "photos.json"
    folder = _folder(ctx, "photos", ckpt)
    if cache.exists() and json.loads(cache.read_text()).get("checkpoint_sha256") == sha:
        levels = json.loads(cache.read_text())["levels"]
    else:
        levels = []
        for g in ctx.split.photos:
            noisy = [centre_crop(read_rgb8(p.path)[0], ctx.scale.test_crop) for p in g.test]
            den = predict_images(ckpt, noisy, ctx)
            folder.mkdir(parents=True, exist_ok=True)
            write_png(folder / f"{_stem(g.test[0])}-full.png", den[0])
            lv = noise_levels(list(zip(noisy, den)))
            crop = "whole photos" if ctx.scale.test_crop is None else f"their {ctx.scale.test_crop}² centre crops"
            levels.append({"group": g.name, **lv, "crop": crop,
                           "pseudo_clean": f"the output of row ({row}), the run's denoiser"})
        atomic_write_bytes(cache, (json.dumps({"checkpoint_sha256": sha, "levels": levels}, indent=1) + "\n").encode())
    crops = []
    for g in ctx.split.photos[:MAX_SHOWN]:
        p, side = g.test[0], ctx.scale.crop_side
        noisy = centre_crop(centre_crop(read_rgb8(p.path)[0], ctx.scale.test_crop), side)
        den = centre_crop(read_rgb8(folder / f"{_stem(p)}-full.png")[0], side)
        crops.append({"id": p.id, "group": g.name + " (noisy-only)", "tiles": [("noisy", noisy), (f"({row})", den)],
                      "files": {"denoised": str((folder / f"{_stem(p)}-full.png").relative_to(ctx.out))}})
    return levels, crops
