"""noisegen pack-pairs: the dataset format without σ, the recorded split by scene, determinism, bad inputs."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import noisegen as ng
from noisegen.cli.main import main
from noisegen.dataset.pack_pairs import PackPairsConfig, assign_splits, pack_pairs, parse_split
from noisegen.dataset.pairs import scan_pairs
from noisegen.dataset.reader import read_index

SCENES = ("desk", "toy", "wall", "door", "lamp")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """10 pairs (2 per scene, 2 cameras), 70×100 px, plus a mismatched and an unpaired file."""
    root = tmp_path_factory.mktemp("pairs") / "Real"
    rng = np.random.default_rng(1)
    for i, scene in enumerate(SCENES):
        for j in range(2):
            cam, iso = ("CamA", 800) if j == 0 else ("CamB", 1600)
            clean = rng.integers(10, 240, (70, 100, 3), dtype=np.uint8)
            noisy = np.clip(clean + rng.normal(0, 4, clean.shape), 0, 255).astype(np.uint8)
            for folder, img, tag in (("gt", clean, "mean"), ("noisy", noisy, "real")):
                (root / folder).mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).save(root / folder / f"{cam}_4_100_{iso}_{scene}_{i}_{tag}.png")
    Image.fromarray(np.zeros((60, 100, 3), np.uint8)).save(root / "noisy" / "CamA_4_100_800_odd_9_real.png")
    Image.fromarray(np.zeros((70, 100, 3), np.uint8)).save(root / "gt" / "CamA_4_100_800_odd_9_mean.png")
    Image.fromarray(np.zeros((70, 100, 3), np.uint8)).save(root / "noisy" / "CamA_4_100_800_lone_8_real.png")
    return root


def _digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_parse_split():
    assert parse_split("train:32,test:rest") == [("train", 32), ("test", None)]
    assert parse_split("a:20%, b:rest") == [("a", 0.2), ("b", None)]
    for bad in ("train", "train:0,test:rest", "a:rest,b:rest", "a:1,a:2", "a:x", "bad name:1"):
        with pytest.raises(ValueError, match="--split"):
            parse_split(bad)


def test_split_by_scene_is_deterministic_and_disjoint(pairs):
    found = list(scan_pairs([pairs]).pairs)
    a = assign_splits(found, parse_split("train:5,test:rest"), seed=3)
    assert a == assign_splits(found, parse_split("train:5,test:rest"), seed=3)
    train, test = {p.scene for p in a["train"]}, {p.scene for p in a["test"]}
    assert not train & test and train | test == set(SCENES)
    assert 5 <= len(a["train"]) <= 6 and len(a["train"]) + len(a["test"]) == 10  # whole scenes of 2 pairs
    splits = {seed: tuple(sorted({p.scene for p in assign_splits(found, parse_split("t:4,r:rest"), seed)["t"]}))
              for seed in range(6)}
    assert len(set(splits.values())) > 1  # the seed matters
    left = assign_splits(found, parse_split("t:2"), seed=0)
    assert len(left["t"]) == 2 and len(left[""]) == 8  # no 'rest': the others are unused


def test_pack_with_split_reads_back_and_is_recorded(pairs, tmp_path):
    out = tmp_path / "packed"
    cfg = PackPairsConfig(pairs=(str(pairs),), out=str(out), patch=32, split="train:6,test:rest", seed=2,
                          whole=("test",), samples_per_shard=5)
    summary = pack_pairs(cfg, progress=False, echo=lambda s: None)
    record = json.loads((out / "split.json").read_text())
    assert record["seed"] == 2 and record["spec"] == "train:6,test:rest"
    assert not set(record["splits"]["train"]["scenes"]) & set(record["splits"]["test"]["scenes"])
    by = {s["split"]: s for s in summary["splits"]}
    assert by["train"]["samples"] == by["train"]["pairs"] * 2 * 3  # 70×100 → 2×3 tiles of 32
    assert by["test"]["samples"] == by["test"]["pairs"]            # whole images
    skipped = {Path(s["path"]).name: s["reason"] for s in summary["skipped"]}
    assert "size mismatch" in skipped["CamA_4_100_800_odd_9_real.png"]
    assert "missing partner" in skipped["CamA_4_100_800_lone_8_real.png"]
    ds = ng.open_dataset(out / "train", split_by_node=False, split_by_worker=False)
    samples = list(ds)
    assert len(samples) == by["train"]["samples"] and ds.errors.count == 0
    index = read_index(out / "train" / "index.parquet").to_pylist()
    for s, row in zip(samples, index):
        assert s["sigma"] is None and s["clean"].shape == (32, 32, 3) and s["params"]["split"] == "train"
        assert s["params"]["params"] is None and s["params"]["real"] is True and row["key"] == s["key"]
        src = Path(pairs) / "gt" / s["params"]["clean_file"]
        c = s["params"]["crop"]
        np.testing.assert_array_equal(s["clean"], np.asarray(Image.open(src))[c["y"]:c["y"] + 32, c["x"]:c["x"] + 32])
        assert row["scene"] in record["splits"]["train"]["scenes"]
    test = list(ng.open_dataset(out / "test", split_by_node=False, split_by_worker=False))
    assert {s["clean"].shape for s in test} == {(70, 100, 3)}
    manifest = json.loads((out / "test" / "dataset.json").read_text())
    assert manifest["split"]["splits"]["test"]["pairs"] == by["test"]["pairs"]
    assert "sigma.png" not in manifest["members"] and "sigma.png16" not in manifest["members"]


def test_same_seed_same_bytes_and_inspect_verify(pairs, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert main(["pack-pairs", str(pairs), "--out", str(out), "--patch", "32", "--split", "train:50%,test:rest",
                     "--seed", "9", "--no-progress"]) == 0
    assert _digests(a) == _digests(b)
    assert main(["inspect", str(a / "train"), "--verify"]) == 0
    assert "verify: ok" in capsys.readouterr().out
    assert main(["stats", str(a / "train"), "--by", "camera", "--min-count", "10", "--workers", "1",
                 "--no-progress"]) == 0
    assert "CamA" in capsys.readouterr().out


def test_errors(pairs, tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        pack_pairs(PackPairsConfig(pairs=(str(pairs),), out=str(tmp_path / "full")), progress=False, echo=print)
    with pytest.raises(ValueError, match="whole"):
        PackPairsConfig(pairs=(str(pairs),), out="o", split="a:1,b:rest", whole=("c",))
    one = pack_pairs(PackPairsConfig(pairs=(str(pairs),), out=str(tmp_path / "big"), patch=512), progress=False,
                     echo=lambda s: None)
    assert one["splits"][0]["samples"] == 0 and any("smaller than" in s["reason"] for s in one["skipped"])
