r"""D1 (docs/theory/derivations.md#d1-abs-gaussian-mean): first absolute moment of a shifted Gaussian.

Claim: for Z ~ N(0, 1), E|μ + σZ| = σ√(2/π)e^{−μ²/(2σ²)} + μ·erf(μ/(σ√2)); the function is even and
convex in μ with minimum σ√(2/π) at μ = 0, and = σ√(2/π) + μ²/(σ√(2π)) + O(μ⁴).
Source: docs/theory/device-model.md#noise-model; D1 (docs/theory/derivations.md) (used by P1 App. D.2 and every
mean-field prediction).

Method: sympy evaluates the integral ∫|μ + σz|φ(z)dz (split at z = −μ/σ) and compares it with the
closed form; derivatives and the series symbolically; the toolkit's ``meanfield.abs_gaussian_mean``
numerically on a dense grid.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
from scipy import integrate

from convergence.theory.bounds.symbols import abs_gaussian_mean
from convergence.theory.meanfield import abs_gaussian_mean as abs_mean_np
from proofs_checks._common import CheckOutcome, is_zero, max_abs_diff


def check_d01_abs_gaussian_mean() -> CheckOutcome:
    mu = sp.Symbol("mu", real=True)
    s = sp.Symbol("sigma", positive=True)
    z = sp.Symbol("z", real=True)
    phi = sp.exp(-z**2 / 2) / sp.sqrt(2 * sp.pi)
    z0 = -mu / s
    integral = (sp.integrate((mu + s * z) * phi, (z, z0, sp.oo))
                - sp.integrate((mu + s * z) * phi, (z, -sp.oo, z0)))
    closed = abs_gaussian_mean(mu, s)
    ok_integral = is_zero(integral - closed)
    d1 = sp.diff(closed, mu)
    d2 = sp.diff(closed, mu, 2)
    ok_even = is_zero(closed.subs(mu, -mu) - closed)
    ok_stationary = is_zero(d1.subs(mu, 0))
    ok_convex = is_zero(d2 - 2 * sp.exp(-mu**2 / (2 * s**2)) / (s * sp.sqrt(2 * sp.pi)))  # = 2 φ(μ/σ)/σ > 0
    ok_min = is_zero(closed.subs(mu, 0) - s * sp.sqrt(2 / sp.pi))
    series = sp.series(closed, mu, 0, 4).removeO()
    ok_series = is_zero(series - (s * sp.sqrt(2 / sp.pi) + mu**2 / (s * sp.sqrt(2 * sp.pi))))
    # numeric: the toolkit's implementation vs quadrature, dense grid
    grid = np.linspace(-3, 3, 61)
    quad = np.array([integrate.quad(lambda x, m=m: abs(m + 0.7 * x) * np.exp(-x * x / 2) / np.sqrt(2 * np.pi),
                                    -12.0, 12.0, points=[-m / 0.7], epsabs=1e-13)[0] for m in grid])
    err = max_abs_diff(abs_mean_np(grid, 0.7), quad)
    ok = ok_integral and ok_even and ok_stationary and ok_convex and ok_min and ok_series and err < 1e-8
    return CheckOutcome(
        name="d01_abs_gaussian_mean",
        claim="E|mu + sigma Z| = sigma sqrt(2/pi) exp(-mu^2/(2 sigma^2)) + mu erf(mu/(sigma sqrt 2)); even, convex, "
              "min sigma sqrt(2/pi)",
        source="D1 (docs/theory/derivations.md); docs/theory/device-model.md#noise-model",
        method="sympy + numeric (dense evaluation)",
        passed=bool(ok),
        details=(f"integral=closed form: {ok_integral}; even {ok_even}; f'(0)=0 {ok_stationary}; "
                 f"f''=2phi/sigma>0 {ok_convex}; f(0)=sigma sqrt(2/pi) {ok_min}; series {ok_series}; "
                 f"meanfield.abs_gaussian_mean vs quadrature (61 points, sigma=0.7): max err {err:.1e}"),
    )


if __name__ == "__main__":
    print(check_d01_abs_gaussian_mean())
