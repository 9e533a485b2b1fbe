"""The documentation in docs/: every example runs, every public name is documented, the site builds.

* the doctest transcript of every public module (docs/api/examples/<module>.txt) and the docstring
  examples of the package run under :mod:`doctest`;
* every public module has an ``automodule`` entry and an example;
* the tutorials' code (user algorithms and their pytest/Hypothesis tests, the example recipe, the
  aihwkit translation) runs, and the text notebooks execute in a Jupyter kernel (nbclient);
* a quick Sphinx build (notebooks not executed: they run in the notebook test) passes with warnings
  as errors, and its inventory holds every public name. Skipped when the docs tools are missing
  (they are in the ``test`` extra, so CI runs it);
* the configuration facts the pages (and the recipes' and benchmarks' docstrings) state match the code: the
  commands they show parse, the make targets, environment variables, markers, names and files they cite exist,
  and the counts they give (tests per property, errata, tiles, map sizes) are the code's.
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
def in_repo_root(monkeypatch):
    """Run the examples from the repository root, as a user runs the commands they show: some read figures/ or
    proofs_checks/ from the working directory. Examples that write files write them into temporary folders."""
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("MPLBACKEND", "Agg")


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
def test_module_example_runs(module, in_repo_root):
    result = doctest.testfile(str(EXAMPLES / f"{module}.txt"), module_relative=False, optionflags=FLAGS,
                              verbose=False, report=False, encoding="utf-8", name=module)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {module} failed (see output)"


def test_docstring_examples_of_the_package_run(in_repo_root):
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


# -- configuration facts the pages state --------------------------------------------------------------------------
# Each test below reads what the prose says about the code (a command, a make target, a name, a count) and checks it
# against the code itself, so a renamed option, a removed target or a changed count fails here instead of going stale.

#: every page that describes the code to a user
PAGES = sorted([ROOT / "README.md", *DOCS.rglob("*.md"), *(ROOT / "paper_repro").rglob("README*")])


def _docstrings() -> list[tuple[str, str]]:
    """(file, module docstring) of every figure recipe and benchmark: they state settings too."""
    import ast

    out = []
    for p in sorted([*(ROOT / "figures").glob("*.py"), *(ROOT / "benchmarks").glob("*.py")]):
        doc = ast.get_docstring(ast.parse(p.read_text("utf-8")))
        if doc:
            out.append((p.relative_to(ROOT).as_posix(), doc))
    return out


def _texts() -> list[tuple[str, str]]:
    return [(p.relative_to(ROOT).as_posix(), p.read_text("utf-8")) for p in PAGES] + _docstrings()


def _commands(word: str) -> list[tuple[str, str]]:
    """(file, command) for every ``word ...`` command the texts show: lines of shell/plain code blocks, ``$ ``-prompted
    lines of transcripts, and inline code spans that start with ``word``."""
    found = []
    for name, text in _texts():
        for info, body in re.findall(r"```([^\n]*)\n(.*?)```", text, re.S):
            shell = info.strip() in ("", "bash", "sh", "shell", "console")
            for line in body.replace("\\\n", " ").splitlines():
                line = line.strip()
                if line.startswith("$ "):
                    line = line[2:]
                elif not shell:
                    continue
                if line.startswith(word + " "):
                    found.append((name, line.split(" #")[0].strip()))
        for span in re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S)):
            if span.startswith(word + " "):
                found.append((name, span.strip()))
    return found


def _placeholder(command: str) -> bool:
    """A command written as a pattern (``convergence <command> ...``, ``[--claims NAME,...]``), not one to run."""
    return any(s in command for s in ("...", "…", "<", "[", "$("))


def _recipe_names() -> set[str]:
    names = set()
    for p in (ROOT / "figures").glob("[!_]*.py"):
        names.add(p.stem)
        m = re.search(r'^NAME = "([^"]+)"', p.read_text("utf-8"), re.M)
        if m:
            names.add(m.group(1))
    return names


def _commands_of(parser) -> dict:
    import argparse

    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _subparser(parser, command: str):
    return _commands_of(parser)[command]


def test_every_convergence_command_the_pages_show_is_accepted(capsys):
    """Every ``convergence ...`` command of the pages parses with the CLI's own parser, its device/objective/noise
    specs parse, the recipes it names exist, and an option written with its alternatives (``--scale a|b|c``) lists
    exactly the option's choices."""
    import shlex

    from convergence.cli.main import build_parser
    from convergence.sim import specs

    parser = build_parser()
    recipes = _recipe_names()
    commands = [(n, c) for n, c in _commands("convergence") if not _placeholder(c)]
    assert len(commands) >= 40, "the command extraction found too few commands"
    bad = []
    for name, command in commands:
        words = shlex.split(command.replace("$alg", "analog-sgd"))[1:]
        if len(words) == 1:                       # a subcommand named in the prose (`convergence check`)
            if words[0] not in _commands_of(parser):
                bad.append(f"{name}: {command!r}: no such subcommand")
            continue
        variants = [words]
        for i, w in enumerate(words):
            if "|" in w and i > 0 and words[i - 1].startswith("--"):
                action = _subparser(parser, words[0])._option_string_actions.get(words[i - 1])
                alternatives = w.split("|")
                if action is not None and action.choices is not None and set(alternatives) != set(action.choices):
                    bad.append(f"{name}: {command!r} lists {words[i - 1]} {w}, the choices are "
                               f"{'|'.join(action.choices)}")
                variants = [words[:i] + [a] + words[i + 1:] for a in alternatives]
        for argv in variants:
            try:
                args = parser.parse_args(argv)
            except SystemExit:
                bad.append(f"{name}: {command!r}: {capsys.readouterr().err.strip()}")
                continue
            try:
                if args.command == "simulate":
                    specs.parse_device(args.device), specs.parse_objective(args.objective)
                    specs.parse_noise(args.noise), specs.parse_pulsed(args.pulsed)
                    specs.parse_variation(args.variation)
                elif args.command == "device" and not args.spec.isupper():   # SPEC: a placeholder
                    specs.parse_device(args.spec)
            except Exception as exc:  # noqa: BLE001 - report every failing command at once
                bad.append(f"{name}: {command!r}: {exc}")
            if args.command == "figures":
                bad += [f"{name}: {command!r}: no recipe {r!r}" for r in args.names
                        if r not in recipes and not r.isupper()]
    assert not bad, "\n".join(bad)


def _make_targets() -> list[str]:
    """Target patterns of the Makefile as regular expressions (``%`` matches any stem)."""
    targets = []
    for line in (ROOT / "Makefile").read_text("utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9_./%$() -]+):(?!=)", line)
        if m and not line.startswith("\t"):
            targets += [re.escape(t).replace("%", ".+") for t in m.group(1).split() if "$" not in t]
    return targets


def test_every_make_target_the_pages_name_exists():
    targets = _make_targets()
    named = [(n, c.split()[1]) for n, c in _commands("make") if len(c.split()) > 1 and "=" not in c.split()[1]]
    assert len(named) >= 10
    bad = [f"{n}: make {t}" for n, t in named if not any(re.fullmatch(p, t) for p in targets)]
    assert not bad, "make targets the Makefile does not define:\n" + "\n".join(bad)


def test_every_environment_variable_the_pages_name_is_read_by_the_code():
    code = "\n".join(p.read_text("utf-8") for p in [*(ROOT / "convergence").rglob("*.py"),
                                                     *(ROOT / "benchmarks").glob("*.py"), ROOT / "Makefile",
                                                     ROOT / "tests" / "conftest.py"])
    named = {(n, v) for n, text in _texts() for v in re.findall(r"\b(CONVERGENCE_[A-Z_]+|[A-Z]+_PYTHON)\b", text)}
    assert named
    bad = [f"{n}: {v}" for n, v in sorted(named) if not re.search(rf"\b{v}\b", code)]
    assert not bad, "environment variables nothing reads:\n" + "\n".join(bad)


def test_every_pytest_marker_the_pages_name_is_registered():
    import tomllib

    with open(ROOT / "pyproject.toml", "rb") as f:
        markers = {m.split(":")[0] for m in tomllib.load(f)["tool"]["pytest"]["ini_options"]["markers"]}
    named = {(n, m) for n, text in _texts() for m in re.findall(r"`(\w+)` marker", text)}
    assert named
    assert not [x for x in named if x[1] not in markers], f"unregistered markers: {named} vs {markers}"


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


def test_every_name_and_file_the_pages_cite_exists():
    """``convergence.x.y`` names resolve to a module or attribute, and repository paths (``figures/...``,
    ``tests/...``, ``proofs_checks/...``, ...) exist; patterns with placeholders (``NAME``, ``dNN_``) are skipped."""
    bad = []
    cited = 0
    for name, text in _texts():
        for dotted in set(re.findall(r"(?<![\w/.-])convergence(?:\.[A-Za-z_]\w*)+", text)):
            cited += 1
            if not _resolves(dotted):
                bad.append(f"{name}: {dotted}")
        roots = "figures|tests|proofs_checks|benchmarks|paper_repro|docs|convergence"
        for path in set(re.findall(rf"(?<![\w/.~-])((?:{roots})/[\w./-]*\w)", text)):
            if re.search(r"[A-Z]{2}|_$|\*", path):
                continue
            cited += 1
            if not (ROOT / path).exists() and not (ROOT / (path + ".py")).exists():
                bad.append(f"{name}: {path}")
    assert cited > 100
    assert not bad, "cited names or files that do not exist:\n" + "\n".join(sorted(bad))


def test_the_property_list_counts_the_tests_it_names():
    """The theory guide's property table says how many ``test_N_…`` tests check property N."""
    words = {"two": 2, "three": 3, "four": 4, "five": 5}
    source = (ROOT / "tests" / "property" / "test_theory_claims.py").read_text("utf-8")
    table = (DOCS / "theory" / "theorems.md").read_text("utf-8").split("(property-checks)=")[1]
    rows = re.findall(r"^\| (\d+) \|.*?`(test_\d+_)…`( \((\w+) tests\))?", table, re.M)
    assert len(rows) >= 12
    for number, prefix, _, count in rows:
        found = re.findall(rf"^def {prefix}(?!\d)", source, re.M)
        assert len(found) == (words[count] if count else 1), f"property {number}: {len(found)} tests {prefix}*"


def test_the_errata_page_has_one_entry_per_catalogue_erratum():
    from convergence.theory.errata import ERRATA

    anchors = re.findall(r"^\(erratum-([a-z0-9-]+)\)=", (DOCS / "theory" / "errata.md").read_text("utf-8"), re.M)
    assert sorted(anchors) == sorted(e.id for e in ERRATA)


def test_the_transfer_study_table_names_analog_spec_fields():
    """The device-parameter table of the transfer study names the fields of ``AnalogSpec`` (its toolkit column)."""
    import dataclasses

    from convergence.swin.analog import AnalogSpec

    fields = {f.name for f in dataclasses.fields(AnalogSpec)}
    table = (DOCS / "theory" / "transfer-study.md").read_text("utf-8").split("(transfer-setup)=")[1]
    cells = [row.split(" | ")[2] for row in re.findall(r"^\| (?!study knob|---).*\|$", table, re.M)]
    assert len(cells) >= 10
    named = [n for cell in cells for n in re.findall(r"`(?:AnalogSpec\.)?(\w+)`", cell)]
    assert named and set(named) <= fields, f"not AnalogSpec fields: {sorted(set(named) - fields)}"


def test_the_swin_manifest_readme_states_the_model_it_runs():
    """The micro Swin's parameter count (paper_repro/transfer_swin/README.md exactly, elsewhere "about 135k") and
    its default number of analog tiles."""
    import numpy as np

    from convergence.swin import model

    text = (ROOT / "paper_repro" / "transfer_swin" / "README.md").read_text("utf-8")
    params = model.init(model.SwinConfig(), np.random.default_rng(0))
    assert int(re.search(r"([\d,]+)\s+parameters", text).group(1).replace(",", "")) == model.n_params(params)
    assert int(re.search(r"= (\d+) tiles", text).group(1)) == len(model.default_analog(params))
    rounded = [(name, int(k)) for name, t in _texts() for k in re.findall(r"(?:about |~)(\d+)k parameters", t)]
    assert len(rounded) >= 2 and all(k == round(model.n_params(params) / 1000) for _, k in rounded), rounded


def test_rasch_fig4_docstring_states_the_map_sizes_of_its_scales():
    """rasch_fig4_grid's docstring gives the σ_r × n_states map of the paper and default scales."""
    recipe = _import_file("rasch_fig4_doc", ROOT / "figures" / "rasch_fig4_grid.py")
    doc = " ".join(recipe.__doc__.split())
    patterns = {"paper": r"(\d+) × (\d+) at the paper scale", "default": r"default scale[^(]*\((\d+) × (\d+)"}
    for scale, pattern in patterns.items():
        cfg = recipe.SCALES[scale]
        stated = tuple(int(x) for x in re.search(pattern, doc).groups())
        assert stated == (len(cfg["states"]), len(cfg["sigmas"])), f"{scale}: docstring {stated}"


def test_the_derivation_range_the_pages_cite_is_the_guide_s():
    """"D1–D14" wherever it is written: the derivations page has exactly D1 … DN and each has a proof-check file
    ``proofs_checks/dNN_*.py``."""
    numbers = [int(n) for n in re.findall(r"^## D(\d+) ", (DOCS / "theory" / "derivations.md").read_text("utf-8"),
                                            re.M)]
    assert numbers == list(range(1, len(numbers) + 1))
    for n in numbers:
        assert list((ROOT / "proofs_checks").glob(f"d{n:02d}*.py")), f"D{n} has no proofs_checks/d{n:02d}_*.py"
    ranges = [(name, int(m)) for name, text in _texts() for m in re.findall(r"\bD1\s*(?:[–-]|…)\s*D(\d+)", text)]
    assert len(ranges) >= 5
    assert all(m == numbers[-1] for _, m in ranges), f"the guide has D1–D{numbers[-1]}: {ranges}"


def test_the_bounds_battery_claims_and_property_tests_the_pages_cite_exist():
    """``p1.thm2``-style bound names are registered, "battery `name`" is a battery claim, "property test N" is a
    row of the property list (whose test names the property-list test checks)."""
    from convergence.theory.battery import CLAIMS
    from convergence.theory.bounds import BOUNDS

    table = (DOCS / "theory" / "theorems.md").read_text("utf-8").split("(property-checks)=")[1]
    properties = {int(n) for n in re.findall(r"^\| (\d+) \|", table, re.M)}
    bad, cited = [], 0
    for name, text in _texts():
        for bound in re.findall(r"`((?:p[12]|d\d+)\.[\w.]+)`", text):
            cited += 1
            bad += [] if bound in BOUNDS else [f"{name}: bound {bound}"]
        for claim in re.findall(r"battery (?:claims? )?`([\w-]+)`", text):
            cited += 1
            bad += [] if claim in CLAIMS else [f"{name}: battery claim {claim}"]
        for first, last in re.findall(r"property tests? (\d+)(?:[–-](\d+))?", text):
            for n in range(int(first), int(last or first) + 1):
                cited += 1
                bad += [] if n in properties else [f"{name}: property test {n}"]
    assert cited > 50
    assert not bad, "\n".join(bad)


def test_the_property_testing_transcripts_are_what_the_battery_prints(monkeypatch, capsys):
    """The two ``convergence check`` transcripts of the property-testing tutorial, rerun (seeded, about a second
    each): the same table, the same exit code; only the wall time in the header may differ. The factory default
    the page states (``max_gain``, default 2) is the example's."""
    import inspect

    from convergence.cli.main import main

    text = (DOCS / "tutorials" / "property-testing.md").read_text("utf-8")
    monkeypatch.chdir(TUTORIAL_CODE)
    monkeypatch.syspath_prepend(str(TUTORIAL_CODE))
    monkeypatch.delitem(sys.modules, "my_algorithms", raising=False)
    shown = re.findall(r"^\$ convergence (check \S+)\n(.*?)^\$ echo \$\?\n(\d+)$", text, re.M | re.S)
    assert len(shown) == 2
    timing = re.compile(r", \d+(\.\d+)? s\)")
    for command, table, code in shown:
        assert main(command.split()) == int(code), command
        assert timing.sub(", s)", capsys.readouterr().out) == timing.sub(", s)", table), command
    import my_algorithms

    stated = float(re.search(r"capped at `max_gain` \(default ([\d.]+)\)", " ".join(text.split())).group(1))
    assert stated == inspect.signature(my_algorithms.compensated_sgd).parameters["max_gain"].default


def test_the_teaching_page_shows_what_the_demo_and_the_simulator_print(tmp_path, capsys, monkeypatch):
    """docs/teaching.md quotes the seeded output of ``convergence demo bias`` (section 2) and a table of
    ``convergence simulate`` results (section 3): rerun, they print the same numbers."""
    import json

    from convergence.cli.main import main

    monkeypatch.setenv("MPLBACKEND", "Agg")

    text = (DOCS / "teaching.md").read_text("utf-8")
    shown = re.search(r"the seed is fixed\):\n\n```\n(.*?)```", text, re.S).group(1).splitlines()
    assert main(["demo", "bias", "--out", str(tmp_path / "bias.png")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert all(line in printed for line in shown), (shown, printed)
    num = r"([\d.]+) ± ([\d.]+)"
    table = {m[0]: m[1:] for m in re.findall(rf"^\| (digital SGD|Analog SGD|Tiki-Taka) +\| {num} +\| {num} +\|$",
                                             text, re.M)}
    assert len(table) == 3
    for alg, name in (("digital-sgd", "digital SGD"), ("analog-sgd", "Analog SGD"), ("tiki-taka", "Tiki-Taka")):
        assert main(["simulate", "--algorithm", alg, "--device", "softbounds:tau=1", "--objective",
                     "quadratic:d=1,L=1,w_star=0.5", "--noise", "gaussian:sigma=0.5", "--lr", "0.01", "--steps", "5000",
                     "--trials", "1000", "--seed", "1", "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        grad, grad_se, w, w_se = table[name]
        tail = out["tail"]
        # the page gives each value to the decimal place of its ± and each ± rounded up to one significant digit
        assert f"{tail['grad_norm_sq']['mean']:.{len(grad_se.split('.')[1])}f}" == grad, (name, tail["grad_norm_sq"])
        assert f"{tail['w_mean'][0]:.{len(w_se.split('.')[1])}f}" == w, (name, tail["w_mean"])
        assert _rounded_up(tail["grad_norm_sq"]["stderr"], grad_se), (name, tail["grad_norm_sq"])
        assert _rounded_up(tail["w_stderr"][0], w_se), (name, tail["w_stderr"])
        if name == "Analog SGD":   # the bias line the page quotes with its error bar
            quoted = re.search(r"sampling variance removed, ([\d.]+) ± ([\d.]+)\)", text)
            bias = tail["bias_sq"]
            assert f"{bias['mean']:.{len(quoted.group(2).split('.')[1])}f}" == quoted.group(1), bias
            assert _rounded_up(bias["stderr"], quoted.group(2)), bias


def _rounded_up(se: float, shown: str) -> bool:
    """``shown`` (e.g. "0.00007") is ``se`` rounded up to its one significant digit."""
    unit = 10.0 ** -len(shown.split(".")[1])
    return float(shown) - unit < se <= float(shown) * (1 + 1e-12)


def test_the_options_of_the_scripts_the_pages_show_exist():
    """``python benchmarks/bench_x.py [--option ...]`` and ``python paper_repro/.../run.py ...``: the script exists and
    declares every option shown."""
    shown = 0
    bad = []
    for name, text in _texts():
        for script, rest in re.findall(r"python ((?:benchmarks|paper_repro)/[\w/]+\.py)([^`\n]*)", text):
            source = (ROOT / script).read_text("utf-8")
            for option in re.findall(r"(--[\w-]+)", rest):
                shown += 1
                if f'"{option}"' not in source:
                    bad.append(f"{name}: {script} {option}")
    assert shown >= 8
    assert not bad, "options the scripts do not declare:\n" + "\n".join(bad)
