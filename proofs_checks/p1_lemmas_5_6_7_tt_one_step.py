r"""P1 Lemmas 5, 6 and 7: Tiki-Taka's one-step inequalities for the auxiliary array P, on sampled states.

Claim: with P1's sign convention (P accumulates +gradient: P_{k+2} = P_{k+1} + β(∇f(W_{k+1}) + ε) −
(β/τ)|∇f(W_{k+1}) + ε| ⊙ P_{k+1}), Gaussian coordinates ε_i ~ N(0, σ²/D), the constant c = √(2/(πD))
of Assumption 5 and β ≤ min{cτ/(2(4L²τ² + σ²)), 2/(3cσ), L²τ³D/(3cσ³)}, the conditional expectations
over ε satisfy, for every state (W_k, W_{k+1}, P_{k+1}) of a Tiki-Taka run,

* Lemma 5 (C = τ√D/σ): E‖P_{k+2} − C∇f(W_{k+1})‖² ≤ (1 − βσ/(τ√D))‖P_{k+1} − C∇f(W_k)‖²
  + (4L²τ³D^{3/2}/(βσ³))‖W_{k+1} − W_k‖² + (4βσ/(τ√D))‖P_{k+1}‖² + (4β√D/(τσ))‖P_{k+1}‖²∞‖∇f(W_k)‖² + 2β²σ²;
* Lemma 6: E‖P_{k+2}‖² ≤ (1 − βcσ/(2τ))‖P_{k+1}‖² + (4βτ/(cσ))‖∇f(W_k)‖² + (4L²βτ/(cσ))‖W_{k+1} − W_k‖² + 3β²σ²;
* Lemma 7: E‖P_{k+2}‖²∞ ≤ (1 − βcσ/τ)‖P_{k+1}‖²∞ + 41βL²τ³D/(cσ).

Source: P1 Lemmas 5–7 (App. H); P1 Theorem 4 (docs/theory/theorems.md#p1-thm4).

Method: monte carlo. States are taken every 50 steps from Tiki-Taka runs (the library's
``tiki_taka``, which stores −P) on a 4-D quadratic on soft bounds, at two noise levels; at each state
the left sides are averaged over 4000 draws of ε with the library's pulse update
(:func:`convergence.physics.pulses.analog_update`), and each inequality must hold within
k standard errors, k a one-sided Bonferroni quantile at level 0.01 over all states and lemmas.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm

import convergence as cv
from convergence.physics.pulses import EXPECTED, analog_update
from convergence.sim import driver
from proofs_checks._common import CheckOutcome

D, L, TAU, M, TRIALS, STEPS, EVERY = 4, 1.0, 1.0, 4000, 16, 1000, 50
W_STAR = np.array([0.5, -0.3, 0.2, 0.4])


def _states(sigma: float, beta: float, alpha: float, rng: np.random.Generator) -> list[tuple[np.ndarray, ...]]:
    obj = cv.Quadratic(d=D, L=L, w_star=W_STAR)
    tt = cv.tiki_taka(beta, alpha, cv.SoftBounds(TAU))
    out = []

    def step(k: int, st):
        g = obj.grad(tt.query(st)) + rng.standard_normal((TRIALS, D)) * sigma / math.sqrt(D)
        new = tt.step(st, g)
        if k % EVERY == EVERY - 1:
            out.append((st.w, new.w, -new.p))                      # (W_k, W_{k+1}, P_{k+1}) in P1's sign
        return new

    driver.run(tt.init(np.zeros((TRIALS, D))), step, STEPS)
    return out


def _next_p(sigma: float, beta: float, state: tuple[np.ndarray, ...], rng: np.random.Generator):
    """M samples of P_{k+2} from a state (W_k, W_{k+1}, P_{k+1}) over the noise ε_{k+1} (one Tiki-Taka write of
    P with ∇f(W_{k+1}) + ε, soft bounds, expected mode); returns (objective, c, C = τ√D/σ, ∇f(W_k),
    ∇f(W_{k+1}), P_{k+2}), shared with the Lemma 8 check."""
    obj = cv.Quadratic(d=D, L=L, w_star=W_STAR)
    wk, wk1, p1 = state
    c = math.sqrt(2 / (math.pi * D))
    C = TAU * math.sqrt(D) / sigma
    g0, g1 = obj.grad(wk), obj.grad(wk1)
    gn = g1[None] + rng.standard_normal((M,) + p1.shape) * sigma / math.sqrt(D)
    p2 = -analog_update(np.broadcast_to(-p1, gn.shape).copy(), -beta * gn, cv.SoftBounds(TAU), EXPECTED)
    return obj, c, C, g0, g1, p2


def _sides(sigma: float, beta: float, state: tuple[np.ndarray, ...], rng: np.random.Generator):
    wk, wk1, p1 = state
    _, c, C, g0, g1, p2 = _next_p(sigma, beta, state, rng)

    def n2(x):
        return np.sum(x * x, axis=-1)

    def ninf2(x):
        return np.max(np.abs(x), axis=-1) ** 2

    dw2 = n2(wk1 - wk)
    rhs5 = ((1 - beta * sigma / (TAU * math.sqrt(D))) * n2(p1 - C * g0)
            + 4 * L**2 * TAU**3 * D**1.5 / (beta * sigma**3) * dw2 + 4 * beta * sigma / (TAU * math.sqrt(D)) * n2(p1)
            + 4 * beta * math.sqrt(D) / (TAU * sigma) * ninf2(p1) * n2(g0) + 2 * beta**2 * sigma**2)
    rhs6 = ((1 - beta * c * sigma / (2 * TAU)) * n2(p1) + 4 * beta * TAU / (c * sigma) * n2(g0)
            + 4 * L**2 * beta * TAU / (c * sigma) * dw2 + 3 * beta**2 * sigma**2)
    rhs7 = (1 - beta * c * sigma / TAU) * ninf2(p1) + 41 * beta * L**2 * TAU**3 * D / (c * sigma)
    return {5: (n2(p2 - C * g1[None]), rhs5), 6: (n2(p2), rhs6), 7: (ninf2(p2), rhs7)}


def check_p1_lemmas_5_6_7_tt_one_step() -> CheckOutcome:
    rng = np.random.default_rng(20261206)
    c = math.sqrt(2 / (math.pi * D))
    z_max = {5: -np.inf, 6: -np.inf, 7: -np.inf}
    slack = {5: np.inf, 6: np.inf, 7: np.inf}
    n_tests = 0
    parts = []
    for sigma in (1.0, 2.0):
        beta = min(c * TAU / (2 * (4 * L**2 * TAU**2 + sigma**2)), 2 / (3 * c * sigma),
                   L**2 * TAU**3 * D / (3 * c * sigma**3))
        states = _states(sigma, beta, 0.05, rng)
        for st in states:
            for lemma, (lhs, rhs) in _sides(sigma, beta, st, rng).items():
                m, se = lhs.mean(axis=0), lhs.std(axis=0, ddof=1) / math.sqrt(M)
                z_max[lemma] = max(z_max[lemma], float(np.max((m - rhs) / np.maximum(se, 1e-300))))
                slack[lemma] = min(slack[lemma], float(np.min((rhs - m) / rhs)))
                n_tests += m.size
        parts.append(f"sigma={sigma:g}: beta={beta:.4g}, {len(states)}x{TRIALS} states")
    k = float(norm.isf(0.01 / n_tests))
    ok = all(z <= k for z in z_max.values())
    return CheckOutcome(
        name="p1_lemmas_5_6_7_tt_one_step",
        claim="Tiki-Taka's one-step inequalities of P1 Lemmas 5, 6 and 7 hold in expectation at sampled states",
        source="P1 Lemmas 5-7 (App. H); P1 Theorem 4 (docs/theory/theorems.md#p1-thm4)",
        method="monte carlo",
        passed=bool(ok),
        details="; ".join(parts) + f"; largest (lhs - rhs)/SE per lemma (must be <= k = {k:.2f}): "
                + ", ".join(f"L{key} {z:.2f}" for key, z in z_max.items())
                + "; smallest relative slack (rhs - lhs)/rhs: "
                + ", ".join(f"L{key} {s:.3f}" for key, s in slack.items()),
    )


if __name__ == "__main__":
    print(check_p1_lemmas_5_6_7_tt_one_step())
