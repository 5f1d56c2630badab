"""Profile mixtures (noisegen.isp.mixture) and the built-in real-cameras profile."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import pytest

import noisegen as ng
from noisegen.isp.mixture import draw_member, mixture_profile
from noisegen.isp.profiles import CameraProfile, fix, load_profile, save_profile
from noisegen.isp.sampling import sample_params


def _members() -> list[CameraProfile]:
    base = ng.get_profile("gauss25")
    return [dataclasses.replace(base, name=f"m{k}", sigma_c=(0.01 * (k + 1),) * 2) for k in range(3)]


def test_mixture_draws_every_member_with_its_own_parameters():
    mix = mixture_profile("mix", _members())
    seen = collections.Counter()
    for seed in range(60):
        p = sample_params(mix, np.random.default_rng(seed))
        seen[p.camera] += 1
        k = int(p.camera[1])
        assert p.sigma_c == pytest.approx((0.01 * (k + 1),) * 3)
    assert set(seen) == {"m0", "m1", "m2"} and min(seen.values()) >= 10
    # the same Generator state gives the same member and parameters
    assert sample_params(mix, np.random.default_rng(7)) == sample_params(mix, np.random.default_rng(7))


def test_weights_and_the_member_stream():
    mix = mixture_profile("mix", _members(), weights=(1, 0.0001, 0.0001))
    assert {sample_params(mix, np.random.default_rng(s)).camera for s in range(30)} == {"m0"}
    # the member comes from stream "member" (child 7 of rng.spawn): reproduce it independently
    rng = np.random.default_rng(11)
    child = np.random.default_rng(rng.bit_generator.seed_seq.spawn(8)[7])
    uniform = mixture_profile("mix", _members())
    assert sample_params(uniform, np.random.default_rng(11)).camera == f"m{int(child.integers(3))}"
    assert draw_member(uniform, np.random.default_rng(0)).name in {"m0", "m1", "m2"}


def test_mixture_round_trip_and_bad_input(tmp_path):
    mix = mixture_profile("mix", _members(), weights=(1, 2, 3), provenance={"built_by": "test"})
    save_profile(mix, tmp_path / "mix.json")
    back = load_profile(tmp_path / "mix.json")
    assert back == mix and back.to_dict() == mix.to_dict() and back.provenance == {"built_by": "test"}
    with pytest.raises(ValueError, match="cannot be mixtures"):
        mixture_profile("nested", [mix])
    with pytest.raises(ValueError, match="weights"):
        mixture_profile("w", _members(), weights=(1, 2))
    with pytest.raises(ValueError, match="unique"):
        mixture_profile("dup", _members()[:1] * 2)
    with pytest.raises(ValueError, match="not a mixture"):
        draw_member(_members()[0], np.random.default_rng(0))


def test_fix_pins_every_member():
    mix = fix(mixture_profile("mix", _members()), sigma_s=0.0, sigma_c=0.02, jpeg_quality=None)
    for s in range(10):
        assert sample_params(mix, np.random.default_rng(s)).sigma_c == (0.02,) * 3
