"""Model selection in calibrate (noisegen.analysis.calibrate.select, candidates): hidden synthetic cameras of each
family recovered, folds, the log score against AKLD, the choice's rules, masking of clipped pixels, the low-signal
fallback, and the CLI options."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import noisegen as ng
from noisegen.analysis.calibrate.candidates import FAMILIES
from noisegen.analysis.calibrate.fit import SIMPLE_FAMILIES, CalibrateConfig, calibrate
from noisegen.analysis.calibrate.search import CalibrationGroup
from noisegen.analysis.calibrate.select import choose, folds, log_score
from noisegen.analysis.nlf import NoiseStats
from noisegen.analysis.realism.akld import akld_draw
from noisegen.cli.main import main
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.samples import sample_photo_paths

Q = [1.0, 0.7, 0.3, 0.6, 0.4, 0.15, 0.25, 0.1, 0.0]
# Hidden cameras of each family, and the family model selection must find
HIDDEN = {
    "phone": (ng.SampleParams(camera="phone", crf="sRGB", sigma_s=(0.07,) * 3, sigma_c=(0.014,) * 3, pattern="RGGB",
                              demosaic="malvar", nr_flat_gain=0.35, nr_knee=0.02, noise_corr=Q * 3,
                              noise_mix=[1, .3, .2, .3, 1, .3, .2, .3, 1], sharpen_amount=0.8, sharpen_radius=1.0),
              "camera+nr+corr"),
    "dslr": (ng.SampleParams(camera="dslr", crf="gamma-2.2", sigma_s=(0.06,) * 3, sigma_c=(0.012,) * 3,
                             pattern="RGGB", demosaic="malvar"), "camera"),
    "srgb": (ng.SampleParams(camera="srgb", crf="linear", sigma_s=(0.09, 0.07, 0.10), sigma_c=(0.012, 0.009, 0.014),
                             pattern=None), "srgb"),
}
FAST = dict(crf_curves=("sRGB", "gamma-2.2"), demosaic=("none", "malvar"), jpeg=(None,), search_pixels=100_000,
            min_count=200)


def _crops(size: int) -> list[np.ndarray]:
    out = []
    for path in sample_photo_paths():
        img, _ = read_rgb8(path)
        for y in range(0, img.shape[0] - size + 1, size):
            for x in range(0, img.shape[1] - size + 1, size):
                out.append(np.ascontiguousarray(img[y:y + size, x:x + size]))
    return out


def _write(root: Path, params: ng.SampleParams, n: int, size: int, edit=None, scenes: int = 4) -> Path:
    crops = _crops(size)
    for k, i in enumerate(np.random.default_rng(5).permutation(len(crops))[:n]):
        clean = crops[i] if edit is None else edit(crops[i].copy())
        noisy = ng.synthesize(clean, params, seed=[42, k]).noisy
        for folder, img, tag in (("gt", clean, "mean"), ("noisy", noisy, "real")):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / folder / f"Cam_4_100_800_scene{k % scenes}_{k}_{tag}.png",
                                      compress_level=1)
    return root


@pytest.mark.parametrize("name", list(HIDDEN))
def test_model_selection_recovers_the_hidden_family(tmp_path, name):
    params, family = HIDDEN[name]
    cal = calibrate(CalibrateConfig(pairs=(str(_write(tmp_path, params, 24, 96)),), **FAST))
    sel = cal.selection
    assert cal.family == family == sel["winner"], "\n".join(cal.selection_text())
    assert set(sel["families"]) == set(FAMILIES) and sel["folds"][0]["how"] == "3 folds by scene"
    scores = {k: v["akld"] for k, v in sel["families"].items()}
    assert scores[family] <= min(scores["awgn"], scores["srgb"])     # never worse than the baselines on its folds
    prof = cal.profile
    assert (prof.noise_corr is not None) == family.endswith("+corr")
    assert (prof.nr_flat_gain < 1) == ("+nr" in family)
    if family == "srgb":
        assert prof.crf_curves == ("linear",) and prof.patterns == (None,) and prof.jpeg_probability == 0
        drawn = ng.sample_params(prof, np.random.default_rng(0))
        np.testing.assert_allclose(drawn.sigma_s, params.sigma_s, rtol=0.15)
    report = cal.to_dict()
    assert report["family"] == family and report["selection"]["why"].startswith(family)
    assert family in cal.text() and "held-out AKLD" in cal.text()


def test_folds_by_scene_and_by_image_halves():
    crops = [np.zeros((8, 8, 3), np.uint8)] * 6
    g = CalibrationGroup("g", 800, ["a", "b", "c"], crops, crops, NoiseStats(), [0],
                         boxes=[(0, 0, 0, 8, 8), (0, 0, 8, 8, 8), (1, 0, 0, 8, 8), (1, 0, 8, 8, 8), (2, 0, 0, 8, 8),
                                (2, 0, 8, 8, 8)], scenes=["s1", "s2", "s1"], widths=[16, 16, 16])
    parts, how = folds(g)
    assert how == "2 folds by scene" and parts == [[0, 1, 4, 5], [2, 3]]
    g.scenes = ["s1"] * 3
    parts, how = folds(g)
    assert how.startswith("2 folds by image halves") and parts == [[0, 2, 4], [1, 3, 5]]
    g.clean = crops[:1]
    assert folds(g) == ([], "one crop: no fold")


def test_log_score_is_proper_where_akld_prefers_a_narrow_spread():
    """Real local variances scattered by estimation noise of spread 0.5 (in log): a model with the same spread
    has the better log score; AKLD prefers a model that scatters less (the reason the correlation term is judged
    by the log score)."""
    rng = np.random.default_rng(0)
    truth = rng.normal(-6, 0.3, (64, 64, 3))
    real = truth + rng.normal(0, 0.5, truth.shape)
    right = [truth + rng.normal(0, 0.5, truth.shape) for _ in range(4)]
    narrow = [truth + rng.normal(0, 0.1, truth.shape) for _ in range(4)]
    assert log_score(real, right) < log_score(real, narrow) - 0.1
    akld = {k: np.mean([akld_draw(np.exp(real), np.exp(d)) for d in v]) for k, v in (("right", right),
                                                                                     ("narrow", narrow))}
    assert akld["narrow"] < akld["right"]


class _Fam:
    def __init__(self, name: str) -> None:
        self.name = name


def _choose(akld: dict, logs: dict, how: str = "3 folds by scene") -> str:
    scores = {"families": {k: {"akld": v, "log_score": logs.get(k, 1.0)} for k, v in akld.items()},
              "folds": [{"group": "g", "how": how, "sizes": [4, 4]}]}
    return choose(scores, [_Fam(k) for k in akld])[0].name


def test_choice_rules():
    base = {"awgn": 0.6, "srgb": 0.7}
    # the correlation term is kept on the log score even where it costs AKLD
    assert _choose({**base, "camera": 0.30, "camera+corr": 0.32}, {"camera": 1.0, "camera+corr": 0.9}) == "camera+corr"
    assert _choose({**base, "camera": 0.30, "camera+corr": 0.299}, {"camera": 1.0, "camera+corr": 0.999}) == "camera"
    # ... or on AKLD when the log score does not say it hurts
    logs = {"camera": 1.0, "camera+corr": 1.002}
    assert _choose({**base, "camera": 0.30, "camera+corr": 0.28}, logs) == "camera+corr"
    assert _choose({**base, "camera": 0.30, "camera+corr": 0.28}, {"camera": 1.0, "camera+corr": 1.05}) == "camera"
    # noise reduction must lower AKLD by more than 1%
    assert _choose({**base, "camera": 0.300, "camera+nr": 0.298}, {}) == "camera"
    assert _choose({**base, "camera": 0.300, "camera+nr": 0.25}, {}) == "camera+nr"
    # never worse than the better baseline
    assert _choose({**base, "camera": 0.65}, {}) == "awgn"
    assert _choose({"awgn": 0.5, "srgb": 0.4, "srgb+corr": 0.45}, {"srgb": 2.0, "srgb+corr": 1.0}) == "srgb"
    # one calibration scene (folds within it): the camera families alone, without the baselines' floor ...
    halves = "2 folds by image halves (one scene)"
    assert _choose({**base, "camera": 0.65, "camera+nr": 0.66}, {}, halves) == "camera"
    assert _choose({"awgn": 0.4, "srgb": 0.35, "camera": 0.45, "camera+nr": 0.40}, {}, halves) == "camera+nr"
    # ... unless no camera family was scored (the low-signal fallback)
    assert _choose({"awgn": 0.4, "srgb": 0.35, "srgb+corr": 0.45}, {}, halves) == "srgb"


def _half(value: int):
    def edit(img: np.ndarray) -> np.ndarray:
        img[:, : img.shape[1] // 2] = value
        return img
    return edit


@pytest.mark.parametrize("value", [1, 254])
def test_half_clipped_pairs_fit_as_well_as_their_unclipped_halves(tmp_path, value):
    """Half of every clean crop near black (code 1) or saturated (254), so that its noisy half is mostly clipped:
    the fit equals the fit of the unclipped halves alone (both near the truth): clipped pixels are masked."""
    cam = ng.SampleParams(crf="gamma-2.2", sigma_s=(0.06,) * 3, sigma_c=(0.012,) * 3, pattern=None)
    full = _write(tmp_path / "full", cam, 16, 128, edit=_half(value))
    right = tmp_path / "right"
    for folder in ("gt", "noisy"):
        (right / folder).mkdir(parents=True)
        for f in (full / folder).iterdir():
            Image.fromarray(read_rgb8(f)[0][:, 64:]).save(right / folder / f.name)
    kw = dict(FAST, demosaic=("none",), crop=64, fast=True)
    a = calibrate(CalibrateConfig(pairs=(str(full),), **kw)).groups[0]
    b = calibrate(CalibrateConfig(pairs=(str(right),), **kw)).groups[0]
    np.testing.assert_allclose(a.sigma_s_rgb, b.sigma_s_rgb, rtol=0.1)
    np.testing.assert_allclose(a.sigma_c_rgb, b.sigma_c_rgb, rtol=0.15)
    np.testing.assert_allclose(a.sigma_s_rgb, 0.06, rtol=0.15)
    srgb = [calibrate(CalibrateConfig(pairs=(str(p),), **dict(kw, fast=False, family="srgb"))).groups[0]
            for p in (full, right)]
    np.testing.assert_allclose(srgb[0].sigma_s_rgb, srgb[1].sigma_s_rgb, rtol=0.1)


def test_too_little_signal_warns_and_falls_back_to_the_srgb_families(tmp_path):
    def edit(img: np.ndarray) -> np.ndarray:
        img[: img.shape[0] * 7 // 8] = 0      # 7/8 of every crop black: its noise is clipped away
        return img
    cam = ng.SampleParams(crf="sRGB", sigma_s=(0.04,) * 3, sigma_c=(0.01,) * 3, pattern="RGGB")
    cal = calibrate(CalibrateConfig(pairs=(str(_write(tmp_path, cam, 16, 128, edit=edit)),), **FAST))
    assert cal.warnings and "usable signal" in cal.warnings[0] and "falling back" in cal.warnings[0]
    assert cal.family in SIMPLE_FAMILIES and set(cal.selection["families"]) == set(SIMPLE_FAMILIES)
    assert "WARNING" in cal.text()


def test_cli_fast_and_family(tmp_path):
    pairs = _write(tmp_path / "pairs", HIDDEN["srgb"][0], 8, 96)
    for extra, family in ((["--fast"], "camera"), (["--family", "awgn"], "awgn")):
        out = tmp_path / f"{family}.json"
        assert main(["calibrate", "--pairs", str(pairs), "--out", str(out), "--crf-curves", "sRGB", "--demosaic",
                     "none", "--jpeg", "none", *extra]) == 0
        report = json.loads(out.with_name(out.stem + ".report.json").read_text())
        assert report["family"] == family and (report["selection"] is None) == (family == "camera")
        ng.load_profile(out)
    with pytest.raises(SystemExit):
        main(["calibrate", "--pairs", str(pairs), "--out", str(tmp_path / "x.json"), "--family", "nope"])
    with pytest.raises(ValueError, match="exclude"):
        CalibrateConfig(pairs=("x",), fast=True, family="srgb")


@pytest.mark.parametrize("family", ["srgb", "awgn"])
def test_simple_family_is_the_realism_baseline_fitted_on_the_same_images(tmp_path, family):
    """The simple families are fitted on the whole calibration images, as the realism baselines are, not on the
    max_pixels of crops, and keep their per-channel σ_s and σ_c (var = a·x + b per channel): a profile that won
    selection as srgb or awgn draws exactly the baseline's parameters."""
    from noisegen.analysis.nlf import image_stats, merge
    from noisegen.analysis.realism.baselines import fit_awgn, fit_srgb_linear
    from noisegen.dataset.pairs import load_pair, scan_pairs

    root = _write(tmp_path, HIDDEN["srgb"][0], 8, 96)
    cfg = CalibrateConfig(pairs=(str(root),), **dict(FAST, crop=32, max_pixels=20_000, family=family))
    pairs = scan_pairs([str(root)]).pairs
    assert cfg.max_pixels < sum(a.shape[0] * a.shape[1] for a, _ in map(load_pair, pairs))   # crops ≠ images
    cal = calibrate(cfg)
    whole = merge(image_stats(*load_pair(p)) for p in pairs)
    base = (fit_awgn(whole) if family == "awgn" else fit_srgb_linear(whole)).params
    drawn = ng.sample_params(cal.profile, np.random.default_rng(3))
    np.testing.assert_allclose(drawn.sigma_s, base.sigma_s, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(drawn.sigma_c, base.sigma_c, rtol=1e-9, atol=1e-12)
    assert drawn.crf == "linear" and drawn.pattern is None and drawn.jpeg_quality is None
