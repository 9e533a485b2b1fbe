r"""Erratum P2 Lemma 3: the analog increment is Lipschitz in ΔW with constant max{q₊, q₋}, not F_max.

Claim: the increment of eq (5), u(ΔW) = ΔW ⊙ F(W) − |ΔW| ⊙ G(W), equals ΔW ⊙ q₊(W) where ΔW ≥ 0 and
ΔW ⊙ q₋(W) where ΔW < 0, so per element its Lipschitz constant in ΔW is max{q₊(w), q₋(w)} = F(w) + |G(w)|,
in any weighted norm ‖·‖_S. The printed constant F_max (Lemma 3, eq (30)) fails for every asymmetric device:
on soft bounds (τ = 1, w = 0.5) ΔW = 0 and ΔW′ = −1 give |u(ΔW) − u(ΔW′)| = q₋(0.5) = 1.5 > F_max = 1. The
proof's step |(x − y)F − (|x| − |y|)G| ≤ |x − y|(F − |G|) (eq 32) has the wrong sign: the bound is
|x − y|(F + |G|). Corrected: the constant sup_w max{q₊, q₋} = q_max ≤ 2F_max (q± ≥ 0 gives |G| ≤ F); only
constants change where the proof of Theorem 3 uses it (eq 77 (b)).

Source: P2 Lemma 3 (arXiv v3 App. E.3, eqs (30)–(32)); docs/theory/errata.md#erratum-p2-lemma3-lipschitz.

Method: sympy + numeric (dense evaluation). Sympy: the piecewise slopes of u. Numeric: the library's
:func:`convergence.physics.pulses.analog_update` (Expected mode) on soft-bounds, c_Lin, power and
exponential devices, 200 000 random (w, ΔW, ΔW′) per device: the ratio |u(ΔW) − u(ΔW′)|/|ΔW − ΔW′| never
exceeds max{q₊, q₋}(w) (1e-8, rounding of the differences) and exceeds F_max for every asymmetric device.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import convergence as cv
from convergence.physics.pulses import EXPECTED, analog_update
from convergence.theory.bounds import f_max
from proofs_checks._common import CheckOutcome, is_zero

ERRATA = ("p2-lemma3-lipschitz",)
DEVICES = (cv.SoftBounds(1.0), cv.CLin(tau=3.5, c=0.2), cv.Power(tau=1.0, gamma=2.0),
           cv.Exponential(tau=1.0, gamma=2.0))


def check_p2_lemma3_update_lipschitz() -> CheckOutcome:
    d, qp, qm = sp.symbols("d q_p q_m", positive=True)
    F, G = (qm + qp) / 2, (qm - qp) / 2
    u_up, u_down = d * F - d * G, -d * F - d * G               # ΔW = +d and ΔW = −d
    t = sp.symbols("t", nonnegative=True)                      # F + |G| = max(q+, q-), both orderings
    larger = all(is_zero((F + s * G).subs(q, other + t) - (other + t))
                 for s, q, other in ((1, qm, qp), (-1, qp, qm)))
    ok_sym = is_zero(u_up - d * qp) and is_zero(u_down + d * qm) and larger
    rng = np.random.default_rng(3)
    rows, ok_num, worst_excess = [], True, -np.inf
    for dev in DEVICES:
        lo, hi = dev.bounds
        w = rng.uniform(0.95 * lo, 0.95 * hi, 200_000)
        x, y = rng.uniform(-1, 1, (2, w.size)) * 0.05 * (hi - lo)
        ux = analog_update(w, x, dev, EXPECTED) - w
        uy = analog_update(w, y, dev, EXPECTED) - w
        ratio = np.abs(ux - uy) / np.abs(x - y)
        qmax = np.maximum(dev.q_plus(w), dev.q_minus(w))
        worst_excess = max(worst_excess, float(np.max(ratio / qmax - 1)))
        fm = f_max(dev)
        asym = float(np.max(ratio)) / fm
        ok_num &= asym > 1.0
        rows.append(f"{dev.name}: max ratio {float(np.max(ratio)):.4g} vs F_max {fm:.4g} (x{asym:.3f})")
    sb = cv.SoftBounds(1.0)
    w0 = np.array([0.5])
    counter = float(np.abs((analog_update(w0, np.array([0.0]), sb, EXPECTED) - w0)
                           - (analog_update(w0, np.array([-1.0]), sb, EXPECTED) - w0))[0])
    ok = ok_sym and ok_num and worst_excess <= 1e-8 and abs(counter - 1.5) < 1e-12
    return CheckOutcome(
        name="p2_lemma3_update_lipschitz",
        claim="the analog increment dW F(W) - |dW| G(W) is Lipschitz in dW with constant max{q+, q-} = F + |G|, "
              "which exceeds the printed F_max for asymmetric devices",
        source="P2 Lemma 3 (v3 App. E.3, eqs (30)-(32)); docs/theory/errata.md#erratum-p2-lemma3-lipschitz",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"piecewise slopes q+ (dW > 0), q- (dW < 0), max = F + |G| (sympy): {ok_sym}; largest ratio / "
                f"max(q+, q-) - 1 = {worst_excess:.2g}; " + "; ".join(rows)
                + f"; soft bounds tau = 1, w = 0.5, dW = 0 vs -1: difference {counter:.4g} > F_max = 1",
        erratum="printed: |u(dW) - u(dW')|_S <= F_max |dW - dW'|_S | corrected: the constant is max{q+(W), q-(W)} = "
                "F(W) + |G(W)| <= q_max <= 2 F_max (soft bounds, w = 0.5: 1.5 > 1)",
    )


if __name__ == "__main__":
    print(check_p2_lemma3_update_lipschitz())
