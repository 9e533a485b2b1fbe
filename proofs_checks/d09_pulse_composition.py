r"""D9 (docs/theory/derivations.md#d9-n-pulse-composition): exact n-pulse composition of the soft-bounds device and
its error vs the
continuous model.

Claim: with pulse size δ and q± = 1 ∓ w/τ, n up-pulses give w_n = τ − (1 − δ/τ)^n(τ − w), n down-pulses
w_n = −τ + (1 − δ/τ)^n(τ + w); the continuous model's U(w, nδ) = w + nδ(1 − w/τ) overshoots:
U(w, nδ) − w_n = (τ − w)[(1 − δ/τ)^n − 1 + nδ/τ] ∈ [0, (τ − w)n(n − 1)δ²/(2τ²)] (Bernoulli).
For an affine response q_s = a_s + b_s w (e.g. c_Lin) the same recursion gives
w_n = w⋆ + (1 + sδb_s)^n (w − w⋆), w⋆ = −a_s/b_s.
Source: docs/theory/device-model.md#pulse-update; D9 (docs/theory/derivations.md); P1 App. B eq (15)–(20).

Method: sympy proves the recursion w_{n+1} = w_n + sδq_s(w_n) for symbolic n and the error identity;
the error range by dense evaluation (n ≤ 400, δ/τ ∈ (0, 0.5]); ``update.apply_pulses`` and
``update.n_pulse_closed_form_softbounds`` against the closed form and a slow pulse-by-pulse loop
(soft bounds and c_Lin, both signs).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import convergence as cv
from convergence.physics.pulses import apply_pulses, n_pulse_closed_form_softbounds
from proofs_checks._common import CheckOutcome, is_zero, max_abs_diff


def _slow_pulses(w: float, n: int, up: bool, dev: object, dw_min: float) -> float:
    for _ in range(n):
        w = w + dw_min * float(dev.q_plus(w)) if up else w - dw_min * float(dev.q_minus(w))  # type: ignore[attr-defined]
    return w


def check_d09_pulse_composition() -> CheckOutcome:
    w, n = sp.symbols("w n", real=True)
    tau, r = sp.symbols("tau rho", positive=True)   # rho = 1 - delta/tau > 0 (delta < tau)
    d = tau * (1 - r)
    up = tau - r**n * (tau - w)
    down = -tau + r**n * (tau + w)
    res = {}
    res["up recursion"] = is_zero(up.subs(n, n + 1) - (up + d * (1 - up / tau))) and is_zero(up.subs(n, 0) - w)
    res["down recursion"] = (is_zero(down.subs(n, n + 1) - (down - d * (1 + down / tau)))
                             and is_zero(down.subs(n, 0) - w))
    cont = w + n * d * (1 - w / tau)
    res["error identity"] = is_zero(cont - up - (tau - w) * (r**n - 1 + n * d / tau))
    a, b, s = sp.symbols("a b s", real=True)
    rho = sp.Symbol("rho_s", positive=True)           # rho_s = 1 + s delta b > 0
    sdelta = (rho - 1) / b
    wstar = -a / b
    aff = wstar + rho**n * (w - wstar)
    res["affine recursion"] = is_zero(aff.subs(n, n + 1) - (aff + sdelta * (a + b * aff)))
    # Bernoulli range, dense
    x = np.linspace(1e-4, 0.5, 200)[:, None]
    nn = np.arange(0, 401)[None, :]
    e = (1 - x) ** nn - 1 + nn * x
    res["0 <= error <= n(n-1)x^2/2"] = bool(np.all(e >= -1e-12) and np.all(e <= nn * (nn - 1) * x**2 / 2 + 1e-12))
    # the toolkit vs closed form and slow loops
    rng = np.random.default_rng(9)
    tau_v, dwm = 1.2, 0.01
    w0 = rng.uniform(-1.1, 1.1, 64)
    counts = rng.integers(0, 120, 64).astype(float)
    sign = np.where(rng.random(64) < 0.5, 1.0, -1.0)
    got = apply_pulses(w0[None, :], counts[None, :], sign[None, :], cv.SoftBounds(tau_v), dwm)[0]
    closed = np.array([n_pulse_closed_form_softbounds(a_, int(k), tau_v, dwm, up=sg > 0)
                       for a_, k, sg in zip(w0, counts, sign)])
    slow = np.array([_slow_pulses(a_, int(k), sg > 0, cv.SoftBounds(tau_v), dwm)
                     for a_, k, sg in zip(w0, counts, sign)])
    clin = cv.CLin(tau_v, 0.25)
    got_c = apply_pulses(w0[None, :], counts[None, :], sign[None, :], clin, dwm)[0]
    slow_c = np.array([_slow_pulses(a_, int(k), sg > 0, clin, dwm) for a_, k, sg in zip(w0, counts, sign)])
    err = max(max_abs_diff(got, closed), max_abs_diff(got, slow), max_abs_diff(got_c, slow_c))
    res["apply_pulses = closed form = slow loop"] = err < 1e-12
    ok = all(res.values())
    return CheckOutcome(
        name="d09_pulse_composition",
        claim="n soft-bounds pulses: w_n = tau - (1 - delta/tau)^n (tau - w); continuous model overshoots by "
              "(tau - w)[(1-delta/tau)^n - 1 + n delta/tau] in [0, (tau-w) n(n-1) delta^2/(2 tau^2)]",
        source="D9 (docs/theory/derivations.md); docs/theory/device-model.md#pulse-update; P1 eq (15)-(20)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details="; ".join(f"{k}: {v}" for k, v in res.items()) + f" (64 random cases, max err {err:.1e})",
    )


if __name__ == "__main__":
    print(check_d09_pulse_composition())
