"""`noisegen download` and safe extraction against bombs, clashing names, links and real RAR archives
(a local HTTP server on 127.0.0.1; no internet)."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest
from datagen import shared_data

from noisegen.dataset import archives
from noisegen.dataset.archives import ExtractLimits, UnsafeArchiveError, extract_safely

from .helpers import cli, one_error_line


def _zip(members: dict[str, bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o120777 << 16)
            z.writestr(info, target)
    return buf.getvalue()


def _tar(members: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


BOMB = {"exploration_database_and_code/pristine_images/00001.bmp": b"\0" * (40 * 2**20)}  # 40 MiB of zeros


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_decompression_bomb_is_refused_and_nothing_is_left(server, tmp_path, capsys, kind):
    data = _zip(BOMB) if kind == "zip" else _tar(BOMB)
    assert len(data) < 2**20  # about 1000× smaller than what it expands to
    server.files[f"/w.{kind}"] = data
    to = tmp_path / "to"
    rc, _, err = cli(capsys, "download", "waterloo", "--to", str(to), "--url", server.url(f"/w.{kind}"),
                     "--no-progress")
    line = one_error_line(err)
    assert rc == 1 and "over the limit of 100×" in line and "--max-ratio" in line
    assert _files(to) == [f"w.{kind}"]  # the verified archive is kept for a rerun; nothing extracted
    rc, out, err = cli(capsys, "download", "waterloo", "--to", str(to), "--url", server.url(f"/w.{kind}"),
                       "--no-progress", "--max-ratio", "100000")
    assert rc == 0 and (to / "exploration_database_and_code/pristine_images/00001.bmp").stat().st_size == 40 * 2**20


def test_size_limit_and_its_flag(server, tmp_path, capsys):
    server.files["/w.tar"] = _tar({"a/b.bin": os.urandom(300_000)}, mode="w")
    to = tmp_path / "to"
    rc, _, err = cli(capsys, "download", "waterloo", "--to", str(to), "--url", server.url("/w.tar"),
                     "--no-progress", "--max-extract-size", "100KB")
    assert rc == 1 and "over the limit of 0.0001 GB" in one_error_line(err) and _files(to) == ["w.tar"]


def test_a_member_growing_beyond_its_listed_size_is_stopped_and_undone(tmp_path, monkeypatch):
    arch = tmp_path / "a.zip"
    arch.write_bytes(_zip({"x/ok.txt": b"fine", "x/grows.bin": b"1" * 1000}))
    real = archives.list_members

    def lying(path):  # a header that under-states a member's size
        kind, members, handle = real(path)
        return kind, [archives.Member(m.name, m.kind, 10 if m.name.endswith("grows.bin") else m.size, m.opener)
                      for m in members], handle

    monkeypatch.setattr(archives, "list_members", lying)
    with pytest.raises(UnsafeArchiveError, match="expands beyond its listed size"):
        extract_safely(arch, tmp_path / "to", ExtractLimits(max_ratio=1e6))
    assert _files(tmp_path / "to") == []


UNSAFE = {
    "dot file": ({".": b"x"}, "target folder itself"),
    "file and folder": ({"a": b"1", "a/b": b"2"}, "a file and a folder of the same name"),
    "twice": ({"a/b": b"1", "a//b": b"2"}, "listed twice"),
    "traversal": ({"../evil": b"x"}, "path traversal"),
    "absolute": ({"/etc/evil": b"x"}, "absolute path"),
    "drive": ({"C:/evil": b"x"}, "absolute path"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_member_names_refuse_the_whole_archive(tmp_path, case):
    members, expected = UNSAFE[case]
    arch = tmp_path / "a.tar"
    arch.write_bytes(_tar({"ok/fine.txt": b"fine", **members}, mode="w"))
    to = tmp_path / "to"
    with pytest.raises(UnsafeArchiveError, match=expected):
        extract_safely(arch, to)
    assert not to.exists() or _files(to) == []


def test_zip_symlink_member_is_refused(tmp_path):
    arch = tmp_path / "a.zip"
    arch.write_bytes(_zip({"ok.txt": b"x"}, symlinks={"link": "/etc/passwd"}))
    with pytest.raises(UnsafeArchiveError, match="'link' \\(link\\)"):
        extract_safely(arch, tmp_path / "to")


def test_an_existing_symlink_in_the_target_is_never_written_through(tmp_path):
    to = tmp_path / "to"
    to.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    (to / "a.txt").symlink_to(outside)
    arch = tmp_path / "a.tar"
    arch.write_bytes(_tar({"a.txt": b"overwrite"}, mode="w"))
    with pytest.raises(UnsafeArchiveError, match="resolves outside|not a regular file"):
        extract_safely(arch, to)
    assert outside.read_text() == "keep"
    (to / "a.txt").unlink()
    (to / "a.txt").symlink_to(to / "b.txt")  # a link that stays inside: still never written through
    with pytest.raises(UnsafeArchiveError, match="not a regular file"):
        extract_safely(arch, to)


RAR_OK = {
    "rar3-solid.rar": {"stest1.txt", "stest2.txt"},
    "rar5-subdirs.rar": {"sub/dir1/file1.txt", "sub/dir2/file2.txt", "sub/with space/long fn.txt",
                         "sub/üȵĩöḋè/file.txt"},
    "rar5-versions.rar": {"versioned.txt", "versioned.txt;1", "versioned.txt;2"},
}


@pytest.mark.parametrize("name", sorted(RAR_OK))
def test_real_rar_archives_extract(tmp_path, name):
    pytest.importorskip("unrar.cffi", reason="RAR support is not installed (pip install 'noisegen[rar]')")
    arch = shared_data("rar_samples") / name
    files = extract_safely(arch, tmp_path / "to")
    assert {p.relative_to((tmp_path / "to").resolve()).as_posix() for p in files} == RAR_OK[name]
    if name == "rar3-solid.rar":
        assert all(p.stat().st_size == 2048 for p in files)


@pytest.mark.parametrize("name", ["rar3-symlink-unix.rar", "rar5-evil-symlink-traversal.rar"])
def test_rar_links_refuse_the_archive(tmp_path, name):
    pytest.importorskip("unrar.cffi", reason="RAR support is not installed (pip install 'noisegen[rar]')")
    arch = shared_data("rar_samples") / name
    with pytest.raises(UnsafeArchiveError, match="link"):
        extract_safely(arch, tmp_path / "to")
    assert _files(tmp_path / "to") == [] and not (tmp_path / "pwned.txt").exists()


def test_rar_download_end_to_end(server, tmp_path, capsys):
    pytest.importorskip("unrar.cffi", reason="RAR support is not installed (pip install 'noisegen[rar]')")
    server.files["/x.rar"] = (shared_data("rar_samples") / "rar5-subdirs.rar").read_bytes()
    rc, out, err = cli(capsys, "download", "waterloo", "--to", str(tmp_path / "to"), "--url", server.url("/x.rar"),
                       "--no-progress")
    assert rc == 0 and "extracted 4 files" in out and "Traceback" not in err


def test_rar_support_is_checked_before_the_download(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(archives, "rar_support", lambda: False)
    server.files["/big.rar"] = b"Rar!\x1a\x07\x01\x00" + b"\0" * 1000
    rc, _, err = cli(capsys, "download", "waterloo", "--to", str(tmp_path / "to"), "--url", server.url("/big.rar"),
                     "--no-progress")
    line = one_error_line(err)
    assert rc == 2 and "pip install 'noisegen[rar]'" in line and server.requests == []
