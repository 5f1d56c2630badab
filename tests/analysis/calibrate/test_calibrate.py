"""noisegen calibrate: recovering a hidden synthetic camera, the profile it writes, the CLI, errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from figures import capture_figures
from PIL import Image

import noisegen as ng
import noisegen.analysis.calibrate.report
from noisegen.analysis.calibrate.fit import CalibrateConfig, calibrate, select_pairs
from noisegen.analysis.calibrate.model_nlf import binned_model_std, code_moments
from noisegen.analysis.calibrate.search import aitken
from noisegen.analysis.nlf import image_stats, merge
from noisegen.cli.main import main
from noisegen.crf.io import load_bank
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.pairs import scan_pairs
from noisegen.dataset.samples import sample_photo_paths

# The hidden camera: parameters the calibration is not told. JPEG 87 and GRBG are not on its search
# grid (it tries RGGB and JPEG 98, 95, 90, 85, ...).
HIDDEN = ng.SampleParams(camera="hidden", crf="gamma-2.0", sigma_s=(0.055,) * 3, sigma_c=(0.013,) * 3,
                         pattern="GRBG", demosaic="malvar", jpeg_quality=87)


def _crops(size: int = 128) -> list[np.ndarray]:
    out = []
    for path in sample_photo_paths():
        img, _ = read_rgb8(path)
        for y in range(0, img.shape[0] - size + 1, size):
            for x in range(0, img.shape[1] - size + 1, size):
                out.append(np.ascontiguousarray(img[y:y + size, x:x + size]))
    return out


def _write_pairs(root: Path, params: ng.SampleParams, n: int, camera: str = "HiddenCam", iso: int = 800,
                 size: int = 128) -> list[np.ndarray]:
    crops = _crops(size)
    chosen = [crops[i] for i in np.random.default_rng(5).permutation(len(crops))[:n]]
    for k, clean in enumerate(chosen):
        noisy = ng.synthesize(clean, params, seed=[42, k]).noisy
        for folder, img, tag in (("gt", clean, "mean"), ("noisy", noisy, "real")):
            (root / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(root / folder / f"{camera}_4_100_{iso}_scene{k % 7}_{k}_{tag}.png",
                                      compress_level=1)
    return chosen


@pytest.fixture(scope="module")
def hidden(tmp_path_factory):
    root = tmp_path_factory.mktemp("hidden")
    clean = _write_pairs(root, HIDDEN, 40)  # 40 crops of 128² = 0.66 Mpx
    cal = calibrate(CalibrateConfig(pairs=(str(root),), search_pixels=160_000))
    return root, clean, cal


def test_recovers_sigma_within_15_percent(hidden):
    _, _, cal = hidden
    g = cal.groups[0]
    assert cal.camera == "HiddenCam" and g.iso == 800 and len(g.pairs) == 40
    assert g.sigma_s == pytest.approx(0.055, rel=0.15) and g.sigma_c == pytest.approx(0.013, rel=0.15)
    np.testing.assert_allclose(g.sigma_s_rgb, 0.055, rtol=0.15)
    np.testing.assert_allclose(g.sigma_c_rgb, 0.013, rtol=0.15)
    assert cal.demosaic != "none" and cal.jpeg is not None  # it saw demosaicing and JPEG
    # the profile keeps the fit of each ISO: generation draws ISO 800, then its σ
    (entry,) = cal.profile.iso_noise
    assert entry.iso == 800 and entry.sigma_s[0] <= g.sigma_s_rgb[1] <= entry.sigma_s[1]
    drawn = ng.sample_params(cal.profile, np.random.default_rng(0))
    assert drawn.iso == 800


def test_picks_a_curve_whose_nlf_is_within_10_percent(hidden):
    _, clean, cal = hidden
    counts = merge(image_stats(c, c) for c in clean).level_n
    g = cal.groups[0]
    _, var_true = code_moments(load_bank().get(HIDDEN.crf), 0.055, 0.013)
    _, var_fit = code_moments(load_bank().get(cal.crf), g.sigma_s_rgb, g.sigma_c_rgb)
    true, fit = binned_model_std(var_true, counts, 16), binned_model_std(var_fit, counts, 16)
    enough = counts.reshape(3, 16, 16).sum(2) >= 2000
    assert enough.sum() >= 36
    assert np.abs(fit[enough] / true[enough] - 1).max() < 0.10


def test_reports_the_fit_error_per_statistic(hidden):
    _, _, cal = hidden
    e = cal.groups[0].errors
    assert e["nlf_rel_mean"] < 0.03 and e["nlf_rel_max"] < 0.10
    assert abs(e["lag1"]["real"] - e["lag1"]["sim"]) < 0.03 and abs(e["cross"]["real"] - e["cross"]["sim"]) < 0.03
    assert abs(e["psnr"]["real"] - e["psnr"]["sim"]) < 0.3
    assert set(e["autocorrelation"]) == {"h1", "v1", "h2", "v2", "d1"}
    text = cal.text()
    assert "NLF err" in text and "ρ1 real/sim" in text and cal.crf in text
    json.dumps(cal.to_dict(), default=str)  # the report is JSON-able
    steps = {c.step for c in cal.candidates}
    assert {"analytic", "search", "curve-search", "curve"} <= steps


def test_the_profile_generates_like_the_camera(hidden, tmp_path):
    _, clean, cal = hidden
    p = cal.profile
    ng.save_profile(p, tmp_path / "cam.json")
    loaded = ng.load_profile(tmp_path / "cam.json")
    assert loaded == p and p.crf_curves == (cal.crf,) and p.jpeg_probability == 1.0
    lo, hi = p.sigma_s
    assert lo <= min(cal.groups[0].sigma_s_rgb) and max(cal.groups[0].sigma_s_rgb) <= hi
    params = ng.sample_params(loaded, np.random.default_rng(0))
    s = ng.synthesize(clean[0], params, seed=1)
    assert s.noisy.shape == clean[0].shape and params.crf == cal.crf


def test_cli_writes_profile_report_and_plot_usable_by_generate(tmp_path, capsys, monkeypatch):
    figures = capture_figures(monkeypatch, noisegen.analysis.calibrate.report)
    cam = ng.SampleParams(crf="sRGB", sigma_s=(0.06,) * 3, sigma_c=(0.01,) * 3)
    _write_pairs(tmp_path / "pairs", cam, 8, camera="TinyCam", iso=100, size=96)
    out = tmp_path / "tiny.json"
    args = ["calibrate", "--pairs", str(tmp_path / "pairs"), "--camera", "tiny", "--out", str(out),
            "--crf-curves", "sRGB,gamma-2.2", "--demosaic", "none", "--jpeg", "none,90", "--plot",
            str(tmp_path / "fit.png")]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "camera TinyCam" in text and "use it with `noisegen generate --profile" in text
    report = json.loads((tmp_path / "tiny.report.json").read_text())
    assert report["format"] == "noisegen-calibration/1" and report["crf"] == "sRGB" and report["jpeg_quality"] is None
    assert Image.open(tmp_path / "fit.png").size[0] > 300
    legend = [t.get_text() for t in figures[0].legends[0].get_texts()]
    assert legend == ["R", "G", "B", "real pairs", "calibrated simulation"]
    gen = ["generate", "--images", str(tmp_path / "pairs" / "gt"), "--out", str(tmp_path / "ds"), "--profile",
           str(out), "--patch", "32", "--patches-per-image", "1", "--max-images", "2", "--workers", "1",
           "--no-progress"]
    assert main(gen) == 0
    meta = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert meta["config"]["profile"]["name"] == "calibrated-TinyCam" and meta["counts"]["samples"] == 2


def test_camera_selection_errors(tmp_path):
    cam = ng.SampleParams(crf="sRGB", sigma_s=(0.05,) * 3, sigma_c=(0.01,) * 3)
    _write_pairs(tmp_path / "a", cam, 2, camera="CamOne", size=32)
    _write_pairs(tmp_path / "a", cam, 2, camera="CamTwo", iso=100, size=32)
    pairs = scan_pairs([tmp_path / "a"]).pairs
    with pytest.raises(ValueError, match="2 cameras .*choose one with --camera"):
        select_pairs(pairs, None)
    with pytest.raises(ValueError, match="matches CamOne, CamTwo"):
        select_pairs(pairs, "cam")
    assert select_pairs(pairs, "camtwo")[0] == "CamTwo"
    with pytest.raises(ValueError, match="no pair of CamOne with ISO 64"):
        select_pairs(pairs, "CamOne", (64,))
    with pytest.raises(ValueError, match="demosaic"):
        CalibrateConfig(pairs=("x",), demosaic=("ahd",))
    with pytest.raises(KeyError, match="unknown curve"):
        calibrate(CalibrateConfig(pairs=(str(tmp_path / "a"),), camera="CamOne", crf_curves=("nope",)))


def test_aitken_solves_a_linear_fixed_point():
    a, r = np.array([0.3, -1.0]), 0.6
    x0 = np.array([1.0, 2.0])
    x1 = a + r * (x0 - a)
    x2 = a + r * (x1 - a)
    np.testing.assert_allclose(aitken(x0, x1, x2), a)
    oscillating = aitken(x0, a - r * (x0 - a), a + r * r * (x0 - a))  # r < 0: not extrapolated
    np.testing.assert_allclose(oscillating, a + r * r * (x0 - a))


@pytest.mark.parametrize("channels, reference", [("shared", "render"), ("independent", "source")])
def test_other_modes_run(tmp_path, channels, reference):
    cam = ng.SampleParams(crf="sRGB", sigma_s=(0.05, 0.04, 0.06), sigma_c=(0.01,) * 3, pattern="RGGB")
    _write_pairs(tmp_path, cam, 6, camera="ModeCam", size=96)
    cal = calibrate(CalibrateConfig(pairs=(str(tmp_path),), crf_curves=("sRGB", "gamma-2.2"), demosaic=("malvar",),
                                    jpeg=(None,), channels=channels, reference=reference, min_count=200))
    g = cal.groups[0]
    assert cal.demosaic == "malvar" and np.isfinite(cal.loss) and g.errors["nlf_rel_mean"] < 0.2
    if channels == "shared":
        assert len(set(g.sigma_s_rgb)) == 1 and not cal.profile.per_channel
    else:
        assert g.sigma_s_rgb[2] > g.sigma_s_rgb[1]  # B noisier than G, as simulated


def test_recovers_noise_reduction_and_reads_jpeg_settings_from_the_files(tmp_path):
    """A hidden camera with in-camera noise reduction writes JPEG files (q80, 4:4:4, not on the search grid):
    calibrate reads quality and subsampling from the files and picks the true NR over off and a weak one."""
    hidden = ng.SampleParams(camera="nr", crf="gamma-2.0", sigma_s=(0.06,) * 3, sigma_c=(0.012,) * 3,
                             pattern="RGGB", demosaic="malvar", nr_flat_gain=0.4, nr_knee=0.02)
    crops = _crops()
    for k, i in enumerate(np.random.default_rng(6).permutation(len(crops))[:24]):
        clean = crops[i]
        noisy = ng.synthesize(clean, hidden, seed=[43, k]).noisy
        for folder in ("gt", "noisy"):
            (tmp_path / folder).mkdir(exist_ok=True)
        Image.fromarray(clean).save(tmp_path / "gt" / f"NRCam_4_100_1600_s{k % 5}_{k}_mean.png")
        Image.fromarray(noisy).save(tmp_path / "noisy" / f"NRCam_4_100_1600_s{k % 5}_{k}_real.jpg",
                                    quality=80, subsampling=0)
    cal = calibrate(CalibrateConfig(pairs=(str(tmp_path),), crf_curves=("gamma-2.0", "sRGB"), demosaic=("malvar",),
                                    search_pixels=160_000, nr=(None, (0.4, 0.02), (0.85, 0.02)),
                                    jpeg_from_files=True, texture_weight=1.0))
    assert (cal.jpeg, cal.subsampling, cal.nr) == (80, "4:4:4", (0.4, 0.02))
    p = cal.profile
    assert (p.nr_flat_gain, p.nr_knee, p.jpeg_subsampling, p.jpeg_quality) == (0.4, 0.02, "4:4:4", (80, 80))
    tex = cal.groups[0].errors["texture"]
    assert len(tex["real"]["std"]) == len(tex["sim"]["std"]) and cal.to_dict()["noise_reduction"]["flat_gain"] == 0.4


def test_cli_nr_option():
    import argparse

    from noisegen.analysis.calibrate.fit import NR_GRID
    from noisegen.cli.calibrate import _nr_list

    assert _nr_list("grid") == NR_GRID and NR_GRID[0] is None
    assert _nr_list("0.5:0.03,off,0.7") == (None, (0.5, 0.03), (0.7, 0.02))
    with pytest.raises(argparse.ArgumentTypeError, match="FLAT:KNEE"):
        _nr_list("strong")
    with pytest.raises(ValueError, match="nr_flat_gain"):
        CalibrateConfig(pairs=("x",), nr=((1.5, 0.02),))
