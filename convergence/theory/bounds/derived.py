r"""Derived predictions of docs/theory/derivations.md#derivations as Bound objects (scalar problems, per-coordinate
noise std σ).

Registered names:

* ``d3.asgd_fixed_point``   exact mean-field stationary point w_s of scalar Analog SGD on
  f = (L/2)(w − w*)², soft bounds, ε ~ N(0, σ²): root of L(w − w*) + (w/τ)E|L(w − w*) + ε| = 0 (D1 closed
  form). Evaluated by :func:`convergence.theory.meanfield.asgd_quadratic_fixed_point`; kind asymptotic (α → 0).
* ``d3.asgd_floor``         the floor L²(w_s − w*)² at that root.
* ``d3.asgd_floor_approx``  small-gradient approximation (2/π)σ²w_a²/τ², w_a = w*Lτ/(Lτ + σ√(2/π)).
* ``d4.dsgd_floor``         digital SGD stationary E‖∇f‖² = αLσ²/(2 − αL) (exact for every α < 2/L).
* ``d4.dsgd_dist``          digital SGD stationary E(w − w*)² = ασ²/(L(2 − αL)).
* ``d5.implicit_penalty_minimizer_ald``  w^S = Lw*/(L + σ√(2/π)/τ).
* ``d12.tt_tracking``       P̄ = L(W* − W)/(Lγ + E|g|/τ) (P2 convention, γ ≥ 0).
* ``d12.tt_tracking_p1``    P̄ = τ g/E|g + ε| (P1 convention, P accumulates +gradient).
* ``d13.tt_clin_floor``     Tiki-Taka floor with c_Lin on P: c²(2/π)σ².
* ``d13.tt_clin_floor_selfconsistent``  g² with g = c E|g + ε| (no small-gradient approximation).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from convergence.theory import meanfield
from convergence.theory.bounds._core import Bound
from convergence.theory.bounds.symbols import L, abs_g, abs_gaussian_mean, c_lin, g, gamma, lr, sigma, tau, w, w_star

_ASSUME_D3 = ("f = (L/2)(w - w*)^2, scalar", "soft bounds (ALD), w_sym = 0, |w*| < tau",
              "eps ~ N(0, sigma^2) (per-coordinate std)", "mean field: E[W_{k+1}] - W_k = 0, alpha -> 0")

_g3 = L * (w - w_star)
D3_EQUATION = _g3 + (w / tau) * abs_gaussian_mean(_g3, sigma)


def _bracket_star(L: Any, w_star: Any, sigma: Any, tau: Any) -> tuple[Any, Any]:
    ws = np.asarray(w_star, dtype=float)
    return np.minimum(ws, 0.0), np.maximum(ws, 0.0)


def _d3_root(L: Any, w_star: Any, sigma: Any, tau: Any) -> Any:
    return meanfield.asgd_quadratic_fixed_point(L, w_star, sigma, tau=tau)[0]


def _d3_floor(L: Any, w_star: Any, sigma: Any, tau: Any) -> Any:
    return meanfield.asgd_quadratic_fixed_point(L, w_star, sigma, tau=tau)[1]


D3_FIXED_POINT = Bound(
    name="d3.asgd_fixed_point",
    expr=w,
    params=(L, w_star, sigma, tau),
    kind="asymptotic",
    reference="D3 (docs/theory/derivations.md) (with D1); P1 eq (3), mean-field stationarity (D2)",
    assumptions=_ASSUME_D3,
    description="mean stationary weight of scalar Analog SGD as alpha -> 0",
    rtol=0.02,
    equation=D3_EQUATION,
    unknown=w,
    bracket=_bracket_star,
    numeric=_d3_root,
)

D3_FLOOR = Bound(
    name="d3.asgd_floor",
    expr=L**2 * (w - w_star) ** 2,
    params=(L, w_star, sigma, tau),
    kind="asymptotic",
    reference="D3 (docs/theory/derivations.md): floor ||grad f(w_s)||^2; "
              "reference 0.021580 at L = tau = 1, w* = sigma = 0.5",
    assumptions=_ASSUME_D3,
    description="stationary E||grad f||^2 of scalar Analog SGD as alpha -> 0 (does not vanish)",
    rtol=0.1,
    equation=D3_EQUATION,
    unknown=w,
    bracket=_bracket_star,
    numeric=_d3_floor,
)

_w_a = w_star * L * tau / (L * tau + sigma * sp.sqrt(2 / sp.pi))

D3_FLOOR_APPROX = Bound(
    name="d3.asgd_floor_approx",
    expr=(2 / sp.pi) * sigma**2 * _w_a**2 / tau**2,
    params=(L, w_star, sigma, tau),
    kind="asymptotic",
    reference="D3 (docs/theory/derivations.md) approximation E|g + eps| ~ sigma sqrt(2/pi)",
    assumptions=_ASSUME_D3 + ("small gradients |g| << sigma",),
    description="approximate floor (2/pi) sigma^2 w_a^2 / tau^2",
    rtol=0.1,
)

_ASSUME_D4 = ("f = (L/2)(w - w*)^2 per coordinate", "eps ~ iid, variance sigma^2 per coordinate",
              "digital SGD, 0 < alpha L < 2, stationary regime")

D4_FLOOR = Bound(
    name="d4.dsgd_floor",
    expr=lr * L * sigma**2 / (2 - lr * L),
    params=(lr, L, sigma),
    kind="exact",
    reference="D4 (docs/theory/derivations.md) (stationary variance of an AR(1) recursion)",
    assumptions=_ASSUME_D4,
    description="stationary E||grad f||^2 of digital SGD per coordinate (-> 0 as alpha -> 0)",
)

D4_DIST = Bound(
    name="d4.dsgd_dist",
    expr=lr * sigma**2 / (L * (2 - lr * L)),
    params=(lr, L, sigma),
    kind="exact",
    reference="D4 (docs/theory/derivations.md)",
    assumptions=_ASSUME_D4,
    description="stationary E(w - w*)^2 of digital SGD per coordinate",
)

D5_MINIMIZER = Bound(
    name="d5.implicit_penalty_minimizer_ald",
    expr=L * w_star / (L + sigma * sp.sqrt(2 / sp.pi) / tau),
    params=(L, w_star, sigma, tau),
    kind="asymptotic",
    reference="D5 (docs/theory/derivations.md); P2 Theorem 1 with Sigma = sigma sqrt(2/pi)",
    assumptions=_ASSUME_D3,
    description="argmin of (L/2)(w - w*)^2 + (Sigma/(2 tau)) w^2",
    rtol=0.05,
)

D12_TRACKING = Bound(
    name="d12.tt_tracking",
    expr=L * (w_star - w) / (L * gamma + abs_g / tau),
    params=(L, w, w_star, gamma, tau, abs_g),
    kind="exact",
    reference="D12 (docs/theory/derivations.md) / §4.3 (P2 eq 10, quadratic, soft bounds on P)",
    assumptions=("f = (L/2)||W - W*||^2", "soft bounds on P, w_sym = 0", "W frozen, mean field",
                 "abs_g = E|grad f(W + gamma P) + eps| at the fixed point"),
    description="mean-field fixed point of the residual array P (P2 convention: P stores -gradient)",
)

D12_TRACKING_P1 = Bound(
    name="d12.tt_tracking_p1",
    expr=tau * g / abs_g,
    params=(tau, g, abs_g),
    kind="exact",
    reference="D12 (docs/theory/derivations.md) / §3.2 (P1 TT-P, gamma = 0)",
    assumptions=("soft bounds on P, w_sym = 0", "W frozen, mean field", "abs_g = E|g + eps|"),
    description="mean-field fixed point of P in P1's convention (P accumulates +gradient)",
)

D13_FLOOR = Bound(
    name="d13.tt_clin_floor",
    expr=c_lin**2 * (2 / sp.pi) * sigma**2,
    params=(c_lin, sigma),
    kind="asymptotic",
    reference="D13 (docs/theory/derivations.md) (P2 §4, Fig. 2: Assumption 4 violated)",
    assumptions=("c_Lin device on P (G(0)/F(0) = -c)", "eps ~ N(0, sigma^2) per coordinate",
                 "small gradients, alpha, beta -> 0"),
    description="Tiki-Taka stationary (E grad f)^2 per coordinate; independent of tau, gamma, W*, step sizes",
    rtol=0.2,
)


def _d13_selfconsistent(c_lin: Any, sigma: Any) -> Any:
    return np.vectorize(lambda c, s: meanfield.tt_clin_floor_selfconsistent(float(c), float(s)))(c_lin, sigma)


D13_FLOOR_SELF = Bound(
    name="d13.tt_clin_floor_selfconsistent",
    expr=g**2,
    params=(c_lin, sigma),
    kind="asymptotic",
    reference="D13 (docs/theory/derivations.md) without the small-gradient approximation",
    assumptions=D13_FLOOR.assumptions[:2] + ("alpha, beta -> 0",),
    description="g^2 where g = |c| E|g + eps| (D1 closed form)",
    rtol=0.2,
    equation=g - sp.Abs(c_lin) * abs_gaussian_mean(g, sigma),
    unknown=g,
    bracket=lambda c_lin, sigma: (np.zeros_like(np.asarray(c_lin * sigma, float)),
                                  10 * np.asarray(sigma, float) / (1 - np.abs(np.asarray(c_lin, float)))),
    numeric=_d13_selfconsistent,
)

BOUNDS_DERIVED = (D3_FIXED_POINT, D3_FLOOR, D3_FLOOR_APPROX, D4_FLOOR, D4_DIST, D5_MINIMIZER, D12_TRACKING,
                  D12_TRACKING_P1, D13_FLOOR, D13_FLOOR_SELF)

__all__ = ["BOUNDS_DERIVED", "D3_EQUATION", "D3_FIXED_POINT", "D3_FLOOR", "D3_FLOOR_APPROX", "D4_FLOOR", "D4_DIST",
           "D5_MINIMIZER", "D12_TRACKING", "D12_TRACKING_P1", "D13_FLOOR", "D13_FLOOR_SELF"]

