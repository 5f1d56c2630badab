"""Every script in benchmarks/ and experiments/ at least starts: its --help prints a usage and exits 0.

The scripts import the library as it is now, so a renamed function or option breaks them without
any test of the package noticing (bench_png.py once failed on the σ member's new tEXt chunk). To stay
quick, one child interpreter runs every script's --help in turn (runpy, as ``python SCRIPT --help``
would: run as __main__, its folder first on sys.path), so torch and numba are imported once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("benchmarks", "experiments")
SCRIPTS = sorted(str(p.relative_to(ROOT)) for folder in FOLDERS for p in (ROOT / folder).glob("*.py")
                 if 'if __name__ == "__main__":' in p.read_text())

_CHILD = """
import contextlib, io, json, os, runpy, sys
results = []
for path, args in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [path, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(path)))
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        code = exc.code or 0
    except BaseException as exc:
        code = f"{type(exc).__name__}: {exc}"
    finally:
        sys.path.pop(0)
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def _run_scripts(calls: list[tuple[str, list[str]]]) -> list[list]:
    """[exit code (or the exception), stdout, stderr] of ``python SCRIPT ARGS...`` for each call, in one child."""
    r = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(calls)], capture_output=True, text=True, cwd=ROOT,
                       timeout=600)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


# Scripts that need another script's outputs, and a call that lacks them.
_NEEDS_TABLE5 = [("experiments/sigma_check.py", ["missing/sn/last.pt", "missing/cbsd68-cbdnet"]),
                 ("benchmarks/bench_denoise.py", ["--accuracy", "missing/sn/last.pt"])]


@pytest.fixture(scope="module")
def runs() -> dict:
    calls = [(s, ["--help"]) for s in SCRIPTS] + _NEEDS_TABLE5
    return {(path, *args): result for (path, args), result in zip(calls, _run_scripts(calls))}


def test_the_scripts_are_found():
    assert {"benchmarks/bench_png.py", "benchmarks/bench_denoise.py", "experiments/sigma_check.py",
            "experiments/table5_cpu.py"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_script_prints_its_help(runs, script):
    code, out, err = runs[(script, "--help")]
    assert code == 0, f"{script} --help: {code}\n{err[-2000:]}"
    assert out.startswith("usage: "), out[:500]


@pytest.mark.parametrize("script, args", _NEEDS_TABLE5, ids=[s for s, _ in _NEEDS_TABLE5])
def test_scripts_that_need_another_run_first_say_which_in_one_line(runs, script, args):
    code, _, err = runs[(script, *args)]
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("missing/sn/last.pt not found: run `python experiments/table5_cpu.py` first"), err
