"""noisegen.dataset.png: standard PNG that Pillow decodes exactly, deterministic, bad input refused."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from noisegen.dataset.png import encode_png


def _decode(data: bytes) -> tuple[np.ndarray, str]:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return np.asarray(im), im.mode


@pytest.mark.parametrize("shape", [(1, 1), (37, 53), (64, 1), (1, 29), (256, 256)])
def test_rgb8_round_trips_through_pillow(shape):
    img = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3), dtype=np.uint8)
    data = encode_png(img)
    out, mode = _decode(data)
    assert mode == "RGB" and np.array_equal(out, img)
    assert encode_png(img) == data


def test_gray8_and_gray16_round_trip(photo_u8):
    gray = photo_u8[..., 1].copy()
    out, mode = _decode(encode_png(gray))
    assert mode == "L" and np.array_equal(out, gray)
    g16 = (np.arange(37 * 53, dtype=np.uint32).reshape(37, 53) * 37 % 65536).astype(np.uint16)
    g16[0, 0], g16[-1, -1] = 0, 65535
    out, mode = _decode(encode_png(g16))
    assert mode == "I;16" and np.array_equal(out.astype(np.uint16), g16)


def test_real_photo_matches_pillow_pixels_and_size(photo_u8):
    ours = encode_png(photo_u8)
    buf = io.BytesIO()
    Image.fromarray(photo_u8).save(buf, format="PNG", compress_level=1)
    assert np.array_equal(_decode(ours)[0], _decode(buf.getvalue())[0])
    assert len(ours) < 2 * len(buf.getvalue())


def test_chunks_are_well_formed():
    data = encode_png(np.zeros((3, 4, 3), np.uint8))
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, kinds = 8, []
    while pos < len(data):
        n = int.from_bytes(data[pos:pos + 4], "big")
        kind, body, crc = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n], data[pos + 8 + n:pos + 12 + n]
        assert int.from_bytes(crc, "big") == zlib.crc32(kind + body) & 0xFFFFFFFF
        kinds.append(kind)
        pos += 12 + n
    assert kinds == [b"IHDR", b"IDAT", b"IEND"]


@pytest.mark.parametrize("bad", [np.zeros((4, 4, 3), np.float32), np.zeros((4, 4, 4), np.uint8),
                                 np.zeros((0, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint16)])
def test_bad_input_is_refused(bad):
    with pytest.raises(ValueError, match="img"):
        encode_png(bad)


def test_zlib_ng_and_zlib_write_the_same_png_bytes(photo_u8):
    # The deflate backend (zlib-ng when installed) must not change a dataset's bytes.
    zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")
    from noisegen.dataset.png import deflate

    rng = np.random.default_rng(0)
    noisy = np.clip(photo_u8.astype(int) + rng.integers(-9, 10, photo_u8.shape), 0, 255).astype(np.uint8)
    for data in (photo_u8.tobytes(), noisy.tobytes(), rng.integers(0, 65535, 4000, dtype=np.uint16).tobytes()):
        assert deflate(data, backend=zlib_ng) == deflate(data, backend=zlib)
        assert zlib.decompress(deflate(data)) == data
