"""The `convergence proofs` and `convergence errata` commands: exit codes, output, bad input."""
from __future__ import annotations

import json
import os
import sys
import textwrap

import pytest

from convergence.theory.bounds import BOUNDS
from convergence.cli.main import main
from convergence.theory.errata import ERRATA, get_erratum, math_errata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_errata_command_confirms_every_math_erratum(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["errata"]) == 0
    out = capsys.readouterr().out
    n = len(math_errata())
    assert f"{n}/{n} mathematical errata confirmed" in out
    assert out.count("[CONFIRMED]") == n
    # the factor-4 erratum prints both constants with the Monte Carlo number
    block = out.split("p1-thm3-factor4")[1].split("[CONFIRMED]")[0]
    assert "printed: 4 sigma^2 S" in block and "corrected: sigma^2 S" in block and "simulation" in block
    assert "0.83" in out and "0.36" in out                       # W^S sign example
    assert "[settings]" in out and "[code]" in out               # documentation findings listed too


def test_errata_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["errata", "--json", "--dir", ROOT]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(ERRATA)
    assert all(r["confirmed"] for r in rows if r["kind"] == "math")
    assert all(r["confirmed"] is None for r in rows if r["kind"] != "math")
    assert all(r["verdict"] == ("erratum confirmed" if r["kind"] == "math" else "noted") for r in rows)


def test_errata_catalogue_links_exist() -> None:
    for e in math_errata():
        assert os.path.exists(os.path.join(ROOT, "proofs_checks", e.check + ".py")), e.id
        for name in e.bounds:
            assert name in BOUNDS
    assert get_erratum("p2-ws-sign").bounds == ("p2.thm5.w_s", "p2.thm5.w_s_printed")
    with pytest.raises(KeyError):
        get_erratum("nope")


def test_proofs_subset_table_and_exit_code(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["proofs", "--only", "d04"]) == 0
    out = capsys.readouterr().out
    assert "d04_digital_sgd_floor" in out and "PASS" in out and "1 checks: 1 passed, 0 failed" in out
    assert main(["proofs", "--only", "d09", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["failed"] == 0 and data["checks"][0]["name"] == "d09_pulse_composition"
    row = data["checks"][0]     # the keys printed before the Claim record, and the record's own
    assert {"name", "claim", "source", "method", "passed", "details", "erratum", "seconds"} <= set(row)
    assert row["passed"] is True and row["verdict"] == "holds" and row["id"] == row["name"]


def test_proofs_outside_repo_root_exits_2(capsys: pytest.CaptureFixture[str], monkeypatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["proofs"]) == 2
    err = capsys.readouterr().err
    assert "repository root" in err and str(tmp_path) in err
    assert main(["errata"]) == 2
    assert main(["proofs", "--dir", ROOT, "--only", "no-such-check"]) == 2


def test_failing_and_crashing_checks_exit_1(capsys: pytest.CaptureFixture[str], monkeypatch, tmp_path) -> None:
    folder = tmp_path / "proofs_checks"
    folder.mkdir()
    (folder / "zz_demo_failing_check.py").write_text(textwrap.dedent('''
        """Claim: 1 = 2. Source: none. Method: sympy."""
        from convergence.theory.bounds import CheckOutcome
        def check_zz_demo_failing_check():
            return CheckOutcome("zz_demo_failing_check", "1 = 2", "none", "sympy", False, "1 != 2")
        def check_zz_demo_crashing_check():
            raise RuntimeError("boom")
    '''))
    monkeypatch.setattr(sys, "path", list(sys.path))
    for mod in [m for m in sys.modules if m == "proofs_checks" or m.startswith("proofs_checks.")]:
        monkeypatch.delitem(sys.modules, mod)
    assert main(["proofs", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL") == 2 and "RuntimeError: boom" in out and "1 != 2" in out
    assert "2 checks: 0 passed, 2 failed" in out
