"""Two-process DistributedDataParallel training on CPU (gloo), launched by torchrun on 127.0.0.1: the SN stage
on disjoint shards, the TF stage with crops seeded by the rank."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from checkpoints import make_checkpoint, make_image, write_pairs  # noqa: E402
from datagen import make_train_shards  # noqa: E402

from trainer.engine.checkpoint import load_checkpoint  # noqa: E402
from trainer.engine.metrics import read_metrics  # noqa: E402
from trainer.models.aindnet import AINDNet, trainable_groups  # noqa: E402
from trainer.models.config import ModelConfig  # noqa: E402
from trainer.stages.tf import TFConfig, transfer  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="this PyTorch has no gloo backend")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only: no network needed
    return env


def _torchrun(args: list[str]) -> list[str]:
    """`noisegen-train ARGS` in 2 processes on this machine."""
    return [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
            "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), "-m", "trainer", *args]


def test_torchrun_two_processes_train_on_disjoint_shards(tmp_path):
    make_train_shards(tmp_path)
    out = tmp_path / "run"
    cmd = _torchrun(["sn", "--data", str(tmp_path / "ds"), "--out", str(out), "--model", "tiny",
                     "--steps", "8", "--batch", "2", "--patch", "32", "--device", "cpu", "--workers", "1", "--threads",
                     "1", "--log-every", "4", "--val", str(tmp_path / "ds"), "--val-every", "8", "--no-progress"])
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("step 8") == 1  # the summary line comes from rank 0 only

    reports = [json.loads((out / f"data-rank{r}.json").read_text()) for r in range(2)]
    assigned = [set(sum(rep["streams"], [])) for rep in reports]
    seen = [set(rep["seen_shards"]) for rep in reports]
    assert not assigned[0] & assigned[1] and len(assigned[0] | assigned[1]) == 6
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert all(s <= a for s, a in zip(seen, assigned))
    assert [rep["batches"] for rep in reports] == [8, 8]

    ck = load_checkpoint(out / "last.pt")
    assert ck["step"] == 8 and len(ck["data"]) == 2 and all(d["layout"]["world"] == 2 for d in ck["data"])
    recs = read_metrics(out / "metrics.jsonl")
    assert recs[0]["world"] == 2 and any(r.get("samples_per_s") for r in recs)
    val = [r for r in recs if "val/ds/psnr" in r]
    assert val and val[-1]["step"] == 8
    assert Path(out / "curves.png").exists()


def test_torchrun_two_processes_transfer_with_rank_seeded_crops(tmp_path):
    sn = make_checkpoint(tmp_path / "sn.pt")
    pairs = write_pairs(tmp_path / "pairs", {f"img{i}": make_image(40, 36, i) for i in range(3)})
    out = tmp_path / "run"
    proc = subprocess.run(_torchrun(["tf", "--init", str(sn), "--data", str(pairs), "--out", str(out), "--steps", "4",
                                     "--batch", "2", "--patch", "16", "--lr", "1e-3", "--device", "cpu", "--threads",
                                     "1", "--log-every", "2", "--val", str(pairs), "--val-every", "4",
                                     "--no-progress"]),
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("step 4") == 1  # the summary line comes from rank 0 only

    reports = [json.loads((out / f"data-rank{r}.json").read_text()) for r in range(2)]
    assert [rep["rank"] for rep in reports] == [0, 1] and all(rep["world"] == 2 for rep in reports)
    assert reports[0]["last_crops"] != reports[1]["last_crops"]  # each rank draws its own crops at the same step

    ck = load_checkpoint(out / "last.pt")
    before = load_checkpoint(sn)["model"]
    groups = trainable_groups(AINDNet(ModelConfig.tiny()))
    assert ck["step"] == 4 and ck["stage"] == "tf" and [set(d) for d in ck["data"]] == [{"data_digest"}] * 2
    assert ck["data"][0] == ck["data"][1]  # the same pairs on every rank: one digest of the training data
    assert all(torch.equal(before[k], ck["model"][k]) for k in groups.frozen)
    assert all(not torch.equal(before[k], ck["model"][k]) for k in groups.trainable)
    recs = read_metrics(out / "metrics.jsonl")
    assert recs[0]["world"] == 2 and [r["step"] for r in recs if "loss" in r] == [2, 4]
    assert [r["step"] for r in recs if "val/pairs/psnr" in r] == [4] and (out / "best.pt").exists()
    # One process draws rank 0's crops only: its weights differ, so the two ranks' gradients were averaged.
    alone = transfer(TFConfig(init=str(sn), data=str(pairs), out=str(tmp_path / "alone"), steps=4, batch=2, patch=16,
                              lr=1e-3, device="cpu", threads=1, progress=False), echo=lambda m: None)
    single = load_checkpoint(alone.checkpoint)["model"]
    assert any(not torch.equal(single[k], ck["model"][k]) for k in groups.trainable)


def test_torchrun_two_processes_da_stage_averages_both_networks(tmp_path):
    from checkpoints import make_image as _image

    from noisegen.dataset.reader import write_png

    ds = make_train_shards(tmp_path)
    real = tmp_path / "real"
    real.mkdir()
    for i in range(3):
        write_png(real / f"r{i}.png", _image(40, 44, i)[1])
    out = tmp_path / "run"
    cmd = _torchrun(["da", "--data", str(ds), "--real", str(real), "--out", str(out), "--model", "tiny", "--steps",
                     "4", "--batch", "2", "--patch", "32", "--device", "cpu", "--workers", "0", "--threads", "1",
                     "--log-every", "2", "--diffusion-widths", "8", "16", "--no-progress"])
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("step 4") == 1
    reports = [json.loads((out / f"data-rank{r}.json").read_text()) for r in range(2)]
    assert reports[0]["last_real_crops"] != reports[1]["last_real_crops"]  # each rank draws its own real crops
    ck = load_checkpoint(out / "last.pt")
    assert ck["stage"] == "da" and ck["step"] == 4 and len(ck["data"]) == 2 and "aux" in ck
    # both networks' gradients were averaged over the ranks: every rank holds the same weights after 4 steps
    assert reports[0]["weights_sha256"] == reports[1]["weights_sha256"]
    recs = read_metrics(out / "metrics.jsonl")
    assert recs[0]["world"] == 2 and [r["step"] for r in recs if "loss" in r] == [2, 4]
    assert all(r["noise"] > 0 for r in recs if "loss" in r and r["alpha"] > 0)
