"""The commands that came after the second hostile round (da, dbsn, pseudo-pairs, distill) on inputs they cannot
use: one line naming the command's own option, exit 2, never a report of nothing done as success."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("torch")

from datagen import make_train_shards  # noqa: E402

from noisegen.dataset.reader import write_png  # noqa: E402
from trainer.cli import main  # noqa: E402


def _folders(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    fifo = tmp_path / "fifo"
    fifo.mkdir()
    os.mkfifo(fifo / "a.png")
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "b.png").write_bytes(b"not an image")
    return empty, fifo, junk


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return make_train_shards(tmp_path_factory.mktemp("shards"))


@pytest.mark.parametrize("kind", ["empty", "fifo", "junk"])
def test_da_names_real_and_says_why_nothing_is_readable(tmp_path, capsys, kind, shards):
    folder = dict(zip(("empty", "fifo", "junk"), _folders(tmp_path)))[kind]
    rc = main(["da", "--data", str(shards), "--real", str(folder), "--out", str(tmp_path / "run"), "--steps", "1",
               "--model", "tiny", "--device", "cpu", "--patch", "32", "--workers", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and f"--real {folder}: no readable image (" in err, err
    if kind != "empty":
        assert "1 skipped; first: " in err and ("not a regular file" if kind == "fifo" else "not a readable") in err
    assert not (tmp_path / "run" / "last.pt").exists()


def test_distill_names_its_pseudo_option(tmp_path, capsys, shards):
    empty, _, _ = _folders(tmp_path)
    rc = main(["distill", "--data", str(shards), "--pseudo", str(empty), "--out", str(tmp_path / "run"), "--steps",
               "1", "--model", "tiny", "--device", "cpu", "--workers", "0", "--patch", "32"])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: --pseudo {empty}: no noisy/clean pairs found" in err, err


def test_dbsn_names_its_options(tmp_path, capsys):
    empty, _, junk = _folders(tmp_path)
    assert main(["dbsn", "--data", str(junk), "--out", str(tmp_path / "r1"), "--steps", "1"]) == 2
    assert "--data " in capsys.readouterr().err
    assert main(["dbsn", "--data", str(empty), "--images", "3", "--out", str(tmp_path / "r2"), "--steps", "1"]) == 2
    assert "--images 3: " in capsys.readouterr().err


def test_pseudo_pairs_of_nothing_usable_is_an_error(tmp_path, capsys):
    _, _, junk = _folders(tmp_path)
    # a checkpoint is needed first: train the smallest D-BSN for one step on a readable photo folder
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "p.png", np.random.default_rng(0).integers(0, 255, (48, 48, 3), "uint8"))
    assert main(["dbsn", "--data", str(photos), "--out", str(tmp_path / "d"), "--steps", "1", "--model", "tiny",
                 "--patch", "40", "--batch", "1", "--device", "cpu", "--no-progress"]) == 0
    capsys.readouterr()
    rc = main(["pseudo-pairs", str(tmp_path / "d"), str(junk), "--out", str(tmp_path / "pp"), "--device", "cpu",
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "no pseudo-pair written: every input was skipped (1; first: " in err, err
