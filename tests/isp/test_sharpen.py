"""Sharpening (noisegen.isp.sharpen): the unsharp mask against scipy.ndimage, its place in the pipeline (the
noise is sharpened, the noise-free render is not), its effect on the noise's variance, and bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import noisegen as ng
from noisegen.isp.params import SampleParams
from noisegen.isp.pipeline import render_clean
from noisegen.isp.sharpen import check_sharpen, gaussian_blur, sharpen_noise, unsharp_mask


@pytest.mark.parametrize("shape", [(40, 57, 3), (9, 7, 3), (3, 5, 3), (30, 20)])
@pytest.mark.parametrize("radius", [0.4, 1.0, 1.7, 3.0])
def test_unsharp_mask_equals_scipy(shape, radius):
    """USM(y) = y + a·(y − G_r ⋆ y) with scipy.ndimage.gaussian_filter (truncate 4, mode 'reflect') as G_r,
    on odd, non-square and tiny images (kernel longer than the image)."""
    y = np.random.default_rng(1).random(shape)
    sigma = (radius, radius, 0) if len(shape) == 3 else radius
    ref_blur = gaussian_filter(y, sigma=sigma, mode="reflect", truncate=4.0)
    np.testing.assert_allclose(gaussian_blur(y, radius), ref_blur, atol=1e-12)
    for amount in (0.0, 0.5, 2.0):
        np.testing.assert_allclose(unsharp_mask(y, amount, radius), y + amount * (y - ref_blur), atol=1e-12)


def test_sharpen_noise_is_linear_in_the_noise():
    rng = np.random.default_rng(2)
    clean, noise = rng.random((20, 30, 3)), 0.05 * rng.normal(size=(20, 30, 3))
    out = sharpen_noise(clean + noise, clean, 0.8, 1.2)
    np.testing.assert_allclose(out, clean + unsharp_mask(noise, 0.8, 1.2), atol=1e-12)
    np.testing.assert_array_equal(sharpen_noise(clean, clean, 0.8, 1.2), clean)


def _image() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[120:184, 140:230])


@pytest.mark.parametrize("pattern,jpeg", [(None, None), ("RGGB", None), ("GRBG", 90)])
def test_zero_noise_render_is_not_sharpened_and_sigma_is_unchanged(pattern, jpeg):
    img = _image()
    p = SampleParams(crf="sRGB", sigma_s=(0.05,) * 3, sigma_c=(0.01,) * 3, pattern=pattern, jpeg_quality=jpeg,
                     sharpen_amount=1.5, sharpen_radius=1.0)
    zero = dataclasses.replace(p, sigma_s=(0.0,) * 3, sigma_c=(0.0,) * 3, jpeg_quality=None)
    plain = dataclasses.replace(zero, sharpen_amount=0.0)
    assert np.array_equal(ng.synthesize(img, zero).noisy, render_clean(img, p))
    # only the 8-bit rounding path differs from the unsharpened render (float64 here, the float32 LUT kernel there)
    assert np.abs(render_clean(img, p).astype(int) - render_clean(img, plain)).max() <= 1
    s, w = ng.synthesize(img, p, seed=4), ng.synthesize(img, dataclasses.replace(p, sharpen_amount=0.0), seed=4)
    np.testing.assert_array_equal(s.sigma_raw, w.sigma_raw)


def test_sharpening_multiplies_the_noise_variance_by_the_filters_energy():
    """On a flat field with white noise (linear curve, no mosaic), the residual's variance grows by Σh² with
    h = (1 + a)·δ − a·G_r the unsharp-mask filter."""
    a, r, sigma = 0.8, 1.0, 0.02
    clean = np.full((512, 512, 3), 128, np.uint8)
    p = SampleParams(crf="linear", sigma_c=(sigma,) * 3, pattern=None, sharpen_amount=a, sharpen_radius=r)
    resid = (ng.synthesize(clean, p, seed=3).noisy.astype(np.float64) - 128) / 255
    delta = np.zeros((31, 31))
    delta[15, 15] = 1.0
    h = (1 + a) * delta - a * gaussian_filter(delta, r, mode="constant", truncate=4.0)
    want = sigma**2 * (h * h).sum() + (1 / 255) ** 2 / 12
    np.testing.assert_allclose(resid.var(axis=(0, 1)), want, rtol=0.02)


@pytest.mark.parametrize("amount,radius,match", [(-0.1, 1.0, "sharpen_amount"), (0.5, 0.0, "sharpen_radius"),
                                                 (float("nan"), 1.0, "finite"), (11.0, 1.0, "sharpen_amount"),
                                                 ("1", 1.0, "finite"), (0.5, 11.0, "sharpen_radius")])
def test_bad_sharpening_is_a_clear_error(amount, radius, match):
    with pytest.raises(ValueError, match=match):
        check_sharpen(amount, radius, "test")
    with pytest.raises(ValueError, match=match):
        SampleParams(sharpen_amount=amount, sharpen_radius=radius)


def test_profile_sharpening_reaches_every_sample():
    prof = dataclasses.replace(ng.get_profile("cbdnet"), name="sharp", sharpen_amount=0.7, sharpen_radius=1.3)
    p = ng.sample_params(prof, np.random.default_rng(0))
    assert (p.sharpen_amount, p.sharpen_radius) == (0.7, 1.3)
    assert ng.CameraProfile.from_dict(prof.to_dict()) == prof
    assert "sharpen_amount" not in ng.get_profile("cbdnet").to_dict()
