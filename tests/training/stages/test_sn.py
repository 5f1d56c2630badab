"""The SN stage on the training engine, on CPU (trainer.stages.sn, trainer.engine.loop, trainer.engine.checkpoint,
trainer.cli): it learns, resumes to bit-identical weights, survives damaged shards, validates, and writes safe
checkpoints."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from datagen import make_photos, make_train_shards  # noqa: E402

import noisegen as ng  # noqa: E402
from noisegen.dataset.reader import DamagedDataWarning  # noqa: E402
from trainer.cli import main as cli_main  # noqa: E402
from trainer.engine.checkpoint import CHECKPOINT_FORMAT, load_checkpoint  # noqa: E402
from trainer.engine.global_state import rng_state, set_rng_state  # noqa: E402
from trainer.engine.metrics import psnr_u8, read_metrics  # noqa: E402
from trainer.stages.sn import train  # noqa: E402
from trainer.stages.sn_config import TrainConfig  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """12 patches of 48×48 in 6 shards, strong fixed noise (σ_s 0.12, σ_c 0.04 on every sample)."""
    return make_train_shards(tmp_path_factory.mktemp("trainer_loop"))


def _config(dataset: Path, out: Path, **kw) -> TrainConfig:
    # One torch thread: stable speed on a small shared machine (see TrainConfig.threads).
    base = dict(data=(str(dataset),), out=str(out), model="tiny", steps=20, batch=4, patch=32, lr=2e-3,
                log_every=5, ckpt_every=1000, val_every=1000, progress=False, device="cpu", workers=0, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def _quiet(msg: str) -> None:
    pass


def test_tiny_model_overfits_a_tiny_shard_set(dataset, tmp_path):
    r = train(_config(dataset, tmp_path / "run", steps=150, batch=8, log_every=10), echo=_quiet)
    losses = [rec["loss"] for rec in read_metrics(tmp_path / "run" / "metrics.jsonl") if "loss" in rec]
    assert r.step == 150 and len(losses) == 15 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0], losses
    # and it denoises: the L1 it reaches is below the L1 of the noisy input itself
    l1_noisy = sum(abs(s["noisy"].astype(float) - s["clean"]).mean() / 255 for s in ng.open_dataset(dataset)) / 12
    assert losses[-1] < 0.8 * l1_noisy, (losses[-1], l1_noisy)


def test_resume_reaches_bit_identical_weights(dataset, tmp_path):
    cfg = dict(steps=16, workers=2, ckpt_every=4, val=(str(dataset),), val_every=6, val_max_images=2)
    a = train(_config(dataset, tmp_path / "a", **cfg), echo=_quiet)
    b1 = train(_config(dataset, tmp_path / "b", **cfg), stop_after=7, echo=_quiet)  # odd: loader rotation
    assert b1.step == 7 and load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 7
    b2 = train(_config(dataset, tmp_path / "b", **cfg), resume=True, echo=_quiet)
    assert a.step == b2.step == 16
    wa, wb = load_checkpoint(a.checkpoint), load_checkpoint(b2.checkpoint)
    assert wa["model"].keys() == wb["model"].keys()
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k]), k
    for sa, sb in zip(wa["optimizer"]["state"].values(), wb["optimizer"]["state"].values()):
        assert all(torch.equal(sa[n], sb[n]) for n in sa)
    assert wa["data"] == wb["data"]
    # the metrics of the resumed run continue the interrupted one without repeating steps
    steps = [rec["step"] for rec in read_metrics(tmp_path / "b" / "metrics.jsonl") if "loss" in rec]
    assert steps == sorted(set(steps)) and steps[-1] == 16
    # log intervals that lie wholly before or after the interruption have identical means
    ra = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "a" / "metrics.jsonl") if "loss" in r}
    rb = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "b" / "metrics.jsonl") if "loss" in r}
    assert [ra[s] for s in (5, 15, 16)] == [rb[s] for s in (5, 15, 16)]


def test_checkpoint_is_weights_only_with_every_state(dataset, tmp_path):
    r = train(_config(dataset, tmp_path / "r", steps=3), echo=_quiet)
    ck = torch.load(r.checkpoint, weights_only=True)  # no arbitrary unpickling needed
    assert ck["format"] == CHECKPOINT_FORMAT and ck["step"] == 3
    assert {"model", "optimizer", "scheduler", "rng", "data", "train_config", "model_config", "versions"} <= set(ck)
    assert TrainConfig.from_dict(ck["train_config"]).batch == 4 and ck["model_config"]["widths"] == [8, 16, 32]
    assert ck["scheduler"]["last_epoch"] == 3 and ck["versions"]["torch"] == str(torch.__version__)
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")]
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def test_rng_state_round_trip():
    import random

    import numpy as np

    state = rng_state()
    a = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(state)
    b = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


def test_damaged_shard_is_reported_and_training_goes_on(dataset, tmp_path):
    ds = Path(shutil.copytree(dataset, tmp_path / "ds"))
    bad = ds / "shard-000003.tar"
    bad.write_bytes(bad.read_bytes()[:5000])
    with pytest.warns(DamagedDataWarning, match="shard-000003.tar"):
        r = train(_config(ds, tmp_path / "run", steps=12, shards_per_round=6), echo=_quiet)
    assert r.step == 12
    report = json.loads((tmp_path / "run" / "data-rank0.json").read_text())
    assert report["damaged"] >= 1 and any("shard-000003.tar" in m for m in report["messages"])
    events = [rec for rec in read_metrics(tmp_path / "run" / "metrics.jsonl") if rec.get("event") == "damaged"]
    assert events and "shard-000003.tar" in events[0]["message"]


def test_validation_curves_and_best_checkpoint(dataset, tmp_path):
    val = tmp_path / "val"
    make_photos(val / "clean")
    pairs = val / "pairs"
    for sub, delta in (("noisy", 9), ("gt", 0)):
        (pairs / sub).mkdir(parents=True)
        for p in sorted((val / "clean").rglob("*.png"))[:2]:
            from PIL import Image

            img = Image.open(p)
            Image.eval(img, lambda v: min(255, v + delta)).save(pairs / sub / f"{p.stem}.png")
    r = train(_config(dataset, tmp_path / "run", steps=6, val=(str(val / "clean"), str(pairs)), val_every=3,
                      val_crop=32), echo=_quiet)
    recs = read_metrics(tmp_path / "run" / "metrics.jsonl")
    vals = [rec for rec in recs if "val/clean/psnr" in rec]
    assert [v["step"] for v in vals] == [3, 6] and all("val/pairs/psnr_noisy" in v for v in vals)
    assert set(r.val) == {"clean", "pairs"} and r.best_psnr == max(v["val/clean/psnr"] for v in vals)
    assert (tmp_path / "run" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert load_checkpoint(tmp_path / "run" / "best.pt")["metrics"]["best_psnr"] == r.best_psnr
    header = recs[0]
    assert header["event"] == "start" and header["config"]["threads"] == 1 and header["parameters"] == 76_342


def test_bf16_autocast_and_nchw_run_on_cpu(dataset, tmp_path):
    r = train(_config(dataset, tmp_path / "run", steps=3, amp="bf16", channels_last=False), echo=_quiet)
    assert r.step == 3 and math.isfinite(r.loss)


@pytest.mark.skipif(not os.environ.get("NOISEGEN_TEST_COMPILE"), reason="torch.compile on CPU takes minutes; "
                    "set NOISEGEN_TEST_COMPILE=1 to run it")
def test_compiled_model_trains(dataset, tmp_path):
    r = train(_config(dataset, tmp_path / "run", steps=2, compile=True), echo=_quiet)
    assert r.step == 2 and math.isfinite(r.loss)


def test_lr_schedule():
    cfg = TrainConfig(data=("d",), out="o", steps=1000, warmup_steps=10, lr=1e-3).resolved("cpu")
    assert cfg.lr_factor(0) == pytest.approx(0.1) and cfg.lr_factor(9) == pytest.approx(1.0)
    assert cfg.lr_factor(10) == pytest.approx(1.0) and cfg.lr_factor(999) == pytest.approx(0.01, abs=1e-4)
    assert cfg.lr_factor(505) == pytest.approx(0.505, abs=1e-3)
    step = dataclasses.replace(cfg, schedule="step", warmup_steps=0)
    assert [step.lr_factor(s) for s in (0, 499, 500, 750, 999)] == [1.0, 1.0, 0.5, 0.25, 0.25]
    assert TrainConfig(data=("d",), out="o").resolved("cuda").batch == 16
    assert TrainConfig(data=("d",), out="o").resolved("cpu").patch == 64


def test_asymm_weight_is_the_lambda_of_the_logged_loss(dataset, tmp_path):
    train(_config(dataset, tmp_path / "run", steps=10, asymm_weight=10.0), echo=_quiet)
    recs = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if "loss" in r]
    assert len(recs) == 2
    for r in recs:  # interval means of a linear combination: loss = l1 + λ·asymm exactly (float32 sums)
        assert r["loss"] == pytest.approx(r["l1"] + 10.0 * r["asymm"], rel=1e-5)
        assert 10.0 * r["asymm"] > 1e-3 * r["l1"]  # the σ term is not negligible at this λ
    with pytest.raises(ValueError, match="asymm_weight"):
        TrainConfig(data=("d",), out="o", asymm_weight=-1)


def test_config_validation_messages():
    with pytest.raises(ValueError, match="multiple of 4"):
        TrainConfig(data=("d",), out="o", patch=30)
    with pytest.raises(ValueError, match="model"):
        TrainConfig(data=("d",), out="o", model="huge")
    with pytest.raises(ValueError, match="unknown fields"):
        TrainConfig.from_dict({"data": ["d"], "out": "o", "lerning_rate": 1})


def test_psnr():
    import numpy as np

    a = np.zeros((4, 4, 3), np.uint8)
    assert psnr_u8(a, a) == 100.0
    assert psnr_u8(a, a + 1) == pytest.approx(20 * math.log10(255))


# ------------------------------------------------------------------------------------------------
# Command line


def test_cli_help_lists_every_option(capsys):
    with pytest.raises(SystemExit) as e:
        cli_main(["sn", "--help"])
    assert e.value.code == 0
    text = capsys.readouterr().out
    for opt in ("--data", "--out", "--model", "--steps", "--batch", "--patch", "--lr", "--val", "--device", "--amp",
                "--compile", "--resume", "--workers", "--schedule", "--clip-norm", "--threads", "--stop-after"):
        assert opt in text


def test_cli_rejects_unknown_options_and_reports_errors(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli_main(["sn", "--data", "x", "--out", str(tmp_path), "--learning-rate", "1"])
    assert e.value.code == 2 and "unrecognized arguments" in capsys.readouterr().err
    assert cli_main(["sn", "--out", str(tmp_path / "r")]) == 2
    assert "--data is required" in capsys.readouterr().err
    assert cli_main(["sn", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_brace_pattern_beyond_the_last_shard_is_one_line(dataset, tmp_path, capsys):
    # the torchrun example's pattern on a dataset of 6 shards: which shard is missing, named vs found
    pattern = str(dataset / "shard-{000000..000999}.tar")
    assert cli_main(["sn", "--data", pattern, "--out", str(tmp_path / "r"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "shard-000006.tar" in err and "names 1000 shards and 6 of them exist" in err
    assert f"give the dataset folder {str(dataset)!r} instead" in err


def test_cli_train_then_resume_with_the_checkpoints_settings(dataset, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["sn", "--data", str(dataset), "--out", str(out), "--model", "tiny", "--steps", "6", "--batch", "2",
            "--patch", "32", "--device", "cpu", "--workers", "0", "--threads", "1", "--no-progress",
            "--stop-after", "3"]
    assert cli_main(args) == 0
    assert "step 3" in capsys.readouterr().out
    assert cli_main(["sn", "--out", str(out), "--resume", "--no-progress"]) == 0  # everything else from last.pt
    assert "step 6" in capsys.readouterr().out
    ck = load_checkpoint(out / "last.pt")
    assert ck["step"] == 6 and ck["train_config"]["batch"] == 2 and ck["train_config"]["model"] == "tiny"
