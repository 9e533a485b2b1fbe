"""Update modes: pulsed -> expected as dw_min -> 0, exact n-pulse composition, pulse counting."""
from __future__ import annotations

import math

import numpy as np
import pytest

from convergence import CLin, ConfigError, Exponential, LinearStep, Power, SoftBounds
from convergence.physics.pulses import (Expected, Pulsed, _looped_pulses, analog_update, apply_pulses,
                                n_pulse_closed_form_softbounds, pulse_counts)


def test_softbounds_closed_form_matches_n_pulse_formula_and_per_pulse_loop():
    tau, dw_min = 0.9, 0.013
    for n in (0, 1, 7, 150):
        for w0, up in ((0.2, True), (-0.5, False), (0.85, True)):
            w = np.array([[w0]])
            closed = apply_pulses(w, np.array([[float(n)]]), np.array([[1.0 if up else -1.0]]), SoftBounds(tau), dw_min)
            loop = w0
            for _ in range(n):  # one pulse at a time: w + s dw_min q_s(w)
                loop = loop + (dw_min * (1 - loop / tau) if up else -dw_min * (1 + loop / tau))
            assert closed[0, 0] == pytest.approx(loop, rel=1e-12, abs=1e-14)
            assert closed[0, 0] == pytest.approx(n_pulse_closed_form_softbounds(w0, n, tau, dw_min, up),
                                                 rel=1e-12, abs=1e-14)


@pytest.mark.parametrize("dev", [SoftBounds(1.3, w_sym=0.2), CLin(2.0, 0.3), LinearStep(1.0, -0.4)],
                         ids=lambda d: d.spec())
def test_affine_closed_form_equals_masked_loop_for_many_elements(dev):
    rng = np.random.default_rng(5)
    lo, hi = dev.bounds
    w = rng.uniform(lo, hi, size=(64, 30))
    n = rng.integers(0, 40, size=w.shape).astype(float)
    sign = np.where(rng.random(w.shape) < 0.5, 1.0, -1.0)
    closed = apply_pulses(w, n, sign, dev, 0.01)
    loop = np.clip(_looped_pulses(w, n, sign > 0, dev, 0.01, None, None), lo, hi)
    np.testing.assert_allclose(closed, loop, rtol=1e-11, atol=1e-13)


def _flow(w, dw, dev):
    """Continuous-pulse limit: integrate dw/dt = q_s(w) for |dW| time units (pulses of size -> 0)."""
    from scipy.integrate import solve_ivp
    up = dw >= 0
    def rhs(t, y):
        y = y.reshape(w.shape)
        rate = np.where(up, dev.q_plus(y), -dev.q_minus(y))
        return (rate * np.abs(dw) / np.abs(dw).max()).ravel()
    sol = solve_ivp(rhs, (0.0, float(np.abs(dw).max())), w.ravel(), rtol=1e-12, atol=1e-14, method="DOP853")
    return sol.y[:, -1].reshape(w.shape)


@pytest.mark.parametrize("dev", [SoftBounds(1.0), CLin(1.0, 0.2), Power(1.0, 0.5), Exponential(1.0, 2.0)],
                         ids=lambda d: d.spec())
def test_pulsed_converges_with_error_O_dw_min(dev):
    """Deterministic pulse counts (|dW| a multiple of dw_min): the pulsed update tends to the
    continuous-pulse limit with error O(dw_min) (P1 eq 19, P2 Thm 4); that limit differs from
    the first-order expected update by O(dW^2) only (next test)."""
    rng = np.random.default_rng(0)
    w = rng.uniform(-0.6, 0.6, size=(4, 25))
    dws = [4e-3, 2e-3, 1e-3, 5e-4]
    dw = np.round(rng.uniform(-0.05, 0.05, size=w.shape) / dws[0]) * dws[0]   # a multiple of every dw_min
    limit = _flow(w, dw, dev)
    errs = np.array([np.abs(analog_update(w, dw, dev, Pulsed(m, rounding="nearest")) - limit).max() for m in dws])
    slope = np.polyfit(np.log(dws), np.log(errs), 1)[0]
    assert 0.9 < slope < 1.1, (errs, slope)


@pytest.mark.parametrize("dev", [SoftBounds(1.0), CLin(1.0, 0.2), Power(1.0, 0.5), Exponential(1.0, 2.0)],
                         ids=lambda d: d.spec())
def test_pulsed_tends_to_expected_when_dw_min_and_dw_shrink_together(dev):
    """dw_min = dW^2: |pulsed - expected| = O(dw_min) + O(dW^2) = O(dw_min) (P1 eq 19-20)."""
    rng = np.random.default_rng(1)
    w = rng.uniform(-0.6, 0.6, size=(4, 25))
    signs = np.where(rng.random(w.shape) < 0.5, 1.0, -1.0)
    scales, errs = [0.08, 0.04, 0.02, 0.01], []
    for s in scales:
        dw_min = s * s
        dw = signs * dw_min * np.round(s * rng.uniform(0.5, 1.0, size=w.shape) / dw_min)
        errs.append(np.abs(analog_update(w, dw, dev, Pulsed(dw_min, rounding="nearest"))
                           - analog_update(w, dw, dev, Expected())).max())
    slope = np.polyfit(np.log([s * s for s in scales]), np.log(errs), 1)[0]
    assert 0.85 < slope < 1.15, (errs, slope)


def test_pulsed_error_bound_for_soft_bounds():
    """Derived bound (n soft-bounds pulses in closed form): with n pulses for a desired dW, s = sign(dW),
    |U_p - U| <= ((tau - s w)/tau) (|n dw_min - |dW|| + n(n-1) dw_min^2 / (2 tau)).

    P1 eq 20 as printed (dw_min/tau + dW^2/(2 tau)) is not a valid bound: the
    rounding term carries the response (tau - s w)/tau in [0, 2], not 1/tau (dimensionally a weight,
    not a ratio), so it fails for tau > 1 and in the fast-reset direction. Recorded in the errata.
    """
    rng = np.random.default_rng(2)
    tau = 1.5
    w = rng.uniform(-tau, tau, size=(200, 50))
    dw = rng.uniform(-0.3, 0.3, size=w.shape)
    s = np.sign(dw)
    p1_violations = {}
    for dw_min in (0.05, 0.01, 0.001):
        n = np.ceil(np.abs(dw) / dw_min)
        err = np.abs(analog_update(w, dw, SoftBounds(tau), Pulsed(dw_min, rounding="ceil"))
                     - analog_update(w, dw, SoftBounds(tau)))
        derived = (tau - s * w) / tau * (np.abs(n * dw_min - np.abs(dw)) + n * (n - 1) * dw_min ** 2 / (2 * tau))
        assert np.all(err <= derived * (1 + 1e-9) + 1e-13)
        p1 = dw_min / tau + dw ** 2 / (2 * tau)
        p1_violations[dw_min] = int(np.sum(err > p1 + 1e-12))
    assert p1_violations[0.05] > 0   # the transcribed eq 20 is not a valid bound in the reset direction


def test_stochastic_rounding_is_unbiased_and_capped():
    rng = np.random.default_rng(1)
    dw = np.full((20000, 1), 0.37e-2)
    n = pulse_counts(dw, Pulsed(1e-3), rng)
    assert set(np.unique(n)) == {3.0, 4.0}
    p_hat = (n == 4).mean()
    assert abs(p_hat - 0.7) < 4 * math.sqrt(0.7 * 0.3 / n.size)
    capped = pulse_counts(np.full((5, 1), 1.0), Pulsed(1e-3, bl=8), rng)
    assert np.all(capped == 8)
    assert np.all(pulse_counts(dw, Pulsed(1e-3, rounding="ceil"), rng) == 4)
    assert np.all(pulse_counts(dw, Pulsed(1e-3, rounding="floor"), rng) == 3)


def test_pulsed_mean_matches_expected_update_to_first_order():
    """With stochastic rounding, E[pulsed] = expected + O(dw_min) (Monte Carlo, 4 stderr margin)."""
    rng = np.random.default_rng(2)
    dev = SoftBounds(1.0)
    w = np.full((40000, 1), 0.4)
    dw = np.full_like(w, 2.5e-3)
    out = analog_update(w, dw, dev, Pulsed(1e-3), rng)
    exp = analog_update(w[:1], dw[:1], dev)[0, 0]
    se = out.std() / math.sqrt(out.size)
    # model error of 2-3 pulses: <= (tau - w) n(n-1) dw_min^2 / (2 tau^2) (from the n-pulse closed form)
    assert abs(out.mean() - exp) < 4 * se + 0.6 * 3 * 2 * 1e-6 / 2


def test_c2c_noise_has_the_stated_variance_for_one_pulse():
    rng = np.random.default_rng(3)
    w = np.zeros((50000, 1))
    out = apply_pulses(w, np.ones_like(w), np.ones_like(w), SoftBounds(1.0), 0.01, c2c=0.5, rng=rng)
    # one pulse from 0: 0.01 * (1 + 0.5 xi)
    assert abs(out.mean() - 0.01) < 4 * 0.005 / math.sqrt(w.size)
    assert abs(out.std() - 0.005) < 4 * 0.005 / math.sqrt(2 * w.size)


def test_pulsed_weights_stay_inside_the_device_range():
    rng = np.random.default_rng(4)
    for dev in (SoftBounds(0.5), Power(0.5, 0.3), Exponential(0.5, 4.0)):
        w = rng.uniform(-0.5, 0.5, size=(100, 10))
        for _ in range(30):
            w = analog_update(w, rng.normal(0, 0.5, size=w.shape), dev, Pulsed(0.01, bl=200, c2c=0.2), rng)
        assert np.all(w >= -0.5) and np.all(w <= 0.5) and np.all(np.isfinite(w))


def test_pulsed_mode_without_rng_is_rejected():
    with pytest.raises(ConfigError, match="rng"):
        analog_update(np.zeros((1, 1)), np.ones((1, 1)), SoftBounds(1.0), Pulsed(0.1))


def test_pulses_larger_than_a_narrow_device_range_fall_back_to_per_pulse_clipping():
    """An element whose range is narrower than dw_min (extreme d2d draw): each pulse clips."""
    from convergence import DeviceArray
    dev = DeviceArray(SoftBounds(1.0), np.ones((1, 2)), np.zeros((1, 2)), np.array([[1.0, 0.004]]),
                      np.zeros((1, 2)))
    w = np.zeros((1, 2))
    out = apply_pulses(w, np.full((1, 2), 3.0), np.ones((1, 2)), dev, 0.01)
    assert np.all(np.isfinite(out))
    assert out[0, 1] == pytest.approx(0.004)              # clipped at the narrow element's bound
    assert out[0, 0] == pytest.approx(n_pulse_closed_form_softbounds(0.0, 3, 1.0, 0.01), rel=1e-12)


def test_pulse_map_down_up_evaluates_float32_counts_in_float64():
    """float32 counts (from float32 desired updates) give the same pulses as their float64 copies."""
    from convergence.physics.pulses import PulseMap
    dev = SoftBounds(1.0)
    pmap = PulseMap.of(dev, 1e-3)
    rng = np.random.default_rng(2)
    w = rng.uniform(-0.5, 0.5, (3, 40))
    n_down, n_up = np.floor(rng.random((2, 3, 40)) * 7)
    ref = pmap.down_up(w, n_down.copy(), n_up.copy())
    np.testing.assert_array_equal(pmap.down_up(w, n_down.astype(np.float32), n_up.astype(np.float32)), ref)


@pytest.mark.parametrize("dev", [SoftBounds(0.7), SoftBounds(1.3, w_sym=0.2), CLin(2.0, 0.3)], ids=lambda d: d.spec())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_closed_form_on_the_few_pulsing_elements_is_bit_identical_to_every_element(monkeypatch, dev, dtype):
    """Noise-free affine pulses with few nonzero counts evaluate r^n only where n ≠ 0 (r^0 = 1 exactly): the same
    weights, bit for bit, as evaluating every element (forced by a huge threshold), NaN counts included."""
    import convergence.physics.pulses as pulses
    rng = np.random.default_rng(8)
    lo, hi = dev.bounds
    w = rng.uniform(lo, hi, size=(96, 130)).astype(dtype)
    w[0, :3] = -0.0
    n = np.where(rng.random(w.shape) < 0.006, rng.integers(1, 9, w.shape), 0).astype(dtype)
    n[5, 7] = np.nan
    up = rng.random(w.shape) < 0.5
    hits = []
    real = pulses._sparse_hits
    monkeypatch.setattr(pulses, "_sparse_hits", lambda *a: hits.append(real(*a)) or hits[-1])
    sparse = apply_pulses(w, n, up, dev, 0.01)
    assert hits[-1] is not None and 0 < hits[-1].size < n.size // 64
    monkeypatch.setattr(pulses, "_SPARSE_MIN", 10 ** 12)
    dense = apply_pulses(w, n, up, dev, 0.01)
    assert hits[-1] is None and sparse.dtype == dense.dtype == dtype
    np.testing.assert_array_equal(sparse, dense)
    assert np.isnan(sparse[5, 7]) and np.any(sparse != w)


@pytest.mark.parametrize("dev", [SoftBounds(0.7), SoftBounds(1.3, w_sym=0.2)], ids=lambda d: d.spec())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("direction", [True, False])
@pytest.mark.parametrize("density", [0.005, 0.5])
def test_one_direction_pass_equals_the_mixed_pass_elementwise(dev, dtype, direction, density):
    """A pass whose pulses all go one way (the up or the down write of a "signs" step) uses a scalar fixed point;
    every element equals, bit for bit, the same element of a pass with mixed directions (one element flipped)."""
    rng = np.random.default_rng(9)
    lo, hi = dev.bounds
    w = rng.uniform(lo, hi, size=(80, 70)).astype(dtype)
    n = np.where(rng.random(w.shape) < density, rng.integers(1, 9, w.shape), 0).astype(dtype)
    same = np.full(w.shape, direction)
    mixed = same.copy()
    mixed[3, 4] = not direction
    one_way = apply_pulses(w, n, same, dev, 0.01)
    ref = apply_pulses(w, n, mixed, dev, 0.01)
    keep = np.ones(w.shape, dtype=bool)
    keep[3, 4] = False
    assert one_way.dtype == dtype
    np.testing.assert_array_equal(one_way[keep], ref[keep])
    assert np.any(one_way != w)


def test_a_pulse_larger_than_the_device_allows_is_refused():
    """One soft-bounds pulse multiplies w − (±τ) by 1 − δ/τ: δ ≥ τ would overshoot the bound (a factor ≤ 0)."""
    from convergence import analog_sgd, tiki_taka
    from convergence.physics.pulses import check_mode
    assert check_mode(Pulsed(0.999, bl=5), SoftBounds(1.0)).dw_min == 0.999
    with pytest.raises(ConfigError, match="must be below 1"):
        check_mode(Pulsed(1.0, bl=5), SoftBounds(1.0))
    with pytest.raises(ConfigError, match="too large"):
        analog_sgd(0.1, SoftBounds(0.5), mode=Pulsed(0.5, bl=5))
    with pytest.raises(ConfigError, match="must be below 0.3"):          # P's device, in the shared mode
        tiki_taka(0.1, 0.1, SoftBounds(1.0), device_fast=SoftBounds(0.3), mode=Pulsed(0.4, bl=5))
