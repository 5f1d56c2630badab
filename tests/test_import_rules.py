"""The architecture's import rules (issue 10), checked on the source and in fresh interpreters.

- The dataset reader imports neither the writer, nor the camera pipeline, nor numba (nor torch, nor scipy).
- `import noisegen` is cheap: the public API is resolved on first use.
- The trainer reaches noisegen through its doors only: the dataset reader (``noisegen.dataset.reader``), the
  camera model's public door (``noisegen.isp.api``: profiles, sampling and synthesis for validation and fresh
  noise), the camera command's door (``noisegen.camera.api``: the folder scan, the split by shot, calibrate,
  generate and realism steps of `noisegen-train camera`) and the small utilities; no other module of
  noisegen, not even another of the camera model or of noisegen.camera.
- The training engine is stage- and camera-agnostic: apart from validation (which adds synthetic noise to
  clean images), its modules import no stage, no data stream and nothing of the camera model.
- Layers point down: the camera model (isp, crf, kernels) imports nothing of the dataset, analysis or
  command-line packages; noisegen.camera (over dataset and analysis) nothing of the command line.
- noisegen's modules import each other without cycles, and at the top of the module (function-local
  project imports only in the command-line modules, which keep `--help` fast, and one documented
  exception); nothing imports ``crf_data``.
- pyproject.toml lists every package; no module is over 400 lines.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
UTILITIES = {"noisegen.atomic", "noisegen.version", "noisegen.dataclass_json", "noisegen.command",
             "noisegen.checks", "noisegen.files", "noisegen.runlock"}
# The camera command (trainer.camera) orchestrates calibrate, generate and realism: it reaches them through
# their one door, noisegen.camera.api, never the modules behind it.
CAMERA_DOOR = "noisegen.camera.api"
TRAINER_DOORS = {"noisegen.dataset.reader", "noisegen.isp.api", CAMERA_DOOR} | UTILITIES
# The layers of noisegen, bottom first: a package imports only its own layer and those below it.
LAYERS = (("noisegen.kernels", "noisegen.crf", "noisegen.isp"), ("noisegen.dataset",), ("noisegen.analysis",),
          ("noisegen.camera",), ("noisegen.cli",))
# Function-local project imports allowed outside noisegen/cli, with the reason.
LOCAL_IMPORT_EXCEPTIONS = {
    # 16-bit colour PNG sources need the numba unfilter kernel; the reader (which reads pairs and
    # images through images.py → png.py) must not import numba until such a file is decoded.
    ("noisegen/dataset/png.py", "noisegen.kernels.unfilter"),
    # The CRF bank types and tables are numpy only (the reader derives σ maps from them); applying a
    # curve to an image uses the numba LUT kernels.
    ("noisegen/crf/bank.py", "noisegen.kernels.lut"),
}


def _modules(package: str) -> dict[str, Path]:
    out = {}
    for f in sorted((ROOT / package).rglob("*.py")):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = f
    return out


def _imports(path: Path) -> list[tuple[str, bool, int]]:
    """(module imported, inside a function?, line) of every import statement of a file."""
    tree = ast.parse(path.read_text())
    local: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local.update(id(n) for n in ast.walk(node) if isinstance(n, (ast.Import, ast.ImportFrom)))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in local, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
            out += [(node.module, id(node) in local, node.lineno)] + [(n, id(node) in local, node.lineno)
                                                                      for n in names]
    return out


def _fresh(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_the_reader_imports_no_writer_pipeline_numba_or_torch():
    out = _fresh("import sys, noisegen.dataset.reader\n"
                 "bad = ('numba', 'torch', 'scipy', 'webdataset', 'noisegen.dataset.writer',\n"
                 "       'noisegen.dataset.make_shard', 'noisegen.isp.pipeline', 'noisegen.kernels')\n"
                 "print(sorted(m for m in sys.modules if m.split('.')[0] in bad or m in bad or\n"
                 "             any(m.startswith(b + '.') for b in bad)))")
    assert out.strip() == "[]"


def test_the_camera_door_is_torch_free_and_the_only_camera_module_the_trainer_imports():
    out = _fresh("import sys, noisegen.camera.api\nprint('torch' in sys.modules)")
    assert out.strip() == "False"
    used = {name for path in _modules("trainer").values() for name, _, _ in _imports(path)
            if name.startswith("noisegen.camera") and name in _modules("noisegen")}
    assert used == {CAMERA_DOOR}


def test_import_noisegen_is_cheap_and_the_api_resolves_on_use():
    out = _fresh("import sys, noisegen\n"
                 "print('numba' in sys.modules, 'noisegen.isp.pipeline' in sys.modules)\n"
                 "noisegen.synthesize\n"
                 "print('noisegen.isp.pipeline' in sys.modules, sorted(noisegen.__all__) == sorted(dir(noisegen)))")
    assert out.split() == ["False", "False", "True", "True"]
    import noisegen

    for name in noisegen.__all__:
        assert getattr(noisegen, name) is not None
    with pytest.raises(AttributeError):
        noisegen.no_such_name  # noqa: B018


def _trainer_door_violations(trainer_files: dict[str, Path], noisegen_modules: set[str]) -> list[str]:
    wrong = []
    for path in trainer_files.values():
        for name, _, line in _imports(path):
            if name in noisegen_modules and name not in TRAINER_DOORS:  # other names: imported from a module
                wrong.append(f"{path.name}:{line} imports {name}")
    return wrong


def test_the_trainer_uses_noisegen_through_its_doors_only():
    wrong = _trainer_door_violations(_modules("trainer"), set(_modules("noisegen")))
    assert not wrong, "\n".join(wrong)


def test_the_door_rule_sees_a_module_behind_the_door(tmp_path):
    mods = set(_modules("noisegen"))
    files = {}
    lines = ["from noisegen.isp.api import synthesize", "from noisegen.dataset.reader import read_pairs",
             "from noisegen.isp.profiles import get_profile", "import noisegen.isp.pipeline",
             "from noisegen.dataset.reader.pairs import read_pairs", "from noisegen import synthesize",
             "from noisegen.atomic import atomic_write", "from noisegen.camera.api import split_camera",
             "from noisegen.camera.split import split_camera"]
    for i, line in enumerate(lines):
        (tmp_path / f"m{i}.py").write_text(line + "\n")
        files[f"m{i}"] = tmp_path / f"m{i}.py"
    wrong = _trainer_door_violations(files, mods)
    assert sorted(w.split(" imports ")[1] for w in wrong) == [
        "noisegen", "noisegen.camera.split", "noisegen.dataset.reader.pairs", "noisegen.isp.pipeline",
        "noisegen.isp.profiles"]


def test_the_engine_imports_no_stage_and_no_camera_model():
    wrong = []
    for mod, path in _modules("trainer").items():
        if not mod.startswith("trainer.engine") or mod == "trainer.engine.validate":
            continue
        for name, _, line in _imports(path):
            if name.startswith(("noisegen.isp", "trainer.stages", "trainer.data")):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_noisegen_layers_point_down():
    rank = {pkg: i for i, layer in enumerate(LAYERS) for pkg in layer}

    def layer(module: str) -> int | None:
        return next((r for pkg, r in rank.items() if module == pkg or module.startswith(pkg + ".")), None)

    up = []
    for mod, path in _modules("noisegen").items():
        own = layer(mod)
        for name, _, line in _imports(path):
            if own is not None and (other := layer(name)) is not None and other > own:
                up.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert not up, "upward imports:\n" + "\n".join(up)


def _graph() -> dict[str, set[str]]:
    mods = _modules("noisegen")
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for name, _, _ in _imports(path):
            if name in mods and name != m:
                graph[m].add(name)
    return graph


def test_noisegen_modules_import_each_other_without_cycles():
    graph = _graph()
    for m in graph:  # a package imports its own modules (re-exports); drop package → child edges
        graph[m] = {d for d in graph[m] if not d.startswith(m + ".")}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                raise AssertionError("import cycle: " + " → ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_project_imports_are_at_module_top_outside_the_command_line():
    found = []
    for mod, path in _modules("noisegen").items():
        if mod.startswith("noisegen.cli"):
            continue  # subcommands import their library lazily: `noisegen --help` stays fast
        rel = str(path.relative_to(ROOT))
        for name, local, line in _imports(path):
            if local and name.split(".")[0] == "noisegen" and (rel, name) not in LOCAL_IMPORT_EXCEPTIONS:
                if not any(name.startswith(e + ".") for r, e in LOCAL_IMPORT_EXCEPTIONS if r == rel):
                    found.append(f"{rel}:{line} {name}")
    assert not found, "function-local project imports:\n" + "\n".join(found)


def test_utilities_import_nothing_of_the_project():
    mods = _modules("noisegen")
    for u in UTILITIES:
        inner = {n for n, _, _ in _imports(mods[u]) if n.split(".")[0] in ("noisegen", "trainer", "crf_data")}
        assert not inner, f"{u} imports {inner}"


def test_nothing_imports_crf_data_as_a_package():
    for pkg in ("noisegen", "trainer"):
        for path in _modules(pkg).values():
            assert not [n for n, _, _ in _imports(path) if n.split(".")[0] == "crf_data"], path


def test_pyproject_lists_every_package():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for pkg in ("noisegen", "trainer")
               for p in (ROOT / pkg).rglob("__init__.py")}
    assert on_disk | {"noisegen.crf.shipped"} == listed


def test_no_module_is_over_400_lines():
    long = [f"{p.relative_to(ROOT)}: {n}" for pkg in ("noisegen", "trainer") for p in (ROOT / pkg).rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 400]
    assert not long, long
