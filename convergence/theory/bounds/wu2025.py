r"""P2 bounds: Wu, Xiao, Gokmen, Fagbohungbe, Chen, NeurIPS 2025, arXiv 2502.06309
(docs/theory/theorems.md#p2-statements).

Registered names:

* ``p2.thm1.f_sigma_ald``  implicit penalty f_Σ(w) = (L/2)(w − w*)² + Σ(w − w⋄)²/(2τ) of scalar Analog SGD
  on soft bounds (P2 Thm 1, eq 7 with R_c = (w − w⋄)²/(2τ)); generic devices: :func:`implicit_penalty`.
* ``p2.thm5.w_s``          minimiser W^S = (H W* + Σ R'(w⋄) w⋄)/(H + Σ R'(w⋄)) with the CORRECTED sign
  (P2 Theorems 1 and 5 (docs/theory/theorems.md#p2-thm1); scalar/diagonal form, H = ∇²f(W*)).
* ``p2.thm5.w_s_printed``  P2-v3 eq (48) as printed (minus signs) — ERRATUM.
* ``p2.thm2``              generic Analog SGD: 16F²max√((f₀−f*)σ²L/K) + 8Fmaxσ²S_K^ASGD (v3 eq 69),
  at α = (1/Fmax)√((f₀−f*)/(σ²LK)) ≤ 1/(4LFmax) (:func:`asgd_step_size_generic`).
* ``p2.thm2.floor``        its asymptotic part 8Fmaxσ²S_K^ASGD.
* ``p2.remark1``           Theorem 2 without saturation: (4F²max/M_min)√((f₀−f*)σ²L/K) + 2F_max σ² S_K^ASGD/M_min.
* ``p2.thm6``              generic Analog GD: 2L(f₀−f*)F²max/(K·M_min) (App. J).
* ``p2.thm3.rate``         residual learning / Tiki-Taka rate term √((f₀−f*)σ²L/K)/M_min^RL (P2 Table 2, O(·)
  constant 1); on soft bounds M_min^RL = 1 − P²max/τ² (:func:`m_min` of the device at ±P_max).
* ``p2.thm3.floor``        residual learning / Tiki-Taka asymptotic term 24Fmaxσ²S_K^RL (v3 eq 126, Theorem 3 /
  Corollary 1); S_K^RL → 0 under the zero-shift condition G(0) = 0 (:func:`zero_shift`).

Predicates: :func:`zero_shift` (P2 Assumption 4 / Corollary 1: G(0) = 0), :func:`zero_shift_ratio`
(G(0)/F(0), the D13 floor coefficient).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike

from convergence._validate import ConfigError
from convergence.theory.bounds._core import Bound
from convergence.theory.bounds._trajectory import p1_quantities
from convergence.theory.bounds.symbols import (F_max, K, L, M_min, S_K_asgd, S_K_rl, Sigma, dR, f_gap, sigma, tau, w,
                                               w_star, w_sym)

F_SIGMA_ALD = Bound(
    name="p2.thm1.f_sigma_ald",
    expr=L / 2 * (w - w_star) ** 2 + Sigma * (w - w_sym) ** 2 / (2 * tau),
    params=(w, L, w_star, Sigma, tau, w_sym),
    kind="exact",
    reference="P2 Theorem 1 / 5, eq (7) and (45)/(49): f_Sigma = f + <Sigma, R_c>",
    assumptions=("scalar quadratic f = (L/2)(w - w*)^2", "soft bounds with symmetric point w_sym",
                 "Sigma = E|grad f(W*; xi)| (Gaussian N(0, s^2): s sqrt(2/pi))"),
    description="the objective Analog SGD implicitly minimises",
)

_ASSUME_WS = ("f twice differentiable, W* unique minimiser", "H = Hessian of f at W* (scalar or diagonal)",
              "dR = R'(w_sym) = G'(w_sym)/F(w_sym)", "accurate to O(|w_sym - W*|^2)")

W_S = Bound(
    name="p2.thm5.w_s",
    expr=(L * w_star + Sigma * dR * w_sym) / (L + Sigma * dR),
    params=(L, w_star, Sigma, dR, w_sym),
    kind="asymptotic",
    reference="P2 Theorem 5 (App. G), W^S linearisation with corrected sign (P2 Theorems 1 and 5 "
              "(docs/theory/theorems.md#p2-thm1))",
    assumptions=_ASSUME_WS,
    description="stationary point of Analog SGD to second order in |w_sym - W*| (here L stands for H)",
    rtol=0.05,
)

W_S_PRINTED = Bound(
    name="p2.thm5.w_s_printed",
    expr=(L * w_star - Sigma * dR * w_sym) / (L - Sigma * dR),
    params=(L, w_star, Sigma, dR, w_sym),
    kind="asymptotic",
    reference="P2-v3 eq (48) as printed",
    assumptions=_ASSUME_WS,
    description="printed W^S = (H - grad R Sigma)^(-1)(H W* - grad R Sigma W_sym)",
    rtol=0.05,
    erratum="grad f_Sigma = grad f + Sigma * R, so the linearisation has plus signs (p2.thm5.w_s); "
            "e.g. L = 1, W* = 0.5, Sigma/tau = 0.4: printed 0.83, corrected 0.36",
)

_ASSUME_THM2 = ("A1: f L-smooth, A2: f >= f*", "E||grad f(W; xi) - grad f(W)||^2 <= sigma^2 (total)",
                "v3: min Q+ Q- > R_min (its Assumption 3)",
                "alpha = (1/F_max) sqrt((f0 - f*)/(sigma^2 L K)) <= 1/(4 L F_max)")

THM2 = Bound(
    name="p2.thm2",
    expr=16 * F_max**2 * sp.sqrt(f_gap * sigma**2 * L / K) + 8 * F_max * sigma**2 * S_K_asgd,
    params=(f_gap, sigma, L, K, F_max, S_K_asgd),
    kind="upper",
    reference="P2 Theorem 2 (CR eq 8); constants of P2-v3 App. H eq (69)",
    assumptions=_ASSUME_THM2,
    description="E_K = (1/K) sum E[||grad f . F + |grad f| . G||^2 + 4||grad f||^2_M] (v3 metric; M = Q+ Q-)",
    trajectory=lambda traj, **v: _p2_quantities(traj, **v),
)

THM2_FLOOR = Bound(
    name="p2.thm2.floor",
    expr=8 * F_max * sigma**2 * S_K_asgd,
    params=(F_max, sigma, S_K_asgd),
    kind="upper",
    reference="P2 Theorem 2, asymptotic part of eq (69)",
    assumptions=_ASSUME_THM2,
    description="asymptotic error of generic Analog SGD",
    trajectory=lambda traj, **v: _p2_quantities(traj, **v),
)

REMARK1 = Bound(
    name="p2.remark1",
    expr=4 * F_max**2 / M_min * sp.sqrt(f_gap * sigma**2 * L / K) + 2 * F_max * sigma**2 * S_K_asgd / M_min,
    params=(f_gap, sigma, L, K, F_max, M_min, S_K_asgd),
    kind="upper",
    reference="P2 Remark 1 (App. H): Theorem 2 without saturation, M(W_k) >= M_min > 0",
    assumptions=_ASSUME_THM2 + ("M_min = min_k min Q+(W_k) Q-(W_k) > 0 along the run",),
    description="(1/K) sum E||grad f(W_k)||^2 of generic Analog SGD; for soft bounds (F_max = 1, "
                "M_min = 1 - W_max^2/tau^2) its rate term is P1 Theorem 2's",
    trajectory=lambda traj, **v: _p2_quantities(traj, **v),
)

THM6 = Bound(
    name="p2.thm6",
    expr=2 * L * f_gap * F_max**2 / (K * M_min),
    params=(f_gap, L, K, F_max, M_min),
    kind="upper",
    reference="P2 Theorem 6 (App. J), alpha = 1/(L F_max)",
    assumptions=("A1, A2", "exact gradients", "M_min = min_k min Q+(W_k) Q-(W_k) > 0"),
    description="(1/K) sum ||grad f(W_k)||^2 of generic Analog GD",
    trajectory=lambda traj, **v: _p2_quantities(traj, **v),
)

THM3_RATE = Bound(
    name="p2.thm3.rate",
    expr=sp.sqrt(f_gap * sigma**2 * L / K) / M_min,
    params=(f_gap, sigma, L, K, M_min),
    kind="upper",
    reference="P2 Theorem 3 / Corollary 1 and Table 2 (App. A), O(.) constant taken as 1",
    assumptions=("A1-A3 (strong convexity for unique W*, P*(W))", "A4: zero-shifted symmetric point G(0) = 0",
                 "alpha = O(1/sqrt(sigma^2 K)), beta = O(alpha gamma^(3/2)), gamma > 0 large enough",
                 "M_min = min_k min Q+(P_k) Q-(P_k) > 0 (soft bounds: 1 - P_max^2 / tau^2)"),
    description="order of the residual-learning error E_K^RL under zero shift: the rate term only",
)

THM3_FLOOR = Bound(
    name="p2.thm3.floor",
    expr=24 * F_max * sigma**2 * S_K_rl,
    params=(F_max, sigma, S_K_rl),
    kind="upper",
    reference="P2 Theorem 3 / Corollary 1, asymptotic term of v3 eq (126)",
    assumptions=("A1-A3 (strong convexity for unique W*, P*(W))",
                 "alpha = O(1/sqrt(sigma^2 K)), beta = O(alpha gamma^(3/2))",
                 "gamma large enough that P*(W_k) lies in P's dynamic range"),
    description="limsup of ||grad f(W + gamma P)||^2 for residual learning; vanishes when G(0) = 0 (zero shift)",
    trajectory=lambda traj, **v: _rl_quantities(traj, **v),
)

BOUNDS_P2 = (F_SIGMA_ALD, W_S, W_S_PRINTED, THM2, THM2_FLOOR, REMARK1, THM6, THM3_RATE, THM3_FLOOR)


# -- helpers --------------------------------------------------------------------------------------

def _finite_range(device: Any) -> tuple[float, float]:
    lo, hi = device.bounds
    lo = float(np.min(lo)) if np.all(np.isfinite(lo)) else -1e3
    hi = float(np.max(hi)) if np.all(np.isfinite(hi)) else 1e3
    return lo, hi


def f_max(device: Any, *, n: int = 4001) -> float:
    """F_max = sup_w F(w) over the device range (dense evaluation on ``n`` points; P2 Lemma 2)."""
    lo, hi = _finite_range(device)
    grid = np.linspace(lo, hi, n)
    return float(np.max(device.F(grid)))


def m_min(device: Any, w: ArrayLike) -> float:
    """min over the given weights of M = q+ q- (P2's saturation vector)."""
    w = np.asarray(w, dtype=float)
    return float(np.min(device.q_plus(w) * device.q_minus(w)))


def dR_at_symmetric_point(device: Any, *, h: float = 1e-6) -> float:
    """R'(w⋄) = G'(w⋄)/F(w⋄) (G(w⋄) = 0), by a central difference of G."""
    ws = float(device.symmetric_point)
    dG = (float(device.G(ws + h)) - float(device.G(ws - h))) / (2 * h)
    return dG / float(device.F(ws))


def r_c(device: Any, w: ArrayLike, *, n: int = 64) -> Any:
    r"""R_c(w) = ∫_{w⋄}^{w} G(v)/F(v) dv (Gauss-Legendre, ``n`` nodes; constant offset irrelevant)."""
    w = np.asarray(w, dtype=float)
    ws = float(device.symmetric_point)
    x, wt = np.polynomial.legendre.leggauss(n)
    half = 0.5 * (w - ws)
    v = ws + half[..., None] * (x + 1.0)
    return np.sum(wt * device.G(v) / device.F(v), axis=-1) * half


def implicit_penalty(f_value: ArrayLike, device: Any, Sigma: ArrayLike, w: ArrayLike) -> Any:
    r"""f_Σ(W) = f(W) + ⟨Σ, R_c(W)⟩ (P2 eq 7) for given f(W) values, summing over the last axis of ``w``.

    Args:
        f_value: f(W), shape (...,).
        device: the weights' device (scalar).
        Sigma: Σ = E|∇f(W*; ξ)|, broadcast against ``w`` (shape (..., d)).
        w: weights, shape (..., d).
    """
    w = np.asarray(w, dtype=float)
    if w.ndim == 0:
        w = w[None]
    return np.asarray(f_value, dtype=float) + np.sum(np.asarray(Sigma, float) * r_c(device, w), axis=-1)


def zero_shift_ratio(device: Any) -> Any:
    """G(0)/F(0): zero iff the symmetric point is at 0 (P2 Assumption 4); the D13 floor coefficient."""
    return np.asarray(device.G(0.0), float) / np.asarray(device.F(0.0), float)


def zero_shift(device: Any, *, atol: float = 1e-12) -> Any:
    """P2 Assumption 4 / Corollary 1 predicate: G(0) = 0 (bool, per element for a DeviceArray)."""
    if atol < 0:
        raise ConfigError(f"atol must be >= 0 (got {atol!r})")
    out = np.abs(np.asarray(device.G(0.0), float)) <= atol
    return bool(out) if np.ndim(out) == 0 else out


def asgd_step_size_generic(f_gap: ArrayLike, sigma: ArrayLike, L: ArrayLike, K: ArrayLike, F_max: ArrayLike) -> Any:
    """P2 Theorem 2's α = (1/F_max)√((f(W₀) − f*)/(σ²LK))."""
    return np.sqrt(np.asarray(f_gap, float) / (np.asarray(sigma, float) ** 2 * np.asarray(L, float)
                                               * np.asarray(K, float))) / np.asarray(F_max, float)


def asgd_step_size_generic_valid(f_gap: ArrayLike, sigma: ArrayLike, L: ArrayLike, K: ArrayLike,
                                 F_max: ArrayLike) -> Any:
    """Whether P2 Theorem 2's α satisfies α ≤ 1/(4 L F_max)."""
    return asgd_step_size_generic(f_gap, sigma, L, K, F_max) <= 1.0 / (4.0 * np.asarray(L, float)
                                                                       * np.asarray(F_max, float))


def _device_from_config(traj: Any, key: str = "device") -> Any:
    from convergence.physics.devices import DEVICES
    dev = traj.config.get("algorithm", {}).get(key)
    if not isinstance(dev, dict) or dev.get("name") not in DEVICES or dev.get("realized"):
        return None
    params = {k: v for k, v in dev.items() if k != "name"}
    return DEVICES[dev["name"]](**params)


def _rl_quantities(traj: Any, **values: Any) -> dict[str, Any]:
    out = p1_quantities(traj, "p", **values)
    out["S_K_rl"] = values.get("S_K_rl", out["S_K_asgd"])       # the generic S_K of the P array
    if "F_max" not in values:
        device = values.get("device") or _device_from_config(traj, "device_fast")
        out["F_max"] = f_max(device) if device is not None else math.nan
    return out


def _p2_quantities(traj: Any, **values: Any) -> dict[str, Any]:
    out = p1_quantities(traj, "w", **values)
    if "F_max" not in values:
        device = values.get("device") or _device_from_config(traj)
        out["F_max"] = f_max(device) if device is not None else math.nan
    return out


__all__ = ["BOUNDS_P2", "F_SIGMA_ALD", "W_S", "W_S_PRINTED", "THM2", "THM2_FLOOR", "REMARK1", "THM6", "THM3_RATE",
           "THM3_FLOOR",
           "f_max", "m_min",
           "dR_at_symmetric_point", "r_c", "implicit_penalty", "zero_shift", "zero_shift_ratio",
           "asgd_step_size_generic", "asgd_step_size_generic_valid"]
