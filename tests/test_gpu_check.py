"""benchmarks/gpu_check.py --dry-run: the GPU acceptance script runs end to end on the CPU (tiny model,
small crops, a few steps), so that it cannot rot before the next GPU is lent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_runs_every_section(tmp_path):
    out = tmp_path / "dry.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--json", str(out)],
                       capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    report = json.loads(out.read_text())
    sections = report["sections"]
    expected = {"data", "flops", "step", "loader", "train", "denoise"}
    assert expected <= set(sections), (set(sections), report["errors"])
    assert sections["train"]["resumed_to"] == sections["train"]["steps"] + 5
    assert all(row["samples_per_s"] > 0 for row in sections["step"]["rows"])
    assert sections["flops"]["macs_per_pixel"] > 0
    if (ROOT.parent / "shared" / "data" / "CC15").is_dir():
        assert {"plain", "ensemble"} <= set(sections["eval"])
    assert "[denoise]" in r.stdout and "done in" in r.stdout
