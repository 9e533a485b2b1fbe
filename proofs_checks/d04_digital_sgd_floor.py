r"""D4 (docs/theory/derivations.md#d4-digital-sgd-floor): stationary error of digital SGD on a quadratic.

Claim: for w_{k+1} = w_k − α(L(w_k − w*) + ε_k), ε iid with variance σ², the stationary
E(w − w*)² = ασ²/(L(2 − αL)) and E‖∇f‖² = αLσ²/(2 − αL) → 0 as α → 0 (for 0 < αL < 2).
Source: D4 (docs/theory/derivations.md).

Method: sympy solves the stationary-variance equation v = (1 − αL)²v + α²σ² of the AR(1)
recursion e' = (1 − αL)e − αε and compares with the registered bounds ``d4.dsgd_dist`` and
``d4.dsgd_floor``; the limit α → 0 symbolically.
"""
from __future__ import annotations

import sympy as sp

from convergence.theory.bounds import get_bound
from convergence.theory.bounds.symbols import L, lr, sigma
from proofs_checks._common import CheckOutcome, is_zero


def check_d04_digital_sgd_floor() -> CheckOutcome:
    v = sp.Symbol("v", positive=True)
    sol = sp.solve(sp.Eq(v, (1 - lr * L) ** 2 * v + lr**2 * sigma**2), v)
    ok_dist = len(sol) == 1 and is_zero(sol[0] - get_bound("d4.dsgd_dist").expr)
    ok_grad = len(sol) == 1 and is_zero(L**2 * sol[0] - get_bound("d4.dsgd_floor").expr)
    ok_limit = sp.limit(get_bound("d4.dsgd_floor").expr, lr, 0) == 0
    val = float(get_bound("d4.dsgd_floor")(lr=0.01, L=1.0, sigma=0.5))
    ok = ok_dist and ok_grad and ok_limit and abs(val - 0.01 * 0.25 / 1.99) < 1e-15
    return CheckOutcome(
        name="d04_digital_sgd_floor",
        claim="digital SGD: E(w-w*)^2 = alpha sigma^2/(L(2 - alpha L)), "
              "E||grad f||^2 = alpha L sigma^2/(2 - alpha L) -> 0",
        source="D4 (docs/theory/derivations.md)",
        method="sympy",
        passed=bool(ok),
        details=f"AR(1) stationary variance = bound: {ok_dist}; gradient = L^2 v: {ok_grad}; limit alpha->0 = 0: "
                f"{ok_limit}; "
                f"value at alpha = 0.01, L = 1, sigma = 0.5: {val:.6g}",
    )


if __name__ == "__main__":
    print(check_d04_digital_sgd_floor())
