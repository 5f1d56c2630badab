"""The content check of the camera command's split (noisegen.camera.scenes): shifted and noisy crops of one
scene match, other scenes and flat images do not."""

from __future__ import annotations

import numpy as np
from camdata import texture
from scipy.ndimage import zoom

from noisegen.camera.scenes import THRESHOLD, check_content, overlap, thumbnail


def test_overlap_finds_shifted_crops_and_not_other_scenes():
    a = texture(1, 320, 320)
    crop = a[64:320, 40:296]  # the same scene, shifted by (64, 40), 256×256
    noisy_crop = np.clip(crop + np.random.default_rng(0).normal(0, 8, crop.shape), 0, 255).astype(np.uint8)
    ta = thumbnail(a)
    assert overlap(ta, thumbnail(crop)) > 0.99
    assert overlap(ta, thumbnail(noisy_crop)) > THRESHOLD
    assert overlap(ta, thumbnail(texture(2, 256, 256))) < 0.5
    # a flat image has no high-pass content: it matches nothing
    assert overlap(ta, thumbnail(np.full((256, 256, 3), 90, np.uint8))) < 0.5


def test_check_content_lists_hits_and_the_margin():
    a, b = texture(3, 200, 200), texture(4, 200, 200)
    test = {"t": thumbnail(a[:160, :160])}
    hits, closest = check_content(test, {"same": thumbnail(a[40:, 40:]), "other": thumbnail(b)})
    assert [h["other"] for h in hits] == ["same"] and hits[0]["corr"] > 0.99
    assert -1 < closest < 0.5  # the other scene, below the threshold: the check's margin


def test_large_photos_get_larger_blocks_and_still_match():
    from noisegen.camera.scenes import block_for

    assert block_for([(512, 512), (500, 412)]) == 4  # PolyU100, CC60: the thumbnails of the measured margins
    assert block_for([(4000, 6000)]) == 24 and block_for([]) == 4
    def photo(seed):  # 3200×2400, features of about 32 pixels (2.5 blocks)
        return np.clip(zoom(texture(seed, 400, 300).astype(float), (8, 8, 1), order=1), 0, 255).astype(np.uint8)
    big = photo(5)
    b = block_for([big.shape[:2]])
    assert b == 13
    assert overlap(thumbnail(big, b), thumbnail(big[:2000, :1600], b)) > 0.99  # the same framing
    # a crop whose offset is not a multiple of the block: the block grids differ, the correlation drops
    # (0.92 here; the same crop at block 4 of a 4× smaller image keeps 0.99) but stays over the threshold
    assert THRESHOLD < overlap(thumbnail(big, b), thumbnail(big[600:2600, 400:2000], b)) < 0.99
    assert overlap(thumbnail(big, b), thumbnail(photo(6), b)) < 0.2
