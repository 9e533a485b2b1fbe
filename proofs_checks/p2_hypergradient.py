r"""Erratum P2-v3 §4: the residual-learning hypergradient omits 1/γ (fixed in the camera-ready).

Claim: for the bilevel problem min_W ‖P*(W)‖² s.t. P*(W) ∈ argmin_P f(W + γP) with unique minimiser W*,
γP*(W) + W = W*, so ∇P*(W) = −(1/γ)I and ∇‖P*(W)‖² = −(2/γ)P*(W); v3 writes P*(W) + W = W* and ∇P* = −I,
inconsistent with its own P*(W) = (W* − W)/γ unless γ = 1.
Source: P2-CR §4 (eq 9), P2-v3 §4; P2 §4 (residual learning) (docs/theory/algorithms.md#mixing-gamma), §8.

Method: sympy on f = (L/2)‖W − W*‖² (two coordinates).
"""
from __future__ import annotations

import sympy as sp

from proofs_checks._common import CheckOutcome, is_zero

ERRATA = ("p2-hypergradient",)


def check_p2_hypergradient() -> CheckOutcome:
    W1, W2, P1, P2, s1, s2 = sp.symbols("W1 W2 P1 P2 Ws1 Ws2", real=True)
    L, gam = sp.symbols("L gamma", positive=True)
    f = L / 2 * ((W1 + gam * P1 - s1) ** 2 + (W2 + gam * P2 - s2) ** 2)
    sol = sp.solve([sp.diff(f, P1), sp.diff(f, P2)], [P1, P2], dict=True)[0]
    ok_pstar = is_zero(sol[P1] - (s1 - W1) / gam) and is_zero(sol[P2] - (s2 - W2) / gam)
    ok_identity = is_zero(gam * sol[P1] + W1 - s1)
    ok_jac = is_zero(sp.diff(sol[P1], W1) + 1 / gam) and sp.diff(sol[P1], W2) == 0
    obj = sol[P1] ** 2 + sol[P2] ** 2
    ok_hyper = is_zero(sp.diff(obj, W1) + 2 / gam * sol[P1])
    printed_identity = sp.simplify(sol[P1] + W1 - s1)
    printed_ok = is_zero(printed_identity)
    only_gamma_1 = sp.solve(sp.Eq(sp.diff(sol[P1], W1), -1), gam) == [1]
    ok = ok_pstar and ok_identity and ok_jac and ok_hyper and not printed_ok and only_gamma_1
    return CheckOutcome(
        name="p2_hypergradient",
        claim="gamma P*(W) + W = W*, grad P* = -I/gamma, grad ||P*||^2 = -(2/gamma) P* "
              "(v3 prints P* + W = W*, grad P* = -I)",
        source="P2-CR §4 eq (9); P2-v3 §4; P2 §4 (residual learning) (docs/theory/algorithms.md#mixing-gamma)",
        method="sympy",
        passed=bool(ok),
        details=f"P* = (W* - W)/gamma: {ok_pstar}; gamma P* + W = W*: {ok_identity}; Jacobian -I/gamma: {ok_jac}; "
                f"hypergradient -(2/gamma) P*: {ok_hyper}; printed P* + W - W* = {printed_identity} (zero only if "
                f"gamma = 1: {only_gamma_1})",
        erratum="printed (v3): P*(W) + W = W*, grad P*(W) = -I "
                "| corrected (CR): gamma P*(W) + W = W*, grad P*(W) = -I/gamma, "
                "e.g. gamma = 0.4: Jacobian -2.5 instead of -1",
    )


if __name__ == "__main__":
    print(check_p2_hypergradient())
