r"""The property battery: does the convergence theory's claims hold for *your* algorithm?

Usage (Python)::

    import convergence as cv
    report = cv.check(my_factory)                        # or cv.check("my_pkg.my_mod:my_factory")
    print(report.table()); report["floor-vs-lr"].classification   # "exact" or "biased"

Usage (CLI)::

    convergence check my_pkg.my_mod:my_factory [--claims NAME,...] [--budget quick|full] [--json] [--seed S]

``my_factory(lr, device, *, mode=...) -> Algorithm`` (contract: :mod:`convergence.theory.battery._target`;
built-ins: ``convergence.sim.algorithms:analog_sgd``, ``...:digital_sgd``, ``...:tiki_taka``).

Claims (implementations in :mod:`convergence.theory.battery._claims`):

=========================== ====================================================================
``reduces-to-digital``      on ``Ideal()`` and ``SoftBounds(tau=inf)`` the trajectory equals digital
                            SGD's with the same noise and per-trial step sizes (relative 1e-12);
                            n/a under a pulsed mode (whole pulses of dw_min round every step)
``stays-in-range``          under P1 Thm 1's conditions every analog array stays inside its device
                            range (three devices, optima outside the range); reports max saturation
``floor-vs-lr``             scalar quadratic (L = τ = 1, w* = 0.5, σ = 0.5): log-log slope of the
                            stationary E‖∇f‖² vs lr between the two smallest lrs classifies the
                            algorithm as *exact* (slope > 0.5, ≈ 1) or *biased* (≈ 0); a biased
                            floor ‖E∇f‖² must not exceed Analog SGD's mean-field floor D3 = 0.021580
                            (rtol 0.1 + k·stderr); agreement with D3 is reported
``p1-thm2-bound``           P1 Thm 2's upper bound on random least-squares instances at the theorem's
                            step size, with S_K and W_max read off the run (A4 must hold)
``shifted-symmetric-point`` same quadratic on ``CLin(1, c=0.3)``: the shifted floor vs the zero-
                            shifted one, and vs D13 = c²(2/π)σ² (exact/residual-learning type) or D3
                            on the shifted device (biased type); an exact algorithm whose floor still
                            vanishes is "robust"
=========================== ====================================================================

Every stochastic comparison uses a margin of ``k`` standard errors across independent trials.
Verdicts: holds, fails, inconclusive (budget too small to decide; counts as failing), skipped
(the factory declares the claim not applicable), n/a (vacuous), error (the algorithm raised).
"""
from __future__ import annotations

import math
import time
from typing import Any, Iterable, Sequence

from convergence._validate import ConfigError
from convergence.rng import as_seed_sequence
from convergence.theory.battery._claims import (BUDGETS, CLAIMS, SCALAR, SHIFT_DEVICE, ZERO_DEVICE, Budget, Context,
                                               run_claim)
from convergence.theory.battery._report import FAILING, VERDICTS, CheckReport, ClaimResult
from convergence.theory.battery._target import (BUILTIN_FACTORIES, analog_sgd_factory, did_you_mean,
                                               digital_sgd_factory, not_applicable, resolve_factory, tiki_taka_factory)
from convergence.theory.verdicts import Claim, Verdict

__all__ = ["check", "CheckReport", "ClaimResult", "Claim", "Verdict", "CLAIMS", "BUDGETS", "Budget", "VERDICTS",
           "FAILING", "resolve_factory", "parse_claims", "BUILTIN_FACTORIES", "digital_sgd_factory",
           "analog_sgd_factory", "tiki_taka_factory", "SCALAR", "ZERO_DEVICE", "SHIFT_DEVICE"]

EXPECT = ("exact", "biased")


def parse_claims(claims: str | Iterable[str] | None) -> tuple[list[str], bool]:
    """Validate claim names (a comma-separated string or an iterable); ``None`` = all.

    Returns ``(names, explicit)``.
    """
    if claims is None:
        return list(CLAIMS), False
    names = [c.strip() for c in claims.split(",")] if isinstance(claims, str) else [str(c).strip() for c in claims]
    names = [c for c in names if c]
    if not names:
        raise ConfigError(f"claims: give at least one of {', '.join(CLAIMS)}")
    unknown = [c for c in names if c not in CLAIMS]
    if unknown:
        hint = did_you_mean(unknown[0].replace("_", "-").lower(), CLAIMS) if len(unknown) == 1 else ""
        raise ConfigError(f"claims: unknown {', '.join(repr(c) for c in unknown)}{hint}; known: {', '.join(CLAIMS)}")
    return list(dict.fromkeys(names)), True


def _budget(budget: str | Budget) -> Budget:
    if isinstance(budget, Budget):
        return budget
    if budget not in BUDGETS:
        raise ConfigError(f"budget must be one of {', '.join(BUDGETS)} (got {budget!r})")
    return BUDGETS[budget]


def check(factory: Any, claims: str | Sequence[str] | None = None, *, budget: str | Budget = "quick",
          seed: int = 0, k: float = 3.0, mode: Any = None, expect: str | None = None) -> CheckReport:
    """Run the property battery on an algorithm factory.

    Args:
        factory: a callable ``factory(lr, device, *, mode=...) -> Algorithm``, a ``"module:attr"``
            string, or a built-in short name (``digital-sgd``, ``analog-sgd``, ``tiki-taka``).
        claims: claim names (list or comma-separated string); default all claims, minus those the
            factory declares in its ``not_applicable`` attribute (reported as skipped).
        budget: ``"quick"`` (default, < 60 s per algorithm on 2 cores), ``"full"``, or a
            :class:`Budget` (e.g. ``dataclasses.replace(BUDGETS["quick"], sweep_trials=128)``).
        seed: root seed (every simulation derives its stream from it).
        k: statistical margin in standard errors.
        mode: update mode passed to the factory as ``mode=`` (default: the factory's own default).
        expect: ``"exact"`` or ``"biased"``: additionally require this floor-vs-lr class.

    Returns:
        A :class:`CheckReport` (``.table()``, ``.as_dict()``, ``.all_hold``, ``.exit_code``).

    Raises:
        ConfigError: bad target, claim names, budget, seed, k or expect.
    """
    names, explicit = parse_claims(claims)
    bud = _budget(budget)
    as_seed_sequence(seed)
    if not (isinstance(k, (int, float)) and not isinstance(k, bool) and math.isfinite(k) and k >= 0):
        raise ConfigError(f"k must be a finite number >= 0 (got {k!r})")
    if expect is not None and expect not in EXPECT:
        raise ConfigError(f"expect must be one of {', '.join(EXPECT)} (got {expect!r})")
    fac, label = resolve_factory(factory, mode=mode)
    skip = not_applicable(fac)
    ctx = Context(fac, bud, int(seed), float(k), mode, expect)
    t0 = time.perf_counter()
    results = []
    for name in names:
        if name in skip and not explicit:
            results.append(ClaimResult(name, (CLAIMS[name].__doc__ or "").strip().splitlines()[0], "",
                                       Verdict.SKIPPED, note=skip[name]))
            continue
        results.append(run_claim(name, ctx))
    return CheckReport(label, tuple(results), bud.name, int(seed), float(k), time.perf_counter() - t0)
