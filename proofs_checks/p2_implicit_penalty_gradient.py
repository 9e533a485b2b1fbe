r"""P2 Theorem 1/5: gradient of the implicit penalty.

Claim: with [R_c(W)]_i = ∫^{W_i} R_i (R = G/F), ∇⟨C, R_c(W)⟩ = C ⊙ R(W), so ∇f_Σ = ∇f + Σ ⊙ R and the
stationary points of f_Σ are those of the mean-field Analog SGD drift (D2) with E|∇f + ε| replaced by Σ.
For soft bounds R_c = (w − w⋄)²/(2τ), f_Σ = f + (Σ/(2τ))‖W − W⋄‖² (P2 eq 45/49).
Source: P2-CR §3.1 Theorem 1, App. G Theorem 5, v3 eq (42); P2 Theorems 1 and 5 (docs/theory/theorems.md#p2-thm1).

Method: sympy for two coordinates with the c_Lin and soft-bounds closed forms (D6) and for the registered
``p2.thm1.f_sigma_ald``; numeric: finite-difference gradient of ``bounds.implicit_penalty`` (Gauss-Legendre
R_c) for power and exponential devices on a dense grid.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import convergence as cv
from convergence.theory.bounds import get_bound, implicit_penalty
from convergence.theory.bounds.symbols import L, Sigma, tau, w, w_star, w_sym
from proofs_checks._common import CheckOutcome, is_zero, max_abs_diff


def check_p2_implicit_penalty_gradient() -> CheckOutcome:
    w1, w2 = sp.symbols("w1 w2", real=True)
    C1, C2 = sp.symbols("C1 C2", positive=True)
    c, t = sp.symbols("c t", positive=True)
    # coordinate 1 on c_Lin, coordinate 2 on soft bounds with symmetric point w_sym
    R1 = (w1 / t - c) / (1 - c * w1 / t)
    Rc1 = -w1 / c + ((c**2 - 1) * t / c**2) * sp.log(t - c * w1)
    R2 = (w2 - w_sym) / t
    Rc2 = (w2 - w_sym) ** 2 / (2 * t)
    pen = C1 * Rc1 + C2 * Rc2
    ok_grad = is_zero(sp.diff(pen, w1) - C1 * R1) and is_zero(sp.diff(pen, w2) - C2 * R2)
    fs = get_bound("p2.thm1.f_sigma_ald").expr
    ok_ald = is_zero(sp.diff(fs, w) - (L * (w - w_star) + Sigma * (w - w_sym) / tau))
    worst = 0.0
    grid = np.linspace(-0.8, 0.8, 81)[:, None]
    h = 1e-5
    Sig, Lv, ws = 0.3, 1.0, 0.2
    for dev in (cv.Power(1.0, 0.5), cv.Power(1.0, 2.0), cv.Exponential(1.0, 2.0), cv.CLin(1.0, 0.3)):
        f = lambda x: 0.5 * Lv * np.sum((x - ws) ** 2, axis=-1)
        fd = (implicit_penalty(f(grid + h), dev, Sig, grid + h)
              - implicit_penalty(f(grid - h), dev, Sig, grid - h)) / (2 * h)
        exact = Lv * (grid[:, 0] - ws) + Sig * dev.G(grid[:, 0]) / dev.F(grid[:, 0])
        worst = max(worst, max_abs_diff(fd, exact))
    ok = ok_grad and ok_ald and worst < 1e-7
    return CheckOutcome(
        name="p2_implicit_penalty_gradient",
        claim="grad <C, R_c(W)> = C . R(W), so grad f_Sigma = grad f + Sigma . R (ALD: Sigma (w - w_sym)/tau)",
        source="P2 Theorem 1/5, v3 eq (42), (45)/(49); P2 Theorems 1 and 5 (docs/theory/theorems.md#p2-thm1)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"two-coordinate c_Lin/soft-bounds gradient: {ok_grad}; f_sigma_ald derivative: {ok_ald}; "
                f"implicit_penalty finite differences vs f' + Sigma G/F (power 0.5/2, exp 2, c_Lin 0.3; 81 points): "
                f"{worst:.1e}",
    )


if __name__ == "__main__":
    print(check_p2_implicit_penalty_gradient())
