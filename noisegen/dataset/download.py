"""`noisegen download NAME --to DIR`: fetch a public photo collection, verify it, extract it safely.

- Resumable: bytes go to ``FILE.part``; a rerun asks the server for the rest with an HTTP Range
  request (``Range: bytes=N-``) and appends; a server that ignores ranges (200) restarts cleanly.
- Verified: the sha256 of the archive is compared with the pinned or given (``--sha256``) digest;
  on a mismatch the download is deleted and nothing is extracted. Where no digest is pinned the
  computed one is printed and recorded, so a later copy can be checked against it.
- Safe extraction: every member is checked before anything is written; absolute paths, drive
  letters, ``..`` components, links and device files reject the whole archive; each file is
  written by us (never ``extractall``) to a path checked to lie inside DIR.
- Formats: tar (any compression), zip, and RAR through the optional ``rarfile`` package (which
  needs an unrar, unar, 7z or bsdtar program).

The Waterloo Exploration Database (Ma et al., "Waterloo Exploration Database: New Challenges
for Image Quality Assessment Models", IEEE TIP 2017): 4,744 pristine natural photos as BMP, used
by CBDNet and AINDNet to synthesise training pairs. It is distributed as one RAR archive.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from noisegen.version import __version__

__all__ = ["RemoteArchive", "DATASETS", "DownloadError", "ChecksumError", "UnsafeArchiveError", "fetch",
           "extract_safely", "download_dataset"]


class DownloadError(RuntimeError):
    """The transfer failed; rerunning the same command resumes it."""


class ChecksumError(DownloadError):
    """The downloaded file's sha256 differs from the expected one."""


class UnsafeArchiveError(ValueError):
    """The archive has members that would escape the target folder (or links, devices)."""


@dataclass(frozen=True)
class RemoteArchive:
    """A downloadable collection: where it is, how to check it, where its images land."""

    name: str
    url: str
    sha256: str | None
    images_subdir: str
    n_images: int
    citation: str


DATASETS = {
    "waterloo": RemoteArchive(
        name="waterloo",
        url="https://ivc.uwaterloo.ca/database/WaterlooExploration/exploration_database_and_code.rar",
        sha256=None,  # the authors publish no digest; the computed one is printed and recorded
        images_subdir="exploration_database_and_code/pristine_images",
        n_images=4744,
        citation="K. Ma et al., Waterloo Exploration Database, IEEE Trans. Image Processing 26(2), 2017",
    ),
}

_CHUNK = 1 << 20


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fetch(url: str, dest: str | os.PathLike[str], *, sha256: str | None = None, progress: bool = True,
          timeout: float = 60.0) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); returns the file's sha256.

    Raises:
        DownloadError: HTTP or network failure (the partial file is kept: rerun to resume).
        ChecksumError: ``sha256`` given and different (the partial file is deleted).
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.is_file():
        digest = _sha256_file(dest)
        if sha256 is None or digest == sha256.lower():
            return digest
        raise ChecksumError(f"{dest} exists but its sha256 is {digest}, expected {sha256}; delete it and rerun")
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": f"noisegen/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    complete = False
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the partial file is already whole
            complete, resp = True, None
        else:
            raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(
            f"{url}: {getattr(exc, 'reason', exc)}; check the address or rerun later to resume"
        ) from None
    if not complete:
        with resp:
            mode = "ab"
            if offset and resp.status == 206:
                got = resp.headers.get("Content-Range", "")
                if not got.startswith(f"bytes {offset}-"):
                    raise DownloadError(f"{url}: asked for bytes {offset}- but the server sent {got!r}; "
                                        f"delete {part} and rerun")
            else:
                offset, mode = 0, "wb"  # the server ignored the range: start again
            length = resp.headers.get("Content-Length")
            total = offset + int(length) if length is not None else None
            from tqdm import tqdm

            with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                             desc=dest.name, disable=not progress) as bar:
                try:
                    while chunk := resp.read(_CHUNK):
                        f.write(chunk)
                        bar.update(len(chunk))
                except (OSError, http.client.HTTPException) as exc:
                    raise DownloadError(
                        f"{url}: transfer interrupted ({exc}); rerun the same command to resume"
                    ) from None
        size = part.stat().st_size
        if total is not None and size != total:
            raise DownloadError(f"{url}: got {size} of {total} bytes; rerun the same command to resume")
    digest = _sha256_file(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
        raise ChecksumError(f"{url}: sha256 {digest} does not match the expected {sha256.lower()}; "
                            "the download was deleted (rerun to fetch it again, or check --sha256)")
    os.replace(part, dest)
    return digest


def _member_problem(name: str) -> str | None:
    n = name.replace("\\", "/")
    if not n or "\0" in n:
        return "empty or NUL in the name"
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n):
        return "absolute path"
    if ".." in PurePosixPath(n).parts:
        return "path traversal ('..')"
    return None


def _members(archive: Path):
    """(kind, [(name, is_dir, is_file, opener)]) for tar, zip or rar; links and devices are is_file=False."""
    if tarfile.is_tarfile(archive):
        tar = tarfile.open(archive, "r:*")
        return tar, [(m.name, m.isdir(), m.isreg(), (lambda m=m: tar.extractfile(m))) for m in tar.getmembers()]
    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        out = []
        for i in zf.infolist():
            is_link = stat.S_ISLNK(i.external_attr >> 16)
            out.append((i.filename, i.is_dir(), not i.is_dir() and not is_link, (lambda i=i: zf.open(i))))
        return zf, out
    with open(archive, "rb") as f:
        magic = f.read(7)
    if magic.startswith(b"Rar!\x1a\x07"):
        try:
            import rarfile
        except ImportError:
            raise ValueError(f"{archive} is a RAR archive: install the rarfile package (pip install rarfile) and an "
                             "unrar, unar, 7z or bsdtar program (e.g. apt-get install libarchive-tools), then rerun; "
                             f"or extract it yourself (unrar x {archive.name})") from None
        rf = rarfile.RarFile(archive)
        return rf, [(i.filename, i.is_dir(), i.is_file() and not i.is_symlink(), (lambda i=i: rf.open(i)))
                    for i in rf.infolist()]
    raise ValueError(f"{archive}: not a tar, zip or RAR archive")


def extract_safely(archive: str | os.PathLike[str], to: str | os.PathLike[str]) -> list[Path]:
    """Extract regular files and folders of ``archive`` into ``to``; returns the files written.

    Raises:
        UnsafeArchiveError: any member is absolute, climbs out with '..', or is a link or device;
            nothing is extracted then.
        ValueError: not an archive of a known format.
    """
    archive, to = Path(archive), Path(to)
    handle, members = _members(archive)
    with handle:
        bad = []
        for name, is_dir, is_file, _ in members:
            problem = _member_problem(name)
            if problem is None and not (is_dir or is_file):
                problem = "link or special file"
            if problem:
                bad.append(f"{name!r} ({problem})")
        if bad:
            raise UnsafeArchiveError(f"{archive}: refusing to extract, {len(bad)} unsafe members: "
                                     + ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else ""))
        root = to.resolve()
        written = []
        for name, is_dir, _, opener in members:
            target = (root / name.replace("\\", "/")).resolve()
            if target != root and root not in target.parents:
                raise UnsafeArchiveError(f"{archive}: member {name!r} resolves outside {root}")
            if is_dir:
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with opener() as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, _CHUNK)
            written.append(target)
    return written


def download_dataset(name: str, to: str | os.PathLike[str], *, url: str | None = None, sha256: str | None = None,
                     keep_archive: bool = False, progress: bool = True, echo=print) -> Path:
    """Download, verify and extract collection ``name`` (see DATASETS) into ``to``.

    Args:
        url: another address for the same archive (a mirror, or a local server in tests).
        sha256: expected digest (overrides the pinned one).
        keep_archive: keep the archive after extraction (default: delete it).
    Returns:
        the folder that holds the images (pass it to `noisegen generate --images`).
    """
    if name not in DATASETS:
        raise KeyError(f"unknown collection {name!r}; available: {', '.join(DATASETS)}")
    spec = DATASETS[name]
    url = url or spec.url
    expected = sha256 or spec.sha256
    to = Path(to)
    to.mkdir(parents=True, exist_ok=True)
    marker = to / f".noisegen-download-{name}.json"
    images = to / spec.images_subdir
    if marker.is_file():
        done = json.loads(marker.read_text())
        if done.get("url") == url and (expected is None or done.get("sha256") == expected.lower()):
            echo(f"{name} is already in {to} (sha256 {done.get('sha256')}); images: {images}")
            return images
    archive = to / (Path(urllib.request.urlparse(url).path).name or f"{name}.archive")
    echo(f"downloading {url} → {archive}")
    digest = fetch(url, archive, sha256=expected, progress=progress)
    if expected is None:
        echo(f"sha256 {digest} (no digest is published for this archive: keep it to check later copies)")
    else:
        echo(f"sha256 verified: {digest}")
    files = extract_safely(archive, to)
    marker.write_text(json.dumps({"name": name, "url": url, "sha256": digest, "archive": archive.name,
                                  "files": len(files), "citation": spec.citation}, indent=2) + "\n")
    if not keep_archive:
        archive.unlink()
    n = sum(1 for p in images.rglob("*") if p.is_file()) if images.is_dir() else 0
    echo(f"extracted {len(files)} files into {to}; {n} images in {images}"
         + (f" (expected {spec.n_images})" if images.is_dir() and n != spec.n_images else ""))
    echo(f"next: noisegen generate --images {images} --out OUT")
    return images
