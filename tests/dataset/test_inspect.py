"""`noisegen inspect`: the summary, and --verify naming damaged shards with exit code 1."""

import shutil
from pathlib import Path

import pytest
from datagen import make_photos, small_config

from noisegen.cli.main import main
from noisegen.dataset.generate import generate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect")
    make_photos(root / "photos")
    generate(small_config(root / "photos", root / "ds"), progress=False, echo=lambda s: None)
    return root / "ds"


@pytest.fixture
def copy(dataset, tmp_path):
    return Path(shutil.copytree(dataset, tmp_path / "copy"))


def test_inspect_summarises(dataset, capsys):
    assert main(["inspect", str(dataset)]) == 0
    out = capsys.readouterr().out
    for text in ("9 samples in 5 shards", "profile cbdnet", "crf:", "pattern:", "jpeg:", "sigma_s_r", "residual_std"):
        assert text in out


def test_verify_ok(dataset, capsys):
    assert main(["inspect", str(dataset), "--verify"]) == 0
    assert "verify: ok" in capsys.readouterr().out


def test_verify_names_a_corrupted_shard(copy, capsys):
    shard = copy / "shard-000002.tar"
    data = bytearray(shard.read_bytes())
    data[2000] ^= 0xFF  # inside the first PNG: same size, different bytes
    shard.write_bytes(bytes(data))
    assert main(["inspect", str(copy), "--verify"]) == 1
    out = capsys.readouterr().out
    assert "DAMAGED" in out and "shard-000002.tar: sha256" in out and "shard-000001.tar" not in out


def test_verify_names_truncated_and_missing_shards(copy, capsys):
    shard = copy / "shard-000003.tar"
    shard.write_bytes(shard.read_bytes()[:5000])
    (copy / "shard-000004.tar").unlink()
    assert main(["inspect", str(copy), "--verify"]) == 1
    out = capsys.readouterr().out
    assert "shard-000003.tar: size 5000 bytes" in out and "shard-000004.tar: missing" in out


def test_inspect_errors(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) == 2
    assert "not a noisegen dataset" in capsys.readouterr().err
