"""synthesize(): contract, determinism, exactness at zero noise, noise statistics, bad input."""

import dataclasses

import numpy as np
import pytest
from scipy.stats import norm, poisson

import noisegen as ng
from noisegen.crf.io import load_bank

LINEAR = ng.SampleParams(camera="test", crf="linear", sigma_s=(0.08,) * 3, sigma_c=(0.02,) * 3)


@pytest.mark.parametrize("name", list(ng.BUILTIN_PROFILES))
def test_contract_on_odd_non_square_images(photo_u8, name):
    params = ng.sample_params(ng.get_profile(name), np.random.default_rng(4))
    s = ng.synthesize(photo_u8, params, seed=9)
    assert s.clean.dtype == np.uint8 and s.noisy.dtype == np.uint8 and s.sigma_raw.dtype == np.float32
    assert s.clean.shape == s.noisy.shape == s.sigma_raw.shape == photo_u8.shape
    assert np.array_equal(s.clean, photo_u8) and s.params is params
    assert np.isfinite(s.sigma_raw).all() and s.sigma_raw.min() >= 0


@pytest.mark.parametrize("shape", [(2, 3, 3), (5, 7, 3), (64, 33, 3)])
def test_tiny_and_odd_sizes_through_every_stage(shape):
    img = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    p = ng.SampleParams(crf="sRGB", sigma_s=(0.05,) * 3, sigma_c=(0.01,) * 3, pattern="GBRG", jpeg_quality=80)
    s = ng.synthesize(img, p, seed=0)
    assert s.noisy.shape == shape


def test_single_pixel_images():
    img = np.full((1, 1, 3), 77, np.uint8)
    p = ng.SampleParams(crf="sRGB", sigma_s=(0.05,) * 3, sigma_c=(0.01,) * 3, jpeg_quality=80)
    assert ng.synthesize(img, p).noisy.shape == (1, 1, 3)
    with pytest.raises(ValueError, match="2×2"):  # a Bayer mosaic needs one full 2×2 block
        ng.synthesize(img, dataclasses.replace(p, pattern="RGGB"))


def test_same_inputs_same_bytes(photo_u8):
    params = ng.sample_params(ng.get_profile("cbdnet"), np.random.default_rng(1))
    params = dataclasses.replace(params, pattern="RGGB", jpeg_quality=85)
    a = ng.synthesize(photo_u8, params, seed=[3, 4])
    b = ng.synthesize(photo_u8, params, seed=[3, 4])
    c = ng.synthesize(photo_u8, params, seed=[3, 5])
    assert a.noisy.tobytes() == b.noisy.tobytes() and a.sigma_raw.tobytes() == b.sigma_raw.tobytes()
    assert a.noisy.tobytes() != c.noisy.tobytes()


def test_zero_noise_reproduces_the_source(photo_u8):
    zero = dataclasses.replace(LINEAR, sigma_s=(0.0,) * 3, sigma_c=(0.0,) * 3)
    assert np.array_equal(ng.synthesize(photo_u8, zero).noisy, photo_u8)
    # Through a real CRF and the unprocessing colour steps the round trip is within one code value.
    up = ng.sample_params(ng.get_profile("unprocess"), np.random.default_rng(0))
    up = dataclasses.replace(up, sigma_s=(0.0,) * 3, sigma_c=(0.0,) * 3, pattern=None)
    diff = np.abs(ng.synthesize(photo_u8, up).noisy.astype(int) - photo_u8)
    assert diff.max() <= 1
    srgb = dataclasses.replace(zero, crf="sRGB")
    assert np.abs(ng.synthesize(photo_u8, srgb).noisy.astype(int) - photo_u8).max() <= 1


def test_sigma_map_is_the_variance_law_of_the_irradiance(photo_u8):
    for crf in ("linear", "sRGB"):
        p = dataclasses.replace(LINEAR, crf=crf, sigma_s=(0.05, 0.1, 0.15), sigma_c=(0.01, 0.02, 0.03))
        s = ng.synthesize(photo_u8, p, seed=0)
        c = load_bank("default").get(crf)
        L = np.interp(photo_u8 / 255.0, np.linspace(0, 1, c.inverse_lut.size), c.inverse_lut)
        ref = np.sqrt(L * np.array([0.05, 0.1, 0.15]) ** 2 + np.array([0.01, 0.02, 0.03]) ** 2)
        assert np.abs(s.sigma_raw - ref).max() <= 2e-4


def _quantised_std(level: float, pmf_support: np.ndarray, pmf: np.ndarray) -> float:
    """Std of round(255·clip(v))/255 − level for v distributed on ``pmf_support`` with ``pmf``."""
    y = np.round(np.clip(pmf_support, 0, 1) * 255) / 255 - level
    m = np.sum(pmf * y)
    return float(np.sqrt(np.sum(pmf * (y - m) ** 2)))


def _expected_gauss_std(level: float, sigma: float) -> float:
    # Exact distribution of the 8-bit output: integrate the Gaussian over each code's bin.
    k = np.arange(256)
    lo = np.where(k == 0, -np.inf, (k - 0.5) / 255)
    hi = np.where(k == 255, np.inf, (k + 0.5) / 255)
    pmf = norm.cdf(hi, level, sigma) - norm.cdf(lo, level, sigma)
    return _quantised_std(level, k / 255, pmf)


def test_flat_field_std_matches_sigma_raw_within_3_percent():
    levels = np.round(np.linspace(0.05, 0.95, 10) * 255).astype(np.uint8)
    for sigma_s, sigma_c in ((0.08, 0.02), (0.16, 0.06), (0.02, 0.005)):
        p = dataclasses.replace(LINEAR, sigma_s=(sigma_s,) * 3, sigma_c=(sigma_c,) * 3)
        for k in levels:
            img = np.full((256, 256, 3), k, np.uint8)
            s = ng.synthesize(img, p, seed=int(k))
            resid = (s.noisy.astype(np.float64) - img) / 255
            sig = float(s.sigma_raw[0, 0, 0])
            assert sig == pytest.approx(np.sqrt(k / 255 * sigma_s**2 + sigma_c**2), rel=1e-5)
            expected = _expected_gauss_std(k / 255, sig)
            for ch in range(3):
                assert resid[:, :, ch].std() == pytest.approx(expected, rel=0.03), (sigma_s, sigma_c, k, ch)
            if sig > 0.01 and 3 * sig < min(k / 255, 1 - k / 255):  # no clipping: only quantisation
                assert resid.std() == pytest.approx(np.sqrt(sig**2 + 1 / (12 * 255**2)), rel=0.03)


def test_flat_field_poisson_variance_law():
    lam = 40.0
    p = dataclasses.replace(LINEAR, noise_model="poisson", sigma_s=(lam**-0.5,) * 3, sigma_c=(0.0,) * 3)
    for k in np.round(np.linspace(0.05, 0.95, 10) * 255).astype(np.uint8):
        img = np.full((256, 256, 3), k, np.uint8)
        s = ng.synthesize(img, p, seed=int(k))
        resid = (s.noisy.astype(np.float64) - img) / 255
        counts = np.arange(0, int(lam * 3) + 60)
        expected = _quantised_std(k / 255, counts / lam, poisson.pmf(counts, lam * k / 255))
        assert float(s.sigma_raw[0, 0, 0]) ** 2 == pytest.approx(k / 255 / lam, rel=1e-5)
        assert resid.std() == pytest.approx(expected, rel=0.03)


def test_mosaic_noise_is_one_draw_per_pixel():
    # With a mosaic, each pixel is sampled once: at sampled sites the demosaiced value of the
    # sampled channel is the noisy value itself (bilinear keeps samples), others interpolate.
    img = np.full((64, 64, 3), 128, np.uint8)
    p = dataclasses.replace(LINEAR, pattern="RGGB", demosaic="bilinear")
    s = ng.synthesize(img, p, seed=0)
    resid = (s.noisy.astype(np.float64) - img) / 255
    sampled = resid[2:-2:2, 2:-2:2, 0].std()
    interpolated = resid[3:-2:2, 3:-2:2, 0].std()  # R at B sites: mean of 4 independent draws
    assert np.abs(resid).max() < 0.5  # no border artefacts of a phase-breaking border rule
    assert sampled == pytest.approx(float(s.sigma_raw[0, 0, 0]), rel=0.1)
    assert interpolated == pytest.approx(sampled / 2, rel=0.15)


def test_bad_inputs(photo_u8):
    with pytest.raises(TypeError, match="uint8"):
        ng.synthesize(photo_u8 / 255.0, LINEAR)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        ng.synthesize(photo_u8[:, :, 0], LINEAR)
    with pytest.raises(ValueError, match="empty"):
        ng.synthesize(np.zeros((0, 5, 3), np.uint8), LINEAR)
    with pytest.raises(TypeError, match="SampleParams"):
        ng.synthesize(photo_u8, {"sigma_s": 0.1})
    with pytest.raises(KeyError, match="sRGBB"):
        ng.synthesize(photo_u8, dataclasses.replace(LINEAR, crf="sRGBB"))
    with pytest.raises(ValueError, match="seed"):
        ng.synthesize(photo_u8, LINEAR, seed=-1)
    with pytest.raises(TypeError, match="Generator"):
        ng.synthesize(photo_u8, LINEAR, seed=np.random.default_rng(0))


def test_render_kernel_vs_numpy(rng):
    from noisegen.isp.pipeline import render_u8

    L = rng.uniform(-0.1, 1.1, size=(37, 53, 3)).astype(np.float32)  # out-of-range values clip
    for name in ("sRGB", "gamma-2.2", "linear"):
        crf = load_bank("default").get(name)
        grid = np.linspace(0, 1, crf.forward_lut.size)
        ref = np.round(np.interp(np.clip(L, 0, 1), grid, crf.forward_lut.astype(np.float64)) * 255)
        out = render_u8(L, crf)
        assert out.dtype == np.uint8 and out.shape == L.shape
        diff = np.abs(out.astype(int) - ref)
        assert diff.max() <= 1 and np.mean(diff) < 1e-3  # float32 vs float64 ties only


# ------------------------------------------------------------------------------------------------
# The rendered clean target


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG", None])
@pytest.mark.parametrize("demosaic", ["malvar", "bilinear"])
@pytest.mark.parametrize("colour", ["plain", "poisson", "unprocess"])
def test_render_target_equals_zero_noise_output_bit_for_bit(photo_u8, pattern, demosaic, colour):
    if colour == "unprocess":
        base = ng.sample_params(ng.get_profile("unprocess"), np.random.default_rng(2))
    else:
        base = dataclasses.replace(LINEAR, crf="sRGB", noise_model="gaussian" if colour == "plain" else "poisson")
    p = dataclasses.replace(base, pattern=pattern, demosaic=demosaic, jpeg_quality=None,
                            sigma_s=(0.0,) * 3, sigma_c=(0.0,) * 3)
    s = ng.synthesize(photo_u8, p, seed=5, clean_target="render")
    assert np.array_equal(s.noisy, s.clean)


def test_render_target_changes_the_clean_member_only(photo_u8):
    p = dataclasses.replace(LINEAR, crf="sRGB", pattern="GRBG", jpeg_quality=90)
    a = ng.synthesize(photo_u8, p, seed=[1, 2])
    b = ng.synthesize(photo_u8, p, seed=[1, 2], clean_target="render")
    assert np.array_equal(a.noisy, b.noisy) and np.array_equal(a.sigma_raw, b.sigma_raw)
    assert np.array_equal(a.clean, photo_u8) and not np.array_equal(b.clean, photo_u8)
    # the render is closer to the noisy output than the source is: demosaicing error is not noise
    err = [np.mean((x.astype(float) - a.noisy) ** 2) for x in (a.clean, b.clean)]
    assert err[1] < err[0]
    with pytest.raises(ValueError, match="clean_target"):
        ng.synthesize(photo_u8, p, clean_target="gt")


def test_render_target_matches_colour_demosaicing_away_from_the_border():
    # Oracle: colour-demosaicing's Bayer mosaic and Malvar (2004) demosaic of the linear image,
    # quantised to 8 bits; our borders mirror about the edge pixel, so compare the interior.
    cd = pytest.importorskip("colour_demosaicing")
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:48, 0:64]
    img = np.stack([128 + 100 * np.sin(xx / 3.0), 128 + 100 * np.cos(yy / 4.0), 40 + xx + yy], axis=-1)
    img = np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8)
    p = dataclasses.replace(LINEAR, pattern="RGGB", demosaic="malvar", sigma_s=(0.0,) * 3, sigma_c=(0.0,) * 3)
    render = ng.synthesize(img, p, clean_target="render").clean
    cfa = cd.mosaicing_CFA_Bayer(img.astype(np.float64) / 255.0, "RGGB")
    ref = np.clip(np.round(np.clip(cd.demosaicing_CFA_Bayer_Malvar2004(cfa, "RGGB"), 0, 1) * 255), 0, 255)
    diff = np.abs(render[4:-4, 4:-4].astype(int) - ref[4:-4, 4:-4].astype(int))
    assert diff.max() <= 1
