r"""Mean-field predictions (docs/theory/derivations.md#derivations, derivations D1–D5, D12–D13) as plain functions.

These are the numbers the simulations are compared with. They broadcast over
NumPy arrays of parameters where noted; root finding is scalar (brentq) and
vectorised with ``np.vectorize`` (not a hot path).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.optimize import brentq
from scipy.special import erf

from convergence._validate import ConfigError
from convergence.physics.devices import Device, SoftBounds

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)

__all__ = ["abs_gaussian_mean", "asgd_quadratic_fixed_point", "digital_sgd_floor", "tt_clin_floor",
           "tt_clin_floor_selfconsistent", "implicit_penalty_minimizer_ald", "tt_tracking_fixed_point"]


def abs_gaussian_mean(mu: Any, sigma: Any) -> Any:
    r"""D1: E|μ + σZ| = σ√(2/π) e^{−μ²/(2σ²)} + μ erf(μ/(σ√2)), Z ~ N(0, 1); |μ| when σ = 0."""
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = sigma * SQRT_2_OVER_PI * np.exp(-mu * mu / (2 * sigma * sigma)) + mu * erf(mu / (sigma * math.sqrt(2)))
    out = np.where(sigma > 0, val, np.abs(mu))
    return float(out) if out.ndim == 0 else out


def _asgd_fixed_point_scalar(L: float, w_star: float, sigma: float, device: Device) -> float:
    def h(w: float) -> float:
        g = L * (w - w_star)
        return g * float(device.F(w)) + abs_gaussian_mean(g, sigma) * float(device.G(w))

    w_sym = device.symmetric_point
    lo, hi = sorted((w_sym, w_star))
    if lo == hi or h(lo) == 0.0:
        return lo
    if h(hi) == 0.0:
        return hi
    return brentq(h, lo, hi, xtol=1e-15, rtol=1e-14, maxiter=500)


def asgd_quadratic_fixed_point(L: Any, w_star: Any, sigma: Any, device: Device | None = None, *,
                               tau: Any = None) -> tuple[Any, Any]:
    r"""D3: stationary point of scalar Analog SGD on f = (L/2)(w − w*)² with N(0, σ²) noise.

    Solves the exact mean-field equation (D2 with D1)

    .. math:: L(w - w^*) F(w) + \mathbb E|L(w - w^*) + \varepsilon|\, G(w) = 0,

    whose root lies between the symmetric point and w*. Returns ``(w_s, grad_sq)``
    with ``grad_sq = L²(w_s − w*)²``, the mean-field floor of ‖∇f‖².
    Pass ``tau`` instead of ``device`` for soft bounds (broadcasts over arrays).
    Reference numbers (L = τ = 1, w* = 0.5, σ = 0.5): w_s = 0.35310, floor 0.021580.
    """
    if device is None:
        if tau is None:
            raise ConfigError("give a device or tau")
        fn = np.vectorize(lambda L_, ws, s, t: _asgd_fixed_point_scalar(L_, ws, s, SoftBounds(t)))
        w_s = fn(L, w_star, sigma, tau)
    else:
        fn = np.vectorize(lambda L_, ws, s: _asgd_fixed_point_scalar(L_, ws, s, device))
        w_s = fn(L, w_star, sigma)
    grad_sq = (np.asarray(L) * (w_s - np.asarray(w_star))) ** 2
    if np.ndim(w_s) == 0:
        return float(w_s), float(grad_sq)
    return w_s, grad_sq


def digital_sgd_floor(lr: Any, L: Any, sigma: Any) -> tuple[Any, Any]:
    r"""D4: stationary E(w − w*)² = ασ²/(L(2 − αL)) and E‖∇f‖² = αLσ²/(2 − αL) (per coordinate)."""
    lr, L, sigma = (np.asarray(x, dtype=float) for x in (lr, L, sigma))
    if np.any(lr * L >= 2):
        raise ConfigError("digital SGD on a quadratic is stable only for lr * L < 2")
    dist = lr * sigma ** 2 / (L * (2 - lr * L))
    grad = lr * L * sigma ** 2 / (2 - lr * L)
    return (float(dist), float(grad)) if dist.ndim == 0 else (dist, grad)


def tt_clin_floor(c: Any, sigma: Any) -> Any:
    r"""D13: Tiki-Taka floor with a c_Lin device on P: ‖∇f‖² ≈ (G(0)/F(0))² (E|ε|)² = c² (2/π) σ²."""
    return np.asarray(c, dtype=float) ** 2 * (2.0 / math.pi) * np.asarray(sigma, dtype=float) ** 2


def tt_clin_floor_selfconsistent(c: float, sigma: float) -> float:
    r"""D13 without the small-gradient approximation: g = c E|g + ε|, returns g²."""
    if not 0 <= abs(c) < 1:
        raise ConfigError("c must lie in (-1, 1)")
    if c == 0 or sigma == 0:
        return 0.0
    g = brentq(lambda g: g - abs(c) * abs_gaussian_mean(g, sigma), 0.0, 10 * sigma / (1 - abs(c)))
    return float(g * g)


def implicit_penalty_minimizer_ald(L: Any, w_star: Any, tau: Any, sigma: Any) -> Any:
    r"""D5: argmin of (L/2)(w − w*)² + (Σ/(2τ))w² with Σ = σ√(2/π): w^S = L w*/(L + Σ/τ)."""
    big_sigma = np.asarray(sigma, dtype=float) * SQRT_2_OVER_PI
    return np.asarray(L) * np.asarray(w_star) / (np.asarray(L) + big_sigma / np.asarray(tau))


def tt_tracking_fixed_point(L: Any, w: Any, w_star: Any, gamma: Any, tau: Any, abs_g: Any) -> Any:
    r"""D12: mean-field P fixed point P̄ = L(W* − W)/(Lγ + E|g|/τ) (quadratic, soft bounds)."""
    return np.asarray(L) * (np.asarray(w_star) - np.asarray(w)) / (np.asarray(L) * np.asarray(gamma)
                                                                    + np.asarray(abs_g) / np.asarray(tau))
