"""The `da` stage (trainer.stages.da, noise_da, da_config): Noise-DA's ramp and shortcut guards against
direct computations, α = 0 equal to the SN stage bit for bit, exact resumption, and a run through the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from checkpoints import make_image, write_pairs  # noqa: E402
from datagen import make_train_shards  # noqa: E402

from noisegen.dataset.reader import write_png  # noqa: E402
from trainer.cli import main as cli_main  # noqa: E402
from trainer.engine.checkpoint import load_checkpoint  # noqa: E402
from trainer.engine.metrics import read_metrics  # noqa: E402
from trainer.engine.stage import StageContext  # noqa: E402
from trainer.infer.inference import load_model  # noqa: E402
from trainer.models.diffusion import DEFAULT_BETA_END, DEFAULT_BETA_START, DEFAULT_TIMESTEPS  # noqa: E402
from trainer.stages.da import DAConfig, DAStage, adapt, load_references  # noqa: E402
from trainer.stages.noise_da import (  # noqa: E402
    DA_WEIGHT,
    MARGIN,
    alpha_at,
    contrastive_term,
    noise_loss,
    shuffle_pair,
    swapped_residuals,
)
from trainer.stages.sn import train  # noqa: E402
from trainer.stages.sn_config import TrainConfig  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    """(synthetic shard set, folder of 3 noisy 'real' photos of another noise: Gaussian σ = 20/255)."""
    root = tmp_path_factory.mktemp("da")
    ds = make_train_shards(root)
    real = root / "real"
    real.mkdir()
    for i in range(3):
        write_png(real / f"photo{i}.png", make_image(40 + 4 * i, 44, 10 + i)[1])
    return ds, real


def _base(ds: Path, out: Path, **kw) -> dict:
    base = dict(data=(str(ds),), out=str(out), model="tiny", steps=8, batch=4, patch=32, lr=2e-3, log_every=4,
                ckpt_every=1000, val_every=1000, progress=False, device="cpu", workers=0, threads=1)
    return {**base, **kw}


def _quiet(msg: str) -> None:
    pass


def _weights_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_alpha_ramp_is_the_papers_formula():
    assert alpha_at(0, 100) == 0.0 and alpha_at(50, 100, weight=0.0) == 0.0
    assert alpha_at(50, 100) == pytest.approx(0.2 * (2 / (1 + math.exp(-2.5)) - 1))
    assert alpha_at(100, 100) == alpha_at(400, 100) == pytest.approx(0.2 * math.tanh(2.5))  # 2/(1+e^-x)-1 = tanh(x/2)
    assert alpha_at(25, 100, ramp=0.5) == pytest.approx(alpha_at(50, 100))
    values = [alpha_at(s, 100) for s in range(101)]
    assert values == sorted(values)
    with pytest.raises(ValueError):
        alpha_at(1, 100, ramp=0.0)


def test_channel_shuffling_swaps_the_two_conditions_per_sample():
    first = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    second = -first - 10
    a, b = shuffle_pair(first, second, np.array([True, False, True, False]))
    assert torch.equal(a[[0, 2]], second[[0, 2]]) and torch.equal(b[[0, 2]], first[[0, 2]])
    assert torch.equal(a[[1, 3]], first[[1, 3]]) and torch.equal(b[[1, 3]], second[[1, 3]])
    with pytest.raises(ValueError):
        shuffle_pair(first, second, np.array([True]))


def test_contrastive_term_on_swapped_residuals():
    g = torch.Generator().manual_seed(0)
    ys, yr = torch.rand(2, 3, 8, 8, generator=g), torch.rand(2, 3, 8, 8, generator=g)
    s_hat, r_hat = ys - 0.1, yr + 0.05  # residuals −0.1 (synthetic) and +0.05 (real)
    n1, n2 = swapped_residuals(ys, s_hat, yr, r_hat)
    assert torch.allclose(n1, ys + 0.05, atol=1e-6) and torch.allclose(n2, yr - 0.1, atol=1e-6)
    eps = torch.randn(2, 3, 8, 8, generator=g)
    pred = eps + 0.1 * torch.randn(2, 3, 8, 8, generator=g)
    # a prediction that ignores its condition gives the same ε̂ for the negatives: the term is the margin, not 0
    assert contrastive_term(eps, pred, pred).item() == pytest.approx(MARGIN)
    direct = max(0.0, ((pred - eps) ** 2).mean().item() - ((pred * 0 - eps) ** 2).mean().item() + MARGIN)
    assert contrastive_term(eps, pred, pred * 0).item() == pytest.approx(direct)
    total, parts = noise_loss(eps, pred, pred)
    assert total.item() == pytest.approx((((pred - eps) ** 2).mean().item() + MARGIN) / 2)
    assert parts["contrast"].item() == pytest.approx(MARGIN)
    assert noise_loss(eps, pred)[1]["contrast"].item() == 0.0


def test_stage_draws_shuffle_per_sample_and_a_nonzero_contrastive_term(data, tmp_path):
    ds, real = data
    cfg = DAConfig(**_base(ds, tmp_path / "s", batch=8), real=str(real), da_batch=8).resolved("cpu")
    torch.manual_seed(0)
    stage = DAStage(cfg, StageContext(0, 1, torch.device("cpu"), torch.contiguous_format, None, _quiet))
    try:
        assert stage.batch(0).keys() == {"clean", "noisy", "sigma", "messages"}  # α = 0 at step 0: SN's batch only
        batches = [stage.batch(s) for s in (1, 2, 3)]
        swaps = torch.stack([b["swap"] for b in batches])
        assert swaps.any() and not swaps.all()  # an order per sample, not one per batch
        assert not all(torch.equal(b["swap"], b["swap_neg"]) for b in batches)
        b = batches[0]
        assert b["real"].shape == (8, 3, 32, 32) and b["eps"].shape == (8, 3, 32, 32)
        # the condition's channel order follows the mask: sample i holds the real output first where swap[i]
        syn, rl = torch.zeros(8, 3, 2, 2), torch.ones(8, 3, 2, 2)
        c1, _ = shuffle_pair(syn, rl, b["swap"])
        assert torch.equal(c1[:, 0, 0, 0].bool(), b["swap"])
        # the same step draws the same crops and noise again (no state to resume; the synthetic part is the stream)
        again = stage.batch(1)
        assert all(torch.equal(again[k], b[k]) for k in ("real", "eps", "gamma", "swap", "swap_neg"))
        for p in stage.aux.parameters():  # a diffusion net that has learnt something: predictions depend on c
            p.data.add_(0.05 * torch.randn_like(p))
        total, parts = stage.loss(lambda x, **kw: stage.model(x, **kw), b, 1, aux=stage.aux)
        assert parts["contrast"].item() > 0 and parts["contrast"].item() != pytest.approx(MARGIN)
        assert total.item() > parts["l1"].item()
    finally:
        stage.close()


def test_alpha_zero_is_the_sn_stage_bit_for_bit(data, tmp_path):
    ds, real = data
    sn = train(TrainConfig(**_base(ds, tmp_path / "sn", workers=1)), echo=_quiet)
    da0 = adapt(DAConfig(**_base(ds, tmp_path / "da0", workers=1), real=str(real), da_weight=0.0), echo=_quiet)
    da = adapt(DAConfig(**_base(ds, tmp_path / "da", workers=1), real=str(real)), echo=_quiet)
    w_sn, w0, w = (load_checkpoint(r.checkpoint) for r in (sn, da0, da))
    assert _weights_equal(w_sn["model"], w0["model"])
    for a, b in zip(w_sn["optimizer"]["state"].values(), w0["optimizer"]["state"].values()):
        assert all(torch.equal(a[k], b[k]) for k in a)
    # the same stream position; the DA run records its photos' digest besides (resume refuses changed photos)
    assert [{k: v for k, v in d.items() if k != "real_digest"} for d in w0["data"]] == w_sn["data"]
    assert all(len(d["real_digest"]) == 16 for d in w0["data"])
    # the diffusion branch is live when α > 0: other weights, a trained diffusion network stored beside them
    assert not _weights_equal(w_sn["model"], w["model"])
    assert not _weights_equal(w0["aux"], w["aux"])
    assert w["stage"] == "da" and set(w["aux"]) and not set(w["aux"]) & set(w["model"])
    recs = [r for r in read_metrics(tmp_path / "da" / "metrics.jsonl") if "loss" in r]
    assert recs[-1]["alpha"] > 0 and recs[-1]["noise"] > 0 and recs[-1]["contrast"] > 0
    model, _ = load_model(tmp_path / "da" / "last.pt")  # an ordinary AINDNet checkpoint for eval / denoise
    assert _weights_equal(model.state_dict(), w["model"])


def test_resume_reaches_bit_identical_weights(data, tmp_path):
    ds, real = data
    kw = dict(steps=10, workers=2, ckpt_every=3, shuffle_buffer=8)
    a = adapt(DAConfig(**_base(ds, tmp_path / "a", **kw), real=str(real)), echo=_quiet)
    b1 = adapt(DAConfig(**_base(ds, tmp_path / "b", **kw), real=str(real)), stop_after=5, echo=_quiet)
    assert b1.step == 5
    b = adapt(DAConfig(**_base(ds, tmp_path / "b", **kw), real=str(real)), resume=True, echo=_quiet)
    wa, wb = load_checkpoint(a.checkpoint), load_checkpoint(b.checkpoint)
    assert wa["step"] == wb["step"] == 10
    assert _weights_equal(wa["model"], wb["model"]) and _weights_equal(wa["aux"], wb["aux"])
    for sa, sb in zip(wa["optimizer"]["state"].values(), wb["optimizer"]["state"].values()):
        assert all(torch.equal(sa[n], sb[n]) for n in sa)
    assert wa["data"] == wb["data"]


def test_references_from_a_pairs_folder_are_the_clean_side(tmp_path):
    pairs = write_pairs(tmp_path / "pairs", {f"img{i}": make_image(36, 40, i) for i in range(2)})
    refs = load_references(str(pairs), None)
    cleans = sorted((make_image(36, 40, i)[0] for i in range(2)), key=lambda a: a.tobytes())
    got = sorted((s[0] for s in refs.samples), key=lambda a: a.tobytes())
    assert refs.kind == "pairs" and all(np.array_equal(a, b) for a, b in zip(got, cleans))


def test_config_validation():
    ok = dict(data=("d",), out="o", real="r", model="tiny")
    with pytest.raises(ValueError, match="da_batch"):
        DAConfig(**ok, batch=4, da_batch=5)
    with pytest.raises(ValueError, match="multiple of 8"):
        DAConfig(**ok, patch=36, diffusion_widths=(8, 16, 16, 16))
    with pytest.raises(ValueError, match="da_ramp"):
        DAConfig(**ok, da_ramp=0.0)
    assert DAConfig(**ok, batch=7).resolved("cpu").da_batch == 3
    # the defaults are the constants the loss and schedule modules cite (DAConfig's module imports no torch)
    d = DAConfig(**ok)
    assert (d.da_weight, d.margin) == (DA_WEIGHT, MARGIN)
    assert (d.timesteps, d.beta_start, d.beta_end) == (DEFAULT_TIMESTEPS, DEFAULT_BETA_START, DEFAULT_BETA_END)


def test_cli_quick_run_resume_and_eval(data, tmp_path, capsys):
    ds, real = data
    out = tmp_path / "run"
    pairs = write_pairs(tmp_path / "pairs", {"p0": make_image(32, 32, 5)})
    args = ["da", "--data", str(ds), "--real", str(real), "--out", str(out), "--model", "tiny", "--steps", "4",
            "--batch", "2", "--patch", "32", "--device", "cpu", "--workers", "0", "--threads", "1", "--no-progress",
            "--no-shuffle", "--diffusion-widths", "8", "16", "--ref", str(ds.parent / "photos"), "--val", str(pairs),
            "--val-every", "2", "--stop-after", "2"]
    assert cli_main(args) == 0
    assert "step 2" in capsys.readouterr().out
    assert cli_main(["da", "--out", str(out), "--resume", "--no-progress"]) == 0
    assert "step 4" in capsys.readouterr().out
    ck = load_checkpoint(out / "last.pt")
    assert ck["stage"] == "da" and ck["train_config"]["shuffle"] is False
    assert ck["train_config"]["diffusion_widths"] == [8, 16] and ck["train_config"]["real"] == str(real.resolve())
    val = [r["step"] for r in read_metrics(out / "metrics.jsonl") if "val/pairs/psnr" in r]
    assert (out / "best.pt").exists() and val == [2, 4]
    assert json.loads((out / "config.json").read_text())["ref_images"] == 2  # the photos directly in photos/
    assert cli_main(["eval", str(out), "--pairs", str(pairs), "--device", "cpu"]) == 0
    assert "psnr" in capsys.readouterr().out.lower()
    assert cli_main(["sn", "--out", str(out), "--resume"]) == 2  # an SN command does not continue a da run
    assert "stage da" in capsys.readouterr().err
