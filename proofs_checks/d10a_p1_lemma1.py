r"""D10 (docs/theory/derivations.md#d10a-p1-lemma1) / P1 Lemma 1 (saturation and fast reset of the soft-bounds device).

Claim: for w' = w + Δ − (|Δ|/τ)(w − w⋄), |w' − w| = |sign(Δ) − (w − w⋄)/τ|·|Δ|; hence if
sign(Δ) = sign(w − w⋄) the step is |1 − |w − w⋄|/τ|·|Δ| (saturation), otherwise
|1 + |w − w⋄|/τ|·|Δ| (fast reset).
Source: P1 §2.3 Lemma 1; P1 Lemma 1 / Theorem 1 (docs/theory/derivations.md).

Method: sympy on the four sign cases (Δ = ±a, w − w⋄ = ±u with a, u > 0); ``analog_update`` against the
identity on a dense 201 × 201 grid of (w, Δ).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import convergence as cv
from proofs_checks._common import CheckOutcome, is_zero, max_abs_diff


def check_d10a_p1_lemma1() -> CheckOutcome:
    a, u, tau = sp.symbols("a u tau", positive=True)
    ws = sp.Symbol("w_sym", real=True)
    ok_cases = []
    for sd in (1, -1):
        for su in (1, -1):
            delta, wm = sd * a, su * u                   # wm = w - w_sym
            step = (ws + wm + delta - sp.Abs(delta) / tau * wm) - (ws + wm)
            ident = sp.Abs(sd - wm / tau) * a
            lemma = sp.Abs(1 - u / tau) * a if sd == su else sp.Abs(1 + u / tau) * a
            ok_cases.append(is_zero(sp.Abs(step) - ident) and is_zero(ident - lemma))
    dev = cv.SoftBounds(1.3, 0.2)
    W, DW = np.meshgrid(np.linspace(-1.1, 1.5, 201), np.linspace(-1.0, 1.0, 201))
    new = cv.analog_update(W, DW, dev)
    ident = np.abs(np.sign(DW) - (W - 0.2) / 1.3) * np.abs(DW)
    err = max_abs_diff(np.abs(new - W), ident)
    ok = all(ok_cases) and err < 1e-14
    return CheckOutcome(
        name="d10a_p1_lemma1",
        claim="|w' - w| = |sign(dw) - (w - w_sym)/tau| |dw|: saturation |1 - |w-w_sym|/tau||dw|, "
              "fast reset |1 + |w-w_sym|/tau||dw|",
        source="P1 Lemma 1; P1 Lemma 1 / Theorem 1 (docs/theory/derivations.md); D10 (docs/theory/derivations.md)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"4 sign cases proved: {ok_cases}; analog_update vs identity on 201x201 grid: max err {err:.1e}",
    )


if __name__ == "__main__":
    print(check_d10a_p1_lemma1())
