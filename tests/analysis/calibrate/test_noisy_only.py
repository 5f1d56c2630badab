"""calibrate --noisy-only (noisegen.analysis.calibrate.noisy_only): pseudo-pairs whose pseudo-clean image keeps
part of the noise, with σ maps beside them; the σ maps must give the camera's σ_s, σ_c back."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import noisegen as ng
from noisegen.analysis.calibrate.fit import NOISY_ONLY_FAMILIES, CalibrateConfig, calibrate
from noisegen.analysis.calibrate.model_nlf import code_moments
from noisegen.analysis.calibrate.noisy_only import MANIFEST, load_sigma, resolve_target, sigma_path, sigma_target_stats
from noisegen.analysis.nlf import image_stats, nlf_from_stats
from noisegen.cli.main import main
from noisegen.crf.io import load_bank
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.pairs import scan_pairs
from noisegen.dataset.samples import sample_photo_paths

SIGMA_S, SIGMA_C = 0.08, 0.02
CAMERA = ng.SampleParams(camera="cam", crf="linear", sigma_s=(SIGMA_S,) * 3, sigma_c=(SIGMA_C,) * 3, pattern=None,
                         jpeg_quality=None)
# one candidate of each kind: the test is about the NLF target, not the curve search
SEARCH = dict(crf_curves=("linear",), demosaic=("none",), jpeg=(None,), channels="shared", search_pixels=100_000,
              iterations=3)


def _crops(n: int, size: int = 128) -> list[np.ndarray]:
    out = []
    for path in sample_photo_paths():
        img, _ = read_rgb8(path)
        out += [np.ascontiguousarray(img[y:y + size, x:x + size]) for y in range(0, img.shape[0] - size + 1, size)
                for x in range(0, img.shape[1] - size + 1, size)]
    return [out[i] for i in np.random.default_rng(3).permutation(len(out))[:n]]


def observed_sigma(clean: np.ndarray) -> np.ndarray:
    """The std of the 8-bit noise at each pixel (rounding and clipping included: what a D-BSN's noise model
    learns from noisy images), from the exact per-code moments of the camera model."""
    _, var = code_moments(load_bank("default").get("linear"), SIGMA_S, SIGMA_C)
    return np.sqrt(np.stack([var[c][clean[..., c]] for c in range(3)], axis=-1))


@pytest.fixture(scope="module")
def pseudo(tmp_path_factory) -> Path:
    """Pseudo-pairs of a known camera: gt = clean + half the noise (a weak denoiser), sigma = the noise std."""
    root = tmp_path_factory.mktemp("pseudo")
    for d in ("noisy", "gt", "sigma"):
        (root / d).mkdir()
    for k, clean in enumerate(_crops(24)):
        noisy = ng.synthesize(clean, CAMERA, seed=[7, k]).noisy
        half = np.clip(np.round(clean + 0.5 * (noisy.astype(np.float64) - clean)), 0, 255).astype(np.uint8)
        name = f"Cam_4_100_1600_scene{k % 5}_{k}_real"
        Image.fromarray(noisy).save(root / "noisy" / f"{name}.png")
        Image.fromarray(half).save(root / "gt" / f"{name}.png")
        np.save(root / "sigma" / f"{name}.npy", observed_sigma(clean).astype(np.float32))
    return root


def test_noisy_only_calibration_recovers_sigma_s_and_sigma_c_within_10_percent(pseudo):
    g = calibrate(CalibrateConfig(pairs=(str(pseudo),), noisy_only=True, noisy_target="sigma", **SEARCH)).groups[0]
    assert g.sigma_s == pytest.approx(SIGMA_S, rel=0.10)
    assert g.sigma_c == pytest.approx(SIGMA_C, rel=0.10)
    # the same pseudo-pairs with the residual as the target: it holds half the noise, and so does the fit
    plain = calibrate(CalibrateConfig(pairs=(str(pseudo),), noisy_only=True, **SEARCH)).groups[0]
    assert plain.sigma_s < 0.75 * SIGMA_S


def test_the_residual_target_recovers_the_camera_from_a_good_pseudo_clean_image_without_sigma_maps(tmp_path):
    """The default target: noisy − pseudo-clean. With a pseudo-clean image equal to the clean one (a perfect
    denoiser) the fit is that of real pairs, and no σ map is read (none is written here)."""
    for d in ("noisy", "gt"):
        (tmp_path / d).mkdir()
    for k, clean in enumerate(_crops(24)):
        noisy = ng.synthesize(clean, CAMERA, seed=[7, k]).noisy
        name = f"Cam_4_100_1600_scene{k % 5}_{k}_real"
        Image.fromarray(noisy).save(tmp_path / "noisy" / f"{name}.png")
        Image.fromarray(clean).save(tmp_path / "gt" / f"{name}.png")
    g = calibrate(CalibrateConfig(pairs=(str(tmp_path),), noisy_only=True, **SEARCH)).groups[0]
    assert g.sigma_s == pytest.approx(SIGMA_S, rel=0.10)
    assert g.sigma_c == pytest.approx(SIGMA_C, rel=0.10)
    with pytest.raises(ValueError, match="no usable|could be read"):  # the σ-map target needs the maps
        calibrate(CalibrateConfig(pairs=(str(tmp_path),), noisy_only=True, noisy_target="sigma", **SEARCH))
    with pytest.raises(ValueError, match="noisy_target"):
        CalibrateConfig(pairs=(str(tmp_path),), noisy_only=True, noisy_target="maps")


def test_the_sigma_target_is_the_rms_sigma_of_each_clean_code():
    rng = np.random.default_rng(0)
    clean = rng.integers(60, 70, size=(40, 50, 3), dtype=np.uint8)
    noisy = np.clip(clean + rng.integers(-3, 4, size=clean.shape), 0, 255).astype(np.uint8)
    sigma = np.where(clean % 2 == 0, 0.02, 0.04)
    st = sigma_target_stats(clean, noisy, sigma)
    nlf = nlf_from_stats(st, bins=256, min_count=1)
    for c in range(3):
        for k in (62, 63):
            assert nlf.std[c, k] == pytest.approx(0.02 if k % 2 == 0 else 0.04, rel=1e-9)
    ref = image_stats(clean, noisy)  # everything but the per-code variance comes from the residuals
    assert np.array_equal(st.level_n, ref.level_n) and np.array_equal(st.level_sum, ref.level_sum)
    assert np.array_equal(st.lag_xy, ref.lag_xy) and np.array_equal(st.cross_xy, ref.cross_xy)


def test_sigma_maps_are_found_beside_noisy_and_checked(pseudo, tmp_path):
    pair = scan_pairs([pseudo]).pairs[0]
    assert sigma_path(pair) == pseudo / "sigma" / (Path(pair.noisy).stem + ".npy")
    assert load_sigma(pair, (128, 128, 3)).dtype == np.float64
    with pytest.raises(ValueError, match="shape"):
        load_sigma(pair, (64, 64, 3))
    with pytest.raises(ValueError, match="folder named noisy"):
        sigma_path(tmp_path / "a" / "x.png")
    bad = tmp_path / "bad"
    for d in ("noisy", "gt"):
        (bad / d).mkdir(parents=True)
        Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(bad / d / "Cam_4_100_1600_s_1_real.png")
    with pytest.raises(ValueError, match="no usable|could be read"):  # no σ map: skipped, and nothing is left
        calibrate(CalibrateConfig(pairs=(str(bad),), noisy_only=True, noisy_target="sigma", **SEARCH))


def test_the_cli_flag_writes_a_profile_and_the_report_says_noisy_only(pseudo, tmp_path, capsys):
    out = tmp_path / "prof.json"
    assert main(["calibrate", "--pairs", str(pseudo), "--noisy-only", "--out", str(out), "--crf-curves", "linear",
                 "--demosaic", "none", "--jpeg", "none", "--channels", "shared", "--search-pixels", "60000",
                 "--max-pixels", "120000"]) == 0
    report = json.loads(out.with_name("prof.report.json").read_text())
    assert report["config"]["noisy_only"] is True and report["config"]["noisy_target"] == "residual"
    # model selection among the families without the correlation term (the pseudo-clean keeps low-frequency noise)
    chosen_from = set(report["selection"]["families"])
    assert chosen_from and chosen_from <= set(NOISY_ONLY_FAMILIES) and report["selection"]["winner"] in chosen_from
    assert "correlated-noise term are not fitted" in capsys.readouterr().err
    assert main(["calibrate", "--pairs", str(pseudo), "--noisy-target", "sigma", "--out", str(out)]) == 2
    assert "goes with --noisy-only" in capsys.readouterr().err
    assert ng.load_profile(out).name.startswith("calibrated-")
    assert "noisy_only" in {f.name for f in dataclasses.fields(CalibrateConfig)}


def _manifest(folder: Path, pd: int | None) -> None:
    cfg = {} if pd is None else {"model_config": {"network": "dbsn", "pd_train": pd}}
    (folder / MANIFEST).write_text(json.dumps({"checkpoint": cfg}))


def test_auto_takes_the_residual_after_a_pd_trained_dbsn_and_the_sigma_maps_after_one_without(pseudo, tmp_path):
    """The measured rule (docs/results.md): with PD the D-BSN's σ maps read ~3× high and its output is close; without
    PD its output keeps correlated noise and the maps are closer. The manifest beside noisy/ says which it was."""
    folders = {}
    for name, pd in (("pd5", 5), ("nopd", 1), ("unknown", None)):
        folders[name] = shutil.copytree(pseudo, tmp_path / name)
        _manifest(folders[name], pd)
    pairs = {k: scan_pairs([v]).pairs for k, v in folders.items()}
    assert resolve_target("auto", pairs["pd5"])[0] == "residual"
    assert resolve_target("auto", pairs["nopd"])[0] == "sigma"
    assert resolve_target("auto", pairs["unknown"])[0] == "residual"
    assert resolve_target("auto", scan_pairs([pseudo]).pairs)[0] == "residual"   # no manifest at all
    target, why = resolve_target("auto", pairs["pd5"] + pairs["nopd"])
    assert target == "residual" and "with and without PD" in why
    assert resolve_target("sigma", pairs["pd5"])[0] == "sigma"                    # a given target is kept
    # calibrate says and records the target it used: the σ maps here, so the camera comes back (they are exact)
    said = []
    cal = calibrate(CalibrateConfig(pairs=(str(folders["nopd"]),), noisy_only=True, **SEARCH), echo=said.append)
    assert cal.config.noisy_target == "sigma" and any("noise-level maps" in m for m in said)
    assert cal.groups[0].sigma_s == pytest.approx(SIGMA_S, rel=0.10)
