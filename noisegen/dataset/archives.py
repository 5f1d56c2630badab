"""Safe extraction of downloaded archives: tar (any compression), zip and RAR.

Every member is listed and checked before anything is written; any of these refuses the whole
archive (UnsafeArchiveError, nothing written):
- a name that is absolute, has a drive letter, climbs out with ``..``, is empty or holds NUL, or
  names the target folder itself (``.``) as a file;
- a link (symbolic or hard; RAR and zip links included) or a device;
- a file and a folder with the same name, or a file listed twice;
- more than ``max_bytes`` in all once extracted, or more than ``max_ratio`` times the archive's
  size (a decompression bomb), or more than the free space of the target's disk;
- more than ``max_members`` members.
A damaged archive (headers that lie about sizes, a CRC that fails, a cut stream) is a ValueError that
says so, and what was extracted of it is removed again.
Each file is then written by us (never ``extractall``) to a path checked to lie inside the target,
counting the bytes actually written: a member that grows beyond its listed size stops the
extraction. On any failure every file and folder this extraction created is removed again.

RAR is read with ``unrar2-cffi`` (``pip install 'noisegen[rar]'``: a wheel that bundles the UnRAR
library, no system tool needed), RAR3 and RAR5, in one pass over the archive (solid archives are
decompressed once).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["UnsafeArchiveError", "ExtractLimits", "Member", "rar_support", "require_rar", "list_members",
           "check_members", "extract_safely"]

_CHUNK = 1 << 20


class UnsafeArchiveError(ValueError):
    """The archive has members that would escape the target folder, links or devices, clashing names,
    or would expand beyond the limits; nothing of it is left extracted."""


@dataclass(frozen=True)
class ExtractLimits:
    """max_bytes: most bytes extracted in all (default 64 GB; the Waterloo archive expands to about
    2.7 GB); max_ratio: most extracted bytes per archive byte (default 100: photos compress about
    2-3×, decompression bombs 1000× and more); max_members: most files and folders (default 50,000:
    the Waterloo archive holds about 4,800; an archive of 100,000 empty files is a bomb of inodes)."""

    max_bytes: int = 64 * 10**9
    max_ratio: float = 100.0
    max_members: int = 50_000


@dataclass(frozen=True)
class Member:
    """An archive member: name as stored, kind ("file", "dir", "link", "other"), size in bytes once
    extracted, and an opener (tar, zip) returning a readable binary file."""

    name: str
    kind: str
    size: int
    opener: Callable | None = None


def rar_support() -> bool:
    """Whether RAR archives can be extracted (unrar2-cffi installed)."""
    try:
        import unrar.cffi.unrarlib  # noqa: F401
    except ImportError:
        return False
    return True


def require_rar(what: str) -> None:
    """Raise ValueError (with the install command) unless RAR support is installed."""
    if not rar_support():
        raise ValueError(f"{what} is a RAR archive and RAR support is not installed: pip install 'noisegen[rar]' "
                         "(or pip install unrar2-cffi, a wheel with the UnRAR library), then rerun")


def _is_rar(archive: Path) -> bool:
    with open(archive, "rb") as f:
        return f.read(7).startswith(b"Rar!\x1a\x07")


def _rar_kind(h) -> str:
    d = h.headerDataEx
    if d.RedirType or (d.HostOS == 3 and stat.S_ISLNK(d.FileAttr)) or (d.HostOS == 2 and d.FileAttr & 0x400):
        return "link"  # RAR5 redirection records, Unix symlinks of RAR3, Windows reparse points
    return "dir" if h.Flags & 0x20 else "file"  # RHDF_DIRECTORY


def list_members(archive: str | os.PathLike[str]) -> tuple[str, list[Member], object | None]:
    """(format, members, open handle to close or None) of a tar, zip or RAR archive.

    Raises:
        ValueError: not an archive of a known format (or RAR without RAR support), or a damaged one (headers
            that lie about sizes, a truncated stream).
    """
    try:
        return _list_members(Path(archive))
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise ValueError(_damaged(archive, exc)) from None


def _damaged(archive: str | os.PathLike[str], exc: BaseException) -> str:
    return (f"{archive}: damaged archive ({type(exc).__name__}: {str(exc)[:160]}); delete it and download it again, "
            "or check the --url")


def _list_members(archive: Path) -> tuple[str, list[Member], object | None]:
    if tarfile.is_tarfile(archive):
        tar = tarfile.open(archive, "r:*")
        kinds = [("dir" if m.isdir() else "file" if m.isreg() else "link" if m.issym() or m.islnk() else "other")
                 for m in tar.getmembers()]
        return "tar", [Member(m.name, k, m.size, lambda m=m: tar.extractfile(m))
                       for m, k in zip(tar.getmembers(), kinds)], tar
    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        out = []
        for i in zf.infolist():
            kind = "dir" if i.is_dir() else "link" if stat.S_ISLNK(i.external_attr >> 16) else "file"
            out.append(Member(i.filename, kind, i.file_size, lambda i=i: zf.open(i)))
        return "zip", out, zf
    if _is_rar(archive):
        require_rar(str(archive))
        from unrar.cffi.unrarlib import BadRarFile, RarArchive

        try:
            with RarArchive.open_for_metadata(str(archive)) as rar:
                out = []
                for h in rar.iterate_headers():
                    out.append(Member(h.FileNameW, _rar_kind(h), h.UnpSize + (h.UnpSizeHigh << 32)))
                    h.skip()
        except BadRarFile as exc:
            raise ValueError(f"{archive}: unreadable RAR archive ({exc})") from None
        return "rar", out, None
    raise ValueError(f"{archive}: not a tar, zip or RAR archive, or a damaged one; delete it and download it again, "
                     "or check the --url")


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in (".", ""))


def _member_problem(m: Member) -> str | None:
    n = m.name.replace("\\", "/")
    if not n or "\0" in n:
        return "empty or NUL in the name"
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        return "absolute path"
    if ".." in PurePosixPath(n).parts:
        return "path traversal ('..')"
    if m.kind == "link":
        return "link"
    if m.kind not in ("file", "dir"):
        return "device or special file"
    if m.kind == "file" and not _parts(n):
        return "a file named like the target folder itself ('.')"
    return None


def check_members(archive: Path, members: list[Member], to: Path, limits: ExtractLimits) -> int:
    """Refuse the archive (UnsafeArchiveError) for any reason in the module docstring; returns the bytes
    it will extract."""
    if len(members) > limits.max_members:
        raise UnsafeArchiveError(f"{archive}: holds {len(members)} members, over the limit of {limits.max_members} "
                                 "(an archive of many tiny files exhausts the disk's inodes); raise it with "
                                 "--max-members if you trust it")
    bad = [f"{m.name!r} ({p})" for m in members if (p := _member_problem(m))]
    files: dict[tuple[str, ...], str] = {}
    dirs: set[tuple[str, ...]] = set()
    for m in members:
        parts = _parts(m.name)
        if m.kind == "dir":
            dirs.add(parts)
        elif m.kind == "file" and parts:
            if parts in files:
                bad.append(f"{m.name!r} (listed twice)")
            files[parts] = m.name
            dirs.update(parts[:i] for i in range(1, len(parts)))
    bad += [f"{name!r} (a file and a folder of the same name)" for parts, name in files.items() if parts in dirs]
    if bad:
        raise UnsafeArchiveError(f"{archive}: refusing to extract, {len(bad)} unsafe members: "
                                 + ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
    total = sum(m.size for m in members if m.kind == "file")
    size = max(archive.stat().st_size, 1)
    if total > limits.max_bytes:
        raise UnsafeArchiveError(f"{archive}: would extract {total / 1e9:.2f} GB, over the limit of "
                                 f"{limits.max_bytes / 1e9:g} GB; raise it with --max-extract-size if you trust it")
    if total / size > limits.max_ratio:
        raise UnsafeArchiveError(f"{archive}: would expand {total / size:.0f}× ({size} bytes → {total} bytes), "
                                 f"over the limit of {limits.max_ratio:g}× (a decompression bomb?); raise it with "
                                 "--max-ratio if you trust it")
    to.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(to).free
    if total > free:
        raise UnsafeArchiveError(f"{archive}: needs {total / 1e9:.2f} GB to extract, {to} has {free / 1e9:.2f} GB "
                                 "free; free space or choose another --to")
    return total


class _Writer:
    """Writes members under ``root``, within their listed sizes and the total budget; remembers what it
    created so that a failed extraction can be undone."""

    def __init__(self, archive: Path, root: Path, budget: int) -> None:
        self.archive, self.root, self.budget = archive, root, budget
        self.files: list[Path] = []
        self.dirs: list[Path] = []

    def target(self, name: str) -> Path:
        parts = _parts(name)
        if not parts:
            return self.root
        parent = self.root.joinpath(*parts[:-1]).resolve()  # folders on disk may be links: follow, then check
        if parent != self.root and self.root not in parent.parents:
            raise UnsafeArchiveError(f"{self.archive}: member {name!r} resolves outside {self.root}")
        return parent / parts[-1]  # the leaf itself is never followed (open refuses a link there)

    def mkdir(self, path: Path) -> None:
        missing = [p for p in [path, *path.parents] if p != self.root and self.root in p.parents and not p.exists()]
        path.mkdir(parents=True, exist_ok=True)
        self.dirs += reversed(missing)

    def open(self, m: Member):
        t = self.target(m.name)
        self.mkdir(t.parent)
        if t.is_symlink() or (t.exists() and not t.is_file()):
            raise UnsafeArchiveError(f"{self.archive}: member {m.name!r} would replace {t}, which is not a regular "
                                     "file; extract into an empty folder")
        f = open(t, "wb")
        self.files.append(t)
        return f

    def count(self, m: Member, written: int, more: int) -> None:
        self.budget -= more
        if written + more > m.size or self.budget < 0:
            raise UnsafeArchiveError(f"{self.archive}: member {m.name!r} expands beyond its listed size of "
                                     f"{m.size} bytes; refusing the archive")

    def undo(self) -> None:
        for f in self.files:
            f.unlink(missing_ok=True)
        for d in reversed(self.dirs):
            try:
                d.rmdir()
            except OSError:
                pass


def _copy(w: _Writer, m: Member) -> None:
    with m.opener() as src, w.open(m) as dst:
        written = 0
        while chunk := src.read(_CHUNK):
            w.count(m, written, len(chunk))
            dst.write(chunk)
            written += len(chunk)


def _extract_rar(w: _Writer, archive: Path, members: list[Member]) -> None:
    from unrar.cffi.unrarlib import BadRarFile, RarArchive

    try:
        _extract_rar_members(w, RarArchive.open_for_processing(str(archive)), members)
    except BadRarFile as exc:
        raise ValueError(f"{archive}: damaged RAR archive ({exc}); delete it and download it again") from None


def _extract_rar_members(w: _Writer, opened, members: list[Member]) -> None:
    with opened as rar:
        for h, m in zip(rar.iterate_headers(), members):
            if m.kind == "dir":
                w.mkdir(w.target(m.name))
                h.skip()
                continue
            with w.open(m) as dst:
                state = {"written": 0, "error": None}

                def chunk(data: bytes, dst=dst, m=m, state=state) -> None:
                    if state["error"] is None:  # the library's callback cannot stop it: drop the rest
                        try:
                            w.count(m, state["written"], len(data))
                            dst.write(data)
                            state["written"] += len(data)
                        except (UnsafeArchiveError, OSError) as exc:
                            state["error"] = exc

                h.test(chunk)
            if state["error"] is not None:
                raise state["error"]


def extract_safely(archive: str | os.PathLike[str], to: str | os.PathLike[str],
                   limits: ExtractLimits = ExtractLimits()) -> list[Path]:
    """Extract the regular files and folders of ``archive`` into ``to``; returns the files written.

    Raises:
        UnsafeArchiveError: see the module docstring; nothing is left extracted.
        ValueError: not an archive of a known format, or RAR without RAR support.
        OSError: writing failed (disk full, permissions); what was extracted is removed again.
    """
    archive, to = Path(archive), Path(to)
    kind, members, handle = list_members(archive)
    try:
        budget = check_members(archive, members, to, limits)
        w = _Writer(archive, to.resolve(), budget)
        try:
            if kind == "rar":
                _extract_rar(w, archive, members)
            else:
                for m in members:
                    if m.kind == "dir":
                        w.mkdir(w.target(m.name))
                    else:
                        _copy(w, m)
        except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            w.undo()  # a member whose data does not match its header (sizes, CRC, a cut stream)
            raise ValueError(_damaged(archive, exc)) from None
        except BaseException:
            w.undo()
            raise
    finally:
        if handle is not None:
            handle.close()
    return w.files
