"""Scale-out of the figure runner: one shared task pool per run (recipes concurrently, shared inputs sent
once), bit-identical across serial / local processes / a dask LocalCluster, the metered costs and the
``--dry-run`` estimates built on them."""
from __future__ import annotations

import copy
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from convergence.cli.main import main
from convergence.experiments import costs as K
from convergence.experiments import parallel as fp
from convergence.experiments import runner as fa
from convergence.experiments.cache import Cache
from convergence.experiments.recipes import discover

SWEEP = '''
"""Sweep recipe: seeded tasks through parallel_map."""
import numpy as np
from convergence.experiments.parallel import parallel_map

NAME = "sweep"
SEED = 11
SCALES = {"quick": {"repeats": 6, "trials": 4}, "default": {"repeats": 6, "trials": 8},
          "paper": {"repeats": 12, "trials": 8}}

def _run(task):
    i, ss, trials = task
    return np.random.default_rng(ss).standard_normal(trials) + i

def compute(cfg, seed):
    tasks = [(i, np.random.SeedSequence(seed.entropy, spawn_key=(i,)), cfg["trials"]) for i in range(cfg["repeats"])]
    return {"x": np.stack(parallel_map(_run, tasks))}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    return plt.figure(figsize=(1, 1))
'''

DEPEND = '''
"""Two-stage recipe: one task computes an input (like a pretraining), a second map shares it with every task."""
import numpy as np
from convergence.experiments.parallel import parallel_map

NAME = "depend"
SEED = 7
SCALES = {"quick": {"d": 50, "runs": 5}, "default": {"d": 50, "runs": 5}, "paper": {"d": 50, "runs": 5}}

def _base(task):
    d, ss = task
    a = np.random.default_rng(ss).standard_normal((d, d))
    return a @ a.T / d

def _use(shared, task):
    i, ss = task
    v = np.random.default_rng(ss).standard_normal(shared.shape[0])
    for _ in range(20):
        v = shared @ v
        v /= np.linalg.norm(v)
    return v * (i + 1)

def compute(cfg, seed):
    base = parallel_map(_base, [(cfg["d"], np.random.SeedSequence(seed.entropy, spawn_key=(0,)))])[0]
    tasks = [(i, np.random.SeedSequence(seed.entropy, spawn_key=(1, i))) for i in range(cfg["runs"])]
    return {"base": base, "v": np.stack(parallel_map(_use, tasks, shared=base))}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    return plt.figure(figsize=(1, 1))
'''

INLINE = '''
"""A recipe without a map: computes in its driver thread."""
import numpy as np

NAME = "inline"
SEED = 3
SCALES = {"quick": {"n": 5}, "default": {"n": 5}, "paper": {"n": 5}}

def compute(cfg, seed):
    return {"y": np.cumsum(np.random.default_rng(seed).standard_normal(cfg["n"]))}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    return plt.figure(figsize=(1, 1))
'''


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    figs = tmp_path / "figures"
    figs.mkdir()
    for name, text in (("sweep", SWEEP), ("depend", DEPEND), ("inline", INLINE)):
        (figs / f"{name}.py").write_text(text)
    return tmp_path


def _arrays(repo: Path, cache: str, **kw) -> dict[str, dict[str, np.ndarray]]:
    res = fa.run_figures((), scale="quick", root=repo, out_dir=repo / f"build_{cache}", cache_dir=repo / cache,
                         progress=False, force=True, **kw)
    assert [r.status for r in res] == ["ok"] * 3, [r.error for r in res]
    out = {}
    for npz in sorted((repo / cache).glob("*.npz")):
        with np.load(npz, allow_pickle=False) as z:
            out[npz.name.split("-")[0]] = {k: z[k].copy() for k in z.files if k != "__key__"}
    return out


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys() == {"sweep", "depend", "inline"}
    for name in a:
        assert a[name].keys() == b[name].keys()
        for k in a[name]:
            assert a[name][k].tobytes() == b[name][k].tobytes(), (name, k)


def test_one_pool_for_the_run_is_bit_identical_to_serial_and_to_dask(repo):
    """Serial (one recipe after another, in-process) vs every recipe concurrently on one pool of 2 local
    processes vs a dask LocalCluster of 2 processes: the same bytes in every cached array."""
    serial = _arrays(repo, "serial", jobs=1)
    # independent reference of the shared-input recipe (no runner): the same recursion by hand
    ss = lambda *k: np.random.SeedSequence(7, spawn_key=k)  # noqa: E731
    a = np.random.default_rng(ss(0)).standard_normal((50, 50))
    base = a @ a.T / 50
    assert serial["depend"]["base"].tobytes() == base.tobytes()
    pooled = _arrays(repo, "pooled", jobs=2)
    _same(serial, pooled)
    pytest.importorskip("distributed", reason="dask[distributed] (optional extra 'dask') is not installed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = _arrays(repo, "dask", backend="dask", scheduler=cluster.scheduler_address)
    _same(serial, on_dask)


def test_pool_meters_each_recipe_and_shared_input_is_unpickled_once(repo):
    _arrays(repo, "pooled", jobs=2)
    metas = {json.loads(p.read_text())["name"]: json.loads(p.read_text()) for p in (repo / "pooled").glob("*.json")}
    assert metas["sweep"]["tasks"] == 6 and metas["depend"]["tasks"] == 1 + 5 and metas["inline"]["tasks"] == 0
    for m in metas.values():
        assert m["cpu_seconds"] > 0 and m["peak_rss_bytes"] > 10e6
    # a recipe without tasks was measured in the main process beside the others: its peak is only a bound
    assert [metas[n]["peak_scope"] for n in ("sweep", "depend", "inline")] == ["task", "task", "shared"]
    found = {r.name: r for r in discover(repo)}
    assert K.estimate(found["inline"], "quick", Cache(repo / "pooled")).peak_is_bound
    assert not K.estimate(found["sweep"], "quick", Cache(repo / "pooled")).peak_is_bound
    # the worker-side cache: the same bytes give the same object without a second unpickling
    import cloudpickle

    blob = cloudpickle.dumps(np.arange(3.0))
    assert fp._load_shared(blob) is fp._load_shared(blob)


def _leave_freed_heap(mb: int) -> None:
    """Allocate and free ``mb`` MB in blocks below the raised mmap threshold: glibc keeps them resident."""
    blocks = [np.ones(2_500_000) for _ in range(mb // 20)]     # 20 MB each
    del blocks


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's resettable peak (VmHWM)")
def test_a_tasks_metered_peak_does_not_count_heap_an_earlier_task_freed():
    """A worker's peak during a task is its live memory plus the task's, not the blocks an earlier task (of another
    recipe) freed: the raised trim threshold keeps up to 256 MiB of those resident until they are handed back."""
    import cloudpickle

    from convergence._alloc import tune_allocator

    assert tune_allocator()
    fp._reset_peak_rss()
    before = fp._peak_rss_bytes()
    _leave_freed_heap(160)
    _, _, peak = fp._call_metered(cloudpickle.dumps((abs, -1.0)))
    assert peak < before + 40e6, (before, peak)
    _leave_freed_heap(160)                           # and the same for the serial runner's reset
    fp._reset_peak_rss()
    assert fp._peak_rss_bytes() < before + 40e6


_HUGEPAGE_PROBE = """
import numpy as np
from convergence._alloc import tune_allocator
core = getattr(np, "_core", None) or np.core
tune_allocator()
was = core.multiarray._set_madvise_hugepage(True)   # returns the setting it replaces
print(was)
"""


@pytest.mark.parametrize("env, want", [(None, "False"), ("1", "True")])
def test_the_entry_points_keep_numpy_arrays_on_small_pages_unless_the_user_chose(env, want):
    """tune_allocator turns NumPy's huge-page advice off in its process; a user's NUMPY_MADVISE_HUGEPAGE wins."""
    import subprocess

    extra = {} if env is None else {"NUMPY_MADVISE_HUGEPAGE": env}
    base = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    out = subprocess.run([sys.executable, "-c", _HUGEPAGE_PROBE], env={**base, **extra}, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == want


_REUSE_PROBE = """
import resource
import numpy as np
from convergence._alloc import tune_allocator
print(tune_allocator())
faults = []
for _ in range(3):                      # a CNN evaluation batch's im2col rows: 100 MB, allocated, filled, freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.empty(25_000_000, dtype=np.float32)
    a.fill(1.0)
    del a
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults[0], faults[2])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_a_100_mb_temporary_is_reused_from_the_heap_not_faulted_in_again():
    """Above the mmap threshold every allocation is fresh pages (one minor fault per 4 KiB page, ~24 000 here); the
    entry points' threshold (256 MiB) keeps a 100 MB temporary on the heap, so its second use faults almost nothing."""
    import subprocess

    out = subprocess.run([sys.executable, "-c", _REUSE_PROBE], capture_output=True, text=True, check=True)
    tuned, first, third = out.stdout.split()
    if tuned != "True":
        pytest.skip("not glibc")
    assert int(first) > 10_000 and int(third) < 1_000, (first, third)


def _huge_pages_advised(_):
    """In a worker: whether NumPy advises huge pages (reading the setting sets it back to what it was)."""
    import numpy as np

    core = getattr(np, "_core", None) or np.core
    was = core.multiarray._set_madvise_hugepage(True)
    core.multiarray._set_madvise_hugepage(was)
    return was


@pytest.mark.skipif("NUMPY_MADVISE_HUGEPAGE" in os.environ, reason="the user's own setting wins")
def test_a_local_worker_tunes_its_allocator_before_any_task():
    """The pool's workers are the toolkit's processes: small pages from the first task on, whatever it runs."""
    with fp.TaskPool(1) as pool, fp.parallel_settings(jobs=1, pool=pool, meter=fp.Meter()):
        assert fp.parallel_map(_huge_pages_advised, [0]) == [False]


def test_parallel_map_shared_argument_in_every_mode():
    tasks = list(range(5))
    want = [10 * t for t in tasks]
    assert fp.parallel_map(_times, tasks, shared=10) == want
    assert fp.parallel_map(_times, tasks, shared=10, jobs=2) == want
    with fp.TaskPool(2) as pool, fp.parallel_settings(jobs=2, pool=pool, meter=fp.Meter()) as s:
        assert fp.parallel_map(_times, tasks, shared=10) == want
        assert s.meter.tasks == 5


def _times(shared, t):
    return shared * t


def _hold_memory(t):
    """Task that keeps 400 MB alive in its worker after it returns (what loky takes for a leak). The array is
    parked on the worker's ``sys`` module: this function may travel by value, with a fresh copy of its globals."""
    import os
    import sys
    import time

    if t == 1:
        sys.__dict__.setdefault("_held_by_test", []).append(np.ones(50_000_000))
    time.sleep(1.1)   # loky looks at a worker's memory at most once a second
    return t * t, os.getpid()


def test_a_worker_restarted_for_its_memory_changes_no_result_and_prints_no_warning(recwarn):
    pytest.importorskip("psutil")   # loky measures worker memory only with psutil
    import cloudpickle

    with fp.TaskPool(1) as pool:
        futures = [pool.submit(cloudpickle.dumps((_hold_memory, t))) for t in range(4)]
        out = [f.result()[0] for f in futures]
    assert [v for v, _ in out] == [0, 1, 4, 9]
    assert len({pid for _, pid in out}) >= 2, "the worker holding 400 MB was not replaced: the test tests nothing"
    assert not [w for w in recwarn if "worker stopped" in str(w.message)]


def test_swin_study_tasks_on_a_pool_equal_the_serial_study(tmp_path):
    """The Swin study as tasks (pretraining one task, fine-tune runs sharing its weights) on two worker
    processes gives the serial study's numbers."""
    from convergence.swin import runner as R

    cfg = copy.deepcopy(R.SCALES["quick"])
    cfg.update(n_source=100, n_source_test=50, n_per_class=8, n_test=50, algorithms=["digital", "c-ttv2"])
    cfg["sweeps"] = {"n_states": {"values": [100], "algorithms": ["c-ttv2"]}}
    serial = R.run_study(cfg, np.random.SeedSequence(5), synthetic=True, cache_root=str(tmp_path / "a"))
    with fp.TaskPool(2) as pool, fp.parallel_settings(jobs=2, pool=pool):
        pooled = R.run_study(cfg, np.random.SeedSequence(5), synthetic=True, cache_root=str(tmp_path / "b"),
                             pmap=fp.parallel_map)
    assert serial.keys() == pooled.keys()
    for k in serial:
        if k != "main_ips":   # images per second: timing
            assert np.asarray(serial[k]).tobytes() == np.asarray(pooled[k]).tobytes(), k


def _sidecar(cache: Path, name: str, scale: str, cfg: dict, cpu: float, rss: float, created: str) -> None:
    cache.mkdir(exist_ok=True)
    (cache / f"{name}-{scale}.json").write_text(json.dumps(
        {"name": name, "scale": scale, "config": cfg, "cpu_seconds": cpu, "peak_rss_bytes": rss, "created": created}))


def test_estimates_from_recorded_costs(repo):
    (r,) = [x for x in discover(repo) if x.name == "sweep"]
    cache = Cache(repo / "cache")
    assert math.isnan(K.estimate(r, "paper", cache).cpu_hours)
    # W = repeats * trials: quick 24, default 48, paper 96; memory grows with trials (4 -> 8)
    _sidecar(repo / "cache", "sweep", "quick", r.config("quick"), 36.0, 180e6, "1")
    one = K.estimate(r, "paper", cache)
    assert one.cpu_hours == pytest.approx(36.0 * 96 / 24 / 3600, rel=1e-12)
    assert one.peak_gb == pytest.approx((K.PROCESS_BYTES + 100e6 * 2) / 1e9, rel=1e-12)
    # two measured scales: the line through them (fixed 12 s + 1 s per unit)
    _sidecar(repo / "cache", "sweep", "default", r.config("default"), 60.0, 180e6, "2")
    two = K.estimate(r, "paper", cache)
    assert two.cpu_hours == pytest.approx((12.0 + 96.0) / 3600, rel=1e-12) and "fit" in two.basis
    assert K.estimate(r, "default", cache).basis == "measured at default"


def test_network_memory_is_the_measured_peak_plus_the_data_set_growth(tmp_path):
    """A network recipe's memory grows with its data set (and a CNN's evaluation batch), not in proportion to the
    whole measured peak: P2 Fig. 4 at paper from a default run that peaked at 1 GB."""
    (r,) = [x for x in discover() if x.name == "p2_fig4"]
    cache = Cache(tmp_path)
    _sidecar(tmp_path, "p2_fig4", "default", r.config("default"), 80.0, 1e9, "1")
    # by hand from the documented model: 3136 bytes per float32 image, 2 copies of a training and 4 of a test image,
    # 0.4 GB for the CNN's full evaluation batch. default: FCN (6000 x 2 + 2000 x 4) images, CNN (1500 x 2 +
    # 10000 x 4) + CNN; paper: both parts the full set (60000 x 2 + 10000 x 4), the CNN's the larger
    d_default = 3136 * (1500 * 2 + 10000 * 4) + 0.4e9
    d_paper = 3136 * (60000 * 2 + 10000 * 4) + 0.4e9
    assert K.estimate(r, "paper", cache).peak_gb == pytest.approx((1e9 + d_paper - d_default) / 1e9, rel=1e-12)
    # every network recipe at paper stays near a measured worker (the proportional model said 35-46 GB)
    for name in ("p1_fig5", "p2_fig4", "p2_tables78", "finetune_tables"):
        (r,) = [x for x in discover() if x.name == name]
        _sidecar(tmp_path, name, "default", r.config("default"), 80.0, 1e9, "1")
        assert 1.0 <= K.estimate(r, "paper", cache).peak_gb <= 2.0, name
    assert K.network_bytes({"steps": 10, "trials": 4}) is None
    # before anything is measured: the main process, idle workers, the raw set and the data set per process
    assert K.structural_bytes({"trials": 4}, 3) == K.MAIN_PROCESS_BYTES + 3 * K.PROCESS_BYTES
    assert K.structural_bytes({"n_train": 100, "n_test": 50}, 1) == (K.MAIN_PROCESS_BYTES + 70000 * 784
                                                                     + 3136 * (100 * 2 + 50 * 4))


def test_damaged_cost_records_are_left_out_of_the_estimates(repo, monkeypatch, capsys):
    """A sidecar whose costs or config are not numbers (damaged or edited) is skipped, one without a recorded peak
    gives CPU time without memory; the dry run still prints one line per recipe and exits 0."""
    (r,) = [x for x in discover(repo) if x.name == "sweep"]
    cfg = r.config("quick")
    _sidecar(repo / "cache", "sweep", "quick", cfg, 36.0, "lots", "1")                     # peak not a number
    _sidecar(repo / "cache", "sweep", "default", {**cfg, "n_train": "all"}, 36.0, 1e8, "2")  # config not numbers
    assert K.measured(r, Cache(repo / "cache")) == {}
    _sidecar(repo / "cache", "sweep", "quick", cfg, 36.0, None, "3")                       # no peak recorded
    est = K.estimate(r, "paper", Cache(repo / "cache"))
    assert est.cpu_hours > 0 and math.isnan(est.peak_gb)
    monkeypatch.chdir(repo)
    assert main(["figures", "sweep", "--scale", "paper", "--dry-run", "--cache", "cache"]) == 0
    out = capsys.readouterr().out
    assert "memory not recorded" in out and "nan" not in out


@pytest.mark.parametrize("field,value", [
    ("cpu_seconds", math.nan), ("cpu_seconds", math.inf), ("cpu_seconds", -math.inf), ("cpu_seconds", -5.0),
    ("peak_rss_bytes", math.inf), ("peak_rss_bytes", -1e9), ("peak_rss_bytes", math.nan),
    ("trials", math.inf), ("trials", "many")])
def test_a_cost_record_out_of_range_is_left_out_and_never_printed_as_an_estimate(repo, monkeypatch, capsys, field,
                                                                                   value):
    """Costs or config counts that are not finite and non-negative (a damaged or hand-edited sidecar) made the dry
    run print 'nan', 'inf', negative times or an extrapolation by x0/xinf; such a record is now left out."""
    (r,) = [x for x in discover(repo) if x.name == "sweep"]
    cfg, cost = dict(r.config("quick")), {"cpu_seconds": 36.0, "peak_rss_bytes": 180e6}
    if field in cost:
        cost[field] = value
    else:
        cfg[field] = value
    _sidecar(repo / "cache", "sweep", "quick", cfg, cost["cpu_seconds"], cost["peak_rss_bytes"], "1")
    assert K.measured(r, Cache(repo / "cache")) == {}
    monkeypatch.chdir(repo)
    assert main(["figures", "sweep", "--scale", "paper", "--dry-run", "--cache", "cache"]) == 0
    out = capsys.readouterr().out
    assert "sweep" in out and "not measured" in out, out
    assert not any(t in out.lower() for t in ("nan", "inf", "-5", "-1", "x0")), out


def test_a_recipe_work_model_failing_on_a_damaged_config_is_not_an_internal_error(tmp_path, capsys):
    """P2 Tables 7-8's WORK(cfg) takes int(repeats): an infinite count in a sidecar raised OverflowError, which ended
    the dry run in an internal error (exit 1); a zero count divided the estimate by zero work ('x inf')."""
    (r,) = [x for x in discover() if x.name == "p2_tables78"]
    cfg = r.config("quick")
    for value in (math.inf, 0):
        damaged = {**cfg, "repeats": value, "cnn": {**cfg["cnn"], "repeats": value}}
        _sidecar(tmp_path, "p2_tables78", "quick", damaged, 5.0, 2e8, "1")
        assert K.measured(r, Cache(tmp_path)) == {}
        assert math.isnan(K.estimate(r, "paper", Cache(tmp_path)).cpu_hours)
    assert main(["figures", "p2_tables78", "--scale", "paper", "--dry-run", "--cache", str(tmp_path)]) == 0
    assert "not measured" in capsys.readouterr().out


def test_a_peak_of_zero_is_not_a_measurement(repo):
    """A platform without a resident-set peak records 0 bytes (parallel._peak_rss_bytes): that is no measurement,
    not a worker of '~0 GB'."""
    (r,) = [x for x in discover(repo) if x.name == "sweep"]
    _sidecar(repo / "cache", "sweep", "quick", r.config("quick"), 36.0, 0, "1")
    est = K.estimate(r, "paper", Cache(repo / "cache"))
    assert est.cpu_hours > 0 and math.isnan(est.peak_gb)


def test_estimates_past_the_float_range_are_not_printed(repo, monkeypatch, capsys):
    (r,) = [x for x in discover(repo) if x.name == "sweep"]
    _sidecar(repo / "cache", "sweep", "quick", r.config("quick"), 1e308, 180e6, "1")   # finite, x4 at paper
    assert math.isnan(K.estimate(r, "paper", Cache(repo / "cache")).cpu_hours)
    monkeypatch.chdir(repo)
    assert main(["figures", "sweep", "--scale", "paper", "--dry-run", "--cache", "cache"]) == 0
    out = capsys.readouterr().out
    assert "out of range" in out and "inf" not in out


def test_a_cpu_time_below_the_resolution_is_not_printed_as_about(repo, monkeypatch, capsys):
    (r,) = [x for x in discover(repo) if x.name == "sweep"]
    _sidecar(repo / "cache", "sweep", "quick", r.config("quick"), 1e-5, 180e6, "1")
    monkeypatch.chdir(repo)
    assert main(["figures", "sweep", "--scale", "quick", "--dry-run", "--cache", "cache"]) == 0
    out = capsys.readouterr().out
    assert "< 0.01 s CPU" in out and "~<" not in out
    assert "CPU-hours" not in out   # nor the total's '~2.8e-09 CPU-hours', a precision the calibration does not have


def test_dry_run_prints_estimates_for_paper_scale_on_dask(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    fa.run_figures(("sweep",), scale="quick", root=repo, out_dir=repo / "build", cache_dir=repo / "cache",
                   progress=False)
    assert main(["figures", "--scale", "paper", "--backend", "dask", "--scheduler", "tcp://127.0.0.1:1",
                 "--dry-run", "--cache", "cache"]) == 0     # no connection is made for a dry run
    out = capsys.readouterr().out.splitlines()
    row = next(ln for ln in out if ln.startswith("sweep"))
    assert "CPU" in row and "iB" in row and "from quick x4" in row     # binary units, as --max-memory reads them
    # the calibration command names this run's --cache, where its costs must be recorded for this dry run to read
    assert next(ln for ln in out if ln.startswith("depend")).endswith("not measured (run: convergence figures "
                                                                      "--scale quick --cache cache)")
    total = next(ln for ln in out if ln.startswith("total"))
    assert total.startswith(("total of the 1 measured: ~", "total of the 1 measured: < 0.01 s CPU, largest"))
    assert "2 recipe(s) not measured" in total and "~<" not in total
    # then the run's memory check: the main process alone on this machine (dask workers not counted)
    assert out[-1].startswith("memory: the run needs about") and "on this machine" in out[-1]


def test_dry_run_without_any_measurement_gives_no_total(repo, monkeypatch, capsys):
    # an empty cache has no costs: the total says it is unknown instead of "~0 s CPU, ~0 GB" (the memory check,
    # which needs no measurement, follows it)
    monkeypatch.chdir(repo)
    assert main(["figures", "--scale", "paper", "--dry-run", "--cache", "empty"]) == 0
    last = capsys.readouterr().out.splitlines()[-2]
    assert last.startswith("total: unknown") and "3 recipe(s)" in last and "~0" not in last


def test_bench_all_quick_prints_one_table_with_measured_ratios(monkeypatch, capsys):
    """``make bench`` in quick mode: every benchmark's rows in one table, ratios measured in the run, the
    PyTorch rows 'not measured' without TORCH_PYTHON, and the simulate row's recursion checked equal."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_all.py"
    spec = importlib.util.spec_from_file_location("_bench_all_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    monkeypatch.delenv("TORCH_PYTHON", raising=False)
    monkeypatch.delenv("AIHWKIT_PYTHON", raising=False)
    assert mod.main(["--quick"]) == 0
    out = capsys.readouterr().out.splitlines()
    body = [ln for ln in out if ln and not ln.startswith(("benchmark", "-", "ratio =", "machine:"))]
    assert {ln.split()[0] for ln in body} == {"steps", "simulate", "tile", "transfer", "fcn", "swin"}
    assert sum("not measured (set TORCH_PYTHON)" in ln for ln in body) == 2
    assert not any("aihwkit" in ln for ln in body)          # quick mode states no reference it did not measure
    assert sum("streaming pass" in ln for ln in body) >= 2 and any("bare NumPy loop" in ln for ln in body)
    assert any("per-trial loop" in ln for ln in body) and any("digital step" in ln for ln in body)
    assert out[-2].startswith("ratio = time / baseline time") and "load average" in out[-2]
    assert out[-1].startswith("machine: ") and f"NumPy {np.__version__}" in out[-1]     # ratios depend on the CPU


def _bench_module(name: str):
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{name}_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_bench_tile_measures_aihwkit_in_the_run_when_aihwkit_python_is_set(monkeypatch, tmp_path):
    """The tile rows: with ``AIHWKIT_PYTHON`` the aihwkit reference is the named interpreter's time for the same
    runs (here a stand-in interpreter that records what it was sent and answers with a time), sent the workload's
    problem and settings; without it the full run states aihwkit 1.2.0's idle 42.7 s and says so."""
    all_ = _bench_module("bench_all")
    tile = _bench_module("bench_tile")
    sent = tmp_path / "sent.json"
    fake = tmp_path / "python"
    fake.write_text(f"#!/bin/sh\ncat > {sent}\n"
                    "echo '{\"seconds\": 12.5, \"aihwkit\": \"stand-in\", \"torch\": \"-\", \"final_loss\": []}'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("AIHWKIT_PYTHON", str(fake))
    rows = all_.bench_tile(quick=True)
    peer = [r for r in rows if "aihwkit" in r["case"]]
    assert len(peer) == 1 and "stand-in (measured)" in peer[0]["case"] and peer[0]["t"] == 12.5
    assert peer[0]["ratio"] == pytest.approx(12.5 / peer[0]["t_base"], rel=1e-12) and peer[0]["note"] == ""
    cfg = json.loads(sent.read_text())
    A, y, w_noise = tile.problem()
    assert np.array_equal(cfg["A"], A) and np.array_equal(cfg["y"], y) and cfg["w_noise"] == w_noise
    assert (cfg["taus"], cfg["seeds"], cfg["iters"]) == ([1.0, 1.5, 2.0, 2.5], 10, 20)
    assert (cfg["desired_bl"], cfg["lr"], cfg["bound"], cfg["states"]) == (5000, 0.03, 10.0, 300)
    fake.write_text("#!/bin/sh\nexit 3\n")                  # a failing interpreter: no row, no traceback
    assert tile.aihwkit_run((1.0,), 1, 5) is None
    monkeypatch.delenv("AIHWKIT_PYTHON")
    monkeypatch.setattr(tile, "fig3_run", lambda *a, **k: (1.0, 1.0, None))
    monkeypatch.setattr(all_, "_load", lambda name: tile)
    stated = [r for r in all_.bench_tile(quick=False) if "aihwkit" in r["case"]]
    assert len(stated) == 1 and stated[0]["t"] == pytest.approx(42.7)
    assert stated[0]["note"] == "stated reference (set AIHWKIT_PYTHON)"
    assert "stated reference (set AIHWKIT_PYTHON)" in all_.table(stated)


def test_simulate_running_s_k_across_blocks_matches_a_step_by_step_sum():
    """The block-wise S_K sums of ``simulate`` (blocks of 256 steps) equal the step-by-step definition
    (P1 Thm 2: S_K = (1/(K+1)) Σ_{j≤K} s_j²/(1 − s_j²), s_j = ‖W_j‖∞/τ; P2 Thm 2's ‖G/√F‖²∞, which for
    soft bounds (F = 1, G = w/τ) is s_j²) recomputed from the recorded weights."""
    import convergence as cv

    tau, steps = 0.8, 700
    traj = cv.simulate(cv.analog_sgd(0.05, cv.SoftBounds(tau)), cv.Quadratic(d=3, L=1.0, w_star=0.5),
                       cv.Gaussian(0.5), 0.0, steps, trials=4, seed=3, record_every=1, record_w=True, progress=False)
    s = np.abs(traj.w).max(axis=2) / tau                              # (steps, trials): k = 0..K-1
    term = s * s / (1 - s * s)
    want = np.cumsum(term, axis=0) / (np.arange(steps) + 1)[:, None]
    np.testing.assert_allclose(traj.metrics["sat_w"], s, rtol=1e-13, atol=0)
    np.testing.assert_allclose(traj.metrics["s_k_w"], want, rtol=1e-12, atol=0)
    want_gen = np.cumsum(s * s, axis=0) / (np.arange(steps) + 1)[:, None]
    np.testing.assert_allclose(traj.metrics["s_k_generic_w"], want_gen, rtol=1e-12, atol=0)
    assert (traj.status == 0).all()


def _worker_threads(_):
    import os

    from convergence.nn import _fastmath
    return os.environ.get("OPENBLAS_NUM_THREADS"), _fastmath._threads()


def test_local_workers_split_the_cores_for_blas_and_elementwise_threads(monkeypatch):
    import os

    monkeypatch.delenv("CONVERGENCE_ELEMENTWISE_THREADS", raising=False)
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    share = max(1, (os.cpu_count() or 1) // 2)
    with fp.TaskPool(2) as pool:
        blas, elementwise = pool.submit(__import__("cloudpickle").dumps((_worker_threads, 0))).result()[0]
    assert blas == str(share) and elementwise == share


def _busy_on_a_helper_thread(seconds):
    import threading
    import time

    def spin():
        t0 = time.process_time()
        while time.process_time() - t0 < seconds:
            pass

    t = threading.Thread(target=spin)
    t.start()
    t.join()
    return seconds


def test_local_workers_meter_the_cpu_of_a_tasks_helper_threads():
    import cloudpickle

    meter = fp.Meter()
    with fp.TaskPool(1) as pool:
        _, cpu, rss = pool.submit(cloudpickle.dumps((_busy_on_a_helper_thread, 0.3))).result()
    meter.add(cpu, rss)
    assert 0.25 <= meter.cpu_seconds < 2.0, meter.cpu_seconds    # the main thread alone would show ~0


KEEPER = '''
"""A recipe that caches an input of its own (as the Swin study its pretraining) in the run's cache folder."""
import numpy as np
from convergence.experiments import recipe_kit as C

NAME = "keeper"
SEED = 5
SCALES = {"quick": {"n": 3}, "default": {"n": 3}, "paper": {"n": 3}}

def compute(cfg, seed):
    folder = C.cache_folder()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "keeper-input.txt").write_text("kept")
    return {"y": np.arange(cfg["n"], dtype=float)}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    return plt.figure(figsize=(1, 1))
'''


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_recipe_caches_its_own_inputs_in_the_runs_cache_folder(tmp_path, jobs):
    from convergence.experiments.recipe_kit import cache_folder

    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "keeper.py").write_text(KEEPER)
    res = fa.run_figures((), scale="quick", root=tmp_path, out_dir=tmp_path / "build", cache_dir=tmp_path / "elsewhere",
                         progress=False, jobs=jobs)
    assert [r.status for r in res] == ["ok"], [r.error for r in res]
    assert (tmp_path / "elsewhere" / "keeper-input.txt").read_text() == "kept"
    assert cache_folder() is None   # only inside the runner


def test_work_model_of_every_recipe_stays_within_a_plausible_ratio_of_quick():
    """``--dry-run`` extrapolates CPU time by the ratio of work units; a model that multiplies parts run one after
    the other (P2 Tables 7-8's CNN half times its FCN tables) estimated 10⁷ CPU-hours at ``paper``. The largest
    honest ratio (P1 Fig. 5: full data, the paper's epochs and repeats) is below 10⁵."""
    from convergence.experiments.recipes import find_repo_root

    recipes = {r.name: r for r in discover(find_repo_root())}
    for r in recipes.values():
        ratio = K.work_units(r, r.config("paper")) / K.work_units(r, r.config("quick"))
        assert 1.0 <= ratio < 1e6, (r.name, ratio)
    # P2 Tables 7-8 at paper, by hand: FCN Table 7 (digital + 2 algorithms x 5 levels = 11 runs) and Table 8
    # (2 responses x 3 gammas x 3 taus x 2 algorithms = 36 runs), CNN Table 7 (11 runs); 3 repeats, 30 epochs,
    # 60000 training images each
    r = recipes["p2_tables78"]
    assert K.work_units(r, r.config("paper")) == (11 + 36 + 11) * 3 * 30 * 60000


def test_dry_run_cpu_times_read_as_people_write_them():
    from convergence.cli.figures import _hours

    assert [_hours(s / 3600) for s in (1.8e-4, 0.046, 59, 300, 7199, 3 * 3600)] == [
        "< 0.01 s", "0.046 s", "59 s", "5 min", "120 min", "3.0 h"]


def test_backend_dask_without_the_extra_names_an_install_that_works(monkeypatch):
    """The package is not on PyPI: 'pip install analog-convergence[dask]' (the message before) fails; the extra is
    installed from a checkout, as docs/scale.md says."""
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)   # import distributed -> ImportError
    with pytest.raises(fp.ConfigError, match=r"pip install '\.\[dask\]' in a checkout") as exc:
        fp._connect("tcp://127.0.0.1:1")
    assert "analog-convergence[" not in str(exc.value)


@pytest.mark.parametrize("before", [None, "3"])
def test_bench_swin_study_rows_time_the_study_batch_on_one_thread_and_restore_the_environment(monkeypatch, before):
    """The Swin rows at the transfer study's fine-tune: each analog step against the digital step, stepping in turn
    on the same class-conditional mini-batches, at the batch, rate and device the default scale fine-tunes with, on
    one elementwise thread, and the thread setting put back afterwards, set or unset (the rest of ``make bench``
    runs with the machine's threads)."""
    from convergence.nn import _fastmath
    from convergence.swin.runner import SCALES

    all_ = _bench_module("bench_all")
    swin = _bench_module("bench_swin")
    for data in ("task", "noise"):
        t = swin.time_interleaved(("digital", "c-ttv2"), 2, 4, data=data, device={"n_states": 100})
        assert set(t) == {"digital", "c-ttv2"} and all(0 < r["min_s"] <= r["median_s"] for r in t.values())
    with pytest.raises(ValueError, match="data must be"):
        swin.time_interleaved(("digital",), 1, 4, data="mnist")
    with pytest.raises(ValueError, match="batch must be"):
        swin.time_interleaved(("digital",), 1, swin.TASK_IMAGES + 1, data="task")
    seen = []

    def fake(algs, steps, batch, data="noise", device=None, lr=0.05):
        seen.append((algs, steps, batch, data, device, lr, _fastmath._threads()))
        return {a: {"median_s": v, "min_s": v / 2} for a, v in {"digital": 2.0, "sgd": 3.0, "c-ttv2": 5.0}.items()}

    monkeypatch.setattr(swin, "time_interleaved", fake)
    if before is None:
        monkeypatch.delenv("CONVERGENCE_ELEMENTWISE_THREADS", raising=False)
    else:
        monkeypatch.setenv("CONVERGENCE_ELEMENTWISE_THREADS", before)
    rows = all_._swin_study_rows(swin, 7)
    study = SCALES["default"]
    batch = study["finetune"]["batch"]
    assert seen == [(("digital", "sgd", "c-ttv2"), 7, batch, "task", study["device"], study["finetune"]["lr"], 1)]
    assert [(r["ratio"], r["verdict"]) for r in rows] == [(1.5, "NOT met"), (2.5, "NOT met")]
    assert all(f"batch {batch}" in r["case"] for r in rows)
    assert os.environ.get("CONVERGENCE_ELEMENTWISE_THREADS") == before


def test_bench_rounds_merge_into_median_ratio_range_and_a_verdict_over_every_round():
    """``make bench --rounds N``: per row the median of the rounds' ratios (each round's ratio from times measured
    back to back), their range, and "met" only when every round meets the target ("met in k of n rounds" when some
    do); a row some rounds did not measure counts those rounds as not met and says so; rows never measured stay so;
    one round is the table as before, without a range column."""
    all_ = _bench_module("bench_all")

    def rounds(*ratios):
        return [[all_.row("steps", "x", r, "streaming pass", 1.0, ("<=", 1.3)),
                 all_.row("fcn", "torch", 2.0 * r, "PyTorch CPU step", None, None, "not measured")] for r in ratios]

    mixed = all_.merge_rounds(rounds(1.2, 1.4, 1.25))
    assert mixed[0]["ratio"] == 1.25 and mixed[0]["spread"] == "1.2-1.4"
    assert mixed[0]["verdict"] == "met in 2 of 3 rounds"
    assert mixed[1]["ratio"] is None and mixed[1]["verdict"] == "" and mixed[1]["note"] == "not measured"
    assert mixed[1]["t"] == 2.5 and mixed[1]["t_base"] is None      # its time too is the rounds' median
    assert all_.merge_rounds(rounds(1.1, 1.3))[0]["verdict"] == "met"
    assert all_.merge_rounds(rounds(1.31, 1.5, 2.0))[0]["verdict"] == "NOT met"
    assert all_.merge_rounds(rounds(1.3014, 1.74))[0]["spread"] == "1.301-1.74"   # 4 digits near a target
    # a peer row missing from one round (its run failed there): not "met" on two rounds' evidence
    partial = rounds(1.1, 1.2, 1.0)
    partial[1][0] = all_.row("steps", "x", None, "streaming pass", 1.0, ("<=", 1.3), "failed")
    (p, _) = all_.merge_rounds(partial)
    assert p["ratio"] == 1.05 and p["verdict"] == "met in 2 of 3 rounds" and p["note"] == "measured in 2 of 3 rounds"
    absent = rounds(1.1, 1.2, 1.0)
    del absent[2][0]
    (a, _) = all_.merge_rounds(absent)
    assert a["verdict"] == "met in 2 of 3 rounds" and a["note"] == "measured in 2 of 3 rounds"
    one = all_.merge_rounds(rounds(1.4))
    assert one[0]["verdict"] == "NOT met" and one[0]["spread"] == ""
    assert "range" not in all_.table(one).splitlines()[0]
    text = all_.table(mixed).splitlines()
    assert "range" in text[0] and "1.2-1.4" in text[2] and text[2].rstrip().endswith("met in 2 of 3 rounds")


def test_bench_all_runs_each_named_benchmark_once_per_round(monkeypatch, capsys):
    """``--only steps,steps`` is one benchmark: its rows are merged over the rounds asked for, not twice as many."""
    all_ = _bench_module("bench_all")
    calls = []

    def fake(quick):
        calls.append(quick)
        return [all_.row("steps", "x", 1.0 + 0.1 * len(calls), "streaming pass", 1.0, ("<=", 1.15))]

    monkeypatch.setitem(all_.BENCHES, "steps", fake)
    assert all_.main(["--only", "steps,steps", "--rounds", "2", "--quick"]) == 0
    assert len(calls) == 2
    assert "met in 1 of 2 rounds" in capsys.readouterr().out



def test_timing_helpers_on_a_fake_clock():
    """best_time keeps the fastest repeat's mean per call; in_turn alternates the candidates within each round,
    calls ``before`` first and drops the warm-up rounds (a clock that advances only when a call says so)."""
    from convergence._timing import best_time, in_turn

    now = [0.0]

    def spend(seconds):
        now[0] += seconds

    costs = iter([3.0, 1.0, 1.0, 1.0, 5.0, 1.0])           # repeats of two calls: means 2, 1, 3
    assert best_time(lambda: spend(next(costs)), repeats=3, number=2, clock=lambda: now[0]) == 1.0

    log = []
    calls = {"a": lambda r: (log.append(("a", r)), spend(1.0 + r)),
             "b": lambda r: (log.append(("b", r)), spend(10.0 * (r + 1)))}
    times = in_turn(calls, rounds=2, number=2, warmup=1, before=lambda r: log.append(("before", r)),
                    clock=lambda: now[0])
    assert log == [("before", 0), ("a", 0), ("a", 0), ("b", 0), ("b", 0),
                   ("before", 1), ("a", 1), ("a", 1), ("b", 1), ("b", 1),
                   ("before", 2), ("a", 2), ("a", 2), ("b", 2), ("b", 2)]
    assert times == {"a": [2.0, 3.0], "b": [20.0, 30.0]}      # per call, rounds 1 and 2 (round 0 is warm-up)
