"""Hostile and unlucky inputs to the trainer (issue 12, items 1, 2, 8): a non-finite loss never reaches a
checkpoint, a dataset with nothing usable ends the run with one message instead of hanging, a
checkpoint cannot make the loader allocate a model it does not hold, and Ctrl-C before the first
checkpoint leaves one that the advised `--resume` continues."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from datagen import make_train_shards  # noqa: E402

import trainer.data.stream  # noqa: E402
from hostile.helpers import ROOT  # noqa: E402
from noisegen.dataset.pack_pairs import PackPairsConfig, pack_pairs  # noqa: E402
from trainer.cli import main as cli_main  # noqa: E402
from trainer.engine.checkpoint import load_checkpoint  # noqa: E402
from trainer.engine.loop import NonFiniteLossError, run  # noqa: E402
from trainer.engine.run_folder import resolve_checkpoint  # noqa: E402
from trainer.infer.inference import load_model  # noqa: E402
from trainer.models.aindnet import AINDNet  # noqa: E402
from trainer.models.config import MODEL_CONFIGS  # noqa: E402
from trainer.stages.sn import SNStage, train  # noqa: E402
from trainer.stages.sn_config import TrainConfig  # noqa: E402


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return make_train_shards(tmp_path_factory.mktemp("hostile_train"))


def _cfg(data, out, **kw) -> TrainConfig:
    data = tuple(map(str, data)) if isinstance(data, (list, tuple)) else (str(data),)
    base = dict(data=data, out=str(out), model="tiny", steps=6, batch=2, patch=32, device="cpu", workers=0,
                threads=1, log_every=4, ckpt_every=2, progress=False)
    return TrainConfig(**{**base, **kw})


class _PoisonedSN(SNStage):
    """The SN stage whose loss turns NaN from 0-based step 2 on (as a diverging run's would)."""

    def loss(self, forward, batch, step):
        loss, parts = super().loss(forward, batch, step)
        if step >= 2:
            loss = loss * math.nan
            parts = {k: v * math.nan for k, v in parts.items()}
        return loss, parts


def test_a_non_finite_loss_stops_the_run_before_any_checkpoint_holds_it(shards, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="between steps 2 and 4"):
        run(_cfg(shards, out), _PoisonedSN, echo=lambda m: None)
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["step"] == 2  # written after step 2; step 4's checkpoint (NaN weights) never was
    assert all(torch.isfinite(t).all() for t in ckpt["model"].values())
    events = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any(e.get("event") == "non-finite" for e in events)


def test_a_pack_pairs_dataset_given_to_sn_is_refused_with_one_line(tmp_path, capsys):
    from datagen import make_photos

    photos = make_photos(tmp_path / "p")
    pairs = tmp_path / "pairs"
    for role in ("noisy", "gt"):
        (pairs / role).mkdir(parents=True)
        for i, p in enumerate(photos):
            (pairs / role / f"img{i}_{'real' if role == 'noisy' else 'mean'}.png").write_bytes(p.read_bytes())
    pack_pairs(PackPairsConfig(pairs=(str(pairs),), out=str(tmp_path / "packed"), patch=32), progress=False,
               echo=lambda m: None)
    code = cli_main(["sn", "--data", str(tmp_path / "packed"), "--out", str(tmp_path / "r"), "--model", "tiny",
                     "--device", "cpu", "--steps", "2", "--patch", "32", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "no σ maps" in err and "noisegen-train tf" in err and len(err.strip().splitlines()) == 1


def test_a_crop_larger_than_the_samples_is_refused_up_front(shards, tmp_path):
    with pytest.raises(ValueError, match="smaller than the 64×64 training crop"):
        train(_cfg(shards, tmp_path / "r", patch=64), echo=lambda m: None)


def test_shards_with_nothing_usable_end_the_run_with_a_message(shards, tmp_path, monkeypatch):
    # Shard files given without their dataset folder skip the manifest checks: the stream itself
    # must notice that nothing is usable (here every sample is smaller than the crop, and in the
    # second case every shard is garbage) and stop the run instead of looping forever.
    monkeypatch.setattr(trainer.data.stream, "MAX_UNUSABLE", 40)
    files = sorted(str(p) for p in shards.glob("shard-*.tar"))
    with pytest.raises(ValueError, match="no usable training sample in the last 40 tries.*smaller than"):
        train(_cfg(files, tmp_path / "big", patch=64), echo=lambda m: None)
    junk = []
    for i in range(3):
        junk.append(tmp_path / f"junk{i}.tar")
        junk[-1].write_bytes(b"not a tar file" * 100)
    with pytest.raises(ValueError, match="no usable training sample.*unreadable shard"):
        train(_cfg([str(j) for j in junk], tmp_path / "junk"), echo=lambda m: None)


def test_a_checkpoint_cannot_ask_for_a_model_it_does_not_hold(tmp_path):
    tiny = MODEL_CONFIGS["tiny"]()
    weights = AINDNet(tiny).state_dict()
    huge = dict(tiny.to_dict(), widths=[60000, 120000, 240000])  # ≈ 100 GB of float32 weights
    path = tmp_path / "hostile.pt"
    torch.save({"format": "noisegen-trainer-checkpoint/1", "step": 1, "model": weights, "model_config": huge,
                "train_config": {}}, path)
    tracemalloc.start()
    with pytest.raises(ValueError, match="do not match its model configuration"):
        load_model(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 100 * 2**20  # nothing of the asked-for size was allocated
    many = dict(tiny.to_dict(), encoder_blocks=[10**6] * 3, decoder_blocks=[10**6] * 2)
    torch.save({"format": "noisegen-trainer-checkpoint/1", "step": 1, "model": weights, "model_config": many,
                "train_config": {}}, path)
    with pytest.raises(ValueError, match="stores only"):
        load_model(path)


def test_damaged_checkpoint_configurations_give_one_line(tmp_path, capsys):
    tiny = MODEL_CONFIGS["tiny"]()
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    torch.save({"format": "noisegen-trainer-checkpoint/1", "step": 1, "model": AINDNet(tiny).state_dict(),
                "model_config": {"widths": "x"}, "train_config": {"steps": "abc", "model": 5}, "stage": "sn"},
               run_dir / "last.pt")
    for argv, what in ((["sn", "--out", str(run_dir), "--resume", "--device", "cpu"], "training configuration"),
                       (["denoise", str(run_dir), str(run_dir / "x.png"), "--out", str(tmp_path / "o")],
                        "damaged model configuration")):
        assert cli_main(argv) == 2
        err = capsys.readouterr().err
        assert what in err and len(err.strip().splitlines()) == 1, err


def test_ctrl_c_before_the_first_checkpoint_with_a_loader_worker_leaves_one_to_resume(shards, tmp_path):
    # SIGTERM takes the same path (tests/training/engine/test_interrupt.py), and workers ignore it too.
    signum = signal.SIGINT
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "trainer", "sn", "--data", str(shards), "--out", str(out), "--model", "tiny",
           "--patch", "16", "--batch", "2", "--steps", "100000", "--workers", "1", "--threads", "1", "--device", "cpu",
           "--log-every", "1", "--no-progress"]  # the first periodic checkpoint would come at step 5000
    # A shell without job control starts background commands with SIGINT ignored, and exec keeps that
    # (the run would then keep it ignored): give the run a terminal's default disposition.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    metrics, deadline = out / "metrics.jsonl", time.monotonic() + 300
    while not (metrics.exists() and metrics.read_text().count('"loss"') >= 3):
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "no step was logged"
        time.sleep(0.05)
    os.killpg(proc.pid, signum)  # Ctrl-C in a terminal: the whole process group, main process and loader worker
    _, err = proc.communicate(timeout=300)
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum and "Traceback" not in err, err
    assert err.count(f"{name}: stopping after this step") == 1, err  # the main process; the worker ignores it
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"interrupted ({name}) at step ") and last.endswith(
        f"continue with: noisegen-train sn --out {out} --resume"), last
    step = load_checkpoint(out / "last.pt")["step"]
    assert 3 <= step < 5000
    assert resolve_checkpoint(out, "--init") == out / "last.pt"  # the next step, `tf --init RUN`, finds it
    # Following the advice (one step more, to keep the test short) continues from that step.
    assert cli_main(["sn", "--out", str(out), "--resume", "--stop-after", str(step + 1)]) == 0
    assert load_checkpoint(out / "last.pt")["step"] == step + 1
