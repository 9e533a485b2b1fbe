"""Devices: response identities, symmetric points, P1 Lemma 1 / Theorem 1, aihwkit regression table."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from convergence import (CLin, ConfigError, ConstantStep, Exponential, Ideal, LinearStep, Power, SoftBounds,
                         Variation, realize)
from convergence.physics.devices import DEVICES, saturation
from convergence.rng import TrialStreams
from convergence.physics.pulses import Pulsed, analog_update, apply_pulses

ALL_DEVICES = [Ideal(), ConstantStep(1.0, -1.0, 0.3), SoftBounds(0.8), SoftBounds(2.0, w_sym=0.3), CLin(3.5, 0.2),
               LinearStep(1.0, -0.5), LinearStep(2.0, -5.0, w_max=1.0, w_min=-1.0), Power(1.0, 0.5), Power(2.0, 3.0),
               Exponential(1.0, 2.0)]


@pytest.mark.parametrize("dev", ALL_DEVICES, ids=lambda d: d.spec())
def test_F_G_are_the_symmetric_and_asymmetric_parts(dev):
    w = np.linspace(*[x if math.isfinite(x) else s for x, s in zip(dev.bounds, (-2, 2))], 101)
    qp, qm = dev.q_plus(w), dev.q_minus(w)
    np.testing.assert_allclose(dev.F(w) + dev.G(w), qm, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(dev.F(w) - dev.G(w), qp, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("dev", [d for d in ALL_DEVICES if not isinstance(d, (Ideal, ConstantStep))],
                         ids=lambda d: d.spec())
def test_symmetric_point_zeroes_G_and_lies_in_range(dev):
    s = dev.symmetric_point
    assert dev.bounds[0] < s < dev.bounds[1]
    assert abs(float(dev.G(s))) < 1e-12


def test_symmetric_points_have_the_closed_forms_of_the_papers():
    assert CLin(3.5, 0.2).symmetric_point == pytest.approx(0.7)        # c tau (P2 §4)
    assert float(CLin(3.5, 0.2).F(0.7)) == pytest.approx(1 - 0.2 ** 2)  # F(w_sym) = 1 - c^2 (D6)
    assert SoftBounds(2.0, w_sym=0.3).symmetric_point == pytest.approx(0.3)
    assert math.isnan(ConstantStep(up_down=0.3).symmetric_point)       # G is a nonzero constant


def test_affine_devices_agree_with_their_coefficients():
    for dev in ALL_DEVICES:
        aff = dev.affine()
        if aff is None:
            continue
        w = np.linspace(-0.5, 0.5, 11)
        np.testing.assert_allclose(dev.q_plus(w), aff[0] + aff[1] * w, rtol=1e-14)
        np.testing.assert_allclose(dev.q_minus(w), aff[2] + aff[3] * w, rtol=1e-14)


def test_clin_and_linearstep_F_G_closed_forms():
    dev = CLin(2.0, 0.3)
    w = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(dev.F(w), 1 - 0.3 * w / 2.0, rtol=1e-14)
    np.testing.assert_allclose(dev.G(w), w / 2.0 - 0.3, rtol=1e-14, atol=1e-15)
    ls = LinearStep(3.0, -1.5, w_sym=0.1)
    # corrected sign (P1 App. C eq 23 prints the opposite): G = +1/2 (1/tau_max - 1/tau_min)(w - w_sym)
    np.testing.assert_allclose(ls.G(w), 0.5 * (1 / 3.0 + 1 / 1.5) * (w - 0.1), rtol=1e-14, atol=1e-15)


def test_power_and_exponential_are_zero_shifted_and_saturate_at_the_bounds():
    for dev in (Power(1.5, 0.5), Exponential(1.5, 3.0)):
        assert float(dev.q_plus(0.0)) == pytest.approx(1.0) and float(dev.q_minus(0.0)) == pytest.approx(1.0)
        assert float(dev.q_plus(1.5)) == pytest.approx(0.0, abs=1e-15)
        assert float(dev.q_minus(-1.5)) == pytest.approx(0.0, abs=1e-15)
        assert float(dev.G(0.0)) == pytest.approx(0.0, abs=1e-15)


@given(tau=st.floats(0.1, 10.0), frac=st.floats(-1.0, 1.0), dw_frac=st.floats(-1.0, 1.0))
@example(tau=1.0, frac=1.0, dw_frac=1.0)
@example(tau=1.0, frac=-1.0, dw_frac=-1.0)
def test_p1_theorem1_box_invariance(tau, frac, dw_frac):
    """|w| <= tau and |dw| <= tau  =>  |w'| <= tau (P1 Thm 1): one expected soft-bounds update."""
    w = np.array([[frac * tau]])
    dw = np.array([[dw_frac * tau]])
    w_new = analog_update(w, dw, SoftBounds(tau))
    assert abs(w_new[0, 0]) <= tau * (1 + 1e-12)


@given(tau=st.floats(0.1, 10.0), frac=st.floats(-0.999, 0.999), dw=st.floats(-5.0, 5.0))
def test_p1_lemma1_saturation_identity(tau, frac, dw):
    """|w' - w| = |sign(dw) - w/tau| |dw| exactly (P1 Lemma 1)."""
    w = np.array([[frac * tau]])
    w_new = analog_update(w, np.array([[dw]]), SoftBounds(tau))
    expected = abs(math.copysign(1.0, dw) - w[0, 0] / tau) * abs(dw)
    assert abs(w_new[0, 0] - w[0, 0]) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_box_invariance_along_long_random_trajectories():
    rng = np.random.default_rng(3)
    tau = 0.7
    w = rng.uniform(-tau, tau, size=(500, 20))
    for _ in range(200):
        w = analog_update(w, rng.uniform(-tau, tau, size=w.shape), SoftBounds(tau))
        assert np.abs(w).max() <= tau * (1 + 1e-12)


def test_saturation_is_abs_w_over_tau_for_soft_bounds():
    w = np.array([[0.3, -0.6, 0.0]])
    np.testing.assert_allclose(saturation(SoftBounds(1.2), w), np.abs(w) / 1.2)
    assert np.all(saturation(Ideal(), w) == 0)


# --- aihwkit regression table (measured with aihwkit 1.2.0): 60 up pulses from 0, then 60 down, dw_min 0.02 ---------

def _up_down(dev, dw_min, offset=0.0):
    w = np.array([[0.0 + offset]])
    traj = [w[0, 0]]
    for sign in [1.0] * 60 + [-1.0] * 60:
        w = apply_pulses(w, np.ones_like(w), np.full_like(w, sign), dev, dw_min)
        traj.append(w[0, 0])
    return np.array(traj) - offset


@pytest.mark.parametrize("dev, dw_min, up60, down60", [
    (ConstantStep(1.0, -1.0, 0.0), 0.02, 1.000000, -0.200000),
    (ConstantStep(1.0, -1.0, 0.3), 0.02, 1.000000, 0.160000),
    # aihwkit LinearStep gamma_up 0.5, gamma_down 0.2, bounds ±1: q+ = 1 - 0.5 w, q- = 1 + 0.2 w
    (LinearStep(2.0, -5.0, w_max=1.0, w_min=-1.0), 0.02, 0.905687, -0.356658),
    (LinearStep(1.0, -0.5), 0.02, 0.702447, -0.396166),                        # SoftBounds w_max 1, w_min -0.5
    (Power(1.0, 2.0), 0.02 * 0.25, 0.231549, -0.101986),                      # PowStep gamma 2: dw_min * 2**-gamma
])
def test_single_pulse_trajectories_match_aihwkit_table(dev, dw_min, up60, down60):
    traj = _up_down(dev, dw_min)
    assert traj[60] == pytest.approx(up60, abs=2e-6)
    assert traj[120] == pytest.approx(down60, abs=2e-6)


def test_reference_device_with_subtracted_symmetric_point_matches_aihwkit_table():
    """SoftBoundsReference up_down=0.2 (Δ+ = δ, Δ- = 0.8δ, bounds ±1) = CLin(τ=1, c=1/9) with step 0.9δ;
    visible weight = conductance − w* with w* = 1/9 (aihwkit 1.2.0: 0.624397, −0.451736)."""
    dev = CLin(1.0, 1.0 / 9.0)
    assert dev.symmetric_point == pytest.approx(0.111111, abs=1e-6)
    traj = _up_down(dev, 0.02 * 0.9, offset=dev.symmetric_point)
    assert traj[60] == pytest.approx(0.624397, abs=2e-6)
    assert traj[120] == pytest.approx(-0.451736, abs=2e-6)


# --- device-to-device variation -----------------------------------------------------------------------

def test_realize_without_variation_reproduces_the_nominal_device():
    dev = CLin(2.0, 0.25)
    arr = realize(dev, Variation(), (4, 3), np.random.default_rng(0))
    w = np.linspace(-1.5, 1.5, 12).reshape(4, 3)
    np.testing.assert_allclose(arr.q_plus(w), dev.q_plus(w), rtol=1e-15)
    np.testing.assert_allclose(arr.symmetric_point, dev.symmetric_point, rtol=1e-14)
    np.testing.assert_allclose(analog_update(w, 0.1 * w, arr), analog_update(w, 0.1 * w, dev), rtol=1e-14)


def test_variation_moves_symmetric_points_and_bounds_per_element():
    dev = SoftBounds(1.0)
    var = Variation(sym_skew=0.2, sym_dtod=0.05, range_dtod=0.1, dw_min_dtod=0.3)
    arr = realize(dev, var, (2000, 5), TrialStreams(1, 2000, purpose=2))
    sym = arr.symmetric_point
    # skew and variability of the symmetric point: mean 0.2, std 0.05 (4 stderr margins)
    assert abs(sym.mean() - 0.2) < 4 * 0.05 / math.sqrt(sym.size)
    assert abs(sym.std() - 0.05) < 4 * 0.05 / math.sqrt(2 * sym.size)
    lo, hi = arr.bounds
    np.testing.assert_allclose((hi - lo) / 2, arr.scale, rtol=1e-14)
    assert np.all(np.abs(arr.G(sym)) < 1e-12)


def test_nonaffine_realized_symmetric_point_by_bisection():
    arr = realize(Power(1.0, 2.0), Variation(up_down_dtod=0.1), (50, 2), np.random.default_rng(2))
    sym = arr.symmetric_point
    assert np.all(np.abs(arr.G(sym)) < 1e-9)
    assert np.all((sym > -1) & (sym < 1))


# --- validation -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, field", [
    (lambda: SoftBounds(tau=-1.0), "tau"), (lambda: SoftBounds(tau=float("nan")), "tau"),
    (lambda: CLin(1.0, c=1.0), "c"), (lambda: LinearStep(1.0, 0.5), "tau_min"),
    (lambda: LinearStep(1.0, -1.0, w_max=2.0), "w_max"), (lambda: Power(1.0, 0.0), "gamma"),
    (lambda: Exponential(1.0, 1000.0), "gamma"), (lambda: ConstantStep(w_min=0.5), "w_min"),
    (lambda: ConstantStep(up_down=1.5), "up_down"), (lambda: Variation(dw_min_dtod=-0.1), "dw_min_dtod"),
    (lambda: Pulsed(dw_min=0.0), "dw_min"), (lambda: Pulsed(dw_min=0.1, bl=0), "bl"),
    (lambda: Pulsed(dw_min=0.1, rounding="up"), "rounding"), (lambda: SoftBounds(tau="abc"), "tau"),
])
def test_bad_device_parameters_are_rejected_naming_the_field(make, field):
    with pytest.raises(ConfigError, match=field):
        make()


def test_devices_are_hashable_and_immutable():
    a, b = SoftBounds(0.8), SoftBounds(0.8)
    assert hash(a) == hash(b) and a == b and len({a, b, CLin(1.0, 0.1)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.tau = 2.0  # type: ignore[misc]
    assert set(DEVICES) >= {"ideal", "softbounds", "linear", "linearstep", "power", "exp", "constant"}


@pytest.mark.parametrize("dev", ALL_DEVICES + [CLin(1.0, -0.6), LinearStep(0.5, -3.0, w_sym=0.2), Power(1.0, 0.2),
                                               Exponential(2.0, 6.0)], ids=lambda d: d.spec())
def test_G_over_sqrt_F_is_non_decreasing_where_the_driver_relies_on_it(dev):
    """simulate() takes max_i (G/√F)² at a row's extreme elements; valid only for monotone G/√F."""
    assert dev.monotone_ratio
    lo, hi = [x if math.isfinite(x) else s for x, s in zip(dev.bounds, (-2, 2))]
    w = np.linspace(lo, hi, 20001)[1:-1]
    r = dev.ratio(w)
    assert np.all(np.diff(r) >= -1e-12)


@pytest.mark.parametrize("device", [Power(0.7, 0.5), Power(0.7, 2.0), Power(0.7, 1.0), Exponential(0.7, 1.0),
                                    Exponential(0.7, 4.0)])
def test_power_and_exponential_responses_keep_float32(device):
    # float32 in, float32 out (no float64 round trip), equal to the float64 responses to float32 precision;
    # includes |w| > τ, where the power base clamps at 0
    w = np.random.default_rng(0).uniform(-0.8, 0.8, (4, 6))
    for q in ("q_plus", "q_minus", "F", "G"):
        ref = getattr(device, q)(w)
        got = getattr(device, q)(w.astype(np.float32))
        assert got.dtype == np.float32
        assert ref.dtype == np.float64
        np.testing.assert_allclose(got, ref, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("device", [SoftBounds(0.8), CLin(0.8, 0.2), LinearStep(0.9, -0.7), Ideal(), Power(0.8, 0.5),
                                    Exponential(0.8, 3.0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_expected_update_keeps_the_dtype_and_both_forms_agree(device, dtype):
    from convergence.physics.pulses import expected_update
    rng = np.random.default_rng(1)
    w = rng.uniform(-0.6, 0.6, (5, 7)).astype(dtype)
    per = rng.normal(0, 0.01, (4, 5, 7)).astype(dtype)           # per-sample requests ΔW_b
    dw, s = per.sum(0), np.abs(per).sum(0)
    up, down = np.maximum(per, 0).sum(0), np.maximum(-per, 0).sum(0)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    net = expected_update(w, dw, device)
    signs = expected_update(w, dw, device, total=s)
    assert net.dtype == dtype and signs.dtype == dtype
    w64 = w.astype(float)
    np.testing.assert_allclose(net, w64 + dw * device.F(w64) - np.abs(dw) * device.G(w64), **tol)
    # the "signs" form is W + U q+(W) − D q−(W) with the batch's up/down totals
    np.testing.assert_allclose(signs, w64 + up * device.q_plus(w64) - down * device.q_minus(w64), **tol)


def test_every_realised_device_kind_implements_the_protocol():
    from convergence.physics.devices import RealizedDevice
    from convergence.physics.reference_device import SoftBoundsReference
    rng = np.random.default_rng(0)
    kinds = [SoftBounds(0.8), realize(SoftBounds(0.8), Variation(up_down_dtod=0.1), (2, 3), rng),
             SoftBoundsReference(up_down_dtod=0.1).realize((2, 3, 4), rng)]
    for dev in kinds:
        assert isinstance(dev, RealizedDevice)
        w = np.zeros((2, 3, 4)) if dev is kinds[-1] else np.zeros((2, 3))
        ap, bp, am, bm = dev.affine()
        # the affine coefficients are the responses, and G vanishes at the symmetric point
        np.testing.assert_allclose(dev.q_plus(w), ap + bp * w, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dev.q_minus(w), am + bm * w, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(dev.G(np.broadcast_to(dev.symmetric_point, w.shape)), 0.0, atol=1e-12)
