"""trainer.infer.denoise: any-size images (tiled or whole), σ̂ pictures, skipped inputs, no silent overwrite.

The model is a freshly initialised tiny AINDNet saved with trainer.engine.checkpoint.save_checkpoint
(tests/checkpoints.make_checkpoint).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from checkpoints import make_checkpoint, make_image
from PIL import Image

from noisegen.dataset.images import read_rgb8, write_png
from trainer.cli import main as cli_main
from trainer.engine.images import image_to_tensor, tensor_to_u8
from trainer.infer.denoise import DenoiseConfig, denoise_images, output_paths
from trainer.infer.inference import load_model, predict, tile_calls
from trainer.infer.sigma_picture import LEVEL_TEXT, sigma_picture


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("denoise") / "fresh.pt")


def _quiet(msg: str) -> None:
    pass


def test_denoise_non_square_odd_image_whole_and_tiled(ckpt, tmp_path):
    _, noisy = make_image(53, 79, 3)
    src = tmp_path / "in" / "odd.png"
    src.parent.mkdir()
    write_png(src, noisy)
    res = denoise_images(DenoiseConfig(str(ckpt), (str(src),), str(tmp_path / "whole"), sigma_map=True,
                                       device="cpu", threads=torch.get_num_threads(), progress=False), echo=_quiet)
    den, sig = output_paths(src, tmp_path / "whole")
    assert res.written == [str(den), str(sig)] and not res.skipped
    out, _ = read_rgb8(den)
    assert out.shape == (53, 79, 3) and out.dtype == np.uint8
    model, _ = load_model(ckpt)
    d, s = predict(model, image_to_tensor(noisy))
    np.testing.assert_array_equal(out, tensor_to_u8(d))  # PNG round trip is lossless
    picture, levels = sigma_picture(s[0].permute(1, 2, 0).numpy())
    np.testing.assert_array_equal(read_rgb8(sig)[0], picture)  # same threads: the same σ̂ to the last bit
    with Image.open(sig) as im:  # the picture states its scale, also to programs
        assert tuple(float(im.info[k]) for k in LEVEL_TEXT) == levels
    # tiled (several tiles per axis): same size, and close to the whole-image result
    res = denoise_images(DenoiseConfig(str(ckpt), (str(src),), str(tmp_path / "tiled"), tile=40, overlap=16,
                                       device="cpu", progress=False), echo=_quiet)
    tiled, _ = read_rgb8(res.written[0])
    assert tiled.shape == (53, 79, 3)
    assert np.abs(tiled.astype(int) - out.astype(int)).mean() < 1.0


def test_unreadable_inputs_are_reported_and_skipped(ckpt, tmp_path):
    good = tmp_path / "good.png"
    write_png(good, make_image(21, 35, 1)[1])
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG but not really")
    missing = tmp_path / "missing.jpg"
    res = denoise_images(DenoiseConfig(str(ckpt), (str(bad), str(missing), str(good)), str(tmp_path / "out"),
                                       device="cpu", progress=False), echo=_quiet)
    assert res.written == [str(output_paths(good, tmp_path / "out")[0])]
    assert len(res.skipped) == 2
    assert str(bad) in res.skipped[0] and str(missing) in res.skipped[1]
    assert not output_paths(bad, tmp_path / "out")[0].exists()


def test_existing_outputs_are_never_overwritten_without_flag(ckpt, tmp_path, capsys):
    src = tmp_path / "a.png"
    write_png(src, make_image(19, 27, 2)[1])
    out = tmp_path / "out"
    out.mkdir()
    den, _ = output_paths(src, out)
    sentinel = np.zeros((5, 5, 3), np.uint8)
    write_png(den, sentinel)
    rc = cli_main(["denoise", str(ckpt), str(src), "--out", str(out), "--device", "cpu", "--no-progress"])
    assert rc == 1
    assert "use --overwrite" in capsys.readouterr().out
    np.testing.assert_array_equal(read_rgb8(den)[0], sentinel)
    rc = cli_main(["denoise", str(ckpt), str(src), "--out", str(out), "--overwrite", "--sigma-map", "--device", "cpu",
                   "--no-progress"])
    assert rc == 0
    assert read_rgb8(den)[0].shape == (19, 27, 3)
    assert output_paths(src, out)[1].exists()


def test_tile_stats_flag_uses_each_tiles_own_statistics(ckpt, tmp_path):
    noisy = make_image(45, 61, 5)[1]
    write_png(tmp_path / "a.png", noisy)
    model, _ = load_model(ckpt)
    for flag, global_norm in ((["--tile-stats"], False), ([], True)):
        out = tmp_path / f"out{global_norm}"
        assert cli_main(["denoise", str(ckpt), str(tmp_path / "a.png"), "--out", str(out), "--tile", "24",
                         "--overlap", "8", "--device", "cpu", "--no-progress"] + flag) == 0
        want = tensor_to_u8(predict(model, image_to_tensor(noisy), tile=24, overlap=8, global_norm=global_norm)[0])
        np.testing.assert_array_equal(read_rgb8(output_paths(tmp_path / "a.png", out)[0])[0], want)
    assert not np.array_equal(read_rgb8(tmp_path / "outFalse" / "a_denoised.png")[0],
                              read_rgb8(tmp_path / "outTrue" / "a_denoised.png")[0])


def test_folder_input_and_duplicate_names(ckpt, tmp_path):
    for sub in ("x", "y"):
        (tmp_path / "in" / sub).mkdir(parents=True)
        Image.fromarray(make_image(16, 24, 4)[1]).save(tmp_path / "in" / sub / "same.png")
    res = denoise_images(DenoiseConfig(str(ckpt), (str(tmp_path / "in"),), str(tmp_path / "out"), device="cpu",
                                       progress=False), echo=_quiet)
    assert len(res.written) == 1 and len(res.skipped) == 1 and "already made from" in res.skipped[0]


def test_config_rejects_bad_tiles():
    with pytest.raises(ValueError, match="--tile"):
        DenoiseConfig("c.pt", ("a.png",), "out", tile=4)
    with pytest.raises(ValueError, match="--overlap"):
        DenoiseConfig("c.pt", ("a.png",), "out", tile=32, overlap=32)
    with pytest.raises(ValueError, match="at least one IMAGE"):
        DenoiseConfig("c.pt", (), "out")


def test_progress_counts_every_tile_pass(ckpt):
    model, _ = load_model(ckpt)
    calls = []
    x = image_to_tensor(make_image(40, 40, 0)[1])
    predict(model, x, tile=24, overlap=8, on_tile=lambda: calls.append(1))
    n_ain = sum(type(m).__name__ == "AIN" for m in model.modules())
    assert len(calls) == 4 * (n_ain + 1)  # 2×2 tiles, one pass per AIN + the output pass
    calls.clear()
    predict(model, x, tile=24, overlap=8, global_norm=False, on_tile=lambda: calls.append(1))
    assert len(calls) == 4 == tile_calls(40, 40, 24, 8, 4, n_ain, global_norm=False)  # --tile-stats: one pass
    assert torch.is_tensor(x)


def test_the_sigma_picture_is_scaled_to_the_map_and_has_a_legend():
    from matplotlib import colormaps

    magma = (colormaps["magma"](np.linspace(0, 1, 256))[:, :3] * 255).round().astype(np.uint8)
    ramp = np.linspace(0.02, 0.05, 37 * 50, dtype=np.float32).reshape(37, 50)
    sigma = np.stack([ramp, ramp * 1.2, ramp * 0.8], axis=2)  # mean over channels: the ramp itself
    picture, (low, high) = sigma_picture(sigma)
    assert (low, high) == pytest.approx(tuple(np.percentile(ramp, (1, 99))), rel=1e-5)
    assert picture.shape[0] > 37 + 30 and picture.shape[1] >= 50  # the map, then the legend below
    np.testing.assert_array_equal(picture[0, 0], magma[0])  # below the 1st percentile: the dark end
    np.testing.assert_array_equal(picture[36, 49], magma[255])  # above the 99th: the light end
    mid = picture[18, 25].astype(int)
    assert np.abs(magma.astype(int) - mid).sum(axis=1).argmin() in range(110, 146)  # the middle of the ramp
    assert not (picture[:37, :50] == 255).all(axis=2).any()  # no white pixel: nothing clipped to white
    flat, levels = sigma_picture(np.full((8, 8, 3), 0.03, np.float32))  # constant: drawn from 0 to its value
    assert levels == pytest.approx((0.0, 0.03)) and (flat[:8, :8] == magma[255]).all()
    with pytest.raises(ValueError, match="H×W×3"):
        sigma_picture(np.zeros((4, 4), np.float32))
