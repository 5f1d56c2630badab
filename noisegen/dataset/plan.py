"""The shard plan: which patches of which photos go into shard i, with which seeds.

Everything here is a pure function of (seed, source list, patch settings): the plan is computed
before any pixel is touched and the same inputs give the same plan on every machine, so the
output bytes do not depend on the number of workers, the backend or the order in which shards
finish, and a resumed run rewrites exactly the shards an uninterrupted run would have written.

Order of samples: the usable images are permuted once with a Generator seeded by [seed, 0]
(so every shard mixes photos from the whole set); image j's patches follow each other; sample g
(global index) lies in shard g // samples_per_shard.

Seeds (numpy SeedSequence entropy lists, recorded with every sample):
    image key  k = first 8 bytes of sha256(image id) as two uint32 words (k0, k1), so a photo's
               patches do not change when other photos are added or removed
    crop       [seed, k0, k1, patch, 1]   position of a random crop
    params     [seed, k0, k1, patch, 2]   noisegen.sample_params(profile, default_rng(...))
    noise      [seed, k0, k1, patch, 3]   noisegen.synthesize(crop, params, seed=...)
Crops: "random" draws the top-left corner uniformly; "grid" tiles the image with non-overlapping
patches (grid centred in the image) and, when there are more cells than patches per image, takes a
random subset of cells drawn with the crop seed of patch 0.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from noisegen.dataset.format import sample_key
from noisegen.dataset.sources import SourceImage

__all__ = ["CROP_MODES", "PatchJob", "ShardPlan", "image_key", "samples_per_shard_for",
           "BYTES_PER_PIXEL_ESTIMATE", "MIN_SHARDS"]

CROP_MODES = ("random", "grid")

# Seed purposes (last entry of a per-patch seed list).
_CROP, _PARAMS, _NOISE = 1, 2, 3

# Bytes per patch pixel of one sample (clean PNG + noisy PNG + σ PNG + json + tar headers), measured
# on the cbdnet profile at 256×256 from Kodak24 (benchmarks/bench_generate.py): 487 KB ≈ 7.4 B/pixel.
# Used only to turn --shard-size into a sample count, so the plan stays a pure function of the seed.
BYTES_PER_PIXEL_ESTIMATE = 7.5
# With no explicit --samples-per-shard, small datasets are still cut into at least this many
# shards, so that they spread over workers when generated and over loader processes when read.
MIN_SHARDS = 8


def image_key(image_id: str) -> tuple[int, int]:
    """Two uint32 words from sha256(image id): the image's part of every per-patch seed."""
    d = hashlib.sha256(image_id.encode("utf-8")).digest()
    return int.from_bytes(d[0:4], "little"), int.from_bytes(d[4:8], "little")


def samples_per_shard_for(patch: int, n_samples: int, shard_size: int) -> int:
    """Samples per shard for a target shard size in bytes (see BYTES_PER_PIXEL_ESTIMATE, MIN_SHARDS)."""
    by_size = max(1, int(shard_size // (BYTES_PER_PIXEL_ESTIMATE * patch * patch + 2048)))
    by_count = max(1, math.ceil(n_samples / MIN_SHARDS))
    return min(by_size, by_count)


@dataclass(frozen=True)
class PatchJob:
    """One sample to make.

    index: global sample index (its key is ``key``); image: index into ShardPlan.images;
    patch: patch number within the image; box: (y, x, h, w) crop in source pixels;
    crop_seed: seed list of a random crop (None for grid crops); params_seed, noise_seed: see module doc.
    """

    index: int
    key: str
    image: int
    patch: int
    box: tuple[int, int, int, int]
    crop_seed: tuple[int, ...] | None
    params_seed: tuple[int, ...]
    noise_seed: tuple[int, ...]


@dataclass(frozen=True, eq=False)
class ShardPlan:
    """Deterministic assignment of patches to shards (see module docstring)."""

    images: tuple[SourceImage, ...]
    seed: int
    patch: int
    patches_per_image: int
    crop: str
    samples_per_shard: int

    def __post_init__(self) -> None:
        if self.crop not in CROP_MODES:
            raise ValueError(f"crop: expected one of {CROP_MODES}, got {self.crop!r}")
        if self.samples_per_shard < 1 or self.patches_per_image < 1 or self.patch < 1:
            raise ValueError("samples_per_shard, patches_per_image and patch must be >= 1")
        put = object.__setattr__
        order = np.random.default_rng([self.seed, 0]).permutation(len(self.images))
        counts = np.array([self._count(self.images[j]) for j in order], dtype=np.int64)
        put(self, "_order", order)
        put(self, "_starts", np.concatenate([[0], np.cumsum(counts)]))

    def _count(self, img: SourceImage) -> int:
        if self.crop == "random":
            return self.patches_per_image
        cells = (img.height // self.patch) * (img.width // self.patch)
        return min(self.patches_per_image, cells)

    @property
    def n_samples(self) -> int:
        return int(self._starts[-1])

    @property
    def n_shards(self) -> int:
        return max(1, math.ceil(self.n_samples / self.samples_per_shard)) if self.n_samples else 0

    def shard_range(self, shard: int) -> range:
        """Global sample indices of shard ``shard``."""
        if not 0 <= shard < self.n_shards:
            raise IndexError(f"shard {shard} out of range 0..{self.n_shards - 1}")
        lo = shard * self.samples_per_shard
        return range(lo, min(lo + self.samples_per_shard, self.n_samples))

    def _seed(self, img: SourceImage, patch: int, purpose: int) -> tuple[int, ...]:
        k0, k1 = image_key(img.id)
        return (self.seed, k0, k1, patch, purpose)

    def _grid_boxes(self, img: SourceImage, n: int) -> list[tuple[int, int, int, int]]:
        p = self.patch
        gy, gx = img.height // p, img.width // p
        y0, x0 = (img.height - gy * p) // 2, (img.width - gx * p) // 2
        cells = np.arange(gy * gx)
        if n < len(cells):
            rng = np.random.default_rng(self._seed(img, 0, _CROP))
            cells = np.sort(rng.choice(cells, size=n, replace=False))
        return [(y0 + int(c // gx) * p, x0 + int(c % gx) * p, p, p) for c in cells]

    def shard_jobs(self, shard: int) -> list[PatchJob]:
        """The samples of shard ``shard`` in write order; a pure function of the plan and ``shard``."""
        rng_ = self.shard_range(shard)
        jobs: list[PatchJob] = []
        pos = int(np.searchsorted(self._starts, rng_.start, side="right")) - 1
        start = rng_.start
        while start < rng_.stop:
            j = int(self._order[pos])
            img = self.images[j]
            first, last = int(self._starts[pos]), int(self._starts[pos + 1])
            grid = self._grid_boxes(img, last - first) if self.crop == "grid" else None
            for g in range(start, min(last, rng_.stop)):
                k = g - first
                if grid is not None:
                    box, crop_seed = grid[k], None
                else:
                    crop_seed = self._seed(img, k, _CROP)
                    r = np.random.default_rng(crop_seed)
                    y = int(r.integers(0, img.height - self.patch + 1))
                    x = int(r.integers(0, img.width - self.patch + 1))
                    box = (y, x, self.patch, self.patch)
                jobs.append(PatchJob(index=g, key=sample_key(g), image=j, patch=k, box=box, crop_seed=crop_seed,
                                     params_seed=self._seed(img, k, _PARAMS), noise_seed=self._seed(img, k, _NOISE)))
            start = min(last, rng_.stop)
            pos += 1
        return jobs
