r"""An analog linear layer ``y = W x + b`` whose weights live on a tile algorithm, for the tile recipes.

* **weights**: any matrix :class:`~convergence.sim.algorithms.Algorithm` of
  :mod:`convergence.tile.transfer_family` — in-memory SGD on one tile (:func:`~.transfer_family.analog_sgd_tile`,
  aihwkit ``SingleRPUConfig``) or a transfer algorithm (TT-v1, TT-v2, RL-v2, c-TTv2, AGAD), in any write mode
  (``Expected``, ``Pulsed`` or :class:`~convergence.tile.analog_tile.TileWrite`). The forward and backward
  passes see the presented weights ``W = algorithm.query(state)`` (C, or C + γA);
* **bias**: none; ``"digital"`` — a float vector outside the tile, ``b ← b − lr Σ_s d_s`` (aihwkit
  ``digital_bias=True``); or ``"analog"`` — one more tile column fed the constant input 1, so the bias is
  read through the periphery and written by the algorithm like every weight (aihwkit's analog bias);
* **forward** ``y_s = MVM_fwd(W, x_s) + b`` and **backward** ``z_s = MVM_bwd(W, d_s) = Wᵀ d_s`` through
  :mod:`convergence.physics.periphery` (``forward_io``/``backward_io``; exact by default);
* **step** ``(x, d, lr)``: one optimizer step with the layer inputs ``x`` and the output errors
  ``d = ∂L/∂y``, i.e. the SGD direction ``−lr Σ_s d_s x_sᵀ`` handed to the algorithm (``lr`` is aihwkit's
  optimizer learning rate: it multiplies the rates the algorithm's config scales).

Arrays carry the leading trials axis: ``x`` (trials, samples, in), ``d`` and ``y`` (trials, samples, out).
All randomness (periphery noise, pulses, reads) comes from the layer's one Generator, in call order.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError
from convergence.physics.periphery import PERFECT, IOParameters, backward, forward
from convergence.sim.algorithms import Algorithm

Array = NDArray[np.float64]

__all__ = ["AnalogLinear", "BIAS"]

BIAS = (None, "digital", "analog")


class AnalogLinear:
    """A batch of analog linear layers (leading trials axis) over a matrix algorithm; see the module docstring.

    Args:
        algorithm: a matrix :class:`~convergence.sim.algorithms.Algorithm` (``inputs = ("x", "d")``).
        w0: initial weights (trials, out, in).
        bias: None, ``"digital"`` or ``"analog"``.
        bias0: initial bias (broadcast to (trials, out)).
        forward_io, backward_io: periphery of the two passes (:class:`~convergence.physics.periphery.IOParameters`).
        rng: numpy Generator (or seed) for every random draw of the layer.
    """

    def __init__(self, algorithm: Algorithm, w0: Any, *, bias: str | None = None, bias0: Any = 0.0,
                 forward_io: IOParameters = PERFECT, backward_io: IOParameters = PERFECT, rng: Any = 0) -> None:
        if not isinstance(algorithm, Algorithm) or not algorithm.matrix:
            raise ConfigError("algorithm must be a matrix Algorithm (a tile algorithm of convergence.tile)")
        if bias not in BIAS:
            raise ConfigError(f"bias must be None, 'digital' or 'analog' (got {bias!r})")
        for name, io in (("forward_io", forward_io), ("backward_io", backward_io)):
            if not isinstance(io, IOParameters):
                raise ConfigError(f"{name} must be an IOParameters")
        w0 = np.asarray(w0, dtype=float)
        if w0.ndim != 3:
            raise ConfigError(f"w0 must have shape (trials, out, in) (got {w0.shape})")
        T, n_out, _ = w0.shape
        b0 = np.broadcast_to(np.asarray(bias0, dtype=float), (T, n_out)) if bias is not None else None
        self.algorithm, self.bias_kind = algorithm, bias
        self.forward_io, self.backward_io = forward_io, backward_io
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        if bias == "analog":
            w0 = np.concatenate([w0, b0[:, :, None]], axis=2)
        self.state = algorithm.init(w0)
        self._bias = b0[:, None, :].copy() if bias == "digital" else None

    # state ---------------------------------------------------------------------------------------------
    @property
    def presented(self) -> Array:
        """The tile's presented weights (trials, out, in [+1 for the analog bias column])."""
        return self.algorithm.query(self.state)

    @property
    def weights(self) -> Array:
        """W (trials, out, in), without the analog bias column."""
        w = self.presented
        return w[:, :, :-1] if self.bias_kind == "analog" else w

    @property
    def bias(self) -> Array | None:
        """b (trials, out), or None without a bias."""
        if self.bias_kind == "analog":
            return self.presented[:, :, -1]
        return None if self._bias is None else self._bias[:, 0, :]

    def _inputs(self, x: Any) -> Array:
        x = np.asarray(x, dtype=float)
        if self.bias_kind == "analog":
            x = np.concatenate([x, np.ones(x.shape[:2] + (1,))], axis=2)
        return x

    # passes --------------------------------------------------------------------------------------------
    def forward(self, x: Any) -> Array:
        """``y = MVM_fwd(W, x) + b``; x (trials, samples, in) -> (trials, samples, out)."""
        y = forward(self.presented, self._inputs(x), self.forward_io, self.rng)
        return y + self._bias if self._bias is not None else y

    def backward(self, d: Any) -> Array:
        """The input gradient ``z = MVM_bwd(W, d) = Wᵀ d``; d (trials, samples, out) -> (trials, samples, in)."""
        z = backward(self.presented, np.asarray(d, dtype=float), self.backward_io, self.rng)
        return z[:, :, :-1] if self.bias_kind == "analog" else z

    def step(self, x: Any, d: Any, lr: float = 1.0) -> None:
        """One optimizer step: the algorithm's update with ``x``, ``d`` and learning rate ``lr``; a digital bias
        moves by ``−lr Σ_s d_s``."""
        d = np.asarray(d, dtype=float)
        self.state = self.algorithm.step(self.state, self._inputs(x), d, self.rng, lr=lr)
        if self._bias is not None:
            self._bias = self._bias - lr * d.sum(axis=1, keepdims=True)
