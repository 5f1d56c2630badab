"""Noise per ISO (noisegen.isp.iso): the table type, interpolation and the gain law, ISO-aware profiles,
their sampling and JSON, and old profile files."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import noisegen as ng
from noisegen.isp.iso import IsoNoise, noise_at

TABLE = (IsoNoise(800, (0.02, 0.03), (0.004, 0.006), (1.3, 1.0, 1.2)),
         IsoNoise(3200, (0.04, 0.06), (0.016, 0.024), (1.5, 1.0, 1.4)))


def _profile(**kw) -> ng.CameraProfile:
    return ng.CameraProfile(name="iso-cam", crf_curves=("sRGB",), patterns=(None,), per_channel=False,
                            iso_noise=TABLE, **kw)


def test_noise_at_is_exact_at_calibrated_isos_and_log_linear_between():
    assert noise_at(TABLE, 800) == TABLE[0] and noise_at(TABLE, 3200) == TABLE[1]
    mid = noise_at(TABLE, 1600)  # the geometric middle of 800 and 3200
    for got, a, b in [(mid.sigma_s, TABLE[0].sigma_s, TABLE[1].sigma_s), (mid.sigma_c, TABLE[0].sigma_c,
                                                                         TABLE[1].sigma_c),
                      (mid.channel_scale, TABLE[0].channel_scale, TABLE[1].channel_scale)]:
        np.testing.assert_allclose(got, np.sqrt(np.multiply(a, b)), rtol=1e-12)


def test_noise_beyond_the_table_follows_the_gain_law():
    # σ_s ∝ gain^½ (shot variance ∝ gain), σ_c ∝ gain (read noise before the amplifier)
    up, down = noise_at(TABLE, 12800), noise_at(TABLE, 200)
    np.testing.assert_allclose(up.sigma_s, np.multiply(TABLE[1].sigma_s, 2.0))
    np.testing.assert_allclose(up.sigma_c, np.multiply(TABLE[1].sigma_c, 4.0))
    np.testing.assert_allclose(down.sigma_s, np.multiply(TABLE[0].sigma_s, 0.5))
    np.testing.assert_allclose(down.sigma_c, np.multiply(TABLE[0].sigma_c, 0.25))
    assert up.channel_scale == TABLE[1].channel_scale


def test_sampling_draws_an_iso_then_its_sigma():
    prof = _profile()
    draws = [ng.sample_params(prof, np.random.default_rng([s, 1])) for s in range(200)]
    assert {d.iso for d in draws} == {800, 3200}
    for d in draws:
        e = noise_at(TABLE, d.iso)
        g = d.sigma_s[1]
        assert e.sigma_s[0] <= g <= e.sigma_s[1] and e.sigma_c[0] <= d.sigma_c[1] <= e.sigma_c[1]
        np.testing.assert_allclose(np.divide(d.sigma_s, g), e.channel_scale)
    ranged = _profile(iso_range=(400, 6400))
    isos = np.array([ng.sample_params(ranged, np.random.default_rng([s, 2])).iso for s in range(400)])
    assert isos.min() >= 400 and isos.max() <= 6400
    assert abs(np.median(np.log(isos)) - math.log(1600)) < 0.2  # log-uniform: median at the geometric middle
    pinned = ng.fix(prof, iso=1600)
    d = ng.sample_params(pinned, np.random.default_rng(0))
    assert d.iso == 1600 and noise_at(TABLE, 1600).sigma_s[0] <= d.sigma_s[1] <= noise_at(TABLE, 1600).sigma_s[1]


def test_iso_profile_json_round_trip_and_old_files_load(tmp_path):
    prof = _profile(iso_range=(100, 12800))
    path = tmp_path / "p.json"
    ng.save_profile(prof, path)
    assert ng.load_profile(path) == prof
    assert json.loads(path.read_text())["iso_noise"][1] == {"iso": 3200, "sigma_s": [0.04, 0.06],
                                                            "sigma_c": [0.016, 0.024], "channel_scale": [1.5, 1.0, 1.4]}
    old = ng.get_profile("cbdnet").to_dict()
    del old["iso_noise"], old["iso_range"]  # a profile file written before ISO tables existed
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert ng.load_profile(tmp_path / "old.json") == ng.get_profile("cbdnet")
    params = ng.sample_params(prof, np.random.default_rng(3))
    assert ng.SampleParams.from_json(params.to_json()) == params and params.iso is not None


@pytest.mark.parametrize("bad, match", [
    (dict(iso_noise=({"iso": 0, "sigma_s": [0, 1], "sigma_c": [0, 1]},)), "integer > 0"),
    (dict(iso_noise=({"iso": 100, "sigma_s": [0.2, 0.1], "sigma_c": [0, 1]},)), "low <= high"),
    (dict(iso_noise=({"iso": 100, "sigma_s": ["0", 1], "sigma_c": [0, 1]},)), "numbers"),
    (dict(iso_noise=({"iso": 100, "sigma_s": [0, 1]},)), "iso, sigma_s, sigma_c"),
    (dict(iso_noise=(TABLE[0], TABLE[0])), "twice"),
    (dict(iso_range=(100, 200)), "needs iso_noise"),
    (dict(iso_noise=TABLE, sigma_law="log_linear"), "uniform"),
])
def test_bad_iso_tables_are_clear_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        ng.CameraProfile(name="bad", **bad)


def test_fix_on_an_iso_profile():
    prof = _profile()
    with pytest.raises(ValueError, match="σ per ISO"):
        ng.fix(prof, sigma_s=0.1)
    flat = ng.fix(prof, sigma_s=0.1, sigma_c=0.01)
    assert flat.iso_noise == () and ng.sample_params(flat, np.random.default_rng(0)).iso is None
    with pytest.raises(ValueError, match="no per-ISO noise table"):
        ng.fix(ng.get_profile("cbdnet"), iso=800)


def test_read_scale_scales_sigma_c_alone():
    """read_scale: σ_c per channel in its own ratio (e.g. the sRGB a·x+b baseline), at the top level and per ISO."""
    top = ng.CameraProfile(name="rs", crf_curves=("linear",), patterns=(None,), per_channel=False,
                           sigma_s=(0.04, 0.04), sigma_c=(0.01, 0.01), channel_scale=(1.0, 0.5, 0.25),
                           read_scale=(0.0, 1.0, 2.0))
    p = ng.sample_params(top, np.random.default_rng(0))
    assert p.sigma_s == (0.04, 0.02, 0.01) and p.sigma_c == (0.0, 0.01, 0.02)
    assert ng.CameraProfile.from_dict(json.loads(top.to_json())) == top
    table = (IsoNoise(100, (0.02, 0.02), (0.004, 0.004), (1.0, 1.0, 1.0), (1.0, 2.0, 4.0)),
             IsoNoise(400, (0.04, 0.04), (0.016, 0.016), (1.0, 1.0, 1.0), (4.0, 2.0, 1.0)))
    assert noise_at(table, 100).read_scale == (1.0, 2.0, 4.0)
    np.testing.assert_allclose(noise_at(table, 200).read_scale, (2.0, 2.0, 2.0))   # log-linear in log ISO
    assert noise_at(table, 800).read_scale == (4.0, 2.0, 1.0)
    plain = (IsoNoise(100, (0.02, 0.02), (0.004, 0.004)), IsoNoise(400, (0.04, 0.04), (0.016, 0.016)))
    assert noise_at(plain, 200).read_scale is None and "read_scale" not in plain[0].to_dict()
    assert IsoNoise.from_dict(table[0].to_dict()) == table[0]
    prof = ng.CameraProfile(name="iso-rs", crf_curves=("linear",), patterns=(None,), per_channel=False,
                            iso_noise=table)
    q = ng.sample_params(prof, np.random.default_rng(1))
    entry = noise_at(table, q.iso)
    np.testing.assert_allclose(np.array(q.sigma_c) / np.array(entry.read_scale), q.sigma_c[1] / entry.read_scale[1])
    with pytest.raises(ValueError, match="read_scale"):
        IsoNoise(100, (0.02, 0.02), (0.004, 0.004), read_scale=(1.0, -1.0, 1.0))
    with pytest.raises(ValueError, match="bound"):
        dataclasses.replace(top, read_scale=(1.0, 1000.0, 1.0))
