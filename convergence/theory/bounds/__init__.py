r"""Theorems and derived predictions as executable objects.

Usage::

    from convergence.theory.bounds import BOUNDS, get_bound
    thm2 = get_bound("p1.thm2")
    thm2(f_gap=0.5, sigma=0.1, L=1.0, K=1e4, W_max=0.5, tau=1.0, S_K=0.3)   # numeric, broadcasts
    res = thm2.check(measured, stderr=se, k=3, **values)                     # CheckResult
    res.claims()                                                             # Claim records
    values = thm2.from_trajectory(traj)                                      # S_K, W_max, ... of a run

``BOUNDS`` maps names to :class:`Bound`; bounds with a non-empty ``erratum`` are
printed statements that the derivation does not support (kept for comparison).
See :mod:`.wu2024` (P1), :mod:`.wu2025` (P2) and :mod:`.derived` (predictions derived from the
papers' models) for the list of names, and :mod:`.symbols` for the meaning of each keyword.
"""
from __future__ import annotations

from convergence._validate import ConfigError
from convergence.theory.bounds._core import Bound
from convergence.theory.bounds._core import CheckOutcome
from convergence.theory.bounds._core import CheckResult
from convergence.theory.verdicts import Claim
from convergence.theory.verdicts import Verdict
from convergence.theory.bounds._core import KINDS
from convergence.theory.bounds._core import bisect_roots
from convergence.theory.bounds.derived import BOUNDS_DERIVED
from convergence.theory.bounds.wu2024 import BOUNDS_P1
from convergence.theory.bounds.wu2024 import FIG3_SETTINGS
from convergence.theory.bounds.wu2024 import asgd_min_iterations
from convergence.theory.bounds.wu2024 import asgd_step_size
from convergence.theory.bounds.wu2024 import asgd_step_size_valid
from convergence.theory.bounds.wu2024 import gaussian_c
from convergence.theory.bounds.wu2024 import tt_beta_proof
from convergence.theory.bounds.wu2024 import tt_beta_statement
from convergence.theory.bounds.wu2024 import tt_condition_holds
from convergence.theory.bounds.wu2024 import tt_condition_value
from convergence.theory.bounds.wu2025 import BOUNDS_P2
from convergence.theory.bounds.wu2025 import asgd_step_size_generic
from convergence.theory.bounds.wu2025 import asgd_step_size_generic_valid
from convergence.theory.bounds.wu2025 import dR_at_symmetric_point
from convergence.theory.bounds.wu2025 import f_max
from convergence.theory.bounds.wu2025 import implicit_penalty
from convergence.theory.bounds.wu2025 import m_min
from convergence.theory.bounds.wu2025 import r_c
from convergence.theory.bounds.wu2025 import zero_shift
from convergence.theory.bounds.wu2025 import zero_shift_ratio

#: name -> Bound, every registered theorem and prediction (errata included, flagged by ``bound.erratum``).
BOUNDS: dict[str, Bound] = {b.name: b for b in (*BOUNDS_P1, *BOUNDS_P2, *BOUNDS_DERIVED)}


def get_bound(name: str) -> Bound:
    """The registered bound ``name`` (ConfigError listing the names if unknown)."""
    try:
        return BOUNDS[name]
    except KeyError:
        raise ConfigError(f"unknown bound {name!r}; known: {', '.join(sorted(BOUNDS))}") from None


__all__ = ["Bound", "CheckResult", "CheckOutcome", "Claim", "Verdict", "BOUNDS", "KINDS", "get_bound", "bisect_roots",
           "asgd_step_size", "asgd_step_size_valid", "asgd_min_iterations", "gaussian_c", "tt_condition_value",
           "tt_condition_holds", "tt_beta_statement", "tt_beta_proof", "FIG3_SETTINGS", "asgd_step_size_generic",
           "asgd_step_size_generic_valid", "dR_at_symmetric_point", "f_max", "implicit_penalty", "m_min", "r_c",
           "zero_shift", "zero_shift_ratio"]
