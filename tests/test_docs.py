"""The project documents itself: docs/cli.md matches the parsers, every relative link of the front page
and docs/ resolves, every "docs/<page>.md §<Section>" citation names a section that exists, nothing cites a
document outside the repository, and the README's test command is the one CI runs."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC_PAGES = sorted((ROOT / "docs").glob("*.md"))
LINKED_PAGES = [ROOT / "README.md", ROOT / "CHANGELOG.md", *DOC_PAGES]
# Folders that hold no project source: virtual environments, outputs, caches, version control.
SKIP_DIRS = {".git", ".venv", "venv", "out", "runs", "data", "build", "dist", "__pycache__", "node_modules"}

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CITATION = re.compile(r"docs/([\w-]+)\.md §([^\n]*)")
FENCE = re.compile(r"^\s*```")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
# Documents that live outside the repository (the team's own notes): built from parts so that this file
# does not match itself.
OUTSIDE = re.compile(r"\b(?:" + "DESIGN" + r"(?:\.md)?\s*§|" + "DESIGN" + r"\.md|" + "STYLE" + r"\.md)")


def _project_files(*suffixes: str) -> list[Path]:
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith(".") and not d.endswith(".egg-info")]
        found += [Path(folder) / f for f in files if Path(f).suffix in suffixes]
    return sorted(found)


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"docs_{name}", ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(page: Path) -> list[str]:
    """The headings of a Markdown page, outside fenced code blocks."""
    out, in_code = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_code = not in_code
        elif not in_code and (m := HEADING.match(line)):
            out.append(m.group(2))
    return out


def anchors(page: Path) -> set[str]:
    """Every anchor GitHub gives the headings of ``page`` (repeated headings get -1, -2, ...)."""
    seen: dict[str, int] = {}
    out = set()
    for h in headings(page):
        s = slug(h)
        n = seen.get(s, 0)
        out.add(s if n == 0 else f"{s}-{n}")
        seen[s] = n + 1
    return out


def test_slug_follows_github():
    assert slug("The σ member") == "the-σ-member"
    assert slug("Camera realism (issue 11.2)") == "camera-realism-issue-112"
    assert slug("noisegen-train sn") == "noisegen-train-sn"
    assert slug('Camera loop (issue 11.3): "give me a denoiser for my camera"') == \
        "camera-loop-issue-113-give-me-a-denoiser-for-my-camera"


def test_cli_page_is_current():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "build_cli.py"), "--check"], capture_output=True,
                          text=True, cwd=ROOT)
    assert proc.returncode == 0, (
        "docs/cli.md does not match the command-line parsers; regenerate it with `python docs/build_cli.py` "
        f"and commit it ({proc.stderr.strip()})")


def test_cli_page_lists_every_command():
    build = _load_script("build_cli")
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in ("noisegen synth", "noisegen crf import", "noisegen generate", "noisegen realism",
                    "noisegen-train sn", "noisegen-train tf", "noisegen-train eval", "noisegen-train denoise"):
        assert f"\n## {command}\n" in text or f"\n### {command}\n" in text or f"\n#### {command}\n" in text
        assert f"(#{build._anchor(command)})" in text


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    """Every relative link of the front page, the changelog and docs/ names a file of the repository, and
    its #fragment, when it has one and points at a Markdown page, names a heading of that page."""
    assert page.is_file(), f"{page.relative_to(ROOT)} is missing"
    bad = []
    text = page.read_text(encoding="utf-8")
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists() or ROOT not in (dest, *dest.parents):
            bad.append(f"{target}: no such file in the repository")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            bad.append(f"{target}: {dest.relative_to(ROOT)} has no heading with the anchor #{fragment}")
    assert not bad, f"{page.relative_to(ROOT)}: broken links:\n  " + "\n  ".join(bad)


def test_section_citations_resolve():
    """Every "docs/<page>.md §<Section>" in the code and the docs names a heading of that page."""
    titles = {p.stem: headings(p) for p in DOC_PAGES}
    bad = []
    for path in _project_files(".py", ".md"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for page, rest in CITATION.findall(line):
                ok = page in titles and any(
                    rest.startswith(t) and (len(rest) == len(t) or not rest[len(t)].isalnum()) for t in titles[page])
                if not ok:
                    bad.append(f"{path.relative_to(ROOT)}:{n}: docs/{page}.md §{rest[:40]}")
    assert not bad, "citations of sections that do not exist (sections are the pages' headings):\n  " + \
        "\n  ".join(bad)


def test_nothing_cites_a_document_outside_the_repository():
    bad = [f"{p.relative_to(ROOT)}:{n}: {line.strip()[:100]}"
           for p in _project_files(".py", ".md")
           for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if OUTSIDE.search(line)]
    assert not bad, "cite docs/design.md (or another page in the repository) instead:\n  " + "\n  ".join(bad)


def test_readme_runs_the_test_command_that_ci_runs():
    commands, _ = _load_script("run_readme").parse_readme((ROOT / "README.md").read_text(encoding="utf-8"))
    readme = {c.text for c in commands}
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip().startswith("python -m pytest")]
    assert ci, ".ci/run runs no pytest command"
    for command in ci:
        assert command in readme, f".ci/run runs {command!r}, which is not a command of README.md"


def test_run_readme_parses_blocks_in_order():
    readme = "\n".join([
        "Intro.", "```bash", "# a comment", "noisegen synth --out out/a", "", "noisegen generate \\",
        "    --out out/b", "```", "<!-- not-run: needs a GPU -->", "```bash", "noisegen-train sn --data big", "```",
        "```python", "import noisegen", "print(1)", "```", "```text", "not a command", "```",
    ])
    commands, skipped = _load_script("run_readme").parse_readme(readme)
    assert [(c.lang, c.text, c.line) for c in commands] == [
        ("bash", "noisegen synth --out out/a", 4), ("bash", "noisegen generate --out out/b", 6),
        ("python", "import noisegen\nprint(1)", 14)]
    assert [(s.line, s.reason) for s in skipped] == [(11, "needs a GPU")]
