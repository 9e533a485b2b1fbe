r"""Device response functions q+(w), q-(w) and their symmetric/asymmetric parts.

A pulse of sign ``s`` moves an analog weight by ``s * dw_min * q_s(w)``; a
desired update ``dw`` is realised, to first order, as

.. math::  U_q(w, \Delta w) = w + \Delta w\,F(w) - |\Delta w|\,G(w),
           \quad F = (q_- + q_+)/2,\; G = (q_- - q_+)/2

(P2 eq 5, P1 eq 7). The symmetric point ``w_sym`` solves ``G(w_sym) = 0``.

Every device here is a frozen, hashable dataclass of scalars (usable as a
cache key). Device-to-device variation is *realised* into per-element arrays
by :func:`realize`, which returns a :class:`DeviceArray` with the same
interface. Devices whose responses are affine in ``w`` (ideal, constant
step, soft bounds, c_Lin, linear step) expose :meth:`Device.affine`, which the
pulsed update uses for its exact n-pulse closed form (P1 eq 15–16 iterated).

References:
    [P1] Wu et al., NeurIPS 2024, arXiv 2406.12774, §2.2 and App. C.
    [P2] Wu et al., NeurIPS 2025, arXiv 2502.06309, §1.1, §2, App. K.1.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Protocol, Union, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from convergence._validate import ConfigError, finite_float, in_open_interval, non_negative, positive
from convergence.rng import as_generator

Array = NDArray[np.float64]

__all__ = [
    "RealizedDevice", "Device", "Ideal", "ConstantStep", "SoftBounds", "CLin", "LinearStep", "Power", "Exponential",
    "Variation", "DeviceArray", "realize", "tau_sweep", "AnyDevice", "F", "G", "saturation", "DEVICES",
]


@runtime_checkable
class RealizedDevice(Protocol):
    r"""What the update rules need of a device: the responses and the range, per element or scalar.

    Implemented by the nominal :class:`Device` (scalars), its realisation :class:`DeviceArray` and
    aihwkit's reference device :class:`convergence.physics.reference_device.ReferenceArray`.
    A pulse of sign s moves w by ``s δ q_s(w)``; F = (q₋ + q₊)/2, G = (q₋ − q₊)/2 (P2 eq 5).
    """

    def q_plus(self, w: ArrayLike) -> Any:
        """q₊(w), the up-pulse response."""

    def q_minus(self, w: ArrayLike) -> Any:
        """q₋(w), the down-pulse response."""

    def F(self, w: ArrayLike) -> Any:
        """Symmetric component F(w)."""

    def G(self, w: ArrayLike) -> Any:
        """Asymmetric component G(w)."""

    @property
    def bounds(self) -> tuple[Any, Any]:
        """Range ``(w_min, w_max)`` of the weight (per element or scalar, may be infinite)."""

    @property
    def symmetric_point(self) -> Any:
        """w⋄ with G(w⋄) = 0."""

    def affine(self) -> tuple[Any, Any, Any, Any] | None:
        """``(a+, b+, a-, b-)`` with ``q±(w) = a± + b± w`` when the responses are affine, else None."""


class Device:
    """Base class of the response-function devices (subclasses are frozen dataclasses).

    Subclasses implement :meth:`q_plus`, :meth:`q_minus` and :attr:`bounds`.
    """

    name: ClassVar[str] = "device"
    #: equations shown in the README / ``convergence device``
    equations: ClassVar[str] = ""
    #: True when G/√F is non-decreasing on the range (lets the driver use row max/min)
    monotone_ratio: ClassVar[bool] = True

    # -- response -----------------------------------------------------------------
    def q_plus(self, w: ArrayLike) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def q_minus(self, w: ArrayLike) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def F(self, w: ArrayLike) -> Array:
        """Symmetric component F(w) = (q-(w) + q+(w)) / 2."""
        return 0.5 * (self.q_minus(w) + self.q_plus(w))

    def G(self, w: ArrayLike) -> Array:
        """Asymmetric component G(w) = (q-(w) - q+(w)) / 2."""
        return 0.5 * (self.q_minus(w) - self.q_plus(w))

    def ratio(self, w: ArrayLike) -> Array:
        """G(w)/√F(w), whose squared max-norm is P2's S_K^{ASGD} summand (P2 Thm 2). With this class's own F and G
        the responses q± are evaluated once for both (the same arithmetic)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            cls = type(self)
            if cls.F is Device.F and cls.G is Device.G:
                q_minus, q_plus = self.q_minus(w), self.q_plus(w)
                g, f = np.subtract(q_minus, q_plus), np.add(q_minus, q_plus)
                if type(g) is np.ndarray and type(f) is np.ndarray and g.shape == f.shape:   # in place: 2 arrays
                    np.multiply(g, 0.5, out=g)
                    np.multiply(f, 0.5, out=f)
                    return np.divide(g, np.sqrt(f, out=f), out=g)
                return (0.5 * g) / np.sqrt(0.5 * f)
            return self.G(w) / np.sqrt(self.F(w))

    # -- geometry -----------------------------------------------------------------
    @property
    def bounds(self) -> tuple[float, float]:
        """Dynamic range ``(w_min, w_max)`` (may be infinite)."""
        return (-math.inf, math.inf)

    @property
    def dynamic_range(self) -> float:
        lo, hi = self.bounds
        return hi - lo

    @property
    def symmetric_point(self) -> float:
        """The point where q+ = q- (G = 0), found by bisection on G over the range."""
        lo, hi = self.bounds
        return float(_bisect_zero(self.G, np.asarray(lo, float), np.asarray(hi, float)))

    def affine(self) -> tuple[float, float, float, float] | None:
        """``(a+, b+, a-, b-)`` with ``q±(w) = a± + b± w`` if the responses are affine, else None."""
        return None

    def spec(self) -> str:
        """The CLI spec string ``name:key=value,...`` that rebuilds this device."""
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)]  # type: ignore[arg-type]
        return self.name + (":" + ",".join(parts) if parts else "")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}  # type: ignore[arg-type]


def _is_f32(w: Any) -> bool:
    """True for float32 arrays, whose responses are computed in float32 (dtype-preserving)."""
    return isinstance(w, np.ndarray) and w.dtype == np.float32


def _affine_F_G(dev: Any) -> tuple[float, float, float, float]:
    """Coefficients (f0, f1, g0, g1) with F = f0 + f1 w, G = g0 + g1 w for an affine device."""
    ap, bp, am, bm = dev.affine()
    return 0.5 * (am + ap), 0.5 * (bm + bp), 0.5 * (am - ap), 0.5 * (bm - bp)


class _AffineDevice(Device):
    def q_plus(self, w: ArrayLike) -> Array:
        a, b, _, _ = self.affine()  # type: ignore[misc]
        return a + b * np.asarray(w, dtype=float)

    def q_minus(self, w: ArrayLike) -> Array:
        _, _, a, b = self.affine()  # type: ignore[misc]
        return a + b * np.asarray(w, dtype=float)

    @property
    def symmetric_point(self) -> float:
        f0, f1, g0, g1 = _affine_F_G(self)
        if g1 == 0.0:
            return 0.0 if g0 == 0.0 else math.nan
        return -g0 / g1


@dataclass(frozen=True)
class Ideal(_AffineDevice):
    """Ideal device: q+ = q- = 1, so the analog update is the digital one (unbounded)."""

    name: ClassVar[str] = "ideal"
    equations: ClassVar[str] = "q+ = q- = 1; F = 1, G = 0"

    def affine(self) -> tuple[float, float, float, float]:
        return (1.0, 0.0, 1.0, 0.0)

    @property
    def symmetric_point(self) -> float:
        return 0.0  # every point is symmetric; 0 by convention


@dataclass(frozen=True)
class ConstantStep(_AffineDevice):
    """Constant step with hard bounds and up/down asymmetry (aihwkit ``ConstantStepDevice``).

    ``up_down > 0`` makes up-steps larger: q+ = 1, q- = 1 - up_down; ``up_down < 0``:
    q+ = 1 + up_down, q- = 1 (aihwkit's up_bias/down_bias convention).
    The weight is clipped to [w_min, w_max] after every pulse.
    """

    w_max: float = 1.0
    """Upper bound of the weight (aihwkit ``w_max``; inf = unbounded)."""
    w_min: float = -1.0
    """Lower bound of the weight, < 0 (aihwkit ``w_min``; -inf = unbounded)."""
    up_down: float = 0.0
    """Up/down asymmetry in (−1, 1) (aihwkit ``up_down``): > 0 makes up steps larger."""

    name: ClassVar[str] = "constant"
    equations: ClassVar[str] = "q+ = 1 + min(up_down, 0), q- = 1 - max(up_down, 0); clip to [w_min, w_max]"

    def __post_init__(self) -> None:
        object.__setattr__(self, "w_max", positive("w_max", self.w_max, allow_inf=True))
        w_min = finite_float("w_min", self.w_min) if self.w_min != -math.inf else -math.inf
        if w_min >= 0:
            raise ConfigError(f"w_min must be < 0 (got {w_min!r})")
        object.__setattr__(self, "w_min", w_min)
        object.__setattr__(self, "up_down", in_open_interval("up_down", self.up_down, -1.0, 1.0))

    def affine(self) -> tuple[float, float, float, float]:
        return (1.0 + min(self.up_down, 0.0), 0.0, 1.0 - max(self.up_down, 0.0), 0.0)

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.w_min, self.w_max)


@dataclass(frozen=True)
class SoftBounds(_AffineDevice):
    r"""Asymmetric linear device / soft bounds (P1 eq 8).

    .. math:: q_\pm(w) = 1 \mp (w - w_\diamond)/\tau,\quad F = 1,\quad G = (w - w_\diamond)/\tau

    ``tau = inf`` gives the ideal device (tested bit for bit against digital SGD).
    Range ``[w_sym - tau, w_sym + tau]``.
    """

    tau: float = 1.0
    """τ: dynamic-range radius, range [w⋄ − τ, w⋄ + τ] (P1 eq 8); inf = ideal device."""
    w_sym: float = 0.0
    """w⋄: symmetric point, the centre of the range (P1 eq 8)."""

    name: ClassVar[str] = "softbounds"
    equations: ClassVar[str] = "q± = 1 ∓ (w − w_sym)/τ; F = 1, G = (w − w_sym)/τ"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", positive("tau", self.tau, allow_inf=True))
        object.__setattr__(self, "w_sym", finite_float("w_sym", self.w_sym))

    def affine(self) -> tuple[float, float, float, float]:
        inv = 1.0 / self.tau
        return (1.0 + self.w_sym * inv, -inv, 1.0 - self.w_sym * inv, inv)

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.w_sym - self.tau, self.w_sym + self.tau)


@dataclass(frozen=True)
class CLin(_AffineDevice):
    r"""The c_Lin linear device of P2 §1.1 (aihwkit soft bounds with ``up_down = c``).

    .. math:: q_+ = (1 + c)(1 - w/\tau),\; q_- = (1 - c)(1 + w/\tau),\;
              F = 1 - c w/\tau,\; G = w/\tau - c,\; w_\diamond = c\tau

    CLI name ``linear`` (``linear:tau=3.5,c=0.2``); ``c = 0`` is :class:`SoftBounds`.
    """

    tau: float = 1.0
    """τ: range radius, range [−τ, τ] (P2 §1.1)."""
    c: float = 0.0
    """c: up/down asymmetry in (−1, 1) (P2 §1.1; aihwkit ``up_down``); the symmetric point is cτ."""

    name: ClassVar[str] = "linear"
    equations: ClassVar[str] = ("q+ = (1+c)(1 − w/τ), q- = (1−c)(1 + w/τ); "
                                "F = 1 − cw/τ, G = w/τ − c, w_sym = cτ")

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", positive("tau", self.tau))
        object.__setattr__(self, "c", in_open_interval("c", self.c, -1.0, 1.0))

    def affine(self) -> tuple[float, float, float, float]:
        c, t = self.c, self.tau
        return (1.0 + c, -(1.0 + c) / t, 1.0 - c, (1.0 - c) / t)

    @property
    def bounds(self) -> tuple[float, float]:
        return (-self.tau, self.tau)


@dataclass(frozen=True)
class LinearStep(_AffineDevice):
    r"""General linear step device (P1 App. C.1 eq 21–23), optionally with hard bounds.

    .. math:: q_+ = 1 - (w - w_\diamond)/\tau_{max},\; q_- = 1 - (w - w_\diamond)/\tau_{min}

    with ``tau_min < 0 < tau_max``, so F = 1 − ½(1/τ_max + 1/τ_min)(w − w⋄) and
    G = +½(1/τ_max − 1/τ_min)(w − w⋄) (P1 prints the opposite sign; see errata).
    ``w_max``/``w_min`` clip the weight (aihwkit ``LinearStepDevice`` with
    ``gamma_up = w_max/tau_max``); by default the range is the response's zeros.
    """

    tau_max: float = 1.0
    """τ_max > 0: offset of the zero of q+ from w⋄ (P1 App. C.1 eq 21); inf = no slope."""
    tau_min: float = -1.0
    """τ_min < 0: offset of the zero of q- from w⋄ (P1 App. C.1 eq 21); -inf = no slope."""
    w_sym: float = 0.0
    """w⋄: symmetric point (P1 App. C.1)."""
    w_max: float | None = None
    """Hard upper bound in (w⋄, w⋄ + τ_max] (aihwkit ``w_max``); None = w⋄ + τ_max."""
    w_min: float | None = None
    """Hard lower bound in [w⋄ + τ_min, w⋄) (aihwkit ``w_min``); None = w⋄ + τ_min."""

    name: ClassVar[str] = "linearstep"
    equations: ClassVar[str] = ("q+ = 1 − (w−w_sym)/τ_max, q- = 1 − (w−w_sym)/τ_min; "
                                "G = ½(1/τ_max − 1/τ_min)(w − w_sym)")

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau_max", positive("tau_max", self.tau_max, allow_inf=True))
        tmin = self.tau_min
        if tmin == -math.inf:
            pass
        else:
            tmin = finite_float("tau_min", tmin)
            if tmin >= 0:
                raise ConfigError(f"tau_min must be < 0 (got {tmin!r})")
        object.__setattr__(self, "tau_min", tmin)
        object.__setattr__(self, "w_sym", finite_float("w_sym", self.w_sym))
        lo_nat, hi_nat = self.w_sym + self.tau_min, self.w_sym + self.tau_max
        if self.w_max is not None:
            wmax = finite_float("w_max", self.w_max)
            if not self.w_sym < wmax <= hi_nat:
                raise ConfigError(f"w_max must lie in (w_sym, w_sym + tau_max] = ({self.w_sym}, {hi_nat}] (got {wmax})")
            object.__setattr__(self, "w_max", wmax)
        if self.w_min is not None:
            wmin = finite_float("w_min", self.w_min)
            if not lo_nat <= wmin < self.w_sym:
                raise ConfigError(f"w_min must lie in [w_sym + tau_min, w_sym) = [{lo_nat}, {self.w_sym}) (got {wmin})")
            object.__setattr__(self, "w_min", wmin)

    def affine(self) -> tuple[float, float, float, float]:
        ip, im = 1.0 / self.tau_max, 1.0 / self.tau_min
        return (1.0 + self.w_sym * ip, -ip, 1.0 + self.w_sym * im, -im)

    @property
    def bounds(self) -> tuple[float, float]:
        lo = self.w_sym + self.tau_min if self.w_min is None else self.w_min
        hi = self.w_sym + self.tau_max if self.w_max is None else self.w_max
        return (lo, hi)

    @property
    def symmetric_point(self) -> float:
        return self.w_sym


@dataclass(frozen=True)
class Power(Device):
    r"""Power response of P2 App. K.1 eq (144): q+ = (1 − w/τ)^γ, q- = (1 + w/τ)^γ.

    The base is clamped at 0 outside [−τ, τ] so the response stays finite.
    aihwkit's ``PowStepDevice`` is this device with ``dw_min`` scaled by ``2**-γ``.
    """

    tau: float = 1.0
    """τ: range radius, range [−τ, τ] (P2 App. K.1 eq 144)."""
    gamma: float = 1.0
    """γ > 0: exponent of the response (P2 eq 144); γ = 1 is soft bounds."""

    name: ClassVar[str] = "power"
    equations: ClassVar[str] = "q+ = (1 − w/τ)^γ, q- = (1 + w/τ)^γ; w_sym = 0"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", positive("tau", self.tau))
        object.__setattr__(self, "gamma", positive("gamma", self.gamma))

    def q_plus(self, w: ArrayLike) -> Array:
        if _is_f32(w):
            return self._q32(w, -1)
        return np.maximum(1.0 - np.asarray(w, dtype=float) / self.tau, 0.0) ** self.gamma

    def q_minus(self, w: ArrayLike) -> Array:
        if _is_f32(w):
            return self._q32(w, 1)
        return np.maximum(1.0 + np.asarray(w, dtype=float) / self.tau, 0.0) ** self.gamma

    def _q32(self, w: Array, sign: int) -> Array:
        """``max(1 ± w/τ, 0)^γ`` in float32, without a float64 round trip."""
        a = w * np.float32(1.0 / self.tau)
        q = 1 + a if sign > 0 else 1 - a
        np.maximum(q, 0, out=q)
        if self.gamma == 0.5:
            np.sqrt(q, out=q)
        elif self.gamma != 1.0:
            np.power(q, np.float32(self.gamma), out=q)
        return q

    def affine(self) -> tuple[float, float, float, float] | None:
        if self.gamma == 1.0:
            return (1.0, -1.0 / self.tau, 1.0, 1.0 / self.tau)
        return None

    @property
    def bounds(self) -> tuple[float, float]:
        return (-self.tau, self.tau)

    @property
    def symmetric_point(self) -> float:
        return 0.0


@dataclass(frozen=True)
class Exponential(Device):
    r"""Exponential response of P2 eq (145).

    .. math:: q_\pm(w) = \frac{e^{\gamma(1 \mp w/\tau)} - 1}{e^{\gamma} - 1}
    """

    tau: float = 1.0
    """τ: range radius, range [−τ, τ] (P2 eq 145)."""
    gamma: float = 1.0
    """γ in (0, 300]: steepness of the response (P2 eq 145)."""

    name: ClassVar[str] = "exp"
    equations: ClassVar[str] = "q± = (exp(γ(1 ∓ w/τ)) − 1)/(exp(γ) − 1); w_sym = 0"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", positive("tau", self.tau))
        gamma = positive("gamma", self.gamma)
        if gamma > 300:
            raise ConfigError(f"gamma must be <= 300 to keep exp(gamma) finite (got {gamma!r})")
        object.__setattr__(self, "gamma", gamma)

    def q_plus(self, w: ArrayLike) -> Array:
        if _is_f32(w):
            return self._q32(w, -1)
        return np.expm1(self.gamma * (1.0 - np.asarray(w, dtype=float) / self.tau)) / math.expm1(self.gamma)

    def q_minus(self, w: ArrayLike) -> Array:
        if _is_f32(w):
            return self._q32(w, 1)
        return np.expm1(self.gamma * (1.0 + np.asarray(w, dtype=float) / self.tau)) / math.expm1(self.gamma)

    def _q32(self, w: Array, sign: int) -> Array:
        """``expm1(γ ± γw/τ) / expm1(γ)`` in float32, without a float64 round trip."""
        a = w * np.float32(self.gamma / self.tau)
        g = np.float32(self.gamma)
        q = np.expm1(g + a if sign > 0 else g - a)
        q *= np.float32(1.0 / math.expm1(self.gamma))
        return q

    @property
    def bounds(self) -> tuple[float, float]:
        return (-self.tau, self.tau)

    @property
    def symmetric_point(self) -> float:
        return 0.0


#: CLI names -> classes (``exponential`` is an alias of ``exp``).
DEVICES: dict[str, type[Device]] = {
    cls.name: cls for cls in (Ideal, ConstantStep, SoftBounds, CLin, LinearStep, Power, Exponential)
}
DEVICES["exponential"] = Exponential


# -- device-to-device variation ---------------------------------------------------------

@dataclass(frozen=True)
class Variation:
    r"""Device-to-device variation, realised per element by :func:`realize`.

    Element ``i`` responds as

    .. math:: q^{(i)}_\pm(w) = g_i (1 \pm r_i)\, q_\pm\big((w - o_i)/s_i\big)

    with step gain ``g_i = |1 + dw_min_dtod ξ|`` (aihwkit ``dw_min_dtod``),
    up/down asymmetry ``r_i = up_down_dtod ξ`` clipped to ±0.95 (``up_down_dtod``),
    range scale ``s_i = |1 + range_dtod ξ|`` (bound spread, ``w_max_dtod``), and
    symmetric-point offset ``o_i = sym_skew + sym_dtod ξ`` (skew and variability;
    aihwkit's reference offset ``reference_mean``/``reference_std`` with opposite sign).
    """

    dw_min_dtod: float = 0.0
    """Spread of the step gain g_i = |1 + dw_min_dtod ξ| (aihwkit ``dw_min_dtod``)."""
    up_down_dtod: float = 0.0
    """Spread of the up/down asymmetry r_i = up_down_dtod ξ, clipped to ±0.95 (aihwkit ``up_down_dtod``)."""
    range_dtod: float = 0.0
    """Spread of the range scale s_i = |1 + range_dtod ξ| (the bound spread, aihwkit ``w_max_dtod``)."""
    sym_skew: float = 0.0
    """Mean of the symmetric-point offset o_i (aihwkit ``reference_mean`` with opposite sign)."""
    sym_dtod: float = 0.0
    """σ_r: spread of the symmetric-point offset o_i (aihwkit ``reference_std``)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            checked = finite_float(f.name, value) if f.name == "sym_skew" else non_negative(f.name, value)
            object.__setattr__(self, f.name, checked)

    @property
    def is_zero(self) -> bool:
        return all(getattr(self, f.name) == 0.0 for f in fields(self))


@dataclass(frozen=True, eq=False)
class DeviceArray:
    """A device with per-element parameters (see :class:`Variation`); same interface as Device.

    Attributes are arrays broadcastable to the weights' shape ``(trials, *param_shape)``.
    """

    base: Device
    """The nominal device whose response every element scales and shifts."""
    gain: Array
    """g_i: per-element step gain (see :class:`Variation`)."""
    asym: Array
    """r_i: per-element up/down asymmetry."""
    scale: Array
    """s_i: per-element range scale."""
    shift: Array
    """o_i: per-element symmetric-point offset."""
    name: str = field(default="")
    """Name of the nominal device (for reports)."""

    def _x(self, w: ArrayLike) -> Array:
        return (np.asarray(w, dtype=float) - self.shift) / self.scale

    def q_plus(self, w: ArrayLike) -> Array:
        return self.gain * (1.0 + self.asym) * self.base.q_plus(self._x(w))

    def q_minus(self, w: ArrayLike) -> Array:
        return self.gain * (1.0 - self.asym) * self.base.q_minus(self._x(w))

    def F(self, w: ArrayLike) -> Array:
        return 0.5 * (self.q_minus(w) + self.q_plus(w))

    def G(self, w: ArrayLike) -> Array:
        return 0.5 * (self.q_minus(w) - self.q_plus(w))

    @property
    def bounds(self) -> tuple[Array, Array]:
        lo, hi = self.base.bounds
        return (self.shift + self.scale * lo, self.shift + self.scale * hi)

    @property
    def symmetric_point(self) -> Array:
        aff = self.affine()
        if aff is not None:
            ap, bp, am, bm = aff
            g0, g1 = 0.5 * (am - ap), 0.5 * (bm - bp)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(g1 != 0, -g0 / np.where(g1 != 0, g1, 1.0), np.where(g0 == 0, 0.0, np.nan))
        lo, hi = self.bounds
        return _bisect_zero(self.G, np.broadcast_to(lo, np.shape(self.gain)).astype(float),
                            np.broadcast_to(hi, np.shape(self.gain)).astype(float))

    def affine(self) -> tuple[Array, Array, Array, Array] | None:
        base = self.base.affine()
        if base is None:
            return None
        ap, bp, am, bm = base
        up, down = self.gain * (1.0 + self.asym), self.gain * (1.0 - self.asym)
        # q(x) = a + b (w - o)/s  =>  a' = a - b o / s,  b' = b / s
        return (up * (ap - bp * self.shift / self.scale), up * bp / self.scale,
                down * (am - bm * self.shift / self.scale), down * bm / self.scale)


AnyDevice = Union[Device, DeviceArray]


def realize(device: Device, variation: Variation, shape: tuple[int, ...], rng: Any) -> DeviceArray:
    """Draw per-element device parameters of ``shape`` (leading axis = trials).

    Args:
        device: the nominal (scalar) device.
        variation: spreads; zero spreads give constant arrays.
        shape: weight shape ``(trials, *param_shape)``.
        rng: a Generator or :class:`convergence.rng.TrialStreams` (purpose DEVICE), or a seed for
            ``numpy.random.default_rng``.
    """
    if not isinstance(device, Device):
        raise ConfigError(f"device must be a convergence Device (got {type(device).__name__})")
    if not isinstance(variation, Variation):
        raise ConfigError(f"variation must be a Variation (got {type(variation).__name__})")
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    elif isinstance(shape, list):
        shape = tuple(shape)
    if not (isinstance(shape, tuple) and shape and all(isinstance(n, (int, np.integer)) and not isinstance(n, bool)
                                                       and n > 0 for n in shape)):
        raise ConfigError(f"shape must be a tuple of positive ints, trials first (got {shape!r})")
    if isinstance(rng, (int, np.integer, np.random.SeedSequence)) and not isinstance(rng, bool):
        rng = as_generator(rng)                # a seed, as simulate and the tile take
    if not callable(getattr(rng, "standard_normal", None)):
        raise ConfigError(f"rng must be a numpy Generator, TrialStreams or a seed (got {type(rng).__name__})")
    xi = [rng.standard_normal(shape) for _ in range(4)]
    gain = np.abs(1.0 + variation.dw_min_dtod * xi[0])
    asym = np.clip(variation.up_down_dtod * xi[1], -0.95, 0.95)
    scale = np.abs(1.0 + variation.range_dtod * xi[2])
    shift = variation.sym_skew + variation.sym_dtod * xi[3]
    return DeviceArray(device, gain, asym, scale, shift, name=device.name)


def tau_sweep(device: Device, taus: Any) -> DeviceArray:
    """One device per trial with dynamic-range radius ``taus[i]`` (shape (trials, 1)), for sweeps.

    Works for devices whose response depends on ``(w - w_sym)/tau`` only (SoftBounds, CLin,
    Power, Exponential): element i responds as ``device(tau=taus[i])``, realised as the
    range scale s_i = taus[i]/device.tau and offset w_sym (1 − s_i) of a :class:`DeviceArray`.
    """
    if not isinstance(device, (SoftBounds, CLin, Power, Exponential)):
        raise ConfigError(f"tau_sweep supports softbounds, linear, power and exp devices (got {device.name!r})")
    taus = np.asarray(taus, dtype=float).reshape(-1, 1)
    if taus.size == 0 or not np.all(np.isfinite(taus)) or np.any(taus <= 0):
        raise ConfigError("tau_sweep: every tau must be finite and > 0")
    scale = taus / device.tau
    w_sym = getattr(device, "w_sym", 0.0)
    ones = np.ones_like(scale)
    return DeviceArray(device, ones, 0.0 * ones, scale, w_sym * (1.0 - scale), name=device.name)


# -- helpers over both kinds ---------------------------------------------------------------

def F(device: AnyDevice, w: ArrayLike) -> Array:
    """Symmetric component of ``device`` at ``w``."""
    return device.F(w)


def G(device: AnyDevice, w: ArrayLike) -> Array:
    """Asymmetric component of ``device`` at ``w``."""
    return device.G(w)


def saturation(device: AnyDevice, w: Array) -> Array:
    r"""Per-element saturation degree: the fraction of the way from w⋄ to the bound.

    For soft bounds with w⋄ = 0 this is |w|/τ, so ``saturation(...).max(-1)`` is P1's
    ``‖W‖∞/τ`` (Assumption 4). Zero for unbounded devices.
    """
    lo, hi = device.bounds
    sym = device.symmetric_point
    with np.errstate(divide="ignore", invalid="ignore"):
        sym = np.where(np.isfinite(sym), sym, 0.5 * (np.asarray(lo) + np.asarray(hi)))
        up = np.asarray(hi) - sym
        down = sym - np.asarray(lo)
        frac = np.where(w >= sym, (w - sym) / up, (sym - w) / down)
    bounded = np.isfinite(up) & np.isfinite(down)
    if np.ndim(bounded) == 0 and bounded and type(frac) is np.ndarray and frac.ndim:   # a scalar device's range
        return frac
    return np.where(bounded, frac, 0.0)


def _bisect_zero(fn: Any, lo: Array, hi: Array, iters: int = 80) -> Array:
    """Vectorized bisection for an increasing function ``fn`` (G is increasing in w)."""
    lo = np.array(lo, dtype=float, copy=True)
    hi = np.array(hi, dtype=float, copy=True)
    finite = np.isfinite(lo) & np.isfinite(hi)
    lo = np.where(finite, lo, -1e6)
    hi = np.where(finite, hi, 1e6)
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        pos = fn(mid) > 0
        hi = np.where(pos, mid, hi)
        lo = np.where(pos, lo, mid)
    return 0.5 * (lo + hi)
