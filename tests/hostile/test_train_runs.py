"""Issue 21, the trainer: damaged samples reported once (count, first keys with reasons, in metrics and the
final line), one live run per run folder, a resume on changed data refused, non-finite checkpoint weights
refused everywhere, streams that yield nothing give up, and a few one-line messages."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from checkpoints import make_checkpoint, make_image, write_pairs  # noqa: E402
from datagen import make_train_shards  # noqa: E402

from noisegen.dataset.generate import GenerateConfig, generate  # noqa: E402
from noisegen.isp.profiles import fix, get_profile  # noqa: E402
from noisegen.runlock import FolderLock  # noqa: E402
from trainer.cli import main as cli_main  # noqa: E402
from trainer.engine.metrics import MetricsLog, read_metrics  # noqa: E402
from trainer.engine.run_folder import LOCK  # noqa: E402

from .helpers import ROOT, edit_json, hang_guard, rewrite_shard  # noqa: E402

TINY = ["--model", "tiny", "--batch", "2", "--patch", "32", "--device", "cpu", "--workers", "0", "--threads", "1",
        "--no-progress", "--log-every", "2", "--ckpt-every", "2"]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return make_train_shards(tmp_path_factory.mktemp("train_runs"))


def _sn(capsys, data, out, *extra) -> tuple[int, str]:
    capsys.readouterr()
    code = cli_main(["sn", "--data", str(data), "--out", str(out), *TINY, *extra])
    return code, capsys.readouterr().err


def _one_line(err: str) -> str:
    """The one error line of a command's stderr (progress lines before it aside), asserting no traceback."""
    lines = [ln for ln in err.strip().splitlines() if "error:" in ln]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_a_damaged_sample_is_reported_once_with_its_key(shards, tmp_path, capsys):
    ds = Path(shutil.copytree(shards, tmp_path / "ds"))

    def nan_step(meta):
        meta["sigma"]["step"] = math.nan
        return json.dumps(meta, allow_nan=True).encode()

    rewrite_shard(ds / "shard-000001.tar", lambda m: edit_json(m, "s000000002", nan_step))
    code, err = _sn(capsys, ds, tmp_path / "run", "--steps", "12", "--shards-per-round", "6")
    assert code == 0 and "Traceback" not in err
    assert "DamagedDataWarning" not in err and "batch = " not in err  # no warning with a Python source line
    mentions = [ln for ln in err.splitlines() if "s000000002" in ln]
    assert len(mentions) == 2, err  # the report when found, and the run's final line
    assert mentions[0].startswith("rank 0: skipping damaged data") and "sigma.step nan" in mentions[0]
    final = mentions[1]
    assert final.startswith("step 12: loss") and "(1 distinct; first: sample s000000002" in final
    end = [r for r in read_metrics(tmp_path / "run" / "metrics.jsonl") if r.get("event") == "end"][0]
    assert end["damaged"] >= 1 and end["skipped"] == 1 and "s000000002" in end["skipped_first"][0]


def test_a_live_run_holds_its_folder(shards, tmp_path, capsys):
    out = tmp_path / "run"
    lock = FolderLock(out / LOCK)  # a run that is training into OUT right now
    try:
        code, err = _sn(capsys, shards, out, "--steps", "2")
        assert code == 2 and f"{out} is in use by a live training run (pid {os.getpid()}, still running)" in \
            _one_line(err)
        code, err = _sn(capsys, shards, out, "--steps", "2", "--resume")
        assert code == 2 and "in use by a live training run" in _one_line(err)
    finally:
        lock.close(finished=False)
    assert not (out / "metrics.jsonl").exists()
    # the same folder once that run has gone (killed: its pid stays in the lock): recognised as an interrupted
    # run's, and taken over
    (out / LOCK).write_text("999999999\n")
    code, err = _sn(capsys, shards, out, "--steps", "2", "--resume")
    assert code == 0 and "the previous run there (pid 999999999) was interrupted" in err
    code, err = _sn(capsys, shards, out, "--steps", "4", "--resume")  # a run that ended normally left no pid
    assert code == 0 and "interrupted" not in err


def test_two_runs_started_together_never_both_write(shards, tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "trainer", "sn", "--data", str(shards), "--out", str(out), *TINY, "--steps", "30"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for _ in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    codes = sorted(p.returncode for p in procs)
    errs = " ".join(e for _, e in results)
    # one trains; the other stops at once (the lock), or, when the first has finished by then, finds its
    # checkpoint: either way never two writers, and metrics.jsonl holds each step once
    assert codes == [0, 2] and ("in use by a live training run" in errs or "already holds a run" in errs), errs
    steps = [r["step"] for r in read_metrics(out / "metrics.jsonl") if "loss" in r]
    assert steps == sorted(set(steps)) and steps[-1] == 30


def _regenerate(ds: Path, seed: int) -> None:
    """The trainer's shard set made again in place with another seed: the same layout, other contents."""
    shutil.rmtree(ds, ignore_errors=True)
    profile = fix(get_profile("cbdnet"), sigma_s=0.12, sigma_c=0.04)
    generate(GenerateConfig(out=str(ds), images=(str(ds.parent / "photos"),), profile=profile, patch=48,
                            patches_per_image=4, samples_per_shard=2, seed=seed, workers=1),
             progress=False, echo=lambda s: None)


def test_resume_on_regenerated_data_is_refused_unless_accepted(shards, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(shards.parent / "photos", root / "photos")
    ds = root / "ds"
    _regenerate(ds, seed=3)
    code, _ = _sn(capsys, ds, tmp_path / "run", "--steps", "2")
    assert code == 0
    _regenerate(ds, seed=4)
    code, err = _sn(capsys, ds, tmp_path / "run", "--steps", "4", "--resume")
    line = _one_line(err)
    assert code == 2 and "cannot resume: the training data changed since the checkpoint of step 2" in line
    assert "--accept-data-change" in line
    code, err = _sn(capsys, ds, tmp_path / "run", "--steps", "4", "--resume", "--accept-data-change")
    assert code == 0 and "continuing on the new data" in err


def _nan_checkpoint(path: Path) -> Path:
    make_checkpoint(path)
    state = torch.load(path, weights_only=True)
    name = sorted(state["model"])[3]
    state["model"][name] = torch.full_like(state["model"][name], math.nan)
    torch.save(state, path)
    return path


def test_non_finite_weights_are_refused_wherever_a_checkpoint_is_loaded(shards, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    ckpt = _nan_checkpoint(run / "last.pt")
    name = sorted(torch.load(ckpt, weights_only=True)["model"])[3]
    clean, noisy = make_image(40, 48, 1)
    pairs = write_pairs(tmp_path / "pairs", {"a": (clean, noisy), "b": make_image(40, 48, 2)})
    photo = tmp_path / "photo.png"
    from PIL import Image

    Image.fromarray(noisy).save(photo)
    for argv in (["eval", str(run), "--pairs", str(pairs), "--device", "cpu", "--no-progress"],
                 ["denoise", str(run), str(photo), "--out", str(tmp_path / "den"), "--device", "cpu",
                  "--no-progress"],
                 ["tf", "--init", str(run), "--data", str(pairs), "--out", str(tmp_path / "tf"), "--patch", "32",
                  "--steps", "2", "--device", "cpu", "--no-progress"]):
        capsys.readouterr()
        assert cli_main(argv) == 2, argv
        line = _one_line(capsys.readouterr().err)
        assert f"weight {name!r} holds" in line and "NaN or infinite" in line and "earlier checkpoint" in line
    assert not (tmp_path / "den").exists() or not list((tmp_path / "den").iterdir())  # no black PNG
    ckpt.unlink()
    code, _ = _sn(capsys, shards, run, "--steps", "2")
    assert code == 0
    state = torch.load(run / "last.pt", weights_only=True)  # Adam's moments hold the NaN: resume refuses too
    first = sorted(state["optimizer"]["state"])[0]
    state["optimizer"]["state"][first]["exp_avg"].fill_(math.inf)
    torch.save(state, run / "last.pt")
    code, err = _sn(capsys, shards, run, "--steps", "4", "--resume")
    assert code == 2 and f"optimizer state {first}.exp_avg holds" in _one_line(err)
    shutil.rmtree(run)
    code, _ = _sn(capsys, shards, run, "--steps", "2")
    assert code == 0
    _nan_checkpoint(run / "last.pt")
    code, err = _sn(capsys, shards, run, "--steps", "4", "--resume")
    assert code == 2 and f"weight {name!r} holds" in _one_line(err)


def test_checkpoint_messages_are_whole_sentences(tmp_path, capsys):
    import pickle

    class Boom:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pickle ran')",))

    pickled = tmp_path / "pickled.pt"
    pickled.write_bytes(pickle.dumps({"model": Boom()}))
    truncated = tmp_path / "truncated.pt"
    make_checkpoint(tmp_path / "whole.pt")
    truncated.write_bytes((tmp_path / "whole.pt").read_bytes()[:3000])
    for path, said in ((pickled, "not a readable checkpoint: torch's safe loader refuses it (Unsupported "),
                       (truncated, "not a readable checkpoint, the file is truncated or damaged")):
        capsys.readouterr()
        assert cli_main(["denoise", str(path), str(path), "--out", str(tmp_path / "o"), "--no-progress"]) == 2
        line = _one_line(capsys.readouterr().err)
        assert said in line and "pickle ran" not in line
        assert line.endswith(("use a checkpoint written by noisegen-train", "or rerun the stage")), line


def test_a_size_mismatched_tf_pair_is_printed_and_listed(tmp_path, capsys):
    make_checkpoint(tmp_path / "init.pt")
    pairs = write_pairs(tmp_path / "pairs", {"a": make_image(40, 48, 1), "b": make_image(40, 48, 2)})
    clean, noisy = make_image(44, 48, 3)  # noisy c_real.png 48×44 beside a 48×40 clean c_mean.png
    write_pairs(tmp_path / "more", {"c": (make_image(40, 48, 3)[0], noisy)})
    for role in ("noisy", "gt"):
        for f in (tmp_path / "more" / role).iterdir():
            f.rename(pairs / role / f.name)
    capsys.readouterr()
    code = cli_main(["tf", "--init", str(tmp_path / "init.pt"), "--data", str(pairs), "--out", str(tmp_path / "tf"),
                     "--patch", "32", "--steps", "2", "--device", "cpu", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0 and "Traceback" not in err
    said = "c_real.png: size mismatch: noisy 48×44, clean gt/c_mean.png 48×40"
    assert [ln for ln in err.splitlines() if ln.startswith("skipped ") and said in ln], err
    cfg = json.loads((tmp_path / "tf" / "config.json").read_text())
    assert len(cfg["skipped"]) == 1 and said in cfg["skipped"][0]
    assert "; skipped 1 input(s) (first: pairs/noisy/" + said in err.strip().splitlines()[-1]


def test_tf_names_its_own_option_for_an_empty_data_folder(tmp_path, capsys):
    make_checkpoint(tmp_path / "init.pt")
    (tmp_path / "empty").mkdir()
    code = cli_main(["tf", "--init", str(tmp_path / "init.pt"), "--data", str(tmp_path / "empty"), "--out",
                     str(tmp_path / "tf"), "--steps", "2", "--device", "cpu", "--no-progress"])
    line = _one_line(capsys.readouterr().err)
    assert code == 2 and f"--data {tmp_path / 'empty'}: no noisy/clean pairs found" in line and "--pairs" not in line


def test_an_empty_dataset_is_refused_up_front(shards, tmp_path, capsys):
    ds = Path(shutil.copytree(shards, tmp_path / "ds"))
    m = json.loads((ds / "dataset.json").read_text())
    for s in m["shards"]:
        s["samples"] = 0
    (ds / "dataset.json").write_text(json.dumps(m))
    code, err = _sn(capsys, ds, tmp_path / "run", "--steps", "2")
    assert code == 2 and "the dataset holds no samples" in _one_line(err)


@pytest.mark.parametrize("how", ["empty tar", "pipe that fails", "fifo"])
def test_a_stream_that_yields_nothing_gives_up_with_a_message(tmp_path, capsys, how):
    import tarfile

    if how == "empty tar":
        src = tmp_path / "empty.tar"
        tarfile.open(src, "w").close()
        data = str(src)
    elif how == "fifo":
        os.mkfifo(tmp_path / "fifo.tar")
        data = str(tmp_path / "fifo.tar")
    else:
        data = f"pipe:cat {tmp_path / 'nothing-here.tar'}"
    with hang_guard(300):
        code, err = _sn(capsys, data, tmp_path / "run", "--steps", "4")
    assert code == 2 and "Traceback" not in err
    last = err.strip().splitlines()[-1]
    if how == "fifo":
        assert "is a FIFO (named pipe), not a regular file" in last
    else:
        assert "yields a sample" in last and "noisegen inspect" in last
        assert len(err.strip().splitlines()) < 10, err  # a few lines, not one per attempt


def test_a_run_folder_whose_name_is_not_utf8_finishes(shards, tmp_path, capsys):
    out = os.fsdecode(os.fsencode(tmp_path) + b"/run-\xff")
    code, err = _sn(capsys, shards, out, "--steps", "2")
    assert code == 0 and "Traceback" not in err
    assert (Path(out) / "curves.png").is_file() and (Path(out) / "last.pt").is_file()


def test_a_full_disk_while_rewriting_the_metrics_leaves_no_temporary_file(tmp_path, monkeypatch):
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step in range(1, 5):
        log.write({"step": step, "loss": 0.1})
    before = (tmp_path / "metrics.jsonl").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        log.truncate_after(2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]
    assert (tmp_path / "metrics.jsonl").read_bytes() == before
    assert np.array_equal([r["step"] for r in read_metrics(tmp_path / "metrics.jsonl")], [1, 2, 3, 4])
