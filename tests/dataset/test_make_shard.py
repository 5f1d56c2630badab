"""Shard encoding: σ map codec (≤ 1e-4), deterministic tar writer read by tarfile and tar."""

import hashlib
import io
import subprocess
import tarfile

import numpy as np
import pytest
from PIL import Image

import noisegen as ng
from noisegen.dataset.format import SIGMA_STEP, decode_sigma, encode_sigma
from noisegen.dataset.png import encode_png
from noisegen.dataset.writer import DeterministicTarWriter


@pytest.mark.parametrize("profile", ["cbdnet", "unprocess", "gauss", "poisson5_50"])
def test_sigma_png_decodes_within_1e4_of_the_pipeline_sigma(photo_u8, profile):
    rng = np.random.default_rng(5)
    for k in range(4):
        s = ng.synthesize(photo_u8, ng.sample_params(ng.get_profile(profile), rng), seed=k)
        data, step = encode_sigma(s.sigma_raw)
        back = decode_sigma(data, step)
        assert back.shape == s.sigma_raw.shape == (37, 53, 3) and back.dtype == np.float32
        err = np.abs(back.astype(np.float64) - s.sigma_raw.astype(np.float64)).max()
        assert step == SIGMA_STEP and err <= step / 2 + 1e-7 and err <= 1e-4


def test_sigma_png_is_a_16bit_gray_png_with_planes_stacked():
    sigma = np.zeros((5, 7, 3), np.float32)
    sigma[..., 0], sigma[..., 1], sigma[..., 2] = 0.01, 0.02, 0.5
    data, step = encode_sigma(sigma)
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "PNG" and im.mode == "I;16" and im.size == (7, 15)
        planes = np.asarray(im)
    assert np.allclose(planes[:5] * step, 0.01, atol=step) and np.allclose(planes[10:] * step, 0.5, atol=step)


def test_large_sigma_gets_a_coarser_power_of_two_step():
    sigma = np.full((4, 4, 3), 9.0, np.float32)
    data, step = encode_sigma(sigma)
    assert step == 2.0**-12 and np.abs(decode_sigma(data, step) - 9.0).max() <= step / 2


def test_sigma_codec_rejects_bad_input():
    with pytest.raises(ValueError, match="shape"):
        encode_sigma(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=">= 0"):
        encode_sigma(np.full((2, 2, 3), -1.0))
    with pytest.raises(ValueError, match="16-bit"):
        decode_sigma(encode_png(np.zeros((3, 3, 3), np.uint8)), SIGMA_STEP)


def test_tar_writer_is_deterministic_and_readable(tmp_path):
    def write(path):
        with open(path, "wb") as f:
            w = DeterministicTarWriter(f)
            w.add("s000000001.json", b'{"a": 1}')
            w.add("s000000001.clean.png", bytes(range(256)) * 3)
            return w.close()

    sha_a, sha_b = write(tmp_path / "a.tar"), write(tmp_path / "b.tar")
    data = (tmp_path / "a.tar").read_bytes()
    assert sha_a == sha_b == hashlib.sha256(data).hexdigest() and data == (tmp_path / "b.tar").read_bytes()
    assert len(data) % 10240 == 0
    with tarfile.open(tmp_path / "a.tar") as t:
        infos = t.getmembers()
        assert [i.name for i in infos] == ["s000000001.json", "s000000001.clean.png"]
        assert all(i.mtime == 0 and i.uid == 0 and i.gid == 0 and i.uname == "" for i in infos)
        assert t.extractfile(infos[1]).read() == bytes(range(256)) * 3
    listing = subprocess.run(["tar", "-tf", str(tmp_path / "a.tar")], capture_output=True, text=True, check=True)
    assert listing.stdout.split() == ["s000000001.json", "s000000001.clean.png"]
