r"""D6 (docs/theory/derivations.md#d6-clin-device): the c_Lin linear device of P2 §1.1.

Claim: q₊ = (1 + c)(1 − w/τ), q₋ = (1 − c)(1 + w/τ) give F = 1 − cw/τ, G = w/τ − c, symmetric point
w⋄ = cτ, F(w⋄) = 1 − c², R = G/F = (w − cτ)/(τ − cw) and R_c = −w/c + ((c² − 1)τ/c²)ln(τ − cw) + const
with dR_c/dw = R.
Source: docs/theory/device-model.md#devices; D6 (docs/theory/derivations.md); P2-CR §1.1, Fig. 2.

Method: sympy for every identity; ``CLin`` and ``bounds.r_c`` (Gauss-Legendre) numerically against the
closed forms on a dense grid.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import convergence as cv
from convergence.theory.bounds import dR_at_symmetric_point, r_c
from proofs_checks._common import CheckOutcome, is_zero, max_abs_diff


def check_d06_clin_device() -> CheckOutcome:
    w = sp.Symbol("w", real=True)
    c = sp.Symbol("c", positive=True)
    tau = sp.Symbol("tau", positive=True)
    qp, qm = (1 + c) * (1 - w / tau), (1 - c) * (1 + w / tau)
    F, G = (qm + qp) / 2, (qm - qp) / 2
    R = G / F
    Rc = -w / c + ((c**2 - 1) * tau / c**2) * sp.log(tau - c * w)
    checks = {
        "F": is_zero(F - (1 - c * w / tau)),
        "G": is_zero(G - (w / tau - c)),
        "w_sym": sp.solve(G, w) == [c * tau],
        "F(w_sym)": is_zero(F.subs(w, c * tau) - (1 - c**2)),
        "R": is_zero(R - (w - c * tau) / (tau - c * w)),
        "dRc/dw = R": is_zero(sp.diff(Rc, w) - R),
        "R'(w_sym) = 1/(tau(1-c^2))": is_zero(sp.diff(R, w).subs(w, c * tau) - 1 / (tau * (1 - c**2))),
    }
    dev = cv.CLin(1.5, 0.3)
    grid = np.linspace(-1.4, 1.4, 401)
    rc_num = r_c(dev, grid)
    rc_closed = sp.lambdify(w, Rc.subs({c: 0.3, tau: 1.5}), "numpy")
    closed = rc_closed(grid) - rc_closed(dev.symmetric_point)
    err_rc = max_abs_diff(rc_num, closed)
    err_dr = abs(dR_at_symmetric_point(dev) - 1 / (1.5 * (1 - 0.09)))
    ok = all(checks.values()) and err_rc < 1e-10 and err_dr < 1e-6 and abs(dev.symmetric_point - 0.45) < 1e-12
    return CheckOutcome(
        name="d06_clin_device",
        claim="c_Lin: F = 1 - cw/tau, G = w/tau - c, w_sym = c tau, F(w_sym) = 1 - c^2, dR_c/dw = R",
        source="D6 (docs/theory/derivations.md); docs/theory/device-model.md#devices; P2 §1.1",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details="; ".join(f"{k}: {v}" for k, v in checks.items())
        + f"; bounds.r_c vs closed form (401 points): {err_rc:.1e}; dR_at_symmetric_point err {err_dr:.1e}",
    )


if __name__ == "__main__":
    print(check_d06_clin_device())
