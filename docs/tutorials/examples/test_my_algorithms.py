"""The pytest / Hypothesis tests a user writes for the algorithms of my_algorithms.py
(docs/tutorials/property-testing.md). Run them with ``pytest docs/tutorials/examples``; the
project's own suite runs them too (tests/test_docs.py)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import my_algorithms as my
from convergence.testing import assert_claims, seeds, shifted_devices, soft_bounds, stationary_floors


def test_compensated_sgd_passes_the_battery_as_an_exact_algorithm():
    report = assert_claims(my.compensated_sgd, expect="exact")     # every applicable claim, quick budget
    assert report["floor-vs-lr"].classification == "exact"
    assert report["p1-thm2-bound"].verdict.value == "skipped"      # declared not applicable


def test_the_battery_catches_the_wrong_side_bug():
    with pytest.raises(AssertionError, match="floor-vs-lr"):
        assert_claims(my.wrong_side_sgd, ["floor-vs-lr"])


@settings(max_examples=10, deadline=None)   # each example is a simulation of 200 x 2000 steps
@given(device=st.one_of(soft_bounds(tau=(1.0, 4.0)), shifted_devices(tau=(1.0, 4.0), c=(0.1, 0.3))),
       w_star=st.floats(-0.2, 0.2), seed=seeds())
def test_no_stationary_bias_on_random_devices(device, w_star, seed):
    # τ >= 1, c <= 0.3 and |w*| <= 0.2 keep both responses above 0.56 near the optimum
    # (q₋ = (1 − c)(1 + w/τ) is the smaller one), so the gain cap 2 does not bind there
    (g,) = stationary_floors(my.compensated_sgd, device, [0.02], w_star=w_star, sigma=0.3,
                             trials=200, steps=2000, seed=seed)
    assert g.n_bad == 0
    assert g.bias <= 4 * g.bias_se + 1e-4     # ‖E∇f‖² is zero up to 4 standard errors
