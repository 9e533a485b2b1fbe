r"""Figure recipes: discovery, loading, the contract's checks and the source digest.

A *recipe* is a file ``figures/<stem>.py`` (files starting with ``_`` are not recipes) exposing
``NAME``, ``TITLE``, ``PAPER``, ``SEED``, ``SCALES``, ``compute(cfg, seed)``, ``plot(data, cfg)``
and optionally ``claims(data, cfg)`` and ``table(data, cfg)`` (a Markdown table the report shows
under the claims, for the papers' tables). Recipes are files, not a package: :func:`discover` imports
every ``figures/*.py`` below the repository root, :func:`load_recipe` one of them. Their library
code lives in :mod:`convergence.experiments.recipe_kit`.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from convergence._validate import ConfigError
from convergence.experiments.cache import _canonical_json, _json_default
from convergence.theory.verdicts import VERDICTS, Claim, Verdict

__all__ = ["SCALES", "OPTIONAL_SCALES", "VERDICTS", "RECIPE_VERDICTS", "CLAIM_KEYS", "Recipe", "find_repo_root",
           "discover", "select", "recipes_for_scale", "load_recipe", "normalise_claims", "source_digest"]

#: the three scales every recipe defines (quick: tests; default: ``make figures``; paper: papers' counts)
SCALES = ("quick", "default", "paper")
#: scales a recipe *may* define; run without names they select the recipes that do.
#: ``long`` (``make figures-long``, about an hour on 2 cores): the network orderings that need more
#: training than the main job's 20 minutes allow (P2 Fig. 4's CNN).
OPTIONAL_SCALES = ("long",)
#: the keys every claim dict has (``paper`` is added from the recipe's ``PAPER`` when missing)
CLAIM_KEYS = ("id", "statement", "prediction", "measured", "uncertainty", "verdict")
#: what a recipe's claim may conclude: a verdict, or ``noted`` for a stated finding with its numbers (e.g. a
#: paper's statement that a stand-in set-up does not reproduce, with the reason); a finding never counts as failing
RECIPE_VERDICTS = (*VERDICTS, Verdict.NOTED)


def find_repo_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The repository root: ``start`` (default: the working directory) if it holds ``figures/``.

    Raises:
        ConfigError: when ``figures/`` is missing (the command must run from the repo root).
    """
    root = Path(start if start is not None else os.getcwd()).resolve()
    if not (root / "figures").is_dir():
        raise ConfigError(f"no figures/ folder in {root}; run this command from the repository root")
    return root


@dataclass(frozen=True)
class Recipe:
    """A loaded figure recipe.

    Attributes:
        name: the recipe's ``NAME`` (unique id).
        stem: the file stem (``figures/<stem>.py``).
        path: absolute path of the recipe file.
        module: the imported module.
        source_sha256: digest of the recipe source and the ``figures/_*.py`` helpers.
    """

    name: str
    stem: str
    path: Path
    module: types.ModuleType
    source_sha256: str

    @property
    def title(self) -> str:
        return str(getattr(self.module, "TITLE", self.name))

    @property
    def paper(self) -> str:
        return str(getattr(self.module, "PAPER", "toolkit figure"))

    @property
    def seed(self) -> int:
        return int(self.module.SEED)

    def config(self, scale: str) -> dict[str, Any]:
        """The recipe's config dict for ``scale`` (a JSON round-trip copy, so compute cannot mutate it)."""
        scales = getattr(self.module, "SCALES", {})
        if scale not in scales:
            raise ConfigError(f"recipe {self.name}: SCALES has no {scale!r} entry (has {sorted(scales)})")
        return json.loads(_canonical_json(scales[scale]))

    @property
    def docstring(self) -> str:
        return (self.module.__doc__ or "").strip()


#: modules loaded from figure folders (pickled by value when sent to worker processes)
_BY_VALUE_MODULES: set[str] = set()


def source_digest(path: Path) -> str:
    """sha256 of the recipe file followed by every ``_*.py`` helper next to it (sorted by name)."""
    h = hashlib.sha256()
    files = [path] + sorted(p for p in path.parent.glob("_*.py") if p != path)
    for p in files:
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def _import_file(mod_name: str, path: Path) -> types.ModuleType:
    """Import ``path`` as module ``mod_name`` (registered in ``sys.modules``; removed again on failure)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(mod_name, None)
        raise
    return module


def load_recipe(path: str | os.PathLike[str]) -> Recipe:
    """Import one recipe file and check the contract's required attributes."""
    path = Path(path).resolve()
    try:
        module = _import_file(f"convergence_recipe_{path.stem}", path)
    except Exception as exc:
        raise ConfigError(f"recipe {path.name} failed to import: {type(exc).__name__}: {exc}") from exc
    missing = [a for a in ("NAME", "SEED", "SCALES", "compute", "plot") if not hasattr(module, a)]
    if missing:
        raise ConfigError(f"recipe {path.name} lacks {', '.join(missing)} (see the figure-recipe contract)")
    _track_by_value(path.parent)
    return Recipe(str(module.NAME), path.stem, path, module, source_digest(path))


#: the resolved folder of each loaded module's file, (module name, file) -> folder: resolving a path costs one stat
#: per component, and the recipes' discovery asks about every loaded module (a thousand or more) once per recipe
_MODULE_FOLDERS: dict[tuple[str, str], Path] = {}


def _track_by_value(folder: Path) -> None:
    """Remember modules loaded from ``folder`` (recipes and their helpers) for by-value pickling."""
    folder = folder.resolve()
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if not f:
            continue
        where = _MODULE_FOLDERS.get((name, f))
        if where is None:
            where = _MODULE_FOLDERS[(name, f)] = Path(f).resolve().parent
        if where == folder:
            _BY_VALUE_MODULES.add(name)


def discover(root: str | os.PathLike[str] | None = None, *,
             broken: dict[str, str] | None = None) -> list[Recipe]:
    """Load every recipe ``figures/*.py`` under ``root`` (sorted by file name; ``_*.py`` skipped).

    Args:
        root: repository root (default: the working directory).
        broken: if given, recipes that fail to import are recorded here (file stem -> error) instead
            of raising, so one broken file does not stop the others.
    """
    root = find_repo_root(root)
    recipes = []
    for p in sorted((root / "figures").glob("*.py")):
        if p.name.startswith("_"):
            continue
        try:
            recipes.append(load_recipe(p))
        except ConfigError as exc:
            if broken is None:
                raise
            broken[p.stem] = str(exc)
    seen: dict[str, Path] = {}
    for r in recipes:
        if r.name in seen:
            raise ConfigError(f"two recipes share NAME {r.name!r}: {seen[r.name].name} and {r.path.name}")
        seen[r.name] = r.path
    return recipes


def select(recipes: Sequence[Recipe], names: Sequence[str]) -> list[Recipe]:
    """The recipes named by ``names`` (a recipe's NAME or its file stem); all when ``names`` is empty."""
    if not names:
        return list(recipes)
    out: list[Recipe] = []
    for n in names:
        hits = [r for r in recipes if n in (r.name, r.stem)]
        if not hits:
            known = ", ".join(sorted(r.name for r in recipes)) or "none"
            raise ConfigError(f"unknown figure {n!r} (known: {known})")
        out.extend(h for h in hits if h not in out)
    return out


def recipes_for_scale(recipes: list[Recipe], scale: str, *, named: bool) -> list[Recipe]:
    """The recipes that define ``scale`` (all of them for a required scale); when the user
    ``named`` the recipes, one lacking an optional scale is an error rather than silently skipped."""
    if scale not in OPTIONAL_SCALES:
        return list(recipes)
    has = [r for r in recipes if scale in getattr(r.module, "SCALES", {})]
    if named and len(has) < len(recipes):
        lacking = ", ".join(r.name for r in recipes if r not in has)
        raise ConfigError(f"scale {scale!r} is optional and not defined by: {lacking}")
    if not has:
        raise ConfigError(f"no recipe defines the optional scale {scale!r}")
    return has


def normalise_claims(raw: Any, recipe: Recipe) -> list[Claim]:
    """``claims()`` output as :class:`~convergence.theory.verdicts.Claim` records (reference defaulting to the
    recipe's paper); malformed entries (not a dict with :data:`CLAIM_KEYS`, or a verdict outside
    :data:`RECIPE_VERDICTS`) become failing claims whose note says what is wrong."""
    out: list[Claim] = []
    if not isinstance(raw, (list, tuple)):
        raw = [raw]
    for i, c in enumerate(raw):
        try:
            if isinstance(c, Claim):
                rec = c
            elif not isinstance(c, dict) or any(k not in c for k in CLAIM_KEYS):
                raise ConfigError(f"a claim must be a dict with keys {', '.join(CLAIM_KEYS)}")
            else:   # JSON round trip: NumPy values become plain numbers, NaN kept
                rec = Claim.from_dict(json.loads(json.dumps(c, default=_json_default, allow_nan=True)))
            if rec.verdict not in RECIPE_VERDICTS:
                raise ConfigError(f"claim {rec.id}: verdict must be one of {', '.join(RECIPE_VERDICTS)} "
                                  f"(got {rec.verdict!s})")
        except (ConfigError, TypeError, ValueError) as exc:   # TypeError/ValueError: values JSON cannot hold
            out.append(Claim(id=f"{recipe.name}.claim{i}", statement=f"malformed claim from {recipe.stem}.claims()",
                             verdict=Verdict.FAILS, reference=recipe.paper, prediction="", note=str(exc),
                             details={"invalid": repr(c)[:300]}))
            continue
        out.append(rec if rec.reference else dataclasses.replace(rec, reference=recipe.paper))
    return out
