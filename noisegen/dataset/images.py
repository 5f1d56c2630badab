"""Reading and writing 8-bit RGB images at the edges of the pipeline.

Sources come in every flavour (grayscale, RGBA, palette, 16-bit PNG/TIFF); read_rgb8 turns each
into uint8 H×W×3 and reports which conversions it made, so batch jobs can count them.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from noisegen.dataset.png import decode_png16, png_header

__all__ = ["read_rgb8", "to_rgb8", "write_png", "centre_crop", "ImageReadError", "PixelLimitError",
           "DEFAULT_MAX_PIXELS", "check_pixels", "open_image", "exif_orientation", "oriented_size"]

# EXIF Orientation values (tag 0x0112) whose display swaps width and height (TIFF 6.0 / EXIF 2.3).
_TRANSPOSED = (5, 6, 7, 8)
# Largest source image decoded by default (H·W). A decoded source costs about 11 bytes per pixel at
# its peak (Pillow's buffer, the uint8 RGB array, conversions): 100 MP ≈ 1.1 GB per worker. The
# largest still cameras (Phase One, 150 MP) need --max-pixels; Pillow's own limit warns at 89 MP
# and fails at 179 MP with text that names neither the file nor a remedy.
DEFAULT_MAX_PIXELS = 100_000_000


class ImageReadError(ValueError):
    """A file could not be read as an image (unreadable, truncated, not an image, empty)."""


class PixelLimitError(ImageReadError):
    """An image has more pixels than the limit (a decompression bomb, or a photo too large to decode)."""


def check_pixels(width: int, height: int, max_pixels: int | None, name: str) -> None:
    """Raise PixelLimitError when width·height exceeds ``max_pixels`` (None: no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise PixelLimitError(f"{name}: {width}×{height} = {width * height / 1e6:.1f} MP is over the limit of "
                              f"{max_pixels / 1e6:g} MP (raise it with --max-pixels)")


@contextlib.contextmanager
def open_image(source, *, max_pixels: int | None, name: str = "image") -> Iterator[Image.Image]:
    """Image.open with our pixel limit (checked from the header, before any pixel is decoded) in
    place of Pillow's decompression-bomb check, whose warning and error texts are not ours.

    Raises:
        PixelLimitError: over ``max_pixels``. Pillow's errors otherwise (the caller maps them).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
        try:
            im = Image.open(source)
        finally:
            Image.MAX_IMAGE_PIXELS = saved
    with im:
        check_pixels(im.width, im.height, max_pixels, name)
        yield im


def to_rgb8(arr: np.ndarray, *, name: str = "image") -> tuple[np.ndarray, list[str]]:
    """Convert a decoded image array to uint8 H×W×3.

    Handles H×W (gray → RGB), H×W×1, H×W×2 (gray+alpha), H×W×4 (alpha dropped), uint16
    (scaled by 255/65535 and rounded), bool, and float in [0, 1].
    Returns (image, conversions) where conversions names what was done ("gray", "alpha", "16bit",
    "float").
    """
    conv: list[str] = []
    a = np.asarray(arr)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ImageReadError(f"{name}: unsupported image shape {np.asarray(arr).shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageReadError(f"{name}: empty image")
    if a.shape[2] in (2, 4):
        a = a[:, :, :-1]
        conv.append("alpha")
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
        conv.append("gray")
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = np.round(a.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
        conv.append("16bit")
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
        conv.append("bool")
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ImageReadError(f"{name}: float image contains NaN or inf")
        a = np.round(np.clip(a, 0.0, 1.0) * 255.0).astype(np.uint8)
        conv.append("float")
    else:
        raise ImageReadError(f"{name}: unsupported pixel type {a.dtype}")
    return np.ascontiguousarray(a), conv


def exif_orientation(im: Image.Image) -> int:
    """The EXIF Orientation of an opened image (1 = as stored; 1 when absent or unreadable)."""
    try:
        o = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a damaged EXIF block must not make the image unreadable
        return 1
    return int(o) if isinstance(o, int) and 1 <= o <= 8 else 1


def oriented_size(im: Image.Image) -> tuple[int, int]:
    """(height, width) of an opened image as displayed, i.e. after its EXIF orientation is applied."""
    w, h = im.size
    return (w, h) if exif_orientation(im) in _TRANSPOSED else (h, w)


def read_rgb8(path: str | os.PathLike[str], *,
              max_pixels: int | None = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, list[str]]:
    """Read an image file as uint8 H×W×3 RGB.

    16-bit sources keep all their bits until the scaling to 8 bits (round(v·255/65535)): 16-bit
    colour PNGs are decoded by noisegen.dataset.png.decode_png16 (Pillow would drop the low byte) and
    TIFFs by tifffile (a multi-page TIFF gives its first page, recorded as "multipage").
    Returns (image, conversions); raises ImageReadError for anything that is not a readable image,
    and PixelLimitError (checked from the header, before decoding) above ``max_pixels``.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix == ".png":
        head = _read_head(p)
        if head is not None and head[2] == 16 and head[3] in (2, 4, 6):
            check_pixels(head[0], head[1], max_pixels, str(p))
            if head[4] == 0:
                try:
                    return to_rgb8(decode_png16(p.read_bytes()), name=str(p))
                except ValueError as exc:
                    raise ImageReadError(f"{p}: not a readable image ({exc})") from exc
            img, conv = _read_pillow(p, max_pixels)  # interlaced 16-bit colour: Pillow keeps the high byte
            return img, [*conv, "16bit-truncated"]
    if suffix in (".tif", ".tiff"):
        got = _read_tiff(p, max_pixels)
        if got is not None:
            return got
    return _read_pillow(p, max_pixels)


def _read_tiff(p: Path, max_pixels: int | None) -> tuple[np.ndarray, list[str]] | None:
    """A TIFF through tifffile (all bits of 16-bit and float data), or None to let Pillow try."""
    try:
        import tifffile

        with tifffile.TiffFile(p) as tf:
            page = tf.pages[0]
            check_pixels(int(page.imagewidth), int(page.imagelength), max_pixels, str(p))
            arr = page.asarray()
            pages = len(tf.pages)
    except (FileNotFoundError, PixelLimitError):
        raise
    except Exception:  # noqa: BLE001 - not a TIFF tifffile can read: let Pillow try and report
        return None
    if arr.ndim == 3 and arr.shape[0] in (3, 4) and arr.shape[2] not in (3, 4):
        arr = np.moveaxis(arr, 0, -1)  # planar configuration
    img, conv = to_rgb8(arr, name=str(p))
    return img, (["multipage"] if pages > 1 else []) + conv


def _read_head(p: Path) -> tuple[int, int, int, int, int] | None:
    try:
        with open(p, "rb") as f:
            return png_header(f.read(33))
    except FileNotFoundError:
        raise
    except OSError:
        return None


def _read_pillow(p: Path, max_pixels: int | None) -> tuple[np.ndarray, list[str]]:
    try:
        with open_image(p, max_pixels=max_pixels, name=str(p)) as im:
            im.load()
            conv0: list[str] = []
            if exif_orientation(im) != 1:  # cameras store portrait photos rotated, with a flag
                im = ImageOps.exif_transpose(im)
                conv0.append("exif-orientation")
            mode = im.mode
            if mode in ("P", "PA"):
                im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
                arr = np.asarray(im)
                arr, conv = to_rgb8(arr, name=str(p))
                return arr, [*conv0, "palette", *conv]
            if mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = (np.asarray(im).astype(np.uint16) if mode != "I"
                       else np.clip(np.asarray(im), 0, 65535).astype(np.uint16))
                arr, conv = to_rgb8(arr, name=str(p))
                return arr, [*conv0, *conv]
            if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
                conv0.append(mode.lower())  # colour space converted by Pillow (no ICC profile applied)
            if mode == "1":
                im = im.convert("L")
            if mode == "F":
                arr = np.asarray(im)
                arr, conv = to_rgb8(arr / max(float(arr.max()), 1.0), name=str(p))
                return arr, [*conv0, *conv]
            arr = np.asarray(im)
    except (FileNotFoundError, ImageReadError):
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageReadError(f"{p}: not a readable image ({type(exc).__name__}: {exc})") from exc
    arr, conv = to_rgb8(arr, name=str(p))
    return arr, [*conv0, *conv]


def centre_crop(img: np.ndarray, side: int | None) -> np.ndarray:
    """The centre side×side crop of an H×W(×C) image, contiguous: rows from (H − side) // 2, columns from
    (W − side) // 2; along an axis shorter than ``side`` the whole extent. ``side`` None: ``img`` itself."""
    if side is None:
        return img
    h, w = img.shape[:2]
    y, x = max((h - side) // 2, 0), max((w - side) // 2, 0)
    return np.ascontiguousarray(img[y:y + side, x:x + side])


def write_png(path: str | os.PathLike[str], img: np.ndarray, *, compress_level: int = 1) -> None:
    """Write uint8 H×W×3 as PNG, atomically (temporary name, then rename)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    Image.fromarray(np.ascontiguousarray(img)).save(tmp, format="PNG", compress_level=compress_level)
    os.replace(tmp, p)
