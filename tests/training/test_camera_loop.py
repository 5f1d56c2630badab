"""The camera loop of issue 11.3 (experiments/camera_loop.py) at toy scale, and its held-out split
(experiments/loop_split.py): scenes split by name and verified by content."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from datagen import SHARED_DATA  # noqa: E402

from noisegen.dataset.pairs import scan_pairs  # noqa: E402
from noisegen.dataset.reader import read_rgb8, write_png  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "experiments"))

import loop_split  # noqa: E402


def _texture(seed: int, h: int = 256, w: int = 256) -> np.ndarray:
    """A photo-like uint8 image: smoothed random texture (every seed a different scene)."""
    rng = np.random.default_rng(seed)
    img = rng.normal(0, 1, (h // 4, w // 4, 3)).repeat(4, 0).repeat(4, 1)
    img = img + 0.3 * rng.normal(0, 1, (h, w, 3))
    return np.clip(128 + 40 * img, 0, 255).astype(np.uint8)


def test_overlap_finds_shifted_crops_and_not_other_scenes():
    a = _texture(1, 320, 320)
    crop = a[64:320, 40:296]  # the same scene, shifted by (64, 40), 256×256
    noisy_crop = np.clip(crop + np.random.default_rng(0).normal(0, 8, crop.shape), 0, 255).astype(np.uint8)
    other = _texture(2)
    ta = loop_split.thumbnail(a)
    assert loop_split.overlap(ta, loop_split.thumbnail(crop)) > 0.99
    assert loop_split.overlap(ta, loop_split.thumbnail(noisy_crop)) > loop_split.THRESHOLD
    assert loop_split.overlap(ta, loop_split.thumbnail(other)) < 0.5
    # a flat image has no high-pass content: it matches nothing
    assert loop_split.overlap(ta, loop_split.thumbnail(np.full((256, 256, 3), 90, np.uint8))) < 0.5


def _fake_set(root: Path) -> Path:
    """Pairs named like PolyU100 (camera_aperture_shutter_ISO_scene_index): one camera-ISO group,
    three scenes of two pairs each, and scene "copy" whose content is scene "a" under another name."""
    folder = root / "Fake"
    for role in ("noisy", "gt"):
        (folder / role).mkdir(parents=True)
    scenes = {"a": 10, "b": 20, "c": 30, "copy": 10}
    for scene, seed in scenes.items():
        for i in (1, 2):
            clean = _texture(seed)
            noisy = np.clip(clean + np.random.default_rng([seed, i]).normal(0, 6, clean.shape), 0, 255)
            write_png(folder / "noisy" / f"CamA_5_160_3200_{scene}_{i}_real.png", noisy.astype(np.uint8))
            write_png(folder / "gt" / f"CamA_5_160_3200_{scene}_{i}_mean.png", clean)
    return folder


def test_split_set_holds_scenes_out_and_drops_same_content(tmp_path):
    _fake_set(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "p1.png", _texture(99))
    any_dropped = False
    for seed in range(6):  # the split seed decides which scenes are tested; the checks hold for every one
        split = loop_split.split_set("Fake", tmp_path, seed=seed, clean_sources=[photos])
        any_dropped |= bool(split.dropped)
        calib, test = split.calib, split.test
        assert test and calib
        assert not {p.scene for p in calib} & {p.scene for p in test}  # split by scene
        tested = {p.scene for p in test}
        dropped = {d["pair"].split("_")[-3] for d in split.dropped}  # scene token of the dropped pair
        if tested & {"a", "copy"}:  # one of the twins is tested: the other must not stay in calibration
            assert not {p.scene for p in calib} & {"a", "copy"}
            assert dropped <= {"a", "copy"}
        thumbs = {p.id: loop_split.thumbnail(read_rgb8(p.clean)[0]) for p in calib + test}
        for t in test:
            for c in calib:
                assert loop_split.overlap(thumbs[t.id], thumbs[c.id]) < loop_split.THRESHOLD
    assert any_dropped  # some seed put the twins on both sides, and the content check caught it


def test_split_set_refuses_test_scenes_among_training_photos(tmp_path):
    folder = _fake_set(tmp_path)
    photos = tmp_path / "photos"
    photos.mkdir()
    for f in (folder / "gt").iterdir():  # every scene's clean image is a training photo
        write_png(photos / f.name, read_rgb8(f)[0])
    with pytest.raises(ValueError, match="training photo"):
        loop_split.split_set("Fake", tmp_path, clean_sources=[photos])


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse)


def test_quick_loop_end_to_end(tmp_path):
    need = ("PolyU100", "CBSD68", "Kodak24")
    if not all((SHARED_DATA / n).is_dir() for n in need):
        pytest.skip(f"shared data {SHARED_DATA}/{{{','.join(need)}}} is absent")
    out = tmp_path / "loop"
    env = {**os.environ, "NOISEGEN_SHARED_DATA": str(SHARED_DATA)}
    cmd = [sys.executable, str(ROOT / "experiments" / "camera_loop.py"), "--quick", "--sets", "PolyU100",
           "--out", str(out), "--threads", "1", "--workers", "0"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    assert res["quick"] and not res["partial"]
    rows = res["results"]["PolyU100"]
    assert set(rows) == {"a", "b", "b1", "b2", "c", "d", "e", "f"}
    assert all(math.isfinite(v) and 15 < v < 60 for v in rows.values())
    table = (out / "table.md").read_text()
    assert "camera_loop.py --quick" in table and "| (f) |" in table and "wall time" in table

    split = res["splits"]["PolyU100"]
    assert split["test"] and split["calib"] and not set(split["test"]) & set(split["calib"])
    by_id = {p.id: p for p in scan_pairs([SHARED_DATA / "PolyU100"]).pairs}
    thumbs = {i: loop_split.thumbnail(read_rgb8(by_id[i].clean)[0]) for i in split["test"] + split["calib"]}
    for t in split["test"]:
        for c in split["calib"]:
            assert loop_split.overlap(thumbs[t], thumbs[c]) < loop_split.THRESHOLD
        assert by_id[t].scene not in {by_id[c].scene for c in split["calib"] if by_id[c].camera == by_id[t].camera
                                      and by_id[c].iso == by_id[t].iso}

    # row (a) is the noisy input: the mean PSNR of the test pairs' 128² centre crops, computed here independently
    crop = res["scale"]["crop"]
    mine = []
    for t in split["test"]:
        noisy, clean = read_rgb8(by_id[t].noisy)[0], read_rgb8(by_id[t].clean)[0]
        y, x = (noisy.shape[0] - crop) // 2, (noisy.shape[1] - crop) // 2
        mine.append(_psnr(noisy[y:y + crop, x:x + crop], clean[y:y + crop, x:x + crop]))
    assert rows["a"] == pytest.approx(float(np.mean(mine)), abs=1e-9)

    # resumable: a second invocation reuses every run and evaluation and gives the same table rows
    r2 = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0 and "SN steps" not in r2.stdout
    assert json.loads((out / "results.json").read_text())["results"] == res["results"]

    # rows (b1), (b2): every generated sample carries exactly the baselines fitted on the group's calibration pairs
    from noisegen.analysis.nlf import image_stats, merge
    from noisegen.analysis.realism.models import fit_awgn, fit_srgb_linear
    from noisegen.dataset.pairs import load_pair
    from noisegen.isp.profiles import load_profile
    from noisegen.isp.sampling import sample_params

    group = split["groups"][0]
    st = merge(image_stats(*load_pair(by_id[i])) for i in group["calib"])
    folder = out / "polyu100" / "profiles-baselines"
    for tag, fit in (("awgn", fit_awgn), ("srgb-ax-b", fit_srgb_linear)):
        want = fit(st).params
        (path,) = folder.glob(f"*-{tag}.json")
        got = sample_params(load_profile(path), np.random.default_rng(5))
        assert got.crf == "linear" and got.pattern is None and got.jpeg_quality is None
        np.testing.assert_allclose(got.sigma_s, want.sigma_s, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got.sigma_c, want.sigma_c, rtol=1e-12, atol=1e-12)
