"""Validation sets and their evaluation: PSNR of the noisy input and of the denoised output.

Three kinds of source, recognised from the folder (``open_val_source``):

- **clean images** (e.g. ../shared/data/Kodak24): a folder of PNG/JPEG/BMP/TIFF files, sorted by
  name; each gets synthetic noise from a camera profile: image i uses
  ``noisegen.sample_params(profile, default_rng([seed, i, 1]))`` and noise seed ``[seed, i, 2]``,
  so the same seed gives the same noisy images on every run and machine.
- **real pairs** (e.g. ../shared/data/CC15, PolyU100): ``noisy/`` and ``gt/`` subfolders; files
  are matched by name, first exactly (without extension), then after removing role tokens
  (real, noisy, noise, mean, gt, clean) from the name: ``noisy/X_real.png`` ↔ ``gt/X_mean.png``.
  Unmatched files are listed in ``skipped``.
- **a noisegen dataset** (a folder with dataset.json): one exact pass over its shards
  (noisegen.dataset.reader.iter_samples), every sample once across DDP ranks.

Images are split across ranks (image i on rank i mod world) and the PSNR sums all-reduced.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from noisegen.dataset.reader import IMAGE_EXTENSIONS, QuietDamageCounter, iter_samples, list_shards, read_rgb8
from noisegen.isp.pipeline import synthesize
from noisegen.isp.profiles import get_profile
from noisegen.isp.sampling import sample_params
from trainer.engine.metrics import psnr_u8

__all__ = ["ValImage", "ValSource", "open_val_source", "match_pairs", "evaluate"]

_ROLE_TOKENS = re.compile(r"(?i)(?:^|[_\-. ])(real|noisy|noise|mean|gt|clean)(?=$|[_\-. ])")


@dataclass(frozen=True, eq=False)
class ValImage:
    """One validation pair: name, noisy and clean (uint8 H×W×3)."""

    name: str
    noisy: np.ndarray
    clean: np.ndarray


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _centre_crop(a: np.ndarray, side: int | None) -> np.ndarray:
    if side is None:
        return a
    h, w = a.shape[:2]
    y, x = max(0, (h - side) // 2), max(0, (w - side) // 2)
    return np.ascontiguousarray(a[y:y + side, x:x + side])


def _role_free(stem: str) -> str:
    return _ROLE_TOKENS.sub("", stem).lower()


def match_pairs(noisy: list[Path], clean: list[Path]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Pair noisy files with clean ones by name (exact stem, then role tokens removed).

    Returns (pairs sorted by the noisy name, skipped messages for unmatched or ambiguous files).
    """
    pairs: list[tuple[Path, Path]] = []
    skipped: list[str] = []
    by_stem = {p.stem.lower(): p for p in clean}
    by_key: dict[str, list[Path]] = {}
    for p in clean:
        by_key.setdefault(_role_free(p.stem), []).append(p)
    used: set[Path] = set()
    for n in sorted(noisy):
        c = by_stem.get(n.stem.lower())
        if c is None:
            cands = by_key.get(_role_free(n.stem), [])
            if len(cands) > 1:
                skipped.append(f"{n.name}: several clean files match ({', '.join(sorted(p.name for p in cands))})")
                continue
            c = cands[0] if cands else None
        if c is None:
            skipped.append(f"{n.name}: no clean file with a matching name")
            continue
        pairs.append((n, c))
        used.add(c)
    skipped += [f"{c.name}: no noisy file with a matching name" for c in sorted(set(clean) - used)]
    return pairs, skipped


@dataclass
class ValSource:
    """A validation set. kind: "synthetic", "real" or "shards"; skipped: inputs left out, with why.

    ``images(rank, world)`` yields this rank's ValImages; synthetic and real sets are read once and
    kept in memory (they are small benchmark sets), shards are streamed on every pass.
    """

    name: str
    kind: str
    path: str
    description: str
    skipped: list[str] = field(default_factory=list)
    _loader: object = field(default=None, repr=False)
    _cache: dict[tuple[int, int], list[ValImage]] = field(default_factory=dict, repr=False)

    def images(self, rank: int = 0, world: int = 1) -> Iterator[ValImage]:
        if self.kind == "shards":
            yield from self._loader(rank, world)
            return
        if (rank, world) not in self._cache:
            self._cache[(rank, world)] = list(self._loader(rank, world))
        yield from self._cache[(rank, world)]


def open_val_source(path: str, *, profile=None, seed: int = 0, max_images: int | None = None,
                    crop: int | None = None) -> ValSource:
    """A ValSource for a folder (kind recognised as in the module docstring).

    Args:
        profile: noisegen CameraProfile for synthetic noise (clean folders only; default "cbdnet").
        seed: seed of the synthetic noise. max_images: keep the first N images (sorted by name).
        crop: centre-crop every image to crop×crop (None: whole images).
    Raises:
        FileNotFoundError: ``path`` is not a folder, or holds no images.
    """
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"validation source {path!r} is not a folder (expected clean images, noisy/ + gt/ "
                                "folders of real pairs, or a noisegen dataset)")
    if (p / "dataset.json").exists():
        return _shard_source(p, max_images, crop)
    if (p / "noisy").is_dir() and (p / "gt").is_dir():
        return _pair_source(p, max_images, crop)
    return _synthetic_source(p, profile, seed, max_images, crop)


def _shard_source(p: Path, max_images: int | None, crop: int | None) -> ValSource:
    shards = list_shards(str(p))

    def from_shards(rank: int, world: int) -> Iterator[ValImage]:
        handler = QuietDamageCounter()
        samples = iter_samples(shards.urls, rank=rank, world=world, handler=handler, counts=shards.counts)
        for i, s in enumerate(samples):
            if max_images is not None and i >= max_images:
                break
            yield ValImage(s["key"], _centre_crop(s["noisy"], crop), _centre_crop(s["clean"], crop))

    return ValSource(p.name, "shards", str(p), f"{len(shards.urls)} shards of a noisegen dataset", _loader=from_shards)


def _pair_source(p: Path, max_images: int | None, crop: int | None) -> ValSource:
    pairs, skipped = match_pairs(_images_in(p / "noisy"), _images_in(p / "gt"))
    pairs = pairs[:max_images]
    if not pairs:
        raise FileNotFoundError(f"validation source {p}: no noisy/gt pairs matched by name ({'; '.join(skipped[:3])})")

    def from_pairs(rank: int, world: int) -> Iterator[ValImage]:
        for n, c in pairs[rank::world]:
            noisy, clean = read_rgb8(n)[0], read_rgb8(c)[0]
            if noisy.shape != clean.shape:
                raise ValueError(f"{n} and {c}: sizes differ ({noisy.shape} vs {clean.shape})")
            yield ValImage(n.stem, _centre_crop(noisy, crop), _centre_crop(clean, crop))

    return ValSource(p.name, "real", str(p), f"{len(pairs)} real noisy/clean pairs", skipped, _loader=from_pairs)


def _synthetic_source(p: Path, profile, seed: int, max_images: int | None, crop: int | None) -> ValSource:
    files = _images_in(p)[:max_images]
    if not files:
        raise FileNotFoundError(f"validation source {p}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    prof = profile if profile is not None else get_profile("cbdnet")

    def synthetic(rank: int, world: int) -> Iterator[ValImage]:
        for i in range(rank, len(files), world):
            clean = _centre_crop(read_rgb8(files[i])[0], crop)
            params = sample_params(prof, np.random.default_rng([seed, i, 1]))
            s = synthesize(clean, params, seed=[seed, i, 2])
            yield ValImage(files[i].stem, s.noisy, s.clean)

    return ValSource(p.name, "synthetic", str(p), f"{len(files)} clean images + {prof.name} noise (seed {seed})",
                     _loader=synthetic)


@torch.no_grad()
def evaluate(model: torch.nn.Module, source: ValSource, *, device: torch.device, amp: str = "none",
             channels_last: bool = False, rank: int = 0, world: int = 1) -> dict[str, float]:
    """Mean PSNR (dB) of the noisy inputs and of the model's outputs over a validation set.

    Each image is denoised whole (batch of one), under bf16 autocast when ``amp == "bf16"``; the
    output is clipped and rounded to 8 bits (trainer.engine.metrics). With world > 1 each rank takes its
    share and the sums are all-reduced (call it on every rank).

    Returns:
        {"psnr": mean denoised PSNR, "psnr_noisy": mean input PSNR, "images": count}.
    """
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64)
    try:
        for im in source.images(rank, world):
            x = torch.tensor(im.noisy).to(device).permute(2, 0, 1)[None].float().div_(255.0)
            x = x.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
                out = model(x)[0]
            y = (out.float()[0].permute(1, 2, 0).clamp_(0, 1) * 255.0).round_().to(torch.uint8).cpu().numpy()
            sums += torch.tensor([psnr_u8(y, im.clean), psnr_u8(im.noisy, im.clean), 1.0], dtype=torch.float64)
    finally:
        model.train(was_training)
    if world > 1:
        import torch.distributed as dist

        sums = sums.to(device) if dist.get_backend() == "nccl" else sums
        dist.all_reduce(sums)
        sums = sums.cpu()
    n = max(1.0, float(sums[2]))
    return {"psnr": float(sums[0]) / n, "psnr_noisy": float(sums[1]) / n, "images": int(sums[2])}
