r"""P2 Lemma 1: properties of the weighted norm ‖W‖_S = √(Σ_i S_i W_i²) (S > 0 elementwise).

Claim: (a) ‖W‖_S = ‖W ⊙ √S‖; (b) ‖W‖_S ≤ ‖W‖·√‖S‖∞; (c) ‖W‖_S ≥ ‖W‖·√min{S}; (b) and (c) are attained
(W along a largest resp. smallest entry of S).

Source: P2 Lemma 1 (arXiv v3 App. E.1; docs/theory/theorems.md#p2-lemmas).

Method: numeric (dense evaluation). 200 000 random (W, S) pairs in dimensions 1 to 64, S spread over
six decades; (a) to 1e-12 relative, (b) and (c) with no violation beyond 1e-12, and equality at the
extremal directions.
"""
from __future__ import annotations

import numpy as np

from proofs_checks._common import CheckOutcome


def weighted_norm(w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """‖W‖_S = √(Σ_i S_i W_i²) over the last axis (P2's weighted norm)."""
    return np.sqrt(np.sum(s * w * w, axis=-1))


def check_p2_lemma1_weighted_norm() -> CheckOutcome:
    rng = np.random.default_rng(1)
    worst = {"a": 0.0, "b": -np.inf, "c": -np.inf}
    n = 0
    for d in (1, 2, 5, 17, 64):
        w = rng.standard_normal((40_000, d)) * 10.0 ** rng.uniform(-3, 3, (40_000, 1))
        s = 10.0 ** rng.uniform(-3, 3, (40_000, d))
        ws = weighted_norm(w, s)
        nw = np.linalg.norm(w, axis=-1)
        worst["a"] = max(worst["a"], float(np.max(np.abs(ws - np.linalg.norm(w * np.sqrt(s), axis=-1)) / ws)))
        worst["b"] = max(worst["b"], float(np.max((ws - nw * np.sqrt(s.max(axis=-1))) / ws)))
        worst["c"] = max(worst["c"], float(np.max((nw * np.sqrt(s.min(axis=-1)) - ws) / ws)))
        n += len(w)
    s = np.array([0.2, 3.0, 0.7])
    tight_b = abs(weighted_norm(np.array([0.0, 2.0, 0.0]), s) - 2.0 * np.sqrt(3.0)) < 1e-14
    tight_c = abs(weighted_norm(np.array([-1.5, 0.0, 0.0]), s) - 1.5 * np.sqrt(0.2)) < 1e-14
    ok = worst["a"] <= 1e-12 and worst["b"] <= 1e-12 and worst["c"] <= 1e-12 and tight_b and tight_c
    return CheckOutcome(
        name="p2_lemma1_weighted_norm",
        claim="||W||_S = ||W * sqrt(S)||, sqrt(min S) ||W|| <= ||W||_S <= sqrt(||S||_inf) ||W|| (P2 Lemma 1)",
        source="P2 Lemma 1 (v3 App. E.1; docs/theory/theorems.md#p2-lemmas)",
        method="numeric (dense evaluation)",
        passed=bool(ok),
        details=f"{n} random pairs: largest relative error of (a) {worst['a']:.2g}; largest relative violation of "
                f"(b) {worst['b']:.2g}, of (c) {worst['c']:.2g} (<= 0 means none); equality at the extremal "
                f"directions: (b) {tight_b}, (c) {tight_c}",
    )


if __name__ == "__main__":
    print(check_p2_lemma1_weighted_norm())
