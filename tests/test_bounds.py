"""Bounds as executable objects: evaluators vs hand-computed numbers, broadcasting, verdicts, trajectories.

Expected numbers are computed by hand in the test (closed forms with plain arithmetic) or taken from
the theory guide (docs/theory/derivations.md: D3 table, D8 Monte Carlo, D13), never from the code under test.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import sympy as sp

import convergence as cv
from convergence._validate import ConfigError
from convergence.theory.verdicts import Verdict
from convergence.theory.bounds import (BOUNDS, FIG3_SETTINGS, Bound, CheckResult, asgd_min_iterations, asgd_step_size,
                                asgd_step_size_valid, f_max, gaussian_c, get_bound, tt_beta_proof, tt_beta_statement,
                                tt_condition_holds, tt_condition_value, zero_shift, zero_shift_ratio)

THM2_VALUES = dict(f_gap=0.5, sigma=0.1, L=2.0, K=100, W_max=0.5, tau=1.0, S_K=0.3)


# -- registry -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_every_bound_is_well_formed(name: str) -> None:
    b = BOUNDS[name]
    assert b.name == name and b.kind in ("upper", "lower", "exact", "asymptotic")
    assert b.reference and b.assumptions
    allowed = set(b.params) | ({b.unknown} if b.unknown is not None else set())
    assert b.expr.free_symbols <= allowed
    assert b.latex()
    json.dumps(b.as_dict())


def test_required_names_exist() -> None:
    for name in ("p1.thm2", "p1.thm9", "p1.thm3.lower", "p1.thm3.lower_printed", "p1.thm4.p_max_sq",
                 "p2.thm1.f_sigma_ald", "p2.thm5.w_s", "p2.thm5.w_s_printed", "p2.thm2", "d3.asgd_fixed_point",
                 "d3.asgd_floor", "d4.dsgd_floor",
                 "d12.tt_tracking", "d13.tt_clin_floor"):
        assert isinstance(get_bound(name), Bound)


def test_errata_bounds_are_flagged_and_have_a_corrected_twin() -> None:
    printed = [b for b in BOUNDS.values() if b.erratum]
    assert {b.name for b in printed} >= {"p1.thm3.lower_printed", "p2.thm5.w_s_printed", "p1.thm4.c_printed"}
    for b in printed:
        # the erratum text names the corrected, registered bound
        named = [n for n in BOUNDS if n in b.erratum and n != b.name]
        assert named and all(not BOUNDS[n].erratum for n in named), b.name


def test_unknown_bound_and_missing_parameter_raise_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown bound"):
        get_bound("p9.thm99")
    with pytest.raises(ConfigError, match="needs S_K"):
        get_bound("p1.thm2")(**{k: v for k, v in THM2_VALUES.items() if k != "S_K"})


def test_bad_definitions_raise() -> None:
    x, y = sp.symbols("x y")
    with pytest.raises(ConfigError, match="kind"):
        Bound("t", x, (x,), "sideways", "ref")
    with pytest.raises(ConfigError, match="not in params"):
        Bound("t", x + y, (x,), "upper", "ref")


# -- numbers (hand-computed) ------------------------------------------------------------------------

def test_p1_thm2_thm9_thm3_by_hand() -> None:
    # 4 sqrt(0.5 * 0.01 * 2 / 100) / (1 - 0.25) + 4 * 0.01 * 0.3 = 0.04/0.75 + 0.012
    assert float(get_bound("p1.thm2")(**THM2_VALUES)) == pytest.approx(0.04 / 0.75 + 0.012, rel=1e-14)
    assert float(get_bound("p1.thm2.floor")(**THM2_VALUES)) == pytest.approx(0.012, rel=1e-14)
    # 2 * 0.5 * 2 / (100 * 0.75)
    assert float(get_bound("p1.thm9")(**THM2_VALUES)) == pytest.approx(2.0 / 75.0, rel=1e-14)
    assert float(get_bound("p1.thm3.lower")(**THM2_VALUES)) == pytest.approx(0.003, rel=1e-14)
    assert float(get_bound("p1.thm3.lower_printed")(**THM2_VALUES)) == pytest.approx(0.012, rel=1e-14)


def test_p1_thm3_instance_floor_matches_theory_number() -> None:
    # P1 Theorem 3 (docs/theory/theorems.md#p1-thm3): D = 1, L = tau = 1, sigma = 0.1, w* = 0.2 -> sigma^2 S = 3.41e-4,
    # printed 4 sigma^2 S = 1.36e-3
    vals = dict(L=1.0, w_star=0.2, sigma=0.1, tau=1.0, D=1)
    assert float(get_bound("p1.thm3.instance_floor")(**vals)) == pytest.approx(3.41e-4, abs=0.006e-4)
    assert float(get_bound("p1.thm3.instance_floor_printed")(**vals)) == pytest.approx(1.36e-3, abs=0.006e-3)


def test_p1_thm4_pmax_and_condition_by_hand() -> None:
    # 41 * 1 * 16 * 10 / (0.25 * 4)
    assert float(get_bound("p1.thm4.p_max_sq")(L=1.0, tau=2.0, D=10, c=0.5, sigma=2.0)) == pytest.approx(6560.0)
    assert float(gaussian_c(41)) == pytest.approx(math.sqrt(2 / (math.pi * 41)))
    L, D, s2 = 0.66, 41, 0.41
    c2 = 2 / (math.pi * D)
    expected = [33 * 41 * L**2 * t**2 * D / (c2 * s2) for t in (1.0, 1.5, 2.0, 2.5)]
    np.testing.assert_allclose(tt_condition_value(**FIG3_SETTINGS), expected, rtol=1e-12)
    assert not np.any(tt_condition_holds(**FIG3_SETTINGS))
    # very high noise makes it hold: sigma^2 > 33*41 L^2 tau^2 D / c^2
    assert bool(tt_condition_holds(L=0.66, tau=1.0, D=41, sigma=math.sqrt(1.1 * 33 * 41 * L**2 * D / c2)))
    assert float(tt_beta_statement(0.03, 0.66)) == pytest.approx(8 * 0.03 * 0.66)
    assert float(tt_beta_proof(0.03, 0.66, 1.0, 41, math.sqrt(0.41))) == pytest.approx(8 * 0.03 * 0.66 * 41 / 0.41)


def test_step_sizes_by_hand() -> None:
    assert float(asgd_step_size(0.5, 0.1, 2.0, 100)) == pytest.approx(0.5)         # sqrt(0.5/(0.01*2*100))
    assert not bool(asgd_step_size_valid(0.5, 0.1, 2.0, 100))                       # 0.5 > 1/(2L) = 0.25
    assert float(asgd_min_iterations(0.5, 0.1, 2.0)) == 400.0                       # 4 L f_gap / sigma^2
    assert bool(asgd_step_size_valid(0.5, 0.1, 2.0, 400))                           # alpha = 0.25 exactly


def test_p2_bounds_by_hand() -> None:
    # 16 * 2.25 * sqrt(0.5 * 0.01 * 2 / 100) + 8 * 1.5 * 0.01 * 0.2 = 0.36 + 0.024
    v = float(get_bound("p2.thm2")(f_gap=0.5, sigma=0.1, L=2.0, K=100, F_max=1.5, S_K_asgd=0.2))
    assert v == pytest.approx(0.384, rel=1e-14)
    # 2 * 2 * 0.5 * 2.25 / (100 * 0.5)
    assert float(get_bound("p2.thm6")(f_gap=0.5, L=2.0, K=100, F_max=1.5, M_min=0.5)) == pytest.approx(0.09)
    # the example of P2 Theorems 1 and 5 (docs/theory/theorems.md#p2-thm1)
    ex = dict(L=1.0, w_star=0.5, Sigma=0.4, dR=1.0, w_sym=0.0)
    assert float(get_bound("p2.thm5.w_s")(**ex)) == pytest.approx(0.5 / 1.4)
    assert float(get_bound("p2.thm5.w_s_printed")(**ex)) == pytest.approx(0.5 / 0.6)
    # f_Sigma at w = 0.2: 0.5 * 0.09 + 0.4 * 0.01 / 2
    assert float(get_bound("p2.thm1.f_sigma_ald")(w=0.2, L=1.0, w_star=0.5, Sigma=0.4, tau=1.0, w_sym=0.1)) == \
        pytest.approx(0.045 + 0.002)


def test_derived_predictions_match_theory_numbers() -> None:
    ref = dict(L=1.0, w_star=0.5, sigma=0.5, tau=1.0)                  # D3 (docs/theory/derivations.md) table
    assert float(get_bound("d3.asgd_fixed_point")(**ref)) == pytest.approx(0.35310, abs=5e-6)
    assert float(get_bound("d3.asgd_floor")(**ref)) == pytest.approx(0.021580, abs=5e-7)
    w_a = 0.5 / (1 + 0.5 * math.sqrt(2 / math.pi))
    assert float(get_bound("d3.asgd_floor_approx")(**ref)) == pytest.approx((2 / math.pi) * 0.25 * w_a**2)
    assert float(get_bound("d5.implicit_penalty_minimizer_ald")(**ref)) == pytest.approx(0.35741, abs=5e-6)
    assert float(get_bound("d4.dsgd_floor")(lr=0.1, L=1.0, sigma=0.5)) == pytest.approx(0.1 * 0.25 / 1.9)
    assert float(get_bound("d4.dsgd_dist")(lr=0.1, L=2.0, sigma=0.5)) == pytest.approx(0.1 * 0.25 / (2 * 1.8))
    assert float(get_bound("d13.tt_clin_floor")(c_lin=0.3, sigma=0.5)) == pytest.approx(0.0143, abs=5e-5)
    assert float(get_bound("d12.tt_tracking")(L=1.0, w=0.1, w_star=0.5, gamma=0.4, tau=1.0, abs_g=0.3)) == \
        pytest.approx(0.4 / 0.7)
    assert float(get_bound("d12.tt_tracking_p1")(tau=2.0, g=0.1, abs_g=0.4)) == pytest.approx(0.5)
    # self-consistent floor solves g = c E|g + eps| (check the defining equation with scipy's erf directly)
    g2 = float(get_bound("d13.tt_clin_floor_selfconsistent")(c_lin=0.3, sigma=0.5))
    g = math.sqrt(g2)
    e_abs = 0.5 * math.sqrt(2 / math.pi) * math.exp(-g * g / 0.5) + g * math.erf(g / (0.5 * math.sqrt(2)))
    assert g == pytest.approx(0.3 * e_abs, rel=1e-10)


def test_implicit_bound_generic_solver_agrees_with_wrapped_solver() -> None:
    b = get_bound("d3.asgd_fixed_point")
    ws = np.array([-0.4, 0.1, 0.3, 0.6])
    np.testing.assert_allclose(b.solve(L=1.0, w_star=ws, sigma=0.3, tau=1.0),
                               b(L=1.0, w_star=ws, sigma=0.3, tau=1.0), atol=1e-12)


# -- broadcasting -------------------------------------------------------------------------------------

def test_broadcasting_explicit_and_implicit() -> None:
    b = get_bound("p1.thm2")
    K = np.array([100, 1000, 10000])
    S = np.array([[0.1], [0.3]])
    out = b(**{**THM2_VALUES, "K": K, "S_K": S})
    assert out.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert out[i, j] == pytest.approx(float(b(**{**THM2_VALUES, "K": K[j], "S_K": S[i, 0]})), rel=1e-14)
    # an expression independent of a parameter still broadcasts to the full shape
    c = get_bound("p1.thm4.c_printed")(D=np.array([1, 4, 9]))
    np.testing.assert_allclose(c, math.sqrt(2 / math.pi))
    inst = get_bound("p1.thm3.instance_floor")(L=1.0, w_star=np.array([0.05, 0.1, 0.2]), sigma=0.1, tau=1.0, D=1)
    assert inst.shape == (3,) and np.all(np.diff(inst) > 0)
    floors = get_bound("d3.asgd_floor")(L=1.0, w_star=0.5, sigma=np.array([0.1, 0.5, 1.0]), tau=1.0)
    # the floor increases with sigma (docs/theory/theorems.md#property-checks (property 6))
    assert floors.shape == (3,) and np.all(np.diff(floors) > 0)


# -- check() verdicts ---------------------------------------------------------------------------------

def test_check_upper_holds_and_fails() -> None:
    b = get_bound("p1.thm2")
    bound = 0.04 / 0.75 + 0.012
    res = b.check(np.array([0.5 * bound, bound * 1.01, bound * 1.01]), stderr=np.array([0.0, 0.0, 0.01 * bound]),
                  k=3.0, **THM2_VALUES)
    assert isinstance(res, CheckResult)
    assert res.holds.tolist() == [True, False, True]
    assert res.verdict.tolist() == ["holds", "fails", "holds"]
    assert not res.all_hold
    np.testing.assert_allclose(res.slack, bound - res.value)
    np.testing.assert_allclose(res.ratio, res.value / bound)
    np.testing.assert_allclose(res.margin, [0.0, 0.0, 0.03 * bound])
    claims = res.claims()
    assert [c.verdict for c in claims] == [Verdict.HOLDS, Verdict.FAILS, Verdict.HOLDS]
    assert [c.id for c in claims] == ["p1.thm2[0]", "p1.thm2[1]", "p1.thm2[2]"]
    assert all(c.reference == b.reference and c.prediction == pytest.approx(bound) for c in claims)
    assert claims[2].uncertainty == pytest.approx(0.03 * bound) and claims[1].measured == pytest.approx(1.01 * bound)
    (one,) = b.check(0.5 * bound, **THM2_VALUES).claims()      # a scalar result: the bound's name as id
    assert one.id == "p1.thm2" and one.verdict is Verdict.HOLDS and one.statement == b.description


def test_check_lower_and_exact() -> None:
    low = get_bound("p1.thm3.lower")
    assert low.check(0.0031, sigma=0.1, S_K=0.3).all_hold                     # >= 0.003
    assert not low.check(0.0029, sigma=0.1, S_K=0.3).all_hold
    assert low.check(0.0029, stderr=0.0001, k=3, sigma=0.1, S_K=0.3).all_hold
    ex = get_bound("d4.dsgd_floor")                                             # kind exact, rtol 0 by default
    target = 0.1 * 0.25 / 1.9
    assert ex.check(target, lr=0.1, L=1.0, sigma=0.5).all_hold
    assert not ex.check(target * 1.05, lr=0.1, L=1.0, sigma=0.5).all_hold
    assert ex.check(target * 1.05, rtol=0.06, lr=0.1, L=1.0, sigma=0.5).all_hold
    asym = get_bound("d3.asgd_floor")                                           # default rtol 0.1
    res = asym.check(np.array([0.0225, 0.030]), L=1.0, w_star=0.5, sigma=0.5, tau=1.0)
    assert res.holds.tolist() == [True, False] and res.rtol == 0.1
    assert not asym.check(np.nan, L=1.0, w_star=0.5, sigma=0.5, tau=1.0).all_hold
    with pytest.raises(ConfigError):
        ex.check(target, k=-1.0, lr=0.1, L=1.0, sigma=0.5)


# -- predicates and device helpers -----------------------------------------------------------------------

def test_zero_shift_and_f_max() -> None:
    assert zero_shift(cv.Power(1.0, 0.5)) and zero_shift(cv.Exponential(1.0, 2.0)) and zero_shift(cv.SoftBounds(1.0))
    assert not zero_shift(cv.CLin(1.0, 0.2)) and not zero_shift(cv.SoftBounds(1.0, 0.3))
    assert float(zero_shift_ratio(cv.CLin(1.0, 0.2))) == pytest.approx(-0.2)
    arr = cv.realize(cv.SoftBounds(1.0), cv.Variation(sym_dtod=0.1), (4, 3), np.random.default_rng(0))
    assert zero_shift(arr).shape == (4, 3) and not np.any(zero_shift(arr))
    assert f_max(cv.CLin(1.0, 0.3)) == pytest.approx(1.3, abs=1e-9)        # F = 1 - c w/tau, max at w = -tau
    assert f_max(cv.Power(1.0, 2.0)) == pytest.approx(2.0, abs=1e-9)       # F = 1 + w^2
    assert f_max(cv.SoftBounds(2.0)) == pytest.approx(1.0)


# -- from_trajectory -------------------------------------------------------------------------------------

def test_from_trajectory_short_run_and_theorem2_holds() -> None:
    d, w_star, s = 3, 0.3, 0.5
    obj = cv.Quadratic(d=d, L=1.0, w_star=w_star)
    f_gap = 0.5 * d * w_star**2
    sigma_total = s * math.sqrt(d)
    K = 400
    lr = float(asgd_step_size(f_gap, sigma_total, 1.0, K))
    traj = cv.simulate(cv.analog_sgd(lr, cv.SoftBounds(1.0)), obj, cv.Gaussian(s), 0.0, K, trials=32, seed=4,
                       record_every=1, record_w=True)
    b = get_bound("p1.thm2")
    v = b.from_trajectory(traj)
    assert v["K"] == K and v["tau"] == 1.0 and v["L"] == 1.0 and v["D"] == d
    np.testing.assert_allclose(v["f_gap"], f_gap)
    assert v["sigma"] == pytest.approx(sigma_total)
    # S_K recomputed independently from the recorded weights (every step recorded)
    sat = np.max(np.abs(traj.w), axis=2)                                     # (K, trials), tau = 1
    np.testing.assert_allclose(v["S_K"], np.mean(sat**2 / (1 - sat**2), axis=0), rtol=1e-12)
    np.testing.assert_allclose(v["W_max"], sat.max(axis=0))
    np.testing.assert_allclose(v["measured"], np.mean(np.sum((traj.w - w_star) ** 2, axis=2), axis=0), rtol=1e-12)
    res = b.check(v["measured"], **v)
    assert res.value.shape == (32,) and res.all_hold
    p2 = get_bound("p2.thm2").from_trajectory(traj)
    assert p2["F_max"] == pytest.approx(1.0)
    with pytest.raises(ConfigError):
        get_bound("d4.dsgd_floor").from_trajectory(traj)


def test_from_trajectory_tiki_taka_reports_p_array() -> None:
    obj = cv.Quadratic(d=2, L=1.0, w_star=0.4)
    traj = cv.simulate(cv.tiki_taka(0.05, 0.05, cv.SoftBounds(1.0)), obj, cv.Gaussian(0.3), 0.0, 200, trials=8, seed=2)
    v = get_bound("p1.thm4.p_max_sq").from_trajectory(traj)
    p_inf = np.max(np.abs(traj.final_state.p), axis=1)
    assert np.all(v["P_max_sq_empirical"] >= p_inf**2 - 1e-15)
    assert float(get_bound("p1.thm4.p_max_sq")(L=1.0, tau=1.0, D=2, c=float(gaussian_c(2)), sigma=v["sigma"])) > \
        float(np.max(v["P_max_sq_empirical"]))


def test_p2_thm3_floor_by_hand_and_zero_shift_on_trajectory() -> None:
    # 24 * 1.3 * 0.01 * 0.1
    assert float(get_bound("p2.thm3.floor")(F_max=1.3, sigma=0.1, S_K_rl=0.1)) == pytest.approx(0.0312)
    obj = cv.Quadratic(d=2, L=1.0, w_star=0.4)
    b = get_bound("p2.thm3.floor")
    s_rl = {}
    for c in (0.0, 0.3):
        alg = cv.tiki_taka(0.05, 0.05, cv.SoftBounds(1.0), device_fast=cv.CLin(1.0, c), gamma=0.2)
        v = b.from_trajectory(cv.simulate(alg, obj, cv.Gaussian(0.3), 0.0, 300, trials=8, seed=2))
        assert v["F_max"] == pytest.approx(1.0 + c, abs=1e-9)
        s_rl[c] = float(np.mean(v["S_K_rl"]))
    # with c = 0.3, G(0)/sqrt(F(0)) = -0.3, so S_K^RL stays near 0.09; zero-shifted it is much smaller
    assert s_rl[0.3] > 0.05 and s_rl[0.0] < 0.5 * s_rl[0.3]


def test_p2_remark1_rate_term_is_p1_theorem_2s_for_soft_bounds() -> None:
    """Soft bounds: F_max = 1 and M = q+q- = 1 − w²/τ², so Remark 1's rate term equals P1 Theorem 2's exactly."""
    import sympy as sp

    from convergence.theory.bounds.symbols import F_max, K, L, M_min, S_K, S_K_asgd, W_max, f_gap, sigma, tau

    r1 = get_bound("p2.remark1").expr.subs({F_max: 1, M_min: 1 - W_max**2 / tau**2, S_K_asgd: 0})
    p1 = get_bound("p1.thm2").expr.subs({S_K: 0})
    assert sp.simplify(r1 - p1) == 0
    # and numbers: the floor part is 2σ² S/M_min (half of P2 Theorem 2's 8 F_max σ² S at M_min = 1, F_max = 1)
    v = dict(f_gap=0.5, sigma=0.3, L=2.0, K=100, F_max=1.0, M_min=1.0, S_K_asgd=0.2)
    assert float(get_bound("p2.remark1")(**v)) == pytest.approx(4 * math.sqrt(0.5 * 0.09 * 2 / 100) + 2 * 0.09 * 0.2)
    assert {str(s) for s in (f_gap, sigma, L, K)} <= {str(p) for p in get_bound("p2.remark1").params}
