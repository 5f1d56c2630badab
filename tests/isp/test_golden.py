"""Golden bytes: the paper's profiles give exactly the output they gave before correlated noise, sharpening and
read_scale existed (issue 18). The hashes were computed with main's code without them (synthesize: commit a54a146;
generate: 9d60330, after main's index.parquet typing change):
synthesize on a fixed crop (clean, noisy and σ map; both clean targets), and a whole `generate` (shards and
index.parquet) with the cbdnet profile (σ stored) and the unprocess profile (σ derived)."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image
from skimage import data

import noisegen as ng
from noisegen.dataset.generate import GenerateConfig, generate

SYNTH_GOLDEN = ["eb79cfad3681996b", "f41c7d66bf29df6a", "4a52817fc66a2baa", "26f83ce613e77f07", "f41c7d66bf29df6a",
                "64bb827215e0de97", "fa95e12dd1c2cbbb", "9b13901150f57d5a", "378e4b4b661f1e46", "d313f7e348876267",
                "1342d47dcc703578", "9d0af21f620d3769"]
GENERATE_GOLDEN = {"cbdnet": "756388963dbc55af", "unprocess": "ed205d156d23c690"}


def test_paper_profiles_synthesize_the_same_bytes():
    img = np.ascontiguousarray(data.astronaut()[100:164, 150:230])
    got = []
    for prof in ("cbdnet", "unprocess"):
        for target in ("source", "render"):
            for i in range(3):
                p = ng.sample_params(ng.get_profile(prof), np.random.default_rng([11, i]))
                s = ng.synthesize(img, p, seed=[11, i], clean_target=target)
                h = hashlib.sha256(s.clean.tobytes() + s.noisy.tobytes() + s.sigma_raw.tobytes())
                got.append(h.hexdigest()[:16])
    assert got == SYNTH_GOLDEN


def test_paper_profiles_generate_the_same_dataset(tmp_path):
    src = tmp_path / "photos"
    src.mkdir()
    for k, (y, x) in enumerate(((0, 0), (200, 150), (300, 300))):
        Image.fromarray(np.ascontiguousarray(data.astronaut()[y:y + 90, x:x + 120])).save(src / f"p{k}.png")
    for prof, sigma in (("cbdnet", "stored"), ("unprocess", "derived")):
        out = tmp_path / prof / "ds"
        generate(GenerateConfig(out=str(out), images=(str(src),), profile=ng.get_profile(prof), patch=48,
                                patches_per_image=2, seed=5, sigma=sigma, workers=1), progress=False,
                 echo=lambda m: None)
        h = hashlib.sha256()
        for f in sorted(out.glob("shard-*.tar")) + [out / "index.parquet"]:
            h.update(f.read_bytes())
        assert h.hexdigest()[:16] == GENERATE_GOLDEN[prof], prof
