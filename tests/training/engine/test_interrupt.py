"""Ctrl-C and SIGTERM end a run with a checkpoint that --resume continues (trainer.engine.interrupt), and
a run that cannot finish on its device says so once, early, with settings that can (trainer.engine.pace)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from datagen import make_train_shards  # noqa: E402

from trainer.cli.train import interrupted_text  # noqa: E402
from trainer.engine.checkpoint import load_checkpoint  # noqa: E402
from trainer.engine.interrupt import RunInterrupted, StopRequest  # noqa: E402
from trainer.engine.loop import run  # noqa: E402
from trainer.engine.pace import CPU_PRESET, LIMIT_S, MIN_STEPS, WARM_STEPS, PaceCheck, pace_warning  # noqa: E402
from trainer.stages.sn import SNStage  # noqa: E402
from trainer.stages.sn_config import TrainConfig  # noqa: E402


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return make_train_shards(tmp_path_factory.mktemp("interrupt"))


def _cfg(shards: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data=(str(shards),), out=str(out), model="tiny", steps=50, batch=2, patch=32, device="cpu",
                workers=0, threads=1, log_every=1, ckpt_every=1000, progress=False, seed=4)
    return TrainConfig(**{**base, **kw})


def _signalling(signum: int, at: int):
    """An SN stage that sends ``signum`` to its own process while drawing the batch of 0-based step ``at``."""

    class Stage(SNStage):
        def batch(self, step):
            if step == at:
                os.kill(os.getpid(), signum)
            return super().batch(step)
    return Stage


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_finishes_the_step_writes_last_pt_and_stops(shards, tmp_path, signum):
    before = signal.getsignal(signum)
    said: list[str] = []
    with pytest.raises(RunInterrupted) as exc:
        run(_cfg(shards, tmp_path / "run"), _signalling(signum, 2), echo=said.append)
    assert exc.value.signum == signum and f"at step 3 of 50: wrote {tmp_path / 'run' / 'last.pt'}" in str(exc.value)
    assert signal.getsignal(signum) is before  # the caller's handler is back
    assert any("stopping after this step" in m for m in said)
    saved = load_checkpoint(tmp_path / "run" / "last.pt")
    events = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert saved["step"] == 3
    assert events[-1] == {"step": 3, "event": "interrupted", "signal": signal.Signals(signum).name}
    if signum == signal.SIGTERM:
        return  # the same path from here on
    # The checkpoint is the one a run told to stop there writes: resuming it continues exactly.
    ref = run(_cfg(shards, tmp_path / "ref"), SNStage, stop_after=3, echo=said.append)
    expected = load_checkpoint(ref.checkpoint)
    assert all(torch.equal(saved["model"][k], expected["model"][k]) for k in expected["model"])
    assert saved["data"] == expected["data"]
    resumed = run(_cfg(shards, tmp_path / "run"), SNStage, resume=True, stop_after=5, echo=said.append)
    again = run(_cfg(shards, tmp_path / "ref"), SNStage, resume=True, stop_after=5, echo=said.append)
    a, b = load_checkpoint(resumed.checkpoint)["model"], load_checkpoint(again.checkpoint)["model"]
    assert resumed.step == 5 and all(torch.equal(a[k], b[k]) for k in a)


def test_loader_workers_ignore_the_signals_that_reach_the_whole_process_group():
    from trainer.data.loader import _worker_init

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    threads = torch.get_num_threads()
    try:
        _worker_init(0)  # what a DataLoader worker runs first
        assert all(signal.getsignal(s) is signal.SIG_IGN for s in saved)
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
        torch.set_num_threads(threads)


def test_a_second_signal_stops_at_once_and_an_ignored_signal_stays_ignored():
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        with StopRequest(said.append) as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.due(1, 50) and stop.name == "SIGINT" and len(said) == 1
            os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C: Python's KeyboardInterrupt, now
            pytest.fail("the second signal did not stop")
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        with StopRequest(said.append) as stop:
            assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN  # nohup'ed: left alone
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
            assert not stop.due(1, 50)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_the_advice_after_an_interruption_is_resume_only_when_there_is_a_checkpoint(tmp_path):
    text = interrupted_text("sn", tmp_path, KeyboardInterrupt())
    assert "nothing was saved" in text and "--resume" not in text and "rerun the same command" in text
    (tmp_path / "last.pt").write_bytes(b"")
    text = interrupted_text("tf", tmp_path, RunInterrupted("interrupted (SIGINT) at step 7 of 9: wrote X", 2))
    assert text == f"interrupted (SIGINT) at step 7 of 9: wrote X; continue with: noisegen-train tf --out {tmp_path} " \
                   "--resume"


# ------------------------------------------------------------------------------------------------
# Pace


def test_the_paper_model_on_cpu_is_told_the_cpu_preset():
    # The README's `sn` line on 2 cores: about 0.15 steps/s, 300k steps (≈ 540 h).
    msg = pace_warning(rate=0.155, steps_left=300_000, device_type="cpu",
                       settings={"model": "paper", "patch": 64, "batch": 8})
    assert msg.startswith("warning: at 0.155 steps/s on cpu, the 300000 steps left take about 538 h (22 days)")
    assert "--model tiny --steps 3000 finishes in minutes" in msg and "--patch" not in msg
    msg = pace_warning(rate=0.02, steps_left=300_000, device_type="cpu",
                       settings={"model": "paper", "patch": 256, "batch": 16})
    assert "--model tiny --patch 64 --batch 8 --steps 3000" in msg


def test_the_tiny_model_without_steps_is_told_the_steps_of_an_hour():
    # The "tiny CPU" line without --steps: 300k steps at 3.3 steps/s ≈ 25 h.
    msg = pace_warning(rate=3.3, steps_left=300_000, device_type="cpu",
                       settings={"model": "tiny", "patch": 64, "batch": 8})
    assert "take about 25 h" in msg and "--steps 11000 takes about an hour at this pace" in msg
    assert "--model" not in msg.split(". ")[1]
    assert pace_warning(rate=3.3, steps_left=3000, device_type="cpu", settings={}) is None
    # A day is the CPU limit; a GPU gets two weeks before anything is said.
    assert pace_warning(rate=1.0, steps_left=int(LIMIT_S["cpu"]), device_type="cpu", settings={}) is None
    assert pace_warning(rate=1.0, steps_left=int(LIMIT_S["cpu"]) + 10, device_type="cpu", settings={})
    assert pace_warning(rate=1.0, steps_left=300_000, device_type="cuda", settings={}) is None
    assert "torchrun" in pace_warning(rate=0.1, steps_left=300_000, device_type="cuda", settings={})
    assert CPU_PRESET["model"] == "tiny"


def test_the_pace_is_measured_after_the_warm_up_and_said_once():
    said: list[str] = []
    now = [0.0]
    check = PaceCheck(0, 300_000, "cpu", {"model": "paper", "patch": 64, "batch": 8}, said.append,
                      clock=lambda: now[0])
    for step in range(1, WARM_STEPS + MIN_STEPS + 10):
        now[0] += 100.0 if step <= WARM_STEPS else 6.0  # slow start-up, then 6 s per step
        check.after_step(step)
    assert len(said) == 1 and "at 0.167 steps/s" in said[0]
    fast: list[str] = []
    check = PaceCheck(0, 300_000, "cpu", {}, fast.append, clock=lambda: now[0])
    for step in range(1, 100):
        now[0] += 0.01
        check.after_step(step)
    assert check.done and fast == []
