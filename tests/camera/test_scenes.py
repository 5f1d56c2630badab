"""The content check of the camera command's split (noisegen.camera.scenes): shifted and noisy crops of one
scene match, other scenes and flat images do not."""

from __future__ import annotations

import numpy as np
from camdata import texture

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
