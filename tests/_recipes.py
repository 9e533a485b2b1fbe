"""Load a figure recipe (``figures/<stem>.py``) as a module, once per test session."""
from __future__ import annotations

import importlib.util
import pathlib
import sys
from types import ModuleType

FIGURES = pathlib.Path(__file__).resolve().parents[1] / "figures"


def load(stem: str) -> ModuleType:
    """The recipe module ``figures/<stem>.py`` (cached in ``sys.modules`` as ``test_recipe_<stem>``)."""
    name = f"test_recipe_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FIGURES / f"{stem}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    return sys.modules[name]
