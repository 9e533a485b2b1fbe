r"""F/G identities of every device in :mod:`convergence.physics.devices`.

Claim: for each device, the class's ``q_plus``, ``q_minus``, ``F``, ``G`` and
``symmetric_point`` equal the sympy expressions of docs/theory/device-model.md#response-functions;
docs/theory/device-model.md#devices
(F = (q₋ + q₊)/2, G = (q₋ − q₊)/2, G(w⋄) = 0) and M = q₊q₋ = F² − G².
Sources: P1 §2.2 eq (6)–(8), App. C.1; P2 §1.1, §2 eq (3)–(5), App. K.1 eq (144)–(145).

Method: sympy derives F, G, the symmetric point and the identity M = F² − G²
symbolically; the device classes are compared numerically on a dense grid of
2001 points in their range (numeric (dense evaluation)); realised device-to-device variation
(``DeviceArray``) against q±_i(w) = g_i(1 ± r_i)q±((w − o_i)/s_i) and G(w⋄_i) = 0.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

import convergence as cv
from proofs_checks._common import CheckOutcome, is_zero, max_abs_diff

w = sp.Symbol("w", real=True)


T, WS, C, TMAX, TMIN, GAM = sp.symbols("tau w_sym c tau_max tau_min gamma", real=True)


def _cases() -> list[tuple[object, sp.Expr, sp.Expr, float | None, dict]]:
    """(device, symbolic q+, symbolic q-, symmetric point or None, numeric substitution)."""
    tau, ws, c = 1.3, 0.2, 0.3
    tmax, tmin = 1.2, -0.7
    return [
        (cv.Ideal(), sp.Integer(1), sp.Integer(1), None, {}),
        (cv.ConstantStep(1.0, -1.0, 0.3), sp.Integer(1), 1 - C, None, {C: 0.3}),
        (cv.ConstantStep(1.0, -1.0, -0.2), 1 + C, sp.Integer(1), None, {C: -0.2}),
        (cv.SoftBounds(tau, ws), 1 - (w - WS) / T, 1 + (w - WS) / T, ws, {T: tau, WS: ws}),
        (cv.CLin(tau, c), (1 + C) * (1 - w / T), (1 - C) * (1 + w / T), c * tau, {T: tau, C: c}),
        (cv.LinearStep(tmax, tmin, ws), 1 - (w - WS) / TMAX, 1 - (w - WS) / TMIN, ws, {TMAX: tmax, TMIN: tmin, WS: ws}),
        (cv.Power(tau, 0.6), (1 - w / T) ** GAM, (1 + w / T) ** GAM, 0.0, {T: tau, GAM: 0.6}),
        (cv.Exponential(tau, 2.0), (sp.exp(GAM * (1 - w / T)) - 1) / (sp.exp(GAM) - 1),
         (sp.exp(GAM * (1 + w / T)) - 1) / (sp.exp(GAM) - 1), 0.0, {T: tau, GAM: 2.0}),
    ]


def check_devices_fg_identities() -> CheckOutcome:
    ok = True
    notes = []
    worst = 0.0
    for dev, qp_s, qm_s, sym, subs in _cases():
        ok &= is_zero(qp_s * qm_s - (((qm_s + qp_s) / 2) ** 2 - ((qm_s - qp_s) / 2) ** 2))
        if sym is not None and qp_s.has(w):
            G_s = (qm_s - qp_s) / 2
            if sym == 0.0:      # zero-shifted devices: G(0) = 0 symbolically
                ok &= is_zero(G_s.subs(w, 0))
            else:               # affine devices: the unique root of G, symbolically, at the numbers
                roots = sp.solve(G_s, w)
                ok &= len(roots) == 1 and abs(float(roots[0].subs(subs)) - sym) < 1e-12
        qp, qm = qp_s.subs(subs), qm_s.subs(subs)
        F = (qm + qp) / 2
        G = (qm - qp) / 2
        lo, hi = dev.bounds
        lo = -2.0 if not math.isfinite(lo) else lo
        hi = 2.0 if not math.isfinite(hi) else hi
        grid = np.linspace(lo, hi, 2001)
        fns = [sp.lambdify(w, e + 0 * w, "numpy") for e in (qp, qm, F, G)]
        vals = [np.broadcast_to(fn(grid), grid.shape) for fn in fns]
        got = [dev.q_plus(grid), dev.q_minus(grid), dev.F(grid), dev.G(grid)]
        err = max(max_abs_diff(a, b) for a, b in zip(vals, got))
        worst = max(worst, err)
        # 1e-9: (1 - w/tau)**0.6 amplifies rounding of w/tau near the bound (x**0.6 at x ~ 1e-16)
        ok &= err < 1e-9
        if sym is not None:
            roots = sp.nsolve(G, w, sym) if G.has(w) else None
            ok &= roots is not None and abs(float(roots) - sym) < 1e-10
            ok &= abs(float(dev.symmetric_point) - sym) < 1e-9
            notes.append(f"{dev.name}: w_sym={float(dev.symmetric_point):.6g}")
        elif isinstance(dev, cv.ConstantStep):
            # constant G != 0 has no symmetric point
            ok &= math.isnan(dev.symmetric_point) and abs(float(dev.G(0.0)) - float(G)) < 1e-15
    # realised device-to-device variation (DeviceArray): q±_i(w) = g_i (1 ± r_i) q±((w - o_i)/s_i) and G(w_sym_i) = 0
    rng = np.random.default_rng(3)
    worst_sym = 0.0
    var = cv.Variation(dw_min_dtod=0.2, up_down_dtod=0.1, range_dtod=0.1, sym_skew=0.05, sym_dtod=0.1)
    for base in (cv.SoftBounds(1.0), cv.CLin(1.0, 0.2), cv.Power(1.0, 0.5)):
        arr = cv.realize(base, var, (16, 8), rng)
        x = rng.uniform(-0.5, 0.5, (16, 8))
        formula_p = arr.gain * (1 + arr.asym) * base.q_plus((x - arr.shift) / arr.scale)
        formula_m = arr.gain * (1 - arr.asym) * base.q_minus((x - arr.shift) / arr.scale)
        err_arr = max(max_abs_diff(arr.q_plus(x), formula_p), max_abs_diff(arr.q_minus(x), formula_m),
                      max_abs_diff(arr.G(x), 0.5 * (formula_m - formula_p)))
        g_at_sym = float(np.max(np.abs(arr.G(arr.symmetric_point))))
        ok &= err_arr < 1e-14 and g_at_sym < 1e-9
        worst = max(worst, err_arr)
        worst_sym = max(worst_sym, g_at_sym)
    notes.append(f"DeviceArray (3 bases with variation): max |G(w_sym_i)| = {worst_sym:.1e}")
    return CheckOutcome(
        name="devices_fg_identities",
        claim="q+, q-, F, G, symmetric point of all 7 device classes match sympy; M = q+q- = F^2 - G^2",
        source="P1 eq (6)-(8), App. C.1; P2 eq (3)-(5), (144)-(145); docs/theory/device-model.md#response-functions; "
               "docs/theory/device-model.md#devices",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"max |class - sympy| over 8 devices x 2001 points = {worst:.2e}; " + "; ".join(notes),
    )


if __name__ == "__main__":
    print(check_devices_fg_identities())
