r"""Parallel sweeps of the figure recipes: the settings context and :func:`parallel_map`.

Recipes call :func:`parallel_map` on a list of independent tasks, each carrying its own
``SeedSequence``-derived seed. The runner sets the backend (``joblib`` local processes or a
``dask`` distributed cluster) and the number of workers in a context variable for the duration of
``compute`` (:func:`parallel_settings`); :func:`parallel_map` reads it. Outside the runner (or
inside a worker) the map is serial. Results come back in task order, so a recipe's output is
bit-identical whatever the backend and number of workers.

One task graph per run: ``convergence figures`` opens one :class:`TaskPool` (``jobs`` local
processes, or the dask cluster) for the whole run and computes the recipes concurrently, each in
a driver thread of the parent process; every :func:`parallel_map` of every recipe submits its tasks
to that pool, so the recipes' tasks interleave and the slowest recipe no longer runs alone at the
end. An input several tasks need (the Swin study's pretrained weights) is passed once as
``parallel_map(..., shared=x)``: it is pickled once (scattered once to a dask cluster) and each worker
unpickles it once.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import os
import re
import sys
import threading
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from convergence._alloc import release_free_heap, tune_allocator
from convergence._validate import ConfigError
from convergence.experiments.cache import code_version
from convergence.experiments.recipes import _BY_VALUE_MODULES, _track_by_value

__all__ = ["BACKENDS", "Meter", "ParallelSettings", "TaskPool", "parallel_settings", "current_settings", "parallel_map"]

#: parallel backends of :func:`parallel_map`
BACKENDS = ("joblib", "dask")


@dataclass
class Meter:
    """What one recipe's sweeps cost on the pool's workers (the runner records it in the cache sidecar)."""

    cpu_seconds: float = 0.0
    """CPU time of the tasks on the workers, so other load on the machine does not count: the worker process's
    CPU time on local workers (which run one task at a time; a task's helper threads count), the task's thread's
    on a dask cluster (whose workers may run several tasks at once)"""
    peak_rss_bytes: int = 0
    """largest resident-set peak of a worker after one of the tasks (an upper bound of one task's memory)"""
    tasks: int = 0
    """number of tasks run"""
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, cpu_seconds: float, peak_rss_bytes: int) -> None:
        with self._lock:
            self.cpu_seconds += cpu_seconds
            self.peak_rss_bytes = max(self.peak_rss_bytes, peak_rss_bytes)
            self.tasks += 1


@dataclass(frozen=True)
class ParallelSettings:
    """How :func:`parallel_map` runs: ``jobs`` workers on ``backend`` (``scheduler``: dask address)."""

    jobs: int = 1
    backend: str = "joblib"
    scheduler: str | None = None
    progress: bool | None = None
    label: str = ""
    client: Any = field(default=None, compare=False, repr=False)
    pool: Any = field(default=None, compare=False, repr=False)
    """the run's shared :class:`TaskPool` (None: this map opens its own workers, as outside the runner)"""
    meter: Meter | None = field(default=None, compare=False, repr=False)
    """where the pool's tasks add their cost (the runner's per-recipe :class:`Meter`)"""


#: the settings outside any :func:`parallel_settings` block (frozen, so one shared instance is safe)
_SERIAL = ParallelSettings()
_SETTINGS: contextvars.ContextVar[ParallelSettings] = contextvars.ContextVar(
    "convergence_parallel_settings", default=_SERIAL)


def current_settings() -> ParallelSettings:
    """The settings :func:`parallel_map` uses now (serial outside :func:`parallel_settings`)."""
    return _SETTINGS.get()


def _validate_settings(jobs: int, backend: str, scheduler: str | None) -> None:
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an integer >= 1 (got {jobs!r})")
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if backend == "dask" and not scheduler:
        raise ConfigError("--backend dask needs --scheduler ADDRESS (e.g. tcp://127.0.0.1:8786)")
    if backend == "joblib" and scheduler:
        raise ConfigError("--scheduler is only used with --backend dask")
    if backend == "dask" and scheduler and scheduler != "client":
        _check_address(scheduler)


#: a dask scheduler address: [tcp|tls|ws|wss|ucx://]HOST:PORT (inproc:// addresses of in-process clusters pass)
_ADDRESS = re.compile(r"(?:(?:tcp|tls|ws|wss|ucx)://)?(?:\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+):(\d{1,5})/?")


def _check_address(scheduler: str) -> None:
    """One line at once for an address no scheduler can have (a malformed one made distributed's Client fail and
    then hang a minute at exit with a traceback)."""
    if scheduler.startswith("inproc://"):
        return
    m = _ADDRESS.fullmatch(scheduler)
    if m is None or not 0 < int(m.group(1)) < 65536:
        raise ConfigError(f"--scheduler {scheduler!r} is not a dask scheduler address: expected tcp://HOST:PORT with "
                          "a port in 1-65535 (e.g. tcp://127.0.0.1:8786, as `dask scheduler` prints)")


def _connect(scheduler: str | None) -> Any:
    """A ``distributed.Client`` connected to ``scheduler`` (ConfigError with one line when that fails)."""
    try:
        from distributed import Client
    except ImportError:  # pragma: no cover - depends on the optional extra
        # the package is not on PyPI: the extra is installed from a checkout (docs/scale.md)
        raise ConfigError("backend dask needs the optional extra: pip install '.[dask]' in a checkout of this "
                          "repository (docs/scale.md)") from None
    try:
        client = Client(scheduler, set_as_default=False, timeout=30)
    except Exception as exc:  # noqa: BLE001 - connection errors of all kinds
        raise ConfigError(f"cannot connect to the dask scheduler {scheduler!r}: {exc} (is `dask scheduler` running "
                          "there, and its port reachable from here?)") from None
    try:
        _check_workers_code(client, scheduler)
    except BaseException:
        client.close()
        raise
    return client


#: what every dask worker runs to report its code (pickled by reference, so workers with older versions of the
#: package, which have this function but not any newer helper, can answer)
_worker_code_version = code_version


def _check_workers_code(client: Any, scheduler: str | None) -> None:
    """ConfigError unless every connected worker runs this package's code: the results of workers with other code
    would be cached under this code's key (workers that join later are not checked)."""
    here = code_version()
    try:
        theirs = client.run(_worker_code_version)   # {worker address: code version}
    except Exception as exc:  # noqa: BLE001 - e.g. a worker that cannot import convergence
        raise ConfigError(f"the dask workers of {scheduler} cannot run convergence ({type(exc).__name__}: {exc}); "
                          "install this checkout on every worker (docs/scale.md)") from None
    other = {w: v for w, v in theirs.items() if v != here}
    if other:
        w, v = sorted(other.items())[0]
        raise ConfigError(f"{len(other)} of {len(theirs)} dask worker(s) run other convergence code ({w}: {v}; here: "
                          f"{here}), whose results would be cached as this code's: install this checkout's commit on "
                          "every worker (docs/scale.md)")


#: environment of local worker processes: BLAS/OpenMP threads = cores // workers (as joblib's loky backend), and
#: so many threads for the networks' elementwise and data-parallel work (:mod:`convergence.nn._fastmath`), so
#: that the workers together never run more threads than there are cores (results do not depend on either)
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
                "VECLIB_MAXIMUM_THREADS", "NUMBA_NUM_THREADS", "NUMEXPR_NUM_THREADS", "CONVERGENCE_ELEMENTWISE_THREADS")


def _quiet_worker_restarts() -> None:
    """Silence loky's warning when it replaces a worker whose resident memory grew by more than 300 MB.

    loky takes such growth for a leak and starts a fresh worker between two tasks; here it is expected
    (network tasks hold a data set, the Swin study its pretrained weights) and harmless: tasks are pure
    and carry their own seeds, so the restart changes no result, only costs the new worker's imports."""
    import warnings

    warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given to the executor",
                            category=UserWarning)


class TaskPool:
    """One executor shared by every :func:`parallel_map` of a run (thread-safe ``submit``).

    ``backend="joblib"``: ``jobs`` loky worker processes (BLAS threads per worker = cores // jobs, as
    joblib sets them); ``backend="dask"``: the cluster behind ``scheduler`` (or an open ``client``).
    Tasks travel as cloudpickle bytes, so recipe modules that workers cannot import still run, and a
    ``shared`` input is pickled once per map (scattered once on dask).
    """

    def __init__(self, jobs: int = 2, backend: str = "joblib", scheduler: str | None = None, *,
                 client: Any = None) -> None:
        _validate_settings(jobs, backend, scheduler if client is None else scheduler or "client")
        self.jobs, self.backend, self.scheduler = jobs, backend, scheduler
        self._own_client = False
        self._executor: Any = None
        self.client: Any = None
        if backend == "dask":
            self.client = client if client is not None else _connect(scheduler)
            self._own_client = client is None
        else:
            from joblib.externals.loky.process_executor import ProcessPoolExecutor

            _quiet_worker_restarts()
            threads = str(max(1, (os.cpu_count() or 1) // jobs))
            env = {v: os.environ.get(v, threads) for v in _THREAD_VARS}
            self._executor = ProcessPoolExecutor(max_workers=jobs, env=env)

    def share(self, blob: bytes) -> Any:
        """A handle on pickled shared input: the bytes themselves locally, a scattered future on dask."""
        if self.client is not None:
            return self.client.scatter(blob, broadcast=False, hash=True)
        return blob

    def submit(self, blob: bytes, shared: Any = None) -> Any:
        """Start ``_call_metered(blob, shared)`` on a worker; returns a future whose ``.result()`` is
        ``(result, cpu seconds, peak RSS bytes)``."""
        if self.client is not None:
            return self.client.submit(_call_metered, blob, shared, pure=False)
        return self._executor.submit(_call_metered, blob, shared, True)

    def close(self, cancel: bool = False) -> None:
        """Shut the pool down (``cancel``: drop queued tasks and stop the workers now)."""
        if self._executor is not None:
            if cancel:
                self._executor.shutdown(wait=False, kill_workers=True)
            else:
                self._executor.shutdown(wait=True)
            self._executor = None
        if self._own_client and self.client is not None:
            self.client.close()
            self.client = None

    def __enter__(self) -> "TaskPool":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@contextlib.contextmanager
def parallel_settings(jobs: int = 1, backend: str = "joblib", scheduler: str | None = None, *,
                      progress: bool | None = None, label: str = "",
                      pool: TaskPool | None = None, meter: Meter | None = None) -> Iterator[ParallelSettings]:
    """Set how :func:`parallel_map` runs inside the ``with`` block (the runner wraps ``compute`` in it).

    With ``pool`` every map submits to that shared pool. Otherwise, with ``backend="dask"``, one
    ``distributed.Client`` connected to ``scheduler`` is opened for the block and closed at its end.
    """
    _validate_settings(jobs, backend, scheduler)
    client, own = None, False
    outer = _SETTINGS.get()
    if pool is not None:
        client = pool.client
    elif backend == "dask" and outer.client is not None and outer.scheduler == scheduler:
        client = outer.client  # reuse the enclosing block's connection (the runner opens one per run)
    elif backend == "dask":
        own = True
        client = _connect(scheduler)
    token = _SETTINGS.set(ParallelSettings(jobs, backend, scheduler, progress, label, client, pool, meter))
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
        here = Path(__file__).resolve().parents[1]  # the convergence package: importable by workers
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


#: worker-side cache of unpickled shared inputs (digest -> object); a few entries, newest last
_SHARED: dict[str, Any] = {}
_SHARED_LOCK = threading.Lock()
#: how many shared inputs (a network recipe's data set) a worker keeps at once
SHARED_KEEP = 4


def _load_shared(blob: bytes) -> Any:
    """The shared input of a map, unpickled once per worker process (keyed by the digest of its bytes)."""
    import cloudpickle

    key = hashlib.sha256(blob).hexdigest()
    with _SHARED_LOCK:
        if key in _SHARED:
            return _SHARED[key]
    obj = cloudpickle.loads(blob)
    with _SHARED_LOCK:
        _SHARED[key] = obj
        while len(_SHARED) > SHARED_KEEP:
            _SHARED.pop(next(iter(_SHARED)))
    return obj


def _call_pickled(blob: bytes, shared: bytes | None = None) -> Any:
    """Worker side: ``fn(task)`` (or ``fn(shared, task)``) from cloudpickle bytes (transport only, never stored)."""
    import cloudpickle

    fn, task = cloudpickle.loads(blob)
    return fn(task) if shared is None else fn(_load_shared(shared), task)


def _reset_peak_rss() -> bool:
    """Restart this process's resident-set peak (Linux: ``/proc/self/clear_refs``) from its live memory: the heap
    blocks earlier work freed are returned first (:func:`convergence._alloc.release_free_heap`), else a worker's
    peak would count up to 256 MiB that an earlier task of another recipe freed. False where impossible."""
    release_free_heap()
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    """This process's resident-set peak since :func:`_reset_peak_rss` (Linux ``VmHWM``; elsewhere the
    lifetime peak from ``resource``; 0 when neither is available)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - not on POSIX
        return 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)   # bytes on macOS, KiB on Linux


def _call_metered(blob: bytes, shared: bytes | None = None, whole_process: bool = False) -> tuple[Any, float, int]:
    """:func:`_call_pickled` plus its CPU time (of this thread, or of the whole process when ``whole_process``:
    a worker that runs one task at a time, whose helper threads work for that task) and the worker's resident-set
    peak during it."""
    import time

    if whole_process:     # a local worker is the toolkit's own process: its allocator is tuned whatever the task
        tune_allocator()  # (memory only; a dask worker is the user's and keeps its settings)
    clock = time.process_time if whole_process else time.thread_time
    _reset_peak_rss()
    t0 = clock()
    out = _call_pickled(blob, shared)
    return out, clock() - t0, _peak_rss_bytes()


def parallel_map(fn: Callable[..., Any], tasks: Sequence[Any], *, jobs: int | None = None,
                 backend: str | None = None, desc: str | None = None, shared: Any = None) -> list[Any]:
    """``[fn(t) for t in tasks]`` (``[fn(shared, t) ...]`` when ``shared`` is given), run in parallel as the
    runner (or the arguments) say.

    Each task must carry everything it needs, including its own seed (a ``SeedSequence`` child of
    the recipe's seed keyed by the task's stable identity), and ``fn`` must be pure: then the
    result is bit-identical whatever the backend and the number of workers. Results are returned
    in task order. Inside the runner the tasks go to the run's shared :class:`TaskPool`, interleaved
    with the other recipes' tasks. ``jobs``/``backend`` override the context set by
    :func:`parallel_settings` (``backend="dask"`` needs that context's client). A tqdm bar shows
    progress when stderr is a terminal.

    Args:
        fn: a module-level function of one task (of the shared input and one task).
        tasks: the independent tasks.
        jobs: number of local worker processes (joblib); default from the context (1 outside the runner).
        backend: "joblib" or "dask"; default from the context.
        desc: progress-bar label.
        shared: an input every task needs (e.g. pretrained weights), sent to each worker once.

    Returns:
        The list of results, in task order.
    """
    settings = _SETTINGS.get()
    pool = settings.pool if jobs is None and backend is None else None
    jobs = settings.jobs if jobs is None else jobs
    backend = settings.backend if backend is None else backend
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)} (got {backend!r})")
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be an integer >= 1 (got {jobs!r})")
    tasks = list(tasks)
    results: list[Any] = [None] * len(tasks)
    call = fn if shared is None else (lambda t: fn(shared, t))
    bar = _progress_bar(len(tasks), settings, desc)
    try:
        if pool is not None and len(tasks) >= 1:
            import cloudpickle

            _register_by_value(fn)
            ref = None if shared is None else pool.share(cloudpickle.dumps(shared))
            futures = [pool.submit(cloudpickle.dumps((fn, t)), ref) for t in tasks]
            for i, fut in enumerate(futures):   # in task order; the pool runs them in any order
                results[i], cpu, rss = fut.result()
                if settings.meter is not None:
                    settings.meter.add(cpu, rss)
                bar.update(1)
        elif backend == "dask":
            if settings.client is None:
                raise ConfigError("backend dask: parallel_map must run inside parallel_settings(backend='dask', "
                                  "scheduler=...)")
            from distributed import as_completed

            import cloudpickle

            _register_by_value(fn)
            # dask pickles callables wrapped in its task objects by reference, which fails for recipe
            # modules that worker processes cannot import: ship (fn, task) as cloudpickle bytes instead
            ref = None if shared is None else settings.client.scatter(cloudpickle.dumps(shared), hash=True)
            blobs = [cloudpickle.dumps((fn, t)) for t in tasks]
            futures = settings.client.map(_call_pickled, blobs, shared=ref, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for fut in as_completed(futures, loop=settings.client.loop):
                results[index[fut.key]] = fut.result()
                bar.update(1)
        elif jobs == 1 or len(tasks) <= 1:
            for i, t in enumerate(tasks):
                results[i] = call(t)
                bar.update(1)
        else:
            from joblib import Parallel, delayed

            _register_by_value(fn)
            gen = Parallel(n_jobs=min(jobs, len(tasks)), backend="loky", return_as="generator")(
                delayed(fn)(t) if shared is None else delayed(fn)(shared, t) for t in tasks)
            for i, r in enumerate(gen):
                results[i] = r
                bar.update(1)
    finally:
        bar.close()
    return results
