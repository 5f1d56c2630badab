"""Noise models: kernels vs numpy, σ maps, statistics on flat fields, Brooks' sampling law."""

import math

import numpy as np
import pytest
from scipy import stats

from noisegen.isp.bayer import BayerPattern
from noisegen.isp.noise import (
    BROOKS_LOG_SHOT,
    add_raw_noise,
    add_raw_noise_u8,
    awgn,
    poisson,
    poisson_gaussian,
    sample_brooks_shot_read,
    sigma_raw,
    standard_normal,
)
from noisegen.isp.noise_level import noise_variance, sigma_raw_reference
from noisegen.kernels.gauss import ZIG_F, ZIG_X, _gauss_cfa, _gauss_rgb, _sigma_raw_kernel, _standard_normal


def _ref_sigma(L, s, c):
    return np.sqrt(np.maximum(L.astype(np.float64), 0) * np.asarray(s) ** 2 + np.asarray(c) ** 2)


def _ref_ziggurat(words, count):
    """Plain-Python reference of the kernel's ziggurat, word by word (Marsaglia & Tsang 2000)."""
    x, f = ZIG_X, ZIG_F
    out, pos = [], 0

    def uni(w):
        return ((int(w) >> 11) + 0.5) * 2.0**-53

    while len(out) < count:
        w = int(words[pos])
        pos += 1
        i, neg, u = w & 0xFF, (w >> 8) & 1, (w >> 11) * 2.0**-53
        z = u * x[i]
        if z < x[i + 1]:
            out.append(-z if neg else z)
        elif i == 0:
            while True:
                a = -math.log(uni(words[pos])) / x[1]
                b = -math.log(uni(words[pos + 1]))
                pos += 2
                if 2 * b >= a * a:
                    out.append(-(x[1] + a) if neg else x[1] + a)
                    break
        else:
            y = f[i] + uni(words[pos]) * (f[i + 1] - f[i])
            pos += 1
            if y < math.exp(-0.5 * z * z):
                out.append(-z if neg else z)
    return np.array(out), pos


def test_ziggurat_kernel_vs_reference():
    words = np.random.default_rng(8).bit_generator.random_raw(40000)
    out = np.empty(30000, np.float64)
    used = _standard_normal(words, ZIG_X, ZIG_F, out)
    ref, ref_used = _ref_ziggurat(words, 30000)
    assert used == ref_used and np.array_equal(out, ref)
    assert _standard_normal(words[:100], ZIG_X, ZIG_F, np.empty(200)) == -1  # runs out: reported


def test_ziggurat_is_standard_normal():
    z = standard_normal(np.random.default_rng(9), 2_000_000, np.float64)
    assert abs(z.mean()) < 4 / math.sqrt(z.size)
    assert z.var() == pytest.approx(1.0, abs=0.004)
    assert abs(stats.skew(z)) < 0.01 and abs(stats.kurtosis(z)) < 0.02
    assert stats.kstest(z, "norm").pvalue > 1e-3
    # Tails: beyond the base layer's edge r = 3.654 only the exact tail algorithm is used.
    for t in (2.0, 3.0, ZIG_X[1], 4.0):
        expected = 2 * stats.norm.sf(t) * z.size
        assert np.sum(np.abs(z) > t) == pytest.approx(expected, rel=4 / math.sqrt(expected) + 0.01)
    # Fine histogram (wedges live between layer edges) against the exact bin probabilities.
    edges = np.linspace(-4, 4, 161)
    counts, _ = np.histogram(z, edges)
    p = np.diff(stats.norm.cdf(edges))
    chi2 = np.sum((counts - p * z.size) ** 2 / (p * z.size))
    assert stats.chi2.sf(chi2, len(counts) - 1) > 1e-4
    a = standard_normal(np.random.default_rng(5), (7, 9))
    assert a.shape == (7, 9) and a.dtype == np.float32
    assert np.array_equal(a, standard_normal(np.random.default_rng(5), (7, 9)))


def test_sigma_kernel_vs_numpy(rng):
    L = rng.uniform(-0.05, 1.0, size=(37, 53, 3)).astype(np.float32)  # negatives count as 0
    s, c = np.array([0.05, 0.1, 0.15]), np.array([0.01, 0.02, 0.03])
    out = np.empty_like(L)
    _sigma_raw_kernel(L, s * s, c * c, out)
    assert np.abs(out - _ref_sigma(L, s, c)).max() <= 1e-7
    assert np.abs(sigma_raw(L, s, c) - _ref_sigma(L, s, c)).max() <= 1e-7
    # the numba kernel (the pipeline's) and the numpy reference (the reader's) give the same float32 map
    ref = sigma_raw_reference(L, s, c)
    assert ref.dtype == np.float32 and np.array_equal(out, ref)
    np.testing.assert_allclose(noise_variance(L, s, c), _ref_sigma(L, s, c) ** 2, rtol=1e-12)
    # known values: σ(0) = σ_c, σ(1) = sqrt(σ_s² + σ_c²), scalars act on every channel
    assert np.allclose(sigma_raw_reference(np.zeros((1, 1, 3)), 0.1, 0.02), 0.02)
    assert np.allclose(sigma_raw_reference(np.ones((1, 1, 3)), 0.3, 0.4), 0.5)


def _normals(shape, seed=3):
    return standard_normal(np.random.default_rng(seed), shape)


def test_gauss_rgb_kernel_vs_numpy(rng):
    L = rng.random((37, 53, 3), dtype=np.float32)
    z = _normals(L.shape)
    s, c = np.array([0.08, 0.09, 0.1]), np.array([0.02, 0.01, 0.03])
    noisy, sig = np.empty_like(L), np.empty_like(L)
    _gauss_rgb(L, z, s * s, c * c, noisy, sig)
    ref_sig = _ref_sigma(L, s, c)
    assert np.abs(sig - ref_sig).max() <= 1e-7
    assert np.abs(noisy - (L + ref_sig * z)).max() <= 1e-6


@pytest.mark.parametrize("pattern", list(BayerPattern))
def test_gauss_cfa_kernels_vs_numpy(rng, pattern):
    img = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    lin = np.linspace(0, 1, 256, dtype=np.float32) ** 2.2
    L = lin[img]
    z = _normals((37, 53))
    s, c = np.array([0.08, 0.09, 0.1]), np.array([0.02, 0.01, 0.03])
    noisy, sig = np.empty((37, 53), np.float32), np.empty_like(L)
    _gauss_cfa(L, z, pattern.cfa, s * s, c * c, noisy, sig)
    ch = pattern.cfa[np.arange(37)[:, None] % 2, np.arange(53)[None, :] % 2]
    Lm = np.take_along_axis(L, ch[..., None], axis=2)[..., 0]
    ref_sig = _ref_sigma(L, s, c)
    sm = np.take_along_axis(ref_sig, ch[..., None], axis=2)[..., 0]
    assert np.abs(sig - ref_sig).max() <= 1e-7
    assert np.abs(noisy - (Lm + sm * z)).max() <= 1e-6
    # The fused 8-bit path gives exactly the same bytes as the float path.
    for pat in (pattern, None):
        a = add_raw_noise_u8(img, lin, s, c, np.random.default_rng(4), pattern=pat)
        b = add_raw_noise(L, s, c, np.random.default_rng(4), pattern=pat)
        assert np.array_equal(a.noisy, b.noisy) and np.array_equal(a.sigma_raw, b.sigma_raw)


def test_add_raw_noise_is_a_pure_function_of_the_generator(rng):
    L = rng.random((9, 11, 3), dtype=np.float32)
    a = add_raw_noise(L, 0.1, 0.02, np.random.default_rng(5), pattern="GRBG")
    b = add_raw_noise(L, 0.1, 0.02, np.random.default_rng(5), pattern="GRBG")
    c = add_raw_noise(L, 0.1, 0.02, np.random.default_rng(6), pattern="GRBG")
    assert a.noisy.shape == (9, 11) and a.sigma_raw.shape == (9, 11, 3)
    assert np.array_equal(a.noisy, b.noisy) and not np.array_equal(a.noisy, c.noisy)
    p = add_raw_noise(L, 0.1, 0.02, np.random.default_rng(5), model="poisson", pattern="RGGB")
    assert p.noisy.shape == (9, 11) and p.noisy.dtype == np.float32


def test_bad_noise_arguments(rng):
    L = rng.random((4, 4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="sigma_s"):
        add_raw_noise(L, -0.1, 0.0, rng)
    with pytest.raises(ValueError, match="model"):
        add_raw_noise(L, 0.1, 0.0, rng, model="laplace")
    with pytest.raises(TypeError, match="Generator"):
        add_raw_noise(L, 0.1, 0.0, 42)
    with pytest.raises(ValueError, match="NaN"):
        add_raw_noise(np.full((2, 2, 3), np.nan, np.float32), 0.1, 0.0, rng)
    with pytest.raises(ValueError, match="pattern|Bayer|RGGB"):
        add_raw_noise(L, 0.1, 0.0, rng, pattern="XYZW")
    with pytest.raises(ValueError, match="empty"):
        add_raw_noise(np.zeros((0, 4, 3), np.float32), 0.1, 0.0, rng)


def test_empirical_std_matches_sigma_on_flat_fields():
    rng = np.random.default_rng(0)
    for level in np.linspace(0.05, 0.95, 10):
        L = np.full((256, 256, 3), level, np.float32)
        r = add_raw_noise(L, (0.08, 0.1, 0.12), (0.02, 0.01, 0.03), rng)
        for ch in range(3):
            emp = (r.noisy[:, :, ch] - level).std()
            assert emp == pytest.approx(float(r.sigma_raw[0, 0, ch]), rel=0.02)


def test_poisson_variance_law():
    rng = np.random.default_rng(1)
    lam = 30.0
    for level in np.linspace(0.1, 0.9, 9):
        L = np.full((200, 200, 3), level, np.float32)
        r = poisson(L, lam, rng)
        assert r.noisy.var() == pytest.approx(level / lam, rel=0.03)
        assert float(r.sigma_raw[0, 0, 0]) ** 2 == pytest.approx(level / lam, rel=1e-5)
        # Poisson(λL)/λ takes values on the lattice k/λ.
        k = r.noisy[:50, :50] * lam
        assert np.abs(k - np.round(k)).max() <= 1e-4
    g = poisson_gaussian(np.full((200, 200, 3), 0.5, np.float32), 20.0, 0.05, rng)
    assert g.noisy.var() == pytest.approx(0.5 / 20 + 0.05**2, rel=0.03)
    a = awgn(np.full((200, 200, 3), 0.5, np.float32), 25 / 255, rng)
    assert a.noisy.std() == pytest.approx(25 / 255, rel=0.02)


def test_brooks_log_linear_relation():
    rng = np.random.default_rng(2)
    draws = np.array([sample_brooks_shot_read(rng) for _ in range(4000)])
    ls, lr = np.log(draws[:, 0]), np.log(draws[:, 1])
    assert ls.min() >= BROOKS_LOG_SHOT[0] and ls.max() <= BROOKS_LOG_SHOT[1]
    fit = stats.linregress(ls, lr)
    assert fit.slope == pytest.approx(2.18, abs=0.05)
    assert fit.intercept == pytest.approx(1.20, abs=0.25)
    assert np.std(lr - (2.18 * ls + 1.20)) == pytest.approx(0.26, rel=0.06)
    assert math.isclose(
        stats.kstest((ls - BROOKS_LOG_SHOT[0]) / (BROOKS_LOG_SHOT[1] - BROOKS_LOG_SHOT[0]), "uniform").pvalue > 1e-3,
        True,
    )
