r"""How tight are the upper bounds? A worst-case search over each bound's instance space.

A bound that holds with a large margin on random instances says little about an algorithm that
matches it: a broken algorithm can pass with room to spare. This module searches, for an upper bound
of :mod:`convergence.theory.bounds`, the instance that maximises

.. math:: r = \frac{\text{measured}}{\text{bound}},

the *tightness ratio*: r near 1 means the bound is tight; r > 1 (beyond the statistical margin)
means it is violated, and the instance is then reproducible from its parameters and seed.

Instance spaces (docs/theory/theorems.md#bound-tightness). Both P1 bounds are invariant under
w → w/τ, f → f/(Lτ²), so L = τ = 1 loses no generality, and a one-dimensional quadratic
f(w) = ½(w − w*)² realises the worst constants of the rate terms (the isotropic case has every
coordinate at the largest curvature):

* ``p1.thm2`` (Analog SGD, P1 Theorem 2): the optimum u* = w*/τ, the step size through αL ∈ (0, ½]
  (the theorem's α = √((f₀ − f*)/(σ²LK)) then fixes the start u₀ = u* ± αL·σ√(2K)/L), the noise
  model (Gaussian or P1's two-point noise), σ and K. Measured: (1/K) Σ_{k<K} ‖∇f(W_k)‖², every step,
  averaged over ``reps`` trials per instance.
* ``p1.thm9`` (Analog GD, P1 Theorem 9, α = 1/L, σ = 0): u* and u₀, K. Deterministic.
* ``p2.remark1`` (generic Analog SGD without saturation, P2 Remark 1, P2 Theorem 2's step size): as
  ``p1.thm2`` (Gaussian noise) on the power-response device with γ on a grid.
* ``p2.thm6`` (Analog GD on a generic device, P2 Theorem 6, α = 1/(L F_max), σ = 0): u* and u₀ on the
  power-response device q± = (1 ∓ w/τ)^γ with γ on a grid (γ = 1 is soft bounds). Deterministic.

The search is a declared, seeded procedure: (1) ``n_random`` instances drawn uniformly from the space
(their largest ratio is the *random-instance* reference), (2) ``rounds`` of local refinement around
the ``top`` best (Gaussian perturbations, shrinking), all candidates of a round simulated in one
batched run (one trial per candidate and repeat, a per-trial step size and optimum), (3) the best
instance re-measured with fresh random numbers and ``confirm_reps`` repeats, so its ratio is not
biased upward by the selection (winner's curse).

Why no instance of P1 Theorem 2 comes near 1 (docs/theory/theorems.md#bound-tightness): for SGD on
the quadratic, the transient and the stationary noise give (1/K) Σ ‖∇f‖² ≤ 3ασ²L/(2 − αL) against
the bound's rate term 4ασ²L, so r ≤ 3/(4(2 − αL)) ≤ ½ at the largest allowed step αL = ½
(:func:`rate_ceiling_p1_thm2`); the analog floor obeys g² ≤ σ²S at the mean-field fixed point
(Jensen's inequality on E|g + ε|), against the bound's 4σ²S: r ≤ ¼.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from convergence._validate import ConfigError, positive_int
from convergence.physics.devices import Power, SoftBounds
from convergence.sim.algorithms import analog_sgd
from convergence.sim.noise import Gaussian, NoNoise, TwoPoint
from convergence.sim.objectives import Quadratic
from convergence.sim.simulate import simulate
from convergence.theory.bounds import get_bound

__all__ = ["Evaluation", "SearchResult", "evaluate_p1_thm2", "evaluate_p1_thm9", "evaluate_p2_thm6",
           "evaluate_p2_remark1", "search", "SPACES",
           "rate_ceiling_p1_thm2"]

#: the P1 Theorem 2 step size is capped at α ≤ 1/(2L); αL is searched in (0, ½]
_AL_MAX = 0.5
#: optimum and start stay inside (−U_MAX, U_MAX)·τ (A4 needs ‖W‖∞ < τ along the whole run)
_U_MAX = 0.98


@dataclass(frozen=True)
class Evaluation:
    """Per-instance results of one batched evaluation (arrays of shape (n,))."""

    params: dict[str, np.ndarray]
    """The instance parameters (name -> (n,) array), in the search space's coordinates."""
    measured: np.ndarray
    """Mean over repeats of the bound's left side."""
    stderr: np.ndarray
    """Standard error of ``measured`` over the repeats (0 for deterministic instances)."""
    bound: np.ndarray
    """The bound evaluated with the run's own S_K, W_max (mean S_K, largest W_max over repeats)."""
    valid: np.ndarray
    """The theorem's assumptions hold on the run (step size allowed, ‖W_k‖∞ < τ, every trial finite)."""

    @property
    def ratio(self) -> np.ndarray:
        """measured / bound (NaN where the instance is not valid)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.valid, self.measured / self.bound, np.nan)

    @property
    def ratio_stderr(self) -> np.ndarray:
        """Standard error of :attr:`ratio` (the bound is a function of the run; its spread is ignored)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.valid, self.stderr / self.bound, np.nan)

    def take(self, idx: Any) -> "Evaluation":
        """The instances ``idx`` (an index array)."""
        return Evaluation({k: v[idx] for k, v in self.params.items()}, self.measured[idx], self.stderr[idx],
                          self.bound[idx], self.valid[idx])

    @staticmethod
    def concat(parts: list["Evaluation"]) -> "Evaluation":
        keys = parts[0].params
        return Evaluation({k: np.concatenate([p.params[k] for p in parts]) for k in keys},
                          *(np.concatenate([getattr(p, a) for p in parts]) for a in ("measured", "stderr", "bound",
                                                                                     "valid")))


def _per_instance(per_trial: np.ndarray, n: int, reps: int) -> tuple[np.ndarray, np.ndarray]:
    x = per_trial.reshape(n, reps)
    se = x.std(axis=1, ddof=1) / math.sqrt(reps) if reps > 1 else np.zeros(n)
    return x.mean(axis=1), se


def _asgd_instances(u_star: Any, step: Any, side: Any, *, sigma: float, K: int, noise: str, reps: int, seed: Any,
                    device: Any, f_max: float, step_max: float, record_w: bool = False) -> tuple[Any, ...]:
    """One batched Analog SGD run of 1-D instances (L = τ = 1) at the step-size rule α = √(f₀/(σ²K))/F_max.

    ``step`` = αL·F_max ∈ (0, ``step_max``]; the start u₀ = u* + side·step·σ√(2K) makes f₀ − f* =
    ½(u₀ − u*)² = step²σ²K, so that α = step/F_max. Returns (traj, u_star, step, side, u0, f_gap, alpha,
    inside, n).
    """
    u_star, step, side = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (u_star, step, side))
    n = u_star.size
    if not (step.size == side.size == n):
        raise ConfigError("u_star, the step sizes and side must have the same length")
    reps, K = positive_int("reps", reps), positive_int("K", K)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ConfigError(f"sigma must be a positive finite number (got {sigma!r})")
    step = np.clip(step, 1e-6, step_max)
    side = np.where(side >= 0, 1.0, -1.0)
    u0 = u_star + side * step * sigma * math.sqrt(2.0 * K)
    inside = (np.abs(u0) < _U_MAX) & (np.abs(u_star) < _U_MAX)
    u0 = np.where(inside, u0, u_star + side * 1e-3)           # keep invalid instances finite; they are masked
    f_gap = 0.5 * (u0 - u_star) ** 2
    alpha = np.sqrt(f_gap / (sigma**2 * K)) / f_max
    nz = Gaussian(sigma) if noise == "gaussian" else TwoPoint(sigma, 1.0) if noise == "twopoint" else None
    if nz is None:
        raise ConfigError(f"noise must be 'gaussian' or 'twopoint' (got {noise!r})")
    obj = Quadratic(d=1, L=1.0, w_star=np.repeat(u_star, reps)[:, None])
    traj = simulate(analog_sgd(np.repeat(alpha, reps)[:, None], device), obj, nz, np.repeat(u0, reps)[:, None], K,
                    trials=n * reps, seed=seed, record_every=1, record_w=record_w, progress=False)
    return traj, u_star, step, side, u0, f_gap, alpha, inside, n


def evaluate_p1_thm2(u_star: Any, alpha_l: Any, side: Any, *, sigma: float, K: int, noise: str = "gaussian",
                     reps: int = 64, seed: Any = 0) -> Evaluation:
    r"""Measure P1 Theorem 2's ratio on a batch of 1-D instances (L = τ = 1), ``reps`` trials each.

    Instance i: f(w) = ½(w − u*_i)², Analog SGD on SoftBounds(τ = 1) in expected mode at the theorem's
    α_i = √((f₀ − f*)/(σ²K)) = ``alpha_l[i]`` (L = 1), started from u₀ = u* + side·α_i σ √(2K)
    (``side`` = ±1), noise ``gaussian`` (N(0, σ²)) or ``twopoint`` (P1's lower-bound noise of total
    variance σ²). One simulation runs every instance and repeat (trial t = i·reps + r).
    """
    traj, u_star, alpha_l, side, u0, f_gap, alpha, inside, n = _asgd_instances(
        u_star, alpha_l, side, sigma=sigma, K=K, noise=noise, reps=reps, seed=seed, device=SoftBounds(1.0),
        f_max=1.0, step_max=_AL_MAX)
    thm2 = get_bound("p1.thm2")
    v = thm2.from_trajectory(traj, tau=1.0)
    measured, se = _per_instance(v["measured"], n, reps)
    s_k = v["S_K"].reshape(n, reps).mean(axis=1)
    w_max = v["W_max"].reshape(n, reps).max(axis=1)
    ok = traj.ok.reshape(n, reps).all(axis=1)
    valid = inside & ok & (w_max < 1.0) & (alpha <= _AL_MAX + 1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(valid, thm2(f_gap=f_gap, sigma=sigma, L=1.0, K=K, W_max=np.minimum(w_max, 0.999999),
                                     tau=1.0, S_K=s_k), np.nan)
    params = {"u_star": u_star, "alpha_l": alpha_l, "side": side, "u0": u0,
              "sigma": np.full(n, sigma), "K": np.full(n, float(K)),
              "noise": np.full(n, 0.0 if noise == "gaussian" else 1.0)}
    return Evaluation(params, measured, se, bound, valid)


def evaluate_p2_remark1(u_star: Any, alpha_l: Any, side: Any, *, sigma: float, K: int, gamma: float,
                        noise: str = "gaussian", reps: int = 64, seed: Any = 0) -> Evaluation:
    r"""P2 Remark 1's ratio on 1-D instances on the power device q± = (1 ∓ w)^γ (L = τ = 1).

    Step size P2 Theorem 2's α = (1/F_max)√((f₀ − f*)/(σ²LK)) with ``alpha_l`` = αLF_max ∈ (0, ¼];
    the bound uses the run's M_min = min_k q+(w_k)q-(w_k) and S_K^ASGD (mean over repeats).
    """
    from convergence.theory.bounds.wu2025 import f_max

    dev = Power(1.0, float(gamma))
    fm = f_max(dev)
    traj, u_star, alpha_l, side, u0, f_gap, alpha, inside, n = _asgd_instances(
        u_star, alpha_l, side, sigma=sigma, K=K, noise=noise, reps=reps, seed=seed, device=dev, f_max=fm,
        step_max=0.25, record_w=True)
    w = traj.w[..., 0]                                        # (step, trial)
    with np.errstate(over="ignore", invalid="ignore"):
        m = np.min(dev.q_plus(w) * dev.q_minus(w), axis=0).reshape(n, reps).min(axis=1)
    measured, se = _per_instance(traj.metrics["grad_norm_sq"].mean(axis=0), n, reps)
    s_k = traj.metrics["s_k_generic_w"][-1].reshape(n, reps).mean(axis=1)
    ok = traj.ok.reshape(n, reps).all(axis=1)
    valid = inside & ok & (m > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(valid, get_bound("p2.remark1")(f_gap=f_gap, sigma=sigma, L=1.0, K=K, F_max=fm,
                                                          M_min=np.where(m > 0, m, 1.0), S_K_asgd=s_k), np.nan)
    params = {"u_star": u_star, "alpha_l": alpha_l, "side": side, "u0": u0, "sigma": np.full(n, sigma),
              "K": np.full(n, float(K)), "noise": np.full(n, 0.0 if noise == "gaussian" else 1.0),
              "gamma": np.full(n, float(gamma))}
    return Evaluation(params, measured, se, bound, valid)


def evaluate_p1_thm9(u_star: Any, u0: Any, *, K: int) -> Evaluation:
    r"""P1 Theorem 9's ratio (Analog GD, α = 1/L, σ = 0) on 1-D instances (L = τ = 1); deterministic."""
    u_star, u0 = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (u_star, u0))
    n = u_star.size
    K = positive_int("K", K)
    inside = (np.abs(u0) < _U_MAX) & (np.abs(u_star) < _U_MAX) & (u0 != u_star)
    u0 = np.where(inside, u0, u_star + 1e-3)
    obj = Quadratic(d=1, L=1.0, w_star=u_star[:, None])
    traj = simulate(analog_sgd(1.0, SoftBounds(1.0)), obj, NoNoise(), u0[:, None], K, trials=n, seed=0,
                    record_every=1, progress=False)
    thm9 = get_bound("p1.thm9")
    v = thm9.from_trajectory(traj, tau=1.0)
    valid = inside & traj.ok & (v["W_max"] < 1.0)
    f_gap = 0.5 * (u0 - u_star) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(valid, thm9(f_gap=f_gap, L=1.0, K=K, W_max=np.minimum(v["W_max"], 0.999999), tau=1.0),
                         np.nan)
    params = {"u_star": u_star, "u0": u0, "K": np.full(n, float(K))}
    return Evaluation(params, np.asarray(v["measured"], float), np.zeros(n), bound, valid)


def evaluate_p2_thm6(u_star: Any, u0: Any, *, K: int, gamma: float) -> Evaluation:
    r"""P2 Theorem 6's ratio (Analog GD, α = 1/(L F_max), σ = 0) on 1-D instances, L = τ = 1, power device γ.

    The bound 2L(f₀ − f*)F²_max/(K M_min) uses M_min = min_k q+(W_k)q-(W_k) of the run itself.
    """
    from convergence.theory.bounds.wu2025 import f_max

    u_star, u0 = (np.atleast_1d(np.asarray(a, dtype=float)) for a in (u_star, u0))
    n = u_star.size
    K = positive_int("K", K)
    dev = Power(1.0, float(gamma))
    fm = f_max(dev)
    inside = (np.abs(u0) < _U_MAX) & (np.abs(u_star) < _U_MAX) & (u0 != u_star)
    u0 = np.where(inside, u0, u_star + 1e-3)
    traj = simulate(analog_sgd(1.0 / fm, dev), Quadratic(d=1, L=1.0, w_star=u_star[:, None]), NoNoise(), u0[:, None],
                    K, trials=n, seed=0, record_every=1, record_w=True, progress=False)
    w = traj.w[..., 0]                                        # (recorded step, trial)
    with np.errstate(over="ignore", invalid="ignore"):        # diverged runs are masked as invalid below
        m_min = np.min(dev.q_plus(w) * dev.q_minus(w), axis=0)
    measured = traj.metrics["grad_norm_sq"].mean(axis=0)
    valid = inside & traj.ok & (m_min > 0)
    f_gap = 0.5 * (u0 - u_star) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(valid, get_bound("p2.thm6")(f_gap=f_gap, L=1.0, K=K, F_max=fm, M_min=m_min), np.nan)
    params = {"u_star": u_star, "u0": u0, "K": np.full(n, float(K)), "gamma": np.full(n, float(gamma))}
    return Evaluation(params, measured, np.zeros(n), bound, valid)


@dataclass(frozen=True)
class Space:
    """An instance space: how to draw, perturb and evaluate instances of one bound."""

    bound: str
    """The bound's registered name."""
    groups: tuple[dict[str, Any], ...]
    """Settings shared by one batched run (e.g. σ, K, noise); the search covers every group."""
    draw: Callable[[np.random.Generator, int], dict[str, np.ndarray]]
    """``draw(rng, n)`` -> n uniform instances (free parameters only)."""
    perturb: Callable[[np.random.Generator, dict[str, np.ndarray], float], dict[str, np.ndarray]]
    """``perturb(rng, params, scale)`` -> perturbed copies (same shapes)."""
    evaluate: Callable[..., Evaluation]
    """``evaluate(**free, **group, reps=, seed=)``."""
    free: tuple[str, ...]
    """Names of the free parameters passed to ``evaluate``."""
    stochastic: bool = True
    """False for deterministic instances (no repeats, no confirmation run)."""


def _draw_thm2(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {"u_star": rng.uniform(-_U_MAX, _U_MAX, n), "alpha_l": rng.uniform(0.0, _AL_MAX, n),
            "side": rng.choice([-1.0, 1.0], n)}


def _perturb_thm2(rng: np.random.Generator, p: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    n = p["u_star"].size
    flip = rng.random(n) < 0.1 * scale
    return {"u_star": np.clip(p["u_star"] + scale * 0.3 * rng.standard_normal(n), -_U_MAX, _U_MAX),
            "alpha_l": np.clip(p["alpha_l"] + scale * 0.15 * rng.standard_normal(n), 1e-3, _AL_MAX),
            "side": np.where(flip, -p["side"], p["side"])}


def _draw_thm9(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    return {"u_star": rng.uniform(-_U_MAX, _U_MAX, n), "u0": rng.uniform(-_U_MAX, _U_MAX, n)}


def _perturb_thm9(rng: np.random.Generator, p: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    n = p["u_star"].size
    return {k: np.clip(p[k] + scale * 0.3 * rng.standard_normal(n), -_U_MAX, _U_MAX) for k in ("u_star", "u0")}


def _eval_thm9(*, u_star: Any, u0: Any, K: int, reps: int = 1, seed: Any = 0) -> Evaluation:
    return evaluate_p1_thm9(u_star, u0, K=K)


def _eval_thm6(*, u_star: Any, u0: Any, K: int, gamma: float, reps: int = 1, seed: Any = 0) -> Evaluation:
    return evaluate_p2_thm6(u_star, u0, K=K, gamma=gamma)


def _draw_remark1(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    d = _draw_thm2(rng, n)
    d["alpha_l"] = d["alpha_l"] / 2                            # αLF_max ∈ (0, ¼]
    return d


def _perturb_remark1(rng: np.random.Generator, p: dict[str, np.ndarray], scale: float) -> dict[str, np.ndarray]:
    d = _perturb_thm2(rng, p, scale)
    d["alpha_l"] = np.clip(d["alpha_l"], 1e-3, 0.25)
    return d


def spaces(Ks: tuple[int, ...] = (100, 1000), sigmas: tuple[float, ...] = (0.03, 0.3),
           gammas: tuple[float, ...] = (0.5, 1.0, 2.0)) -> dict[str, Space]:
    """The searched instance spaces, one per bound, with the σ, K and γ grids given."""
    thm2_groups = tuple({"sigma": s, "K": k, "noise": nz} for nz in ("gaussian", "twopoint") for s in sigmas
                        for k in Ks)
    return {
        "p1.thm2": Space("p1.thm2", thm2_groups, _draw_thm2, _perturb_thm2, evaluate_p1_thm2,
                         ("u_star", "alpha_l", "side")),
        "p1.thm9": Space("p1.thm9", tuple({"K": k} for k in Ks), _draw_thm9, _perturb_thm9, _eval_thm9,
                         ("u_star", "u0"), stochastic=False),
        "p2.thm6": Space("p2.thm6", tuple({"K": k, "gamma": g} for g in gammas for k in Ks), _draw_thm9,
                         _perturb_thm9, _eval_thm6, ("u_star", "u0"), stochastic=False),
        "p2.remark1": Space("p2.remark1", tuple({"sigma": s, "K": k, "noise": "gaussian", "gamma": g} for g in gammas
                                                for s in sigmas for k in Ks), _draw_remark1, _perturb_remark1,
                            evaluate_p2_remark1, ("u_star", "alpha_l", "side")),
    }


#: the default spaces (P1 Theorems 2 and 9, P2 Theorem 6 and Remark 1)
SPACES = spaces()


@dataclass(frozen=True)
class SearchResult:
    """What a worst-case search found for one bound."""

    bound: str
    """The bound's name."""
    random: Evaluation
    """Stage 1: the uniformly drawn instances."""
    refined: Evaluation
    """Stage 2: every instance evaluated during refinement."""
    best: dict[str, float]
    """The tightest instance's parameters (search coordinates)."""
    best_ratio: float
    """Its ratio re-measured with fresh random numbers (stage 3)."""
    best_ratio_stderr: float
    """Standard error of ``best_ratio`` (0 for deterministic spaces)."""
    random_max: float
    """Largest ratio among the random instances (stage 1)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def verdict(self, *, k: float = 3.0, tight_at: float = 0.5) -> str:
        """``violated`` (ratio − k·SE > 1), ``tight`` (ratio ≥ ``tight_at``) or ``loose by N×``."""
        if self.best_ratio - k * self.best_ratio_stderr > 1.0:
            return "violated"
        if self.best_ratio >= tight_at:
            return "tight"
        return f"loose by {1.0 / self.best_ratio:.2g}x" if self.best_ratio > 0 else "loose"


def _evaluate_all(space: Space, free: dict[str, np.ndarray], group_idx: np.ndarray, reps: int,
                  seed: np.random.SeedSequence) -> Evaluation:
    """Evaluate instances belonging to several groups: one batched run per group (seed per group)."""
    parts, order = [], []
    kids = seed.spawn(len(space.groups))
    for g, grp in enumerate(space.groups):
        idx = np.flatnonzero(group_idx == g)
        if idx.size == 0:
            continue
        ev = space.evaluate(**{k: free[k][idx] for k in space.free}, **grp, reps=reps, seed=kids[g])
        ev.params["group"] = np.full(idx.size, float(g))
        parts.append(ev)
        order.append(idx)
    out = Evaluation.concat(parts)
    inv = np.empty(group_idx.size, dtype=np.int64)
    inv[np.concatenate(order)] = np.arange(group_idx.size)
    return out.take(inv)


def search(space: Space, seed: int | np.random.SeedSequence = 0, *, n_random: int = 64, rounds: int = 3,
           top: int = 8, children: int = 8, reps: int = 32, confirm_reps: int = 256) -> SearchResult:
    """Search ``space`` for its largest measured/bound ratio (see the module docstring for the stages).

    ``n_random`` instances are drawn *per group*; every round perturbs the ``top`` best valid instances
    found so far ``children`` times each at a shrinking scale (1, ½, ¼, ...).
    """
    for name, v in (("n_random", n_random), ("top", top), ("children", children), ("reps", reps),
                    ("confirm_reps", confirm_reps)):
        positive_int(name, v)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
        raise ConfigError(f"rounds must be an integer >= 0 (got {rounds!r})")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    s_draw, s_rand, s_refine, s_confirm = ss.spawn(4)
    rng = np.random.default_rng(s_draw)
    reps = reps if space.stochastic else 1
    n_g = len(space.groups)
    draws = [space.draw(rng, n_random) for _ in range(n_g)]
    free = {k: np.concatenate([d[k] for d in draws]) for k in space.free}
    group_idx = np.repeat(np.arange(n_g), n_random)
    random_ev = _evaluate_all(space, free, group_idx, reps, s_rand)

    pool = random_ev
    refined_parts = []
    for r, s_round in enumerate(s_refine.spawn(rounds)):
        ratio = np.nan_to_num(pool.ratio, nan=-np.inf)
        best = np.argsort(-ratio)[:top]
        best = best[np.isfinite(ratio[best])]
        if best.size == 0:
            break
        parents = pool.take(np.repeat(best, children))
        child = space.perturb(rng, {k: parents.params[k] for k in space.free}, 0.5**r)
        ev = _evaluate_all(space, child, parents.params["group"].astype(np.int64), reps, s_round)
        refined_parts.append(ev)
        pool = Evaluation.concat([pool, ev])
    refined = Evaluation.concat(refined_parts) if refined_parts else random_ev.take(np.array([], dtype=np.int64))

    ratio = np.nan_to_num(pool.ratio, nan=-np.inf)
    i = int(np.argmax(ratio))
    if not np.isfinite(ratio[i]):
        raise ConfigError(f"no valid instance found for {space.bound}")
    winner = pool.take(np.array([i]))
    best = {k: float(v[0]) for k, v in winner.params.items()}
    if space.stochastic:
        g = int(best["group"])
        conf = space.evaluate(**{k: winner.params[k] for k in space.free}, **space.groups[g], reps=confirm_reps,
                              seed=s_confirm)
        best_ratio, best_se = float(conf.ratio[0]), float(conf.ratio_stderr[0])
    else:
        best_ratio, best_se = float(winner.ratio[0]), 0.0
    return SearchResult(space.bound, random_ev, refined, best, best_ratio, best_se,
                        float(np.nanmax(random_ev.ratio)), {"groups": list(space.groups)})


def rate_ceiling_p1_thm2(alpha_l: Any) -> Any:
    r"""The digital-quadratic ceiling of P1 Theorem 2's ratio at step αL: 3/(4(2 − αL)) (½ at αL = ½).

    Transient L²e₀² Σ_k (1 − αL)^{2k}/K ≤ 2ασ²L/(2 − αL) (the theorem's α makes f₀ − f* = α²σ²LK)
    plus the stationary noise ασ²L/(2 − αL), against the bound's rate term 4ασ²L.
    """
    a = np.asarray(alpha_l, dtype=float)
    return 3.0 / (4.0 * (2.0 - a))
