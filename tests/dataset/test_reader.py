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
from noisegen.dataset.images import write_png
from noisegen.dataset.reader import (
    DamagedDataWarning,
    QuietDamageCounter,
    dataset_info,
    decode_or_report,
    decode_sample,
    holds_pairs,
    is_url,
    list_shards,
    read_index,
    read_manifest,
)
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


def test_is_url_is_the_one_rule_that_tells_urls_from_paths():
    for url in ("pipe:curl -s https://host/shard-000000.tar", "https://host/shard-{000000..000009}.tar",
                "gs://bucket/ds/shard-000000.tar", "s3://b/x.tar", "file:///tmp/x.tar"):
        assert is_url(url), url
    for path in ("ds/shard-000000.tar", "/abs/ds", "ds/shard-{000000..000009}.tar", "ds", "weird/a://b.tar",
                 "pipe/shard.tar", Path("ds/shard-000000.tar")):
        assert not is_url(path), path


def test_a_pattern_naming_missing_shards_says_which_and_how_many(dataset, tmp_path):
    with pytest.raises(FileNotFoundError) as e:  # the fixture has shards 000000 .. 000004
        list_shards(str(dataset / "shard-{000000..000999}.tar"))
    msg = str(e.value)
    assert "\n" not in msg and f"{str(dataset / 'shard-000005.tar')!r} does not exist" in msg
    assert "names 1000 shards and 5 of them exist" in msg and "give the dataset folder" in msg
    copy = Path(shutil.copytree(dataset, tmp_path / "bare"))
    (copy / "dataset.json").unlink()
    with pytest.raises(FileNotFoundError, match="names 7 shards and 5 of them exist; give a pattern that names only"):
        list_shards(str(copy / "shard-{000000..000006}.tar"))
    with pytest.raises(FileNotFoundError, match="^shard .*shard-000009.tar' does not exist; give a noisegen dataset"):
        list_shards(str(dataset / "shard-000009.tar"))
    assert len(list_shards(str(dataset / "shard-{000000..000004}.tar")).urls) == 5


def test_dataset_info_reads_what_a_manifest_says(dataset):
    info = dataset_info(read_manifest(dataset))
    assert info.name.startswith("noisegen ") and not info.real_pairs and info.sigma == "stored"
    assert info.patch == 32 and info.clean_target == "source" and info.profile["name"] == "cbdnet"
    assert list_shards(dataset).datasets == (info,)
    m = read_manifest(dataset)
    whole = dict(m, kind="real-pairs", config=dict(m["config"], crop="whole", profile=None), members={})
    info = dataset_info(whole)
    assert info.real_pairs and info.patch is None and info.profile is None and info.sigma is None


def test_decode_or_report_decodes_or_reports(dataset):
    import webdataset as wds

    raw = next(iter(wds.WebDataset(str(dataset / "shard-000000.tar"), shardshuffle=False)))
    h = QuietDamageCounter()
    h.streak = 3
    s = decode_or_report(raw, handler=h)
    assert s["key"] == raw["__key__"] and h.count == 0 and h.streak == 0
    assert decode_or_report(dict(raw, **{"clean.png": b"junk"}), handler=h) is None
    assert h.count == 1 and raw["__key__"] in h.messages[0]
    only = decode_or_report(raw, handler=h, clean_only=True)
    assert only["noisy"] is None and np.array_equal(only["clean"], s["clean"])


def test_holds_pairs_tells_a_pairs_folder_from_a_folder_of_images(dataset, tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    for rel in ("pairs/noisy/x_real.png", "pairs/gt/x_mean.png", "clean/a.png", "clean/sub/b_clean.png"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        write_png(tmp_path / rel, img)
    assert holds_pairs(tmp_path / "pairs") and holds_pairs(dataset)
    assert not holds_pairs(tmp_path / "clean")  # b_clean has no noisy partner: no pair
    assert not holds_pairs(tmp_path / "missing") and not holds_pairs(tmp_path / "pairs" / "noisy" / "x_real.png")
