r"""P2 Lemma 2: ‖F(W)‖∞ ≤ F_max and ‖∇Q±(W)‖∞ ≤ L_Q, for the power and exponential responses.

Claim: on the dynamic range [−τ, τ] of P2's responses (eqs 144–145),

* exponential, q± = (e^{γ(1 ∓ w/τ)} − 1)/(e^γ − 1): F is convex with F_max = F(±τ) = (e^γ + 1)/2 and
  L_Q = sup|q±'| = (γ/τ) e^{2γ}/(e^γ − 1), both finite for every γ > 0;
* power, q± = (1 ∓ w/τ)^γ: F_max = max{1, 2^{γ−1}} (F concave for γ ≤ 1, convex for γ ≥ 1) and, for
  γ ≥ 1, L_Q = (γ/τ) 2^{γ−1}; for γ < 1 the slope |q₊'(w)| = (γ/τ)(1 − w/τ)^{γ−1} is unbounded as
  w → τ, so part (b) of the lemma fails — the power response with γ_res = 0.5 of P2 Fig. 4 and Table 8
  lies outside the class the lemma (and Definition 1's differentiability) covers; on a sub-range
  |w| ≤ (1 − η)τ it holds with L_Q = (γ/τ)η^{γ−1}.

Soft bounds are the power response with γ = 1 (F_max = 1, L_Q = 1/τ).

Source: P2 Lemma 2 (arXiv v3 App. E.2), Definition 1, eqs (144)–(145) (docs/theory/theorems.md#p2-lemma2).

Method: sympy + numeric (dense evaluation). Sympy gives the closed forms (F'' sign, end values,
monotone slopes); the devices of :mod:`convergence.physics.devices` are evaluated on a 20 001-point
grid of [−τ, τ] (F by ``bounds.f_max``, slopes by central differences of ``q_plus``/``q_minus``) and
must match the closed forms to 1e-6 relative; for γ < 1 the difference slope at w = τ(1 − 10^{−j})
must grow like 10^{j(1−γ)}.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

import convergence as cv
from convergence.theory.bounds import f_max
from proofs_checks._common import CheckOutcome, is_zero

TAUS = (0.1, 1.0)
POWER_GAMMAS = (0.5, 1.0, 2.0, 3.0, 4.0)
EXP_GAMMAS = (0.5, 1.0, 2.0, 3.0, 4.0)


def _closed_forms() -> tuple[bool, dict[str, sp.Expr]]:
    w, tau, g = sp.symbols("w tau gamma", positive=True)
    x = w / tau
    e_plus = (sp.exp(g * (1 - x)) - 1) / (sp.exp(g) - 1)
    e_minus = (sp.exp(g * (1 + x)) - 1) / (sp.exp(g) - 1)
    f_exp = (e_plus + e_minus) / 2
    ok = is_zero(f_exp.subs(w, tau) - (sp.exp(g) + 1) / 2)
    # F'' > 0 (convex: largest at the ends); q-' increasing, so sup |q'| at w = tau
    ok &= is_zero(sp.diff(f_exp, w, 2) - g**2 / tau**2 * (sp.exp(g * (1 - x)) + sp.exp(g * (1 + x)))
                  / (2 * (sp.exp(g) - 1)))
    lq_exp = sp.diff(e_minus, w).subs(w, tau)
    ok &= is_zero(lq_exp - g / tau * sp.exp(2 * g) / (sp.exp(g) - 1))
    p_minus = (1 + x) ** g
    f_pow = ((1 - x) ** g + p_minus) / 2
    ok &= is_zero(f_pow.subs(w, tau) - 2 ** (g - 1)) and is_zero(f_pow.subs(w, 0) - 1)
    # F'' = γ(γ − 1)/(2τ²)((1 − x)^{γ−2} + (1 + x)^{γ−2}): sign of γ − 1
    ok &= is_zero(sp.diff(f_pow, w, 2) - g * (g - 1) / (2 * tau**2) * ((1 - x) ** (g - 2) + (1 + x) ** (g - 2)))
    lq_pow = sp.diff(p_minus, w).subs(w, tau)
    ok &= is_zero(lq_pow - g / tau * 2 ** (g - 1))
    return bool(ok), {"lq_exp": lq_exp, "lq_pow": lq_pow}


def _grid_slope(dev, grid: np.ndarray, h: float) -> float:
    slope_p = (dev.q_plus(grid + h) - dev.q_plus(grid - h)) / (2 * h)
    slope_m = (dev.q_minus(grid + h) - dev.q_minus(grid - h)) / (2 * h)
    return float(max(np.max(np.abs(slope_p)), np.max(np.abs(slope_m))))


def check_p2_lemma2_response_bounds() -> CheckOutcome:
    ok_sym, _ = _closed_forms()
    worst_f = worst_l = 0.0
    rows = []
    blowup_ok = True
    for tau in TAUS:
        h = 1e-7 * tau
        grid = np.linspace(-tau + 2 * h, tau - 2 * h, 20_001)
        for gam in EXP_GAMMAS:
            dev = cv.Exponential(tau=tau, gamma=gam)
            fm, lq = (math.exp(gam) + 1) / 2, gam / tau * math.exp(2 * gam) / math.expm1(gam)
            worst_f = max(worst_f, abs(f_max(dev, n=20_001) - fm) / fm)
            worst_l = max(worst_l, abs(_grid_slope(dev, grid, h) - lq) / lq)
            if tau == 1.0:
                rows.append(f"exp g={gam:g}: F_max {fm:.4g}, L_Q {lq:.4g}")
        for gam in POWER_GAMMAS:
            dev = cv.Power(tau=tau, gamma=gam)
            fm = max(1.0, 2 ** (gam - 1))
            worst_f = max(worst_f, abs(f_max(dev, n=20_001) - fm) / fm)
            if gam >= 1:
                lq = gam / tau * 2 ** (gam - 1)
                worst_l = max(worst_l, abs(_grid_slope(dev, grid, h) - lq) / lq)
                if tau == 1.0:
                    rows.append(f"power g={gam:g}: F_max {fm:.4g}, L_Q {lq:.4g}")
            else:
                # slope at w = tau (1 - 10^-j): (gamma/tau) 10^{j (1 - gamma)}, unbounded
                slopes = []
                for j in (2, 4, 6):
                    wj = np.array([tau * (1 - 10.0**-j)])
                    slopes.append(_grid_slope(dev, wj, tau * 10.0 ** (-j - 3)))
                    want = gam / tau * 10.0 ** (j * (1 - gam))
                    blowup_ok &= abs(slopes[-1] - want) / want < 1e-4
                if tau == 1.0:
                    rows.append(f"power g={gam:g}: F_max {fm:.4g}, L_Q unbounded (|q'| = "
                                + ", ".join(f"{s:.3g}" for s in slopes) + " at 1 - 1e-2, 1e-4, 1e-6)")
    ok = ok_sym and worst_f <= 1e-6 and worst_l <= 1e-6 and blowup_ok
    return CheckOutcome(
        name="p2_lemma2_response_bounds",
        claim="P2 Lemma 2 on [-tau, tau]: F_max and L_Q finite for the exponential response (every gamma) and the "
              "power response with gamma >= 1; the power response with gamma < 1 has unbounded slope "
              "(outside the lemma)",
        source="P2 Lemma 2 (v3 App. E.2), Definition 1, eqs (144)-(145) (docs/theory/theorems.md#p2-lemma2)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"closed forms (sympy): {ok_sym}; grid vs closed form, tau in {list(TAUS)}: largest relative error "
                f"F_max {worst_f:.2g}, L_Q {worst_l:.2g}; gamma < 1 slope grows as predicted: {blowup_ok}; tau = 1: "
                + "; ".join(rows),
    )


if __name__ == "__main__":
    print(check_p2_lemma2_response_bounds())
