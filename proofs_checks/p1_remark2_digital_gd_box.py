r"""P1 Remark 2: Theorem 5's box also holds for digital GD (the limit τ → ∞ of Analog GD).

Claim: for f µ-strongly convex and L-smooth and α = 1/L, digital GD keeps
‖W_k‖∞ ≤ (L/µ)‖W₀ − W*‖ + ‖W*‖∞ for every k, and Analog GD on soft bounds tends to it path by path as
τ → ∞ (gap O(1/τ)).

Source: P1 Remark 2 (App. D.1), Theorem 5; docs/theory/theorems.md#p1-strongly-convex.

Method: numeric (dense evaluation). 4096 random quadratics f(W) = ½(W − W*)ᵀH(W − W*),
H = diag(linspace(µ, L)), D = 8, with random starts; the library's digital SGD without noise (GD) at α = 1/L
for 200 steps, the box checked at every step (1e-12); Analog GD (library) on SoftBounds(τ) with τ = 10², 10⁴,
10⁶ from the same starts: the largest path gap to digital GD must fall like 1/τ (each factor 100 in τ at
least a factor 50 in the gap).
"""
from __future__ import annotations

import numpy as np

import convergence as cv
from convergence.sim import driver
from proofs_checks._common import CheckOutcome

D, TRIALS, STEPS = 8, 4096, 200


def _paths(alg, w0: np.ndarray, ws: np.ndarray, h: np.ndarray) -> np.ndarray:
    hist = [w0]

    def step(k: int, st):
        new = alg.step(st, (alg.query(st) - ws) * h)
        hist.append(alg.query(new))
        return new

    driver.run(alg.init(w0), step, STEPS)
    return np.stack(hist)


def check_p1_remark2_digital_gd_box() -> CheckOutcome:
    rng = np.random.default_rng(2)
    mu = rng.uniform(0.05, 1.0, (TRIALS, 1))
    L = 1.0
    h = mu + (L - mu) * np.linspace(0, 1, D)[None]
    ws = rng.uniform(-1, 1, (TRIALS, D))
    w0 = rng.uniform(-3, 3, (TRIALS, D))
    box = (L / mu[:, 0]) * np.linalg.norm(w0 - ws, axis=1) + np.abs(ws).max(axis=1)
    dig = _paths(cv.digital_sgd(1.0 / L), w0, ws, h)
    worst = float(np.max(np.abs(dig).max(axis=2) - box[None]))
    gaps = []
    for tau in (1e2, 1e4, 1e6):
        ana = _paths(cv.analog_sgd(1.0 / L, cv.SoftBounds(tau)), w0, ws, h)
        gaps.append(float(np.max(np.abs(ana - dig))))
    ok = worst <= 1e-12 and all(a >= 50 * b for a, b in zip(gaps, gaps[1:]))
    return CheckOutcome(
        name="p1_remark2_digital_gd_box",
        claim="digital GD (alpha = 1/L) stays in Theorem 5's box (L/mu)||W0 - W*|| + ||W*||_inf; Analog GD tends "
              "to it as tau -> infinity (P1 Remark 2)",
        source="P1 Remark 2 (App. D.1), Theorem 5; docs/theory/theorems.md#p1-strongly-convex",
        method="numeric (dense evaluation)",
        passed=bool(ok),
        details=f"{TRIALS} instances x {STEPS} steps: largest ||W_k||_inf - box = {worst:.3g} (<= 0 holds); "
                f"largest path gap Analog GD - digital GD at tau = 1e2, 1e4, 1e6: "
                + ", ".join(f"{g:.3g}" for g in gaps),
    )


if __name__ == "__main__":
    print(check_p1_remark2_digital_gd_box())
