"""`noisegen generate` and `pack-pairs` against unlucky inputs and interruptions: one line naming the
input, exit code 2, finished work kept, no temporary files left."""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from datagen import file_digests, make_photos
from PIL import Image

from noisegen.command import cpu_count
from noisegen.dataset import make_shard
from noisegen.dataset.format import PARTIAL_DIR
from noisegen.dataset.generate import generate
from noisegen.dataset.resume import RunLock

from .helpers import (
    QUIET,
    ROOT,
    cli,
    copy_dataset,
    one_error_line,
    png_header_only,
    temp_files,
    tiny_config,
    tiny_dataset,
)

NOT_ROOT = pytest.mark.skipif(os.geteuid() == 0, reason="permissions do not bind root")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The tiny dataset (tiny_config) of photos/ beside it."""
    return tiny_dataset(tmp_path_factory.mktemp("gen"))


@pytest.fixture(scope="module")
def photos(reference):
    return reference.parent / "photos"


def _gen_args(photos: Path, out: Path, *extra: str) -> list[str]:
    return ["generate", "--images", str(photos), "--out", str(out), "--patch", "32", "--patches-per-image", "2",
            "--samples-per-shard", "2", "--seed", "5", "--workers", "1", "--no-progress", *extra]


# ------------------------------------------------------------------------------------------------
# Names, sizes, changed sources


def test_non_utf8_file_names_are_skipped_and_listed_with_escapes(photos, tmp_path, capsys):
    src = tmp_path / "src"
    make_photos(src, sizes=((60, 70),))
    bad = os.fsencode(src) + b"/caf\xe9-\xff.png"
    with open(bad, "wb") as f:
        f.write((src / "photo0.png").read_bytes())
    out = tmp_path / "out"
    rc, stdout, err = cli(capsys, *_gen_args(src, out))
    assert rc == 0 and "Traceback" not in err
    assert "caf\\xe9-\\xff.png: file name is not valid UTF-8" in stdout
    m = json.loads((out / "dataset.json").read_text())
    assert [s["source"] for s in m["skipped"]] == ["src/caf\\xe9-\\xff.png"] and m["counts"]["samples"] == 2
    assert not (out / PARTIAL_DIR).exists()


def test_pack_pairs_skips_non_utf8_names(tmp_path, capsys):
    root = tmp_path / "pairs"
    for role in ("noisy", "gt"):
        (root / role).mkdir(parents=True)
        img = np.random.default_rng(1).integers(0, 255, (40, 40, 3), dtype=np.uint8)
        Image.fromarray(img).save(root / role / "a.png")
        with open(os.fsencode(root / role) + b"/b\xff.png", "wb") as f:
            f.write((root / role / "a.png").read_bytes())
    rc, out, err = cli(capsys, "pack-pairs", str(root), "--out", str(tmp_path / "packed"), "--patch", "16",
                       "--no-progress")
    assert rc == 0 and "Traceback" not in err and "b\\xff.png: file name is not valid UTF-8" in out


def test_a_source_over_the_pixel_limit_is_skipped_with_one_clean_line(photos, tmp_path, capsys):
    src = tmp_path / "src"
    make_photos(src, sizes=((60, 70),))
    (src / "huge.png").write_bytes(png_header_only(13000, 13000))
    rc, out, err = cli(capsys, *_gen_args(src, tmp_path / "out"))
    assert rc == 0 and "DecompressionBomb" not in err + out
    assert "huge.png: 13000×13000 = 169.0 MP is over the limit of 100 MP (raise it with --max-pixels)" in out
    rc, out, err = cli(capsys, *_gen_args(src, tmp_path / "out2", "--max-pixels", "10M"))
    assert rc == 0 and "over the limit of 10 MP" in out


def test_resume_refuses_a_source_changed_with_the_same_name_and_size(photos, tmp_path, capsys):
    src = tmp_path / "src"
    make_photos(src)
    out = tmp_path / "out"
    generate(tiny_config(src, out), **QUIET)
    (out / "dataset.json").unlink()  # as if killed before the end; records of finished shards remain
    (out / "index.parquet").unlink()
    (out / PARTIAL_DIR).mkdir(exist_ok=True)
    from noisegen.dataset.generate import _fingerprint, _plan, _scan

    cfg = tiny_config(src, out, resume=True)
    scan = _scan(cfg)
    (out / PARTIAL_DIR / "plan.json").write_text(json.dumps(_fingerprint(cfg, scan, _plan(cfg, scan))))
    p = src / "photo0.png"
    img = np.asarray(Image.open(p)).copy()
    img[0, 0] ^= 1
    size = p.stat().st_size
    Image.fromarray(img).save(p)
    with open(p, "r+b") as f:  # keep the size exactly
        f.truncate(size)
    rc, _, err = cli(capsys, *_gen_args(src, out, "--resume"))
    line = one_error_line(err)
    assert rc == 2 and "photos/photo0.png (content differs)" not in line and "src/photo0.png (content differs)" in line


# ------------------------------------------------------------------------------------------------
# Bad values and output folders


@pytest.mark.parametrize("value", ["1e300", "-0.1", "nan", "inf", "abc"])
def test_out_of_range_sigma_is_rejected_up_front(photos, tmp_path, capsys, value):
    with pytest.raises(SystemExit) as e:
        cli(capsys, *_gen_args(photos, tmp_path / "out", "--sigma-s", value))
    err = capsys.readouterr().err
    assert e.value.code == 2 and "--sigma-s: expected a number in [0, 4]" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


PROFILE_CASES = {
    "per_channel string": ({"per_channel": "false"}, "per_channel must be true or false"),
    "white_balance yes": ({"white_balance": "yes"}, "white_balance must be true or false"),
    "range of strings": ({"sigma_s": ["0.0", "0.1"]}, "sigma_s: expected a [low, high] pair of numbers"),
    "mixed range": ({"sigma_c": [0.0, "0.1"]}, "sigma_c: expected a [low, high] pair of numbers"),
    "probability string": ({"jpeg_probability": "0.5"}, "jpeg_probability must be a number"),
    "quality bools": ({"jpeg_quality": [True, 100]}, "jpeg_quality: expected a [low, high] pair"),
    "curves string": ({"crf_curves": "sRGB"}, "crf_curves must be a list"),
    "sigma too large": ({"sigma_s": [0.0, 1e300]}, "over the bound of 4"),
    "lambda too small": ({"sigma_law": "poisson_lambda", "poisson_lambda": [1e-6, 1.0]}, "over the bound of 4"),
    "scale over bound": ({"sigma_s": [0.0, 3.0], "channel_scale": [2.0, 1.0, 1.0]}, "over the bound of 4"),
}


@pytest.mark.parametrize("case", sorted(PROFILE_CASES))
def test_profile_field_types_are_strict(photos, tmp_path, capsys, case):
    fields, expected = PROFILE_CASES[case]
    prof = tmp_path / "p.json"
    prof.write_text(json.dumps({"name": "mine", **fields}))
    rc, _, err = cli(capsys, *_gen_args(photos, tmp_path / "out", "--profile", str(prof)))
    line = one_error_line(err)
    assert rc == 2 and expected in line and "'mine'" in line
    assert not (tmp_path / "out").exists()


def test_out_that_is_a_file(photos, tmp_path, capsys):
    f = tmp_path / "out"
    f.write_text("hello")
    rc, _, err = cli(capsys, *_gen_args(photos, f))
    assert rc == 2 and f"--out {f} is a file, not a folder" in one_error_line(err) and f.read_text() == "hello"


@NOT_ROOT
def test_read_only_out(photos, tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        rc, _, err = cli(capsys, *_gen_args(photos, ro / "ds"))
    finally:
        ro.chmod(0o755)
    line = one_error_line(err)
    assert rc == 2 and "Permission denied" in line and str(ro / "ds") in line and not (ro / "ds").exists()


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES])
def test_unwritable_out_without_chmod(photos, tmp_path, capsys, monkeypatch, code):
    # the same path as above, where permissions cannot be set (root): the folder refuses to be made
    real = Path.mkdir

    def mkdir(self, *a, **kw):
        if self.name == PARTIAL_DIR:
            raise OSError(code, os.strerror(code), str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    rc, _, err = cli(capsys, *_gen_args(photos, tmp_path / "ds"))
    line = one_error_line(err)
    assert rc == 2 and os.strerror(code) in line and str(tmp_path / "ds") in line
    assert ("read-only" in line) == (code == errno.EROFS)


def test_disk_full_keeps_finished_shards_and_says_resume(photos, reference, tmp_path, capsys, monkeypatch):
    out = tmp_path / "ds"
    real_add = make_shard.DeterministicTarWriter.add
    calls = {"n": 0}

    def add(self, name, data):
        calls["n"] += 1
        if calls["n"] > 12:  # 3 samples (4 members each) fit, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", name)
        return real_add(self, name, data)

    monkeypatch.setattr(make_shard.DeterministicTarWriter, "add", add)
    rc, _, err = cli(capsys, *_gen_args(photos, out))
    line = one_error_line(err)
    assert rc == 2 and "No space left on device" in line and "--resume" in line
    assert temp_files(out) == [] and (out / "shard-000000.tar").exists()
    monkeypatch.setattr(make_shard.DeterministicTarWriter, "add", real_add)
    rc, _, err = cli(capsys, *_gen_args(photos, out, "--resume"))
    assert rc == 0 and file_digests(out) == file_digests(reference)


def test_unreachable_dask_scheduler_fails_before_writing(photos, tmp_path, capsys):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ds"
    rc, _, err = cli(capsys, *_gen_args(photos, out, "--backend", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"))
    line = one_error_line(err)
    assert rc == 2 and f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in line
    assert not out.exists()


@pytest.mark.parametrize("content", ["{not json", "[]", '{"format": "noisegen-webdataset"}', "\xff",
                                     "[" * 100_000])
def test_malformed_dataset_json(reference, tmp_path, capsys, content):
    ds = copy_dataset(reference, tmp_path / "ds")
    (ds / "dataset.json").write_text(content, encoding="latin-1")
    for argv in (["inspect", str(ds)], ["inspect", str(ds), "--verify"], ["stats", str(ds), "--fast"]):
        rc, _, err = cli(capsys, *argv)
        line = one_error_line(err)
        assert rc == 2 and "dataset.json" in line


def test_missing_manifest_entries_never_give_a_bare_key(reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    m = json.loads((ds / "dataset.json").read_text())
    m["counts"], m["config"] = {}, {}
    (ds / "dataset.json").write_text(json.dumps(m))
    rc, out, err = cli(capsys, "inspect", str(ds))
    assert rc == 0 and "6 samples in 3 shards" in out and "profile ?" in out
    from noisegen.command import run_command

    class Args:
        command = "x"

        def func(self, a):
            raise KeyError("counts")

    assert run_command("noisegen", Args()) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "missing entry 'counts'" in line and line != "noisegen x: error: counts"


def test_broken_pipe_when_piped_to_head(reference):
    cmd = f"{sys.executable} -m noisegen profile show cbdnet | head -c 10; {sys.executable} -m noisegen inspect " \
          f"{reference} | head -n 1"
    r = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.stderr == "" and r.stdout.startswith('{\n  "name"')


# ------------------------------------------------------------------------------------------------
# Interruption and concurrency


def test_a_second_run_on_a_locked_folder_stops_without_touching_it(photos, tmp_path, capsys):
    out = tmp_path / "ds"
    out.mkdir()
    lock = RunLock(out)  # another run holds the folder...
    (out / ".shard-000000.tar.123-abcd.tmp").write_bytes(b"half a shard")  # ...and is writing this file
    try:
        rc, _, err = cli(capsys, *_gen_args(photos, out, "--resume"))
    finally:
        lock.close()
    line = one_error_line(err)
    assert rc == 2 and f"{out} is being written by another `noisegen generate` (pid {os.getpid()})" in line
    assert temp_files(out) == [".shard-000000.tar.123-abcd.tmp"]


def _slow_cli(out: Path, workers: int, *extra: str) -> list[str]:
    # 64 small shards of the bundled photos: long enough to interrupt mid-run on a busy machine
    return [sys.executable, "-m", "noisegen", "generate", "--out", str(out), "--patch", "96", "--patches-per-image",
            "8", "--samples-per-shard", "1", "--workers", str(workers), "--no-progress", *extra]


def _wait_for(path_glob, folder: Path, proc, timeout=120):
    deadline = time.monotonic() + timeout
    while not list(folder.glob(path_glob)):
        assert proc.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline, "no shard appeared"
        time.sleep(0.01)


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_with_two_workers_removes_temp_files_and_says_resume(tmp_path):
    ref = tmp_path / "ref"
    r = subprocess.run(_slow_cli(ref, 1), capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "ds"
    # A shell without job control starts background commands with SIGINT ignored, and exec keeps that
    # (Python then installs no KeyboardInterrupt handler): give the run a terminal's default disposition.
    proc = subprocess.Popen(_slow_cli(out, 2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    _wait_for("shard-000001.tar", out, proc)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole foreground group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "rerun the same command with --resume to finish" in err.strip().splitlines()[-1]
    assert temp_files(out) == [] and not (out / "dataset.json").exists()
    r = subprocess.run(_slow_cli(out, 2, "--resume"), capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    assert file_digests(out) == file_digests(ref)


def test_kill_9_of_the_main_process_stops_the_workers(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(_slow_cli(out, 2), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
                            start_new_session=True)
    _wait_for("shard-000001.tar", out, proc)
    workers = [k for k in _children(proc.pid) if "loky" in Path(f"/proc/{k}/cmdline").read_text(errors="replace")
               or _children(k) == []]
    assert workers, "no worker processes found"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 60  # a worker stops before its next sample (a patch takes milliseconds)
    while any(_alive(k) for k in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [k for k in workers if _alive(k)]
    for k in alive:
        os.kill(k, signal.SIGKILL)
    assert not alive, "workers kept running after the main process was killed"
    assert temp_files(out) == []


def test_resume_on_a_complete_dataset_with_a_damaged_shard_repairs_it(photos, reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    data = bytearray((ds / "shard-000001.tar").read_bytes())
    data[700] ^= 0xFF
    (ds / "shard-000001.tar").write_bytes(bytes(data))
    (ds / "shard-000002.tar").unlink()
    rc, out, err = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and "shard-000001.tar" in out and "shard-000002.tar: missing" in out
    advice = out.strip().splitlines()[-1]
    assert advice.startswith("repair: rerun the same `noisegen generate") and "--resume" in advice
    rc, _, err = cli(capsys, *_gen_args(photos, ds, "--resume"))  # following the advice
    assert rc == 0 and "2 damaged shard(s) (shard-000001.tar, shard-000002.tar); rewriting them" in err
    assert file_digests(ds) == file_digests(reference)
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 0 and "verify: ok" in out
    rc, _, err = cli(capsys, *_gen_args(photos, ds, "--resume"))
    assert rc == 0 and "already complete (every shard has its recorded size and sha256)" in err


def test_workers_are_capped_at_the_shards_to_write_and_the_cores(photos, tmp_path, capsys):
    rc, _, err = cli(capsys, *_gen_args(photos, tmp_path / "ds")[:-3], "--workers", "500", "--no-progress")
    cap = "the 3 shards to write" if cpu_count() >= 3 else f"the {cpu_count()} CPU cores"
    assert rc == 0 and f"{min(3, cpu_count())} workers (--workers 500 capped at {cap})" in err


def test_each_source_is_decoded_once_per_worker_not_once_per_shard(photos, tmp_path, monkeypatch):
    calls = []
    real = make_shard.read_rgb8
    monkeypatch.setattr(make_shard, "read_rgb8", lambda p, **kw: calls.append(p) or real(p, **kw))
    # 3 photos × 4 patches in shards of 1: each photo spans 4 shards
    generate(tiny_config(photos, tmp_path / "ds", patches_per_image=4, samples_per_shard=1), **QUIET)
    assert len(calls) == 3 == len(set(calls))


def test_multipage_gray_tiff_is_recorded_as_a_conversion(tmp_path, capsys):
    import tifffile

    src = tmp_path / "src"
    src.mkdir()
    pages = np.random.default_rng(2).integers(0, 255, (3, 48, 40), dtype=np.uint8)
    for page in pages:
        tifffile.imwrite(src / "stack.tif", page, append=True)
    out = tmp_path / "ds"
    rc, stdout, _ = cli(capsys, *_gen_args(src, out))
    m = json.loads((out / "dataset.json").read_text())
    assert rc == 0 and m["converted_images"] == {"src/stack.tif": ["multipage", "gray"]}
    assert "converted inputs: gray 1, multipage 1" in stdout
