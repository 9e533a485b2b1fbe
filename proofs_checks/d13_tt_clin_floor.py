r"""D13 (docs/theory/derivations.md#d13-tt-shifted-floor): Tiki-Taka floor with a shifted symmetric point on the
residual array (c_Lin ≠ 0).

Claim: with P on a c_Lin device (F(0) = 1, G(0) = −c), stationarity of P at P̄ ≈ 0 (P2 eq 10) forces
E[∇f(W̄)]F(0) + E|∇f(W̄) + ε|G(0) = 0, i.e. E∇f = −(G(0)/F(0))E|∇f + ε| = c·E|∇f + ε| ≈ cσ√(2/π): a floor
c²(2/π)σ² per coordinate, independent of τ, γ, W* and the step sizes (P2 Assumption 4 violated).
Source: D13 (docs/theory/derivations.md); P2 §4.4, Fig. 2.

Method: sympy (drift of P at 0 for the symbolic c_Lin device, the floor expression and its free
symbols); the self-consistent floor g = cE|g + ε| (bound ``d13.tt_clin_floor_selfconsistent``) against
the approximation on a dense grid of c (numeric).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import convergence as cv
from convergence.theory.bounds import get_bound, zero_shift_ratio
from convergence.theory.bounds.symbols import c_lin, sigma
from proofs_checks._common import CheckOutcome, is_zero


def check_d13_tt_clin_floor() -> CheckOutcome:
    c, tau, gm, m, a = sp.symbols("c tau g m alpha", real=True)
    pvar = sp.Symbol("p", real=True)
    qp, qm = (1 + c) * (1 - pvar / tau), (1 - c) * (1 + pvar / tau)
    F, G = (qm + qp) / 2, (qm - qp) / 2
    drift_at_0 = (-a * (gm * F - 0) - a * m * G).subs(pvar, 0)       # E[P'] - P at P = 0, E g = gm, E|g + eps| = m
    sol = sp.solve(sp.Eq(drift_at_0, 0), gm)
    ok_sol = len(sol) == 1 and is_zero(sol[0] - c * m)
    floor = (sol[0].subs(m, sigma * sp.sqrt(2 / sp.pi)) ** 2).subs(c, c_lin)
    ok_floor = is_zero(floor - get_bound("d13.tt_clin_floor").expr)
    ok_free = get_bound("d13.tt_clin_floor").expr.free_symbols == {c_lin, sigma}
    ok_ratio = abs(float(zero_shift_ratio(cv.CLin(2.0, 0.3))) + 0.3) < 1e-15
    cs = np.linspace(0.02, 0.5, 25)
    approx = get_bound("d13.tt_clin_floor")(c_lin=cs, sigma=0.5)
    selfc = get_bound("d13.tt_clin_floor_selfconsistent")(c_lin=cs, sigma=0.5)
    rel = np.abs(selfc - approx) / approx
    ok_small = bool(rel[0] < 1e-3 and np.all(np.diff(rel) > 0))      # agreement improves as c -> 0
    ok = ok_sol and ok_floor and ok_free and ok_ratio and ok_small
    return CheckOutcome(
        name="d13_tt_clin_floor",
        claim="TT with c_Lin on P: E grad f = c E|grad f + eps| ~ c sigma sqrt(2/pi); "
              "floor c^2 (2/pi) sigma^2, free of tau, gamma, W*, step sizes",
        source="D13 (docs/theory/derivations.md); P2 §4.4, Fig. 2",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"P drift at 0 solved: {ok_sol}; floor = bound: {ok_floor}; free symbols {{c, sigma}}: {ok_free}; "
                f"G(0)/F(0) = -c: {ok_ratio}; self-consistent vs approximation: rel. diff {rel[0]:.1e} (c=0.02) .. "
                f"{rel[-1]:.2f} (c=0.5); at c = 0.3, sigma = 0.5: "
                f"{float(get_bound('d13.tt_clin_floor')(c_lin=0.3, sigma=0.5)):.4f}",
    )


if __name__ == "__main__":
    print(check_d13_tt_clin_floor())
