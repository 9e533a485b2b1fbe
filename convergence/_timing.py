"""Timing helpers: the one place for the toolkit's "best of n" and "in turn" timers.

The benchmarks compare times measured in the same run, so both helpers are built to make a slow spell of a shared
machine hit every candidate alike: :func:`best_time` keeps the fastest of several repeats, and :func:`in_turn` times
several candidates alternately instead of one after the other. The library itself uses :func:`best_time` where it
chooses between two forms of the same computation by their speed on this machine (the results never depend on it).
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping

Clock = Callable[[], float]


def best_time(fn: Callable[[], Any], repeats: int = 3, number: int = 1, clock: Clock = time.perf_counter) -> float:
    """The fastest over ``repeats`` of the mean time of ``number`` consecutive calls of ``fn`` (seconds per call)."""
    best = float("inf")
    for _ in range(repeats):
        t0 = clock()
        for _ in range(number):
            fn()
        best = min(best, (clock() - t0) / number)
    return best


def in_turn(calls: Mapping[str, Callable[[int], Any]], rounds: int, number: int = 1, *, warmup: int = 0,
            before: Callable[[int], Any] | None = None, clock: Clock = time.perf_counter) -> dict[str, list[float]]:
    """Seconds per call of every candidate, the candidates taking turns: in each round ``r`` every ``calls[name]``
    is called ``number`` times with ``r`` and timed (after ``before(r)``, untimed, which may prepare the round's
    input). The first ``warmup`` rounds are run and not recorded. Returns one time per recorded round and name."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for r in range(warmup + rounds):
        if before is not None:
            before(r)
        for name, fn in calls.items():
            t0 = clock()
            for _ in range(number):
                fn(r)
            if r >= warmup:
                times[name].append((clock() - t0) / number)
    return times
