"""CLI contract: JSON fields, one-line errors with exit code 2, device plots, determinism."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from convergence.cli.main import main
from convergence.theory.meanfield import digital_sgd_floor

BASE = ["simulate", "--objective", "quadratic:d=1,L=1,w_star=0.5", "--noise", "gaussian:sigma=0.5"]


def run_json(capsys, args):
    assert main(args + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_simulate_json_contract(capsys):
    out = run_json(capsys, BASE + ["--algorithm", "tiki-taka", "--device", "softbounds:tau=0.8", "--lr", "0.05",
                                   "--lr-fast", "0.02", "--gamma", "0.1", "--transfer-every", "2",
                                   "--steps", "400", "--trials", "16", "--seed", "3"])
    for key in ("config", "tail", "status"):
        assert key in out
    tail = out["tail"]
    assert set(tail["grad_norm_sq"]) == {"mean", "stderr"} and set(tail["loss"]) == {"mean", "stderr"}
    assert isinstance(tail["mean_grad_norm_sq"], float) and len(tail["w_mean"]) == len(tail["w_stderr"]) == 1
    assert 0 < tail["w_stderr"][0] < 0.1
    alg = out["config"]["algorithm"]
    assert alg["name"] == "tiki-taka" and alg["lr_fast"] == 0.02 and alg["lr_transfer"] == 0.05
    assert alg["gamma"] == 0.1 and alg["transfer_every"] == 2 and alg["device"]["tau"] == 0.8
    assert out["config"]["trials"] == 16 and out["status"]["ok"] == 16


def test_simulate_digital_sgd_floor_through_the_cli(capsys):
    out = run_json(capsys, BASE + ["--algorithm", "digital-sgd", "--lr", "0.1", "--steps", "3000",
                                   "--trials", "400", "--trial-block", "400"])
    pred = digital_sgd_floor(0.1, 1.0, 0.5)[1]
    g = out["tail"]["grad_norm_sq"]
    assert abs(g["mean"] - pred) < 4 * g["stderr"]


def test_same_seed_identical_json(capsys):
    args = BASE + ["--algorithm", "analog-sgd", "--lr", "0.1", "--pulsed", "dw_min=0.01,bl=20", "--steps", "200",
                   "--trials", "8", "--seed", "7"]
    a, b = run_json(capsys, args), run_json(capsys, args)
    a.pop("seconds"), b.pop("seconds")
    assert a == b


def test_gradient_is_evaluated_at_the_presented_weights(capsys):
    """With gamma the presented weights are W + gamma P; tail w_mean reports those."""
    out = run_json(capsys, ["simulate", "--objective", "quadratic:d=1,L=1,w_star=0.5", "--noise", "none",
                            "--algorithm", "tiki-taka", "--lr", "0.1", "--gamma", "0.5", "--steps", "3000"])
    # noise-free residual learning converges: the presented weights reach w* and the gradient vanishes
    assert abs(out["tail"]["w_mean"][0] - 0.5) < 1e-3
    assert out["tail"]["grad_norm_sq"]["mean"] < 1e-6


def test_human_readable_output(capsys):
    assert main(BASE + ["--algorithm", "analog-sgd", "--lr", "0.1", "--steps", "50", "--trials", "4"]) == 0
    text = capsys.readouterr().out
    assert "E||grad f||^2" in text and "status: ok 4" in text
    assert " ± nan" not in text and "raise --trials" not in text
    mean_w = next(line for line in text.splitlines() if "mean W" in line)
    assert "] ± [" in mean_w and mean_w.endswith("] (stderr)")


def test_one_trial_says_why_there_is_no_standard_error(capsys):
    # the default is one trial: its standard error is undefined, which the table says instead of "± nan"
    assert main(BASE + ["--algorithm", "analog-sgd", "--lr", "0.1", "--steps", "50"]) == 0
    text = capsys.readouterr().out
    assert "nan" not in text and text.count("± n/a (stderr)") == 3
    assert "a standard error needs at least 2 trials that end ok: raise --trials" in text


@pytest.mark.parametrize("args, needle", [
    (["--algorithm", "analog-sgd", "--device", "softbounds:tua=1", "--lr", "0.1"], "tua"),
    (["--algorithm", "analog-sgd", "--device", "softbounds:tau=-1", "--lr", "0.1"], "tau"),
    (["--algorithm", "analog-sgd", "--device", "nodevice", "--lr", "0.1"], "nodevice"),
    (["--algorithm", "analog-sgd", "--device", "softbounds:tau", "--lr", "0.1"], "key=value"),
    (["--algorithm", "analog-sgd", "--lr", "-0.1"], "--lr"),
    (["--algorithm", "analog-sgd"], "--lr"),
    (["--algorithm", "tiki-taka", "--lr", "0.1", "--transfer-every", "0"], "transfer-every"),
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--pulsed", "bl=3"], "dw_min"),
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--pulsed", "dw_min=abc"], "dw_min"),
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--variation", "sym_dtod=-1"], "sym_dtod"),
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--init", "1,2"], "--init"),
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--init", "5"], "outside the range [-1, 1]"),   # tau = 1 default
    (["--algorithm", "tiki-taka", "--lr", "0.1", "--device", "linear:tau=1,c=0.3", "--init", "-1.5"], "--init"),
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--tail", "0"], "--tail"),
    (["--algorithm", "analog-sgd", "--lr", "0.1", "--trials", "0"], "--trials"),
    (["--algorithm", "adam", "--lr", "0.1"], "adam"),
    (["--algorithm", "analog-sgd", "--lr", "x"], "--lr"),
])
def test_bad_input_exits_2_with_one_line_naming_the_field(capsys, args, needle):
    full = ["simulate", "--objective", "quadratic:d=1", "--noise", "gaussian:sigma=0.1", "--steps", "5"] + args
    assert main(full) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err


@pytest.mark.parametrize("spec, needle", [("quadratic:d=1,L=0", "L"), ("lsq:d=x", "d"), ("ridge", "ridge")])
def test_bad_objective_spec(capsys, spec, needle):
    assert main(["simulate", "--algorithm", "digital-sgd", "--lr", "0.1", "--steps", "5", "--objective", spec]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_bad_noise_spec(capsys):
    assert main(BASE[:3] + ["--noise", "gaussian:sigma=-2", "--algorithm", "digital-sgd", "--lr", "0.1",
                            "--steps", "5"]) == 2
    assert "sigma" in capsys.readouterr().err


def test_device_command_writes_a_plot_and_reports_the_symmetric_point(tmp_path, capsys):
    out = tmp_path / "dev.png"
    assert main(["device", "linear:tau=3.5,c=0.2", "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["symmetric_point"] == pytest.approx(0.7) and info["F_at_sym"] == pytest.approx(0.96)
    assert out.stat().st_size > 5000 and out.read_bytes()[:4] == b"\x89PNG"
    assert main(["device", "power:tau=1,gamma=0"]) == 2


def test_a_device_without_a_symmetric_point_says_so_instead_of_nan(capsys):
    # constant step with up_down = 0.1: q+ = 1, q- = 0.9, so G = -0.05 everywhere (README: "none if u != 0")
    assert main(["device", "constant:up_down=0.1"]) == 0
    text = capsys.readouterr().out
    assert "nan" not in text and "no symmetric point (G is nonzero in the whole range)" in text
    assert main(["device", "constant:up_down=0"]) == 0
    assert "every point symmetric (G = 0; 0 by convention), F = 1" in capsys.readouterr().out   # constant steps


def test_a_bad_device_spec_names_the_argument_it_came_from(capsys):
    # `convergence device` takes its spec positionally (there is no --device option there); the fast array's
    # device of tiki-taka is --device-fast
    assert main(["device", "constant:up_down=2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("convergence device: error: device spec: up_down") and len(err.splitlines()) == 1
    assert main(["simulate", "--algorithm", "tiki-taka", "--lr", "0.1", "--objective", "quadratic:d=1", "--steps", "3",
                 "--device-fast", "softbounds:tau=-1"]) == 2
    assert "error: --device-fast: tau must be > 0" in capsys.readouterr().err


def test_python_dash_m_entry_point():
    res = subprocess.run([sys.executable, "-m", "convergence", "device", "softbounds:tau=0.8"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert res.returncode == 0 and "softbounds" in res.stdout


def test_an_initial_weight_on_the_bound_is_accepted_and_digital_sgd_has_no_range(capsys):
    base = ["simulate", "--objective", "quadratic:d=1", "--steps", "5", "--lr", "0.1"]
    assert main(base + ["--algorithm", "analog-sgd", "--init", "-1"]) == 0      # softbounds:tau=1: range [-1, 1]
    assert main(base + ["--algorithm", "digital-sgd", "--init", "5"]) == 0
    assert "status: ok 1," in capsys.readouterr().out
