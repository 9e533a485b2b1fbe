"""Boundary validation: every bad input becomes one :class:`ConfigError` naming the field.

The core numerics never validate (they are hot paths); constructors and the
CLI call these helpers once, so a user sees ``tau must be > 0 (got -1.0)``
instead of a NaN three modules later.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A configuration value is invalid. The message names the field and what is allowed."""


def finite_float(name: str, value: Any) -> float:
    """Return ``value`` as a finite Python float, or raise ConfigError naming ``name``."""
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number (got {value!r})") from None
    if not math.isfinite(out):
        raise ConfigError(f"{name} must be finite (got {value!r})")
    return out


def positive(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """A float > 0 (optionally +inf)."""
    if allow_inf and isinstance(value, (int, float)) and value == math.inf:
        return math.inf
    out = finite_float(name, value)
    if out <= 0:
        raise ConfigError(f"{name} must be > 0 (got {out!r})")
    return out


def non_negative(name: str, value: Any) -> float:
    out = finite_float(name, value)
    if out < 0:
        raise ConfigError(f"{name} must be >= 0 (got {out!r})")
    return out


def in_open_interval(name: str, value: Any, lo: float, hi: float) -> float:
    out = finite_float(name, value)
    if not lo < out < hi:
        raise ConfigError(f"{name} must lie in ({lo}, {hi}) (got {out!r})")
    return out


def positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be an integer >= {minimum} (got {value!r})")
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be an integer >= {minimum} (got {value!r})") from None
    if not math.isfinite(as_float) or as_float != int(as_float) or int(as_float) < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum} (got {value!r})")
    return int(as_float)


def hyperparameter(name: str, value: Any, trials: int | None = None, *, allow_zero: bool = False) -> Any:
    """Validate a step size that may be a scalar or an array broadcasting over trials.

    Returns a float for scalars, else a float64 array of shape ``(trials, 1)``
    (a 1-D array of length ``trials`` is reshaped so it broadcasts against
    weights of shape ``(trials, d)``).
    """
    arr = np.asarray(value, dtype=float) if not isinstance(value, (int, float)) else None
    if arr is None:
        out = finite_float(name, value)
        if out < 0 or (out == 0 and not allow_zero):
            raise ConfigError(f"{name} must be > 0 (got {out!r})")
        return out
    if arr.ndim == 0:
        return hyperparameter(name, float(arr), trials, allow_zero=allow_zero)
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} must be finite everywhere")
    if np.any(arr < 0) or (not allow_zero and np.any(arr == 0)):
        raise ConfigError(f"{name} must be > 0 everywhere (min {arr.min()!r})")
    if arr.ndim == 1:
        if trials is not None and arr.shape[0] not in (1, trials):
            raise ConfigError(f"{name} has {arr.shape[0]} values but there are {trials} trials")
        arr = arr[:, None]
    return arr
