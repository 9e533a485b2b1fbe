r"""D11 (docs/theory/derivations.md#d11-drifts): drifts at a critical point (P1 eqs 11–13).

Claim: at ∇f(W) = 0, Analog SGD drifts by E[W'] − W = −αE|ε| ⊙ G(W) = O(α) (ALD: −(α/τ)E|ε|W);
Tiki-Taka with P = 0 and γ = 0 drifts by −(αβ/τ)E|ε|W = O(αβ); and the P recursion at g = 0
contracts, E[P'] = (1 − (β/τ)E|ε|)P.
Source: D11 (docs/theory/derivations.md); P1 eqs (11)-(13) (docs/theory/derivations.md); P1 eqs (11)–(13).

Method: sympy with a symmetric two-point ε = ±e (E ε = 0, E|ε| = e; the drifts are linear in the
law of ε given E ε and E|ε|); numeric: one step of the toolkit's ``analog_sgd`` and ``tiki_taka``
averaged over 100 001 stratified Gaussian quantiles (dense evaluation).
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from scipy.special import ndtri

import convergence as cv
from proofs_checks._common import CheckOutcome, is_zero


def check_d11_drifts() -> CheckOutcome:
    a, b, tau, e = sp.symbols("alpha beta tau e", positive=True)
    W, P = sp.symbols("W P", real=True)
    def mean(expr_of_eps):  # E over eps = +-e with probability 1/2
        return (expr_of_eps(e) + expr_of_eps(-e)) / 2
    asgd = mean(lambda eps: W - a * eps - (a / tau) * sp.Abs(eps) * W) - W
    p1 = lambda eps: b * eps                              # P' from P = 0 (P1 convention: P + beta g - ...)
    tt = mean(lambda eps: W - a * p1(eps) - (a / tau) * sp.Abs(p1(eps)) * W) - W
    pc = mean(lambda eps: P + b * eps - (b / tau) * sp.Abs(eps) * P)
    res = {"ASGD drift -alpha E|eps| W/tau": is_zero(asgd + a * e * W / tau),
           "TT drift -alpha beta E|eps| W/tau": is_zero(tt + a * b * e * W / tau),
           "E[P'] = (1 - beta E|eps|/tau) P": is_zero(pc - (1 - b * e / tau) * P)}
    n = 100_001
    eps = 0.3 * ndtri((np.arange(n) + 0.5) / n)[:, None]       # (trials = quantiles, 1)
    m = 0.3 * np.sqrt(2 / np.pi)
    alpha, beta, tau_v, w0 = 0.05, 0.1, 1.2, 0.4
    dev = cv.SoftBounds(tau_v)
    asgd_alg = cv.analog_sgd(alpha, dev)
    st = asgd_alg.init(np.full((n, 1), w0))
    d_asgd = float(asgd_alg.step(st, eps).w.mean()) - w0
    tt_alg = cv.tiki_taka(beta, alpha, dev)
    st = tt_alg.init(np.full((n, 1), w0))
    d_tt = float(tt_alg.step(st, eps).w.mean()) - w0
    err1 = abs(d_asgd + alpha * m * w0 / tau_v)
    err2 = abs(d_tt + alpha * beta * m * w0 / tau_v)
    res["toolkit ASGD drift"] = err1 < 1e-7
    res["toolkit TT drift"] = err2 < 1e-8
    ok = all(res.values())
    return CheckOutcome(
        name="d11_drifts",
        claim="drift at a critical point: ASGD -alpha E|eps| G(W) = O(alpha); TT (P = 0) -(alpha beta/tau) E|eps| W = "
              "O(alpha beta)",
        source="D11 (docs/theory/derivations.md); P1 eqs (11)-(13) (docs/theory/derivations.md); P1 eqs (11)-(13)",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details="; ".join(f"{k}: {v}" for k, v in res.items())
        + f"; numbers (alpha=0.05, beta=0.1, tau=1.2, w=0.4, sigma=0.3): "
          f"ASGD {d_asgd:.3e} (pred {-alpha * m * w0 / tau_v:.3e}), "
          f"TT {d_tt:.3e} (pred {-alpha * beta * m * w0 / tau_v:.3e})",
    )


if __name__ == "__main__":
    print(check_d11_drifts())
