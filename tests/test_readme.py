"""The README's Python examples run (with fewer steps) and print what the text says; its scale list and spec table
are the CLI's."""
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


def _choices(command: str, option: str) -> list[str]:
    import argparse

    from convergence.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    return list(sub._option_string_actions[option].choices)


def test_readme_names_every_scale_of_the_figures_command():
    """"Scales: `quick` (tests), `default` ..., and the optional `long`": the choices of ``figures --scale``."""
    sentence = re.search(r"Scales: (.*?)\. Network", README.read_text(), re.S).group(1)
    assert sorted(re.findall(r"`(\w+)`", sentence)) == sorted(_choices("figures", "--scale"))


def test_readme_spec_table_matches_the_spec_parser():
    """The table of ``--device``/``--objective``/``--noise``/``--pulsed``/``--variation`` specs names the parser's
    spec names (aliases aside) and only keys the parser accepts; every key but an objective's ``convex`` flag (a
    property of the objective, not a setting) is listed."""
    import dataclasses

    import convergence as cv
    from convergence.sim import specs

    rows = dict(re.findall(r"^\| `--(\w+)` \| (.*) \|$", README.read_text(), re.M))
    registries = {"device": specs.DEVICES, "objective": specs.OBJECTIVES, "noise": specs.NOISES}
    for kind, registry in registries.items():
        listed = {}
        for name, keys in re.findall(r"`(\w+)(?::([\w,]+))?`", rows[kind]):
            assert name in registry, f"--{kind} {name}: no such spec"
            listed[name] = set(keys.split(",")) - {""}
        for name, cls in registry.items():
            aliases = [n for n in listed if registry[n] is cls]
            assert aliases, f"--{kind} {name} is missing from the README's spec table"
            accepted = {f.name for f in dataclasses.fields(cls) if f.init} - {"convex"}
            assert listed[aliases[0]] == accepted, f"--{kind} {name}: README {listed[aliases[0]]}, parser {accepted}"
    pulsed = set(re.findall(r"(\w+)=", rows["pulsed"]))
    assert pulsed == {f.name for f in dataclasses.fields(cv.Pulsed)}
    variation = set(re.findall(r"(\w+)", rows["variation"].split("(")[0]))
    assert variation == {f.name for f in dataclasses.fields(cv.Variation)}


def test_readme_layout_lists_every_part_of_the_package():
    """The README's package layout names every top-level module and subpackage of ``convergence/`` (code only)."""
    root = README.parent / "convergence"
    block = re.search(r"```text\nconvergence/\n(.*?)\n\S", README.read_text(), re.S).group(1)
    listed = {name.rstrip("/") for line in block.splitlines() if not line.startswith("    ")
              for name in re.findall(r"(\w+\.py|\w+/)", line.split("   ")[0])}
    present = {p.name for p in root.iterdir()
               if (p.is_dir() and (p / "__init__.py").exists()) or (p.suffix == ".py" and not p.name.startswith("__"))}
    assert listed == present


def test_readme_states_the_defaults_the_code_has():
    """``--tail`` (default 0.5) of ``convergence simulate`` and the trial-block size (default 64) of the random
    streams."""
    import argparse

    from convergence.cli.main import build_parser
    from convergence.rng import DEFAULT_BLOCK

    text = " ".join(README.read_text().split())
    simulate = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["simulate"]
    tail = float(re.search(r"last `--tail` fraction of the steps \(default ([\d.]+)\)", text).group(1))
    assert tail == simulate.get_default("tail")
    block = re.search(r"Trials are grouped into\s+blocks \(`trial_block`, default (\d+)\)", text)
    assert int(block.group(1)) == DEFAULT_BLOCK
