r"""P1 Theorems 5, 7 and 8: in the strongly convex case the weights stay in a box fixed by the start and the optima.

Claim (soft bounds, f µ-strongly convex and L-smooth, box inside the device range):

* Theorem 5 (Analog GD, α ≤ 1/L): ‖W_k‖∞ ≤ (L/µ)‖W₀ − W*‖ + ‖W*‖∞ for all k;
* Theorem 7 (Analog SGD with sampling noise: every f(·; ξ) L-smooth and µ-strongly convex with
  minimiser W*_ξ, checked at α = 1/(2L), the step-size condition of Theorems 6 and 8):
  ‖W_k‖∞ ≤ (L/µ) sup_ξ ‖W₀ − W*_ξ‖ + sup_ξ ‖W*_ξ‖∞. The step-size condition matters: at α = 1/L a
  1-D instance with optima drawn from (−0.3, 0.3)τ oscillates with growing amplitude and leaves the box
  (and the range) within about 30 steps, since w_{k+1} = w*_ξ − |w_k − w*_ξ| w_k/τ then alternates sign;
* Theorem 8 (scalar, same noise, α ≤ 1/(2L)): min{w₀, inf_ξ w*_ξ} ≤ w_k ≤ max{w₀, sup_ξ w*_ξ}.

Source: P1 Theorems 5, 7 and 8 (App. D.1); docs/theory/theorems.md#p1-strongly-convex.

Method: monte carlo. Random instances f_ξ(W) = ½(W − W*_ξ)ᵀH(W − W*_ξ), H = diag(linspace(µ, L)),
a finite set of optima W*_ξ drawn uniformly (ξ uniform on that set each step), starts drawn in the
range; Analog SGD / GD from the library on SoftBounds(τ) at the largest allowed step size; the bounds
are checked on every step of every path (they are path-wise statements). Instances whose box does
not fit inside the device range are redrawn (the theorems then say nothing the device does not).
"""
from __future__ import annotations

import numpy as np

import convergence as cv
from convergence.sim import driver
from proofs_checks._common import CheckOutcome

TAU, STEPS, TRIALS, N_OPT = 1.0, 300, 64, 5


def _run(h: np.ndarray, optima: np.ndarray, w0: np.ndarray, lr: float, rng: np.random.Generator,
         sampled: bool) -> np.ndarray:
    """Largest |W_k| per coordinate path: returns the array of all iterates (step, trial, d)."""
    alg = cv.analog_sgd(lr, cv.SoftBounds(TAU))
    hist = [w0]

    def step(k: int, st):
        idx = rng.integers(0, optima.shape[0], size=w0.shape[0]) if sampled else np.zeros(w0.shape[0], int)
        g = (alg.query(st) - optima[idx]) * h
        new = alg.step(st, g)
        hist.append(new.w)
        return new

    driver.run(alg.init(w0), step, STEPS)
    return np.stack(hist)


def check_p1_thm5_7_8_bounded_saturation() -> CheckOutcome:
    rng = np.random.default_rng(20261206)
    worst = {"thm5": -np.inf, "thm7": -np.inf, "thm8": -np.inf}
    done = {"thm5": 0, "thm7": 0, "thm8": 0}
    tries = 0
    while min(done.values()) < 8 and tries < 400:
        tries += 1
        d = int(rng.integers(1, 5))
        L = float(rng.uniform(0.5, 2.0))
        mu = float(rng.uniform(0.3, 1.0)) * L
        h = np.linspace(mu, L, d) if d > 1 else np.array([L])
        optima = rng.uniform(-0.3, 0.3, size=(N_OPT, d)) * TAU
        w0 = rng.uniform(-0.3, 0.3, size=d) * TAU
        # Theorem 5: one optimum, exact gradients, alpha = 1/L
        box5 = L / mu * np.linalg.norm(w0 - optima[0]) + np.max(np.abs(optima[0]))
        if box5 < TAU and done["thm5"] < 8:
            ws = _run(h, optima[:1], np.tile(w0, (TRIALS, 1)), 1.0 / L, rng, sampled=False)
            worst["thm5"] = max(worst["thm5"], float(np.max(np.abs(ws))) - box5)
            done["thm5"] += 1
        box7 = L / mu * np.max(np.linalg.norm(w0 - optima, axis=1)) + np.max(np.abs(optima))
        if box7 < TAU and done["thm7"] < 8:
            ws = _run(h, optima, np.tile(w0, (TRIALS, 1)), 1.0 / (2 * L), rng, sampled=True)
            worst["thm7"] = max(worst["thm7"], float(np.max(np.abs(ws))) - box7)
            done["thm7"] += 1
        if d == 1 and done["thm8"] < 8:
            ws = _run(h, optima, np.tile(w0, (TRIALS, 1)), 1.0 / (2 * L), rng, sampled=True)[..., 0]
            lo, hi = min(w0[0], optima.min()), max(w0[0], optima.max())
            worst["thm8"] = max(worst["thm8"], float(np.max(ws - hi)), float(np.max(lo - ws)))
            done["thm8"] += 1
    ok = all(v >= 8 for v in done.values()) and all(w <= 1e-12 for w in worst.values())
    return CheckOutcome(
        name="p1_thm5_7_8_bounded_saturation",
        claim="Analog GD/SGD on strongly convex problems stays in the box of P1 Theorems 5, 7 and 8 on every path",
        source="P1 Theorems 5, 7, 8 (App. D.1); docs/theory/theorems.md#p1-strongly-convex",
        method="monte carlo",
        passed=bool(ok),
        details=f"instances per theorem: {done}; largest excess over the box (must be <= 0): "
                + ", ".join(f"{k} {v:.3g}" for k, v in worst.items()) + f" ({TRIALS} paths x {STEPS} steps each)",
    )


if __name__ == "__main__":
    print(check_p1_thm5_7_8_bounded_saturation())
