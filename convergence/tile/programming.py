r"""The weight-programming experiment of Rasch et al. (Nat. Commun. 2024, arXiv 2303.04721) Figs. 3–4.

Two drivers: :func:`programming_run` (Fig. 4: program a tile to a target under a noisy stochastic gradient)
and :func:`constant_gradient_run` (Fig. 3: one constant gradient, traces of A, H and C of one element).
A third, :func:`lsq_tile_losses`, runs P1's least-squares experiments on an aihwkit-like tile (the papers'
AIHWKit runs, where the noise is read noise of the tile's forward pass), on tiles built by :func:`lsq_tile`.

Fig. 4's task ("programming a matrix to a target under a stochastic gradient"): a tile W of shape
(out, in) is trained on

.. math:: f(W) = \tfrac12\,\mathbb E_x \|(W - W^\ast) x\|^2,\qquad x \sim \mathcal N(0, I),

one sample per update, with output error ``d = (W − W*) x + σ_d ξ`` (ξ ~ N(0, I); the
σ_d term keeps a gradient-noise floor, so a symmetric-point offset causes a bias). For
the transfer algorithms W is the slow array C; the gradient is taken at C (γ = 0). The paper states the
device settings (Fig. 3: 5×5, δ = 0.05, every spread 0.3, reads every 25 updates, regular choppers;
Fig. 4: the same with σ_r and δ varied, σ_b = 0 for W, σ_± = 0.1) but not its learning rates, target
distribution or noise level; those are ours. Fig. 3's task is a constant gradient ``d xᵀ`` (the same x, d at
every update).

Devices: soft bounds with τ = 1 (range [−1, 1], ``n_states = 2/δ``) realised per element by
:func:`convergence.physics.reference_device.offset_softbounds`: up/down asymmetry spread ``σ_±``
(``up_down_dtod``) with the resulting symmetric-point shift compensated (aihwkit ``subtract_symmetry_point=True``),
step and bound spreads (``dw_min_dtod``, σ_b), plus a symmetric-point offset ``o_i = skew + σ_r ξ`` (aihwkit's
reference offset ``reference_mean``/``reference_std`` with opposite sign).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError
from convergence.physics.devices import Ideal
from convergence.physics.periphery import IOParameters
from convergence.physics.reference_device import SoftBoundsReference
from convergence.sim import driver
from convergence.tile.analog_tile import AnalogTile, FixedInput, UpdateParameters

Array = NDArray[np.float64]

__all__ = ["programming_run", "constant_gradient_run", "lsq_tile", "lsq_tile_losses"]


def programming_run(alg: Any, w_target: Array, steps: int, rng: Any, *, noise_std: float = 0.0,
                    record_every: int = 100, track: int | None = 0, progress: bool | None = False) -> dict[str, Array]:
    """Run ``alg`` (a :class:`~convergence.tile.transfer_family.TransferAlgorithm`) from W = 0 on the programming task.

    Step k draws x ~ N(0, I) (trials, 1, in), then (if ``noise_std``) ξ, and applies
    ``alg.step`` with ``d = (W − W*) x + noise_std ξ``, all from ``rng`` in this order; the loop is
    :func:`convergence.sim.driver.run` (``progress``: its progress bar). Records are taken after 0,
    ``record_every``, 2·``record_every``, … updates and after the last one.

    Returns ``steps`` (recorded update counts, starting at 0), ``rms`` (records, trials): the RMS
    over elements of ``W − W*`` (W = ``alg.query``), ``w_final`` and, if ``track`` is a trial
    index, ``w_track`` (records, out·in) of that trial.
    """
    trials, n_out, n_in = w_target.shape
    rec_steps, rms, track_w = [], [], []

    def record(k: int, state: Any) -> None:
        w = alg.query(state)
        rec_steps.append(k)
        rms.append(np.sqrt(np.mean((w - w_target) ** 2, axis=(1, 2))))
        if track is not None:
            track_w.append(w[track].ravel().copy())

    def step(k: int, state: Any) -> Any:
        x = rng.standard_normal((trials, 1, n_in))
        d = np.matmul(x, (alg.query(state) - w_target).transpose(0, 2, 1))
        if noise_std:
            d += noise_std * rng.standard_normal((trials, 1, n_out))
        return alg.step(state, x, d, rng)

    record_at = set(range(0, steps + 1, record_every)) | {steps}
    state = driver.run(alg.init(np.zeros_like(w_target)), step, steps, observe=record, observe_at=record_at,
                progress=progress, unit="update")
    out = {"steps": np.asarray(rec_steps, dtype=float), "rms": np.stack(rms), "w_final": alg.query(state)}
    if track is not None:
        out["w_track"] = np.stack(track_w)
    return out


def constant_gradient_run(alg: Any, x: Array, d: Array, steps: int, rng: Any, *, w0: Array | None = None,
                          a0: Array | None = None, element: tuple[int, int] = (0, 0),
                          progress: bool | None = False) -> dict[str, Array]:
    r"""Drive a TT-v2-family algorithm with one constant input/error pair (Rasch et al. Fig. 3 set-up).

    Every update is ``alg.step(state, x, d)`` with the same ``x`` (trials, 1, in) and ``d`` (trials, 1, out), so
    the desired write onto A is the constant ``−λ_A d xᵀ`` (a constant gradient ``d xᵀ``); the weights start at
    ``w0`` (default 0) and the fast array A at ``a0`` (default: the algorithm's initial A = 0; pass A's symmetric
    point to start it where a device rests). The loop is :func:`convergence.sim.driver.run`.

    Returns, per update k = 0..steps (the state before update k, and the final state), the traces of one
    ``element`` (row, column) across trials: ``a`` (A as read, against the reference 0), ``h`` (the digital
    buffer H, in pulses of C), ``w`` (C), ``chop`` (the input chopper of the element's column), ``mean``
    and ``ref`` (AGAD's running mean and frozen reference; zeros for the others), each (steps + 1, trials),
    and ``w_all`` (steps + 1, trials, out, in) — the whole C, for claims over every element.
    """
    trials, _, n_in = x.shape
    n_out = d.shape[2]
    state = alg.init(np.zeros((trials, n_out, n_in)) if w0 is None else w0)
    if a0 is not None:
        state = state._replace(a=np.broadcast_to(np.asarray(a0, dtype=float), state.a.shape).copy())
    i, j = element
    rec: dict[str, list[Array]] = {k: [] for k in ("a", "h", "w", "chop", "mean", "ref", "w_all")}

    def observe(k: int, s: Any) -> None:
        rec["a"].append(s.a[:, i, j].copy())
        rec["h"].append(s.h[:, i, j].copy() if s.h.size else np.zeros(trials))
        rec["w"].append(s.w[:, i, j].copy())
        rec["chop"].append(s.c_in[:, j].copy())
        rec["mean"].append(s.mean[:, i, j].copy() if s.mean.size else np.zeros(trials))
        rec["ref"].append(s.ref[:, i, j].copy() if s.ref.size else np.zeros(trials))
        rec["w_all"].append(s.w.copy())

    driver.run(state, lambda k, s: alg.step(s, x, d, rng), steps, observe=observe, progress=progress,
               unit="update")
    return {k: np.stack(v) for k, v in rec.items()}


def lsq_tile(kind: str, trials: int, d: int, *, tau: float, dw_min: float, desired_bl: int, read_noise: float,
             rng: np.random.Generator) -> Any:
    """The tile of P1's least-squares runs on a tile (P1 App. I.1): ``Linear(d, 1)`` weights, ``trials`` copies.

    ``kind="analog"``: aihwkit's soft-bounds reference device (``w_max = −w_min = τ``, ``dw_min``, symmetric point
    subtracted) written by pulse trains (``desired_bl``); ``kind="digital"``: an ideal device in expected
    mode, i.e. digital SGD. Both read through the same forward periphery with read noise ``read_noise``
    (aihwkit ``w_noise``), so the two differ only by the device.
    """
    io = IOParameters(w_noise=float(read_noise))
    if kind == "digital":
        return AnalogTile(Ideal(), (trials, 1, d), update=UpdateParameters(mode="expected"), forward_io=io, rng=rng,
                          dw_min=float(dw_min))
    if kind != "analog":
        raise ConfigError(f"kind must be 'analog' or 'digital' (got {kind!r})")
    dev = SoftBoundsReference(dw_min=float(dw_min), w_max=tau, w_min=-tau, subtract_symmetry_point=True)
    return AnalogTile(dev, (trials, 1, d), update=UpdateParameters(mode="pulse_train", desired_bl=int(desired_bl)),
                      forward_io=io, rng=rng)


def lsq_tile_losses(tile: Any, A: Array, y: Array, lr: float, iters: int, *,
                    progress: bool | None = False) -> Array:
    r"""P1's least-squares runs on an aihwkit-like tile with a digital bias (P1 App. I.1, the AIHWKit curves).

    ``tile`` (an :class:`~convergence.tile.analog_tile.AnalogTile` of shape (trials, 1, d)) holds the weights of
    ``Linear(d, 1)``, the bias b is digital and starts at 0. Every iteration reads the full batch
    ``X = A`` (n, d) through the tile's forward periphery (its read noise is the only noise: aihwkit ``w_noise``),
    forms the error ``e = (y_pred + b − y)/n`` of f = ½·MSE, applies the n sequential rank-1 updates
    ``W ← W − lr e_s x_sᵀ`` of :meth:`AnalogTile.update` and ``b ← b − lr Σ_s e_s``. The loop is
    :func:`convergence.sim.driver.run`.

    Returns the residual sum of squares ``‖W A^T + b − y‖²`` on the exact (noise-free) weights before each
    iteration, shape (iters, trials); ½·rss/(n d) is the scripts' ``get_loss(for_training=False)``.
    """
    trials = tile.shape[0]
    n, d = A.shape
    X = FixedInput(np.broadcast_to(A, (trials, n, d)))              # the same batch every iteration
    out = np.empty((iters, trials))

    def loss(k: int, state: tuple[Any, Array]) -> None:
        tile, bias = state
        resid = tile.w[:, 0, :] @ A.T + bias[:, 0] - y                  # exact weights, as get_loss(False)
        out[k] = np.einsum("tn,tn->t", resid, resid)

    def step(k: int, state: tuple[Any, Array]) -> tuple[Any, Array]:
        tile, bias = state
        y_pred = tile.forward(X) + bias                                  # noisy analog forward + digital bias
        err = (y_pred - y[None, :, None]) / n                            # d(MSE/2)/dy
        tile.update(X, err, lr)
        return tile, bias - lr * err.sum(axis=1, keepdims=True)

    driver.run((tile, np.zeros((trials, 1, 1))), step, iters, observe=loss, observe_at=range(iters),
               progress=progress, unit="iteration")
    return out
