"""The step driver ``convergence.sim.driver.run``: its loop order, observation points and bad input, and
that ``simulate`` and ``programming_run`` go through it with the same results as an explicit loop."""
from __future__ import annotations

import numpy as np
import pytest

import convergence as cv
from convergence._validate import ConfigError
from convergence.sim import driver
from convergence.tile import transfer_family as T
from convergence.physics.reference_device import offset_softbounds
from convergence.tile.programming import programming_run


def _trace(steps, observe_at=None):
    events = []

    def step(k, s):
        events.append(("step", k, s))
        return s + 1

    def observe(k, s):
        events.append(("observe", k, s))

    final = driver.run(0, step, steps, observe=observe, observe_at=observe_at, progress=False)
    return final, events


def test_observe_before_each_step_and_after_the_last():
    final, events = _trace(3)
    assert final == 3
    assert events == [("observe", 0, 0), ("step", 0, 0), ("observe", 1, 1), ("step", 1, 1),
                      ("observe", 2, 2), ("step", 2, 2), ("observe", 3, 3)]


def test_observation_points_select_k_and_the_final_state():
    final, events = _trace(5, observe_at={0, 2, 5})
    assert final == 5
    assert [e[1:] for e in events if e[0] == "observe"] == [(0, 0), (2, 2), (5, 5)]
    assert [e[1] for e in events if e[0] == "step"] == [0, 1, 2, 3, 4]
    _, events = _trace(5, observe_at=range(5))                  # K not observed
    assert [e[1] for e in events if e[0] == "observe"] == [0, 1, 2, 3, 4]


def test_zero_steps_observes_the_initial_state_once():
    final, events = _trace(0)
    assert final == 0 and events == [("observe", 0, 0)]


@pytest.mark.parametrize("steps", [-1, 2.0, True, "3"])
def test_bad_step_count_is_a_config_error(steps):
    with pytest.raises(ConfigError, match="steps"):
        driver.run(0, lambda k, s: s, steps)


def test_progress_bar_is_shown_and_closed(capsys):
    assert driver.run(0, lambda k, s: s + 2, 400, progress=False) == 800
    assert capsys.readouterr().err == ""
    assert driver.run(0, lambda k, s: s + 2, 400, progress=True) == 800
    assert "/400" in capsys.readouterr().err                  # tqdm's "k/400" counter on stderr
    with pytest.raises(RuntimeError, match="boom"):           # an error in a step still closes the bar
        driver.run(0, lambda k, s: (_ for _ in ()).throw(RuntimeError("boom")), 10, progress=True)


def test_simulate_runs_through_the_driver(monkeypatch):
    calls = []
    real = driver.run

    def spy(state, step, steps, **kw):
        calls.append(steps)
        return real(state, step, steps, **kw)

    monkeypatch.setattr(driver, "run", spy)
    traj = cv.simulate(cv.analog_sgd(0.1, cv.SoftBounds(1.0)), cv.Quadratic(d=3), cv.Gaussian(0.1), 0.2, 17,
                       trials=4, seed=1, progress=False)
    assert calls == [17] and traj.steps[-1] == 16


def _reference_programming(alg, w_target, steps, rng, noise_std, record_every):
    """The weight-programming loop written out: record after 0, every ``record_every`` and the last update."""
    trials, n_out, n_in = w_target.shape
    state = alg.init(np.zeros_like(w_target))
    rec, rms = [0], [np.sqrt(np.mean((alg.query(state) - w_target) ** 2, axis=(1, 2)))]
    for k in range(1, steps + 1):
        x = rng.standard_normal((trials, 1, n_in))
        d = np.matmul(x, (alg.query(state) - w_target).transpose(0, 2, 1))
        if noise_std:
            d += noise_std * rng.standard_normal((trials, 1, n_out))
        state = alg.step(state, x, d, rng)
        if k % record_every == 0 or k == steps:
            rec.append(k)
            rms.append(np.sqrt(np.mean((alg.query(state) - w_target) ** 2, axis=(1, 2))))
    return np.array(rec, float), np.stack(rms), alg.query(state)


@pytest.mark.parametrize("noise_std, steps, record_every", [(0.1, 23, 5), (0.0, 20, 10)])
def test_programming_run_equals_the_explicit_loop(monkeypatch, noise_std, steps, record_every):
    trials, n = 3, 4
    w_t = np.random.default_rng(0).uniform(-0.5, 0.5, (trials, n, n))
    dev = offset_softbounds((trials, n, n), np.random.default_rng(1), skew=0.1, tau=1.0)
    alg = T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.01), device_fast=dev, transfer_lr=0.5)
    ref_steps, ref_rms, ref_w = _reference_programming(alg, w_t, steps, np.random.default_rng(2), noise_std,
                                                       record_every)
    calls = []
    real = driver.run
    monkeypatch.setattr(driver, "run", lambda *a, **kw: calls.append(a[2]) or real(*a, **kw))
    out = programming_run(alg, w_t, steps, np.random.default_rng(2), noise_std=noise_std,
                          record_every=record_every, track=1)
    assert calls == [steps]
    np.testing.assert_array_equal(out["steps"], ref_steps)
    assert out["rms"].tobytes() == ref_rms.tobytes() and out["w_final"].tobytes() == ref_w.tobytes()
    assert out["w_track"].shape == (len(ref_steps), n * n)


def test_stop_ends_the_run_right_after_the_observation_that_asks():
    seen = []
    out = driver.run(0, lambda k, s: s + 1, 10, observe=lambda k, s: seen.append(k), observe_at={2, 5, 8},
                     stop=lambda k, s: s >= 5)
    assert out == 5 and seen == [2, 5]


@pytest.mark.parametrize("n,batch,drop_last,per_epoch", [(25, 10, False, 3), (25, 10, True, 2), (7, 10, True, 1)])
def test_minibatches_cover_each_epoch_in_the_permutation_order(n, batch, drop_last, per_epoch):
    feed = driver.Minibatches(n, batch, np.random.default_rng(4), drop_last=drop_last)
    assert feed.per_epoch == per_epoch
    ref = np.random.default_rng(4)
    for epoch in range(3):
        perm = ref.permutation(n)
        got = np.concatenate([feed.batch(epoch * per_epoch + j) for j in range(per_epoch)])
        want = perm if not drop_last else perm[:max(1, n // batch) * batch]
        np.testing.assert_array_equal(got, want)
    assert list(feed.epoch_ends(3)) == [per_epoch, 2 * per_epoch, 3 * per_epoch]


def test_minibatches_bad_sizes_are_config_errors():
    with pytest.raises(ConfigError, match="batch"):
        driver.Minibatches(10, 0, np.random.default_rng(0))
    with pytest.raises(ConfigError, match="sample"):
        driver.Minibatches(0, 3, np.random.default_rng(0))


def test_network_training_goes_through_the_driver(monkeypatch):
    from convergence.nn import fcn
    from convergence.nn import training as TR
    calls = []
    real = driver.run

    def spy(*args, **kw):
        calls.append(kw.get("observe_at"))
        return real(*args, **kw)

    monkeypatch.setattr(driver, "run", spy)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int)
    hist = TR.train(fcn(sizes=(4, 3, 2), seed=0), x, y, x, y, epochs=2, batch_size=10, schedule=0.1)
    assert calls == [{3, 6}] and list(hist["epoch"]) == [0.0, 1.0]


def test_a_diverging_network_run_stops_after_its_first_non_finite_epoch():
    from convergence.nn import fcn
    from convergence.nn import training as TR
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 4)).astype(np.float32)
    x[3, 0] = np.nan
    y = (rng.random(20) > 0.5).astype(int)
    hist = TR.train(fcn(sizes=(4, 3, 2), seed=0), x, y, x, y, epochs=4, batch_size=10, schedule=0.1)
    assert int(hist["diverged"]) == 1 and len(hist["epoch"]) == 1
