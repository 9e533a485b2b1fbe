r"""aihwkit's ``SoftBoundsReferenceDevice`` as a per-element device realisation.

The nominal, hashable configuration :class:`SoftBoundsReference` (aihwkit parameter
names) is *realised* into a :class:`ReferenceArray` holding per-element arrays of
shape ``(trials, out, in)`` (as aihwkit populates the device):

.. math::
    b^{max}_{ij} = w_{max}(1 + \sigma^{max}_{dtod}\xi),\quad
    b^{min}_{ij} = w_{min}(1 + \sigma^{min}_{dtod}\xi),\quad
    g_{ij} = 1 + \sigma_{dtod}\xi,\quad r_{ij} = \sigma^{ud}_{dtod}\xi'

    \Delta^+ = (u^+ + g + r)\,\delta,\qquad \Delta^- = (u^- + g - r)\,\delta

with ``u+ = 0, u- = -up_down`` if ``up_down > 0`` else ``u+ = up_down, u- = 0``.
The visible weight is ``w = g_phys - ref``; a pulse moves the physical state

.. math::
    \text{up:}\; g \leftarrow g + \Delta^+(1 - g/b^{max} + \sigma\xi),\qquad
    \text{down:}\; g \leftarrow g - \Delta^-(1 - g/b^{min} + \sigma\xi)

(additive pulse noise ``dw_min_std = σ``; ``mult_noise=True`` multiplies the
whole step by ``(1 + σξ)`` instead), then clips to ``[b_min, b_max]``.
``subtract_symmetry_point`` adds the element's symmetric point
``w* = (Δ⁺ − Δ⁻)/(Δ⁺/b_max − Δ⁻/b_min)`` to the reference, so the visible zero is
the symmetric point. Write noise (``write_noise_std``) keeps the persistent weight
hidden and shows ``w + write_noise_std·δ·ξ``, re-drawn whenever an element is pulsed
(as aihwkit's write noise); the tile handles that part.

In the toolkit's units (a pulse of sign ``s`` moves ``w`` by ``s δ q_s(w)``) the
realisation is an affine device with

.. math:: q_+(w) = \tfrac{\Delta^+}{\delta}\big(1 - \tfrac{w + ref}{b^{max}}\big),\quad
          q_-(w) = \tfrac{\Delta^-}{\delta}\big(1 - \tfrac{w + ref}{b^{min}}\big)

so it plugs into :func:`convergence.physics.pulses.apply_pulses` (noise-free) and the
expected update ``W + dW F(W) − |dW| G(W)``. Reset, decay, diffusion and
corrupted devices are not modelled (all off in the papers' runs).

Reference: IBM aihwkit ``SoftBoundsReferenceDevice`` (C++ ``SoftBoundsReferenceRPUDevice``);
P1 App. I (the papers' least-squares runs use it with all variations zero).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from convergence.physics.devices import DeviceArray, SoftBounds, Variation, realize
from convergence._validate import ConfigError, finite_float, non_negative, positive
from convergence.physics.pulses import PulseNoise, apply_pulses

Array = NDArray[np.float64]

__all__ = ["offset_softbounds", "SoftBoundsReference", "ReferenceArray", "concatenate_devices", "apply_device_pulses",
           "write_noise"]


@dataclass(frozen=True)
class SoftBoundsReference:
    """Nominal aihwkit ``SoftBoundsReferenceDevice`` (field names are aihwkit's).

    All spreads and noises default to 0 (aihwkit's defaults are 0.3 / 0.01: pass them
    explicitly to reproduce an aihwkit default device).
    """

    dw_min: float = 0.001
    """δ: mean step (aihwkit ``dw_min``; default 0.001 as aihwkit)."""
    w_max: float = 0.6
    """Mean upper bound b_max > 0 (aihwkit ``w_max``, default 0.6)."""
    w_min: float = -0.6
    """Mean lower bound b_min < 0 (aihwkit ``w_min``, default −0.6)."""
    up_down: float = 0.0
    """Systematic up/down asymmetry in (−1, 1) (aihwkit ``up_down``; > 0: up steps larger)."""
    dw_min_dtod: float = 0.0
    """Device-to-device spread of the step gain (aihwkit ``dw_min_dtod``)."""
    dw_min_dtod_log_normal: bool = False
    """Log-normal instead of normal gain spread (aihwkit ``dw_min_dtod_log_normal``)."""
    up_down_dtod: float = 0.0
    """Device-to-device spread of the asymmetry (aihwkit ``up_down_dtod``)."""
    w_max_dtod: float = 0.0
    """Relative device-to-device spread of b_max (aihwkit ``w_max_dtod``)."""
    w_min_dtod: float = 0.0
    """Relative device-to-device spread of b_min (aihwkit ``w_min_dtod``)."""
    slope_up_dtod: float = 0.0
    """Spread of the up slope, realised by moving b_max (aihwkit ``slope_up_dtod``)."""
    slope_down_dtod: float = 0.0
    """Spread of the down slope, realised by moving b_min (aihwkit ``slope_down_dtod``)."""
    dw_min_std: float = 0.0
    """σ: cycle-to-cycle pulse noise relative to the step (aihwkit ``dw_min_std``)."""
    mult_noise: bool = False
    """Multiplicative instead of additive pulse noise (aihwkit ``mult_noise``; False for this device)."""
    write_noise_std: float = 0.0
    """Write noise in units of δ, re-drawn on every pulsed element (aihwkit ``write_noise_std``)."""
    reference_mean: float = 0.0
    """Mean reference conductance subtracted from the state (aihwkit ``reference_mean``)."""
    reference_std: float = 0.0
    """Device-to-device spread of the reference (aihwkit ``reference_std``)."""
    subtract_symmetry_point: bool = False
    """Add each element's symmetric point to its reference (aihwkit ``subtract_symmetry_point``)."""
    enforce_consistency: bool = True
    """abs() of the steps and b_max ≥ 0 ≥ b_min (aihwkit ``enforce_consistency``; default True)."""

    name = "softbounds_reference"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dw_min", positive("dw_min", self.dw_min))
        w_max = positive("w_max", self.w_max)
        w_min = finite_float("w_min", self.w_min)
        if w_min >= 0:
            raise ConfigError(f"w_min must be < 0 (got {w_min!r})")
        if self.dw_min >= min(w_max, -w_min):
            raise ConfigError(f"dw_min must be smaller than the bounds (got dw_min={self.dw_min}, "
                              f"w_max={w_max}, w_min={w_min})")
        object.__setattr__(self, "w_max", w_max)
        object.__setattr__(self, "w_min", w_min)
        ud = finite_float("up_down", self.up_down)
        if not -1.0 < ud < 1.0:
            raise ConfigError(f"up_down must lie in (-1, 1) (got {ud!r})")
        object.__setattr__(self, "up_down", ud)
        for name in ("dw_min_dtod", "up_down_dtod", "w_max_dtod", "w_min_dtod", "slope_up_dtod",
                     "slope_down_dtod", "dw_min_std", "write_noise_std", "reference_std"):
            object.__setattr__(self, name, non_negative(name, getattr(self, name)))
        object.__setattr__(self, "reference_mean", finite_float("reference_mean", self.reference_mean))
        for name in ("dw_min_dtod_log_normal", "mult_noise", "subtract_symmetry_point", "enforce_consistency"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"{name} must be True or False (got {getattr(self, name)!r})")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{f.name: getattr(self, f.name) for f in fields(self)}}

    def realize(self, shape: tuple[int, ...], rng: Any) -> "ReferenceArray":
        """Draw the per-element parameters for weights of ``shape`` = (trials, out, in).

        Args:
            shape: weight shape, leading axis = trials.
            rng: a numpy Generator or :class:`convergence.rng.TrialStreams` (``standard_normal``).
        """
        shape = tuple(int(s) for s in shape)
        xi = [rng.standard_normal(shape) for _ in range(7)]
        b_max = self.w_max * (1.0 + self.w_max_dtod * xi[0])
        b_min = self.w_min * (1.0 + self.w_min_dtod * xi[1])
        gain = np.exp(self.dw_min_dtod * xi[2]) if self.dw_min_dtod_log_normal else 1.0 + self.dw_min_dtod * xi[2]
        r = self.up_down_dtod * xi[3]
        up_bias, down_bias = (0.0, -self.up_down) if self.up_down > 0 else (self.up_down, 0.0)
        scale_up = up_bias + gain + r          # Δ⁺/δ
        scale_down = down_bias + gain - r      # Δ⁻/δ
        if self.enforce_consistency:
            scale_up, scale_down = np.abs(scale_up), np.abs(scale_down)
            swap = b_min > b_max
            b_max, b_min = np.where(swap, b_min, b_max), np.where(swap, b_max, b_min)
            b_max, b_min = np.abs(b_max), -np.abs(b_min)
        else:
            off = b_min > b_max
            mid = 0.5 * (b_max + b_min)
            b_max, b_min = np.where(off, mid, b_max), np.where(off, mid, b_min)
        # slope d2d, realised by moving the bounds (only for b_max > 0 > b_min)
        good = (b_max > 0) & (b_min < 0)
        if self.slope_up_dtod or self.slope_down_dtod:
            b_max = np.where(good, b_max / np.abs(1.0 + self.slope_up_dtod * xi[4]), b_max)
            b_min = np.where(good, b_min / np.abs(1.0 + self.slope_down_dtod * xi[5]), b_min)
        ref = self.reference_mean + self.reference_std * xi[6]
        if self.subtract_symmetry_point:
            with np.errstate(divide="ignore", invalid="ignore"):
                w_sym = (scale_up - scale_down) / (scale_up / b_max - scale_down / b_min)
            ref = ref + np.where(good & np.isfinite(w_sym), w_sym, 0.0)
        dw = np.full((shape[0],) + (1,) * (len(shape) - 1), self.dw_min)
        return ReferenceArray(scale_up=np.asarray(scale_up, float) * np.ones(shape),
                              scale_down=np.asarray(scale_down, float) * np.ones(shape),
                              b_max=np.asarray(b_max, float), b_min=np.asarray(b_min, float),
                              ref=np.asarray(ref, float) * np.ones(shape), dw_min=dw,
                              dw_min_std=np.full_like(dw, self.dw_min_std),
                              write_noise_std=np.full_like(dw, self.write_noise_std),
                              mult_noise=bool(self.mult_noise))


@dataclass(frozen=True, eq=False)
class ReferenceArray:
    """A realised reference device: per-element arrays, leading axis = trials.

    ``scale_up``/``scale_down`` are Δ±/δ, ``b_max``/``b_min`` the physical bounds, ``ref``
    the reference subtracted from the physical state; ``dw_min``, ``dw_min_std`` and
    ``write_noise_std`` have shape (trials, 1, 1) so trials may differ (e.g. a τ sweep).
    Same interface as :class:`convergence.physics.devices.DeviceArray` (q±, F, G, bounds, affine).
    """

    scale_up: Array
    """Δ⁺/δ per element: the up step relative to δ."""
    scale_down: Array
    """Δ⁻/δ per element: the down step relative to δ."""
    b_max: Array
    """Physical upper bound b_max per element."""
    b_min: Array
    """Physical lower bound b_min per element."""
    ref: Array
    """Reference subtracted from the physical state (visible w = state − ref)."""
    dw_min: Array
    """δ per trial, shape (trials, 1, 1) (aihwkit ``dw_min``)."""
    dw_min_std: Array
    """Cycle-to-cycle pulse noise per trial (aihwkit ``dw_min_std``)."""
    write_noise_std: Array
    """Write noise in units of δ per trial (aihwkit ``write_noise_std``)."""
    mult_noise: bool = False
    """Multiplicative pulse noise (aihwkit ``mult_noise``)."""
    name: str = "softbounds_reference"
    """Device name (for reports)."""

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.scale_up.shape)

    def q_plus(self, w: Any) -> Array:
        return self.scale_up * (1.0 - (np.asarray(w, float) + self.ref) / self.b_max)

    def q_minus(self, w: Any) -> Array:
        return self.scale_down * (1.0 - (np.asarray(w, float) + self.ref) / self.b_min)

    def F(self, w: Any) -> Array:
        return 0.5 * (self.q_minus(w) + self.q_plus(w))

    def G(self, w: Any) -> Array:
        return 0.5 * (self.q_minus(w) - self.q_plus(w))

    @property
    def bounds(self) -> tuple[Array, Array]:
        """Visible range ``(b_min − ref, b_max − ref)``."""
        return (self.b_min - self.ref, self.b_max - self.ref)

    def affine(self) -> tuple[Array, Array, Array, Array]:
        """``(a+, b+, a-, b-)`` with ``q±(w) = a± + b± w``."""
        bp = -self.scale_up / self.b_max
        bm = -self.scale_down / self.b_min
        return (self.scale_up + bp * self.ref, bp, self.scale_down + bm * self.ref, bm)

    @property
    def symmetric_point(self) -> Array:
        """Visible symmetric point (q+ = q-): ``w* − ref`` (0 when subtracted, without reference noise)."""
        ap, bp, am, bm = self.affine()
        return (am - ap) / (bp - bm)

    def pulse_noise(self) -> PulseNoise:
        """The cycle-to-cycle noise of a pulse: ``dw_min_std`` relative to the pulse's own step Δ±
        (additive), or a factor ``1 + dw_min_std ξ`` on the step (``mult_noise``)."""
        if self.mult_noise:
            return PulseNoise(self.dw_min_std, self.dw_min_std, multiplicative=True)
        return PulseNoise(self.scale_up * self.dw_min_std, self.scale_down * self.dw_min_std)

    @property
    def noisy(self) -> bool:
        """True if pulses carry cycle-to-cycle noise or the device has write noise."""
        return bool(np.any(self.dw_min_std > 0) or np.any(self.write_noise_std > 0))

    def select(self, index: Any) -> "ReferenceArray":
        """The trials ``index`` (a slice or index array) of this realisation."""
        return ReferenceArray(*(getattr(self, f) [index] for f in _ARRAY_FIELDS), mult_noise=self.mult_noise,
                              name=self.name)


_ARRAY_FIELDS = ("scale_up", "scale_down", "b_max", "b_min", "ref", "dw_min", "dw_min_std", "write_noise_std")


def concatenate_devices(devices: Sequence[ReferenceArray]) -> ReferenceArray:
    """Stack realisations along the trials axis (e.g. one block of trials per τ)."""
    devices = list(devices)
    if not devices:
        raise ConfigError("concatenate_devices needs at least one device")
    if len({d.mult_noise for d in devices}) != 1:
        raise ConfigError("cannot concatenate devices with different mult_noise")
    arrays = [np.concatenate([getattr(d, f) for d in devices], axis=0) for f in _ARRAY_FIELDS]
    return ReferenceArray(*arrays, mult_noise=devices[0].mult_noise, name=devices[0].name)


def apply_device_pulses(w: Array, n: Array, sign: Array, device: ReferenceArray, rng: Any) -> Array:
    """Apply ``n`` pulses of sign ``sign`` to ``w`` with the device's pulse noise (aihwkit semantics).

    Every pulse draws its own noise and is followed by clipping to the visible range; this is
    :func:`convergence.physics.pulses.apply_pulses` with the device's :meth:`ReferenceArray.pulse_noise`.
    """
    return apply_pulses(w, n, sign, device, device.dw_min, c2c=device.pulse_noise(), rng=rng)


def write_noise(w: Array, std: Any, rng: Any, visible: Array | None = None, where: Array | None = None) -> Array:
    r"""The visible weights under write noise (aihwkit ``write_noise_std``), the one implementation.

    The device keeps the persistent weights ``w`` hidden and shows ``w + σ_w ξ`` (``σ_w = write_noise_std·δ`` in
    weight units, ξ ~ N(0, 1) per element), re-drawn whenever an element is written: every element when
    ``where`` is None (programming, aihwkit ``set_weights``), else only where ``where`` is True (the elements a
    pulse reached), keeping ``visible`` elsewhere. One normal is drawn per element of ``w`` either way.
    """
    fresh = w + std * rng.standard_normal(np.shape(w))
    return fresh if where is None else np.where(where, fresh, visible)


def offset_softbounds(shape: tuple[int, ...], rng: Any, *, skew: Any = 0.0, sigma_r: Any = 0.0,
                      asym_dtod: float = 0.0, tau: float = 1.0, dw_min_dtod: float = 0.0,
                      range_dtod: float = 0.0) -> DeviceArray:
    r"""Soft-bounds devices whose symmetric point sits at ``skew + sigma_r ξ`` per element, as a DeviceArray.

    The toolkit's form of aihwkit's reference offset on a soft-bounds device: an up/down asymmetry spread
    ``asym_dtod`` (aihwkit ``up_down_dtod``) whose symmetric-point shift is compensated (aihwkit
    ``subtract_symmetry_point=True``), plus an offset ``o_i`` (aihwkit ``reference_mean``/``reference_std``
    with opposite sign). It draws differently from :meth:`SoftBoundsReference.realize` (5 normals per
    element, not 7), which the Rasch et al. and transfer-study recipes' numbers are pinned to.

    Element i responds as ``q±(w) = g_i (1 ± r_i)(1 ∓ (w − s_i)/(b_i τ))`` with ``r_i = asym_dtod ξ``,
    step gain ``g_i = |1 + dw_min_dtod ξ|`` (aihwkit ``dw_min_dtod``) and range scale
    ``b_i = |1 + range_dtod ξ|`` (the bound spread σ_b, aihwkit ``w_max_dtod``); its symmetric point is
    ``s_i + b_i τ r_i``, so the shift ``s_i = o_i − b_i τ r_i`` places it at ``o_i = skew + sigma_r ξ'``
    (``skew``/``sigma_r`` may be arrays broadcasting over ``shape``, e.g. one σ_r per trial). The range is
    ``[s_i − b_i τ, s_i + b_i τ]``. The draws do not depend on the spreads (zero spreads give the same
    random stream).
    """
    dev = realize(SoftBounds(tau), Variation(up_down_dtod=asym_dtod, dw_min_dtod=dw_min_dtod,
                                             range_dtod=range_dtod), shape, rng)
    offset = np.asarray(skew, dtype=float) + np.asarray(sigma_r, dtype=float) * rng.standard_normal(shape)
    shift = offset - dev.scale * tau * dev.asym
    return DeviceArray(dev.base, dev.gain, dev.asym, dev.scale, np.broadcast_to(shift, shape).copy(),
                       name="softbounds")
