r"""P2 Lemma 4: the element-wise product error ⟨U, V ⊙ Q⟩ ≥ C₊⟨U, V⟩ − C₋⟨|U|, |V|⟩.

Claim: for U, V, Q ∈ R^D with C₊ = (max Q + min Q)/2 and C₋ = (max Q − min Q)/2 the inequality holds,
with equality when Q takes its smallest value where U_iV_i > 0 and its largest where U_iV_i < 0
(each term obeys u v q ≥ C₊ u v − C₋ |u v| because q = C₊ + t C₋ with |t| ≤ 1).

Source: P2 Lemma 4 (arXiv v3 App. E.4, eqs (33)-(35); docs/theory/theorems.md#p2-lemmas).

Method: sympy + numeric (dense evaluation). Sympy: with a = u v and q = C₊ + t C₋, the one-term slack
a q − (C₊ a − C₋|a|) equals C₋|a|(1 + t·sign(a)) ≥ 0, for both signs of a; numeric: 200 000
random triples in dimensions 1 to 64 (Q of either sign), no violation beyond 1e-12 relative, and the
equality case to 1e-12.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from proofs_checks._common import CheckOutcome, is_zero


def _sides(u: np.ndarray, v: np.ndarray, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    cp = 0.5 * (q.max(axis=-1) + q.min(axis=-1))
    cm = 0.5 * (q.max(axis=-1) - q.min(axis=-1))
    return np.sum(u * v * q, axis=-1), cp * np.sum(u * v, axis=-1) - cm * np.sum(np.abs(u * v), axis=-1)


def check_p2_lemma4_elementwise_product() -> CheckOutcome:
    # one term, q = C+ + t C- with |t| <= 1: the slack is C- |uv| (1 + t sign(uv)) >= 0
    a, cp, cm, t = sp.symbols("a C_p C_m t", real=True)         # a = u v
    slack = {sgn: sp.expand(a * (cp + t * cm) - (cp * a - cm * sgn * a)) for sgn in (1, -1)}
    ok_sym = all(is_zero(slack[sgn] - cm * sgn * a * (1 + sgn * t)) for sgn in (1, -1))
    rng = np.random.default_rng(4)
    worst, n = -np.inf, 0
    for d in (1, 2, 5, 17, 64):
        u, v = rng.standard_normal((2, 40_000, d))
        q = rng.uniform(-2, 3, (40_000, d))
        lhs, rhs = _sides(u, v, q)
        scale = np.sum(np.abs(u * v), axis=-1) * np.abs(q).max(axis=-1)
        worst = max(worst, float(np.max((rhs - lhs) / scale)))
        n += len(u)
    u, v = rng.standard_normal((2, 7))
    u[:2], v[:2] = (1.0, -1.0), (1.0, 1.0)                      # both signs of u_i v_i occur
    q = np.where(u * v >= 0, -0.5, 2.5)
    lhs, rhs = _sides(u, v, q)
    tight = abs(float(lhs - rhs)) <= 1e-12 * float(np.sum(np.abs(u * v)))
    ok = ok_sym and worst <= 1e-12 and tight
    return CheckOutcome(
        name="p2_lemma4_elementwise_product",
        claim="<U, V * Q> >= C+ <U, V> - C- <|U|, |V|> with C+- = (max Q +- min Q)/2 (P2 Lemma 4), attained",
        source="P2 Lemma 4 (v3 App. E.4, eqs (33)-(35); docs/theory/theorems.md#p2-lemmas)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"one-term slack C-|uv|(1 + t sign(uv)) >= 0 (sympy): {ok_sym}; {n} random triples: largest "
                f"relative violation {worst:.2g} (<= 0 means none); equality case: {tight}",
    )


if __name__ == "__main__":
    print(check_p2_lemma4_elementwise_product())
