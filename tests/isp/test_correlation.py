"""Correlated raw noise (noisegen.isp.correlation, correlated_noise) and its fit
(noisegen.analysis.calibrate.correlation_fit): exact correlations against scipy, the field against a scipy
reference, target correlations reproduced on flat fields (measured by noisegen.analysis.nlf), the variance
law and the σ map unchanged, JSON round trips and bad inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.ndimage import correlate
from scipy.signal import correlate2d

import noisegen as ng
from noisegen.analysis.calibrate.correlation_fit import LAG_OFFSETS, fit_correlation
from noisegen.analysis.nlf import autocorrelation, cross_correlation, image_stats
from noisegen.isp.correlated_noise import add_correlated_noise, correlated_normal, correlated_normal_numpy
from noisegen.isp.correlation import corr_kernels, field_correlation, mix_matrix
from noisegen.isp.noise import standard_normal
from noisegen.isp.params import SampleParams
from noisegen.isp.raw_sigma import derive_sigma

Q = [1.0, 0.6, 0.2, 0.5, 0.3, 0.1, 0.15, 0.05, 0.0]           # a quadrant: stronger along rows
MIX = [1.0, 0.4, 0.1, 0.3, 1.0, 0.3, 0.1, 0.4, 1.0]


def _params(**kw) -> SampleParams:
    base = dict(crf="linear", sigma_s=(0.0,) * 3, sigma_c=(0.05,) * 3, pattern=None,
                noise_corr=Q + Q[::-1] + Q, noise_mix=MIX)
    return SampleParams(**{**base, **kw})


def test_field_correlation_is_the_kernels_autocorrelation_mixed():
    rng = np.random.default_rng(0)
    corr, mix = rng.normal(0, 0.5, 27), np.eye(3) + 0.3 * rng.random((3, 3))
    lags = np.array([[dy, dx] for dy in range(-4, 5) for dx in range(-4, 5)])
    auto, cross = field_correlation(corr, mix.ravel(), lags)
    k, m = corr_kernels(corr), mix_matrix(mix.ravel())
    a = np.stack([correlate2d(k[c], k[c], mode="full")[lags[:, 0] + 4, lags[:, 1] + 4] for c in range(3)])
    np.testing.assert_allclose(auto, (m * m) @ a, atol=1e-12)
    mm = m @ m.T
    np.testing.assert_allclose(cross, [mm[0, 1], mm[0, 2], mm[1, 2]], atol=1e-12)
    assert np.allclose(a[:, lags.tolist().index([0, 0])], 1.0) and np.allclose(np.diag(mm), 1.0)
    off, cross0 = field_correlation(None, None, LAG_OFFSETS)
    assert np.abs(off).max() < 1e-12 and np.all(cross0 == 0)


@pytest.mark.parametrize("shape", [(40, 57), (9, 7), (1, 1)])
def test_field_equals_a_scipy_reference(shape):
    corr, mix = Q + Q[::-1] + Q, MIX
    z = correlated_normal(np.random.default_rng(3), shape, corr, mix)
    white = standard_normal(np.random.default_rng(3), (shape[0] + 4, shape[1] + 4, 3), np.float64)
    k = corr_kernels(corr)
    y = np.stack([correlate(white[:, :, c], k[c], mode="constant")[2:-2, 2:-2] for c in range(3)], axis=-1)
    assert z.dtype == np.float32 and z.shape == (*shape, 3)
    np.testing.assert_allclose(z, y @ mix_matrix(mix).T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(z, correlated_normal_numpy(np.random.default_rng(3), shape, corr, mix), atol=1e-6)
    assert np.array_equal(z, correlated_normal(np.random.default_rng(3), shape, corr, mix))


def _flat_stats(params: SampleParams, size: int = 512, seed: int = 1, level: int = 128):
    clean = np.full((size, size, 3), level, np.uint8)
    s = ng.synthesize(clean, params, seed=seed)
    return s, image_stats(clean, s.noisy)


@pytest.mark.parametrize("case", ["known", "camera-like", "weak"])
def test_fitted_term_reproduces_target_correlations_on_flat_fields(case):
    """The correlation term fitted to a target reproduces it within 0.03 at lags 1-2 per channel and
    between channels, as measured on a flat field by the statistics `noisegen calibrate` uses."""
    if case == "known":
        auto, cross = field_correlation(Q + Q[::-1] + Q, MIX, LAG_OFFSETS)
    elif case == "camera-like":   # CC60's Nikon D800 ISO 3200 residuals (h1, v1, h2, v2, d1)
        auto = np.array([[0.76, 0.75, 0.46, 0.42, 0.6], [0.62, 0.62, 0.2, 0.19, 0.39], [0.78, 0.74, 0.49, 0.42, 0.61]])
        cross = np.array([0.39, 0.40, 0.30])
    else:
        auto, cross = np.array([[0.3, 0.2, 0.05, 0.0, 0.1]] * 3), np.array([0.8, 0.7, 0.8])
    fit = fit_correlation(auto, cross)
    assert fit.auto_err < 0.01 and fit.cross_err < 0.01
    _, st = _flat_stats(_params(noise_corr=fit.noise_corr, noise_mix=fit.noise_mix))
    assert np.abs(autocorrelation(st) - auto).max() < 0.03
    assert np.abs(cross_correlation(st) - cross).max() < 0.03


@pytest.mark.parametrize("level,sigma_s,sigma_c", [(70, 0.0, 0.04), (128, 0.1, 0.02), (210, 0.03, 0.01)])
def test_variance_law_holds_with_the_term_on(level, sigma_s, sigma_c):
    """Var(noise) = L·σ_s² + σ_c² to 1%: in the raw domain, and through the pipeline (linear curve, no mosaic)
    after the 8-bit rounding variance is removed."""
    L = np.full((1024, 1024, 3), level / 255.0, np.float32)
    raw = add_correlated_noise(L, (sigma_s,) * 3, (sigma_c,) * 3, np.random.default_rng(2), Q + Q[::-1] + Q, MIX)
    want = level / 255.0 * sigma_s**2 + sigma_c**2
    np.testing.assert_allclose((raw.noisy - L).astype(np.float64).var(axis=(0, 1)), want, rtol=0.01)
    np.testing.assert_allclose(raw.sigma_raw, np.sqrt(want), rtol=1e-6)
    s, _ = _flat_stats(_params(sigma_s=(sigma_s,) * 3, sigma_c=(sigma_c,) * 3), size=1024, seed=4, level=level)
    resid = (s.noisy.astype(np.float64) - level) / 255.0
    assert (s.noisy > 0).all() and (s.noisy < 255).all()   # no clipping at these levels
    np.testing.assert_allclose(resid.var(axis=(0, 1)) - (1 / 255.0) ** 2 / 12, want, rtol=0.01)


@pytest.mark.parametrize("pattern", [None, "RGGB", "GBRG"])
def test_sigma_map_and_derived_sigma_stay_exact(pattern):
    clean = np.ascontiguousarray(np.random.default_rng(5).integers(0, 256, (37, 50, 3), dtype=np.uint8))
    p = _params(crf="sRGB", sigma_s=(0.06, 0.05, 0.07), sigma_c=(0.01, 0.008, 0.012), pattern=pattern,
                nr_flat_gain=0.6 if pattern == "GBRG" else 1.0)
    s = ng.synthesize(clean, p, seed=9)
    white = ng.synthesize(clean, dataclasses.replace(p, noise_corr=None, noise_mix=None), seed=9)
    np.testing.assert_array_equal(s.sigma_raw, white.sigma_raw)
    np.testing.assert_allclose(s.sigma_raw, derive_sigma(clean, p.to_dict()), atol=1e-6)
    assert not np.array_equal(s.noisy, white.noisy)


def test_json_round_trip_and_off_fields_are_not_written():
    p = _params(sharpen_amount=0.5, sharpen_radius=0.8)
    d = p.to_dict()
    assert SampleParams.from_json(p.to_json()) == p and len(d["noise_corr"]) == 27 and len(d["noise_mix"]) == 9
    off = SampleParams()
    assert not {"noise_corr", "noise_mix", "sharpen_amount", "sharpen_radius"} & set(off.to_dict())
    assert SampleParams.from_dict(off.to_dict()) == off


@pytest.mark.parametrize("bad,match", [
    (dict(noise_corr=[1.0] * 26), "27"),
    (dict(noise_corr=[0.0] * 9 + [1.0] * 18), "non-zero"),
    (dict(noise_corr=[float("nan")] * 27), "finite"),
    (dict(noise_mix=[1, 0, 0, 1, 0, 0, 0, 0, 1]), "independent"),
    (dict(noise_mix=[1, 0, 0, 0, 0, 0, 0, 0, 1]), "independent"),
    (dict(noise_model="poisson", sigma_s=(0.1,) * 3), "gaussian"),
])
def test_bad_correlation_parameters_are_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        _params(**bad)


def test_profile_fields_reach_every_sample_and_stay_out_of_paper_profiles():
    prof = dataclasses.replace(ng.get_profile("cbdnet"), name="corr", noise_corr=tuple(Q * 3), noise_mix=tuple(MIX))
    p = ng.sample_params(prof, np.random.default_rng(0))
    assert p.noise_corr == tuple(Q * 3) and p.noise_mix == tuple(float(v) for v in MIX)
    assert ng.CameraProfile.from_dict(prof.to_dict()) == prof
    for name in ("cbdnet", "unprocess"):
        assert "noise_corr" not in ng.get_profile(name).to_dict()
        assert ng.sample_params(ng.get_profile(name), np.random.default_rng(1)).noise_corr is None
    with pytest.raises(ValueError, match="gaussian"):
        dataclasses.replace(ng.get_profile("poisson"), noise_corr=tuple(Q * 3))
