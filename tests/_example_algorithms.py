r"""Example *user* algorithm factories for the property-battery tests (``convergence check``).

They are written the way a user would write them — from the step API alone, without the
toolkit's ``analog_update`` — so the battery is exercised on code it has not seen:

* :func:`my_analog_sgd` — a correct re-implementation of Analog SGD on affine devices,
  W ← W + ΔW·F(W) − |ΔW|·G(W) with ΔW = −lr·g (P2 eq 5). Must be reported *biased* with all
  claims holding.
* :func:`flipped_analog_sgd` — the deliberately broken variant: the sign of the asymmetric
  term is flipped (W ← W + ΔW·F(W) **+** |ΔW|·G(W)), so the noise-driven drift pushes the
  weights *away* from the symmetric point. It reduces to digital SGD on an ideal device (G = 0)
  but must be caught by the range, floor and bound claims.
* :func:`momentum_analog_sgd` — Analog SGD on a momentum buffer: biased with a small floor, and not SGD
  on an ideal device.
* :data:`NOT_A_FACTORY`, :func:`returns_a_number`, :data:`AN_ALGORITHM` — bad targets (exit 2).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import convergence as cv
from convergence.sim.algorithms import Algorithm


class _State(NamedTuple):
    w: np.ndarray
    k: int


def _sgd_like(name: str, lr: Any, device: Any, sign_of_g_term: float) -> Algorithm:
    lr = np.asarray(lr, dtype=float)   # scalar or (trials, 1): broadcasts against (trials, d)

    def init(w0: np.ndarray) -> _State:
        return _State(np.array(w0, dtype=float, copy=True), 0)

    def step(state: _State, g: np.ndarray, rng: Any = None) -> _State:
        dw = -lr * g
        w = state.w
        w_new = w + dw * device.F(w) - sign_of_g_term * np.abs(dw) * device.G(w)
        return _State(w_new, state.k + 1)

    return Algorithm(name, init, lambda s: s.w, step, lambda s: [("w", s.w, device)],
                     {"lr": lr.ravel().tolist(), "device": device.as_dict()})


def my_analog_sgd(lr: Any, device: Any, *, mode: Any = None) -> Algorithm:
    """Analog SGD written from scratch (expected update only; ``mode`` is ignored)."""
    return _sgd_like("my-analog-sgd", lr, device, +1.0)


def flipped_analog_sgd(lr: Any, device: Any, *, mode: Any = None) -> Algorithm:
    """BROKEN: Analog SGD with the sign of the asymmetric term |ΔW|·G(W) flipped."""
    return _sgd_like("flipped-analog-sgd", lr, device, -1.0)


class _MomentumState(NamedTuple):
    w: np.ndarray
    m: np.ndarray


def momentum_analog_sgd(lr: Any, device: Any, *, mode: Any = None, beta: float = 0.8) -> Algorithm:
    """Analog SGD driven by a digital momentum buffer m ← βm + (1 − β)g, ΔW = −lr·m (expected update).

    Biased (the device's pull |ΔW|·G(W) does not vanish), but with a smaller floor than Analog SGD,
    because averaging g shrinks E|m| towards |E g|; not SGD on an ideal device (it averages gradients)."""
    lr = np.asarray(lr, dtype=float)

    def init(w0: np.ndarray) -> _MomentumState:
        w = np.array(w0, dtype=float, copy=True)
        return _MomentumState(w, np.zeros_like(w))

    def step(state: _MomentumState, g: np.ndarray, rng: Any = None) -> _MomentumState:
        m = beta * state.m + (1.0 - beta) * g
        dw = -lr * m
        w = state.w
        return _MomentumState(w + dw * device.F(w) - np.abs(dw) * device.G(w), m)

    return Algorithm("momentum-analog-sgd", init, lambda s: s.w, step, lambda s: [("w", s.w, device)],
                     {"lr": lr.ravel().tolist(), "beta": beta, "device": device.as_dict()})


def my_digital_sgd(lr: Any) -> Algorithm:
    """A factory that takes only ``lr`` (digital algorithms need no device)."""
    return cv.digital_sgd(lr)


NOT_A_FACTORY = 3.0


def returns_a_number(lr: Any, device: Any) -> float:
    return 1.0


def step_changes_the_shape(lr: Any, device: Any, *, mode: Any = None) -> Algorithm:
    """BROKEN contract: step keeps only the first weight of every trial (code written for d = 1)."""
    lr = np.asarray(lr, dtype=float)
    return Algorithm("first-weight-only", lambda w0: np.array(w0, dtype=float), lambda w: w,
                     lambda w, g, rng=None: (w - lr * g)[:, :1], lambda w: [("w", w, device)], {})


def analog_lists_the_state(lr: Any, device: Any, *, mode: Any = None) -> Algorithm:
    """BROKEN contract: analog(state) returns [state] instead of [(name, array, device)]."""
    alg = cv.analog_sgd(lr, device)
    return Algorithm("bad-analog", alg.init, alg.query, alg.step, lambda s: [s], {})


def steps_in_place(lr: Any, device: Any, *, mode: Any = None) -> Algorithm:
    """BROKEN contract: step updates its input state's weights in place (``w -= ...``) and returns them."""
    def step(w: Any, g: Any, rng: Any = None) -> Any:
        w -= lr * g
        return w
    return Algorithm("in-place", lambda w0: np.array(w0, dtype=float), lambda w: w, step,
                     lambda w: [("w", w, device)], {})


def analog_without_trials_axis(lr: Any, device: Any, *, mode: Any = None) -> Algorithm:
    """BROKEN contract: analog(state) lists the array of the first trial only."""
    alg = cv.analog_sgd(lr, device)
    return Algorithm("no-trials-axis", alg.init, alg.query, alg.step, lambda s: [("w", s.w[0, 0], device)], {})


def goes_non_finite(lr: Any, device: Any, *, mode: Any = None) -> Algorithm:
    """BROKEN: every step after the first turns the weights into NaN (after the contract probe's one step)."""
    lr = np.asarray(lr, dtype=float)

    def step(state: _State, g: np.ndarray, rng: Any = None) -> _State:
        w = state.w - lr * g
        return _State(w if state.k == 0 else np.full_like(w, np.nan), state.k + 1)

    return Algorithm("goes-nan", lambda w0: _State(np.array(w0, dtype=float), 0), lambda s: s.w, step,
                     lambda s: [("w", s.w, device)], {})


def swapped_arguments(device: Any, lr: Any) -> Algorithm:
    """BROKEN contract: the arguments in the wrong order (the battery calls factory(lr, device))."""
    return cv.analog_sgd(float(lr), device)


AN_ALGORITHM = cv.digital_sgd(0.1)
