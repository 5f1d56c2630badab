"""trainer.infer.evaluate / trainer.infer.inference: PSNR and SSIM against skimage, grouping, self-ensemble, tiling.

Oracles: skimage.metrics.peak_signal_noise_ratio(clean, out, data_range=255) and
skimage.metrics.structural_similarity(clean, out, channel_axis=2, data_range=255) (its defaults:
7×7 uniform window, K1 0.01, K2 0.03, sample covariance), the settings trainer.infer.evaluate documents.
The model is a freshly initialised tiny AINDNet saved with trainer.engine.checkpoint.save_checkpoint.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from checkpoints import make_checkpoint, make_image, write_pairs
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from noisegen.dataset.images import write_png
from trainer.cli import main as cli_main
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.infer.evaluate import EvalConfig, evaluate_checkpoint, ssim_u8
from trainer.infer.inference import load_model, predict, predict_tiled, tile_starts

# PolyU-style names (camera_aperture_shutter_ISO_scene_index_real/mean): two camera/ISO groups.
NAMES = ("Canon5D2_5_160_3200_toy_1", "Canon5D2_5_160_3200_plant_2", "NikonD800_6_125_1600_door_3")
SIZES = ((37, 53), (41, 29), (45, 45))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    ckpt = make_checkpoint(root / "fresh.pt")
    images = {name: make_image(h, w, i) for i, (name, (h, w)) in enumerate(zip(NAMES, SIZES))}
    pairs = write_pairs(root / "pairs", images)
    return ckpt, pairs


def test_ssim_u8_matches_skimage():
    rng = np.random.default_rng(1)
    for h, w in ((7, 7), (23, 31), (40, 17)):
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        b = np.clip(a + rng.normal(0, 15, a.shape), 0, 255).astype(np.uint8)
        ref = structural_similarity(a, b, channel_axis=2, data_range=255)
        assert ssim_u8(a, b) == pytest.approx(ref, abs=1e-10)
    assert ssim_u8(a, a) == pytest.approx(1.0, abs=1e-12)


def test_ssim_u8_bad_inputs():
    a = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(ValueError, match="same shape"):
        ssim_u8(a, np.zeros((10, 11, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        ssim_u8(a, a.astype(np.float32))
    with pytest.raises(ValueError, match="at least 7"):
        ssim_u8(a[:6], a[:6])


def test_eval_matches_skimage_per_image_and_groups(setup):
    ckpt, pairs = setup
    report = evaluate_checkpoint(EvalConfig(checkpoint=str(ckpt), pairs=(str(pairs),), device="cpu", progress=False))
    model, _ = load_model(ckpt)
    assert len(report["images"]) == 3 and not report["skipped"]
    for row, name, (h, w), seed in zip(sorted(report["images"], key=lambda r: r["id"]), sorted(NAMES),
                                       [SIZES[NAMES.index(n)] for n in sorted(NAMES)],
                                       [NAMES.index(n) for n in sorted(NAMES)]):
        assert row["id"].endswith(name + "_real") and (row["height"], row["width"]) == (h, w)
        clean, noisy = make_image(h, w, seed)
        with torch.no_grad():
            out = model(torch.from_numpy(noisy).permute(2, 0, 1)[None].float() / 255)[0]
        y = np.round(np.clip(out[0].permute(1, 2, 0).numpy().astype(np.float64), 0, 1) * 255).astype(np.uint8)
        assert abs(row["psnr"] - peak_signal_noise_ratio(clean, y, data_range=255)) < 1e-6
        assert abs(row["psnr_noisy"] - peak_signal_noise_ratio(clean, noisy, data_range=255)) < 1e-6
        assert abs(row["ssim"] - structural_similarity(clean, y, channel_axis=2, data_range=255)) < 1e-9
        assert abs(row["ssim_noisy"] - structural_similarity(clean, noisy, channel_axis=2, data_range=255)) < 1e-9
    groups = report["groups"]
    assert set(groups) == {"Canon5D2 · ISO 3200", "NikonD800 · ISO 1600"}
    assert groups["Canon5D2 · ISO 3200"]["images"] == 2 and groups["NikonD800 · ISO 1600"]["images"] == 1
    assert report["overall"]["psnr"] == pytest.approx(np.mean([r["psnr"] for r in report["images"]]), abs=1e-12)


def _np_dihedral(a: np.ndarray, t: int) -> np.ndarray:
    """Independent reference on H×W×3 arrays: flip left-right when t ≥ 4, then rotate by 90°·(t mod 4)."""
    return np.rot90(np.fliplr(a) if t >= 4 else a, t % 4)


def _np_dihedral_inverse(a: np.ndarray, t: int) -> np.ndarray:
    b = np.rot90(a, -(t % 4))
    return np.fliplr(b) if t >= 4 else b


def test_ensemble_is_mean_of_eight_transformed_predictions(setup):
    ckpt, _ = setup
    model, _ = load_model(ckpt)
    _, noisy = make_image(21, 34, 5)
    preds = []
    for t in range(8):
        xt = np.ascontiguousarray(_np_dihedral(noisy, t))
        with torch.no_grad():
            d = model(image_to_tensor(xt))[0][0].permute(1, 2, 0).numpy()
        preds.append(_np_dihedral_inverse(d, t))
    assert len({p.tobytes() for p in preds}) == 8  # the transforms really differ (bottom/right padding)
    expected = np.mean(preds, axis=0)
    got, sigma = predict(model, image_to_tensor(noisy), ensemble=True)
    np.testing.assert_allclose(got[0].permute(1, 2, 0).numpy(), expected, rtol=0, atol=1e-6)
    assert sigma.shape == (1, 3, 21, 34)


def test_tile_starts_cover_the_axis_on_the_model_grid():
    starts, step = tile_starts(101, 32, 8, 4)
    assert step == 24 and starts == [0, 24, 48, 72] and starts[-1] + 32 >= 101
    assert tile_starts(20, 32, 8, 4) == ([0], 24)
    assert tile_starts(101, 32, 0, 4)[1] == 28  # the overlap is at least the size multiple
    with pytest.raises(ValueError, match="smaller than the tile"):
        tile_starts(50, 16, 16, 4)
    with pytest.raises(ValueError, match="twice the model's size multiple"):
        tile_starts(50, 6, 2, 4)


@pytest.mark.parametrize("tile,overlap", [(48, 16), (64, 32)])
def test_tiling_changes_psnr_by_at_most_0_01_db(setup, tile, overlap):
    ckpt, _ = setup
    model, _ = load_model(ckpt)
    clean, noisy = make_image(75, 101, 7)  # odd, non-square, several tiles per axis
    x = image_to_tensor(noisy)
    whole, _ = predict(model, x)
    tiled, sig = predict(model, x, tile=tile, overlap=overlap)
    assert tiled.shape == whole.shape == sig.shape == (1, 3, 75, 101)
    p_whole = peak_signal_noise_ratio(clean, tensor_to_u8(whole), data_range=255)
    p_tiled = peak_signal_noise_ratio(clean, tensor_to_u8(tiled), data_range=255)
    assert abs(p_whole - p_tiled) <= 0.01
    # without whole-image AIN statistics the tiles are measurably off (0.09 dB at 64/32, measured)
    local, _ = predict_tiled(model, x, tile=tile, overlap=overlap, global_norm=False)
    assert float((tiled - whole).abs().mean()) < float((local - whole).abs().mean())


def test_one_tile_with_global_statistics_is_the_whole_image(setup):
    ckpt, _ = setup
    model, _ = load_model(ckpt)
    _, noisy = make_image(75, 101, 7)
    x = image_to_tensor(noisy)
    whole, s_whole = predict(model, x)
    one, s_one = predict_tiled(model, x, tile=128, overlap=8)
    torch.testing.assert_close(one, whole, rtol=0, atol=1e-5)
    torch.testing.assert_close(s_one, s_whole, rtol=0, atol=1e-6)


def test_eval_cli_json_and_unreadable_pair(setup, tmp_path, capsys):
    ckpt, pairs = setup
    bad = tmp_path / "bad"
    (bad / "noisy").mkdir(parents=True)
    (bad / "gt").mkdir()
    clean, noisy = make_image(20, 30, 9)
    write_png(bad / "noisy" / "NikonD800_6_125_1600_cup_1_real.png", noisy)
    write_png(bad / "gt" / "NikonD800_6_125_1600_cup_1_mean.png", clean)
    (bad / "noisy" / "NikonD800_6_125_1600_mug_2_real.png").write_bytes(b"not a png")
    write_png(bad / "gt" / "NikonD800_6_125_1600_mug_2_mean.png", clean)
    out = tmp_path / "eval.json"
    rc = cli_main(["eval", str(ckpt), "--pairs", str(pairs), "--pairs", str(bad), "--json", str(out),
                   "--ensemble", "--tile", "16", "--overlap", "4", "--device", "cpu", "--no-progress"])
    assert rc == 0
    rep = json.loads(out.read_text())
    assert rep["overall"]["images"] == 4 and rep["config"]["ensemble"] is True
    assert all(r["tiled"] for r in rep["images"])
    assert len(rep["skipped"]) == 1 and "mug_2" in rep["skipped"][0]
    text = capsys.readouterr().out
    assert "overall" in text and "skipped 1" in text and text.strip().splitlines()[-1] == f"wrote {out}"


def test_eval_missing_folder_is_an_error(setup, tmp_path, capsys):
    ckpt, _ = setup
    rc = cli_main(["eval", str(ckpt), "--pairs", str(tmp_path / "nope"), "--no-progress"])
    assert rc == 2 and "not a folder" in capsys.readouterr().err


def test_eval_on_a_pack_pairs_dataset_matches_the_folder(setup, tmp_path):
    from noisegen.dataset.pack_pairs import PackPairsConfig, pack_pairs

    ckpt, pairs = setup
    pack_pairs(PackPairsConfig(pairs=(str(pairs),), out=str(tmp_path / "packed"), whole=("all",)), progress=False,
               echo=lambda s: None)
    cfg = dict(checkpoint=str(ckpt), device="cpu", progress=False)
    from_ds = evaluate_checkpoint(EvalConfig(pairs=(str(tmp_path / "packed"),), **cfg))
    from_dir = evaluate_checkpoint(EvalConfig(pairs=(str(pairs),), **cfg))
    assert from_ds["groups"].keys() == from_dir["groups"].keys()
    assert from_ds["overall"]["images"] == 3
    assert from_ds["overall"]["psnr"] == pytest.approx(from_dir["overall"]["psnr"], abs=1e-9)
    assert from_ds["overall"]["ssim"] == pytest.approx(from_dir["overall"]["ssim"], abs=1e-9)
