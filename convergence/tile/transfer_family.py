r"""Transfer-based analog training on matrix tiles: TT-v1, TT-v2, RL-v2, c-TTv2 and AGAD.

All algorithms act on weights of shape ``(trials, out, in)`` and are driven by
inputs ``x`` of shape ``(trials, batch, in)`` and output errors ``d`` of shape
``(trials, batch, out)`` (``d = ∂L/∂y`` for ``y = W x``, so the SGD update is
``W ← W − lr · Σ_b d_b x_bᵀ``). Every algorithm is an :class:`~convergence.sim.algorithms.Algorithm`
(the toolkit's one step-API type, matrix form ``step(state, x, d, rng=None, lr=1.0)``) built from one
frozen config: :class:`TTv1Config`, :class:`TTv2Config`, :class:`RLv2Config`, :class:`ChoppedTTv2Config`,
:class:`AGADConfig` (presets of :class:`TransferConfig`) or :class:`TileSGDConfig`; the factories
:func:`ttv1`, :func:`ttv2`, :func:`rlv2`, :func:`chopped_ttv2`, :func:`agad` and :func:`analog_sgd_tile`
are thin constructors of those configs. Every piece of hidden state (A, C, H, choppers, running
means, references, counters, pulse counts) lives in the explicit :class:`TransferState`; ``step``
returns a new state. Hyperparameters ``lr_fast``/``transfer_lr`` are scalars or per-trial arrays
(shape (trials,) or (trials, 1, 1)). A config's ``numerics`` says how arrays are held and written
(:class:`TileNumerics`: float64, any number of trials; the network layers use one float32 trial).

The shared skeleton (Rasch et al., Nat. Commun. 15:7133 (2024), arXiv 2303.04721,
Fig. 1; aihwkit ``TransferCompound``/``ChoppedTransferCompound``/``DynamicTransferCompound``):

1. **Gradient write onto the fast array A** (chopped for c-TTv2/AGAD):

   .. math:: \Delta A^{\rm desired} = -\lambda_A \sum_b (c_{out}\odot d_b)(c_{in}\odot x_b)^\top

   realised by the device's update in one of three write modes, the config's ``mode`` switch:
   ``Expected()`` (mean field, :func:`convergence.physics.pulses.analog_update`), ``Pulsed(δ)``
   (stochastic rounding of per-element pulse counts, :func:`~convergence.physics.pulses.apply_pulses`) or
   ``TileWrite(δ, update)`` (the tile's per-sample write, :func:`convergence.tile.analog_tile.tile_update`,
   in its own switch ``update.mode``: aihwkit's stochastic bit trains with update and bit-length management,
   per-element stochastic rounding, or the composed per-sample expected maps).
2. **Transfer** every ``transfer_every`` vector updates: read the next column ``k``
   (cycling 0, 1, …, in − 1) of A, ``ω = MVM_io(A, e_k) + σ_read ξ`` (a forward MVM through the
   ``transfer_forward`` periphery, exact when None; aihwkit's default read is noisy and quantised,
   :data:`convergence.physics.periphery.AIHWKIT_TRANSFER_FORWARD`).

   * TT-v1 (``ttv1``): ``C[:, k] ← U_q(C[:, k], +transfer_lr · ω)`` (no buffer); in TileWrite mode a
     tile update of C with ``x = e_k``, ``d = −ω`` (aihwkit's ``transfer_update``).
   * TT-v2 family: ``H[:, k] ← (1 − decay) H[:, k] + λ_H c_in[k] c_out ⊙ (ω − p_ref[:, k])``
     (``p_ref = 0`` except AGAD); where ``|H| ≥ 1``: ``n = clip(trunc(H), ±max_pulses)``
     pulses are written to ``C[:, k]`` and ``H ← momentum·H`` (``forget_buffer``) or
     ``H ← H − (1 − momentum) n``.
   * AGAD: running mean ``M[:, k] ← (1 − β) M + β ω`` with ``β = min(tail_weightening/N, 1)``;
     ``p_ref[:, k] ← M[:, k]`` at the first read after column k's chopper switched; no C writes
     during the first chopper period (aihwkit's ``transfer_counter > N``).
3. **Chopper switch** after each read of column k: random flip with probability
   ``in_chop_prob`` (``chop_random=True``) or a regular flip every
   ``N = max(ceil(1/in_chop_prob), 2)`` reads of that column; output choppers flip per row
   with ``out_chop_prob`` after each full sweep.

Units and the mapping to aihwkit's parameter names
---------------------------------------------------
* ``lr_fast`` = λ_A = aihwkit ``fast_lr`` with ``scale_fast_lr=False`` (the chopped
  default). With ``auto_scale=True``: ``λ_A = lr_fast · desired_bl · δ_A / (m_x m_d)``
  with EMAs ``m ← μ m + (1 − μ) mean_b max|·|`` (``auto_momentum`` μ; first value
  initialises), so the largest coincidence gets ≈ ``lr_fast·desired_bl`` pulses.
* H counts **pulses of C** (threshold 1). ``λ_H = transfer_lr / bg`` with the buffer
  granularity ``bg = buffer_granularity · δ_A`` (``auto_granularity = 0``) or
  ``bg = buffer_granularity · δ_A · auto_granularity / (in · transfer_every)``;
  ``transfer_lr`` here is aihwkit's ``transfer_lr`` × the optimizer lr
  when ``step`` is called with the default ``lr=1``. A ``step(..., lr=η)`` passes aihwkit's optimizer
  learning rate η: it multiplies λ_T if ``scale_transfer_lr`` (default True) and λ_A if
  ``scale_fast_lr`` (default False), as in aihwkit; in-memory SGD's rate is always multiplied.
  ``correct_gradient_magnitudes`` is not modelled (aihwkit default False).
* ``max_pulses`` = ``transfer_update.desired_bl`` (1 in every preset); ``step`` is fixed
  at 1 (one full pulse of C per count). ``momentum``, ``forget_buffer``, ``buffer_cap``,
  ``tail_weightening``, ``in_chop_prob``, ``in_chop_random`` (``chop_random``),
  ``out_chop_prob``, ``n_reads_per_transfer`` (``n_reads``), ``units_in_mbatch``,
  ``auto_momentum``: as in aihwkit.
* ``transfer_every`` counts vector updates (mat-vecs) when ``units_in_mbatch=False``
  (chopped default) and mini-batches when True (TT-v1 preset).
* δ_A, δ_C (granularities) are the ``dw_min`` of the Pulsed modes (or ``granularity_fast``
  / ``granularity`` in Expected mode). The reference array of TT-v2 is modelled as
  programmed to the *nominal* symmetric point 0; a device's symmetric-point offset
  ``o_i`` (:class:`convergence.physics.devices.Variation` ``sym_skew``/``sym_dtod``) is aihwkit's
  reference offset with opposite sign (``σ_r`` ↔ ``sym_dtod``).

Modelling differences vs aihwkit (stated, not hidden)
-----------------------------------------------------
aihwkit's CPU tile pulses **sample by sample** (per-sample Bernoulli pulse trains of
length BL). Here the gradient write is chosen by ``accumulate``:

* ``"sample"`` — sequential per-sample writes with stochastic-rounded pulse counts and
  transfers interleaved at the exact mat-vec counts (closest to aihwkit; Python loop over
  the batch, vectorized over trials and elements);
* ``"signs"`` (default) — one write per mini-batch that applies the batch's total *up*
  and total *down* pulse counts separately (``Σ_b`` of the positive resp. negative parts
  of ``−λ_A d_b x_bᵀ``): its expected update to first order in δ equals the per-sample
  one, including the asymmetric drift ``−Σ_b|λ_A d_b x_b| G(A)`` (only the order of
  pulses within the batch differs);
* ``"net"`` — one write of the net ``ΔA`` per mini-batch (smaller drift: ``|Σ_b …|``
  instead of ``Σ_b |…|``).

With ``"signs"``/``"net"`` all transfers due within a batch happen after the batch's A
write (reading up to ``in`` columns at once). In ``TileWrite`` mode the batch is always written
sample by sample as the tile does (bit trains: aihwkit's law of the counts), and ``accumulate="sample"`` interleaves the
transfers at the exact mat-vec counts. In ``Pulsed`` mode pulse counts use stochastic rounding of
``|ΔA|/δ`` (aihwkit: Binomial counts from pulse-train coincidences; same mean, smaller
variance) capped at the Pulsed mode's ``bl`` (per write, i.e. per mini-batch in the batched
modes); no update/bit-length management clipping. For affine contracting devices the n pulses
are applied by the exact closed form (:class:`PulseKernel`, the cached
:class:`convergence.physics.pulses.PulseMap`); cycle-to-cycle noise ``c2c`` acts at every pulse as in
aihwkit, computed as one summed Gaussian per pass only where no bound is reachable within the pass.
The TT-v2 family writes exactly ``|n|`` pulses into C (aihwkit with ``transfer_update.desired_bl = 1`` and no
update management, every preset, fires one pulse per count; with a larger BL aihwkit's count is random with
that mean). ``step`` of aihwkit's transfer, ``correct_gradient_magnitudes`` and write noise are not modelled.

Throughput (``benchmarks/bench_transfer.py``, 512×512, batch 32, ``"signs"``): ≈ 5 ms CPU per
update for SGD, TT-v2, c-TTv2 and AGAD (aihwkit 1.2.0 CPU: 159/149/348/313 ms).
"""
from __future__ import annotations

import math
import dataclasses
from dataclasses import dataclass, field
from functools import cached_property, partial
from typing import Any, Callable, ClassVar, NamedTuple

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, finite_float, non_negative, positive, positive_int
from convergence.sim.algorithms import (Algorithm, TwoArrayConfig, _as_weights, json_value, sgd_write, transfer_read,
                                        transfer_write)
from convergence.physics.devices import AnyDevice, Device, DeviceArray
from convergence.physics.periphery import IOParameters, forward
from convergence.physics.pulses import (EXPECTED, AffineResponse, Expected, PulseMap, Pulsed, UpdateMode, analog_update,
                                        apply_pulses, check_mode, expected_update, pulse_counts)
from convergence.physics.reference_device import ReferenceArray
from convergence.tile.analog_tile import TileWrite, device_pulses, train_write

Array = NDArray[np.float64]

__all__ = ["TransferAlgorithm", "TransferState", "TileSGDState", "PulseKernel", "gradient_write", "signs_products",
           "chopped_products", "signs_write",
           "threshold_transfer", "TileSGDConfig", "TransferConfig", "TTv1Config", "TTv2Config", "RLv2Config",
           "ChoppedTTv2Config", "AGADConfig", "TileNumerics", "transfer_algorithm", "tile_sgd_algorithm", "ttv1",
           "ttv2", "rlv2", "chopped_ttv2", "agad",
           "analog_sgd_tile", "as_vector_algorithm", "TRANSFER_ALGORITHMS", "ACCUMULATE"]

ACCUMULATE = ("signs", "net", "sample")


TransferAlgorithm = Algorithm
"""The matrix step API is the toolkit's one :class:`~convergence.sim.algorithms.Algorithm` type (old name)."""


class TransferState(NamedTuple):
    """Hidden state of the transfer algorithms (all arrays have the leading trials axis).

    Attributes:
        w: slow array C (the weights W presented to forward/backward when γ = 0), (trials, out, in).
        a: fast array A, as read (device units; the TT-v2 reference sits at 0).
        h: digital buffer H in pulses of C (zeros for TT-v1).
        c_in: input chopper signs (trials, in); c_out: output chopper signs (trials, out).
        mean: AGAD running mean M of the reads (zeros otherwise).
        ref: AGAD frozen reference p_ref (zeros otherwise).
        switched: AGAD flag per column: chopper switched since its last read (trials, in).
        m_x, m_d: auto-scale EMAs of max|x| and max|d| (trials,); NaN before the first update.
        pulses: cumulative number of threshold-transfer pulses written to each element of C (TT-v2 family;
            TT-v1 writes through the pulsed update and leaves it at 0).
        k: vector updates so far (mini-batches if units_in_mbatch).
        t: column reads (transfer events) so far; column t % in is read next, sweep = t // in.
    """

    w: Array
    a: Array
    h: Array
    c_in: Array
    c_out: Array
    mean: Array
    ref: Array
    switched: Array
    m_x: Array
    m_d: Array
    pulses: Array
    k: int
    t: int


class TileSGDState(NamedTuple):
    """State of in-memory (analog) SGD on a tile: weights and counters."""

    w: Array
    m_x: Array
    m_d: Array
    k: int


# -- validation helpers ----------------------------------------------------------------------------

def _check_device(device: Any, name: str) -> AnyDevice:
    if not isinstance(device, (Device, DeviceArray, ReferenceArray)):
        raise ConfigError(f"{name} must be a Device, DeviceArray or realised SoftBoundsReference "
                          f"(got {type(device).__name__})")
    return device


def _check_mode(mode: Any) -> Any:
    """The write-mode switch: Expected(), Pulsed(...) (batch writes) or TileWrite(...) (the tile's per-sample write)."""
    if isinstance(mode, TileWrite):
        return mode
    if not isinstance(mode, (Expected, Pulsed)):
        raise ConfigError(f"mode must be Expected(), Pulsed(...) or TileWrite(...) (got {mode!r})")
    return check_mode(mode)


def _rate(name: str, value: Any, allow_zero: bool = False) -> Any:
    """A scalar or per-trial rate, returned as float or array (trials, 1, 1)."""
    if isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool):
        out = finite_float(name, value)
        if out < 0 or (out == 0 and not allow_zero):
            raise ConfigError(f"{name} must be > 0 (got {out!r})")
        return out
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return _rate(name, float(arr), allow_zero)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0) or (not allow_zero and np.any(arr == 0)):
        raise ConfigError(f"{name} must be finite and > 0 everywhere")
    return arr.reshape(-1, 1, 1)


def _probability(name: str, value: Any) -> float:
    out = finite_float(name, value)
    if not 0.0 <= out <= 1.0:
        raise ConfigError(f"{name} must lie in [0, 1] (got {out!r})")
    return out


def _granularity(mode: UpdateMode, given: Any, name: str, device: Any = None) -> float:
    if given is not None:
        return positive(name, given)
    if isinstance(mode, Pulsed):
        return mode.dw_min
    if isinstance(mode, TileWrite):
        return mode.granularity(device)
    raise ConfigError(f"{name} is required in Expected mode (the weight granularity δ used by the buffer units)")


def _check_accumulate(accumulate: str) -> str:
    if accumulate not in ACCUMULATE:
        raise ConfigError(f"accumulate must be one of {', '.join(ACCUMULATE)} (got {accumulate!r})")
    return accumulate


def _as_tile(w0: Any, **rates: Any) -> Array:
    return _as_weights(w0, shape_name="(trials, out, in)", **rates)


def _check_inputs(x: Any, d: Any, w: Array) -> tuple[Array, Array]:
    x = np.asarray(x, dtype=float)
    d = np.asarray(d, dtype=float)
    t, o, i = w.shape
    if x.ndim != 3 or d.ndim != 3 or x.shape[0] != t or d.shape[0] != t or x.shape[2] != i or d.shape[2] != o \
            or x.shape[1] != d.shape[1]:
        raise ConfigError(f"x must have shape (trials, batch, {i}) and d (trials, batch, {o}) with trials = {t} "
                          f"(got {x.shape} and {d.shape})")
    return x, d


# -- numerics shared by the algorithms -------------------------------------------------------------

def _columns(device: AnyDevice, sl: slice) -> AnyDevice:
    """The device restricted to the columns ``sl`` (per-element parameter arrays are sliced)."""
    if isinstance(device, Device):
        return device

    def cut(a: Any) -> Any:
        a = np.asarray(a)
        return a[..., sl] if a.ndim >= 1 and a.shape[-1] > 1 else a

    if isinstance(device, ReferenceArray):
        return ReferenceArray(cut(device.scale_up), cut(device.scale_down), cut(device.b_max), cut(device.b_min),
                              cut(device.ref), device.dw_min, device.dw_min_std, device.write_noise_std,
                              mult_noise=device.mult_noise, name=device.name)
    return DeviceArray(device.base, cut(device.gain), cut(device.asym), cut(device.scale), cut(device.shift),
                       name=device.name)


class _FixedDevice:
    """A realised device whose ``affine()`` (a :class:`convergence.physics.pulses.AffineResponse`, with the pulse
    formula's per-direction factors cached) and ``bounds`` are computed once (they depend on its parameters only);
    every other attribute is the device's own."""

    def __init__(self, device: AnyDevice) -> None:
        self.device = device
        aff = device.affine()
        self._affine = None if aff is None else AffineResponse(aff)
        self.bounds = device.bounds

    def affine(self) -> Any:
        return self._affine

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("device", "_affine", "bounds"):   # not set yet (e.g. unpickling)
            raise AttributeError(name)
        return getattr(self.device, name)


def _auto_scale(m_x: Array, m_d: Array, x: Array, d: Array, momentum: float) -> tuple[Array, Array]:
    """EMAs of the per-sample abs-max of x and d (aihwkit ``auto_scale``), one step per mini-batch."""
    bx = np.abs(x).max(axis=2).mean(axis=1)
    bd = np.abs(d).max(axis=2).mean(axis=1)
    m_x = np.where(np.isnan(m_x), bx, momentum * m_x + (1.0 - momentum) * bx)
    m_d = np.where(np.isnan(m_d), bd, momentum * m_d + (1.0 - momentum) * bd)
    return m_x, m_d


#: The cached n-pulse map of a device and Pulsed mode (``PulseKernel.build(device, mode)``); it lives
#: with the rest of pulse application in :mod:`convergence.physics.pulses`.
PulseKernel = PulseMap


def signs_products(x: Array, d: Array) -> tuple[Array, Array]:
    """The two products of a ``"signs"`` write, ``(Σ_b |d_b||x_b|ᵀ, Σ_b d_b x_bᵀ)`` (trials, out, in), in the
    rows' dtype.

    Chopping the rows (``c_in ⊙ x``, ``c_out ⊙ d`` with signs ±1) leaves the first unchanged and flips the signs of
    the second's columns/rows, exactly (a sign flip commutes with every rounding of the sum), so they may be
    computed from the unchopped rows ahead of the write (:func:`chopped_products`)."""
    return np.matmul(np.abs(d).transpose(0, 2, 1), np.abs(x)), np.matmul(d.transpose(0, 2, 1), x)


def chopped_products(products: tuple[Array, Array], c_in: Array | None, c_out: Array | None
                     ) -> tuple[Array, Array]:
    """:func:`signs_products` of the chopped rows ``(c_in ⊙ x, c_out ⊙ d)`` from those of ``(x, d)`` (exact)."""
    total, net = products
    if c_in is not None:
        net = np.multiply(net, c_in[:, None, :], dtype=net.dtype)
    if c_out is not None:
        net = np.multiply(net, c_out[:, :, None], dtype=net.dtype)
    return total, net


def gradient_write(a: Array, x: Array, d: Array, lr: Any, device: AnyDevice, mode: UpdateMode, rng: Any,
                   accumulate: str = "signs", kernel: PulseKernel | None = None) -> Array:
    r"""Write ``−lr Σ_b d_b x_bᵀ`` onto the array ``a`` (trials, out, in) through the device.

    ``accumulate="net"``: one update with ``ΔA = −lr Dᵀ X``. ``"signs"``: the positive and
    negative parts ``P = lr Σ_b [d_b x_bᵀ]_−``, ``N = lr Σ_b [d_b x_bᵀ]_+`` are applied as
    separate down/up pulse counts (Expected: ``A + (P − N) F(A) − (P + N) G(A)``), whose
    first-order expectation equals ``len(batch)`` sequential per-sample writes. ``"sample"``
    is handled by the caller (batch of one). ``kernel`` (a :class:`PulseKernel` of this
    device and mode) gives the same result faster. In :class:`~convergence.tile.analog_tile.TileWrite`
    mode the batch is written sample by sample as the tile writes, whatever ``accumulate``.
    """
    if isinstance(mode, TileWrite):
        return train_write(a, x, d, lr, device, mode, rng)
    _check_pulse_rng(mode, rng)
    if accumulate == "net" or x.shape[1] == 1:
        # the net batch gradient through the Analog SGD write of the vector algorithms (one implementation)
        return sgd_write(a, np.matmul(d.transpose(0, 2, 1), x), lr, device, mode, rng, kernel, scratch=True)
    return signs_write(a, signs_products(x, d), lr, device, mode, rng, kernel)


def _check_pulse_rng(mode: UpdateMode, rng: Any) -> None:
    if isinstance(mode, Pulsed) and rng is None and (mode.rounding == "stochastic" or mode.c2c):
        raise ConfigError("pulsed mode with stochastic rounding or c2c noise needs an rng")


def signs_write(a: Array, products: tuple[Array, Array], lr: Any, device: AnyDevice, mode: UpdateMode, rng: Any,
                kernel: PulseKernel | None = None) -> Array:
    """The ``"signs"`` write of :func:`gradient_write` from the batch's :func:`signs_products` (Expected or
    Pulsed mode; ``products`` are consumed as scratch space)."""
    _check_pulse_rng(mode, rng)
    # Σ_b [d x]_± from two products: Σ|d||x| ± Σ d x  (|d_i x_j| = |d_i||x_j|)
    total, net = products
    half = 0.5 * lr
    down = np.add(total, net)           # 2 Σ [d x]_+ : desired decrease
    down *= half
    up = np.subtract(total, net, out=total)   # 2 Σ [d x]_- magnitude: desired increase
    up *= half
    if not isinstance(mode, Pulsed):
        return expected_update(a, up - down, device, total=up + down)
    n_down = pulse_counts(down, mode, rng)
    n_up = pulse_counts(up, mode, rng)
    if kernel is not None:
        return kernel.down_up(a, n_down, n_up, rng)
    out = apply_pulses(a, n_down, np.zeros(a.shape, dtype=bool), device, mode.dw_min, c2c=mode.c2c, rng=rng)
    return apply_pulses(out, n_up, np.ones(a.shape, dtype=bool), device, mode.dw_min, c2c=mode.c2c, rng=rng)


def _write_pulses(c: Array, n: Array, device: AnyDevice, mode: UpdateMode, granularity: float, rng: Any,
                  kernel: PulseKernel | None = None) -> Array:
    """Write integer pulse counts ``n`` (signed) onto ``c``: exact pulses or the expected update. ``kernel``: the
    noisy pulse map :func:`~convergence.physics.pulses.apply_pulses` would build for ``device`` and ``mode``
    (:meth:`TransferConfig.column_kernel`), reused instead of rebuilt: the same numbers.

    In TileWrite pulse-train mode this is aihwkit's transfer update with ``x = e_k``, ``d = −n``, BL = 1 and no
    update management (every preset's ``transfer_update``): both lines fire with probability 1, one pulse per
    count."""
    if isinstance(mode, Expected) or (isinstance(mode, TileWrite) and mode.update.mode == "expected"):
        return analog_update(c, n * granularity, device, EXPECTED)
    if isinstance(mode, TileWrite):
        return device_pulses(c, np.abs(n), n > 0, device, mode, rng)
    if kernel is not None:
        return kernel.signed(c, np.abs(n), n > 0, rng)
    return apply_pulses(c, np.abs(n), n > 0, device, mode.dw_min, c2c=mode.c2c, rng=rng)


def threshold_transfer(h: Array, max_pulses: int, momentum: float, forget_buffer: bool,
                       buffer_cap: float = 0.0) -> tuple[Array, Array]:
    """TT-v2 threshold rule on a buffer slice: returns (pulse counts n, new buffer).

    ``n = clip(trunc(h), ±max_pulses)`` where ``|h| ≥ 1`` (else 0); where ``n ≠ 0``:
    ``h ← momentum·h`` (forget_buffer) or ``h ← h − (1 − momentum) n`` (then
    ``|h| ≤ max_pulses·buffer_cap`` if ``buffer_cap > 0``), as aihwkit's ``ChoppedTransferCompound``.
    """
    n = np.trunc(h)
    np.clip(n, -max_pulses, max_pulses, out=n)
    fire = n != 0
    if forget_buffer:
        new = np.where(fire, momentum * h, h)
    else:
        new = np.where(fire, h - (n if momentum == 0.0 else (1.0 - momentum) * n), h)   # 1.0 · n is n
        if buffer_cap > 0:
            cap = max_pulses * buffer_cap
            new = np.where(fire, np.clip(new, -cap, cap), new)
    return n, new


# -- numerics: how the arrays are held and written -----------------------------------------------

class TileNumerics:
    r"""The tile numerics: float64 arrays with any number of trials, gradient writes by
    :func:`gradient_write` (with the :class:`PulseKernel` fast path), transfers by
    :func:`convergence.physics.pulses.analog_update` on column slices of the device.

    A config's ``numerics`` says how its arrays are held and written; the algorithm (which array
    is written when, by how much) does not depend on it. The network layers use
    :class:`convergence.nn.optim.NetworkNumerics` (one trial, float32, fused expected-mode writes).
    """

    accumulate: tuple[str, ...] = ACCUMULATE
    """The ``accumulate`` choices these numerics implement."""

    chop_in_row_dtype: bool = True
    """Chopped rows ``c_in ⊙ x``, ``c_out ⊙ d`` keep the rows' dtype (exact: the signs are ±1); False: they take
    the result dtype of rows and signs (the network layers' float32 rows times float64 signs: float64)."""

    owned: "TileNumerics | None" = None
    """The same numerics for a caller that owns the state and drops the old one (a network layer's step), whose
    :meth:`set_columns` writes the columns into the array in place; None: there is none."""

    def weights(self, w0: Any, device: AnyDevice, **rates: Any) -> Array:
        """Validated float64 copy of the initial weights (trials, out, in)."""
        return _as_tile(w0, **rates)

    def inputs(self, x: Any, d: Any, w: Array) -> tuple[Array, Array]:
        """``x`` (trials, batch, in) and ``d`` (trials, batch, out) as float64, shapes checked against ``w``."""
        return _check_inputs(x, d, w)

    def write(self, a: Array, x: Array, d: Array, rate: Any, device: AnyDevice, mode: UpdateMode, rng: Any,
              accumulate: str, kernel: "PulseKernel | None") -> Array:
        """The gradient write ``A ← U_q(A, −rate Σ_b d_b x_bᵀ)``."""
        return gradient_write(a, x, d, rate, device, mode, rng, accumulate, kernel)

    def chopped_write(self, a: Array, x: Array, d: Array, c_in: Array | None, c_out: Array | None, rate: Any,
                      device: AnyDevice, mode: UpdateMode, rng: Any, accumulate: str,
                      kernel: "PulseKernel | None") -> Array:
        """The gradient write of the chopped rows ``c_in ⊙ x`` and ``c_out ⊙ d`` (None: that side unchopped), in the
        dtype :attr:`chop_in_row_dtype` says."""
        keep = self.chop_in_row_dtype
        xc = x if c_in is None else np.multiply(x, c_in[:, None, :], dtype=x.dtype if keep else None)
        dc = d if c_out is None else np.multiply(d, c_out[:, None, :], dtype=d.dtype if keep else None)
        return self.write(a, xc, dc, rate, device, mode, rng, accumulate, kernel)

    def transfer(self, w: Array, dw: Array, device: AnyDevice, sl: slice, mode: UpdateMode, rng: Any) -> Array:
        """``U_q(W[:, :, sl], dw)`` on the device's columns ``sl`` (the Tiki-Taka transfer write of the vector
        algorithm, :func:`convergence.sim.algorithms.transfer_write`, with the rate already in ``dw``)."""
        return transfer_write(w, dw, 1.0, _columns(device, sl), mode, rng)

    def set_columns(self, arr: Array, sl: slice, value: Array) -> Array:
        """``arr`` with its columns ``sl`` replaced by ``value`` (a transfer's write-back), as a new array: the
        input state is never changed."""
        return _set_columns(arr, sl, value)

    def noise(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Array:
        """Standard normal read noise."""
        return rng.standard_normal(shape)

    def as_dict(self) -> dict[str, Any]:
        return {"numerics": "tile"}


TILE = TileNumerics()
"""The default numerics of the tile algorithms."""


def _scaled(rate: Any, lr: float, flag: bool) -> Any:
    """``rate·lr`` when the optimizer learning rate scales this rate (aihwkit ``scale_*_lr``), else ``rate``."""
    return rate * lr if flag and lr != 1.0 else rate


# -- configs ---------------------------------------------------------------------------------------

def _check_rate_fields(cfg: Any, *names: str) -> None:
    for name in names:
        object.__setattr__(cfg, name, _rate(name, getattr(cfg, name)))


def _check_auto_scale(cfg: Any) -> None:
    choices = cfg.numerics.accumulate
    if cfg.accumulate not in choices:
        raise ConfigError(f"accumulate must be one of {', '.join(choices)} (got {cfg.accumulate!r})")
    object.__setattr__(cfg, "desired_bl", positive_int("desired_bl", cfg.desired_bl))
    momentum = finite_float("auto_momentum", cfg.auto_momentum)
    if not 0.0 <= momentum < 1.0:
        raise ConfigError(f"auto_momentum must lie in [0, 1) (got {momentum!r})")
    object.__setattr__(cfg, "auto_momentum", momentum)
    object.__setattr__(cfg, "auto_scale", bool(cfg.auto_scale))


@dataclass(frozen=True, eq=False)
class TileSGDConfig:
    r"""In-memory (analog) SGD on a tile, ``W ← U_q(W, −λ Σ_b d_b x_bᵀ)`` (aihwkit ``SingleRPUConfig``)."""

    lr: Any
    """λ, step size of the gradient write (aihwkit optimizer ``lr``); scalar or per trial."""
    device: AnyDevice
    """Device of W (aihwkit ``device``)."""
    mode: UpdateMode = EXPECTED
    """Update mode: Expected (mean-field) or Pulsed (aihwkit pulse trains, ``dw_min``)."""
    accumulate: str = "signs"
    """How a mini-batch is written: ``"signs"``, ``"net"`` or ``"sample"`` (module docstring)."""
    auto_scale: bool = False
    """aihwkit ``update.auto_scale``: rate λ·desired_bl·δ/(m_x m_d) from EMAs of max|x|, max|d|."""
    auto_momentum: float = 0.99
    """aihwkit ``update.auto_momentum``: momentum μ of those EMAs."""
    desired_bl: int = 31
    """aihwkit ``update.desired_bl``: pulses of the largest coincidence when auto-scaling."""
    granularity: Any = None
    """δ used by auto-scaling in Expected mode (aihwkit ``dw_min``); Pulsed modes use their ``dw_min``."""
    numerics: Any = TILE
    """How the arrays are held and written (:class:`TileNumerics`; networks: ``NetworkNumerics``)."""

    name: ClassVar[str] = "analog-sgd-tile"

    def __post_init__(self) -> None:
        _check_rate_fields(self, "lr")
        _check_device(self.device, "device")
        object.__setattr__(self, "mode", _check_mode(self.mode))
        _check_auto_scale(self)
        if self.auto_scale:
            _ = self.scale_granularity

    @cached_property
    def scale_granularity(self) -> float | None:
        """δ of the auto-scale rule (None without auto-scaling)."""
        return _granularity(self.mode, self.granularity, "granularity", self.device) if self.auto_scale else None

    @cached_property
    def kernel(self) -> "PulseKernel | None":
        return PulseKernel.build(self.device, self.mode)

    def as_dict(self) -> dict[str, Any]:
        return {"algorithm": self.name, "lr": json_value(self.lr), "device": json_value(self.device),
                "mode": self.mode.as_dict(), "accumulate": self.accumulate, "auto_scale": self.auto_scale,
                "auto_momentum": self.auto_momentum, "desired_bl": self.desired_bl, "granularity": self.granularity,
                **self.numerics.as_dict()}


@dataclass(frozen=True, eq=False)
class TransferConfig(TwoArrayConfig):
    r"""Fields shared by TT-v1 and the TT-v2 family (see the module docstring for the units).

    Use a concrete preset: :class:`TTv1Config`, :class:`TTv2Config`, :class:`RLv2Config`,
    :class:`ChoppedTTv2Config` or :class:`AGADConfig`.
    """

    lr_fast: Any
    """λ_A, rate of the gradient write onto the fast array A (aihwkit ``fast_lr``)."""
    device: AnyDevice
    """Device of the slow array C (aihwkit ``unit_cell_devices[1]``)."""
    mode: UpdateMode = EXPECTED
    """Update mode of C: Expected or Pulsed (aihwkit ``transfer_update`` pulse type / ``dw_min``)."""
    device_fast: AnyDevice | None = None
    """Device of A (aihwkit ``unit_cell_devices[0]``); None: the same as ``device``."""
    mode_fast: UpdateMode | None = None
    """Update mode of A (aihwkit ``update``); None: the same as ``mode``."""
    transfer_lr: Any = 1.0
    """λ_T, transfer rate (aihwkit ``transfer_lr``; × the step's ``lr`` if ``scale_transfer_lr``)."""
    transfer_every: int = 1
    """aihwkit ``transfer_every``: vector updates (or mini-batches, ``units_in_mbatch``) between transfers."""
    n_reads: int | None = 1
    """aihwkit ``n_reads_per_transfer``: columns read per transfer; None reads all ``in`` columns."""
    read_noise: float = 0.0
    """σ_read, std of additive Gaussian noise on each column read of A (aihwkit ``transfer_forward.out_noise``)."""
    gamma: float = 0.0
    """γ ≥ 0, mixing of the presented weights C + γA (P2 eq 10; 0 in every aihwkit preset)."""
    accumulate: str = "signs"
    """How a mini-batch is written onto A: ``"signs"``, ``"net"`` or ``"sample"`` (module docstring)."""
    units_in_mbatch: bool = False
    """aihwkit ``units_in_mbatch``: ``transfer_every`` counts mini-batches instead of vector updates."""
    auto_scale: bool = False
    """aihwkit ``update.auto_scale``: λ_A·desired_bl·δ_A/(m_x m_d) from EMAs of max|x|, max|d|."""
    auto_momentum: float = 0.99
    """aihwkit ``update.auto_momentum``: momentum μ of the auto-scale EMAs."""
    desired_bl: int = 31
    """aihwkit ``update.desired_bl``: pulses of the largest coincidence when auto-scaling."""
    granularity: Any = None
    """δ_C in Expected mode (aihwkit ``dw_min`` of C); Pulsed modes use their ``dw_min``."""
    granularity_fast: Any = None
    """δ_A in Expected mode (aihwkit ``dw_min`` of A); default ``granularity``."""
    scale_fast_lr: bool = False
    """aihwkit ``scale_fast_lr``: the step's optimizer learning rate ``lr`` multiplies λ_A."""
    scale_transfer_lr: bool = True
    """aihwkit ``scale_transfer_lr``: the step's optimizer learning rate ``lr`` multiplies λ_T."""
    numerics: Any = TILE
    """How the arrays are held and written (:class:`TileNumerics`; networks: ``NetworkNumerics``)."""
    transfer_forward: IOParameters | None = None
    """aihwkit ``transfer_forward``: the periphery of the column reads of A, each a forward MVM of A with the
    one-hot input e_k (noise, DAC/ADC steps, bounds; :mod:`convergence.physics.periphery`); None: an exact read.
    aihwkit's default is :data:`convergence.physics.periphery.AIHWKIT_TRANSFER_FORWARD`. ``read_noise`` adds to it."""

    name: ClassVar[str] = "transfer"
    buffered: ClassVar[bool] = True

    def __post_init__(self) -> None:
        _check_rate_fields(self, "lr_fast", "transfer_lr")
        _check_device(self.device, "device")
        if self.device_fast is not None:
            _check_device(self.device_fast, "device_fast")
        object.__setattr__(self, "mode", _check_mode(self.mode))
        if self.mode_fast is not None:
            object.__setattr__(self, "mode_fast", _check_mode(self.mode_fast))
        if self.transfer_forward is not None and not isinstance(self.transfer_forward, IOParameters):
            raise ConfigError("transfer_forward must be an IOParameters or None")
        object.__setattr__(self, "transfer_every", positive_int("transfer_every", self.transfer_every))
        if self.n_reads is not None:
            object.__setattr__(self, "n_reads", positive_int("n_reads", self.n_reads))
        object.__setattr__(self, "read_noise", non_negative("read_noise", self.read_noise))
        object.__setattr__(self, "gamma", non_negative("gamma", self.gamma))
        object.__setattr__(self, "units_in_mbatch", bool(self.units_in_mbatch))
        object.__setattr__(self, "scale_fast_lr", bool(self.scale_fast_lr))
        object.__setattr__(self, "scale_transfer_lr", bool(self.scale_transfer_lr))
        _check_auto_scale(self)
        _ = self.g_fast, self.g_slow        # granularity errors at construction

    @cached_property
    def g_fast(self) -> float | None:
        """δ_A (the buffer's and auto-scale's unit), None where unused."""
        given = self.granularity_fast
        if given is None and self.granularity is not None and isinstance(self.fast_mode, Expected):
            given = self.granularity            # one granularity for both arrays in Expected mode
        return (_granularity(self.fast_mode, given, "granularity_fast", self.fast_device)
                if self.buffered or self.auto_scale else None)

    @cached_property
    def g_slow(self) -> float | None:
        """δ_C (the size of one threshold-transfer pulse), None for TT-v1."""
        return _granularity(self.mode, self.granularity, "granularity", self.device) if self.buffered else None

    @cached_property
    def kernel_fast(self) -> "PulseKernel | None":
        return PulseKernel.build(self.fast_device, self.fast_mode)

    @cached_property
    def _column_devices(self) -> dict[tuple[int, int, int], "_FixedDevice"]:
        return {}

    def column_device(self, sl: slice) -> "_FixedDevice":
        """The device of C on the columns ``sl`` (:func:`_columns`), its affine coefficients and bounds computed
        once per column range (the pulse application asks for them at every transfer)."""
        key = (sl.start, sl.stop, sl.step)
        dev = self._column_devices.get(key)
        if dev is None:
            dev = self._column_devices[key] = _FixedDevice(_columns(self.device, sl))
        return dev

    @cached_property
    def _column_kernels(self) -> dict[tuple[int, int, int], "PulseKernel | None"]:
        return {}

    def column_kernel(self, sl: slice) -> "PulseKernel | None":
        """The n-pulse map that :func:`~convergence.physics.pulses.apply_pulses` builds at every noisy transfer
        onto C's columns ``sl`` (pulsed mode with c2c noise on an affine device), built once per column range;
        None when a transfer does not use one (no noise, or no map for the device)."""
        key = (sl.start, sl.stop, sl.step)
        if key not in self._column_kernels:
            kernel = PulseKernel.build(self.column_device(sl), self.mode)
            self._column_kernels[key] = kernel if kernel is not None and kernel.noise is not None else None
        return self._column_kernels[key]

    @property
    def chop_period(self) -> int:
        """Reads of a column per regular chopper period N (0: no input choppers)."""
        return 0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"algorithm": self.name}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.as_dict() if f.name in ("mode", "mode_fast", "numerics") and value is not None \
                else json_value(value)
        out["chop_period"] = self.chop_period
        return out


@dataclass(frozen=True, eq=False)
class TTv1Config(TransferConfig):
    r"""TT-v1 with column-wise transfer (aihwkit ``TransferCompound``): no buffer, C written by the read."""

    units_in_mbatch: bool = True
    """aihwkit ``units_in_mbatch`` (True in aihwkit's TT-v1 preset): ``transfer_every`` counts mini-batches."""
    scale_fast_lr: bool = True
    """aihwkit ``scale_fast_lr`` (True for ``TransferCompound``): the step's optimizer ``lr`` multiplies λ_A."""

    name: ClassVar[str] = "ttv1"
    buffered: ClassVar[bool] = False


@dataclass(frozen=True, eq=False)
class TTv2Config(TransferConfig):
    r"""TT-v2: column reads accumulated in a digital buffer H, threshold pulses into C (Rasch et al. 2024)."""

    buffer_granularity: float = 1.0
    """aihwkit ``buffer_granularity``: the buffer unit is ``buffer_granularity·δ_A``."""
    auto_granularity: float = 0.0
    """aihwkit ``auto_granularity``: if > 0 the unit is scaled by ``auto_granularity/(in·transfer_every)``."""
    decay: float = 0.0
    """Buffer decay per read, ``H ← (1 − decay) H + …`` (0 in aihwkit; β of RL-v2, P2 §5)."""
    max_pulses: int = 1
    """Cap on the pulses per element per read (aihwkit ``transfer_update.desired_bl``)."""
    momentum: float = 0.0
    """aihwkit ``momentum``: fraction of H kept after a threshold transfer."""
    forget_buffer: bool = True
    """aihwkit ``forget_buffer``: ``H ← momentum·H`` after a transfer (else ``H ← H − (1 − momentum) n``)."""
    buffer_cap: float = 0.0
    """aihwkit ``buffer_cap``: |H| ≤ max_pulses·buffer_cap after a transfer when not forgetting (0: no cap)."""
    in_chop_prob: float = 0.0
    """aihwkit ``in_chop_prob``: input-chopper switch probability per column read (0 for TT-v2)."""
    chop_random: bool = True
    """aihwkit ``in_chop_random``: random switches; False switches every N = max(ceil(1/p), 2) reads."""
    out_chop_prob: float = 0.0
    """aihwkit ``out_chop_prob``: output-chopper switch probability per row after each full sweep."""

    name: ClassVar[str] = "ttv2"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "buffer_granularity", positive("buffer_granularity", self.buffer_granularity))
        object.__setattr__(self, "auto_granularity", non_negative("auto_granularity", self.auto_granularity))
        decay = finite_float("decay", self.decay)
        if not 0.0 <= decay < 1.0:
            raise ConfigError(f"decay must lie in [0, 1) (got {decay!r})")
        object.__setattr__(self, "decay", decay)
        object.__setattr__(self, "max_pulses", positive_int("max_pulses", self.max_pulses))
        momentum = finite_float("momentum", self.momentum)
        if not 0.0 <= momentum < 1.0:
            raise ConfigError(f"momentum must lie in [0, 1) (got {momentum!r})")
        object.__setattr__(self, "momentum", momentum)
        object.__setattr__(self, "forget_buffer", bool(self.forget_buffer))
        object.__setattr__(self, "buffer_cap", non_negative("buffer_cap", self.buffer_cap))
        object.__setattr__(self, "in_chop_prob", _probability("in_chop_prob", self.in_chop_prob))
        object.__setattr__(self, "out_chop_prob", _probability("out_chop_prob", self.out_chop_prob))
        object.__setattr__(self, "chop_random", bool(self.chop_random))
        self._check_choppers()

    def _check_choppers(self) -> None:
        if self.in_chop_prob:
            raise ConfigError("in_chop_prob must be 0 for TT-v2 (use chopped_ttv2)")

    @property
    def chop_period(self) -> int:
        return max(math.ceil(1.0 / self.in_chop_prob), 2) if self.in_chop_prob > 0 else 0

    def lam_h(self, n_in: int) -> Any:
        """λ_H = transfer_lr / bg, the buffer increment per unit read (H counts pulses of C)."""
        bg = self.buffer_granularity * self.g_fast
        if self.auto_granularity > 0:
            bg *= self.auto_granularity / (n_in * self.transfer_every)
        return self.transfer_lr / bg


@dataclass(frozen=True, eq=False)
class RLv2Config(TTv2Config):
    r"""RL-v2 (P2 §5): TT-v2 with buffer decay β, one-pulse transfers and mixing γ; λ_H = β/δ_C.

    ``transfer_lr``, ``decay``, ``forget_buffer``, ``max_pulses``, ``momentum``, ``buffer_granularity``,
    ``auto_granularity`` and ``granularity_fast`` are fixed by ``beta`` (not arguments).
    """

    beta: float | None = None
    """β ∈ (0, 1): buffer decay and buffer rate of P2's RL-v2 (h ← (1 − β)h + β(A + ε)/δ_C)."""
    n_reads: int | None = None
    """Columns per transfer; None (P2) reads all columns."""
    transfer_lr: Any = field(default=1.0, init=False)
    """= β."""
    decay: float = field(default=0.0, init=False)
    """= β."""
    forget_buffer: bool = field(default=False, init=False)
    """False: ``h ← h ∓ 1`` after a pulse."""
    max_pulses: int = field(default=1, init=False)
    """1: one pulse per read."""
    momentum: float = field(default=0.0, init=False)
    """0."""
    buffer_granularity: float = field(default=1.0, init=False)
    """1: the buffer counts pulses of δ_C."""
    auto_granularity: float = field(default=0.0, init=False)
    """0."""
    granularity_fast: Any = field(default=None, init=False)
    """= δ_C (the buffer unit)."""

    name: ClassVar[str] = "rlv2"

    def __post_init__(self) -> None:
        if self.beta is None:
            raise ConfigError("beta is required for RL-v2")
        beta = finite_float("beta", self.beta)
        if not 0.0 < beta < 1.0:
            raise ConfigError(f"beta must lie in (0, 1) (got {beta!r})")
        # the given granularity stays as given (None: the Pulsed mode's dw_min), so dataclasses.replace with
        # another mode derives it afresh; only the init=False buffer unit is filled in
        g = _granularity(_check_mode(self.mode), self.granularity, "granularity", self.device)
        for name, value in (("beta", beta), ("transfer_lr", beta), ("decay", beta), ("granularity_fast", g)):
            object.__setattr__(self, name, value)
        super().__post_init__()

    def _check_choppers(self) -> None:
        pass


@dataclass(frozen=True, eq=False)
class ChoppedTTv2Config(TTv2Config):
    r"""c-TTv2 (chopped TT-v2; Rasch et al. 2024; aihwkit ``ChoppedTransferCompound``)."""

    in_chop_prob: float = 0.1
    """aihwkit ``in_chop_prob`` ∈ (0, 1]: input-chopper switch probability per column read."""

    name: ClassVar[str] = "c-ttv2"

    def _check_choppers(self) -> None:
        if not 0.0 < self.in_chop_prob <= 1.0:
            raise ConfigError(f"in_chop_prob must lie in (0, 1] (got {self.in_chop_prob!r})")


@dataclass(frozen=True, eq=False)
class AGADConfig(ChoppedTTv2Config):
    r"""AGAD (Rasch et al. 2024; aihwkit ``DynamicTransferCompound``): c-TTv2 with a dynamic reference."""

    chop_random: bool = False
    """aihwkit ``in_chop_random`` (False in aihwkit's AGAD preset: regular switches every N reads)."""
    tail_weightening: float = 5.0
    """aihwkit ``tail_weightening``: the running mean's rate is β = min(tail_weightening/N, 1)."""

    name: ClassVar[str] = "agad"

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "tail_weightening", positive("tail_weightening", self.tail_weightening))

    def _check_choppers(self) -> None:
        if self.in_chop_prob == 0.0:
            raise ConfigError("AGAD needs in_chop_prob > 0 (it sets the chopper period N = ceil(1/in_chop_prob))")
        super()._check_choppers()

    @property
    def beta_mean(self) -> float:
        """β = min(tail_weightening/N, 1), the rate of the running mean of the reads."""
        return min(self.tail_weightening / self.chop_period, 1.0)


# -- the steps, as small pure functions --------------------------------------------------------------

def _auto_rate(rate: Any, gran: float, desired_bl: int, momentum: float, m_x: Array, m_d: Array, x: Array,
               d: Array) -> tuple[Any, Array, Array]:
    """aihwkit ``auto_scale``: the write rate ``rate·desired_bl·δ/(m_x m_d)`` and the updated EMAs."""
    m_x, m_d = _auto_scale(m_x, m_d, x, d, momentum)
    if np.ndim(gran):
        gran = np.asarray(gran, float).reshape(-1)      # per-trial δ (a realised reference device)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = desired_bl * gran / (m_x * m_d)
    return rate * np.where(np.isfinite(scale), scale, 0.0)[:, None, None], m_x, m_d


def _per_sample(cfg: Any, update: Callable[..., Any]) -> Callable[..., Any]:
    """The matrix ``step(state, x, d, rng=None, lr=1.0)``: inputs checked, one update per sample for
    ``accumulate="sample"``; ``lr`` is the optimizer learning rate (aihwkit's SGD ``lr``)."""

    def step(state: Any, x: Any, d: Any, rng: Any = None, lr: float = 1.0) -> Any:
        x, d = cfg.numerics.inputs(x, d, state.w)
        if cfg.accumulate == "sample" and x.shape[1] > 1:
            for b in range(x.shape[1]):
                state = update(cfg, state, x[:, b:b + 1], d[:, b:b + 1], rng, lr)
            return state
        return update(cfg, state, x, d, rng, lr)

    return step


def _one_hot(trials: int, n_in: int, sl: slice) -> Array:
    """The inputs e_k (trials, r, in) of the columns k in ``sl``."""
    start, stop, _ = sl.indices(n_in)
    e = np.zeros((trials, stop - start, n_in))
    e[:, np.arange(stop - start), np.arange(start, stop)] = 1.0
    return e


def _read_columns(cfg: TransferConfig, a: Array, sl: slice, rng: Any) -> Array:
    """``ω = MVM_io(A, e_k) + σ_read ξ`` for the columns k in ``sl``: A[:, sl] read through ``transfer_forward``
    (exact when None), plus additive read noise; (trials, out, r)."""
    if cfg.transfer_forward is not None:
        if rng is None and not cfg.transfer_forward.is_perfect:
            raise ConfigError("noisy transfer reads need an rng")
        e = _one_hot(a.shape[0], a.shape[2], sl)
        read = forward(a, e, cfg.transfer_forward, rng).transpose(0, 2, 1)
    else:
        read = a[:, :, sl]
    return transfer_read(read, cfg.read_noise, rng, cfg.numerics.noise)


def _set_columns(arr: Array, sl: slice, value: Array) -> Array:
    """A copy of ``arr`` with the columns ``sl`` replaced (inputs are never mutated).

    When ``sl`` covers every column, the fresh ``value`` is the result itself (no copy of the whole matrix:
    the whole-matrix transfer of TT-v1 pays one array pass less per transfer)."""
    start, stop, stride = sl.indices(arr.shape[2])
    if (start, stop, stride) == (0, arr.shape[2], 1) and value.shape == arr.shape and value is not arr \
            and not np.shares_memory(value, arr):
        return value.astype(arr.dtype, copy=False)
    out = arr.copy()
    out[:, :, sl] = value
    return out


def _direct_transfer(cfg: TransferConfig, w: Array, sl: slice, read: Array, rate: Any, rng: Any) -> Array:
    """TT-v1: ``C[:, sl] ← U_q(C[:, sl], +λ_T ω)`` (``rate`` = λ_T).

    In TileWrite mode this is aihwkit's transfer: a tile update of C with ``x = e_k``, ``d = −ω_k`` and
    lr λ_T for each column k in order (``transfer_update`` = the mode's update parameters)."""
    if isinstance(cfg.mode, TileWrite):
        e = _one_hot(w.shape[0], w.shape[2], sl)
        return train_write(w, e, -read.transpose(0, 2, 1), rate, cfg.device, cfg.mode, rng)
    cols = cfg.numerics.transfer(w[:, :, sl], rate * read, cfg.device, sl, cfg.mode, rng)
    return cfg.numerics.set_columns(w, sl, cols)


def _agad_reference(cfg: TTv2Config, ref: Array, switched: Array, mean: Array, sl: slice) -> tuple[Array, Array]:
    """AGAD: ``p_ref[:, k] ← M[:, k]`` for the columns whose chopper switched since their last read."""
    sw = switched[:, sl]
    if not sw.any():
        return ref, switched
    ref = cfg.numerics.set_columns(ref, sl, np.where(sw[:, None, :], mean[:, :, sl], ref[:, :, sl]))
    switched = switched.copy()
    switched[:, sl] = False
    return ref, switched


def _buffer_columns(cfg: TTv2Config, h: Array, sl: slice, c_in: Array, c_out: Array, z: Array, n_in: int
                    ) -> tuple[Array, Array]:
    """``H[:, k] ← (1 − decay) H[:, k] + λ_H c_in[k] c_out ⊙ z``, then the threshold rule: (pulses n, new H).
    ``c_in`` (trials, columns of ``sl``) and ``c_out`` (trials, out) are the chopper signs ±1."""
    hk = h[:, :, sl]
    hk = (1.0 - cfg.decay) * hk if cfg.decay else hk
    lam = cfg.lam_h(n_in)
    # ±λ_H is exact in any order, so a scalar λ_H scales the short vector c_in instead of the (out, columns) matrix
    if np.ndim(lam) == 0:
        sign = (lam * c_in)[:, None, :] * c_out[:, :, None]
    else:
        sign = lam * (c_in[:, None, :] * c_out[:, :, None])
    hk = hk + sign * z
    n, hk = threshold_transfer(hk, cfg.max_pulses, cfg.momentum, cfg.forget_buffer, cfg.buffer_cap)
    return n, cfg.numerics.set_columns(h, sl, hk)


def _pulse_columns(cfg: TTv2Config, w: Array, pulses: Array, sl: slice, n: Array, rng: Any) -> tuple[Array, Array]:
    """Write the signed pulse counts ``n`` onto ``C[:, sl]`` and count them."""
    pulsed = isinstance(cfg.mode, Pulsed)
    device = cfg.column_device(sl) if pulsed else _columns(cfg.device, sl)
    kernel = cfg.column_kernel(sl) if pulsed else None
    w = cfg.numerics.set_columns(w, sl, _write_pulses(w[:, :, sl], n, device, cfg.mode, cfg.g_slow, rng, kernel))
    count = np.abs(n).astype(np.int64)
    if count.shape == pulses.shape:                 # every column: one pass, no copy of the old counts
        return w, np.add(pulses, count, out=count)
    return w, cfg.numerics.set_columns(pulses, sl, np.add(pulses[:, :, sl], count, out=count))


def _in_chopper_flips(cfg: TTv2Config, trials: int, r: int, sweep: int, rng: Any) -> Array:
    """Which of the r input choppers switch after this read (random with ``in_chop_prob`` or regular)."""
    if cfg.chop_random:
        if rng is None:
            raise ConfigError("random choppers need an rng")
        return rng.random((trials, r)) < cfg.in_chop_prob
    period = cfg.chop_period
    return np.full((trials, r), sweep % period == period - 1)


def _buffered_transfer(cfg: TTv2Config, s: dict[str, Any], t0: int, r: int, read: Array, rng: Any) -> None:
    """TT-v2 family: buffer, threshold pulses and chopper switches for the reads t0 .. t0 + r − 1."""
    trials, n_out, n_in = s["w"].shape
    c0 = t0 % n_in
    sl = slice(c0, c0 + r)
    sweep = t0 // n_in
    agad = isinstance(cfg, AGADConfig)
    z = read
    if agad:
        s["ref"], s["switched"] = _agad_reference(cfg, s["ref"], s["switched"], s["mean"], sl)
        z = read - s["ref"][:, :, sl]
    n, s["h"] = _buffer_columns(cfg, s["h"], sl, s["c_in"][:, sl], s["c_out"], z, n_in)
    if agad:
        beta = cfg.beta_mean                      # type: ignore[attr-defined]
        s["mean"] = cfg.numerics.set_columns(s["mean"], sl, (1.0 - beta) * s["mean"][:, :, sl] + beta * read)
    if np.any(n) and not (agad and sweep <= cfg.chop_period):   # AGAD: no C writes in the first period
        s["w"], s["pulses"] = _pulse_columns(cfg, s["w"], s["pulses"], sl, n, rng)
    if cfg.chop_period:
        flip = _in_chopper_flips(cfg, trials, r, sweep, rng)
        if flip.any():
            c_in = s["c_in"].copy()
            c_in[:, sl] = np.where(flip, -c_in[:, sl], c_in[:, sl])
            s["c_in"] = c_in
            if agad:
                switched = s["switched"].copy()
                switched[:, sl] |= flip
                s["switched"] = switched
    if cfg.out_chop_prob and c0 + r == n_in:
        if rng is None:
            raise ConfigError("output choppers need an rng")
        flip = rng.random((trials, n_out)) < cfg.out_chop_prob
        s["c_out"] = np.where(flip, -s["c_out"], s["c_out"])


def _transfer_reads(cfg: TransferConfig, s: dict[str, Any], t0: int, r: int, lr: float, rng: Any) -> None:
    """Transfer events t0 .. t0 + r − 1 on the contiguous columns of one sweep (updates ``s``)."""
    n_in = s["w"].shape[2]
    sl = slice(t0 % n_in, t0 % n_in + r)
    read = _read_columns(cfg, s["a"], sl, rng)
    if isinstance(cfg, TTv2Config):
        _buffered_transfer(cfg, s, t0, r, read, rng)
    else:
        s["w"] = _direct_transfer(cfg, s["w"], sl, read, _scaled(cfg.transfer_lr, lr, cfg.scale_transfer_lr), rng)


def transfer_init(cfg: TransferConfig, w0: Any) -> TransferState:
    """The initial :class:`TransferState` for the weights ``w0`` (trials, out, in): A = H = 0, choppers +1."""
    w = cfg.numerics.weights(w0, cfg.device, lr_fast=cfg.lr_fast, transfer_lr=cfg.transfer_lr)
    t, o, i = w.shape
    zeros = np.zeros_like(w)
    agad_shape = w.shape if isinstance(cfg, AGADConfig) else (t, 0, 0)
    nan = np.full(t, np.nan)
    return TransferState(w, zeros.copy(), zeros.copy() if cfg.buffered else np.zeros((t, 0, 0)),
                         np.ones((t, i), dtype=w.dtype), np.ones((t, o), dtype=w.dtype), np.zeros(agad_shape),
                         np.zeros(agad_shape),
                         np.zeros((t, i), dtype=bool), nan, nan.copy(), np.zeros(w.shape, dtype=np.int64), 0, 0)


def transfer_query(cfg: TransferConfig, state: TransferState) -> Array:
    """The presented weights ``C + γ (c_out c_inᵀ) ⊙ A`` (C when γ = 0)."""
    if cfg.gamma == 0.0:
        return state.w
    return state.w + cfg.gamma * state.a * state.c_in[:, None, :] * state.c_out[:, :, None]


def transfer_update(cfg: TransferConfig, state: TransferState, x: Array, d: Array, rng: Any,
                    lr: float = 1.0) -> TransferState:
    """One mini-batch: the (chopped) gradient write onto A, then every transfer due (column reads)."""
    s = state._asdict()
    n_in = state.w.shape[2]
    lr_a = _scaled(cfg.lr_fast, lr, cfg.scale_fast_lr)
    if cfg.auto_scale:
        lr_a, s["m_x"], s["m_d"] = _auto_rate(lr_a, cfg.g_fast, cfg.desired_bl, cfg.auto_momentum,
                                              state.m_x, state.m_d, x, d)
    c_in = state.c_in if cfg.chop_period else None
    c_out = state.c_out if getattr(cfg, "out_chop_prob", 0.0) else None
    num = cfg.numerics
    if c_in is None and c_out is None:
        s["a"] = num.write(state.a, x, d, lr_a, cfg.fast_device, cfg.fast_mode, rng, cfg.accumulate, cfg.kernel_fast)
    else:
        s["a"] = num.chopped_write(state.a, x, d, c_in, c_out, lr_a, cfg.fast_device, cfg.fast_mode, rng,
                                   cfg.accumulate, cfg.kernel_fast)
    k_new = state.k + (1 if cfg.units_in_mbatch else x.shape[1])
    events = (k_new // cfg.transfer_every - state.k // cfg.transfer_every) * (cfg.n_reads or n_in)
    t = state.t
    while events > 0:
        r = min(events, n_in - t % n_in)
        _transfer_reads(cfg, s, t, r, lr, rng)
        t += r
        events -= r
    s["k"], s["t"] = k_new, t
    return TransferState(**s)


def transfer_algorithm(cfg: TransferConfig) -> Algorithm:
    """The :class:`Algorithm` (matrix step API) of a transfer-family config."""
    if not isinstance(cfg, TransferConfig) or type(cfg) is TransferConfig:
        raise ConfigError(f"transfer_algorithm needs a TT-v1/TT-v2-family config (got {type(cfg).__name__})")
    device, device_fast = cfg.device, cfg.fast_device

    def analog(state: TransferState) -> list[tuple[str, Array, AnyDevice]]:
        return [("w", state.w, device), ("a", state.a, device_fast)]

    return Algorithm(cfg.name, partial(transfer_init, cfg), partial(transfer_query, cfg),
                     _per_sample(cfg, transfer_update), analog, cfg, ("x", "d"))


def tile_sgd_init(cfg: TileSGDConfig, w0: Any) -> TileSGDState:
    w = cfg.numerics.weights(w0, cfg.device, lr=cfg.lr)
    nan = np.full(w.shape[0], np.nan)
    return TileSGDState(w, nan, nan.copy(), 0)


def tile_sgd_update(cfg: TileSGDConfig, state: TileSGDState, x: Array, d: Array, rng: Any,
                    lr: float = 1.0) -> TileSGDState:
    """``W ← U_q(W, −λ·lr Σ_b d_b x_bᵀ)`` (λ auto-scaled if configured; ``lr``: the optimizer's rate)."""
    m_x, m_d = state.m_x, state.m_d
    eff = _scaled(cfg.lr, lr, True)
    if cfg.auto_scale:
        eff, m_x, m_d = _auto_rate(eff, cfg.scale_granularity, cfg.desired_bl, cfg.auto_momentum, m_x, m_d, x, d)
    w = cfg.numerics.write(state.w, x, d, eff, cfg.device, cfg.mode, rng, cfg.accumulate, cfg.kernel)
    return TileSGDState(w, m_x, m_d, state.k + x.shape[1])


def tile_sgd_algorithm(cfg: TileSGDConfig) -> Algorithm:
    """The :class:`Algorithm` (matrix step API) of in-memory SGD on a tile."""
    device = cfg.device
    return Algorithm(cfg.name, partial(tile_sgd_init, cfg), lambda s: s.w,
                     _per_sample(cfg, tile_sgd_update),
                     lambda s: [("w", s.w, device)], cfg, ("x", "d"))


# -- factories (thin constructors of the configs) ---------------------------------------------------

def _config(cls: type, lr_fast: Any, device: AnyDevice, options: dict[str, Any], **given: Any) -> Any:
    allowed = {f.name for f in dataclasses.fields(cls) if f.init} - {"lr_fast", "device"}
    for key in options:
        if key not in allowed:
            raise ConfigError(f"unknown option {key!r} of {cls.name} (allowed: {', '.join(sorted(allowed))})")
    return cls(lr_fast, device, **given, **options)


def ttv1(lr_fast: Any, device: AnyDevice, *, mode: UpdateMode = Expected(), transfer_lr: Any = 1.0,
         transfer_every: int = 1, n_reads: int = 1, **options: Any) -> Algorithm:
    r"""Tiki-Taka v1 with column-wise transfer (aihwkit ``TransferCompound``; :class:`TTv1Config`).

    .. math:: A \leftarrow U_q(A, -\lambda_A \textstyle\sum_b d_b x_b^\top);\quad
              C[:, k] \leftarrow U_q(C[:, k], +\lambda_T (A[:, k] + \sigma\xi))

    for ``n_reads`` consecutive columns k (cycling) every ``transfer_every`` updates
    (aihwkit ``n_reads_per_transfer``; ``units_in_mbatch=True`` is aihwkit's TT-v1 default).
    ``transfer_lr`` = λ_T (aihwkit ``transfer_lr`` × optimizer lr). No digital buffer.
    """
    for bad in ("in_chop_prob", "out_chop_prob"):
        if options.get(bad):
            raise ConfigError(f"{bad} is not an option of TT-v1 (use chopped_ttv2)")
        options.pop(bad, None)
    return transfer_algorithm(_config(TTv1Config, lr_fast, device, options, mode=mode, transfer_lr=transfer_lr,
                                      transfer_every=transfer_every, n_reads=n_reads))


def ttv2(lr_fast: Any, device: AnyDevice, *, mode: UpdateMode = Expected(), transfer_lr: Any = 1.0,
         transfer_every: int = 1, **options: Any) -> Algorithm:
    r"""TT-v2: column reads of A accumulated in a digital buffer H, threshold pulses into C (:class:`TTv2Config`).

    .. math:: H[:, k] \leftarrow H[:, k] + \lambda_H (A[:, k] + \sigma\xi);\quad
              n = \mathrm{clip}(\mathrm{trunc}(H[:, k]), \pm n_{max}) \text{ where } |H| \ge 1

    then ``n`` pulses into ``C[:, k]`` and ``H ← momentum·H`` (``forget_buffer``, default,
    momentum 0 ⇒ reset) or ``H ← H − (1 − momentum)n`` (aihwkit's ``ttv2`` preset =
    ``ChoppedTransferCompound`` with ``in_chop_prob = 0``; Rasch et al. 2024 Fig. 1).
    The reference is the nominal symmetric point 0: a device offset is read as signal.
    Options: the fields of :class:`TTv2Config`.
    """
    return transfer_algorithm(_config(TTv2Config, lr_fast, device, options, mode=mode, transfer_lr=transfer_lr,
                                      transfer_every=transfer_every))


def rlv2(lr_fast: Any, device: AnyDevice, *, beta: float, gamma: float = 0.0, mode: UpdateMode = Expected(),
         transfer_every: int = 1, n_reads: int | None = None, **options: Any) -> Algorithm:
    r"""RL-v2 (P2 §5): decaying digital buffer and one-pulse threshold transfer (:class:`RLv2Config`).

    In pulse units h = H/δ_C of the paper's buffer:

    .. math:: h \leftarrow (1-\beta) h + \beta (A + \varepsilon)/\delta_C;\quad
              \text{where } |h| \ge 1:\ \text{one pulse } \mathrm{sign}(h) \text{ into } C,\ h \leftarrow h \mp 1

    with gradients taken at the mixed weight ``W̄ = C + γA`` (``query``). By default all
    columns are read every ``transfer_every`` updates (``n_reads = in``), as in P2; a smaller
    ``n_reads`` gives column-wise transfer. (TT-v2 differs by no (1 − β) decay and γ = 0.)
    """
    for fixed in ("transfer_lr", "decay", "forget_buffer", "max_pulses", "momentum", "buffer_granularity",
                  "auto_granularity", "granularity_fast"):
        if fixed in options:
            raise ConfigError(f"{fixed} is fixed by RL-v2 (set beta instead)")
    return transfer_algorithm(_config(RLv2Config, lr_fast, device, options, beta=beta, gamma=gamma, mode=mode,
                                      transfer_every=transfer_every, n_reads=n_reads))


def chopped_ttv2(lr_fast: Any, device: AnyDevice, *, in_chop_prob: float = 0.1, chop_random: bool = True,
                 mode: UpdateMode = Expected(), transfer_lr: Any = 1.0, transfer_every: int = 1,
                 **options: Any) -> Algorithm:
    r"""c-TTv2 (chopped TT-v2; Rasch et al. 2024; aihwkit ``ChoppedTransferCompound``; :class:`ChoppedTTv2Config`).

    A accumulates the chopped gradient ``−λ_A (c_out ⊙ d)(c_in ⊙ x)ᵀ``; the read of column k
    is un-chopped before accumulation, ``H[:, k] += λ_H c_in[k] c_out ⊙ ω``, so a constant
    offset of A enters H with alternating sign and cancels over a chopper period. Choppers
    flip with probability ``in_chop_prob`` per read (``chop_random=True``) or regularly every
    ``max(ceil(1/in_chop_prob), 2)`` reads of a column (``chop_random=False``).
    """
    positive("in_chop_prob", in_chop_prob)
    return transfer_algorithm(_config(ChoppedTTv2Config, lr_fast, device, options, in_chop_prob=in_chop_prob,
                                      chop_random=chop_random, mode=mode, transfer_lr=transfer_lr,
                                      transfer_every=transfer_every))


def agad(lr_fast: Any, device: AnyDevice, *, in_chop_prob: float = 0.1, tail_weightening: float = 5.0,
         chop_random: bool = False, mode: UpdateMode = Expected(), transfer_lr: Any = 1.0, transfer_every: int = 1,
         **options: Any) -> Algorithm:
    r"""AGAD (Rasch et al. 2024; aihwkit ``DynamicTransferCompound``; :class:`AGADConfig`).

    c-TTv2 whose buffer input is the read relative to a dynamic reference,
    ``H[:, k] += λ_H c_in[k] c_out ⊙ (ω − p_ref[:, k])``, where ``p_ref[:, k]`` is the running
    mean ``M[:, k] ← (1 − β) M + β ω`` (β = min(tail_weightening/N, 1), N the chopper period)
    frozen at the first read after column k's chopper switched. Regular choppers by default;
    C is not written during the first chopper period.
    """
    return transfer_algorithm(_config(AGADConfig, lr_fast, device, options, in_chop_prob=in_chop_prob,
                                      tail_weightening=tail_weightening, chop_random=chop_random, mode=mode,
                                      transfer_lr=transfer_lr, transfer_every=transfer_every))


def analog_sgd_tile(lr: Any, device: AnyDevice, *, mode: UpdateMode = Expected(), accumulate: str = "signs",
                    auto_scale: bool = False, auto_momentum: float = 0.99, desired_bl: int = 31,
                    granularity: Any = None) -> Algorithm:
    r"""In-memory SGD on a tile: ``W ← U_q(W, −λ Σ_b d_b x_bᵀ)`` (aihwkit ``SingleRPUConfig``).

    Builds a :class:`TileSGDConfig`.

    Same ``accumulate`` choices and ``auto_scale`` rule as the transfer algorithms
    (``λ = lr · desired_bl · δ / (m_x m_d)`` when auto-scaling).
    """
    return tile_sgd_algorithm(TileSGDConfig(lr, device, mode, accumulate, auto_scale, auto_momentum, desired_bl,
                                            granularity))


TRANSFER_ALGORITHMS = {"sgd": analog_sgd_tile, "ttv1": ttv1, "ttv2": ttv2, "rlv2": rlv2, "c-ttv2": chopped_ttv2,
                       "agad": agad}


# -- vector adapter ------------------------------------------------------------------------------------

def _flat_device(device: AnyDevice, trials: int, size: int) -> AnyDevice:
    if isinstance(device, Device):
        return device

    def flat(a: Any) -> Any:
        a = np.asarray(a)
        return a.reshape(a.shape[0], -1) if a.ndim == 3 else a

    return DeviceArray(device.base, flat(device.gain), flat(device.asym), flat(device.scale), flat(device.shift),
                       name=device.name)


def as_vector_algorithm(alg: Algorithm, shape: tuple[int, int] | None = None) -> Any:
    r"""Wrap a tile algorithm as a :class:`convergence.sim.algorithms.Algorithm` on vectors (trials, d).

    The weight vector is the tile of ``shape = (out, in)`` (default ``(d, 1)``: one column holds the
    whole vector, so every transfer reads all of A, as in P2's TT-v2/RL-v2). A gradient sample
    ``g`` is presented as the batch ``x_b = e_b``, ``d_b = G[:, b]`` (b < in) with ``G = g`` reshaped,
    so ``Σ_b d_b x_bᵀ = G`` exactly and every element receives a single contribution (``signs`` =
    ``net``). ``transfer_every`` then counts ``in`` mat-vecs per step unless ``units_in_mbatch``.
    This lets :func:`convergence.sim.simulate` drive TT-v1/TT-v2/RL-v2/c-TTv2/AGAD on the toolkit's
    objectives (``analog`` returns the flattened C and A with their devices).
    """
    from convergence.sim.algorithms import Algorithm

    def tile_shape(d: int) -> tuple[int, int]:
        if shape is None:
            return (d, 1)
        out_, in_ = (positive_int("shape[0]", shape[0]), positive_int("shape[1]", shape[1]))
        if out_ * in_ != d:
            raise ConfigError(f"shape {shape} does not hold {d} weights")
        return out_, in_

    def init(w0: Any) -> Any:
        w = np.asarray(w0, dtype=float)
        if w.ndim != 2:
            raise ConfigError(f"initial weights must have shape (trials, d) (got {w.shape})")
        return alg.init(w.reshape(w.shape[0], *tile_shape(w.shape[1])))

    def query(state: Any) -> Array:
        q = alg.query(state)
        return q.reshape(q.shape[0], -1)

    def step(state: Any, g: Array, rng: Any = None) -> Any:
        trials, n_out, n_in = state.w.shape
        grad = np.asarray(g, dtype=float).reshape(trials, n_out, n_in)
        x = np.broadcast_to(np.eye(n_in), (trials, n_in, n_in))
        return alg.step(state, x, grad.transpose(0, 2, 1), rng)

    def analog(state: Any) -> list[tuple[str, Array, AnyDevice]]:
        t = state.w.shape[0]
        return [(name, arr.reshape(t, -1), _flat_device(dev, t, arr[0].size)) for name, arr, dev in alg.analog(state)]

    return Algorithm(alg.name, init, query, step, analog, dict(alg.as_dict(), vector_shape=shape))
