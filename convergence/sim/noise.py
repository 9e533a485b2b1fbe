r"""Gradient noise models: what the algorithm receives instead of ∇f(W).

Each model implements ``sample(objective, w, rng, grad=None) -> g`` where
``g`` has the shape of ``w`` (trials, d), ``rng`` is a Generator or
:class:`convergence.rng.TrialStreams`, and ``grad`` optionally passes an
already computed ∇f(w).

* :class:`NoNoise` — g = ∇f(W).
* :class:`Gaussian` — g = ∇f(W) + σ ξ, ξ ~ N(0, I): per-coordinate std σ, so
  E‖ε‖² = dσ² (the papers' code injects noise this way, docs/theory/device-model.md#noise-model).
* :class:`TwoPoint` — the state-dependent two-point noise of P1's lower-bound
  instance (P1 App. G.2, eqs 66–68; P1 Theorem 3 (docs/theory/theorems.md#p1-thm3)): ε = ξ·1 with
  ξ⁺ = (σ/√D)√((1−p)/p) w.p. p, ξ⁻ = −(σ/√D)√(p/(1−p)) w.p. 1−p, p = ½(1 − w/τ),
  so E ξ = 0 and E ξ² = σ²/D (total variance σ²). Coordinates share one uniform
  per trial; p is evaluated per coordinate (identical coordinates give ε = ξ·1).
* :class:`Minibatch` — the objective's gradient averaged over ``batch`` samples
  drawn uniformly with replacement.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, non_negative, positive, positive_int

Array = NDArray[np.float64]

__all__ = ["Noise", "NoNoise", "Gaussian", "TwoPoint", "Minibatch", "NOISES"]


class Noise:
    name: ClassVar[str] = "noise"

    def sample(self, objective: Any, w: Array, rng: Any, grad: Array | None = None) -> Array:  # pragma: no cover
        raise NotImplementedError

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict
        return {"name": self.name, **asdict(self)}  # type: ignore[call-overload]


@dataclass(frozen=True)
class NoNoise(Noise):
    """Exact gradients (Analog GD, P1 Theorem 9)."""

    name: ClassVar[str] = "none"

    def sample(self, objective: Any, w: Array, rng: Any, grad: Array | None = None) -> Array:
        return objective.grad(w) if grad is None else grad


@dataclass(frozen=True)
class Gaussian(Noise):
    """Additive N(0, σ²) noise on every coordinate (``sigma`` = per-coordinate std)."""

    sigma: float = 0.1
    name: ClassVar[str] = "gaussian"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", non_negative("sigma", self.sigma))

    def sample(self, objective: Any, w: Array, rng: Any, grad: Array | None = None) -> Array:
        g = objective.grad(w) if grad is None else grad
        if self.sigma == 0.0:
            return g
        eps = rng.standard_normal(w.shape)
        eps *= self.sigma
        eps += g
        return eps


@dataclass(frozen=True)
class TwoPoint(Noise):
    """P1's lower-bound two-point noise with total variance σ² and device radius τ."""

    sigma: float = 0.1
    tau: float = 1.0
    name: ClassVar[str] = "twopoint"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", non_negative("sigma", self.sigma))
        object.__setattr__(self, "tau", positive("tau", self.tau))

    def probabilities(self, w: Array) -> Array:
        """p = ½(1 − w/τ), clipped to [1e-12, 1 − 1e-12] so both outcomes stay finite."""
        return np.clip(0.5 * (1.0 - w / self.tau), 1e-12, 1.0 - 1e-12)

    def sample(self, objective: Any, w: Array, rng: Any, grad: Array | None = None) -> Array:
        g = objective.grad(w) if grad is None else grad
        p = self.probabilities(w)
        u = rng.random((w.shape[0], 1))
        scale = self.sigma / np.sqrt(w.shape[1])
        xi = np.where(u < p, scale * np.sqrt((1.0 - p) / p), -scale * np.sqrt(p / (1.0 - p)))
        return g + xi


@dataclass(frozen=True)
class Minibatch(Noise):
    """Minibatch sampling noise: average of ``batch`` per-sample gradients (with replacement)."""

    batch: int = 10
    name: ClassVar[str] = "minibatch"

    def __post_init__(self) -> None:
        object.__setattr__(self, "batch", positive_int("batch", self.batch))

    def sample(self, objective: Any, w: Array, rng: Any, grad: Array | None = None) -> Array:
        n = getattr(objective, "n_samples", None)
        if not n:
            raise ConfigError(f"minibatch noise needs an objective with samples (got {objective.name!r})")
        idx = np.floor(rng.random((w.shape[0], self.batch)) * n).astype(np.intp)
        return objective.sample_grad(w, idx)


NOISES: dict[str, type[Noise]] = {cls.name: cls for cls in (NoNoise, Gaussian, TwoPoint, Minibatch)}
