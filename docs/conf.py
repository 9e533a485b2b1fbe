"""Sphinx configuration of the analog-convergence documentation (``make docs``).

Two builds use it: ``make docs`` (every notebook executed, warnings are errors) and the test suite's
quick build (``-D nb_execution_mode=off``: notebooks rendered without running; the tests execute them
separately). Markdown pages are MyST; notebooks are MyST-Markdown text files (jupytext ``md:myst``),
never ``.ipynb``.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # document the checkout, not an installed copy

import convergence  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent / "_ext"))
import convergence_docs  # noqa: E402


def _public_modules() -> set[str]:
    import pkgutil
    names = {"convergence"}
    for info in pkgutil.walk_packages(convergence.__path__, "convergence."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.add(info.name)
    return names


# every public module has an automodule entry in docs/api/*.rst (tests/test_docs.py checks it)
convergence_docs.DOCUMENTED.update(_public_modules())

project = "analog-convergence"
author = "analog-convergence developers"
copyright = "analog-convergence developers, MIT licence"
release = version = convergence.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "myst_nb",
    "convergence_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "tutorials/examples/*.py"]

# autodoc: members in source order; the public names are each module's __all__.
autodoc_default_options = {"members": True, "undoc-members": True, "member-order": "bysource",
                           "no-value": True}
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
autodoc_mock_imports = ["dask", "distributed", "pooch", "hypothesis"]
# The package's docstrings use "Args:/Returns:/Attributes:" sections; numpy-style sections work too.
napoleon_numpy_docstring = True
napoleon_google_docstring = True
napoleon_use_rtype = False
napoleon_attr_annotations = True
napoleon_use_ivar = True   # "Attributes:" sections as a field list: the fields are documented by autodoc

# MyST: labels as "(name)=" targets, $...$ maths, definition lists, headings get anchors for [](page.md#x)
myst_enable_extensions = ["dollarmath", "deflist", "colon_fence"]
myst_heading_anchors = 3

# Notebooks: executed by `make docs`; the quick build in the test suite passes -D nb_execution_mode=off.
nb_execution_mode = "force"
nb_execution_timeout = 300
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "furo"
html_title = f"analog-convergence {release}"
html_static_path: list[str] = []

# Docstrings mention types that are not classes Sphinx can link (NDArray aliases, Any, ...).
nitpicky = False
suppress_warnings = ["myst.header", "config.cache"]
