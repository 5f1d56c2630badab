"""The shard plan: a pure function of the seed and sources; crops inside images; distinct seeds."""

import dataclasses

import numpy as np
import pytest

from noisegen.dataset.plan import MIN_SHARDS, ShardPlan, image_key, samples_per_shard_for
from noisegen.dataset.sources import SourceImage


def _images(*sizes):
    return tuple(SourceImage(id=f"r/{i}.png", path=f"/x/{i}.png", height=h, width=w, mode="RGB")
                 for i, (h, w) in enumerate(sizes))


def _plan(images, **kw):
    base = dict(images=images, seed=3, patch=32, patches_per_image=4, crop="random", samples_per_shard=5)
    base.update(kw)
    return ShardPlan(**base)


def test_shards_partition_the_samples_and_are_reproducible():
    plan = _plan(_images((100, 80), (64, 64), (200, 33)))
    assert plan.n_samples == 12 and plan.n_shards == 3
    jobs = [j for i in range(plan.n_shards) for j in plan.shard_jobs(i)]
    assert [j.index for j in jobs] == list(range(12))
    assert len({j.key for j in jobs}) == 12 and all("." not in j.key for j in jobs)
    again = _plan(_images((100, 80), (64, 64), (200, 33)))
    assert [again.shard_jobs(i) for i in range(3)] == [plan.shard_jobs(i) for i in range(3)]
    with pytest.raises(IndexError):
        plan.shard_jobs(3)


def test_random_crops_lie_inside_and_seeds_differ():
    images = _images((100, 80), (33, 200))
    plan = _plan(images, patches_per_image=20, samples_per_shard=7)
    for i in range(plan.n_shards):
        for j in plan.shard_jobs(i):
            y, x, h, w = j.box
            img = images[j.image]
            assert 0 <= y <= img.height - h and 0 <= x <= img.width - w and h == w == 32
            assert j.params_seed != j.noise_seed != j.crop_seed
            assert j.params_seed[:4] == (3, *image_key(img.id), j.patch)


def test_grid_crops_tile_without_overlap_and_cap_the_count():
    images = _images((100, 70), (64, 64))
    plan = _plan(images, crop="grid", patches_per_image=5, samples_per_shard=100)
    jobs = plan.shard_jobs(0)
    by_image = {}
    for j in jobs:
        by_image.setdefault(j.image, []).append(j.box)
    assert len(by_image[0]) == 5 and len(by_image[1]) == 4  # 3×2 = 6 cells (5 taken), 2×2 = 4 cells
    for boxes in by_image.values():
        mask = np.zeros((100, 70), int)
        for y, x, h, w in boxes:
            mask[y:y + h, x:x + w] += 1
        assert mask.max() == 1
    assert all(j.crop_seed is None for j in jobs)


def test_a_photo_keeps_its_patches_when_others_are_added():
    a = _plan(_images((100, 80)), samples_per_shard=100)
    more = _images((100, 80), (90, 90), (50, 60))
    b = _plan(more, samples_per_shard=100)
    ja = {(j.patch): (j.box, j.noise_seed) for j in a.shard_jobs(0)}
    jb = {(j.patch): (j.box, j.noise_seed) for j in b.shard_jobs(0) if j.image == 0}
    assert ja == jb


def test_seed_changes_everything():
    images = _images((100, 80), (64, 90))
    a, b = _plan(images), _plan(images, seed=4)
    assert [j.box for j in a.shard_jobs(0)] != [j.box for j in b.shard_jobs(0)]


def test_samples_per_shard_from_size_and_minimum_shard_count():
    assert samples_per_shard_for(256, 10**6, 512 * 10**6) in range(900, 1100)  # ≈ 490 KB per 256² sample
    assert samples_per_shard_for(256, 128, 512 * 10**6) == 128 // MIN_SHARDS
    assert samples_per_shard_for(256, 3, 1) == 1


def test_bad_plan_arguments():
    with pytest.raises(ValueError, match="crop"):
        _plan(_images((64, 64)), crop="centre")
    plan = _plan(_images((64, 64)))
    with pytest.raises(ValueError):
        dataclasses.replace(plan, samples_per_shard=0)
