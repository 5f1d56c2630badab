"""`noisegen-train camera` at --scale quick: the pairs route end to end, resumable after a kill with the same
report, the noisy-only route, and one clear line for inputs it cannot use."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from camdata import pairs_folder, photos_folder  # noqa: E402

from noisegen.dataset.images import read_rgb8  # noqa: E402
from trainer.cli import build_parser  # noqa: E402
from trainer.cli import main as cli_main  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
QUICK = ["--scale", "quick", "--device", "cpu", "--threads", "1", "--workers", "0", "--no-progress"]
REPORT = ("report.json", "report.md", "report.png")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * math.log10(255.0**2 / mse)


@pytest.fixture(scope="module")
def camera_folder(tmp_path_factory) -> Path:
    """One camera at ISO 3200, four scenes of two pairs (160², synthetic noise of std 6)."""
    return pairs_folder(tmp_path_factory.mktemp("camera") / "CamA", {"a": 2, "b": 2, "c": 2, "d": 2})


@pytest.fixture(scope="module")
def quick_run(camera_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "quick"
    assert cli_main(["camera", str(camera_folder), "--out", str(out), *QUICK]) == 0
    return out


def test_quick_pairs_route_end_to_end(quick_run, capsys):
    report = json.loads((quick_run / "report.json").read_text())
    rows = {r["key"]: r for r in report["rows"]}
    assert list(rows) == ["a", "b", "b1", "b2", "d", "e", "f"]
    assert all(math.isfinite(r["psnr"]) and 20 < r["psnr"] < 60 for r in rows.values())
    assert report["denoiser"]["row"] == "f" and (quick_run / "denoiser.pt").is_file()
    # the split: whole scenes, listed; the report scores its test pairs
    split = json.loads((quick_run / "split.json").read_text())["split"]
    (g,) = split["groups"]
    assert g["calib"] and g["test"] and not set(g["calib_scenes"]) & set(g["test_scenes"])
    # row (a) is the noisy input: the mean PSNR of the test pairs' 128² centre crops, computed here
    mine = []
    for pid in g["test"]:
        stem = pid.split("/")[-1]
        noisy = read_rgb8(quick_run / "pairs" / "test-crop128" / "noisy" / (stem + ".png"))[0]
        clean = read_rgb8(quick_run / "pairs" / "test-crop128" / "gt" / (stem[:-5] + "_mean.png"))[0]
        assert noisy.shape == (128, 128, 3)
        mine.append(_psnr(noisy, clean))
    assert rows["a"]["psnr"] == pytest.approx(float(np.mean(mine)), abs=1e-9)
    # realism of the profile beside the two baselines, per group
    (r,) = report["realism"]
    assert set(r["models"]) == {"AWGN", "sRGB a·x+b", "profile"} and all(
        0 < m["akld"] < 10 for m in r["models"].values())
    assert json.loads((quick_run / "profiles" / "cama-iso-3200.fit.json").read_text())["fitted_on"] == g["calib"]
    # rows (b1), (b2) train on the simple baselines fitted on the same calibration pairs: AWGN has one σ
    from noisegen.isp.profiles import load_profile

    awgn = load_profile(quick_run / "profiles" / "baselines" / "cama-iso-3200-awgn.json")
    srgb = load_profile(quick_run / "profiles" / "baselines" / "cama-iso-3200-srgb-ax-b.json")
    assert awgn.name == "awgn-cama-iso-3200" and srgb.name == "srgb-ax-b-cama-iso-3200"
    assert all((quick_run / "runs" / r / "last.pt").is_file() for r in ("b1-awgn", "b2-srgb"))
    md = (quick_run / "report.md").read_text()
    assert "| (f) | TF, K real pairs, from (d) |" in md and "AKLD" in md and "denoise RUN/denoiser.pt" in md
    assert (quick_run / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for files in (c["files"] for c in report["crops"]):
        assert all((quick_run / f).is_file() for f in files.values())
    # the denoiser is a checkpoint `denoise` takes
    photo = next((quick_run / "pairs" / "test-crop128" / "noisy").iterdir())
    capsys.readouterr()
    assert cli_main(["denoise", str(quick_run / "denoiser.pt"), str(photo), "--out", str(quick_run / "den"),
                     "--tile", "64", "--tile-stats", "--device", "cpu", "--no-progress"]) == 0
    assert read_rgb8(next((quick_run / "den").iterdir()))[0].shape == (128, 128, 3)


def test_killed_and_resumed_run_gives_the_same_report(camera_folder, quick_run, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "trainer", "camera", str(camera_folder), "--out", str(out), *QUICK]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    for line in proc.stdout:  # kill it as row (d) starts: (b) is done, (d) is being generated or trained
        seen.append(line)
        if "row (d)" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert not (out / "report.png").exists() and not (out / "denoiser.pt").exists()
    assert cli_main(["camera", str(camera_folder), "--out", str(out), *QUICK]) == 0
    for name in REPORT:
        a, b = (quick_run / name).read_bytes(), (out / name).read_bytes()
        if name == "report.json":  # the command lines differ by --out only
            a, b = (json.loads(x) for x in (a, b))
            assert a.pop("command").replace(str(quick_run), "OUT") == b.pop("command").replace(str(out), "OUT")
        elif name == "report.md":
            a, b = a.decode().replace(str(quick_run), "OUT"), b.decode().replace(str(out), "OUT")
        assert a == b, name
    killed, resumed = json.loads((out / "timings.json").read_text())["invocations"]  # both counted
    assert "folder and split" in killed["steps"] and "photos, crops and report" not in killed["steps"]
    assert "photos, crops and report" in resumed["steps"]


def test_the_noisy_only_route_reports_noise_levels(tmp_path, capsys):
    folder = photos_folder(tmp_path / "dnd", 4)
    pairs_folder(folder / "tripod", {"wall": 2}, camera="CamX", iso=800)  # pairs of one scene: cannot be held out
    out = tmp_path / "run"
    assert cli_main(["camera", str(folder), "--camera", "CamX", "--iso", "800", "--out", str(out), *QUICK]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["rows"] == [] and report["realism"] == [] and report["denoiser"]["row"] == "b"
    assert report["folder"]["pairs"] == 2 and report["split"]["skipped"] == [
        {"group": "CamX · ISO 800", "reason": "1 scene (wall, 2 pairs): cannot hold scenes out"}]
    (lv,) = report["noise_levels"]
    assert lv["group"] == "CamX · ISO 800" and lv["images"] == 2
    g = np.array([v for v in lv["std_8bit"][1] if v is not None])
    assert g.size >= 2 and np.all((g > 0) & (g < 30))  # the photos carry std-8 noise, measured in levels
    assert "Noise level of CamX · ISO 800" in (out / "report.md").read_text()
    assert "no real pairs" in (out / "report.md").read_text()


@pytest.mark.parametrize("make, args, message", [
    (lambda p: pairs_folder(p, {"wall": 3}), [], r"1 scene \(wall, 3 pairs\)"),
    (lambda p: pairs_folder(p, {"wall": 1}), [], r"too few images \(1 pairs"),
    (lambda p: photos_folder(p, 3), [], "carry no camera or ISO"),
    (lambda p: pairs_folder(p, {"a": 1, "b": 1}), ["--clean", "{missing}"], "no clean photos for generate"),
])
def test_inputs_it_cannot_use_give_one_line_and_no_run_folder(tmp_path, capsys, make, args, message):
    folder = make(tmp_path / "cam")
    out = tmp_path / "run"
    args = [a.replace("{missing}", str(tmp_path / "missing")) for a in args]
    assert cli_main(["camera", str(folder), "--out", str(out), *args, *QUICK]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("noisegen-train camera: error:")
    assert __import__("re").search(message, err), err
    assert not out.exists()


def test_a_run_folder_refuses_other_settings(quick_run, camera_folder, capsys):
    assert cli_main(["camera", str(camera_folder), "--out", str(quick_run), *QUICK, "--seed", "1"]) == 2
    assert "made with other settings (seed: 0 → 1)" in capsys.readouterr().err


def test_help_explains_every_option_and_its_default(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices["camera"]
    with pytest.raises(SystemExit):
        sub.parse_args(["--help"])
    text = capsys.readouterr().out
    for action in sub._actions:
        if action.option_strings and action.dest != "help":
            assert action.help and ("default" in action.help or action.required or action.dest == "no_progress"), \
                action.dest
    assert all(s in text for s in ("quick", "cpu", "gpu", "denoiser.pt", "report.md"))
    with pytest.raises(SystemExit):
        sub.parse_args(["FOLDER", "--out", "x", "--no-such-option"])


def test_a_run_folder_in_use_by_a_live_camera_run_is_refused(camera_folder, tmp_path, capsys):
    from noisegen.runlock import FolderLock
    from trainer.camera.run import CAMERA_LOCK

    out = tmp_path / "busy"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from noisegen.runlock import FolderLock; "
                               "FolderLock(sys.argv[1]); print('held', flush=True); time.sleep(60)",
                               str(out / CAMERA_LOCK)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        capsys.readouterr()
        assert cli_main(["camera", str(camera_folder), "--out", str(out), *QUICK]) == 2
        err = capsys.readouterr().err
        assert f"in use by a live `noisegen-train camera` run (pid {holder.pid}, still running)" in err
        assert not (out / "camera.json").exists()  # nothing of the run was started
    finally:
        holder.kill()
        holder.wait()
    FolderLock(out / CAMERA_LOCK).close()  # the holder's end released it: a new run may take it
