r"""P1 Lemma 3: the lower-bound instance's two-point noise is Lipschitz in w with constant 3σ/(τ√D).

Claim: on the instance's range |w| ≤ τ/2 (P1 Lemma 2), both noise values
ξ⁺(w) = (σ/√D)√((1 − p)/p) and ξ⁻(w) = −(σ/√D)√(p/(1 − p)), p = ½(1 − w/τ), have
|dξ±/dw| ≤ (4/√3)·σ/(τ√D) ≈ 2.31·σ/(τ√D) ≤ 3σ/(τ√D): the lemma's constant holds with room.
Source: P1 Lemma 3 (App. G.2); P1 Theorem 3 (docs/theory/theorems.md#p1-thm3).

Method: sympy. With x = w/τ, ξ⁺ = s√((1 + x)/(1 − x)) and ξ⁻ = −s√((1 − x)/(1 + x)) (s = σ/√D);
their x-derivatives are s/((1 − x)^{3/2}(1 + x)^{1/2}) and s/((1 + x)^{3/2}(1 − x)^{1/2}), positive
and convex on (−1, 1), so the largest value on |x| ≤ ½ sits at an end point.
"""
from __future__ import annotations

import sympy as sp

from proofs_checks._common import CheckOutcome, is_zero


def check_p1_lemma3_noise_lipschitz() -> CheckOutcome:
    x = sp.symbols("x", real=True)
    p = (1 - x) / 2
    xi_plus = sp.sqrt((1 - p) / p)
    xi_minus = -sp.sqrt(p / (1 - p))
    d_plus, d_minus = sp.diff(xi_plus, x), sp.diff(xi_minus, x)
    closed_plus = 1 / ((1 - x) ** sp.Rational(3, 2) * (1 + x) ** sp.Rational(1, 2))
    closed_minus = 1 / ((1 + x) ** sp.Rational(3, 2) * (1 - x) ** sp.Rational(1, 2))
    half = sp.Rational(1, 2)
    ok_forms = all(is_zero((d - c).subs(x, v)) for d, c in ((d_plus, closed_plus), (d_minus, closed_minus))
                   for v in (-half, 0, sp.Rational(1, 3), half))
    # convex, positive on (-1, 1): the max over [-1/2, 1/2] is at an end point
    convex = all(sp.simplify(sp.diff(c, x, 2).subs(x, v)) > 0 for c in (closed_plus, closed_minus)
                 for v in (-half, -sp.Rational(1, 4), 0, sp.Rational(1, 4), half))
    ends = [sp.nsimplify(c.subs(x, v)) for c in (closed_plus, closed_minus) for v in (-half, half)]
    lip = max(ends, key=lambda e: float(e))
    ok_value = is_zero(lip - 4 / sp.sqrt(3))
    ok_bound = bool(lip < 3)
    ok = ok_forms and convex and ok_value and ok_bound
    return CheckOutcome(
        name="p1_lemma3_noise_lipschitz",
        claim="on |w| <= tau/2 the instance noise xi(w) is Lipschitz with constant (4/sqrt 3) sigma/(tau sqrt D) "
              "<= 3 sigma/(tau sqrt D) (P1 Lemma 3)",
        source="P1 Lemma 3 (App. G.2); P1 Theorem 3 (docs/theory/theorems.md#p1-thm3)",
        method="sympy",
        passed=bool(ok),
        details=f"derivatives match closed forms: {ok_forms}; convex on the range: {convex}; "
                f"largest |d xi/dw| = {lip} sigma/(tau sqrt D) = {float(lip):.4f} (lemma: 3)",
    )


if __name__ == "__main__":
    print(check_p1_lemma3_noise_lipschitz())
