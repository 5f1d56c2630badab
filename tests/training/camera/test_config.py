"""CameraConfig and the scale presets of `noisegen-train camera` (trainer.camera.config)."""

from __future__ import annotations

import os

import pytest

from trainer.camera.config import SCALES, CameraConfig


def test_presets_are_the_documented_settings():
    cpu = SCALES["cpu"]  # the camera loop's measured setting (benchmarks/RESULTS.md, issue 11.3)
    assert (cpu.model, cpu.steps, cpu.batch, cpu.patch, cpu.lr, cpu.gen_patch, cpu.k, cpu.test_crop) == (
        "small", 500, 8, 64, 1e-3, 80, 4, 256)
    gpu = SCALES["gpu"]  # the paper's: 13.7M AINDNet at 256², TrainConfig's 300k steps, whole images
    assert (gpu.model, gpu.steps, gpu.batch, gpu.patch, gpu.test_crop, gpu.eval_tile) == ("paper", 300_000, 16, 256,
                                                                                         None, None)
    quick = SCALES["quick"]
    assert quick.steps < 20 and quick.fit == "quick" and quick.max_groups == 1


def test_auto_scale_overrides_and_content():
    c = CameraConfig(folder="photos", out="run")
    assert c.resolved_scale(cuda=False).name == "cpu" and c.resolved_scale(cuda=True).name == "gpu"
    s = CameraConfig(folder="photos", out="run", scale="cpu", steps=3000, test_crop=0, k=2).resolved_scale(False)
    assert (s.steps, s.tf_steps, s.test_crop, s.realism_crop, s.k) == (3000, 3000, None, None, 2)
    a = CameraConfig(folder="photos", out="run", threads=1, workers=0, progress=False, device="cpu").content(s)
    b = CameraConfig(folder="photos", out="elsewhere", threads=2).content(s)
    assert a == b  # execution fields do not decide the results
    assert a["folder"] == os.path.abspath("photos") and a["scale"]["steps"] == 3000


@pytest.mark.parametrize("kw, message", [({"scale": "huge"}, "scale: expected one of auto, quick, cpu, gpu"),
                                         ({"test_crop": 8}, "test_crop: expected 0"),
                                         ({"steps": 0}, "steps: expected an integer >= 1"),
                                         ({"device": "tpu"}, "device: expected one of")])
def test_bad_values_say_what_was_expected(kw, message):
    with pytest.raises(ValueError, match=message):
        CameraConfig(folder="photos", out="run", **kw)
