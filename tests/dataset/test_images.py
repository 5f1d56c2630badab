"""Reading sources: 16-bit colour PNG/TIFF keep all bits; the PNG unfilter kernel vs Pillow."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from noisegen.dataset.images import ImageReadError, centre_crop, read_rgb8
from noisegen.dataset.png import decode_png16, inflate_idat
from noisegen.kernels.unfilter import _png_unfilter


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _png_bytes(samples: np.ndarray, depth: int, colour: int) -> bytes:
    """Reference PNG writer: row r uses filter r % 5 (all five filter types), forward-filtered in numpy."""
    h = samples.shape[0]
    rows = np.ascontiguousarray(samples.astype(">u2" if depth == 16 else np.uint8)).view(np.uint8).reshape(h, -1)
    bpp = rows.shape[1] // samples.shape[1]
    rows = rows.astype(np.int32)
    body = []
    for r in range(h):
        x = rows[r]
        a = np.concatenate([np.zeros(bpp, np.int32), x[:-bpp]])
        b = rows[r - 1] if r else np.zeros_like(x)
        c = np.concatenate([np.zeros(bpp, np.int32), b[:-bpp]])
        f = r % 5
        pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][f]
        body.append(bytes([f]) + ((x - pred) % 256).astype(np.uint8).tobytes())
    w = samples.shape[1]

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(body)))
            + chunk(b"IEND", b""))


def test_unfilter_kernel_matches_pillow_on_its_own_pngs(photo_u8):
    # Pillow's encoder chooses filters adaptively; check we saw several kinds and decode them all.
    for img in (photo_u8, np.ascontiguousarray(photo_u8[:, :, 0])):
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG", compress_level=9)
        raw = inflate_idat(buf.getvalue())
        h, w = img.shape[:2]
        bpp = 3 if img.ndim == 3 else 1
        out = np.empty((h, w * bpp), np.uint8)
        assert _png_unfilter(raw, h, w * bpp, bpp, out) == 0
        assert np.array_equal(out.reshape(img.shape), img)


@pytest.mark.parametrize("colour,channels", [(2, 3), (6, 4), (0, 1), (4, 2)])
def test_decode_png16_all_filters(colour, channels):
    v = np.random.default_rng(colour).integers(0, 65536, size=(11, 17, channels), dtype=np.uint16)
    data = _png_bytes(v, 16, colour)
    assert np.array_equal(decode_png16(data), v)


def test_read_rgb8_keeps_16_bits_of_colour_png(tmp_path):
    v = np.random.default_rng(0).integers(0, 65536, size=(9, 13, 3), dtype=np.uint16)
    p = tmp_path / "rgb16.png"
    p.write_bytes(_png_bytes(v, 16, 2))
    img, conv = read_rgb8(p)
    assert "16bit" in conv
    assert np.array_equal(img, np.round(v * (255 / 65535)).astype(np.uint8))
    rgba = tmp_path / "rgba16.png"
    rgba.write_bytes(_png_bytes(np.dstack([v, v[:, :, :1]]), 16, 6))
    img2, conv2 = read_rgb8(rgba)
    assert np.array_equal(img2, img) and "alpha" in conv2 and "16bit" in conv2


def test_read_rgb8_16bit_tiff(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    v = np.random.default_rng(1).integers(0, 65536, size=(9, 13, 3), dtype=np.uint16)
    p = tmp_path / "rgb16.tif"
    tifffile.imwrite(p, v, photometric="rgb")
    img, conv = read_rgb8(p)
    assert "16bit" in conv and np.array_equal(img, np.round(v * (255 / 65535)).astype(np.uint8))


def test_corrupt_16bit_png_is_a_clear_error(tmp_path):
    v = np.zeros((4, 4, 3), np.uint16)
    data = bytearray(_png_bytes(v, 16, 2))
    data[-20:-12] = b"\x00" * 8  # damage the zlib stream's end
    p = tmp_path / "bad16.png"
    p.write_bytes(bytes(data))
    with pytest.raises(ImageReadError, match="bad16.png"):
        read_rgb8(p)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_read_rgb8_applies_exif_orientation(tmp_path, orientation):
    # A camera stores a portrait photo as landscape pixels plus an Orientation tag; readers must
    # show it upright. The oracle is the pixel layout itself: a 3×5 image with distinct corners.
    from PIL import Image

    from noisegen.dataset.sources import probe

    img = np.zeros((30, 50, 3), dtype=np.uint8)
    img[:10, :10] = (255, 0, 0)  # red top-left block in the stored pixels
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.png"
    Image.fromarray(img).save(path, exif=exif.tobytes())
    got, conv = read_rgb8(path)
    expect = {1: img, 3: np.rot90(img, 2), 6: np.rot90(img, -1), 8: np.rot90(img, 1)}[orientation]
    np.testing.assert_array_equal(got, expect)
    assert ("exif-orientation" in conv) == (orientation != 1)
    assert probe(path)[:2] == got.shape[:2]  # the scan's size is the displayed size


def test_read_rgb8_records_cmyk_conversion(tmp_path):
    from PIL import Image

    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 12), (0, 255, 255, 0)).save(path)
    got, conv = read_rgb8(path)
    assert got.shape == (12, 16, 3) and "cmyk" in conv
    assert got[..., 0].mean() > 200 and got[..., 1].mean() < 60  # cyan-free, magenta+yellow: red


def test_centre_crop_takes_the_middle_and_keeps_short_axes_whole():
    a = np.arange(7 * 10 * 3).reshape(7, 10, 3)
    c = centre_crop(a, 4)
    assert c.shape == (4, 4, 3) and c.flags.c_contiguous
    assert np.array_equal(c, a[1:5, 3:7])  # rows from (7 − 4) // 2 = 1, columns from (10 − 4) // 2 = 3
    assert np.array_equal(centre_crop(a, 8), a[:, 1:9])  # 7 rows < 8: all of them
    assert centre_crop(a, None) is a and np.array_equal(centre_crop(a[:, :, 0], 2), a[2:4, 4:6, 0])
