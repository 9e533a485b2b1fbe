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
* ``spec() -> dict`` — JSON-able description (goes into checkpoints and reports).

States may be updated in place (for speed); the returned state is authoritative.

Built-in optimizers:

* :class:`DigitalSGD` — ``W ← W − lr dᵀx`` (P1 eq 2).
* :class:`AnalogSGD` — ``W ← U_q(W, −lr dᵀx)`` on any :mod:`convergence.physics.devices` device, in
  :class:`~convergence.physics.pulses.Expected` or :class:`~convergence.physics.pulses.Pulsed` mode via
  :func:`convergence.physics.pulses.analog_update` (P1 eq 3/7, P2 eq 2/5). The mini-batch's summed
  update is applied once per step (aihwkit applies ``batch`` sequential rank-1 updates; the two
  agree to first order in ``lr``; the per-sample pulse trains belong to :mod:`convergence.tile.analog_tile`).
* :class:`TikiTakaV1` — fast array P and slow array W (P1 §4, AIHWKIT TransferCompound):
  ``P ← U_q(P, −β dᵀx)`` every step, then every ``transfer_every`` steps
  ``W ← U_q(W, +α P)`` on one column of P (``columnwise=True``, P1 App. I.2 "we transfer 1 column
  every time"; columns cycle ``k mod in``) or on the whole matrix. P stores the negative
  gradient direction (P2's convention). ``α = transfer_lr·lr`` (aihwkit ``scale_transfer_lr``),
  ``β = fast_lr`` (absolute, the papers' β = 0.01) or ``fast_lr·lr`` when ``scale_fast_lr``.
  With ``gamma > 0`` the layer uses ``W + γP`` (residual learning, P2 eq 10).
* :class:`AlgorithmOptimizer` — any :class:`convergence.sim.algorithms.Algorithm` (the toolkit's
  step API on flattened weights of shape (1, out·in)) with the minibatch gradient ``dᵀx``.
"""
from __future__ import annotations

from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, non_negative, positive, positive_int
from convergence.physics.devices import AnyDevice, Device, DeviceArray
from convergence.physics.pulses import EXPECTED, Expected, UpdateMode, analog_update, check_mode, expected_update

Array = NDArray[Any]
State = dict

__all__ = ["WeightOptimizer", "DigitalSGD", "AnalogSGD", "TikiTakaV1", "AlgorithmOptimizer",
           "desired_update", "clip_to_device"]


@runtime_checkable
class WeightOptimizer(Protocol):
    """The interface every weight optimizer implements (see module docstring)."""

    name: str

    def init(self, w0: Array) -> State: ...

    def weights(self, state: State) -> Array: ...

    def update(self, state: State, x: Array, d: Array, lr: float, rng: Any) -> State: ...

    def arrays(self, state: State) -> Sequence[tuple[str, Array, Any]]: ...

    def spec(self) -> dict[str, Any]: ...


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
        # in place: W -= (lr d)ᵀ x  (one GEMM, no temporary of W's size beyond the product)
        state["w"] += desired_update(x, d, lr)
        return state

    def arrays(self, state: State) -> Sequence[tuple[str, Array, Any]]:
        return [("w", state["w"], None)]

    def spec(self) -> dict[str, Any]:
        return {"optimizer": self.name}


class AnalogSGD:
    r"""Analog SGD on a device: ``W ← U_q(W, −lr dᵀx)`` (P1 eq 3, P2 eq 2).

    Args:
        device: a :class:`~convergence.physics.devices.Device` or realised
            :class:`~convergence.physics.devices.DeviceArray` of shape (out, in).
        mode: :class:`~convergence.physics.pulses.Expected` (default) or :class:`~convergence.physics.pulses.Pulsed`.
    """

    name = "analog-sgd"

    def __init__(self, device: AnyDevice, mode: UpdateMode = EXPECTED, accumulate: str = "net") -> None:
        self.device = _check_device(device)
        self.mode = check_mode(mode)
        self.accumulate = _check_accumulate(accumulate)

    def init(self, w0: Array) -> State:
        return {"w": clip_to_device(np.array(w0, copy=True), self.device)}

    def weights(self, state: State) -> Array:
        return state["w"]

    def update(self, state: State, x: Array, d: Array, lr: float, rng: Any = None) -> State:
        w = state["w"]
        new = _write(w, x, d, lr, self.device, self.mode, rng, self.accumulate)
        state["w"] = new.astype(w.dtype, copy=False)
        return state

    def arrays(self, state: State) -> Sequence[tuple[str, Array, Any]]:
        return [("w", state["w"], self.device)]

    def spec(self) -> dict[str, Any]:
        return {"optimizer": self.name, "device": _device_spec(self.device), "mode": self.mode.as_dict(),
                "accumulate": self.accumulate}


class TikiTakaV1:
    r"""Tiki-Taka v1 (P1 §4; aihwkit ``TransferCompound``) with optional mixing γ (P2 RL).

    .. math::
        P \leftarrow U_q(P, -\beta\, d^\top x), \qquad
        W_{:,c} \leftarrow U_q(W_{:,c}, +\alpha\, P_{:,c}) \text{ every ``transfer_every`` steps}

    with ``c = (k/transfer_every) mod in`` cycling through the columns (``columnwise``) or all
    columns at once. ``α = transfer_lr·lr``; ``β = fast_lr`` (``scale_fast_lr=False``, the
    papers' absolute β) or ``fast_lr·lr``. Forward weights ``W + γP``.

    Args:
        device: device of W; ``device_fast`` that of P (default the same).
        fast_lr: β. transfer_lr: α / lr. transfer_every: steps between transfers.
        columnwise: transfer one column per transfer (P1) instead of the whole matrix.
        n_reads: columns per transfer when ``columnwise`` (aihwkit ``n_reads_per_transfer``).
        gamma: mixing γ ≥ 0 of the visible weights (0 = TT-v1).
        read_noise: std of additive Gaussian noise on each transfer read of P.
        mode, mode_fast: update modes of W and P.
    """

    name = "tiki-taka"

    def __init__(self, device: AnyDevice, *, device_fast: AnyDevice | None = None, fast_lr: float = 0.01,
                 transfer_lr: float = 1.0, transfer_every: int = 1, columnwise: bool = True, n_reads: int = 1,
                 gamma: float = 0.0, read_noise: float = 0.0, scale_fast_lr: bool = False,
                 mode: UpdateMode = EXPECTED, mode_fast: UpdateMode | None = None, accumulate: str = "net") -> None:
        self.device = _check_device(device)
        self.accumulate = _check_accumulate(accumulate)
        self.device_fast = self.device if device_fast is None else _check_device(device_fast)
        self.fast_lr = positive("fast_lr", fast_lr)
        self.transfer_lr = positive("transfer_lr", transfer_lr)
        self.transfer_every = positive_int("transfer_every", transfer_every)
        self.columnwise = bool(columnwise)
        self.n_reads = positive_int("n_reads", n_reads)
        self.gamma = non_negative("gamma", gamma)
        self.read_noise = non_negative("read_noise", read_noise)
        self.scale_fast_lr = bool(scale_fast_lr)
        self.mode = check_mode(mode)
        self.mode_fast = self.mode if mode_fast is None else check_mode(mode_fast)

    def init(self, w0: Array) -> State:
        w = clip_to_device(np.array(w0, copy=True), self.device)
        return {"w": w, "p": np.zeros_like(w), "k": np.array(0, dtype=np.int64)}

    def weights(self, state: State) -> Array:
        return state["w"] + np.asarray(self.gamma, state["p"].dtype) * state["p"] if self.gamma else state["w"]

    def update(self, state: State, x: Array, d: Array, lr: float, rng: Any = None) -> State:
        w, p = state["w"], state["p"]
        beta = self.fast_lr * lr if self.scale_fast_lr else self.fast_lr
        p = _write(p, x, d, beta, self.device_fast, self.mode_fast, rng, self.accumulate).astype(p.dtype, copy=False)
        k = int(state["k"]) + 1
        if k % self.transfer_every == 0:
            alpha = self.transfer_lr * lr
            if self.columnwise:
                n_in = p.shape[1]
                t = k // self.transfer_every - 1
                cols = (t * self.n_reads + np.arange(self.n_reads)) % n_in
                read = p[:, cols]
                if self.read_noise:
                    read = read + self.read_noise * rng.standard_normal(read.shape).astype(p.dtype)
                dev = _select_columns(self.device, cols)
                w[:, cols] = _update(w[:, cols], alpha * read, dev, self.mode, rng)
            else:
                read = p
                if self.read_noise:
                    read = p + self.read_noise * rng.standard_normal(p.shape).astype(p.dtype)
                w = _update(w, alpha * read, self.device, self.mode, rng).astype(w.dtype, copy=False)
        state["w"], state["p"], state["k"] = w, p, np.array(k, dtype=np.int64)
        return state

    def arrays(self, state: State) -> Sequence[tuple[str, Array, Any]]:
        return [("w", state["w"], self.device), ("p", state["p"], self.device_fast)]

    def spec(self) -> dict[str, Any]:
        return {"optimizer": self.name, "device": _device_spec(self.device),
                "device_fast": _device_spec(self.device_fast), "fast_lr": self.fast_lr,
                "transfer_lr": self.transfer_lr, "transfer_every": self.transfer_every,
                "columnwise": self.columnwise, "n_reads": self.n_reads, "gamma": self.gamma,
                "read_noise": self.read_noise, "scale_fast_lr": self.scale_fast_lr,
                "mode": self.mode.as_dict(), "mode_fast": self.mode_fast.as_dict(), "accumulate": self.accumulate}


ACCUMULATE = ("net", "signs")


def _check_accumulate(value: str) -> str:
    if value not in ACCUMULATE:
        raise ConfigError(f"accumulate must be one of {', '.join(ACCUMULATE)} (got {value!r})")
    return value


def signed_parts(x: Array, d: Array, lr: float) -> tuple[Array, Array]:
    r"""The batch's total up and down requests ``(U, D)`` with ``ΔW = U − D`` and ``U + D = Σ_b |ΔW_b|``."""
    dw, s = _net_and_total(x, d, lr)
    return 0.5 * (s + dw), 0.5 * (s - dw)


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
    w = analog_update(w, up, device, mode, rng)
    return analog_update(w, -down, device, mode, rng)


def _update(w: Array, dw: Array, device: Any, mode: UpdateMode, rng: Any) -> Array:
    """:func:`convergence.physics.pulses.analog_update`; in expected mode on a non-affine device the
    "signs" form with ``S = |dW|`` (``W + dW ⊙ q_{sign(dW)}(W)``: two response evaluations instead of four)."""
    if isinstance(mode, Expected) and device.affine() is None:
        return expected_update(w, dw, device, total=np.abs(dw))
    return analog_update(w, dw, device, mode, rng)


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


class AlgorithmOptimizer:
    r"""Any toolkit :class:`~convergence.sim.algorithms.Algorithm` as a weight optimizer.

    The layer's weights are flattened to (1, out·in) (one trial); ``update`` feeds the
    minibatch gradient ``g = dᵀx`` (flattened) to ``alg.step``. The algorithm's own step sizes
    are used: ``lr`` of the training loop is passed as a multiplier (``lr / lr_ref``) on the
    gradient, so a learning-rate schedule scales the algorithm's effective step
    (``lr_ref`` = the schedule's base rate).
    """

    def __init__(self, algorithm: Any, lr_ref: float = 1.0) -> None:
        for attr in ("init", "query", "step", "analog"):
            if not callable(getattr(algorithm, attr, None)):
                raise ConfigError(f"algorithm must provide {attr}() (the toolkit's Algorithm API)")
        self.algorithm = algorithm
        self.lr_ref = positive("lr_ref", lr_ref)
        self.name = getattr(algorithm, "name", "algorithm")
        self._shape: tuple[int, int] | None = None

    def init(self, w0: Array) -> State:
        w0 = np.asarray(w0)
        self._shape = w0.shape
        st = self.algorithm.init(w0.reshape(1, -1).astype(np.float64))
        return {"inner": st, "dtype": w0.dtype}

    def weights(self, state: State) -> Array:
        return np.asarray(self.algorithm.query(state["inner"])).reshape(self._shape).astype(state["dtype"],
                                                                                          copy=False)

    def update(self, state: State, x: Array, d: Array, lr: float, rng: Any = None) -> State:
        g = (d.T @ x).reshape(1, -1).astype(np.float64) * (lr / self.lr_ref)
        state["inner"] = self.algorithm.step(state["inner"], g, rng)
        return state

    def arrays(self, state: State) -> Sequence[tuple[str, Array, Any]]:
        return [(n, np.asarray(a).reshape(self._shape), dev) for n, a, dev in self.algorithm.analog(state["inner"])]

    def spec(self) -> dict[str, Any]:
        return {"optimizer": "algorithm", "name": self.name, "hyper": getattr(self.algorithm, "hyper", {}),
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

