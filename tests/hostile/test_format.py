"""The format in other people's tools: plain webdataset decoders, Hugging Face `datasets`, PyTorch's
DataLoader; and format-1 datasets still read."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

import noisegen as ng
from noisegen.dataset.format import SIGMA, encode_meta, from_disk
from noisegen.dataset.reader import QuietDamageCounter, iter_samples, list_shards
from noisegen.dataset.writer import write_tar

from .helpers import copy_dataset, read_members, rewrite_shard, tiny_dataset, v1_members


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("format"))


def _reader_sigmas(ds) -> dict[str, np.ndarray]:
    shards = list_shards(ds)
    return {s["key"]: s["sigma"] for s in iter_samples(shards.urls, handler=QuietDamageCounter())}


@pytest.mark.parametrize("spec", ["rgb8", "rgb", "l8", "pil", "torchrgb"])
def test_webdataset_image_decoders_leave_sigma_alone(ds, spec):
    wds = pytest.importorskip("webdataset")
    pipe = wds.WebDataset(str(ds / "shard-{000000..000002}.tar"), shardshuffle=False).decode(spec)
    samples = list(pipe)
    assert len(samples) == 6
    for s in samples:
        assert isinstance(s[SIGMA], bytes)  # never cut to 8 bits: the extension is no image decoder's


def test_wds_decoders_decode_sigma_exactly(ds):
    wds = pytest.importorskip("webdataset")
    expected = _reader_sigmas(ds)
    pipe = wds.WebDataset(str(ds / "shard-{000000..000002}.tar"), shardshuffle=False).decode(*ng.wds_decoders(), "rgb8")
    got = {s["__key__"]: s for s in pipe}
    assert set(got) == set(expected)
    for key, s in got.items():
        assert s[SIGMA].dtype == np.float32 and np.array_equal(s[SIGMA], expected[key])
        assert s["clean.png"].dtype == np.uint8 and s["json"]["sigma"]["member"] == SIGMA
        assert s[SIGMA].max() > 255 * 2.0**-14  # the range that an 8-bit decode would have cut


@pytest.mark.parametrize("spec", ["torchrgb", "torchrgb8", "rgb", "pil"])
def test_wds_decoders_give_sigma_the_layout_of_the_images(ds, spec):
    wds = pytest.importorskip("webdataset")
    torch = pytest.importorskip("torch")
    expected = _reader_sigmas(ds)
    pipe = wds.WebDataset(str(ds / "shard-{000000..000002}.tar"), shardshuffle=False).decode(*ng.wds_decoders(spec))
    got = {s["__key__"]: s for s in pipe}
    assert set(got) == set(expected)
    for key, s in got.items():
        clean, sigma = s["clean.png"], s[SIGMA]
        if spec.startswith("torch"):  # webdataset's torch images are C×H×W tensors: so is σ
            assert isinstance(clean, torch.Tensor) and clean.shape[0] == 3 and isinstance(sigma, torch.Tensor)
            assert sigma.dtype == torch.float32 and sigma.shape == clean.shape
            assert np.array_equal(sigma.numpy(), expected[key].transpose(2, 0, 1))
        else:  # H×W×3 arrays (a PIL image cannot hold float RGB: σ stays an array beside PIL images)
            shape = clean.shape if spec == "rgb" else (clean.height, clean.width, 3)
            assert isinstance(sigma, np.ndarray) and sigma.shape == shape and np.array_equal(sigma, expected[key])
    with pytest.raises(ValueError, match="unknown image spec 'torchrgb16'"):
        ng.wds_decoders("torchrgb16")


def test_format_1_datasets_are_still_read(ds, tmp_path):
    old = copy_dataset(ds, tmp_path / "v1")
    for tar in sorted(old.glob("shard-*.tar")):
        rewrite_shard(tar, v1_members)
    m = json.loads((old / "dataset.json").read_text())
    m["format_version"] = 1
    m["members"] = {("sigma.png" if k == SIGMA else k): v for k, v in m["members"].items()}
    from noisegen.dataset.sources import file_sha256

    for s in m["shards"]:
        s["bytes"], s["sha256"] = (old / s["name"]).stat().st_size, file_sha256(old / s["name"])
    (old / "dataset.json").write_text(json.dumps(m))
    pipe = ng.open_dataset(old, split_by_node=False, split_by_worker=False)
    got = {s["key"]: s for s in pipe}
    assert pipe.errors.count == 0
    expected = {s["key"]: s for s in ng.open_dataset(ds, split_by_node=False, split_by_worker=False)}
    assert set(got) == set(expected)
    for k, s in got.items():
        assert np.array_equal(s["sigma"], expected[k]["sigma"])
        assert s["params"]["params"] == expected[k]["params"]["params"]
        assert s["params"]["conversions"] == expected[k]["params"]["conversions"] == []


def _hf_shards(folder, first_meta: dict, later_meta: dict, *, typed: bool) -> list[str]:
    """Two shards of 6 json-only samples: the first with empty/absent values, the later one with values."""
    folder.mkdir(parents=True)
    paths = []
    for i, meta in enumerate((first_meta, later_meta)):
        members = []
        for k in range(6):
            key = f"s{i}{k:08d}"
            m = dict(meta, key=key)
            data = encode_meta(m) if typed else json.dumps(m).encode()
            members.append((f"{key}.json", data))
        write_tar(folder / f"shard-{i:06d}.tar", members)
        paths.append(str(folder / f"shard-{i:06d}.tar"))
    return paths


def _real_metas(ds) -> tuple[dict, dict]:
    with tarfile.open(ds / "shard-000000.tar") as tar:
        meta = from_disk(json.loads(next(tar.extractfile(m).read() for m in tar.getmembers()
                                         if m.name.endswith(".json"))))
    meta.pop("format_version")
    plain = dict(meta, conversions=[], crop_seed=None,
                 params={**meta["params"], "pattern": None, "jpeg_quality": None, "wb_gains": None})
    later = dict(meta, conversions=["exif-orientation", "gray"], crop_seed=[1, 2, 3, 4, 1],
                 params={**meta["params"], "pattern": "RGGB", "jpeg_quality": 80, "wb_gains": [2.0, 1.0, 1.5]})
    return plain, later


def test_hugging_face_datasets_infers_one_schema_for_every_sample(ds, tmp_path):
    datasets = pytest.importorskip("datasets", reason="Hugging Face `datasets` is not installed "
                                   "(pip install 'noisegen[hf]'); the format's Arrow typing is not checked")
    datasets.disable_progress_bars()
    plain, later = _real_metas(ds)
    # nulls first, values later (format 1 writes it so): Arrow infers null from the first shard and fails
    v1 = _hf_shards(tmp_path / "v1", plain, later, typed=False)
    with pytest.raises(Exception, match="generating the dataset|cast"):
        datasets.load_dataset("webdataset", data_files={"train": v1}, split="train", cache_dir=str(tmp_path / "c1"))
    v2 = _hf_shards(tmp_path / "v2", plain, later, typed=True)
    hf = datasets.load_dataset("webdataset", data_files={"train": v2}, split="train", cache_dir=str(tmp_path / "c2"))
    assert hf.num_rows == 12
    first, last = from_disk(hf["json"][0]), from_disk(hf["json"][-1])
    assert first["params"]["pattern"] is None and last["params"]["pattern"] == "RGGB"
    assert first["conversions"] == [] and last["conversions"] == ["exif-orientation", "gray"]
    assert first["params"]["jpeg_quality"] is None and last["params"]["jpeg_quality"] == 80
    assert first["crop_seed"] is None and last["params"]["wb_gains"] == [2.0, 1.0, 1.5]


def test_a_generated_dataset_loads_in_hugging_face_datasets(ds, tmp_path):
    datasets = pytest.importorskip("datasets", reason="Hugging Face `datasets` is not installed "
                                   "(pip install 'noisegen[hf]')")
    datasets.disable_progress_bars()
    files = sorted(str(p) for p in ds.glob("shard-*.tar"))
    hf = datasets.load_dataset("webdataset", data_files={"train": files}, split="train", cache_dir=str(tmp_path / "c"))
    assert hf.num_rows == 6 and set(hf.column_names) >= {"clean.png", "noisy.png", SIGMA, "json"}
    expected = _reader_sigmas(ds)
    for row in hf:
        from noisegen.dataset.format import decode_sigma

        assert np.array_equal(decode_sigma(row[SIGMA]), expected[row["__key__"]])  # bytes, exact


def test_pytorch_dataloader_one_liner_with_workers(ds):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    loader = DataLoader(ng.open_dataset(ds).compose(ng.to_torch), batch_size=2, num_workers=2)
    batches = list(loader)
    assert sum(len(b["key"]) for b in batches) == 6 and len({k for b in batches for k in b["key"]}) == 6
    b = batches[0]
    assert b["clean"].shape == (2, 3, 32, 32) and b["clean"].dtype == torch.float32 and b["clean"].max() <= 1
    assert b["sigma"].shape == (2, 3, 32, 32) and bool(b["has_sigma"].all())
    assert b["params"]["sigma_s"].shape == (2, 3) and b["params"]["jpeg_quality"].dtype == torch.int64
    assert isinstance(b["params"]["pattern"], list)


def test_pytorch_dataloader_on_real_pairs_without_sigma(tmp_path):
    torch = pytest.importorskip("torch")
    from PIL import Image
    from torch.utils.data import DataLoader

    from noisegen.dataset.pack_pairs import PackPairsConfig, pack_pairs

    for role in ("noisy", "gt"):
        (tmp_path / "pairs" / role).mkdir(parents=True)
        for i in range(2):
            img = np.random.default_rng(i).integers(0, 255, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / "pairs" / role / f"p{i}.png")
    pack_pairs(PackPairsConfig(pairs=(str(tmp_path / "pairs"),), out=str(tmp_path / "packed"), patch=16),
               progress=False, echo=lambda s: None)
    loader = DataLoader(ng.open_dataset(tmp_path / "packed").compose(ng.to_torch), batch_size=3, num_workers=2)
    batches = list(loader)
    assert sum(len(b["key"]) for b in batches) == 12
    assert not bool(batches[0]["has_sigma"].any()) and float(batches[0]["sigma"].abs().sum()) == 0.0
    assert batches[0]["params"]["camera"] == ["", "", ""]
    assert torch.equal(batches[0]["params"]["iso"], torch.zeros(3, dtype=torch.int64))


def test_read_members_helper_roundtrip(ds):
    assert [n for n, _ in read_members(ds / "shard-000000.tar")][:4] == [
        "s000000000.clean.png", "s000000000.noisy.png", f"s000000000.{SIGMA}", "s000000000.json"]
