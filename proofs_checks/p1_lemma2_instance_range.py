r"""P1 Lemma 2: on the lower-bound instance Analog SGD never leaves |w| ≤ τ/2 (so W_max = τ/2 is valid).

Claim: for f(W) = (L/2)‖W − W*‖² with identical coordinates, W₀ = W*, |w*| ≤ τ/4, the two-point
state-dependent noise of total variance σ² with σ ≤ τL√D/(4√3), and α ≤ min{1/(2L), 1/(L + 6σ/(τ√D))},
every path of Analog SGD on soft bounds stays in |w_k| ≤ τ/2.
Source: P1 Lemma 2 (App. G.2); P1 Theorem 3 (docs/theory/theorems.md#p1-thm3).

Method: monte carlo. The lemma is path-wise, so the check runs the extreme corner of its
conditions (largest σ and α, w* = ±τ/4) for two (L, τ, D), 256 paths × 2000 steps each, and takes
the largest |w_k|/τ over all paths and steps (it must not exceed ½). The instance is invariant under
w → w/τ, f → f/(Lτ²) and the coordinates move together, so further (L, τ, D) repeat the same paths.
"""
from __future__ import annotations

import math

import numpy as np

import convergence as cv
from proofs_checks._common import CheckOutcome

SETTINGS = ((1.0, 1.0, 1), (2.0, 0.5, 16))


def check_p1_lemma2_instance_range() -> CheckOutcome:
    worst, rows = 0.0, []
    for i, (L, tau, D) in enumerate(SETTINGS):
        sigma = tau * L * math.sqrt(D) / (4 * math.sqrt(3))
        alpha = min(1 / (2 * L), 1 / (L + 6 * sigma / (tau * math.sqrt(D))))
        for j, frac in enumerate((0.25, -0.25)):
            obj = cv.Quadratic(d=D, L=L, w_star=frac * tau)
            traj = cv.simulate(cv.analog_sgd(alpha, cv.SoftBounds(tau)), obj, cv.TwoPoint(sigma, tau), frac * tau,
                               2000, trials=256, seed=np.random.SeedSequence([20261206, i, j]), record_every=1,
                               progress=False)
            m = float(traj.metrics["sat_w"].max())
            worst = max(worst, m)
            rows.append(f"L={L:g} tau={tau:g} D={D} w*={frac:+.2f}tau: {m:.3f}")
    return CheckOutcome(
        name="p1_lemma2_instance_range",
        claim="Analog SGD on the P1 lower-bound instance keeps max_k |w_k|/tau <= 1/2 on every path (P1 Lemma 2)",
        source="P1 Lemma 2 (App. G.2); P1 Theorem 3 (docs/theory/theorems.md#p1-thm3)",
        method="monte carlo",
        passed=bool(worst <= 0.5),
        details=f"largest |w_k|/tau over 256 paths x 2000 steps at the corner of the conditions: {worst:.4f} "
                f"(<= 0.5); " + "; ".join(rows),
    )


if __name__ == "__main__":
    print(check_p1_lemma2_instance_range())
