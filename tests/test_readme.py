"""The README's Python example runs (with fewer steps) and prints what the text says."""
from __future__ import annotations

import contextlib
import io
import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs_and_shows_the_bias():
    code = re.search(r"```python\n(.*?)```", README.read_text(), re.S).group(1)
    code = code.replace("steps=20_000", "steps=4_000").replace("trials=1_000", "trials=300")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "README.md", "exec"), {})
    out = buf.getvalue()
    w_analog = float(re.search(r"analog-sgd .*mean w = ([0-9.]+)", out).group(1))
    assert abs(w_analog - 0.353) < 0.01          # the biased stationary point of the text (D3: 0.3531)
    assert "w_s = 0.3531, floor = 0.0216" in out


def test_readme_bound_example_runs_and_the_bound_holds():
    code = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)[1]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, "README.md", "exec"), {})
    words = buf.getvalue().split()
    assert words[-2] == "True" and float(words[-1]) < 0.1
