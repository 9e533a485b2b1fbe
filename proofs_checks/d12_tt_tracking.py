r"""D12 (docs/theory/derivations.md#d12-tt-tracking): mean-field fixed point of the Tiki-Taka / residual-learning
array P.

Claim: with W frozen, f = (L/2)‖W − W*‖², soft bounds on P and g = ∇f(W + γP) + ε, the mean of
P' = P − αg − (α/τ)|g| ⊙ P (P2 eq 10) vanishes at P̄ = L(W* − W)/(Lγ + E|g|/τ); for γ = 0 in P1's
convention (P' = P + βg − (β/τ)|g| ⊙ P) at P̄ = τE[g]/E|g|. Noise shrinks P̄ relative to
P*(W) = (W* − W)/γ, and P̄ → 0 as W → W*.
Source: D12 (docs/theory/derivations.md), §3.2, §4.3.

Method: sympy solves both fixed-point equations and compares with the registered bounds
``d12.tt_tracking`` / ``d12.tt_tracking_p1``; numeric: the toolkit's ``analog_update`` of P, averaged
over 20 001 stratified Gaussian quantiles, iterated to its fixed point (dense evaluation), compared with
the formula evaluated with E|g| at that fixed point (D1).
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.special import ndtri

import convergence as cv
from convergence.theory.bounds import get_bound
from convergence.theory.bounds.symbols import L, abs_g, g as gsym, gamma, tau, w, w_star
from convergence.theory.meanfield import abs_gaussian_mean
from proofs_checks._common import CheckOutcome, is_zero


def check_d12_tt_tracking() -> CheckOutcome:
    P = sp.Symbol("P", real=True)
    a = sp.Symbol("alpha", positive=True)
    drift = -a * L * (w + gamma * P - w_star) - (a / tau) * abs_g * P
    sol = sp.solve(sp.Eq(drift, 0), P)
    ok_p2 = len(sol) == 1 and is_zero(sol[0] - get_bound("d12.tt_tracking").expr)
    drift1 = a * gsym - (a / tau) * abs_g * P
    sol1 = sp.solve(sp.Eq(drift1, 0), P)
    ok_p1 = len(sol1) == 1 and is_zero(sol1[0] - get_bound("d12.tt_tracking_p1").expr)
    ok_shrink = is_zero(sp.limit(sol[0], abs_g, 0) - (w_star - w) / gamma)
    # numeric fixed point of the toolkit's mean P map
    n = 20_001
    eps = ndtri((np.arange(n) + 0.5) / n)[:, None]
    Lv, wv, wsv, gam, tauv, sig, lr = 1.0, 0.1, 0.5, 0.4, 1.0, 0.3, 0.2
    dev = cv.SoftBounds(tauv)
    p = 0.0
    for _ in range(400):
        gs = Lv * (wv + gam * p - wsv) + sig * eps
        p = float(cv.analog_update(np.full((n, 1), p), -lr * gs, dev).mean())
    # E|g| of the same quantile set (the formula is exact for any law of eps) and by D1 (Gaussian law)
    m_q = float(np.abs(Lv * (wv + gam * p - wsv) + sig * eps).mean())
    m = float(abs_gaussian_mean(Lv * (wv + gam * p - wsv), sig))
    pred_q = float(get_bound("d12.tt_tracking")(L=Lv, w=wv, w_star=wsv, gamma=gam, tau=tauv, abs_g=m_q))
    pred = float(get_bound("d12.tt_tracking")(L=Lv, w=wv, w_star=wsv, gamma=gam, tau=tauv, abs_g=m))
    ok_num = abs(p - pred_q) < 1e-12 and abs(p - pred) < 1e-5
    ok = ok_p2 and ok_p1 and ok_shrink and ok_num
    return CheckOutcome(
        name="d12_tt_tracking",
        claim="P fixed point: L(W* - W)/(L gamma + E|g|/tau) (P2); tau E[g]/E|g| (P1, gamma = 0); -> (W*-W)/gamma "
              "without noise",
        source="D12 (docs/theory/derivations.md); P1 eqs (11)-(13) (docs/theory/derivations.md); P2 §4 (residual "
               "learning) (docs/theory/algorithms.md#mixing-gamma)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"P2 solve = bound: {ok_p2}; P1 solve = bound: {ok_p1}; E|g| -> 0 gives P*(W): {ok_shrink}; "
                f"toolkit mean map fixed point {p:.10f} vs formula {pred_q:.10f} (same quantiles), "
                f"{pred:.8f} (D1 E|g| = {m:.5f}); "
                f"P*(W) = {(wsv - wv) / gam:.3f}",
    )


if __name__ == "__main__":
    print(check_d12_tt_tracking())
