r"""Weight optimizers: where a layer's weight matrix lives and how it is updated.

A layer with a weight matrix ``W`` (out, in) hands its update to a *weight optimizer*
with the small interface :class:`WeightOptimizer` (optax-like, state is a ``dict`` of
arrays so checkpoints need no pickle):

* ``init(W0) -> state`` — ``W0`` (out, in) float array (the initial weights in array units);
* ``weights(state) -> W`` — the matrix the forward/backward pass uses (for Tiki-Taka with
  mixing γ this is ``W + γP``, P2 eq 10);
* ``update(state, x, d, lr, rng) -> state`` — ``x`` (batch, in) is the layer input and ``d``
  (batch, out) the gradient of the loss w.r.t. the layer output; the *desired* update is the
  SGD step

  .. math:: \Delta W = -\,lr\; d^\top x \qquad (\text{shape (out, in)})

  which each optimizer realises in its own way (exactly, on a device, or via a fast array);
* ``arrays(state) -> [(name, array, device)]`` — the arrays that live on devices
  (for saturation histograms, P1 Fig. 7);
* ``as_dict() -> dict`` — JSON-able description (goes into checkpoints and reports).

``update`` returns a new state and leaves its input unchanged.

Built-in optimizers:

* :class:`DigitalSGD` — ``W ← W − lr dᵀx`` (P1 eq 2).
* :class:`AnalogSGD` — ``W ← U_q(W, −lr dᵀx)`` on any :mod:`convergence.physics.devices` device, in
  :class:`~convergence.physics.pulses.Expected` or :class:`~convergence.physics.pulses.Pulsed` mode (P1 eq 3/7,
  P2 eq 2/5). The mini-batch's summed update is applied once per step (``"net"``) or as its up and
  down parts (``"signs"``); aihwkit applies ``batch`` sequential rank-1 updates, which agree to first
  order in ``lr`` (the per-sample pulse trains belong to :mod:`convergence.tile.analog_tile`).
* :class:`TikiTakaV1` — fast array P and slow array W (P1 §4, aihwkit ``TransferCompound``):
  ``P ← U_q(P, −β dᵀx)`` every step, then every ``transfer_every`` steps ``W ← U_q(W, +α P)`` on
  ``n_reads`` columns of P (``columnwise=True``, P1 App. I.2 "we transfer 1 column every time";
  columns cycle) or on the whole matrix. P stores the negative gradient direction (P2's
  convention). ``α = transfer_lr·lr`` (aihwkit ``scale_transfer_lr``), ``β = fast_lr`` (absolute, the
  papers' β = 0.01) or ``fast_lr·lr`` when ``scale_fast_lr``. With ``gamma > 0`` the layer uses
  ``W + γP`` (residual learning, P2 eq 10).
* :class:`AlgorithmOptimizer` — any :class:`convergence.sim.algorithms.Algorithm`.

Analog SGD and TT-v1 are not re-implemented here: :class:`AnalogSGD` and :class:`TikiTakaV1` are
:class:`convergence.nn.adapters.AlgorithmLayer` s over the tile algorithms of
:mod:`convergence.tile.transfer_family` (:class:`~convergence.tile.transfer_family.TileSGDConfig`,
:class:`~convergence.tile.transfer_family.TTv1Config`) with :class:`NetworkNumerics`, which keeps the
layer's dtype (float32) and this module's fused expected-mode writes.
"""
from __future__ import annotations

import functools
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, positive, positive_int
from convergence.physics.devices import AnyDevice, Device, DeviceArray
from convergence.physics.pulses import (EXPECTED, Expected, ExpectedMap, UpdateMode, analog_update, check_mode,
                                        expected_update)
from convergence.nn.adapters import AlgorithmLayer
from convergence.tile.transfer_family import (TileNumerics, TileSGDConfig, TTv1Config, tile_sgd_algorithm,
                                              transfer_algorithm)

Array = NDArray[Any]
State = dict

__all__ = ["WeightOptimizer", "DigitalSGD", "AnalogSGD", "TikiTakaV1", "AlgorithmOptimizer", "NetworkNumerics",
           "desired_update", "clip_to_device"]


@runtime_checkable
class WeightOptimizer(Protocol):
    """The interface every weight optimizer implements (see module docstring)."""

    name: str

    def init(self, w0: Array) -> State: ...

    def weights(self, state: State) -> Array: ...

    def update(self, state: State, x: Array, d: Array, lr: float, rng: Any) -> State: ...

    def arrays(self, state: State) -> Sequence[tuple[str, Array, Any]]: ...

    def as_dict(self) -> dict[str, Any]: ...


def desired_update(x: Array, d: Array, lr: float) -> Array:
    """The SGD step ``ΔW = −lr dᵀx`` (out, in) in the dtype of ``x``."""
    return (d * np.asarray(-lr, dtype=d.dtype)).T @ x


def clip_to_device(w: Array, device: Any) -> Array:
    """Clip initial weights to the device's range (aihwkit ``set_weights`` clips to [w_min, w_max])."""
    lo, hi = device.bounds
    return np.clip(w, lo, hi).astype(w.dtype, copy=False)


def _device_spec(device: Any) -> Any:
    if hasattr(device, "as_dict"):
        return device.as_dict()
    if isinstance(device, DeviceArray):
        return {"name": device.name, "realized": True}
    return repr(device)


def _check_device(device: Any) -> AnyDevice:
    if not isinstance(device, (Device, DeviceArray)):
        raise ConfigError(f"device must be a Device or DeviceArray (got {type(device).__name__})")
    return device


class DigitalSGD:
    """Digital SGD, ``W ← W − lr dᵀx`` (P1 eq 2); exact floating point."""

    name = "digital-sgd"

    def init(self, w0: Array) -> State:
        return {"w": np.array(w0, copy=True)}

    def weights(self, state: State) -> Array:
        return state["w"]

    def update(self, state: State, x: Array, d: Array, lr: float, rng: Any = None) -> State:
        return {**state, "w": state["w"] + desired_update(x, d, lr)}

    def arrays(self, state: State) -> Sequence[tuple[str, Array, Any]]:
        return [("w", state["w"], None)]

    def as_dict(self) -> dict[str, Any]:
        return {"optimizer": self.name}


class NetworkNumerics(TileNumerics):
    r"""The numerics of the network layers, for the tile algorithms' ``numerics`` field.

    One trial (weights (1, out, in)) held in the weights' own dtype (float32 networks): the gradient
    write is :func:`_write` (``accumulate`` ``"net"`` or ``"signs"``, fused expected-mode updates),
    transfers are :func:`_update` on the device's selected columns, read noise is cast to the weights'
    dtype, and the initial weights are clipped to the device range (aihwkit ``set_weights``).
    """

    accumulate: tuple[str, ...] = ("net", "signs")
    """The ``accumulate`` choices of :func:`_write`."""

    chop_in_row_dtype = False
    """Chopped float32 rows take the float64 signs' dtype, so a chopped layer's products dᵀx are float64."""

    def weights(self, w0: Any, device: Any, **rates: Any) -> Array:
        w = np.array(w0, copy=True)
        if w.ndim != 3 or w.shape[0] != 1:
            raise ConfigError(f"network layers hold one trial: weights of shape (1, out, in) (got {w.shape})")
        for name, value in rates.items():
            if np.size(value) != 1:
                raise ConfigError(f"{name} must be a scalar for a network layer")
        return clip_to_device(w, device)

    def inputs(self, x: Any, d: Any, w: Array) -> tuple[Array, Array]:
        x, d = np.asarray(x), np.asarray(d)
        if x.ndim != 3 or d.ndim != 3 or x.shape[0] != 1 or d.shape[0] != 1 or x.shape[2] != w.shape[2] \
                or d.shape[2] != w.shape[1] or x.shape[1] != d.shape[1]:
            raise ConfigError(f"x must have shape (1, batch, {w.shape[2]}) and d (1, batch, {w.shape[1]}) "
                              f"(got {x.shape} and {d.shape})")
        return x, d

    def write(self, a: Array, x: Array, d: Array, rate: Any, device: Any, mode: UpdateMode, rng: Any,
              accumulate: str, kernel: Any = None) -> Array:
        return _write(a[0], x[0], d[0], _scalar(rate), device, mode, rng, accumulate).astype(a.dtype, copy=False)[None]

    def transfer(self, w: Array, dw: Array, device: Any, sl: slice, mode: UpdateMode, rng: Any) -> Array:
        if isinstance(device, DeviceArray):
            device = _select_columns(device, np.arange(sl.start, sl.stop))
        return _update(w[0], dw[0], device, mode, rng)[None]

    def noise(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Array:
        return rng.standard_normal(shape).astype(dtype)

    @property
    def owned(self) -> "OwnedNetworkNumerics":
        """:data:`NETWORK_OWNED`: these numerics writing transferred columns in place (a layer's step)."""
        return NETWORK_OWNED

    def as_dict(self) -> dict[str, Any]:
        return {"numerics": "network"}


NETWORK = NetworkNumerics()


class OwnedNetworkNumerics(NetworkNumerics):
    """:class:`NetworkNumerics` for a caller that owns the state and discards the old one (a network layer's
    :meth:`~convergence.nn.layers.WeightCore.step`): a column-wise transfer writes its columns into the slow
    array in place instead of copying the whole matrix (same values; the input state is then changed)."""

    def set_columns(self, arr: Array, sl: slice, value: Array) -> Array:
        """The columns ``sl`` of ``arr`` itself replaced by ``value`` (``value`` itself when it covers every
        column, as the copying form returns)."""
        if value.shape == arr.shape:
            return super().set_columns(arr, sl, value)
        arr[:, :, sl] = value
        return arr


NETWORK_OWNED = OwnedNetworkNumerics()


def _scalar(rate: Any) -> Any:
    if type(rate) is float:          # the usual rate: skip np.ndim's array conversion (a per-layer, per-step call)
        return rate
    return rate if np.ndim(rate) == 0 else float(np.ravel(rate)[0])


class AnalogSGD(AlgorithmLayer):
    r"""Analog SGD on a device: ``W ← U_q(W, −lr dᵀx)`` (P1 eq 3, P2 eq 2).

    The layer form of :func:`convergence.tile.transfer_family.analog_sgd_tile` (rate 1, so the step is
    the training loop's ``lr``) with :class:`NetworkNumerics`.

    Args:
        device: a :class:`~convergence.physics.devices.Device` or realised
            :class:`~convergence.physics.devices.DeviceArray` of shape (out, in).
        mode: :class:`~convergence.physics.pulses.Expected` (default) or :class:`~convergence.physics.pulses.Pulsed`.
        accumulate: ``"net"`` (one write of the summed update) or ``"signs"`` (up and down parts apart).
    """

    def __init__(self, device: AnyDevice, mode: UpdateMode = EXPECTED, accumulate: str = "net") -> None:
        self.device = _check_device(device)
        self.mode = check_mode(mode)
        self.accumulate = _check_accumulate(accumulate)
        self.config = TileSGDConfig(1.0, self.device, self.mode, self.accumulate, numerics=NETWORK)
        super().__init__(tile_sgd_algorithm(self.config), name="analog-sgd")
        # the usual layer write (expected mode, one net write, scalar affine device): its map bound once
        self._emap = (_expected_map(self.device) if isinstance(self.mode, Expected) and self.accumulate == "net"
                      and not self.config.auto_scale else None)

    def weights(self, state: State) -> Array:
        w = state["inner"].w[0]      # the tile state's W itself (NetworkNumerics keeps the layer's dtype)
        return w if w.dtype == state["dtype"] else super().weights(state)

    def update(self, state: State, x: Array, d: Array, lr: float, rng: Any = None, owned: bool = False) -> State:
        """:meth:`AlgorithmLayer.update`; with a bound expected map the same write without the generic step's
        re-dispatch (per layer and step): ``W ← ExpectedMap(W, −lr dᵀx)``, the operations of
        :func:`convergence.tile.transfer_family.tile_sgd_update` with :class:`NetworkNumerics` in the same order."""
        emap, inner = self._emap, state["inner"]
        w = inner.w
        if emap is None or type(x) is not np.ndarray or type(d) is not np.ndarray or x.ndim != 2 or d.ndim != 2 \
                or x.shape[0] != d.shape[0] or x.shape[1] != w.shape[2] or d.shape[1] != w.shape[1]:
            return super().update(state, x, d, lr, rng)     # checks and every other case
        factor = lr / self.lr_ref
        rate = _scalar(self.config.lr * factor if factor != 1.0 else self.config.lr)    # tile_sgd_update's rate
        dw = desired_update(x, d, rate)
        if owned and dw.dtype == w.dtype:
            new = w
            emap.into(w[0], dw)
        else:
            new = emap(w[0], dw).astype(w.dtype, copy=False)[None]
        return {**state, "inner": inner._replace(w=new, k=inner.k + x.shape[0])}

    def update_owned(self, state: State, x: Array, d: Array, lr: float, rng: Any = None) -> State:
        """:meth:`update` for a caller that owns ``state`` and drops it (a network layer's step): the same new weights,
        written into the old state's W (no new matrix) when the expected map is bound."""
        return self.update(state, x, d, lr, rng, owned=True)


class TikiTakaV1(AlgorithmLayer):
    r"""Tiki-Taka v1 (P1 §4; aihwkit ``TransferCompound``) with optional mixing γ (P2 RL).

    .. math::
        P \leftarrow U_q(P, -\beta\, d^\top x), \qquad
        W_{:,c} \leftarrow U_q(W_{:,c}, +\alpha\, P_{:,c}) \text{ every ``transfer_every`` steps}

    with ``c`` cycling through the columns (``n_reads`` per transfer, ``columnwise``) or all
    columns at once. ``α = transfer_lr·lr``; ``β = fast_lr`` (``scale_fast_lr=False``, the
    papers' absolute β) or ``fast_lr·lr``. Forward weights ``W + γP``. The layer form of
    :func:`convergence.tile.transfer_family.ttv1` (:class:`~convergence.tile.transfer_family.TTv1Config`)
    with :class:`NetworkNumerics`; the fast array P is the algorithm's A (``arrays`` name ``"a"``).

    Args:
        device: device of W; ``device_fast`` that of P (default the same).
        fast_lr: β. transfer_lr: α / lr. transfer_every: steps between transfers.
        columnwise: transfer ``n_reads`` columns per transfer (P1) instead of the whole matrix.
        n_reads: columns per transfer when ``columnwise`` (aihwkit ``n_reads_per_transfer``).
        gamma: mixing γ ≥ 0 of the visible weights (0 = TT-v1).
        read_noise: std of additive Gaussian noise on each transfer read of P.
        mode, mode_fast: update modes of W and P.
    """

    def __init__(self, device: AnyDevice, *, device_fast: AnyDevice | None = None, fast_lr: float = 0.01,
                 transfer_lr: float = 1.0, transfer_every: int = 1, columnwise: bool = True, n_reads: int = 1,
                 gamma: float = 0.0, read_noise: float = 0.0, scale_fast_lr: bool = False,
                 mode: UpdateMode = EXPECTED, mode_fast: UpdateMode | None = None, accumulate: str = "net") -> None:
        self.device = _check_device(device)
        self.accumulate = _check_accumulate(accumulate)
        self.device_fast = self.device if device_fast is None else _check_device(device_fast)
        self.fast_lr = positive("fast_lr", fast_lr)
        self.columnwise = bool(columnwise)
        self.mode = check_mode(mode)
        self.mode_fast = self.mode if mode_fast is None else check_mode(mode_fast)
        kw = dict(device_fast=self.device_fast, mode_fast=self.mode_fast,
                  transfer_lr=positive("transfer_lr", transfer_lr), transfer_every=transfer_every,
                  n_reads=positive_int("n_reads", n_reads) if self.columnwise else None, read_noise=read_noise,
                  gamma=gamma, accumulate=self.accumulate, units_in_mbatch=True, scale_fast_lr=scale_fast_lr,
                  scale_transfer_lr=True)
        self.config = TTv1Config(self.fast_lr, self.device, self.mode, numerics=NETWORK, **kw)
        self.transfer_lr, self.transfer_every = self.config.transfer_lr, self.config.transfer_every
        self.n_reads, self.gamma, self.read_noise = positive_int("n_reads", n_reads), self.config.gamma, \
            self.config.read_noise
        self.scale_fast_lr = self.config.scale_fast_lr
        super().__init__(transfer_algorithm(self.config), name="tiki-taka")

    def weights(self, state: State) -> Array:
        if self.gamma == 0.0:        # the presented weights are C itself (transfer_query), in the layer's dtype
            w = state["inner"].w[0]
            if w.dtype == state["dtype"]:
                return w
        return super().weights(state)


ACCUMULATE = ("net", "signs")


def _check_accumulate(value: str) -> str:
    if value not in ACCUMULATE:
        raise ConfigError(f"accumulate must be one of {', '.join(ACCUMULATE)} (got {value!r})")
    return value


def signed_parts(x: Array, d: Array, lr: float) -> tuple[Array, Array]:
    r"""The batch's total up and down requests ``(U, D)`` with ``ΔW = U − D`` and ``U + D = Σ_b |ΔW_b|``."""
    dw, s = _net_and_total(x, d, lr)
    if not (type(s) is np.ndarray and s.dtype.kind == "f" and type(dw) is np.ndarray and dw.dtype == s.dtype
            and dw.shape == s.shape):
        return 0.5 * (s + dw), 0.5 * (s - dw)
    up = np.add(s, dw)
    up *= 0.5
    down = np.subtract(s, dw, out=s)    # the same operations as 0.5 * (s ± dw), in the temporaries' memory
    down *= 0.5
    return up, down


def _net_and_total(x: Array, d: Array, lr: float) -> tuple[Array, Array]:
    """``ΔW = −lr dᵀx`` and ``S = Σ_b |ΔW_b| = |lr| |d|ᵀ|x|`` (an outer product's magnitude is the
    product of magnitudes: two GEMMs)."""
    return desired_update(x, d, lr), (np.abs(d) * np.asarray(abs(lr), dtype=d.dtype)).T @ np.abs(x)


def _write(w: Array, x: Array, d: Array, lr: float, device: Any, mode: UpdateMode, rng: Any, accumulate: str) -> Array:
    r"""Write the batch's update ``−lr Σ_b d_b x_bᵀ`` onto ``w`` on ``device``.

    * ``"net"`` — one write of the net update (the theory's minibatch step, P1 eq 3 / P2 eq 2);
    * ``"signs"`` — the batch's up requests and down requests are written separately, as aihwkit's
      per-sample pulsing does to first order in δ: expected mode
      :func:`convergence.physics.pulses.expected_update` in its "signs" form
      ``W + U ⊙ q₊(W) − D ⊙ q₋(W)`` (= ``W + ΔW⊙F − (Σ_b|ΔW_b|)⊙G``: the asymmetric drift of
      sample-by-sample updates, larger than the net step's ``|ΔW|⊙G``); pulsed mode: the up pulses,
      then the down pulses.
    """
    if accumulate == "net":
        return _update(w, desired_update(x, d, lr), device, mode, rng)
    if isinstance(mode, Expected):
        dw, s = _net_and_total(x, d, lr)
        return expected_update(w, dw, device, total=s)
    up, down = signed_parts(x, d, lr)
    w = analog_update(w, up, device, mode, rng, scratch=True)
    return analog_update(w, -down, device, mode, rng, scratch=True)


def _update(w: Array, dw: Array, device: Any, mode: UpdateMode, rng: Any) -> Array:
    """:func:`convergence.physics.pulses.analog_update`; in expected mode on a non-affine device the
    "signs" form with ``S = |dW|`` (``W + dW ⊙ q_{sign(dW)}(W)``: two response evaluations instead of four)."""
    if isinstance(mode, Expected):
        emap = _expected_map(device) if isinstance(device, Device) else None
        if emap is not None:
            return emap(w, dw)
        if device.affine() is None:
            return expected_update(w, dw, device, total=np.abs(dw))
    return analog_update(w, dw, device, mode, rng)


@functools.lru_cache(maxsize=64)
def _expected_map(device: Any) -> ExpectedMap | None:
    """The cached :class:`~convergence.physics.pulses.ExpectedMap` of a scalar affine device (None otherwise): the
    expected-mode write with its coefficients computed once instead of every layer and step (callers check the mode)."""
    return ExpectedMap.build(device, EXPECTED)


def _select_columns(device: Any, cols: Array) -> Any:
    """The device restricted to columns ``cols`` (scalar devices are shared by all elements)."""
    if isinstance(device, DeviceArray):
        return _device_array_columns(device, cols)
    return device


def _device_array_columns(dev: DeviceArray, cols: Array) -> DeviceArray:
    import dataclasses

    def take(v: Any) -> Any:
        a = np.asarray(v)
        return a[..., cols] if a.ndim >= 1 and a.shape[-1] > 1 else v

    changes = {f.name: take(getattr(dev, f.name)) for f in dataclasses.fields(dev)
               if isinstance(getattr(dev, f.name), np.ndarray)}
    return dataclasses.replace(dev, **changes)


class AlgorithmOptimizer(AlgorithmLayer):
    r"""Any toolkit :class:`~convergence.sim.algorithms.Algorithm` as a weight optimizer (old name of
    :class:`convergence.nn.adapters.AlgorithmLayer`).

    A vector algorithm sees the layer's weights flattened to (1, out·in) (one trial) and the
    minibatch gradient ``g = (lr / lr_ref) dᵀx``; a matrix algorithm the rows ``x``, ``d`` and the
    learning rate ``lr / lr_ref``. ``lr_ref`` = the schedule's base rate.
    """

    def __init__(self, algorithm: Any, lr_ref: float = 1.0) -> None:
        super().__init__(algorithm, lr_ref)

    def as_dict(self) -> dict[str, Any]:
        return {"optimizer": "algorithm", "name": self.name, "hyper": self.algorithm.as_dict(),
                "lr_ref": self.lr_ref}


def flat_state(state: State, prefix: str) -> dict[str, np.ndarray]:
    """Arrays of a state for ``np.savez`` (nested toolkit states of NamedTuples are flattened)."""
    out: dict[str, np.ndarray] = {}
    for key, val in state.items():
        name = f"{prefix}.{key}"
        if isinstance(val, dict):
            out.update(flat_state(val, name))
        elif hasattr(val, "_fields"):  # NamedTuple state of a toolkit Algorithm
            out.update(flat_state(dict(zip(val._fields, val)), name + "#nt"))
        elif isinstance(val, np.dtype):
            continue
        else:
            out[name] = np.asarray(val)
    return out


def load_flat_state(state: State, arrays: dict[str, np.ndarray], prefix: str) -> State:
    """Inverse of :func:`flat_state` into a template ``state`` (from ``init``); shapes must match."""
    new: State = {}
    for key, val in state.items():
        name = f"{prefix}.{key}"
        if isinstance(val, dict):
            new[key] = load_flat_state(val, arrays, name)
        elif hasattr(val, "_fields"):
            inner = load_flat_state(dict(zip(val._fields, val)), arrays, name + "#nt")
            new[key] = type(val)(**{f: (int(inner[f]) if np.ndim(inner[f]) == 0 and
                                        isinstance(getattr(val, f), int) else inner[f]) for f in val._fields})
        elif isinstance(val, np.dtype):
            new[key] = val
        else:
            if name not in arrays:
                raise ConfigError(f"checkpoint is missing array {name!r}")
            arr = arrays[name]
            if np.shape(arr) != np.shape(val):
                raise ConfigError(f"checkpoint array {name!r} has shape {np.shape(arr)}, expected {np.shape(val)}")
            new[key] = np.array(arr, dtype=np.asarray(val).dtype)
    return new

