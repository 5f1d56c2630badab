"""Issue 21, `noisegen generate`: duplicated sources, a live run told from an interrupted one, workers
capped at the CPU count, SIGTERM handled as Ctrl-C, a non-UTF-8 --out, animated PNGs recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from datagen import make_photos
from PIL import Image

from noisegen.dataset import generate as generate_module
from noisegen.dataset.format import PARTIAL_DIR
from noisegen.dataset.resume import RunLock

from .helpers import ROOT, cli, cli_subprocess, one_error_line, temp_files, tiny_dataset
from .test_generate import _slow_cli, _wait_for


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("runs")).parent / "photos"


def _gen(src, out, *extra):
    return ["generate", *src, "--out", str(out), "--patch", "32", "--patches-per-image", "2", "--samples-per-shard",
            "2", "--seed", "5", "--no-progress", *extra]


def test_duplicated_sources_are_used_once_and_listed(photos, tmp_path, capsys):
    one = photos / "sub" / "photo1.png"
    rc, out, err = cli(capsys, *_gen(["--images", str(photos), "--images", str(photos), "--images", str(one)],
                                     tmp_path / "ds", "--workers", "1"))
    assert rc == 0 and "Traceback" not in err
    m = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert m["counts"]["samples"] == 6 and m["counts"]["images_planned"] == 3  # each photo once
    reasons = {s["source"].rsplit("/", 1)[-1]: s["reason"] for s in m["skipped"]}
    assert reasons == {"photos": "given twice; used once",
                       "photo1.png": "the same file as photos/sub/photo1.png (given twice); used once"}
    assert "skipped inputs: 2" in out and "given twice; used once" in out


def test_a_link_to_a_source_in_the_same_folder_is_used_once(tmp_path, capsys):
    src = tmp_path / "src"
    make_photos(src)
    (src / "again.png").symlink_to(src / "photo0.png")
    rc, out, _ = cli(capsys, *_gen(["--images", str(src)], tmp_path / "ds", "--workers", "1"))
    m = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert rc == 0 and m["counts"]["samples"] == 6
    assert [s["reason"] for s in m["skipped"]] == ["the same file as src/photo0.png (given twice); used once"]


def test_a_live_run_is_not_called_interrupted(photos, tmp_path, capsys):
    out = tmp_path / "ds"
    out.mkdir()
    lock = RunLock(out)  # a run that is writing OUT right now
    try:
        rc, _, err = cli(capsys, *_gen(["--images", str(photos)], out, "--workers", "1"))
    finally:
        lock.close(finished=False)
    line = one_error_line(err)
    assert rc == 2 and f"(pid {os.getpid()}, still running)" in line and "interrupted" not in line
    # the same folder once that run has gone: an interrupted run, named as such
    rc, _, err = cli(capsys, *_gen(["--images", str(photos)], out, "--workers", "1"))
    line = one_error_line(err)
    assert rc == 2 and f"holds an interrupted run (its process {os.getpid()} has ended); pass --resume" in line


def test_workers_are_capped_at_the_cpu_count_unless_forced(photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(generate_module, "cpu_count", lambda: 2)
    rc, _, err = cli(capsys, *_gen(["--images", str(photos)], tmp_path / "a", "--workers", "10000"))
    assert rc == 0 and "2 workers (--workers 10000 capped at the 2 CPU cores; --force-workers to use more)" in err
    rc, _, err = cli(capsys, *_gen(["--images", str(photos)], tmp_path / "b", "--workers", "10000", "--force-workers"))
    assert rc == 0 and "3 workers (--workers 10000 capped at the 3 shards to write)" in err


def test_sigterm_is_handled_as_ctrl_c(tmp_path):
    out = tmp_path / "ds"
    proc = subprocess.Popen(_slow_cli(out, 2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True)
    _wait_for("shard-000001.tar", out, proc)
    os.killpg(proc.pid, signal.SIGTERM)  # as a job scheduler's time limit or `kill -TERM -PGID` sends it
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "Traceback" not in err and "leaked" not in err, err
    last = err.strip().splitlines()[-1]
    assert last.startswith("terminated: ") and "rerun the same command with --resume to finish" in last
    assert temp_files(out) == [] and not (out / "dataset.json").exists()
    r = subprocess.run(_slow_cli(out, 2, "--resume"), capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr
    r = cli_subprocess("inspect", str(out), "--verify")
    assert r.returncode == 0 and "verify: ok" in r.stdout


def test_an_out_folder_whose_name_is_not_utf8_finishes_and_resumes(photos, tmp_path):
    out = os.fsdecode(os.fsencode(tmp_path) + b"/out-\xff")
    r = cli_subprocess(*_gen(["--images", str(photos)], out, "--workers", "1"), env={**os.environ, "LC_ALL": "C.UTF-8"})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "out-\\xff: 6 patches in 3 shards" in r.stdout
    r = cli_subprocess(*_gen(["--images", str(photos)], out, "--workers", "1", "--resume"))
    assert r.returncode == 0 and "already complete" in r.stderr
    r = cli_subprocess("inspect", out, "--verify")
    assert r.returncode == 0 and "verify: ok" in r.stdout, r.stdout + r.stderr


def test_an_animated_png_is_recorded_as_a_conversion(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    frames = [Image.fromarray(np.random.default_rng(i).integers(0, 255, (48, 40, 3), dtype=np.uint8))
              for i in range(3)]
    frames[0].save(src / "anim.png", save_all=True, append_images=frames[1:])
    rc, out, _ = cli(capsys, *_gen(["--images", str(src)], tmp_path / "ds", "--workers", "1"))
    m = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert rc == 0 and m["converted_images"] == {"src/anim.png": ["multipage"]}
    assert "converted inputs: multipage 1" in out


def test_a_failed_run_leaves_no_lock_of_a_live_run(photos, tmp_path, capsys):
    # an error after the lock was taken (here: every source fails to decode) releases it
    src = tmp_path / "src"
    make_photos(src)
    for p in src.rglob("*.png"):
        p.write_bytes(p.read_bytes()[:200])
    rc, _, _ = cli(capsys, *_gen(["--images", str(src)], tmp_path / "ds", "--workers", "1"))
    assert rc == 2 and not (tmp_path / "ds").exists() and not (tmp_path / "ds" / PARTIAL_DIR).exists()
    rc, _, err = cli(capsys, *_gen(["--images", str(photos)], tmp_path / "ds", "--workers", "1"))
    assert rc == 0, err


def test_python_m_noisegen_prints_paths_that_are_not_utf8(tmp_path):
    # the same through a pipe with a strict UTF-8 locale: printing never fails at the end of a job
    bad = os.fsdecode(os.fsencode(tmp_path) + b"/nope-\xfe")
    r = subprocess.run([sys.executable, "-m", "noisegen", "inspect", bad], capture_output=True, cwd=ROOT, timeout=120,
                       env={**os.environ, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"})
    err = r.stderr.decode("utf-8")
    assert r.returncode == 2 and "Traceback" not in err and "nope-\\xfe" in err
