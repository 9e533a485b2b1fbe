"""Refusals with one line (exit 2), memory estimates, checkpoint and cache integrity, valid JSON, interrupts."""
from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from convergence import _validate as V
from convergence.cli import main as cli
from convergence.cli.main import main
from convergence.nn import checkpoint as C

# -- the validation boundary ------------------------------------------------------------------


@pytest.mark.parametrize("text", ["inf", "-inf", "nan", "1e400", "1.5", "1_0", "0x10", "\uff11", "", "abc"])
def test_integer_refuses_with_the_range(text):
    with pytest.raises(V.ConfigError, match=r"^d must be an integer in \[1, 100\]"):
        V.integer("d", text, minimum=1, maximum=100)


def test_integer_accepts_integral_spellings():
    assert V.integer("d", "1e3") == 1000 and V.integer("d", " 42 ") == 42 and V.integer("d", 7.0) == 7
    assert V.integer("d", str(2**63 - 1)) == 2**63 - 1
    with pytest.raises(V.ConfigError):
        V.integer("d", str(2**63))


def test_number_refuses_overflowing_literals_but_allows_spelled_inf_when_asked():
    with pytest.raises(V.ConfigError, match="overflows"):
        V.parse_number("tau", "1e400", allow_inf=True)
    assert V.parse_number("tau", "inf", allow_inf=True) == float("inf")
    with pytest.raises(V.ConfigError, match="finite"):
        V.parse_number("tau", "nan", allow_inf=True)


def test_byte_size():
    assert V.byte_size("m", "2G") == 2 << 30 and V.byte_size("m", "500M") == 500 << 20 and V.byte_size("m", "10") == 10
    # what the toolkit prints (format_bytes) reads back: refusals and --dry-run say "1.5 GiB"
    for n in (3 << 10, 5 << 20, 3 << 30, 2 << 40):
        assert V.byte_size("m", V.format_bytes(n)) == n
    for bad in ("0", "-1G", "infG", "2X", ""):
        with pytest.raises(V.ConfigError):
            V.byte_size("m", bad)


def test_output_file_checks_folder_extension_and_directory(tmp_path):
    assert V.output_file("--out", tmp_path / "a.png", ("png",)) == str(tmp_path / "a.png")
    for path, msg in ((tmp_path / "a.xyz", "unsupported file type"), (tmp_path / "missing" / "a.png", "does not exist"),
                      (tmp_path, "is a folder")):
        with pytest.raises(V.ConfigError, match=msg):
            V.output_file("--out", path, ("png",))


# -- one line, exit 2, for every subcommand --------------------------------------------------

SIM = ["simulate", "--algorithm", "analog-sgd", "--lr", "0.1", "--steps", "5"]


@pytest.mark.parametrize("argv, needle", [
    (SIM + ["--objective", "quadratic:d=inf"], "d must be an integer"),
    (SIM + ["--objective", "lsq:seed=1e400"], "seed must be an integer"),
    (SIM + ["--objective", "quadratic:d=1", "--noise", "minibatch:batch=inf"], "batch must be an integer"),
    (SIM + ["--objective", "quadratic:d=1", "--pulsed", "dw_min=0.01,bl=inf"], "bl must be an integer"),
    (SIM + ["--objective", "quadratic:d=1", "--seed", "-1"], "--seed"),
    (["train", "--seed", "-1"], "--seed"),
    (["train", "--batch", "0"], "--batch"),
    (["train", "--n-train", "-5"], "--n-train"),
    (["transfer", "--seed", "-1"], "--seed"),
    (["transfer", "--out", "x.xyz"], "unsupported file type"),
    (["device", "softbounds", "--out", "x.xyz"], "unsupported file type"),
    (["check", "digital-sgd", "--pulsed", "dw_min=0.01"], "digital-sgd"),
])
def test_bad_input_is_one_line_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


def test_missing_data_dir_never_falls_back(tmp_path, capsys):
    assert main(["train", "--data-dir", str(tmp_path / "nope"), "--n-train", "10"]) == 2
    assert "--data-dir" in capsys.readouterr().err
    assert main(["train", "--data-dir", str(tmp_path), "--n-train", "10"]) == 2   # exists but holds no IDX files
    assert "No MNIST or Fashion-MNIST IDX files in --data-dir" in capsys.readouterr().err


def test_device_out_folder_is_refused_not_renamed(tmp_path, capsys):
    assert main(["device", "softbounds", "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert not (tmp_path.parent / (tmp_path.name + ".png")).exists()


def test_check_factory_raising_anything_is_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "facmod.py").write_text("def f(lr, device, *, mode=None):\n    raise RuntimeError('boom')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "facmod:f"]) == 2
    err = capsys.readouterr().err
    assert "RuntimeError: boom" in err and len(err.strip().splitlines()) == 1


def test_proofs_folder_with_a_syntax_error(tmp_path, capsys):
    (tmp_path / "proofs_checks").mkdir()
    (tmp_path / "proofs_checks" / "p_bad.py").write_text("def check_x(:\n")
    assert main(["proofs", "--dir", str(tmp_path)]) == 2
    assert "p_bad.py line 1 cannot be imported: SyntaxError" in capsys.readouterr().err


# -- resource estimates -----------------------------------------------------------------------

@pytest.mark.parametrize("extra, needle", [
    (["--objective", "quadratic:d=1e12"], "for its data"),
    (["--objective", "lsq:d=200000,n=200000"], "for its data"),
    (["--objective", "quadratic:d=2", "--trials", "4000000000"], "fewer --trials"),
    (["--objective", "quadratic:d=1", "--steps", "10000000", "--record-every", "1", "--max-memory", "100M"],
     "--record-every"),
])
def test_huge_runs_are_refused_before_allocating(extra, needle, capsys, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("simulate must not start")
    monkeypatch.setattr(cli, "simulate", boom)
    assert main(["simulate", "--algorithm", "analog-sgd", "--lr", "0.1", "--steps", "5", *extra]) == 2
    assert needle in capsys.readouterr().err


def test_default_record_every_bounds_the_recording(capsys, monkeypatch):
    seen = {}

    def fake(*a, record_every, **k):
        seen["record_every"] = record_every
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "simulate", fake)
    assert main(["simulate", "--algorithm", "digital-sgd", "--lr", "0.1", "--objective", "quadratic:d=1",
                 "--steps", "20000000"]) == 130
    assert seen["record_every"] == 2000          # 2e7 steps / 1e4 records
    assert "interrupted" in capsys.readouterr().err


def test_slow_pulse_loop_warns_once(capsys, monkeypatch):
    monkeypatch.setattr(cli, "simulate", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["simulate", "--algorithm", "analog-sgd", "--lr", "0.1", "--objective", "quadratic:d=10",
                 "--device", "power:tau=1,gamma=0.5", "--pulsed", "dw_min=1e-9", "--steps", "10",
                 "--noise", "gaussian:sigma=1"]) == 130
    err = capsys.readouterr().err
    assert err.count("warning: pulsed mode") == 1 and "bl=1000000" in err


# -- interrupts ---------------------------------------------------------------------------------

def test_interrupt_is_one_line_exit_130_naming_the_checkpoint(capsys, monkeypatch):
    from convergence.cli import train as cli_train
    monkeypatch.setattr(cli_train, "run", lambda args: (_ for _ in ()).throw(KeyboardInterrupt))
    monkeypatch.setitem(main.__globals__, "cli_nn", cli_train)
    assert main(["train", "--checkpoint", "ck"]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "ck.npz" in err[0] and "--resume" in err[0]


# -- checkpoints ----------------------------------------------------------------------------------

def _net(kind: str = "digital", seed: int = 0, n_out: int = 3):
    from convergence.nn import optim as O
    from convergence.nn.model import fcn
    from convergence.physics.devices import SoftBounds

    def make(name, shape):
        return O.DigitalSGD() if kind == "digital" else O.AnalogSGD(SoftBounds(1.0))
    return fcn(make, sizes=(4, 6, n_out), seed=seed)


@pytest.fixture
def net_factory():
    return _net


def test_torn_checkpoint_pair_is_detected(tmp_path, net_factory):
    a, b = net_factory(seed=0), net_factory(seed=1)
    C.save_checkpoint(tmp_path / "ck", a, {"epoch": 0})
    old_json = (tmp_path / "ck.json").read_text()
    C.save_checkpoint(tmp_path / "ck", b, {"epoch": 1})
    (tmp_path / "ck.json").write_text(old_json)          # a crash between the two renames
    with pytest.raises(V.ConfigError, match="corrupt or torn"):
        C.load_checkpoint(tmp_path / "ck", net_factory())


def test_corrupt_checkpoint_is_refused(tmp_path, net_factory):
    C.save_checkpoint(tmp_path / "ck", net_factory(), {"epoch": 0})
    raw = (tmp_path / "ck.npz").read_bytes()
    (tmp_path / "ck.npz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(V.ConfigError, match="corrupt or torn"):
        C.load_checkpoint(tmp_path / "ck", net_factory())
    (tmp_path / "ck.json").write_text("{not json")
    with pytest.raises(V.ConfigError, match="not JSON"):
        C.load_checkpoint(tmp_path / "ck", net_factory())


def test_checkpoint_of_another_model_is_refused_naming_the_difference(tmp_path, net_factory):
    C.save_checkpoint(tmp_path / "ck", net_factory("digital"), {"epoch": 0})
    with pytest.raises(V.ConfigError, match="different model: .*optimizer"):
        C.load_checkpoint(tmp_path / "ck", net_factory("analog"))
    with pytest.raises(V.ConfigError, match="different model: .*n_out"):
        C.load_checkpoint(tmp_path / "ck", net_factory(n_out=5))


# -- Swin pretraining cache --------------------------------------------------------------------

@pytest.mark.parametrize("damage", ["truncate", "garbage", "edit"])
def test_swin_cache_is_verified_and_recomputed(damage, tmp_path):
    from convergence.swin import model as M, study as S
    cfg = M.SwinConfig(img=16, patch=4, embed=8, depths=(2,), heads=(2,), window=2, n_classes=5)
    task = S.synthetic_task(20, 10, img=16)
    pre = {"epochs": 1, "lr": 1e-3, "batch": 10, "seed": 0}
    p1, _ = S.pretrained(cfg, task, pre, "syn", cache_root=tmp_path)
    f = next(tmp_path.glob("swin_pretrain-*.npz"))
    if damage == "truncate":
        f.write_bytes(f.read_bytes()[:200])
    elif damage == "garbage":
        f.write_bytes(b"garbage" * 40)
    else:
        with np.load(f) as z:
            arrays = {k: z[k] for k in z.files}
        key = sorted(k for k in arrays if not k.startswith("__"))[0]
        arrays[key] = arrays[key] + 1.0
        np.savez(f, **arrays)
    notes = []
    p2, hit = S.pretrained(cfg, task, pre, "syn", cache_root=tmp_path, progress=notes.append)
    assert not hit and any("not usable" in n for n in notes)
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])       # recomputed deterministically
    assert S.pretrained(cfg, task, pre, "syn", cache_root=tmp_path)[1]   # and the repaired file is used


# -- JSON ------------------------------------------------------------------------------------------

def test_history_json_of_a_diverged_run_is_valid_and_has_no_accuracy():
    from convergence.cli.train import history_json
    hist = {"epoch": np.array([0.0, 1.0]), "lr": np.array([1.0, 1.0]), "train_loss": np.array([0.5, np.nan]),
            "test_loss": np.array([0.4, np.inf]), "test_acc": np.array([0.8, 0.1]), "diverged": np.asarray(1)}
    doc = json.loads(json.dumps(history_json("mnist", {}, hist), allow_nan=False))
    assert doc["status"] == "diverged" and doc["test_acc"] == [0.8, None] and doc["train_loss"] == [0.5, None]


def test_idx_header_product_does_not_overflow():
    from convergence.nn.data import DataError, parse_idx
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3i", 2**31 - 1, 2**31 - 1, 2**31 - 1)
    with pytest.raises(DataError, match="data bytes follow"):
        parse_idx(raw, "x")
