"""Noise std per clean-texture bin (noisegen.analysis.texture): against a numpy reference, and it shows NR."""

import numpy as np
import pytest

import noisegen as ng
from noisegen.analysis.texture import TEXTURE_EDGES, TextureStats, texture_loss, texture_stats, texture_std
from noisegen.isp.nr import clean_texture


def _ref(clean, noisy):
    t = clean_texture(clean)
    r2 = ((noisy.astype(float) - clean) ** 2)
    ok = ((clean > 0) & (clean < 255)).all(axis=2)
    s2, n = [], []
    for lo, hi in zip(TEXTURE_EDGES[:-1], TEXTURE_EDGES[1:]):
        m = ok & (t >= lo) & (t < hi)
        s2.append(r2[m].sum())
        n.append(3 * m.sum())
    return np.array(s2), np.array(n, float)


def test_texture_stats_match_a_plain_numpy_reference():
    rng = np.random.default_rng(0)
    clean = np.clip(rng.normal(128, 1, (48, 60, 3)), 0, 255).astype(np.uint8)
    clean[:, 30:] = (rng.random((48, 30, 3)) * 255).astype(np.uint8)   # textured half, with clipped codes
    noisy = np.clip(clean + rng.normal(0, 4, clean.shape), 0, 255).astype(np.uint8)
    st = texture_stats(clean, noisy)
    s2, n = _ref(clean, noisy)
    np.testing.assert_allclose(st.sum2, s2)
    np.testing.assert_array_equal(st.count, n)
    both = TextureStats().add(st).add(st)
    np.testing.assert_allclose(texture_std(both, 1), texture_std(st, 1), equal_nan=True)
    with pytest.raises(ValueError, match="shape"):
        texture_stats(clean, noisy[:, :10])


def test_noise_reduction_shows_as_lower_std_in_flat_bins():
    from skimage import data

    clean = np.ascontiguousarray(data.astronaut()[:256, :256])
    p = ng.SampleParams(sigma_s=(0.05,) * 3, sigma_c=(0.01,) * 3)
    off = texture_stats(clean, ng.synthesize(clean, p, seed=1).noisy)
    on = texture_stats(clean, ng.synthesize(clean, ng.SampleParams(**{**p.to_dict(), "nr_flat_gain": 0.4,
                                                                        "nr_knee": 0.03}), seed=1).noisy)
    ratio = texture_std(on) / texture_std(off)
    assert ratio[0] == pytest.approx(0.4, abs=0.08) and ratio[-1] == pytest.approx(1.0, abs=0.05)
    assert texture_loss(off, off) == 0.0 and texture_loss(off, on) > 0.05
