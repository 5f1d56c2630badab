"""The Noise-DA rows of the camera command (trainer.camera.rows_da) at --scale quick: (j) and (k) beside the
command's rows, the real photos are the calibration pairs' noisy files only, (j0) = (b) bit for bit, at the
run's seed and at another training seed."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from camdata import pairs_folder  # noqa: E402

from trainer.camera.config import CameraConfig  # noqa: E402
from trainer.camera.rows import ROWS  # noqa: E402
from trainer.camera.rows_da import DA_KEYS, ROWS_DA, da_rows, noisy_photos, row_key, run_name  # noqa: E402
from trainer.camera.run import run_camera  # noqa: E402

EXTRA = (*da_rows(None, ("j0",)), *da_rows(1, ("b", "j0")))


@pytest.fixture(scope="module")
def da_run(tmp_path_factory) -> Path:
    """One quick camera run with the command's rows, ROWS_DA, (j0), and (b), (j0) at training seed 1."""
    root = tmp_path_factory.mktemp("camera-da")
    folder = pairs_folder(root / "CamA", {"a": 2, "b": 2, "c": 2, "d": 2})
    config = CameraConfig(folder=str(folder), out=str(root / "run"), scale="quick", device="cpu", threads=1,
                          workers=0, progress=False)
    run_camera(config, rows=(*ROWS, *ROWS_DA, *EXTRA), echo=lambda m: None)
    return root / "run"


def _weights(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def _same(a: Path, b: Path) -> bool:
    wa, wb = _weights(a), _weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_rows_j_and_k_beside_the_command_rows(da_run):
    report = json.loads((da_run / "report.json").read_text())
    rows = {r["key"]: r for r in report["rows"]}
    assert list(rows) == [r.key for r in (*ROWS, *ROWS_DA, *EXTRA)]
    assert [r.key for r in ROWS_DA] == ["j", "k"]
    for key in ("j", "k", "j0", "b-s1", "j0-s1"):
        assert math.isfinite(rows[key]["psnr"]) and 20 < rows[key]["psnr"] < 60, key
        assert rows[key]["step"] == report["scale"]["steps"]
    assert report["denoiser"]["row"] == "f"  # the DA rows leave the run's denoiser as it was
    # trained at the run's scale by the `da` stage, on (b)'s and (d)'s data
    cfg = json.loads((da_run / "runs" / "k-da-seed0" / "config.json").read_text())
    sn = json.loads((da_run / "runs" / "d-render" / "config.json").read_text())
    assert cfg["stage"] == "da" and cfg["config"]["da_weight"] == 0.2
    for f in ("model", "steps", "batch", "patch", "lr", "seed", "ckpt_every", "data"):
        assert cfg["config"][f] == sn["config"][f], f
    j = json.loads((da_run / "runs" / "j-da-seed0" / "config.json").read_text())
    assert j["config"]["data"] == [str(da_run / "data" / "cbdnet")]
    assert not _same(da_run / "runs" / "j-da-seed0" / "last.pt", da_run / "runs" / "b-cbdnet" / "last.pt")


def test_the_real_photos_are_the_calibration_pairs_noisy_files_only(da_run):
    calib = da_run / "pairs" / "calib-crop128"
    real = da_run / "pairs" / "calib-crop128-noisy"
    for run in ("j-da-seed0", "k-da-seed0", "j0-da-seed0", "j0-da-seed1"):
        cfg = json.loads((da_run / "runs" / run / "config.json").read_text())
        assert cfg["config"]["real"] == str(real) and cfg["real_names"] == sorted(p.name for p in real.iterdir())
    noisy = sorted((calib / "noisy").iterdir())
    assert noisy and sorted(p.name for p in real.iterdir()) == [p.name for p in noisy]
    assert all((real / p.name).is_symlink() and (real / p.name).resolve() == p.resolve() for p in noisy)
    gt = {p.resolve() for p in (calib / "gt").iterdir()}
    assert not gt & {p.resolve() for p in real.iterdir()}


def test_alpha_zero_gives_the_sn_weights_bit_for_bit(da_run):
    runs = da_run / "runs"
    assert _same(runs / "j0-da-seed0" / "last.pt", runs / "b-cbdnet" / "last.pt")
    assert _same(runs / "j0-da-seed1" / "last.pt", runs / "b-cbdnet-seed1" / "last.pt")
    assert not _same(runs / "b-cbdnet-seed1" / "last.pt", runs / "b-cbdnet" / "last.pt")  # the seed is used


def test_names_keys_and_the_noisy_photos_folder(tmp_path):
    assert [r.key for r in da_rows(2)] == [f"{k}-s2" for k in DA_KEYS] and row_key("j", None) == "j"
    assert run_name("b", 0, 0) == "b-cbdnet" and run_name("d", 0, 0) == "d-render"
    assert run_name("b", 1, 0) == "b-cbdnet-seed1" and run_name("jc", 0, 0) == "jc-da-seed0"
    with pytest.raises(ValueError, match="unknown rows"):
        da_rows(0, ("x",))
    pairs = tmp_path / "pairs"
    for role in ("noisy", "gt"):
        (pairs / role).mkdir(parents=True)
        (pairs / role / f"{role}1.png").write_bytes(b"x")
    folder = tmp_path / "real"
    folder.mkdir()
    (folder / "stale.png").symlink_to(pairs / "gt" / "gt1.png")
    assert noisy_photos(pairs, folder) == folder
    assert [p.name for p in folder.iterdir()] == ["noisy1.png"]
    assert (folder / "noisy1.png").resolve() == (pairs / "noisy" / "noisy1.png").resolve()
