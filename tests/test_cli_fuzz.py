"""Fuzz the CLI in-process: every input ends with exit code 0 or 2 and never a traceback.

Hypothesis draws spec strings and argument lists (non-finite numbers, huge integers, unicode, empty
strings) and runs them through ``convergence.cli.main.main(argv)``. Runs stay tiny: few steps and
trials, and ``--max-memory 8M`` so a huge size is refused by the estimate without allocating.
A corpus of corrupt data files, generated in ``tmp_path``, is checked the same way.
"""
from __future__ import annotations

import gzip
import socket
import struct

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402 - only after the importorskip

from convergence.cli.main import main  # noqa: E402 - kept below the importorskip with the other imports

NASTY = ["inf", "-inf", "nan", "1e400", "-1e400", "1e12", "4000000000", "99999999999999999999999", "-1", "0",
         "1.5", "", " ", "abc", "\u0669", "\uff11", "1_0", "0x10", "2", "0.5", "1e-400", "\u00e9\u00e8", "\x00"]
SPEC_KEYS = {
    "quadratic": ["d", "L", "mu", "w_star", "bogus"],
    "lsq": ["d", "n", "seed", "bogus"],
    "logistic": ["d", "n", "seed"],
    "twolayer": ["p", "h", "n", "seed"],
}
NOISE_KEYS = {"none": [], "gaussian": ["sigma"], "twopoint": ["sigma", "tau"], "minibatch": ["batch"]}
PULSED_KEYS = ["dw_min", "bl", "c2c", "rounding", "bogus"]
FUZZ = settings(max_examples=60, deadline=20000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _value() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(NASTY), st.text(max_size=6),
                     st.integers(-10**30, 10**30).map(str), st.floats(allow_nan=True).map(repr))


def _spec(names: dict[str, list[str]]) -> st.SearchStrategy[str]:
    def build(name: str) -> st.SearchStrategy[str]:
        keys = names.get(name, ["x"])
        items = st.lists(st.tuples(st.sampled_from(keys or ["x"]), _value()), max_size=3)
        return items.map(lambda kv: name + (":" + ",".join(f"{k}={v}" for k, v in kv) if kv else ""))
    return st.one_of(st.sampled_from(sorted(names) + ["bogus", ""]).flatmap(build), st.text(max_size=12))


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err
    assert not any(line.startswith("Traceback") for line in err.splitlines()), (argv, err)
    assert code in (0, 2), (argv, code, err)
    if code == 2:
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, (argv, err)
    return code, err


TINY = ["--steps", "3", "--max-memory", "8M", "--trials", "2"]


@FUZZ
@given(obj=_spec(SPEC_KEYS), noise=_spec(NOISE_KEYS))
def test_fuzz_objective_and_noise_specs(obj, noise, capsys):
    run(["simulate", "--algorithm", "analog-sgd", "--lr", "0.1", "--objective", obj, "--noise", noise, *TINY], capsys)


@FUZZ
@given(pulsed=st.lists(st.tuples(st.sampled_from(PULSED_KEYS), _value()), max_size=4)
       .map(lambda kv: ",".join(f"{k}={v}" for k, v in kv)),
       variation=st.one_of(st.none(), st.lists(st.tuples(st.sampled_from(["dw_min_dtod", "sym_skew", "x"]), _value()),
                                               max_size=2).map(lambda kv: ",".join(f"{k}={v}" for k, v in kv))))
def test_fuzz_pulsed_and_variation(pulsed, variation, capsys):
    argv = ["simulate", "--algorithm", "analog-sgd", "--lr", "0.01", "--objective", "quadratic:d=2", "--pulsed", pulsed,
            *TINY]
    run(argv + (["--variation", variation] if variation is not None else []), capsys)


FLAGS = ["--trials", "--steps", "--seed", "--lr", "--tail", "--record-every", "--init", "--max-memory",
         "--trial-block", "--gamma", "--transfer-every", "--lr-fast"]


@FUZZ
@given(alg=st.sampled_from(["digital-sgd", "analog-sgd", "tiki-taka", "bogus", ""]),
       flags=st.lists(st.tuples(st.sampled_from(FLAGS), _value()), max_size=4))
def test_fuzz_simulate_arguments(alg, flags, capsys):
    argv = ["simulate", "--algorithm", alg, "--objective", "quadratic:d=2", "--lr", "0.1", "--steps", "3",
            "--max-memory", "8M"]
    for flag, value in flags:
        if flag == "--steps" and value not in NASTY[:10] and value.strip().isdigit() and int(value) > 1000:
            value = "1000"   # an accepted huge step count would run for hours: keep accepted runs tiny
        argv += [flag, value]
    run(argv, capsys)


BAD = ["inf", "-inf", "nan", "1e400", "-1", "", "abc", "\uff11", "1_0", "1.5x", "\x00"]
#: per command: the arguments before a flag that no value from BAD satisfies
FIRST = {"device": ["device", "softbounds", "--out"], "check": ["check", "analog-sgd", "--k"],
         "demo": ["demo", "bias", "--trials"], "train": ["train", "--batch"], "transfer": ["transfer", "--seed"],
         "figures": ["figures", "--jobs"], "proofs": ["proofs", "--dir"], "errata": ["errata", "--dir"],
         "data": ["data", "--data-dir"], "simulate": ["simulate", "--algorithm", "analog-sgd", "--steps"]}


@FUZZ
@given(cmd=st.sampled_from(sorted(FIRST)), bad=st.sampled_from(BAD),
       flags=st.lists(st.tuples(st.sampled_from(["--seed", "--trials", "--steps", "--k", "--batch", "--epochs",
                                                 "--n-train", "--jobs", "--tau", "--budget", "--pulsed", "--claims",
                                                 "--lr", "--sigma"]), _value()), max_size=3))
def test_fuzz_every_subcommand_refuses_bad_values(cmd, bad, flags, capsys, tmp_path):
    """One value is bad for its flag; whatever else is given, the command stops with exit code 2 and
    one line before starting work."""
    argv = FIRST[cmd] + [bad if cmd not in ("proofs", "errata", "data") else str(tmp_path / ("missing" + bad))]
    for flag, value in flags:
        argv += [flag, value]
    if cmd == "train":
        argv += ["--data-dir", str(tmp_path / "missing")]
    code, _ = run(argv, capsys)
    assert code == 2


@pytest.fixture
def offline(monkeypatch):
    """No network: every host name fails to resolve, as on a machine without a connection."""
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (offline test)")
    monkeypatch.setattr(socket, "getaddrinfo", fail)


@FUZZ
@given(action=st.sampled_from(["fetch-mnist", "status", "bogus", ""]),
       sub=st.one_of(st.sampled_from(["", " ", "x", "a/b", "\x00", "\udcff", "\ud800", "."]), st.text(max_size=8)))
def test_fuzz_data_command_offline(action, sub, capsys, tmp_path, offline):
    """``data fetch-mnist`` without a network fails with one line (exit 2) naming what to do; ``status``
    and bad folders are one line too."""
    argv = ["data", action, "--data-dir", sub if sub.strip() in ("", ".") else str(tmp_path / "d" / sub)]
    code, err = run(argv, capsys)
    if action == "fetch-mnist":
        assert code == 2
        assert ("could not download" in err or "--data-dir" in err or "path" in err or "File exists" in err
                or "Not a directory" in err), err


@FUZZ
@given(flags=st.lists(st.tuples(st.sampled_from(["--scale", "--seed", "--out", "--max-memory", "--quiet"]), _value()),
                      max_size=4))
def test_fuzz_transfer_arguments(flags, capsys, tmp_path, monkeypatch):
    """Whatever the flags, the command validates them and (with a 1-byte memory cap last) stops before work."""
    monkeypatch.setenv("CONVERGENCE_CACHE", str(tmp_path / "cache"))
    argv = ["transfer", "--synthetic"]
    for flag, value in flags:
        argv += [flag] if flag == "--quiet" else [flag, value if flag != "--out" else str(tmp_path / value)]
    code, _ = run(argv + ["--max-memory", "1"], capsys)
    assert code == 2


# -- corrupt data files ---------------------------------------------------------------------

def _idx(arr: np.ndarray, typ: int = 0x08) -> bytes:
    return bytes([0, 0, typ, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + arr.astype(">u1").tobytes()


GOOD = {"train-images-idx3-ubyte": _idx(np.zeros((20, 28, 28))), "train-labels-idx1-ubyte": _idx(np.arange(20) % 10),
        "t10k-images-idx3-ubyte": _idx(np.zeros((10, 28, 28))), "t10k-labels-idx1-ubyte": _idx(np.arange(10) % 10)}
_GZ = gzip.compress(GOOD["train-images-idx3-ubyte"])
CORRUPT = {
    "truncated gzip": _GZ[: len(_GZ) // 2],
    "garbage after gzip magic": b"\x1f\x8b" + b"garbage" * 20,
    "negative dimension": bytes([0, 0, 8, 3]) + struct.pack(">3i", -20, 28, 28),
    "zero dimension": bytes([0, 0, 8, 3]) + struct.pack(">3i", 20, 0, 28),
    "zero images": bytes([0, 0, 8, 3]) + struct.pack(">3i", 0, 28, 28),
    "10x10 images": _idx(np.zeros((20, 10, 10))),
    "huge header": bytes([0, 0, 8, 3]) + struct.pack(">3i", 2**31 - 1, 2**31 - 1, 28),
    "empty file": b"",
    "bad magic": b"\x00\x00\x99\x03" + b"x" * 20,
    "float images": (bytes([0, 0, 0x0D, 3]) + struct.pack(">3i", 20, 28, 28)
                     + np.full((20, 28, 28), np.nan, ">f4").tobytes()),
    "truncated data": GOOD["train-images-idx3-ubyte"][:-100],
}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
def test_corrupt_idx_is_one_data_error_naming_the_file(kind, tmp_path, capsys):
    d = tmp_path / "mnist"
    d.mkdir()
    for name, raw in GOOD.items():
        (d / name).write_bytes(CORRUPT[kind] if name == "train-images-idx3-ubyte" else raw)
    code, err = run(["train", "--data-dir", str(tmp_path), "--dataset", "mnist", "--n-train", "10", "--n-test", "5"],
                    capsys)
    assert code == 2 and "train-images-idx3-ubyte" in err


def test_bad_labels_are_refused(tmp_path, capsys):
    d = tmp_path / "mnist"
    d.mkdir()
    for name, raw in GOOD.items():
        (d / name).write_bytes(_idx(np.arange(20) + 100) if name == "train-labels-idx1-ubyte" else raw)
    code, err = run(["train", "--data-dir", str(tmp_path), "--dataset", "mnist"], capsys)
    assert code == 2 and "0..9" in err
