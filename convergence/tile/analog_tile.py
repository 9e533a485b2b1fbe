r"""An analog tile like aihwkit's pulsed tile: forward, backward and the pulsed rank-1 update.

A tile holds ``W`` of shape (trials, out, in) on a device and offers

* ``forward(x)``  ``y = W x``  and ``backward(d)``  ``z = Wᵀ d`` through the periphery
  (:mod:`convergence.physics.periphery`), ``x`` (trials, samples, in), ``d`` (trials, samples, out);
* ``update(x, d, lr)``: the SGD update ``W ← W − lr d xᵀ`` of every sample, applied as
  *sequential* rank-1 updates (aihwkit's CPU semantics: a mini-batch is ``m_batch``
  vector updates), in one of three modes (one switch, :class:`UpdateParameters.mode`):

  - ``"expected"`` — the theory's recursion per sample,
    ``W ← W + ΔW ⊙ F(W) − |ΔW| ⊙ G(W)``, ``ΔW = −lr d xᵀ`` (P1 eq 3/7, P2 eq 5);
  - ``"rounding"`` — per element ``n = ⌊|ΔW|/δ + u⌋`` pulses (stochastic rounding, capped at
    ``desired_bl``; :func:`convergence.physics.pulses.pulse_counts`), sign of ΔW;
  - ``"pulse_train"`` — aihwkit's ``StochasticCompressed`` pulse trains with update
    (BL) management. Per sample, with ``δ`` the granularity:

    .. math::
        k = |lr|\,\max_j|x_j|\,\max_i|d_i|/δ,\quad BL = \min(\lceil k\rceil, BL_{des}),\quad
        A = B = \sqrt{|lr|/(δ\,BL)}

    and update management rescales ``A ← A\sqrt{x_m/d_m}``, ``B ← B\sqrt{d_m/x_m}`` with
    ``d_m`` reduced by ``BL_des/k`` when ``k > BL_des`` (the d side saturates: gradient
    clipping). In each of the BL slots input line ``j`` fires with ``p_j = min(1, B|x_j|)``
    and output line ``i`` with ``q_i = min(1, A|d_i|)``; element (i, j) receives one pulse per
    coincidence, downwards iff ``sign(x_j) sign(d_i) sign(lr) > 0``. Hence
    ``n_ij ~ Binomial(BL, p_j q_i)`` marginally, correlated along rows and columns.

The same write serves the matrix algorithms of :mod:`convergence.tile.transfer_family` as their
:class:`TileWrite` mode (:func:`train_write`), so in-memory SGD, TT-v1, TT-v2, RL-v2, c-TTv2 and AGAD
run on this tile's per-sample write in any of the three modes.

Each pulse is one device pulse (state-dependent step, cycle-to-cycle noise, clipping).
All pulses of an element within one sample have the same sign, so the ``n`` pulses are
applied in one go: in closed form for noise-free soft-bounds-type devices (affine
responses whose fixed points are the bounds: the iterate never leaves the range, so the
per-pulse clipping is inactive), with cycle-to-cycle noise sample by sample through
:func:`convergence.physics.pulses.apply_pulses` (noise and clipping at every pulse; the cached
:class:`~convergence.physics.pulses.PulseMap` for affine devices), and by a masked pulse loop
otherwise. For the closed form
the per-sample maps ``w ↦ f + rⁿ(w − f)`` are composed over the samples of a batch in
log space (exact, vectorized over samples); samples without any coincidence are skipped.

Differences from aihwkit (CPU, 1.2.0), by design or not modelled:

* randomness: NumPy PCG64 instead of aihwkit's generator (its CPU pulse RNG cannot be seeded), so
  agreement is statistical; input-line bits are drawn only for slots where an output line fires
  (same law); float64 instead of float32;
* pulse types other than ``StochasticCompressed`` (``Stochastic``, ``MeanCount``,
  ``DeterministicImplicit``), probability resolution ``res``, ``d_sparsity`` and ``x/d_res_implicit``
  are not modelled; ``"rounding"`` is the toolkit's own per-element stochastic rounding;
* device: reset, decay, diffusion, corrupted devices and ``perfect_bias`` are not modelled;
* periphery: see :mod:`convergence.physics.periphery` (no IR drop, offsets, non-linearity, PCM noise);
* ``"expected"`` mode composes the per-sample mean-field maps and clips once at the end.

Reference: IBM aihwkit ``AnalogTile``/``RPUPulsed`` (C++ ``PulsedRPUWeightUpdater``,
``SparseBitLineMaker``).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, non_negative, positive, positive_int
from convergence.physics.devices import Device, DeviceArray
from convergence.physics.periphery import PERFECT, InputNorms, IOParameters, _absmax_last
from convergence.physics.periphery import backward as _backward
from convergence.physics.periphery import forward as _forward
from convergence.physics.reference_device import ReferenceArray, SoftBoundsReference, apply_device_pulses, write_noise
from convergence.physics.pulses import PulseMap, PulseNoise, Pulsed, apply_pulses, expected_update, pulse_counts
from convergence.rng import as_generator

Array = NDArray[np.float64]

# the reductions behind ndarray.min/max without their Python wrappers (same values, NaN included)
_amin, _amax = np.minimum.reduce, np.maximum.reduce

__all__ = ["UpdateParameters", "AnalogTile", "FixedInput", "MODES", "TileWrite", "pulse_train_parameters",
           "pulse_train_probabilities", "coincidences", "coincidence_counts", "tile_update", "pulse_model",
           "train_write", "device_pulses"]

MODES = ("expected", "rounding", "pulse_train")


@dataclass(frozen=True)
class UpdateParameters:
    """How a tile realises ``W ← W − lr d xᵀ`` (aihwkit ``UpdateParameters`` names)."""

    mode: str = "pulse_train"
    """``"expected"``, ``"rounding"`` or ``"pulse_train"`` (aihwkit ``pulse_type=StochasticCompressed``)."""
    desired_bl: int = 31
    """Largest bit length BL (aihwkit ``desired_bl``, default 31); in ``"rounding"`` mode the per-element pulse cap."""
    update_bl_management: bool = True
    """BL = min(ceil(k), desired_bl) (aihwkit ``update_bl_management``)."""
    update_management: bool = True
    """Rescale A and B by √(x_m/d_m) (aihwkit ``update_management``; forced on by BL management)."""
    um_grad_scale: float = 1.0
    """Scale of max|d| in update management (aihwkit ``um_grad_scale``)."""
    max_bits: int = 1 << 22
    """Bit-tensor elements generated at once (memory cap; results do not depend on it only while it is not reached, so
    keep it fixed)."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)} (got {self.mode!r})")
        object.__setattr__(self, "desired_bl", positive_int("desired_bl", self.desired_bl))
        object.__setattr__(self, "um_grad_scale", positive("um_grad_scale", self.um_grad_scale))
        object.__setattr__(self, "max_bits", positive_int("max_bits", self.max_bits))
        for name in ("update_bl_management", "update_management"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"{name} must be True or False (got {getattr(self, name)!r})")

    @property
    def um(self) -> bool:
        return bool(self.update_management or self.update_bl_management)

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "desired_bl": self.desired_bl, "update_bl_management": self.update_bl_management,
                "update_management": self.update_management, "um_grad_scale": self.um_grad_scale}


@dataclass(frozen=True)
class TileWrite:
    r"""The tile's per-sample write as an update mode of the matrix algorithms (``tile.transfer_family``).

    With this mode an algorithm writes ``W ← W − lr Σ_s d_s x_sᵀ`` exactly as :class:`AnalogTile` does
    (:func:`tile_update`): sample after sample, in the tile's one mode switch ``update.mode`` —
    ``"pulse_train"`` (aihwkit's ``StochasticCompressed`` bit trains of length BL with update and bit-length
    management, the default), ``"rounding"`` (stochastic rounding of each element's count, capped at
    ``desired_bl``) or ``"expected"`` (the per-sample mean-field maps, composed). The algorithms' other modes,
    :class:`~convergence.physics.pulses.Expected` and :class:`~convergence.physics.pulses.Pulsed`, write a
    mini-batch at once (``accumulate``).
    """

    dw_min: Any = None
    """δ, the pulse granularity (aihwkit ``dw_min``) for a toolkit Device/DeviceArray; None for a realised
    SoftBoundsReference (:class:`~convergence.physics.reference_device.ReferenceArray`), which carries its own."""
    update: UpdateParameters = field(default_factory=UpdateParameters)
    """aihwkit ``update`` (or ``transfer_update`` for the slow array): the write ``mode``, ``desired_bl``,
    ``update_bl_management``, ``update_management``, ``um_grad_scale``."""
    c2c: float = 0.0
    """σ_c, additive cycle-to-cycle noise of every pulse relative to δ (aihwkit ``dw_min_std``) for a toolkit
    device; a ReferenceArray carries its own."""

    def __post_init__(self) -> None:
        if self.dw_min is not None:
            object.__setattr__(self, "dw_min", positive("dw_min", self.dw_min))
        if not isinstance(self.update, UpdateParameters):
            raise ConfigError("update must be an UpdateParameters")
        object.__setattr__(self, "c2c", non_negative("c2c", self.c2c))

    @property
    def name(self) -> str:
        """The tile write mode (``update.mode``)."""
        return self.update.mode

    def granularity(self, device: Any) -> Any:
        """δ of ``device`` in this mode: ``dw_min``, else the realised reference device's own (trials, 1, 1)."""
        if self.dw_min is not None:
            return self.dw_min
        if isinstance(device, ReferenceArray):
            return device.dw_min
        raise ConfigError("TileWrite on a toolkit device needs dw_min")

    def as_dict(self) -> dict[str, Any]:
        return {"mode": "tile", "dw_min": self.dw_min, "c2c": self.c2c, "update": self.update.as_dict()}


# -- fixed inputs ----------------------------------------------------------------------------

class FixedInput:
    """Inputs ``x`` (trials, samples, in) that a tile reads and writes many times (e.g. the full batch of a
    least-squares run), with what the tile derives from them per sample computed once: ``max_j |x_j|`` (update
    management), ``Σ_j x_j²`` (the weight noise of a read, :func:`convergence.physics.periphery.mvm`) and the input
    lines of the pulse trains. It keeps a private read-only copy of ``x``, so the cached values stay valid; inputs
    that are the same in every trial are kept once (:attr:`x` is then a broadcast view, which a read multiplies
    with every trial's weights from one copy). Pass it to :meth:`AnalogTile.forward` / :meth:`AnalogTile.update`
    (or :func:`tile_update`) in place of ``x``: the results are those of passing the array itself.
    """

    def __init__(self, x: Any) -> None:
        x = np.array(x, dtype=float, order="C")
        if x.ndim != 3:
            raise ConfigError(f"fixed inputs must have shape (trials, samples, in) (got {x.shape})")
        self.shape = x.shape
        self.absmax = _absmax_last(x)
        """``max_j |x_j|`` per sample (trials, samples)."""
        self.norms = InputNorms(x)
        """``Σ_j x_j²`` per sample and a read's noise scale (:class:`~convergence.physics.periphery.InputNorms`)."""
        self.shared = x.shape[0] > 1 and bool(np.all(x == x[:1]))
        """The same inputs in every trial (a batch broadcast over the trials): sample-indexed tables suffice."""
        self._lines: tuple[Array, Array | None, bool] | None = None
        self._rate: tuple[Any, tuple[float, float]] = (None, (0.0, 0.0))
        self._positive: Array | None = None
        if self.shared:
            self._lines = self._input_lines(x)
            x = np.broadcast_to(np.array(x[0]), x.shape)
        x.setflags(write=False)
        self.x = x
        """The inputs (read-only)."""

    def _input_lines(self, x: Array) -> tuple[Array, Array | None, bool]:
        x2d, cols = _input_lines(x)          # on the whole batch: the compaction decision is the reference's
        if self.shared:
            n = self.shape[1]
            x2d, cols = x2d[:n], (None if cols is None else cols[:n])
        return np.ascontiguousarray(np.abs(x2d)), cols, self.shared

    def rate_range(self, ratio: Array) -> tuple[float, float]:
        """Smallest and largest ``ratio·max_j|x_j|`` over trials and samples (``ratio`` (trials, 1), e.g. |lr|/δ),
        kept for the last ``ratio`` array."""
        if self._rate[0] is not ratio:
            rx = ratio * self.absmax
            self._rate = (ratio, (float(rx.min()), float(rx.max())))
        return self._rate[1]

    def positive(self) -> Array:
        """``x > 0`` as rows, (samples, in) if :attr:`shared`, else (trials·samples, in)."""
        if self._positive is None:
            self._positive = ((self.x[0] if self.shared else self.x) > 0).reshape(-1, self.shape[2])
        return self._positive

    def lines(self) -> tuple[Array, Array | None, bool]:
        """The input lines of the pulse trains, ``|x|`` as rows (:func:`_input_lines`), computed on first use,
        with :attr:`shared` (then only the first trial's rows are kept, indexed by sample)."""
        if self._lines is None:
            self._lines = self._input_lines(self.x)
        return self._lines


# -- pulse trains ---------------------------------------------------------------------------

def pulse_train_parameters(x: Array, d: Array, lr: Any, dw_min: Any, up: UpdateParameters,
                           x_absmax: Array | None = None) -> tuple[Array, Array, Array]:
    """BL and the probability scales A, B of every sample (aihwkit ``calculateBlAB`` + update management).

    Args:
        x: inputs (trials, samples, in); d: errors (trials, samples, out).
        lr: learning rate, scalar or (trials,) (only |lr| matters here).
        dw_min: granularity δ, scalar or (trials,).
        up: update parameters.
        x_absmax: optional precomputed ``max_j |x_j|`` (trials, samples) — an optimisation for
            fixed data (the reduction over a short last axis is the costliest step).

    Returns:
        ``bl`` (trials, samples) int64 (0 where x, d or lr vanish), ``a`` and ``b`` (trials, samples):
        output line i fires with ``min(1, a|d_i|)``, input line j with ``min(1, b|x_j|)``.
    """
    T = x.shape[0]
    lr_abs = np.abs(np.asarray(lr, float).reshape(-1, 1) if np.ndim(lr) else np.full((T, 1), float(lr)))
    delta = np.asarray(dw_min, float).reshape(-1, 1) if np.ndim(dw_min) else np.full((T, 1), float(dw_min))
    xm = _absmax_last(x) if x_absmax is None else np.asarray(x_absmax, float)  # (T, S)
    dm = _absmax_last(d)
    if up.um_grad_scale != 1.0:
        dm = up.um_grad_scale * dm
    bl, a, b = _train_scales(lr_abs, delta, lr_abs / delta, xm, dm, up)
    return (np.ones(xm.shape, np.int64) if bl is None else bl), a, b


def _train_scales(lr_abs: Array, delta: Array, ratio: Array, xm: Array, dm: Array, up: UpdateParameters,
                  a_one: Array | None = None) -> tuple[Array | None, Array, Array]:
    """:func:`pulse_train_parameters` from ``|lr|``, ``δ``, ``ratio = |lr|/δ`` (trials, 1) and the per-sample
    ``max|x|``, ``max|d|`` (trials, samples); ``bl`` is None when BL = 1 for every sample. ``a_one``: ``√(|lr|/δ)``
    if precomputed (the scale A of a sample with BL = 1 before update management)."""
    k = ratio * xm * dm                               # expected pulses of the largest element
    # every sample live (the usual case): the masks below are all-true and their passes are skipped
    all_live = k.size > 0 and bool(k.min() > 0)
    k_max = float(k.max()) if all_live else math.inf
    live = None if all_live else k > 0
    if up.update_bl_management:
        if k_max <= 1.0:                              # ceil(k) = 1 everywhere: BL = 1, δ·BL = δ exactly
            bl = None
        else:
            bl = np.minimum(np.ceil(k), float(up.desired_bl))
            np.maximum(bl, 1.0, out=bl)
    else:
        bl = np.full_like(k, float(up.desired_bl))
    if bl is not None:
        a = np.sqrt(lr_abs / (delta * bl))
    else:
        a = np.sqrt(ratio) if a_one is None else a_one
    if up.um:
        # d side reduced by desired_bl/k when k > desired_bl (gradient clipping)
        if all_live:
            dm_eff = dm if k_max <= up.desired_bl else np.where(k > up.desired_bl, dm * (up.desired_bl / k), dm)
            root = np.sqrt(xm / dm_eff)
        else:
            k_safe = np.where(live, k, 1.0)
            dm_eff = np.where(k > up.desired_bl, dm * (up.desired_bl / k_safe), dm)
            root = np.sqrt(np.where(live, xm, 1.0) / np.where(live, dm_eff, 1.0))
        b = a / root
        a = a * root
    else:
        b = a.copy()
    if bl is None:
        return None, a, b
    if live is not None:
        dead = ~live
        a[dead] = 0.0
        b[dead] = 0.0
        bl[dead] = 0.0
    return bl.astype(np.int64), a, b


def pulse_train_probabilities(x: Array, d: Array, lr: Any, dw_min: Any, up: UpdateParameters
                              ) -> tuple[Array, Array, Array]:
    """``bl`` (trials, samples), ``p = min(1, B|x|)`` (trials, samples, in), ``q = min(1, A|d|)``."""
    bl, a, b = pulse_train_parameters(x, d, lr, dw_min, up)
    return bl, np.minimum(1.0, b[..., None] * np.abs(x)), np.minimum(1.0, a[..., None] * np.abs(d))


def _input_lines(x: Array) -> tuple[Array, Array | None]:
    """The input lines of every sample as rows (trials·samples, in); sparse inputs (e.g. the one-hot reads of a
    transfer) compacted to their nonzero lines, with the original column of every compact line (else None)."""
    T, S, n_in = x.shape
    x2d = x.reshape(T * S, n_in)
    probe = x2d[: min(64, x2d.shape[0])]
    if n_in >= 8 and np.count_nonzero(probe) <= probe.size // 4:       # cheap probe, then the exact check
        m = int(np.count_nonzero(x2d, axis=-1).max())
        if m <= n_in // 4:
            order = np.argsort(x2d == 0, axis=-1, kind="stable")[:, :max(m, 1)]   # nonzero lines first
            return np.take_along_axis(x2d, order, axis=-1), order
    return x2d, None


def _bit_trains(x: Array, d: Array, a: Array, b: Array, bl: Array | None, rng: np.random.Generator,
                max_bits: int, lines: tuple[Array, Array | None, bool] | None = None,
                d_abs: Array | None = None) -> list[tuple[Array, ...]]:
    """Draw the stochastic bit lines; returns chunks ``(t, s, k, d_bits, x_bits, cols, key)`` of active slots.

    Output-line bits ``D_k,i ~ Bernoulli(min(1, a|d_i|))`` are drawn for every sample and slot
    ``k < BL``; input-line bits ``X_k,j ~ Bernoulli(min(1, b|x_j|))`` only for *active* slots
    (some output line fires): elsewhere they cannot create a coincidence, so the joint law of
    the counts is unchanged and far fewer draws are needed. Slots come in (trial, sample, slot) order,
    ``key = t·samples + s``. Sparse inputs are compacted to their nonzero lines (:func:`_input_lines`); chunks then
    carry the original column of every compact line (else ``None``). ``lines``: :func:`_input_lines` of ``x`` with
    the absolute value taken, precomputed for fixed inputs (:class:`FixedInput`); ``bl`` None: BL = 1 everywhere;
    ``d_abs``: ``|d|`` if already computed.
    """
    T, S, n_out = d.shape
    bl_max = 1 if bl is None else (int(bl.max()) if bl.size else 0)
    if bl_max == 0:
        return []
    # u < min(1, q) <=> u < q for u in [0, 1)
    q32 = (a[..., None] * (np.abs(d) if d_abs is None else d_abs)).astype(np.float32)
    x2d, cols = _input_lines(x) if lines is None else lines[:2]
    by_sample = lines is not None and lines[2]               # rows shared by the trials: indexed by sample
    b2d = b.reshape(T * S)
    chunk = max(1, min(bl_max, max_bits // max(1, T * S * max(n_out, 1))))
    chunks = []
    for k0 in range(0, bl_max, chunk):
        kc = min(chunk, bl_max - k0)
        u = rng.random((T, S, kc, n_out), dtype=np.float32)
        dbits = u < q32[:, :, None, :]
        if bl_max > 1:
            dbits &= (np.arange(k0, k0 + kc)[None, None, :] < bl[:, :, None])[..., None]
        active = dbits.any(axis=-1) if n_out > 1 else dbits
        flat = active.reshape(-1).nonzero()[0]              # (trial, sample, slot) order
        if flat.size == 0:
            continue
        if kc == 1:
            key = flat
            k_a = np.zeros(flat.size, np.intp) if k0 == 0 else np.full(flat.size, k0, np.intp)
        else:
            key, k_a = np.divmod(flat, kc)
            k_a += k0
        t_a, s_a = np.divmod(key, S)
        row = s_a if by_sample else key
        thresh = x2d[row]
        if lines is None:
            np.abs(thresh, out=thresh)
        thresh *= b2d[key][:, None]
        xbits = rng.random(thresh.shape, dtype=np.float32) < thresh
        chunks.append((t_a, s_a, k_a, dbits.reshape(-1, n_out)[flat] if n_out > 1 else None, xbits,
                       None if cols is None else cols[row], key))
    return chunks


def _entries(chunks: list, n_out: int, with_key: bool = False) -> tuple[Array, ...]:
    """One entry (t, s, i, j) per coincidence, in (trial, sample, slot) order (and ``key = t·samples + s``)."""
    empty = np.zeros(0, np.int64)
    if not chunks:
        return (empty,) * (5 if with_key else 4)
    parts = []
    for t_a, s_a, k_a, dsel, xbits, cols, key in chunks:
        n_in = xbits.shape[1]
        if n_out == 1:
            r, j = np.divmod(xbits.reshape(-1).nonzero()[0], n_in)
            i = np.zeros(r.size, np.intp)
        else:
            r, ij = np.divmod((dsel[:, :, None] & xbits[:, None, :]).reshape(-1).nonzero()[0], n_out * n_in)
            i, j = np.divmod(ij, n_in)
        if cols is not None:
            j = cols[r, j]
        parts.append((t_a[r], s_a[r], i, j, key[r], k_a[r]))
    if len(parts) == 1:
        return parts[0][:5 if with_key else 4]
    t, s, i, j, key, k = (np.concatenate(c) for c in zip(*parts))
    order = np.lexsort((k, s, t))
    out = (t[order], s[order], i[order], j[order])
    return out + (key[order],) if with_key else out


def _rows(chunks: list, n_out: int, S: int, n_in: int) -> tuple[Array, Array]:
    """Per-sample count matrices: sorted keys ``t·S + s`` and counts (n_keys, out, in).

    ``n = Dᵀ X`` per sample, a product of the sample's active-slot bit matrices (D: slots × out, X: slots ×
    in), in float32: exact, the counts being integers ≤ BL < 2²⁴.
    """
    key = np.concatenate([c[6] for c in chunks])
    slot = np.concatenate([c[2] for c in chunks])
    order = np.lexsort((slot, key)) if len(chunks) > 1 else None
    if order is not None:
        key = key[order]
    starts, _, run = _segments(key)
    pos = np.arange(key.size) - starts[run]              # rank of the slot among the sample's active slots
    m = int(pos.max()) + 1
    keys = key[starts]

    def padded(parts: list, width: int) -> Array:
        rows = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if order is not None:
            rows = rows[order]
        out = np.zeros((keys.size, m, width), np.float32)
        out[run, pos] = rows
        return out

    widths = {c[4].shape[1] for c in chunks}
    if len(widths) > 1:                                   # compact input widths differ between chunks
        raise AssertionError("chunks of one write share their input compaction")
    x_pad = padded([c[4] for c in chunks], widths.pop())
    if n_out == 1:
        sums = x_pad.sum(axis=1)[:, None, :]
    else:
        d_pad = padded([c[3] for c in chunks], n_out)
        sums = np.matmul(d_pad.transpose(0, 2, 1), x_pad)
    if chunks[0][5] is not None:                          # compact input lines: back to their columns
        cols = np.concatenate([c[5] for c in chunks])
        cols = (cols if order is None else cols[order])[starts]
        full = np.zeros((keys.size, n_out, n_in), np.float32)
        np.put_along_axis(full, np.broadcast_to(cols[:, None, :], sums.shape), sums, axis=-1)
        sums = full
    return keys, sums


def _n_coincidences(chunks: list, n_out: int) -> int:
    """Total number of coincidences (device pulses) in the drawn trains."""
    if n_out == 1:
        return int(sum(np.count_nonzero(c[4]) for c in chunks))
    return int(sum(int((c[3].sum(axis=1) * c[4].sum(axis=1)).sum()) for c in chunks))


def _n_samples(chunks: list, S: int) -> int:
    """Number of (trial, sample) pairs with an active slot (upper bound across chunks)."""
    total = 0
    for chunk in chunks:
        key = chunk[6]
        total += 1 + int(np.count_nonzero(key[1:] != key[:-1]))
    return total


def coincidences(x: Array, d: Array, a: Array, b: Array, bl: Array, rng: np.random.Generator,
                 max_bits: int = 1 << 22) -> tuple[Array, Array, Array, Array]:
    """Every coincidence of the stochastic pulse trains, one entry per device pulse.

    In each slot ``k < BL`` of a sample, output line i fires with ``q_i = min(1, a|d_i|)`` and
    input line j with ``p_j = min(1, b|x_j|)``, all independently; element (i, j) receives one
    pulse per slot where both fire, so ``n_ij = Σ_k D_k,i X_k,j`` (bit-matrix product).

    Returns:
        ``t, s, i, j`` (n_pulses,) int64 in (trial, sample, slot) order.
    """
    return _entries(_bit_trains(x, d, a, b, bl, rng, max_bits), d.shape[-1])


def coincidence_counts(x: Array, d: Array, a: Array, b: Array, bl: Array, rng: np.random.Generator,
                       max_bits: int = 1 << 22) -> Array:
    """Dense coincidence counts (trials, samples, out, in) of the pulse trains (see :func:`coincidences`)."""
    T, S, n_out = d.shape
    counts = np.zeros((T * S, n_out, x.shape[-1]))
    chunks = _bit_trains(x, d, a, b, bl, rng, max_bits)
    if chunks:
        keys, sums = _rows(chunks, n_out, S, x.shape[-1])
        counts[keys] = sums
    return counts.reshape(T, S, n_out, x.shape[-1])


# -- the device adapter ----------------------------------------------------------------------

class _PulseModel:
    """Uniform view of a ReferenceArray or a toolkit Device/DeviceArray for the tile."""

    def __init__(self, device: Any, shape: tuple[int, int, int], dw_min: Any, c2c: float) -> None:
        T = shape[0]
        self.device = device
        if isinstance(device, ReferenceArray):
            if device.shape != shape:
                raise ConfigError(f"device realisation has shape {device.shape}, the tile {shape}")
            self.dw_min = device.dw_min
            self.noisy = bool(np.any(device.dw_min_std > 0))
            self.write_noise = device.write_noise_std * device.dw_min
        elif isinstance(device, (Device, DeviceArray)):
            if dw_min is None:
                raise ConfigError("a toolkit device on a tile needs dw_min")
            try:
                dw = np.asarray(dw_min, float)
            except (TypeError, ValueError, OverflowError):
                raise ConfigError(f"dw_min must be a number > 0 or one per trial (got {dw_min!r})") from None
            if dw.ndim and dw.size not in (1, T):
                raise ConfigError(f"dw_min must be a number or one value per trial, shape ({T},) "
                                  f"(got shape {dw.shape})")
            if np.any(~np.isfinite(dw)) or np.any(dw <= 0):
                raise ConfigError(f"dw_min must be > 0 (got {dw_min!r})")
            self.dw_min = dw.reshape(-1, 1, 1) * np.ones((T, 1, 1)) if dw.ndim else np.full((T, 1, 1), float(dw))
            self.noisy = c2c > 0
            self.write_noise = None
        else:
            raise ConfigError(f"device must be a SoftBoundsReference, ReferenceArray or toolkit Device "
                              f"(got {type(device).__name__})")
        self.c2c = non_negative("c2c", c2c)
        self.noise: Any = device.pulse_noise() if isinstance(device, ReferenceArray) else PulseNoise(self.c2c, self.c2c)
        # noisy affine devices: the cached n-pulse map (apply_pulses would rebuild it for every sample)
        self.noisy_map = PulseMap.of(device, self.dw_min, self.noise) if self.noise.active else None
        lo, hi = device.bounds
        self.lo = np.broadcast_to(np.asarray(lo, float), shape) if np.ndim(lo) else np.full(shape, float(lo))
        self.hi = np.broadcast_to(np.asarray(hi, float), shape) if np.ndim(hi) else np.full(shape, float(hi))
        aff = device.affine()
        self.affine = None if aff is None else tuple(np.broadcast_to(np.asarray(c, float), shape) for c in aff)
        self.closed_form = False
        self._split: tuple[Array, Array, Array, Array] | None = None
        self._lr: tuple[Any, tuple[Array, ...]] = (None, ())
        if aff is not None and not self.noisy:
            ap, bp, am, bm = self.affine
            with np.errstate(divide="ignore", invalid="ignore"):
                r_up = 1.0 + self.dw_min * bp
                r_dn = 1.0 - self.dw_min * bm
                fix_up, fix_dn = -ap / bp, -am / bm
            ok = (np.all((r_up > 0) & (r_up < 1) & (r_dn > 0) & (r_dn < 1))
                  and np.allclose(fix_up, self.hi, rtol=1e-12, atol=1e-12)
                  and np.allclose(fix_dn, self.lo, rtol=1e-12, atol=1e-12))
            if ok:
                self.closed_form = True
                self.log_r_up, self.log_r_dn = np.log(r_up), np.log(r_dn)
                # flat lookup tables, row 0 = down pulses, row 1 = up pulses
                self.n_elem = int(np.prod(shape))
                self.log_r_tab = np.concatenate([np.broadcast_to(self.log_r_dn, shape).ravel(),
                                                 np.broadcast_to(self.log_r_up, shape).ravel()])
                self.bound_tab = np.concatenate([self.lo.ravel(), self.hi.ravel()])
                # β = (1 − r) f of one pulse, as _compose_pulses forms it from the two tables
                self.beta_tab = np.expm1(self.log_r_tab)
                self.beta_tab *= self.bound_tab
                np.negative(self.beta_tab, out=self.beta_tab)

    def lr_terms(self, lr: Any) -> tuple[Array, ...]:
        """``|lr|``, ``δ``, ``|lr|/δ``, ``√(|lr|/δ)`` per trial (trials, 1) and the sign of ``lr`` (one entry for a
        scalar, else per trial) of a write with learning rate ``lr``; kept for the last scalar ``lr`` (a run writes
        with the same rate every step)."""
        if type(lr) is float and self._lr[0] is not None and lr == self._lr[0][0] \
                and math.copysign(1.0, lr) == self._lr[0][1]:
            return self._lr[1]
        scalar = np.ndim(lr) == 0
        key = (float(lr), math.copysign(1.0, float(lr))) if scalar else None
        if scalar and self._lr[0] == key:
            return self._lr[1]
        T = self.dw_min.shape[0]
        lr_abs = np.abs(np.full((T, 1), float(lr)) if scalar else np.asarray(lr, float).reshape(-1, 1))
        delta = self.dw_min.reshape(-1, 1)
        ratio = lr_abs / delta
        lr_sign = np.full(1, key[1]) if scalar else np.sign(np.asarray(lr, float)).reshape(-1)
        terms = (lr_abs, delta, ratio, np.sqrt(ratio), lr_sign)
        if scalar:
            self._lr = (key, terms)
        return terms

    def split_constants(self) -> tuple[Array, Array, Array, Array]:
        """(mid, half) of ``log r`` and of the bound over the two directions (cached): ``x_σ = mid + σ·half``."""
        if self._split is None:
            self._split = tuple(np.ascontiguousarray(v) for v in (
                0.5 * (self.log_r_up + self.log_r_dn), 0.5 * (self.log_r_up - self.log_r_dn),
                0.5 * (self.hi + self.lo), 0.5 * (self.hi - self.lo)))
        return self._split

    def pulses(self, w: Array, n: Array, sign: Array, rng: Any) -> Array:
        """Apply n same-sign pulses per element (exact, any device; noise and clipping per pulse)."""
        if self.noisy_map is not None:
            return self.noisy_map.signed(w, n, np.asarray(sign) > 0, rng)
        return apply_pulses(w, n, sign, self.device, self.dw_min, c2c=self.noise, rng=rng)


def _segments(key: Array, runs: bool = True) -> tuple[Array, Array, Array | None]:
    """Runs of equal consecutive ``key``: (starts, ends (inclusive), run id of every position, or None if not
    ``runs``)."""
    change = np.empty(key.size, dtype=bool)
    change[0] = True
    np.not_equal(key[1:], key[:-1], out=change[1:])
    starts = change.nonzero()[0]
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = key.size
    ends -= 1
    if not runs:
        return starts, ends, None
    run = change.cumsum()
    run -= 1
    return starts, ends, run


def _running_sums(values: Array, starts: Array, run: Array) -> Array:
    """Running sums of ``values`` along axis 0 within each segment of consecutive rows (``starts`` and ``run`` of
    :func:`_segments`), every segment starting afresh and adding its rows in order: the additions of a ``cumsum``
    over the segment alone, so that a segment's sums (one trial's, one element's) never depend on other segments'
    rows (a NaN in one trial stays there). Segments of one length are a reshape; otherwise the rows go into a
    (segments, longest) table, whose padding after each segment's rows is never read."""
    n = values.shape[0]
    lengths = np.diff(np.append(starts, n))
    longest = int(lengths.max())
    if np.all(lengths == longest):
        return np.cumsum(values.reshape((starts.size, longest) + values.shape[1:]), axis=1).reshape(values.shape)
    pos = np.arange(n) - starts[run]
    table = np.zeros((starts.size, longest) + values.shape[1:])
    table[run, pos] = values
    np.cumsum(table, axis=1, out=table)
    return table[run, pos]


#: pulse groups from which :func:`_compose_pulses` sorts 16-bit keys (radix sort; timsort below, measured)
_RADIX_MIN = 1024


def _compose_pulses(w: Array, elem: Array, n: Array | None, sign: Array, model: "_PulseModel") -> Array:
    r"""Apply pulse groups (flat element index, count, sign), given in sample order, in closed form.

    A group of ``n`` pulses maps ``w ↦ f + rⁿ (w − f)`` (``r``, ``f`` = per-pulse factor and fixed
    point = bound of the direction); the groups of one element compose as
    ``w' = e^{Σ log α} w + Σ_g β_g e^{Σ_{g' > g} log α_{g'}}`` with ``α = rⁿ``, ``β = (1 − α) f``.
    ``n = None`` means one pulse per group; ``sign`` may be the boolean "up" of every group.
    """
    out = w.copy() if type(w) is np.ndarray and w.dtype == np.float64 else np.array(w, dtype=float, copy=True)
    if elem.size == 0:
        return out
    # element-major, sample order kept (a stable sort: every stable sort gives the same order). A few hundred groups
    # sort fastest as they come (timsort on runs already in trial order); many take the radix sort of 16-bit keys
    if elem.size >= _RADIX_MIN and model.n_elem <= 1 << 15:
        order = elem.astype(np.int16).argsort(kind="stable")
    else:
        order = elem.argsort(kind="stable")
    elem = elem[order]
    up = sign[order] if sign.dtype == bool else sign[order] > 0
    idx = up * model.n_elem                          # row 0: down, row 1: up
    idx += elem
    log_alpha = model.log_r_tab[idx]
    if n is not None:
        log_alpha *= n[order]
        beta = np.expm1(log_alpha)
        beta *= model.bound_tab[idx]
        np.negative(beta, out=beta)
    else:                                            # one pulse per group: β of one pulse, tabulated
        beta = model.beta_tab[idx]
    starts, ends, _ = _segments(elem, runs=False)
    # one running sum over all groups: a group's numbers then depend in the last bits on the groups before it (other
    # elements and trials), which a pulse-train write tolerates since its draws span all trials anyway; a NaN or an
    # infinite count would spread to every later group, so then the sums restart per element (_running_sums)
    cum = log_alpha.cumsum()
    if not np.isfinite(cum[-1]):
        cum = _running_sums(log_alpha, starts, _segments(elem)[2])
    cum_end = cum[ends]
    length = ends - starts
    length += 1
    decay = cum_end.repeat(length)                   # the group's element's last cumulative sum, per group
    decay -= cum
    beta *= np.exp(decay, out=decay)
    tail = np.add.reduceat(beta, starts)
    flat = out.reshape(-1)
    hit = elem[starts]
    scale = cum_end - cum[starts]
    scale += log_alpha[starts]
    new = np.exp(scale, out=scale)
    new *= flat[hit]
    new += tail
    flat[hit] = new
    return out


def _compose(w: Array, t_idx: Array, log_alpha: Array, beta: Array) -> Array:
    r"""Apply per-sample affine maps ``w ← α w + β`` (rows sorted by trial, then sample) in order.

    For the rows of trial t: ``w' = e^{Σ log α} w + Σ_r β_r e^{Σ_{r' > r} log α_{r'}}``, with the running sums of
    ``log α`` over the trial's own rows (:func:`_running_sums`).
    """
    out = np.array(w, dtype=float, copy=True)
    if t_idx.size == 0:
        return out
    starts, ends, run = _segments(t_idx)
    cum = _running_sums(log_alpha, starts, run)          # per trial
    cum_end = cum[ends]                                  # (n_trials_hit, out, in)
    tail = np.add.reduceat(beta * np.exp(cum_end[run] - cum), starts, axis=0)
    trials = t_idx[starts]
    out[trials] = np.exp(cum_end - cum[starts] + log_alpha[starts]) * out[trials] + tail
    return out


#: elements per row from which :func:`_compose_counts` walks the rows one by one (cache-sized passes)
_ROW_LOOP_MIN = 1 << 14
#: elements per block of output lines in that walk (64 Ki float64 = 512 KiB per array: the block's few arrays fit L2)
_ROW_BLOCK_ELEMENTS = 1 << 16


def _compose_counts(w: Array, t_idx: Array, counts: Array, sign_of: Callable[[Any, Any], Array],
                    model: "_PulseModel") -> Array:
    r"""Apply per-sample pulse counts in order (rows sorted by trial, then sample), in closed form.

    Row r moves each element by ``n`` pulses of its direction σ (``sign_of((rows, output lines), out)``: +1 up,
    −1 or 0 down, written into ``out`` when it is an array):
    ``w ← α w + β`` with ``α = r_σⁿ = e^{n log r_σ}``, ``β = −(α − 1) f_σ`` (``r``, ``f`` = per-pulse factor
    and bound of the direction). Small rows are composed all at once by :func:`_compose`. Rows of many
    elements (a 512×512 tile) are applied one after the other as ``w ← w + (α − 1)(w − f_σ)`` on the position
    between the bounds, every pass on a block of output lines staying in cache, with the direction's constants
    taken branch-free as mid-point ± half-range (``log r_σ = m + σ h``, exact up to one rounding); the two orders
    of evaluation agree to rounding (tested).
    """
    if counts.shape[0] == 0 or counts[0].size < _ROW_LOOP_MIN:
        up_dir = sign_of((slice(None), slice(None)), None) > 0
        log_alpha = counts * np.where(up_dir, model.log_r_up[t_idx], model.log_r_dn[t_idx])
        beta = -np.expm1(log_alpha) * np.where(up_dir, model.hi[t_idx], model.lo[t_idx])
        return _compose(w, t_idx, log_alpha, beta)
    mid_log_r, half_log_r, mid_bound, half_bound = model.split_constants()
    # the position between the bounds, p = (w − (hi + lo)/2) / ((hi − lo)/2): f_σ is p = σ, so a pulse group is
    # p ← p + (α − 1)(p − σ)
    p = np.array(w, dtype=float, copy=True)
    p -= mid_bound
    p /= half_bound
    n_out, n_in = counts.shape[1:]
    block = max(1, min(n_out, _ROW_BLOCK_ELEMENTS // n_in))
    log_alpha, step, sign = (np.empty((block, n_in)) for _ in range(3))
    # elements are independent: blocks of output lines stay in cache while every sample passes over them
    for i0 in range(0, n_out, block):
        lines = slice(i0, min(n_out, i0 + block))
        k = lines.stop - lines.start
        la, st = log_alpha[:k], step[:k]
        for r in range(counts.shape[0]):    # samples in order (sequential by nature)
            t = int(t_idx[r])
            pb = p[t, lines]
            sign_r = sign_of((r, lines), sign[:k])
            np.multiply(sign_r, half_log_r[t, lines], out=la)
            np.add(la, mid_log_r[t, lines], out=la)                 # log r_σ
            np.multiply(la, counts[r, lines], out=la)
            np.expm1(la, out=la)                                    # α − 1
            np.subtract(pb, sign_r, out=st)                         # p − σ (irrelevant where n = 0)
            np.multiply(st, la, out=st)
            np.add(pb, st, out=pb)
    p *= half_bound
    p += mid_bound
    return p


#: Most nonzero counts, as a share of all, for which the rounding write composes only the nonzero ones
#: (:func:`_compose_sparse`); denser count arrays take :func:`_compose_counts`.
_SPARSE_SHARE = 1 / 16


def _compose_sparse(w: Array, S: int, counts: Array, dw: Array, model: "_PulseModel") -> Array | None:
    r"""The rounding write's :func:`_compose_counts` (rows: the S samples of every trial in order; an element moves
    up where ``dw ≥ 0``), then clipped to the range as there, formed on the nonzero counts only; None (nothing done)
    when more than :data:`_SPARSE_SHARE` of the counts are nonzero.

    A zero count adds ``log α = 0·log r = −0.0`` to the dense form's running sums and a term ``±0`` to its sums over
    a trial's rows, which leaves every nonzero sum as it is; so the same operations on the nonzero entries give the
    same numbers (tests/test_tile.py compares the two bit for bit): per element and trial with a pulse, the running
    sums ``C_r = Σ log α`` over the trial's rows in order and ``e^{C_end − C_start + log α_start} w + Σ_r β_r
    e^{C_end − C_r}``, where ``C_start`` and ``log α_start`` belong to the trial's first row (both −0.0 when that
    row does not pulse). The sum over the trial's rows is the dense form's own reduction (``np.add.reduceat`` along
    the rows, whose order of additions NumPy chooses) on a (rows, pulsed groups) table. Elements without a pulse keep
    their weight; then every element is clipped to the range, as there."""
    T, n_out, n_in = w.shape
    E = n_out * n_in
    flat = counts.reshape(T * S, E)
    if np.count_nonzero(flat) > _SPARSE_SHARE * flat.size:
        return None
    nz = np.flatnonzero(flat)
    out = np.array(w, dtype=float, copy=True)
    if nz.size:
        row, elem = np.divmod(nz, E)
        order = np.argsort(elem, kind="stable")       # element-major, rows (hence trials) in order
        row, elem = row[order], elem[order]
        n = flat.reshape(-1)[nz[order]]
        trial, sample = np.divmod(row, S)
        up = dw.reshape(T * S, E)[row, elem] >= 0
        te = trial * E + elem                         # (trial, element) of every entry
        tab = up * model.n_elem + te                  # the model's flat tables: row 0 down, row 1 up
        log_alpha = n * model.log_r_tab[tab]
        beta = -np.expm1(log_alpha) * model.bound_tab[tab]
        starts, ends, group = _segments(te)           # (trial, element) groups, their rows in order
        cum = _running_sums(log_alpha, starts, group)
        cum_end = cum[ends]
        at_start = sample[starts] == 0                # the trial's first row pulses
        cum_start = np.where(at_start, cum[starts], -0.0)
        la_start = np.where(at_start, log_alpha[starts], -0.0)
        table = np.zeros((S, starts.size))
        table[sample, group] = beta * np.exp(cum_end[group] - cum)
        tail = np.add.reduceat(table, [0], axis=0)[0]
        hit = te[starts]
        flat_out = out.reshape(-1)
        flat_out[hit] = np.exp(cum_end - cum_start + la_start) * flat_out[hit] + tail
    np.minimum(out, model.hi, out=out)
    np.maximum(out, model.lo, out=out)
    return out


def tile_update(w: Array, x: Array | FixedInput, d: Array, lr: Any, model: _PulseModel, up: UpdateParameters,
                rng: np.random.Generator, want_pulsed: bool = False, x_absmax: Array | None = None
                ) -> tuple[Array, Array | None]:
    """The rank-1 updates ``W ← W − lr d_s x_sᵀ`` of all samples s, in ``up.mode``.

    Args:
        w: (trials, out, in) persistent weights; x: (trials, S, in) or a :class:`FixedInput`; d: (trials, S, out).
        lr: scalar or (trials,) learning rate.
        model: the tile's device adapter. up: update parameters. rng: numpy Generator.

    Returns:
        the new weights and (if ``want_pulsed``) the boolean mask (trials, out, in) of pulsed elements.
    """
    lines = shared_x = fused = None
    if isinstance(x, FixedInput):
        if up.mode == "pulse_train" and d.shape[-1] == 1 and model.closed_form and not want_pulsed:
            done = _one_line_write(w, x, d, model.lr_terms(lr), model, up, rng)
            if type(done) is np.ndarray:
                return done, None
            fused = done                                  # None: not that case (nothing drawn); else dense trains
        if up.mode == "pulse_train":
            lines, shared_x = x.lines(), (x.x[0] if x.shared else None)
        x, x_absmax = x.x, x.absmax
    T, S, n_in = x.shape
    n_out = d.shape[-1]
    if up.mode != "pulse_train":
        lr_t = np.asarray(lr, float).reshape(-1, 1, 1, 1) if np.ndim(lr) else float(lr)
    if up.mode == "expected":
        dw = -lr_t * d[:, :, :, None] * x[:, :, None, :]          # (T, S, out, in)
        return _expected_sequence(w, dw, model), (np.ones(w.shape, bool) if want_pulsed else None)
    if up.mode == "rounding":
        dw = -lr_t * d[:, :, :, None] * x[:, :, None, :]
        n_dense = pulse_counts(dw / model.dw_min[:, None], Pulsed(dw_min=1.0, bl=up.desired_bl), rng)
        if model.closed_form and w[0].size < _ROW_LOOP_MIN:
            new = _compose_sparse(w, S, n_dense, dw, model)
            if new is not None:
                return new, (np.any(n_dense > 0, axis=1) if want_pulsed else None)
        if model.closed_form:
            rows_dw = dw.reshape((T * S,) + w.shape[1:])
            new = _compose_counts(w, np.repeat(np.arange(T), S), n_dense.reshape(rows_dw.shape),
                                  lambda ri, out: np.where(rows_dw[ri] >= 0, 1.0, -1.0), model)
            np.minimum(new, model.hi, out=new)
            np.maximum(new, model.lo, out=new)
            return new, (np.any(n_dense > 0, axis=1) if want_pulsed else None)
        t_idx, s_idx, i_idx, j_idx = np.nonzero(n_dense)
        counts = n_dense[t_idx, s_idx, i_idx, j_idx]
        signs = np.where(dw[t_idx, s_idx, i_idx, j_idx] >= 0, 1.0, -1.0)
    else:
        # pulse_train_parameters with the per-trial learning-rate terms cached on the model
        terms = model.lr_terms(lr)
        lr_abs, delta, ratio, a_one, lr_sign = terms
        chunks = fused
        if chunks is None:
            xm = _absmax_last(x) if x_absmax is None else np.asarray(x_absmax, float)
            dm = _absmax_last(d)
            if up.um_grad_scale != 1.0:
                dm = up.um_grad_scale * dm
            bl, a, b = _train_scales(lr_abs, delta, ratio, xm, dm, up, a_one)
            chunks = _bit_trains(x, d, a, b, bl, rng, up.max_bits, lines,
                                 d_abs=dm[..., None] if n_out == 1 and up.um_grad_scale == 1.0 else None)
        dense = model.closed_form and chunks and \
            _n_coincidences(chunks, n_out) > 0.25 * _n_samples(chunks, S) * n_out * n_in
        if dense:
            # dense regime: compose per-sample count matrices (fewer, larger operations)
            keys, rows = _rows(chunks, n_out, S, n_in)
            t_r, s_r = np.divmod(keys, S)
            # the sign of −lr d_i x_j: a row factor times a column factor (values in {−1, 0, 1}, exact)
            row_sign = -np.sign(d[t_r, s_r]) * (lr_sign[t_r][:, None] if lr_sign.size > 1 else lr_sign[0])
            col_sign = np.sign(x[t_r, s_r])
            new = _compose_counts(w, t_r, rows, lambda ri, out: np.multiply(row_sign[ri][..., :, None],
                                                                            col_sign[ri[0]][..., None, :], out=out),
                                  model)
            np.minimum(new, model.hi, out=new)
            np.maximum(new, model.lo, out=new)
            pulsed = None
            if want_pulsed:
                pulsed = np.zeros(w.shape, bool)
                np.logical_or.at(pulsed, t_r, rows > 0)
            return new, pulsed
        t_idx, s_idx, i_idx, j_idx, key = _entries(chunks, n_out, with_key=True)
        counts = None
        signs = np.sign(d.reshape(-1)[key * n_out + i_idx if n_out > 1 else key])
        if shared_x is not None:                         # inputs shared by the trials: look up by sample
            signs *= np.sign(shared_x.reshape(-1)[s_idx * n_in + j_idx])
        else:
            signs *= np.sign(x.reshape(-1)[key * n_in + j_idx])
        _times_minus_lr_sign(signs, lr_sign, t_idx)
    elem = (t_idx * n_out + i_idx) * n_in + j_idx if n_out > 1 else t_idx * n_in + j_idx
    pulsed = None
    if want_pulsed:
        pulsed = np.zeros(w.shape, bool)
        pulsed.reshape(-1)[elem] = True
    if model.closed_form:
        new = _compose_pulses(w, elem, counts, signs, model)
        np.minimum(new, model.hi, out=new)
        np.maximum(new, model.lo, out=new)
        return new, pulsed
    # exact sequential fallback: one sample after the other, all trials at once
    dense_n = np.zeros((T, S, n_out, n_in))
    dense_s = np.ones((T, S, n_out, n_in))
    np.add.at(dense_n, (t_idx, s_idx, i_idx, j_idx), 1.0 if counts is None else counts)
    dense_s[t_idx, s_idx, i_idx, j_idx] = signs
    out = np.array(w, dtype=float, copy=True)
    for s in range(S):
        if np.any(dense_n[:, s] > 0):
            out = model.pulses(out, dense_n[:, s], dense_s[:, s], rng)
    return out, pulsed


def _times_minus_lr_sign(signs: Array, lr_sign: Array, t_idx: Array) -> None:
    """``signs *= −sign(lr)`` in place (one sign, or per trial indexed by ``t_idx``)."""
    if lr_sign.size > 1:
        signs *= -lr_sign[t_idx]
    elif lr_sign[0] == 1.0:
        np.negative(signs, out=signs)
    elif lr_sign[0] != -1.0:
        signs *= -lr_sign[0]


def _one_line_write(w: Array, fixed: FixedInput, d: Array, terms: tuple[Array, ...], model: _PulseModel,
                    up: UpdateParameters, rng: np.random.Generator) -> Array | list | None:
    """The pulse-train write of a tile with one output line on fixed inputs when every sample is live with BL = 1
    (the usual case of P1's least-squares loop): :func:`_train_scales`, :func:`_bit_trains`, :func:`_entries` and
    the signs of :func:`tile_update` fused for that case, bit for bit (tested against the general path).

    Returns the new (clipped) weights; the drawn trains (chunks of :func:`_bit_trains`) when their coincidences
    are dense (the caller composes them); or None, having drawn nothing, when the case does not apply.
    """
    lr_abs, delta, ratio, a_one, lr_sign = terms
    T, S, n_in = fixed.shape
    lines, cols, by_sample = fixed.lines()
    if not (up.um and up.update_bl_management and up.um_grad_scale == 1.0 and cols is None and lr_sign.size == 1
            and T * S > 0):
        return None
    xm = fixed.absmax
    dm = np.abs(d[..., 0])                                   # max|d| of one output line
    # k = (|lr|/δ)·max|x|·max|d| lies in (0, 1] for every sample when it does for the extreme factors (rounding is
    # monotone): every sample live, BL = 1, no gradient clipping
    rx_min, rx_max = fixed.rate_range(ratio)
    if not (rx_min * _amin(dm, axis=None) > 0 and rx_max * _amax(dm, axis=None) <= 1.0):
        return None
    root = np.divide(xm, dm)                                 # update management: A = a·root, B = a/root
    np.sqrt(root, out=root)
    q = np.multiply(a_one, root)
    q32 = np.multiply(q, dm, out=np.empty((T, S), np.float32))   # float32(A·|d|), one rounding as astype
    u = rng.random((T, S), dtype=np.float32)
    key = np.less(u, q32).reshape(-1).nonzero()[0]         # active samples
    if key.size == 0:
        new = np.array(w, dtype=float, copy=True)
    else:
        t_a, s_a = np.divmod(key, S)
        row = s_a if by_sample else key
        thresh = lines.take(row, axis=0)                   # rows gathered by take: a copy per row, no index machinery
        b_key = a_one.reshape(-1)[t_a]
        b_key /= root.reshape(-1)[key]
        thresh *= b_key[:, None]
        xbits = rng.random(thresh.shape, dtype=np.float32) < thresh
        f = xbits.reshape(-1).nonzero()[0]
        if f.size > 0.25 * key.size * n_in:                 # tile_update's dense regime
            return [(t_a, s_a, np.zeros(key.size, np.intp), None, xbits, None, key)]
        r, j = np.divmod(f, n_in)
        # up iff sign(x_j) sign(d) sign(lr) < 0; a coincidence has x_j ≠ 0 and d ≠ 0 (else it cannot fire)
        d_pos = (d.reshape(-1)[key] > 0)[r]
        at = row[r]                                          # flat index of x_j among the input rows
        at *= n_in
        at += j
        x_pos = fixed.positive().reshape(-1)[at]
        up_dir = np.equal(x_pos, d_pos, out=d_pos) if lr_sign[0] < 0 else np.not_equal(x_pos, d_pos, out=d_pos)
        elem = t_a[r]
        elem *= n_in
        elem += j
        new = _compose_pulses(w, elem, None, up_dir, model)
    np.minimum(new, model.hi, out=new)
    np.maximum(new, model.lo, out=new)
    return new


def _expected_sequence(w: Array, dw: Array, model: _PulseModel) -> Array:
    """Per-sample expected updates ``w ← w + dw F(w) − |dw| G(w)`` in sample order, then clipped.

    On an affine device a trial whose per-sample maps ``w ← α w + β`` all have α > 0 is composed in closed form
    (:func:`_compose`); the others (and every trial on other devices) take the updates one by one. The choice is
    made per trial, so a trial's result never depends on the other trials' gradients."""
    T, S = dw.shape[:2]
    out = np.array(w, dtype=float, copy=True)
    rest = np.arange(T)
    if model.affine is not None:
        ap, bp, am, bm = model.affine
        f0, f1, g0, g1 = 0.5 * (am + ap), 0.5 * (bm + bp), 0.5 * (am - ap), 0.5 * (bm - bp)
        ad = np.abs(dw)
        alpha = 1.0 + f1[:, None] * dw - g1[:, None] * ad
        closed = np.all((alpha > 0).reshape(T, -1), axis=1)
        if closed.any():
            beta = f0[:, None] * dw - g0[:, None] * ad
            done = np.flatnonzero(closed)
            t_idx = np.repeat(np.arange(done.size), S)
            rows = (done.size * S,) + w.shape[1:]
            new = _compose(w[done], t_idx, np.log(alpha[done]).reshape(rows), beta[done].reshape(rows))
            out[done] = np.clip(new, model.lo[done], model.hi[done])
        rest = np.flatnonzero(~closed)
    if rest.size:
        # elementwise updates on every trial (the device's arrays span all trials), kept for the trials in ``rest``
        seq = np.array(w, dtype=float, copy=True)
        for s in range(S):
            seq = np.clip(expected_update(seq, dw[:, s], model.device), model.lo, model.hi)
        out[rest] = seq[rest]
    return out


# -- the tile's write as a mode of the matrix algorithms -----------------------------------------------

_MODELS: "OrderedDict[tuple[int, tuple[int, ...], Any, float], tuple[Any, _PulseModel]]" = OrderedDict()


def pulse_model(device: Any, shape: tuple[int, int, int], dw_min: Any = None, c2c: float = 0.0) -> _PulseModel:
    """The tile's device adapter for ``device`` on weights of ``shape`` (a small cache: the algorithms call this
    for every write; the entry keeps its device alive, so its id is not reused while cached)."""
    cacheable = np.ndim(dw_min) == 0
    key = (id(device), tuple(shape), None if dw_min is None or not cacheable else float(dw_min), float(c2c))
    hit = _MODELS.get(key) if cacheable else None
    if hit is not None and hit[0] is device:
        _MODELS.move_to_end(key)
        return hit[1]
    model = _PulseModel(device, tuple(shape), dw_min, c2c)
    if cacheable:
        _MODELS[key] = (device, model)
        while len(_MODELS) > 32:
            _MODELS.popitem(last=False)
    return model


def train_write(w: Array, x: Array, d: Array, lr: Any, device: Any, mode: TileWrite, rng: Any) -> Array:
    """``W ← W − lr Σ_s d_s x_sᵀ`` sample after sample as the tile writes (:func:`tile_update` in
    ``mode.update.mode``); ``lr`` scalar or per trial ((trials,) or (trials, 1, 1))."""
    model = pulse_model(device, w.shape, mode.dw_min, mode.c2c)
    lr = np.asarray(lr, float).reshape(-1) if np.ndim(lr) else lr
    return tile_update(w, x, d, lr, model, mode.update, rng)[0]


def device_pulses(w: Array, n: Array, up: Array, device: Any, mode: Any, rng: Any) -> Array:
    """Exactly ``n`` pulses of direction ``up`` per element on ``device`` (noise and clipping at every pulse):
    a realised reference device with its own δ and noise, a toolkit device with the mode's ``dw_min`` and ``c2c``."""
    if isinstance(device, ReferenceArray):
        return apply_device_pulses(w, n, np.where(up, 1.0, -1.0), device, rng)
    return apply_pulses(w, n, up, device, mode.dw_min, c2c=mode.c2c, rng=rng)


# -- the tile -----------------------------------------------------------------------------------

def _broadcast_weights(name: str, w: Array, shape: tuple[int, ...]) -> Array:
    """``w`` broadcast to the tile ``shape`` (a read-only view), else ConfigError naming ``name``."""
    try:
        return np.broadcast_to(w, shape)
    except ValueError:
        raise ConfigError(f"{name} must be a number or an array broadcasting to the tile shape {shape} "
                          f"(got shape {w.shape})") from None


def _check_rows(name: str, rows: Any, trials: int, width: int) -> None:
    """Rows fed to a tile (an array or a :class:`FixedInput`) must have shape (trials, samples, width); O(1)."""
    shape = rows.shape if type(rows) is np.ndarray or isinstance(rows, FixedInput) else np.shape(rows)
    if len(shape) != 3 or shape[0] != trials or shape[2] != width:
        raise ConfigError(f"{name} must have shape ({trials}, samples, {width}) (got {shape})")


def _check_tile_lr(lr: Any, trials: int) -> None:
    """A tile write's learning rate other than a Python float: a finite number or one finite value per trial
    (O(trials)); its sign is kept (the direction of the write)."""
    try:
        arr = np.asarray(lr, dtype=float)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"lr must be a number or one number per trial (got {lr!r})") from None
    if arr.size != 1 and (arr.size != trials or max(arr.shape) != arr.size):
        raise ConfigError(f"lr must be a number or one value per trial, shape ({trials},) (got shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ConfigError(f"lr must be finite (got {lr!r})" if arr.size == 1 else "lr must be finite in every trial")


class AnalogTile:
    """A batch of analog tiles (leading trials axis) — the imperative shell around the pure core.

    Args:
        device: :class:`SoftBoundsReference` (realised here with ``rng``), a realised
            :class:`ReferenceArray`, or a toolkit :class:`Device`/:class:`DeviceArray`
            (then ``dw_min`` is required and ``c2c`` is its additive pulse noise).
        shape: (trials, out, in).
        update: :class:`UpdateParameters` (mode switch, desired_bl, UM/UBLM).
        forward_io, backward_io: :class:`convergence.physics.periphery.IOParameters` (perfect by default).
        rng: numpy Generator (or seed) for pulses, periphery noise and the device draw.
        dw_min: granularity for toolkit devices, scalar or (trials,).
        c2c: cycle-to-cycle noise for toolkit devices.
        w0: initial weights (broadcast to ``shape``; clipped to the range as aihwkit's set_weights).
    """

    def __init__(self, device: Any, shape: tuple[int, int, int], *, update: UpdateParameters | None = None,
                 forward_io: IOParameters = PERFECT, backward_io: IOParameters = PERFECT,
                 rng: Any = 0, dw_min: Any = None, c2c: float = 0.0, w0: Any = 0.0) -> None:
        if len(shape) != 3:
            raise ConfigError(f"tile shape must be (trials, out, in) (got {shape!r})")
        self.shape = tuple(positive_int("tile shape", s) for s in shape)
        try:
            w0_arr = np.asarray(w0, float)
        except (TypeError, ValueError, OverflowError):
            raise ConfigError(f"w0 must be a number or an array of weights (got {w0!r})") from None
        _broadcast_weights("w0", w0_arr, self.shape)
        if not np.isfinite(w0_arr).all():           # once, at construction
            raise ConfigError("w0 must be finite everywhere (it contains NaN or infinity)")
        try:
            self.rng = as_generator(rng)
        except ConfigError:
            raise ConfigError(f"rng must be a numpy Generator or a seed, a non-negative integer or a SeedSequence "
                              f"(got {rng!r})") from None
        if isinstance(device, SoftBoundsReference):
            device = device.realize(self.shape, self.rng)
        self.update_parameters = update if update is not None else UpdateParameters()
        if not isinstance(self.update_parameters, UpdateParameters):
            raise ConfigError("update must be an UpdateParameters")
        for name, io in (("forward_io", forward_io), ("backward_io", backward_io)):
            if not isinstance(io, IOParameters):
                raise ConfigError(f"{name} must be an IOParameters")
        self.forward_io, self.backward_io = forward_io, backward_io
        self.model = _PulseModel(device, self.shape, dw_min, c2c)
        self.device = device
        wn = self.model.write_noise
        self._noisy_write = wn is not None and bool(np.any(wn > 0))
        self.set_weights(w0_arr)

    # state ------------------------------------------------------------------------------------
    def set_weights(self, w: Any) -> None:
        """Set the persistent weights (clipped to the device range); write noise is drawn once."""
        w = _broadcast_weights("weights", np.asarray(w, float), self.shape)
        self.w = np.clip(w, self.model.lo, self.model.hi)
        self._visible = self.w.copy()
        if self._noisy_write:
            self._visible = write_noise(self.w, self.model.write_noise, self.rng)

    @property
    def weights(self) -> Array:
        """The visible weights (persistent weights plus the current write noise)."""
        return self._visible

    # MVMs ---------------------------------------------------------------------------------------
    def forward(self, x: Array | FixedInput) -> Array:
        """``y = W x`` through the forward periphery; x (trials, S, in) or a :class:`FixedInput` -> (trials, S, out)."""
        T, _, n_in = self.shape
        _check_rows("x", x, T, n_in)
        if isinstance(x, FixedInput):
            return _forward(self._visible, x.x, self.forward_io, self.rng, x_norms=x.norms)
        return _forward(self._visible, x, self.forward_io, self.rng)

    def backward(self, d: Array) -> Array:
        """``z = Wᵀ d`` through the backward periphery; d (trials, S, out) -> (trials, S, in)."""
        T, n_out, _ = self.shape
        _check_rows("d", d, T, n_out)
        return _backward(self._visible, d, self.backward_io, self.rng)

    def update(self, x: Array | FixedInput, d: Array, lr: Any, *, x_absmax: Array | None = None) -> None:
        """Sequential rank-1 updates ``W ← W − lr d_s x_sᵀ`` for s = 1..S (see module docstring).

        ``x`` (trials, S, in) or a :class:`FixedInput` (fixed data: its per-sample quantities are cached);
        ``x_absmax`` (trials, S) may pass a precomputed ``max_j |x_j|``. ``lr``: a finite number (its sign is the
        direction of the write) or one per trial, shape (trials,).
        """
        if not isinstance(x, FixedInput):
            x = np.asarray(x, float)
        d = np.asarray(d, float)
        T, n_out, n_in = self.shape
        _check_rows("x", x, T, n_in)
        if d.shape != (T, x.shape[1], n_out):
            raise ConfigError(f"d must have shape ({T}, {x.shape[1]}, {n_out}) (got {d.shape})")
        if type(lr) is float:                      # O(1) for the usual scalar rate
            if not math.isfinite(lr):
                raise ConfigError(f"lr must be finite (got {lr!r})")
        else:
            _check_tile_lr(lr, T)
        if x_absmax is not None and np.shape(x_absmax) != (T, x.shape[1]):
            raise ConfigError(f"x_absmax must have shape ({T}, {x.shape[1]}) (got {np.shape(x_absmax)})")
        noisy_write = self._noisy_write
        self.w, pulsed = tile_update(self.w, x, d, lr, self.model, self.update_parameters, self.rng,
                                     want_pulsed=noisy_write, x_absmax=x_absmax)
        if noisy_write:
            self._visible = write_noise(self.w, self.model.write_noise, self.rng, self._visible,
                                        pulsed)   # re-drawn only where pulsed
        else:
            self._visible = self.w
