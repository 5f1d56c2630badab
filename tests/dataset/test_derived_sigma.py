"""σ maps derived instead of stored (`generate --sigma derived`): the reader recomputes σ_raw from the
clean source crop and the sample's parameters, in numpy (noisegen.isp.raw_sigma), to the stored codec's
step, without importing numba; the bytes shrink by about a third."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datagen import make_photos, small_config

import noisegen as ng
from noisegen.dataset.generate import GenerateConfig, generate
from noisegen.dataset.reader import list_shards
from noisegen.isp.raw_sigma import derive_sigma

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(ng.BUILTIN_PROFILES))
def test_derived_sigma_equals_the_pipelines_map(photo_u8, name):
    # Every code path of the pipeline (fused 8-bit path, colour steps, Poisson model): the map derived
    # from (clean, params) is the one synthesize computed, to float32 rounding.
    for i in range(6):
        p = ng.sample_params(ng.get_profile(name), np.random.default_rng([i, 5]))
        s = ng.synthesize(photo_u8, p, seed=i)
        np.testing.assert_allclose(derive_sigma(photo_u8, p.to_dict()), s.sigma_raw, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("derived")
    make_photos(root / "photos")
    out = {}
    for mode in ("stored", "derived"):
        cfg = small_config(root / "photos", root / mode, sigma=mode,
                           profile=ng.get_profile("unprocess"))
        generate(cfg, progress=False, echo=lambda s: None)
        out[mode] = root / mode
    return out


def test_derived_dataset_reads_like_the_stored_one(pair):
    stored = {s["key"]: s for s in ng.open_dataset(pair["stored"])}
    derived = {s["key"]: s for s in ng.open_dataset(pair["derived"])}
    assert stored.keys() == derived.keys() and len(stored) == 9
    for k, s in stored.items():
        d = derived[k]
        assert np.array_equal(s["clean"], d["clean"]) and np.array_equal(s["noisy"], d["noisy"])
        assert np.abs(s["sigma"] - d["sigma"]).max() <= 2.0**-15 + 1e-7  # the stored map's quantisation step / 2
    m = json.loads((pair["derived"] / "dataset.json").read_text())
    assert not any(k.startswith("sigma.") for k in m["members"]) and m["sigma_encoding"]["name"] == "derived-from-clean"
    assert list_shards(str(pair["derived"])).has_sigma() is True
    size = {mode: json.loads((p / "dataset.json").read_text())["counts"]["bytes"] for mode, p in pair.items()}
    assert size["derived"] < 0.8 * size["stored"]


def test_reading_derived_sigma_imports_no_numba(pair):
    code = ("import sys, noisegen as ng\n"
            f"n = sum(s['sigma'] is not None for s in ng.open_dataset({str(pair['derived'])!r}))\n"
            "print(n, sorted(m for m in sys.modules if m.split('.')[0] == 'numba'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0] == "9 []"


def test_derived_needs_the_source_target(tmp_path):
    with pytest.raises(ValueError, match="needs clean_target 'source'"):
        GenerateConfig(out=str(tmp_path), sigma="derived", clean_target="render")
    with pytest.raises(ValueError, match="sigma: expected one of"):
        GenerateConfig(out=str(tmp_path), sigma="maybe")


def test_the_sn_stage_trains_on_a_derived_dataset(pair, tmp_path):
    pytest.importorskip("torch")
    from trainer.stages.sn import train
    from trainer.stages.sn_config import TrainConfig

    r = train(TrainConfig(data=(str(pair["derived"]),), out=str(tmp_path / "run"), model="tiny", steps=4, batch=2,
                          patch=32, device="cpu", workers=0, threads=1, log_every=2, progress=False),
              echo=lambda m: None)
    assert r.step == 4 and r.loss is not None and np.isfinite(r.loss)
    report = json.loads((tmp_path / "run" / "data-rank0.json").read_text())
    assert report["damaged"] == 0
