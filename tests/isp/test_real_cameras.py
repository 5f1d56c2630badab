"""The built-in real-cameras profile (noisegen/isp/real_cameras.json, experiments/build_real_cameras.py)."""

from __future__ import annotations

import numpy as np

import noisegen as ng
from noisegen.isp.mixture import REAL_CAMERAS, load_real_cameras
from noisegen.isp.profiles import CameraProfile
from noisegen.isp.sampling import sample_params


def test_real_cameras_is_built_in_with_provenance():
    prof = load_real_cameras()
    assert prof is not None, "noisegen/isp/real_cameras.json is missing: run experiments/build_real_cameras.py"
    assert ng.get_profile(REAL_CAMERAS) == prof and ng.get_profile("cbdnet").name == "cbdnet"
    assert len(prof.members) >= 10
    pv = prof.provenance
    assert set(pv["source_sets"]) == {"PolyU100", "CC60"} and pv["members"] == len(prof.members)
    for m in prof.members:
        mp = m.provenance
        for key in ("source_set", "camera", "iso", "scenes", "pairs", "noisegen_version", "command"):
            assert mp.get(key) not in (None, ""), (m.name, key)
        assert mp["source_set"] in m.name and m.iso_noise and m.iso_noise[0].iso == mp["iso"]
    assert CameraProfile.from_dict(prof.to_dict()) == prof


def test_real_cameras_draws_all_members_and_synthesizes():
    prof = ng.get_profile(REAL_CAMERAS)
    names = {m.name for m in prof.members}
    seen = {sample_params(prof, np.random.default_rng([3, s])).camera for s in range(40 * len(names))}
    assert seen == names
    img = (np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)
    s = ng.synthesize(img, sample_params(prof, np.random.default_rng(1)), seed=1)
    assert s.noisy.shape == img.shape and s.sigma_raw.max() > 0


def test_generate_with_real_cameras(tmp_path, capsys):
    from noisegen.cli.main import main
    from tests.datagen import make_photos

    make_photos(tmp_path / "img")
    ds = tmp_path / "ds"
    assert main(["generate", "--images", str(tmp_path / "img"), "--out", str(ds), "--profile", REAL_CAMERAS,
                 "--patch", "32", "--patches-per-image", "2", "--workers", "1", "--no-progress"]) == 0
    cams = {s["params"]["params"]["camera"] for s in ng.open_dataset(str(ds))}
    assert cams and cams <= {m.name for m in ng.get_profile(REAL_CAMERAS).members}
