"""Boundary validation: every bad input becomes one :class:`ConfigError` naming the field.

The core numerics never validate (they are hot paths); constructors and the
CLI call these helpers once, so a user sees ``tau must be > 0 (got -1.0)``
instead of a NaN three modules later.
"""
from __future__ import annotations

import math
import os
import re
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
    except (TypeError, ValueError, OverflowError):
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
            raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'} (got {out:g})")
        return out
    if arr.ndim == 0:
        return hyperparameter(name, float(arr), trials, allow_zero=allow_zero)
    if not np.all(np.isfinite(arr)):
        raise ConfigError(f"{name} must be finite everywhere")
    if np.any(arr < 0) or (not allow_zero and np.any(arr == 0)):
        raise ConfigError(f"{name} must be {'>= 0' if allow_zero else '> 0'} everywhere (min {float(arr.min()):g})")
    if arr.ndim == 1:
        if trials is not None and arr.shape[0] not in (1, trials):
            raise ConfigError(f"{name} has {arr.shape[0]} values but there are {trials} trials")
        arr = arr[:, None]
    return arr


# -- text and CLI values ------------------------------------------------------------------------
# One grammar for every number a user types: ASCII decimal (no underscores, no unicode digits,
# no hex), optional exponent; ``inf``/``nan`` spelled out. A literal that overflows a float
# (``1e400``) is refused rather than silently becoming infinity.

_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INF = {"inf": math.inf, "+inf": math.inf, "infinity": math.inf, "+infinity": math.inf,
        "-inf": -math.inf, "-infinity": -math.inf}
#: the largest integer any size/count/seed field accepts (numpy's int64)
INT_MAX = 2**63 - 1


def _range_text(minimum: float | None, maximum: float | None, integer: bool) -> str:
    kind = "an integer" if integer else "a number"
    if minimum is not None and maximum is not None:
        return f"{kind} in [{minimum:g}, {maximum:g}]" if not integer else f"{kind} in [{minimum}, {maximum}]"
    if minimum is not None:
        return f"{kind} >= {minimum:g}" if not integer else f"{kind} >= {minimum}"
    if maximum is not None:
        return f"{kind} <= {maximum:g}" if not integer else f"{kind} <= {maximum}"
    return kind


def parse_number(name: str, value: Any, *, allow_inf: bool = False) -> float:
    """A float from a number or a user's text; refuses nan, overflowing literals and (unless allowed) inf."""
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number (got {value!r})")
    if isinstance(value, str):
        text = value.strip()
        low = text.lower()
        if low in ("nan", "+nan", "-nan"):
            raise ConfigError(f"{name} must be a finite number (got {value!r})")
        if low in _INF:
            out = _INF[low]
        elif _NUMBER.fullmatch(text):
            out = float(text)
            if math.isinf(out):
                raise ConfigError(f"{name} must be a finite number (got {value!r}, which overflows)")
        else:
            raise ConfigError(f"{name} must be a number (got {value!r})")
    else:
        try:
            out = float(value)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"{name} must be a number (got {value!r})") from None
    if math.isnan(out) or (math.isinf(out) and not allow_inf):
        raise ConfigError(f"{name} must be a finite number (got {value!r})")
    return out


def number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
           strict_min: bool = False, allow_inf: bool = False) -> float:
    """A finite float in ``[minimum, maximum]`` (``(minimum, maximum]`` with ``strict_min``)."""
    out = parse_number(name, value, allow_inf=allow_inf)
    low_bad = minimum is not None and (out <= minimum if strict_min else out < minimum)
    if low_bad or (maximum is not None and out > maximum):
        if strict_min and minimum is not None:
            allowed = f"a number > {minimum:g}" + (f" and <= {maximum:g}" if maximum is not None else "")
        else:
            allowed = _range_text(minimum, maximum, False)
        raise ConfigError(f"{name} must be {allowed} (got {value!r})")
    return out


def integer(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = INT_MAX) -> int:
    """An integer in ``[minimum, maximum]``; integral floats and texts like ``1e3`` are accepted."""
    allowed = _range_text(minimum, maximum, True)
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be {allowed} (got {value!r})")
    if isinstance(value, (int, np.integer)):
        out = int(value)
    else:
        text = value.strip() if isinstance(value, str) else None
        if text is not None and re.fullmatch(r"[+-]?[0-9]+", text):
            out = int(text)
        else:
            try:
                f = parse_number(name, value)
            except ConfigError:
                raise ConfigError(f"{name} must be {allowed} (got {value!r})") from None
            if f != math.floor(f):
                raise ConfigError(f"{name} must be {allowed} (got {value!r})")
            out = int(f)
    if (minimum is not None and out < minimum) or (maximum is not None and out > maximum):
        raise ConfigError(f"{name} must be {allowed} (got {value!r})")
    return out


#: size suffixes, all binary (K = KiB = 1024 bytes), so that a size the toolkit prints (format_bytes) reads back
_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40, "tb": 1 << 40,
               "tib": 1 << 40}


def byte_size(name: str, value: Any) -> int:
    """Bytes from ``2G``, ``500M``, ``1.5GB``, ``2 GiB`` or a plain number of bytes (> 0); every suffix is binary."""
    m = re.fullmatch(r"\s*([0-9]+\.?[0-9]*|\.[0-9]+)\s*([a-zA-Z]*)\s*", str(value))
    unit = m.group(2).lower() if m else None
    if m is None or unit not in _SIZE_UNITS:
        raise ConfigError(f"{name} must be a size like 2G, 500M or 1000000 (got {value!r})")
    out = float(m.group(1)) * _SIZE_UNITS[unit]
    if not 1 <= out <= INT_MAX:
        raise ConfigError(f"{name} must be a size between 1 byte and 8388608 TiB (got {value!r})")
    return int(out)


def format_bytes(n: float) -> str:
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            v = n / size
            return f"{v:.3g} {unit}" if v < 1000 else f"{v:.0f} {unit}"
    return f"{int(n)} B"


def available_memory() -> int:
    """Bytes this process may still allocate: MemAvailable (Linux), else physical memory, capped by RLIMIT_AS."""
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            avail = 8 << 30
    try:
        import resource
        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            avail = min(avail, soft)
    except (ImportError, OSError, ValueError):
        pass
    return int(avail)


def check_memory(what: str, nbytes: float, *, limit: int | None = None, hint: str = "") -> None:
    """Refuse (one ConfigError line, :func:`memory_refusal`) a run whose estimated peak ``nbytes`` exceeds ``limit``.

    ``limit`` defaults to the memory available now (:func:`available_memory`); ``hint`` names the
    option that makes the run fit.
    """
    cap = available_memory() if limit is None else limit
    if nbytes > cap:
        raise memory_refusal(what, nbytes, cap, "--max-memory" if limit is not None else "available memory", hint)


def memory_refusal(what: str, nbytes: float, cap: float, source: str, hint: str = "") -> ConfigError:
    """The one-line refusal of a run needing ``nbytes`` where ``source`` (the option or the available memory)
    allows ``cap``: sizes in binary units, or in bytes when the two would print alike."""
    need, have = format_bytes(nbytes), format_bytes(cap)
    if need == have:   # "needs about 153 MiB but --max-memory is 153 MiB" reads as no reason: the bytes
        need, have = f"{math.ceil(nbytes)} bytes", f"{int(cap)} bytes"
    return ConfigError(f"{what} needs about {need} but {source} is {have}" + (f"; {hint}" if hint else ""))


# -- JSON output ----------------------------------------------------------------------------------

def json_safe(x: Any) -> Any:
    """``x`` with NumPy values as plain Python ones and every non-finite float as None (JSON null)."""
    if isinstance(x, dict):
        return {str(k): json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, np.ndarray):
        return json_safe(x.tolist())
    if isinstance(x, (bool, np.bool_)):
        return bool(x)
    if isinstance(x, (float, np.floating)):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def json_text(doc: Any, **kwargs: Any) -> str:
    """Strict JSON of ``doc`` (:func:`json_safe` first; ``NaN``/``Infinity`` can never be emitted)."""
    import json

    return json.dumps(json_safe(doc), allow_nan=False, **kwargs)


# -- paths --------------------------------------------------------------------------------------

def path_text(name: str, path: Any) -> str:
    """A path a user typed: not empty or blank and free of NUL characters (the OS cannot open those).

    An empty ``--out`` would otherwise resolve to the working directory and write into it.
    """
    text = os.fspath(path) if path is not None else ""
    if not text.strip():
        raise ConfigError(f"{name}: empty path")
    if "\0" in text:
        raise ConfigError(f"{name}: path contains a NUL character ({text!r})")
    try:
        os.fsencode(text)
    except UnicodeError:
        raise ConfigError(f"{name}: path cannot be encoded for this file system ({text!r})") from None
    return text


def input_path(name: str, path: Any, *, kind: str = "any") -> str:
    """An existing file (``kind="file"``), folder (``"dir"``) or either."""
    text = path_text(name, path)
    if not os.path.exists(text):
        raise ConfigError(f"{name}: {text} does not exist")
    if kind == "file" and not os.path.isfile(text):
        raise ConfigError(f"{name}: {text} is not a file")
    if kind == "dir" and not os.path.isdir(text):
        raise ConfigError(f"{name}: {text} is not a folder")
    return text


def output_file(name: str, path: Any, formats: tuple[str, ...] | None = None) -> str:
    """A file to write: its folder exists and is writable, it is not a folder, its extension is supported."""
    text = path_text(name, path)
    if os.path.isdir(text) or text.endswith(os.sep):
        raise ConfigError(f"{name}: {text} is a folder; give a file name"
                          + (f" ending in {', '.join('.' + f for f in formats)}" if formats else ""))
    if formats is not None:
        ext = os.path.splitext(text)[1].lower().lstrip(".")
        if ext not in formats:
            raise ConfigError(f"{name}: unsupported file type {'.' + ext if ext else '(no extension)'} "
                              f"(allowed: {', '.join('.' + f for f in formats)})")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise ConfigError(f"{name}: {folder} is a file, not a folder")
        raise ConfigError(f"{name}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{name}: folder {folder} is not writable")
    return text


def output_dir(name: str, path: Any) -> str:
    """A folder to write into: it is a writable folder, or it can be created under a writable parent."""
    text = path_text(name, path)
    probe = os.path.abspath(text)
    while not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        raise ConfigError(f"{name}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{name}: folder {probe} is not writable")
    return text
