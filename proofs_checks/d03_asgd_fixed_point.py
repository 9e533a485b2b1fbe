r"""D3 (docs/theory/derivations.md#d3-asgd-fixed-point): exact mean-field fixed point and floor of scalar Analog SGD.

Claim: on f = (L/2)(w − w*)² with soft bounds and ε ~ N(0, σ²), the stationary point solves
h(w) = L(w − w*) + (w/τ)E|L(w − w*) + ε| = 0 (D2 with D1, F = 1, G = w/τ), with a root between 0 and
w*. Reference numbers (L = τ = 1, w* = σ = 0.5): w_s = 0.35310, floor ‖∇f(w_s)‖² = 0.021580; the
approximation E|g + ε| ≈ σ√(2/π) gives w_s ≈ w*Lτ/(Lτ + σ√(2/π)) = 0.35741. The floor is below σ²S(w_s)
and below P1's 4σ²S.
Source: D3 (docs/theory/derivations.md).

Method: sympy checks that the stored equation of the bound ``d3.asgd_fixed_point`` is D2 specialised
to the ALD; the bound's generic bisection root, ``meanfield.asgd_quadratic_fixed_point`` and the
reference numbers are compared numerically (dense grid of 60 parameter sets for the two solvers).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from convergence.theory.bounds import get_bound
from convergence.theory.bounds.derived import D3_EQUATION
from convergence.theory.bounds.symbols import L, abs_gaussian_mean, sigma, tau, w, w_star
from proofs_checks._common import CheckOutcome, is_zero, max_abs_diff


def check_d03_asgd_fixed_point() -> CheckOutcome:
    g = L * (w - w_star)
    F, G = sp.Integer(1), w / tau
    ok_eq = is_zero(D3_EQUATION - (g * F + abs_gaussian_mean(g, sigma) * G))
    fp, floor, approx = get_bound("d3.asgd_fixed_point"), get_bound("d3.asgd_floor"), get_bound("d3.asgd_floor_approx")
    ref = dict(L=1.0, w_star=0.5, sigma=0.5, tau=1.0)
    w_s, fl = float(fp(**ref)), float(floor(**ref))
    ok_ref = abs(w_s - 0.35310) < 5e-6 and abs(fl - 0.021580) < 5e-7
    w_a = 0.5 / (1 + 0.5 * np.sqrt(2 / np.pi))
    ok_approx = abs(w_a - 0.35741) < 5e-6
    h = sp.lambdify((w, L, w_star, sigma, tau), D3_EQUATION, modules=["numpy", "scipy"])
    residual = abs(float(h(w_s, **ref)))
    # generic bisection vs meanfield (brentq) on a grid of settings
    Ls, ws, ss, ts = np.meshgrid([0.5, 2.0], [-0.6, 0.2, 0.7], [0.05, 0.5], [0.8, 1.5, 4.0, 10.0, 50.0], indexing="ij")
    ws = ws * ts * 0.5   # |w*| <= 0.35 tau
    root_bisect = fp.solve(L=Ls, w_star=ws, sigma=ss, tau=ts)
    root_brent = fp(L=Ls, w_star=ws, sigma=ss, tau=ts)
    err = max_abs_diff(root_bisect, root_brent)
    between = bool(np.all((root_brent - 0) * (root_brent - ws) <= 1e-15))
    S = (w_s**2) / (1 - w_s**2)
    sigma2S = 0.25 * S
    ok_order = fl < sigma2S < 4 * sigma2S and float(approx(**ref)) < sigma2S
    ok = ok_eq and ok_ref and ok_approx and residual < 1e-12 and err < 1e-10 and between and ok_order
    return CheckOutcome(
        name="d03_asgd_fixed_point",
        claim="scalar Analog SGD mean-field root w_s = 0.35310, floor 0.021580 (L = tau = 1, w* = sigma = 0.5) < "
              "sigma^2 S < 4 sigma^2 S",
        source="D3 (docs/theory/derivations.md) (D1, D2)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=(f"equation = D2 for ALD: {ok_eq}; w_s = {w_s:.6f}, floor = {fl:.6f}, h(w_s) = {residual:.1e}; "
                 f"approx w_s = {w_a:.5f}; sigma^2 S(w_s) = {sigma2S:.5f}, 4 sigma^2 S = {4 * sigma2S:.5f}; "
                 f"bisection vs brentq on {root_brent.size} settings: max diff {err:.1e}, roots between 0 and w*: "
                 f"{between}"),
    )


if __name__ == "__main__":
    print(check_d03_asgd_fixed_point())
