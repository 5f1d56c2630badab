"""numba kernel: PNG scanline unfiltering (ISO/IEC 15948 §9, filter method 0).

Used to decode 16-bit colour PNGs, which Pillow reads as 8-bit by dropping the low byte.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _png_unfilter(data, height, stride, bpp, out):
    """Reverse the per-row filters of a non-interlaced PNG image.

    data: uint8 (height·(stride+1),) the inflated IDAT stream (a filter-type byte, then ``stride``
    bytes per row); bpp: bytes per complete pixel (≥ 1); out: uint8 (height, stride).
    Returns 0, or -1 when a row has an unknown filter type or the stream is too short.
    Filters: 0 None, 1 Sub (x + a), 2 Up (x + b), 3 Average (x + ⌊(a+b)/2⌋), 4 Paeth; a = the
    byte bpp to the left, b = the byte above, c = above-left; arithmetic modulo 256.
    """
    if data.shape[0] < height * (stride + 1):
        return -1
    for r in range(height):
        base = r * (stride + 1)
        ftype = data[base]
        for k in range(stride):
            x = np.int32(data[base + 1 + k])
            a = np.int32(out[r, k - bpp]) if k >= bpp else np.int32(0)
            b = np.int32(out[r - 1, k]) if r > 0 else np.int32(0)
            if ftype == 0:
                v = x
            elif ftype == 1:
                v = x + a
            elif ftype == 2:
                v = x + b
            elif ftype == 3:
                v = x + (a + b) // 2
            elif ftype == 4:
                c = np.int32(out[r - 1, k - bpp]) if (r > 0 and k >= bpp) else np.int32(0)
                p = a + b - c
                pa = abs(p - a)
                pb = abs(p - b)
                pc = abs(p - c)
                if pa <= pb and pa <= pc:
                    pred = a
                elif pb <= pc:
                    pred = b
                else:
                    pred = c
                v = x + pred
            else:
                return -1
            out[r, k] = np.uint8(v & 0xFF)
    return 0
