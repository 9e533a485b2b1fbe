r"""D7 (docs/theory/derivations.md#d7-power-exp-devices): power and exponential responses of P2 App. K.1.

Claim: both have q±(0) = 1, q₊(τ) = q₋(−τ) = 0, G(0) = 0 (zero-shifted, P2 Assumption 4);
power: F = 1 + γ(γ − 1)w²/(2τ²) + O(w⁴), G = γw/τ + O(w³);
exponential: G = γe^γ/(e^γ − 1)·w/τ + O(w²).
Source: docs/theory/device-model.md#devices; D7 (docs/theory/derivations.md); P2-v3 eq (144)–(145).

Method: sympy (exact values and series); the device classes' ``zero_shift`` predicate and
slope of G at 0 numerically.
"""
from __future__ import annotations

import sympy as sp

import convergence as cv
from convergence.theory.bounds import zero_shift
from proofs_checks._common import CheckOutcome, is_zero


def check_d07_power_exp_devices() -> CheckOutcome:
    w = sp.Symbol("w", real=True)
    tau, gam = sp.symbols("tau gamma", positive=True)
    pq = ((1 - w / tau) ** gam, (1 + w / tau) ** gam)
    eq = ((sp.exp(gam * (1 - w / tau)) - 1) / (sp.exp(gam) - 1), (sp.exp(gam * (1 + w / tau)) - 1) / (sp.exp(gam) - 1))
    res = {}
    for label, (qp, qm) in (("power", pq), ("exp", eq)):
        F, G = (qm + qp) / 2, (qm - qp) / 2
        res[f"{label} q(0)=1"] = is_zero(qp.subs(w, 0) - 1) and is_zero(qm.subs(w, 0) - 1)
        res[f"{label} G(0)=0"] = is_zero(G.subs(w, 0))
        res[f"{label} saturation"] = is_zero(qm.subs(w, -tau)) and is_zero(
            qp.subs(w, tau)) if label == "exp" else True
        if label == "power":
            fs = sp.series(F, w, 0, 4).removeO()
            gs = sp.series(G, w, 0, 3).removeO()
            res["power F series"] = is_zero(fs - (1 + gam * (gam - 1) * w**2 / (2 * tau**2)))
            res["power G series"] = is_zero(gs - gam * w / tau)
        else:
            gs = sp.series(G, w, 0, 2).removeO()
            res["exp G series"] = is_zero(gs - gam * sp.exp(gam) / (sp.exp(gam) - 1) * w / tau)
    # power saturation needs gamma > 0: (1 - 1)^gamma = 0; check at gamma = 1/2 and 2
    res["power saturation"] = all(qp.subs({w: tau, gam: gv}) == 0 and qm.subs({w: -tau, gam: gv}) == 0
                                  for gv in (sp.Rational(1, 2), 2) for qp, qm in [pq])
    devs = [cv.Power(1.0, 0.5), cv.Power(2.0, 2.0), cv.Exponential(1.0, 2.0), cv.Exponential(0.5, 4.0)]
    res["zero_shift predicate"] = all(zero_shift(d) for d in devs) and not zero_shift(cv.CLin(1.0, 0.2))
    h = 1e-6
    d = cv.Exponential(1.0, 2.0)
    slope = (float(d.G(h)) - float(d.G(-h))) / (2 * h)
    res["exp slope numeric"] = abs(slope - 2 * sp.exp(2).evalf() / (sp.exp(2).evalf() - 1)) < 1e-6
    ok = all(res.values())
    return CheckOutcome(
        name="d07_power_exp_devices",
        claim="power/exp responses: q(0) = 1, q+(tau) = q-(-tau) = 0, G(0) = 0, series of F and G",
        source="D7 (docs/theory/derivations.md); docs/theory/device-model.md#devices; P2 eq (144)-(145)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details="; ".join(f"{k}: {v}" for k, v in res.items()),
    )


if __name__ == "__main__":
    print(check_d07_power_exp_devices())
