"""Every package's docstring lists what the package holds: the ``Modules:`` block of each
``__init__.py`` names exactly its modules (``name``) and subpackages (``name/``), no more, no less."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.parent for top in ("noisegen", "trainer") for p in (ROOT / top).rglob("__init__.py"))


def listed(init: Path) -> set[str]:
    """Names in the docstring's ``Modules:`` block: indented lines, first word (subpackages end in /)."""
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    lines = doc.splitlines()
    if "Modules:" not in lines:
        return set()
    out = set()
    for line in lines[lines.index("Modules:") + 1:]:
        if not line.strip():
            break
        if line.startswith("    ") and not line.startswith("     "):
            out.add(line.split()[0])
    return out


def present(package: Path) -> set[str]:
    names = {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    return names | {d.name + "/" for d in package.iterdir() if (d / "__init__.py").exists()}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_package_docstring_lists_its_modules(package: Path) -> None:
    docs, files = listed(package / "__init__.py"), present(package)
    assert docs, f"{package.relative_to(ROOT)}/__init__.py has no 'Modules:' block in its docstring"
    assert docs == files, (f"{package.relative_to(ROOT)}: listed but absent {sorted(docs - files)}, "
                           f"present but not listed {sorted(files - docs)}")


def test_the_block_parser_sees_a_missing_module(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""Doc.\n\nModules:\n    a    one\n    b    two\n"""\n')
    (pkg / "a.py").write_text("")
    (pkg / "c.py").write_text("")
    assert listed(pkg / "__init__.py") == {"a", "b"}
    assert present(pkg) == {"a", "c"}
