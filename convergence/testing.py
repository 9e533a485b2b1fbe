r"""Helpers for checking algorithms inside your own pytest / Hypothesis suites.

Assert the battery's claims (see :mod:`convergence.theory.battery`)::

    from convergence.testing import assert_claims

    def test_my_algorithm_is_exact():
        assert_claims(my_factory, expect="exact")                       # all claims, quick budget
        assert_claims(my_factory, ["stays-in-range", "floor-vs-lr"])    # a subset

Property tests over random instances with the strategies below (draw *seeds*, not generators;
inputs constrained to the theorems' hypotheses by construction)::

    from hypothesis import given
    from convergence.testing import stationary_floors, scalar_settings, step_sizes, seeds

    @given(s=scalar_settings(), lr=step_sizes(0.005, 0.05), seed=seeds())
    def test_floor_below_d3(s, lr, seed):
        (g,) = stationary_floors(my_factory, SoftBounds(s["tau"]), [lr], seed=seed, **s)
        ...

Strategies need the ``hypothesis`` package (a test dependency); importing this module
without it works, calling a strategy does not.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from convergence._validate import ConfigError, positive_int
from convergence.theory.battery import CLAIMS, CheckReport, check
from convergence.theory.battery._claims import Group, _group_stats
from convergence.theory.battery._target import make_algorithm, resolve_factory
from convergence.physics.devices import CLin, Device, Exponential, Power, SoftBounds
from convergence.sim.noise import Gaussian
from convergence.sim.objectives import Quadratic
from convergence.sim.simulate import simulate

__all__ = ["assert_claims", "stationary_floors", "Group", "CLAIM_NAMES", "seeds", "step_sizes",
           "soft_bounds", "zero_shifted_devices", "shifted_devices", "scalar_settings"]

#: the battery's claim names (for ``pytest.mark.parametrize``)
CLAIM_NAMES: tuple[str, ...] = tuple(CLAIMS)


def assert_claims(factory: Any, claims: str | Sequence[str] | None = None, *, budget: Any = "quick",
                  seed: int = 0, k: float = 3.0, expect: str | None = None, mode: Any = None) -> CheckReport:
    """Run :func:`convergence.check` and raise ``AssertionError`` (with the table) unless all claims hold.

    Returns the :class:`~convergence.theory.battery.CheckReport` for further assertions, e.g.
    ``assert_claims(f)["floor-vs-lr"].classification == "exact"``.
    """
    report = check(factory, claims, budget=budget, seed=seed, k=k, mode=mode, expect=expect)
    if not report.all_hold:
        raise AssertionError("property battery failed:\n" + report.table())
    return report


def stationary_floors(factory: Any, device: Device, lrs: Sequence[float], *, L: float = 1.0,
                      w_star: float = 0.5, sigma: float = 0.5, trials: int = 200, steps: int = 4000,
                      seed: int = 0, w0: float | None = None, tau: float | None = None) -> list[Group]:
    """Stationary statistics of ``factory`` on the scalar quadratic (L/2)(w − w*)² with N(0, σ²) noise.

    All step sizes run in one batched simulation (``trials`` per step size, the last half of
    ``steps`` as the tail). Returns one :class:`~convergence.theory.battery._claims.Group` per step
    size with ``grad_sq`` = E‖∇f‖² and ``bias`` = ‖E∇f‖² (de-biased), their standard errors
    across trials, the tail-mean weight and the number of ok / bad trials. ``tau`` is accepted
    (and ignored) so a settings dict from :func:`scalar_settings` can be splatted.
    """
    fac, _ = resolve_factory(factory)
    trials = positive_int("trials", trials)
    lrs = [float(x) for x in lrs]
    if not lrs or any(not (x > 0 and math.isfinite(x)) for x in lrs):
        raise ConfigError("lrs must be finite step sizes > 0")
    lr = np.repeat(np.asarray(lrs), trials)[:, None]
    obj = Quadratic(d=1, L=L, w_star=w_star)
    start = float(device.symmetric_point) if w0 is None else w0
    traj = simulate(make_algorithm(fac, lr, device), obj, Gaussian(sigma), start, steps,
                    trials=trials * len(lrs), seed=seed, record_every=5, tail=0.5)
    return [_group_stats(traj, slice(i * trials, (i + 1) * trials), x) for i, x in enumerate(lrs)]


# -- Hypothesis strategies -----------------------------------------------------------------------

def _st() -> Any:
    try:
        from hypothesis import strategies as st
    except ImportError as exc:  # pragma: no cover - hypothesis is a test dependency
        raise ImportError("convergence.testing strategies need the 'hypothesis' package") from exc
    return st


def seeds() -> Any:
    """Seeds for :func:`convergence.sim.simulate` (draw seeds, not generators)."""
    return _st().integers(0, 2**32 - 1)


def step_sizes(lo: float = 1e-3, hi: float = 0.1) -> Any:
    """Log-uniform step sizes in [lo, hi]."""
    if not 0 < lo <= hi:
        raise ConfigError(f"step_sizes needs 0 < lo <= hi (got {lo}, {hi})")
    return _st().floats(math.log(lo), math.log(hi)).map(math.exp)


def soft_bounds(tau: tuple[float, float] = (0.5, 4.0), w_sym: tuple[float, float] | None = None) -> Any:
    """SoftBounds(τ, w⋄) with τ in ``tau``; ``w_sym`` as a fraction of τ (default: 0, zero-shifted)."""
    st = _st()
    taus = st.floats(*tau)
    if w_sym is None:
        return taus.map(SoftBounds)
    return st.builds(lambda t, f: SoftBounds(t, f * t), taus, st.floats(*w_sym))


def zero_shifted_devices(tau: tuple[float, float] = (0.5, 4.0), gamma: tuple[float, float] = (0.5, 3.0)) -> Any:
    """Devices with G(0) = 0 (P2 Assumption 4): soft bounds, power and exponential responses."""
    st = _st()
    taus, gammas = st.floats(*tau), st.floats(*gamma)
    return st.one_of(taus.map(SoftBounds), st.builds(Power, taus, gammas), st.builds(Exponential, taus, gammas))


def shifted_devices(tau: tuple[float, float] = (0.5, 4.0), c: tuple[float, float] = (0.1, 0.5)) -> Any:
    """c_Lin devices with a shifted symmetric point w⋄ = cτ, c in ``c`` (P2 Fig. 2)."""
    st = _st()
    return st.builds(CLin, st.floats(*tau), st.floats(*c))


def scalar_settings(L: tuple[float, float] = (0.5, 2.0), tau: tuple[float, float] = (0.5, 3.0),
                    sigma: tuple[float, float] = (0.1, 1.0), w_star_frac: tuple[float, float] = (-0.6, 0.6)) -> Any:
    """Dicts ``{L, w_star, sigma, tau}`` for the scalar quadratic, with |w*| <= 0.6 τ by construction
    (the optimum lies well inside the range, P1 Assumption 4)."""
    st = _st()
    return st.builds(lambda L_, t, s, f: {"L": L_, "tau": t, "sigma": s, "w_star": f * t},
                     st.floats(*L), st.floats(*tau), st.floats(*sigma), st.floats(*w_star_frac))
