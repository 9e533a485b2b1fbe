"""The Python API refuses inputs of the wrong kind or shape with one clear ConfigError (a new user's trial found
each of these failing deep inside NumPy, or running to a silently wrong result)."""
from __future__ import annotations

import numpy as np
import pytest

import convergence as cv
from convergence import ConfigError

SB = cv.SoftBounds(1.0)
Q = cv.Quadratic(d=2, w_star=0.5)


def _realized(shape):
    return cv.realize(SB, cv.Variation(0.1), shape, np.random.default_rng(0))


@pytest.mark.parametrize("make, needle", [
    (lambda: cv.analog_sgd(0.01, _realized((3, 2))), "device (a realised device) has shape (3, 2)"),
    (lambda: cv.analog_sgd(np.full((4, 3), 0.01), SB), "lr has shape (4, 3)"),
    (lambda: cv.analog_sgd(np.full((4, 1, 1), 0.01), SB), "lr has shape (4, 1, 1)"),
    (lambda: cv.tiki_taka(0.1, 0.1, _realized((4, 2)), device_fast=_realized((3, 2))), "device_fast"),
])
def test_a_parameter_that_does_not_fit_the_weights_is_named(make, needle):
    with pytest.raises(ConfigError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        cv.simulate(make(), Q, cv.Gaussian(0.5), 0.0, 5, trials=4)


def test_per_trial_devices_broadcast_over_the_coordinates():
    t = cv.simulate(cv.analog_sgd(0.01, _realized((4, 1))), Q, cv.Gaussian(0.5), 0.0, 5, trials=4)
    assert t.status_counts()["ok"] == 4


@pytest.mark.parametrize("alg, obj, noise, needle", [
    (cv.analog_sgd, Q, None, "call the factory"),
    (cv.analog_sgd(0.1, SB), "quad", None, "objective must be"),
    (cv.analog_sgd(0.1, SB), Q, 0.5, "noise must be"),
])
def test_simulate_refuses_parts_of_the_wrong_kind(alg, obj, noise, needle):
    with pytest.raises(ConfigError, match=needle):
        cv.simulate(alg, obj, noise, 0.0, 5)


@pytest.mark.parametrize("alg", [cv.digital_sgd(0.1), cv.analog_sgd(0.1, SB), cv.tiki_taka(0.1, 0.1, SB)])
def test_a_step_refuses_a_gradient_of_another_shape(alg):
    """digital SGD broadcast a (3, 1) gradient over the coordinates without a word."""
    state = alg.init(np.zeros((3, 2)))
    for g in (np.ones((3, 1)), np.ones((3, 5))):
        with pytest.raises(ConfigError, match=r"gradient has shape"):
            alg.step(state, g)


@pytest.mark.parametrize("kwargs, needle", [
    ({"shape": (-1, 2)}, "shape must be"), ({"shape": (2.5,)}, "shape must be"), ({"shape": "ab"}, "shape must be"),
    ({"variation": None}, "variation must be"), ({"rng": None}, "rng must be"),
])
def test_realize_checks_its_arguments(kwargs, needle):
    args = {"device": SB, "variation": cv.Variation(0.1), "shape": (2, 2), "rng": 0, **kwargs}
    with pytest.raises(ConfigError, match=needle):
        cv.realize(**args)


def test_realize_takes_a_seed_as_simulate_does():
    a = cv.realize(SB, cv.Variation(0.1), [2, 2], 5)
    b = cv.realize(SB, cv.Variation(0.1), (2, 2), np.random.default_rng(5))
    assert np.array_equal(a.gain, b.gain) and np.array_equal(a.shift, b.shift)


def test_analog_update_refuses_a_mode_given_by_name():
    with pytest.raises(ConfigError, match="mode must be"):
        cv.analog_update(np.zeros((2, 2)), np.zeros((2, 2)), SB, "pulsed")


def test_the_battery_refuses_a_factory_that_ignores_its_per_trial_lr_or_raises():
    """A factory using float(lr.ravel()[0]) ran every trial at one step size: plain digital SGD came out 'biased'
    with a note citing step sizes never run. A factory that raised let its exception through."""
    def one_lr(lr, device=None, *, mode=None):
        return cv.digital_sgd(float(np.asarray(lr).ravel()[0]))

    def boom(lr, device=None, *, mode=None):
        raise RuntimeError("boom")

    with pytest.raises(ConfigError, match="ignores its per-trial lr"):
        cv.check(one_lr, ["floor-vs-lr"])
    with pytest.raises(ConfigError, match="raised RuntimeError: boom"):
        cv.check(boom, ["floor-vs-lr"])


def test_messages_say_ge_zero_where_zero_is_allowed():
    with pytest.raises(ConfigError, match=r"gamma must be >= 0 \(got -1\)"):
        cv.tiki_taka(0.1, 0.1, SB, gamma=-1)
    with pytest.raises(ConfigError, match=r"lr must be > 0 everywhere \(min -0.01\)"):
        cv.analog_sgd(np.array([0.1, -0.01]), SB)


def test_an_unknown_metric_is_named_with_the_recorded_ones():
    t = cv.simulate(cv.digital_sgd(0.1), Q, None, 0.0, 5)
    with pytest.raises(KeyError, match="recorded: "):
        t.final("nope")


def test_w0_first_trial_and_the_trials_of_a_batch_of_instances():
    with pytest.raises(ConfigError, match="w0 must be a number"):
        cv.simulate(cv.digital_sgd(0.1), Q, None, "a", 5)
    with pytest.raises(ConfigError, match="first_trial must be an integer >= 0"):
        cv.simulate(cv.digital_sgd(0.1), Q, None, 0.0, 5, first_trial=-1)
    batch = cv.Quadratic(d=2, w_star=np.linspace(0.1, 0.5, 10).reshape(5, 2))   # one instance per trial
    assert cv.simulate(cv.digital_sgd(0.1), batch, None, 0.0, 5).n_trials == 5  # it said "trials must be 5"
