r"""Adapters: the aihwkit-faithful tile and the TT-v2 family as network weight optimizers.

* :class:`TileOptimizer` — a layer's weights on a :class:`convergence.tile.analog_tile.AnalogTile` (one trial):
  ``update`` performs the tile's sequential per-sample rank-1 updates
  ``W ← W − lr d_s x_sᵀ`` (modes ``expected`` / ``rounding`` / ``pulse_train`` with aihwkit's
  update and bit-length management; AIHWKIT.md §2). The layer's MVMs still go through the layer's
  own periphery (the same :mod:`convergence.physics.periphery`), so set the periphery on the layer, not on
  the tile.
* :class:`TransferOptimizer` — any :class:`convergence.tile.transfer_family.TransferAlgorithm` (``ttv1``,
  ``ttv2``, ``rlv2``, ``chopped_ttv2``, ``agad``, ``analog_sgd_tile``) on weights (1, out, in).
  Those algorithms carry their own rates (``lr_fast``, ``transfer_lr``) and take no learning
  rate; the training loop's ``lr`` enters as the factor ``lr / lr_ref`` on ``d`` (so a schedule
  scales the gradient write onto the fast array, aihwkit's ``scale_fast_lr``, while the transfer
  rate stays fixed; with auto-scaling (c-TTv2) the factor is normalised away).

Both keep their hidden state inside the wrapped object/NamedTuple; checkpoints store the
TransferState arrays, and for tiles the persistent weights (a realised device-to-device draw is
rebuilt from the tile's seed, not stored).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, positive

Array = NDArray[Any]

__all__ = ["TileOptimizer", "TransferOptimizer"]


class TileOptimizer:
    """Weights on an aihwkit-faithful :class:`convergence.tile.analog_tile.AnalogTile` (see module docstring).

    Args:
        device: the tile's device (``SoftBoundsReference`` or a toolkit Device; then ``dw_min``).
        update: :class:`convergence.tile.analog_tile.UpdateParameters` (default: the tile's default,
            ``pulse_train`` with BL 31 and update management).
        dw_min, c2c: granularity and cycle-to-cycle noise for toolkit devices.
        rng: seed or Generator of the tile (pulses, device draw).
    """

    name = "tile"

    def __init__(self, device: Any, *, update: Any = None, dw_min: Any = None, c2c: float = 0.0, rng: Any = 0) -> None:
        from convergence.tile.analog_tile import AnalogTile, UpdateParameters  # noqa: F401 - fail early if the tile is absent
        self.device = device
        self.update_parameters = update
        self.dw_min, self.c2c, self.rng = dw_min, c2c, rng
        self.tile: Any = None

    def init(self, w0: Array) -> dict:
        from convergence.tile.analog_tile import AnalogTile
        w0 = np.asarray(w0)
        self._dtype = w0.dtype
        self.tile = AnalogTile(self.device, (1, *w0.shape), update=self.update_parameters, rng=self.rng,
                               dw_min=self.dw_min, c2c=self.c2c, w0=w0[None].astype(float))
        return {"w": self.tile.w[0]}

    def weights(self, state: dict) -> Array:
        return self.tile.weights[0].astype(self._dtype, copy=False)

    def update(self, state: dict, x: Array, d: Array, lr: float, rng: Any = None) -> dict:
        self.tile.update(np.asarray(x, float)[None], np.asarray(d, float)[None], lr)
        state["w"] = self.tile.w[0]
        return state

    def arrays(self, state: dict) -> Sequence[tuple[str, Array, Any]]:
        return [("w", self.tile.w[0], getattr(self.tile, "device", None))]

    def spec(self) -> dict[str, Any]:
        up = self.update_parameters
        return {"optimizer": self.name, "device": getattr(self.device, "as_dict", lambda: repr(self.device))(),
                "update": None if up is None else {k: getattr(up, k) for k in ("mode", "desired_bl",
                                                                                 "update_bl_management",
                                                                                 "update_management")},
                "dw_min": self.dw_min, "c2c": self.c2c}

    def load(self, state: dict) -> None:
        """Restore the persistent weights after :func:`convergence.nn.checkpoint.load_checkpoint`."""
        self.tile.set_weights(np.asarray(state["w"], float)[None])


class TransferOptimizer:
    """A :class:`convergence.tile.transfer_family.TransferAlgorithm` as a weight optimizer (see module docstring)."""

    def __init__(self, algorithm: Any, lr_ref: float = 1.0) -> None:
        for attr in ("init", "query", "step", "analog"):
            if not callable(getattr(algorithm, attr, None)):
                raise ConfigError(f"algorithm must provide {attr}() (convergence.tile.transfer_family's TransferAlgorithm API)")
        self.algorithm = algorithm
        self.lr_ref = positive("lr_ref", lr_ref)
        self.name = f"transfer:{getattr(algorithm, 'name', 'algorithm')}"

    def init(self, w0: Array) -> dict:
        w0 = np.asarray(w0)
        return {"inner": self.algorithm.init(w0[None].astype(float)), "dtype": w0.dtype}

    def weights(self, state: dict) -> Array:
        return np.asarray(self.algorithm.query(state["inner"]))[0].astype(state["dtype"], copy=False)

    def update(self, state: dict, x: Array, d: Array, lr: float, rng: Any = None) -> dict:
        scale = lr / self.lr_ref
        state["inner"] = self.algorithm.step(state["inner"], np.asarray(x, float)[None],
                                             (np.asarray(d, float) * scale)[None], rng)
        return state

    def arrays(self, state: dict) -> Sequence[tuple[str, Array, Any]]:
        return [(n, np.asarray(a)[0], dev) for n, a, dev in self.algorithm.analog(state["inner"])]

    def spec(self) -> dict[str, Any]:
        return {"optimizer": self.name, "hyper": getattr(self.algorithm, "hyper", {}), "lr_ref": self.lr_ref}
