"""The worst-case search for the bounds (convergence.theory.tightness) and the batch-of-instances quadratic."""
from __future__ import annotations

import math

import numpy as np
import pytest

import convergence as cv
from convergence._validate import ConfigError
from convergence.theory import tightness as T


def test_quadratic_batch_has_one_optimum_per_trial():
    ws = np.array([[0.5], [-0.25], [0.0]])
    obj = cv.Quadratic(d=1, L=2.0, w_star=ws)
    assert obj.instances == 3
    w = np.array([[1.0], [1.0], [1.0]])
    np.testing.assert_array_equal(obj.grad(w), 2.0 * (w - ws))
    np.testing.assert_array_equal(obj.value(w), 0.5 * 2.0 * (w - ws)[:, 0] ** 2)
    with pytest.raises(ConfigError, match="trials must be 3"):
        cv.simulate(cv.digital_sgd(0.1), obj, None, 0.0, 5, trials=4)
    with pytest.raises(ConfigError, match="w_star"):
        cv.Quadratic(d=2, w_star=np.zeros((3, 1)))


def test_batched_quadratic_matches_separate_runs():
    """One trial per optimum equals separate deterministic runs (exact gradients: no random streams)."""
    ws = np.array([0.3, -0.6])
    traj = cv.simulate(cv.analog_sgd(0.2, cv.SoftBounds(1.0)), cv.Quadratic(d=1, w_star=ws[:, None]), None,
                       np.array([[0.1], [0.2]]), 20, trials=2)
    for i in range(2):
        one = cv.simulate(cv.analog_sgd(0.2, cv.SoftBounds(1.0)), cv.Quadratic(d=1, w_star=ws[i]), None,
                          np.array([[0.1, 0.2][i]]), 20, trials=1)
        np.testing.assert_array_equal(traj.metrics["grad_norm_sq"][:, i], one.metrics["grad_norm_sq"][:, 0])


def test_thm9_ratio_matches_the_one_step_hand_calculation():
    """Analog GD with α = 1/L from w₀ = 0 lands on u* in one step: r = 1 − u*²/τ² exactly."""
    u_star = np.array([0.5, 0.1, -0.3])
    K = 10
    ev = T.evaluate_p1_thm9(u_star, np.zeros(3), K=K)
    assert ev.valid.all()
    np.testing.assert_allclose(ev.measured, u_star**2 / K, rtol=1e-12)
    np.testing.assert_allclose(ev.ratio, 1.0 - u_star**2, rtol=1e-12)


def test_thm2_evaluation_reports_invalid_instances():
    # u0 = u* ∓ αL σ √(2K): 0.5 − 0.5·0.3·√200 ≈ −1.62 leaves the device range (invalid), 0.1·0.3·√200 ≈ 0.42 not
    ev = T.evaluate_p1_thm2([0.5, 0.0], [0.5, 0.1], [-1, 1], sigma=0.3, K=100, reps=4, seed=0)
    assert not ev.valid[0] and ev.valid[1]
    assert math.isnan(ev.ratio[0]) and 0 < ev.ratio[1] < 1


def test_thm2_ratio_stays_below_the_digital_ceiling_near_the_symmetric_point():
    """At u* = 0 the drift |g|w/τ is second order: the ratio obeys r ≤ 3/(4(2 − αL)) within 4 SE."""
    al = np.array([0.1, 0.3, 0.5])
    ev = T.evaluate_p1_thm2(np.zeros(3), al, np.ones(3), sigma=0.03, K=200, reps=64, seed=3)
    assert ev.valid.all()
    assert np.all(ev.ratio <= T.rate_ceiling_p1_thm2(al) + 4 * ev.ratio_stderr)
    # and the transient really is of the order of the ceiling (the search space can get close)
    assert ev.ratio[-1] > 0.3


def test_search_is_reproducible_and_finds_a_tight_thm2_instance():
    space = T.spaces(Ks=(100,), sigmas=(0.03,))["p1.thm2"]
    kw = dict(n_random=12, rounds=2, top=4, children=4, reps=8, confirm_reps=64)
    a = T.search(space, 7, **kw)
    b = T.search(space, 7, **kw)
    assert a.best == b.best and a.best_ratio == b.best_ratio
    # not violated, and well above what random least squares gives (below 0.1)
    assert a.best_ratio - 3 * a.best_ratio_stderr <= 1.0
    assert a.best_ratio > 0.3
    assert a.verdict() in ("tight",) or a.verdict().startswith("loose by")


def test_search_finds_thm9_tight():
    res = T.search(T.spaces(Ks=(20,))["p1.thm9"], 1, n_random=16, rounds=2, top=4, children=4)
    assert res.best_ratio >= 0.95 and res.verdict() == "tight"


def test_search_refuses_bad_budgets():
    with pytest.raises(ConfigError, match="reps"):
        T.search(T.SPACES["p1.thm9"], 0, reps=0)
    with pytest.raises(ConfigError, match="rounds"):
        T.search(T.SPACES["p1.thm9"], 0, rounds=-1)


def test_p2_thm6_on_soft_bounds_is_p1_thm9():
    """γ = 1 power device = soft bounds: F_max = 1 and M = 1 − w², so P2 Theorem 6 reduces to P1 Theorem 9."""
    u_star, u0 = np.array([0.4, -0.2, 0.7]), np.array([0.0, 0.5, -0.3])
    a = T.evaluate_p2_thm6(u_star, u0, K=30, gamma=1.0)
    b = T.evaluate_p1_thm9(u_star, u0, K=30)
    np.testing.assert_allclose(a.measured, b.measured, rtol=1e-12)
    np.testing.assert_allclose(a.ratio, b.ratio, rtol=1e-9)
    # a steeper response slows Analog GD down relative to its bound
    c = T.evaluate_p2_thm6(np.array([0.05]), np.array([0.0]), K=30, gamma=2.0)
    assert c.ratio[0] < 0.9
