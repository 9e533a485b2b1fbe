"""Algorithms and the simulation driver: reductions, batching, determinism, mean-field floors."""
from __future__ import annotations

import math
import time

import numpy as np
import pytest

from convergence import (CLin, ConfigError, Gaussian, Ideal, LeastSquares, NoNoise, Pulsed, Quadratic,
                         SoftBounds, Variation, analog_sgd, digital_sgd, realize, simulate, tiki_taka)
from convergence.theory.meanfield import asgd_quadratic_fixed_point, digital_sgd_floor, tt_clin_floor
from convergence.rng import TrialStreams, block_slices
from convergence.sim.simulate import STATUS_NONFINITE, STATUS_OK, STATUS_OUT_OF_RANGE, Trajectory

LSQ = LeastSquares(d=6, n=20, sigma_a=0.5, x_scale=0.3, seed=3)


def _w_hist(traj):
    return np.asarray(traj.w)


@pytest.mark.parametrize("device", [Ideal(), SoftBounds(math.inf)], ids=["ideal", "tau=inf"])
def test_analog_sgd_on_an_ideal_device_is_digital_sgd_bit_for_bit(device):
    kw = dict(trials=16, seed=11, record_w=True)
    a = simulate(analog_sgd(0.05, device), LSQ, Gaussian(0.3), 0.1, 300, **kw)
    d = simulate(digital_sgd(0.05), LSQ, Gaussian(0.3), 0.1, 300, **kw)
    assert np.array_equal(_w_hist(a), _w_hist(d))
    assert np.array_equal(a.final_state.w, d.final_state.w)


def test_tiki_taka_transferring_nothing_is_analog_sgd_on_P():
    """Degenerate TT: with an ideal fast array and a negligible transfer, P follows digital SGD on the
    gradient at W (= W0): P_K = -lr_fast * sum of gradient samples (checks the sign convention)."""
    obj = Quadratic(d=3, L=1.0, w_star=0.5)
    alg = tiki_taka(0.1, 1e-300, SoftBounds(1.0), device_fast=Ideal())
    traj = simulate(alg, obj, NoNoise(), 0.0, 10, trials=2)
    np.testing.assert_allclose(traj.final_state.p, 10 * 0.1 * 0.5, rtol=1e-12)  # -lr * grad = +0.05 per step


def _runs(mode, alg_name):
    dev = SoftBounds(0.9)
    lr = np.array([0.02, 0.05, 0.1, 0.03])
    if alg_name == "analog-sgd":
        return lambda lr_: analog_sgd(lr_, dev, mode=mode), lr
    if alg_name == "tiki-taka":
        return lambda lr_: tiki_taka(lr_, 0.5 * lr_, dev, gamma=0.2, transfer_every=2, read_noise=0.01,
                                     mode=mode), lr
    return lambda lr_: digital_sgd(lr_), lr


@pytest.mark.parametrize("mode", [None, Pulsed(0.002, bl=50)], ids=["expected", "pulsed"])
@pytest.mark.parametrize("alg_name", ["digital-sgd", "analog-sgd", "tiki-taka"])
def test_a_batch_of_trials_is_the_stack_of_single_trial_runs(mode, alg_name):
    mode = mode or __import__("convergence").Expected()
    make, lr = _runs(mode, alg_name)
    kw = dict(seed=5, record_w=True, trial_block=1)
    batch = simulate(make(lr), LSQ, Gaussian(0.2), 0.05, 120, trials=4, **kw)
    for i in range(4):
        single = simulate(make(float(lr[i])), LSQ, Gaussian(0.2), 0.05, 120, trials=1, first_trial=i, **kw)
        assert np.array_equal(_w_hist(batch)[:, i], _w_hist(single)[:, 0])


def test_results_do_not_depend_on_how_trials_are_split_across_workers():
    alg = analog_sgd(0.05, SoftBounds(0.8), mode=Pulsed(0.005, bl=20))
    full = simulate(alg, LSQ, Gaussian(0.2), 0.0, 80, trials=150, seed=9, record_w=True, trial_block=32)
    for parts in (2, 3):
        pieces = [simulate(alg, LSQ, Gaussian(0.2), 0.0, 80, trials=sl.stop - sl.start, seed=9, record_w=True,
                           trial_block=32, first_trial=sl.start) for sl in block_slices(150, parts, 32)]
        assert np.array_equal(np.concatenate([_w_hist(p) for p in pieces], axis=1), _w_hist(full))


def test_same_seed_same_output_and_different_seed_different_output():
    alg = tiki_taka(0.05, 0.05, CLin(1.0, 0.2), mode=Pulsed(0.01, bl=10))
    a = simulate(alg, LSQ, Gaussian(0.2), 0.0, 50, trials=8, seed=1, record_w=True)
    b = simulate(alg, LSQ, Gaussian(0.2), 0.0, 50, trials=8, seed=1, record_w=True)
    c = simulate(alg, LSQ, Gaussian(0.2), 0.0, 50, trials=8, seed=2, record_w=True)
    assert np.array_equal(_w_hist(a), _w_hist(b))
    assert all(np.array_equal(a.metrics[k], b.metrics[k]) for k in a.metrics)
    assert not np.array_equal(_w_hist(a), _w_hist(c))


def test_hyperparameters_broadcast_across_trials():
    lrs = np.array([0.01, 0.02, 0.04])
    traj = simulate(digital_sgd(lrs), Quadratic(d=2, L=1.0, w_star=1.0), NoNoise(), 0.0, 1, trials=3)
    np.testing.assert_allclose(traj.final_state.w, np.repeat(lrs[:, None], 2, axis=1))


# --- mean-field floors ------------------------------------------------------------------------------------

OBJ_1D = Quadratic(d=1, L=1.0, w_star=0.5)


def _floor(alg, steps, trials=2000, seed=0, every=5):
    t = simulate(alg, OBJ_1D, Gaussian(0.5), 0.0, steps, trials=trials, seed=seed, record_every=every,
                 trial_block=trials)
    return t


def test_analog_sgd_stationary_point_and_floor_match_the_mean_field_prediction_D3():
    """D3 (docs/theory/derivations.md) (L = tau = 1, w* = 0.5, sigma = 0.5): exact root w_s = 0.35310, floor 0.021580.

    The stationary mean matches w_s within 4 stderr + the O(lr) fluctuation bias; the floor is
    extrapolated to lr -> 0 from lr and lr/2 (Richardson, floor(lr) = floor0 + c lr + O(lr^2)).
    """
    w_s, floor0 = asgd_quadratic_fixed_point(1.0, 0.5, 0.5, tau=1.0)
    assert w_s == pytest.approx(0.35310, abs=5e-6) and floor0 == pytest.approx(0.021580, abs=5e-7)
    t1 = _floor(analog_sgd(0.02, SoftBounds(1.0)), 6000)
    t2 = _floor(analog_sgd(0.01, SoftBounds(1.0)), 12000, seed=1, every=10)
    for t in (t1, t2):
        w_mean = t.w_mean()[0]
        per_trial = t.tail_w_mean[:, 0]
        se = per_trial.std(ddof=1) / math.sqrt(per_trial.size)
        assert abs(w_mean - w_s) < 4 * se + 1e-3, (w_mean, se)
    f1, s1 = t1.tail_mean("grad_norm_sq"), t1.tail_stderr("grad_norm_sq")
    f2, s2 = t2.tail_mean("grad_norm_sq"), t2.tail_stderr("grad_norm_sq")
    extrap, extrap_se = 2 * f2 - f1, math.sqrt(4 * s2 ** 2 + s1 ** 2)
    assert abs(extrap - floor0) < 4 * extrap_se + 2e-4, (f1, f2, extrap, extrap_se)
    # and the floor does not vanish: it stays far above digital SGD's at the same step size (D4)
    assert f2 - 4 * s2 > 5 * digital_sgd_floor(0.01, 1.0, 0.5)[1]


def test_digital_sgd_floor_matches_D4():
    for lr in (0.05, 0.2):
        t = _floor(digital_sgd(lr), 4000)
        dist, grad = digital_sgd_floor(lr, 1.0, 0.5)
        assert abs(t.tail_mean("grad_norm_sq") - grad) < 4 * t.tail_stderr("grad_norm_sq"), (lr, grad)
        assert abs(t.tail_mean("dist_sq") - dist) < 4 * t.tail_stderr("dist_sq")


def test_tiki_taka_floor_shrinks_proportionally_to_the_step_size_on_a_zero_shifted_device():
    """D14: E||grad f||^2 roughly linear in the step size (0.0108/0.0047/0.0025 for 0.05/0.02/0.01)."""
    floors, ses = [], []
    for i, lr in enumerate((0.04, 0.02, 0.01)):
        t = _floor(tiki_taka(lr, lr, SoftBounds(1.0)), int(240 / lr), trials=1000, seed=i, every=10)
        floors.append(t.tail_mean("grad_norm_sq"))
        ses.append(t.tail_stderr("grad_norm_sq"))
    floors, ses = np.array(floors), np.array(ses)
    ratios = floors[:-1] / floors[1:]
    ratio_se = ratios * np.sqrt((ses[:-1] / floors[:-1]) ** 2 + (ses[1:] / floors[1:]) ** 2)
    assert np.all(np.abs(ratios - 2.0) < 4 * ratio_se + 0.35), (floors, ratios)
    assert floors[-1] < 0.2 * 0.021580   # far below the Analog SGD floor of the same problem


def test_tiki_taka_with_shifted_symmetric_point_levels_off_at_D13():
    """D13: with c_Lin = 0.3 on P the floor tends to c^2 (2/pi) sigma^2 = 0.0143 (not to 0);
    The theory guide's simulation: 0.0124/0.0132/0.0137 for 0.05/0.02/0.01."""
    pred = tt_clin_floor(0.3, 0.5)
    vals = []
    for i, lr in enumerate((0.04, 0.02)):
        t = _floor(tiki_taka(lr, lr, CLin(1.0, 0.3)), int(300 / lr), trials=1000, seed=10 + i, every=10)
        g = t.tail_grad_mean[t.ok, 0]
        m, se = g.mean(), g.std(ddof=1) / math.sqrt(g.size)
        vals.append((m * m, 2 * abs(m) * se))
    # does not shrink with the step size (unlike the zero-shifted case) and approaches the prediction
    assert vals[1][0] > 0.85 * vals[0][0]
    for v, se in vals:
        assert 0.75 * pred - 4 * se < v < pred + 4 * se, (vals, pred)


# --- status ---------------------------------------------------------------------------------------------

def test_non_finite_and_out_of_range_trials_are_reported_per_trial():
    obj = Quadratic(d=2, L=1.0, w_star=0.5)
    lrs = np.array([0.1, 3.0, 0.1])  # lr * L > 2: digital SGD diverges -> overflow -> non-finite
    t = simulate(digital_sgd(lrs), obj, NoNoise(), 100.0, 3000, trials=3, record_every=50)
    assert list(t.status) == [STATUS_OK, STATUS_NONFINITE, STATUS_OK]
    assert t.first_bad_step[1] > 0 and t.status_counts() == {"ok": 2, "nonfinite": 1, "out_of_range": 0}
    assert math.isfinite(t.tail_mean("grad_norm_sq"))   # bad trials are excluded from statistics
    # expected-mode ALD with |dW| > tau violates P1 Thm 1's condition and can leave [-tau, tau]
    t2 = simulate(analog_sgd(np.array([0.1, 1.0]), SoftBounds(0.5)), Quadratic(d=1, L=1.0, w_star=3.0),
                  NoNoise(), 0.0, 20, trials=2)
    assert t2.status[0] == STATUS_OK and t2.status[1] == STATUS_OUT_OF_RANGE


def test_saturation_and_running_S_K_are_recorded():
    tau = 1.0
    t = simulate(analog_sgd(0.05, SoftBounds(tau)), Quadratic(d=2, L=1.0, w_star=0.4), NoNoise(), 0.0, 400,
                 trials=2, record_w=True)
    wmax = np.abs(t.w).max(axis=2)
    np.testing.assert_allclose(t.metrics["sat_w"], wmax / tau, rtol=1e-12)
    s = (wmax / tau) ** 2 / (1 - (wmax / tau) ** 2)
    np.testing.assert_allclose(t.metrics["s_k_w"][-1], s.mean(axis=0), rtol=1e-10)
    # generic S_K^ASGD = mean ||G/sqrt(F)||_inf^2 = mean (w/tau)^2 for soft bounds (F = 1)
    np.testing.assert_allclose(t.metrics["s_k_generic_w"][-1], ((wmax / tau) ** 2).mean(axis=0), rtol=1e-10)


def test_realized_device_variation_runs_per_trial():
    shape = (64, 1)
    dev = realize(SoftBounds(1.0), Variation(sym_skew=0.3, sym_dtod=0.0), shape, TrialStreams(0, 64, purpose=2))
    t = _floor(analog_sgd(0.02, dev), 4000, trials=64)
    # the symmetric point moved from 0 to 0.3, so the bias toward it shrinks: w_s lies in (0.3, 0.5)
    # and above the unshifted device's 0.3531 (D3 with G = (w - 0.3)/tau)
    w_s, _ = asgd_quadratic_fixed_point(1.0, 0.5, 0.5, SoftBounds(1.0, w_sym=0.3))
    per_trial = t.tail_w_mean[:, 0]
    assert abs(t.w_mean()[0] - w_s) < 4 * per_trial.std(ddof=1) / math.sqrt(per_trial.size) + 2e-3
    assert w_s > 0.36


# --- bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, field", [
    (lambda: analog_sgd(-0.1, SoftBounds(1.0)), "lr"),
    (lambda: analog_sgd(float("nan"), SoftBounds(1.0)), "lr"),
    (lambda: analog_sgd(0.1, "softbounds"), "device"),
    (lambda: analog_sgd(0.1, SoftBounds(1.0), mode="pulsed"), "mode"),
    (lambda: tiki_taka(0.1, 0.1, SoftBounds(1.0), transfer_every=0), "transfer_every"),
    (lambda: tiki_taka(0.1, 0.1, SoftBounds(1.0), gamma=-1), "gamma"),
    (lambda: tiki_taka(0.1, 0.1, SoftBounds(1.0), read_noise=-1), "read_noise"),
    (lambda: simulate(digital_sgd(0.1), OBJ_1D, None, 0.0, 0), "steps"),
    (lambda: simulate(digital_sgd(0.1), OBJ_1D, None, [0.0, 1.0], 5), "init"),
    (lambda: simulate(digital_sgd(0.1), OBJ_1D, None, float("inf"), 5), "init"),
    (lambda: simulate(digital_sgd(0.1), OBJ_1D, None, 0.0, 5, tail=1.5), "tail"),
    (lambda: simulate(digital_sgd(0.1), OBJ_1D, None, 0.0, 5, seed=-1), "seed"),
    (lambda: simulate(digital_sgd(np.ones(3)), OBJ_1D, None, 0.0, 5, trials=4), "lr"),
])
def test_bad_algorithm_and_driver_input_is_rejected(call, field):
    with pytest.raises(ConfigError, match=field):
        call()


def test_tau_sweep_across_trials_equals_separate_runs():
    from convergence import tau_sweep
    taus = [0.6, 1.0, 2.5]
    for base in (SoftBounds(1.0, w_sym=0.1), CLin(2.0, 0.2)):
        swept = simulate(analog_sgd(0.05, tau_sweep(base, taus)), LSQ, Gaussian(0.2), 0.05, 100, trials=3,
                         seed=4, record_w=True, trial_block=1)
        for i, tau in enumerate(taus):
            dev = SoftBounds(tau, w_sym=0.1) if isinstance(base, SoftBounds) else CLin(tau, 0.2)
            single = simulate(analog_sgd(0.05, dev), LSQ, Gaussian(0.2), 0.05, 100, trials=1, seed=4,
                              record_w=True, trial_block=1, first_trial=i)
            np.testing.assert_allclose(swept.w[:, i], single.w[:, 0], rtol=1e-11, atol=1e-13)
    with pytest.raises(ConfigError, match="tau"):
        tau_sweep(SoftBounds(1.0), [1.0, -2.0])


# -- the Algorithm type --------------------------------------------------------------------------------

def test_algorithm_is_a_documented_frozen_dataclass_with_a_json_config():
    import dataclasses

    import convergence as cv
    alg = tiki_taka(0.1, 0.05, SoftBounds(1.0), transfer_every=3)
    assert dataclasses.is_dataclass(cv.Algorithm) and not isinstance(alg, tuple)
    assert "trials" in cv.Algorithm.__doc__ and "rng" in cv.Algorithm.__doc__
    with pytest.raises(dataclasses.FrozenInstanceError):
        alg.name = "other"
    assert alg.inputs == ("g",) and not alg.matrix
    assert alg.as_dict()["transfer_every"] == 3 and alg.as_dict() == alg.config.as_dict()
    assert alg.as_dict()["device_fast"] == alg.as_dict()["device"] and alg.config.transfer_every == 3
    with pytest.raises(ConfigError, match="transfer_every"):
        dataclasses.replace(alg.config, transfer_every=0)
    # a user algorithm: positional fields with a dict config, as before
    user = cv.Algorithm("mine", lambda w0: w0, lambda s: s, lambda s, g, rng=None: s - g, lambda s: [], {"lr": 1.0})
    assert user.as_dict() == {"lr": 1.0}
    assert cv.Algorithm("bare", user.init, user.query, user.step, user.analog).as_dict() == {}


@pytest.mark.parametrize("bad", [dict(step=None), dict(inputs=("x",)), dict(name=3)])
def test_algorithm_rejects_malformed_fields(bad):
    from convergence import Algorithm
    fields = dict(name="a", init=lambda w: w, query=lambda s: s, step=lambda s, g, rng=None: s, analog=lambda s: [])
    with pytest.raises(ConfigError, match=next(iter(bad))):
        Algorithm(**{**fields, **bad})


@pytest.mark.parametrize("steps,every", [(1, 1), (10, 1), (10, 3), (10, 5), (9, 3), (7, 10), (1000, 7)])
def test_recorded_steps_are_every_nth_and_the_last(steps, every):
    # the rule as stated in the docstring, written out independently: k = 0, n, 2n, ... < steps, plus steps - 1
    expected = sorted(set(range(0, steps, every)) | {steps - 1})
    alg = digital_sgd(0.1)
    traj = simulate(alg, Quadratic(d=2), None, 1.0, steps, trials=2, record_every=every)
    assert traj.steps.tolist() == expected
    from convergence.sim.simulate import recorded_steps
    assert recorded_steps(steps, every) == len(expected)


def test_a_recording_that_cannot_fit_is_refused_before_any_allocation():
    alg = analog_sgd(0.1, SoftBounds(1.0))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"recording .* steps .* record less often"):
        simulate(alg, Quadratic(d=2), None, 0.0, 10**11, trials=4)
    with pytest.raises(ConfigError, match="record_every > 1000"):
        simulate(alg, Quadratic(d=2), None, 0.0, 10**9, trials=4, record_every=1000, max_record_bytes=1 << 20)
    assert time.perf_counter() - t0 < 5.0        # refused up front, not after running or allocating


# --- the block-wise recording against the step-by-step definition ------------------------------------------

def _recording_step_by_step(alg, obj, noise, w0, steps, trials, seed, record_every, tail=0.5):
    """The recording of ``simulate`` written out one step at a time from its definitions (module docstring):
    metrics at recorded steps, S_K sums with one += per step, the status from the full check."""
    from convergence import rng as rngmod
    from convergence.physics.devices import saturation
    from convergence.sim.simulate import _update_status

    nr = TrialStreams(seed, trials, purpose=rngmod.NOISE)
    ar = TrialStreams(seed, trials, purpose=rngmod.ALGORITHM)
    state = alg.init(np.broadcast_to(np.asarray(w0, float), (trials, obj.d)).copy())
    tail_start = steps - max(1, int(math.ceil(tail * steps)))
    rec = {}
    sums = {}
    status, first_bad = np.zeros(trials, np.int64), np.full(trials, -1, np.int64)
    tail_g, tail_w, n_tail = np.zeros((trials, obj.d)), np.zeros((trials, obj.d)), 0
    for k in range(steps + 1):
        x, analog = alg.query(state), alg.analog(state)
        if k == steps:
            _update_status(status, first_bad, k, x, analog)
            break
        row = {}
        for name, arr, dev in analog:
            with np.errstate(all="ignore"):
                sat = np.max(saturation(dev, arr), axis=1)
                r = dev.G(arr) / np.sqrt(dev.F(arr))
                ratio_sq = np.max(r * r, axis=1)
                s2 = sat * sat
                term = np.where(s2 < 1.0, s2 / (1.0 - s2), np.inf)
            s_sum, g_sum = sums.get(name, (np.zeros(trials), np.zeros(trials)))
            sums[name] = (s_sum + term, g_sum + ratio_sq)
            row.update({f"sat_{name}": sat, f"s_k_{name}": sums[name][0] / (k + 1),
                        f"s_k_generic_{name}": sums[name][1] / (k + 1)})
        grad = None
        if k % record_every == 0 or k == steps - 1:
            grad = obj.grad(x)
            diff = x - np.asarray(obj.w_star, float)
            row.update(loss_gap=obj.value(x) - obj.f_star, grad_norm_sq=np.einsum("td,td->t", grad, grad),
                       dist_sq=np.einsum("td,td->t", diff, diff), w=x.copy(), k=k)
            for key, v in row.items():
                rec.setdefault(key, []).append(v)
            _update_status(status, first_bad, k, x, analog, (row["loss_gap"], row["grad_norm_sq"], row["dist_sq"]))
            if k >= tail_start:
                tail_g += grad
                tail_w += x
                n_tail += 1
        state = alg.step(state, noise.sample(obj, x, nr, grad), rng=ar)
    return ({key: np.array(v) for key, v in rec.items()}, status, first_bad, tail_g / max(n_tail, 1),
            tail_w / max(n_tail, 1), state)


_VAR_DEV = realize(SoftBounds(0.8), Variation(sym_skew=0.2, sym_dtod=0.1), (6, 3), TrialStreams(2, 6, purpose=2))


@pytest.mark.parametrize("case", [
    ("asgd softbounds", lambda: analog_sgd(np.array([[0.05], [0.3], [0.02], [2.5], [0.1], [0.07]]), SoftBounds(0.6)),
     lambda: Quadratic(d=3, L=1.0, w_star=0.5), 1),
    ("asgd pulsed lsq", lambda: analog_sgd(0.05, SoftBounds(0.9), mode=Pulsed(0.01, bl=20)),
     lambda: LeastSquares(d=3, n=20, sigma_a=0.5, x_scale=0.3, seed=3), 3),
    ("tt gamma realized device", lambda: tiki_taka(0.05, 0.02, _VAR_DEV, gamma=0.3, transfer_every=2),
     lambda: Quadratic(d=3, L=1.0, w_star=np.linspace(-0.3, 0.3, 18).reshape(6, 3)), 2),
    ("digital diverging", lambda: digital_sgd(np.array([0.1, 5.0, 0.1, 0.1, 4.5, 0.2])),
     lambda: Quadratic(d=3, L=1.0, w_star=0.5), 7),
    ("asgd one weight", lambda: analog_sgd(0.05, SoftBounds(0.7)), lambda: Quadratic(d=1, L=1.0, w_star=0.4), 2),
], ids=lambda c: c[0])
@pytest.mark.parametrize("block_bytes", [None, 500, 1], ids=["256 steps", "3 steps", "by reference"])
def test_block_recording_equals_the_step_by_step_recording_bit_for_bit(case, block_bytes, monkeypatch):
    """simulate's block-wise recording (arrays stacked over up to 256 steps, reduced once per block; blocks of 3
    steps; arrays too large to stack held by reference and reduced at once) against the step-by-step definition:
    every metric, the weights, status, first bad step and tail means bit-identical, across block ends (700
    steps), with per-trial devices, γ-mixed weights, batched objectives and divergence."""
    import convergence.sim.simulate as sim_mod

    if block_bytes is not None:
        monkeypatch.setattr(sim_mod, "_BLOCK_BYTES", block_bytes)
    _, make_alg, make_obj, every = case
    alg, obj = make_alg(), make_obj()
    steps, trials = 700, 6
    traj = simulate(alg, obj, Gaussian(0.4), 0.2, steps, trials=trials, seed=9, record_every=every, record_w=True,
                    trial_block=64, progress=False)
    with np.errstate(all="ignore"):
        rec, status, first_bad, tg, tw, state = _recording_step_by_step(alg, obj, Gaussian(0.4), 0.2, steps, trials,
                                                                        9, every)
    assert set(traj.metrics) == {k for k in rec if k not in ("w", "k")}
    for name, arr in traj.metrics.items():
        np.testing.assert_array_equal(arr, rec[name], err_msg=name)
    np.testing.assert_array_equal(traj.w, rec["w"])
    np.testing.assert_array_equal(traj.steps, rec["k"])
    np.testing.assert_array_equal(traj.status, status)
    np.testing.assert_array_equal(traj.first_bad_step, first_bad)
    np.testing.assert_array_equal(traj.tail_grad_mean, tg)
    np.testing.assert_array_equal(traj.tail_w_mean, tw)
    np.testing.assert_array_equal(alg.query(traj.final_state), alg.query(state))
    if case[0] == "digital diverging":
        assert (traj.status != STATUS_OK).sum() == 2
    if case[0] == "asgd softbounds":
        assert (traj.status != STATUS_OK).sum() >= 1


def test_quadratic_value_stack_is_value_of_each_slice():
    rng = np.random.default_rng(4)
    for obj in (Quadratic(d=7, L=2.0, mu=0.1, w_star=0.3), Quadratic(d=4, w_star=rng.standard_normal((5, 4)))):
        ws = rng.standard_normal((9, 5, obj.d))
        np.testing.assert_array_equal(obj.value_stack(ws), np.stack([obj.value(w) for w in ws]))
        np.testing.assert_array_equal(LSQ.value_stack(ws[:, :, :1].repeat(LSQ.dim, 2)),
                                      np.stack([LSQ.value(w) for w in ws[:, :, :1].repeat(LSQ.dim, 2)]))


def test_w_stderr_is_the_spread_of_per_trial_tail_means_and_covers_the_mean_field_root():
    """Trajectory.w_stderr: the standard error of w_mean across independent trials (what simulate's text and
    --json print next to the mean weight), so a reader can compare the mean with a prediction at a margin."""
    traj = simulate(analog_sgd(0.01, SoftBounds(1.0)), Quadratic(d=1, L=1.0, w_star=0.5), Gaussian(0.5), 0.0, 4000,
                    trials=400, seed=5)
    per_trial = traj.tail_w_mean[traj.ok][:, 0]
    assert traj.w_stderr()[0] == pytest.approx(per_trial.std(ddof=1) / math.sqrt(per_trial.size), rel=1e-12)
    w_s = asgd_quadratic_fixed_point(1.0, 0.5, 0.5, tau=1.0)[0]   # D3 mean-field root, 0.35310
    # O(lr) finite-step correction of the mean-field root: 0.002 at lr = 0.01 (D3 reference runs)
    assert abs(traj.w_mean()[0] - w_s) <= 3 * traj.w_stderr()[0] + 0.002
    assert traj.summary()["tail"]["w_stderr"] == traj.w_stderr().tolist()
    one = simulate(analog_sgd(0.01, SoftBounds(1.0)), Quadratic(d=1, L=1.0, w_star=0.5), Gaussian(0.5), 0.0, 10,
                   trials=1, seed=5)
    assert np.isnan(one.w_stderr()).all()


def _trajectory_of_tail_gradients(g: np.ndarray) -> Trajectory:
    """A Trajectory holding only per-trial tail-mean gradients ``g`` (trials, d): what bias_sq reads."""
    t = g.shape[0]
    return Trajectory(np.zeros(1, dtype=np.int64), {}, np.full(t, STATUS_OK), np.full(t, -1), 0, g, np.zeros_like(g),
                      None, {})


@pytest.mark.parametrize("mu", [(0.0, 0.0, 0.0), (0.05, -0.02, 0.01)])
def test_bias_sq_removes_the_plug_in_bias_and_its_stderr_is_the_spread(mu):
    """Trajectory.bias_sq, ‖m‖² − Σ s_i², is unbiased for ‖E∇f‖² (the plug-in ‖m‖² is not: it exceeds it by
    Σ Var(m_i)), and its standard error is never narrower than the estimate's spread over replications.
    R = 4000 replications of n = 20 trials with known mean ``mu`` and per-trial std 0.1 in one Trajectory,
    read back by slices (the battery's per-step-size groups)."""
    rng = np.random.default_rng(11)
    mu = np.asarray(mu)
    R, n, sd = 4000, 20, 0.1
    traj = _trajectory_of_tail_gradients(mu + sd * rng.standard_normal((R * n, mu.size)))
    est = np.array([traj.bias_sq(slice(i * n, (i + 1) * n)) for i in range(R)])
    plug = np.array([np.sum(traj.tail_grad_mean[i * n:(i + 1) * n].mean(axis=0) ** 2) for i in range(R)])
    truth, k = float(np.sum(mu * mu)), 4.0
    se_mean = est[:, 0].std(ddof=1) / math.sqrt(R)
    assert abs(est[:, 0].mean() - truth) <= k * se_mean
    excess = mu.size * sd**2 / n      # Σ Var(m_i): the plug-in's bias, 1.5e-3
    assert plug.mean() - truth == pytest.approx(excess, abs=k * plug.std(ddof=1) / math.sqrt(R))
    # the reported stderr errs on the wide side of the estimate's spread: about √3 at zero bias (1.72 for n = 20)
    ratio = np.sqrt(np.mean(est[:, 1] ** 2)) / est[:, 0].std(ddof=1)
    assert 0.95 <= ratio <= 2.0
    whole = traj.bias_sq()
    assert whole[0] == pytest.approx(truth, abs=k * whole[1])


def test_bias_sq_needs_two_ok_trials_and_is_what_summary_reports():
    traj = simulate(analog_sgd(0.01, SoftBounds(1.0)), Quadratic(d=1, L=1.0, w_star=0.5), Gaussian(0.5), 0.0, 2000,
                    trials=200, seed=3)
    b, se = traj.bias_sq()
    assert traj.summary()["tail"]["bias_sq"] == {"mean": b, "stderr": se}
    # Analog SGD's floor is its bias: the mean-field L²(w_s − w*)² (D3) within k·se and the O(lr) correction
    w_s = asgd_quadratic_fixed_point(1.0, 0.5, 0.5, tau=1.0)[0]
    assert abs(b - (w_s - 0.5) ** 2) <= 4 * se + 2 * 0.002 * abs(w_s - 0.5)
    one = _trajectory_of_tail_gradients(np.ones((1, 2)))
    assert all(math.isnan(v) for v in one.bias_sq())


def test_squared_mean_is_one_estimator_per_cell_and_the_trajectorys():
    """squared_mean over a stack of cells (..., n, d) is the per-cell estimate bit for bit, and Trajectory.bias_sq is
    squared_mean of its ok trials' tail-mean gradients (asgd_floor_grid and the battery read the same numbers)."""
    from convergence.sim.simulate import squared_mean
    x = np.random.default_rng(2).normal(0.1, 0.3, size=(3, 4, 25, 2))
    est, se = squared_mean(x)
    assert est.shape == se.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            e, s = squared_mean(x[i, j])
            assert (e, s) == (est[i, j], se[i, j])
    traj = _trajectory_of_tail_gradients(x[0, 0])
    assert traj.bias_sq() == (float(est[0, 0]), float(se[0, 0]))


def test_a_trial_whose_metrics_overflow_is_nonfinite_even_with_finite_weights():
    """Status is decided from the recorded metrics too: |w| doubles per step at lr·L = 3, so ‖x − W*‖² overflows
    near step 512 while w stays finite until about step 1024; the stable trial is untouched."""
    import warnings
    t = simulate(digital_sgd(np.array([3.0, 0.5])), Quadratic(d=1, L=1.0, w_star=0.5), NoNoise(), 1.0, 700,
                 trials=2, record_every=1)
    assert np.all(np.isfinite(t.final_state.w)) and not np.isfinite(t.metrics["dist_sq"][-1, 0])
    assert list(t.status) == [STATUS_NONFINITE, STATUS_OK]
    assert 500 < t.first_bad_step[0] < 520          # the first recorded step whose ‖x − W*‖² is inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = t.summary()                               # only the ok trial's statistics, no overflow warnings
    assert s["status"] == {"ok": 1, "nonfinite": 1, "out_of_range": 0} and math.isfinite(s["tail"]["loss"]["mean"])
