"""Validation sets and their evaluation: PSNR of the noisy input and of the denoised output.

Three kinds of source, recognised from the folder (``open_val_source``), in this order:

- **a noisegen dataset** (a folder with dataset.json): one exact pass over its shards
  (noisegen.dataset.reader.iter_samples), every sample once across DDP ranks.
- **real pairs** (e.g. ../shared/data/CC15, PolyU100): a folder in which the dataset reader finds
  noisy/clean pairs (noisegen.dataset.reader.read_pairs, the pairing `noisegen-train eval` uses too:
  noisy/ + gt/ folders, SIDD scene folders, *_real / *_mean names, ...). Files without a partner are
  listed in ``skipped``.
- **clean images** (e.g. ../shared/data/Kodak24): any other folder; its images (searched recursively,
  sorted by relative path: noisegen.dataset.reader.list_images) get synthetic noise from a camera
  profile (``val_profile``): image i uses ``sample_params(profile, default_rng([seed, i, 1]))`` and
  noise seed ``[seed, i, 2]``, so the same seed gives the same noisy images on every run and machine.

Images are split across ranks (image i on rank i mod world; a dataset's shards as iter_samples
splits them) and the PSNR sums all-reduced.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from noisegen.dataset.reader import (
    IMAGE_EXTENSIONS,
    MANIFEST_NAME,
    QuietDamageCounter,
    centre_crop,
    holds_pairs,
    iter_samples,
    list_images,
    list_shards,
    read_pairs,
    read_rgb8,
)
from noisegen.isp.api import CameraProfile, get_profile, resolve_profile, sample_params, synthesize
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.engine.metrics import psnr_u8

__all__ = ["DEFAULT_VAL_PROFILE", "ValImage", "ValSource", "val_profile", "open_val_source", "evaluate"]

# Synthetic validation noise when neither --val-profile nor the training data names a camera profile.
DEFAULT_VAL_PROFILE = "cbdnet"


def val_profile(profile: str | CameraProfile | None = None, dataset_profile: dict | None = None) -> CameraProfile:
    """The camera profile of synthetic validation noise: ``profile`` (a CameraProfile, a built-in name or a
    profile .json file) when given, else the training dataset's (``dataset_profile``, as its dataset.json
    records it), else DEFAULT_VAL_PROFILE.

    Raises:
        KeyError / FileNotFoundError / ValueError: an unknown name, a missing or invalid profile file.
    """
    if profile is not None:
        return resolve_profile(profile)
    if dataset_profile is not None:
        return CameraProfile.from_dict(dataset_profile, source="training dataset's dataset.json")
    return get_profile(DEFAULT_VAL_PROFILE)


@dataclass(frozen=True, eq=False)
class ValImage:
    """One validation pair: name, noisy and clean (uint8 H×W×3)."""

    name: str
    noisy: np.ndarray
    clean: np.ndarray


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


def open_val_source(path: str, *, profile: str | CameraProfile | None = None, dataset_profile: dict | None = None,
                    seed: int = 0, max_images: int | None = None, crop: int | None = None) -> ValSource:
    """A ValSource for a folder (kind recognised as in the module docstring).

    Args:
        profile, dataset_profile: the camera profile of synthetic noise (clean folders only; see val_profile).
        seed: seed of the synthetic noise. max_images: keep the first N images (sorted by name; for a
            dataset folder, N per process).
        crop: centre-crop every image to crop×crop (None: whole images).
    Raises:
        FileNotFoundError: ``path`` is not a folder, or holds no images or no usable pairs.
    """
    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"validation source {path!r} is not a folder (expected clean images, a folder of "
                                "real pairs, or a noisegen dataset)")
    if (p / MANIFEST_NAME).exists():
        return _shard_source(p, max_images, crop)
    if holds_pairs(p):
        return _pair_source(p, max_images, crop)
    return _synthetic_source(p, val_profile(profile, dataset_profile), seed, max_images, crop)


def _shard_source(p: Path, max_images: int | None, crop: int | None) -> ValSource:
    shards = list_shards(str(p))

    def from_shards(rank: int, world: int) -> Iterator[ValImage]:
        handler = QuietDamageCounter()
        samples = iter_samples(shards.urls, rank=rank, world=world, handler=handler, counts=shards.counts)
        for i, s in enumerate(samples):
            if max_images is not None and i >= max_images:
                break
            yield ValImage(s["key"], centre_crop(s["noisy"], crop), centre_crop(s["clean"], crop))

    return ValSource(p.name, "shards", str(p), f"{len(shards.urls)} shards of a noisegen dataset", _loader=from_shards)


def _pair_source(p: Path, max_images: int | None, crop: int | None) -> ValSource:
    try:
        pairs = read_pairs(p, max_images=max_images)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"validation source {exc}") from None
    skipped = list(pairs.skipped)

    def from_pairs(rank: int, world: int) -> Iterator[ValImage]:
        for item in pairs.items(rank, world):
            if item.error is not None:
                skipped.append(f"{item.id}: {item.error}")
                continue
            yield ValImage(item.id, centre_crop(item.noisy, crop), centre_crop(item.clean, crop))

    return ValSource(p.name, "real", str(p), f"{pairs.count} real noisy/clean pairs", skipped, _loader=from_pairs)


def _synthetic_source(p: Path, profile: CameraProfile, seed: int, max_images: int | None,
                      crop: int | None) -> ValSource:
    files = list_images(p, recursive=True)[:max_images]
    if not files:
        raise FileNotFoundError(f"validation source {p}: no images ({', '.join(IMAGE_EXTENSIONS)})")

    def synthetic(rank: int, world: int) -> Iterator[ValImage]:
        for i in range(rank, len(files), world):
            clean = centre_crop(read_rgb8(files[i])[0], crop)
            params = sample_params(profile, np.random.default_rng([seed, i, 1]))
            s = synthesize(clean, params, seed=[seed, i, 2])
            yield ValImage(files[i].stem, s.noisy, s.clean)

    return ValSource(p.name, "synthetic", str(p), f"{len(files)} clean images + {profile.name} noise (seed {seed})",
                     _loader=synthetic)


@torch.no_grad()
def evaluate(model: torch.nn.Module, source: ValSource, *, device: torch.device, amp: str = "none",
             channels_last: bool = False, rank: int = 0, world: int = 1) -> dict[str, float]:
    """Mean PSNR (dB) of the noisy inputs and of the model's outputs over a validation set.

    Each image is denoised whole (batch of one), under bf16 autocast when ``amp == "bf16"``; the
    output is clipped and rounded to 8 bits (trainer.engine.images). With world > 1 each rank takes its
    share and the sums are all-reduced (call it on every rank).

    Returns:
        {"psnr": mean denoised PSNR, "psnr_noisy": mean input PSNR, "images": count}.
    """
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64)
    try:
        for im in source.images(rank, world):
            x = image_to_tensor(im.noisy, device, torch.channels_last if channels_last else torch.contiguous_format)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp == "bf16"):
                out = model(x)[0]
            y = tensor_to_u8(out)
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
