r"""Training algorithms as pure, batched steps ``(state, gradient sample) -> state``.

An :class:`Algorithm` is a triple of functions (optax style) plus metadata:

* ``init(w0) -> state`` — ``w0`` has shape (trials, d);
* ``query(state) -> x`` — where the gradient is sampled (W, or W + γP);
* ``step(state, g, rng=None) -> state`` — ``g`` is the gradient sample at
  ``query(state)``; ``rng`` (Generator or TrialStreams) feeds pulsed updates
  and noisy transfer reads;
* ``analog(state) -> [(name, array, device)]`` — the arrays that live on
  devices, for saturation monitoring and S_K.

Hyperparameters are scalars or arrays of shape (trials, 1) (or (trials,)),
so one call sweeps step sizes across trials. User algorithms written with the
same API can be checked by ``convergence check``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, hyperparameter, non_negative, positive_int
from convergence.physics.devices import AnyDevice, Device, DeviceArray
from convergence.physics.pulses import (EXPECTED, Expected, ExpectedMap, Pulsed, UpdateMode, analog_update, check_mode,
                                       pulse_counts)

Array = NDArray[np.float64]

__all__ = ["Algorithm", "SGDState", "TikiTakaState", "DigitalSGDConfig", "AnalogSGDConfig", "TikiTakaConfig",
           "digital_sgd", "analog_sgd", "tiki_taka", "ALGORITHMS", "sgd_write", "transfer_read", "transfer_write"]


@dataclass(frozen=True, eq=False)
class Algorithm:
    r"""A training algorithm as pure functions over an explicit state (the toolkit's step API).

    One type serves the vector algorithms of this module (``inputs = ("g",)``) and the matrix
    (tile) algorithms of :mod:`convergence.tile.transfer_family` (``inputs = ("x", "d")``).
    Every array carries a leading *trials* axis: T independent runs advance in one call.

    * ``init(w0) -> state`` — ``w0`` has shape (T, d) (vector) or (T, out, in) (matrix); the
      state holds every piece of hidden state (fast arrays, buffers, choppers, counters).
    * ``query(state) -> w`` — the weights at which the next gradient is taken, same shape as
      ``w0`` (W for Analog SGD, the mixed weights W + γP of residual learning, P2 eq 10).
    * ``step(state, g, rng=None) -> state`` (vector): ``g`` (T, d) is a stochastic gradient
      sample taken at ``query(state)``.
      ``step(state, x, d, rng=None, lr=1.0) -> state`` (matrix): ``x`` (T, batch, in) are the
      layer inputs and ``d`` (T, batch, out) the output errors ∂L/∂y of ``y = W x``, so the
      desired SGD step is ``−lr Σ_b d_b x_bᵀ``; ``lr`` is the optimizer learning rate of a
      training loop (aihwkit's), which multiplies the rates the config says it scales.
      ``rng`` (a :class:`numpy.random.Generator` or :class:`convergence.rng.TrialStreams`) feeds
      pulsed updates, noisy reads and random choppers; deterministic configurations accept
      ``None``. ``step`` never mutates its input state; the returned state is the new one.
    * ``analog(state) -> [(name, array, device)]`` — the arrays that live on analog devices
      (each with the trials axis) and their devices, for saturation monitoring and the
      bound terms S_K.

    Hyperparameters (step sizes) are scalars or per-trial arrays (shape (T,) or (T, 1) for
    vectors, (T, 1, 1) for matrices), so one call sweeps them across trials.

    Attributes are the five above plus ``name``, ``config`` and ``inputs``; ``as_dict()`` gives the
    JSON-able description of ``config``.

    Your own algorithm is an ``Algorithm`` built from your four functions. To put it through the
    property battery (``convergence check``, :func:`convergence.check`), wrap it in a *factory*
    ``factory(lr, device, *, mode=...) -> Algorithm``: ``lr`` is a float or a float64 array of
    shape (T, 1) (one step size per trial; use it by broadcasting), ``device`` the
    :class:`~convergence.physics.devices.Device` every analog array lives on, ``mode`` an optional
    update mode for :func:`convergence.analog_update`. A factory attribute ``not_applicable``
    (a dict claim name -> reason) reports those claims as skipped. Walk-through:
    docs/tutorials/property-testing.md.

    Example (digital SGD written in this API; ``analog`` is empty because nothing lives on a device):

    >>> import numpy as np
    >>> import convergence as cv
    >>> sgd = cv.Algorithm("my-sgd", init=lambda w0: np.array(w0, dtype=float), query=lambda w: w,
    ...                    step=lambda w, g, rng=None: w - 0.1 * g, analog=lambda w: [])
    >>> sgd.step(sgd.init(np.ones((2, 3))), np.ones((2, 3)))     # T = 2 trials, d = 3
    array([[0.9, 0.9, 0.9],
           [0.9, 0.9, 0.9]])
    """

    name: str
    """Short identifier used in reports (e.g. ``"analog-sgd"``, ``"c-ttv2"``)."""
    init: Callable[[Array], Any]
    """``init(w0) -> state``."""
    query: Callable[[Any], Array]
    """``query(state) -> w``: where the gradient is sampled."""
    step: Callable[..., Any]
    """``step(state, g, rng=None)`` (vector) or ``step(state, x, d, rng=None, lr=1.0)`` (matrix)."""
    analog: Callable[[Any], Sequence[tuple[str, Array, AnyDevice]]]
    """``analog(state) -> [(name, array, device)]``."""
    config: Any = None
    """The hyperparameters: a frozen dataclass config with ``as_dict()`` (built-ins) or a JSON-able dict."""
    inputs: tuple[str, ...] = ("g",)
    """The signal arguments of ``step`` after the state: ``("g",)`` or ``("x", "d")``."""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise ConfigError(f"Algorithm name must be a string (got {type(self.name).__name__})")
        for attr in ("init", "query", "step", "analog"):
            if not callable(getattr(self, attr)):
                raise ConfigError(f"Algorithm {attr} must be callable")
        if tuple(self.inputs) not in (("g",), ("x", "d")):
            raise ConfigError(f"Algorithm inputs must be ('g',) or ('x', 'd') (got {self.inputs!r})")
        object.__setattr__(self, "inputs", tuple(self.inputs))

    @property
    def matrix(self) -> bool:
        """True for the matrix (tile) step ``step(state, x, d, rng)``."""
        return self.inputs == ("x", "d")

    def as_dict(self) -> dict[str, Any]:
        """JSON-able description of :attr:`config` (a dict; empty if there is no config)."""
        if self.config is None:
            return {}
        if hasattr(self.config, "as_dict"):
            return self.config.as_dict()
        return dict(self.config)


class SGDState(NamedTuple):
    w: Array
    k: int


class TikiTakaState(NamedTuple):
    w: Array   # slow / main array W
    p: Array   # fast / residual array P
    k: int


def _check_device(device: Any, name: str = "device") -> AnyDevice:
    if not isinstance(device, (Device, DeviceArray)):
        raise ConfigError(f"{name} must be a Device or DeviceArray (got {type(device).__name__})")
    return device


def _as_weights(w0: Any, *, shape_name: str = "(trials, d)", devices: dict[str, Any] | None = None,
                **hyper: Any) -> Array:
    """Validate initial weights (``shape_name``: trials first) and that per-trial (or per-element) hyperparameters
    and realised devices (``devices``: name -> device) fit them: each broadcasts to the weights' shape."""
    w = np.array(w0, dtype=float, copy=True)
    if w.ndim != shape_name.count(",") + 1:
        raise ConfigError(f"initial weights must have shape {shape_name} (got {w.shape})")
    if not np.all(np.isfinite(w)):
        raise ConfigError("initial weights must be finite")
    for name, value in hyper.items():
        if np.ndim(value) and np.shape(value)[0] not in (1, w.shape[0]):
            raise ConfigError(f"{name} has {np.shape(value)[0]} values but there are {w.shape[0]} trials")
        _fits(name, np.shape(value), w.shape, shape_name)
    for name, dev in (devices or {}).items():
        if isinstance(dev, DeviceArray):
            _fits(f"{name} (a realised device)", np.shape(dev.gain), w.shape, shape_name)
    return w


def _fits(name: str, shape: tuple[int, ...], w_shape: tuple[int, ...], shape_name: str) -> None:
    """Refuse a per-trial or per-element parameter whose shape does not broadcast to the weights' ``w_shape``."""
    try:
        ok = np.broadcast_shapes(shape, w_shape) == w_shape
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{name} has shape {shape}, which does not fit the weights' shape {shape_name} = {w_shape}")


def _check_grad(g: Any, w: Array) -> None:
    """A step's gradient must have the weights' shape (a broadcast would silently apply one trial's or one
    coordinate's gradient to all); one tuple comparison per step."""
    if getattr(g, "shape", None) != w.shape:
        raise ConfigError(f"the gradient has shape {np.shape(g)} but the weights have shape {w.shape}")


def json_value(x: Any) -> Any:
    """A hyperparameter as JSON: arrays as lists, devices and modes by ``as_dict()``, realised devices by name."""
    if isinstance(x, np.ndarray):
        return x.ravel().tolist()
    if hasattr(x, "as_dict"):
        return x.as_dict()
    if isinstance(x, DeviceArray):
        return {"name": x.name, "realized": True}
    return x


@dataclass(frozen=True, eq=False)
class DigitalSGDConfig:
    """Digital SGD (P1 eq 2)."""

    lr: Any
    """α, the step size (scalar or per-trial, shape (trials,) or (trials, 1))."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", hyperparameter("lr", self.lr))

    def as_dict(self) -> dict[str, Any]:
        return {"lr": json_value(self.lr)}


@dataclass(frozen=True, eq=False)
class AnalogSGDConfig:
    """Analog SGD on vectors (P1 eq 3, P2 eq 2)."""

    lr: Any
    """α, the step size (scalar or per-trial); aihwkit's optimizer ``lr``."""
    device: AnyDevice
    """The weights' device (scalar Device or realised DeviceArray of shape (trials, d))."""
    mode: UpdateMode = EXPECTED
    """Expected (mean-field) or Pulsed (aihwkit's pulse trains with ``dw_min``)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", hyperparameter("lr", self.lr))
        _check_device(self.device)
        object.__setattr__(self, "mode", check_mode(self.mode, self.device))

    def as_dict(self) -> dict[str, Any]:
        return {"lr": json_value(self.lr), "device": json_value(self.device), "mode": self.mode.as_dict()}


class TwoArrayConfig:
    """Mixin of the configs with a slow array W (``device``, ``mode``) and a fast array P or A
    (``device_fast``, ``mode_fast``, defaulting to the slow array's)."""

    device: AnyDevice
    device_fast: AnyDevice | None
    mode: UpdateMode
    mode_fast: UpdateMode | None

    @property
    def fast_device(self) -> AnyDevice:
        """The fast array's device (``device_fast``, else ``device``)."""
        return self.device if self.device_fast is None else self.device_fast

    @property
    def fast_mode(self) -> UpdateMode:
        """The fast array's update mode (``mode_fast``, else ``mode``)."""
        return self.mode if self.mode_fast is None else self.mode_fast


@dataclass(frozen=True, eq=False)
class TikiTakaConfig(TwoArrayConfig):
    """Tiki-Taka / residual learning on vectors (P1 §4 with γ = 0; P2 §4.3 eqs 10–11)."""

    lr_fast: Any
    """β, the step size of the gradient write on P (aihwkit ``fast_lr``)."""
    lr_transfer: Any
    """α, the step size of the transfer P → W (aihwkit ``transfer_lr``)."""
    device: AnyDevice
    """Device of W (aihwkit ``unit_cell_devices[1]``)."""
    device_fast: AnyDevice | None = None
    """Device of P (aihwkit ``unit_cell_devices[0]``); None: the same as ``device``."""
    gamma: Any = 0.0
    """γ ≥ 0, mixing of the presented weights W + γP (P2 eq 10; 0 is P1's TT-v1); scalar or per trial."""
    transfer_every: int = 1
    """aihwkit ``transfer_every``: steps between transfers (after that step's P update)."""
    read_noise: float = 0.0
    """Std of additive Gaussian noise on each transfer read of P (aihwkit ``transfer_forward.out_noise``)."""
    mode: UpdateMode = EXPECTED
    """Update mode of W."""
    mode_fast: UpdateMode | None = None
    """Update mode of P; None: ``mode``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr_fast", hyperparameter("lr_fast", self.lr_fast))
        object.__setattr__(self, "lr_transfer", hyperparameter("lr_transfer", self.lr_transfer))
        object.__setattr__(self, "gamma", hyperparameter("gamma", self.gamma, allow_zero=True))
        object.__setattr__(self, "transfer_every", positive_int("transfer_every", self.transfer_every))
        object.__setattr__(self, "read_noise", non_negative("read_noise", self.read_noise))
        _check_device(self.device)
        if self.device_fast is not None:
            _check_device(self.device_fast, "device_fast")
        object.__setattr__(self, "mode", check_mode(self.mode, self.device))
        if self.mode_fast is not None:
            object.__setattr__(self, "mode_fast", check_mode(self.mode_fast))
        check_mode(self.fast_mode, self.fast_device)        # P's mode (``mode`` unless ``mode_fast``) on P's device

    def as_dict(self) -> dict[str, Any]:
        return {"lr_fast": json_value(self.lr_fast), "lr_transfer": json_value(self.lr_transfer),
                "gamma": json_value(self.gamma), "transfer_every": self.transfer_every, "read_noise": self.read_noise,
                "device": json_value(self.device), "device_fast": json_value(self.fast_device),
                "mode": self.mode.as_dict(), "mode_fast": self.fast_mode.as_dict()}


# -- the writes of Analog SGD and Tiki-Taka, shared by the vector and the tile algorithms -----------------------

def sgd_write(w: Array, grad: Array, rate: Any, device: AnyDevice, mode: UpdateMode, rng: Any = None,
              kernel: Any = None, scratch: bool = False) -> Array:
    r"""The Analog SGD write ``W ← U_q(W, −rate·grad)`` (P1 eq 3, P2 eq 2), the one implementation.

    The vector algorithms pass the gradient sample ``g``; the tile algorithms
    (:mod:`convergence.tile.transfer_family`) the batch gradient ``Σ_b d_b x_bᵀ`` (net form). ``kernel``
    (a :class:`~convergence.physics.pulses.PulseMap` of ``device`` in a Pulsed ``mode``, or an
    :class:`~convergence.physics.pulses.ExpectedMap` in the Expected mode) is its cached form.
    ``scratch``: ``grad`` is the caller's temporary and may be overwritten (one allocation less).
    """
    if isinstance(kernel, ExpectedMap) and isinstance(mode, Expected) and not scratch:
        return kernel.descent(w, grad, rate)       # −rate·grad formed inside the map (by blocks when large)
    g = np.multiply(grad, -rate, out=grad) if scratch else np.multiply(-rate, grad)
    if kernel is not None:
        if isinstance(mode, Pulsed) and not isinstance(kernel, ExpectedMap):
            return kernel.signed(w, pulse_counts(g, mode, rng), g >= 0, rng)
        if isinstance(mode, Expected) and isinstance(kernel, ExpectedMap):
            return kernel(w, g)
    return analog_update(w, g, device, mode, rng, scratch=True)


def transfer_read(p: Array, sigma: float, rng: Any, normal: Any = None) -> Array:
    """The transfer read of the fast array, ``P + σ ξ`` (``σ`` = read noise; ``normal(rng, shape, dtype)`` draws ξ,
    default ``rng.standard_normal``); P itself when σ = 0."""
    if not sigma:
        return p
    if rng is None:
        raise ConfigError("noisy transfer reads need an rng")
    xi = rng.standard_normal(p.shape) if normal is None else normal(rng, p.shape, p.dtype)
    return p + sigma * xi


def transfer_write(w: Array, read: Array, rate: Any, device: AnyDevice, mode: UpdateMode, rng: Any = None) -> Array:
    r"""The Tiki-Taka transfer ``W ← U_q(W, +rate·read)`` (P1 §4, P2 eq 11), the one implementation (vector
    algorithm: the whole of P; tile algorithms: the read columns)."""
    return analog_update(w, rate * read, device, mode, rng, scratch=True)


def digital_sgd(lr: Any) -> Algorithm:
    r"""Digital SGD, W ← W − α g (P1 eq 2).

    Args:
        lr: step size α (scalar or per-trial array).
    """
    cfg = DigitalSGDConfig(lr)
    lr = cfg.lr

    def init(w0: Any) -> SGDState:
        return SGDState(_as_weights(w0, lr=lr), 0)

    def step(state: SGDState, g: Array, rng: Any = None) -> SGDState:
        _check_grad(g, state.w)
        return SGDState(state.w - lr * g, state.k + 1)

    return Algorithm("digital-sgd", init, lambda s: s.w, step, lambda s: [], cfg)


def analog_sgd(lr: Any, device: AnyDevice, *, mode: UpdateMode = EXPECTED) -> Algorithm:
    r"""Analog SGD: W ← U_q(W, −α g) (P1 eq 3, P2 eq 2); :class:`AnalogSGDConfig`.

    .. math:: W_{k+1} = W_k - \alpha g_k \odot F(W_k) - \alpha |g_k| \odot G(W_k)

    The rank-1 case of :func:`convergence.tile.transfer_family.analog_sgd_tile` (a (d, 1) tile fed
    ``x = 1``, ``d = g``): both write through :func:`sgd_write`, so they agree bit for bit (a test checks it).

    Args:
        lr: step size α (scalar or per-trial array).
        device: the weights' device (scalar Device or realised DeviceArray).
        mode: :class:`~convergence.physics.pulses.Expected` or :class:`~convergence.physics.pulses.Pulsed`.
    """
    cfg = AnalogSGDConfig(lr, device, mode)
    lr, device, mode = cfg.lr, cfg.device, cfg.mode
    kernel = ExpectedMap.build(device, mode)

    def init(w0: Any) -> SGDState:
        return SGDState(_as_weights(w0, lr=lr, devices={"device": device}), 0)

    def step(state: SGDState, g: Array, rng: Any = None) -> SGDState:
        _check_grad(g, state.w)
        return SGDState(sgd_write(state.w, g, lr, device, mode, rng, kernel), state.k + 1)

    return Algorithm("analog-sgd", init, lambda s: s.w, step, lambda s: [("w", s.w, device)], cfg)


def tiki_taka(lr_fast: Any, lr_transfer: Any, device: AnyDevice, *, device_fast: AnyDevice | None = None,
              gamma: Any = 0.0, transfer_every: int = 1, read_noise: float = 0.0,
              mode: UpdateMode = EXPECTED, mode_fast: UpdateMode | None = None) -> Algorithm:
    r"""Tiki-Taka / residual learning (P1 §4 with γ = 0; P2 §4.3 eqs 10–11); :class:`TikiTakaConfig`.

    .. math::
        \bar W_k = W_k + \gamma P_k, \qquad
        P_{k+1} = U_q(P_k, -\beta\, g_k), \qquad
        W_{k+1} = U_q(W_k, +\alpha\, \tilde P_{k+1}) \text{ every } n \text{ steps}

    where ``g_k`` is the gradient sample at W̄_k (``query``), β = ``lr_fast``
    (the rate on P), α = ``lr_transfer`` and P̃ = P + read_noise·ξ is the
    (optionally noisy) transfer read. P stores the *negative* gradient direction
    (P2's convention; P1 writes P for +gradient and W ← W − αP, which is the same
    algorithm with P negated on a device with q+(w) = q-(−w)). The rank-1 case of
    :func:`convergence.tile.transfer_family.ttv1` (a (d, 1) tile, one column read per transfer): both write
    through :func:`sgd_write`, :func:`transfer_read` and :func:`transfer_write` (a test checks they agree bit
    for bit).

    Args:
        lr_fast: β, step size of the gradient update on P.
        lr_transfer: α, step size of the transfer P → W.
        device: device of W; ``device_fast`` the device of P (default: same).
        gamma: mixing γ of the presented weights W + γP (0 is P1's TT-v1).
        transfer_every: transfer every n steps (after the P update of that step).
        read_noise: std of additive Gaussian noise on each transfer read of P.
        mode, mode_fast: update modes of W and P (default: ``mode`` for both).
    """
    cfg = TikiTakaConfig(lr_fast, lr_transfer, device, device_fast, gamma, transfer_every, read_noise, mode,
                         mode_fast)
    lr_fast, lr_transfer, gamma, transfer_every, read_noise = (cfg.lr_fast, cfg.lr_transfer, cfg.gamma,
                                                               cfg.transfer_every, cfg.read_noise)
    device, device_fast, mode, mode_fast = cfg.device, cfg.fast_device, cfg.mode, cfg.fast_mode
    has_gamma = not (np.ndim(gamma) == 0 and gamma == 0.0)
    kernel_fast = ExpectedMap.build(device_fast, mode_fast)

    def init(w0: Any) -> TikiTakaState:
        w = _as_weights(w0, lr_fast=lr_fast, lr_transfer=lr_transfer, gamma=gamma,
                        devices={"device": device, "device_fast": device_fast})
        return TikiTakaState(w, np.zeros_like(w), 0)

    def query(state: TikiTakaState) -> Array:
        return state.w + gamma * state.p if has_gamma else state.w

    def step(state: TikiTakaState, g: Array, rng: Any = None) -> TikiTakaState:
        _check_grad(g, state.w)
        p = sgd_write(state.p, g, lr_fast, device_fast, mode_fast, rng, kernel_fast)
        k = state.k + 1
        w = state.w
        if k % transfer_every == 0:
            w = transfer_write(w, transfer_read(p, read_noise, rng), lr_transfer, device, mode, rng)
        return TikiTakaState(w, p, k)

    return Algorithm("tiki-taka", init, query, step, lambda s: [("w", s.w, device), ("p", s.p, device_fast)], cfg)


ALGORITHMS = {"digital-sgd": digital_sgd, "analog-sgd": analog_sgd, "tiki-taka": tiki_taka}
