"""Small inputs for the dataset tests: real photo crops written to a folder, a quick config, and the
trainer tests' shard set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.samples import sample_photo_paths
from noisegen.isp.profiles import fix, get_profile

ROOT = Path(__file__).resolve().parents[1]
# ../shared/data beside the project (docs/design.md §Data); NOISEGEN_SHARED_DATA points elsewhere (a worktree).
SHARED_DATA = Path(os.environ.get("NOISEGEN_SHARED_DATA") or ROOT.parent / "shared" / "data")


def shared_data(name: str) -> Path:
    """Path of ../shared/data/NAME, or skip the test with a clear message when it is absent."""
    p = SHARED_DATA / name
    if not p.exists():
        pytest.skip(f"shared test data {p} is absent (expected ../shared/data/{name} beside the project)")
    return p


# (height, width) of the test photos: non-square and odd sizes.
SIZES = ((90, 120), (140, 100), (65, 77))


def make_photos(folder: Path, sizes=SIZES) -> list[Path]:
    """Crops of the photos bundled with scikit-image, saved as PNG under folder/ (one in a subfolder)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    src = sample_photo_paths()
    for i, (h, w) in enumerate(sizes):
        img, _ = read_rgb8(src[i % len(src)])
        p = folder / ("sub" if i == 1 else "") / f"photo{i}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(np.ascontiguousarray(img[20:20 + h, 30:30 + w])).save(p)
        paths.append(p)
    return paths


def small_config(images: Path, out: Path, **kw) -> GenerateConfig:
    """32×32 patches, 3 per photo, 2 samples per shard: 9 samples in 5 shards for SIZES."""
    base = dict(out=str(out), images=(str(images),), patch=32, patches_per_image=3, samples_per_shard=2,
                seed=7, workers=1)
    base.update(kw)
    return GenerateConfig(**base)


def make_train_shards(root: Path) -> Path:
    """The trainer tests' shard set, written under root (photos/ and ds/); returns the dataset folder.

    12 samples of 48×48 (3 photos × 4 patches) in 6 shards of 2, with strong fixed cbdnet-style noise
    (σ_s 0.12, σ_c 0.04 on every sample), seed 3.
    """
    make_photos(root / "photos")
    profile = fix(get_profile("cbdnet"), sigma_s=0.12, sigma_c=0.04)
    generate(GenerateConfig(out=str(root / "ds"), images=(str(root / "photos"),), profile=profile, patch=48,
                            patches_per_image=4, samples_per_shard=2, seed=3, workers=1),
             progress=False, echo=lambda s: None)
    return root / "ds"


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file in folder (relative names), for byte-identity comparisons."""
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}
