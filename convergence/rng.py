"""Reproducible randomness: every draw comes from a Generator derived from one seed.

Trials are split into fixed-size *blocks*; block ``b`` of purpose ``p`` draws
from ``SeedSequence(entropy, spawn_key=spawn_key + (p, b))``. Because a
stream is identified by its (purpose, block) key and not by spawn order,

* the same seed gives bit-identical results however the trials are split
  over worker processes (as long as splits fall on block boundaries, which
  :func:`block_slices` guarantees), and
* with ``block=1`` every trial owns its stream, so a batch of trials is
  exactly the stack of the single-trial runs.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from convergence._validate import ConfigError, positive_int

#: Stable stream purposes (never renumber: doing so changes every result).
NOISE = 0
ALGORITHM = 1
DEVICE = 2
INIT = 3

DEFAULT_BLOCK = 64


def as_seed_sequence(seed: int | np.random.SeedSequence | None) -> np.random.SeedSequence:
    """Turn an int (or an existing SeedSequence) into a SeedSequence; ``None`` is refused.

    Refusing ``None`` keeps every run reproducible: the toolkit never seeds from the OS.
    """
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None or isinstance(seed, bool):
        raise ConfigError("seed must be a non-negative integer (got None)")
    try:
        as_int = int(seed)
    except (TypeError, ValueError):
        raise ConfigError(f"seed must be a non-negative integer (got {seed!r})") from None
    if as_int != seed or as_int < 0:
        raise ConfigError(f"seed must be a non-negative integer (got {seed!r})")
    return np.random.SeedSequence(as_int)


def as_generator(rng: np.random.Generator | int | np.random.SeedSequence) -> np.random.Generator:
    """``rng`` itself if it is a Generator, else ``numpy.random.default_rng`` of the seed it is (checked by
    :func:`as_seed_sequence`: a non-negative integer or a SeedSequence; the same stream as ``default_rng(seed)``)."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(as_seed_sequence(rng))


def child(seed: int | np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """The SeedSequence with ``key`` appended to the spawn key of ``seed`` (stable identity)."""
    root = as_seed_sequence(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + tuple(int(k) for k in key))


def generator(seed: int | np.random.SeedSequence, *key: int) -> np.random.Generator:
    """A PCG64 Generator for ``child(seed, *key)``."""
    return np.random.Generator(np.random.PCG64(child(seed, *key)))


def bits32_from(gen: np.random.Generator, size: int) -> np.ndarray:
    """``size`` integers k uniform on [0, 2**32) (uint32): the 32-bit halves of ``gen``'s raw 64-bit draws, two per
    draw (the k of :func:`uniform32_from`)."""
    return gen.bit_generator.random_raw((size + 1) // 2).view(np.uint32)[:size]


def uniform32_from(gen: np.random.Generator, shape: tuple[int, ...], out: np.ndarray | None = None) -> np.ndarray:
    """``k / 2**32`` with k uniform on [0, 2**32) from ``gen``'s raw bit stream (float64 array); ``out``: a
    C-contiguous float64 array of ``shape`` to fill instead of a new one."""
    size = math.prod(shape)
    bits = bits32_from(gen, size)
    if out is None:
        return np.multiply(bits, 2.0 ** -32).reshape(shape)
    np.multiply(bits, 2.0 ** -32, out=out.reshape(size))
    return out


class TrialStreams:
    """Per-block random streams for ``n_trials`` trials, drawn into one array.

    Implements the subset of the ``numpy.random.Generator`` API the simulators
    use (``random``, ``standard_normal``), always returning arrays whose
    leading axis is the trials axis. Each block of ``block`` consecutive
    trials fills its rows from its own Generator.

    Args:
        seed: root seed (int or SeedSequence).
        n_trials: number of trials (leading axis of every draw).
        purpose: stream purpose (see module constants), part of the stream key.
        block: trials per stream; use 1 for one stream per trial.
        first_trial: global index of the first trial here (a multiple of ``block``),
            so a worker handling trials ``[a, b)`` draws exactly what the full run draws.
    """

    def __init__(self, seed: int | np.random.SeedSequence, n_trials: int, *, purpose: int,
                 block: int = DEFAULT_BLOCK, first_trial: int = 0) -> None:
        self.n_trials = positive_int("trials", n_trials)
        self.block = positive_int("trial block", block)
        if isinstance(first_trial, bool) or not isinstance(first_trial, (int, np.integer)) or first_trial < 0:
            raise ConfigError(f"first_trial must be an integer >= 0 (got {first_trial!r})")
        first_trial = int(first_trial)
        if first_trial % self.block:
            raise ConfigError(f"first_trial ({first_trial}) must be a multiple of the trial block ({self.block})")
        first_block = first_trial // self.block
        self._slices = [slice(i, min(i + self.block, self.n_trials)) for i in range(0, self.n_trials, self.block)]
        self._gens = [generator(seed, purpose, first_block + b) for b in range(len(self._slices))]

    def _fill(self, method: str, shape: Sequence[int], dtype: type = np.float64) -> np.ndarray:
        shape = tuple(int(s) for s in shape)
        if not shape or shape[0] != self.n_trials:
            raise ValueError(f"draw shape {shape} must start with the trials axis ({self.n_trials})")
        out = np.empty(shape, dtype=dtype)
        if len(self._gens) == 1:
            getattr(self._gens[0], method)(out=out, dtype=dtype)
            return out
        for gen, sl in zip(self._gens, self._slices):
            getattr(gen, method)(out=out[sl], dtype=dtype)
        return out

    def random(self, size: Sequence[int], dtype: type = np.float64) -> np.ndarray:
        """Uniform [0, 1) draws of shape ``size`` (``size[0]`` = trials); float64 or float32."""
        return self._fill("random", size, dtype)

    def uniform32(self, size: Sequence[int]) -> np.ndarray:
        """Uniforms ``k / 2**32`` (32 random bits each, two per raw 64-bit draw of the block's stream).

        About twice as fast as ``random``; used for stochastic rounding of pulse counts, where a
        2**-32 resolution of the rounding probability is far below any other error.
        """
        shape = tuple(int(s) for s in size)
        if not shape or shape[0] != self.n_trials:
            raise ValueError(f"draw shape {shape} must start with the trials axis ({self.n_trials})")
        if len(self._gens) == 1:
            return uniform32_from(self._gens[0], shape)
        out = np.empty(shape)
        for gen, sl in zip(self._gens, self._slices):   # each block's rows are contiguous: filled in place
            uniform32_from(gen, (sl.stop - sl.start,) + shape[1:], out[sl])
        return out

    def blocks(self) -> list[tuple[slice, np.random.Generator]]:
        """The (trial slice, Generator) of every block, for draws whose count may differ per block.

        A draw whose size depends on the block's own data (e.g. one noise vector per pulse up to
        the block's largest pulse count) stays independent of the other trials only if each
        block draws from its own stream by itself.
        """
        return list(zip(self._slices, self._gens))

    def standard_normal(self, size: Sequence[int], dtype: type = np.float64) -> np.ndarray:
        """Standard normal draws of shape ``size`` (``size[0]`` = trials); float64 or float32."""
        return self._fill("standard_normal", size, dtype)


def block_slices(n_trials: int, n_parts: int, block: int = DEFAULT_BLOCK) -> list[slice]:
    """Split ``range(n_trials)`` into at most ``n_parts`` contiguous pieces on block boundaries."""
    n_blocks = -(-n_trials // block)
    n_parts = max(1, min(n_parts, n_blocks))
    edges = np.linspace(0, n_blocks, n_parts + 1).round().astype(int) * block
    edges[-1] = n_trials
    return [slice(int(a), int(min(b, n_trials))) for a, b in zip(edges[:-1], edges[1:]) if a < n_trials and a < b]
