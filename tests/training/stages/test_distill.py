"""`noisegen-train distill` (trainer.stages.distill): synthetic shards and pseudo-pairs in every batch, the σ
term on the synthetic part only, exact resumption, and a checkpoint `eval` reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from checkpoints import make_image, write_pairs  # noqa: E402
from datagen import make_train_shards  # noqa: E402

from trainer.cli import main as cli_main  # noqa: E402
from trainer.engine.checkpoint import load_checkpoint  # noqa: E402
from trainer.stages.distill import DistillConfig, DistillStage, distill, pseudo_count  # noqa: E402
from trainer.stages.losses import asymmetric_loss, downscale_sigma  # noqa: E402


def _quiet(msg: str) -> None:
    pass


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("distill")
    ds = make_train_shards(root)
    pseudo = write_pairs(root / "pseudo", {f"img{i}": make_image(40, 44, i) for i in range(2)})
    return ds, pseudo


def _cfg(data, out: Path, **kw) -> DistillConfig:
    ds, pseudo = data
    base = dict(data=(str(ds),), pseudo=str(pseudo), out=str(out), model="tiny", steps=4, batch=3, patch=32,
                pseudo_share=0.34, workers=0, device="cpu", threads=1, progress=False, log_every=1, ckpt_every=2)
    return DistillConfig(**{**base, **kw})


def test_pseudo_count_keeps_both_sets_in_a_mixed_batch():
    assert [pseudo_count(8, s) for s in (0.0, 0.01, 0.5, 0.99, 1.0)] == [0, 1, 4, 7, 8]
    with pytest.raises(ValueError, match="at least 2"):
        DistillConfig(data=("d",), pseudo="p", out="o", batch=1)


def test_a_batch_of_two_takes_one_crop_of_each_set(data, tmp_path):
    r = distill(_cfg(data, tmp_path / "two", steps=1, batch=2, pseudo_share=0.5), echo=_quiet)
    assert r.step == 1
    rec = [json.loads(x) for x in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()][0]
    assert rec["pseudo_per_batch"] == 1


def test_a_resumed_distillation_reaches_the_weights_of_an_uninterrupted_one(data, tmp_path):
    whole = distill(_cfg(data, tmp_path / "whole"), echo=_quiet)
    distill(_cfg(data, tmp_path / "parts"), stop_after=2, echo=_quiet)
    parts = distill(_cfg(data, tmp_path / "parts"), resume=True, echo=_quiet)
    a, b = load_checkpoint(whole.checkpoint), load_checkpoint(parts.checkpoint)
    assert a["stage"] == "distill" and a["step"] == b["step"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    recs = [json.loads(x) for x in (tmp_path / "whole" / "metrics.jsonl").read_text().splitlines()]
    assert recs[0]["pseudo_per_batch"] == 1 and all(r["l1_pseudo"] > 0 for r in recs if "loss" in r)
    report = json.loads((tmp_path / "whole" / "data-rank0.json").read_text())
    assert report["pseudo_pairs"] == 2 and len(report["last_pseudo_crops"]) == 1
    assert cli_main(["eval", str(tmp_path / "whole"), "--pairs", str(data[1]), "--device", "cpu", "--threads", "1",
                     "--no-progress"]) == 0


class _Ctx:
    rank, world, device, memory_format, saved = 0, 1, torch.device("cpu"), torch.contiguous_format, None

    @staticmethod
    def say(msg: str) -> None:
        pass


def test_the_loss_is_l1_on_both_sets_and_the_sigma_term_on_the_synthetic_part_only(data, tmp_path):
    stage = DistillStage(_cfg(data, tmp_path / "x", batch=4, pseudo_share=0.5), _Ctx())
    try:
        batch = stage.batch(0)
        assert batch["n_syn"] == 2 and batch["noisy"].shape == batch["clean"].shape == (4, 3, 32, 32)
        assert batch["sigma"].shape[0] == 2
        g = torch.Generator().manual_seed(0)
        den, sig = torch.rand(4, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
        coarse = torch.rand(4, 3, 8, 8, generator=g)
        total, parts = stage.loss(lambda y, return_coarse: (den, sig, coarse), batch, 0)
        l1 = (den - batch["clean"]).abs().mean()
        s = batch["sigma"]
        asymm = 0.2 * asymmetric_loss(sig[:2], s) + 0.8 * asymmetric_loss(coarse[:2], downscale_sigma(s, 4))
        assert total.item() == pytest.approx((l1 + 0.05 * asymm).item(), rel=1e-5)
        assert parts["l1_pseudo"].item() == pytest.approx((den[2:] - batch["clean"][2:]).abs().mean().item())
    finally:
        stage.close()
