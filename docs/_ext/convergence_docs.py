"""The directives and hooks of this documentation.

``.. publicnames:: package``: a table of a package's public names (its ``__all__``), each linked
to the page that documents it, followed by the autodoc entries of the names documented nowhere else.

A name defined in a public module that the reference documents (:data:`DOCUMENTED`) links there;
a name defined in a private module (``_core``, ``_report``, ...) or in the package itself is
documented on the package's page. The table is built from ``__all__`` at build time, so it cannot
fall out of date.

``.. clihelp:: [subcommand]``: the parser's own ``--help`` text.

``autodoc-process-docstring``: each module's page shows ``docs/api/examples/<module>.txt``, a doctest
transcript that tests/test_docs.py runs.
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

#: the modules that have their own ``automodule`` entry in docs/api (set by conf.py)
DOCUMENTED: set[str] = set()


def _is_data(obj: object) -> bool:
    return not (inspect.isclass(obj) or inspect.isroutine(obj) or inspect.ismodule(obj))


def home(obj: object, package: str, name: str = "") -> str | None:
    """The documented public module that defines ``obj``, or None (document it on the package page)."""
    if inspect.ismodule(obj):
        return obj.__name__ if obj.__name__ in DOCUMENTED else None
    if _is_data(obj):   # an instance's __module__ is its class's: look for the submodule exporting it
        for modname in sorted(DOCUMENTED):
            if modname.startswith(package + ".") and modname != package:
                mod = importlib.import_module(modname)
                if name in getattr(mod, "__all__", ()) and getattr(mod, name, None) is obj:
                    return modname
        return None
    mod = getattr(obj, "__module__", None)
    if isinstance(mod, str) and mod in DOCUMENTED and mod != package:
        return mod
    return None


def summary(obj: object) -> str:
    doc = inspect.getdoc(obj) if (inspect.isclass(obj) or callable(obj) or inspect.ismodule(obj)) else None
    line = (doc or "").strip().split("\n\n")[0].replace("\n", " ")
    return line.replace("|", "\\|")


def data_doc(package: str, name: str, obj: object) -> list[str]:
    """The ``#:`` comment (or string literal) documenting constant ``name`` in the module of
    ``package`` that defines it (searched among the package's submodules, private ones included)."""
    import sys

    from sphinx.pycode import ModuleAnalyzer

    for modname in sorted(m for m in list(sys.modules) if m == package or m.startswith(package + ".")):
        mod = sys.modules[modname]
        if getattr(mod, name, None) is not obj:
            continue
        try:
            docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
        except Exception:  # noqa: BLE001 - no source: fall through to the next candidate
            continue
        if ("", name) in docs:
            return list(docs[("", name)])
    return [f"A constant of type ``{type(obj).__name__}``."]


def constant_entry(name: str, doc: list[str], obj: object) -> list[str]:
    """reST for one public constant: ``py:data`` with its value when the value is short."""
    lines = [f".. py:data:: {name}"]
    text = repr(obj)
    if len(text) <= 70 and "\n" not in text:
        lines.append(f"   :value: {text}")
    return lines + [""] + ["   " + ln for ln in doc] + [""]


def undocumented_constants(modname: str) -> list[str]:
    """Names in a module's ``__all__`` that are constants without a ``#:`` comment or docstring:
    autodoc's ``automodule`` leaves those out, so every public name would not be documented."""
    from sphinx.pycode import ModuleAnalyzer

    mod = importlib.import_module(modname)
    try:
        docs = ModuleAnalyzer.for_module(modname).find_attr_docs()
    except Exception:  # noqa: BLE001 - no source
        docs = {}
    return [n for n in getattr(mod, "__all__", ()) if _is_data(getattr(mod, n)) and ("", n) not in docs]


def add_module_constants(app, what, name, obj, options, lines):
    """Document the undocumented public constants of a (non-package) module below its docstring."""
    if what != "module" or hasattr(obj, "__path__"):
        return
    extra = []
    for const in undocumented_constants(name):
        value = getattr(obj, const)
        doc = [f"A public constant of type ``{type(value).__name__}``."]
        extra += constant_entry(const, doc, value)
    if extra:
        lines += ["", ".. rubric:: Constants", ""] + extra


class PublicNames(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self):
        package = self.arguments[0]
        pkg = importlib.import_module(package)
        names = list(getattr(pkg, "__all__", []))
        rows, local = [], []
        for name in names:
            obj = getattr(pkg, name)
            where = home(obj, package, name)
            if where is None:
                local.append(name)
                target = f"{package}.{name}"
            else:
                target = obj.__name__ if inspect.ismodule(obj) else f"{where}.{name}"
            rows.append((name, target, summary(obj)))
        lines = [".. list-table::", "   :header-rows: 1", "   :widths: 25 75", "",
                 "   * - name", "     - summary"]
        for name, target, text in rows:
            role = "mod" if target == name or inspect.ismodule(getattr(pkg, name)) else "obj"
            lines += [f"   * - :py:{role}:`{name} <{target}>`", f"     - {text or ' '}"]
        lines.append("")
        if local:
            lines += [f".. currentmodule:: {package}", ""]
            for name in local:
                obj = getattr(pkg, name)
                if inspect.isclass(obj) or inspect.isroutine(obj):
                    kind = "class" if inspect.isclass(obj) else "function"
                    lines += [f".. auto{kind}:: {name}", ""]
                else:   # a constant: its ``#:`` comment where it is defined, not its type's docstring
                    lines += constant_entry(name, data_doc(package, name, obj), obj)
        container = nodes.container()
        self.state.nested_parse(StringList(lines, source=f"publicnames {package}"), self.content_offset, container)
        return container.children


class CliHelp(SphinxDirective):
    """``.. clihelp:: [subcommand]``: the ``--help`` text of ``convergence [subcommand]``, built from the
    parser itself, so the page always matches the installed command."""

    optional_arguments = 1

    def run(self):
        import os

        from convergence.cli.main import build_parser

        parser = build_parser()
        if self.arguments:
            sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
            parser = sub.choices[self.arguments[0]]
        os.environ.setdefault("COLUMNS", "100")
        text = parser.format_help()
        block = nodes.literal_block(text, text)
        block["language"] = "text"
        return [block]


_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")


def escape_bars(app, what, name, obj, options, lines):
    """Docstrings write absolute values and norms as ``|x|`` and ``‖x‖``; reStructuredText would read
    ``|x|`` as a substitution. Escape bars in prose only: not in literals, roles, literal blocks
    (after ``::``), doctest blocks or table lines."""
    literal_indent = None      # indentation of the line that opened a literal block
    doctest = False
    for i, line in enumerate(lines):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if not stripped or indent > literal_indent:
                continue
            literal_indent = None
        if doctest:
            doctest = bool(stripped)
            continue
        if stripped.startswith(">>>"):
            doctest = True
            continue
        if stripped.endswith("::"):
            literal_indent = indent
        if "|" not in line or stripped.startswith(("|", "+")):
            continue
        parts = _LITERAL.split(line)
        lines[i] = "".join(p if k % 2 else p.replace("|", "\\|") for k, p in enumerate(parts))


def add_module_example(app, what, name, obj, options, lines):
    """Append ``docs/api/examples/<module>.txt`` (a doctest transcript, run by tests/test_docs.py)
    to the module's docstring, so each module's page shows a runnable example below its summary."""
    if what != "module":
        return
    path = Path(app.srcdir) / "api" / "examples" / f"{name}.txt"
    if path.is_file():
        lines += ["", ".. rubric:: Example", ""] + path.read_text(encoding="utf-8").splitlines() + [""]


def setup(app):
    app.connect("autodoc-process-docstring", escape_bars)
    app.connect("autodoc-process-docstring", add_module_example)
    app.connect("autodoc-process-docstring", add_module_constants)
    app.add_directive("publicnames", PublicNames)
    app.add_directive("clihelp", CliHelp)
    return {"parallel_read_safe": True, "version": "1"}

