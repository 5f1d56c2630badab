"""JPEG round trip vs independent decoders (simplejpeg's libjpeg-turbo, Pillow)."""

import io

import numpy as np
import pytest
from PIL import Image, JpegImagePlugin

from noisegen.isp.jpeg import jpeg_decode, jpeg_encode, jpeg_roundtrip

simplejpeg = pytest.importorskip("simplejpeg")


def _psnr(a, b):
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2))


@pytest.mark.parametrize("sub", ["4:2:0", "4:4:4"])
def test_decode_matches_simplejpeg_and_pillow(photo_u8, sub):
    data = jpeg_encode(photo_u8, 75, sub)
    ours = jpeg_decode(data)
    assert ours.dtype == np.uint8 and ours.shape == photo_u8.shape
    assert np.array_equal(ours, simplejpeg.decode_jpeg(data, colorspace="RGB"))
    assert np.array_equal(ours, np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    im = Image.open(io.BytesIO(data))
    assert JpegImagePlugin.get_sampling(im) == {"4:2:0": 2, "4:4:4": 0}[sub]


def test_quality_orders_fidelity(photo_u8):
    psnrs = [_psnr(jpeg_roundtrip(photo_u8, q), photo_u8) for q in (30, 60, 90, 100)]
    assert psnrs == sorted(psnrs)
    assert psnrs[-1] > 35


def test_bad_jpeg_arguments(photo_u8):
    for q in (0, 101, 50.5, True):
        with pytest.raises(ValueError, match="quality"):
            jpeg_encode(photo_u8, q)
    with pytest.raises(ValueError, match="subsampling"):
        jpeg_encode(photo_u8, 90, "4:1:1")
    with pytest.raises(TypeError, match="uint8"):
        jpeg_encode(photo_u8.astype(np.float32), 90)
    with pytest.raises(ValueError, match="decode"):
        jpeg_decode(b"\xff\xd8garbage")


@pytest.mark.parametrize("quality,subsampling", [(75, "4:2:0"), (92, "4:4:4"), (40, "4:2:2"), (100, "4:2:0")])
def test_jpeg_settings_reads_back_what_pillow_wrote(tmp_path, quality, subsampling):
    from noisegen.isp.jpeg import jpeg_settings

    img = (np.random.default_rng(0).random((24, 40, 3)) * 255).astype(np.uint8)
    path = tmp_path / "x.jpg"
    path.write_bytes(jpeg_encode(img, quality, subsampling))
    assert jpeg_settings(str(path)) == (quality, subsampling)
    Image.fromarray(img).save(tmp_path / "x.png")
    assert jpeg_settings(str(tmp_path / "x.png")) == (None, None)
