"""Issue 21, resource limits and one-line messages of `download`, archives, shards and profiles: a server
without Content-Length, archives of too many members or with lying headers, one rule for compressed
shard members everywhere, deeply nested or overflowing profiles."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile

import pytest

from noisegen.dataset.archives import ExtractLimits, UnsafeArchiveError, extract_safely
from noisegen.dataset.reader import QuietDamageCounter, read_shard

from .helpers import cli, copy_dataset, one_error_line, read_members, rerecord_shards, tiny_dataset


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


# ------------------------------------------------------------------------------------------------
# Downloads


@pytest.mark.parametrize("endless", [True, False])
def test_a_download_without_content_length_is_limited_while_streaming(server, tmp_path, capsys, endless):
    server.files["/w.tar"] = b"\0" * 300_000
    server.no_length, server.endless = True, endless
    to = tmp_path / "to"
    rc, _, err = cli(capsys, "download", "waterloo", "--to", str(to), "--url", server.url("/w.tar"), "--no-progress",
                     "--max-download-size", "100KB")
    line = one_error_line(err)
    assert rc == 1 and "over the limit of 0.0001 GB" in line and "--max-download-size" in line
    assert "stopped after 100000 bytes" in line and _files(to) == []  # nothing kept of it


def test_an_announced_size_over_the_limit_is_refused_before_writing(server, tmp_path, capsys):
    server.files["/w.tar"] = b"\0" * 300_000
    rc, _, err = cli(capsys, "download", "waterloo", "--to", str(tmp_path / "to"), "--url", server.url("/w.tar"),
                     "--no-progress", "--max-download-size", "100KB")
    line = one_error_line(err)
    assert rc == 1 and "it announces 300000 bytes; nothing was written" in line


def test_a_download_within_the_limit_without_content_length_works(server, tmp_path, capsys):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("a/b.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    server.files["/w.tar"] = buf.getvalue()
    server.no_length = True
    rc, out, err = cli(capsys, "download", "waterloo", "--to", str(tmp_path / "to"), "--url", server.url("/w.tar"),
                       "--no-progress")
    assert rc == 0 and (tmp_path / "to" / "a" / "b.txt").read_bytes() == b"hello", err


# ------------------------------------------------------------------------------------------------
# Archives


def test_an_archive_of_too_many_members_is_refused_before_extracting(tmp_path):
    arch = tmp_path / "many.zip"
    with zipfile.ZipFile(arch, "w") as z:
        for i in range(1001):
            z.writestr(f"d/{i:05d}.txt", b"")
    with pytest.raises(UnsafeArchiveError, match="holds 1001 members, over the limit of 1000.*--max-members"):
        extract_safely(arch, tmp_path / "to", ExtractLimits(max_members=1000))
    assert not (tmp_path / "to").exists() or _files(tmp_path / "to") == []
    assert ExtractLimits().max_members < 100_000  # the 100,000-file zip is refused by default


def test_max_members_is_a_download_option(server, tmp_path, capsys):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i in range(20):
            z.writestr(f"d/{i}.txt", b"x")
    server.files["/m.zip"] = buf.getvalue()
    rc, _, err = cli(capsys, "download", "waterloo", "--to", str(tmp_path / "to"), "--url", server.url("/m.zip"),
                     "--no-progress", "--max-members", "10")
    assert rc == 1 and "holds 20 members, over the limit of 10" in one_error_line(err)


def _lying_zip() -> bytes:
    """A zip whose central directory says a member is 5 bytes that is really 5000 (compressed size too)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x/a.bin", b"A" * 5000)
    data = bytearray(buf.getvalue())
    cd = data.rfind(b"PK\x01\x02")  # central directory header: compressed size at +20, size at +24
    data[cd + 20:cd + 24] = (5).to_bytes(4, "little")
    data[cd + 24:cd + 28] = (5).to_bytes(4, "little")
    return bytes(data)


def _huge_tar_gz() -> bytes:
    """A tar.gz whose only header declares a 1 TiB member, followed by a few bytes."""
    info = tarfile.TarInfo("x/huge.bin")
    info.size = 2**40
    raw = info.tobuf(format=tarfile.GNU_FORMAT) + b"\0" * 4096
    return gzip.compress(raw)


@pytest.mark.parametrize("name,data", [("lying.zip", _lying_zip()), ("huge.tar.gz", _huge_tar_gz()),
                                       ("cut.tar.gz", gzip.compress(b"\0" * 100)[:-9] + b"garbage")],
                         ids=["lying-zip", "tar-gz-declaring-1TiB", "cut-tar-gz"])
def test_damaged_archives_give_one_line_and_leave_nothing(server, tmp_path, capsys, name, data):
    server.files[f"/{name}"] = data
    to = tmp_path / "to"
    rc, _, err = cli(capsys, "download", "waterloo", "--to", str(to), "--url", server.url(f"/{name}"), "--no-progress",
                     "--max-ratio", "1e9", "--max-extract-size", "2000GB" if "huge" in name else "1GB")
    line = one_error_line(err)
    assert rc in (1, 2) and "Traceback" not in err
    assert "download it again" in line or "over the limit" in line, line
    assert [f for f in _files(to) if not f.startswith(name)] == []


# ------------------------------------------------------------------------------------------------
# Compressed shards: one rule for every reader


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("limits"))


def _gzip_shard_with_a_big_member(path, members, big: int):
    """A gzip-compressed shard: its first sample, then an entry declaring ``big`` bytes (its data: zeros, a few
    MB of them, so that the file stays small), then the other samples."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members[:4]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("s000000000.extra.bin")
        info.size = big
        tar.addfile(info, io.BytesIO(b"\0" * big)) if big <= 2**22 else buf.write(info.tobuf() + b"\0" * 2**22)
    path.write_bytes(gzip.compress(buf.getvalue(), compresslevel=1))


class _Counting:
    """A binary file that counts the bytes read through it."""

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


def test_a_compressed_shard_with_a_huge_member_is_refused_alike_everywhere(reference, tmp_path, capsys, monkeypatch):
    from noisegen.dataset.reader import samples as reader_samples

    ds = copy_dataset(reference, tmp_path / "ds")
    shard = ds / "shard-000000.tar"
    members = read_members(shard)
    _gzip_shard_with_a_big_member(shard, members, 3 * 2**30)  # 3 GiB declared
    rerecord_shards(ds)
    said = "over the limit of 268435456 for a compressed or streamed shard"
    # the reader (training, open_dataset, stats) never decompresses past the header...
    opened = []
    real_open = reader_samples._open_url
    monkeypatch.setattr(reader_samples, "_open_url", lambda url: opened.append(_Counting(real_open(url))) or opened[-1])
    errors = QuietDamageCounter()
    raws = list(read_shard(str(shard), handler=errors, expected=2))
    assert [r["__key__"] for r in raws] == [] and said in errors.messages[0]
    assert opened[0].read_bytes < shard.stat().st_size // 2  # stopped at the header: the rest never read
    monkeypatch.undo()
    # ...and verify and stats say the same
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 1 and said in out
    rc, out, _ = cli(capsys, "stats", str(ds), "--workers", "1", "--no-progress", "--min-count", "10")
    assert rc == 0 and said in out


def test_a_compressed_shard_within_the_limits_reads_everywhere(reference, tmp_path, capsys):
    ds = copy_dataset(reference, tmp_path / "ds")
    for shard in sorted(ds.glob("shard-*.tar")):
        shard.write_bytes(gzip.compress(shard.read_bytes()))
    rerecord_shards(ds)
    errors = QuietDamageCounter()
    assert len(list(read_shard(str(ds / "shard-000001.tar"), handler=errors, expected=2))) == 2
    assert errors.count == 0
    rc, out, _ = cli(capsys, "inspect", str(ds), "--verify")
    assert rc == 0 and "verify: ok" in out


# ------------------------------------------------------------------------------------------------
# Profiles


@pytest.mark.parametrize("content,said", [
    ('{"name": "x", "sigma_s": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    (json.dumps({"name": "u", "sigma_law": "log_linear", "log_shot": [-9, 1e308], "log_read": [2.18, 1.2, 0.26]}),
     "log_shot high gives σ up to inf"),
    (json.dumps({"name": "u", "sigma_law": "log_linear", "log_shot": [-9, -4], "log_read": [2.18, 1e308, 0.26]}),
     "log_read (8 std) gives σ up to inf"),
    ("\xff\xfe{", "not valid JSON"),
])
def test_hostile_profiles_give_one_line(tmp_path, capsys, content, said):
    prof = tmp_path / "p.json"
    prof.write_text(content, encoding="latin-1")
    for argv in (["profile", "show", str(prof)],
                 ["generate", "--out", str(tmp_path / "ds"), "--profile", str(prof), "--no-progress"]):
        rc, _, err = cli(capsys, *argv)
        line = one_error_line(err)
        assert rc == 2 and said in line and str(prof) in line or "'u'" in line, line
    assert not (tmp_path / "ds").exists()
