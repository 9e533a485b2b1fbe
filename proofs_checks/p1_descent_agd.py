r"""P1 eq (57): descent inequality of Analog GD (exact gradients, soft bounds).

Claim: if f is L-smooth and α ≤ 1/L, one Analog GD step W' = W − α∇f − (α/τ)|∇f| ⊙ W satisfies
f(W') ≤ f(W) − (α/2)(1 − ‖W‖²∞/τ²)‖∇f(W)‖².
Source: P1 Theorem 9 proof, App. F eq (57); P1 Theorem 9 (docs/theory/theorems.md#p1-thm9).

Method: sympy proves the per-coordinate identity behind it: with x_i = sign(g_i)w_i/τ the step is
d_i = g_i(1 + x_i), and −α g_i d_i + (Lα²/2) d_i² ≤ −α g_i²(1 + x_i) + (α/2)g_i²(1 + x_i)² = −(α/2)g_i²(1 − x_i²)
for α ≤ 1/L (identity checked symbolically); then x_i² ≤ ‖W‖²∞/τ². Dense evaluation: 20 000 random
L-smooth quadratics (random PSD Hessians, d = 5, eigenvalues in [0, L]) with random W in the box and
α ∈ (0, 1/L], through the toolkit's ``analog_sgd`` step.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import convergence as cv
from proofs_checks._common import CheckOutcome, is_zero


def check_p1_descent_agd() -> CheckOutcome:
    g, x, a = sp.symbols("g x alpha", real=True)
    ok_sym = is_zero((-a * g * g * (1 + x) + a / 2 * g**2 * (1 + x) ** 2) + a / 2 * g**2 * (1 - x**2))
    rng = np.random.default_rng(57)
    n, d, L, tau = 20_000, 5, 2.0, 1.0
    Q, _ = np.linalg.qr(rng.standard_normal((n, d, d)))
    eig = rng.uniform(0, L, (n, d))
    eig[:, 0] = L
    H = np.einsum("nij,nj,nkj->nik", Q, eig, Q)
    w_star = rng.uniform(-2, 2, (n, d))
    W = rng.uniform(-tau, tau, (n, d)) * rng.uniform(0, 1, (n, 1))
    alpha = rng.uniform(0, 1, (n, 1)) / L
    f = lambda X: 0.5 * np.einsum("ni,nij,nj->n", X - w_star, H, X - w_star)
    grad = np.einsum("nij,nj->ni", H, W - w_star)
    alg = cv.analog_sgd(alpha, cv.SoftBounds(tau))
    W1 = alg.step(alg.init(W), grad).w
    lhs = f(W1)
    rhs = f(W) - alpha[:, 0] / 2 * (1 - np.max(np.abs(W), axis=1) ** 2 / tau**2) * np.sum(grad**2, axis=1)
    viol = lhs - rhs
    worst = float(np.max(viol / np.maximum(1.0, np.abs(rhs))))
    ok = ok_sym and worst <= 1e-12
    return CheckOutcome(
        name="p1_descent_agd",
        claim="Analog GD, alpha <= 1/L: f(W') <= f(W) - (alpha/2)(1 - ||W||_inf^2/tau^2)||grad f(W)||^2",
        source="P1 App. F eq (57); P1 Theorem 9 (docs/theory/theorems.md#p1-thm9)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"per-coordinate identity: {ok_sym}; 20000 random quadratics (d = 5, L = 2): "
                f"max (lhs - rhs)/max(1,|rhs|) = {worst:.2e} (<= 0 required); min slack {float(np.min(-viol)):.2e}",
    )


if __name__ == "__main__":
    print(check_p1_descent_agd())
