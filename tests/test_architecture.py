"""The package's layering is checked, not remembered.

``pyproject.toml`` declares the layers (physics -> sim -> tile -> theory -> nn -> swin ->
experiments -> cli); import-linter fails when a lower layer imports a higher one.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_layers_are_respected(capsys):
    cli = pytest.importorskip("importlinter.cli", reason="import-linter is a test dependency (make test installs it)")
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        code = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert code == 0, out


def test_ruff_passes():
    # the lint rules configured in pyproject.toml ([tool.ruff]) hold for the whole repository
    pytest.importorskip("ruff", reason="ruff is a test dependency")
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def _tracked_text_files() -> list[Path]:
    """Files git tracks (or, outside a checkout, every file but build products), text only."""
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
        paths = [ROOT / p for p in out.split("\n") if p]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "data", "__pycache__", ".hypothesis"}
        paths = [p for p in ROOT.rglob("*") if p.is_file() and not skip & set(p.relative_to(ROOT).parts)]
    texts = []
    for p in paths:
        if p.suffix in {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".cff"} or p.name == "Makefile":
            texts.append(p)
    return texts


# Spelled in pieces so this file does not match itself.
_OUTSIDE = re.compile("|".join([
    r"\b" + "THE" + r"ORY(\.md)?\b",            # the unshipped theory notes
    r"\b" + "AIHW" + r"KIT\.md\b",
    r"\b" + "TRANS" + r"FER\.md\b",
    r"\b" + "STY" + r"LE( §|\.md)",
    r"shared/" + "reference",
    r"\b" + "iss" + r"ue [0-9]+\b",
    "helpers' " + "brief",
]))


def test_no_file_cites_a_document_outside_the_repository():
    hits = []
    for p in _tracked_text_files():
        if p.parent.name == ".ci":
            continue
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if _OUTSIDE.search(line):
                hits.append(f"{p.relative_to(ROOT)}:{i}: {line.strip()[:100]}")
    assert not hits, "references to documents a user cannot open:\n" + "\n".join(hits[:40])


_GUIDE_LINK = re.compile(r"docs/theory/([\w-]+\.md)(?:#([\w-]+))?")


def test_every_citation_of_the_theory_guide_resolves():
    labels: dict[str, set[str]] = {}
    for md in (ROOT / "docs" / "theory").glob("*.md"):
        labels[md.name] = set(re.findall(r"^\(([\w-]+)\)=\s*$", md.read_text(encoding="utf-8"), flags=re.M))
    bad = []
    for p in _tracked_text_files():
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            for page, anchor in _GUIDE_LINK.findall(line):
                if page not in labels or (anchor and anchor not in labels[page]):
                    bad.append(f"{p.relative_to(ROOT)}:{i}: docs/theory/{page}#{anchor}")
    assert not bad, "citations of the theory guide that do not resolve:\n" + "\n".join(bad[:40])


def test_every_label_of_the_docs_is_also_an_anchor_for_github():
    # a MyST label `(name)=` becomes an anchor of the built docs only; GitHub's rendering of the page knows the
    # anchors of headings, so a citation `page.md#name` needs `<a name="name"></a>` there too (a page's own label,
    # on its first line, is the top of the page either way)
    bad = []
    for md in sorted((ROOT / "docs").rglob("*.md")):
        lines = md.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            m = re.match(r"^\(([\w-]+)\)=\s*$", line)
            anchor = [f'<a name="{m.group(1)}"></a>', ""] if m else None
            if m and any(s.strip() for s in lines[:i]) and lines[max(i - 2, 0):i] != anchor:
                bad.append(f"{md.relative_to(ROOT)}:{i + 1}: ({m.group(1)})=")
    assert not bad, "labels without an anchor (<a name=...></a> and a blank line before them):\n" + "\n".join(bad[:40])


_REPO_PATH = re.compile(r"(?<![\w/.-])((?:convergence|figures|benchmarks|proofs_checks|paper_repro|docs)/[\w./-]*\w"
                        r"\.(?:py|md|rst|toml|txt))\b")


def test_every_repository_file_named_in_the_sources_exists():
    # a renamed or removed module leaves stale pointers in docstrings and pages; the tests' own files name
    # fixtures they create (figures/fake.py), so they are not scanned
    bad = []
    for p in _tracked_text_files():
        if p.relative_to(ROOT).parts[0] == "tests":
            continue
        for i, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            bad += [f"{p.relative_to(ROOT)}:{i}: {m}" for m in _REPO_PATH.findall(line) if not (ROOT / m).exists()]
    assert not bad, "files named in the sources that do not exist:\n" + "\n".join(bad[:40])
