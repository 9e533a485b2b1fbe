r"""P1 Theorem 4's condition 33P²max/τ² < 1 evaluated for the paper's own Fig. 3 settings
(docs/theory/theorems.md#property-checks (property 16)).

Claim: with P²max = 41L²τ⁴D/(c²σ²), the condition reads 33·41L²τ²D/(c²σ²) < 1. For P1 Fig. 3 (L ≈ 0.66,
τ ∈ [1, 2.5], D = 41, σ² ≈ 0.41 total) it is violated by ~5 orders of magnitude with the printed
c = √(2/π) and by ~7 with the consistent c = √(2/(πD)); it holds only for σ² ≳ 33·41L²τ²D/c², a
very-high-noise regime (P1 Theorem 4 (docs/theory/theorems.md#p1-thm4)). (Tiki-Taka nevertheless behaves well in
simulation, D14.)
Source: P1 Theorem 4 / Lemma 7; P1 Theorem 4 (docs/theory/theorems.md#p1-thm4), §7 item 16.

Method: sympy (the condition as an expression and its threshold in σ²); numbers from the registered
bound ``p1.thm4.p_max_sq`` via :func:`convergence.theory.bounds.tt_condition_value`.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from convergence.theory.bounds import FIG3_SETTINGS, get_bound, tt_condition_holds, tt_condition_value
from convergence.theory.bounds.symbols import D, L, c, sigma, tau
from proofs_checks._common import CheckOutcome, is_zero


def check_p1_thm4_condition() -> CheckOutcome:
    cond = 33 * get_bound("p1.thm4.p_max_sq").expr / tau**2
    ok_expr = is_zero(cond - 33 * 41 * L**2 * tau**2 * D / (c**2 * sigma**2))
    s2 = sp.Symbol("s2", positive=True)
    threshold = sp.solve(sp.Eq(cond.subs(sigma, sp.sqrt(s2)), 1), s2)[0]
    s = FIG3_SETTINGS
    val_corr = tt_condition_value(**s)
    val_print = tt_condition_value(**s, c=math.sqrt(2 / math.pi))
    holds = tt_condition_holds(**s)
    need = np.array([float(threshold.subs({L: s["L"], tau: t, D: s["D"], c: math.sqrt(2 / (math.pi * s["D"]))}))
                     for t in s["tau"]])
    ok = ok_expr and not np.any(holds) and np.all(val_print > 1e4) and np.all(val_corr > 1e6)
    return CheckOutcome(
        name="p1_thm4_condition",
        claim="33 P_max^2/tau^2 < 1 fails for P1 Fig. 3 settings (L = 0.66, tau = 1..2.5, D = 41, sigma^2 = 0.41)",
        source="P1 Theorem 4; P1 Theorem 4 (docs/theory/theorems.md#p1-thm4); docs/theory/theorems.md#property-checks "
               "(property 16)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"33 P_max^2/tau^2 = 33*41 L^2 tau^2 D/(c^2 sigma^2): {ok_expr}; Fig. 3, tau = {s['tau'].tolist()}: "
                f"value {np.array2string(val_corr, precision=3)} with c = sqrt(2/(pi D)), "
                f"{np.array2string(val_print, precision=3)} with printed c = sqrt(2/pi); holds: {holds.tolist()}; "
                f"sigma^2 needed (c = sqrt(2/(pi D))): {np.array2string(need, precision=3)}",
    )


if __name__ == "__main__":
    print(check_p1_thm4_condition())
