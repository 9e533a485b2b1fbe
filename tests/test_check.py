"""The property battery (``convergence.check``) on every built-in algorithm and on user factories.

Expected numbers are derived independently of the code under test: D3 = 0.021580 is the theory guide's
reference value (L = tau = 1, w* = sigma = 0.5), D13 = c^2 (2/pi) sigma^2 is evaluated here from
its closed form, and digital SGD's floor slope is 1 + alpha L/(2 - alpha L) ~ 1 (D4).
The battery runs at a reduced budget (half the trials of ``quick``); its margins still are
k = 3 standard errors across independent trials.
"""
from __future__ import annotations

import dataclasses
import json
import math

import pytest

import convergence as cv
from convergence.theory.battery import BUDGETS, CLAIMS, VERDICTS, CheckReport, Claim, ClaimResult, check
from convergence.testing import assert_claims, stationary_floors

import _example_algorithms as ex

TEST_BUDGET = dataclasses.replace(BUDGETS["quick"], name="test", sweep_trials=128, sweep_steps=4000,
                                  range_trials=16, range_steps=1000, thm2_instances=2, thm2_trials=32)
D3_REFERENCE = 0.021580                         # D3 (docs/theory/derivations.md) table
D13_REFERENCE = 0.3**2 * (2 / math.pi) * 0.5**2  # D13 (docs/theory/derivations.md) closed form, c = 0.3, sigma = 0.5


@pytest.fixture(scope="module")
def reports():
    targets = {"analog": "convergence.sim.algorithms:analog_sgd", "tt": "convergence.sim.algorithms:tiki_taka",
               "digital": "convergence.sim.algorithms:digital_sgd", "flipped": ex.flipped_analog_sgd}
    return {key: check(t, budget=TEST_BUDGET, seed=1) for key, t in targets.items()}


def test_analog_sgd_is_biased_with_the_mean_field_floor(reports):
    r = reports["analog"]
    assert r.all_hold and r.exit_code == 0, r.table()
    floor = r["floor-vs-lr"]
    assert floor.classification == "biased"
    assert abs(floor.measured - D3_REFERENCE) <= 0.1 * D3_REFERENCE + 3 * floor.uncertainty
    assert floor.details["slope"] < 0.3            # levels off: far from the exact slope ~1
    assert r["shifted-symmetric-point"].classification == "biased"
    assert r["shifted-symmetric-point"].details["agrees_with_prediction"]
    assert r["stays-in-range"].measured <= 1.0 and r["reduces-to-digital"].measured == 0.0


def test_tiki_taka_is_exact_on_a_zero_shifted_device_and_floors_at_D13_when_shifted(reports):
    r = reports["tt"]
    assert r.all_hold, r.table()
    floor = r["floor-vs-lr"]
    assert floor.classification == "exact"
    assert abs(floor.measured - 1.0) < 0.25       # E||grad f||^2 ~ lr (D14 (docs/theory/derivations.md))
    assert r["reduces-to-digital"].verdict == "skipped"
    shifted = r["shifted-symmetric-point"]
    assert shifted.classification == "floor"
    assert abs(shifted.measured - D13_REFERENCE) <= 0.2 * D13_REFERENCE + 3 * shifted.uncertainty
    # the shift is what creates the floor: the zero-shifted bias is two orders of magnitude smaller
    zero_bias = shifted.details["per_lr_zero"][0]["bias_sq"]
    assert zero_bias < 0.05 * shifted.measured


def test_digital_sgd_is_exact_with_slope_one_and_robust_to_the_shift(reports):
    r = reports["digital"]
    assert r.all_hold, r.table()
    floor = r["floor-vs-lr"]
    assert floor.classification == "exact"
    assert abs(floor.measured - 1.0) <= 3 * floor.uncertainty + 0.05
    assert r["stays-in-range"].verdict == "n/a"
    assert r["shifted-symmetric-point"].classification == "robust"
    assert r["reduces-to-digital"].measured == 0.0


def test_the_flipped_asymmetric_term_is_caught(reports):
    r = reports["flipped"]
    assert not r.all_hold and r.exit_code == 1
    for name in ("stays-in-range", "floor-vs-lr", "p1-thm2-bound", "shifted-symmetric-point"):
        assert r[name].verdict == "fails", r.table()
    # with G = 0 the flip is invisible: the reduction claim is specific, not a blanket failure
    assert r["reduces-to-digital"].verdict == "holds"


def test_a_user_reimplementation_gives_the_builtin_numbers(reports):
    """Metamorphic check: Analog SGD written from the step API alone gives the same verdict and numbers."""
    mine = check(ex.my_analog_sgd, ["floor-vs-lr"], budget=TEST_BUDGET, seed=1)["floor-vs-lr"]
    builtin = reports["analog"]["floor-vs-lr"]
    assert mine.classification == "biased" and mine.verdict == "holds"
    assert mine.measured == pytest.approx(builtin.measured, rel=1e-9)


def test_a_biased_algorithm_with_a_small_shifted_bias_is_not_called_robust():
    """Momentum Analog SGD is biased; on the shifted device (w⋄ = 0.3 near w* = 0.5) its bias^2 is small but
    clearly nonzero, so E||grad f||^2 between the two smallest lrs is variance-dominated with a slope above 0.5.
    That slope must not make it "robust" (a floor that vanishes): it is compared with D3 on the shifted device."""
    r = check(ex.momentum_analog_sgd, ["reduces-to-digital", "floor-vs-lr", "shifted-symmetric-point"],
              budget=TEST_BUDGET, seed=1)
    assert r["floor-vs-lr"].classification == "biased", r.table()
    shifted = r["shifted-symmetric-point"]
    d = shifted.details
    assert d["shifted_slope"] - 3 * d["shifted_slope_stderr"] > 0.5       # the case in question
    assert shifted.measured > 3 * shifted.uncertainty                     # the shifted bias does not vanish
    assert shifted.classification == "biased" and "robust" not in shifted.note
    assert shifted.verdict == "holds" and shifted.measured < d["d3_shifted"]
    # momentum is not SGD on an ideal device: the failure says how to declare that
    assert r["reduces-to-digital"].verdict == "fails" and "not_applicable" in r["reduces-to-digital"].note


def test_a_non_finite_trajectory_is_named_as_such_not_as_a_different_algorithm():
    r = check(ex.goes_non_finite, ["reduces-to-digital"], budget=TEST_BUDGET)
    c = r["reduces-to-digital"]
    assert c.verdict == "fails" and c.measured == math.inf
    assert "non-finite" in c.note and "not_applicable" not in c.note


def test_the_table_does_not_repeat_an_inconclusive_verdict_as_its_class():
    inc = ClaimResult("floor-vs-lr", "s", "r", "inconclusive", 0.5, 0.1, "log-log slope", 0.5, "threshold",
                      "inconclusive", "slope too close to the threshold")
    exact = ClaimResult("stays-in-range", "s", "r", "holds", classification="exact")
    table = CheckReport("t", (inc, exact), "quick", 0, 3.0, 0.0).table()
    assert "inconclusive (inconclusive)" not in table and "inconclusive  " in table
    assert "holds (exact)" in table


def test_naming_a_not_applicable_claim_runs_it_and_tiki_taka_does_not_reduce_to_sgd():
    r = check("tiki-taka", ["reduces-to-digital"], budget=TEST_BUDGET)
    assert r["reduces-to-digital"].verdict == "fails" and r.exit_code == 1


def test_expect_turns_a_misclassification_into_a_failure(reports):
    with pytest.raises(AssertionError, match="expected exact, measured biased"):
        assert_claims("analog-sgd", ["floor-vs-lr"], budget=TEST_BUDGET, seed=1, expect="exact")


def test_lr_only_factories_are_accepted():
    r = assert_claims(ex.my_digital_sgd, "reduces-to-digital", budget=TEST_BUDGET)
    assert r["reduces-to-digital"].measured == 0.0


def test_report_json_and_table_contain_every_claim(reports):
    r = reports["analog"]
    data = json.loads(json.dumps(r.as_dict(), allow_nan=False))
    assert [c["name"] for c in data["claims"]] == list(CLAIMS)
    assert data["exit_code"] == 0 and data["budget"] == "test"
    for c in data["claims"]:
        assert c["verdict"] in ("holds", "fails", "inconclusive", "skipped", "n/a", "error")
        assert c["name"] == c["id"]                        # the key of the JSON before the Claim record
    assert all(type(c) is Claim and c.verdict in VERDICTS for c in r)
    table = r.table()
    for name in CLAIMS:
        assert name in table


def test_stationary_floors_helper_matches_D3():
    (g,) = stationary_floors("analog-sgd", cv.SoftBounds(1.0), [0.01], trials=200, steps=3000, seed=2)
    assert g.n_bad == 0
    assert abs(g.bias - D3_REFERENCE) <= 0.1 * D3_REFERENCE + 3 * g.bias_se


def test_a_pulsed_mode_is_passed_to_the_factory():
    r = check("analog-sgd", ["stays-in-range"], budget=TEST_BUDGET, mode=cv.Pulsed(1e-3))
    assert r["stays-in-range"].verdict == "holds" and r["stays-in-range"].measured <= 1.0
    with pytest.raises(cv.ConfigError, match="does not accept a mode= keyword"):
        check(ex.my_digital_sgd, ["reduces-to-digital"], mode=cv.Pulsed(1e-3))


def _scalar_lr_factory(lr, device, *, mode=None):
    return cv.analog_sgd(float(lr), device)      # the mistake the contract warns about: lr is (trials, 1)


def _three_argument_factory(lr, device, extra):
    return cv.analog_sgd(lr, device)


@pytest.mark.parametrize("target, needle", [
    (_scalar_lr_factory, r"_scalar_lr_factory\(lr, device\) raised TypeError: .*never float\(lr\)"),
    (_three_argument_factory, r"cannot be called as factory\(lr, device\): .*'extra'"),
    ("no.such.module:f", "cannot import module"),
    ("convergence.sim.algorithms", "must be 'package.module:factory'"),
    ("convergence.sim.algorithms:nope", "has no attribute"),
    ("convergence.sim.algorithms:analog_sdg", r"has no attribute 'analog_sdg' \(did you mean 'analog_sgd'\?\)"),
    ("analog_sgd", r"\(did you mean 'analog-sgd'\?\)"),
    ("Tiki-Taka", r"\(did you mean 'tiki-taka'\?\)"),
    ("my_algorithms.py:compensated_sgd", "not a file path: my_algorithms:compensated_sgd"),
    ("examples/my_algorithms.py:compensated_sgd", "not a file path: my_algorithms:compensated_sgd"),
    ("surely_not_a_module_here:f", "modules import from the working directory"),
    (ex.swapped_arguments, r"calls factory\(lr, device\) in this order"),
    (ex.step_changes_the_shape, r"query\(step\(state, g\)\) returned shape \(2, 1\), expected .* = \(2, 3\)"),
    (ex.analog_lists_the_state, r"analog\(state\) must list \(name, array, device\).*got a SGDState of length 2"),
    (ex.analog_without_trials_axis, r"trials axis first \(got an array of shape \(\) for 'w'\)"),
    (ex.steps_in_place, r"step changed its input state in place"),
    (ex.NOT_A_FACTORY, "not callable"),
    (ex.AN_ALGORITHM, "Algorithm instance, not a factory"),
    (ex.returns_a_number, "not a convergence Algorithm"),
])
def test_bad_targets_are_config_errors(target, needle):
    with pytest.raises(cv.ConfigError, match=needle):
        check(target, ["reduces-to-digital"])


@pytest.mark.parametrize("kwargs, needle", [
    ({"claims": "floor-vs-lr,bogus"}, "unknown 'bogus'"),
    ({"claims": "floor_vs_lr"}, r"unknown 'floor_vs_lr' \(did you mean 'floor-vs-lr'\?\)"),
    ({"budget": "huge"}, "budget must be one of"),
    ({"expect": "maybe"}, "expect must be one of"),
    ({"k": -1.0}, "k must be"),
    ({"seed": -3}, "seed must be"),
])
def test_bad_options_are_config_errors(kwargs, needle):
    with pytest.raises(cv.ConfigError, match=needle):
        check("digital-sgd", **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("target", ["digital-sgd", "analog-sgd", "tiki-taka"])
def test_quick_budget_runs_under_a_minute(target):
    r = check(target)
    assert r.all_hold, r.table()
    assert r.seconds < 60.0


def test_reduces_to_digital_is_not_applicable_under_a_pulsed_mode():
    # whole pulses of dw_min make even Analog SGD on an ideal device differ from digital SGD by the rounding
    # noise, so under --pulsed the claim is n/a (not a failure of every algorithm); the expected mode still runs it
    r = check("analog-sgd", ["reduces-to-digital"], budget=TEST_BUDGET, mode=cv.Pulsed(1e-3))
    assert r["reduces-to-digital"].verdict == "n/a" and "pulsed" in r["reduces-to-digital"].note
    assert r.all_hold and r.exit_code == 0
    r = check("analog-sgd", ["reduces-to-digital"], budget=TEST_BUDGET, mode=cv.Expected())
    assert r["reduces-to-digital"].verdict == "holds" and r["reduces-to-digital"].measured == 0.0
