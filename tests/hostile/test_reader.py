"""The reader against hostile shards: bad σ, decompression bombs, deep json, big unknown members,
pickles, empty shards. Each damaged sample is counted and skipped; every other sample is delivered."""

from __future__ import annotations

import json
import math
import tarfile
import warnings

import numpy as np
import pytest

import noisegen as ng
from noisegen.dataset.format import CLEAN, JSON, NOISY, SIGMA, encode_sigma
from noisegen.dataset.reader import DamagedDataWarning, QuietDamageCounter, iter_samples, list_shards, read_shard

from .helpers import cli, copy_dataset, edit_json, png_header_only, rewrite_shard, tiny_dataset

N_SAMPLES = 6  # tiny_dataset: 6 samples in 3 shards of 2


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("reader"))


@pytest.fixture
def ds(base, tmp_path):
    return copy_dataset(base, tmp_path / "ds")


def _read_all(ds) -> tuple[list[dict], QuietDamageCounter]:
    shards = list_shards(ds)
    errors = QuietDamageCounter()
    samples = list(iter_samples(shards.urls, handler=errors, counts=shards.counts, require_sigma=True))
    return samples, errors


def _open_dataset_all(ds) -> tuple[list[dict], object]:
    pipe = ng.open_dataset(ds, split_by_node=False, split_by_worker=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedDataWarning)
        return list(pipe), pipe.errors


def _set_step(value):
    def change(meta):
        meta["sigma"]["step"] = value
        return json.dumps(meta, allow_nan=True).encode()  # NaN / Infinity as Python's json writes them
    return change


BAD_STEPS = {"nan": math.nan, "inf": math.inf, "huge": 1e308, "negative": -1.0, "zero": 0.0, "string": "0.1",
             "null": None, "bool": True}


@pytest.mark.parametrize("name", sorted(BAD_STEPS))
def test_bad_sigma_step_is_counted_not_delivered(ds, name):
    rewrite_shard(ds / "shard-000001.tar", lambda m: edit_json(m, "s000000002", _set_step(BAD_STEPS[name])))
    for samples, errors in (_read_all(ds), _open_dataset_all(ds)):
        assert sorted(s["key"] for s in samples) == [f"s00000000{i}" for i in (0, 1, 3, 4, 5)]
        assert errors.count == 1 and "sigma.step" in errors.messages[0] and "s000000002" in errors.messages[0]
        assert all(np.isfinite(s["sigma"]).all() and s["sigma"].min() >= 0 for s in samples)


def test_sigma_map_beyond_the_format_range_is_counted(ds):
    # a σ map whose values decode above SIGMA_MAX (16) with the largest legal step
    big = np.full((32, 32, 3), 200.0)
    data, step = encode_sigma(big)

    def edit(members):
        members = [(n, data if n == f"s000000003.{SIGMA}" else d) for n, d in members]
        return edit_json(members, "s000000003", lambda meta: {**meta, "sigma": {**meta["sigma"], "step": step}})

    rewrite_shard(ds / "shard-000001.tar", edit)
    samples, errors = _read_all(ds)
    assert len(samples) == N_SAMPLES - 1 and errors.count == 1 and "range" in errors.messages[0]


@pytest.mark.parametrize("member", [CLEAN, NOISY, SIGMA])
def test_decompression_bomb_member_is_counted(ds, member):
    bomb = png_header_only(40000, 40000)  # 1.6 gigapixels claimed by a 100-byte PNG
    rewrite_shard(ds / "shard-000000.tar",
                  lambda m: [(n, bomb if n == f"s000000000.{member}" else d) for n, d in m])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DecompressionBombWarning from Pillow either
        samples, errors = _read_all(ds)
    assert len(samples) == N_SAMPLES - 1 and errors.count == 1
    assert "over the limit" in errors.messages[0] and "s000000000" in errors.messages[0]


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_counted(ds, depth):
    deep = ("[" * depth + "]" * depth).encode()
    rewrite_shard(ds / "shard-000002.tar",
                  lambda m: edit_json(m, "s000000004", lambda meta: b'{"key": "s000000004", "x": ' + deep + b"}"))
    samples, errors = _read_all(ds)
    assert len(samples) == N_SAMPLES - 1 and errors.count == 1 and "s000000004" in errors.messages[0]


@pytest.mark.parametrize("payload", [b"\xff\xfe not utf-8", b"{", b"[1, 2]", b'{"key": 5}'])
def test_malformed_json_member_is_counted(ds, payload):
    rewrite_shard(ds / "shard-000002.tar", lambda m: edit_json(m, "s000000005", lambda meta: payload))
    samples, errors = _read_all(ds)
    assert len(samples) == N_SAMPLES - 1 and errors.count == 1


class _CountingFile:
    """A file object that counts the bytes read through it."""

    def __init__(self, f):
        self.f, self.read_bytes = f, 0

    def read(self, n=-1):
        data = self.f.read(n)
        self.read_bytes += len(data)
        return data

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.f.close()


def test_big_unknown_member_is_never_read(ds, monkeypatch):
    from noisegen.dataset.reader import samples as reader_samples

    big = 64 * 2**20
    shard = ds / "shard-000000.tar"
    with open(shard, "rb") as f:
        known = sum(m.size for m in tarfile.open(fileobj=f))
    rewrite_shard(shard, lambda m: m[:4] + [("s000000000.weights.bin", b"\0" * big)] + m[4:])
    opened = []
    real_open = reader_samples._open_url
    monkeypatch.setattr(reader_samples, "_open_url", lambda url: opened.append(_CountingFile(real_open(url)))
                        or opened[-1])
    errors = QuietDamageCounter()
    raws = list(read_shard(str(shard), handler=errors, expected=2))
    assert [r["__key__"] for r in raws] == ["s000000000", "s000000001"] and errors.count == 0
    assert "weights.bin" not in raws[0]
    # everything read: the known members, their headers and the tar's blocks; the 64 MiB member is skipped
    assert opened[0].read_bytes < known + 64 * 1024 < big


def test_pickle_members_are_never_read_or_decoded(ds):
    import pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle ran')",))

    payload = pickle.dumps(Boom())
    rewrite_shard(ds / "shard-000000.tar",
                  lambda m: m + [("s000000001.pyd", payload), ("s000000001.params.pickle", payload)])
    samples, errors = _read_all(ds)
    assert len(samples) == N_SAMPLES and errors.count == 0
    assert all(set(s) == {"key", "url", "clean", "noisy", "sigma", "params"} for s in samples)


@pytest.mark.parametrize("how", ["empty-tar", "zero-bytes", "garbage"])
def test_empty_or_unreadable_shard_counts_its_missing_samples(ds, how):
    shard = ds / "shard-000001.tar"
    if how == "empty-tar":
        tarfile.open(shard, "w").close()
    else:
        shard.write_bytes(b"" if how == "zero-bytes" else b"\x13" * 5000)
    for samples, errors in (_read_all(ds), _open_dataset_all(ds)):
        assert len(samples) == N_SAMPLES - 2
        assert any("only 0 of 2 samples" in m and "shard-000001.tar" in m for m in errors.messages), errors.messages


def test_stats_counts_a_bomb_and_a_deep_json_and_goes_on(ds, capsys):
    rewrite_shard(ds / "shard-000000.tar",
                  lambda m: [(n, png_header_only(40000, 40000) if n == f"s000000000.{CLEAN}" else d) for n, d in m])
    rewrite_shard(ds / "shard-000002.tar",
                  lambda m: edit_json(m, "s000000004", lambda meta: b"[" * 100_000 + b"]" * 100_000))
    rc, out, err = cli(capsys, "stats", str(ds), "--workers", "1", "--no-progress", "--min-count", "10")
    assert rc == 0 and "Traceback" not in err
    assert "skipped inputs: 2" in out and "s000000000" in out and "s000000004" in out


def test_verify_decodes_every_sample_and_names_the_bad_one(ds, capsys):
    rewrite_shard(ds / "shard-000001.tar", lambda m: edit_json(m, "s000000003", _set_step(math.nan)))
    # re-record the shard's size and sha256, so that only the contents are wrong
    from noisegen.dataset.sources import file_sha256

    m = json.loads((ds / "dataset.json").read_text())
    for s in m["shards"]:
        s["bytes"], s["sha256"] = (ds / s["name"]).stat().st_size, file_sha256(ds / s["name"])
    (ds / "dataset.json").write_text(json.dumps(m))
    rc, out, err = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and "shard-000001.tar: 1 sample(s) fail to decode or validate" in out and "s000000003" in out


def test_verify_finds_a_pickle_member(ds, capsys):
    rewrite_shard(ds / "shard-000000.tar", lambda m: m + [("s000000001.pyd", b"\x80\x04N.")])
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and "'s000000001.pyd' is a pickle" in out


def test_the_json_of_a_clean_dataset_has_typed_empty_values(ds):
    with tarfile.open(ds / "shard-000000.tar") as tar:
        metas = [json.loads(tar.extractfile(m).read()) for m in tar.getmembers() if m.name.endswith(JSON)]
    for meta in metas:
        assert meta["format_version"] == 2 and isinstance(meta["conversions"], str)
        assert None not in meta["params"].values()


def test_damage_streak_tells_a_consumer_that_nothing_usable_arrives(ds):
    for shard in ds.glob("shard-*.tar"):
        shard.write_bytes(b"\x13" * 1000)  # every shard damaged
    samples, errors = _read_all(ds)
    assert samples == [] and errors.streak == errors.count == 6  # 3 unreadable + 3 "only 0 of 2"
    errors.good()
    assert errors.streak == 0
