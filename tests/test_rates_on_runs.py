"""The rate recipe's slope fit and verdict rules, on synthetic data with known answers."""
from __future__ import annotations

import math

import numpy as np
from _recipes import load as _load_recipe


def _recipe():
    return _load_recipe("rates_on_runs")


def _synthetic(Ks, slope, rng, trials=16, scale=1.0, noise=0.01):
    m = scale * Ks ** slope
    return m[:, None] * (1 + noise * rng.standard_normal((Ks.size, trials)))


def test_fit_slope_recovers_a_power_law():
    rec = _recipe()
    Ks = np.array([300.0, 1000.0, 3000.0, 10000.0])
    e = np.outer(2.0 * Ks ** -0.5, np.ones(4)) * np.array([0.99, 1.01, 0.995, 1.005])   # exact shape, tiny spread
    s, se = rec.fit_slope(Ks, e)
    assert abs(s + 0.5) < 1e-12 and se < 0.01


def test_claims_tell_a_rate_from_a_floor():
    rec = _recipe()
    rng = np.random.default_rng(0)
    cfg = rec.SCALES["default"]
    Ks = np.array(cfg["Ks"], float)
    rate = _synthetic(Ks, -0.5, rng)
    floor = _synthetic(Ks, 0.0, rng, scale=0.05)
    g = np.array(cfg["gammas"])
    data = {"Ks": Ks, "gammas": g, "f_gap": np.array(0.27), "sigma_total": np.array(0.6), "L": np.array(1.0),
            "asgd_E": floor, "tt_E": rate, "rl_E": floor,   # residual learning given a floor: must fail
            "tt_P_inf_sq": np.full((Ks.size, 16), 0.5), "asgd_P_inf_sq": np.full((Ks.size, 16), math.nan),
            "rl_P_inf_sq": np.full((Ks.size, 16), 0.5),
            "gamma_E": np.outer(1.0 / (1 + g), np.ones(16)) * (1 + 0.01 * rng.standard_normal((g.size, 16)))}
    verdicts = {c["id"].split(".")[1]: c["verdict"] for c in rec.claims(data, cfg)}
    assert verdicts["tt_rate"] == "holds" and verdicts["rl_rate"] == "fails"
    assert verdicts["asgd_floor"] == "holds"           # flat E_K: slope 0 and E_K·√K grows by √33 ≈ 5.8
    assert verdicts["tt_rate_constant"] == "holds"
    assert verdicts["lemma7_p_max"] == "holds" and verdicts["cor1_gamma"] == "holds"
    # "no larger" is a band claim (10 % of the best E_K below γ_c): a 50 % trial spread leaves it undecided
    noisy = {**data, "gamma_E": np.outer(1.0 / (1 + g), np.ones(16)) * (1 + 0.5 * rng.standard_normal((g.size, 16)))}
    c = next(c for c in rec.claims(noisy, cfg) if c["id"].endswith("cor1_gamma"))
    assert c["verdict"] == "inconclusive" and "not below the" in c["note"]
    # the rate constant and Lemma 7 read their intervals: a P_max² estimate whose margin reaches the bound, or a rate
    # constant whose spread's interval straddles 2, is undecided; one wholly above fails
    from convergence.theory.bounds import get_bound
    p_bound = float(get_bound("p1.thm4.p_max_sq")(L=1.0, tau=cfg["tau"], D=int(cfg["d"]),
                                                    c=float(rec.gaussian_c(int(cfg["d"]))), sigma=0.6))
    wide = p_bound * (1 + np.array([-1.0, 1.0] * 8))            # mean = the bound, s.e. = bound / 4
    near = {c["id"].split(".")[1]: c for c in rec.claims({**data, "tt_P_inf_sq": np.tile(wide, (Ks.size, 1))}, cfg)}
    assert near["lemma7_p_max"]["verdict"] == "inconclusive" and near["lemma7_p_max"]["uncertainty"] > 0
    over = {**data, "tt_P_inf_sq": np.full((Ks.size, 16), 2.0 * p_bound)}
    assert next(c for c in rec.claims(over, cfg) if c["id"].endswith("lemma7_p_max"))["verdict"] == "fails"
    tilt = rate * np.linspace(1.0, 3.0, Ks.size)[:, None]       # rate constant 3x across the K range
    for spread, verdict in ((0.01, "fails"), (1.0, "inconclusive")):
        noisy_rate = tilt * (1 + spread * np.array([-1.0, 1.0] * 8))
        c = next(c for c in rec.claims({**data, "tt_E": noisy_rate}, cfg) if c["id"].endswith("tt_rate_constant"))
        assert c["verdict"] == verdict, (spread, c)
    # an Analog SGD that converged at the rate would contradict its floor claim
    v_rate = {c["id"].split(".")[1]: c["verdict"] for c in rec.claims({**data, "asgd_E": rate}, cfg)}
    assert v_rate["asgd_floor"] == "fails"
    # two values of K: every slope claim is inconclusive by the declared rule, never holds/fails
    short = {k: (v[:2] if k != "gamma_E" and (k.endswith("_E") or k.endswith("_sq")) else v) for k, v in data.items()}
    short["Ks"] = Ks[:2]
    c2 = {c["id"].split(".")[1]: c for c in rec.claims(short, {**cfg, "Ks": cfg["Ks"][:2]})}
    slopes = ("tt_rate", "rl_rate", "asgd_floor", "tt_rate_constant")
    assert {c2[k]["verdict"] for k in slopes} == {"inconclusive"}
    # the rule is declared (recipe_kit.count_rule) and the report's note names the scale that decides it
    assert all("2 values of K < 3" in c2[k]["note"] and "'default' scale decides it" in c2[k]["note"] for k in slopes)
