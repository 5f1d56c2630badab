"""`noisegen-train dbsn` on the engine (exact resumption, validation, the checkpoint says what it holds),
`eval` / `denoise` on a D-BSN checkpoint, and `pseudo-pairs` (the folder calibrate --noisy-only reads)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from checkpoints import make_image, write_pairs  # noqa: E402

from noisegen.analysis.calibrate.fit import CalibrateConfig, calibrate  # noqa: E402
from noisegen.dataset.reader import scan_pairs  # noqa: E402
from trainer.cli import main as cli_main  # noqa: E402
from trainer.engine.checkpoint import load_checkpoint  # noqa: E402
from trainer.infer.inference import load_model  # noqa: E402
from trainer.models.dbsn import DBSN  # noqa: E402
from trainer.stages.dbsn import train_dbsn  # noqa: E402
from trainer.stages.dbsn_config import DBSNTrainConfig  # noqa: E402
from trainer.stages.dbsn_loss import WARMUP_SIGMA, warmup_loss  # noqa: E402


def _quiet(msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    return write_pairs(tmp_path_factory.mktemp("dbsn") / "pairs", {f"img{i}": make_image(40, 45, i) for i in range(3)})


def _cfg(pairs: Path, out: Path, **kw) -> DBSNTrainConfig:
    base = dict(data=str(pairs), out=str(out), model="tiny", steps=4, batch=2, patch=20, mu_warmup=2, lr=1e-3,
                device="cpu", threads=1, progress=False, log_every=1, ckpt_every=2, pd=5)
    return DBSNTrainConfig(**{**base, **kw})


def test_a_resumed_run_reaches_the_weights_of_an_uninterrupted_one(pairs, tmp_path):
    whole = train_dbsn(_cfg(pairs, tmp_path / "whole"), echo=_quiet)
    train_dbsn(_cfg(pairs, tmp_path / "parts"), stop_after=2, echo=_quiet)  # warm-up steps only
    parts = train_dbsn(_cfg(pairs, tmp_path / "parts"), resume=True, echo=_quiet)
    a, b = load_checkpoint(whole.checkpoint), load_checkpoint(parts.checkpoint)
    assert a["step"] == b["step"] == 4 and a["stage"] == b["stage"] == "dbsn"
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["model"] != {} and a["model_config"]["network"] == "dbsn" and a["model_config"]["pd_train"] == 5
    recs = [json.loads(line) for line in (tmp_path / "parts" / "metrics.jsonl").read_text().splitlines()]
    losses = [r for r in recs if "loss" in r]
    assert [r["step"] for r in losses] == [1, 2, 3, 4] and all(math.isfinite(r["loss"]) for r in losses)
    assert {"maha", "logdet", "trace"} <= set(losses[-1])


def test_resume_refuses_noisy_photos_that_changed(pairs, tmp_path):
    import shutil

    import imageio.v3 as iio

    photos = tmp_path / "photos"
    shutil.copytree(pairs, photos)
    train_dbsn(_cfg(photos, tmp_path / "run"), stop_after=2, echo=_quiet)
    for png in photos.rglob("*.png"):  # same names and sizes, other pixels
        iio.imwrite(png, 255 - iio.imread(png))
    with pytest.raises(ValueError, match="training data changed"):
        train_dbsn(_cfg(photos, tmp_path / "run"), resume=True, echo=_quiet)
    res = train_dbsn(_cfg(photos, tmp_path / "run"), resume=True, echo=_quiet, accept_data_change=True)
    assert load_checkpoint(res.checkpoint)["step"] == 4


def test_validation_scores_the_inference_output_and_keeps_the_best(pairs, tmp_path):
    res = train_dbsn(_cfg(pairs, tmp_path / "run", steps=2, val=(str(pairs),), val_every=1), echo=_quiet)
    assert res.best_psnr is not None and (tmp_path / "run" / "best.pt").exists()
    model, state = load_model(tmp_path / "run")
    c = model.config
    assert isinstance(model, DBSN) and (c.pd_train, c.pd_infer, c.r3_steps, c.output) == (5, 2, 8, "map")
    assert state["train_config"]["mu_warmup"] == 2 and state["train_config"]["patch"] == 20


def test_eval_denoise_and_pseudo_pairs_read_a_dbsn_checkpoint(pairs, tmp_path, capsys):
    run = tmp_path / "run"
    train_dbsn(_cfg(pairs, run, steps=2, pd=1), echo=_quiet)
    common = ["--device", "cpu", "--threads", "1", "--no-progress"]
    assert cli_main(["eval", str(run), "--pairs", str(pairs), "--json", str(tmp_path / "e.json"), *common]) == 0
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["checkpoint"]["stage"] == "dbsn" and report["overall"]["images"] == 3
    assert math.isfinite(report["overall"]["psnr"])
    assert cli_main(["denoise", str(run), str(pairs / "noisy"), "--out", str(tmp_path / "den"), "--sigma-map",
                     "--tile", "24", "--overlap", "8", *common]) == 0
    assert len(list((tmp_path / "den").glob("*_denoised.png"))) == 3
    assert len(list((tmp_path / "den").glob("*_sigma.png"))) == 3
    capsys.readouterr()

    out = tmp_path / "pseudo"
    assert cli_main(["pseudo-pairs", str(run), str(pairs), "--out", str(out), *common]) == 0  # the noisy side only
    found = scan_pairs([out]).pairs
    assert len(found) == 3 and all(Path(p.noisy).read_bytes() == (pairs / "noisy" / Path(p.noisy).name).read_bytes()
                                   for p in found)
    sigma = np.load(out / "sigma" / "img0_real.npy", allow_pickle=False)
    assert sigma.shape == (40, 45, 3) and sigma.dtype == np.float32 and (sigma >= 1e-3).all()
    manifest = json.loads((out / "pseudo_pairs.json").read_text())
    assert manifest["checkpoint"]["model_config"]["network"] == "dbsn" and len(manifest["pairs"]) == 3
    assert cli_main(["pseudo-pairs", str(run), str(pairs / "noisy"), "--out", str(out), *common]) == 1  # exist
    assert "exists" in capsys.readouterr().out
    # the folder is what calibrate --noisy-only reads (the contract between the two packages), with either target
    # (auto: the manifest says this D-BSN was trained without PD, so the σ maps)
    for target, used in (("residual", "residual"), ("sigma", "sigma"), ("auto", "sigma")):
        cal = calibrate(CalibrateConfig(pairs=(str(out),), noisy_only=True, noisy_target=target, crf_curves=("linear",),
                                        demosaic=("none",), jpeg=(None,), min_count=10, iterations=1))
        assert len(cal.groups) == 1 and cal.groups[0].pairs and cal.profile is not None
        assert cal.config.noisy_target == used


def test_pseudo_pairs_refuses_an_aindnet_checkpoint(pairs, tmp_path, capsys):
    from checkpoints import make_checkpoint

    ck = make_checkpoint(tmp_path / "sn.pt")
    assert cli_main(["pseudo-pairs", str(ck), str(pairs), "--out", str(tmp_path / "p"), "--device", "cpu"]) == 2
    assert "not a D-BSN" in capsys.readouterr().err


def test_the_warmup_trains_mu_by_l2_and_the_noise_model_at_a_fixed_mu():
    g = torch.Generator().manual_seed(0)
    y = torch.rand(1, 3, 4, 5, generator=g)
    mu = torch.rand(1, 3, 4, 5, generator=g, requires_grad=True)
    raw = torch.randn(1, 6, 4, 5, generator=g)
    from trainer.models.gaussian3 import factor_from_raw

    L_mu = factor_from_raw(raw.clone().requires_grad_(), 1e-4)
    L_n = factor_from_raw(raw.clone().requires_grad_(), 1e-3)
    loss, _ = warmup_loss(y, mu, L_mu, L_n)
    grad, = torch.autograd.grad(loss, mu)
    assert torch.allclose(grad, (mu - y).detach() / WARMUP_SIGMA**2 / (4 * 5))  # d/dμ of mean ½‖y − μ‖²/σ₀²


def test_bad_settings_fail_before_a_run(tmp_path):
    for bad in ({"pd": 5, "patch": 64}, {"model": "huge"}, {"nll": "joint"}, {"pd": 1, "r3_steps": 8},
                {"output": "x"}):
        with pytest.raises(ValueError):
            DBSNTrainConfig(data="d", out=str(tmp_path / "o"), **bad)
    cfg = DBSNTrainConfig(data="d", out="o", pd=5).resolved("cpu")
    assert (cfg.patch, cfg.pd_infer, cfg.r3_steps, cfg.mu_warmup) == (120, 2, 8, 4000)
    assert DBSNTrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.lr_factor(0) == 1.0 and cfg.lr_factor(cfg.steps) == pytest.approx(cfg.min_lr_ratio)


@pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                    reason="this PyTorch has no gloo backend")
def test_torchrun_two_processes_train_a_dbsn_with_rank_seeded_crops(pairs, tmp_path):
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    if sys.platform.startswith("linux"):
        env["GLOO_SOCKET_IFNAME"] = "lo"
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2", "--master_addr",
           "127.0.0.1", "--master_port", str(port), "-m", "trainer", "dbsn", "--data", str(pairs), "--out", str(out),
           "--model", "tiny", "--steps", "2", "--mu-warmup", "1", "--batch", "2", "--patch", "20", "--pd", "5",
           "--device", "cpu", "--threads", "1", "--log-every", "1", "--val", str(pairs), "--val-every", "2",
           "--no-progress"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.loads((out / f"data-rank{r}.json").read_text()) for r in range(2)]
    assert reports[0]["last_crops"] != reports[1]["last_crops"]
    ck = load_checkpoint(out / "last.pt")
    assert ck["step"] == 2 and ck["stage"] == "dbsn"
    assert len(ck["data"]) == 2 and ck["data"][0] == ck["data"][1] and list(ck["data"][0]) == ["data_digest"]
    recs = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert recs[0]["world"] == 2 and any("val/pairs/psnr" in r for r in recs) and (out / "best.pt").exists()
