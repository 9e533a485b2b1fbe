r"""Erratum P1 App. C.1 eq (23): sign of G for the general linear step device.

Claim: for q₊ = 1 − (w − w⋄)/τ_max, q₋ = 1 − (w − w⋄)/τ_min (τ_min < 0 < τ_max),
G = (q₋ − q₊)/2 = +½(1/τ_max − 1/τ_min)(w − w⋄); P1 prints −½(1/τ_max − 1/τ_min)(w − w⋄). Only the
corrected sign reduces to the soft-bounds G = (w − w⋄)/τ for τ_max = −τ_min = τ, and only it makes G
increasing, i.e. drift toward w⋄ (q₋ > q₊ above w⋄).
Source: P1 App. C.1 eq (21)–(23); docs/theory/device-model.md#devices, §8.

Method: sympy; ``LinearStep.G`` numerically compared with both versions on a dense grid.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

import convergence as cv
from proofs_checks._common import CheckOutcome, is_zero, max_abs_diff

ERRATA = ("p1-linear-step-g-sign",)


def check_p1_linear_step_g_sign() -> CheckOutcome:
    w, ws = sp.symbols("w w_sym", real=True)
    tmax = sp.Symbol("tau_max", positive=True)
    tmin = -sp.Symbol("t", positive=True)
    qp, qm = 1 - (w - ws) / tmax, 1 - (w - ws) / tmin
    G = (qm - qp) / 2
    corrected = sp.Rational(1, 2) * (1 / tmax - 1 / tmin) * (w - ws)
    printed = -corrected
    tau = sp.Symbol("tau", positive=True)
    ok_corr = is_zero(G - corrected)
    ok_not_printed = not is_zero(G - printed)
    t = -tmin
    ok_reduces = is_zero(corrected.subs({tmax: tau, t: tau}) - (w - ws) / tau)
    printed_reduces = is_zero(printed.subs({tmax: tau, t: tau}) - (w - ws) / tau)
    dev = cv.LinearStep(1.2, -0.7, 0.1)
    grid = np.linspace(-0.55, 1.25, 401)
    corr_num = 0.5 * (1 / 1.2 + 1 / 0.7) * (grid - 0.1)
    err_corr = max_abs_diff(dev.G(grid), corr_num)
    err_print = max_abs_diff(dev.G(grid), -corr_num)
    ok = ok_corr and ok_not_printed and ok_reduces and not printed_reduces and err_corr < 1e-14 and err_print > 0.1
    return CheckOutcome(
        name="p1_linear_step_g_sign",
        claim="linear step device: G = +1/2 (1/tau_max - 1/tau_min)(w - w_sym) (printed with a minus sign)",
        source="P1 App. C.1 eq (23); docs/theory/device-model.md#devices",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=f"(q- - q+)/2 = corrected: {ok_corr}, = printed: {not ok_not_printed}; reduces to (w - w_sym)/tau at "
                f"tau_max = -tau_min: corrected {ok_reduces}, printed {printed_reduces}; "
                f"LinearStep(1.2, -0.7, 0.1).G vs "
                f"corrected: {err_corr:.1e}, vs printed: {err_print:.2f}",
        erratum="printed: G = -1/2 (1/tau_max - 1/tau_min)(w - w_sym) "
                "| corrected: G = +1/2 (1/tau_max - 1/tau_min)(w - w_sym) "
                f"| at w - w_sym = 1, tau_max = 1.2, tau_min = -0.7: printed {-(0.5 * (1 / 1.2 + 1 / 0.7)):.4f}, "
                f"corrected {0.5 * (1 / 1.2 + 1 / 0.7):.4f}",
    )


if __name__ == "__main__":
    print(check_p1_linear_step_g_sign())
