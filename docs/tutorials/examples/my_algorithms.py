r"""Two user-written algorithm factories for the property-testing tutorial (docs/tutorials/property-testing.md).

* :func:`compensated_sgd` — *exact*: it asks the device for ``ΔW / q_s(W)`` instead of ``ΔW``
  (``s`` the sign of ``ΔW``), so that to first order the device delivers ``ΔW`` itself. Near a bound
  ``q_s(W)`` goes to zero, so the gain ``1 / q_s`` is capped at ``max_gain``.
* :func:`wrong_side_sgd` — *broken*: the same idea with a one-character bug, dividing by the
  response of the *other* pulse direction. The device then delivers ``ΔW · q_s / q_{−s}``, which
  makes the asymmetry worse instead of cancelling it.

Both use only the public API: :class:`convergence.Algorithm` for the step API and
:func:`convergence.analog_update` for the device write, so a pulsed update mode works too.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

import convergence as cv


class State(NamedTuple):
    w: np.ndarray   # (trials, d): the weights, living on the device
    k: int          # steps taken


def _compensated(name: str, lr: Any, device: Any, mode: Any, max_gain: float, wrong_side: bool) -> cv.Algorithm:
    lr = np.asarray(lr, dtype=float)          # a float, or (trials, 1): one step size per trial
    mode = cv.Expected() if mode is None else mode

    def init(w0: np.ndarray) -> State:
        return State(np.array(w0, dtype=float, copy=True), 0)

    def query(state: State) -> np.ndarray:
        return state.w                        # the gradient is taken at W itself

    def step(state: State, g: np.ndarray, rng: Any = None) -> State:
        dw = -lr * g                          # the update digital SGD would make
        w = state.w
        q_up, q_down = device.q_plus(w), device.q_minus(w)
        if wrong_side:                        # the bug: the response of the opposite direction
            q_up, q_down = q_down, q_up
        q = np.where(dw >= 0, q_up, q_down)
        request = dw / np.maximum(q, 1.0 / max_gain)
        return State(cv.analog_update(w, request, device, mode, rng), state.k + 1)

    def analog(state: State) -> list[tuple[str, np.ndarray, Any]]:
        return [("w", state.w, device)]       # every array that lives on a device

    config = {"lr": lr.ravel().tolist(), "device": device.as_dict(), "max_gain": max_gain}
    return cv.Algorithm(name, init, query, step, analog, config)


def compensated_sgd(lr: Any, device: Any, *, mode: Any = None, max_gain: float = 2.0) -> cv.Algorithm:
    """Exact: request ``ΔW / q_s(W)`` (gain capped at ``max_gain``) so the device delivers ``ΔW``."""
    return _compensated("compensated-sgd", lr, device, mode, max_gain, wrong_side=False)


def wrong_side_sgd(lr: Any, device: Any, *, mode: Any = None, max_gain: float = 2.0) -> cv.Algorithm:
    """BROKEN: divides by the response of the opposite pulse direction."""
    return _compensated("wrong-side-sgd", lr, device, mode, max_gain, wrong_side=True)


# A claim that does not apply is declared on the factory, with the reason; `convergence check`
# reports it as "skipped" (naming it with --claims runs it anyway).
compensated_sgd.not_applicable = {
    "p1-thm2-bound": "P1 Theorem 2 bounds Analog SGD's recursion; this algorithm rescales its updates",
}
