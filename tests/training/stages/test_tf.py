"""trainer.stages.tf (`noisegen-train tf`): frozen parameters stay bit-identical, trainable ones change; on the
training engine TF resumes to bit-identical weights, validates, writes best.pt, and draws its crops from
(seed, rank, step).

SN weights: a freshly initialised tiny AINDNet saved with trainer.engine.checkpoint.save_checkpoint
(tests/checkpoints.make_checkpoint); real pairs: small synthetic noisy/clean PNGs in noisy/ + gt/.
"""

from __future__ import annotations

import json

import pytest
import torch
from checkpoints import make_checkpoint, make_image, write_pairs

from trainer.cli import main as cli_main
from trainer.engine.checkpoint import load_checkpoint
from trainer.engine.metrics import read_metrics
from trainer.engine.stage import StageContext
from trainer.models.aindnet import AINDNet, trainable_groups
from trainer.models.config import ModelConfig
from trainer.stages.tf import TFConfig, TFStage, parameter_table, transfer

NAMES = ("Canon5D2_5_160_3200_toy_1", "Canon5D2_5_160_3200_plant_2", "NikonD800_6_125_1600_door_3")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    sn = root / "sn"
    sn.mkdir()
    make_checkpoint(sn / "last.pt")
    pairs = write_pairs(root / "pairs", {name: make_image(40 + 4 * i, 36, i) for i, name in enumerate(NAMES)})
    return sn, pairs


def _quiet(msg: str) -> None:
    pass


def _run(setup, out, **kw):
    sn, pairs = setup
    cfg = TFConfig(init=str(sn), data=str(pairs), out=str(out), steps=3, batch=2, patch=16, lr=1e-3, log_every=1,
                   device="cpu", threads=1, progress=False, **kw)
    return load_checkpoint(transfer(cfg, echo=_quiet).checkpoint)["model"]


def test_tf_changes_exactly_the_trainable_parameters(setup, tmp_path):
    sn, _ = setup
    before = load_checkpoint(sn / "last.pt")["model"]
    after = _run(setup, tmp_path / "tf", pairs=2)
    groups = trainable_groups(AINDNet(ModelConfig.tiny()))
    assert groups.trainable and groups.frozen
    for name in groups.frozen:
        assert torch.equal(before[name], after[name]), f"frozen {name} changed"
    for name in groups.trainable:
        assert not torch.equal(before[name], after[name]), f"trainable {name} did not change"
    rec = json.loads((tmp_path / "tf" / "config.json").read_text())
    total = rec["parameter_table"][-1]
    assert total["group"] == "total" and total["trainable"] + total["frozen"] == 76342 and total["frozen"] > 0


def test_rt_and_r_train_everything(setup, tmp_path):
    sn, _ = setup
    before = load_checkpoint(sn / "last.pt")["model"]
    rt = _run(setup, tmp_path / "rt", mode="rt")
    assert all(not torch.equal(before[k], rt[k]) for k in before)
    r = _run(setup, tmp_path / "r", mode="r", seed=5)
    assert all(not torch.equal(before[k], r[k]) for k in before)


def test_parameter_table_counts():
    model = AINDNet(ModelConfig.tiny())
    table = {r["group"]: r for r in parameter_table(model)}
    assert table["total"]["trainable"] == 76342 and table["total"]["frozen"] == 0
    assert table["noise estimator"]["trainable"] == 2363


def test_tf_cli_and_errors(setup, tmp_path, capsys):
    sn, pairs = setup
    args = ["tf", "--init", str(sn), "--data", str(pairs), "--out", str(tmp_path / "run"), "--steps", "1", "--batch",
            "1", "--patch", "16", "--device", "cpu", "--threads", "1", "--no-progress"]
    assert cli_main(args) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "AIN modules" in text and "last conv" in text and "frozen" in text
    assert cli_main(args) == 2  # never overwrites a run
    assert "exists" in capsys.readouterr().err
    assert cli_main(args[:-5] + ["--num-pairs", "9", "--out", str(tmp_path / "r2"), "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "--num-pairs 9: " in err and "holds only 3" in err
    with pytest.raises(SystemExit) as exc:  # the old spelling of the count: an error naming the new option
        cli_main(args[:-5] + ["--pairs", "9", "--out", str(tmp_path / "r3")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--pairs is now --num-pairs K" in err and not (tmp_path / "r3").exists()


def test_tf_reads_a_pack_pairs_dataset_of_patches(setup, tmp_path):
    from noisegen.dataset.pack_pairs import PackPairsConfig, pack_pairs

    _, pairs = setup
    pack_pairs(PackPairsConfig(pairs=(str(pairs),), out=str(tmp_path / "packed"), patch=16), progress=False,
               echo=lambda s: None)
    sn, _ = setup
    after = _run((sn, tmp_path / "packed"), tmp_path / "tf", pairs=1)
    assert set(after) == set(load_checkpoint(sn / "last.pt")["model"])
    rec = json.loads((tmp_path / "tf" / "config.json").read_text())
    from trainer.infer.evaluate import iter_pairs

    ids = [item.id for item in iter_pairs(str(tmp_path / "packed")).items()]
    assert len(set(ids)) == 3 and ids.count(ids[0]) >= 4  # several 16×16 tiles per pair
    assert rec["config"]["patch"] == 16 and rec["samples"] == ids.count(ids[0])  # every tile of the first pair stored


# ------------------------------------------------------------------------------------------------
# The TF stage on the training engine: resume, validation, crops, refusals


def _config(setup, out, **kw) -> TFConfig:
    sn, pairs = setup
    base = dict(init=str(sn), data=str(pairs), out=str(out), steps=6, batch=2, patch=16, lr=1e-3, log_every=2,
                ckpt_every=2, device="cpu", threads=1, progress=False)
    return TFConfig(**{**base, **kw})


@pytest.mark.parametrize("mode", ["tf", "n2n"])
def test_tf_resume_reaches_bit_identical_weights(setup, tmp_path, mode):
    a = transfer(_config(setup, tmp_path / "a", mode=mode), echo=_quiet)
    b1 = transfer(_config(setup, tmp_path / "b", mode=mode), stop_after=3, echo=_quiet)  # mid log interval
    assert b1.step == 3 and load_checkpoint(tmp_path / "b" / "last.pt")["step"] == 3
    b2 = transfer(_config(setup, tmp_path / "b", mode=mode), resume=True, echo=_quiet)
    assert a.step == b2.step == 6
    wa, wb = load_checkpoint(a.checkpoint), load_checkpoint(b2.checkpoint)
    sn = load_checkpoint(setup[0] / "last.pt")["model"]
    assert any(not torch.equal(wa["model"][k], sn[k]) for k in sn)  # it trained
    for k in wa["model"]:
        assert torch.equal(wa["model"][k], wb["model"][k]), k
    for sa, sb in zip(wa["optimizer"]["state"].values(), wb["optimizer"]["state"].values()):
        assert all(torch.equal(sa[n], sb[n]) for n in sa)
    ra = {r["step"]: r["loss"] for r in read_metrics(tmp_path / "a" / "metrics.jsonl") if "loss" in r}
    rb = [(r["step"], r["loss"]) for r in read_metrics(tmp_path / "b" / "metrics.jsonl") if "loss" in r]
    assert [s for s, _ in rb] == [2, 3, 4, 6]  # the resumed log continues without repeating a step
    assert [ra[s] for s in (2, 6)] == [dict(rb)[s] for s in (2, 6)]  # intervals wholly before / after the stop
    assert wb["stage"] == mode and TFConfig.from_dict(wb["train_config"]).mode == mode


def test_tf_validation_writes_best_and_eval_reads_the_run_folder(setup, tmp_path, capsys):
    _, pairs = setup
    r = transfer(_config(setup, tmp_path / "run", steps=4, val=(str(pairs),), val_every=2), echo=_quiet)
    recs = read_metrics(tmp_path / "run" / "metrics.jsonl")
    vals = [rec for rec in recs if "val/pairs/psnr" in rec]
    assert [v["step"] for v in vals] == [2, 4] and r.best_psnr == max(v["val/pairs/psnr"] for v in vals)
    best = load_checkpoint(tmp_path / "run" / "best.pt")
    assert best["stage"] == "tf" and best["metrics"]["best_psnr"] == r.best_psnr
    assert (tmp_path / "run" / "curves.png").exists()
    assert cli_main(["eval", str(tmp_path / "run"), "--pairs", str(pairs), "--device", "cpu", "--threads", "1",
                     "--no-progress", "--json", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["checkpoint"]["path"].endswith("best.pt") and report["checkpoint"]["stage"] == "tf"
    assert report["checkpoint"]["step"] == best["step"]


def test_batches_are_a_function_of_seed_rank_and_step(setup):
    def stage(seed: int, rank: int, mode: str = "tf") -> TFStage:
        cfg = _config(setup, "unused", seed=seed, mode=mode).resolved("cpu")
        return TFStage(cfg, StageContext(rank, 2, torch.device("cpu"), torch.contiguous_format, None, _quiet))

    a, a2, b, c = stage(0, 0), stage(0, 0), stage(0, 1), stage(1, 0)
    assert torch.equal(a.batch(5)["noisy"], a2.batch(5)["noisy"])  # no hidden state: same step, same batch
    assert torch.equal(a.batch(5)["clean"], a2.batch(5)["clean"])
    for other in (a.batch(6), b.batch(5), c.batch(5)):  # another step, rank or seed: other crops
        assert not torch.equal(a.batch(5)["noisy"], other["noisy"])
    n, n2 = stage(0, 0, "n2n"), stage(0, 0, "n2n")
    assert torch.equal(n.batch(3)["idx1"], n2.batch(3)["idx1"]) and not torch.equal(n.batch(3)["idx1"],
                                                                                   n.batch(4)["idx1"])


def test_images_smaller_than_the_patch_are_skipped_never_cropped_smaller(setup, tmp_path):
    pairs = write_pairs(tmp_path / "pairs", {"big": make_image(48, 40, 0), "small": make_image(24, 40, 0)})
    transfer(_config(setup, tmp_path / "run", data=str(pairs), patch=32, steps=1), echo=_quiet)
    rec = json.loads((tmp_path / "run" / "config.json").read_text())
    assert rec["samples"] == 1 and rec["config"]["patch"] == 32
    assert len(rec["skipped"]) == 1 and "smaller than the 32×32 crop" in rec["skipped"][0]
    with pytest.raises(ValueError, match="no image is at least 64×64"):
        transfer(_config(setup, tmp_path / "run64", data=str(pairs), patch=64, steps=1), echo=_quiet)


def test_tf_resume_refuses_another_mode_and_runs_of_other_stages(setup, tmp_path):
    transfer(_config(setup, tmp_path / "run", steps=2), echo=_quiet)  # engine-wide refusals: test_engine.py
    with pytest.raises(ValueError, match="cannot resume.*mode"):
        transfer(_config(setup, tmp_path / "run", steps=4, mode="rt"), resume=True, echo=_quiet)
    sn = tmp_path / "sn"
    sn.mkdir()
    make_checkpoint(sn / "last.pt")  # written by no stage: not a TF run
    with pytest.raises(ValueError, match="cannot resume"):
        transfer(_config(setup, sn, steps=2), resume=True, echo=_quiet)


def test_tf_cli_resume_takes_the_checkpoints_settings_and_init_takes_a_run_folder(setup, tmp_path, capsys):
    sn, pairs = setup
    both = tmp_path / "sn"  # a run folder with best.pt and last.pt: --init takes best.pt
    both.mkdir()
    make_checkpoint(both / "last.pt", seed=1)
    make_checkpoint(both / "best.pt", seed=2)
    out = tmp_path / "run"
    args = ["tf", "--init", str(both), "--data", str(pairs), "--out", str(out), "--steps", "4", "--batch", "1",
            "--patch", "16", "--device", "cpu", "--threads", "1", "--no-progress", "--stop-after", "2"]
    assert cli_main(args) == 0
    assert "step 2" in capsys.readouterr().out
    rec = json.loads((out / "config.json").read_text())
    assert rec["config"]["init"] == str((both / "best.pt").resolve()) and rec["init"].endswith("best.pt")
    assert cli_main(["tf", "--out", str(out), "--resume", "--no-progress"]) == 0  # the rest from last.pt
    assert "step 4" in capsys.readouterr().out
    ck = load_checkpoint(out / "last.pt")
    assert ck["step"] == 4 and ck["train_config"]["batch"] == 1 and ck["train_config"]["patch"] == 16
    assert cli_main(["tf", "--out", str(tmp_path / "new"), "--data", str(pairs)]) == 2
    assert "--init is required" in capsys.readouterr().err
