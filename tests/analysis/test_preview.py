"""noisegen preview: the contact sheet's layout, its columns, parameters text, σ-less samples, the CLI."""

import numpy as np
import pytest
from datagen import make_photos, small_config
from PIL import Image

from noisegen.analysis.preview import PreviewConfig, contact_sheet, load_samples, select_keys
from noisegen.cli.main import main
from noisegen.dataset.generate import generate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("preview")
    make_photos(root / "photos")
    generate(small_config(root / "photos", root / "ds"), progress=False, echo=lambda s: None)  # 9 samples, 32²
    return root / "ds"


def test_selection_is_ordered_or_seeded(dataset):
    first = select_keys(dataset, 4)
    assert [k for _, k in first] == [f"s{i:09d}" for i in range(4)]
    a, b = select_keys(dataset, 4, seed=3), select_keys(dataset, 4, seed=3)
    assert a == b and len(set(a)) == 4 and select_keys(dataset, 50) == select_keys(dataset, 9)


def test_sheet_columns_match_the_samples(dataset):
    samples = load_samples(dataset, select_keys(dataset, 3))
    sheet = np.asarray(contact_sheet(samples, tile=64, amplify=4.0, sigma_max=0.2))
    tile, gap, band, header = 32, 4, 34, 24  # tiles never exceed the patch: 32 px
    assert sheet.shape[0] == header + 3 * (band + tile + gap) + gap
    for row, s in enumerate(samples):
        y = header + row * (band + tile + gap) + band
        cols = [sheet[y:y + tile, gap + c * (tile + gap): gap + c * (tile + gap) + tile] for c in range(4)]
        np.testing.assert_array_equal(cols[0], s["clean"])
        np.testing.assert_array_equal(cols[1], s["noisy"])
        np.testing.assert_array_equal(cols[2], np.clip(np.rint(s["sigma"] / 0.2 * 255), 0, 255).astype(np.uint8))
        resid = s["noisy"].astype(np.float32) - s["clean"]
        np.testing.assert_array_equal(cols[3], np.clip(np.rint(127.5 + 4 * resid), 0, 255).astype(np.uint8))
        text = sheet[y - band:y]
        assert (text < 128).any()  # the parameters are written above the row


def test_sample_without_sigma_gets_a_grey_tile(dataset):
    s = dict(load_samples(dataset, select_keys(dataset, 1))[0])
    s["sigma"] = None
    s["params"] = {"source": "real/pair", "camera": "CamA", "iso": 800, "scene": "desk", "params": None}
    sheet = np.asarray(contact_sheet([s], tile=32))
    y, x = 24 + 34, 4 + 2 * 36
    assert (sheet[y:y + 6, x:x + 32] == 200).all()


def test_cli_and_errors(dataset, tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["preview", str(dataset), "--n", "5", "--out", str(out), "--seed", "1"]) == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(out) as im:
        assert im.mode == "RGB" and im.height > 5 * 32 and im.width >= 4 * 32
    with pytest.raises(ValueError, match="n must be"):
        PreviewConfig(dataset=str(dataset), out=str(out), n=0)
    with pytest.raises(ValueError, match="no sample"):
        contact_sheet([])
    before = out.read_bytes()
    assert main(["preview", str(dataset), "--n", "2", "--out", str(out)]) == 2  # as synth and denoise: no overwrite
    err = capsys.readouterr().err
    assert f"{out} exists" in err and "--overwrite" in err and out.read_bytes() == before
    assert main(["preview", str(dataset), "--n", "2", "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != before
    assert main(["preview", str(tmp_path), "--out", str(tmp_path / "other.png")]) == 2  # not a dataset
