"""Every entry point as a user meets it: refusals found by an adversarial sweep, resource estimates,
Ctrl-C in a real subprocess, and two ``convergence figures`` processes on one folder."""
from __future__ import annotations

import json
import os
import pickle
import signal
import struct
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from convergence.cli.main import main

ROOT = Path(__file__).resolve().parents[1]


def _idx(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + arr.astype(">u1").tobytes()


def _fake_mnist(root: Path, n_train: int = 20, n_test: int = 10) -> Path:
    d = root / "mnist"
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        (d / f"{stem}-images-idx3-ubyte").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28))))
        (d / f"{stem}-labels-idx1-ubyte").write_bytes(_idx(np.arange(n) % 10))
    return root


def _one_line_exit_2(argv, capsys, needle):
    assert main(argv) == 2, argv
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err, err
    return err


# -- refusals the sweep found accepted ----------------------------------------------------------

@pytest.mark.parametrize("argv, needle", [
    (["figures", "--out", ""], "--out"), (["figures", "--cache", " "], "--cache"),
    (["train", "--data-dir", ""], "--data-dir"), (["train", "--checkpoint", ""], "--checkpoint"),
    (["proofs", "--dir", ""], "--dir"), (["data", "--data-dir", ""], "--data-dir"),
    (["transfer", "--out", "a\x00.npz"], "NUL"), (["device", "softbounds", "--out", ""], "--out"),
])
def test_empty_or_nul_paths_are_refused(argv, needle, capsys, tmp_path, monkeypatch):
    """An empty --out used to resolve to the working directory (figures wrote into figures/)."""
    monkeypatch.chdir(tmp_path)
    _one_line_exit_2(argv, capsys, needle)
    assert list(tmp_path.iterdir()) == []


def test_subset_larger_than_the_data_set_is_refused(tmp_path, capsys):
    root = _fake_mnist(tmp_path)
    base = ["train", "--dataset", "mnist", "--data-dir", str(root)]
    _one_line_exit_2(base + ["--n-train", "21"], capsys, "--n-train 21 exceeds the 20 images")
    _one_line_exit_2(base + ["--n-test", "1e12"], capsys, "--n-test")


def test_resume_with_another_seed_or_subset_is_refused(tmp_path, capsys):
    root = _fake_mnist(tmp_path)
    ck = str(tmp_path / "ck")
    base = ["train", "--dataset", "mnist", "--data-dir", str(root), "--checkpoint", ck, "--n-test", "10"]
    assert main(base + ["--n-train", "20"]) == 0
    capsys.readouterr()
    _one_line_exit_2(base + ["--n-train", "20", "--resume", "--seed", "5"], capsys, "--seed")
    _one_line_exit_2(base + ["--n-train", "19", "--resume"], capsys, "--n-train")
    _one_line_exit_2(base + ["--n-train", "20", "--resume", "--batch", "4"], capsys, "--batch")
    assert main(base + ["--n-train", "20", "--resume", "--epochs", "2"]) == 0   # the same run, continued


def _tar(path: Path, members: dict[str, bytes]) -> None:
    import io
    with tarfile.open(path, "w:gz") as t:
        for name, raw in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(raw)
            t.addfile(info, io.BytesIO(raw))


def test_cifar_labels_outside_the_classes_are_a_data_error(tmp_path):
    from convergence.nn import data as D
    batch = pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1, 10]})
    _tar(tmp_path / "c10.tar.gz", {"cifar-10-batches-py/data_batch_1": batch, "cifar-10-batches-py/test_batch": batch})
    with pytest.raises(D.DataError, match=r"labels must lie in 0\.\.9"):
        D.load_cifar(tmp_path / "c10.tar.gz")


def test_transfer_cache_that_is_a_file_is_refused_before_pretraining(tmp_path, capsys, monkeypatch):
    (tmp_path / "afile").write_text("x")
    monkeypatch.setenv("CONVERGENCE_CACHE", str(tmp_path / "afile"))
    t0 = time.perf_counter()
    _one_line_exit_2(["transfer", "--synthetic"], capsys, "CONVERGENCE_CACHE")
    assert time.perf_counter() - t0 < 5


# -- resource estimates -------------------------------------------------------------------------

def test_transfer_estimate_refuses_and_names_a_setting_that_fits(capsys, tmp_path, monkeypatch):
    from convergence.cli.transfer_study import study_bytes
    from convergence.swin.runner import SCALES
    monkeypatch.chdir(tmp_path)
    # the estimate grows with the scale and real data costs more than the synthetic task
    syn = [study_bytes(SCALES[s], True) for s in ("quick", "default", "paper")]
    assert syn == sorted(syn)
    assert study_bytes(SCALES["quick"], True) < study_bytes(SCALES["quick"], False)
    cap = int(study_bytes(SCALES["quick"], True)) + 1
    err = _one_line_exit_2(["transfer", "--scale", "paper", "--max-memory", str(cap)], capsys, "--max-memory")
    assert "use --scale quick --synthetic" in err
    _one_line_exit_2(["transfer", "--synthetic", "--max-memory", "1M"], capsys, "raise --max-memory")


def test_figures_estimate_refuses_an_uncached_recipe_and_suggests_fewer_jobs(capsys, tmp_path, monkeypatch):
    from convergence.experiments import costs as K
    monkeypatch.chdir(ROOT)
    args = ["figures", "p1_fig7", "--scale", "quick", "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")]
    from convergence.experiments.recipes import discover
    (r,) = [x for x in discover(ROOT) if x.name == "p1_fig7"]
    two = int(K.structural_bytes(r.config("quick"), 2))   # what the run needs with two workers
    assert K.structural_bytes(r.config("quick"), 4) > two
    err = _one_line_exit_2(args + ["--jobs", "4", "--max-memory", str(two)], capsys, "--max-memory")
    assert "use --jobs 2" in err
    err = _one_line_exit_2(args + ["--jobs", "1", "--max-memory", "100M"], capsys, "--max-memory")
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()


def test_figures_memory_hint_makes_the_whole_run_fit(capsys, tmp_path, monkeypatch):
    """The hint names the most --jobs with which the run fits, checked here against the run's model: at paper with
    --jobs 4 and 2500M only the serial run (one recipe's data set at a time) fits."""
    from convergence.experiments import costs as K
    from convergence.experiments.recipes import discover, recipes_for_scale
    monkeypatch.chdir(ROOT)
    args = ["figures", "--scale", "paper", "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")]
    err = _one_line_exit_2(args + ["--jobs", "4", "--max-memory", "2500M"], capsys, "use --jobs")
    jobs = int(err.split("use --jobs ")[1].split()[0])
    cfgs = [r.config("paper") for r in recipes_for_scale(discover(ROOT), "paper", named=False)]
    assert K.run_bytes(cfgs, jobs, concurrent=jobs > 1) <= 2500 * 2**20
    assert K.run_bytes(cfgs, jobs + 1, concurrent=True) > 2500 * 2**20


def test_figures_memory_check_counts_the_network_recipes_of_a_concurrent_run_together(capsys, tmp_path, monkeypatch):
    """Recipes run concurrently with more than one job, and every network recipe's driver holds its data set in the
    main process at once: two network recipes that each fit alone can together exceed the limit. The check used to
    take them one at a time and let such a run start; the serial run (--jobs 1) holds one data set at a time."""
    from convergence.experiments import costs as K
    from convergence.experiments.recipes import discover
    monkeypatch.chdir(ROOT)
    found = {r.name: r for r in discover(ROOT)}
    cfgs = [found[n].config("paper") for n in ("p1_fig5", "p2_fig4")]
    alone = max(K.structural_bytes(c, 2) for c in cfgs)
    together = K.run_bytes(cfgs, 2, concurrent=True)
    # hand arithmetic from the documented model: both data sets in the main process, both in each worker's cache
    data = [K.network_bytes(c) for c in cfgs]
    assert together == pytest.approx(K.MAIN_PROCESS_BYTES + K.RAW_DATA_BYTES + sum(data)
                                     + 2 * (K.PROCESS_BYTES + sum(data)), rel=1e-12)
    assert K.run_bytes(cfgs, 1, concurrent=False) == max(K.structural_bytes(c, 1) for c in cfgs)
    limit = int((alone + together) / 2)
    args = ["figures", "p1_fig5", "p2_fig4", "--scale", "paper", "--cache", str(tmp_path / "c"),
            "--out", str(tmp_path / "o"), "--max-memory", str(limit)]
    err = _one_line_exit_2(args + ["--jobs", "2"], capsys, "use --jobs 1")
    assert "with 1 other recipe(s)" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()


def test_figures_memory_check_on_dask_counts_no_local_workers(capsys, tmp_path, monkeypatch):
    """With --backend dask the workers run elsewhere: --jobs (default: the local core count) neither adds local
    worker processes to the estimate nor is a remedy ('use --jobs 1' changed nothing on the cluster)."""
    from convergence._validate import format_bytes
    from convergence.experiments import costs as K
    from convergence.experiments.recipes import discover
    monkeypatch.chdir(ROOT)
    (r,) = [x for x in discover(ROOT) if x.name == "p1_fig5"]
    main_only = int(K.structural_bytes(r.config("paper"), 1))
    args = ["figures", "p1_fig5", "--scale", "paper", "--backend", "dask", "--scheduler", "tcp://127.0.0.1:1",
            "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o"), "--jobs", "8"]
    err = _one_line_exit_2(args + ["--max-memory", str(main_only - 1)], capsys, "dask workers not counted")
    # one byte short of the estimate: both print as the same GiB, so the message gives the bytes
    assert format_bytes(main_only) == format_bytes(main_only - 1)
    assert "--jobs" not in err and "smaller --scale" in err and f"needs about {main_only} bytes " in err


def test_figures_memory_refusal_on_dask_points_to_the_serial_joblib_run_when_that_fits(capsys, tmp_path, monkeypatch):
    """On dask the client holds every network recipe's data set at once; a serial joblib run holds one at a time. When
    that fits the limit, the refusal says so instead of only 'use a smaller --scale'."""
    from convergence.experiments import costs as K
    from convergence.experiments.recipes import discover
    monkeypatch.chdir(ROOT)
    found = {r.name: r for r in discover(ROOT)}
    cfgs = [found[n].config("paper") for n in ("p1_fig5", "p2_fig4")]
    serial = max(K.structural_bytes(c, 1) for c in cfgs)      # hand arithmetic: the larger recipe alone
    assert K.run_bytes(cfgs, 1, concurrent=False) == serial < K.run_bytes(cfgs, 1, concurrent=True)
    args = ["figures", "p1_fig5", "p2_fig4", "--scale", "paper", "--backend", "dask", "--scheduler",
            "tcp://127.0.0.1:1", "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")]
    err = _one_line_exit_2(args + ["--max-memory", str(int(serial))], capsys, "use --backend joblib --jobs 1")
    assert "smaller --scale" not in err
    err = _one_line_exit_2(args + ["--max-memory", str(int(serial) - 1)], capsys, "use a smaller --scale")
    assert "joblib" not in err


def test_figures_memory_refusal_at_quick_asks_for_memory_in_the_terms_of_the_limit(capsys, tmp_path, monkeypatch):
    """At the smallest scale nothing smaller remains: with --max-memory given the remedy is a larger one (freeing
    memory changes nothing there); the available memory is the other limit, where freeing memory helps."""
    monkeypatch.chdir(ROOT)
    args = ["figures", "p1_fig7", "--scale", "quick", "--jobs", "1", "--cache", str(tmp_path / "c"),
            "--out", str(tmp_path / "o")]
    err = _one_line_exit_2(args + ["--max-memory", "1M"], capsys, "raise --max-memory")
    assert "free memory" not in err
    monkeypatch.setattr("convergence.cli.figures.available_memory", lambda: 2**20)
    _one_line_exit_2(args, capsys, "free memory or give a larger --max-memory")


def test_figures_memory_limit_at_the_boundary(capsys, tmp_path, monkeypatch):
    """The run fits a --max-memory of exactly its estimate (the dry run makes the run's check) and is refused one byte
    below, with both numbers in bytes, since '153 MiB but --max-memory is 153 MiB' gave no reason."""
    from convergence.experiments import costs as K
    from convergence.experiments.recipes import discover
    monkeypatch.chdir(ROOT)
    (r,) = [x for x in discover(ROOT) if x.name == "p1_fig7"]
    # hand arithmetic from the documented model: one job, the main process, the raw set and the data set once
    need = int(K.MAIN_PROCESS_BYTES + K.RAW_DATA_BYTES + K.network_bytes(r.config("quick")))
    args = ["figures", "p1_fig7", "--scale", "quick", "--jobs", "1", "--cache", str(tmp_path / "c"),
            "--out", str(tmp_path / "o")]
    assert main(args + ["--dry-run", "--max-memory", str(need)]) == 0
    assert "memory: the run needs about" in capsys.readouterr().out
    err = _one_line_exit_2(args + ["--max-memory", str(need - 1)], capsys, "--max-memory")
    assert f"needs about {need} bytes but --max-memory is {need - 1} bytes" in err
    assert not (tmp_path / "o").exists() and not (tmp_path / "c").exists()


# -- Ctrl-C in a real process ------------------------------------------------------------------

def _interrupt(argv: list[str], cwd: Path, marker: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Start ``python -m convergence argv``, wait for ``marker`` in its output, send SIGINT."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", **(env or {})}
    p = subprocess.Popen([sys.executable, "-u", "-m", "convergence", *argv], cwd=cwd, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        deadline = time.monotonic() + 120
        for line in p.stdout:   # type: ignore[union-attr]
            seen.append(line)
            if marker in line or time.monotonic() > deadline:
                break
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        rest, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    return p.returncode, "".join(seen) + rest


@pytest.mark.parametrize("cmd", ["simulate", "train", "transfer", "figures"])
def test_sigint_stops_with_one_line_saying_what_was_kept(cmd, tmp_path):
    if cmd == "simulate":
        argv, marker = ["simulate", "--algorithm", "analog-sgd", "--lr", "0.01", "--objective", "quadratic:d=50",
                        "--steps", "100000000", "--trials", "50", "--progress"], "simulate"
        kept = "nothing was kept"
    elif cmd == "train":
        root = _fake_mnist(tmp_path / "d", n_train=2000, n_test=10)
        argv, marker = ["train", "--dataset", "mnist", "--data-dir", str(root), "--epochs", "100000", "--batch", "1",
                        "--checkpoint", str(tmp_path / "ck")], "FCN / digital"
        kept = "--resume"
    elif cmd == "transfer":
        argv, marker = ["transfer", "--synthetic", "--scale", "paper"], "estimated peak memory"
        kept = "cache"
    else:
        argv, marker = ["figures", "p1_fig1", "--scale", "paper", "--force", "--jobs", "1", "--no-progress",
                        "--cache", str(tmp_path / "c"), "--out", str(tmp_path / "o")], "[1/1]"
        kept = "rerun the same command"
    code, out = _interrupt(argv, ROOT if cmd == "figures" else tmp_path, marker,
                           env={"CONVERGENCE_CACHE": str(tmp_path / "swin")})
    lines = [ln for ln in out.splitlines() if "interrupted" in ln]
    assert code == 130, out[-2000:]
    assert len(lines) == 1 and kept in lines[0] and "Traceback" not in out, out[-2000:]


# -- concurrency ---------------------------------------------------------------------------------

TINY = '''
"""Tiny recipe for the concurrency test."""
import numpy as np

NAME = "tiny"
TITLE = "tiny"
PAPER = "P1 Fig. 0"
SEED = 3
SCALES = {"quick": {"n": 3}, "default": {"n": 3}, "paper": {"n": 3}}

def compute(cfg, seed):
    return {"y": np.random.default_rng(seed).standard_normal(cfg["n"])}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(data["y"])
    return fig

def claims(data, cfg):
    return [{"id": "tiny.finite", "statement": "y is finite", "prediction": "finite", "measured": float(data["y"][0]),
             "uncertainty": 0.0, "verdict": "holds", "paper": PAPER}]
'''


def test_two_figures_commands_on_one_cache_and_output_both_succeed(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "tiny.py").write_text(TINY)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    argv = [sys.executable, "-m", "convergence", "figures", "tiny", "--scale", "quick", "--force", "--jobs", "1",
            "--no-progress", "--no-errata", "--cache", "c", "--out", "o"]
    procs = [subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, (out, err)
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report   # complete, parseable
    assert (tmp_path / "o" / "figures" / "tiny.png").stat().st_size > 1000
    assert not [f for f in (tmp_path / "o").rglob("*") if f.suffix in (".part", ".tmp") or ".tmp" in f.name]


# -- strict JSON ---------------------------------------------------------------------------------

def _strict(text: str):
    def refuse(constant):
        raise AssertionError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def test_json_text_never_emits_nan_or_infinity():
    from convergence._validate import json_text
    doc = _strict(json_text({"a": float("nan"), "b": [np.inf, np.float32(-np.inf), 1.5], "c": np.arange(2),
                             "d": np.bool_(True)}))
    assert doc == {"a": None, "b": [None, None, 1.5], "c": [0, 1], "d": True}


def test_json_outputs_are_strict_and_carry_a_status(capsys):
    assert main(["simulate", "--algorithm", "digital-sgd", "--lr", "5", "--objective", "quadratic:d=2,L=1",
                 "--steps", "2000", "--init", "1", "--json"]) == 0
    doc = _strict(capsys.readouterr().out)
    assert doc["status"]["nonfinite"] == 1 and doc["tail"]["loss"]["mean"] is None   # overflowed: null, not NaN
    assert main(["device", "softbounds:tau=inf", "--json"]) == 0
    doc = _strict(capsys.readouterr().out)
    assert doc["status"] == "ok" and doc["w_min"] is None and doc["w_max"] is None


def test_proofs_json_has_a_status(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["proofs", "--only", "d09", "--json"]) == 0
    assert _strict(capsys.readouterr().out)["status"] == "ok"


# -- simulate: options the algorithm would ignore, ranges a run cannot start in, diverged runs --------------------

_SIM = ["simulate", "--objective", "quadratic:d=2", "--steps", "50", "--trials", "2"]


@pytest.mark.parametrize("extra, needle", [
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--gamma", "0.5"], "--gamma: not used by --algorithm analog-sgd"),
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--lr-fast", "3", "--read-noise", "2"], "--lr-fast, --read-noise"),
    (["--algorithm", "digital-sgd", "--lr", "0.1", "--device", "softbounds:tau=2"], "--device: not used"),
    (["--algorithm", "digital-sgd", "--lr", "0.1", "--pulsed", "dw_min=0.01,bl=5"], "--pulsed: not used"),
])
def test_simulate_names_the_options_the_algorithm_does_not_use(extra, needle, capsys):
    """They used to be ignored silently. A note, not an error: one command line looped over the algorithms (the
    teaching page's) is the natural comparison."""
    assert main(_SIM + extra) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "note: " in err and needle in err, err


@pytest.mark.parametrize("extra, needle", [
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--variation", "sym_skew=5"], "outside the realised range"),
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--pulsed", "dw_min=5,bl=10"], "dw_min = 5 is too large"),
    (["--algorithm", "tiki-taka", "--lr", "0.1", "--device", "softbounds:tau=2", "--device-fast",
      "softbounds:tau=0.5", "--pulsed", "dw_min=0.6,bl=10"], "must be below 0.5"),
])
def test_simulate_refuses_what_it_cannot_run(extra, needle, capsys):
    """A variation that moved every trial's range away from the initial weights ran to all-NaN results; a pulse
    larger than the device's range ran with NaN warnings."""
    _one_line_exit_2(_SIM + extra, capsys, needle)


def test_simulate_reports_a_run_whose_metrics_overflow_as_nonfinite(capsys):
    """lr 3 on f = w²/2 doubles |w| every step: after 1000 steps the weights are still finite (about 2¹⁰⁰⁰) but
    f and ‖∇f‖² overflowed; such trials used to count as ok and their inf entered the statistics, with numpy
    overflow warnings on stderr."""
    argv = ["simulate", "--algorithm", "digital-sgd", "--objective", "quadratic:d=1,w_star=0.5", "--noise",
            "gaussian:sigma=0.5", "--lr", "3", "--steps", "1000", "--trials", "8"]
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert "status: ok 0, nonfinite 8" in out and "no trial ended ok (8 nonfinite)" in out, out
    assert err == ""


def test_resume_of_a_finished_run_says_there_is_nothing_to_train(tmp_path, capsys):
    """It printed only the header and exited 0, as if a run had happened."""
    root = _fake_mnist(tmp_path)
    base = ["train", "--dataset", "mnist", "--data-dir", str(root), "--checkpoint", str(tmp_path / "ck"),
            "--n-test", "10", "--n-train", "20", "--epochs", "1"]
    assert main(base) == 0
    capsys.readouterr()
    assert main(base + ["--resume"]) == 0
    assert "nothing to train: the checkpoint already holds 1 epoch(s) of --epochs 1" in capsys.readouterr().out


def test_version_and_a_device_whose_every_point_is_symmetric(capsys):
    assert main(["--version"]) == 0 and "0.1.0" in capsys.readouterr().out
    assert main(["device", "ideal"]) == 0
    assert "every point symmetric (G = 0" in capsys.readouterr().out      # it printed "symmetric point 0"
    assert main(["device", "softbounds:tau=1"]) == 0
    assert "symmetric point 0, F(w_sym) = 1" in capsys.readouterr().out


def test_transfer_without_data_names_what_it_can_use(tmp_path, capsys, monkeypatch):
    """It suggested `convergence data fetch-mnist`, which cannot help the transfer study (Fashion-MNIST or CIFAR)."""
    from convergence.nn import data as D
    monkeypatch.setenv("CONVERGENCE_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(D, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    assert main(["transfer", "--scale", "quick", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "fetch-mnist" not in err, err
    assert "Fashion-MNIST, or CIFAR-10 and CIFAR-100" in err and "--synthetic" in err and "apt-get" in err, err
