r"""Make-style figure machinery: recipe discovery, on-disk cache, parallel sweeps, the runner.

A *recipe* is a file ``figures/<stem>.py`` (files starting with ``_`` are helpers, not recipes)
exposing ``NAME``, ``TITLE``, ``PAPER``, ``SEED``, ``SCALES``, ``compute(cfg, seed)``,
``plot(data, cfg)`` and optionally ``claims(data, cfg)`` (the contract in the helpers' brief and
STYLE §8.10). The runner

1. discovers recipes by the glob ``figures/*.py`` from the repository root;
2. computes each recipe's data, or loads it from ``data/cache/`` when its *cache key* is unchanged:

   .. math::  \mathrm{key} = \mathrm{sha256}(\mathrm{JSON}\{\texttt{NAME}, \texttt{SCALES[scale]},
              \texttt{SEED}, \texttt{convergence.\_\_version\_\_}, \mathrm{sha256}(\text{recipe source}
              \,\|\, \text{figures/\_*.py helpers})\});

3. plots to ``build/figures/<NAME>.png`` and ``.pdf`` (Agg, the shared style), skipping the plot when
   the figure files exist and a stamp records the same key and style;
4. collects the recipes' claims for the verification report (:mod:`convergence.experiments.report`).

Cache entries are ``<NAME>-<key[:16]>.npz`` (``np.savez``; object arrays refused, loaded with
``allow_pickle=False``) plus a JSON sidecar holding the full key, the config, the seed, versions,
timing and the sha256 of the ``.npz`` bytes. Both files are written atomically (temporary file in
the same folder, fsync, ``os.replace``), the ``.npz`` first and the sidecar last, so the sidecar is
the commit record: an entry is valid only if its sidecar parses, names the same key and the
``.npz`` bytes hash to the recorded digest and load. Anything else (truncated archive, missing
sidecar, key mismatch) is reported and recomputed. No pickle is used for stored data.

Parallel sweeps: recipes call :func:`parallel_map` on a list of independent tasks, each carrying
its own ``SeedSequence``-derived seed. The runner sets the backend (``joblib`` local processes or a
``dask`` distributed cluster) and the number of workers in a context variable for the duration of
``compute`` (:func:`parallel_settings`); :func:`parallel_map` reads it. Outside the runner (or
inside a worker) the map is serial. Results come back in task order, so a recipe's output is
bit-identical whatever the backend and number of workers.
"""
from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import hashlib
import io
import json
import math
import os
import platform
import sys
import sysconfig
import tempfile
import time
import traceback
import types
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from convergence import __version__
from convergence.theory.verdicts import VERDICTS, Claim, Verdict, as_claim
from convergence._validate import ConfigError

__all__ = [
    "SCALES", "OPTIONAL_SCALES", "BACKENDS", "Recipe", "FigureResult", "ParallelSettings", "CacheEntryError",
    "find_repo_root", "discover", "select", "recipes_for_scale", "load_recipe", "cache_key", "cache_status",
    "source_digest",
    "Cache", "parallel_settings", "current_settings", "parallel_map", "run_recipe", "run_figures",
    "versions",
]

#: the three scales every recipe defines (quick: tests; default: ``make figures``; paper: papers' counts)
SCALES = ("quick", "default", "paper")
#: scales a recipe *may* define; run without names they select the recipes that do.
#: ``long`` (``make figures-long``, about an hour on 2 cores): the network orderings that need more
#: training than the main job's 20 minutes allow (P2 Fig. 4's CNN).
OPTIONAL_SCALES = ("long",)
#: parallel backends of :func:`parallel_map`
BACKENDS = ("joblib", "dask")
#: format version of cache entries (part of the sidecar; a different value is a mismatch)
CACHE_FORMAT = 1
#: keys every claim dict of a recipe's ``claims(data, cfg)`` must have (``VERDICTS``: its allowed verdicts)
CLAIM_KEYS = ("id", "statement", "prediction", "measured", "uncertainty", "verdict")


# -- discovery ------------------------------------------------------------------------------------

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
        return str(getattr(self.module, "PAPER", "new"))

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


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``convergence.__version__`` plus a digest of the installed package's Python sources.

    Part of every cache key, so editing the library (a device, the driver, a bound)
    recomputes the figures that depend on it instead of serving stale data.
    """
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for p in sorted(root.rglob("*.py")):
        h.update(str(p.relative_to(root)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return f"{__version__}+{h.hexdigest()[:16]}"


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


def recipe_helpers(recipe_file: str | os.PathLike[str]) -> types.ModuleType:
    """The shared helpers ``_common.py`` beside a recipe, imported once per process under the name
    ``convergence_figures_common`` (recipes are loaded from files, not as a package)."""
    name = "convergence_figures_common"
    mod = sys.modules.get(name)
    return mod if mod is not None else _import_file(name, Path(recipe_file).resolve().with_name("_common.py"))


def _track_by_value(folder: Path) -> None:
    """Remember modules loaded from ``folder`` (recipes and their helpers) for by-value pickling."""
    folder = folder.resolve()
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if f and Path(f).resolve().parent == folder:
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


# -- cache ----------------------------------------------------------------------------------------

def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=_json_default)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (set, frozenset)):
        return sorted(x)
    raise TypeError(f"not JSON-able: {type(x).__name__}")


def cache_key(name: str, config: dict[str, Any], seed: int, version: str, source_sha256: str) -> str:
    """sha256 (hex) of the canonical JSON of (NAME, scale config, SEED, package version, source digest)."""
    payload = {"name": name, "config": config, "seed": int(seed), "version": version, "source": source_sha256,
               "format": CACHE_FORMAT}
    return hashlib.sha256(_canonical_json(payload).encode()).hexdigest()


class CacheEntryError(Exception):
    """A cache entry exists but is not valid (corrupt, truncated, incomplete or for another key)."""


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write via ``write(fileobj)`` to a temporary file in the same folder, fsync, then ``os.replace``.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (not supported everywhere)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _check_arrays(data: Any, name: str) -> dict[str, np.ndarray]:
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {name}: compute must return a dict of arrays (got {type(data).__name__})")
    out: dict[str, np.ndarray] = {}
    for k, v in data.items():
        if not isinstance(k, str) or not k or k.startswith("__"):
            raise ConfigError(f"recipe {name}: array names must be non-empty strings not starting with '__' "
                              f"(got {k!r})")
        a = np.asarray(v)
        if a.dtype.hasobject:
            raise ConfigError(f"recipe {name}: array {k!r} has dtype object; cached data must be plain numeric/"
                              "string arrays (no pickle)")
        out[k] = a
    return out


class Cache:
    """The on-disk data cache (``data/cache/`` by default). See the module docstring for the format."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def paths(self, name: str, key: str) -> tuple[Path, Path]:
        stem = f"{name}-{key[:16]}"
        return self.folder / f"{stem}.npz", self.folder / f"{stem}.json"

    def load(self, name: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """(arrays, sidecar) of a valid entry; None if there is none.

        Raises:
            CacheEntryError: when files exist but do not form a valid entry for ``key``.
        """
        npz, side = self.paths(name, key)
        if not npz.exists() and not side.exists():
            return None
        if not side.exists():
            raise CacheEntryError(f"{npz.name}: sidecar {side.name} is missing")
        if not npz.exists():
            raise CacheEntryError(f"{side.name}: data file {npz.name} is missing")
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError) as exc:
            raise CacheEntryError(f"{side.name}: unreadable sidecar ({exc})") from None
        if not isinstance(meta, dict) or meta.get("key") != key or meta.get("format") != CACHE_FORMAT:
            raise CacheEntryError(f"{side.name}: key mismatch (sidecar belongs to another entry)")
        raw = npz.read_bytes()
        if hashlib.sha256(raw).hexdigest() != meta.get("npz_sha256"):
            raise CacheEntryError(f"{npz.name}: content does not match the sidecar's digest (truncated or modified)")
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
            raise CacheEntryError(f"{npz.name}: bad archive ({type(exc).__name__}: {exc})") from None
        stored_key = arrays.pop("__key__", None)
        if stored_key is None or str(stored_key) != key:
            raise CacheEntryError(f"{npz.name}: key mismatch inside the archive")
        return arrays, meta

    def store(self, name: str, key: str, data: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
        """Write an entry atomically (data first, sidecar last); returns the sidecar written."""
        npz, side = self.paths(name, key)
        arrays = _check_arrays(data, name)
        buf = io.BytesIO()
        np.savez(buf, __key__=np.array(key), **arrays)
        raw = buf.getvalue()
        meta = {**meta, "format": CACHE_FORMAT, "key": key, "name": name,
                "npz_sha256": hashlib.sha256(raw).hexdigest(),
                "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()}}
        text = json.dumps(meta, indent=1, sort_keys=True, default=_json_default)
        _atomic_write(npz, lambda f: f.write(raw))
        _atomic_write(side, lambda f: f.write(text.encode()))
        return meta

    def prune(self, name: str, scale: str, keep: str) -> list[Path]:
        """Remove the entries of ``name`` at ``scale`` other than key ``keep`` (superseded inputs); returns them."""
        removed = []
        for side in self.folder.glob(f"{name}-*.json"):
            try:
                meta = json.loads(side.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and meta.get("name") == name and meta.get("scale") == scale \
                    and meta.get("key") != keep:
                for p in (side, side.with_suffix(".npz")):
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
                        removed.append(p)
        return removed

    def discard(self, name: str, key: str) -> None:
        for p in self.paths(name, key):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


# -- parallel sweeps ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParallelSettings:
    """How :func:`parallel_map` runs: ``jobs`` workers on ``backend`` (``scheduler``: dask address)."""

    jobs: int = 1
    backend: str = "joblib"
    scheduler: str | None = None
    progress: bool | None = None
    label: str = ""
    client: Any = field(default=None, compare=False, repr=False)


_SETTINGS: contextvars.ContextVar[ParallelSettings] = contextvars.ContextVar(
    "convergence_parallel_settings", default=ParallelSettings())


def current_settings() -> ParallelSettings:
    """The settings :func:`parallel_map` uses now (serial outside :func:`parallel_settings`)."""
    return _SETTINGS.get()


def _validate_settings(jobs: int, backend: str, scheduler: str | None) -> None:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an integer >= 1 (got {jobs!r})")
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if backend == "dask" and not scheduler:
        raise ConfigError("backend dask needs a scheduler address (--scheduler tcp://host:8786)")
    if backend == "joblib" and scheduler:
        raise ConfigError("--scheduler is only used with --backend dask")


@contextlib.contextmanager
def parallel_settings(jobs: int = 1, backend: str = "joblib", scheduler: str | None = None, *,
                      progress: bool | None = None, label: str = "") -> Iterator[ParallelSettings]:
    """Set how :func:`parallel_map` runs inside the ``with`` block (the runner wraps ``compute`` in it).

    With ``backend="dask"`` one ``distributed.Client`` connected to ``scheduler`` is opened for the
    block and closed at its end.
    """
    _validate_settings(jobs, backend, scheduler)
    client, own = None, False
    outer = _SETTINGS.get()
    if backend == "dask" and outer.client is not None and outer.scheduler == scheduler:
        client = outer.client  # reuse the enclosing block's connection (the runner opens one per run)
    elif backend == "dask":
        own = True
        try:
            from distributed import Client
        except ImportError:  # pragma: no cover - depends on the optional extra
            raise ConfigError("backend dask needs the optional extra: pip install 'analog-convergence[dask]'") from None
        try:
            client = Client(scheduler, set_as_default=False, timeout=30)
        except Exception as exc:  # noqa: BLE001 - connection errors of all kinds
            raise ConfigError(f"cannot connect to the dask scheduler {scheduler!r}: {exc}") from None
    token = _SETTINGS.set(ParallelSettings(jobs, backend, scheduler, progress, label, client))
    try:
        yield _SETTINGS.get()
    finally:
        _SETTINGS.reset(token)
        if own and client is not None:
            client.close()


def _register_by_value(fn: Any) -> None:
    """Let worker processes receive recipe code by value (recipe modules are not importable there)."""
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - joblib and dask both ship cloudpickle
        return
    names = set(_BY_VALUE_MODULES)
    mod = sys.modules.get(getattr(fn, "__module__", "") or "")
    f = getattr(mod, "__file__", None)
    if mod is not None and f and mod.__name__ != "__main__":
        installed = {Path(p).resolve() for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"],
                                                 sysconfig.get_paths()["stdlib"]}}
        here = Path(__file__).resolve().parent
        fp = Path(f).resolve()
        if here not in fp.parents and not any(p in fp.parents for p in installed):
            names.add(mod.__name__)
            _track_by_value(fp.parent)  # helpers the recipe loaded after discovery
            names |= _BY_VALUE_MODULES
    registered = set(cloudpickle.list_registry_pickle_by_value())
    for n in names:
        if n in sys.modules and n not in registered:
            cloudpickle.register_pickle_by_value(sys.modules[n])


def _progress_bar(total: int, settings: ParallelSettings, desc: str | None) -> Any:
    from tqdm.auto import tqdm

    show = settings.progress if settings.progress is not None else sys.stderr.isatty()
    return tqdm(total=total, desc=desc or settings.label or "sweep", unit="run", disable=not show,
                leave=False, file=sys.stderr)


def _call_pickled(blob: bytes) -> Any:
    """Worker side of the dask backend: ``fn(task)`` from cloudpickle bytes (transport only, never stored)."""
    import cloudpickle

    fn, task = cloudpickle.loads(blob)
    return fn(task)


def parallel_map(fn: Callable[[Any], Any], tasks: Sequence[Any], *, jobs: int | None = None,
                 backend: str | None = None, desc: str | None = None) -> list[Any]:
    """``[fn(t) for t in tasks]``, run in parallel as the runner (or the arguments) say.

    Each task must carry everything it needs, including its own seed (a ``SeedSequence`` child of
    the recipe's seed keyed by the task's stable identity), and ``fn`` must be pure: then the
    result is bit-identical whatever the backend and the number of workers. Results are returned
    in task order. ``jobs``/``backend`` override the context set by :func:`parallel_settings`
    (``backend="dask"`` needs that context's client). A tqdm bar shows progress when stderr is a
    terminal.

    Args:
        fn: a module-level function of one task.
        tasks: the independent tasks.
        jobs: number of local worker processes (joblib); default from the context (1 outside the runner).
        backend: "joblib" or "dask"; default from the context.
        desc: progress-bar label.

    Returns:
        The list of results, in task order.
    """
    settings = _SETTINGS.get()
    jobs = settings.jobs if jobs is None else jobs
    backend = settings.backend if backend is None else backend
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an integer >= 1 (got {jobs!r})")
    tasks = list(tasks)
    results: list[Any] = [None] * len(tasks)
    bar = _progress_bar(len(tasks), settings, desc)
    try:
        if backend == "dask":
            if settings.client is None:
                raise ConfigError("backend dask: parallel_map must run inside parallel_settings(backend='dask', "
                                  "scheduler=...)")
            from distributed import as_completed

            import cloudpickle

            _register_by_value(fn)
            # dask pickles callables wrapped in its task objects by reference, which fails for recipe
            # modules that worker processes cannot import: ship (fn, task) as cloudpickle bytes instead
            blobs = [cloudpickle.dumps((fn, t)) for t in tasks]
            futures = settings.client.map(_call_pickled, blobs, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in as_completed(futures, loop=settings.client.loop):
                results[index[fut.key]] = fut.result()
                bar.update(1)
        elif jobs == 1 or len(tasks) <= 1:
            for i, t in enumerate(tasks):
                results[i] = fn(t)
                bar.update(1)
        else:
            from joblib import Parallel, delayed

            _register_by_value(fn)
            gen = Parallel(n_jobs=min(jobs, len(tasks)), backend="loky", return_as="generator")(
                delayed(fn)(t) for t in tasks)
            for i, r in enumerate(gen):
                results[i] = r
                bar.update(1)
    finally:
        bar.close()
    return results


# -- runner ---------------------------------------------------------------------------------------

def versions() -> dict[str, str]:
    """Versions of the interpreter and the numerical stack (recorded in sidecars and the report)."""
    import matplotlib
    import scipy

    out = {"convergence": __version__, "python": platform.python_version(), "numpy": np.__version__,
           "scipy": scipy.__version__, "matplotlib": matplotlib.__version__}
    git = _git_describe()
    if git:
        out["git"] = git
    return out


def _git_describe() -> str:
    """``git describe --always --dirty`` of the source tree ("" outside a git checkout)."""
    import subprocess

    try:
        res = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return res.stdout.strip() if res.returncode == 0 else ""


@dataclass
class FigureResult:
    """What the runner did for one recipe (one row of the report)."""

    name: str
    title: str
    paper: str
    stem: str
    scale: str
    seed: int
    key: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"                 # "ok" | "error"
    from_cache: bool = False
    cache_note: str = ""               # why the cache was not used (corrupt entry, --force, missing)
    compute_seconds: float = math.nan  # this run's compute time (0 when cached)
    cached_compute_seconds: float = math.nan  # compute time recorded in the sidecar
    plot_seconds: float = math.nan
    plot_skipped: bool = False
    png: str = ""
    pdf: str = ""
    claims: list[Claim] = field(default_factory=list)
    error: str = ""
    docstring: str = ""

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        out = asdict(self)
        # "paper": the claims' key for the reference before the Claim record, kept for readers of report.json
        out["claims"] = [{**c.as_dict(), "paper": c.reference} for c in map(as_claim, self.claims)]
        return out


def _style_digest() -> str:
    from importlib import resources

    h = hashlib.sha256()
    for name in ("paper.mplstyle",):
        h.update((resources.files("convergence") / "styles" / name).read_bytes())
    import matplotlib

    h.update(matplotlib.__version__.encode())
    return h.hexdigest()


def _normalise_claims(raw: Any, recipe: Recipe) -> list[Claim]:
    """``claims()`` output as :class:`~convergence.theory.verdicts.Claim` records (reference defaulting to the
    recipe's paper); malformed entries become failing claims whose note says what is wrong."""
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
            if rec.verdict not in VERDICTS:
                raise ConfigError(f"claim {rec.id}: verdict must be one of {', '.join(VERDICTS)} (got {rec.verdict!s})")
        except ConfigError as exc:
            out.append(Claim(id=f"{recipe.name}.claim{i}", statement=f"malformed claim from {recipe.stem}.claims()",
                             verdict=Verdict.FAILS, reference=recipe.paper, prediction="", note=str(exc),
                             details={"invalid": repr(c)[:300]}))
            continue
        out.append(rec if rec.reference else dataclasses.replace(rec, reference=recipe.paper))
    return out


def cache_status(recipe: Recipe, scale: str, cache: Cache) -> tuple[str, str]:
    """(key, state) of a recipe at ``scale`` without computing: state is "cached", "missing" or "corrupt: ..."."""
    key = cache_key(recipe.name, recipe.config(scale), recipe.seed, code_version(), recipe.source_sha256)
    try:
        return key, "cached" if cache.load(recipe.name, key) is not None else "missing"
    except CacheEntryError as exc:
        return key, f"corrupt: {exc}"


def run_recipe(recipe: Recipe, scale: str, *, cache: Cache, out_dir: str | os.PathLike[str],
               force: bool = False, jobs: int = 1, backend: str = "joblib", scheduler: str | None = None,
               progress: bool | None = None, log: Callable[[str], None] | None = None) -> FigureResult:
    """Compute (or load), plot and collect claims for one recipe; errors are caught into the result."""
    log = log or (lambda s: None)
    res = FigureResult(recipe.name, recipe.title, recipe.paper, recipe.stem, scale, recipe.seed,
                       docstring=recipe.docstring)
    try:
        cfg = recipe.config(scale)
        res.config = cfg
        key = cache_key(recipe.name, cfg, recipe.seed, code_version(), recipe.source_sha256)
        res.key = key
        data: dict[str, np.ndarray] | None = None
        if force:
            res.cache_note = "--force"
        else:
            try:
                hit = cache.load(recipe.name, key)
            except CacheEntryError as exc:
                res.cache_note = f"corrupt cache entry recomputed: {exc}"
                log(f"{recipe.name}: {res.cache_note}")
                cache.discard(recipe.name, key)
                hit = None
            if hit is not None:
                data, meta = hit
                res.from_cache = True
                res.compute_seconds = 0.0
                res.cached_compute_seconds = float(meta.get("compute_seconds", math.nan))
            elif not res.cache_note:
                res.cache_note = "not in cache"
        if data is None:
            seed = np.random.SeedSequence(recipe.seed)
            t0 = time.perf_counter()
            with parallel_settings(jobs, backend, scheduler, progress=progress, label=recipe.name):
                data = _check_arrays(recipe.module.compute(cfg, seed), recipe.name)
            res.compute_seconds = res.cached_compute_seconds = time.perf_counter() - t0
            cache.store(recipe.name, key, data, {
                "scale": scale, "config": cfg, "seed": {"entropy": recipe.seed, "spawn_key": []},
                "versions": versions(), "source_sha256": recipe.source_sha256, "recipe": recipe.path.name,
                "compute_seconds": res.compute_seconds, "jobs": jobs, "backend": backend,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
            cache.prune(recipe.name, scale, key)
        if hasattr(recipe.module, "claims"):
            res.claims = _normalise_claims(recipe.module.claims(data, cfg), recipe)
        _plot(recipe, data, cfg, res, Path(out_dir), force=force)
    except Exception as exc:  # noqa: BLE001 - one broken recipe must not stop the others
        res.status = "error"
        res.error = f"{type(exc).__name__}: {exc}"
        log(f"{recipe.name}: ERROR {res.error}\n{traceback.format_exc(limit=6)}")
    return res


def _plot(recipe: Recipe, data: dict[str, np.ndarray], cfg: dict[str, Any], res: FigureResult,
          out_dir: Path, *, force: bool) -> None:
    from convergence.experiments.plotting import paper_style, save_figure

    fig_dir = out_dir / "figures"
    png, pdf = fig_dir / f"{recipe.name}.png", fig_dir / f"{recipe.name}.pdf"
    stamp = fig_dir / f".{recipe.name}.stamp"
    want = _canonical_json({"key": res.key, "style": _style_digest()})
    res.png, res.pdf = str(png), str(pdf)
    if not force and png.exists() and pdf.exists() and stamp.exists() and stamp.read_text() == want:
        res.plot_seconds, res.plot_skipped = 0.0, True
        return
    t0 = time.perf_counter()
    with paper_style() as plt:
        fig = recipe.module.plot(data, cfg)
        try:
            for path in (png, pdf):
                tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
                save_figure(fig, tmp)
                os.replace(tmp, path)
        finally:
            plt.close(fig)
    _atomic_write(stamp, lambda f: f.write(want.encode()))
    res.plot_seconds = time.perf_counter() - t0


def _log_result(log: Callable[[str], None] | None, res: FigureResult) -> None:
    if log is None or res.status != "ok":
        return
    src = "cache" if res.from_cache else f"computed {res.compute_seconds:.1f} s"
    plot = "plot up to date" if res.plot_skipped else f"plotted {res.plot_seconds:.1f} s"
    verdicts = [c.verdict for c in res.claims]
    log(f"{res.name}: {src}, {plot}; claims: {len(verdicts)} "
        f"({verdicts.count(Verdict.HOLDS)} hold, {verdicts.count(Verdict.FAILS)} fail)")


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


def run_figures(names: Sequence[str] = (), *, scale: str = "default", root: str | os.PathLike[str] | None = None,
                out_dir: str | os.PathLike[str] = "build", cache_dir: str | os.PathLike[str] | None = None,
                force: bool = False, jobs: int = 1, backend: str = "joblib", scheduler: str | None = None,
                progress: bool | None = None, log: Callable[[str], None] | None = None) -> list[FigureResult]:
    """Run the selected recipes (all when ``names`` is empty) in file order; returns their results."""
    if scale not in SCALES + OPTIONAL_SCALES:
        raise ConfigError(f"scale must be one of {', '.join(SCALES + OPTIONAL_SCALES)} (got {scale!r})")
    _validate_settings(jobs, backend, scheduler)
    root_p = find_repo_root(root)
    broken: dict[str, str] = {}
    found = discover(root_p, broken=broken)
    recipes = select(found, [n for n in names if n not in broken])
    recipes = recipes_for_scale(recipes, scale, named=bool(names))
    bad = [stem for stem in broken if not names or stem in names]
    cache = Cache(cache_dir if cache_dir is not None else root_p / "data" / "cache")
    out = Path(out_dir)
    if not out.is_absolute():
        out = root_p / out
    results = []
    # one connection per run (a bad dask address fails here, once, with exit code 2)
    session = parallel_settings(jobs, backend, scheduler, progress=progress) if backend == "dask" \
        else contextlib.nullcontext()
    with session:
        for i, r in enumerate(recipes, 1):
            if log is not None:
                log(f"[{i}/{len(recipes)}] {r.name} ({r.path.name}) ...")
            res = run_recipe(r, scale, cache=cache, out_dir=out, force=force, jobs=jobs, backend=backend,
                             scheduler=scheduler, progress=progress, log=log)
            results.append(res)
            _log_result(log, res)
    for stem in bad:
        if log is not None:
            log(f"{stem}: ERROR {broken[stem]}")
        results.append(FigureResult(stem, f"figures/{stem}.py (not importable)", "", stem, scale, -1,
                                    status="error", error=broken[stem]))
    return results
