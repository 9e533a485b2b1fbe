"""Shared helpers of the proofs_checks modules (not a check: files starting with '_' are skipped)."""
from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from convergence.theory.bounds import CheckOutcome

__all__ = ["CheckOutcome", "is_zero", "max_abs_diff", "fmt"]


def is_zero(expr: Any) -> bool:
    """True if sympy proves ``expr == 0`` (simplify, then expand/trigsimp fallbacks)."""
    e = sp.simplify(expr)
    if e == 0:
        return True
    if sp.simplify(e.rewrite(sp.erf)) == 0:          # erfc/erf mixtures
        return True
    return sp.simplify(sp.expand(sp.powsimp(e, force=True))) == 0


def max_abs_diff(a: Any, b: Any) -> float:
    """max |a − b| over finite entries (nan-safe)."""
    d = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
    return float(np.nanmax(d)) if d.size else 0.0


def fmt(x: Any, digits: int = 4) -> str:
    """Compact number formatting for the details line."""
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 0:
        return f"{float(arr):.{digits}g}"
    return "[" + ", ".join(f"{v:.{digits}g}" for v in arr.ravel()) + "]"
