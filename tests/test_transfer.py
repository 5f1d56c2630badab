"""trainer.transfer (`noisegen-train tf`): frozen parameters stay bit-identical, trainable ones change.

SN weights: a freshly initialised tiny AINDNet saved with trainer.checkpoint.save_checkpoint
(tests/test_evaluate.make_checkpoint); real pairs: small synthetic noisy/clean PNGs in noisy/ + gt/.
"""

from __future__ import annotations

import json

import pytest
import torch
from test_evaluate import make_checkpoint, make_image

from noisegen.dataset.images import write_png
from trainer.checkpoint import load_checkpoint
from trainer.cli import main as cli_main
from trainer.config import ModelConfig
from trainer.model import AINDNet, trainable_groups
from trainer.transfer import TFConfig, parameter_table, transfer

NAMES = ("Canon5D2_5_160_3200_toy_1", "Canon5D2_5_160_3200_plant_2", "NikonD800_6_125_1600_door_3")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    sn = root / "sn"
    sn.mkdir()
    make_checkpoint(sn / "last.pt")
    pairs = root / "pairs"
    (pairs / "noisy").mkdir(parents=True)
    (pairs / "gt").mkdir()
    for i, name in enumerate(NAMES):
        clean, noisy = make_image(40 + 4 * i, 36, i)
        write_png(pairs / "noisy" / f"{name}_real.png", noisy)
        write_png(pairs / "gt" / f"{name}_mean.png", clean)
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
    assert cli_main(args[:-5] + ["--pairs", "9", "--out", str(tmp_path / "r2"), "--device", "cpu"]) == 2
    assert "holds only 3" in capsys.readouterr().err


def test_tf_reads_a_pack_pairs_dataset_of_patches(setup, tmp_path):
    from noisegen.dataset.pack_pairs import PackPairsConfig, pack_pairs

    _, pairs = setup
    pack_pairs(PackPairsConfig(pairs=(str(pairs),), out=str(tmp_path / "packed"), patch=16), progress=False,
               echo=lambda s: None)
    sn, _ = setup
    after = _run((sn, tmp_path / "packed"), tmp_path / "tf", pairs=1)
    assert set(after) == set(load_checkpoint(sn / "last.pt")["model"])
    rec = json.loads((tmp_path / "tf" / "config.json").read_text())
    from trainer.evaluate import iter_pairs

    ids = [item.id for item in iter_pairs(str(tmp_path / "packed")).items()]
    assert len(set(ids)) == 3 and ids.count(ids[0]) >= 4  # several 16×16 tiles per pair
    assert rec["config"]["patch"] == 16 and rec["samples"] == ids.count(ids[0])  # every tile of the first pair stored
