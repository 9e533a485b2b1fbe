"""The figure runner: discovery, cache hits/misses/invalidation, corruption recovery, atomic writes,
backend equivalence (joblib 1 vs 2 workers vs a dask LocalCluster) and the CLI contract.

Every test uses tiny fake recipes in a temporary repository, never the real ``figures/``.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import convergence
from convergence.experiments import cache as fc
from convergence.experiments import parallel as fp
from convergence.experiments import recipes as fr
from convergence.experiments import runner as fa
from convergence._validate import ConfigError
from convergence.cli.main import main

HELPER = '''
import numpy as np

def draw(task):
    """One sweep item: (index, SeedSequence) -> a small random vector (its own stream)."""
    i, ss = task
    return np.random.default_rng(ss).standard_normal(4) + i
'''

SWEEP = '''
"""Fake sweep recipe: independent seeded runs through parallel_map."""
import importlib.util, pathlib, sys
import numpy as np
from convergence.experiments.parallel import parallel_map

_spec = importlib.util.spec_from_file_location("fake_sweep_helper", pathlib.Path(__file__).with_name("_helper.py"))
H = importlib.util.module_from_spec(_spec); sys.modules["fake_sweep_helper"] = H; _spec.loader.exec_module(H)

NAME = "sweep"
TITLE = "fake sweep"
PAPER = "new"
SEED = 11
SCALES = {"quick": {"n": 6}, "default": {"n": 8}, "paper": {"n": 8}}

def _run(task):
    return H.draw(task) * 2.0

def compute(cfg, seed):
    with open(pathlib.Path(__file__).with_name("calls_sweep.txt"), "a") as f:
        f.write("x")
    tasks = [(i, np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (i,)))
             for i in range(cfg["n"])]
    return {"x": np.stack(parallel_map(_run, tasks))}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(data["x"].ravel())
    return fig
'''

SIMPLE = '''
"""Fake simple recipe (no parallel_map): sequential compute."""
import pathlib
import numpy as np

NAME = "simple_fig"
TITLE = "fake simple"
PAPER = "P1 Fig. 0"
SEED = 5
SCALES = {"quick": {"a": 1.0, "n": 3}, "default": {"a": 2.0, "n": 3}, "paper": {"a": 3.0, "n": 3}}

def compute(cfg, seed):
    with open(pathlib.Path(__file__).with_name("calls_simple.txt"), "a") as f:
        f.write("x")
    rng = np.random.default_rng(seed)
    return {"y": cfg["a"] * rng.standard_normal(cfg["n"]), "label": np.array("ok")}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(data["y"])
    return fig

def claims(data, cfg):
    return [{"id": "simple.claim", "statement": "y is finite", "prediction": "finite", "measured": float(data["y"][0]),
             "uncertainty": 0.0, "verdict": "holds", "paper": PAPER}]
'''


def _calls(repo: Path, which: str) -> int:
    p = repo / "figures" / f"calls_{which}.txt"
    return len(p.read_text()) if p.exists() else 0


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    figs = tmp_path / "figures"
    figs.mkdir()
    (figs / "_helper.py").write_text(HELPER)
    (figs / "sweep.py").write_text(SWEEP)
    (figs / "simple.py").write_text(SIMPLE)
    return tmp_path


def _run(repo: Path, names=(), **kw):
    kw.setdefault("scale", "quick")
    return fa.run_figures(names, root=repo, out_dir=repo / "build", cache_dir=repo / "cache", progress=False, **kw)


def _only(results, name):
    (r,) = [r for r in results if r.name == name]
    assert r.status == "ok", r.error
    return r


def _entry(repo: Path, name: str) -> tuple[Path, Path]:
    (npz,) = sorted((repo / "cache").glob(f"{name}-*.npz"))
    return npz, npz.with_suffix(".json")


# -- discovery ------------------------------------------------------------------------------------

def test_discovery_select_by_name_or_stem_and_helpers_skipped(repo):
    recipes = fr.discover(repo)
    assert [r.stem for r in recipes] == ["simple", "sweep"]          # sorted by file; _helper.py skipped
    assert [r.name for r in fr.select(recipes, ["simple"])] == ["simple_fig"]   # by stem
    assert [r.name for r in fr.select(recipes, ["simple_fig", "simple"])] == ["simple_fig"]  # no duplicates
    with pytest.raises(ConfigError, match="unknown figure 'nope'"):
        fr.select(recipes, ["nope"])
    with pytest.raises(ConfigError, match="repository root"):
        fr.find_repo_root(repo / "figures")


def test_cache_key_covers_each_input_and_ignores_dict_order():
    base = dict(name="a", config={"x": 1, "y": [1, 2]}, seed=3, version="0.1.0", source_sha256="s")
    k = fc.cache_key(**base)
    assert k == fc.cache_key(**{**base, "config": {"y": [1, 2], "x": 1}})
    variants = [{"name": "b"}, {"config": {"x": 2, "y": [1, 2]}}, {"seed": 4}, {"version": "0.2.0"},
                {"source_sha256": "t"}]
    keys = {fc.cache_key(**{**base, **v}) for v in variants}
    assert len(keys) == len(variants) and k not in keys
    # independent recomputation of the definition (canonical JSON, sha256)
    payload = {"name": "a", "config": {"x": 1, "y": [1, 2]}, "seed": 3, "version": "0.1.0", "source": "s",
               "format": fc.CACHE_FORMAT}
    assert k == hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# -- cache hits, misses, invalidation --------------------------------------------------------------

def test_miss_then_hit_then_force(repo):
    first = _only(_run(repo, ["simple"]), "simple_fig")
    assert not first.from_cache and first.cache_note == "not in cache" and _calls(repo, "simple") == 1
    assert Path(first.png).exists() and Path(first.pdf).exists() and not first.plot_skipped
    npz, side = _entry(repo, "simple_fig")
    meta = json.loads(side.read_text())
    assert meta["key"] == first.key and meta["config"] == {"a": 1.0, "n": 3} and meta["seed"]["entropy"] == 5
    assert meta["versions"]["convergence"] and meta["compute_seconds"] >= 0
    with np.load(npz, allow_pickle=False) as z:
        y_first = z["y"].copy()

    second = _only(_run(repo, ["simple"]), "simple_fig")
    assert second.from_cache and second.plot_skipped and _calls(repo, "simple") == 1
    assert second.key == first.key and second.claims == first.claims

    forced = _only(_run(repo, ["simple"], force=True), "simple_fig")
    assert not forced.from_cache and forced.cache_note == "--force" and not forced.plot_skipped
    assert _calls(repo, "simple") == 2
    with np.load(_entry(repo, "simple_fig")[0], allow_pickle=False) as z:
        np.testing.assert_array_equal(z["y"], y_first)       # deterministic given (cfg, seed)


def test_invalidation_by_config_seed_version_source_and_helper(repo, monkeypatch):
    key0 = _only(_run(repo, ["simple"]), "simple_fig").key
    assert _calls(repo, "simple") == 1
    # another scale = another config
    _run(repo, ["simple"], scale="default")
    assert _calls(repo, "simple") == 2
    _run(repo, ["simple"], scale="quick")
    assert _calls(repo, "simple") == 2                        # both entries live side by side
    # package version or library source (code_version = version + digest of convergence/*.py)
    assert fc.code_version().startswith(convergence.__version__ + "+")
    monkeypatch.setattr(fa, "code_version", lambda: "999.0+0")
    _run(repo, ["simple"])
    assert _calls(repo, "simple") == 3
    monkeypatch.undo()
    # recipe source (a comment changes the digest) and the same change reverted
    path = repo / "figures" / "simple.py"
    path.write_text(SIMPLE + "\n# edited\n")
    _run(repo, ["simple"])
    assert _calls(repo, "simple") == 4
    path.write_text(SIMPLE)     # reverted: the key depends on content only (the superseded entry was pruned)
    assert _only(_run(repo, ["simple"]), "simple_fig").key == key0
    assert _calls(repo, "simple") == 5
    # a shared helper next to the recipes
    (repo / "figures" / "_helper.py").write_text(HELPER + "\n# edited\n")
    _run(repo, ["simple"])
    assert _calls(repo, "simple") == 6
    # config of the scale edited in place (SEED too) -> new keys
    path.write_text(SIMPLE.replace('"quick": {"a": 1.0', '"quick": {"a": 1.5'))
    r = _only(_run(repo, ["simple"]), "simple_fig")
    assert _calls(repo, "simple") == 7 and r.config["a"] == 1.5
    path.write_text(SIMPLE.replace('"quick": {"a": 1.0', '"quick": {"a": 1.5').replace("SEED = 5", "SEED = 6"))
    _run(repo, ["simple"])
    assert _calls(repo, "simple") == 8
    _run(repo, ["simple"])
    assert _calls(repo, "simple") == 8


def test_code_version_digests_every_layer_of_the_package(tmp_path, monkeypatch):
    """The key's code version covers the whole package (not only the experiments layer), so a
    change to a device, the step driver or the recipes' kit invalidates cached figures."""
    root = Path(convergence.__file__).resolve().parent
    names = {p.relative_to(root).as_posix() for p in fc.package_sources()}
    assert {"physics/devices.py", "sim/driver.py", "sim/simulate.py", "tile/programming.py",
            "experiments/recipe_kit.py", "rng.py"} <= names
    # an edited source gives another version: digest a copy of the package with one byte changed
    copy = tmp_path / "convergence"
    for p in fc.package_sources():
        (copy / p.relative_to(root)).parent.mkdir(parents=True, exist_ok=True)
        (copy / p.relative_to(root)).write_bytes(p.read_bytes())
    monkeypatch.setattr(convergence, "__file__", str(copy / "__init__.py"))
    fc.code_version.cache_clear()
    try:
        before = fc.code_version()
        dev = copy / "physics" / "devices.py"
        dev.write_bytes(dev.read_bytes() + b"\n# edited\n")
        fc.code_version.cache_clear()
        assert fc.code_version() != before
    finally:
        monkeypatch.undo()
        fc.code_version.cache_clear()


# -- corruption and atomicity ----------------------------------------------------------------------

def test_truncated_npz_is_detected_and_recomputed(repo):
    _run(repo, ["simple"])
    npz, _ = _entry(repo, "simple_fig")
    raw = npz.read_bytes()
    npz.write_bytes(raw[: len(raw) // 2])
    r = _only(_run(repo, ["simple"]), "simple_fig")
    assert not r.from_cache and "corrupt" in r.cache_note and "digest" in r.cache_note
    assert _calls(repo, "simple") == 2
    assert _only(_run(repo, ["simple"]), "simple_fig").from_cache     # repaired entry is valid again


def test_bad_zip_with_matching_digest_is_detected(repo):
    _run(repo, ["simple"])
    npz, side = _entry(repo, "simple_fig")
    garbage = b"not a zip archive at all"
    npz.write_bytes(garbage)
    meta = json.loads(side.read_text())
    meta["npz_sha256"] = hashlib.sha256(garbage).hexdigest()
    side.write_text(json.dumps(meta))
    r = _only(_run(repo, ["simple"]), "simple_fig")
    assert not r.from_cache and "bad archive" in r.cache_note and _calls(repo, "simple") == 2


def test_missing_sidecar_and_key_mismatch_are_recomputed(repo):
    _run(repo, ["simple"])
    npz, side = _entry(repo, "simple_fig")
    side.unlink()
    r = _only(_run(repo, ["simple"]), "simple_fig")
    assert "sidecar" in r.cache_note and "missing" in r.cache_note and _calls(repo, "simple") == 2
    meta = json.loads(side.read_text())
    meta["key"] = "0" * 64
    side.write_text(json.dumps(meta))
    r = _only(_run(repo, ["simple"]), "simple_fig")
    assert "key mismatch" in r.cache_note and _calls(repo, "simple") == 3


def test_crash_inside_the_writer_leaves_nothing_readable(tmp_path):
    target = tmp_path / "c" / "entry.npz"

    def half_then_crash(f):
        f.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        fc._atomic_write(target, half_then_crash)
    assert not target.exists() and list(target.parent.iterdir()) == []   # no temp file left behind


def test_crash_between_data_and_sidecar_is_not_read_as_valid(tmp_path, monkeypatch):
    cache = fc.Cache(tmp_path / "cache")
    key = "ab" * 32
    real = fc._atomic_write
    calls = {"n": 0}

    def crash_on_sidecar(path, write):
        calls["n"] += 1
        if path.suffix == ".json":
            raise OSError("disk full while writing the sidecar")
        real(path, write)

    # (1) fresh entry: data written, sidecar never -> "missing sidecar"
    monkeypatch.setattr(fc, "_atomic_write", crash_on_sidecar)
    with pytest.raises(OSError):
        cache.store("fig", key, {"a": np.arange(3.0)}, {})
    monkeypatch.setattr(fc, "_atomic_write", real)
    with pytest.raises(fc.CacheEntryError, match="sidecar"):
        cache.load("fig", key)
    # (2) a valid old entry, then a crash while replacing it with different data -> digest mismatch
    cache.store("fig", key, {"a": np.arange(3.0)}, {})
    assert cache.load("fig", key)[0]["a"].tolist() == [0.0, 1.0, 2.0]
    monkeypatch.setattr(fc, "_atomic_write", crash_on_sidecar)
    with pytest.raises(OSError):
        cache.store("fig", key, {"a": np.arange(4.0)}, {})
    monkeypatch.setattr(fc, "_atomic_write", real)
    with pytest.raises(fc.CacheEntryError, match="digest"):
        cache.load("fig", key)
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")]


def test_object_arrays_and_pickle_are_refused(tmp_path):
    cache = fc.Cache(tmp_path)
    with pytest.raises(ConfigError, match="dtype object"):
        cache.store("fig", "cd" * 32, {"bad": np.array([{"a": 1}], dtype=object)}, {})
    assert list(tmp_path.iterdir()) == []


def test_failing_recipe_is_reported_and_others_still_run(repo):
    broken = SIMPLE.replace('NAME = "simple_fig"', 'NAME = "broken"')
    (repo / "figures" / "broken.py").write_text(broken.replace("rng = np.random",
                                                               "raise RuntimeError('boom'); rng = np.random"))
    results = _run(repo)
    by = {r.name: r for r in results}
    assert by["broken"].status == "error" and "boom" in by["broken"].error
    assert by["simple_fig"].status == "ok" and by["sweep"].status == "ok"
    assert not list((repo / "cache").glob("broken-*"))


# -- parallelism ------------------------------------------------------------------------------------

def _sweep_data(repo: Path, **kw) -> np.ndarray:
    _only(_run(repo, ["sweep"], force=True, **kw), "sweep")
    with np.load(_entry(repo, "sweep")[0], allow_pickle=False) as z:
        assert z["x"].shape == (6, 4)
        return z["x"].copy()


def test_joblib_one_vs_two_workers_bit_identical(repo):
    serial = _sweep_data(repo, jobs=1)
    parallel = _sweep_data(repo, jobs=2)
    assert serial.tobytes() == parallel.tobytes()
    # and equal to an independent serial loop over the same seeds
    ref = np.stack([2.0 * (np.random.default_rng(np.random.SeedSequence(11, spawn_key=(i,))).standard_normal(4) + i)
                    for i in range(6)])
    assert serial.tobytes() == ref.tobytes()


@pytest.mark.parametrize("processes", [False, True])
def test_dask_local_cluster_bit_identical(repo, processes):
    pytest.importorskip("distributed", reason="dask[distributed] (optional extra 'dask') is not installed")
    from distributed import LocalCluster

    serial = _sweep_data(repo, jobs=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None) as cluster:
        on_dask = _sweep_data(repo, backend="dask", scheduler=cluster.scheduler_address)
    assert serial.tobytes() == on_dask.tobytes()


def test_a_run_on_a_dask_cluster_without_workers_says_it_waits_for_them(repo):
    # dask queues the tasks until a worker joins: the run's first line must say so, not look like a silent hang
    pytest.importorskip("distributed", reason="dask[distributed] (optional extra 'dask') is not installed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        with fp.TaskPool(backend="dask", scheduler=cluster.scheduler_address) as pool:
            assert "no workers yet: waiting for them" in fa._dask_where(pool)
            assert "dask worker" in fa._dask_where(pool)
            cluster.scale(1)
            cluster.wait_for_workers(1)
            assert fa._dask_where(pool) == "the dask cluster (1 worker(s))"


def test_dask_workers_running_other_code_are_refused_before_any_task(repo, monkeypatch):
    # their results would be cached under this code's key: one line naming a worker and both versions
    pytest.importorskip("distributed", reason="dask[distributed] (optional extra 'dask') is not installed")
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        _sweep_data(repo, backend="dask", scheduler=cluster.scheduler_address)     # same code: runs
        monkeypatch.setattr(fp, "_worker_code_version", lambda: "0.0.9+0123456789abcdef")
        with pytest.raises(ConfigError, match=r"1 of 1 dask worker\(s\) run other convergence code .*0\.0\.9\+"):
            fa.run_figures(["sweep"], scale="quick", root=repo, out_dir=repo / "build", cache_dir=repo / "cache",
                           force=True, backend="dask", scheduler=cluster.scheduler_address)


def test_a_recipe_whose_cluster_lost_its_tasks_is_one_line_without_a_traceback(repo):
    # a worker that dies with the only copy of a scattered input cancels the tasks that need it: the error
    # row says what happened and what to do, and the log has no traceback (the recipe is not at fault)
    lost = SIMPLE.replace('NAME = "simple_fig"', 'NAME = "lost"').replace(
        "rng = np.random", "E = type('FutureCancelledError', (Exception,), {'__module__': 'distributed.client'}); "
        "raise E('lost dependencies'); rng = np.random")
    (repo / "figures" / "lost.py").write_text(lost)
    lines: list[str] = []
    (res,) = fa.run_figures(["lost"], scale="quick", root=repo, out_dir=repo / "build", cache_dir=repo / "cache",
                            log=lines.append)
    assert res.status == "error" and "dask cluster lost" in res.error and "rerun the same command" in res.error
    (msg,) = [ln for ln in lines if "ERROR" in ln]
    assert "Traceback" not in msg and len(msg.splitlines()) == 1


@pytest.mark.parametrize("address", ["foo", "http://127.0.0.1:8786", "tcp://127.0.0.1:99999", "tcp://host",
                                     "tcp://host:8786/extra"])
def test_cli_malformed_scheduler_address_is_one_line_before_any_connection(repo, monkeypatch, capsys, address):
    # distributed's Client failed on these and then hung for a minute at exit with a traceback
    monkeypatch.chdir(repo)
    assert main(["figures", "--scale", "quick", "--backend", "dask", "--scheduler", address, "--cache", "cache"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "not a dask scheduler address" in err
    for ok in ("tcp://127.0.0.1:8786", "127.0.0.1:8786", "tls://[::1]:8786", "inproc://10.0.0.1/42/1"):
        fp._check_address(ok)


def test_parallel_map_context_defaults_and_bad_settings():
    f = abs
    assert fp.current_settings().jobs == 1                       # serial outside the runner
    assert fp.parallel_map(f, [-1, 2, -3]) == [1, 2, 3]
    with fp.parallel_settings(jobs=3) as s:
        assert fp.current_settings() is s and s.jobs == 3
    assert fp.current_settings().jobs == 1
    with pytest.raises(ConfigError, match="jobs"):
        fp.parallel_map(f, [1], jobs=0)
    with pytest.raises(ConfigError, match="backend"):
        fp.parallel_map(f, [1], backend="mpi")
    with pytest.raises(ConfigError, match="scheduler"):
        with fp.parallel_settings(backend="dask"):
            pass
    with pytest.raises(ConfigError, match="inside parallel_settings"):
        fp.parallel_map(f, [1], backend="dask")


def test_progress_bar_is_off_when_stderr_is_not_a_terminal(capsys):
    bar = fp._progress_bar(3, fp.ParallelSettings(), "x")
    assert bar.disable
    bar.close()
    assert fp._progress_bar(3, fp.ParallelSettings(progress=True), "x").disable is False


# -- CLI ----------------------------------------------------------------------------------------------

def test_cli_runs_and_writes_report(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["figures", "--scale", "quick", "--jobs", "1", "--no-errata", "--cache", "cache",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "simple_fig" in out and "sweep" in out
    assert (repo / "build" / "REPORT.md").exists() and (repo / "build" / "report.html").exists()
    assert (repo / "build" / "figures" / "sweep.png").exists()
    assert "Scale **quick**" in (repo / "build" / "REPORT.md").read_text()


@pytest.mark.parametrize("argv, needle", [
    (["figures", "nope"], "unknown figure 'nope'"),
    (["figures", "--scale", "huge"], "invalid choice: 'huge'"),
    (["figures", "--jobs", "0"], "--jobs"),
    (["figures", "--backend", "dask"], "--scheduler"),
    (["figures", "--backend", "spark"], "invalid choice"),
])
def test_cli_bad_input_exits_2_with_one_line(repo, monkeypatch, capsys, argv, needle):
    monkeypatch.chdir(repo)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err


@pytest.mark.parametrize("argv, needle", [
    (["figures", "nope", "--scale", "quick"], "unknown figure 'nope'"),
    (["figures", "simple", "--scale", "long"], "not defined by"),
])
def test_cli_bad_selection_prints_nothing_but_the_error(repo, monkeypatch, capsys, argv, needle):
    # the run header is printed with the run's first message, so a refused selection is one line in all
    monkeypatch.chdir(repo)
    assert main([*argv, "--cache", "cache", "--no-errata"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and needle in err


@pytest.mark.parametrize("flag", ["--out", "--cache"])
def test_cli_refuses_a_folder_it_cannot_create_before_computing(repo, monkeypatch, capsys, flag):
    # a path the permission checks pass (root on /proc) but mkdir refuses: one line before anything runs, not a
    # recipe traceback after the computation (--out) or an error per erratum and recipe (--cache)
    import errno
    import os

    monkeypatch.chdir(repo)
    makedirs = os.makedirs

    def read_only(path, *a, **k):   # a read-only file system under "ro": access() says writable, mkdir fails
        if "ro" in Path(path).parts:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return makedirs(path, *a, **k)
    monkeypatch.setattr(os, "makedirs", read_only)
    other = "--cache" if flag == "--out" else "--out"
    assert main(["figures", "simple", "--scale", "quick", flag, "ro/sub", other, "elsewhere"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and f"{flag}: " in err
    assert _calls(repo, "simple") == 0


def test_cli_refuses_an_out_folder_whose_figures_entry_is_a_file(repo, monkeypatch, capsys):
    # every recipe would compute, then fail to save its plot, each with a traceback in the log
    monkeypatch.chdir(repo)
    (repo / "blocked").mkdir()
    (repo / "blocked" / "figures").write_text("not a folder")
    assert main(["figures", "simple", "--scale", "quick", "--out", "blocked", "--cache", "cache"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--out" in err and "not a folder" in err
    assert _calls(repo, "simple") == 0                       # refused before anything was computed


def test_cli_outside_the_repo_root(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["figures", "--scale", "quick"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "repository root" in err


def test_superseded_entries_are_pruned_per_scale(repo):
    _run(repo, ["simple"])
    _run(repo, ["simple"], scale="default")
    assert len(list((repo / "cache").glob("simple_fig-*.npz"))) == 2
    (repo / "figures" / "simple.py").write_text(SIMPLE + "\n# edited\n")
    r = _only(_run(repo, ["simple"]), "simple_fig")
    entries = sorted(p.name for p in (repo / "cache").glob("simple_fig-*.json"))
    scales = sorted(json.loads((repo / "cache" / n).read_text())["scale"] for n in entries)
    assert scales == ["default", "quick"] and f"simple_fig-{r.key[:16]}.json" in entries


def test_cli_list_and_dry_run(repo, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["figures", "--list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [ln.split()[0] for ln in listed] == ["simple_fig", "sweep"] and "simple.py" in listed[0]
    # the file column starts at one offset, and paper and title follow it, joined by a dash
    assert len({ln.index(ln.split()[1]) for ln in listed}) == 1 and all(" — " in ln for ln in listed)
    assert main(["figures", "--dry-run", "--scale", "quick", "--cache", "cache"]) == 0
    assert capsys.readouterr().out.count("would compute (missing)") == 2
    _run(repo, ["simple"])
    (npz, _), = [_entry(repo, "simple_fig")]
    assert main(["figures", "simple", "--dry-run", "--scale", "quick", "--cache", "cache"]) == 0
    assert "up to date" in capsys.readouterr().out
    npz.write_bytes(b"junk")
    assert main(["figures", "simple", "--dry-run", "--scale", "quick", "--cache", "cache"]) == 0
    assert "would compute (corrupt:" in capsys.readouterr().out
    assert _calls(repo, "simple") == 1                       # nothing was computed by --list/--dry-run


def test_unimportable_recipe_is_an_error_row_not_a_crash(repo, monkeypatch, capsys):
    (repo / "figures" / "zz_broken.py").write_text("NAME = 'zz'\ndef (:\n")
    results = _run(repo)
    by = {r.name: r for r in results}
    assert by["zz_broken"].status == "error" and "SyntaxError" in by["zz_broken"].error
    assert by["simple_fig"].status == "ok" and by["sweep"].status == "ok"
    monkeypatch.chdir(repo)
    assert main(["figures", "zz_broken", "--scale", "quick", "--no-errata", "--cache", "cache"]) == 1
    assert "zz_broken" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="failed to import"):
        fr.discover(repo)


def test_naming_only_an_unimportable_recipe_runs_no_other(repo):
    """Naming only recipes that do not import leaves no name to select by, and an empty selection means every
    recipe: the run computed all the others. It reports the broken file alone."""
    (repo / "figures" / "zz_broken.py").write_text("NAME = 'zz'\ndef (:\n")
    for jobs in (1, 2):      # serial, and concurrent (which then opens no pool: nothing to compute)
        results = _run(repo, ["zz_broken"], force=True, jobs=jobs)
        assert [(r.name, r.status) for r in results] == [("zz_broken", "error")]
    assert _calls(repo, "simple") == 0 and _calls(repo, "sweep") == 0


def test_dry_run_and_list_show_a_file_that_does_not_import_as_a_row(repo, monkeypatch, capsys):
    """--dry-run and --list make the run's selection: a file that does not import is a row of its own, as the run
    reports it while it computes the others. They used to refuse in one line, so that `--dry-run simple` failed
    where the run of `simple` (which ignores a broken file it was not asked for) works."""
    (repo / "figures" / "zz_broken.py").write_text("NAME = 'zz'\ndef (:\n")
    monkeypatch.chdir(repo)
    for extra in (["--list"], ["--dry-run", "--scale", "quick", "--cache", "cache"]):
        assert main(["figures", *extra]) == 0
        rows = capsys.readouterr().out.splitlines()
        assert [ln.split()[0] for ln in rows[:3]] == ["simple_fig", "sweep", "zz_broken"]
        assert "SyntaxError" in rows[2]
    assert main(["figures", "simple", "--dry-run", "--scale", "quick", "--cache", "cache"]) == 0
    out = capsys.readouterr().out
    assert "simple_fig" in out and "zz_broken" not in out                # not named: not part of the run
    assert main(["figures", "zz_broken", "--dry-run", "--scale", "paper", "--cache", "cache"]) == 0
    out = capsys.readouterr().out
    assert "would fail" in out and "total: nothing to compute" in out and "simple_fig" not in out
    assert _calls(repo, "simple") == 0 and _calls(repo, "sweep") == 0


def test_dry_run_says_whether_the_run_would_pass_its_memory_check(repo, monkeypatch, capsys):
    """--dry-run with --max-memory (or the memory available) makes the check the run makes before it starts and
    says its outcome; it used to ignore --max-memory, and the plan said nothing of the refusal to come."""
    monkeypatch.chdir(repo)
    argv = ["figures", "--dry-run", "--scale", "quick", "--cache", "cache", "--jobs", "1"]
    assert main(argv + ["--max-memory", "1"]) == 2        # the refusal's exit code, as the run would end
    out, err = capsys.readouterr()
    last = out.splitlines()[-1]
    assert last.startswith("memory: the run would be refused: ") and "needs about 153 MiB but --max-memory is 1 B" \
        in last
    assert len(err.splitlines()) == 1 and "error: the run would be refused" in err
    assert main(argv + ["--max-memory", "1G"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == ("memory: the run needs about 153 MiB with 1 job(s) in all "
                                                        "processes together (the model --max-memory checks), within "
                                                        "--max-memory 1 GiB")
    assert _calls(repo, "simple") == 0 and not (repo / "build").exists()


def test_optional_scale_selects_the_recipes_that_define_it(repo):
    simple = repo / "figures" / "simple.py"
    simple.write_text(simple.read_text().replace('"paper": {"a": 3.0, "n": 3}}', '"paper": {"a": 3.0, "n": 3}, '
                                                 '"long": {"a": 4.0, "n": 3}}'))
    results = _run(repo, scale="long")
    assert [r.name for r in results] == ["simple_fig"]                # sweep has no long scale: not run
    assert _only(results, "simple_fig").scale == "long"
    with pytest.raises(ConfigError, match="not defined by: sweep"):   # named explicitly: an error
        _run(repo, ["sweep", "simple"], scale="long")
    with pytest.raises(ConfigError, match="scale must be one of"):
        _run(repo, scale="huge")


# -- figure outputs: self-verifying and safe under concurrent runs ---------------------------------

def test_truncated_or_edited_figure_is_redrawn(repo):
    first = _only(_run(repo, ["simple"]), "simple_fig")
    png, pdf = Path(first.png), Path(first.pdf)
    good = png.read_bytes()
    assert _only(_run(repo, ["simple"]), "simple_fig").plot_skipped
    png.write_bytes(good[: len(good) // 2])                       # truncated, stamp unchanged
    again = _only(_run(repo, ["simple"]), "simple_fig")
    assert not again.plot_skipped and png.read_bytes() == good   # redrawn, byte-identical
    pdf.write_bytes(pdf.read_bytes() + b"%edit")
    assert not _only(_run(repo, ["simple"]), "simple_fig").plot_skipped


def _run_in_subprocess(repo: Path) -> subprocess.Popen:
    code = ("import sys; from convergence.experiments import runner as r\n"
            f"res = r.run_figures(['simple'], root={str(repo)!r}, out_dir={str(repo / 'build')!r}, "
            f"cache_dir={str(repo / 'cache')!r}, scale='quick', force=True, progress=False)\n"
            "sys.exit(0 if all(x.status == 'ok' for x in res) else 1)\n")
    return subprocess.Popen([sys.executable, "-c", code], cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def test_two_concurrent_runs_on_one_cache_and_output_both_succeed(repo):
    procs = [_run_in_subprocess(repo) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-2000:]
    leftovers = [p.name for p in (repo / "build" / "figures").iterdir() if ".tmp" in p.name or p.name.count(".") > 2]
    assert not leftovers, leftovers
    # the result is complete and consistent: a later run finds everything up to date
    later = _only(_run(repo, ["simple"]), "simple_fig")
    assert later.from_cache and later.plot_skipped


NEEDS_DATA = '''
"""Fake network recipe: needs MNIST or Fashion-MNIST."""
import numpy as np

NAME = "needs_data"
TITLE = "fake network recipe"
PAPER = "P1 Fig. 0"
SEED = 1
SCALES = {"quick": {}, "default": {}, "paper": {}}

def compute(cfg, seed):
    from convergence.nn.data import load_mnist_like
    data = load_mnist_like()
    return {"n": np.array(len(data.y_train))}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    return plt.figure(figsize=(2, 2))
'''


def test_without_any_data_set_network_recipes_are_skipped_with_the_fix(repo, monkeypatch, tmp_path):
    from convergence.cli.main import main
    from convergence.nn import data as nd

    empty = tmp_path / "no-data"
    empty.mkdir()
    monkeypatch.setattr(nd, "DEBIAN_FASHION_MNIST", empty / "fashion-mnist")
    monkeypatch.setenv("XDG_CACHE_HOME", str(empty))
    monkeypatch.delenv(nd.ENV_VAR, raising=False)
    (repo / "figures" / "needs_data.py").write_text(NEEDS_DATA)
    results = _run(repo, ["needs_data", "simple"])
    by = {r.name: r for r in results}
    assert by["needs_data"].status == "skipped" and "data unavailable" in by["needs_data"].error
    assert by["simple_fig"].status == "ok"
    monkeypatch.chdir(repo)
    code = main(["figures", "needs_data", "simple", "--scale", "quick", "--no-errata", "--out", str(repo / "out"),
                 "--cache", str(repo / "cache"), "--no-progress"])
    assert code == 0                                     # a skipped recipe is not a failure
    report = (repo / "out" / "REPORT.md").read_text()
    assert "Figures skipped: data unavailable" in report and "make data" in report
    assert "Figures that failed" not in report


def test_the_per_recipe_log_line_counts_every_verdict():
    """The console line after each recipe adds up: an erratum confirmed (or any other status) is counted
    next to hold / fail / inconclusive instead of being left out of the total."""
    from convergence.theory.verdicts import Claim

    claims = [Claim(id=f"r.c{i}", statement="s", verdict=v)
              for i, v in enumerate(["holds", "holds", "erratum confirmed", "inconclusive", "n/a"])]
    res = fa.FigureResult(name="r", title="t", paper="p", stem="r", scale="quick", seed=0, claims=claims,
                          compute_seconds=1.0, plot_seconds=1.0)
    lines: list[str] = []
    fa._log_result(lines.append, res)
    assert lines == ["r: computed 1.0 s, plotted 1.0 s; claims: 5 (2 hold, 0 fail, 1 inconclusive at this scale, "
                     "1 erratum confirmed, 1 n/a)"]
