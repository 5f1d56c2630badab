"""index.parquet's columns beyond the fixed ones: the optional parameters (correlated noise, sharpening) appear
in the samples that use them only, which need not be the first shard's (a mixture of profiles)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from noisegen.dataset.format import index_types
from noisegen.dataset.writer import write_index


def _row(key: str, **extra) -> dict:
    row = {c: None for c in index_types()}
    row.update(shard="s.tar", key=key, sample=0, source="a.png", **extra)
    return row


def test_a_column_first_seen_in_a_later_shard_is_kept_with_its_type(tmp_path):
    corr = [0.5] * 27
    batches = [[_row("k0"), _row("k1")], [], [_row("k2", noise_corr=corr, sharpen_amount=0.3)], [_row("k3")]]
    path = tmp_path / "index.parquet"
    write_index(lambda: iter(batches), path)
    table = pq.read_table(path)
    assert table.column_names[:len(index_types())] == list(index_types())
    assert table.column_names[len(index_types()):] == ["noise_corr", "sharpen_amount"]
    t = table.schema.field("noise_corr").type
    assert pa.types.is_list(t) and t.value_type == pa.float64()
    assert table.column("noise_corr").to_pylist() == [None, None, corr, None]
    assert table.column("sharpen_amount").to_pylist() == [None, None, 0.3, None]
    assert table.column("key").to_pylist() == ["k0", "k1", "k2", "k3"]
    assert table.num_rows == 4 and pq.ParquetFile(path).num_row_groups == 3  # one row group per non-empty batch


def test_rows_with_only_the_fixed_columns_get_no_extra_column(tmp_path):
    path = tmp_path / "index.parquet"
    write_index(lambda: [[_row("k0")]], path)
    assert pq.read_table(path).column_names == list(index_types())
