r"""Erratum P1 Theorem 6: scalar Analog GD stays between w₀ and w*, so |w_k| ≤ max{|w₀|, |w*|} (printed: min).

Claim: for a scalar strongly convex quadratic f = (L/2)(w − w*)² and α ≤ 1/(2L), Analog GD on soft bounds converges
monotonically: w_k lies between w₀ and w* for all k, hence |w_k| ≤ max{|w₀|, |w*|}; the printed
min{|w₀|, |w*|} fails whenever |w₀| > |w*| (e.g. at k = 0).
Source: P1 App. D.1 Theorem 6; P1 Theorems 5-8 (docs/theory/theorems.md#p1-strongly-convex), §8.

Method: dense evaluation: 20 000 random scalar problems f = (L/2)(w − w*)² (L ∈ [0.1, 2]), |w₀|, |w*| < τ,
α ∈ (0, 1/(2L)], 300 Analog GD steps through the toolkit (``analog_sgd`` with exact gradients).
"""
from __future__ import annotations

import numpy as np

import convergence as cv
from proofs_checks._common import CheckOutcome

ERRATA = ("p1-thm6-min-max",)


def check_p1_thm6_max_bound() -> CheckOutcome:
    rng = np.random.default_rng(6)
    n, tau = 20_000, 1.0
    L = rng.uniform(0.1, 2.0, (n, 1))
    w_star = rng.uniform(-0.99, 0.99, (n, 1))
    w0 = rng.uniform(-0.99, 0.99, (n, 1))
    alpha = rng.uniform(0, 1, (n, 1)) / (2 * L)
    alg = cv.analog_sgd(alpha, cv.SoftBounds(tau))
    st = alg.init(w0)
    lo, hi = np.minimum(w0, w_star), np.maximum(w0, w_star)
    between, monotone = True, True
    max_bound = np.maximum(np.abs(w0), np.abs(w_star))
    min_bound = np.minimum(np.abs(w0), np.abs(w_star))
    viol_max = 0
    viol_min = np.zeros(n, dtype=bool)
    prev_dist = np.abs(w0 - w_star)
    for _ in range(300):
        w = st.w
        between &= bool(np.all((w >= lo - 1e-12) & (w <= hi + 1e-12)))
        viol_max += int(np.sum(np.abs(w) > max_bound + 1e-12))
        viol_min |= (np.abs(w) > min_bound + 1e-12)[:, 0]
        st = alg.step(st, L * (w - w_star))
        dist = np.abs(st.w - w_star)
        monotone &= bool(np.all(dist <= prev_dist + 1e-15))
        prev_dist = dist
    frac_min = float(viol_min.mean())
    ok = between and monotone and viol_max == 0 and frac_min > 0.3
    return CheckOutcome(
        name="p1_thm6_max_bound",
        claim="scalar Analog GD (alpha <= 1/(2L)) moves monotonically from w0 to w*: |w_k| <= max{|w0|, |w*|} "
              "(printed: min)",
        source="P1 Theorem 6 (App. D.1); P1 Theorems 5-8 (docs/theory/theorems.md#p1-strongly-convex)",
        method="numeric (dense evaluation)",
        passed=bool(ok),
        details=f"20000 problems x 300 steps: always between w0 and w*: {between}; |w_k - w*| non-increasing: "
                f"{monotone}; "
                f"violations of the max bound: {viol_max}; problems violating the printed min bound: {frac_min:.1%}",
        erratum=f"printed: |w_k| <= min{{|w0|, |w*|}} (violated in {frac_min:.1%} of random problems) | corrected: "
                f"|w_k| <= max{{|w0|, |w*|}} (0 violations)",
    )


if __name__ == "__main__":
    print(check_p1_thm6_max_bound())
