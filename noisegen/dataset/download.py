"""`noisegen download NAME --to DIR`: fetch a public photo collection, verify it, extract it safely.

- Resumable: bytes go to ``FILE.part``; a rerun asks the server for the rest with an HTTP Range
  request (``Range: bytes=N-``) and appends; a server that ignores ranges (200) restarts cleanly.
- Verified: the sha256 of the archive is compared with the pinned or given (``--sha256``) digest;
  on a mismatch the download is deleted and nothing is extracted. Where no digest is pinned the
  computed one is printed and recorded, so a later copy can be checked against it.
- Safe extraction (noisegen.dataset.archives): every member is checked before anything is written;
  absolute paths, ``..``, links, devices, clashing names and archives that would expand beyond
  the size and ratio limits (``--max-extract-size``, ``--max-ratio``) or the free space are refused
  whole; what a failed extraction wrote is removed again.
- Formats: tar (any compression), zip, and RAR through ``unrar2-cffi`` (``pip install 'noisegen[rar]'``),
  checked before a RAR download starts.

The Waterloo Exploration Database (Ma et al., "Waterloo Exploration Database: New Challenges
for Image Quality Assessment Models", IEEE TIP 2017): 4,744 pristine natural photos as BMP, used
by CBDNet and AINDNet to synthesise training pairs. It is distributed as one RAR archive.
"""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from noisegen.dataset.archives import ExtractLimits, UnsafeArchiveError, extract_safely, require_rar
from noisegen.dataset.sources import file_sha256
from noisegen.version import __version__

__all__ = ["RemoteArchive", "DATASETS", "DownloadError", "ChecksumError", "UnsafeArchiveError", "ExtractLimits",
           "MAX_DOWNLOAD", "fetch", "extract_safely", "download_dataset"]


class DownloadError(RuntimeError):
    """The transfer failed; rerunning the same command resumes it."""


class ChecksumError(DownloadError):
    """The downloaded file's sha256 differs from the expected one."""


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


MAX_DOWNLOAD = 64 * 10**9  # default size limit of one download (the Waterloo archive is about 2.5 GB)


def fetch(url: str, dest: str | os.PathLike[str], *, sha256: str | None = None, progress: bool = True,
          timeout: float = 60.0, max_bytes: int = MAX_DOWNLOAD) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``); returns the file's sha256.

    ``max_bytes`` bounds the file: a larger Content-Length is refused before anything is written, and a
    server that sends no Content-Length (or more than it announced) is stopped while streaming, once
    the file would pass the limit.

    Raises:
        DownloadError: HTTP or network failure (the partial file is kept: rerun to resume); over ``max_bytes``
            (the partial file is deleted).
        ChecksumError: ``sha256`` given and different (the partial file is deleted).
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.is_file():
        digest = file_sha256(dest)
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
            total = offset + int(length) if length is not None and length.isdigit() else None
            over = (f"{url}: the download is over the limit of {max_bytes / 1e9:g} GB (raise it with "
                    "--max-download-size if you trust the source)")
            if total is not None and total > max_bytes:
                raise DownloadError(f"{over}; it announces {total} bytes; nothing was written")
            from tqdm import tqdm

            with open(part, mode) as f, tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                                             desc=dest.name, disable=not progress) as bar:
                size = offset
                try:
                    while chunk := resp.read(_CHUNK):
                        size += len(chunk)
                        if size > max_bytes:  # no Content-Length, or a server sending more than it said
                            break
                        f.write(chunk)
                        bar.update(len(chunk))
                except (OSError, http.client.HTTPException) as exc:
                    raise DownloadError(
                        f"{url}: transfer interrupted ({exc}); rerun the same command to resume"
                    ) from None
            if size > max_bytes:
                part.unlink(missing_ok=True)
                raise DownloadError(f"{over}; stopped after {max_bytes} bytes and deleted what was received")
        size = part.stat().st_size
        if total is not None and size != total:
            raise DownloadError(f"{url}: got {size} of {total} bytes; rerun the same command to resume")
    digest = file_sha256(part)
    if sha256 is not None and digest != sha256.lower():
        part.unlink()
        raise ChecksumError(f"{url}: sha256 {digest} does not match the expected {sha256.lower()}; "
                            "the download was deleted (rerun to fetch it again, or check --sha256)")
    os.replace(part, dest)
    return digest


def download_dataset(name: str, to: str | os.PathLike[str], *, url: str | None = None, sha256: str | None = None,
                     keep_archive: bool = False, progress: bool = True, echo=print,
                     limits: ExtractLimits = ExtractLimits(), max_download: int = MAX_DOWNLOAD) -> Path:
    """Download, verify and extract collection ``name`` (see DATASETS) into ``to``.

    Args:
        url: another address for the same archive (a mirror, or a local server in tests).
        sha256: expected digest (overrides the pinned one).
        keep_archive: keep the archive after extraction (default: delete it; kept when extraction fails).
        limits: extraction limits (size, ratio, members). max_download: size limit of the download (fetch).
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
    if archive.suffix.lower() == ".rar":  # before a multi-GB download, not after it
        require_rar(f"{url}")
    echo(f"downloading {url} → {archive}")
    digest = fetch(url, archive, sha256=expected, progress=progress, max_bytes=max_download)
    if expected is None:
        echo(f"sha256 {digest} (no digest is published for this archive: keep it to check later copies)")
    else:
        echo(f"sha256 verified: {digest}")
    files = extract_safely(archive, to, limits)
    marker.write_text(json.dumps({"name": name, "url": url, "sha256": digest, "archive": archive.name,
                                  "files": len(files), "citation": spec.citation}, indent=2) + "\n")
    if not keep_archive:
        archive.unlink()
    n = sum(1 for p in images.rglob("*") if p.is_file()) if images.is_dir() else 0
    echo(f"extracted {len(files)} files into {to}; {n} images in {images}"
         + (f" (expected {spec.n_images})" if images.is_dir() and n != spec.n_images else ""))
    echo(f"next: noisegen generate --images {images} --out OUT")
    return images
