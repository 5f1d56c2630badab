"""`noisegen generate`: format, counts, reproducibility across workers/backends/resume, bad inputs."""

import dataclasses
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from datagen import file_digests, make_photos, small_config
from PIL import Image

import noisegen as ng
from noisegen.cli.main import main
from noisegen.dataset.format import MEMBERS, SIGMA, decode_sigma, from_disk
from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.images import read_rgb8
from noisegen.dataset.reader import read_index

QUIET = dict(progress=False, echo=lambda s: None)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos") / "photos"
    make_photos(folder)
    return folder


@pytest.fixture(scope="module")
def reference(photos, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "ds"
    summary = generate(small_config(photos, out), **QUIET)
    return out, summary


def test_layout_counts_and_manifest(reference):
    out, summary = reference
    m = json.loads((out / "dataset.json").read_text())
    index = read_index(out / "index.parquet")
    assert summary.samples == m["counts"]["samples"] == index.num_rows == 9
    assert m["counts"]["shards"] == 5 and [s["name"] for s in m["shards"]] == [f"shard-{i:06d}.tar" for i in range(5)]
    assert sum(s["samples"] for s in m["shards"]) == 9
    assert sorted(p.name for p in out.iterdir()) == ["dataset.json", "index.parquet"] + [s["name"] for s in m["shards"]]
    assert m["config"]["seed"] == 7 and m["config"]["profile"]["name"] == "cbdnet" and m["skipped"] == []
    assert set(m["versions"]) >= {"noisegen", "numpy", "numba", "pillow"}
    for s in m["shards"]:
        assert (out / s["name"]).stat().st_size == s["bytes"] and len(s["sha256"]) == 64
    cols = set(index.column_names)
    assert {"shard", "key", "source", "crop_y", "crop_x", "crop_h", "crop_w", "sigma_s_r", "sigma_c_b", "crf",
            "pattern", "jpeg_quality", "mean_intensity", "residual_std"} <= cols


def test_webdataset_reader_and_tar_read_the_shards(reference):
    import webdataset as wds

    out, _ = reference
    m = json.loads((out / "dataset.json").read_text())
    urls = [str(out / s["name"]) for s in m["shards"]]
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    index = read_index(out / "index.parquet")
    assert [s["__key__"] for s in samples] == index.column("key").to_pylist()
    for s in samples:
        assert set(MEMBERS) <= set(s)
    for url, shard in zip(urls, m["shards"]):
        names = subprocess.run(["tar", "-tf", url], capture_output=True, text=True, check=True).stdout.split()
        assert len(names) == len(MEMBERS) * shard["samples"]
        assert all(n.split(".", 1)[1] in MEMBERS for n in names)


def test_sample_json_reproduces_the_sample_and_sigma_within_1e4(reference, photos):
    import webdataset as wds

    out, _ = reference
    profile = ng.get_profile("cbdnet")
    for raw in wds.WebDataset(str(out / "shard-000001.tar"), shardshuffle=False):
        meta = json.loads(raw["json"])
        assert meta["key"] == raw["__key__"] and meta["noisegen_version"] == ng.__version__
        for field in ("camera", "crf", "crf_bank", "sigma_s", "sigma_c", "pattern", "demosaic", "wb_gains",
                      "rgb_to_camera", "jpeg_quality", "noise_model"):
            assert field in meta["params"]
        params = ng.SampleParams.from_dict(from_disk(meta)["params"])
        assert params == ng.sample_params(profile, np.random.default_rng(meta["params_seed"]))
        src_rel = meta["source"].split("/", 1)[1]
        img, _ = read_rgb8(photos / src_rel)
        c = meta["crop"]
        crop = np.ascontiguousarray(img[c["y"]:c["y"] + c["h"], c["x"]:c["x"] + c["w"]])
        s = ng.synthesize(crop, params, seed=meta["noise_seed"])
        clean = np.asarray(Image.open(io.BytesIO(raw["clean.png"])))
        noisy = np.asarray(Image.open(io.BytesIO(raw["noisy.png"])))
        assert np.array_equal(clean, crop) and np.array_equal(noisy, s.noisy)
        sigma = decode_sigma(raw[SIGMA], meta["sigma"]["step"])
        assert meta["sigma"]["member"] == SIGMA and np.array_equal(sigma, decode_sigma(raw[SIGMA]))
        assert np.abs(sigma.astype(np.float64) - s.sigma_raw).max() <= 1e-4


def test_clean_target_render_is_recorded_and_reproducible(photos, tmp_path):
    import webdataset as wds

    out = tmp_path / "render"
    generate(small_config(photos, out, clean_target="render", profile=ng.fix(ng.get_profile("cbdnet"),
                                                                           pattern="RGGB")),
             progress=False, echo=lambda s: None)
    assert json.loads((out / "dataset.json").read_text())["config"]["clean_target"] == "render"
    differs = 0
    for raw in wds.WebDataset(str(out / "shard-000000.tar"), shardshuffle=False):
        meta = json.loads(raw["json"])
        assert meta["clean_target"] == "render"
        img, _ = read_rgb8(photos / meta["source"].split("/", 1)[1])
        c = meta["crop"]
        crop = np.ascontiguousarray(img[c["y"]:c["y"] + c["h"], c["x"]:c["x"] + c["w"]])
        s = ng.synthesize(crop, ng.SampleParams.from_dict(from_disk(meta)["params"]), seed=meta["noise_seed"],
                          clean_target="render")
        clean = np.asarray(Image.open(io.BytesIO(raw["clean.png"])))
        assert np.array_equal(clean, s.clean)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(raw["noisy.png"]))), s.noisy)
        differs += not np.array_equal(clean, crop)
    assert differs > 0  # the mosaic and demosaic change the rendered target


def test_workers_1_and_2_give_identical_bytes(reference, photos, tmp_path):
    out, _ = reference
    generate(small_config(photos, tmp_path / "w2", workers=2), **QUIET)
    assert file_digests(tmp_path / "w2") == file_digests(out)


def test_dask_local_cluster_gives_identical_bytes(reference, photos, tmp_path):
    distributed = pytest.importorskip("distributed")
    out, _ = reference
    # Threads in this process, talking TCP on loopback: the same scheduler protocol as a real cluster.
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        cfg = small_config(photos, tmp_path / "dask", backend="dask", scheduler=cluster.scheduler_address, workers=2)
        generate(cfg, **QUIET)
    assert file_digests(tmp_path / "dask") == file_digests(out)


def _cli(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "noisegen", "generate", "--out", str(out), "--patch", "128",
            "--patches-per-image", "8", "--samples-per-shard", "2", "--workers", "1", "--no-progress", *extra]


def test_resume_after_kill_gives_the_bytes_of_an_uninterrupted_run(tmp_path):
    # Uninterrupted reference (in process), then the same command killed with SIGKILL mid-run.
    ref = tmp_path / "ref"
    # 32 small shards: after shard 1 appears the run has ~30 more to write, so the kill lands mid-run
    # even when this process is slow to poll on a loaded machine.
    generate(GenerateConfig(out=str(ref), patch=128, patches_per_image=8, samples_per_shard=2, workers=1), **QUIET)
    n_shards = len(json.loads((ref / "dataset.json").read_text())["shards"])
    out = tmp_path / "killed"
    proc = subprocess.Popen(_cli(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    try:
        while not (out / "shard-000001.tar").exists():
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.002)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (out / "dataset.json").exists()
    done = sorted(out.glob("shard-*.tar"))
    assert 1 <= len(done) < n_shards
    r = subprocess.run(_cli(out, "--resume"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr
    assert file_digests(out) == file_digests(ref)


def test_bad_inputs_are_skipped_and_listed(tmp_path):
    src = tmp_path / "mixed"
    make_photos(src, sizes=((60, 70), (50, 64)))
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(src / "whole.png")
    data = (src / "whole.png").read_bytes()
    (src / "truncated.png").write_bytes(data[: len(data) // 2])
    (src / "whole.png").unlink()
    (src / "text.jpg").write_text("I am not a JPEG")
    Image.fromarray(noise[:20, :20]).save(src / "tiny.png")
    Image.fromarray((np.arange(48 * 40).reshape(48, 40) * 30).astype(np.uint16)).save(src / "gray16.png")
    Image.fromarray(noise[:40, :40, 0]).save(src / "gray.png")
    Image.fromarray(np.dstack([noise[:40, :40], noise[:40, :40, :1]])).save(src / "rgba.png")
    (src / "README.txt").write_text("notes")
    out = tmp_path / "ds"
    summary = generate(small_config(src, out, patches_per_image=2), **QUIET)
    m = json.loads((out / "dataset.json").read_text())
    skipped = {s["source"].split("/")[-1]: s for s in m["skipped"]}
    assert set(skipped) == {"truncated.png", "text.jpg", "tiny.png", "README.txt"}
    assert skipped["truncated.png"]["stage"] == "decode" and "truncated" in skipped["truncated.png"]["reason"]
    assert skipped["text.jpg"]["stage"] == "probe" and skipped["tiny.png"]["stage"] == "probe"
    assert skipped["README.txt"]["stage"] == "scan"
    assert m["conversions"] == {"16bit": 1, "alpha": 1, "gray": 2}
    used = set(read_index(out / "index.parquet").column("source").to_pylist())
    assert {u.split("/")[-1] for u in used} == {"photo0.png", "photo1.png", "gray16.png", "gray.png", "rgba.png"}
    assert summary.samples == m["counts"]["samples"] == 10 and m["counts"]["samples_planned"] == 12
    assert m["counts"]["images_used"] == 5 and m["counts"]["skipped"] == 4


def test_output_folder_rules(reference, photos, tmp_path):
    out, _ = reference
    with pytest.raises(FileExistsError, match="already holds a dataset"):
        generate(small_config(photos, out), **QUIET)
    assert generate(small_config(photos, out, resume=True), **QUIET).already_complete
    with pytest.raises(ValueError, match="seed"):
        generate(small_config(photos, out, resume=True, seed=8), **QUIET)
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not empty"):
        generate(small_config(photos, other), **QUIET)


def test_resume_refuses_changed_options(photos, tmp_path):
    out = tmp_path / "ds"
    generate(small_config(photos, out), **QUIET)
    (out / "dataset.json").unlink()  # pretend the run stopped before the end
    (out / ".partial").mkdir()
    cfg = small_config(photos, out)
    from noisegen.dataset.generate import _fingerprint, _plan, _scan  # the plan.json a run writes first

    scan = _scan(cfg)
    (out / ".partial" / "plan.json").write_text(json.dumps(_fingerprint(cfg, scan, _plan(cfg, scan))))
    with pytest.raises(ValueError, match="patch"):
        generate(dataclasses.replace(small_config(photos, out, resume=True), patch=40), **QUIET)
    with pytest.raises(FileExistsError, match="interrupted run"):
        generate(cfg, **QUIET)


def test_no_usable_image_is_a_clear_error(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="no usable source image"):
        generate(small_config(tmp_path / "src", tmp_path / "out"), **QUIET)


def test_config_validation(tmp_path):
    with pytest.raises(ValueError, match="patch"):
        GenerateConfig(out=str(tmp_path), patch=4)
    with pytest.raises(ValueError, match="backend"):
        GenerateConfig(out=str(tmp_path), backend="spark")
    with pytest.raises(ValueError, match="scheduler"):
        GenerateConfig(out=str(tmp_path), scheduler="tcp://127.0.0.1:1")


def test_cli_generate_grid_with_overrides_then_inspect(photos, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["generate", "--images", str(photos), "--out", str(out), "--patch", "32", "--crop", "grid",
            "--patches-per-image", "2", "--samples-per-shard", "3", "--workers", "1", "--no-progress",
            "--sigma-s", "0.08", "--sigma-c", "0.02", "--crf", "sRGB", "--pattern", "none", "--jpeg", "none"]
    assert main(args) == 0
    assert "6 patches in 2 shards" in capsys.readouterr().out
    index = read_index(out / "index.parquet")
    assert set(index.column("sigma_s_g").to_pylist()) == {0.08} and set(index.column("crf").to_pylist()) == {"sRGB"}
    assert (set(index.column("pattern").to_pylist()) == {None}
            and set(index.column("jpeg_quality").to_pylist()) == {None})
    assert main(args) == 2
    assert "already holds a dataset" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "--out", str(tmp_path / "x"), "--shard-size", "12XB"])
