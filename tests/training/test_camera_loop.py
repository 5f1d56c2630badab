"""The camera loop (experiments/camera_loop.py), a thin caller of the camera command's library, at toy scale:
its table with row (c), and a second invocation that trains nothing and gives the same rows."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

from datagen import SHARED_DATA  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_quick_loop_end_to_end_and_resumed(tmp_path):
    need = ("PolyU100", "CBSD68", "Kodak24")
    if not all((SHARED_DATA / n).is_dir() for n in need):
        pytest.skip(f"shared data {SHARED_DATA}/{{{','.join(need)}}} is absent")
    out = tmp_path / "loop"
    env = {**os.environ, "NOISEGEN_SHARED_DATA": str(SHARED_DATA)}
    cmd = [sys.executable, str(ROOT / "experiments" / "camera_loop.py"), "--quick", "--sets", "PolyU100",
           "--out", str(out), "--threads", "1"]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    res = json.loads((out / "results.json").read_text())
    rows = res["results"]["PolyU100"]
    assert set(rows) == {"a", "b", "b1", "b2", "c", "d", "e", "f"}
    assert all(math.isfinite(v) and 15 < v < 60 for v in rows.values())
    table = (out / "table.md").read_text()
    assert "camera_loop.py --quick" in table and "| (c) |" in table and "wall time" in table
    assert (out / "polyu100" / "report.md").is_file() and (out / "shared" / "runs" / "b-cbdnet" / "last.pt").is_file()
    split = res["splits"]["PolyU100"]["groups"][0]
    assert split["test"] and split["calib"] and not set(split["test_scenes"]) & set(split["calib_scenes"])
    r2 = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0 and "steps in" not in r2.stdout
    assert json.loads((out / "results.json").read_text())["results"] == res["results"]

    # rows (b1), (b2): every generated sample carries exactly the baselines fitted on the group's calibration pairs
    import numpy as np

    from noisegen.analysis.nlf import image_stats, merge
    from noisegen.analysis.realism.models import fit_awgn, fit_srgb_linear
    from noisegen.dataset.pairs import load_pair, scan_pairs
    from noisegen.isp.profiles import load_profile
    from noisegen.isp.sampling import sample_params

    by_id = {p.id: p for p in scan_pairs([SHARED_DATA / "PolyU100"]).pairs}
    st = merge(image_stats(*load_pair(by_id[i])) for i in split["calib"])
    folder = out / "polyu100" / "profiles" / "baselines"
    for tag, fit in (("awgn", fit_awgn), ("srgb-ax-b", fit_srgb_linear)):
        want = fit(st).params
        (path,) = folder.glob(f"*-{tag}.json")
        got = sample_params(load_profile(path), np.random.default_rng(5))
        assert got.crf == "linear" and got.pattern is None and got.jpeg_quality is None
        np.testing.assert_allclose(got.sigma_s, want.sigma_s, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(got.sigma_c, want.sigma_c, rtol=1e-12, atol=1e-12)
