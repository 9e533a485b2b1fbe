"""The documentation in docs/: every example runs, every public name is documented, the site builds.

* the doctest transcript of every public module (docs/api/examples/<module>.txt) and the docstring
  examples of the package run under :mod:`doctest`;
* every public module has an ``automodule`` entry and an example;
* the tutorials' code (user algorithms and their pytest/Hypothesis tests, the example recipe, the
  aihwkit translation) runs, and the text notebooks execute in a Jupyter kernel (nbclient);
* a quick Sphinx build (notebooks not executed: they run in the notebook test) passes with warnings
  as errors, and its inventory holds every public name. Skipped when the docs tools are missing
  (they are in the ``test`` extra, so CI runs it).
"""
from __future__ import annotations

import doctest
import importlib
import importlib.util
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import convergence

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "api" / "examples"
TUTORIAL_CODE = DOCS / "tutorials" / "examples"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def public_modules() -> list[str]:
    names = ["convergence"]
    for info in pkgutil.walk_packages(convergence.__path__, "convergence."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return sorted(names)


def notebooks() -> list[Path]:
    """MyST-Markdown pages that are Jupyter notebooks (a ``kernelspec`` in their front matter)."""
    return sorted(p for p in DOCS.rglob("*.md") if re.match(r"---\n(.*\n)*?kernelspec:", p.read_text("utf-8")))


@pytest.fixture
def in_tmp_cwd(tmp_path, monkeypatch):
    """Examples may write files: run them in a scratch folder, with figures/ reachable via the root."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


def test_every_public_module_has_an_api_entry_and_an_example():
    documented = set()
    for rst in (DOCS / "api").glob("*.rst"):
        documented |= set(re.findall(r"^\.\. automodule:: (\S+)", rst.read_text("utf-8"), flags=re.M))
    modules = set(public_modules())
    assert modules - documented == set(), "public modules without an automodule entry in docs/api"
    examples = {p.stem for p in EXAMPLES.glob("*.txt")}
    assert modules - examples == set(), "public modules without docs/api/examples/<module>.txt"
    assert examples - modules == set(), "examples for modules that do not exist"


@pytest.mark.parametrize("module", public_modules())
def test_module_example_runs(module, in_tmp_cwd):
    result = doctest.testfile(str(EXAMPLES / f"{module}.txt"), module_relative=False, optionflags=FLAGS,
                              verbose=False, report=False, encoding="utf-8", name=module)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {module} failed (see output)"


def test_docstring_examples_of_the_package_run(in_tmp_cwd):
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=FLAGS)
    attempted = 0
    for name in public_modules():
        for test in finder.find(importlib.import_module(name)):
            if test.examples:
                result = runner.run(test)
                attempted += result.attempted
    assert runner.failures == 0
    assert attempted > 0   # convergence.Algorithm and the top-level package carry examples


def _import_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_property_testing_tutorial_user_tests_pass(monkeypatch):
    monkeypatch.syspath_prepend(str(TUTORIAL_CODE))
    monkeypatch.delitem(sys.modules, "my_algorithms", raising=False)
    tests = _import_file("tutorial_test_my_algorithms", TUTORIAL_CODE / "test_my_algorithms.py")
    names = [n for n in dir(tests) if n.startswith("test_")]
    assert len(names) == 3
    for n in names:
        getattr(tests, n)()


def test_property_testing_tutorial_cli_exit_codes(monkeypatch, capsys):
    from convergence.cli.main import main

    monkeypatch.chdir(TUTORIAL_CODE)
    monkeypatch.delitem(sys.modules, "my_algorithms", raising=False)
    assert main(["check", "my_algorithms:wrong_side_sgd", "--claims", "floor-vs-lr"]) == 1
    assert "FAILED: floor-vs-lr" in capsys.readouterr().out
    assert main(["check", "my_algorithms:no_such_factory"]) == 2


def test_figure_tutorial_recipe_runs_caches_and_its_claims_hold(tmp_path):
    from convergence.experiments.cache import Cache
    from convergence.experiments.recipes import load_recipe
    from convergence.experiments.runner import run_recipe

    recipe = load_recipe(TUTORIAL_CODE / "my_recipe.py")
    cache = Cache(tmp_path / "cache")
    result = run_recipe(recipe, "quick", cache=cache, out_dir=tmp_path)
    assert result.status == "ok", result.error
    assert Path(result.png).is_file()
    assert [c.verdict.value for c in result.claims] == ["holds", "holds"]
    again = run_recipe(recipe, "quick", cache=cache, out_dir=tmp_path)
    assert again.from_cache


def test_aihwkit_translation_runs(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    mod = _import_file("tutorial_aihwkit_translation", TUTORIAL_CODE / "aihwkit_translation.py")
    assert mod.y.shape == (8, 16, 4)
    assert mod.alg.query(mod.state).shape == (8, 4, 6)


def test_the_notebooks_are_text_only():
    assert notebooks(), "no text notebook found in docs/"
    tracked = subprocess.run(["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True)
    if tracked.returncode == 0:
        assert tracked.stdout.strip() == "", "commit notebooks as jupytext text, never .ipynb"


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_notebook_executes(path, monkeypatch):
    jupytext = pytest.importorskip("jupytext")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = jupytext.read(path)
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors
    images = sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    assert images >= 4, "the notebook's figures did not render"


def test_sphinx_quick_build_has_no_warnings_and_documents_every_public_name():
    for tool in ("sphinx", "myst_nb", "furo"):
        pytest.importorskip(tool)
    from sphinx.util.inventory import InventoryFile

    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "MPLBACKEND": "Agg"}
        proc = subprocess.run([sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
                               "-D", "nb_execution_mode=off", str(DOCS), out],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stderr[-4000:]
        with open(Path(out) / "objects.inv", "rb") as f:
            inv = InventoryFile.load(f, "", os.path.join)
    objects = set()
    for kind, entries in inv.items():
        if kind.startswith("py:"):
            objects |= set(entries)
    modules = {name: importlib.import_module(name) for name in public_modules()}
    missing = []
    for name, mod in modules.items():
        for public in getattr(mod, "__all__", []):
            obj = getattr(mod, public)
            # documented here, in the module that defines it, or in another public module exporting it
            homes = [name, getattr(obj, "__module__", None)]
            homes += [other for other, m in modules.items() if getattr(m, public, None) is obj]
            if not any(f"{h}.{public}" in objects for h in homes) and getattr(obj, "__name__", None) not in objects:
                missing.append(f"{name}.{public}")
    assert not missing, "public names missing from the API reference: " + ", ".join(missing)


#: pages whose ```python blocks are complete programs; (page, replacements that shrink the run)
PYTHON_BLOCKS = [
    ("quickstart.md", {"steps=20_000": "steps=3_000", "trials=1_000": "trials=200"}),
    ("tutorials/property-testing.md", {}),
    ("tutorials/figures.md", {}),
]


@pytest.mark.parametrize("page, shrink", PYTHON_BLOCKS, ids=[p for p, _ in PYTHON_BLOCKS])
def test_python_blocks_of_the_pages_run(page, shrink, tmp_path, monkeypatch):
    text = (DOCS / page).read_text("utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, f"no python block in {page}"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.syspath_prepend(str(TUTORIAL_CODE))
    monkeypatch.delitem(sys.modules, "my_algorithms", raising=False)
    for code in blocks:
        code = code.replace("/tmp/my-cache", str(tmp_path / "cache")).replace("/tmp/my-figures", str(tmp_path))
        for old, new in shrink.items():
            code = code.replace(old, new)
        exec(compile(code, page, "exec"), {"__name__": "__doc_block__"})
    all_blocks = [(p.relative_to(DOCS).as_posix(), len(re.findall(r"```python\n", p.read_text("utf-8"))))
                  for p in DOCS.rglob("*.md")]
    assert {p for p, n in all_blocks if n} == {p for p, _ in PYTHON_BLOCKS}, "a page's python blocks are untested"


def test_included_example_code_shows_its_imports(tmp_path):
    """A reader copies what a page shows: every ``literalinclude`` of a Python example shows the file from
    before its first import, and the shown part, saved alone, imports and runs its module level."""
    shown = 0
    include = re.compile(r"```\{literalinclude\} (\S+\.py)\n((?::\S+:.*\n)*)```")
    for page in DOCS.rglob("*.md"):
        for path, options in include.findall(page.read_text("utf-8")):
            source = (page.parent / path).read_text("utf-8")
            start = re.search(r"^:start-at: (.*)$", options, re.M)
            text = source[source.index(start.group(1)):] if start else source
            lines = source.splitlines()
            first_import = next(ln for ln in lines if ln.startswith(("import ", "from ")))
            assert first_import in text, f"{page.name} shows {path} without its imports"
            copy = tmp_path / f"shown_{shown}.py"
            copy.write_text(text, "utf-8")
            sys.path.insert(0, str(TUTORIAL_CODE))
            try:
                _import_file(f"shown_{shown}", copy)
            finally:
                sys.path.remove(str(TUTORIAL_CODE))
            shown += 1
    assert shown >= 4
