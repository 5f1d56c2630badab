"""JPEG compression round trip with libjpeg-turbo through Pillow.

CBDNet (Guo et al. 2019, §3.1) simulates in-camera compression by JPEG at quality q ~ U[60, 100].
We encode with Pillow (libjpeg-turbo, accurate integer DCT, standard quantisation tables scaled by
quality) and record encoder and chroma subsampling in each sample's parameters: MATLAB's imwrite,
used by CBDNet, and most cameras write 4:2:0.
"""

from __future__ import annotations

import functools
import io

import numpy as np
from PIL import Image

from noisegen.checks import check_image_u8

__all__ = ["JPEG_SUBSAMPLINGS", "JPEG_ENCODER", "jpeg_encode", "jpeg_decode", "jpeg_roundtrip", "jpeg_settings"]

# Pillow's `subsampling` codes.
JPEG_SUBSAMPLINGS = {"4:4:4": 0, "4:2:2": 1, "4:2:0": 2}
JPEG_ENCODER = "pillow-libjpeg-turbo"


def jpeg_encode(img: np.ndarray, quality: int, subsampling: str = "4:2:0") -> bytes:
    """Encode an 8-bit RGB image as baseline JPEG.

    Args:
        img: uint8 H×W×3.
        quality: 1..100 (libjpeg's scaling of the standard tables).
        subsampling: "4:2:0" (default, as MATLAB and most cameras), "4:2:2" or "4:4:4".
    Returns:
        the JPEG file as bytes.
    """
    img = check_image_u8(img, "img")
    if isinstance(quality, bool) or not isinstance(quality, (int, np.integer)) or not 1 <= quality <= 100:
        raise ValueError(f"quality: expected an integer in 1..100, got {quality!r}")
    if subsampling not in JPEG_SUBSAMPLINGS:
        raise ValueError(f"subsampling: expected one of {sorted(JPEG_SUBSAMPLINGS)}, got {subsampling!r}")
    buf = io.BytesIO()
    Image.fromarray(img, "RGB").save(
        buf, format="JPEG", quality=int(quality), subsampling=JPEG_SUBSAMPLINGS[subsampling], optimize=False
    )
    return buf.getvalue()


def jpeg_decode(data: bytes) -> np.ndarray:
    """Decode JPEG bytes to uint8 H×W×3 RGB (raises ValueError on a corrupt stream)."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format != "JPEG":
                raise ValueError(f"expected a JPEG stream, got {im.format}")
            return np.asarray(im.convert("RGB"))
    except (OSError, SyntaxError) as exc:
        raise ValueError(f"could not decode JPEG data ({len(data)} bytes): {exc}") from exc


def jpeg_roundtrip(img: np.ndarray, quality: int, subsampling: str = "4:2:0") -> np.ndarray:
    """Compress and decompress: what a camera writing JPEG at `quality` leaves of the image."""
    return jpeg_decode(jpeg_encode(img, quality, subsampling))


@functools.lru_cache(maxsize=512)
def _tables(quality: int, subsampling: str) -> tuple[tuple[int, ...], ...]:
    with Image.open(io.BytesIO(jpeg_encode(np.zeros((16, 16, 3), np.uint8), quality, subsampling))) as im:
        return tuple(tuple(t) for _, t in sorted(im.quantization.items()))


def jpeg_settings(path: str) -> tuple[int | None, str | None]:
    """The quality and chroma subsampling a JPEG file was written with, read from the file itself.

    Subsampling comes from the components' sampling factors (Pillow's ``JpegImagePlugin.get_sampling``);
    quality is the libjpeg quality 1..100 whose standard tables, as Pillow writes them with that
    subsampling, are closest (sum of absolute differences; 0 when the file was written by libjpeg with
    standard tables) to the file's quantisation tables. A camera's own tables are not libjpeg's: the
    result is then the libjpeg quality of about the same strength.

    Returns:
        (quality, subsampling), or (None, None) when the file is not a JPEG.
    """
    from PIL import JpegImagePlugin

    with Image.open(path) as im:
        if im.format != "JPEG" or not getattr(im, "quantization", None):
            return None, None
        code = JpegImagePlugin.get_sampling(im)
        sub = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}.get(code, "4:2:0")
        have = [list(t) for _, t in sorted(im.quantization.items())]
    best, best_d = None, None
    for q in range(1, 101):
        want = _tables(q, sub)
        d = sum(abs(a - b) for x, y in zip(have, want) for a, b in zip(x, y)) + 1000 * abs(len(have) - len(want))
        if best_d is None or d < best_d:
            best, best_d = q, d
    return best, sub
