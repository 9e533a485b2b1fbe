r"""D10 (docs/theory/derivations.md#d10b-p1-thm1-box) / P1 Theorem 1 (bounded weight, no projection needed).

Claim: if |w₀| ≤ τ and |Δ_k| ≤ τ for all k, the soft-bounds recursion w' = w + Δ − (|Δ|/τ)w keeps
|w_k| ≤ τ for all k; the hypothesis |Δ| ≤ τ cannot be dropped.
Source: P1 §2.3 Theorem 1 (proof: |w'| ≤ (1 − |Δ|/τ)|w| + |Δ| ≤ τ); P1 Lemma 1 / Theorem 1 (docs/theory/derivations.md).

Method: sympy: for fixed Δ the map is affine in w, so it suffices that the images of w = ±τ lie in
[−τ, τ] for Δ ∈ [−τ, τ] (both branches, symbolic); numeric: 4096 random trajectories of 2000 steps with
|Δ| ≤ τ through ``analog_update`` (dense evaluation) and a counterexample with |Δ| > τ.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import convergence as cv
from proofs_checks._common import CheckOutcome


def check_d10b_p1_thm1_box() -> CheckOutcome:
    tau = sp.Symbol("tau", positive=True)
    x = sp.Symbol("x", nonnegative=True)          # |delta| = x tau with 0 <= x <= 1
    ok_sym = True
    for sd in (1, -1):
        delta = sd * x * tau
        for w0 in (tau, -tau):
            img = sp.expand(w0 + delta - x * w0)   # |delta|/tau = x
            # tau - img >= 0 and img + tau >= 0 for x in [0, 1]: both are affine in x, check the ends
            for xv in (0, 1):
                ok_sym &= (bool(sp.simplify((tau - img).subs(x, xv)) >= 0)
                           and bool(sp.simplify((img + tau).subs(x, xv)) >= 0))
    rng = np.random.default_rng(11)
    tau_v = 0.8
    dev = cv.SoftBounds(tau_v)
    w = rng.uniform(-tau_v, tau_v, (4096, 1))
    w[:4, 0] = [tau_v, -tau_v, tau_v, -tau_v]
    worst = 0.0
    for _ in range(2000):
        dw = rng.uniform(-tau_v, tau_v, w.shape) * np.where(rng.random(w.shape) < 0.1, 1.0, 0.2)
        w = cv.analog_update(w, dw, dev)
        worst = max(worst, float(np.max(np.abs(w))))
    ok_num = worst <= tau_v * (1 + 1e-12)
    out = float(cv.analog_update(np.array([[0.0]]), np.array([[-3 * tau_v]]), dev)[0, 0])
    ok_counter = abs(out) > tau_v
    ok = ok_sym and ok_num and ok_counter
    return CheckOutcome(
        name="d10b_p1_thm1_box",
        claim="|w_0| <= tau and |dw_k| <= tau imply |w_k| <= tau for all k (soft bounds)",
        source="P1 Theorem 1; P1 Lemma 1 / Theorem 1 (docs/theory/derivations.md); D10 (docs/theory/derivations.md)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"corner images inside the box (symbolic): {ok_sym}; 4096 x 2000 random steps: max |w| = {worst:.6f} "
                f"(tau = {tau_v}); |dw| = 3 tau from w = 0 leaves the box: w' = {out:.3f}",
    )


if __name__ == "__main__":
    print(check_d10b_p1_thm1_box())
