"""`noisegen-train camera --dbsn` at --scale quick: rows (g) D-BSN, (h) SN on the noisy-only profile, (i)
distilled, on the pairs route (beside rows a-f) and the noisy-only route; (g) learns from noisy images only;
a second invocation reruns nothing."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from camdata import pairs_folder, photos_folder  # noqa: E402

from noisegen.camera.api import noisy_fit_step  # noqa: E402
from noisegen.dataset.images import read_rgb8, write_png  # noqa: E402
from noisegen.isp.profiles import load_profile  # noqa: E402
from trainer.camera.config import CameraConfig  # noqa: E402
from trainer.camera.rows import Row  # noqa: E402
from trainer.camera.rows_dbsn import ROW_G, ROWS_DBSN, dbsn_sizes  # noqa: E402
from trainer.camera.run import run_camera  # noqa: E402
from trainer.cli import main as cli_main  # noqa: E402
from trainer.engine.checkpoint import load_checkpoint  # noqa: E402

QUICK = ["--scale", "quick", "--device", "cpu", "--threads", "1", "--workers", "0", "--no-progress"]
TRAINED = ("steps in", "pseudo-pairs:", "profile 1/1", "dataset ", "baseline ")  # what trains, fits or generates


@pytest.fixture(scope="module")
def camera_folder(tmp_path_factory) -> Path:
    """One camera at ISO 3200, four scenes of two pairs (160², synthetic noise of std 6)."""
    return pairs_folder(tmp_path_factory.mktemp("camera") / "CamA", {"a": 2, "b": 2, "c": 2, "d": 2})


@pytest.fixture(scope="module")
def dbsn_run(camera_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "dbsn"
    assert cli_main(["camera", str(camera_folder), "--out", str(out), "--dbsn", *QUICK]) == 0
    return out


def _weights(path: Path) -> dict:
    return load_checkpoint(path)["model"]


def test_the_pairs_route_reports_rows_g_h_i_beside_a_to_f(dbsn_run):
    report = json.loads((dbsn_run / "report.json").read_text())
    rows = {r["key"]: r for r in report["rows"]}
    assert list(rows) == ["a", "b", "b1", "b2", "d", "e", "f", "g", "h", "i"]
    assert all(math.isfinite(rows[k]["psnr"]) and 10 < rows[k]["psnr"] < 60 for k in "ghi")
    assert report["denoiser"]["row"] == "f"  # the paper's pipeline stays the denoiser when there are pairs
    assert load_checkpoint(dbsn_run / "runs" / "g-dbsn" / "last.pt")["stage"] == "dbsn"
    assert load_checkpoint(dbsn_run / "runs" / "i-distill" / "last.pt")["stage"] == "distill"
    # (g): the scale's D-BSN with PD 5 in training, 2 and R³ at inference
    start = json.loads((dbsn_run / "runs" / "g-dbsn" / "config.json").read_text())
    assert start["config"]["model"] == dbsn_sizes("quick", "small")[0] == "tiny"
    assert (start["model_config"]["pd_train"], start["model_config"]["pd_infer"]) == (5, 2)
    assert start["model_config"]["r3_steps"] > 0
    # it learnt from the calibration pairs' noisy images alone: the data folder holds those and nothing else
    (g,) = json.loads((dbsn_run / "split.json").read_text())["split"]["groups"]
    noisy = {pid.split("/")[-1] + ".png" for pid in g["calib"]}
    assert set(start["image_names"]) == noisy == {f.name for f in Path(start["config"]["data"]).iterdir()}
    # (h): a profile fitted with noisy_only on (g)'s pseudo-pairs of the same images
    fit = json.loads((dbsn_run / "profiles" / "noisy-only" / "cama-iso-3200.fit.json").read_text())
    assert fit["noisy_only"] is True and [f.split("/")[-1] + ".png" for f in fit["fitted_on"]] == sorted(noisy)
    assert fit["noisy_target"] == "auto"  # calibrate --noisy-only's default: the residual for this PD-trained D-BSN
    assert (dbsn_run / "data" / "noisy-only" / "cama-iso-3200" / "dataset.json").is_file()
    md = (dbsn_run / "report.md").read_text()
    assert "| (i) |" in md and "| (g) |" in md


def test_a_second_invocation_reruns_nothing(camera_folder, dbsn_run, capsys):
    before = {p: p.stat().st_mtime_ns for p in (dbsn_run / "runs").glob("*/last.pt")}
    report = (dbsn_run / "report.json").read_bytes()
    capsys.readouterr()
    assert cli_main(["camera", str(camera_folder), "--out", str(dbsn_run), "--dbsn", *QUICK]) == 0
    said = capsys.readouterr().out
    assert not [line for line in said.splitlines() if any(t in line for t in TRAINED)], said
    assert {p: p.stat().st_mtime_ns for p in (dbsn_run / "runs").glob("*/last.pt")} == before
    assert (dbsn_run / "report.json").read_bytes() == report


def test_a_noisy_only_profile_fitted_with_another_target_is_refitted(dbsn_run, camera_folder, tmp_path, capsys,
                                                                      monkeypatch):
    """A run made when the noisy-only NLF target was the σ maps, resumed: its profile is fitted anew, and what was
    made from the old profile (the dataset, rows (h) and (i)) is made again, not reused."""
    import noisegen.camera.steps as steps

    run = shutil.copytree(dbsn_run, tmp_path / "run", symlinks=True)
    info = run / "profiles" / "noisy-only" / "cama-iso-3200.fit.json"
    monkeypatch.setattr(steps, "DEFAULT_NOISY_TARGET", "sigma")
    assert cli_main(["camera", str(camera_folder), "--out", str(run), "--dbsn", *QUICK]) == 0
    assert json.loads(info.read_text())["noisy_target"] == "sigma"
    profile, rows = run / "profiles" / "noisy-only" / "cama-iso-3200.json", ("h-noisy-only", "i-distill")

    def same_as_first_run() -> list[bool]:
        w = [(_weights(run / "runs" / r / "last.pt"), _weights(dbsn_run / "runs" / r / "last.pt")) for r in rows]
        return [profile.read_bytes() == (dbsn_run / profile.relative_to(run)).read_bytes(),
                *(a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a) for a, b in w)]

    assert same_as_first_run() == [False, False, False]  # another profile, and rows trained on its data
    monkeypatch.undo()
    capsys.readouterr()
    assert cli_main(["camera", str(camera_folder), "--out", str(run), "--dbsn", *QUICK]) == 0
    said = capsys.readouterr().out
    assert "noisy-only profile 1/1" in said and "row h-noisy-only: SN" in said and "row i-distill:" in said, said
    assert json.loads(info.read_text())["noisy_target"] == "auto"
    assert same_as_first_run() == [True, True, True]


def test_row_g_reads_no_clean_image(camera_folder, dbsn_run, tmp_path):
    """Every clean image replaced by noise before (g) trains: the D-BSN comes out bit-identical."""
    folder = shutil.copytree(camera_folder, tmp_path / "CamA")

    def garbage_then_g(ctx) -> Path:
        rng = np.random.default_rng(0)
        for f in [Path(p.clean) for p in ctx.split.calib + ctx.split.test] + sorted(ctx.out.glob("pairs/*/gt/*")):
            shape = read_rgb8(f)[0].shape
            f.unlink()
            write_png(f, rng.integers(0, 256, shape, dtype=np.uint8))
        return ROW_G.train(ctx)

    cfg = CameraConfig(folder=str(folder), out=str(tmp_path / "run"), scale="quick", device="cpu", threads=1,
                       workers=0, progress=False)
    run_camera(cfg, rows=(Row("g", "D-BSN, clean images replaced by noise", "any", garbage_then_g),),
               echo=lambda m: None)
    a = _weights(dbsn_run / "runs" / "g-dbsn" / "last.pt")
    b = _weights(tmp_path / "run" / "runs" / "g-dbsn" / "last.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_noisy_only_route_with_dbsn_gives_a_noisy_only_profile_and_the_distilled_denoiser(tmp_path):
    folder = photos_folder(tmp_path / "dnd", 4)
    out = tmp_path / "run"
    assert cli_main(["camera", str(folder), "--camera", "CamX", "--iso", "800", "--out", str(out), "--dbsn",
                     *QUICK]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["rows"] == [] and report["denoiser"]["row"] == "i"
    assert load_checkpoint(out / "denoiser.pt")["stage"] == "distill"
    (g,) = json.loads((out / "split.json").read_text())["split"]["photos"]
    calib = sorted(pid.split("/")[-1] + ".png" for pid in g["calib"])
    start = json.loads((out / "runs" / "g-dbsn" / "config.json").read_text())
    assert sorted(start["image_names"]) == calib  # the held-out photos are not trained on
    fit = json.loads((out / "profiles" / "noisy-only" / "camx-iso-800.fit.json").read_text())
    assert fit["noisy_only"] is True and fit["fit"] == "quick"
    assert sorted(f.split("/")[-1] + ".png" for f in fit["fitted_on"]) == calib
    assert load_profile(out / "profiles" / "noisy-only" / "camx-iso-800.json").name.startswith("calibrated-")
    (lv,) = report["noise_levels"]
    assert lv["group"] == "CamX · ISO 800" and lv["images"] == len(g["test"])
    assert any("row (i)'s output" in n for n in report["notes"])
    assert json.loads((out / "camera.json").read_text())["content"]["dbsn"] is True


def test_rows_and_fit_steps():
    assert [r.key for r in ROWS_DBSN] == ["g", "h", "i"] and all(r.needs == "any" for r in ROWS_DBSN)
    assert all(dbsn_sizes(s, "small")[1] % 5 == 0 for s in ("quick", "cpu", "gpu", "other"))
    assert noisy_fit_step("quick").keywords == {"noisy_only": True, "noisy_target": "auto"}
    assert noisy_fit_step("calibrate").keywords == {"noisy_only": True, "noisy_target": "auto"}
    with pytest.raises(ValueError, match="no noisy-only form"):
        noisy_fit_step("mymodule:fit")
    # runs made before the option continue: dbsn is recorded only when on
    assert "dbsn" not in CameraConfig(folder="f", out="o", scale="quick").content(
        CameraConfig(folder="f", out="o", scale="quick").resolved_scale(False))
