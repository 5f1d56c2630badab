"""noisegen realism: AKLD against an independent reference, its estimation floor, block statistics, the
baselines, the held-out split, the command's outputs and errors, and a quick run on real pairs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from datagen import shared_data
from figures import capture_figures
from PIL import Image

import noisegen as ng
import noisegen.analysis.realism.plot
from noisegen.analysis.nlf import image_stats, merge
from noisegen.analysis.realism.akld import akld, kl_zero_mean, local_variance, opencv_gaussian_kernel
from noisegen.analysis.realism.blocks import block_stats
from noisegen.analysis.realism.models import fit_awgn, fit_srgb_linear
from noisegen.analysis.realism.plot import COLOURBAR_LABEL
from noisegen.analysis.realism.protocol import RealismConfig, run_realism
from noisegen.analysis.realism.split import split_groups
from noisegen.cli.main import main
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.pairs import scan_pairs
from noisegen.dataset.samples import sample_photo_paths

# ------------------------------------------------------------------------------------------------
# AKLD


def _ref_akld(clean: np.ndarray, real: np.ndarray, sims: list[np.ndarray]) -> float:
    """Plain-numpy AKLD written from DANet's definition with explicit loops (independent of the module):
    OpenCV's 7-tap table (ksize 7, sigma -1), outer product, numpy 'reflect' padding (= BORDER_REFLECT_101)."""
    g = np.array([2, 7, 14, 18, 14, 7, 2], dtype=np.float64) / 64.0
    w2 = np.outer(g, g)

    def local_var(noisy):
        r2 = ((noisy.astype(np.float64) - clean.astype(np.float64)) / 255.0) ** 2
        h, w, c = r2.shape
        pad = np.pad(r2, ((3, 3), (3, 3), (0, 0)), mode="reflect")
        out = np.zeros_like(r2)
        for i in range(h):
            for j in range(w):
                for ch in range(c):
                    out[i, j, ch] = np.sum(w2 * pad[i:i + 7, j:j + 7, ch])
        return np.maximum(out, 1e-10)

    vr = local_var(real)
    total = 0.0
    for s in sims:
        ratio = np.clip(local_var(s) / vr, 0.1, 10.0)
        total += np.mean(0.5 * (ratio - 1.0 - np.log(ratio)))
    return total / len(sims)


def test_opencv_kernel_definition():
    # OpenCV getGaussianKernel: odd ksize <= 7 with sigma <= 0 returns its fixed table; otherwise the
    # sampled Gaussian exp(-x²/(2σ²)) normalised, with σ = 0.3·((ksize − 1)/2 − 1) + 0.8 when sigma <= 0
    table7 = [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125]
    np.testing.assert_array_equal(opencv_gaussian_kernel(7), table7)
    np.testing.assert_array_equal(opencv_gaussian_kernel(5, 0), [0.0625, 0.25, 0.375, 0.25, 0.0625])
    for ksize, sigma, s in ((7, 1.4, 1.4), (9, -1.0, 0.3 * (4 - 1) + 0.8), (11, 2.0, 2.0)):
        x = np.arange(ksize) - (ksize - 1) / 2
        ref = np.exp(-x**2 / (2 * s**2))
        np.testing.assert_allclose(opencv_gaussian_kernel(ksize, sigma), ref / ref.sum(), rtol=0, atol=1e-15)
    # the table is close to the σ = 1.4 Gaussian that the default formula would give for size 7
    assert 0 < np.abs(opencv_gaussian_kernel(7) - opencv_gaussian_kernel(7, 1.4)).max() < 0.007
    with pytest.raises(ValueError, match="odd"):
        opencv_gaussian_kernel(6)


def test_akld_matches_loop_reference():
    rng = np.random.default_rng(11)
    clean = rng.integers(20, 235, size=(13, 10, 3)).astype(np.uint8)

    def noisy(scale):
        return np.clip(clean + rng.normal(0, scale, clean.shape).round(), 0, 255).astype(np.uint8)
    real = noisy(4)
    real[2:9, 1:8, 1] = clean[2:9, 1:8, 1]      # a window with no real noise: the floor and the clamp matter
    sims = [noisy(4), noisy(7), noisy(2)]
    ref = _ref_akld(clean, real, sims)
    assert abs(akld(clean, real, sims) - ref) <= 1e-6
    # the same through floats in [0, 1]
    f = [a.astype(np.float64) / 255 for a in (clean, real, *sims)]
    assert abs(akld(f[0], f[1], f[2:]) - ref) <= 1e-6


def test_kl_known_values_and_clamp():
    assert kl_zero_mean(np.array([2.0]), np.array([2.0]))[0] == 0.0
    np.testing.assert_allclose(kl_zero_mean(np.array([4.0]), np.array([1.0])), 0.5 * (4 - 1 - math.log(4)))
    np.testing.assert_allclose(kl_zero_mean(np.array([1e3]), np.array([1.0])), 0.5 * (10 - 1 - math.log(10)))
    np.testing.assert_allclose(kl_zero_mean(np.array([1e-6]), np.array([1.0])), 0.5 * (0.1 - 1 - math.log(0.1)))
    # a residual twice the real one everywhere: ratio 4 at every pixel
    rng = np.random.default_rng(0)
    r = rng.normal(0, 0.02, (20, 24, 3))
    v1, v2 = local_variance(r), local_variance(2 * r)
    np.testing.assert_allclose(kl_zero_mean(v2, v1), 0.5 * (4 - 1 - math.log(4)), rtol=1e-12)
    with pytest.raises(ValueError, match="half-window"):
        local_variance(np.zeros((3, 10, 3)))


def _flat(value: int = 128, shape=(96, 96, 3)) -> np.ndarray:
    return np.full(shape, value, np.uint8)


def _awgn(sigma8: float) -> ng.SampleParams:
    return ng.SampleParams(crf="linear", sigma_c=(sigma8 / 255,) * 3, pattern=None)


def test_same_model_scores_near_floor_and_2x_sigma_far():
    clean = _flat()
    real = ng.synthesize(clean, _awgn(6), seed=0).noisy
    same = akld(clean, real, [ng.synthesize(clean, _awgn(6), seed=s).noisy for s in range(1, 9)])
    double = akld(clean, real, [ng.synthesize(clean, _awgn(12), seed=s).noisy for s in range(1, 9)])
    half = akld(clean, real, [ng.synthesize(clean, _awgn(3), seed=s).noisy for s in range(1, 9)])
    # floor ≈ ¼·var(ln v̂ − ln v) with ~25 effective samples per window: ≈ 0.04
    assert same < 0.08
    assert double > 0.5 > same * 5 and half > 0.3


def _photo(size: int = 128) -> np.ndarray:
    img, _ = read_rgb8(sample_photo_paths()[0])
    return np.ascontiguousarray(img[:size, :size])


def test_wrong_model_scores_worse_than_the_right_one():
    clean = _photo()
    cam = ng.SampleParams(crf="sRGB", sigma_s=(0.06,) * 3, sigma_c=(0.012,) * 3, pattern="RGGB", demosaic="malvar",
                          jpeg_quality=80)
    real = ng.synthesize(clean, cam, seed=0).noisy
    sd = float(np.std(real.astype(float) - clean))
    right = akld(clean, real, [ng.synthesize(clean, cam, seed=s).noisy for s in range(1, 9)])
    wrong = akld(clean, real, [ng.synthesize(clean, _awgn(sd), seed=s).noisy for s in range(1, 9)])
    assert right < wrong


# ------------------------------------------------------------------------------------------------
# Block statistics and baselines


def test_block_stats_find_jpeg_blocks_and_flat_blocks():
    rng = np.random.default_rng(3)
    clean = _flat(shape=(120, 136, 3))
    noisy = np.clip(clean + rng.normal(0, 4, clean.shape).round(), 0, 255).astype(np.uint8)
    plain = block_stats(clean, noisy)
    assert plain.boundary_ratio < 1.1 and plain.flat_fraction == 0
    jpeg = ng.isp.jpeg.jpeg_roundtrip(noisy, 80, "4:2:0")[3:, 5:]   # a crop that shifts the block grid
    js = block_stats(clean[3:, 5:], jpeg)
    assert js.boundary_ratio > 1.5 and js.phase == (5, 3)
    # zero the residual in some blocks of the grid starting at (5, 3): those and only those are flat
    flat = jpeg.copy()
    c = clean[3:, 5:]
    for by, bx in ((0, 0), (2, 3), (5, 1)):
        ys, xs = slice(5 + 8 * by, 13 + 8 * by), slice(3 + 8 * bx, 11 + 8 * bx)
        flat[ys, xs] = c[ys, xs]
    fs = block_stats(c, flat)
    n_blocks = ((c.shape[0] - 5) // 8) * ((c.shape[1] - 3) // 8)
    assert fs.phase == (5, 3) and fs.flat_fraction == pytest.approx(3 / n_blocks)


def test_baseline_fits_recover_known_noise():
    yy, xx = np.mgrid[0:160, 0:256]
    clean = np.stack([xx, (xx + yy) // 2, 255 - xx], axis=-1).clip(8, 247).astype(np.uint8)
    awgn = merge(image_stats(clean, ng.synthesize(clean, _awgn(5), seed=s).noisy) for s in range(3))
    assert fit_awgn(awgn).fit["sigma_8bit"] == pytest.approx(5.0, rel=0.03)
    a, b = (0.02 / 255) * 255, (3 / 255) ** 2          # var = a·x + b: 5.1 levels² per unit intensity, 9 levels²
    het = ng.SampleParams(crf="linear", sigma_s=(math.sqrt(a / 255),) * 3, sigma_c=(math.sqrt(b),) * 3, pattern=None)
    st = merge(image_stats(clean, ng.synthesize(clean, het, seed=s).noisy) for s in range(3))
    fit = fit_srgb_linear(st).fit
    np.testing.assert_allclose(fit["a"], a / 255, rtol=0.15)
    np.testing.assert_allclose(fit["b"], b, rtol=0.1)


# ------------------------------------------------------------------------------------------------
# Held-out split and the whole run on synthetic pairs


CAM = ng.SampleParams(crf="sRGB", sigma_s=(0.05,) * 3, sigma_c=(0.01,) * 3, pattern="RGGB", demosaic="bilinear",
                      jpeg_quality=90)


def _write_pairs(root: Path, camera: str, iso: int, scenes: dict[str, int], size: int = 48) -> None:
    """PolyU-style pairs (camera_aperture_shutter_ISO_scene_index_real/mean) simulated with CAM."""
    photo, _ = read_rgb8(sample_photo_paths()[0])
    k = 0
    for scene, n in scenes.items():
        for i in range(n):
            y, x = (17 * k) % (photo.shape[0] - size), (29 * k) % (photo.shape[1] - size)
            clean = np.ascontiguousarray(photo[y:y + size, x:x + size])
            noisy = ng.synthesize(clean, CAM, seed=[iso, k]).noisy
            for folder, img, tag in (("gt", clean, "mean"), ("noisy", noisy, "real")):
                (root / folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(root / folder / f"{camera}_4_100_{iso}_{scene}_{i}_{tag}.png",
                                          compress_level=1)
            k += 1


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("realism_pairs")
    _write_pairs(root, "CamA", 800, {"desk": 2, "door": 1, "lamp": 2, "tree": 1})
    _write_pairs(root, "CamB", 3200, {"desk": 1, "wall": 2})
    _write_pairs(root, "CamB", 6400, {"only": 2})       # one scene: cannot be held out
    return root


def test_split_holds_whole_scenes_out(pairs_root):
    pairs = scan_pairs([pairs_root]).pairs
    groups, skipped = split_groups(pairs, seed=4)
    assert [g.name for g in groups] == ["CamA · ISO 800", "CamB · ISO 3200"]
    for g in groups:
        calib_scenes, test_scenes = {p.scene for p in g.calib}, {p.scene for p in g.test}
        assert calib_scenes and test_scenes and not calib_scenes & test_scenes
        assert len(g.calib) + len(g.test) == sum(p.camera == g.camera and p.iso == g.iso for p in pairs)
    assert skipped == [{"group": "CamB · ISO 6400", "reason": "1 scene (only, 2 pairs): cannot hold scenes out"}]
    insample, _ = split_groups(pairs, in_sample=True)
    assert all(g.calib == g.test for g in insample) and len(insample) == 3


def test_run_never_scores_calibration_pairs(pairs_root):
    rep = run_realism(RealismConfig(pairs=(str(pairs_root),), draws=2, seed=1, min_count=50))
    assert rep.keys == ["AWGN", "sRGB a·x+b", "cbdnet"]
    for g in rep.groups:
        assert not set(g.calib) & set(g.test)
        for key, s in g.scores.items():
            assert set(s.akld_pairs) == set(g.test)
            assert s.akld >= 0 and s.self_akld is not None
        for m in g.models[:2]:
            assert set(m.fitted_on) == set(g.calib)
    # the profile the pairs were simulated with beats both baselines; cbdnet is far off
    prof = ng.fix(ng.get_profile("cbdnet"), sigma_s=0.05, sigma_c=0.01, crf="sRGB", pattern="RGGB",
                  demosaic="bilinear", jpeg_quality=90)
    path = pairs_root.parent / "true_camera.json"
    ng.save_profile(prof, path)
    rep2 = run_realism(RealismConfig(pairs=(str(pairs_root),), profiles=("cbdnet", str(path)), fitted_on=("none",),
                                     draws=2, seed=1, min_count=50))
    assert rep2.wins()[prof.name] == (2, 2)
    assert rep2.mean_akld()["cbdnet"] > rep2.mean_akld()[prof.name]


def test_calib_and_test_folders(tmp_path):
    _write_pairs(tmp_path / "calib", "CamA", 800, {"desk": 2, "door": 1})
    _write_pairs(tmp_path / "test", "CamA", 800, {"lamp": 2})
    _write_pairs(tmp_path / "test", "CamC", 100, {"sky": 1})          # no calibration pair: skipped
    rep = run_realism(RealismConfig(calib=(str(tmp_path / "calib"),), test=(str(tmp_path / "test"),), draws=1,
                                    min_count=50))
    (g,) = rep.groups
    assert len(g.calib) == 3 and len(g.test) == 2 and g.test_scenes == ["lamp"]
    assert rep.skipped_groups[0]["group"] == "CamC · ISO 100"
    # the same pairs on both sides: refused, unless in-sample on purpose
    same = dict(calib=(str(tmp_path / "calib"),), test=(str(tmp_path / "calib"),), draws=1, min_count=50)
    with pytest.raises(ValueError, match="fitted on 3 of the test pairs"):
        run_realism(RealismConfig(**same))
    assert run_realism(RealismConfig(**same, in_sample=True)).groups[0].test == g.calib


def test_same_scores_with_any_worker_count(pairs_root):
    cfg = dict(pairs=(str(pairs_root),), draws=2, seed=2, min_count=50, figure_pairs=0)
    one, two = run_realism(RealismConfig(**cfg)), run_realism(RealismConfig(**cfg, workers=2))
    assert [g.scores[k].akld_pairs for g in one.groups for k in one.keys] == \
        [g.scores[k].akld_pairs for g in two.groups for k in two.keys]


def test_profile_fitted_on_test_pairs_is_refused(pairs_root, tmp_path):
    path = tmp_path / "mine.json"
    ng.save_profile(ng.get_profile("gauss25"), path)
    base = dict(pairs=(str(pairs_root),), profiles=(str(path),), draws=1)
    with pytest.raises(ValueError, match="say which pairs it was fitted on"):
        run_realism(RealismConfig(**base))
    with pytest.raises(ValueError, match="was fitted on .* of the test pairs"):
        run_realism(RealismConfig(**base, fitted_on=(str(pairs_root),)))
    # a calibrate report beside the profile is read by itself
    ids = [p.id for p in scan_pairs([pairs_root]).pairs]
    (tmp_path / "mine.report.json").write_text(json.dumps({"groups": [{"pairs": ids}]}))
    with pytest.raises(ValueError, match="was fitted on"):
        run_realism(RealismConfig(**base))
    # on purpose, in-sample
    rep = run_realism(RealismConfig(**base, in_sample=True))
    assert all(g.calib == g.test for g in rep.groups)


def test_fit_step_is_fitted_on_calibration_pairs_only(pairs_root, tmp_path, monkeypatch):
    (tmp_path / "myfit.py").write_text(
        "import noisegen as ng\n"
        "SEEN = []\n"
        "def fit(pairs, camera, iso, seed):\n"
        "    return ng.fix(ng.get_profile('cbdnet'), sigma_s=0.05, sigma_c=0.01, crf='sRGB', pattern='RGGB',\n"
        "                  demosaic='bilinear', jpeg_quality=90)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    rep = run_realism(RealismConfig(pairs=(str(pairs_root),), profiles=(), fit="myfit:fit", draws=2, min_count=50))
    assert rep.keys == ["AWGN", "sRGB a·x+b", "myfit:fit"]
    for g in rep.groups:
        m = g.models[-1]
        assert m.kind == "fitted" and set(m.fitted_on) == set(g.calib)
    with pytest.raises(ValueError, match="--fit 'nope'"):
        RealismConfig(pairs=(str(pairs_root),), fit="nope")


def test_calibrate_fits_exactly_the_given_pairs(pairs_root):
    from noisegen.analysis.calibrate.fit import CalibrateConfig, calibrate

    pairs = [p for p in scan_pairs([pairs_root]).pairs if p.camera == "CamA"][:3]
    cal = calibrate(CalibrateConfig(pairs=(str(pairs_root),), camera="CamA", crf_curves=("sRGB",), demosaic=("none",),
                                    jpeg=(None,), iterations=1, min_count=50), pairs=pairs)
    assert sorted(cal.groups[0].pairs) == sorted(p.id for p in pairs)


# ------------------------------------------------------------------------------------------------
# The command


def test_cli_writes_json_markdown_and_figure(pairs_root, tmp_path, capsys, monkeypatch):
    figures = capture_figures(monkeypatch, noisegen.analysis.realism.plot)
    out = tmp_path / "rep"
    assert main(["realism", "--pairs", str(pairs_root), "--draws", "2", "--min-count", "50", "--out", str(out),
                 "--workers", "1", "--no-progress"]) == 0  # parallel: test_same_scores_with_any_worker_count
    text = capsys.readouterr().out
    assert "| group |" in text and "PNGAN: 0.153" in text and "DANet: 0.212" in text
    rec = json.loads((out / "realism.json").read_text())
    assert rec["models"] == ["AWGN", "sRGB a·x+b", "cbdnet"] and rec["config"]["draws"] == 2
    assert set(rec["mean_akld"]) == set(rec["models"]) and len(rec["anchors"]) == 3
    assert (out / "realism.md").read_text().startswith("# Realism")
    with Image.open(out / "realism.png") as im:
        assert im.width > 600
    assert figures[0].axes[-1].get_ylabel() == COLOURBAR_LABEL  # the colour bar says what its colours mean


@pytest.mark.parametrize("args, message", [
    (["--pairs", "/nonexistent/pairs"], "does not exist"),
    (["--pairs", "EMPTY"], "no usable noisy/clean pair"),
    (["--pairs", "PAIRS", "--camera", "CamB", "--iso", "6400"], "1 scene"),
    (["--pairs", "PAIRS", "--split", "a:1,b:rest"], "calib and test"),
    (["--calib", "PAIRS"], "--calib and --test go together"),
    (["--pairs", "PAIRS", "--fit", "nosuchmodule:fit"], "cannot import"),
])
def test_cli_bad_input_is_one_line(pairs_root, tmp_path, capsys, args, message):
    (tmp_path / "empty").mkdir()
    args = [str(pairs_root) if a == "PAIRS" else str(tmp_path / "empty") if a == "EMPTY" else a for a in args]
    assert main(["realism", *args, "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("noisegen realism: error:") and message in err


# ------------------------------------------------------------------------------------------------
# Real pairs (../shared/data): a few small crops


def test_real_polyu_crops():
    root = shared_data("PolyU100")
    rep = run_realism(RealismConfig(pairs=(str(root),), camera="Canon5D2", iso=(3200,), crop=96, draws=2,
                                    min_count=200, figure_pairs=0))
    (g,) = rep.groups
    assert not set(g.calib) & set(g.test) and not set(g.calib_scenes) & set(g.test_scenes)
    # cbdnet's noise is far stronger than this camera's (issue 11 measured AKLD ≈ 2.8 against ≈ 0.4-0.7)
    assert g.scores["cbdnet"].akld > 2 * g.scores["AWGN"].akld
    # PolyU's residuals carry JPEG's 8×8 blocks; the AWGN baseline's do not
    blocks = g.scores["AWGN"].blocks
    assert blocks["real"]["boundary_ratio"] > 1.5 > blocks["sim"]["boundary_ratio"]
