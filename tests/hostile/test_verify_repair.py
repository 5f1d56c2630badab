"""Issue 21, silent corruption: `inspect --verify` checks what the readers check in every mode (the sample
parameters, the json against index.parquet, the manifest's counts), `generate --resume` repairs what
verify names (index.parquet, counts), and `stats` reports samples the manifest lists but the shards lack."""

from __future__ import annotations

import json
import math
import tarfile
import warnings

import pyarrow.parquet as pq
import pytest
from datagen import file_digests, make_photos

import noisegen as ng
from noisegen.dataset.format import INDEX_NAME, JSON, check_sample_meta, from_disk
from noisegen.dataset.generate import generate
from noisegen.dataset.reader import (
    DamagedDataWarning,
    QuietDamageCounter,
    decode_sample,
    iter_samples,
    list_shards,
    read_index,
    read_shard,
)

from .helpers import (
    QUIET,
    cli,
    copy_dataset,
    edit_json,
    one_error_line,
    read_members,
    rerecord_shards,
    rewrite_shard,
    tiny_config,
    tiny_dataset,
)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("verify"))


@pytest.fixture(scope="module")
def derived(reference, tmp_path_factory):
    """The tiny dataset with derived σ maps (no σ member)."""
    out = tmp_path_factory.mktemp("derived") / "ds"
    generate(tiny_config(reference.parent / "photos", out, sigma="derived"), **QUIET)
    return out


def _gen_args(ds, photos, *extra):
    return ["generate", "--images", str(photos), "--out", str(ds), "--patch", "32", "--patches-per-image", "2",
            "--samples-per-shard", "2", "--seed", "5", "--workers", "1", "--no-progress", *extra]


def _set_params(ds, **values):
    """Every sample's json with params replaced by ``values`` (as Python's json writes NaN/Infinity), the
    shards' sizes and sha256 re-recorded: only the contents are wrong."""
    def change(meta):
        meta["params"].update(values)
        return json.dumps(meta, allow_nan=True).encode()

    for shard in sorted(ds.glob("shard-*.tar")):
        keys = sorted({n.partition(".")[0] for n, _ in read_members(shard)})
        for key in keys:
            rewrite_shard(shard, lambda m, key=key: edit_json(m, key, change))
    rerecord_shards(ds)


BAD_PARAMS = {"nan sigma_s": {"sigma_s": [math.nan] * 3}, "inf sigma_c": {"sigma_c": [0.01, math.inf, 0.01]},
              "huge sigma_s": {"sigma_s": [1e308] * 3}, "negative sigma_c": {"sigma_c": [-0.1] * 3},
              "string jpeg quality": {"jpeg_quality": "80"}, "unknown field": {"gain": 2.0},
              "zero wb gain": {"wb_gains": [0.0, 1.0, 1.0], "rgb_to_camera": None}}


@pytest.mark.parametrize("mode", ["stored", "derived"])
@pytest.mark.parametrize("case", sorted(BAD_PARAMS))
def test_verify_checks_the_sample_parameters_in_every_mode(reference, derived, tmp_path, capsys, case, mode):
    ds = copy_dataset(reference if mode == "stored" else derived, tmp_path / "ds")
    _set_params(ds, **BAD_PARAMS[case])
    rc, out, err = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and "Traceback" not in err and "verify: ok" not in out
    assert "fail to decode or validate" in out and "json: params" in out
    # ...and what verify says is what every reader does: nothing of those samples is delivered
    shards = list_shards(ds)
    errors = QuietDamageCounter()
    assert list(iter_samples(shards.urls, handler=errors)) == [] and errors.count == 6
    pipe = ng.open_dataset(ds, split_by_node=False, split_by_worker=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedDataWarning)
        assert list(pipe) == [] and pipe.errors.count == 6


def test_fresh_noise_reader_and_verify_agree(reference, tmp_path):
    # the trainer's fresh-noise mode reads the clean crop and the json only: it rejects the same samples
    ds = copy_dataset(reference, tmp_path / "ds")
    _set_params(ds, sigma_s=[math.nan] * 3)
    raws = list(read_shard(str(ds / "shard-000000.tar"), handler=QuietDamageCounter()))
    for raw in raws:
        with pytest.raises(ValueError, match="json: params.sigma_s: values must be finite"):
            decode_sample(raw, clean_only=True)


def test_verify_finds_a_json_that_disagrees_with_the_index(reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    rewrite_shard(ds / "shard-000001.tar",
                  lambda m: edit_json(m, "s000000003", lambda meta: {**meta, "params": {**meta["params"],
                                                                                         "sigma_c": [0.03] * 3}}))
    rerecord_shards(ds)
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and "shard-000001.tar: 1 sample(s) disagree with index.parquet" in out
    assert "sample s000000003: sigma_c_r, sigma_c_g, sigma_c_b" in out


def _manifest(ds):
    return json.loads((ds / "dataset.json").read_text())


def _write_manifest(ds, m):
    (ds / "dataset.json").write_text(json.dumps(m))


@pytest.mark.parametrize("how", ["index missing", "index truncated", "index garbage", "counts wrong",
                                 "shard count wrong"])
def test_resume_repairs_what_verify_names(reference, tmp_path, capsys, how):
    ds = copy_dataset(reference, tmp_path / "ds")
    if how == "index missing":
        (ds / INDEX_NAME).unlink()
    elif how == "index truncated":
        pq.write_table(read_index(ds / INDEX_NAME).slice(0, 3), ds / INDEX_NAME)
    elif how == "index garbage":
        (ds / INDEX_NAME).write_bytes(b"PAR1 not parquet")
    elif how == "counts wrong":
        m = _manifest(ds)
        m["counts"].update(samples=6000, shards=9, bytes=1)
        _write_manifest(ds, m)
    else:
        m = _manifest(ds)
        m["shards"][1]["samples"] = 2000
        _write_manifest(ds, m)
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and "--resume" in out.strip().splitlines()[-1]
    rc, _, err = cli(capsys, *_gen_args(ds, reference.parent / "photos", "--resume"))  # following the advice
    assert rc == 0 and "repaired from the shards" in err and "nothing to do" not in err
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 0 and "verify: ok" in out, out
    assert _manifest(ds) == _manifest(reference)
    got, want = read_index(ds / INDEX_NAME).to_pylist(), read_index(reference / INDEX_NAME).to_pylist()
    assert len(got) == len(want) == 6
    for g, w in zip(got, want):  # σ statistics come from the stored 16-bit σ maps: within the codec's step
        assert {k: v for k, v in g.items() if not k.startswith("sigma_m")} == \
            {k: v for k, v in w.items() if not k.startswith("sigma_m")}
        assert g["sigma_mean"] == pytest.approx(w["sigma_mean"], abs=1e-4)
        assert g["sigma_max"] == pytest.approx(w["sigma_max"], abs=1e-4)
    rc, _, err = cli(capsys, *_gen_args(ds, reference.parent / "photos", "--resume"))
    assert rc == 0 and "already complete" in err and "repaired" not in err


def test_resume_repairs_a_damaged_shard_when_the_index_is_gone_too(reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    (ds / "shard-000002.tar").unlink()
    (ds / INDEX_NAME).unlink()
    rc, _, err = cli(capsys, *_gen_args(ds, reference.parent / "photos", "--resume"))
    assert rc == 0 and "rewriting them" in err
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 0 and "verify: ok" in out
    digests, ref = file_digests(ds), file_digests(reference)
    assert {k: v for k, v in digests.items() if k != INDEX_NAME} == {k: v for k, v in ref.items() if k != INDEX_NAME}


def test_stats_reports_samples_the_manifest_lists_but_the_shards_lack(reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    m = _manifest(ds)
    for s in m["shards"]:
        s["samples"] = 2000
    m["counts"]["samples"] = 6000
    _write_manifest(ds, m)
    rc, out, err = cli(capsys, "stats", str(ds), "--workers", "1", "--no-progress", "--min-count", "10")
    assert rc == 0 and "Traceback" not in err
    assert "skipped inputs: 3" in out and "only 2 of 2000 samples could be read" in out


def test_an_empty_tar_is_damage_for_verify_and_stats(reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    tarfile.open(ds / "shard-000000.tar", "w").close()
    rerecord_shards(ds)
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and "shard-000000.tar: holds 0 samples, index.parquet lists 2" in out
    rc, out, _ = cli(capsys, "stats", str(ds), "--workers", "1", "--no-progress", "--min-count", "10")
    assert rc == 0 and "only 0 of 2 samples" in out


def test_a_sigma_beyond_the_bound_is_rejected_by_the_reader(reference, tmp_path):
    ds = copy_dataset(reference, tmp_path / "ds")
    rewrite_shard(ds / "shard-000000.tar", lambda m: edit_json(m, "s000000000", lambda meta: {
        **meta, "params": {**meta["params"], "sigma_s": [5.0, 0.0, 0.0]}}))
    pipe = ng.open_dataset(ds, split_by_node=False, split_by_worker=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedDataWarning)
        keys = [s["key"] for s in pipe]
    assert "s000000000" not in keys and len(keys) == 5 and "lie in [0, 4]" in pipe.errors.messages[0]


def test_the_writer_passes_the_readers_checks(reference):
    for shard in sorted(reference.glob("shard-*.tar")):
        for name, data in read_members(shard):
            if name.endswith(JSON):
                check_sample_meta(from_disk(json.loads(data)), synthetic=True)


def test_generate_with_no_usable_sample_is_an_error(tmp_path, capsys):
    src = tmp_path / "src"
    make_photos(src)
    for p in src.rglob("*.png"):  # headers intact (they pass the scan), pixel data cut: every decode fails
        data = p.read_bytes()
        p.write_bytes(data[: len(data) // 3])
    out = tmp_path / "ds"
    rc, _, err = cli(capsys, "generate", "--images", str(src), "--out", str(out), "--patch", "32",
                     "--patches-per-image", "2", "--workers", "1", "--no-progress")
    line = one_error_line(err)
    assert rc == 2 and "no sample could be made: all 3 source images failed to decode" in line
    assert "nothing was written" in line and not out.exists()


def test_an_empty_dataset_is_an_error_for_verify_and_stats(reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    m = _manifest(ds)
    for s in m["shards"]:
        s["samples"] = 0
    m["counts"]["samples"] = 0
    _write_manifest(ds, m)
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and "dataset.json: lists no samples: the dataset is empty" in out
    for extra in ((), ("--fast",)):
        rc, _, err = cli(capsys, "stats", str(ds), "--workers", "1", "--no-progress", *extra)
        assert rc == 2 and "the dataset holds no samples" in one_error_line(err)


def test_stats_fast_reports_an_index_that_disagrees_with_the_manifest(reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    pq.write_table(read_index(ds / INDEX_NAME).slice(0, 4), ds / INDEX_NAME)
    rc, out, _ = cli(capsys, "stats", str(ds), "--fast", "--no-progress")
    assert rc == 0 and "skipped inputs: 1" in out and "index.parquet: lists 4 samples, dataset.json 6" in out
