"""An absent value (no mosaic, no JPEG, unknown ISO) has one spelling per layer, the one the format
documents (noisegen.dataset.format): None in Python, "" or 0 in the sample json on disk and in the
to_torch parameters, null in index.parquet (nullable integers for pandas), "none" in text for people."""

from __future__ import annotations

import dataclasses
import json
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from datagen import make_photos, small_config

import noisegen as ng
from noisegen.dataset.format import NULLABLE_INT_COLUMNS
from noisegen.dataset.generate import generate
from noisegen.dataset.inspect import describe_dataset
from noisegen.dataset.pack_pairs import PackPairsConfig, pack_pairs
from noisegen.isp.profiles import get_profile


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    """12 cbdnet samples: some without a mosaic, some without JPEG."""
    root = tmp_path_factory.mktemp("absent")
    make_photos(root / "photos")
    profile = dataclasses.replace(get_profile("cbdnet"), jpeg_probability=0.5)
    generate(small_config(root / "photos", root / "ds", patches_per_image=4, seed=11, profile=profile),
             progress=False, echo=lambda s: None)
    return root / "ds"


def _on_disk(ds) -> dict[str, dict]:
    out = {}
    for tar in sorted(ds.glob("shard-*.tar")):
        with tarfile.open(tar) as t:
            for m in t.getmembers():
                if m.name.endswith(".json"):
                    out[m.name.split(".")[0]] = json.loads(t.extractfile(m).read())["params"]
    return out


def test_no_mosaic_and_no_jpeg_agree_across_the_layers(ds):
    disk = _on_disk(ds)
    index = {r["key"]: r for r in pq.read_table(ds / "index.parquet").to_pylist()}
    decoded = {s["key"]: s["params"]["params"] for s in ng.open_dataset(ds)}
    tensors = {s["key"]: s["params"] for s in ng.open_dataset(ds).compose(ng.to_torch)}
    assert set(disk) == set(index) == set(decoded) == set(tensors) and len(disk) == 12
    absent_pattern = {k for k, p in decoded.items() if p["pattern"] is None}
    absent_jpeg = {k for k, p in decoded.items() if p["jpeg_quality"] is None}
    assert 0 < len(absent_pattern) < 12 and 0 < len(absent_jpeg) < 12  # both kinds of sample are here
    assert absent_pattern == {k for k, p in disk.items() if p["pattern"] == ""}
    assert absent_pattern == {k for k, r in index.items() if r["pattern"] is None}
    assert absent_pattern == {k for k, p in tensors.items() if p["pattern"] == ""}
    assert absent_jpeg == {k for k, p in disk.items() if p["jpeg_quality"] == 0}
    assert absent_jpeg == {k for k, r in index.items() if r["jpeg_quality"] is None}
    assert absent_jpeg == {k for k, p in tensors.items() if p["jpeg_quality"] == 0}
    pattern_line = next(line for line in describe_dataset(ds).splitlines() if line.strip().startswith("pattern:"))
    assert "none " in pattern_line  # people read "none"


def test_index_integers_with_nulls_are_tagged_as_nullable_integers_for_pandas(ds):
    meta = json.loads(pq.read_schema(ds / "index.parquet").metadata[b"pandas"])
    assert {c["name"]: c["numpy_type"] for c in meta["columns"]} == {n: "Int32" for n in NULLABLE_INT_COLUMNS}


def test_pandas_reads_them_as_nullable_integers(ds):
    pd = pytest.importorskip("pandas")
    df = pd.read_parquet(ds / "index.parquet")
    assert str(df["jpeg_quality"].dtype) == "Int32" and str(df["iso"].dtype) == "Int32"
    index = pq.read_table(ds / "index.parquet").to_pylist()
    assert [None if pd.isna(v) else int(v) for v in df["jpeg_quality"]] == [r["jpeg_quality"] for r in index]
    assert df["iso"].isna().all() and df["sigma_s_r"].dtype == np.float64  # other columns as before


def test_real_pairs_without_iso_read_as_nullable_integers(tmp_path):
    from PIL import Image

    for role in ("noisy", "gt"):
        (tmp_path / "pairs" / role).mkdir(parents=True)
        for i in range(2):
            img = np.random.default_rng(i).integers(0, 255, (40, 48, 3), dtype=np.uint8)
            Image.fromarray(img).save(tmp_path / "pairs" / role / f"p{i}.png")
    pack_pairs(PackPairsConfig(pairs=(str(tmp_path / "pairs"),), out=str(tmp_path / "packed"), patch=16),
               progress=False, echo=lambda s: None)
    table = pq.read_table(tmp_path / "packed" / "index.parquet")
    assert table.schema.field("iso").type == "int32" and table.column("iso").null_count == table.num_rows
    meta = json.loads(table.schema.metadata[b"pandas"])
    assert {c["name"] for c in meta["columns"]} == set(NULLABLE_INT_COLUMNS)  # iso, patch, jpeg_quality
