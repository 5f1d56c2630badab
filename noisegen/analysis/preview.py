"""`noisegen preview`: a contact sheet of dataset samples, one row per sample.

Columns: clean | noisy | σ map | amplified residual (grey = 0). Above each row, the sample's parameters in
words (key, camera, curve, σ_s and σ_c per channel, Bayer pattern and demosaicing, JPEG, PSNR,
source and crop). The σ map shows σ_raw of R, G and B as the colour channels, scaled so that
``sigma_max`` is white (default: the 99th percentile over the rows shown, written in the header);
the residual is shown as 0.5 + amplify·(noisy − clean). Tiles are centre crops of ``tile`` pixels
(never resized: resampling would change the noise). Real pairs packed without σ maps show a grey
tile there. Pillow only; written atomically.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from noisegen.analysis.nlf import psnr
from noisegen.dataset.format import INDEX_NAME
from noisegen.dataset.reader import (
    QuietDamageCounter,
    centre_crop,
    decode_sample,
    read_index,
    read_manifest,
    read_shard,
)

__all__ = ["PreviewConfig", "select_keys", "load_samples", "contact_sheet", "run_preview"]

_GAP = 4
_BG = (255, 255, 255)


@dataclass(frozen=True)
class PreviewConfig:
    """Configuration of `noisegen preview`.

    dataset: dataset folder; out: PNG path; n: rows; seed: None for the first n samples in index
    order, else a seeded random choice of n; amplify: gain of the residual column; tile: side of the
    centre crop shown per column (pixels); sigma_max: σ shown as white (None: 99th percentile).
    """

    dataset: str
    out: str
    n: int = 16
    seed: int | None = None
    amplify: float = 4.0
    tile: int = 192
    sigma_max: float | None = None

    def __post_init__(self) -> None:
        if self.n < 1 or self.tile < 16 or self.amplify <= 0:
            raise ValueError(f"n must be >= 1, tile >= 16 and amplify > 0 (got n={self.n}, tile={self.tile}, "
                             f"amplify={self.amplify})")
        if self.sigma_max is not None and self.sigma_max <= 0:
            raise ValueError(f"sigma_max must be > 0, got {self.sigma_max}")


def select_keys(folder: str | os.PathLike[str], n: int, seed: int | None = None) -> list[tuple[str, str]]:
    """(shard, key) of the samples to show: the first n in index order, or n drawn with default_rng(seed)."""
    folder = Path(folder)
    m = read_manifest(folder)
    if (folder / INDEX_NAME).is_file():
        t = read_index(folder / INDEX_NAME)
        rows = list(zip(t.column("shard").to_pylist(), t.column("key").to_pylist()))
    else:
        rows = [(s["name"], None) for s in m["shards"]]
    if not rows:
        raise ValueError(f"{folder}: the dataset has no sample")
    if seed is not None and rows[0][1] is not None:
        idx = np.sort(np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False))
        return [rows[i] for i in idx]
    return rows[:n]


def load_samples(folder: str | os.PathLike[str], chosen: list[tuple[str, str]]) -> list[dict]:
    """Decoded samples (noisegen.dataset.reader.decode_sample) for (shard, key) pairs; key None = every sample
    of that shard. Damaged samples are skipped."""
    by_shard: dict[str, set | None] = {}
    for shard, key in chosen:
        by_shard.setdefault(shard, set())
        if key is None:
            by_shard[shard] = None
        elif by_shard[shard] is not None:
            by_shard[shard].add(key)
    out = []
    for shard, keys in by_shard.items():
        for raw in read_shard(str(Path(folder) / shard), handler=QuietDamageCounter()):
            if keys is None or raw["__key__"] in keys:
                try:
                    out.append(decode_sample(raw))
                except ValueError:
                    continue
    order = {k: i for i, (_, k) in enumerate(chosen)}
    out.sort(key=lambda s: order.get(s["key"], len(order)))
    return out


def _font(size: int):
    """DejaVu Sans from matplotlib (it has σ, ρ and ×; Pillow's built-in font does not), else Pillow's."""
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans", fallback_to_default=True), size)
    except (ImportError, OSError, ValueError):
        return ImageFont.load_default(size=size)


def _crop(img: np.ndarray, tile: int) -> np.ndarray:
    """The centre tile×tile crop, on a light grey background where the image is smaller."""
    out = np.full((tile, tile, 3), 235, dtype=np.uint8)
    part = centre_crop(img, tile)
    out[: part.shape[0], : part.shape[1]] = part
    return out


def _fmt3(v) -> str:
    if v is None:
        return "-"
    return "/".join(f"{x:.3f}".lstrip("0") if x < 1 else f"{x:.2f}" for x in v)


def _describe(s: dict) -> tuple[str, str]:
    meta = s["params"]
    p = meta.get("params") or {}
    crop = meta.get("crop") or {}
    where = f"({crop.get('y')}, {crop.get('x')})" if crop else ""
    line2 = f"PSNR {psnr(s['clean'], s['noisy']):.2f} dB  source {meta.get('source', '-')} {where}"
    if not p:  # a real pair (noisegen pack-pairs): no camera model parameters
        iso = meta.get("iso")
        return (f"{s['key']}  real pair  {meta.get('camera') or 'unknown camera'}"
                f"{f'  ISO {iso}' if iso is not None else ''}  scene {meta.get('scene', '-')}  "
                f"split {meta.get('split', '-')}"), line2
    q = p.get("jpeg_quality")
    pattern = p.get("pattern")
    cfa = f"{pattern}+{p.get('demosaic')}" if pattern else "no mosaic"
    line1 = (f"{s['key']}  {p.get('camera', '-')}  crf {p.get('crf', '-')}  "
             f"σ_s {_fmt3(p.get('sigma_s'))}  σ_c {_fmt3(p.get('sigma_c'))}  {cfa}  "
             f"JPEG {'none' if q is None else f'q{q}'}")
    return line1, line2


def contact_sheet(samples: list[dict], *, tile: int = 192, amplify: float = 4.0,
                  sigma_max: float | None = None) -> Image.Image:
    """The contact sheet of decoded samples (see the module docstring) as a Pillow RGB image."""
    if not samples:
        raise ValueError("no sample to show")
    font, head = _font(11), _font(12)
    tile = min(tile, max(max(s["clean"].shape[:2]) for s in samples))  # no padding around small patches
    sig = [s["sigma"] for s in samples if s["sigma"] is not None]
    if sigma_max is None:
        sigma_max = float(np.percentile(np.concatenate([x.ravel() for x in sig]), 99)) if sig else 1.0
        sigma_max = max(sigma_max, 1e-6)
    band, header = 34, 24
    texts = [_describe(s) for s in samples]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    longest = max(measure.textlength(t, font=font) for pair in texts for t in pair)
    width = max(4 * tile + 5 * _GAP, int(longest) + 3 * _GAP)
    height = header + len(samples) * (band + tile + _GAP) + _GAP
    sheet = Image.new("RGB", (width, height), _BG)
    draw = ImageDraw.Draw(sheet)
    titles = ("clean", "noisy", f"σ_raw (white {sigma_max:.3g})" if sig else "σ_raw", f"residual ×{amplify:g}")
    for c, t in enumerate(titles):
        draw.text((_GAP + c * (tile + _GAP) + 2, 5), t, fill=(0, 0, 0), font=head)
    y = header
    for s, (l1, l2) in zip(samples, texts):
        draw.text((_GAP + 2, y + 2), l1, fill=(0, 0, 0), font=font)
        draw.text((_GAP + 2, y + 17), l2, fill=(70, 70, 70), font=font)
        y += band
        clean, noisy = s["clean"], s["noisy"]
        resid = noisy.astype(np.float32) - clean.astype(np.float32)
        tiles = [clean, noisy]
        if s["sigma"] is not None:
            tiles.append(np.clip(np.rint(s["sigma"] / sigma_max * 255.0), 0, 255).astype(np.uint8))
        else:
            tiles.append(np.full(clean.shape, 200, dtype=np.uint8))
        tiles.append(np.clip(np.rint(127.5 + amplify * resid), 0, 255).astype(np.uint8))
        for c, t in enumerate(tiles):
            sheet.paste(Image.fromarray(_crop(t, tile)), (_GAP + c * (tile + _GAP), y))
        if s["sigma"] is None:
            draw.text((_GAP + 2 * (tile + _GAP) + 8, y + tile // 2 - 6), "no σ map (real pair)", fill=(60, 60, 60),
                      font=font)
        y += tile + _GAP
    return sheet


def run_preview(config: PreviewConfig) -> Path:
    """Write the contact sheet of ``config`` and return its path."""
    samples = load_samples(config.dataset, select_keys(config.dataset, config.n, config.seed))[: config.n]
    sheet = contact_sheet(samples, tile=config.tile, amplify=config.amplify, sigma_max=config.sigma_max)
    out = Path(config.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp.png")
    sheet.save(tmp, format="PNG", optimize=False, compress_level=6)
    os.replace(tmp, out)
    return out
