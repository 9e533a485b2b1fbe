"""The table recipes (P1 Table 1, P2 Tables 2 and 3) against hand calculations.

Each recipe's numbers come from the bound objects or a cost model; here they are recomputed from the
papers' formulas written out by hand (not through the bound registry), and the claims, the Markdown
table and the figure (against the figure rules) are checked for form.
"""
from __future__ import annotations

import pathlib

import numpy as np
import pytest
from _recipes import load as _load_recipe

FIG = pathlib.Path(__file__).resolve().parents[1] / "figures"


def load(stem: str):
    return _load_recipe(stem)


def run(stem: str, scale: str = "quick"):
    mod = load(stem)
    cfg = dict(mod.SCALES[scale])
    return mod, cfg, mod.compute(cfg, np.random.SeedSequence(mod.SEED))


def test_p1_table1_matches_hand_formulas():
    mod, cfg, d = run("p1_table1_rates")
    rho = d["rho"]
    np.testing.assert_allclose(d["factor_asgd"], 1.0 / (1.0 - rho**2), rtol=1e-13)
    tt = np.where(33 * rho**2 < 1, 1.0 / (1.0 - 33 * rho**2), np.nan)
    np.testing.assert_allclose(d["factor_tt"], tt, rtol=1e-13)
    K = d["K"]
    # sigma = L = f_gap = tau = 1, rho = 0.5: S = 0.25/0.75 = 1/3
    np.testing.assert_allclose(d["bound_asgd_K"], 4 / np.sqrt(K) / 0.75 + 4 / 3, rtol=1e-13)
    np.testing.assert_allclose(d["bound_digital_K"], 4 / np.sqrt(K), rtol=1e-13)
    np.testing.assert_allclose(d["bound_tt_K"], 1 / np.sqrt(K) / (1 - 33 * 0.01), rtol=1e-13)
    assert float(d["floor_asgd"]) == pytest.approx(4 / 3, rel=1e-14)
    assert float(d["lower"]) == pytest.approx(1 / 3, rel=1e-14)
    assert float(d["lower_printed"]) == pytest.approx(4 / 3, rel=1e-14)
    np.testing.assert_allclose(d["table_factor"], [1.0, 1 / 0.75, np.nan, 1 / 0.67], rtol=1e-13)


def test_p2_table2_matches_hand_formulas():
    mod, cfg, d = run("p2_table2_rates")
    rho = d["rho"]
    np.testing.assert_allclose(d["m_ald"], 1 - rho**2, atol=1e-14)
    np.testing.assert_allclose(d["factor_rl_ald"], 1 / (1 - rho**2), rtol=1e-12)
    assert list(d["generic"]) == ["power:tau=1,gamma=0.5", "exp:tau=1,gamma=2"]
    np.testing.assert_allclose(d["factor_rl_generic"][0], (1 - rho**2) ** -0.5, rtol=1e-12)   # power, P2 eq 144
    g = 2.0                                                                                      # exponential, eq 145
    qp, qm = (np.exp(g * (1 - rho)) - 1) / (np.exp(g) - 1), (np.exp(g * (1 + rho)) - 1) / (np.exp(g) - 1)
    np.testing.assert_allclose(d["factor_rl_generic"][1], 1 / (qp * qm), rtol=1e-12)
    np.testing.assert_allclose(d["table_tt"], [1 / (1 - 0.33), np.nan], rtol=1e-13)
    np.testing.assert_allclose(d["table_rl_ald"], [1 / 0.99, 1 / 0.75], rtol=1e-13)


def test_p2_table3_model_gives_the_printed_numbers():
    mod, cfg, d = run("p2_table3_cost")
    np.testing.assert_allclose(d["times"], [[40, 40, 32 * 5 + 5.9], [40, 40, 2 * (32 * 5 + 5.9) + 40]], rtol=1e-14)
    np.testing.assert_allclose(d["times"], [[40, 40, 165.9], [40, 40, 371.8]], atol=0.05)
    n = d["cycles"]
    np.testing.assert_allclose(d["sweep"][1, 2] / d["sweep"][0, 2], (2 * (5 * n + 5.9) + 40) / (5 * n + 5.9),
                               rtol=1e-13)


@pytest.mark.parametrize("stem,n_rows", [("p1_table1_rates", 4), ("p2_table2_rates", 4), ("p2_table3_cost", 3)])
def test_table_recipes_claims_markdown_and_figure(stem, n_rows):
    import matplotlib.pyplot as plt

    from convergence.experiments.plotting import figure_problems, paper_style

    mod, cfg, d = run(stem)
    cl = mod.claims(d, cfg)
    assert cl and all(c["verdict"] == "holds" for c in cl), [(c["id"], c["verdict"]) for c in cl]
    md = mod.table(d, cfg).splitlines()
    assert md[0].startswith("| ") and set(md[1]) <= set("|-") and len(md) == 2 + n_rows
    assert all(line.count("|") == md[0].count("|") for line in md)
    with paper_style():                          # as the runner plots
        fig = mod.plot(d, cfg)
        assert len(fig.axes) == 3                # the table (axis hidden) and two panels
        assert figure_problems(fig) == []
    plt.close(fig)


def test_a_failing_ordering_is_reported_as_failing():
    """The claims read the arrays: a table whose TT factor were below the RL factor must fail the ordering."""
    mod, cfg, d = run("p2_table2_rates")
    bad = dict(d, factor_tt=np.where(np.isfinite(d["factor_tt"]), 0.5 * d["factor_rl_ald"], np.nan))
    verdicts = {c["id"]: c["verdict"] for c in mod.claims(bad, cfg)}
    assert verdicts["p2_table2.rl_improves_on_tt"] == "fails"


def test_accuracy_cells_by_hand():
    from convergence.experiments import recipe_kit as C

    acc = np.array([[[0.5, 0.6], [0.7, 0.8]],        # setting 0: runs end at 60 % and 80 %
                    [[0.1, 0.1], [0.1, 0.1]]])       # setting 1: no spread
    # per run 60, 80: mean 70, s.e. = sd(60, 80)/√2 = 10, three of them 30
    assert C.accuracy_cells(acc, 1) == ["70.00 ± 30.00", "10.00 ± 0.00"]
    assert C.accuracy_cells(acc, 2) == ["65.00 ± 30.00", "10.00 ± 0.00"]   # last two epochs: 55 and 75
    assert C.accuracy_cells(acc[:, :1], 1) == ["60.00", "10.00"]            # one repeat: no margin


@pytest.mark.parametrize("stem, name", [("p1_fig5_mnist", "p1_fig5"), ("p2_fig4_power", "p2_fig4")])
def test_network_recipes_table_one_row_per_setting(stem, name):
    """The Markdown table under the figure: a row per network and setting, with the accuracy the claims read."""
    mod = load(stem)
    rng = np.random.default_rng(0)
    n_fcn = len(mod._labels("fcn"))
    acc = rng.uniform(0.6, 0.9, size=(n_fcn, 2, 3))
    data = {"dataset": np.array("fashion-mnist"), "acc_fcn": acc}
    cfg = {**mod.SCALES["default"], "last": 1}
    cfg["fcn"] = {**cfg["fcn"], "last": 1}
    lines = mod.table(data, cfg).splitlines()
    assert len(lines) == 2 + n_fcn
    per_run = 100 * acc[..., -1]
    assert f"{per_run[0].mean():.2f} ± " in lines[2] and lines[2].startswith("| FCN | Digital SGD |")
