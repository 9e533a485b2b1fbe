r"""The step driver: the one loop over optimisation steps of the library.

Every experiment that advances a state step by step runs through :func:`run`:
:func:`~convergence.sim.simulate.simulate` (vector algorithms on an objective),
:func:`~convergence.tile.programming.programming_run` (weight programming of a tile) and the
figure recipes that drive aihwkit-like tiles. The driver owns the loop, the observation points
and the progress bar; what a step does and what is recorded stay with the caller:

.. math:: \text{for } k = 0, \dots, K-1:\quad \text{observe}(k, s_k) \text{ if } k \in R;\quad
          s_{k+1} = \text{step}(k, s_k);\qquad \text{then observe}(K, s_K) \text{ if } K \in R,

with R = ``observe_at`` (every k in 0..K when None). ``observe`` sees the state *before* step k
(and, at k = K, the final state); it must not draw random numbers unless the caller wants those
draws interleaved with the steps' in this order.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Container, TypeVar

from convergence._validate import ConfigError

__all__ = ["run"]

S = TypeVar("S")

#: the progress bar is advanced in about this many chunks (updating it every step costs time)
_BAR_CHUNKS = 200


def _progress(total: int, enabled: bool | None, unit: str) -> Any:
    """A tqdm bar on stderr (``enabled=None``: only when stderr is a terminal), else None."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit=unit, leave=False, dynamic_ncols=True)


def run(state: S, step: Callable[[int, S], S], steps: int, *,
        observe: Callable[[int, S], None] | None = None, observe_at: Container[int] | None = None,
        progress: bool | None = None, unit: str = "step") -> S:
    """Advance ``state`` by ``steps`` calls of ``step(k, state)``; returns the final state.

    Args:
        state: the initial state s_0 (any object; mutable states may be updated in place and returned).
        step: ``step(k, s_k) -> s_{k+1}``.
        steps: number of steps K (an integer >= 0).
        observe: ``observe(k, s_k)``, called before step k for k in ``observe_at`` and with the final
            state for k = K if K is in ``observe_at``.
        observe_at: the observation points (a set of ints in 0..K); None: every k in 0..K.
        progress: show a progress bar (None: when stderr is a terminal).
        unit: the progress bar's unit.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"steps must be an integer >= 0 (got {steps!r})")
    bar = _progress(steps, progress, unit)
    bar_every = max(1, steps // _BAR_CHUNKS)
    every = observe is not None and observe_at is None
    some = observe is not None and observe_at is not None
    try:
        for k in range(steps):
            if every or (some and k in observe_at):  # type: ignore[operator]
                observe(k, state)  # type: ignore[misc]
            state = step(k, state)
            if bar is not None and (k + 1) % bar_every == 0:
                bar.update(bar_every)
        if every or (some and steps in observe_at):  # type: ignore[operator]
            observe(steps, state)  # type: ignore[misc]
    finally:
        if bar is not None:
            bar.close()
    return state
