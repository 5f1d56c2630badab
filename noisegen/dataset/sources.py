"""Finding the clean source photos of a dataset: recursive discovery, probing, skips with reasons.

A source root is a folder (searched recursively) or a single image file. Files are PNG, JPEG, BMP
or TIFF by extension; anything else is skipped and listed. The Waterloo Exploration Database
(Ma et al., IEEE TIP 2017; 4,744 pristine BMP photos) works as is: a root that holds
``pristine_images/`` (directly or inside ``exploration_database_and_code/``) contributes that
folder only, not the MATLAB code beside it.

Probing reads each file's header only (size and mode, no pixels), so a scan of thousands of photos
takes seconds. Files that cannot be identified as images, and images smaller than the patch, are
skipped here; files whose header is fine but whose pixels are not (a truncated PNG) are found
when a worker decodes them and are skipped there. Either way the reason is recorded and the run
goes on (STYLE.md: bad inputs are skipped, counted and listed).

Every image gets a stable id ``LABEL/relative/path`` (LABEL = the root folder's name, made unique
when two roots share a name; ``skimage`` for the embedded photos). Ids are sorted, so the scan
result does not depend on the file system's listing order.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from PIL import Image

from noisegen.dataset.images import DEFAULT_MAX_PIXELS, ImageReadError, open_image, oriented_size

__all__ = [
    "IMAGE_EXTENSIONS",
    "list_images",
    "SourceImage",
    "Skipped",
    "SourceScan",
    "waterloo_root",
    "discover",
    "probe",
    "scan_sources",
    "hash_sources",
    "file_sha256",
    "printable_path",
    "undecodable_name",
]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def list_images(folder: str | os.PathLike[str], *, recursive: bool) -> list[Path]:
    """The image files of a folder: the one listing rule of every command that reads a folder of images.

    An image is a file (or a link to one) whose extension, in any case, is one of IMAGE_EXTENSIONS.
    With ``recursive`` the subfolders are searched too (symlinked folders are not followed, so a link
    loop cannot trap the walk); each caller says which, as its command documents (``noisegen-train
    denoise`` and validation folders: recursive; mode n2n's noisy images: the folder itself).

    Returns:
        paths ``folder/relative/path``, sorted by their relative path (part by part, case-sensitive),
        so that the order does not depend on the file system. A missing folder is an error
        (FileNotFoundError / NotADirectoryError from the listing).
    """
    root = Path(folder)
    if not recursive:
        found = list(root.iterdir())
    elif root.is_dir():
        found = [Path(d) / f for d, _, files in os.walk(root) for f in files]
    else:
        raise NotADirectoryError(f"{folder}: not a folder")
    return sorted(f for f in found if f.suffix.lower() in IMAGE_EXTENSIONS and f.is_file())

# Pillow modes read_rgb8 knows how to turn into uint8 RGB (noisegen.dataset.images).
_READABLE_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV",
                   "I", "I;16", "I;16B", "I;16L", "F"}


@dataclass(frozen=True)
class SourceImage:
    """One usable source photo.

    id: stable name ``LABEL/relative/path`` recorded with every sample.
    path: absolute path of the file.
    height, width: pixel size read from the header.
    mode: Pillow mode from the header ("RGB", "L", "I;16", ...).
    sha256: the file's content digest (hash_sources; "" until computed). `generate --resume`
        compares it, so that a file replaced by another of the same name and size is noticed.
    """

    id: str
    path: str
    height: int
    width: int
    mode: str
    sha256: str = ""


@dataclass(frozen=True)
class Skipped:
    """An input that was not used.

    source: image id (or the path, for a root that does not exist).
    path: file path. reason: what was wrong, in words.
    stage: "scan" (not an image file), "probe" (header unreadable or image too small),
        "decode" (pixels unreadable, found by a worker).
    """

    source: str
    path: str
    reason: str
    stage: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class SourceScan:
    """Result of scan_sources: usable images (sorted by id), skipped inputs, files seen."""

    images: tuple[SourceImage, ...]
    skipped: tuple[Skipped, ...]
    found: int


def printable_path(path: str | os.PathLike[str]) -> str:
    """A path as text that any UTF-8 writer accepts: bytes that are not UTF-8 become \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def undecodable_name(path: str | os.PathLike[str]) -> bool:
    """True when a path's name bytes are not valid UTF-8 (Python holds them as lone surrogates, which
    cannot be written to JSON, tar headers or UTF-8 text)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _bad_name(sid: str, p: Path) -> Skipped:
    return Skipped(printable_path(sid), printable_path(p), "file name is not valid UTF-8 (rename the file to use "
                   "it)", "scan")


def waterloo_root(root: Path) -> Path | None:
    """The ``pristine_images`` folder of a Waterloo Exploration layout under ``root``, or None."""
    for candidate in (root, root / "exploration_database_and_code"):
        p = candidate / "pristine_images"
        if p.is_dir():
            return p
    return None


def _labels(roots: Sequence[Path]) -> list[str]:
    labels: list[str] = []
    for r in roots:
        base = r.name if r.is_dir() else r.parent.name
        base = base or "images"
        label, n = base, 2
        while label in labels:
            label, n = f"{base}~{n}", n + 1
        labels.append(label)
    return labels


def discover(
    roots: Sequence[str | os.PathLike[str]], *, label: str | None = None
) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """List candidate image files under each root.

    Args:
        roots: folders (searched recursively, symlinked folders are not followed) or image files.
        label: id prefix for every root (used for the embedded photos); default: each root's name.
    Returns:
        ([(id, path), ...] sorted by id, [Skipped, ...] for files with other extensions and for
        roots that do not exist).
    """
    paths = [Path(r).expanduser().resolve() for r in roots]
    labels = [label] * len(paths) if label else _labels(paths)
    found: dict[str, Path] = {}
    skipped: list[Skipped] = []
    for root, lab in zip(paths, labels):
        if not root.exists():
            skipped.append(Skipped(printable_path(root), printable_path(root), "no such file or folder", "scan"))
            continue
        if undecodable_name(root):
            skipped.append(Skipped(printable_path(root), printable_path(root), "folder name is not valid UTF-8 "
                                   "(rename it, or give a folder above it)", "scan"))
            continue
        if root.is_file():
            files = [(root.name, root)]
        else:
            base = waterloo_root(root) or root
            prefix = base.relative_to(root).as_posix()
            files = []
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                for fn in filenames:
                    p = Path(dirpath) / fn
                    rel = p.relative_to(base).as_posix()
                    files.append((rel if prefix == "." else f"{prefix}/{rel}", p))
        for rel, p in files:
            sid = f"{lab}/{rel}"
            if undecodable_name(sid):
                skipped.append(_bad_name(sid, p))
                continue
            if p.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append(Skipped(sid, str(p), f"not an image file (extension {p.suffix or 'none'!r}; "
                                       f"expected one of {', '.join(IMAGE_EXTENSIONS)})", "scan"))
                continue
            found.setdefault(sid, p)
    return sorted(found.items()), sorted(skipped, key=lambda s: s.source)


def probe(path: str | os.PathLike[str], *, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[int, int, str]:
    """(height, width, mode) from an image file's header, without decoding its pixels.

    Raises:
        ValueError: the file is not an image Pillow can identify, has an unsupported mode, or more
            than ``max_pixels`` pixels (PixelLimitError).
    """
    try:
        with open_image(path, max_pixels=max_pixels, name="image") as im:
            h, w = oriented_size(im)
            mode = im.mode
    except ImageReadError as exc:
        raise ValueError(str(exc).removeprefix("image: ")) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__}: {exc})") from None
    if mode not in _READABLE_MODES:
        raise ValueError(f"unsupported pixel mode {mode!r}")
    if w < 1 or h < 1:
        raise ValueError(f"empty image ({w}×{h})")
    return h, w, mode


def scan_sources(
    roots: Sequence[str | os.PathLike[str]],
    *,
    min_size: int,
    max_images: int | None = None,
    label: str | None = None,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> SourceScan:
    """Discover and probe the source photos.

    Args:
        roots: folders or files (see discover).
        min_size: smallest usable height and width in pixels (the patch size).
        max_images: keep only the first N usable images in id order (None: all).
        label: id prefix for every root (see discover).
        max_pixels: larger images are skipped (listed with the reason) before any pixel is decoded.
    Returns:
        SourceScan with usable images sorted by id and every skipped input with its reason.
    """
    candidates, skipped = discover(roots, label=label)
    images: list[SourceImage] = []
    for sid, p in candidates:
        try:
            h, w, mode = probe(p, max_pixels=max_pixels)
        except ValueError as exc:
            skipped.append(Skipped(sid, str(p), str(exc), "probe"))
            continue
        if h < min_size or w < min_size:
            skipped.append(Skipped(sid, str(p), f"image is {w}×{h} pixels, smaller than the "
                                   f"{min_size}×{min_size} patch", "probe"))
            continue
        images.append(SourceImage(id=sid, path=str(p), height=h, width=w, mode=mode))
    if max_images is not None:
        images = images[:max_images]
    found = len(candidates) + sum(1 for s in skipped if s.stage == "scan" and Path(s.path).is_file())
    return SourceScan(images=tuple(images), skipped=tuple(sorted(skipped, key=lambda s: s.source)), found=found)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 (hex) of a file's content, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def hash_sources(scan: SourceScan, *, threads: int = 4) -> SourceScan:
    """The scan with every usable image's content sha256; a file that cannot be read now is skipped.

    Reads every source once (hashlib releases the GIL: a few threads keep the disk busy); about
    1 s per GB on an SSD.
    """
    def digest(img: SourceImage) -> SourceImage | Skipped:
        try:
            return dataclasses.replace(img, sha256=file_sha256(img.path))
        except OSError as exc:
            return Skipped(img.id, img.path, f"unreadable ({exc.strerror or exc})", "probe")

    with ThreadPoolExecutor(max_workers=threads) as pool:
        done = list(pool.map(digest, scan.images))
    images = tuple(d for d in done if isinstance(d, SourceImage))
    skipped = tuple(sorted([*scan.skipped, *(d for d in done if isinstance(d, Skipped))], key=lambda s: s.source))
    return SourceScan(images=images, skipped=skipped, found=scan.found)
