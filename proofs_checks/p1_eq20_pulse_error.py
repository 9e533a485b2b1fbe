r"""Erratum P1 eq (20): the pulsed-vs-continuous error bound of the soft-bounds device.

Claim: n up pulses of size δ from w give w_n = τ − (1 − δ/τ)^n (τ − w) (D9 (docs/theory/derivations.md)), so against the
continuous update U(w, Δw) = w + Δw (1 − w/τ)

.. math:: w_n - U = \frac{\tau - w}{\tau}\Big[(n\delta - \Delta w) - \tau\big((1-\delta/\tau)^n - 1 +
n\delta/\tau\big)\Big],

hence |w_n − U| ≤ ((τ − w)/τ) (|nδ − Δw| + n(n−1)δ²/(2τ)) (Bernoulli). The factor (τ − w)/τ = q₊(w)
lies in [0, 2]: it exceeds 1 in the fast-reset direction (w < 0 for up pulses). The printed bound
(docs/theory/device-model.md#pulse-update), δ/τ + Δw²/(2τ), therefore fails — for n rounded to nearest and for n
rounded up (rounding down and stochastic rounding are not checked) — and its first term is not even a weight for
τ ≠ 1.
Source: P1 App. B eq (19)–(20); docs/theory/device-model.md#pulse-update, D9.

Method: sympy for the decomposition identity; dense evaluation of the exact closed form over
200 000 random (τ, w, Δw, δ) for the derived bound and the printed one.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from proofs_checks._common import CheckOutcome, is_zero

ERRATA = ("p1-eq20-pulse-error",)


def check_p1_eq20_pulse_error() -> CheckOutcome:
    tau, w, dw, delta, n = sp.symbols("tau w Delta_w delta n", positive=True)
    r = 1 - delta / tau
    w_n = tau - r ** n * (tau - w)
    U = w + dw * (1 - w / tau)
    decomposition = (tau - w) / tau * ((n * delta - dw) - tau * (r ** n - 1 + n * delta / tau))
    identity = is_zero(w_n - U - decomposition)

    rng = np.random.default_rng(20)
    m = 200_000
    T = rng.uniform(0.2, 5.0, m)
    W = rng.uniform(-1.0, 1.0, m) * T
    D = T * 10 ** rng.uniform(-4, -1.3, m)
    DW = D * rng.uniform(0.05, 30.0, m)
    results = {}
    for rule, count in (("nearest", np.maximum(np.floor(DW / D + 0.5), 0)), ("ceil", np.ceil(DW / D))):
        exact = T - (1 - D / T) ** count * (T - W)
        err = np.abs(exact - (W + DW * (1 - W / T)))
        derived = (T - W) / T * (np.abs(count * D - DW) + count * (count - 1) * D ** 2 / (2 * T))
        printed = D / T + DW ** 2 / (2 * T)
        results[rule] = (int(np.sum(err > derived * (1 + 1e-9) + 1e-15)), float(np.mean(err > printed + 1e-15)),
                         float(np.max(err / printed)))
    derived_ok = all(v[0] == 0 for v in results.values())
    printed_fails = all(v[1] > 0 for v in results.values())
    # a concrete counterexample at tau = 1 (units cannot be blamed): reset direction, one pulse
    t1, w1, d1, dw1 = 1.0, -0.9, 0.01, 0.001
    e1 = abs(t1 - (1 - d1 / t1) * (t1 - w1) - (w1 + dw1 * (1 - w1 / t1)))
    p1 = d1 / t1 + dw1 ** 2 / (2 * t1)
    ok = identity and derived_ok and printed_fails and e1 > p1
    return CheckOutcome(
        name="p1_eq20_pulse_error",
        claim="|w_n - U(w, dW)| <= ((tau - w)/tau)(|n delta - dW| + n(n-1) delta^2/(2 tau)); the printed "
              "P1 eq 20 bound delta/tau + dW^2/(2 tau) is not valid",
        source="P1 App. B eq (20) (docs/theory/device-model.md#pulse-update); D9",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"decomposition identity: {identity}; derived bound violations (nearest, ceil): "
                f"{results['nearest'][0]}, {results['ceil'][0]}; printed bound violated in "
                f"{results['nearest'][1]:.1%} (nearest) / {results['ceil'][1]:.1%} (ceil) of cases, "
                f"worst ratio {max(results['nearest'][2], results['ceil'][2]):.3g}; tau=1 counterexample "
                f"(w=-0.9, delta=0.01, dW=0.001): error {e1:.4g} > printed bound {p1:.4g}",
        erratum=f"printed: delta/tau + dW^2/(2 tau) "
                f"(fails, e.g. error {e1:.4g} vs {p1:.4g} at tau=1) | "
                f"corrected: ((tau - w)/tau)(|n delta - dW| + n(n-1) delta^2/(2 tau)) (0 violations)",
    )


if __name__ == "__main__":
    print(check_p1_eq20_pulse_error())
