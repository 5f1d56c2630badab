"""Issue 21, unclear messages: no message names an option its command lacks, noise-free pairs are said to be
so (no numpy or scipy warnings, no AKLD of 0 without a note), writes on a full disk leave no temporary file."""

from __future__ import annotations

import errno
import os
import warnings

import numpy as np
import pytest
from PIL import Image

from noisegen.dataset.images import read_rgb8, write_png

from .helpers import cli, one_error_line, png_header_only


def test_synth_has_the_max_pixels_option_its_message_names(tmp_path, capsys):
    big = tmp_path / "big.png"
    big.write_bytes(png_header_only(13000, 13000))
    rc, _, err = cli(capsys, "synth", str(big), "--out", str(tmp_path / "o"))
    line = one_error_line(err)
    assert rc == 2 and "over the limit of 100 MP (raise it with --max-pixels)" in line
    small = tmp_path / "small.png"
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(small)
    rc, _, err = cli(capsys, "synth", str(small), "--out", str(tmp_path / "o"), "--max-pixels", "1000")
    assert rc == 2 and "50×40 = 0.0 MP is over the limit of 0.001 MP" in one_error_line(err)


def test_denoise_has_the_max_pixels_option_its_message_names(tmp_path, capsys):
    pytest.importorskip("torch")
    from checkpoints import make_checkpoint

    from trainer.cli import main as train_main

    ckpt = make_checkpoint(tmp_path / "m.pt")
    big = tmp_path / "big.png"
    big.write_bytes(png_header_only(13000, 13000))
    small = tmp_path / "small.png"
    Image.fromarray(np.full((40, 48, 3), 128, np.uint8)).save(small)
    capsys.readouterr()
    rc = train_main(["denoise", str(ckpt), str(big), str(small), "--out", str(tmp_path / "o"), "--device", "cpu",
                     "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 1 and "1 files written" in out and "(raise it with --max-pixels)" in out
    rc = train_main(["denoise", str(ckpt), str(small), "--out", str(tmp_path / "o2"), "--device", "cpu",
                     "--no-progress", "--max-pixels", "100"])
    assert rc == 1 and "48×40 = 0.0 MP is over the limit of 0.0001 MP" in capsys.readouterr().out


def test_commands_without_the_option_do_not_name_it(tmp_path):
    big = tmp_path / "big.png"
    big.write_bytes(png_header_only(13000, 13000))
    with pytest.raises(ValueError, match=r"over the limit of 100 MP \(downscale or crop the image to use it\)"):
        read_rgb8(big)


def _same_pairs(root, n=4):
    for role in ("noisy", "gt"):
        (root / role).mkdir(parents=True)
    for i in range(n):
        img = np.random.default_rng(i).integers(0, 255, (64, 80, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / "noisy" / f"p{i}.png")
        Image.fromarray(img).save(root / "gt" / f"p{i}.png")
    return root


@pytest.mark.parametrize("command", ["calibrate", "realism", "stats"])
def test_pairs_without_noise_are_named_not_measured(tmp_path, capsys, command):
    root = _same_pairs(tmp_path / "same")
    argv = {"calibrate": ["calibrate", "--pairs", str(root), "--out", str(tmp_path / "p.json"), "--search-pixels",
                          "20000"],
            "realism": ["realism", "--pairs", str(root), "--no-progress"],
            "stats": ["stats", "--pairs", str(root), "--no-progress"]}[command]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning, no scipy warning either
        rc, _, err = cli(capsys, *argv)
    line = one_error_line(err)
    assert rc == 2 and "the noisy image equals the clean one: no noise to measure" in line
    assert not (tmp_path / "p.json").exists()


def test_a_noise_free_pair_among_noisy_ones_is_skipped_and_listed(tmp_path, capsys):
    root = _same_pairs(tmp_path / "mixed", n=2)
    rng = np.random.default_rng(9)
    for i in (2, 3):
        clean = rng.integers(30, 220, (64, 80, 3)).astype(np.uint8)
        noisy = np.clip(clean + rng.normal(0, 12, clean.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(root / "noisy" / f"p{i}.png")
        Image.fromarray(clean).save(root / "gt" / f"p{i}.png")
    rc, out, _ = cli(capsys, "stats", "--pairs", str(root), "--no-progress", "--min-count", "10")
    assert rc == 0 and "skipped inputs: 2" in out and out.count("no noise to measure") == 2


def test_write_png_on_a_full_disk_leaves_nothing(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_png(tmp_path / "a.png", np.zeros((8, 8, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []
