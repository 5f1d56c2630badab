"""noisegen stats: the recovered NLF of a fixed-parameter dataset against the model, the fast path, the CLI
outputs, parallel == serial, damaged shards, and real pairs (PolyU100, CC60) per camera and ISO."""

import json
import shutil

import numpy as np
import pytest
from datagen import shared_data
from figures import capture_figures
from PIL import Image

import noisegen.analysis.plot
from noisegen.analysis.calibrate.model_nlf import binned_model_std, code_moments
from noisegen.analysis.stats import StatsConfig, dataset_stats, pairs_stats
from noisegen.cli.main import main
from noisegen.crf.io import load_bank
from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.samples import sample_photo_paths
from noisegen.isp.profiles import CameraProfile

S, C = 0.08, 0.02
# Two curves, fixed σ, no mosaic and no JPEG: the sRGB NLF has an exact model (noisegen.analysis.calibrate.model_nlf).
PROFILE = CameraProfile(name="fixed", crf_curves=("sRGB", "gamma-2.2"), sigma_s=(S, S), sigma_c=(C, C),
                        per_channel=False, patterns=(None,), jpeg_probability=0.0)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("stats") / "ds"
    images = tuple(str(p) for p in sample_photo_paths()[:6])
    generate(GenerateConfig(out=str(out), images=images, profile=PROFILE, patch=96, patches_per_image=8,
                            samples_per_shard=6, seed=3, workers=1), progress=False, echo=lambda s: None)
    return out


@pytest.fixture(scope="module")
def full(dataset):
    return dataset_stats(StatsConfig(dataset=str(dataset), by=("crf",), progress=False, workers=1))


def test_recovered_nlf_matches_the_model_within_5_percent(full):
    assert [g.name for g in full.groups] == ["gamma-2.2", "sRGB"] and full.mode == "full"
    worst = 0.0
    for g in full.groups:
        st = g.stats
        curve = g.summary["nlf"]
        _, var = code_moments(load_bank().get(g.name), S, C)
        model = binned_model_std(var, st.level_n, 16)
        std = np.array([[np.nan if v is None else v for v in row] for row in curve["std"]])
        enough = np.array(curve["count"]) >= 2000  # every bin with enough pixels, clipped ones included
        assert enough.sum() >= 30
        rel = np.abs(std[enough] / model[enough] - 1)
        worst = max(worst, rel.max())
        assert rel.max() < 0.05, (g.name, rel.max())
    assert worst < 0.03  # measured: ~1-2%, sampling noise only


def test_raw_nlf_from_sigma_maps_matches_the_model(full):
    for g in full.groups:
        raw = g.summary["raw_nlf"]
        x, std, ok = (np.array(raw[k], dtype=float) for k in ("x", "std", "valid"))
        ok = ok.astype(bool)
        assert ok.sum() >= 40
        np.testing.assert_allclose(std[ok], np.sqrt(x[ok] * S**2 + C**2), rtol=2e-3)  # 16-bit σ encoding


def test_correlations_of_independent_noise_are_zero(full):
    for g in full.groups:
        ac = np.array(list(g.summary["autocorrelation"].values()), dtype=float)
        assert np.abs(ac).max() < 0.03 and abs(g.summary["lag1"]) < 0.02
        assert max(abs(v) for v in g.summary["cross_correlation"].values()) < 0.03
        assert g.summary["images"] == g.summary["parameters"]["samples"] > 10


def test_fast_path_reads_the_index_only(dataset, full):
    fast = dataset_stats(StatsConfig(dataset=str(dataset), by=("crf",), fast=True, progress=False))
    assert fast.mode == "index" and [g.name for g in fast.groups] == [g.name for g in full.groups]
    for gf, g in zip(fast.groups, full.groups):
        assert gf.stats is None and gf.summary["samples"] == g.summary["images"]
        assert gf.summary["sigma_s_r"]["min"] == pytest.approx(S) and gf.summary["sigma_c_b"]["max"] == pytest.approx(C)
        raw = gf.summary["raw_nlf"]
        np.testing.assert_allclose(raw["std"][1], np.sqrt(np.array(raw["x"][1]) * S**2 + C**2), rtol=1e-9)
        assert gf.summary["psnr_est_mean"] == pytest.approx(g.summary["psnr_mean"], abs=0.5)
    assert "σ_s (mean, p5-p95)" in fast.table()


def test_cli_writes_table_json_and_plot(dataset, tmp_path, capsys, monkeypatch):
    figures = capture_figures(monkeypatch, noisegen.analysis.plot)
    args = ["stats", str(dataset), "--by", "crf,jpeg", "--json", str(tmp_path / "s.json"), "--plot",
            str(tmp_path / "s.png"), "--table", str(tmp_path / "s.md"), "--workers", "1", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "crf=sRGB jpeg=none" in out and "PSNR dB" in out and "skipped inputs: 0" in out
    data = json.loads((tmp_path / "s.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert data["format"] == "noisegen-stats/1" and len(data["groups"]) == 2 and data["mode"] == "full"
    assert set(data["groups"][0]["nlf"]) >= {"x", "std", "count", "valid"}
    with Image.open(tmp_path / "s.png") as im:
        assert im.width >= 600 and im.height >= 400
    legend = [t.get_text() for t in figures[0].legends[0].get_texts()]  # the hollow markers say what they are
    assert legend == ["R", "G", "B", "bin left out (< 1000 pixels or > 1% clipped)"]
    assert (tmp_path / "s.md").read_text().startswith("| group |")


def test_parallel_equals_serial_and_max_samples(dataset, full):
    par = dataset_stats(StatsConfig(dataset=str(dataset), by=("crf",), progress=False, workers=2))
    for a, b in zip(par.groups, full.groups):
        np.testing.assert_allclose(a.stats.level_sum2, b.stats.level_sum2, rtol=1e-12)
        np.testing.assert_allclose(a.stats.lag_xy, b.stats.lag_xy, rtol=1e-12)
    few = dataset_stats(StatsConfig(dataset=str(dataset), by=("camera",), max_samples=5, progress=False))
    assert [g.summary["images"] for g in few.groups] == [5]


def test_damaged_shard_is_listed_and_skipped(dataset, tmp_path):
    copy = shutil.copytree(dataset, tmp_path / "copy")
    shard = copy / "shard-000001.tar"
    shard.write_bytes(shard.read_bytes()[:3000])
    rep = dataset_stats(StatsConfig(dataset=str(copy), by=("camera",), progress=False))
    assert any("shard-000001" in s["source"] for s in rep.skipped)
    assert 0 < rep.groups[0].summary["images"] < 48


def test_config_errors(dataset):
    with pytest.raises(ValueError, match="either a dataset"):
        StatsConfig(dataset=str(dataset), pairs=("x",))
    with pytest.raises(ValueError, match="by"):
        StatsConfig(dataset=str(dataset), by=("lens",))
    with pytest.raises(ValueError, match="datasets only"):
        StatsConfig(pairs=("x",), fast=True)
    assert main(["stats", "/nonexistent/folder"]) == 2


def test_real_pairs_polyu100_and_cc60(tmp_path, capsys):
    polyu, cc60 = shared_data("PolyU100"), shared_data("CC60")
    args = ["stats", "--pairs", str(polyu), "--pairs", str(cc60), "--json", str(tmp_path / "real.json"),
            "--plot", str(tmp_path / "real.png"), "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "real.json").read_text())
    names = [g["name"] for g in data["groups"]]
    assert len(names) == 20 and "PolyU100 · Canon5D2 · ISO 3200" in names and "CC60 · Nikon_D800 · ISO 6400" in names
    assert sum(g["images"] for g in data["groups"]) == 160 and data["skipped"] == []
    for g in data["groups"]:
        assert 30 < g["psnr_mean"] < 42 and 0.2 < g["lag1"] < 0.9  # real cameras: correlated noise
    assert "CC60 · Canon_EOS_5D_Mark3 · ISO 3200" in out
    with Image.open(tmp_path / "real.png") as im:
        assert im.width >= 1200


def test_real_pairs_bad_inputs_listed(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        clean = rng.integers(20, 230, (40, 48, 3), dtype=np.uint8)
        noisy = np.clip(clean + rng.normal(0, 5, clean.shape), 0, 255).astype(np.uint8)
        (tmp_path / "noisy").mkdir(exist_ok=True)
        (tmp_path / "gt").mkdir(exist_ok=True)
        Image.fromarray(noisy).save(tmp_path / "noisy" / f"CamB_2_50_400_lab_{i}_real.png")
        Image.fromarray(clean).save(tmp_path / "gt" / f"CamB_2_50_400_lab_{i}_mean.png")
    Image.fromarray(clean[:30]).save(tmp_path / "noisy" / "CamB_2_50_400_lab_7_real.png")
    Image.fromarray(clean).save(tmp_path / "gt" / "CamB_2_50_400_lab_7_mean.png")
    Image.fromarray(clean).save(tmp_path / "gt" / "CamB_2_50_400_lab_8_mean.png")
    (tmp_path / "noisy" / "CamB_2_50_400_lab_9_real.png").write_bytes(b"\x89PNG broken")
    Image.fromarray(clean).save(tmp_path / "gt" / "CamB_2_50_400_lab_9_mean.png")
    rep = pairs_stats(StatsConfig(pairs=(str(tmp_path),), min_count=10, progress=False))
    assert [g.name for g in rep.groups] == ["CamB · ISO 400"] and rep.groups[0].summary["images"] == 2
    why = " | ".join(s["reason"] for s in rep.skipped)
    assert len(rep.skipped) == 3 and "size mismatch" in why and "missing partner" in why and "not a readable" in why
