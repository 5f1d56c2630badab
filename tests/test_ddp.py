"""Two-process DistributedDataParallel training on CPU (gloo), launched by torchrun on 127.0.0.1."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from datagen import make_train_shards  # noqa: E402

from trainer.checkpoint import load_checkpoint  # noqa: E402
from trainer.metrics import read_metrics  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="this PyTorch has no gloo backend")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_processes_train_on_disjoint_shards(tmp_path):
    make_train_shards(tmp_path)
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"  # loopback only: no network needed
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
           "-m", "trainer", "sn", "--data", str(tmp_path / "ds"), "--out", str(out), "--model", "tiny",
           "--steps", "8", "--batch", "2", "--patch", "32", "--device", "cpu", "--workers", "1", "--threads", "1",
           "--log-every", "4", "--val", str(tmp_path / "ds"), "--val-every", "8", "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
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
