"""The dataset reader (noisegen.open_dataset): decodes, never unpickles, survives damaged shards."""

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
from datagen import make_photos, small_config

import noisegen as ng
from noisegen.dataset.format import MEMBERS
from noisegen.dataset.generate import generate
from noisegen.dataset.reader import DamagedDataWarning, decode_sample, read_index
from noisegen.dataset.writer import DeterministicTarWriter


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("reader")
    make_photos(root / "photos")
    generate(small_config(root / "photos", root / "ds"), progress=False, echo=lambda s: None)
    return root / "ds"


def _copy(dataset: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(dataset, tmp_path / "copy"))


def _raw_samples(shard: Path) -> list[dict]:
    import webdataset as wds

    return list(wds.WebDataset(str(shard), shardshuffle=False))


def _write_shard(path: Path, samples: list[dict]) -> None:
    with open(path, "wb") as f:
        w = DeterministicTarWriter(f)
        for s in samples:
            for name, data in s.items():
                if not name.startswith("__"):
                    w.add(f"{s['__key__']}.{name}", data)
        w.close()


def test_open_dataset_decodes_every_sample(dataset):
    ds = ng.open_dataset(dataset)
    samples = list(ds)
    assert [s["key"] for s in samples] == read_index(dataset / "index.parquet").column("key").to_pylist()
    assert ds.errors.count == 0 and len(ds.urls) == 5
    for s in samples:
        assert s["clean"].dtype == np.uint8 and s["clean"].shape == (32, 32, 3) == s["noisy"].shape
        assert s["sigma"].dtype == np.float32 and s["sigma"].shape == (32, 32, 3)
        assert s["params"]["key"] == s["key"] and 0 <= s["sigma"].min() and s["sigma"].max() < 0.2


def test_shuffle_is_seeded_and_complete(dataset):
    keys = [s["key"] for s in ng.open_dataset(dataset)]
    a = [s["key"] for s in ng.open_dataset(dataset, shuffle=4, seed=1)]
    b = [s["key"] for s in ng.open_dataset(dataset, shuffle=4, seed=1)]
    assert a == b and sorted(a) == keys and a != keys


def test_pickle_members_are_never_unpickled(dataset, tmp_path):
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    samples = _raw_samples(dataset / "shard-000000.tar")
    for s in samples:
        s["pyd"] = pickle.dumps(Evil())
        s["extra.pickle"] = pickle.dumps(Evil())
    _write_shard(tmp_path / "evil.tar", samples)
    got = list(ng.open_dataset(str(tmp_path / "evil.tar")))
    assert len(got) == len(samples) and not marker.exists()


def test_truncated_shard_warns_counts_and_continues(dataset, tmp_path):
    ds_path = _copy(dataset, tmp_path)
    shard = ds_path / "shard-000001.tar"
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 3])  # cut inside the first sample's members
    ds = ng.open_dataset(ds_path)
    with pytest.warns(DamagedDataWarning, match="shard-000001.tar"):
        keys = [s["key"] for s in ds]
    index = read_index(ds_path / "index.parquet")
    others = [k for k, sh in zip(index.column("key").to_pylist(), index.column("shard").to_pylist())
              if sh != "shard-000001.tar"]
    assert [k for k in keys if k in others] == others  # every other shard read in full, in order
    assert ds.errors.count >= 1 and ds.errors.messages


def test_corrupt_member_and_missing_sigma_are_skipped(dataset, tmp_path):
    samples = _raw_samples(dataset / "shard-000000.tar")
    assert len(samples) == 2
    samples[0]["noisy.png"] = b"\x89PNG garbage"
    del samples[1]["sigma.png16"]
    _write_shard(tmp_path / "bad.tar", samples + _raw_samples(dataset / "shard-000002.tar"))
    ds = ng.open_dataset(str(tmp_path / "bad.tar"), require_sigma=True)
    with pytest.warns(DamagedDataWarning):
        got = list(ds)
    assert len(got) == 2 and ds.errors.count == 2
    # without require_sigma the pair without σ is a valid real-pair sample
    with pytest.warns(DamagedDataWarning):
        got = list(ng.open_dataset(str(tmp_path / "bad.tar")))
    assert len(got) == 3 and got[0]["sigma"] is None


def test_decode_sample_errors_name_the_sample():
    with pytest.raises(ValueError, match="s1: missing members"):
        decode_sample({"__key__": "s1", "json": b"{}"})
    with pytest.raises(ValueError, match="s2"):
        decode_sample({"__key__": "s2", "json": b"{", "clean.png": b"", "noisy.png": b""})


def test_open_dataset_on_a_folder_without_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a noisegen dataset"):
        ng.open_dataset(tmp_path)
    (tmp_path / ".partial").mkdir()
    with pytest.raises(FileNotFoundError, match="--resume"):
        ng.open_dataset(tmp_path)


def test_members_constant_matches_manifest(dataset):
    m = json.loads((dataset / "dataset.json").read_text())
    assert tuple(m["members"]) == MEMBERS


def test_shard_cut_at_a_sample_boundary_is_reported(dataset, tmp_path):
    ds_path = _copy(dataset, tmp_path)
    first = _raw_samples(dataset / "shard-000000.tar")[:1]
    _write_shard(ds_path / "shard-000000.tar", first)  # a valid tar with 1 of its 2 samples
    ds = ng.open_dataset(ds_path)
    with pytest.warns(DamagedDataWarning, match=r"shard-000000.tar: .*only 1 of 2 samples"):
        got = list(ds)
    assert len(got) == 8 and ds.errors.count == 1
