"""noisegen.analysis.nlf / nlf_model / nlf_fit: known values, numba == numpy references, the exact model, the fit."""

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.special import ndtr

import noisegen as ng
from noisegen.analysis.calibrate.model_nlf import (
    binned_model_std,
    code_moments,
    code_thresholds,
    code_variance,
    demosaic_gains,
)
from noisegen.analysis.calibrate.sigma_fit import fit_sigma
from noisegen.analysis.nlf import (
    LAGS,
    NoiseStats,
    accumulate,
    autocorrelation,
    cross_correlation,
    image_stats,
    merge,
    nlf_from_stats,
    psnr,
    raw_nlf_from_stats,
    summarize,
)
from noisegen.crf.bank import crf_inverse_u8
from noisegen.crf.io import load_bank
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.samples import sample_photo_paths

# The plain-numpy reference of image_stats is shared with benchmarks/bench_stats.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from numpy_nlf import image_stats_numpy  # noqa: E402

LAG = {n: i for i, (n, _, _) in enumerate(LAGS)}


def code_moments_dense(crf, sigma_s, sigma_c, gains=None):
    """Plain-numpy reference of code_moments: all 256×256 code probabilities, no band."""
    s2 = np.broadcast_to(np.asarray(sigma_s, float), (3,)) ** 2
    c2 = np.broadcast_to(np.asarray(sigma_c, float), (3,)) ** 2
    g = np.ones((1, 3)) if gains is None else np.asarray(gains, float).reshape(-1, 3)
    L, t, k, j = crf.inverse_u8.astype(np.float64), code_thresholds(crf), np.arange(256), np.arange(256.0)
    mean, second = np.zeros((3, 256)), np.zeros((3, 256))
    for c in range(3):
        for p in range(g.shape[0]):
            s = np.sqrt(g[p, c] * (np.maximum(L, 0) * s2[c] + c2[c]))
            with np.errstate(divide="ignore", invalid="ignore"):
                cdf = ndtr((t[None, :] - L[:, None]) / s[:, None])
            prob = np.diff(cdf, prepend=0.0, append=1.0, axis=1)
            d = (j[None, :] - k[:, None]) / 255.0
            mean[c] += (prob * d).sum(1) / g.shape[0]
            second[c] += (prob * d * d).sum(1) / g.shape[0]
    return mean, np.maximum(second - mean**2, 0)


def _noisy(clean, noise):
    return np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def photos():
    """Crops of the photos bundled with scikit-image (no network, no shared data)."""
    out = []
    for p in sample_photo_paths()[:4]:
        img, _ = read_rgb8(p)
        out.append(np.ascontiguousarray(img[40:240, 60:300]))  # 200×240
    return out


# --- image_stats ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(37, 53), (64, 64), (5, 3)])
def test_numba_matches_numpy_reference(shape):
    rng = np.random.default_rng(3)
    clean = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    noisy = _noisy(clean, rng.normal(0, 9, clean.shape))
    a, b = image_stats(clean, noisy), image_stats_numpy(clean, noisy)
    for name in ("level_n", "level_clip", "level_sum", "level_sum2", "lag_xy", "lag_xx", "lag_yy", "cross_xy",
                 "cross_xx", "cross_yy"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-10, atol=1e-13, err_msg=name)
    assert a.psnr == pytest.approx(b.psnr, rel=1e-12)


def test_known_values_psnr_and_constant_offset():
    clean = np.full((20, 30, 3), 100, np.uint8)
    noisy = clean + np.uint8(1)
    assert psnr(clean, noisy) == pytest.approx(20 * math.log10(255.0), abs=1e-9)
    assert psnr(clean, clean) == math.inf
    st = image_stats(clean, noisy)
    assert st.level_n[:, 100].tolist() == [600] * 3 and st.level_n.sum() == 1800
    np.testing.assert_allclose(st.level_sum[:, 100], 600 / 255.0)
    curve = nlf_from_stats(st, bins=16, min_count=100)
    np.testing.assert_allclose(curve.std[:, 100 * 16 // 256], 0.0, atol=1e-12)  # a constant offset is no noise


def test_pooled_within_code_std_ignores_mean_shifts():
    rng = np.random.default_rng(5)
    clean = np.repeat(np.arange(64, 80, dtype=np.uint8), 4000).reshape(400, 160, 1).repeat(3, axis=2)
    shift = (clean.astype(float) - 64) * 0.8  # the mean residual changes with the code inside one bin
    noisy = _noisy(clean, shift + rng.normal(0, 4.0, clean.shape))
    curve = nlf_from_stats(image_stats(clean, noisy), bins=16, min_count=1000)
    b = 64 * 16 // 256
    assert curve.valid[:, b].all()
    sheppard = math.sqrt(4.0**2 + 1 / 12)  # rounding to 8 bits adds 1/12 code²
    np.testing.assert_allclose(curve.std[:, b] * 255, sheppard, rtol=0.02)
    np.testing.assert_allclose(curve.std_q[:, b] * 255, 4.0, rtol=0.02)
    plain = (noisy.astype(float) - clean).std() / 255
    assert plain > 1.3 * curve.std[0, b]  # a plain std would count the shifts as noise


def test_autocorrelation_and_cross_correlation_known_values():
    rng = np.random.default_rng(7)
    h, w = 300, 301
    clean = np.full((h, w, 3), 128, np.uint8)
    n = rng.normal(0, 5, (h, w + 1, 3))
    noise = n[:, 1:] + n[:, :-1]          # MA(1) along rows: ρ_h1 = 0.5, every other lag 0
    noise[:, :, 1] = noise[:, :, 0]        # G = R: ρ_RG = 1
    st = image_stats(clean, _noisy(clean, noise))
    ac, cc = autocorrelation(st), cross_correlation(st)
    np.testing.assert_allclose(ac[:, LAG["h1"]], 0.5, atol=0.02)
    np.testing.assert_allclose(ac[:, [LAG["v1"], LAG["h2"], LAG["v2"], LAG["d1"]]], 0.0, atol=0.02)
    assert cc[0] == pytest.approx(1.0, abs=0.01) and abs(cc[1]) < 0.02 and abs(cc[2]) < 0.02


def test_white_noise_through_a_curve_with_clipping_is_uncorrelated():
    # dark codes clip: centring on the unclipped mean of each code keeps the correlations at zero
    rng = np.random.default_rng(11)
    clean = rng.integers(1, 60, (200, 200, 3)).astype(np.uint8)
    st = image_stats(clean, _noisy(clean, rng.normal(0, 12, clean.shape)))
    assert np.abs(autocorrelation(st)).max() < 0.02 and np.abs(cross_correlation(st)).max() < 0.02
    assert nlf_from_stats(st, bins=8, min_count=100).clip[0, 0] > 0.1


def test_merge_and_accumulate_add_up():
    rng = np.random.default_rng(2)
    parts = []
    for _ in range(3):
        c = rng.integers(0, 256, (20, 25, 3), dtype=np.uint8)
        parts.append(image_stats(c, _noisy(c, rng.normal(0, 3, c.shape))))
    total = merge(parts)
    acc = NoiseStats()
    for p in reversed(parts):
        accumulate(acc, p)
    assert total.n_images == 3 == acc.n_images and len(total.psnr) == 3
    np.testing.assert_allclose(total.level_sum2, sum(p.level_sum2 for p in parts))
    np.testing.assert_allclose(acc.lag_xy, total.lag_xy)
    assert merge([]).n_images == 0


def test_summary_is_json_and_has_every_statistic():
    rng = np.random.default_rng(4)
    c = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    s = summarize(image_stats(c, _noisy(c, rng.normal(0, 3, c.shape))), min_count=50)
    text = json.dumps(s, allow_nan=False)
    assert {"nlf", "nlf_at", "autocorrelation", "cross_correlation", "psnr_mean", "lag1", "lag2"} <= set(s)
    assert set(s["autocorrelation"]) == {"h1", "v1", "h2", "v2", "d1"} and "NaN" not in text


def test_raw_nlf_from_sigma_maps_is_exact_for_fixed_parameters(photos):
    params = ng.SampleParams(sigma_s=(0.08,) * 3, sigma_c=(0.02,) * 3, crf="sRGB")
    crf = load_bank().get("sRGB")
    st = NoiseStats()
    for i, img in enumerate(photos):
        s = ng.synthesize(img, params, seed=i)
        accumulate(st, image_stats(s.clean, s.noisy, s.sigma_raw, crf_inverse_u8(img, crf)))
    raw = raw_nlf_from_stats(st)
    ok = raw.valid
    np.testing.assert_allclose(raw.std[ok], np.sqrt(raw.x[ok] * 0.08**2 + 0.02**2), rtol=1e-5)


def test_bad_inputs():
    a = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(TypeError, match="uint8"):
        image_stats(a.astype(np.float32), a)
    with pytest.raises(ValueError, match="differ in shape"):
        image_stats(a, np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        image_stats(a[:, :, 0], a[:, :, 0])
    with pytest.raises(ValueError, match="go together"):
        image_stats(a, a, sigma=np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="bins"):
        nlf_from_stats(image_stats(a, a), bins=0)


# --- the exact model -----------------------------------------------------------------------------


@pytest.mark.parametrize("curve", ["sRGB", "linear", "gamma-2.6", "brooks-smoothstep-gamma2.2"])
def test_code_moments_match_the_dense_reference_and_the_table(curve):
    crf = load_bank().get(curve)
    for s, c, g in [(0.06, 0.015, None), (0.001, 0.0003, None), ((0.1, 0.05, 0.02), (0.0, 0.01, 0.03),
                                                                  demosaic_gains("RGGB"))]:
        m1, v1 = code_moments(crf, s, c, g)
        m2, v2 = code_moments_dense(crf, s, c, g)
        np.testing.assert_allclose(m1, m2, atol=1e-12)
        np.testing.assert_allclose(v1, v2, atol=1e-15)  # the ±7σ band leaves tails under 1e-12
        ok = v1 > (0.2 / 255) ** 2
        np.testing.assert_allclose(np.sqrt(code_variance(crf, s, c, g)[ok]), np.sqrt(v1[ok]), rtol=0.008)
    m, _ = code_moments(crf, 0.06, 0.015, codes=np.array([3, 100, 200]))
    np.testing.assert_allclose(m, code_moments(crf, 0.06, 0.015)[0][:, [3, 100, 200]])


def test_model_predicts_the_simulated_nlf_including_clipping(photos):
    # no mosaic, no JPEG: the model is exact, so only sampling noise separates them
    for curve in ("sRGB", "gamma-2.2"):
        params = ng.SampleParams(sigma_s=(0.08,) * 3, sigma_c=(0.02,) * 3, crf=curve)
        st = merge(image_stats(img, ng.synthesize(img, params, seed=i).noisy) for i, img in enumerate(photos))
        measured = nlf_from_stats(st, bins=16, min_count=3000, max_clip=1.0)  # clipped bins too
        _, var = code_moments(load_bank().get(curve), 0.08, 0.02)
        model = binned_model_std(var, st.level_n, 16)
        ok = measured.valid
        assert ok.sum() >= 30
        np.testing.assert_allclose(measured.std[ok], model[ok], rtol=0.03)


def test_demosaic_gains_known_values():
    g = demosaic_gains("RGGB", "malvar")
    # sampled channel at its own site: weight 1; G at a red site (Malvar et al. 2004, Fig. 2):
    # centre 4/8, four G neighbours 2/8, four R at distance 2 −1/8 → 1/4 + 1/4 + 1/16
    assert g[0, 0] == pytest.approx(1.0) and g[3, 2] == pytest.approx(1.0) and g[1, 1] == pytest.approx(1.0)
    assert g[0, 1] == pytest.approx(0.5625)
    b = demosaic_gains("RGGB", "bilinear")
    assert b[0, 1] == pytest.approx(4 * (1 / 4) ** 2)  # mean of four G neighbours
    with pytest.raises(ValueError):
        demosaic_gains(None)


# --- the fit -------------------------------------------------------------------------------------


@pytest.mark.parametrize("scaled", [False, True])
def test_fit_recovers_parameters_from_a_model_nlf(scaled):
    crf = load_bank().get("gamma-2.2")
    counts = np.full((3, 256), 5000)
    a = np.array([1.3, 1.0, 1.5]) if scaled else np.ones(3)
    _, var = code_moments(crf, 0.05 * a, 0.012 * a)
    st = NoiseStats(level_n=counts.astype(np.int64), level_sum=np.zeros((3, 256)), level_sum2=var * (counts - 1))
    target = nlf_from_stats(st, bins=16, min_count=100, max_clip=1.0)
    f = fit_sigma(crf, target, counts, channel_scale=scaled)
    assert f.sigma_s == pytest.approx(0.05, rel=0.01) and f.sigma_c == pytest.approx(0.012, rel=0.02)
    np.testing.assert_allclose(f.scale, a, rtol=0.01)
    assert f.loss < 1e-5
