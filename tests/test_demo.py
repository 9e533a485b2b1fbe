"""The teaching demo ``convergence demo bias``: the numbers it shows are right and it writes its figure."""
from __future__ import annotations

import math
import time

import pytest

from convergence.cli.main import main
from convergence.experiments.demo import bias_demo

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


@pytest.fixture(scope="module")
def demo():
    return bias_demo(tau=1.0, sigma=0.5, lr=0.02, w_star=0.5, trials=400, steps=1500, seed=7)


def test_predictions_match_the_reference_numbers(demo):
    # D3 (docs/theory/derivations.md) table: L = tau = 1, w* = 0.5, sigma = 0.5 -> w_s = 0.35310
    assert demo["w_s"] == pytest.approx(0.35310, abs=5e-6)
    # D5 closed form, computed here: W^S = L w* / (L + sigma sqrt(2/pi) / tau)
    assert demo["w_S"] == pytest.approx(0.5 / (1.0 + 0.5 * SQRT_2_OVER_PI), rel=1e-12)


def test_simulated_tails_show_the_bias(demo):
    k = 3.0
    # digital SGD is unbiased (the initial transient decays as 0.98^750 ~ 3e-7 before the tail)
    assert abs(demo["tail_digital"] - 0.5) <= k * demo["tail_se_digital"]
    # Analog SGD sits at the mean-field point; O(lr) finite-step correction allowed (0.01 at lr = 0.02)
    assert abs(demo["tail_analog"] - demo["w_s"]) <= k * demo["tail_se_analog"] + 0.01
    assert 0.5 - demo["tail_analog"] > 0.1 + k * demo["tail_se_analog"]
    # Tiki-Taka removes most of the bias
    assert abs(demo["tail_tiki-taka"] - 0.5) < 0.25 * (0.5 - demo["tail_analog"])
    assert demo["mean_analog"].shape == demo["steps"].shape == demo["std_digital"].shape


def test_cli_demo_writes_the_figure_and_prints_numbers(tmp_path, capsys):
    out = tmp_path / "bias.png"
    t0 = time.perf_counter()
    assert main(["demo", "bias", "--tau", "1", "--sigma", "0.5", "--lr", "0.05", "--trials", "200",
                 "--out", str(out)]) == 0
    assert time.perf_counter() - t0 < 30
    text = capsys.readouterr().out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Analog SGD" in text and "w_s = 0.35310" in text and "W^S = 0.35741" in text


@pytest.mark.parametrize("argv, needle", [
    (["demo", "bias", "--sigma", "-1"], "--sigma"),
    (["demo", "bias", "--lr", "2"], "--lr"),
    (["demo", "bias", "--tau", "0.4"], "--w-star"),   # the default w* = 0.5 lies outside (-0.4, 0.4)
    (["demo", "teach"], "invalid choice"),
])
def test_cli_demo_bad_input_exits_2_with_one_line(capsys, argv, needle):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and needle in err


def test_teaching_walkthrough_commands_parse():
    """Every ``convergence ...`` command in docs/teaching.md is accepted by the CLI parser."""
    import pathlib
    import re
    import shlex

    from convergence.cli.main import build_parser

    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "teaching.md"
    blocks = re.findall(r"```bash\n(.*?)```", doc.read_text(), flags=re.S)
    text = "\n".join(blocks).replace("\\\n", " ").replace("$alg", "analog-sgd")
    commands = [ln.split("#")[0].strip() for ln in text.splitlines() if ln.strip().startswith("convergence ")]
    assert len(commands) >= 8
    parser = build_parser()
    for cmd in commands:
        parser.parse_args(shlex.split(cmd)[1:])


def test_teaching_walkthrough_device_commands_run_in_a_fresh_folder(tmp_path, monkeypatch):
    """Section 1 of docs/teaching.md, run as written in an empty folder: the commands that write into
    ``build/teach`` must find it (the CLI creates no folder the user names, so the page creates it)."""
    import os
    import pathlib
    import re
    import shlex

    doc = pathlib.Path(__file__).resolve().parents[1] / "docs" / "teaching.md"
    first = re.findall(r"```bash\n(.*?)```", doc.read_text(), flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    ran = []
    for line in first.splitlines():
        words = shlex.split(line.split("#")[0])
        if words[:2] == ["mkdir", "-p"]:
            for folder in words[2:]:
                os.makedirs(folder, exist_ok=True)
        elif words[:2] == ["convergence", "device"]:
            assert main(words[1:]) == 0, line
            ran.append(words[words.index("--out") + 1])
    assert len(ran) == 3 and all((tmp_path / f).read_bytes()[:4] == b"\x89PNG" for f in ran)


def test_noise_free_caption_explains_that_tiki_taka_is_still_swinging():
    """With σ = 0 the only fixed point of Tiki-Taka is w*, so an offset of its tail mean is a transient
    (the W-P oscillation is undamped as |g| -> 0); the caption says so instead of leaving 0.5019 unexplained."""
    from convergence.experiments.demo import demo_story

    d = bias_demo(tau=1.0, sigma=0.0, lr=0.02, w_star=0.5, trials=2, steps=3000, seed=0)
    assert d["tail_analog"] == pytest.approx(0.5, abs=1e-6) and abs(d["tail_tiki-taka"] - 0.5) > 1e-3
    title, caption = demo_story(d)
    assert "reaches the minimiser" in title
    assert "Tiki-Taka has not settled yet" in caption and caption.endswith("standard errors)")
    # with noise the damping stays on: no such sentence
    d_noisy = bias_demo(tau=1.0, sigma=0.5, lr=0.02, w_star=0.5, trials=50, steps=600, seed=0)
    assert "not settled" not in demo_story(d_noisy)[1]
