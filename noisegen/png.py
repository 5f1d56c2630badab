"""A fast, deterministic PNG encoder for dataset members (8-bit RGB, 8- or 16-bit grayscale).

PNG (ISO/IEC 15948, W3C PNG 2nd ed.): signature, IHDR, one IDAT with the zlib stream of the
filtered rows, IEND; every chunk carries a CRC-32. We use filter type 2 ("Up": each byte minus the
byte above it) on every row, computed for the whole image at once with numpy, and zlib at level 1
with the Z_RLE strategy (run-length matches only; libpng's documentation suggests it for filtered
image data).

Why not Pillow: encoding dominated generation time (3 PNGs per sample). On 256×256 cbdnet
samples (benchmarks/bench_generate.py) Pillow at compress_level 1 takes 5.6 / 6.4 / 9.7 ms for the
clean, noisy and σ members; this encoder 2.2 / 2.1 / 4.4 ms, with files 4% smaller, 2% larger
and 6% smaller. Any PNG decoder reads the output (tests decode it with Pillow).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["PNG_ENCODER", "encode_png"]

PNG_ENCODER = "noisegen.png: filter Up, zlib level 1 Z_RLE"
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_UP = 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of an image.

    Args:
        img: uint8 H×W×3 (RGB), uint8 H×W (gray) or uint16 H×W (16-bit gray); H, W ≥ 1.
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
    z = zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    idat = z.compress(body.data) + z.flush()
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    return _SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
