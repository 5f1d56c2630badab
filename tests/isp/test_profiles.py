"""Profiles and per-sample parameters: JSON round trips, distributions, pinning, bad input."""

import dataclasses
import json
import math

import numpy as np
import pytest

import noisegen as ng
from noisegen.isp.profiles import BUILTIN_PROFILES, CBDNET_DEFAULT_CURVES, CameraProfile


@pytest.mark.parametrize("name", list(BUILTIN_PROFILES))
def test_params_json_round_trip_for_every_builtin(name):
    rng = np.random.default_rng(7)
    for _ in range(5):
        p = ng.sample_params(ng.get_profile(name), rng)
        assert ng.SampleParams.from_json(p.to_json()) == p
        prof = ng.get_profile(name)   # a mixture records the member that drew the sample
        assert p.camera == name if not prof.members else p.camera in {m.name for m in prof.members}


@pytest.mark.parametrize("name", list(BUILTIN_PROFILES))
def test_profile_json_round_trip(tmp_path, name):
    prof = ng.get_profile(name)
    path = tmp_path / f"{name}.json"
    ng.save_profile(prof, path)
    assert ng.load_profile(path) == prof
    assert ng.resolve_profile(str(path)) == prof


def test_design_example_replace():
    params = ng.sample_params(ng.get_profile("cbdnet"), np.random.default_rng(0))
    p2 = dataclasses.replace(
        params, sigma_s=(0.08,) * 3, sigma_c=(0.02,) * 3, crf="linear", pattern=None, jpeg_quality=None
    )
    assert p2.sigma_s == (0.08, 0.08, 0.08) and p2.pattern is None and p2.jpeg_quality is None


def test_cbdnet_distribution():
    rng = np.random.default_rng(11)
    ps = [ng.sample_params(ng.get_profile("cbdnet"), rng) for _ in range(2000)]
    s = np.array([p.sigma_s for p in ps])
    c = np.array([p.sigma_c for p in ps])
    assert s.min() >= 0 and s.max() < 0.16 and c.min() >= 0 and c.max() < 0.06
    assert np.mean(s) == pytest.approx(0.08, abs=0.004)
    assert not np.all(s[:, 0] == s[:, 1])  # drawn per channel
    none_share = np.mean([p.pattern is None for p in ps])
    assert none_share == pytest.approx(0.2, abs=0.03)
    assert {p.pattern for p in ps} == {None, "RGGB", "BGGR", "GRBG", "GBRG"}
    q = [p.jpeg_quality for p in ps if p.jpeg_quality is not None]
    assert min(q) >= 60 and max(q) <= 100 and len(q) == pytest.approx(1000, abs=80)
    assert {p.crf for p in ps} == set(CBDNET_DEFAULT_CURVES)  # uniform over the still-camera curves
    assert {p.demosaic for p in ps} == {"malvar"}


def test_unprocess_distribution():
    rng = np.random.default_rng(12)
    ps = [ng.sample_params(ng.get_profile("unprocess"), rng) for _ in range(500)]
    for p in ps:
        r, g, b = p.wb_gains
        assert 1.9 <= r / g <= 2.4 and 1.5 <= b / g <= 1.9
        m = np.reshape(p.rgb_to_camera, (3, 3))
        assert np.allclose(m.sum(axis=1), 1.0)
        shot, read = p.sigma_s[0] ** 2, p.sigma_c[0] ** 2
        assert 1e-4 <= shot <= 0.012 and read > 0
        assert p.pattern == "RGGB" and p.jpeg_quality is None
    digital = np.array([p.wb_gains[1] for p in ps])
    assert np.mean(1 / digital) == pytest.approx(0.8, abs=0.02)


def test_n2n_profiles():
    rng = np.random.default_rng(3)
    g25 = ng.sample_params(ng.get_profile("gauss25"), rng)
    assert g25.sigma_c == (25 / 255,) * 3 and g25.sigma_s == (0.0,) * 3 and g25.crf == "linear" and g25.pattern is None
    p30 = ng.sample_params(ng.get_profile("poisson30"), rng)
    assert p30.noise_model == "poisson" and p30.sigma_s[0] == pytest.approx(1 / math.sqrt(30))
    lam = [1 / ng.sample_params(ng.get_profile("poisson5_50"), rng).sigma_s[0] ** 2 for _ in range(300)]
    assert 5 - 1e-9 <= min(lam) and max(lam) <= 50 + 1e-9
    g = [ng.sample_params(ng.get_profile("gauss5_50"), rng).sigma_c[0] * 255 for _ in range(300)]
    assert 5 - 1e-9 <= min(g) and max(g) <= 50 + 1e-9


def test_fix_pins_every_parameter():
    prof = ng.fix(ng.get_profile("cbdnet"), sigma_s=0.08, sigma_c=0.02, crf="sRGB", pattern=None, jpeg_quality=None)
    rng = np.random.default_rng(0)
    for _ in range(20):
        p = ng.sample_params(prof, rng)
        assert p.sigma_s == (0.08,) * 3 and p.sigma_c == (0.02,) * 3
        assert p.crf == "sRGB" and p.pattern is None and p.jpeg_quality is None
    q = ng.sample_params(ng.fix(ng.get_profile("cbdnet"), jpeg_quality=70, pattern="BGGR"), rng)
    assert q.jpeg_quality == 70 and q.pattern == "BGGR"
    with pytest.raises(ValueError, match="together"):
        ng.fix(ng.get_profile("unprocess"), sigma_s=0.1)


def test_other_bank_draws_over_all_its_curves(tmp_path, monkeypatch):
    from noisegen.crf.io import load_bank, save_bank

    monkeypatch.setenv("NOISEGEN_CRF_DIR", str(tmp_path))
    save_bank(load_bank("default"), tmp_path / "copy.npz")
    prof = ng.fix(ng.get_profile("cbdnet"), crf_bank="copy")
    assert prof.crf_curves == ()
    crfs = {ng.sample_params(prof, np.random.default_rng(i)).crf for i in range(400)}
    assert len(crfs) > len(CBDNET_DEFAULT_CURVES)


def test_sampling_is_deterministic():
    a = ng.sample_params(ng.get_profile("cbdnet"), np.random.default_rng([1, 2, 3]))
    b = ng.sample_params(ng.get_profile("cbdnet"), np.random.default_rng([1, 2, 3]))
    assert a == b


def test_bad_profiles_and_params(tmp_path):
    with pytest.raises(KeyError, match="cbdnet"):
        ng.get_profile("cbdnett")
    with pytest.raises(ValueError, match="sigma_s"):
        CameraProfile(name="x", sigma_s=(0.2, 0.1))
    with pytest.raises(ValueError, match="jpeg_probability"):
        CameraProfile(name="x", jpeg_probability=1.5)
    with pytest.raises(ValueError, match="demosaic"):
        CameraProfile(name="x", demosaic="ahd")
    with pytest.raises(ValueError, match=r"did you mean 'sigma_s'"):
        CameraProfile.from_dict({"name": "x", "sigma_ss": [0, 1]})
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ng.load_profile(bad)
    with pytest.raises(FileNotFoundError):
        ng.load_profile(tmp_path / "missing.json")
    with pytest.raises(KeyError, match="no-such-curve"):
        ng.sample_params(CameraProfile(name="x", crf_curves=("no-such-curve",)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="jpeg_quality"):
        ng.SampleParams(jpeg_quality=0)
    with pytest.raises(ValueError, match="sigma_c"):
        ng.SampleParams(sigma_c=(0.1, float("nan"), 0.1))
    with pytest.raises(ValueError, match="unknown fields"):
        ng.SampleParams.from_dict({"sigma": 1})
    with pytest.raises(ValueError, match="singular"):
        ng.SampleParams(rgb_to_camera=(0.0,) * 9)
    assert json.loads(ng.SampleParams().to_json())["pattern"] is None


def test_channel_scale_ties_channels():
    prof = CameraProfile(name="cam", crf_curves=("sRGB",), per_channel=False, channel_scale=(1.3, 1.0, 1.2))
    for i in range(20):
        p = ng.sample_params(prof, np.random.default_rng(i))
        assert p.sigma_s[0] == pytest.approx(1.3 * p.sigma_s[1]) and p.sigma_s[2] == pytest.approx(1.2 * p.sigma_s[1])
        assert p.sigma_c[0] == pytest.approx(1.3 * p.sigma_c[1])
    assert CameraProfile.from_dict(prof.to_dict()) == prof
    with pytest.raises(ValueError, match="channel_scale"):
        CameraProfile(name="x", channel_scale=(1.0, 0.0, 1.0))


def test_pinning_one_parameter_leaves_the_other_draws_unchanged():
    # Every parameter has its own random stream (noisegen.isp.sampling.STREAMS): for the same seed,
    # pinning the curve, the pattern or the JPEG quality changes nothing else.
    prof = ng.get_profile("unprocess")
    cb = ng.get_profile("cbdnet")
    for seed in range(20):
        def draw(p):
            return ng.sample_params(p, np.random.default_rng([seed, 3]))

        base, crf = draw(cb), draw(ng.fix(cb, crf="sRGB"))
        assert crf.crf == "sRGB"
        assert (crf.sigma_s, crf.sigma_c, crf.pattern, crf.jpeg_quality) == (
            base.sigma_s, base.sigma_c, base.pattern, base.jpeg_quality)
        nopat = draw(ng.fix(cb, pattern=None, jpeg_quality=None))
        assert (nopat.crf, nopat.sigma_s, nopat.sigma_c) == (base.crf, base.sigma_s, base.sigma_c)
        u, u_crf = draw(prof), draw(ng.fix(prof, crf="sRGB"))
        assert (u_crf.sigma_s, u_crf.rgb_to_camera, u_crf.wb_gains) == (u.sigma_s, u.rgb_to_camera, u.wb_gains)
    # and the draws still differ between seeds
    assert len({ng.sample_params(cb, np.random.default_rng([s, 3])).sigma_s for s in range(20)}) == 20
