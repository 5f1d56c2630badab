"""What every training run shares (trainer.engine.loop, trainer.engine.run_config, trainer.engine.run_folder,
trainer.cli): the caller's global state is restored, checkpoints are named by run folder or file, --patch is one
rule, and every computing command takes --threads."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from checkpoints import make_checkpoint, make_image, write_pairs  # noqa: E402
from datagen import make_train_shards  # noqa: E402

from trainer.cli import main as cli_main  # noqa: E402
from trainer.engine.run_folder import resolve_checkpoint  # noqa: E402
from trainer.stages.n2n import GAMMA_RATIO  # noqa: E402
from trainer.stages.sn import train  # noqa: E402
from trainer.stages.sn_config import TrainConfig  # noqa: E402
from trainer.stages.tf import transfer  # noqa: E402
from trainer.stages.tf_config import GAMMA_RATIO as TF_GAMMA_RATIO  # noqa: E402
from trainer.stages.tf_config import TFConfig  # noqa: E402


def _quiet(msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(SN shard set, SN checkpoint, real-pairs folder)."""
    root = tmp_path_factory.mktemp("engine")
    ds = make_train_shards(root)
    sn = make_checkpoint(root / "sn.pt")
    pairs = write_pairs(root / "pairs", {f"img{i}": make_image(40, 36, i) for i in range(2)})
    return ds, sn, pairs


def _global_state() -> tuple:
    return (torch.get_rng_state(), np.random.get_state(), random.getstate(), torch.get_num_threads(),
            torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)


def _assert_same(a: tuple, b: tuple) -> None:
    assert torch.equal(a[0], b[0]), "torch RNG state changed"
    assert a[1][0] == b[1][0] and np.array_equal(a[1][1], b[1][1]) and a[1][2:] == b[1][2:], "numpy RNG changed"
    assert a[2] == b[2], "Python RNG state changed"
    assert a[3:] == b[3:], "threads or cuDNN/TF32 flags changed"


def _run(data, stage: str, out: Path, *, resume: bool = False, **kw):
    """A 2-step run of ``stage`` ("sn" or a TF mode) on the module's data, one thread."""
    ds, sn, pairs = data
    common = dict(out=str(out), steps=2, batch=2, device="cpu", threads=1, progress=False)
    if stage == "sn":
        cfg = TrainConfig(**{**common, "data": (str(ds),), "model": "tiny", "patch": 32, "workers": 0, **kw})
        return train(cfg, resume=resume, echo=_quiet)
    cfg = TFConfig(**{**common, "init": str(sn), "data": str(pairs), "mode": stage, "patch": 16, **kw})
    return transfer(cfg, resume=resume, echo=_quiet)


@pytest.mark.parametrize("stage", ["sn", "tf"])
def test_a_run_holding_a_checkpoint_needs_resume_and_the_same_settings(data, tmp_path, stage):
    _run(data, stage, tmp_path / "r")
    with pytest.raises(FileExistsError, match="--resume"):
        _run(data, stage, tmp_path / "r")
    with pytest.raises(ValueError, match="cannot resume.*lr"):
        _run(data, stage, tmp_path / "r", steps=4, lr=1e-2, resume=True)
    assert _run(data, stage, tmp_path / "r", steps=4, resume=True).step == 4  # more steps: allowed


@pytest.mark.parametrize("stage", ["sn", "r"])
def test_a_run_leaves_the_global_state_as_it_found_it(data, tmp_path, stage):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # not the run's 1
        torch.manual_seed(11)
        np.random.seed(12)
        random.seed(13)
        before = _global_state()
        _run(data, stage, tmp_path / "run")  # seeds the RNGs, draws fresh weights from them, sets 1 thread
        after = _global_state()
        _assert_same(before, after)
        assert after[3] == 3
    finally:
        torch.set_num_threads(threads)


def test_a_run_folder_names_its_best_else_its_last_checkpoint(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(FileNotFoundError, match="holds no best.pt or last.pt"):
        resolve_checkpoint(run, "--init")
    (run / "last.pt").write_bytes(b"x")
    assert resolve_checkpoint(run) == run / "last.pt"
    (run / "best.pt").write_bytes(b"x")
    assert resolve_checkpoint(run) == run / "best.pt"
    assert resolve_checkpoint(run / "last.pt") == run / "last.pt"
    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        resolve_checkpoint(tmp_path / "missing.pt")


def test_eval_and_denoise_take_a_run_folder_or_a_file(data, tmp_path, capsys):
    _, sn, pairs = data
    run = tmp_path / "run"
    run.mkdir()
    assert cli_main(["eval", str(run), "--pairs", str(pairs), "--device", "cpu", "--no-progress"]) == 2
    assert "holds no best.pt or last.pt" in capsys.readouterr().err
    (run / "last.pt").write_bytes(sn.read_bytes())
    for checkpoint in (run, sn):
        assert cli_main(["eval", str(checkpoint), "--pairs", str(pairs), "--device", "cpu", "--threads", "1",
                         "--no-progress"]) == 0
        assert "overall" in capsys.readouterr().out
        out = tmp_path / f"den-{checkpoint.name}"
        assert cli_main(["denoise", str(checkpoint), str(pairs / "noisy"), "--out", str(out), "--device", "cpu",
                         "--threads", "1", "--no-progress"]) == 0
        assert sorted(p.name for p in out.iterdir()) == ["img0_real_denoised.png", "img1_real_denoised.png"]


@pytest.mark.parametrize(("command", "patch", "multiple", "near"), [
    (["sn", "--data", "DS", "--model", "tiny"], "66", 4, "64 or 68"),
    (["tf", "--init", "SN", "--data", "PAIRS"], "66", 4, "64 or 68"),
    (["tf", "--init", "SN", "--data", "PAIRS", "--mode", "n2n"], "20", 8, "16 or 24"),
    (["tf", "--init", "SN", "--data", "PAIRS", "--mode", "n2n"], "12", 8, "8 or 16"),
])
def test_a_patch_off_the_multiple_is_an_error_never_rounded(data, tmp_path, capsys, command, patch, multiple, near):
    ds, sn, pairs = data
    args = [{"DS": str(ds), "SN": str(sn), "PAIRS": str(pairs)}.get(a, a) for a in command]
    out = tmp_path / "run"
    assert cli_main(args + ["--patch", patch, "--out", str(out), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"multiple of {multiple}" in err and near in err and patch in err, err
    assert not out.exists()


def test_every_computing_command_takes_threads(capsys):
    for command in ("sn", "tf", "eval", "denoise"):
        with pytest.raises(SystemExit):
            cli_main([command, "--help"])
        assert "--threads" in capsys.readouterr().out, command


def test_configs_share_the_engine_fields_and_defaults():
    tf = TFConfig(init="sn.pt", data="pairs", out="o")
    assert (tf.steps, tf.batch, tf.patch, tf.clip_norm, tf.lr) == (2000, 8, 64, 0.0, 1e-4)
    assert TF_GAMMA_RATIO == GAMMA_RATIO == tf.n2n_ratio
    resolved = tf.resolved("cpu")
    assert resolved.amp == "none" and resolved.channels_last and resolved.threads >= 1
    assert TFConfig.from_dict(resolved.to_dict()) == resolved
    with pytest.raises(ValueError, match="mode"):
        TFConfig(init="sn.pt", data="pairs", out="o", mode="x")
    with pytest.raises(ValueError, match="unknown fields"):
        TFConfig.from_dict({**tf.to_dict(), "crop": 64})
    assert TrainConfig.RESUMABLE - TFConfig.RESUMABLE == {"workers"}


def test_curves_of_a_negative_loss_are_drawn_without_a_warning(tmp_path):
    """D-BSN's loss is a negative log-likelihood, below zero once trained: a log axis cannot show it, so the loss
    axis is linear then (and log for a positive loss, as before)."""
    import warnings

    from trainer.engine.metrics import plot_curves

    for name, losses in (("neg", [-3.0, -8.5, -11.1]), ("pos", [0.2, 0.05, 0.01])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            plot_curves([{"step": i, "loss": v} for i, v in enumerate(losses)], tmp_path / f"{name}.png")
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
