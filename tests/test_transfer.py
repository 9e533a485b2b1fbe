"""Tests of the transfer algorithms on matrix tiles (convergence.tile.transfer_family).

Expected numbers are derived independently of the code under test: closed forms of the
buffer recursions (chopper sign pattern, RL-v2 geometric decay), exact identities of the
ideal device, Monte Carlo means against the requested update (k standard errors), and
convergence criteria stated in units of the device granularity.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convergence as cv
from convergence.physics import pulses
from convergence import ConfigError
from convergence.tile import transfer_family as T
from convergence.rng import TrialStreams

K = 4.0  # statistical margin in standard errors


def lsq_run(alg, w_target, steps, seed, batch=1):
    """Drive ``alg`` on f(W) = ½ E‖(W − W*)x‖², x ~ N(0, I) (d = (query − W*) x); returns final state."""
    trials, n_out, n_in = w_target.shape
    rng = np.random.default_rng(seed)
    state = alg.init(np.zeros_like(w_target))
    for _ in range(steps):
        x = rng.standard_normal((trials, batch, n_in))
        d = np.matmul(x, (alg.query(state) - w_target).transpose(0, 2, 1))   # gradient at the presented W
        state = alg.step(state, x, d, rng)
    return state


def rms(a):
    return np.sqrt(np.mean(a ** 2, axis=(1, 2)))


def target(trials=8, n=5, seed=3):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (trials, n, n))


def offset_device(trials, n, skew, seed=11):
    return cv.realize(cv.SoftBounds(1.0), cv.Variation(sym_skew=skew), (trials, n, n), np.random.default_rng(seed))


# -- buffer and chopper bookkeeping ----------------------------------------------------------------

def _frozen_a_run(alg, a0, steps):
    """Reads of a constant A (zero inputs: nothing is written onto A); returns the states."""
    trials, n_out, n_in = a0.shape
    state = alg.init(np.zeros_like(a0))._replace(a=a0.copy())
    zeros_x, zeros_d = np.zeros((trials, 1, n_in)), np.zeros((trials, 1, n_out))
    out = []
    rng = np.random.default_rng(0)
    for _ in range(steps):
        state = alg.step(state, zeros_x, zeros_d, rng)
        out.append(state)
    return out


def test_chopper_cancels_constant_offset_over_a_period():
    # regular chopper, period P = ceil(1/0.25) = 4 reads per column and sign; one column read per step.
    n_in, P, lam = 4, 4, 0.01
    a0 = np.random.default_rng(1).uniform(-0.9, 0.9, (3, 2, n_in))
    dev = cv.SoftBounds(1.0)
    mode = cv.Pulsed(0.05)
    alg = T.chopped_ttv2(0.1, dev, mode=mode, in_chop_prob=0.25, chop_random=False, transfer_lr=lam * 0.05)
    states = _frozen_a_run(alg, a0, 2 * P * n_in)
    # lam_H = transfer_lr / dw_min = lam; after one half-period every column has P reads of sign +1
    np.testing.assert_allclose(states[P * n_in - 1].h, P * lam * a0, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(states[P * n_in - 1].c_in, -1.0)      # all flipped after P sweeps
    # after a full period the + and − halves cancel exactly
    np.testing.assert_allclose(states[-1].h, 0.0, atol=1e-14)
    np.testing.assert_array_equal(states[-1].c_in, 1.0)
    # without chopper (TT-v2) the offset accumulates linearly: 2P reads
    ttv2 = T.ttv2(0.1, dev, mode=mode, transfer_lr=lam * 0.05)
    np.testing.assert_allclose(_frozen_a_run(ttv2, a0, 2 * P * n_in)[-1].h, 2 * P * lam * a0, rtol=1e-12)
    # no pulses reached C (|H| < 1 throughout)
    assert states[-1].pulses.sum() == 0


def test_output_chopper_dechops_rows():
    # out_chop_prob = 1: every row flips after each full sweep; the in-chopper (period 100) stays +1.
    # A constant A then enters H with sign +1 in sweep 1 and −1 in sweep 2: H = λ a0, then 0.
    n_in, lam = 3, 0.01
    a0 = np.random.default_rng(6).uniform(-0.9, 0.9, (2, 4, n_in))
    alg = T.chopped_ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), in_chop_prob=0.01, chop_random=False,
                         out_chop_prob=1.0, transfer_lr=lam * 0.05)
    states = _frozen_a_run(alg, a0, 2 * n_in)
    np.testing.assert_allclose(states[n_in - 1].h, lam * a0, rtol=1e-12)
    np.testing.assert_array_equal(states[n_in - 1].c_out, -1.0)
    np.testing.assert_allclose(states[-1].h, 0.0, atol=1e-14)
    np.testing.assert_array_equal(states[-1].c_in, 1.0)


def test_sample_mode_is_sequential_batch_of_one():
    # accumulate="sample" on a batch of 4 equals four batch-1 steps with the same random stream
    w_t = target(2, 3)
    kw = dict(mode=cv.Pulsed(0.05), in_chop_prob=0.3, transfer_lr=0.05, transfer_every=3)
    a_sample = T.agad(0.1, cv.SoftBounds(1.0), accumulate="sample", **kw)
    a_one = T.agad(0.1, cv.SoftBounds(1.0), **kw)
    rng = np.random.default_rng(1)
    xs, es = rng.standard_normal((20, 2, 4, 3)), 0.1 * rng.standard_normal((20, 2, 4, 3))
    s1, s2 = a_sample.init(np.zeros_like(w_t)), a_one.init(np.zeros_like(w_t))
    r1, r2 = np.random.default_rng(2), np.random.default_rng(2)
    for x, e in zip(xs, es):
        d = np.matmul(x, (s1.w - w_t).transpose(0, 2, 1)) + e   # error fixed for the whole batch
        s1 = a_sample.step(s1, x, d, r1)
        for b in range(4):
            s2 = a_one.step(s2, x[:, b:b + 1], d[:, b:b + 1], r2)
    for name in ("w", "a", "h", "c_in", "mean", "ref", "pulses"):
        np.testing.assert_array_equal(getattr(s1, name), getattr(s2, name))
    assert s1.k == s2.k == 80 and s1.t == s2.t == 80 // 3


def test_random_chopper_flip_rate():
    # one read per step on a 1-column tile: flips ~ Binomial(steps, p) per trial
    trials, steps, p = 400, 50, 0.2
    alg = T.chopped_ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), in_chop_prob=p, transfer_lr=1e-6)
    state = alg.init(np.zeros((trials, 1, 1)))
    rng = TrialStreams(5, trials, purpose=1)
    flips = np.zeros(trials)
    for _ in range(steps):
        new = alg.step(state, np.zeros((trials, 1, 1)), np.zeros((trials, 1, 1)), rng)
        flips += new.c_in[:, 0] != state.c_in[:, 0]
        state = new
    se = np.sqrt(steps * p * (1 - p) / trials)
    assert abs(flips.mean() - steps * p) < K * se


def test_rlv2_buffer_geometric_decay():
    # constant A, no threshold crossing: h_k = (1 − (1 − β)^k) A/δ  (P2 §5 (RL-v2) (docs/theory/algorithms.md#rl-v2) eq
    # 14 in pulse units)
    beta, dw = 0.1, 0.05
    a0 = np.random.default_rng(2).uniform(-0.04, 0.04, (2, 3, 4))     # |A|/δ < 1 ⇒ |h| < 1 forever
    alg = T.rlv2(0.1, cv.SoftBounds(1.0), beta=beta, mode=cv.Pulsed(dw))
    states = _frozen_a_run(alg, a0, 7)
    for k, s in enumerate(states, start=1):                            # all 4 columns read per step
        np.testing.assert_allclose(s.h, (1 - (1 - beta) ** k) * a0 / dw, rtol=1e-12)


def test_rlv2_threshold_subtracts_one_pulse():
    # |A|/δ = 3 ⇒ h_1 = β·3 = 1.5 with β = 0.5: one pulse, h ← 0.5 (not reset: forget_buffer False)
    dw = 0.05
    a0 = np.full((1, 1, 1), 3 * dw)
    alg = T.rlv2(0.1, cv.ConstantStep(), beta=0.5, mode=cv.Pulsed(dw))
    s1 = _frozen_a_run(alg, a0, 1)[0]
    assert s1.h[0, 0, 0] == pytest.approx(0.5)
    assert s1.w[0, 0, 0] == pytest.approx(dw)
    assert s1.pulses[0, 0, 0] == 1


@pytest.mark.parametrize("max_pulses", [1, 3])
def test_threshold_transfer_writes_at_most_max_pulses(max_pulses):
    # a huge buffer rate: every read asks for many pulses; C (constant step, no asymmetry) moves by
    # exactly max_pulses·δ per read, and never more
    trials, n, dw = 4, 3, 0.01
    alg = T.ttv2(0.5, cv.ConstantStep(), mode=cv.Pulsed(dw), transfer_lr=100.0, max_pulses=max_pulses,
                 n_reads=n)
    w_t = np.full((trials, n, n), 0.9)
    rng = np.random.default_rng(0)
    state = alg.init(np.zeros((trials, n, n)))
    for _ in range(5):
        x = rng.standard_normal((trials, 1, n))
        d = np.matmul(x, (state.w - w_t).transpose(0, 2, 1))
        new = alg.step(state, x, d, rng)
        dc = np.abs(new.w - state.w)
        assert dc.max() <= max_pulses * dw * (1 + 1e-9)
        assert np.all((new.pulses - state.pulses) <= max_pulses)
        np.testing.assert_allclose(dc, (new.pulses - state.pulses) * dw, atol=1e-12)
        state = new
    assert state.pulses.max() == 5 * max_pulses                        # saturated rule fired every read


@given(h=st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=30),
       m=st.integers(1, 5), mom=st.floats(0, 0.9), forget=st.booleans(), cap=st.sampled_from([0.0, 0.5, 2.0]))
def test_threshold_rule_against_reference_loop(h, m, mom, forget, cap):
    h = np.array(h)
    n, new = T.threshold_transfer(h, m, mom, forget, cap)
    for hi, ni, newi in zip(h, n, new):
        if abs(hi) < 1:
            assert ni == 0 and newi == hi
        else:
            expect = float(np.sign(hi) * min(int(abs(hi)), m))
            assert ni == expect
            want = mom * hi if forget else hi - (1 - mom) * expect
            if cap and not forget:                       # AGAD buffer_cap: |H| <= max_pulses * cap after a write
                want = min(max(want, -m * cap), m * cap)
            assert newi == pytest.approx(want)


def test_threshold_rule_without_momentum_is_bitwise_h_minus_n():
    # momentum 0 skips the multiply by 1 − 0: the same numbers as h − 1.0·n, signed zeros included
    h = np.random.default_rng(3).standard_normal(400) * 3.0
    h[:4] = [-0.0, 0.0, -0.5, 1.0]
    n, new = T.threshold_transfer(h, 2, 0.0, False)
    want = np.where(n != 0, h - 1.0 * n, h)
    np.testing.assert_array_equal(new.view(np.int64), want.view(np.int64))


def test_buffer_increment_scales_the_chopper_vector_exactly():
    # a scalar λ_H times c_in before the outer product equals λ_H·(c_in c_out) elementwise (signs ±1), bitwise
    rng = np.random.default_rng(4)
    cfg = T.chopped_ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.01)).config
    trials, n_out, n_in = 3, 5, 7
    h = rng.standard_normal((trials, n_out, n_in))
    z = rng.standard_normal((trials, n_out, 4))
    c_in = np.where(rng.random((trials, n_in)) < 0.5, -1.0, 1.0)
    c_out = np.where(rng.random((trials, n_out)) < 0.5, -1.0, 1.0)
    sl = slice(2, 6)
    n, new = T._buffer_columns(cfg, h, sl, c_in[:, sl], c_out, z, n_in)
    lam = cfg.lam_h(n_in)
    assert np.ndim(lam) == 0
    hk = h[:, :, sl] + lam * (c_in[:, None, sl] * c_out[:, :, None]) * z
    n_ref, hk_ref = T.threshold_transfer(hk, cfg.max_pulses, cfg.momentum, cfg.forget_buffer, cfg.buffer_cap)
    np.testing.assert_array_equal(n, n_ref)
    np.testing.assert_array_equal(new[:, :, sl], hk_ref)
    np.testing.assert_array_equal(np.delete(new, np.s_[2:6], axis=2), np.delete(h, np.s_[2:6], axis=2))


# -- transfer schedule -----------------------------------------------------------------------------

def test_ttv1_column_wise_transfer_is_cyclic_and_exact():
    # Ideal devices in Expected mode: C[:, k] += λ_T A[:, k] for the n_reads columns read this step
    trials, n_out, n_in, lam = 2, 3, 5, 0.3
    alg = T.ttv1(0.1, cv.Ideal(), transfer_lr=lam, n_reads=2)
    a0 = np.random.default_rng(4).standard_normal((trials, n_out, n_in))
    states = _frozen_a_run(alg, a0, 3)
    expect = np.zeros_like(a0)
    for step, cols in enumerate([[0, 1], [2, 3], [4, 0]]):
        for c in cols:
            expect[:, :, c] += lam * a0[:, :, c]
        np.testing.assert_allclose(states[step].w, expect, rtol=1e-14, atol=1e-15)
    assert states[-1].t == 6


@pytest.mark.parametrize("units_in_mbatch, every, steps, reads", [(False, 2, 3, 6), (True, 2, 3, 1),
                                                                    (False, 8, 4, 2)])
def test_transfer_counting_units(units_in_mbatch, every, steps, reads):
    # batch 4: mat-vec units give 4/every reads per step; mini-batch units give one read per `every` steps
    alg = T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), transfer_every=every,
                 units_in_mbatch=units_in_mbatch)
    state = alg.init(np.zeros((1, 2, 3)))
    rng = np.random.default_rng(0)
    for _ in range(steps):
        state = alg.step(state, rng.standard_normal((1, 4, 3)), rng.standard_normal((1, 4, 2)), rng)
    assert state.t == reads


def test_query_mixes_dechopped_fast_array():
    alg = T.chopped_ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), gamma=0.5, in_chop_prob=0.5)
    s = alg.init(np.ones((1, 2, 2)))
    s = s._replace(a=np.full((1, 2, 2), 0.2), c_in=np.array([[1.0, -1.0]]), c_out=np.array([[1.0, -1.0]]))
    np.testing.assert_allclose(alg.query(s), 1 + 0.5 * 0.2 * np.array([[[1, -1], [-1, 1]]]))


# -- the gradient write onto A ---------------------------------------------------------------------

def test_auto_scale_learning_rate():
    # aihwkit auto_scale: λ_A = fast_lr · desired_bl · δ_A / (m_x m_d); the first update initialises the EMAs
    # with the batch's mean per-sample abs-max, the second blends them with weight 1 − auto_momentum
    x1 = np.array([[[0.5, -2.0, 1.0], [1.0, 0.2, -0.1]]])          # per-sample max |x|: 2.0, 1.0
    d1 = np.array([[[0.1, -0.3], [0.05, 0.02]]])                   # per-sample max |d|: 0.3, 0.05
    alg = T.ttv2(0.5, cv.Ideal(), mode=cv.Expected(), granularity=0.01, auto_scale=True, desired_bl=31,
                 auto_momentum=0.9, transfer_lr=1e-9)
    s = alg.step(alg.init(np.zeros((1, 2, 3))), x1, d1)
    mx, md = 1.5, 0.175
    lam = 0.5 * 31 * 0.01 / (mx * md)
    np.testing.assert_allclose(s.a[0], -lam * d1[0].T @ x1[0], rtol=1e-12)
    s2 = alg.step(s, 2 * x1, d1)
    mx2 = 0.9 * mx + 0.1 * 3.0
    np.testing.assert_allclose([s2.m_x[0], s2.m_d[0]], [mx2, md], rtol=1e-12)
    lam2 = 0.5 * 31 * 0.01 / (mx2 * md)
    np.testing.assert_allclose(s2.a[0] - s.a[0], -lam2 * d1[0].T @ (2 * x1[0]), rtol=1e-12)


def test_signs_write_is_unbiased_for_constant_step():
    # E[ΔA] = −lr Σ_b d_b x_bᵀ exactly (stochastic rounding; constant step q± = 1, no clipping)
    trials, n_out, n_in, batch, lr, dw = 4000, 2, 3, 4, 0.05, 0.01
    rng = np.random.default_rng(7)
    x1, d1 = rng.standard_normal((1, batch, n_in)), rng.standard_normal((1, batch, n_out))
    x, d = np.repeat(x1, trials, 0), np.repeat(d1, trials, 0)
    dev = cv.ConstantStep(w_max=10.0, w_min=-10.0)
    out = T.gradient_write(np.zeros((trials, n_out, n_in)), x, d, lr, dev, cv.Pulsed(dw), rng, "signs")
    want = -lr * d1[0].T @ x1[0]
    se = out.std(axis=0, ddof=1) / np.sqrt(trials)
    assert np.all(np.abs(out.mean(axis=0) - want) <= K * se + 1e-12)


def test_signs_matches_per_sample_writes_to_second_order():
    # soft bounds, Expected mode: the batched up/down split differs from sequential per-sample writes
    # by O(lr²); the net write differs at O(lr) (it misses Σ|d x| − |Σ d x| of asymmetric drift)
    rng = np.random.default_rng(8)
    x, d = rng.standard_normal((1, 6, 3)), rng.standard_normal((1, 6, 2))
    a0 = rng.uniform(-0.5, 0.5, (1, 2, 3))
    dev = cv.SoftBounds(1.0)

    def diffs(lr):
        seq = a0
        for b in range(6):
            seq = T.gradient_write(seq, x[:, b:b + 1], d[:, b:b + 1], lr, dev, cv.Expected(), None)
        signs = T.gradient_write(a0, x, d, lr, dev, cv.Expected(), None, "signs")
        net = T.gradient_write(a0, x, d, lr, dev, cv.Expected(), None, "net")
        return np.abs(signs - seq).max(), np.abs(net - seq).max()

    (s1, n1), (s2, n2) = diffs(1e-3), diffs(5e-4)
    assert 3.5 < s1 / s2 < 4.5          # second order
    assert 1.8 < n1 / n2 < 2.2          # first order
    assert s1 < 0.1 * n1


def test_pulse_kernel_equals_core_apply_pulses():
    # the precomputed closed form must reproduce convergence.physics.pulses.apply_pulses (down then up) for
    # realised soft-bounds and linear-step devices, including per-element asymmetry and shifts
    rng = np.random.default_rng(12)
    shape = (3, 4, 5)
    var = cv.Variation(dw_min_dtod=0.3, up_down_dtod=0.05, range_dtod=0.1, sym_skew=0.1, sym_dtod=0.2)
    for base in (cv.SoftBounds(1.0), cv.LinearStep(tau_max=1.25, tau_min=-0.75)):
        dev = cv.realize(base, var, shape, rng)
        lo, hi = dev.bounds
        w = lo + (hi - lo) * rng.uniform(0.05, 0.95, shape)
        n_dn, n_up = rng.integers(0, 40, shape).astype(float), rng.integers(0, 40, shape).astype(float)
        kern = T.PulseKernel.build(dev, cv.Pulsed(0.01))
        assert kern is not None
        ref = pulses.apply_pulses(w, n_dn, np.zeros(shape, bool), dev, 0.01)
        ref = pulses.apply_pulses(ref, n_up, np.ones(shape, bool), dev, 0.01)
        np.testing.assert_allclose(kern.down_up(w, n_dn.copy(), n_up.copy()), ref, rtol=1e-12, atol=1e-14)
        up = rng.random(shape) < 0.5
        np.testing.assert_allclose(kern.signed(w, n_up, up), pulses.apply_pulses(w, n_up, up, dev, 0.01),
                                   rtol=1e-12, atol=1e-14)
    # no kernel where the closed form does not apply
    assert T.PulseKernel.build(cv.ConstantStep(), cv.Pulsed(0.01)) is None
    assert T.PulseKernel.build(cv.SoftBounds(1.0), cv.Expected()) is None


def test_pulse_kernel_c2c_noise_matches_pulse_by_pulse_distribution():
    # c2c noise: the kernel's single Gaussian per pass must match the core's pulse-by-pulse loop in mean
    # and variance (Monte Carlo over 4000 trials; variance compared through its standard error)
    trials, c2c, dw = 4000, 0.5, 0.02
    dev = cv.SoftBounds(1.0)
    mode = cv.Pulsed(dw, c2c=c2c)
    kern = T.PulseKernel.build(dev, mode)
    w = np.full((trials, 1, 2), 0.3)
    n_dn = np.tile(np.array([[[5.0, 30.0]]]), (trials, 1, 1))
    n_up = np.tile(np.array([[[20.0, 3.0]]]), (trials, 1, 1))
    fast = kern.down_up(w, n_dn.copy(), n_up.copy(), np.random.default_rng(1))
    rng = np.random.default_rng(2)
    slow = pulses.apply_pulses(w, n_dn, np.zeros(w.shape, bool), dev, dw, c2c=c2c, rng=rng)
    slow = pulses.apply_pulses(slow, n_up, np.ones(w.shape, bool), dev, dw, c2c=c2c, rng=rng)
    for j in range(2):
        a, b = fast[:, 0, j], slow[:, 0, j]
        se_mean = np.sqrt(a.var() / trials + b.var() / trials)
        assert abs(a.mean() - b.mean()) < K * se_mean
        # var of a sample variance ≈ 2σ⁴/(n − 1) for near-Gaussian data
        se_var = np.sqrt(2 * a.var() ** 2 / (trials - 1) + 2 * b.var() ** 2 / (trials - 1))
        assert abs(a.var() - b.var()) < K * se_var
        assert a.var() > 0


# -- convergence and offset robustness ----------------------------------------------------------

def test_ttv2_zero_offset_converges_on_least_squares():
    # criterion: RMS(C − W*) below one device step δ = 0.05 (from an initial RMS of ~0.27)
    dw = 0.05
    w_t = target()
    alg = T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(dw), transfer_lr=0.005)
    err = rms(lsq_run(alg, w_t, 3000, seed=1).w - w_t)
    m, se = err.mean(), err.std(ddof=1) / np.sqrt(err.size)
    assert m + K * se < dw


def test_ttv1_and_rlv2_converge_and_mixing_helps():
    # zero offset, δ = 0.05: TT-v1 (column-wise, λ_T = 0.05) and RL-v2 (β = 0.05, all columns every 5 updates)
    # end within 2δ of the target; RL-v2 with γ = 0.3 (gradient at C + γA) ends within δ/2, below γ = 0
    dw = 0.05
    w_t = target()
    algs = {"ttv1": T.ttv1(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(dw), transfer_lr=0.05, units_in_mbatch=False),
            "rlv2": T.rlv2(0.1, cv.SoftBounds(1.0), beta=0.05, mode=cv.Pulsed(dw), transfer_every=5),
            "rlv2-gamma": T.rlv2(0.1, cv.SoftBounds(1.0), beta=0.05, gamma=0.3, mode=cv.Pulsed(dw), transfer_every=5)}
    errs = {k: rms(lsq_run(a, w_t, 2000, seed=1).w - w_t) for k, a in algs.items()}
    ms = {k: (v.mean(), v.std(ddof=1) / np.sqrt(v.size)) for k, v in errs.items()}
    assert ms["ttv1"][0] + K * ms["ttv1"][1] < 2 * dw
    assert ms["rlv2"][0] + K * ms["rlv2"][1] < 2 * dw
    assert ms["rlv2-gamma"][0] + K * ms["rlv2-gamma"][1] < dw / 2
    assert ms["rlv2-gamma"][0] + K * ms["rlv2-gamma"][1] < ms["rlv2"][0] - K * ms["rlv2"][1]


def _offset_runs(steps=6000, skew=0.8, trials=8):
    dw = 0.05
    w_t = target(trials)
    dev_a = offset_device(trials, 5, skew)
    common = dict(mode=cv.Pulsed(dw), device_fast=dev_a, transfer_lr=0.005)
    algs = {"ttv2": T.ttv2(0.1, cv.SoftBounds(1.0), **common),
            "c-ttv2": T.chopped_ttv2(0.1, cv.SoftBounds(1.0), in_chop_prob=0.1, chop_random=False, **common),
            "agad": T.agad(0.1, cv.SoftBounds(1.0), in_chop_prob=0.1, **common)}
    return {k: rms(lsq_run(a, w_t, steps, seed=2).w - w_t) for k, a in algs.items()}, rms(w_t)


def test_chopped_and_agad_survive_an_offset_that_breaks_ttv2():
    # symmetric-point offset 0.8 on A (reference at the nominal SP 0): TT-v2 ends farther from the target
    # than it started; c-TTv2 ends within a quarter of the initial error (slowed down, not broken) and
    # AGAD within one device step δ, closer than c-TTv2
    errs, init = _offset_runs()
    se = {k: v.std(ddof=1) / np.sqrt(v.size) for k, v in errs.items()}
    assert errs["ttv2"].mean() - K * se["ttv2"] > init.mean()
    assert errs["c-ttv2"].mean() + K * se["c-ttv2"] < 0.25 * init.mean()
    assert errs["agad"].mean() + K * se["agad"] < 0.05
    assert errs["agad"].mean() + K * se["agad"] < errs["c-ttv2"].mean() - K * se["c-ttv2"]


# -- AGAD reference ---------------------------------------------------------------------------------

def test_agad_reference_frozen_at_chopper_switch():
    # regular chopper N = 3 (in_chop_prob 1/3), two columns; one read per step. Check every step:
    # M ← (1 − β)M + β·read on the read column; p_ref(col) := M(col) before the read iff it switched.
    n_in, N, tail = 2, 3, 1.5
    beta = tail / N
    alg = T.agad(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), in_chop_prob=1 / N, tail_weightening=tail,
                 transfer_lr=1e-3)
    w_t = target(3, 2)[:, :, :n_in]
    rng = np.random.default_rng(3)
    state = alg.init(np.zeros_like(w_t))
    refreshes = 0
    for step in range(4 * N * n_in):
        x = rng.standard_normal((3, 1, n_in))
        d = np.matmul(x, (state.w - w_t).transpose(0, 2, 1))
        new = alg.step(state, x, d, rng)
        col = step % n_in
        sweep = step // n_in
        read = new.a[:, :, col]                                     # A after this step's write
        np.testing.assert_allclose(new.mean[:, :, col], (1 - beta) * state.mean[:, :, col] + beta * read,
                                   rtol=1e-12, atol=1e-15)
        other = 1 - col
        np.testing.assert_array_equal(new.ref[:, :, other], state.ref[:, :, other])
        if state.switched[0, col]:
            np.testing.assert_array_equal(new.ref[:, :, col], state.mean[:, :, col])
            refreshes += 1
        else:
            np.testing.assert_array_equal(new.ref[:, :, col], state.ref[:, :, col])
        assert new.switched[0, col] == (sweep % N == N - 1)             # regular switch every N reads
        assert np.array_equal(new.c_in[:, col] == state.c_in[:, col], np.full(3, sweep % N != N - 1))
        if sweep <= N:
            assert new.pulses.sum() == 0                                # no C writes in the first period
        state = new
    assert refreshes == 3 * n_in


# -- determinism and trial independence ---------------------------------------------------------------

def _agad_pulsed():
    return T.agad(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), in_chop_prob=0.2, chop_random=True,
                  transfer_lr=0.05, read_noise=0.01)


def _streams_run(alg, w_t, xs, ds_noise, seed, first_trial):
    rng = TrialStreams(seed, w_t.shape[0], purpose=1, block=1, first_trial=first_trial)
    state = alg.init(np.zeros_like(w_t))
    for x, e in zip(xs, ds_noise):
        d = np.matmul(x, (state.w - w_t).transpose(0, 2, 1)) + e
        state = alg.step(state, x, d, rng)
    return state


def test_deterministic_and_independent_of_trial_split():
    alg = _agad_pulsed()
    w_t = target(4, 3)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((4, 2, 3)) for _ in range(60)]
    es = [0.1 * rng.standard_normal((4, 2, 3)) for _ in range(60)]
    full = _streams_run(alg, w_t, xs, es, 9, 0)
    again = _streams_run(alg, w_t, xs, es, 9, 0)
    part = _streams_run(alg, w_t[2:], [x[2:] for x in xs], [e[2:] for e in es], 9, 2)
    for name in ("w", "a", "h", "c_in", "mean", "ref", "pulses"):
        np.testing.assert_array_equal(getattr(full, name), getattr(again, name))
        # batched BLAS may differ from the 2-trial call in the last ulp; pulse counts must agree exactly
        np.testing.assert_allclose(getattr(full, name)[2:], getattr(part, name), rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(full.pulses[2:], part.pulses)
    np.testing.assert_array_equal(full.c_in[2:], part.c_in)
    assert full.pulses.sum() > 0 and np.any(full.c_in < 0)       # the run exercised writes and choppers


def test_cached_column_kernel_gives_the_numbers_of_a_map_built_per_transfer(monkeypatch):
    """c-TTv2 with c2c noise on soft bounds: its transfers reuse one noisy pulse map per column range (and the map
    its gathered coefficients per shape) where apply_pulses built them at every transfer; the same numbers, bit for
    bit. A narrow range and long pulse trains keep elements near the bounds, so the per-pulse loop runs too."""
    def run():
        alg = T.chopped_ttv2(0.2, cv.SoftBounds(0.3), mode=cv.Pulsed(0.02, c2c=0.5), in_chop_prob=0.2,
                             transfer_lr=0.5, read_noise=0.01)
        w_t = 0.25 * target(4, 3)
        g = np.random.default_rng(2)
        xs = [g.standard_normal((4, 2, 3)) for _ in range(40)]
        return _streams_run(alg, w_t, xs, [0.1 * g.standard_normal((4, 2, 3)) for _ in range(40)], 5, 0)

    loops, kernels = [], []
    real_loop, real_kernel = pulses.PulseMap._loop_unsafe, T.TransferConfig.column_kernel
    monkeypatch.setattr(pulses.PulseMap, "_loop_unsafe", lambda self, *a: loops.append(1) or real_loop(self, *a))
    monkeypatch.setattr(T.TransferConfig, "column_kernel",
                        lambda self, sl: kernels.append(real_kernel(self, sl)) or kernels[-1])
    cached = run()
    assert loops and cached.pulses.sum() > 0
    assert all(k is not None for k in kernels) and len(set(map(id, kernels))) < len(kernels)   # reused maps
    monkeypatch.setattr(T.TransferConfig, "column_kernel", lambda self, sl: None)   # apply_pulses builds a map
    monkeypatch.setattr(pulses.PulseMap, "_unsafe_coefficients",
                        lambda self, shape, real=pulses.PulseMap._unsafe_coefficients:
                        real(pulses.PulseMap(self.device, self.dw_min, self.noise), shape))
    rebuilt = run()
    for name in ("w", "a", "h", "pulses"):
        np.testing.assert_array_equal(getattr(cached, name), getattr(rebuilt, name))


def test_per_trial_rates_broadcast():
    # per-trial λ_A of shape (trials,): the A write of trial i is −λ_i d xᵀ (ideal device, Expected mode)
    lrs = np.array([0.05, 0.2])
    # direct check of broadcasting: the A write scales with the trial's lr
    alg = T.ttv2(lrs, cv.Ideal(), mode=cv.Expected(), granularity=0.05, transfer_lr=1e-6)
    s = alg.init(np.zeros((2, 1, 1)))
    s = alg.step(s, np.ones((2, 1, 1)), np.ones((2, 1, 1)))
    np.testing.assert_allclose(s.a[:, 0, 0], -lrs)


# -- vector adapter: cross-check against the core Tiki-Taka and run through simulate ----------------------

def test_vector_ttv1_equals_core_tiki_taka():
    # ideal devices, Expected mode, one full-vector column read per step: A ← A − β g, C ← C + α A, which is
    # convergence.sim.algorithms.tiki_taka (γ = 0, transfer every step) — same trajectory through simulate
    obj = cv.Quadratic(d=3, L=1.0, mu=0.5, w_star=[0.5, -0.2, 0.1])
    core = cv.tiki_taka(0.1, 0.05, cv.Ideal())
    tile = T.as_vector_algorithm(T.ttv1(0.1, cv.Ideal(), transfer_lr=0.05))
    kw = dict(trials=3, seed=1, record_every=10, record_w=True, progress=False)
    a = cv.simulate(core, obj, cv.Gaussian(0.1), 0.0, 200, **kw)
    b = cv.simulate(tile, obj, cv.Gaussian(0.1), 0.0, 200, **kw)
    np.testing.assert_allclose(b.w, a.w, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(b.metrics["loss_gap"], a.metrics["loss_gap"], rtol=1e-10, atol=1e-15)


def test_vector_agad_through_simulate_converges():
    # AGAD with an offset A (o = 0.5) on a noiseless quadratic through the toolkit's driver: f − f* falls
    # below (δ/2)² L d / 2, i.e. every coordinate within about half a pulse
    d, dw = 4, 0.05
    obj = cv.Quadratic(d=d, L=1.0, mu=1.0, w_star=[0.4, -0.3, 0.2, -0.1])
    dev_a = cv.realize(cv.SoftBounds(1.0), cv.Variation(sym_skew=0.5), (8, d, 1), np.random.default_rng(0))
    alg = T.as_vector_algorithm(T.agad(0.2, cv.SoftBounds(1.0), device_fast=dev_a, mode=cv.Pulsed(dw),
                                       in_chop_prob=0.1, transfer_lr=0.01))
    traj = cv.simulate(alg, obj, None, 0.0, 3000, trials=8, seed=2, record_every=100, tail=0.2, progress=False)
    gap = traj.per_trial_tail("loss_gap")
    assert gap.mean() + K * gap.std(ddof=1) / np.sqrt(gap.size) < (dw / 2) ** 2 * d / 2
    assert np.all(traj.status == 0)


# -- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda: T.ttv2(-0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05)),
    lambda: T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), momentum=1.0),
    lambda: T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), max_pulses=0),
    lambda: T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), accumulate="bogus"),
    lambda: T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), in_chop_prob=0.1),
    lambda: T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), unknown=1),
    lambda: T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Expected()),               # granularity required
    lambda: T.ttv2(0.1, "softbounds", mode=cv.Pulsed(0.05)),
    lambda: T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), transfer_every=0),
    lambda: T.chopped_ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), in_chop_prob=1.5),
    lambda: T.chopped_ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), in_chop_prob=0.0),
    lambda: T.agad(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), in_chop_prob=0.0),
    lambda: T.agad(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), tail_weightening=-1),
    lambda: T.rlv2(0.1, cv.SoftBounds(1.0), beta=1.5, mode=cv.Pulsed(0.05)),
    lambda: T.rlv2(0.1, cv.SoftBounds(1.0), beta=0.1, mode=cv.Pulsed(0.05), decay=0.2),
    lambda: T.ttv1(0.1, cv.SoftBounds(1.0), in_chop_prob=0.1),
    lambda: T.analog_sgd_tile(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), auto_momentum=1.0),
])
def test_bad_parameters_rejected(make):
    with pytest.raises(ConfigError):
        make()


def test_bad_shapes_rejected():
    alg = T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05))
    with pytest.raises(ConfigError, match="trials, out, in"):
        alg.init(np.zeros((2, 3)))
    s = alg.init(np.zeros((2, 3, 4)))
    with pytest.raises(ConfigError, match="x must have shape"):
        alg.step(s, np.zeros((2, 1, 3)), np.zeros((2, 1, 3)), np.random.default_rng(0))
    with pytest.raises(ConfigError, match="trials"):
        T.ttv2(np.array([0.1, 0.2, 0.3]), cv.SoftBounds(1.0), mode=cv.Pulsed(0.05)).init(np.zeros((2, 3, 4)))


# -- the one Algorithm type and the frozen configs ----------------------------------------------------

CONFIGS = [T.TileSGDConfig, T.TTv1Config, T.TTv2Config, T.RLv2Config, T.ChoppedTTv2Config, T.AGADConfig,
           cv.sim.algorithms.DigitalSGDConfig, cv.sim.algorithms.AnalogSGDConfig, cv.sim.algorithms.TikiTakaConfig]


def _field_docstrings(cls):
    """Field names of ``cls`` and its bases that have a string literal right below their annotation."""
    import ast
    import inspect
    import textwrap
    out = set()
    for klass in cls.__mro__:
        if klass is object or not dataclasses.is_dataclass(klass):
            continue
        body = ast.parse(textwrap.dedent(inspect.getsource(klass))).body[0].body
        for stmt, nxt in zip(body, body[1:]):
            if isinstance(stmt, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant) \
                    and isinstance(nxt.value.value, str):
                out.add(stmt.target.id)
    return out


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_config_field_has_an_attribute_docstring(cls):
    missing = {f.name for f in dataclasses.fields(cls)} - _field_docstrings(cls)
    assert not missing, f"{cls.__name__} fields without a docstring: {sorted(missing)}"


def test_factories_build_the_preset_configs_and_the_one_algorithm_type():
    dev = cv.SoftBounds(1.0)
    mode = cv.Pulsed(0.05)
    cases = {T.TTv1Config: T.ttv1(0.1, dev, mode=mode), T.TTv2Config: T.ttv2(0.1, dev, mode=mode),
             T.RLv2Config: T.rlv2(0.1, dev, beta=0.2, mode=mode),
             T.ChoppedTTv2Config: T.chopped_ttv2(0.1, dev, mode=mode),
             T.AGADConfig: T.agad(0.1, dev, mode=mode), T.TileSGDConfig: T.analog_sgd_tile(0.1, dev, mode=mode)}
    for cls, alg in cases.items():
        assert type(alg.config) is cls and isinstance(alg, cv.Algorithm) and alg.matrix
        assert alg.as_dict() == alg.config.as_dict() and alg.as_dict()["algorithm"] == alg.name
    assert T.TransferAlgorithm is cv.Algorithm
    # presets are the base config with other defaults
    assert T.ChoppedTTv2Config(0.1, dev, mode=mode).in_chop_prob == 0.1
    assert T.TTv2Config(0.1, dev, mode=mode).in_chop_prob == 0
    agad = T.AGADConfig(0.1, dev, mode=mode)
    assert agad.chop_random is False and agad.chop_period == 10 and agad.beta_mean == 0.5
    rl = T.RLv2Config(0.1, dev, beta=0.2, mode=mode)
    assert (rl.transfer_lr, rl.decay, rl.forget_buffer, rl.granularity_fast, rl.n_reads) == \
        (0.2, 0.2, False, 0.05, None)
    assert isinstance(T.TTv1Config(0.1, dev).units_in_mbatch, bool) and T.TTv1Config(0.1, dev).units_in_mbatch


def test_config_from_a_factory_runs_the_same_trajectory_as_the_factory():
    """transfer_algorithm(config) is the factory's algorithm; dataclasses.replace makes a new preset."""
    dev = cv.SoftBounds(1.0)
    a = T.chopped_ttv2(0.3, dev, mode=cv.Pulsed(0.05), in_chop_prob=0.2, transfer_lr=0.5)
    b = T.transfer_algorithm(T.ChoppedTTv2Config(0.3, dev, mode=cv.Pulsed(0.05), in_chop_prob=0.2, transfer_lr=0.5))
    w_t = target(trials=3, n=4)
    sa, sb = lsq_run(a, w_t, 30, seed=4), lsq_run(b, w_t, 30, seed=4)
    np.testing.assert_array_equal(sa.w, sb.w)
    faster = dataclasses.replace(a.config, transfer_lr=1.0)
    assert faster.transfer_lr == 1.0 and faster.in_chop_prob == 0.2 and type(faster) is T.ChoppedTTv2Config


@pytest.mark.parametrize("cls,kwargs,field", [
    (T.TTv2Config, {"transfer_every": 0}, "transfer_every"),
    (T.TTv2Config, {"momentum": 1.0}, "momentum"),
    (T.TTv2Config, {"decay": 1.0}, "decay"),
    (T.TTv2Config, {"max_pulses": 0}, "max_pulses"),
    (T.TTv2Config, {"in_chop_prob": 0.1}, "in_chop_prob"),
    (T.ChoppedTTv2Config, {"in_chop_prob": 1.5}, "in_chop_prob"),
    (T.AGADConfig, {"tail_weightening": 0.0}, "tail_weightening"),
    (T.TTv1Config, {"accumulate": "per-sample"}, "accumulate"),
    (T.TTv1Config, {"auto_momentum": 1.0}, "auto_momentum"),
    (T.TTv1Config, {"read_noise": -1.0}, "read_noise"),
    (T.RLv2Config, {"beta": 1.0}, "beta"),
    (T.TileSGDConfig, {"lr": -0.1}, "lr"),
])
def test_config_validation_names_the_field(cls, kwargs, field):
    valid = {"lr" if cls is T.TileSGDConfig else "lr_fast": 0.1, "device": cv.SoftBounds(1.0), "mode": cv.Pulsed(0.05)}
    if cls is T.RLv2Config:
        valid["beta"] = 0.5
    with pytest.raises(ConfigError, match=field):
        cls(**{**valid, **kwargs})
    with pytest.raises(ConfigError, match=field):          # replace() validates too
        dataclasses.replace(cls(**valid), **kwargs)


def test_rlv2_fixed_fields_are_not_arguments():
    with pytest.raises(TypeError):
        T.RLv2Config(0.1, cv.SoftBounds(1.0), beta=0.5, mode=cv.Pulsed(0.05), transfer_lr=2.0)
    with pytest.raises(ConfigError, match="fixed by RL-v2"):
        T.rlv2(0.1, cv.SoftBounds(1.0), beta=0.5, mode=cv.Pulsed(0.05), momentum=0.5)


def test_unknown_factory_options_are_config_errors():
    with pytest.raises(ConfigError, match="unknown option 'tail_weightening'"):
        T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.05), tail_weightening=3.0)
    with pytest.raises(ConfigError, match="in_chop_prob is not an option of TT-v1"):
        T.ttv1(0.1, cv.SoftBounds(1.0), in_chop_prob=0.1)


@pytest.mark.parametrize("make", [
    lambda dev: T.agad(0.3, dev, mode=cv.Pulsed(0.05), in_chop_prob=0.25, read_noise=0.01, out_chop_prob=0.1),
    lambda dev: T.ttv1(0.3, dev, mode=cv.Pulsed(0.05), transfer_lr=0.5, read_noise=0.01, n_reads=3),
    lambda dev: T.analog_sgd_tile(0.3, dev, mode=cv.Pulsed(0.05), auto_scale=True),
], ids=["agad", "ttv1", "sgd"])
def test_step_leaves_its_input_state_unchanged(make):
    alg = make(cv.SoftBounds(1.0))
    rng = np.random.default_rng(2)
    state = alg.init(rng.uniform(-0.2, 0.2, (2, 3, 4)))
    for _ in range(12):
        before = [np.array(v, copy=True) for v in state]
        x, d = rng.standard_normal((2, 5, 4)), rng.standard_normal((2, 5, 3))
        new = alg.step(state, x, d, rng)
        for old, now in zip(before, state):
            np.testing.assert_array_equal(old, now)
        state = new
    assert np.any(state.w != before[0])


def test_step_lr_scales_the_flagged_rates_only():
    """A transfer of λ_T·lr (scale_transfer_lr) and a fast write of λ_A (not scaled) on an ideal device:
    A = −λ_A g, then C = λ_T·lr·A exactly."""
    dev = cv.Ideal()
    x = np.ones((1, 1, 1))
    d = np.full((1, 1, 2), 2.0)
    for scale_fast, expect_a in ((False, -0.2), (True, -0.2 * 0.5)):
        cfg = T.TTv1Config(0.1, dev, transfer_lr=0.4, scale_fast_lr=scale_fast)
        alg = T.transfer_algorithm(cfg)
        s = alg.step(alg.init(np.zeros((1, 2, 1))), x, d, None, lr=0.5)
        np.testing.assert_allclose(s.a[0, :, 0], expect_a, rtol=1e-15)
        np.testing.assert_allclose(s.w[0, :, 0], 0.4 * 0.5 * expect_a, rtol=1e-15)


@pytest.mark.parametrize("mode", [cv.Expected(), cv.Pulsed(0.01)], ids=["expected", "pulsed"])
def test_vector_algorithms_are_the_rank_one_case_of_the_tile_algorithms(mode):
    """cv.analog_sgd / cv.tiki_taka equal analog_sgd_tile / ttv1 on a (d, 1) tile bit for bit."""
    rng = np.random.default_rng(1)
    w0 = rng.uniform(-0.3, 0.3, (3, 5))
    dev = cv.SoftBounds(0.8)
    pairs = [(cv.analog_sgd(0.05, dev, mode=mode),
              T.as_vector_algorithm(T.analog_sgd_tile(0.05, dev, mode=mode, accumulate="net"))),
             (cv.tiki_taka(0.1, 0.05, dev, transfer_every=2, read_noise=0.01, gamma=0.3, mode=mode),
              T.as_vector_algorithm(T.ttv1(0.1, dev, mode=mode, transfer_lr=0.05, transfer_every=2, read_noise=0.01,
                                           gamma=0.3)))]
    for a, b in pairs:
        sa, sb = a.init(w0), b.init(w0)
        ra, rb = np.random.default_rng(5), np.random.default_rng(5)
        for _ in range(20):
            g = rng.standard_normal((3, 5))
            sa, sb = a.step(sa, g, ra), b.step(sb, g, rb)
        np.testing.assert_array_equal(a.query(sa), b.query(sb))


def test_replacing_the_mode_of_an_rlv2_config_derives_its_granularities_afresh():
    import dataclasses

    cfg = T.RLv2Config(lr_fast=0.1, device=cv.SoftBounds(1.0), mode=cv.Pulsed(0.01), beta=0.5)
    assert cfg.g_slow == cfg.g_fast == 0.01
    new = dataclasses.replace(cfg, mode=cv.Pulsed(0.001))
    assert new.g_slow == new.g_fast == 0.001


# -- the pulse-train write mode and the transfer read through the periphery -------------------------------------

from convergence.physics.periphery import AIHWKIT_TRANSFER_FORWARD, IOParameters  # noqa: E402
from convergence.physics.reference_device import SoftBoundsReference  # noqa: E402
from convergence.tile.analog_tile import AnalogTile, TileWrite, UpdateParameters  # noqa: E402

ALL_ALGS = {
    "sgd": lambda m: T.analog_sgd_tile(0.1, cv.SoftBounds(1.0), mode=m),
    "ttv1": lambda m: T.ttv1(0.1, cv.SoftBounds(1.0), mode=m, transfer_lr=0.2),
    "ttv2": lambda m: T.ttv2(0.1, cv.SoftBounds(1.0), mode=m, transfer_lr=0.2, granularity=0.01),
    "rlv2": lambda m: T.rlv2(0.1, cv.SoftBounds(1.0), beta=0.2, mode=m, granularity=0.01),
    "c-ttv2": lambda m: T.chopped_ttv2(0.1, cv.SoftBounds(1.0), mode=m, transfer_lr=0.2, granularity=0.01),
    "agad": lambda m: T.agad(0.1, cv.SoftBounds(1.0), mode=m, transfer_lr=0.2, granularity=0.01),
}
MODES_ALL = {"expected": cv.Expected(), "rounding": cv.Pulsed(0.01),
             **{f"tile-{m}": TileWrite(0.01, UpdateParameters(mode=m, desired_bl=31))
                for m in ("expected", "rounding", "pulse_train")}}


@pytest.mark.parametrize("mode", list(MODES_ALL))
@pytest.mark.parametrize("name", list(ALL_ALGS))
def test_every_algorithm_runs_in_every_write_mode(name, mode):
    """One switch (``mode``) selects the write (batch: Expected, Pulsed; per sample as the tile: TileWrite in its
    three modes); every algorithm learns the least-squares target in every mode:
    the error after 400 updates is below 60 % of the initial one (a clear decrease, not a tuned bound)."""
    w_t = target(4)
    alg = ALL_ALGS[name](MODES_ALL[mode])
    st_ = lsq_run(alg, w_t, 400, seed=3)
    assert np.all(np.isfinite(alg.query(st_)))
    assert rms(alg.query(st_) - w_t).mean() < 0.6 * rms(w_t).mean()


@pytest.mark.parametrize("tile_mode", ["expected", "rounding", "pulse_train"])
def test_tile_write_mode_is_the_tiles_update(tile_mode):
    """analog_sgd_tile in TileWrite mode writes exactly what the AnalogTile writes in the same mode
    (same device, same generator state): the same function, not a copy."""
    rng = np.random.default_rng(0)
    x, d = rng.standard_normal((3, 4, 5)), 0.3 * rng.standard_normal((3, 4, 2))
    up = UpdateParameters(mode=tile_mode, desired_bl=7)
    alg = T.analog_sgd_tile(0.05, cv.SoftBounds(1.0), mode=TileWrite(0.01, up, c2c=0.2))
    s = alg.step(alg.init(np.full((3, 2, 5), 0.1)), x, d, np.random.default_rng(4))
    tile = AnalogTile(cv.SoftBounds(1.0), (3, 2, 5), update=up, rng=np.random.default_rng(4), dw_min=0.01, c2c=0.2,
                      w0=0.1)
    tile.update(x, d, 0.05)
    np.testing.assert_array_equal(s.w, tile.w)


def test_pulse_train_write_has_the_requested_mean():
    """Ideal device, δ = 0.01: the mean pulse-train write over many trials is −lr d xᵀ (k standard errors),
    also when the largest coincidence asks for more than desired_bl pulses is *not* reached (k < BL)."""
    T_, lr = 4000, 0.1
    x = np.broadcast_to(np.array([0.5, -1.0, 0.2]), (T_, 1, 3)).copy()
    d = np.broadcast_to(np.array([0.3, -0.1]), (T_, 1, 2)).copy()
    alg = T.analog_sgd_tile(lr, cv.Ideal(), mode=TileWrite(0.01, UpdateParameters(desired_bl=31)))
    dw = alg.step(alg.init(np.zeros((T_, 2, 3))), x, d, np.random.default_rng(1)).w
    want = -lr * np.outer([0.3, -0.1], [0.5, -1.0, 0.2])
    se = dw.std(axis=0, ddof=1) / np.sqrt(T_)
    assert np.all(np.abs(dw.mean(axis=0) - want) <= K * se + 1e-12)
    assert np.all(np.abs(np.round(dw / 0.01) - dw / 0.01) < 1e-9)        # whole pulses of δ


def test_ttv1_pulse_train_transfer_moves_the_read_column():
    """TT-v1 in TileWrite mode: the transfer is a pulse-train update of C with x = e_k, d = −A[:, k], lr λ_T;
    on an ideal device its mean is +λ_T A[:, k] on column k only (A written exactly in Expected mode) while the
    largest element needs fewer than desired_bl pulses (here λ_T·0.2/δ = 10 < 31)."""
    T_ = 3000
    dev = cv.Ideal()
    alg = T.ttv1(1.0, dev, mode=TileWrite(0.01), mode_fast=cv.Expected(), transfer_lr=0.5)
    x = np.zeros((T_, 1, 3))
    x[:, 0, 1] = 1.0
    d = np.broadcast_to(np.array([-0.2, 0.1]), (T_, 1, 2)).copy()
    s = alg.step(alg.init(np.zeros((T_, 2, 3))), x, d, np.random.default_rng(2))
    # one read per mini-batch of column 0 (still zero in A): nothing moves; the next reads column 1
    assert not s.w.any()
    s = alg.step(s, np.zeros_like(x), np.zeros_like(d), np.random.default_rng(3))
    col = s.w[:, :, 1]
    se = col.std(axis=0, ddof=1) / np.sqrt(T_)
    np.testing.assert_allclose(s.a[0, :, 1], [0.2, -0.1], rtol=1e-14)
    assert np.all(np.abs(col.mean(axis=0) - 0.5 * np.array([0.2, -0.1])) <= K * se + 1e-12)
    assert not s.w[:, :, [0, 2]].any()


def test_transfer_read_goes_through_the_periphery():
    """A read through an ADC of step 24/510 (out_bound 12, out_res 1/510, no noise) moves C by λ_T·Q(A[:, k]):
    hand-computed 0.1 -> 2 steps, -0.07 -> -1 step, 0.3 -> 6 steps (Expected writes: exact)."""
    io = IOParameters(out_res=1 / 510, out_bound=12.0)
    alg = T.ttv1(1.0, cv.Ideal(), transfer_lr=1.0, n_reads=None, transfer_forward=io)
    x = np.array([[[1.0]]])
    d = -np.array([[[0.1, -0.07, 0.3]]])
    s = alg.step(alg.init(np.zeros((1, 3, 1))), x, d, np.random.default_rng(0))
    step = 24 / 510
    np.testing.assert_allclose(s.w[0, :, 0], [2 * step, -step, 6 * step], rtol=1e-13)
    # aihwkit's default transfer read: noisy (std 0.06) and quantised; its mean over trials is the column
    T_ = 4000
    alg = T.ttv1(1.0, cv.Ideal(), transfer_lr=1.0, n_reads=None, transfer_forward=AIHWKIT_TRANSFER_FORWARD)
    s = alg.step(alg.init(np.zeros((T_, 3, 1))), np.ones((T_, 1, 1)), np.broadcast_to(d, (T_, 1, 3)).copy(),
                 np.random.default_rng(1))
    c = s.w[:, :, 0]
    assert np.allclose(np.round(c / step) * step, c, rtol=0, atol=1e-12)
    se = c.std(axis=0, ddof=1) / np.sqrt(T_)
    assert np.all(np.abs(c.mean(axis=0) - [0.1, -0.07, 0.3]) <= K * se)
    assert np.all(np.abs(c.std(axis=0) / np.sqrt(0.06 ** 2 + step ** 2 / 12) - 1) < 0.1)
    with pytest.raises(ConfigError, match="transfer_forward"):
        T.ttv1(1.0, cv.Ideal(), transfer_forward="aihwkit")


def test_ttv1_scales_the_fast_rate_by_default_as_aihwkit():
    """TransferCompound's scale_fast_lr = True: a step with optimizer lr 0.5 writes −fast_lr·0.5·d xᵀ onto A."""
    alg = T.ttv1(0.1, cv.Ideal())
    s = alg.step(alg.init(np.zeros((1, 2, 1))), np.ones((1, 1, 1)), np.full((1, 1, 2), 2.0), None, lr=0.5)
    np.testing.assert_allclose(s.a[0, :, 0], -0.1 * 0.5 * 2.0, rtol=1e-15)


@pytest.mark.parametrize("name", ["ttv1", "c-ttv2", "agad"])
def test_transfer_algorithms_run_on_a_realised_reference_device(name):
    """aihwkit's SoftBoundsReference (realised, its own δ and c2c noise) on both arrays, pulse trains and a noisy
    transfer read: the C pulses come in whole steps of the device's δ."""
    rng = np.random.default_rng(5)
    dev = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-1.0, dw_min_std=0.1).realize((2, 2, 4), rng)
    fast = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-1.0).realize((2, 2, 4), rng)
    mode = TileWrite(update=UpdateParameters(desired_bl=1, update_bl_management=False, update_management=False))
    kw = dict(mode=mode, mode_fast=TileWrite(), device_fast=fast, transfer_forward=AIHWKIT_TRANSFER_FORWARD)
    alg = {"ttv1": lambda: T.ttv1(0.5, dev, **{**kw, "mode": TileWrite()}),
           "c-ttv2": lambda: T.chopped_ttv2(0.5, dev, **kw),
           "agad": lambda: T.agad(0.5, dev, **kw)}[name]()
    w_t = np.random.default_rng(7).uniform(-0.5, 0.5, (2, 2, 4))
    s = lsq_run(alg, w_t, 200, seed=6)
    assert np.all(np.isfinite(alg.query(s)))
    if name != "ttv1":
        assert s.pulses.sum() > 0


def test_ttv1_tile_write_is_two_tiles_driven_by_hand():
    """TT-v1 in TileWrite mode with an exact read = aihwkit's TransferCompound written out with two AnalogTiles:
    A.update(x, d, fast_lr·lr), then C.update(e_j, −A[:, j], transfer_lr·lr) for every column j (bit for bit)."""
    rng = np.random.default_rng(8)
    shape = (2, 3, 4)
    dev_c = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-1.0, up_down=0.2).realize(shape, rng)
    dev_a = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-1.0, up_down=0.2).realize(shape, rng)
    up_a, up_c = UpdateParameters(desired_bl=8), UpdateParameters(desired_bl=31)
    alg = T.ttv1(0.8, dev_c, device_fast=dev_a, mode=TileWrite(update=up_c), mode_fast=TileWrite(update=up_a),
                 n_reads=None, gamma=0.4)
    g1, g2 = np.random.default_rng(9), np.random.default_rng(9)
    c = AnalogTile(dev_c, shape, update=up_c, rng=g2, w0=0.5)
    a = AnalogTile(dev_a, shape, update=up_a, rng=g2, w0=0.0)
    s = alg.init(np.full(shape, 0.5))
    e = np.broadcast_to(np.eye(4), (2, 4, 4)).copy()
    for _ in range(4):
        x, d = rng.standard_normal((2, 5, 4)), 0.2 * rng.standard_normal((2, 5, 3))
        s = alg.step(s, x, d, g1, lr=0.5)
        a.update(x, d, 0.8 * 0.5)
        c.update(e, -a.weights.transpose(0, 2, 1), 0.5)
        np.testing.assert_array_equal(s.a, a.weights)
        np.testing.assert_array_equal(s.w, c.weights)
        np.testing.assert_array_equal(alg.query(s), c.weights + 0.4 * a.weights)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_chopped_products_are_the_products_of_the_chopped_rows(dtype):
    # c ⊙ x with c = ±1 flips signs only, and a sign flip commutes with every rounding of the sums: exact equality
    rng = np.random.default_rng(3)
    trials, batch, n_in, n_out = 2, 257, 9, 5
    x = rng.standard_normal((trials, batch, n_in)).astype(dtype)
    d = rng.standard_normal((trials, batch, n_out)).astype(dtype)
    c_in = rng.choice([-1.0, 1.0], (trials, n_in))
    c_out = rng.choice([-1.0, 1.0], (trials, n_out))
    for ci, co in ((c_in, None), (None, c_out), (c_in, c_out)):
        xc = x if ci is None else (x * ci[:, None, :]).astype(dtype)
        dc = d if co is None else (d * co[:, None, :]).astype(dtype)
        want = (np.matmul(np.abs(dc).transpose(0, 2, 1), np.abs(xc)), np.matmul(dc.transpose(0, 2, 1), xc))
        got = T.chopped_products(T.signs_products(x, d), ci, co)
        for g, w in zip(got, want):
            assert g.dtype == dtype
            np.testing.assert_array_equal(g, w)
    # the tile numerics' chopped write is the write of the chopped rows (rows in the numerics' dtype, float64)
    x, d = x.astype(np.float64), d.astype(np.float64)
    dev = cv.SoftBounds(1.0)
    a0 = rng.uniform(-0.5, 0.5, (trials, n_out, n_in))
    xc, dc = x * c_in[:, None, :], d * c_out[:, None, :]
    for mode in (cv.Expected(), cv.Pulsed(0.01)):
        got = T.TILE.chopped_write(a0, x, d, c_in, c_out, 0.05, dev, mode, np.random.default_rng(1), "signs", None)
        want = T.gradient_write(a0, xc, dc, 0.05, dev, mode, np.random.default_rng(1), "signs")
        np.testing.assert_array_equal(got, want)


def test_column_device_keeps_the_columns_coefficients_and_pickles():
    # the cached device of C on a column range has the affine coefficients and bounds of the sliced device, and a
    # threshold transfer through it writes exactly what the plain sliced device writes
    import pickle
    from convergence.physics.reference_device import offset_softbounds
    rng = np.random.default_rng(4)
    dev = offset_softbounds((1, 6, 8), rng, sigma_r=0.2, asym_dtod=0.1, dw_min_dtod=0.1, range_dtod=0.1)
    cfg = T.ttv2(0.1, dev, mode=cv.Pulsed(0.01)).config
    for sl in (slice(0, 8), slice(2, 5)):
        fixed, plain = cfg.column_device(sl), T._columns(dev, sl)
        assert cfg.column_device(sl) is fixed
        for f, p in zip(fixed.affine(), plain.affine()):
            np.testing.assert_array_equal(f, p)
        for f, p in zip(fixed.bounds, plain.bounds):
            np.testing.assert_array_equal(f, p)
        w = rng.uniform(-0.6, 0.6, (1, 6, sl.stop - sl.start))
        n = rng.integers(-2, 3, w.shape).astype(float)
        for c2c in (0.0, 0.3):
            mode = cv.Pulsed(0.01, c2c=c2c)
            got = T._write_pulses(w, n, fixed, mode, 0.01, np.random.default_rng(5))
            want = T._write_pulses(w, n, plain, mode, 0.01, np.random.default_rng(5))
            np.testing.assert_array_equal(got, want)
    back = pickle.loads(pickle.dumps(cfg))             # configs travel to worker processes with their caches
    full = slice(0, 8)
    np.testing.assert_array_equal(back.column_device(full).affine()[1], cfg.column_device(full).affine()[1])
