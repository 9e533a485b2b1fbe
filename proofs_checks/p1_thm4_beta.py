r"""Erratum P1 Theorem 4: the statement's β = 8αL vs the proof's β = 8αLτ²D/σ².

Claim: the proof's step-size window (eq 137) is 8αLτ²D/σ² ≤ β ≤ c²σ⁴/(64αLτ⁴D) and the proof takes its
lower end β = 8αLτ²D/σ² (eq 138); the statement's β = 8αL lies in the window only if σ² ≥ τ²D (for
P1 Fig. 3's settings it is 100–625 times too small).
Source: P1 Theorem 4 and App. H eqs (137)–(138); P1 Theorem 4 (docs/theory/theorems.md#p1-thm4), §8.

Method: sympy (ratio of the two choices, window non-emptiness); numbers for the Fig. 3 settings of
:data:`convergence.theory.bounds.FIG3_SETTINGS`.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from convergence.theory.bounds import FIG3_SETTINGS, tt_beta_proof, tt_beta_statement
from convergence.theory.bounds.symbols import D, L, alpha, c, sigma, tau
from proofs_checks._common import CheckOutcome, is_zero

ERRATA = ("p1-thm4-beta",)


def check_p1_thm4_beta() -> CheckOutcome:
    lo = 8 * alpha * L * tau**2 * D / sigma**2
    hi = c**2 * sigma**4 / (64 * alpha * L * tau**4 * D)
    stmt = 8 * alpha * L
    ratio = sp.simplify(lo / stmt)
    ok_ratio = is_zero(ratio - tau**2 * D / sigma**2)
    # statement inside the window's lower end  <=>  sigma^2 >= tau^2 D
    ok_cond = sp.simplify((stmt >= lo).subs(sigma, tau * sp.sqrt(D))) == sp.true
    ok_nonempty = is_zero(sp.solve(sp.Eq(lo, hi), alpha)[0] ** 2 - c**2 * sigma**6 / (512 * L**2 * tau**6 * D**2)) \
        if sp.solve(sp.Eq(lo, hi), alpha) else False
    s = FIG3_SETTINGS
    a = 0.03
    b_stmt = float(tt_beta_statement(a, s["L"]))
    b_proof = tt_beta_proof(a, s["L"], s["tau"], s["D"], s["sigma"])
    factor = b_proof / b_stmt
    ok_fig3 = bool(np.all(factor >= 99.9))
    ok = ok_ratio and ok_cond and ok_nonempty and ok_fig3
    return CheckOutcome(
        name="p1_thm4_beta",
        claim="P1 Thm 4 proof uses beta = 8 alpha L tau^2 D / sigma^2 (window lower end); the statement's 8 alpha L is "
              "smaller by tau^2 D / sigma^2",
        source="P1 Theorem 4, App. H eqs (137)-(138); P1 Theorem 4 (docs/theory/theorems.md#p1-thm4)",
        method="sympy",
        passed=bool(ok),
        details=f"proof/statement = tau^2 D/sigma^2: {ok_ratio}; equal iff sigma^2 = tau^2 D: {ok_cond}; "
                f"window non-empty iff "
                f"alpha^2 <= c^2 sigma^6/(512 L^2 tau^6 D^2): {ok_nonempty}; "
                f"Fig. 3 (alpha = 0.03, L = 0.66, D = 41, sigma^2 = 0.41, "
                f"tau = 1..2.5): statement beta = {b_stmt:.4f}, proof beta = {np.array2string(b_proof, precision=2)} "
                f"(x{factor.min():.0f}..x{factor.max():.0f})",
        erratum=f"printed (statement): beta = 8 alpha L = {b_stmt:.4f} | "
                f"corrected (proof eq 138): beta = 8 alpha L tau^2 D/sigma^2 = "
                f"{b_proof.min():.2f}..{b_proof.max():.2f} for P1 Fig. 3 settings",
    )


if __name__ == "__main__":
    print(check_p1_thm4_beta())
