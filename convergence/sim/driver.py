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
draws interleaved with the steps' in this order. ``stop(k, s_k)``, asked right after each
observation, ends the run early (a diverged training run). Minibatch training (the network and
Swin epoch loops) feeds its steps from :class:`Minibatches`: step k trains on batch
``k mod B`` of epoch ``k div B``'s permutation, and the observation points are the epoch ends.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Container, TypeVar

from convergence._validate import ConfigError

__all__ = ["run", "Minibatches"]

S = TypeVar("S")

#: the progress bar is advanced in about this many chunks (updating it every step costs time)
_BAR_CHUNKS = 200


def _progress(total: int, enabled: bool | None, unit: str, desc: str | None = None) -> Any:
    """A tqdm bar on stderr (``enabled=None``: only when stderr is a terminal), else None."""
    if enabled is None:
        enabled = sys.stderr.isatty()
    if not enabled:
        return None
    from tqdm import tqdm
    return tqdm(total=total, unit=unit, desc=desc, leave=False, dynamic_ncols=True)


class Minibatches:
    r"""The index batches of shuffled epochs over ``n`` samples: :meth:`batch` ``(k)`` is batch
    ``j = k mod B`` of epoch ``k div B``, ``perm[j b:(j + 1) b]``, with ``perm = rng.permutation(n)`` drawn
    when the epoch's first batch is asked for (so steps must ask in order, k = 0, 1, ...).

    ``B = ceil(n / b)`` (the last batch may be short) or, with ``drop_last``, ``max(1, n div b)``.
    """

    def __init__(self, n: int, batch: int, rng: Any, *, drop_last: bool = False) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"minibatches need at least one sample (got n={n!r})")
        if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
            raise ConfigError(f"batch must be an integer >= 1 (got {batch!r})")
        self.n, self.size, self.rng = n, batch, rng
        self.per_epoch = max(1, n // batch) if drop_last else -(-n // batch)
        """B: the steps of one epoch."""
        self._perm: Any = None

    def batch(self, k: int) -> Any:
        """The sample indices of step ``k``."""
        j = k % self.per_epoch
        if j == 0 or self._perm is None:
            self._perm = self.rng.permutation(self.n)
        return self._perm[j * self.size:(j + 1) * self.size]

    def epoch_ends(self, epochs: int) -> range:
        """The observation points after each of ``epochs`` epochs: k = B, 2B, ..., epochs·B."""
        return range(self.per_epoch, epochs * self.per_epoch + 1, self.per_epoch)


def run(state: S, step: Callable[[int, S], S], steps: int, *,
        observe: Callable[[int, S], None] | None = None, observe_at: Container[int] | None = None,
        stop: Callable[[int, S], bool] | None = None, progress: bool | None = None, unit: str = "step",
        desc: str | None = None) -> S:
    """Advance ``state`` by ``steps`` calls of ``step(k, state)``; returns the final state.

    Args:
        state: the initial state s_0 (any object; mutable states may be updated in place and returned).
        step: ``step(k, s_k) -> s_{k+1}``.
        steps: number of steps K (an integer >= 0).
        observe: ``observe(k, s_k)``, called before step k for k in ``observe_at`` and with the final
            state for k = K if K is in ``observe_at``.
        observe_at: the observation points (a set of ints in 0..K); None: every k in 0..K.
        stop: ``stop(k, s_k) -> bool``, asked after each observation; True returns ``s_k`` at once.
        progress: show a progress bar (None: when stderr is a terminal).
        unit, desc: the progress bar's unit and label.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ConfigError(f"steps must be an integer >= 0 (got {steps!r})")
    bar = _progress(steps, progress, unit, desc)
    bar_every = max(1, steps // _BAR_CHUNKS)
    every = observe is not None and observe_at is None
    some = observe is not None and observe_at is not None
    try:
        for k in range(steps):
            if every or (some and k in observe_at):  # type: ignore[operator]
                observe(k, state)  # type: ignore[misc]
                if stop is not None and stop(k, state):
                    return state
            state = step(k, state)
            if bar is not None and (k + 1) % bar_every == 0:
                bar.update(bar_every)
        if every or (some and steps in observe_at):  # type: ignore[operator]
            observe(steps, state)  # type: ignore[misc]
    finally:
        if bar is not None:
            bar.close()
    return state
