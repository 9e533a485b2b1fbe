"""CLI contract of ``convergence check``: table / JSON output, exit codes 0 / 1 / 2, user modules in the cwd."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from convergence.cli.main import main


def test_json_output_and_exit_0_for_analog_sgd(capsys):
    rc = main(["check", "convergence.sim.algorithms:analog_sgd", "--claims", "reduces-to-digital,stays-in-range",
               "--json", "--seed", "4"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["exit_code"] == 0 and out["all_hold"] and out["seed"] == 4
    assert [c["name"] for c in out["claims"]] == ["reduces-to-digital", "stays-in-range"]
    sat = out["claims"][1]
    assert sat["verdict"] == "holds" and 0.9 < sat["measured"] <= 1.0   # pushed into the bound, never past it


def test_a_failing_claim_exits_1_and_the_table_names_it(capsys):
    rc = main(["check", "_example_algorithms:flipped_analog_sgd", "--claims", "reduces-to-digital,stays-in-range"])
    out = capsys.readouterr().out
    assert rc == 1
    lines = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert " holds " in lines["reduces-to-digital"] and " fails " in lines["stays-in-range"]
    assert "FAILED: stays-in-range" in out


@pytest.mark.parametrize("args, needle", [
    (["no_such_module:f"], "cannot import module 'no_such_module'"),
    (["no_such_module:f"], "modules import from the working directory"),
    (["./my_algos.py:f"], "not a file path: my_algos:f"),
    (["_example_algorithms:flipped_analog_sdg"], "did you mean 'flipped_analog_sgd'"),
    (["analog_sgd"], "did you mean 'analog-sgd'"),
    (["analog-sgd", "--claims", "stays_in_range"], "did you mean 'stays-in-range'"),
    (["_example_algorithms:NOT_A_FACTORY"], "not callable"),
    (["_example_algorithms:AN_ALGORITHM"], "not a factory"),
    (["_example_algorithms:returns_a_number"], "not a convergence Algorithm"),
    (["analog-sgd", "--claims", "bogus"], "unknown 'bogus'"),
    (["analog-sgd", "--budget", "huge"], "invalid choice"),
    (["analog-sgd", "--pulsed", "dw_min=-1"], "dw_min"),
])
def test_bad_input_exits_2_with_one_line(capsys, args, needle):
    rc = main(["check", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert needle in err and len(err.strip().splitlines()) == 1


def test_user_module_in_the_working_directory(tmp_path):
    """The second user story end to end: a module next to the user, checked by the console command."""
    (tmp_path / "my_algos.py").write_text(textwrap.dedent("""
        import convergence as cv

        def plain_sgd(lr, device, *, mode=None):
            return cv.digital_sgd(lr)
    """))
    env = dict(os.environ, PYTHONPATH="")
    proc = subprocess.run([sys.executable, "-m", "convergence", "check", "my_algos:plain_sgd",
                           "--claims", "reduces-to-digital", "--json"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["claims"][0]["verdict"] == "holds"


def test_help_states_the_exit_codes_and_where_modules_import_from(capsys):
    rc = main(["check", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert rc == 0
    assert "working directory on the import path" in out and "Exit code 0" in out and "2 on bad input" in out
    assert "docs/tutorials/property-testing.md" in out.replace("- ", "-")


def test_a_module_that_exits_on_import_is_named_as_the_culprit(tmp_path, monkeypatch, capsys):
    # a script-style module (sys.exit at import) is reported as an import failure, not as the factory's
    (tmp_path / "exits_on_import.py").write_text("import sys\nsys.exit(3)\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["check", "exits_on_import:f"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "importing module 'exits_on_import' raised SystemExit: 3" in err
