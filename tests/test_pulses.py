"""Pulse application with cycle-to-cycle noise: the aggregated form against the pulse-by-pulse
reference, and bit-identical results under any split of the trials."""
from __future__ import annotations

import math

import numpy as np
import pytest

from convergence import (CLin, ConstantStep, Exponential, Gaussian, Ideal, LeastSquares, LinearStep, Power, Pulsed,
                         SoftBounds, Variation, analog_sgd, realize, simulate, tiki_taka)

from convergence.physics.devices import DeviceArray
from convergence.rng import TrialStreams
from convergence.physics.pulses import ENVELOPE_K, PulseMap, PulseNoise, _looped_pulses, apply_pulses

K = 5.0  # margin in standard errors for the Monte Carlo comparisons


def _compare(a: np.ndarray, b: np.ndarray) -> None:
    """Same mean and variance within K standard errors (independent samples of equal size)."""
    n = a.size
    se_mean = math.sqrt(a.var() / n + b.var() / n)
    assert abs(a.mean() - b.mean()) < K * se_mean
    se_var = math.sqrt(2 * a.var() ** 2 / (n - 1) + 2 * b.var() ** 2 / (n - 1))
    assert abs(a.var() - b.var()) < K * se_var


def test_aggregated_noise_matches_the_pulse_by_pulse_reference_in_distribution(monkeypatch):
    trials, dw, c2c = 4000, 0.02, 0.5
    dev = SoftBounds(1.0)
    noise = PulseNoise(c2c, c2c)
    # columns: interior up pass, interior down pass, up pass ending near the upper bound, down pass from near
    # the lower bound (the last two must take the loop: a bound is within the noise envelope)
    w0 = np.array([0.0, 0.2, 0.9, -0.95])
    n0 = np.array([20.0, 35.0, 25.0, 10.0])
    up0 = np.array([True, False, True, False])
    w = np.tile(w0, (trials, 1))
    n = np.tile(n0, (trials, 1))
    up = np.tile(up0, (trials, 1))
    seen = []
    real_loop = PulseMap._loop_unsafe

    def spy(self, out, w_, n_, up_, unsafe, rng):
        seen.append(np.array(unsafe))
        return real_loop(self, out, w_, n_, up_, unsafe, rng)

    monkeypatch.setattr(PulseMap, "_loop_unsafe", spy)
    fast = PulseMap.of(dev, dw, noise).signed(w, n, up, np.random.default_rng(1))
    # the loop ran only for the near-bound columns; the interior ones took the summed Gaussian
    assert len(seen) == 1
    assert not seen[0][:, :2].any() and seen[0][:, 2:].all()
    # reference: the generic pulse-by-pulse loop (an independent implementation of the same recursion)
    ref = _looped_pulses(w, n, up, dev, dw, noise, np.random.default_rng(2))
    for j in range(4):
        _compare(fast[:, j], ref[:, j])
    assert np.all(fast >= -1.0) and np.all(fast <= 1.0)
    # the noise is present where the closed form alone would be deterministic
    assert fast[:, 0].std() > 0.5 * dw * c2c * math.sqrt(n0[0])


def test_envelope_criterion_is_the_stated_inequality(monkeypatch):
    # an up pass from w of n pulses: aggregated iff max(w, w_n) + K sd_n <= hi and min(w, w_n) - K sd_n >= lo
    dev, dw, c2c = SoftBounds(1.0), 0.01, 0.3
    r = 1 - dw
    orig = PulseMap._loop_unsafe
    calls = []
    for w, n in ((0.5, 30.0), (0.9, 30.0), (0.97, 5.0), (0.6, 60.0)):
        wn = 1 - r ** n * (1 - w)
        sd = dw * c2c * math.sqrt((1 - r ** (2 * n)) / (1 - r ** 2))
        expect_safe = wn + ENVELOPE_K * sd <= 1.0 and w - ENVELOPE_K * sd >= -1.0
        calls.clear()
        monkeypatch.setattr(PulseMap, "_loop_unsafe", lambda self, *a: (calls.append(1), orig(self, *a))[1])
        PulseMap.of(dev, dw, PulseNoise(c2c, c2c)).signed(np.full((1, 1), w), np.full((1, 1), n),
                                                         np.ones((1, 1), bool), np.random.default_rng(0))
        assert (not calls) == expect_safe, (w, n)


def test_per_pulse_clipping_changes_the_law_near_a_bound():
    # near the bound the per-pulse reference piles mass onto the bound; the result of apply_pulses must too
    trials, dw, c2c = 20000, 0.02, 1.0
    dev = SoftBounds(1.0)
    w = np.full((trials, 1), 0.99)
    n = np.full((trials, 1), 3.0)
    up = np.ones((trials, 1), bool)
    out = apply_pulses(w, n, up, dev, dw, c2c=c2c, rng=np.random.default_rng(3))
    ref = _looped_pulses(w, n, up, dev, dw, PulseNoise(c2c, c2c), np.random.default_rng(4))
    p_out, p_ref = np.mean(out == 1.0), np.mean(ref == 1.0)
    assert p_ref > 0.05
    assert abs(p_out - p_ref) < K * math.sqrt(2 * p_ref * (1 - p_ref) / trials)
    _compare(out, ref)


def test_reference_device_noise_is_relative_to_its_own_step():
    # SoftBoundsReference additive noise: σ_s = (Δ_s/δ) dw_min_std, so one up pulse from the reference point
    # has std δ scale_up dw_min_std
    from convergence.physics.reference_device import SoftBoundsReference, apply_device_pulses
    dev = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-1.0, up_down=0.2, dw_min_std=0.5)
    real = dev.realize((20000, 1, 1), np.random.default_rng(0))
    w = np.zeros(real.shape)
    out = apply_device_pulses(w, np.ones_like(w), np.ones_like(w), real, np.random.default_rng(1))
    sd = 0.01 * 1.0 * 0.5          # Δ+/δ = 1 + 0 (up_down > 0 shrinks the down step)
    assert abs(out.std() - sd) < K * sd / math.sqrt(2 * w.size)
    assert abs(out.mean() - 0.01) < K * sd / math.sqrt(w.size)


# -- determinism: any split of the trials gives the same numbers ------------------------------------------

LSQ = LeastSquares(d=5, n=12, sigma_a=0.5, x_scale=0.3, seed=3)

DEVICES = {
    "ideal": Ideal(), "constant": ConstantStep(up_down=0.2), "softbounds": SoftBounds(0.3),
    "linear": CLin(0.3, 0.2), "linearstep": LinearStep(tau_max=0.4, tau_min=-0.3, w_max=0.25),
    "power": Power(0.3, 0.5), "exp": Exponential(0.3, 3.0),
}


def _algorithm(name, device):
    mode = Pulsed(0.01, bl=40, c2c=0.6)
    if name == "analog_sgd":
        return analog_sgd(0.2, device, mode=mode)
    return tiki_taka(0.2, 0.1, device, transfer_every=2, read_noise=0.01, mode=mode)


@pytest.mark.parametrize("alg", ["analog_sgd", "tiki_taka"])
@pytest.mark.parametrize("dev", list(DEVICES) + ["realized"])
def test_c2c_results_do_not_depend_on_the_trial_split(alg, dev):
    device = DEVICES.get(dev) or realize(SoftBounds(0.3), Variation(dw_min_dtod=0.3, up_down_dtod=0.1,
                                                                    sym_dtod=0.05), (1, 5), np.random.default_rng(0))
    a = _algorithm(alg, device)
    kw = dict(seed=7, record_w=True)
    run = lambda trials, **k: np.asarray(simulate(a, LSQ, Gaussian(0.3), 0.1, 25, trials=trials, **kw, **k).w)
    full = run(192)
    parts = np.concatenate([run(64), run(128, first_trial=64)], axis=1)
    assert np.array_equal(full, parts)
    batch = run(3, trial_block=1)
    singles = np.concatenate([run(1, trial_block=1, first_trial=i) for i in range(3)], axis=1)
    assert np.array_equal(batch, singles)
    # the runs reach the bounds, so both pulse paths (aggregated and loop) are exercised for bounded devices
    assert np.isfinite(full).all()


@pytest.mark.parametrize("kind", ["realized", "reference"])
def test_aggregated_noise_matches_the_reference_for_per_element_devices(kind):
    # per-element gains, asymmetries and shifts (DeviceArray) and aihwkit's reference device (per-direction
    # noise relative to its own step, per-trial dw_min): down then up passes, interior and near-bound elements
    trials = 3000
    rng = np.random.default_rng(5)
    if kind == "realized":
        dev = realize(SoftBounds(1.0), Variation(dw_min_dtod=0.2, up_down_dtod=0.1), (1, 4), rng)
        dev = type(dev)(dev.base, *(np.repeat(np.asarray(a) * np.ones((1, 4)), trials, 0)
                                    for a in (dev.gain, dev.asym, dev.scale, dev.shift)), name=dev.name)
        dw, noise = 0.02, PulseNoise(1.0, 1.0)
        w = np.tile([0.0, 0.3, 0.97, -0.97], (trials, 1))
    else:
        from convergence.physics.reference_device import SoftBoundsReference
        ref_dev = SoftBoundsReference(dw_min=0.02, w_max=1.0, w_min=-1.0, up_down=0.1, dw_min_std=1.0)
        dev = ref_dev.realize((trials, 1, 4), rng)
        dw, noise = dev.dw_min, dev.pulse_noise()
        w = np.tile([0.0, 0.3, 0.97, -0.97], (trials, 1, 1))
    n_dn = np.broadcast_to(np.array([10.0, 25.0, 1.0, 8.0]), w.shape).copy()
    n_up = np.broadcast_to(np.array([20.0, 5.0, 6.0, 0.0]), w.shape).copy()
    fast = PulseMap.of(dev, dw, noise).down_up(w, n_dn.copy(), n_up.copy(), np.random.default_rng(6))
    g = np.random.default_rng(7)
    ref = _looped_pulses(w, n_dn, np.zeros(w.shape, bool), dev, dw, noise, g)
    ref = _looped_pulses(ref, n_up, np.ones(w.shape, bool), dev, dw, noise, g)
    lo, hi = dev.bounds
    assert np.all(fast >= lo) and np.all(fast <= hi)
    for j in range(4):
        _compare(fast[..., j].ravel(), ref[..., j].ravel())


def test_an_extreme_device_draw_in_one_block_does_not_change_other_blocks():
    # trial 100 (second block of 64) has a range narrower than one pulse (δ|b| > 1): it must take the pulse
    # loop on its own, while every other trial keeps the aggregated path and the same random stream
    T = 128
    ones = np.ones((T, 4))
    scale = ones.copy()
    scale[100, 0] = 0.02
    dev = DeviceArray(SoftBounds(0.3), ones, 0 * ones, scale, 0 * ones, name="softbounds")
    w, n, up = np.zeros((T, 4)), np.full((T, 4), 30.0), np.ones((T, 4), bool)
    full = apply_pulses(w, n, up, dev, 0.01, c2c=0.5, rng=TrialStreams(7, T, purpose=1))

    def part(sl: slice) -> np.ndarray:
        d = DeviceArray(SoftBounds(0.3), ones[sl], 0 * ones[sl], scale[sl], 0 * ones[sl], name="softbounds")
        return apply_pulses(w[sl], n[sl], up[sl], d, 0.01, c2c=0.5,
                            rng=TrialStreams(7, sl.stop - sl.start, purpose=1, first_trial=sl.start))

    np.testing.assert_array_equal(full[:64], part(slice(0, 64)))
    np.testing.assert_array_equal(full[64:], part(slice(64, 128)))
    # the narrow element ends inside its own range (clipped at every pulse), never NaN
    lo, hi = dev.bounds
    assert np.all(np.isfinite(full)) and lo[100, 0] <= full[100, 0] <= hi[100, 0]


@pytest.mark.parametrize("w_dtype,dw_dtype", [(np.float64, np.float32), (np.float32, np.float64)])
def test_fused_expected_update_never_downcasts_a_float64_operand(w_dtype, dw_dtype):
    from convergence.physics.pulses import expected_update

    w = np.linspace(-0.5, 0.5, 7).astype(w_dtype)[None]
    dw = np.full((1, 7), 0.01, dtype=dw_dtype)
    out = expected_update(w, dw, SoftBounds(1.0))
    assert out.dtype == np.float64
    ref = w.astype(np.float64) + dw.astype(np.float64) * 1.0 - np.abs(dw.astype(np.float64)) * w.astype(np.float64)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-15)     # F = 1, G = w for soft bounds with τ = 1


@pytest.mark.parametrize("dev,noise", [
    (Power(0.6, 0.5), PulseNoise(1.2, 1.2)),
    (Exponential(0.7, 2.0), PulseNoise(0.3, np.float64(0.5))),
    (SoftBounds(0.8), PulseNoise(0.4, 0.4, multiplicative=True)),
    (Power(0.6, 2.0), None),
], ids=["power-c2c", "exp-asym-noise", "softbounds-mult", "power-noise-free"])
def test_pulse_loop_on_the_active_elements_only_is_bit_identical_to_the_full_passes(monkeypatch, dev, noise):
    """_looped_pulses gathers the few elements still active in a pass (scalar devices): the same weights, bit for
    bit, and the same stream consumption as the full masked passes (forced by a huge compaction threshold)."""
    import convergence.physics.pulses as pulses
    g = np.random.default_rng(7)
    lo, hi = dev.bounds
    w = g.uniform(max(lo, -0.5), min(hi, 0.5), (3, 64, 97))
    w[0, 0, :5] = hi - 1e-4                  # next to a bound: clipping acts
    n = np.where(g.random(w.shape) < 0.05, g.integers(1, 6, w.shape), 0).astype(np.float32)
    n[1, 3, :] = 4.0                           # a dense row: later passes stay sparse, the first ones are mixed
    up = g.random(w.shape) < 0.5
    calls = []
    real = pulses._compact_pass
    monkeypatch.setattr(pulses, "_compact_pass", lambda *a: calls.append(1) or real(*a))
    for n_used in (n, np.where(g.random(w.shape) < 0.5, 2.0, n)):      # sparse passes, then a dense first pass
        ga, gb = np.random.default_rng(3), np.random.default_rng(3)
        calls.clear()
        fast = _looped_pulses(w, n_used, up, dev, 0.01, noise, ga)
        passes = int(n_used.max())
        assert len(calls) == passes if n_used is n else 0 < len(calls) < passes   # which passes were gathered
        monkeypatch.setattr(pulses, "_COMPACT_MIN", 10 ** 12)
        full = _looped_pulses(w, n_used, up, dev, 0.01, noise, gb)
        monkeypatch.setattr(pulses, "_COMPACT_MIN", 4096)
        np.testing.assert_array_equal(fast, full)
        assert ga.bit_generator.state == gb.bit_generator.state
        assert np.any(fast != w)


@pytest.mark.parametrize("shape", [(1, 32, 96), (2, 17, 31)])
def test_single_pulse_counts_give_the_reference_pulses_bitwise(shape):
    # counts of 0 and 1 only (one-pulse transfer writes) take AffineResponse's kept expm1 factors; the numbers must
    # be the per-element reference form's bit for bit, signed zeros of w and n included
    from convergence.physics.pulses import AffineResponse, _affine_pulses
    from convergence.physics.reference_device import offset_softbounds
    rng = np.random.default_rng(13)
    dev = offset_softbounds(shape, rng, sigma_r=0.3, asym_dtod=0.2, dw_min_dtod=0.3, range_dtod=0.2)
    aff = dev.affine()
    lo, hi = dev.bounds
    cached = AffineResponse(aff)
    for dw in (0.002, 0.05):
        for density in (0.0, 0.1, 0.5, 1.0):
            w = rng.uniform(-0.8, 0.8, shape)
            w.ravel()[:3] = [0.0, -0.0, 0.0]
            n = (rng.random(shape) < density).astype(float)
            n.ravel()[2:4] = [-0.0, 1.0]
            up = rng.random(shape) < 0.5
            got, clip_got = _affine_pulses(w, n, up, cached, dw, lo, hi)
            want, clip_want = _affine_pulses(w, n, up, aff, dw, lo, hi)
            np.testing.assert_array_equal(got.view(np.int64), want.view(np.int64))
            assert clip_got == clip_want
    assert set(cached.__dict__["_unit_by_step"]) == {0.002, 0.05}    # the single-pulse form was taken


def test_cached_affine_response_gives_the_reference_pulses_exactly():
    # AffineResponse keeps the per-direction factors of _affine_pulses' per-element form; the results must be the
    # reference's numbers bit for bit, and the reference path must be kept where its closed form does not apply
    from convergence.physics.pulses import AffineResponse, _affine_pulses
    from convergence.physics.reference_device import offset_softbounds
    rng = np.random.default_rng(11)
    dev = offset_softbounds((3, 7, 9), rng, sigma_r=0.3, asym_dtod=0.2, dw_min_dtod=0.3, range_dtod=0.2)
    aff = dev.affine()
    lo, hi = dev.bounds
    cached = AffineResponse(aff)
    for dw in (0.002, 0.05):
        for _ in range(3):
            w = rng.uniform(-0.8, 0.8, (3, 7, 9))
            n = rng.integers(0, 6, w.shape).astype(float)
            up = rng.random(w.shape) < 0.5
            assert cached.pulses(w, n, up, dw) is not None        # the cached form is taken here
            got, clip_got = _affine_pulses(w, n, up, cached, dw, lo, hi)
            want, clip_want = _affine_pulses(w, n, up, aff, dw, lo, hi)
            np.testing.assert_array_equal(got, want)
            assert clip_got == clip_want
    # a zero slope (r − 1 = 0) or a step past the response's zero: the cached form steps aside
    ap, bp, am, bm = (np.array(c, dtype=float) for c in aff)
    for bad in (0.0, -1e4):
        bp2 = bp.copy()
        bp2[0, 0, 0] = bad
        odd = AffineResponse((ap, bp2, am, bm))
        w = rng.uniform(-0.5, 0.5, (3, 7, 9))
        n = np.ones(w.shape)
        up = np.ones(w.shape, dtype=bool)
        assert odd.pulses(w, n, up, 0.01) is None
        got = _affine_pulses(w, n, up, odd, 0.01, lo, hi)
        want = _affine_pulses(w, n, up, (ap, bp2, am, bm), 0.01, lo, hi)
        assert (got[0] is None) == (want[0] is None)
        if got[0] is not None:
            np.testing.assert_array_equal(got[0], want[0])


def _scalar_pulse_loop(w, n, up, dev, dw, noise, gens_of_trials):
    """Oracle for the pulse loop's definition, one pulse at a time in plain Python: in pass m every element with
    n > m (C order) takes one normal from its trial's stream and one step clip(w + sδ(q_s(w) + σ_s ξ))."""
    out = np.array(w, dtype=float)
    lo, hi = dev.bounds
    for m in range(int(n.max())):
        for i in zip(*np.nonzero(n > m)):
            xi = gens_of_trials[i[0]].standard_normal()
            s, sigma = (1.0, noise.up) if up[i] else (-1.0, noise.down)
            q = float(dev.q_plus(out[i]) if up[i] else dev.q_minus(out[i]))
            q = q * (1.0 + sigma * xi) if noise.multiplicative else q + sigma * xi
            out[i] = min(max(out[i] + s * dw * q, lo), hi)
    return out


@pytest.mark.parametrize("dev,noise,trials,block", [
    (Power(0.6, 0.5), PulseNoise(1.2, 0.7), 3, None),
    (SoftBounds(0.8), PulseNoise(0.4, 0.4, multiplicative=True), 3, None),
    (Power(0.6, 0.5), PulseNoise(1.2, 1.2), 5, 2),
], ids=["generator-additive", "generator-multiplicative", "trial-blocks"])
def test_pulse_loop_draws_one_normal_per_applied_pulse(dev, noise, trials, block):
    """The pulse loop's stream is its documented definition: each applied pulse draws one normal from its trial
    block's stream, pass by pass in C order, and elements that do not pulse draw nothing. Checked against a
    scalar loop on the same streams, on an array large enough for the gathered passes (and one too small)."""
    g = np.random.default_rng(11)
    for shape in ((trials, 40, 110), (trials, 2, 3)):
        lo, hi = dev.bounds
        w = g.uniform(max(lo, -0.5), min(hi, 0.5), shape)
        w.reshape(-1)[:4] = hi - 1e-4                     # next to a bound: clipping acts
        n = np.where(g.random(shape) < 0.1, g.integers(1, 4, shape), 0).astype(float)
        n[0, 0, :] = 2.0                                   # a trial whose first pass is dense
        up = g.random(shape) < 0.5
        if block is None:
            got = _looped_pulses(w, n, up, dev, 0.01, noise, np.random.default_rng(5))
            r = np.random.default_rng(5)
            gens = [r] * trials
        else:
            streams = TrialStreams(5, trials, block=block, purpose=1)
            got = _looped_pulses(w, n, up, dev, 0.01, noise, streams)
            ref_blocks = TrialStreams(5, trials, block=block, purpose=1).blocks()
            gens = [next(gen for sl, gen in ref_blocks if sl.start <= t < sl.stop) for t in range(trials)]
            # a block's draws in pass m come before the next block's: the oracle's C order gives that per pass
        want = _scalar_pulse_loop(w, n, up, dev, 0.01, noise, gens)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15)
        assert np.count_nonzero(got != w) > 0.5 * np.count_nonzero(n)
