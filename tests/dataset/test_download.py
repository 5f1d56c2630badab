"""`noisegen download`: resumable HTTP download, sha256 check, safe extraction (local server on 127.0.0.1)."""

import hashlib
import io
import tarfile
import zipfile

import numpy as np
import pytest
from PIL import Image

from noisegen.cli.main import main
from noisegen.dataset.download import DownloadError, UnsafeArchiveError, extract_safely, fetch


def _bmp_bytes(seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="BMP")
    return buf.getvalue()


def _targz(members: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buf.getvalue()


WATERLOO = {
    "exploration_database_and_code/pristine_images/00001.bmp": _bmp_bytes(1),
    "exploration_database_and_code/pristine_images/00002.bmp": _bmp_bytes(2),
    "exploration_database_and_code/code/readme.m": b"% matlab code\n",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_download_verifies_extracts_and_feeds_generate(server, tmp_path, capsys):
    archive = _targz(WATERLOO)
    server.files["/w.tar.gz"] = archive
    to = tmp_path / "waterloo"
    args = ["download", "waterloo", "--to", str(to), "--url", server.url("/w.tar.gz"), "--sha256", _sha(archive),
            "--no-progress"]
    assert main(args) == 0
    images = to / "exploration_database_and_code" / "pristine_images"
    assert (images / "00001.bmp").read_bytes() == WATERLOO["exploration_database_and_code/pristine_images/00001.bmp"]
    assert not (to / "w.tar.gz").exists() and not (to / "w.tar.gz.part").exists()
    out = capsys.readouterr().out
    assert "sha256 verified" in out and "2 images in" in out
    assert main(args) == 0 and len(server.requests) == 1  # already there: no second transfer
    assert "already" in capsys.readouterr().out
    # the Waterloo layout works as is: generate finds pristine_images/ and ignores the code
    ds = tmp_path / "ds"
    assert main(["generate", "--images", str(to), "--out", str(ds), "--patch", "32", "--patches-per-image", "1",
                 "--workers", "1", "--no-progress"]) == 0
    assert "2 patches" in capsys.readouterr().out


def test_partial_download_resumes_with_a_range_request(server, tmp_path):
    data = bytes(range(256)) * 4000
    server.files["/a.bin"] = data
    (tmp_path / "a.bin.part").write_bytes(data[:300_000])
    digest = fetch(server.url("/a.bin"), tmp_path / "a.bin", sha256=_sha(data), progress=False)
    assert digest == _sha(data) and (tmp_path / "a.bin").read_bytes() == data
    assert server.requests[-1]["range"] == "bytes=300000-"


def test_interrupted_transfer_keeps_the_part_and_a_rerun_finishes(server, tmp_path):
    data = bytes(range(256)) * 4000
    server.files["/a.bin"] = data
    server.cut_after = 250_000
    with pytest.raises(DownloadError, match="rerun"):
        fetch(server.url("/a.bin"), tmp_path / "a.bin", progress=False)
    assert 0 < (tmp_path / "a.bin.part").stat().st_size < len(data)
    server.cut_after = None
    fetch(server.url("/a.bin"), tmp_path / "a.bin", sha256=_sha(data), progress=False)
    assert (tmp_path / "a.bin").read_bytes() == data and server.requests[-1]["range"] is not None


def test_server_ignoring_ranges_restarts_cleanly(server, tmp_path):
    data = b"x" * 1000 + b"y" * 1000
    server.files["/a.bin"] = data
    server.ignore_range = True
    (tmp_path / "a.bin.part").write_bytes(b"x" * 700)
    fetch(server.url("/a.bin"), tmp_path / "a.bin", sha256=_sha(data), progress=False)
    assert (tmp_path / "a.bin").read_bytes() == data


def test_complete_part_file_is_accepted_after_416(server, tmp_path):
    data = b"z" * 5000
    server.files["/a.bin"] = data
    (tmp_path / "a.bin.part").write_bytes(data)
    assert fetch(server.url("/a.bin"), tmp_path / "a.bin", sha256=_sha(data), progress=False) == _sha(data)


def test_checksum_mismatch_deletes_and_extracts_nothing(server, tmp_path, capsys):
    server.files["/w.tar.gz"] = _targz(WATERLOO)
    to = tmp_path / "w"
    assert main(["download", "waterloo", "--to", str(to), "--url", server.url("/w.tar.gz"), "--sha256", "0" * 64,
                 "--no-progress"]) == 1
    assert "does not match" in capsys.readouterr().err
    assert sorted(p.name for p in to.iterdir()) == []


def test_http_error_is_reported(server, tmp_path, capsys):
    assert main(["download", "waterloo", "--to", str(tmp_path), "--url", server.url("/missing.rar"),
                 "--no-progress"]) == 1
    assert "HTTP 404" in capsys.readouterr().err


def test_path_traversal_member_rejects_the_archive(server, tmp_path, capsys):
    evil = _targz({"pristine_images/ok.bmp": _bmp_bytes(3), "../evil.txt": b"gotcha"})
    server.files["/evil.tar.gz"] = evil
    to = tmp_path / "inside" / "to"
    assert main(["download", "waterloo", "--to", str(to), "--url", server.url("/evil.tar.gz"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "unsafe" in err and "../evil.txt" in err and "path traversal" in err
    assert not (tmp_path / "inside" / "evil.txt").exists() and not (to / "pristine_images").exists()


@pytest.mark.parametrize("kind", ["absolute", "symlink", "dotdot-deep", "zip-traversal"])
def test_extract_safely_rejects_unsafe_members(tmp_path, kind):
    path = tmp_path / "a.archive"
    if kind == "absolute":
        path.write_bytes(_targz({"/tmp/abs.txt": b"x"}))
    elif kind == "symlink":
        path.write_bytes(_targz({"a.txt": b"x"}, links={"link": "/etc/passwd"}))
    elif kind == "dotdot-deep":
        path.write_bytes(_targz({"a/b/../../../c.txt": b"x"}))
    else:
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("ok.txt", b"x")
            z.writestr("../../zip-evil.txt", b"x")
    with pytest.raises(UnsafeArchiveError):
        extract_safely(path, tmp_path / "to")
    assert not (tmp_path / "to").exists() or not any((tmp_path / "to").iterdir())


def test_extract_safely_writes_zip_members(tmp_path):
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("d/", b"")
        z.writestr("d/x.txt", b"hello")
    files = extract_safely(path, tmp_path / "to")
    assert [f.relative_to(tmp_path / "to").as_posix() for f in files] == ["d/x.txt"]


def test_not_an_archive(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"plain bytes")
    with pytest.raises(ValueError, match="not a tar, zip or RAR"):
        extract_safely(tmp_path / "a.bin", tmp_path / "to")
