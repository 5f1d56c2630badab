"""Issue 21, hangs: a FIFO, a character device (/dev/zero), a folder named like a file or a socket where a
source image or a shard should be. Every command gives up on it within bounded time with a message (a
FIFO's open would otherwise wait forever for a writer, /dev/zero never end); the rest of the job is done.
Each call runs under a hang guard (SIGALRM), never a timed assertion."""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest
from datagen import make_photos
from PIL import Image

import noisegen as ng
from noisegen.dataset.reader import (
    DamagedDataWarning,
    ImageReadError,
    QuietDamageCounter,
    list_shards,
    read_rgb8,
    read_shard,
)

from .helpers import SPECIAL_KINDS, cli, copy_dataset, hang_guard, one_error_line, special_file, tiny_dataset

WHAT = {"fifo": "a FIFO (named pipe)", "chardev": "a character device", "folder": "a folder", "socket": "a socket"}


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("special"))


def _gen(src, out, *extra):
    return ["generate", "--images", str(src), "--out", str(out), "--patch", "32", "--patches-per-image", "2",
            "--samples-per-shard", "2", "--seed", "5", "--workers", "1", "--no-progress", *extra]


@pytest.mark.parametrize("kind", SPECIAL_KINDS)
def test_a_special_file_among_the_sources_is_skipped_and_listed(tmp_path, capsys, kind):
    src = tmp_path / "src"
    make_photos(src)
    special_file(src / "odd.png", kind)
    with hang_guard():
        rc, out, err = cli(capsys, *_gen(src, tmp_path / "ds"))
    assert rc == 0 and "Traceback" not in err
    m = json.loads((tmp_path / "ds" / "dataset.json").read_text())
    assert m["counts"]["samples"] == 6
    if kind == "folder":  # a folder is searched like any other: nothing in it is an image
        assert [s["source"] for s in m["skipped"]] == ["src/odd.png/inner.txt"]
    else:
        assert [(s["source"], s["reason"]) for s in m["skipped"]] == [
            ("src/odd.png", f"{WHAT[kind]}, not a regular file")]


@pytest.mark.parametrize("kind", ["fifo", "chardev", "socket"])
def test_a_special_file_given_as_the_source_is_refused(tmp_path, capsys, kind):
    odd = special_file(tmp_path / "odd.png", kind)
    with hang_guard():
        rc, _, err = cli(capsys, *_gen(odd, tmp_path / "ds"))
    line = one_error_line(err)
    assert rc == 2 and "no usable source image" in line and f"{WHAT[kind]}, not an image file or a folder" in line


@pytest.mark.parametrize("kind", SPECIAL_KINDS)
def test_read_rgb8_refuses_special_files_at_once(tmp_path, kind):
    odd = special_file(tmp_path / "odd.png", kind)
    with hang_guard(), pytest.raises(ImageReadError, match="not a regular image file"):
        read_rgb8(odd)


def _replace_shard(ds, kind):
    (ds / "shard-000001.tar").unlink()
    special_file(ds / "shard-000001.tar", kind)


@pytest.mark.parametrize("kind", SPECIAL_KINDS)
def test_a_special_file_as_a_shard_every_data_command_gives_up(reference, tmp_path, capsys, kind):
    ds = copy_dataset(reference, tmp_path / "ds")
    _replace_shard(ds, kind)
    with hang_guard():
        rc, out, err = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and f"shard-000001.tar: is {WHAT[kind]}, not a regular file" in out and "Traceback" not in err
    with hang_guard():
        rc, out, err = cli(capsys, "stats", str(ds), "--workers", "1", "--no-progress", "--min-count", "10")
    assert rc == 0 and f"{WHAT[kind]}, not a regular file" in out and "skipped inputs: 2" in out
    with hang_guard(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DamagedDataWarning)
        pipe = ng.open_dataset(ds, split_by_node=False, split_by_worker=False)
        assert len(list(pipe)) == 4 and any("not a regular file" in m for m in pipe.errors.messages)
    errors = QuietDamageCounter()
    with hang_guard():
        assert list(read_shard(str(ds / "shard-000001.tar"), handler=errors)) == []
    assert errors.count == 1 and WHAT[kind] in errors.messages[0]


@pytest.mark.parametrize("kind", ["fifo", "chardev", "socket"])
def test_resume_replaces_a_special_file_that_stands_for_a_shard(reference, tmp_path, capsys, kind):
    ds = copy_dataset(reference, tmp_path / "ds")
    _replace_shard(ds, kind)
    with hang_guard():
        rc, _, err = cli(capsys, *_gen(reference.parent / "photos", ds, "--resume"))
    assert rc == 0 and "1 damaged shard(s) (shard-000001.tar); rewriting them" in err
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 0 and "verify: ok" in out


def test_resume_names_a_folder_that_stands_for_a_shard(reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    _replace_shard(ds, "folder")
    rc, _, err = cli(capsys, *_gen(reference.parent / "photos", ds, "--resume"))
    line = one_error_line(err)
    assert rc == 2 and "shard-000001.tar is a folder where a shard belongs; remove it" in line
    assert (ds / "dataset.json").is_file() and not (ds / ".partial").exists()  # left as it was


@pytest.mark.parametrize("kind", ["fifo", "chardev", "socket"])
def test_a_special_file_given_as_a_shard_is_refused_by_name(tmp_path, kind):
    odd = special_file(tmp_path / "odd.tar", kind)
    with hang_guard(), pytest.raises(ValueError, match=re.escape(f"shard '{odd}' is {WHAT[kind]}, not a regular")):
        list_shards([str(odd)])


@pytest.mark.parametrize("kind", ["fifo", "chardev", "folder"])
def test_special_files_among_pairs_are_skipped(tmp_path, capsys, kind):
    root = tmp_path / "pairs"
    clean = np.random.default_rng(1).integers(20, 230, (40, 40, 3), dtype=np.uint8)
    for role, img in (("noisy", clean + 9), ("gt", clean)):
        (root / role).mkdir(parents=True)
        Image.fromarray(img).save(root / role / "a.png")
    special_file(root / "noisy" / "b.png", kind)
    special_file(root / "gt" / "b.png", kind if kind != "folder" else "fifo")
    # each special file is listed, never opened (a folder named b.png is searched like any folder)
    said, n = "not a regular file", 1 if kind == "folder" else 2
    with hang_guard():
        rc, out, err = cli(capsys, "stats", "--pairs", str(root), "--no-progress", "--min-count", "10")
    assert rc == 0 and "Traceback" not in err and said in out and f"skipped inputs: {n}" in out
    with hang_guard():
        rc, out, err = cli(capsys, "pack-pairs", str(root), "--out", str(tmp_path / "packed"), "--patch", "16",
                           "--no-progress")
    assert rc == 0 and "Traceback" not in err and said in out
