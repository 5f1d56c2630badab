"""The `noisegen` command line: synth, profile, help and error handling."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from noisegen.cli.main import main


@pytest.fixture
def image_file(tmp_path, photo_u8):
    p = tmp_path / "in.png"
    Image.fromarray(photo_u8).save(p)
    return p


def test_synth_writes_outputs_and_is_reproducible(tmp_path, image_file, capsys):
    for run in ("a", "b"):
        assert main(["synth", str(image_file), "--profile", "cbdnet", "--seed", "3", "--out", str(tmp_path / run)]) == 0
    for name in ("clean.png", "noisy.png", "sigma_map.png", "sigma_raw.npy", "params.json"):
        assert (tmp_path / "a" / name).stat().st_size > 0
    assert (tmp_path / "a" / "noisy.png").read_bytes() == (tmp_path / "b" / "noisy.png").read_bytes()
    rec = json.loads((tmp_path / "a" / "params.json").read_text())
    assert rec["params"]["camera"] == "cbdnet" and rec["seed"] == 3
    sig = np.load(tmp_path / "a" / "sigma_raw.npy")
    assert sig.shape == (37, 53, 3) and sig.dtype == np.float32
    assert "PSNR" in capsys.readouterr().out


def test_synth_refuses_to_overwrite_without_the_flag(tmp_path, image_file, capsys):
    out = tmp_path / "o"
    assert main(["synth", str(image_file), "--seed", "1", "--out", str(out)]) == 0
    before = (out / "noisy.png").read_bytes()
    assert main(["synth", str(image_file), "--seed", "2", "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "noisy.png").read_bytes() == before
    assert main(["synth", str(image_file), "--seed", "2", "--out", str(out), "--overwrite"]) == 0
    assert (out / "noisy.png").read_bytes() != before


def test_synth_overrides_pin_parameters(tmp_path, image_file):
    out = tmp_path / "o"
    args = ["synth", str(image_file), "--out", str(out), "--sigma-s", "0.08", "--sigma-c", "0.02",
            "--crf", "sRGB", "--pattern", "none", "--jpeg", "none"]
    assert main(args) == 0
    p = json.loads((out / "params.json").read_text())["params"]
    assert p["sigma_s"] == [0.08] * 3 and p["crf"] == "sRGB" and p["pattern"] is None and p["jpeg_quality"] is None


def test_synth_gray_16bit_input_is_converted(tmp_path):
    p = tmp_path / "g16.png"
    Image.fromarray((np.arange(40 * 30).reshape(30, 40) * 50).astype(np.uint16)).save(p)
    assert main(["synth", str(p), "--out", str(tmp_path / "o"), "--profile", "gauss25"]) == 0
    rec = json.loads((tmp_path / "o" / "params.json").read_text())
    assert "gray" in rec["conversions"] and "16bit" in rec["conversions"]


def test_errors_are_clear(tmp_path, image_file, capsys):
    assert main(["synth", str(image_file), "--out", str(tmp_path / "x"), "--profile", "nope"]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert main(["synth", str(image_file), "--out", str(tmp_path / "x"), "--crf", "sRGBB"]) == 2
    assert "sRGBB" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["synth", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "not a readable image" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["synth", str(image_file), "--out", str(tmp_path / "x"), "--no-such-option"])
    assert exc.value.code == 2


def test_profile_show_round_trips(tmp_path, capsys):
    assert main(["profile", "show", "unprocess"]) == 0
    path = tmp_path / "mine.json"
    path.write_text(capsys.readouterr().out)
    from noisegen import get_profile, load_profile

    assert load_profile(path) == get_profile("unprocess")
    assert main(["profile", "list"]) == 0
    assert "gauss25" in capsys.readouterr().out


def test_module_entry_point_help():
    r = subprocess.run([sys.executable, "-m", "noisegen", "synth", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--sigma-s" in r.stdout and "--profile" in r.stdout
