"""Shared helpers of the hostile-input suite: a tiny dataset, shard surgery, and running the CLI."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

from datagen import make_photos

from noisegen.cli.main import main
from noisegen.dataset.format import JSON, SIGMA, from_disk
from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.writer import write_tar

QUIET = dict(progress=False, echo=lambda s: None)
ROOT = Path(__file__).resolve().parents[2]


def tiny_config(photos: Path, out: Path, **kw) -> GenerateConfig:
    """3 photos × 2 patches of 32×32 in shards of 2: 6 samples in 3 shards, one worker."""
    base = dict(out=str(out), images=(str(photos),), patch=32, patches_per_image=2, samples_per_shard=2, seed=5,
                workers=1)
    base.update(kw)
    return GenerateConfig(**base)


def tiny_dataset(root: Path) -> Path:
    """photos/ and the dataset ds/ of tiny_config under root; returns ds."""
    make_photos(root / "photos")
    generate(tiny_config(root / "photos", root / "ds"), **QUIET)
    return root / "ds"


def copy_dataset(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def read_members(tar_path: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(tar_path) as tar:
        return [(m.name, tar.extractfile(m).read()) for m in tar.getmembers()]


def rewrite_shard(tar_path: Path, edit) -> None:
    """Rewrite a shard: ``edit(members)`` gets and returns the list of (name, bytes)."""
    write_tar(tar_path, edit(read_members(tar_path)))


def edit_json(members, key: str, change) -> list[tuple[str, bytes]]:
    """Members with the json of sample ``key`` replaced by change(meta as written on disk) (dict or bytes)."""
    out = []
    for name, data in members:
        if name == f"{key}.{JSON}":
            new = change(json.loads(data))
            data = new if isinstance(new, bytes) else json.dumps(new).encode()
        out.append((name, data))
    return out


def rerecord_shards(ds: Path) -> None:
    """Record every shard's current size and sha256 (and their total) in dataset.json, so that only the
    contents are wrong."""
    from noisegen.dataset.sources import file_sha256

    m = json.loads((ds / "dataset.json").read_text())
    for s in m["shards"]:
        s["bytes"], s["sha256"] = (ds / s["name"]).stat().st_size, file_sha256(ds / s["name"])
    m["counts"]["bytes"] = sum(s["bytes"] for s in m["shards"])
    (ds / "dataset.json").write_text(json.dumps(m))


def v1_members(members) -> list[tuple[str, bytes]]:
    """A format-2 shard's members as format 1 wrote them: sigma.png, json with nulls and lists."""
    out = []
    for name, data in members:
        key, _, member = name.partition(".")
        if member == SIGMA:
            name = f"{key}.sigma.png"
        elif member == JSON:
            meta = from_disk(json.loads(data))
            meta.pop("format_version")
            meta["sigma"]["member"] = "sigma.png"
            data = json.dumps(meta).encode()
        out.append((name, data))
    return out


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height RGB pixels and whose data is a few bytes: a decompression
    bomb's shape, cheap to build (no decoder gets past our pixel check to notice the short data)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    """Run `noisegen ARGV` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def cli_subprocess(*argv: str, **kw) -> subprocess.CompletedProcess:
    """Run `python -m noisegen ARGV` in a fresh interpreter (text output captured)."""
    return subprocess.run([sys.executable, "-m", "noisegen", *argv], capture_output=True, text=True, cwd=ROOT,
                          timeout=kw.pop("timeout", 300), **kw)


def one_error_line(err: str) -> str:
    """The single error line of a command's stderr (asserting there is no traceback)."""
    assert "Traceback" not in err, err
    lines = [ln for ln in err.strip().splitlines() if "error:" in ln or ln.startswith("interrupted")]
    assert len(lines) == 1, err
    return lines[0]


@contextlib.contextmanager
def hang_guard(seconds: int = 60):
    """A hang guard (never a timed assertion): a call that blocks longer than ``seconds`` (an ``open`` of a
    FIFO waiting for a writer, a read of /dev/zero) fails the test with TimeoutError instead of hanging it."""
    def alarm(signum, frame):
        raise TimeoutError(f"still blocked after {seconds} s: the command did not give up")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def special_file(path: Path, kind: str) -> Path:
    """Put a special file of ``kind`` at ``path``: "fifo", "chardev" (a link to /dev/zero), "folder" or
    "socket" (a bound Unix socket, kept open for the session). Returns path."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "chardev":
        path.symlink_to("/dev/zero")
    elif kind == "folder":
        path.mkdir()
        (path / "inner.txt").write_text("a folder named like a file")
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        cwd = os.getcwd()
        os.chdir(path.parent)  # bound by a relative name: socket paths are limited to about 107 bytes
        try:
            s.bind(path.name)
        finally:
            os.chdir(cwd)
        _SOCKETS.append(s)
    else:
        raise ValueError(kind)
    return path


SPECIAL_KINDS = ("fifo", "chardev", "folder", "socket")
_SOCKETS: list[socket.socket] = []


def temp_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.tmp"))


__all__ = ["QUIET", "tiny_config", "tiny_dataset", "copy_dataset", "read_members", "rewrite_shard", "edit_json",
           "rerecord_shards", "v1_members", "png_header_only", "cli", "cli_subprocess", "one_error_line", "temp_files",
           "hang_guard", "special_file", "SPECIAL_KINDS"]
