r"""P1 bounds: Wu, Gokmen, Rasch, Chen, NeurIPS 2024, arXiv 2406.12774 (v1 numbering;
docs/theory/theorems.md#p1-statements; docs/theory/algorithms.md#tiki-taka).

Registered names:

* ``p1.thm2``            Analog SGD upper bound 4√((f₀−f*)σ²L/K)/(1 − W²max/τ²) + 4σ²S_K (eq 9/65),
                         at α = √((f₀−f*)/(σ²LK)) (:func:`asgd_step_size`, valid if α ≤ 1/(2L)).
* ``p1.thm2.floor``      its asymptotic part 4σ²S_K (limsup of the bound).
* ``p1.thm9``            Analog GD (σ = 0): 2(f₀−f*)L/(K(1 − W²max/τ²)) at α = 1/L (eq 53).
* ``p1.thm3.lower``      lower-bound instance, constant the derivation supports: σ²S_K (D8
  (docs/theory/derivations.md)).
* ``p1.thm3.lower_printed``  the printed Ω(4σ²S_K) — ERRATUM (eq 98 drops a factor ½).
* ``p1.thm3.instance_floor`` exact mean-field floor σ²S(w_s) of the instance, w_s solving
                         L(w − w*) + (σ/√D)(w/τ)/√(1 − w²/τ²) = 0 (per coordinate).
* ``p1.thm4.p_max_sq``   Tiki-Taka E‖P‖²∞ ≤ P²max = 41L²τ⁴D/(c²σ²) (Lemma 7).
* ``p1.thm4.rate``       Tiki-Taka rate term √((f₀−f*)σ²L/K)/(1 − 33P²max/τ²) of eq (14), O(·) constant 1
                         (no asymptotic term); meaningful only where 33P²max/τ² < 1.
* ``p1.thm4.c_gaussian`` Assumption 5 constant of N(0, σ²/D) coordinates: √(2/(πD)) (exact);
  ``p1.thm4.c_printed``  the printed √(2/π) — ERRATUM (per-coordinate variance σ²/D).

Helpers: :func:`asgd_step_size`, :func:`asgd_step_size_valid`, :func:`tt_condition_value`,
:func:`tt_condition_holds`, :func:`tt_beta_statement`, :func:`tt_beta_proof`, :data:`FIG3_SETTINGS`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike

from convergence.theory.bounds._core import Bound
from convergence.theory.bounds._trajectory import p1_quantities
from convergence.theory.bounds.symbols import D, K, L, P_max, S_K, W_max, c, f_gap, sigma, tau, w, w_star

_ASSUME_THM2 = ("A1: f is L-smooth", "A2: f >= f*", "A3: E[eps] = 0, E||eps||^2 <= sigma^2 (total)",
                "A4: ||W_k||_inf <= W_max < tau for all k", "device: soft bounds (ALD), w_sym = 0",
                "alpha = sqrt((f0 - f*)/(sigma^2 L K)) <= 1/(2L)")

saturation_factor = 1 / (1 - W_max**2 / tau**2)

THM2 = Bound(
    name="p1.thm2",
    expr=4 * sp.sqrt(f_gap * sigma**2 * L / K) * saturation_factor + 4 * sigma**2 * S_K,
    params=(f_gap, sigma, L, K, W_max, tau, S_K),
    kind="upper",
    reference="P1 Theorem 2, eq (9)/(65)",
    assumptions=_ASSUME_THM2,
    description="(1/K) sum_k E||grad f(W_k)||^2 of Analog SGD; sigma is the TOTAL noise std (Gaussian(s): s*sqrt(D))",
    trajectory=lambda traj, **v: p1_quantities(traj, "w", **v),
)

THM2_FLOOR = Bound(
    name="p1.thm2.floor",
    expr=4 * sigma**2 * S_K,
    params=(sigma, S_K),
    kind="upper",
    reference="P1 Theorem 2, eq (9): limsup_K of the bound",
    assumptions=_ASSUME_THM2,
    description="asymptotic error of Analog SGD (K -> inf); S_K from the run",
    trajectory=lambda traj, **v: p1_quantities(traj, "w", **v),
)

THM9 = Bound(
    name="p1.thm9",
    expr=2 * f_gap * L / K * saturation_factor,
    params=(f_gap, L, K, W_max, tau),
    kind="upper",
    reference="P1 Theorem 9, eq (53) (App. F)",
    assumptions=("A1: f is L-smooth", "A2: f >= f*", "A4: ||W_k||_inf <= W_max < tau",
                 "exact gradients (sigma = 0)", "alpha = 1/L", "device: soft bounds, w_sym = 0"),
    description="(1/K) sum_k ||grad f(W_k)||^2 of Analog GD",
    trajectory=lambda traj, **v: p1_quantities(traj, "w", **v),
)

_ASSUME_THM3 = ("instance of P1 App. G.2: f = (L/2)||W - W*||^2, identical coordinates, W_0 = W*",
                "two-point state-dependent noise (noise.TwoPoint), total variance sigma^2",
                "|w*| <= tau/4, sigma <= tau L sqrt(D)/(4 sqrt 3), alpha <= min(1/(2L), 1/(L + 6 sigma/(tau sqrt D)))",
                "asymptotic: alpha -> 0 (the Theta(alpha) term vanishes)")

THM3_LOWER = Bound(
    name="p1.thm3.lower",
    expr=sigma**2 * S_K,
    params=(sigma, S_K),
    kind="lower",
    reference="P1 Theorem 3 (App. G.2) with the constant of D8 (docs/theory/derivations.md) / §2.4",
    assumptions=_ASSUME_THM3,
    description="(1/K) sum_k E||grad f||^2 on the lower-bound instance is >= sigma^2 S_K - Theta(alpha)",
    trajectory=lambda traj, **v: p1_quantities(traj, "w", **v),
)

THM3_LOWER_PRINTED = Bound(
    name="p1.thm3.lower_printed",
    expr=4 * sigma**2 * S_K,
    params=(sigma, S_K),
    kind="lower",
    reference="P1 Theorem 3 as printed (eq 98)",
    assumptions=_ASSUME_THM3,
    description="the printed constant: instance error = 4 sigma^2 S_K + Theta(alpha)",
    erratum="eq (98) drops the 1/2 in sqrt(p(1-p)) = sqrt(1 - w^2/tau^2)/2; the instance gives sigma^2 S_K "
            "(see p1.thm3.lower and proofs_checks/d08_two_point_noise.py)",
    trajectory=lambda traj, **v: p1_quantities(traj, "w", **v),
)

#: per-coordinate stationarity of the instance (D8 (docs/theory/derivations.md)): g + (w/τ) E|g + ξ| = 0 with
#: E|g + ξ| = (σ/√D)√(1 − w²/τ²) − (w/τ) g  and g = L(w − w*).
_g_inst = L * (w - w_star)
INSTANCE_EQUATION = _g_inst * (1 - w**2 / tau**2) + (w / tau) * (sigma / sp.sqrt(D)) * sp.sqrt(1 - w**2 / tau**2)


def _instance_bracket(L: Any, w_star: Any, sigma: Any, tau: Any, D: Any) -> tuple[Any, Any]:
    # the root lies between the symmetric point 0 and w* (drift toward 0 and gradient toward w*)
    ws = np.asarray(w_star, dtype=float)
    return np.minimum(ws, 0.0), np.maximum(ws, 0.0)


THM3_INSTANCE_FLOOR = Bound(
    name="p1.thm3.instance_floor",
    expr=sigma**2 * (w**2 / tau**2) / (1 - w**2 / tau**2),
    params=(L, w_star, sigma, tau, D),
    kind="asymptotic",
    reference="P1 Theorem 3 instance (App. G.2, eqs 66-68); D8 (docs/theory/derivations.md) "
              "mean-field stationary value",
    assumptions=_ASSUME_THM3,
    description="stationary ||grad f||^2 = D g^2 of the instance at the mean-field root w_s (alpha -> 0)",
    rtol=0.1,
    equation=INSTANCE_EQUATION,
    unknown=w,
    bracket=_instance_bracket,
)

THM3_INSTANCE_FLOOR_PRINTED = Bound(
    name="p1.thm3.instance_floor_printed",
    expr=4 * sigma**2 * (w**2 / tau**2) / (1 - w**2 / tau**2),
    params=(L, w_star, sigma, tau, D),
    kind="asymptotic",
    reference="P1 Theorem 3 as printed (4 sigma^2 S at the stationary point)",
    assumptions=_ASSUME_THM3,
    description="the printed constant evaluated at the same stationary point",
    rtol=0.1,
    erratum="eq (98) drops a factor 1/2; the instance floor is sigma^2 S (p1.thm3.instance_floor)",
    equation=INSTANCE_EQUATION,
    unknown=w,
    bracket=_instance_bracket,
)

_ASSUME_THM4 = ("A1-A4", "A5: coordinates iid, E[eps_i^2] <= sigma^2/D, E|g + eps_i| >= c sigma",
                "beta = 8 alpha L tau^2 D / sigma^2 (proof, eq 138)", "Tiki-Taka, gamma = 0, soft bounds")

THM4_P_MAX_SQ = Bound(
    name="p1.thm4.p_max_sq",
    expr=41 * L**2 * tau**4 * D / (c**2 * sigma**2),
    params=(L, tau, D, c, sigma),
    kind="upper",
    reference="P1 Theorem 4 / Lemma 7 (App. H)",
    assumptions=_ASSUME_THM4,
    description="bound on E||P_k||_inf^2 of the Tiki-Taka auxiliary array",
    trajectory=lambda traj, **v: _tt_quantities(traj, **v),
)

THM4_RATE = Bound(
    name="p1.thm4.rate",
    expr=sp.sqrt(f_gap * sigma**2 * L / K) / (1 - 33 * P_max**2 / tau**2),
    params=(f_gap, sigma, L, K, P_max, tau),
    kind="upper",
    reference="P1 Theorem 4, eq (14) (O(.) constant taken as 1)",
    assumptions=_ASSUME_THM4 + ("33 P_max^2 / tau^2 < 1 (else the statement is void)",),
    description="order of (1/K) sum_k E||grad f(W_k)||^2 of Tiki-Taka: the rate term only, no asymptotic term",
)

THM4_C_GAUSSIAN = Bound(
    name="p1.thm4.c_gaussian",
    expr=sp.sqrt(2 / (sp.pi * D)),
    params=(D,),
    kind="exact",
    reference="P1 Assumption 5 / App. D.2; docs/theory/device-model.md#noise-model (D1 with per-coordinate variance "
              "sigma^2/D)",
    assumptions=("eps_i ~ N(0, sigma^2/D)",),
    description="largest c with E|g + eps_i| >= c sigma for all g",
)

THM4_C_PRINTED = Bound(
    name="p1.thm4.c_printed",
    expr=sp.sqrt(2 / sp.pi) + 0 * D,
    params=(D,),
    kind="exact",
    reference="P1 App. D.2 as printed (c = sqrt(2/pi))",
    assumptions=("eps ~ N(0, sigma^2) (the appendix's computation)",),
    description="the printed constant",
    erratum="sqrt(2/pi) is the constant for coordinate variance sigma^2; Assumption 5 has sigma^2/D, "
            "so c = sqrt(2/(pi D)) (p1.thm4.c_gaussian)",
)


def _tt_quantities(traj: Any, **values: Any) -> dict[str, Any]:
    out = p1_quantities(traj, "p", **values)
    out["P_max"] = out["saturation_max"] * out["tau"]                 # max_k ||P_k||_inf per trial (w_sym = 0)
    out["P_max_sq_empirical"] = out["P_max"] ** 2
    return out


BOUNDS_P1 = (THM2, THM2_FLOOR, THM9, THM3_LOWER, THM3_LOWER_PRINTED, THM3_INSTANCE_FLOOR,
             THM3_INSTANCE_FLOOR_PRINTED, THM4_P_MAX_SQ, THM4_RATE, THM4_C_GAUSSIAN, THM4_C_PRINTED)


# -- step sizes and conditions ----------------------------------------------------------------

def asgd_step_size(f_gap: ArrayLike, sigma: ArrayLike, L: ArrayLike, K: ArrayLike) -> Any:
    r"""P1 Theorem 2's step size α = √((f(W₀) − f*)/(σ²LK)) (σ = total noise std)."""
    return np.sqrt(np.asarray(f_gap, float) / (np.asarray(sigma, float) ** 2 * np.asarray(L, float)
                                               * np.asarray(K, float)))


def asgd_step_size_valid(f_gap: ArrayLike, sigma: ArrayLike, L: ArrayLike, K: ArrayLike) -> Any:
    """Whether Theorem 2's α satisfies the proof's condition α ≤ 1/(2L) (bool array)."""
    return asgd_step_size(f_gap, sigma, L, K) <= 1.0 / (2.0 * np.asarray(L, float))


def asgd_min_iterations(f_gap: ArrayLike, sigma: ArrayLike, L: ArrayLike) -> Any:
    """Smallest K with α ≤ 1/(2L): K ≥ 4L(f(W₀) − f*)/σ²."""
    return np.ceil(4.0 * np.asarray(L, float) * np.asarray(f_gap, float) / np.asarray(sigma, float) ** 2)


def gaussian_c(D: ArrayLike) -> Any:
    """Assumption-5 constant of N(0, σ²/D) coordinates: √(2/(πD))."""
    return np.sqrt(2.0 / (math.pi * np.asarray(D, float)))


def tt_condition_value(L: ArrayLike, tau: ArrayLike, D: ArrayLike, sigma: ArrayLike,
                       c: ArrayLike | None = None) -> Any:
    r"""33 P²max/τ² = 33·41 L²τ²D/(c²σ²) of P1 Theorem 4 (σ = total noise std).

    ``c`` defaults to the Gaussian value √(2/(πD)) of Assumption 5 (per-coordinate variance σ²/D).
    """
    D_arr = np.asarray(D, float)
    c_arr = gaussian_c(D_arr) if c is None else np.asarray(c, float)
    p_max_sq = THM4_P_MAX_SQ(L=L, tau=tau, D=D_arr, c=c_arr, sigma=sigma)
    return 33.0 * p_max_sq / np.asarray(tau, float) ** 2


def tt_condition_holds(L: ArrayLike, tau: ArrayLike, D: ArrayLike, sigma: ArrayLike,
                       c: ArrayLike | None = None) -> Any:
    """Whether P1 Theorem 4's condition 33 P²max/τ² < 1 holds (bool array)."""
    return tt_condition_value(L, tau, D, sigma, c) < 1.0


def tt_beta_statement(alpha: ArrayLike, L: ArrayLike) -> Any:
    """β as printed in the statement of P1 Theorem 4: 8αL."""
    return 8.0 * np.asarray(alpha, float) * np.asarray(L, float)


def tt_beta_proof(alpha: ArrayLike, L: ArrayLike, tau: ArrayLike, D: ArrayLike, sigma: ArrayLike) -> Any:
    """β as used in the proof (eq 138): 8αLτ²D/σ²."""
    return 8.0 * np.asarray(alpha, float) * np.asarray(L, float) * np.asarray(tau, float) ** 2 \
        * np.asarray(D, float) / np.asarray(sigma, float) ** 2


# : P1 Fig. 3 settings (P1 experiments (docs/theory/theorems.md#p1-experiments); docs/theory/theorems.md#property-checks
# (property 16)): L ≈ 0.66 (largest Hessian eigenvalue of the
#: LS problem), τ ∈ {1, 1.5, 2, 2.5}, D = 41 weights (40 + bias), σ² ≈ 0.41 (total variance, code: std 0.1
#: per coordinate → 0.01·41).
FIG3_SETTINGS: dict[str, Any] = {"L": 0.66, "tau": np.array([1.0, 1.5, 2.0, 2.5]), "D": 41, "sigma": math.sqrt(0.41)}

__all__ = ["BOUNDS_P1", "THM2", "THM2_FLOOR", "THM9", "THM3_LOWER", "THM3_LOWER_PRINTED", "THM3_INSTANCE_FLOOR",
           "THM3_INSTANCE_FLOOR_PRINTED", "THM4_P_MAX_SQ", "THM4_RATE", "THM4_C_GAUSSIAN", "THM4_C_PRINTED",
           "INSTANCE_EQUATION",
           "asgd_step_size", "asgd_step_size_valid", "asgd_min_iterations", "gaussian_c", "tt_condition_value",
           "tt_condition_holds", "tt_beta_statement", "tt_beta_proof", "FIG3_SETTINGS"]
