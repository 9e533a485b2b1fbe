r"""The figure runner: compute (or load from the cache), plot and collect claims, recipe by recipe.

For each selected recipe (:mod:`convergence.experiments.recipes`) the runner

1. computes its data, or loads it from ``data/cache/`` when its cache key is unchanged
   (:mod:`convergence.experiments.cache`), with ``compute`` running inside
   :func:`~convergence.experiments.parallel.parallel_settings`;
2. plots to ``build/figures/<NAME>.png`` and ``.pdf`` (Agg, the shared style), skipping the plot when
   a stamp records the same key and style and the sha256 of both figure files as they are on disk;
3. collects the recipe's claims for the verification report (:mod:`convergence.experiments.report`).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from convergence import __version__
from convergence._validate import ConfigError
from convergence.nn.data import DataUnavailable
from convergence.theory.verdicts import Claim, Verdict, as_claim
from convergence.experiments.cache import (Cache, CacheEntryError, _atomic_write, _canonical_json, _check_arrays,
                                           cache_key, code_version, new_file_mode, using_folder)
from convergence.experiments.parallel import (Meter, TaskPool, _peak_rss_bytes, _reset_peak_rss, _validate_settings,
                                              parallel_settings)
from convergence.experiments.recipes import (OPTIONAL_SCALES, SCALES, Recipe, discover, find_repo_root,
                                             normalise_claims, recipes_for_scale, select)

__all__ = ["FigureResult", "cache_status", "run_recipe", "run_figures", "versions"]

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
    status: str = "ok"                 # "ok" | "skipped" (data unavailable) | "error"
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
    table: str = ""                    # Markdown table from the recipe's optional ``table(data, cfg)``

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


def cache_status(recipe: Recipe, scale: str, cache: Cache) -> tuple[str, str]:
    """(key, state) of a recipe at ``scale`` without computing: state is "cached", "missing" or "corrupt: ..."."""
    key = cache_key(recipe.name, recipe.config(scale), recipe.seed, code_version(), recipe.source_sha256)
    try:
        return key, "cached" if cache.load(recipe.name, key) is not None else "missing"
    except CacheEntryError as exc:
        return key, f"corrupt: {exc}"


def run_recipe(recipe: Recipe, scale: str, *, cache: Cache, out_dir: str | os.PathLike[str],
               force: bool = False, jobs: int = 1, backend: str = "joblib", scheduler: str | None = None,
               progress: bool | None = None, log: Callable[[str], None] | None = None,
               pool: TaskPool | None = None) -> FigureResult:
    """Compute (or load), plot and collect claims for one recipe; errors are caught into the result.

    With ``pool`` (the run's shared :class:`~convergence.experiments.parallel.TaskPool`) the recipe's
    sweeps submit their tasks there."""
    res, data = _obtain(recipe, scale, cache=cache, force=force, jobs=jobs, backend=backend, scheduler=scheduler,
                        progress=progress, log=log, pool=pool)
    return _finish(recipe, res, data, out_dir, force=force, log=log)


def _guard(res: FigureResult, recipe: Recipe, log: Callable[[str], None], step: Callable[[], Any]) -> Any:
    """``step()``, with a missing data set or any error caught into ``res`` (one broken recipe must not stop
    the others); None when it failed."""
    try:
        return step()
    except DataUnavailable as exc:   # a data set is missing: the report says how to get it, the rest runs
        res.status = "skipped"
        res.error = f"data unavailable: {exc}"
        log(f"{recipe.name}: skipped, data unavailable (the report says how to get it)")
    except Exception as exc:  # noqa: BLE001 - one broken recipe must not stop the others
        res.status = "error"
        res.error = f"{type(exc).__name__}: {exc}"
        if type(exc).__module__.split(".")[0] == "distributed":   # the cluster failed, not the recipe
            res.error = (f"the dask cluster lost this recipe's tasks (a worker died or left, with a task or the "
                         f"recipe's shared input; {res.error}); rerun the same command: the recipes that finished "
                         "are cached")
            log(f"{recipe.name}: ERROR {res.error}")
        else:
            log(f"{recipe.name}: ERROR {res.error}\n{traceback.format_exc(limit=6)}")
    return None


def _obtain(recipe: Recipe, scale: str, *, cache: Cache, force: bool, jobs: int, backend: str,
            scheduler: str | None, progress: bool | None, log: Callable[[str], None] | None,
            pool: TaskPool | None) -> tuple[FigureResult, dict[str, np.ndarray] | None]:
    """The recipe's data from the cache or from ``compute`` (stored); thread-safe, so the runner can obtain
    several recipes at once. Returns the result row and the data (None after an error)."""
    log = log or (lambda s: None)
    res = FigureResult(recipe.name, recipe.title, recipe.paper, recipe.stem, scale, recipe.seed,
                       docstring=recipe.docstring)

    def step() -> dict[str, np.ndarray]:
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
            if pool is None:
                _reset_peak_rss()   # serial: this process's peak is the recipe's
            t0, c0, meter = time.perf_counter(), time.thread_time(), Meter()
            with parallel_settings(jobs, backend, scheduler, progress=progress, label=recipe.name, pool=pool,
                                   meter=meter), using_folder(cache.folder):
                data = _check_arrays(recipe.module.compute(cfg, seed), recipe.name)
            res.compute_seconds = res.cached_compute_seconds = time.perf_counter() - t0
            # the cost model of `figures --dry-run`: CPU of this thread plus the pool's tasks, and the peak memory
            # of a worker during one task (without tasks: this process's peak, an upper bound when other recipes
            # ran beside it: scope "shared")
            cost = {"cpu_seconds": time.thread_time() - c0 + meter.cpu_seconds, "tasks": meter.tasks,
                    "peak_rss_bytes": meter.peak_rss_bytes if meter.tasks else _peak_rss_bytes(),
                    "peak_scope": "task" if meter.tasks else "process" if pool is None else "shared"}
            cache.store(recipe.name, key, data, {
                "scale": scale, "config": cfg, "seed": {"entropy": recipe.seed, "spawn_key": []},
                "versions": versions(), "source_sha256": recipe.source_sha256, "recipe": recipe.path.name,
                "compute_seconds": res.compute_seconds, **cost, "jobs": jobs, "backend": backend,
                "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
            cache.prune(recipe.name, scale, key)
        return data

    return res, _guard(res, recipe, log, step)


def _finish(recipe: Recipe, res: FigureResult, data: dict[str, np.ndarray] | None, out_dir: str | os.PathLike[str],
            *, force: bool, log: Callable[[str], None] | None) -> FigureResult:
    """Claims and plot of obtained data (main thread only: pyplot is not thread-safe)."""
    if data is None:
        return res

    def step() -> None:
        if hasattr(recipe.module, "claims"):
            res.claims = normalise_claims(recipe.module.claims(data, res.config), recipe)
        if hasattr(recipe.module, "table"):
            res.table = str(recipe.module.table(data, res.config))
        _plot(recipe, data, res.config, res, Path(out_dir), force=force)

    _guard(res, recipe, log or (lambda s: None), step)
    return res


def _file_digest(path: Path) -> str:
    """sha256 of a file's bytes ("" when it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _plot(recipe: Recipe, data: dict[str, np.ndarray], cfg: dict[str, Any], res: FigureResult,
          out_dir: Path, *, force: bool) -> None:
    """Plot to ``<out>/figures/<NAME>.png`` and ``.pdf`` unless both are up to date.

    Up to date means: the stamp names the same cache key and style and the sha256 of each figure file's
    bytes, so a truncated or edited figure is redrawn. Each file is written under a unique temporary name
    and renamed into place, so concurrent runs on one output folder never collide (the last rename wins,
    and every file is always complete)."""
    from convergence.experiments.plotting import paper_style, save_figure

    fig_dir = out_dir / "figures"
    png, pdf = fig_dir / f"{recipe.name}.png", fig_dir / f"{recipe.name}.pdf"
    stamp = fig_dir / f".{recipe.name}.stamp"
    key = {"key": res.key, "style": _style_digest()}
    res.png, res.pdf = str(png), str(pdf)
    if not force and stamp.exists():
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            recorded = None
        if isinstance(recorded, dict) and all(recorded.get(k) == v for k, v in key.items()) \
                and recorded.get("png") == _file_digest(png) != "" and recorded.get("pdf") == _file_digest(pdf) != "":
            res.plot_seconds, res.plot_skipped = 0.0, True
            return
    t0 = time.perf_counter()
    fig_dir.mkdir(parents=True, exist_ok=True)
    digests = {}
    with paper_style() as plt:
        fig = recipe.module.plot(data, cfg)
        try:
            for path in (png, pdf):
                fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=fig_dir)
                with contextlib.suppress(OSError):
                    os.fchmod(fd, new_file_mode())     # as a file the user writes, not mkstemp's private 0o600
                os.close(fd)
                try:
                    save_figure(fig, tmp)
                    digests[path.suffix[1:]] = _file_digest(Path(tmp))
                    os.replace(tmp, path)
                except BaseException:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(tmp)
                    raise
        finally:
            plt.close(fig)
    _atomic_write(stamp, lambda f: f.write(_canonical_json({**key, **digests}).encode()))
    res.plot_seconds = time.perf_counter() - t0


def _log_result(log: Callable[[str], None] | None, res: FigureResult) -> None:
    if log is None or res.status != "ok":
        return
    src = "cache" if res.from_cache else f"computed {res.compute_seconds:.1f} s"
    plot = "plot up to date" if res.plot_skipped else f"plotted {res.plot_seconds:.1f} s"
    verdicts = [c.verdict for c in res.claims]
    # the three verdicts always shown, then every other verdict or status that occurs, so the counts add up
    others = [f"{verdicts.count(v)} {v.label}" for v in Verdict
              if v not in (Verdict.HOLDS, Verdict.FAILS, Verdict.INCONCLUSIVE) and v in verdicts]
    log(f"{res.name}: {src}, {plot}; claims: {len(verdicts)} "
        f"({verdicts.count(Verdict.HOLDS)} hold, {verdicts.count(Verdict.FAILS)} fail, "
        f"{verdicts.count(Verdict.INCONCLUSIVE)} inconclusive at this scale{''.join(', ' + o for o in others)})")


def _longest_first(recipes: Sequence[Recipe], scale: str, cache: Cache) -> list[Recipe]:
    """The recipes by the compute time their last cached run at ``scale`` recorded, longest first (unknown
    first of all): submitting the long sweeps first keeps them off the end of the run."""
    def last(r: Recipe) -> float:
        t = cache.recorded_seconds(r.name, scale)
        return math.inf if math.isnan(t) else t

    return sorted(recipes, key=last, reverse=True)   # stable: file order among equals


def _dask_where(pool: TaskPool) -> str:
    """The dask cluster with its worker count for the run's first line; with none connected, say that the run
    waits for them (dask queues the tasks until a worker joins, so it would otherwise look like a silent hang)."""
    n = len(pool.client.scheduler_info().get("workers", {}))
    if n:
        return f"the dask cluster ({n} worker(s))"
    return (f"the dask cluster at {pool.client.scheduler.address}, which has no workers yet: waiting for them "
            "(start some with `dask worker ADDRESS`; Ctrl-C stops)")


def _run_concurrently(recipes: Sequence[Recipe], scale: str, out: Path, common: dict[str, Any]) -> list[FigureResult]:
    """One task graph for the run: every recipe's ``compute`` runs in its own driver thread and all their
    sweeps submit to one :class:`~convergence.experiments.parallel.TaskPool`; claims and plots follow in the
    main thread as each recipe's data arrives. Returns the results in ``recipes`` order."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    log = common["log"]
    order = _longest_first(recipes, scale, common["cache"])
    code_version()   # computed once, before the threads
    done: dict[str, FigureResult] = {}
    pool = TaskPool(common["jobs"], common["backend"], common["scheduler"])
    drivers = ThreadPoolExecutor(max_workers=max(1, len(order)), thread_name_prefix="recipe")
    try:
        if log is not None:
            where = _dask_where(pool) if common["backend"] == "dask" else f"{common['jobs']} worker processes"
            log(f"computing {len(order)} recipe(s) concurrently on {where}")
        futures = {drivers.submit(_obtain, r, scale, pool=pool, **common): r for r in order}
        for i, fut in enumerate(as_completed(futures), 1):
            r = futures[fut]
            res, data = fut.result()
            if log is not None:
                log(f"[{i}/{len(order)}] {r.name} ({r.path.name})")
            done[r.name] = _finish(r, res, data, out, force=common["force"], log=log)
            _log_result(log, done[r.name])
    except BaseException:   # Ctrl-C or a failing log: stop the workers instead of finishing every recipe
        pool.close(cancel=True)
        drivers.shutdown(wait=False, cancel_futures=True)
        raise
    drivers.shutdown()
    pool.close()
    return [done[r.name] for r in recipes]


def selected(root: Path, names: Sequence[str], scale: str | None, broken: dict[str, str]) -> list[Recipe]:
    """The recipes a run of ``names`` (all when empty) at ``scale`` computes (``None``: whatever scales they
    define, as ``--list`` shows them); the files that do not import are added to ``broken`` (stem -> error)
    instead, for the run to report. Naming only such files selects none (not every recipe, as an empty selection
    would)."""
    found = discover(root, broken=broken)
    kept = [n for n in names if n not in broken]
    if names and not kept:
        return []
    chosen = select(found, kept)
    return chosen if scale is None else recipes_for_scale(chosen, scale, named=bool(names))


def run_figures(names: Sequence[str] = (), *, scale: str = "default", root: str | os.PathLike[str] | None = None,
                out_dir: str | os.PathLike[str] = "build", cache_dir: str | os.PathLike[str] | None = None,
                force: bool = False, jobs: int = 1, backend: str = "joblib", scheduler: str | None = None,
                progress: bool | None = None, log: Callable[[str], None] | None = None) -> list[FigureResult]:
    """Run the selected recipes (all when ``names`` is empty); returns their results in file order.

    With one local job they run one after the other; otherwise concurrently on one shared task pool
    (:func:`_run_concurrently`), with results bit-identical to the serial run."""
    if scale not in SCALES + OPTIONAL_SCALES:
        raise ConfigError(f"scale must be one of {', '.join(SCALES + OPTIONAL_SCALES)} (got {scale!r})")
    _validate_settings(jobs, backend, scheduler)
    root_p = find_repo_root(root)
    broken: dict[str, str] = {}
    recipes = selected(root_p, names, scale, broken)
    bad = [stem for stem in broken if not names or stem in names]
    cache = Cache(cache_dir if cache_dir is not None else root_p / "data" / "cache")
    out = Path(out_dir)
    if not out.is_absolute():
        out = root_p / out
    results: list[FigureResult] = []
    common = dict(cache=cache, force=force, jobs=jobs, backend=backend, scheduler=scheduler, progress=progress,
                  log=log)
    if backend == "joblib" and jobs == 1:
        for i, r in enumerate(recipes, 1):
            if log is not None:
                log(f"[{i}/{len(recipes)}] {r.name} ({r.path.name}) ...")
            res = run_recipe(r, scale, out_dir=out, **common)
            results.append(res)
            _log_result(log, res)
    elif recipes:        # nothing to compute (only files that do not import were named): no pool to start
        results = _run_concurrently(recipes, scale, out, common)
    for stem in bad:
        if log is not None:
            log(f"{stem}: ERROR {broken[stem]}")
        results.append(FigureResult(stem, f"figures/{stem}.py (not importable)", "", stem, scale, -1,
                                    status="error", error=broken[stem]))
    return results
