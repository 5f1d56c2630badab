"""In-camera noise reduction (noisegen.isp.nr): off = the bytes of the model without it; on = its
definition, checked against a plain-numpy reference written from the docstring."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from skimage import data

import noisegen as ng
from noisegen.isp.noise import NoisyRaw
from noisegen.isp.nr import NR_WINDOW, clean_texture, nr_gain, nr_gain_map
from noisegen.isp.pipeline import reduce_noise
from noisegen.isp.raw_sigma import derive_sigma

# sha256[:16] of noisy + σ bytes for 3 draws each of cbdnet, unprocess, gauss, computed with the
# pipeline as it was before noise reduction existed (commit 2e97700): NR off must not change a byte.
GOLDEN = ['ddcf3232cbfe53c7', 'ec5a3f475f7ff05b', 'b770ffd949368bad', '3df00e2b0c45c1d4', 'df0feb3cbfa7816b',
          'da06df83c49a519d', 'fbdb5888116dad4e', 'ac160e1ae5a8aceb', 'd1f41ed9531fd1bd']


def _img() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[100:164, 150:230])


def _texture_ref(clean: np.ndarray, w: int = NR_WINDOW) -> np.ndarray:
    y = clean.astype(np.float64).mean(axis=2) / 255.0
    r = w // 2
    win = sliding_window_view(np.pad(y, r, mode="symmetric"), (w, w))   # scipy 'reflect' = numpy 'symmetric'
    return win.std(axis=(-2, -1))


def _gain_ref(t: np.ndarray, f: float, k: float) -> np.ndarray:
    return np.where(t >= k, 1.0, f + (1 - f) * t / k)


def test_nr_off_is_byte_identical_to_the_model_without_it():
    img, got = _img(), []
    for prof in ("cbdnet", "unprocess", "gauss"):
        for i in range(3):
            p = ng.sample_params(ng.get_profile(prof), np.random.default_rng([7, i]))
            assert p.nr_flat_gain == 1.0
            s = ng.synthesize(img, p, seed=[7, i])
            got.append(hashlib.sha256(s.noisy.tobytes() + s.sigma_raw.tobytes()).hexdigest()[:16])
    assert got == GOLDEN


@pytest.mark.parametrize("shape", [(37, 50), (64, 80), (9, 7)])
def test_texture_and_gain_match_numpy_reference(shape):
    rng = np.random.default_rng(3)
    clean = (rng.random((*shape, 3)) * 255).astype(np.uint8)
    clean[: shape[0] // 2, : shape[1] // 2] = 120   # a flat block
    t = clean_texture(clean)
    assert t.shape == shape
    np.testing.assert_allclose(t, _texture_ref(clean), atol=1e-9)
    for f, k in ((0.3, 0.05), (0.8, 0.01), (1.0, 0.02)):
        np.testing.assert_allclose(nr_gain(t, f, k), _gain_ref(_texture_ref(clean), f, k), atol=1e-7)
    g = nr_gain_map(clean, 0.3, 0.05)
    assert g.dtype == np.float32 and g.min() >= 0.3 - 1e-7 and g.max() <= 1.0
    assert np.all(g[2: shape[0] // 2 - 2, 2: shape[1] // 2 - 2] == np.float32(0.3))   # flat: exactly f


@pytest.mark.parametrize("pattern", [None, "RGGB", "GBRG"])
def test_reduce_noise_is_its_definition(pattern):
    rng = np.random.default_rng(5)
    clean = (rng.random((20, 30, 3)) * 255).astype(np.uint8)
    raw = (clean / 255.0).astype(np.float32)
    noisy = rng.random((20, 30) if pattern else (20, 30, 3)).astype(np.float32)
    sigma = rng.random((20, 30, 3)).astype(np.float32)
    params = ng.SampleParams(pattern=pattern, nr_flat_gain=0.4, nr_knee=0.03)
    out = reduce_noise(NoisyRaw(noisy, sigma), raw, clean, params)
    g = _gain_ref(_texture_ref(clean), 0.4, 0.03)
    if pattern:
        cfa = {"RGGB": [[0, 1], [1, 2]], "GBRG": [[1, 2], [0, 1]]}[pattern]
        ch = np.array(cfa)[np.arange(20)[:, None] % 2, np.arange(30)[None, :] % 2]
        base = np.take_along_axis(raw, ch[:, :, None], axis=2)[:, :, 0]
        want = base + g * (noisy - base)
    else:
        want = raw + g[:, :, None] * (noisy - raw)
    np.testing.assert_allclose(out.noisy, want, atol=1e-6)
    np.testing.assert_allclose(out.sigma_raw, sigma * g[:, :, None], atol=1e-6)


def test_synthesize_sigma_and_derived_sigma_carry_the_gain():
    img = _img()
    for prof in ("cbdnet", "unprocess"):
        p = ng.sample_params(ng.get_profile(prof), np.random.default_rng(1))
        p_nr = dataclasses.replace(p, nr_flat_gain=0.5, nr_knee=0.04)
        off, on = ng.synthesize(img, p, seed=2), ng.synthesize(img, p_nr, seed=2)
        g = _gain_ref(_texture_ref(img), 0.5, 0.04)
        np.testing.assert_allclose(on.sigma_raw, off.sigma_raw * g[:, :, None], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(derive_sigma(img, p_nr.to_dict()), on.sigma_raw, atol=1e-6)
        assert ng.SampleParams.from_json(p_nr.to_json()) == p_nr


def test_flat_image_noise_std_is_scaled_by_the_flat_gain():
    flat = np.full((256, 256, 3), 128, np.uint8)
    p = ng.SampleParams(sigma_c=(0.05,) * 3)
    off = ng.synthesize(flat, p, seed=0).noisy.astype(float) - 128
    on = ng.synthesize(flat, dataclasses.replace(p, nr_flat_gain=0.25), seed=0).noisy.astype(float) - 128
    assert on.std() / off.std() == pytest.approx(0.25, rel=0.03)


def test_profile_carries_nr_and_rejects_bad_values():
    prof = dataclasses.replace(ng.get_profile("cbdnet"), nr_flat_gain=0.6, nr_knee=0.03)
    p = ng.sample_params(prof, np.random.default_rng(0))
    assert (p.nr_flat_gain, p.nr_knee) == (0.6, 0.03)
    base = ng.sample_params(ng.get_profile("cbdnet"), np.random.default_rng(0))
    assert dataclasses.replace(p, nr_flat_gain=1.0, nr_knee=0.02) == base   # NR draws nothing
    for bad in (0.0, 1.5, float("nan"), True):
        with pytest.raises(ValueError, match="nr_"):
            ng.SampleParams(nr_flat_gain=bad)
        with pytest.raises(ValueError, match="nr_"):
            dataclasses.replace(prof, nr_flat_gain=bad)
    with pytest.raises(ValueError, match="nr_knee"):
        ng.SampleParams(nr_knee=0.0)
    assert type(prof).from_dict(prof.to_dict()) == prof


@pytest.mark.parametrize("pattern", [None, "RGGB", "BGGR"])
def test_zero_noise_with_nr_is_the_render_bit_for_bit(pattern):
    img = _img()
    p = ng.SampleParams(crf="sRGB", pattern=pattern, demosaic="bilinear", nr_flat_gain=0.3, nr_knee=0.02)
    s = ng.synthesize(img, p, seed=0, clean_target="render")
    assert np.array_equal(s.noisy, s.clean)
    assert np.array_equal(s.noisy, ng.synthesize(img, dataclasses.replace(p, nr_flat_gain=1.0), seed=0).noisy)
