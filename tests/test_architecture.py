"""The package's layering is checked, not remembered.

``pyproject.toml`` declares the layers (physics -> sim -> tile -> theory -> nn -> swin ->
experiments -> cli); import-linter fails when a lower layer imports a higher one.
"""
from __future__ import annotations

import os
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
