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
    # an Analog SGD that converged at the rate would contradict its floor claim
    v_rate = {c["id"].split(".")[1]: c["verdict"] for c in rec.claims({**data, "asgd_E": rate}, cfg)}
    assert v_rate["asgd_floor"] == "fails"
    # two values of K: every slope claim is inconclusive by the declared rule, never holds/fails
    short = {k: (v[:2] if k != "gamma_E" and (k.endswith("_E") or k.endswith("_sq")) else v) for k, v in data.items()}
    short["Ks"] = Ks[:2]
    # (the rule is declared from the config, as every resolving-power rule: a config with two values of K)
    v2 = {c["id"].split(".")[1]: c["verdict"] for c in rec.claims(short, {**cfg, "Ks": cfg["Ks"][:2]})}
    assert v2["tt_rate"] == v2["rl_rate"] == v2["asgd_floor"] == v2["tt_rate_constant"] == "inconclusive"
