"""A fast, deterministic PNG encoder for dataset members (8-bit RGB, 8- or 16-bit grayscale), and a
decoder for the 16-bit colour PNGs that Pillow truncates to 8 bits.

PNG (ISO/IEC 15948, W3C PNG 2nd ed.): signature, IHDR, one IDAT with the zlib stream of the
filtered rows, IEND; every chunk carries a CRC-32. We use filter type 2 ("Up": each byte minus the
byte above it) on every row, computed for the whole image at once with numpy, and zlib at level 1
with the Z_RLE strategy (run-length matches only; libpng's documentation suggests it for filtered
image data).

Why not Pillow: encoding dominated generation time (3 PNGs per sample), and on 256×256 cbdnet
samples this encoder is several times faster than Pillow at compress_level 1 with files of about
the same size (benchmarks/bench_generate.py, benchmarks/bench_png.py; figures in
docs/results.md §PNG encoders). Any PNG decoder reads the output (tests decode it with Pillow).

The deflate step runs in zlib-ng (the ``zlib-ng`` package) when it is installed: with the same
level and strategy it writes the same bytes as zlib (tested) in about half the time
(benchmarks/bench_png.py); ``COMPRESSOR`` names the one in use (recorded in dataset.json).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

try:  # same bytes as zlib at level 1 / Z_RLE, about twice as fast (module docstring)
    from zlib_ng import zlib_ng as _deflate
except ImportError:  # pragma: no cover - zlib-ng is a dependency; plain zlib is the fallback
    _deflate = zlib

__all__ = ["PNG_ENCODER", "COMPRESSOR", "encode_png", "png_header", "decode_png16", "deflate"]

PNG_ENCODER = "noisegen.dataset.png: filter Up, zlib level 1 Z_RLE"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_UP = 2
COMPRESSOR = f"zlib-ng {_deflate.ZLIBNG_VERSION}" if _deflate is not zlib else f"zlib {zlib.ZLIB_RUNTIME_VERSION}"


def deflate(data, *, backend=None) -> bytes:
    """zlib stream of ``data`` at level 1 with the Z_RLE strategy (run-length matches only; libpng's
    documentation suggests it for filtered image data). ``backend``: a zlib-compatible module
    (default: zlib-ng when installed, else zlib)."""
    lib = backend or _deflate
    z = lib.compressobj(1, lib.DEFLATED, 15, 9, lib.Z_RLE)
    return z.compress(data) + z.flush()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(img: np.ndarray, text: dict[str, str] | None = None) -> bytes:
    """PNG bytes of an image.

    Args:
        img: uint8 H×W×3 (RGB), uint8 H×W (gray) or uint16 H×W (16-bit gray); H, W ≥ 1.
        text: tEXt chunks (keyword → Latin-1 text) written before the image data, in this order.
    Returns:
        the PNG file as bytes (same input → same bytes for a given zlib version).
    """
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[2] == 3 and a.dtype == np.uint8:
        depth, colour = 8, 2
    elif a.ndim == 2 and a.dtype == np.uint8:
        depth, colour = 8, 0
    elif a.ndim == 2 and a.dtype == np.uint16:
        depth, colour = 16, 0
        a = a.astype(">u2")  # PNG stores 16-bit samples big-endian
    else:
        raise ValueError(f"img: expected uint8 (H, W, 3), uint8 (H, W) or uint16 (H, W), got {a.dtype} {a.shape}")
    h, w = a.shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"img: expected a non-empty image, got shape {a.shape}")
    rows = np.ascontiguousarray(a).view(np.uint8).reshape(h, -1)
    body = np.empty((h, rows.shape[1] + 1), dtype=np.uint8)
    body[:, 0] = _UP
    body[0, 1:] = rows[0]
    np.subtract(rows[1:], rows[:-1], out=body[1:, 1:])  # uint8 arithmetic wraps modulo 256, as PNG requires
    idat = deflate(body.data)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    texts = b"".join(_chunk(b"tEXt", k.encode("latin-1") + b"\0" + v.encode("latin-1"))
                     for k, v in (text or {}).items())
    return _SIGNATURE + _chunk(b"IHDR", ihdr) + texts + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type → samples per pixel (3, palette, is never 16-bit)


def png_header(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit depth, colour type, interlace) from a PNG's IHDR, or None if not a PNG."""
    if len(data) < 33 or data[:8] != _SIGNATURE or data[12:16] != b"IHDR":
        return None
    w, h, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return w, h, depth, colour, interlace


def inflate_idat(data: bytes) -> np.ndarray:
    """The inflated, still filtered, image data of a PNG (all IDAT chunks), as uint8."""
    pos, idat = 8, []
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        if len(chunk) != length:
            raise ValueError("truncated PNG chunk")
        if kind == b"IDAT":
            idat.append(chunk)
        elif kind == b"IEND":
            break
        pos += 12 + length
    try:
        return np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    except zlib.error as exc:
        raise ValueError(f"corrupt PNG data stream: {exc}") from None


def decode_png16(data: bytes) -> np.ndarray:
    """Decode a non-interlaced 16-bit PNG (gray, gray+alpha, RGB or RGBA) to uint16 H×W×C.

    Pillow reads 16-bit colour PNGs as 8-bit by dropping the low byte; this keeps all 16 bits.
    Raises ValueError for anything else (other depths, interlaced, corrupt stream).
    """
    from noisegen.kernels.unfilter import _png_unfilter

    head = png_header(data)
    if head is None:
        raise ValueError("not a PNG file")
    w, h, depth, colour, interlace = head
    if depth != 16 or colour not in _CHANNELS or interlace != 0:
        raise ValueError(f"decode_png16 handles non-interlaced 16-bit PNGs, got depth {depth}, "
                         f"colour type {colour}, interlace {interlace}")
    raw = inflate_idat(data)
    bpp = 2 * _CHANNELS[colour]
    out = np.empty((h, w * bpp), dtype=np.uint8)
    if _png_unfilter(raw, h, w * bpp, bpp, out) != 0:
        raise ValueError("corrupt PNG: bad filter type or short data stream")
    return out.view(">u2").reshape(h, w, _CHANNELS[colour]).astype(np.uint16)
