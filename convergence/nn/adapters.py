r"""Adapters: toolkit algorithms and the aihwkit-faithful tile as network weight optimizers.

* :class:`AlgorithmLayer` — the one adapter from an :class:`convergence.sim.algorithms.Algorithm` to a
  layer's weight matrix (out, in), held as a single trial. Matrix (tile) algorithms
  (:mod:`convergence.tile.transfer_family`: TT-v1, TT-v2, RL-v2, c-TTv2, AGAD, in-memory SGD, and the
  network optimizers :class:`convergence.nn.optim.AnalogSGD` / :class:`convergence.nn.optim.TikiTakaV1`
  built on them) get ``x`` (1, batch, in), ``d`` (1, batch, out) and the optimizer learning rate
  ``lr / lr_ref``, which multiplies the rates the algorithm's config flags (aihwkit ``scale_fast_lr``,
  ``scale_transfer_lr``; always the step size of in-memory SGD). Vector algorithms
  (:mod:`convergence.sim.algorithms`) see the weights flattened to (1, out·in) and the gradient sample
  ``g = (lr / lr_ref) dᵀx``.
* :class:`TransferOptimizer` — the old name of :class:`AlgorithmLayer` for matrix algorithms.
* :class:`TileOptimizer` — a layer's weights on a :class:`convergence.tile.analog_tile.AnalogTile` (one trial),
  the same :class:`AlgorithmLayer` over :func:`tile_algorithm`: ``update`` performs the tile's sequential
  per-sample rank-1 updates ``W ← W − lr d_s x_sᵀ`` (modes ``expected`` / ``rounding`` / ``pulse_train``
  with aihwkit's update and bit-length management) on a :class:`TileState`. The layer's MVMs still go
  through the layer's own periphery (the same :mod:`convergence.physics.periphery`), so set the periphery
  on the layer, not on the tile.

The Swin's analog layers (:class:`convergence.swin.analog.ScaledTile`) use :class:`AlgorithmLayer` too.

States are dicts (checkpoints store their arrays, NamedTuple algorithm states flattened); ``update``
returns a new state and leaves its input unchanged.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, positive
from convergence.sim.algorithms import Algorithm
from convergence.tile.transfer_family import TransferConfig, transfer_algorithm

Array = NDArray[Any]

__all__ = ["AlgorithmLayer", "TileOptimizer", "TileState", "TransferOptimizer", "tile_algorithm"]


class AlgorithmLayer:
    """A layer's weight matrix (out, in) driven by an :class:`~convergence.sim.algorithms.Algorithm`.

    Implements the :class:`convergence.nn.optim.WeightOptimizer` interface (see the module docstring).

    Args:
        algorithm: the algorithm (matrix step API, or vector step API on the flattened weights).
        lr_ref: the training loop's ``lr`` is passed on as ``lr / lr_ref`` (the schedule's base rate
            gives factor 1).
    """

    def __init__(self, algorithm: Any, lr_ref: float = 1.0, name: str | None = None) -> None:
        for attr in ("init", "query", "step", "analog"):
            if not callable(getattr(algorithm, attr, None)):
                raise ConfigError(f"algorithm must provide {attr}() (the toolkit's Algorithm API)")
        self.algorithm = algorithm
        self.lr_ref = positive("lr_ref", lr_ref)
        self.matrix = tuple(getattr(algorithm, "inputs", ("g",))) == ("x", "d")
        self.name = name if name is not None else getattr(algorithm, "name", "algorithm")
        self._shape: tuple[int, ...] | None = None
        self._owned = _owned_algorithm(algorithm)

    def init(self, w0: Array) -> dict:
        w0 = np.asarray(w0)
        if w0.ndim != 2:
            raise ConfigError(f"weights must be a matrix (out, in) (got shape {w0.shape})")
        self._shape = w0.shape
        inner = self.algorithm.init(w0[None] if self.matrix else w0.reshape(1, -1).astype(np.float64))
        return {"inner": inner, "dtype": w0.dtype}

    def weights(self, state: dict) -> Array:
        w = np.asarray(self.algorithm.query(state["inner"]))
        return (w[0] if self.matrix else w.reshape(self._shape)).astype(state["dtype"], copy=False)

    def update(self, state: dict, x: Array, d: Array, lr: float, rng: Any = None) -> dict:
        factor = lr / self.lr_ref
        if self.matrix:
            inner = self.algorithm.step(state["inner"], np.asarray(x)[None], np.asarray(d)[None], rng, lr=factor)
        else:
            g = (d.T @ x).reshape(1, -1).astype(np.float64) * factor
            inner = self.algorithm.step(state["inner"], g, rng)
        return {**state, "inner": inner}

    def update_owned(self, state: dict, x: Array, d: Array, lr: float, rng: Any = None) -> dict:
        """:meth:`update` for a caller that owns ``state`` and drops it (a network layer's step): the same new
        state, but a transfer-family algorithm on network numerics writes its transferred columns (slow array,
        buffer, pulse counts) in place, changing ``state`` too, instead of copying the whole matrices."""
        if self._owned is None:
            return self.update(state, x, d, lr, rng)
        inner = self._owned.step(state["inner"], np.asarray(x)[None], np.asarray(d)[None], rng, lr=lr / self.lr_ref)
        return {**state, "inner": inner}

    def arrays(self, state: dict) -> Sequence[tuple[str, Array, Any]]:
        out = []
        for n, a, dev in self.algorithm.analog(state["inner"]):
            a = np.asarray(a)
            out.append((n, a[0] if self.matrix else a.reshape(self._shape), dev))
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"optimizer": self.name, "hyper": self.algorithm.as_dict(), "lr_ref": self.lr_ref}


def _owned_algorithm(algorithm: Any) -> Any:
    """The transfer-family ``algorithm`` on the owned form of its numerics (``numerics.owned``), or None."""
    cfg = getattr(algorithm, "config", None)
    owned = getattr(getattr(cfg, "numerics", None), "owned", None)
    if not isinstance(cfg, TransferConfig) or owned is None or owned is cfg.numerics:
        return None
    return transfer_algorithm(dataclasses.replace(cfg, numerics=owned))


class TransferOptimizer(AlgorithmLayer):
    """:class:`AlgorithmLayer` under its old name (for the transfer-family algorithms)."""

    def __init__(self, algorithm: Any, lr_ref: float = 1.0) -> None:
        super().__init__(algorithm, lr_ref, name=f"transfer:{getattr(algorithm, 'name', 'algorithm')}")


class TileState(NamedTuple):
    """The state of a layer on an aihwkit-like tile (one trial)."""

    w: Array
    """The persistent weights (1, out, in) (aihwkit's device weights)."""
    visible: Array
    """The weights the MVMs see (1, out, in): ``w`` plus the write noise drawn at the last pulse, if any."""


def tile_algorithm(make_tile: Callable[[Array], Any]) -> Algorithm:
    r"""The pure step API of an :class:`convergence.tile.analog_tile.AnalogTile`'s update.

    ``init(w0)`` builds the tile ``make_tile(w0)`` (the realised device, the update parameters and its own
    pulse generator; ``w0`` of shape (1, out, in)) and returns its :class:`TileState`;
    ``step(state, x, d, rng, lr)`` performs the tile's sequential per-sample rank-1 updates
    ``W ← W − lr d_s x_sᵀ`` on ``state`` and returns a new :class:`TileState` (``rng`` is not used: the
    tile draws its pulse trains from its own stream, as aihwkit's tile does). The tile object is a
    scratch engine loaded with ``state`` before each update, so the returned state is authoritative
    and the input state is left unchanged.
    """
    engine: dict[str, Any] = {}

    def init(w0: Array) -> TileState:
        tile = engine["tile"] = make_tile(np.asarray(w0, float))
        return TileState(tile.w, tile.weights)

    def step(state: TileState, x: Array, d: Array, rng: Any = None, lr: float = 1.0) -> TileState:
        tile = engine["tile"]
        tile.w, tile._visible = state.w, state.visible
        tile.update(np.asarray(x, float), np.asarray(d, float), lr)
        return TileState(tile.w, tile.weights)

    def analog(state: TileState) -> list[tuple[str, Array, Any]]:
        return [("w", state.w, engine["tile"].device)]

    return Algorithm("tile", init, lambda s: s.visible, step, analog, {"algorithm": "tile"}, ("x", "d"))


class TileOptimizer(AlgorithmLayer):
    """Weights on an aihwkit-faithful :class:`convergence.tile.analog_tile.AnalogTile`: an
    :class:`AlgorithmLayer` over :func:`tile_algorithm` (see module docstring).

    Args:
        device: the tile's device (``SoftBoundsReference`` or a toolkit Device; then ``dw_min``).
        update: :class:`convergence.tile.analog_tile.UpdateParameters` (default: the tile's default,
            ``pulse_train`` with BL 31 and update management).
        dw_min, c2c: granularity and cycle-to-cycle noise for toolkit devices.
        rng: seed or Generator of the tile (pulses, device draw); a seed gives every ``init`` the same stream.
    """

    def __init__(self, device: Any, *, update: Any = None, dw_min: Any = None, c2c: float = 0.0, rng: Any = 0) -> None:
        from convergence.tile.analog_tile import AnalogTile
        self.device = device
        self.update_parameters = update
        self.dw_min, self.c2c, self.rng = dw_min, c2c, rng

        def make_tile(w0: Array) -> Any:
            return AnalogTile(device, w0.shape, update=update, rng=rng, dw_min=dw_min, c2c=c2c, w0=w0)

        super().__init__(tile_algorithm(make_tile), name="tile")

    def as_dict(self) -> dict[str, Any]:
        up = self.update_parameters
        return {"optimizer": self.name, "device": getattr(self.device, "as_dict", lambda: repr(self.device))(),
                "update": None if up is None else {k: getattr(up, k) for k in ("mode", "desired_bl",
                                                                                 "update_bl_management",
                                                                                 "update_management")},
                "dw_min": self.dw_min, "c2c": self.c2c}
