r"""The analog update ``W <- U_q(W, dW)`` in its two modes.

* :class:`Expected` — the theory's recursion (P2 eq 5, P1 eq 7), i.e. the
  mean of the pulsed update to first order in ``dw_min``:

  .. math:: W' = W + \Delta W \odot F(W) - |\Delta W| \odot G(W)

* :class:`Pulsed` — ``n = round(|dW| / dw_min)`` pulses (stochastic rounding
  by default, capped at ``bl``), each ``w <- clip(w + s dw_min (q_s(w) + c2c ξ))``
  with fresh noise and clipping at every pulse (P1 eq 15–16, P2 eq 26; aihwkit's
  semantics). Affine devices use the exact n-pulse composition (P1 eq 15–16 iterated):

  .. math:: w_n = w_\star + r^n (w - w_\star),\; r = 1 + s\,\delta\,b_s,\;
            w_\star = -a_s / b_s \quad (q_s(w) = a_s + b_s w)

  and ``w + n s δ a_s`` when ``b_s = 0``; with c2c noise the composition plus one summed
  Gaussian per element, where that equals the pulse-by-pulse result in distribution
  (:class:`PulseMap`). Other devices use a masked loop over the pulse index, vectorized
  over all elements. The noise-free closed form of a scalar affine device keeps float32 weights (the
  networks') in float32, within a few float32 rounding steps at the range's scale of the float64
  evaluation; float64 weights are evaluated in float64.

Neither mode loops over trials or elements in Python.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Union

import numpy as np
from numpy.typing import NDArray

from convergence import rng as rngmod
from convergence._timing import best_time
from convergence._validate import ConfigError, non_negative, positive, positive_int
from convergence.physics.devices import AnyDevice, Device, RealizedDevice, _affine_F_G

Array = NDArray[np.float64]

ROUNDING = ("stochastic", "nearest", "ceil", "floor")


@dataclass(frozen=True)
class Expected:
    """Expected (mean-field, dw_min -> 0) update mode."""

    name = "expected"

    def as_dict(self) -> dict[str, Any]:
        return {"mode": "expected"}


@dataclass(frozen=True)
class Pulsed:
    """Pulsed update mode: ``n = round(|ΔW|/δ)`` pulses per element (``rounding``: stochastic by default, capped at
    ``bl``), each with its own noise and clipping."""

    dw_min: float
    """δ = Δw_min > 0: pulse granularity (P1 eq 15, P2 eq 26; aihwkit ``dw_min``)."""
    bl: int = 1_000_000
    """Largest pulse count per element and update (bit-length cap; aihwkit ``desired_bl``)."""
    c2c: float = 0.0
    """σ_c: cycle-to-cycle noise of every pulse, additive and relative to the step (P2 eq 26;
    aihwkit ``dw_min_std``)."""
    rounding: str = "stochastic"
    """How |ΔW|/δ becomes a count: ``stochastic`` (default, unbiased; aihwkit ``sto_round=True``), ``nearest``,
    ``ceil`` (P2) or ``floor``."""

    name = "pulsed"

    def __post_init__(self) -> None:
        object.__setattr__(self, "dw_min", positive("dw_min", self.dw_min))
        object.__setattr__(self, "bl", positive_int("bl", self.bl))
        object.__setattr__(self, "c2c", non_negative("c2c", self.c2c))
        if self.rounding not in ROUNDING:
            raise ConfigError(f"rounding must be one of {', '.join(ROUNDING)} (got {self.rounding!r})")

    def as_dict(self) -> dict[str, Any]:
        return {"mode": "pulsed", "dw_min": self.dw_min, "bl": self.bl, "c2c": self.c2c, "rounding": self.rounding}


UpdateMode = Union[Expected, Pulsed]
EXPECTED = Expected()


def expected_update(w: Array, dw: Array, device: RealizedDevice, total: Array | None = None) -> Array:
    r"""The expected update ``W + dW ⊙ F(W) − S ⊙ G(W)`` (P2 eq 5, P1 eq 7). Returns a new array.

    * net form (``total=None``): ``S = |dW|``, one write of ``dW``;
    * "signs" form: ``S = total`` = the batch's ``Σ_b |ΔW_b|``, i.e. ``W + U ⊙ q₊(W) − D ⊙ q₋(W)``
      with the batch's up/down totals ``U = (S + dW)/2``, ``D = (S − dW)/2`` (per-sample writes
      summed to first order in δ).

    Affine devices with scalar coefficients take a fused path,
    ``W (1 + f1 dW − g1 S) + f0 dW − g0 S``, whose terms with zero coefficients are skipped (so an
    ideal device is exactly ``W + dW``); other devices evaluate F and G (net form) or q± ("signs"
    form). The result has the inputs' common dtype (float32 in, float32 out; a float64 operand makes it
    float64, never a silent downcast of ``w``) as far as the device's responses keep it
    (:class:`~convergence.physics.devices.Device` responses do).
    """
    w, dw = np.asarray(w), np.asarray(dw)
    dt = np.result_type(w, dw) if total is None else np.result_type(w, dw, np.asarray(total))
    if dt.kind == "f":
        w, dw = w.astype(dt, copy=False), dw.astype(dt, copy=False)
        total = None if total is None else np.asarray(total).astype(dt, copy=False)
    aff = device.affine()
    if aff is not None and isinstance(device, Device):
        return _affine_expected(w, dw, total, *_affine_F_G(device))
    if total is None:
        return w + dw * device.F(w) - np.abs(dw) * device.G(w)
    return w + 0.5 * ((total + dw) * device.q_plus(w) - (total - dw) * device.q_minus(w))


#: Bytes per array from which :func:`_affine_expected` runs its passes block by block. Measured on a 2-core Xeon with
#: 2 MiB of L2 per core: blocks made the passes 18–40 % faster on arrays of 1.5 MiB and more, and up to 50 % slower on
#: arrays of 1 MiB or less, which the passes keep in cache anyway.
_BLOCK_MIN_BYTES = 3 << 19
#: Bytes per array of one block of :func:`_affine_expected` (32 Ki float64 elements).
_BLOCK_BYTES = 1 << 18


def _affine_expected(w: Array, dw: Array, total: Array | None, f0: float, f1: float, g0: float, g1: float,
                     out: Array | None = None) -> Array:
    """The fused affine path of :func:`expected_update`, ``W (1 + f1 dW − g1 S) + f0 dW − g0 S`` (``w``, ``dw`` of
    one float dtype), skipping the terms with zero coefficients and the multiplication by a unit ``g1``; written
    into ``out`` (which may be ``w`` itself: the same operations in the same order) when given.

    Arrays of at least :data:`_BLOCK_MIN_BYTES` (C-contiguous, of one shape and dtype) take the passes block by
    block, so that the four or five of them read and write the cache instead of main memory: every element sees
    the same operations, so the result is the same bits (tests/test_fused_paths.py checks it)."""
    if w.nbytes >= _BLOCK_MIN_BYTES and _blockable(w, dw, total, out):
        res = np.empty_like(w) if out is None else out
        fw, fd, fr = w.reshape(-1), dw.reshape(-1), res.reshape(-1)
        ft = None if total is None else total.reshape(-1)
        for b in _flat_blocks(w):
            _affine_block(fw[b], fd[b], None if ft is None else ft[b], f0, f1, g0, g1, fr[b])
        return res
    return _affine_block(w, dw, total, f0, f1, g0, g1, out)


def _flat_blocks(w: Array) -> list[slice]:
    """The flat slices of :data:`_BLOCK_BYTES` each (the last one shorter) covering ``w``'s elements."""
    step = max(1, _BLOCK_BYTES // w.itemsize)
    return [slice(i, min(i + step, w.size)) for i in range(0, w.size, step)]


def _blockable(w: Array, dw: Array, total: Array | None, out: Array | None) -> bool:
    """Whether :func:`_affine_expected` may split its arrays into flat blocks: all C-contiguous arrays of one shape and
    dtype (``total`` may be absent), and no array written (``out``, which may be ``w`` itself) sharing memory with an
    input it does not replace: the whole-array passes would read such an input after the write had changed it, a
    block only partly."""
    arrays = [a for a in (w, dw, total, out) if a is not None]
    if not all(type(a) is np.ndarray and a.flags.c_contiguous and a.shape == w.shape and a.dtype == w.dtype
               for a in arrays):
        return False
    if out is None:
        return True
    return not any(np.may_share_memory(out, a) for a in (w, dw, total) if a is not None and a is not out)


def _affine_block(w: Array, dw: Array, total: Array | None, f0: float, f1: float, g0: float, g1: float,
                  out: Array | None = None) -> Array:
    """:func:`_affine_expected` on one block (or on whole arrays below :data:`_BLOCK_MIN_BYTES`)."""
    ad = (np.abs(dw) if total is None else total) if (g1 or g0) else None
    if f1 or g1:
        if g1 == 1.0 and total is None and not g0 and not f1:   # 1 − |dW|, exactly (−|dW|)·1 + 1
            coef = np.subtract(1.0, ad, out=ad)
        else:
            if g1 and total is None and not g0:     # |dW| is needed only here: scale it in place
                coef = np.multiply(ad, -g1, out=ad)
            else:
                coef = np.multiply(ad, -g1) if g1 else np.zeros_like(dw)
            if f1:
                coef += f1 * dw
            coef += 1.0
        out = np.multiply(w, coef, out=coef if out is None else out)
    elif out is None:
        out = np.array(w, copy=True)
    elif out is not w:
        np.copyto(out, w)
    if f0 == 1.0:
        out += dw
    elif f0:
        out += f0 * dw
    if g0:
        out -= g0 * ad
    return out


class ExpectedMap:
    """:func:`expected_update` (net form) of a scalar affine :class:`~convergence.physics.devices.Device` with its
    coefficients ``F = f0 + f1 w``, ``G = g0 + g1 w`` computed once (the per-step checks skipped for the usual
    call: two float arrays of one dtype). Build it with :meth:`build`."""

    def __init__(self, device: Device) -> None:
        self.device = device
        self.coef = _affine_F_G(device)

    @staticmethod
    def build(device: Any, mode: Any) -> "ExpectedMap | None":
        """The map of ``device`` in ``mode`` (None unless ``mode`` is :class:`Expected` and ``device`` a scalar
        affine Device)."""
        if isinstance(mode, Expected) and isinstance(device, Device) and device.affine() is not None:
            return ExpectedMap(device)
        return None

    def __call__(self, w: Array, dw: Array) -> Array:
        """``W + dW ⊙ F(W) − |dW| ⊙ G(W)`` (P2 eq 5, P1 eq 7), a new array."""
        if (type(w) is np.ndarray and type(dw) is np.ndarray and w.dtype == dw.dtype and w.dtype.kind == "f"
                and w.shape == dw.shape):
            return _affine_expected(w, dw, None, *self.coef)
        return expected_update(w, dw, self.device)

    def into(self, w: Array, dw: Array) -> Array:
        """The same map written into ``w`` itself (a caller that owns ``w`` and drops its old value); returns ``w``."""
        if (type(w) is np.ndarray and type(dw) is np.ndarray and w.dtype == dw.dtype and w.dtype.kind == "f"
                and w.shape == dw.shape and w.flags.writeable):
            return _affine_expected(w, dw, None, *self.coef, out=w)
        w[...] = self(w, dw)
        return w

    def descent(self, w: Array, grad: Array, rate: Any) -> Array:
        """The map at ``dW = −rate·grad`` (the Analog SGD write of
        :func:`convergence.sim.algorithms.sgd_write`), a new array: ``self(w, np.multiply(-rate, grad))``. For a
        scalar ``rate`` on arrays of at least :data:`_BLOCK_MIN_BYTES` (C-contiguous, of one shape and dtype, that
        dtype also the product's: a NumPy float64 rate on float32 weights is not blocked) ``dW`` is formed block by
        block beside the map's passes (:func:`_affine_expected`), the same operation on
        every element, so the same bits (tests/test_fused_paths.py checks it)."""
        neg = -rate
        if (type(w) is np.ndarray and w.nbytes >= _BLOCK_MIN_BYTES and np.ndim(rate) == 0     # sizes first: cheap
                and _blockable(w, grad, None, None) and w.dtype.kind == "f" and np.result_type(neg, grad) == w.dtype):
            res = np.empty_like(w)
            fw, fg, fr = w.reshape(-1), grad.reshape(-1), res.reshape(-1)
            blocks = _flat_blocks(w)
            dw = np.empty(blocks[0].stop - blocks[0].start, dtype=w.dtype)
            for b in blocks:
                d = np.multiply(neg, fg[b], out=dw[:b.stop - b.start])
                _affine_block(fw[b], d, None, *self.coef, fr[b])
            return res
        return self(w, np.multiply(neg, grad))


def pulse_counts(dw: Array, mode: Pulsed, rng: Any) -> Array:
    """Pulse count per element: round(|dW| / dw_min) with ``mode.rounding``, capped at ``mode.bl``.

    Stochastic rounding is ``⌊|dW|/δ + u⌋`` with ``u = k/2³²`` (:func:`_uniform32`). For float32 and float64 ``dW``
    and the toolkit's streams it is evaluated as ``⌊(|dW|·(2³²/δ) + k)·2⁻³²⌋`` with the raw 32-bit draws k
    (:func:`_bits32`) added in one mixed-type addition, the form :func:`_pulsed_symmetric` uses: scaling by powers of
    2 is exact, so the sum rounds alike (in float64, then to dW's type, as ``x += u`` does) and the counts are the
    same bits, while the float64 uniforms are never formed (tests/test_fused_paths.py checks it against the plain
    form)."""
    x = np.abs(dw)
    if mode.rounding == "stochastic":
        # floor(x + u), u ~ U[0, 1): equals floor(x) + 1 with probability frac(x). Uniforms on the
        # 2**-32 grid (32 raw bits each) halve the generator's cost; the rounding bias is < 2.4e-10.
        scale = _count_scale(x, mode)
        blocks = None if scale is None else _bit_blocks(rng, x.shape)
        if blocks is None:
            x *= 1.0 / mode.dw_min
            x += _uniform32(rng, np.shape(dw))
        else:
            with np.errstate(over="ignore"):    # beyond the cap both forms give the cap (_count_scale)
                x *= scale
            np.add(x, _bits32(blocks, x.shape), out=x)
            x *= 2.0 ** -32
        n = np.floor(x, out=x)
    else:
        x *= 1.0 / mode.dw_min
        if mode.rounding == "nearest":
            n = np.floor(x + 0.5)
        elif mode.rounding == "ceil":
            n = np.ceil(x)
        else:
            n = np.floor(x)
    # the cap rarely binds: a reduction is cheaper than the pass (fmax: a NaN count must not hide the others)
    if n.size and np.fmax.reduce(n, axis=None) > mode.bl:
        np.minimum(n, mode.bl, out=n)
    return n


def _count_scale(x: Any, mode: Pulsed) -> Any:
    """``(1/δ)·2³²`` in the dtype of the array ``x`` (float32 or float64) for :func:`pulse_counts`'s fused stochastic
    rounding, or None where that form might differ from the plain one: not such an array, ``1/δ`` or the scale outside
    the dtype's normal range (then scaling by 2³² is not exact), or a cap so large that a count the plain form leaves
    finite could overflow at the 2³² scale (above the cap both are the cap; an overflow of ``|dW|/δ`` itself, which the
    plain form warns about, is silent here)."""
    if type(x) is not np.ndarray or x.dtype not in (np.float32, np.float64):
        return None
    info = np.finfo(x.dtype)
    scale = (1.0 / mode.dw_min) * 2.0 ** 32
    if not (float(info.tiny) * 2.0 ** 32 <= scale <= float(info.max)
            and float(mode.bl) <= float(info.max) * 2.0 ** -33):
        return None
    return x.dtype.type(scale)


def _bit_blocks(rng: Any, shape: tuple[int, ...]) -> list[tuple[slice, np.random.Generator]] | None:
    """The (trial rows, Generator) pairs whose raw bits :func:`_uniform32` turns into its draws of ``shape``: a
    Generator's own, or each trial block's (:class:`~convergence.rng.TrialStreams`, as its ``uniform32`` draws them).
    None for any other rng (a TrialStreams subclass with its own ``uniform32`` included) and for a shape
    TrialStreams would refuse; nothing is drawn."""
    if type(rng) is np.random.Generator:
        return [(slice(None), rng)]
    if (isinstance(rng, rngmod.TrialStreams) and type(rng).uniform32 is rngmod.TrialStreams.uniform32
            and shape and shape[0] == rng.n_trials):
        return rng.blocks()
    return None


def _bits32(blocks: list[tuple[slice, np.random.Generator]], shape: tuple[int, ...]) -> NDArray[np.uint32]:
    """The integers k (uint32, ``shape``) behind :func:`_uniform32`'s draws (its uniforms are ``k·2⁻³²``), drawn from
    ``blocks`` (:func:`_bit_blocks`), each block's rows from its own stream."""
    size = math.prod(shape)
    if len(blocks) == 1:
        return rngmod.bits32_from(blocks[0][1], size).reshape(shape)
    per = size // shape[0]      # one mixed-type addition over the whole array costs less than one per block
    return np.concatenate([rngmod.bits32_from(gen, (sl.stop - sl.start) * per) for sl, gen in blocks]).reshape(shape)


def _uniform32(rng: Any, shape: tuple[int, ...]) -> Array:
    """Uniforms on the 2**-32 grid in [0, 1): 32 random bits each (two per raw 64-bit draw)."""
    if hasattr(rng, "uniform32"):
        return rng.uniform32(shape)
    if isinstance(rng, np.random.Generator):
        return rngmod.uniform32_from(rng, shape)
    return rng.random(shape)


#: Width, in standard deviations, of the envelope that licenses the aggregated noise form (see
#: :meth:`PulseMap.signed`): a pass of n pulses whose deterministic path widened by ``ENVELOPE_K``
#: times its noise std stays in the range differs from the pulse-by-pulse reference with
#: probability at most ``2 n Φ̄(9) ≈ 2.3e-19 n``.
ENVELOPE_K = 9.0


@dataclass(frozen=True)
class PulseNoise:
    r"""Cycle-to-cycle noise of one pulse of sign ``s`` (per element or scalar, per direction).

    Additive: the pulse is ``w ← w + s δ (q_s(w) + σ_s ξ)`` (P2 eq 26 with ``σ_s = c2c``; aihwkit
    ``dw_min_std`` with ``mult_noise=False``, there ``σ_s = (Δ_s/δ)·dw_min_std``). Multiplicative:
    ``w ← w + s δ q_s(w) (1 + σ_s ξ)`` (aihwkit ``mult_noise=True``). ξ ~ N(0, 1) per pulse and element.
    """

    up: Any
    """σ₊: noise of an up pulse, relative to δ (scalar or per-element array)."""
    down: Any
    """σ₋: noise of a down pulse, relative to δ (scalar or per-element array)."""
    multiplicative: bool = False
    """aihwkit ``mult_noise``: the noise multiplies the pulse's step instead of adding to it."""

    @property
    def active(self) -> bool:
        return bool(np.any(np.asarray(self.up) > 0) or np.any(np.asarray(self.down) > 0))


def _as_noise(c2c: Any) -> PulseNoise | None:
    """``c2c`` (a float σ_c or a :class:`PulseNoise`) as a PulseNoise, or None when noise-free."""
    if isinstance(c2c, (float, int)) and c2c == 0:     # the usual noise-free write, without building a PulseNoise
        return None
    noise = c2c if isinstance(c2c, PulseNoise) else PulseNoise(float(c2c), float(c2c))
    return noise if noise.active else None


def apply_pulses(w: Array, n: Array, sign: Array, device: RealizedDevice, dw_min: Any, *,
                 c2c: Any = 0.0, rng: Any = None) -> Array:
    """Apply ``n`` pulses of sign ``sign`` (±1, or a boolean "up" mask) to ``w``, elementwise.

    The reference semantics (aihwkit's) is pulse by pulse:
    ``w <- clip(w + s dw_min (q_s(w) + c2c ξ), w_min, w_max)`` with fresh noise and clipping at
    every pulse. Computed as

    * noise-free affine devices: the exact closed form ``w_n = w⋆ + rⁿ (w − w⋆)``;
    * noisy affine contracting devices (``c2c`` a float or a :class:`PulseNoise` with additive
      noise): :meth:`PulseMap.signed` — closed form plus one summed Gaussian per element where
      that is equal in distribution to the reference, the pulse loop elsewhere;
    * everything else: the pulse loop (masked over the pulse index, vectorized over elements).

    Noise draws depend only on the trial block's own counts (see :func:`_looped_pulses`), so
    any split of the trials into blocks gives the same numbers.
    """
    up = sign if np.asarray(sign).dtype == bool else np.asarray(sign) > 0
    noise = _as_noise(c2c)
    if noise is not None:
        pmap = None if noise.multiplicative else PulseMap.of(device, dw_min, noise)
        if pmap is not None:
            return pmap.signed(w, n, up, rng)
        return _looped_pulses(w, n, up, device, dw_min, noise, rng)
    return _apply(w, n, up, device, dw_min, rng)


def _apply(w: Array, n: Array, up: Array, device: RealizedDevice, dw_min: Any, rng: Any) -> Array:
    """Noise-free pulses: exact closed form for affine responses, else the pulse loop."""
    aff = device.affine()
    lo, hi = device.bounds
    out = None
    if aff is not None:
        out, clipped = _affine_pulses(w, n, up, aff, dw_min, lo, hi)
    if out is None:
        out, clipped = _looped_pulses(w, n, up, device, dw_min, None, rng), True
    if not clipped and (_finite_any(lo) or _finite_any(hi)):
        np.clip(out, lo, hi, out=out)
    return out


def _finite_any(x: Any) -> bool:
    """Whether any element of ``x`` is finite (a bound that clips); a finite first element answers at once (a
    per-element bound of a realised device is finite everywhere, and the scan cost two passes per write)."""
    a = np.asarray(x)
    if a.size and math.isfinite(a.flat[0]):
        return True
    return bool(np.any(np.isfinite(a)))


class AffineResponse(tuple):
    """The coefficients ``(a+, b+, a-, b-)`` of an affine response ``q_s(w) = a_s + b_s w`` (a device's ``affine()``)
    that keep, per step δ, the per-direction factors of :func:`_affine_pulses`' per-element form: ``s δ b_s``,
    ``log1p(s δ b_s)`` and ``s δ a_s``. A device whose ``affine()`` returns one gets the same pulses for less work
    per call (no logarithms, fewer selections); the results are the same numbers."""

    def _factors(self, dw_min: float) -> tuple[Array, ...] | None:
        cache = self.__dict__.setdefault("_factors_by_step", {})
        if dw_min not in cache:
            ap, bp, am, bm = self
            x_up, x_dn = dw_min * np.asarray(bp), -dw_min * np.asarray(bm)
            ok = bool(np.all(x_up > -1.0) and np.all(x_dn > -1.0) and np.all(x_up != 0) and np.all(x_dn != 0))
            # only where every element's r − 1 is nonzero and above −1: then the reference takes its closed form
            cache[dw_min] = (x_up, x_dn, np.log1p(x_up), np.log1p(x_dn), dw_min * np.asarray(ap),
                             -dw_min * np.asarray(am)) if ok else None
        return cache[dw_min]

    def pulses(self, w: Array, n: Array, up: Array, dw_min: Any) -> Array | None:
        """``w_n = w + (rⁿ − 1) w + s δ a (rⁿ − 1)/(r − 1)`` as :func:`_affine_pulses` computes it, or None where
        that function would take another path (a zero or sub −1 ``r − 1``, a per-element δ)."""
        if np.ndim(dw_min) != 0 or np.shape(n) != np.shape(w) or np.shape(up) != np.shape(w):
            return None
        f = self._factors(float(dw_min))
        if f is None:
            return None
        x_up, x_dn, log_up, log_dn, sa_up, sa_dn = f
        if isinstance(n, np.ndarray) and n.dtype == np.float64 and np.count_nonzero(n == 1) == np.count_nonzero(n):
            return self._single_pulses(w, n, up, float(dw_min), sa_up, sa_dn)
        x = np.where(up, x_up, x_dn)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rn_minus_1 = np.where(up, log_up, log_dn)
            if rn_minus_1.shape != np.shape(w) or x.shape != np.shape(w) or rn_minus_1.dtype != np.float64 \
                    or x.dtype != np.float64:
                return None
            rn_minus_1 *= n
            np.expm1(rn_minus_1, out=rn_minus_1)
            geometric = np.divide(rn_minus_1, x, out=x)
        return self._compose(w, rn_minus_1, geometric, up, sa_up, sa_dn)

    def _single_pulses(self, w: Array, n: Array, up: Array, dw_min: float, sa_up: Array, sa_dn: Array
                       ) -> Array | None:
        """:meth:`pulses` for counts that are all 0 or 1 (a transfer's one-pulse threshold writes), with
        ``rⁿ − 1 = expm1(n log r)`` and ``(rⁿ − 1)/(r − 1)`` kept per direction for n = 1: times n they are the
        formula's numbers for n ∈ {0, 1} bit for bit (n = 1: the same operations; n = 0: a zero of the same sign,
        ``expm1(±0) = ±0``), without a logarithm-exponential pass per call."""
        cache = self.__dict__.setdefault("_unit_by_step", {})
        if dw_min not in cache:
            x_up, x_dn, log_up, log_dn = self._factors(dw_min)[:4]      # type: ignore[index]
            e_up, e_dn = np.expm1(log_up), np.expm1(log_dn)
            cache[dw_min] = (e_up, e_dn, e_up / x_up, e_dn / x_dn)
        e_up, e_dn, g_up, g_dn = cache[dw_min]
        rn_minus_1 = np.where(up, e_up, e_dn)
        geometric = np.where(up, g_up, g_dn)
        if rn_minus_1.shape != np.shape(w) or geometric.shape != np.shape(w) or rn_minus_1.dtype != np.float64:
            return None
        rn_minus_1 *= n
        geometric *= n
        return self._compose(w, rn_minus_1, geometric, up, sa_up, sa_dn)

    @staticmethod
    def _compose(w: Array, rn_minus_1: Array, geometric: Array, up: Array, sa_up: Array, sa_dn: Array) -> Array:
        """``w + (rⁿ − 1) w + s δ a (rⁿ − 1)/(r − 1)`` in :func:`_affine_pulses`' order of operations."""
        out = rn_minus_1 * w
        out = np.add(w, out, out=out)
        sa = np.where(up, sa_up, sa_dn)
        sa *= geometric
        out += sa
        return out


def _affine_pulses(w: Array, n: Array, up: Array, aff: tuple[Any, ...], dw_min: Any,
                   lo: Any, hi: Any) -> tuple[Array | None, bool]:
    """n noise-free pulses of an affine response; returns (new weights, whether no clipping is needed).

    Returns ``(None, True)`` when the closed form does not apply (a pulse overshoots the
    response's zero), so the caller falls back to the pulse-by-pulse loop.
    """
    ap, bp, am, bm = aff
    if (all(isinstance(c, float) or np.ndim(c) == 0 for c in aff) and np.ndim(dw_min) == 0 and bp < 0 < bm
            and dw_min * max(-bp, bm) < 1):
        # scalar fast path: w_n = w* + r^n (w - w*), with 0 < r < 1 and w* = -a/b per direction
        fix_up, fix_down = -ap / bp, -am / bm
        # float32 weights (the networks) are evaluated in float32, everything else in float64
        ct = np.float32 if isinstance(w, np.ndarray) and w.dtype == np.float32 else np.float64
        pick = np.asarray(up, dtype=bool).view(np.uint8)          # 0 = down, 1 = up
        log_dn, log_up = math.log1p(-dw_min * bm), math.log1p(dw_min * bp)
        # r^n = exp(n log r) is exactly 1 where n = 0 and (w − w⋆)·1 = w − w⋆: with few pulsing elements (the usual
        # network step) r^n is evaluated and multiplied only where n ≠ 0, the same numbers with a fraction of the work
        hits = _sparse_hits(n, np.shape(w)) if pick.shape == np.shape(w) else None
        if hits is None:
            if log_dn == log_up:     # symmetric responses (b+ = −b-): one ratio for both directions
                rn = _exp_counts(np.asarray(n), ct(log_up), ct)
            else:
                log_r = np.array([log_dn, log_up], dtype=ct).take(pick)
                rn = np.exp(np.multiply(n, log_r, out=log_r, dtype=ct), out=log_r)
        f_up, f_dn = ct(fix_up), ct(fix_down)
        span = f_up - f_dn
        one_way = pick.shape == np.shape(w) and pick.size > 0 and (pick.all() or not pick.any())
        if one_way:           # one direction everywhere (the up or down pass of a "signs" write): a scalar w⋆
            fixed = f_up if pick.flat[0] else f_dn
        elif span + f_dn == f_up and np.isfinite(span) and f_dn != 0.0:
            # fix_down + pick·(fix_up − fix_down) is exactly fix_down or fix_up: cheaper than a gather
            fixed = np.multiply(pick, span, dtype=ct)
            fixed += f_dn
        else:
            fixed = np.array([f_dn, f_up], dtype=ct).take(pick)      # take: ~5x faster than np.where on scalars
        out = np.subtract(w, fixed, dtype=ct)
        if hits is None:
            out *= rn
        else:
            log_r = ct(log_up) if log_dn == log_up else np.array([log_dn, log_up], dtype=ct).take(pick.ravel()[hits])
            flat = out.reshape(-1)
            flat[hits] *= np.exp(np.multiply(n.ravel()[hits], log_r, dtype=ct))
        out += fixed
        return out, _fixed_points_are_bounds(fix_up, fix_down, lo, hi, f_up, f_dn)
    if isinstance(aff, AffineResponse):
        fast = aff.pulses(w, n, up, dw_min)
        if fast is not None:
            return fast, False
    a = np.where(up, ap, am)
    b = np.where(up, bp, bm)
    step = np.where(up, dw_min, -dw_min)
    x = step * b                                # r - 1 per pulse
    if np.all(x == 0):
        return w + n * step * a, False
    if np.any(x <= -1.0):
        # a single pulse jumps past the response's zero (range narrower than dw_min, e.g. an
        # extreme device-to-device draw): only pulse-by-pulse clipping is faithful there
        return None, True
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rn_minus_1 = np.expm1(n * np.log1p(x))  # r^n - 1, accurate for tiny x
        geometric = np.where(x != 0, rn_minus_1 / np.where(x != 0, x, 1.0), n)  # (r^n - 1)/(r - 1)
    # w_n = r^n w + s δ a (r^n - 1)/(r - 1)
    return w + rn_minus_1 * w + step * a * geometric, False


def _fixed_points_are_bounds(fix_up: float, fix_down: float, lo: Any, hi: Any, f_up: Any, f_dn: Any) -> bool:
    """True when the closed form's result needs no clipping: it lies between w and the fixed point (rounding is
    monotone), and the fixed points (``f_up``, ``f_dn`` in the evaluation precision) are the range's ends (soft
    bounds, c_Lin, linear step without hard bounds)."""
    return math.isclose(fix_up, hi, rel_tol=1e-12, abs_tol=1e-15) and \
        math.isclose(fix_down, lo, rel_tol=1e-12, abs_tol=1e-15) and f_up <= hi and f_dn >= lo


#: Elements from which the closed form of :func:`_affine_pulses` looks for the few nonzero counts.
_SPARSE_MIN = 4096


def _sparse_hits(n: Any, shape: tuple[int, ...], share: int = 64) -> Array | None:
    """Flat indices of the nonzero counts ``n`` (NaN included) when at most 1/``share`` of the elements pulse and the
    counts have the weights' ``shape``; None otherwise (then every element is evaluated)."""
    if not (isinstance(n, np.ndarray) and n.shape == shape and n.size >= _SPARSE_MIN):
        return None
    return np.flatnonzero(n) if share * np.count_nonzero(n) <= n.size else None


def _trial_blocks(rng: Any, n_trials: int) -> list[tuple[slice, Any]]:
    """The random streams of ``rng`` with the trials each one serves (one stream for a Generator)."""
    if hasattr(rng, "blocks"):
        return rng.blocks()
    return [(slice(0, n_trials), rng)]


def _looped_pulses(w: Array, n: Array, up: Array, device: RealizedDevice, dw_min: Any,
                   noise: PulseNoise | None, rng: Any) -> Array:
    """The pulse-by-pulse reference: a masked loop over the pulse index, vectorized over elements.

    With noise, every applied pulse draws its own standard normal: in pass ``m`` each trial block
    of ``rng`` draws one normal for each of its elements with ``n > m``, in the elements' C order.
    What a block draws depends on its own counts only (a batch equals the stack of its blocks run
    alone), and elements that do not pulse cost no draws (in a typical write 1–20 % of them pulse).

    For a scalar :class:`~convergence.physics.devices.Device` (elementwise responses) a pass in which few
    elements are still active (``n > m``; typically most counts are 0 or 1) updates only those elements,
    gathered: the same elementwise operations on the same values, so the same result, and the same draws.
    """
    out = np.array(w, dtype=float, copy=True)
    n = np.broadcast_to(n, out.shape)
    lo, hi = device.bounds
    clip = _finite_any(lo) or _finite_any(hi)
    step = None                                  # np.where(up, dw_min, -dw_min), built when a full pass needs it
    n_max = int(n.max()) if n.size else 0
    if noise is None:
        gens, sigma = [], None
    else:
        if rng is None:
            raise ConfigError("pulses with cycle-to-cycle noise need an rng")
        blocks = _trial_blocks(rng, out.shape[0])
        per_trial = out.size // out.shape[0] if out.ndim and out.shape[0] else 0
        gens = [gen for _, gen in blocks]
        # flat-index boundaries of the blocks (trial slices of a C-ordered array are contiguous)
        bounds = np.array([sl.stop for sl, _ in blocks[:-1]], dtype=np.intp) * per_trial
        same = np.ndim(noise.up) == 0 and np.ndim(noise.down) == 0 and noise.up == noise.down
        sigma = float(noise.up) if same else np.where(up, noise.up, noise.down)
    compact = isinstance(device, Device) and np.ndim(dw_min) == 0 and out.size >= _COMPACT_MIN
    for m in range(n_max):
        active = n > m
        idx = np.flatnonzero(active) if compact or sigma is not None else None
        if sigma is not None:
            xic = _pulse_normals(gens, bounds, idx)  # type: ignore[arg-type]
        if compact and 4 * idx.size <= out.size:  # type: ignore[union-attr]
            _compact_pass(out, idx, up, device, dw_min, lo, hi, clip,  # type: ignore[arg-type]
                          None if sigma is None else (xic, sigma, noise.multiplicative))  # type: ignore[union-attr]
            continue
        q = np.where(up, device.q_plus(out), device.q_minus(out))
        if sigma is not None:
            xi = np.zeros(out.shape)
            xi.reshape(-1)[idx] = xic
            xi *= sigma
            if noise.multiplicative:  # type: ignore[union-attr]
                xi += 1.0
                q = q * xi
            else:
                q = q + xi
        if step is None:
            step = np.where(up, dw_min, -dw_min)
        new = out + step * q
        if clip:
            np.clip(new, lo, hi, out=new)
        out = np.where(active, new, out)
    return out


#: Elements from which :func:`_looped_pulses` may run a pass on the active elements only.
_COMPACT_MIN = 4096


def _pulse_normals(gens: list[Any], bounds: Array, idx: Array) -> Array:
    """One standard normal per flat index in ``idx`` (sorted), each drawn from the stream of the block holding it:
    block k draws its ``idx`` in ``[bounds[k-1], bounds[k])`` in order, so its draws depend on its own elements only."""
    if len(gens) == 1:
        return gens[0].standard_normal(idx.size)
    cuts = np.searchsorted(idx, bounds)
    xi = np.empty(idx.size)
    for gen, a, b in zip(gens, np.r_[0, cuts], np.r_[cuts, idx.size]):
        if b > a:
            xi[a:b] = gen.standard_normal(int(b - a))
    return xi


def _compact_pass(out: Array, idx: Array, up: Any, device: Device, dw_min: float, lo: Any, hi: Any, clip: bool,
                  noise: tuple[Array, Any, bool] | None) -> None:
    """One pulse of :func:`_looped_pulses` on the flat indices ``idx`` of ``out`` (in place): the full pass's
    ``clip(w + s δ (q_s(w) + σ ξ))`` (or ``q_s(w)(1 + σ ξ)``) evaluated on the gathered elements only (``noise``
    holds their normals ξ, one per index of ``idx``)."""
    flat = out.reshape(-1)
    oc = flat[idx]
    upc = np.broadcast_to(up, out.shape).reshape(-1)[idx]
    q = np.where(upc, device.q_plus(oc), device.q_minus(oc))
    if noise is not None:
        xic, sigma, multiplicative = noise      # the normals of the gathered elements, in idx's order
        xic *= sigma if np.ndim(sigma) == 0 else np.broadcast_to(sigma, out.shape).reshape(-1)[idx]
        if multiplicative:
            xic += 1.0
            q = q * xic
        else:
            q = q + xic
    new = oc + np.where(upc, dw_min, -dw_min) * q
    if clip:
        np.clip(new, lo, hi, out=new)
    flat[idx] = new


class PulseMap:
    r"""The n-pulse map of an affine, contracting device, with its per-element coefficients cached.

    With ``q_s(w) = a_s + b_s w`` and ``b_+ < 0 < b_-``, n pulses of sign s compose to
    ``w_n = w_s + r_s^n (w − w_s)``, ``r_+ = 1 + δ b_+``, ``r_- = 1 − δ b_-``, ``w_s = −a_s/b_s``
    (P1 eq 15–16 iterated). This is :func:`apply_pulses` for such devices with the per-call work
    (coefficients, logs, fixed points) done once per device and mode; build it with
    :meth:`build` (from a :class:`Pulsed` mode) or :meth:`of`.

    Additive cycle-to-cycle noise (``w ← w + sδ(q_s(w) + σ_s ξ_k)``) keeps the unclipped
    recursion linear: n pulses add ``sδσ_s Σ_k r_s^{n−1−k} ξ_k``, a Gaussian of std
    ``σ_n = δσ_s √((1 − r_s^{2n})/(1 − r_s²))``. The reference clips after every pulse, so the
    summed Gaussian is used only for elements where clipping provably does not act up to a
    negligible probability: the deterministic path runs monotonically from ``w`` to ``w_n``, the
    noise part after m ≤ n pulses has std ``σ_m ≤ σ_n``, so if
    ``[min(w, w_n) − Kσ_n, max(w, w_n) + Kσ_n]`` lies in the range (K = :data:`ENVELOPE_K`), a
    union bound over the n pulses bounds the probability that the reference ever clips — the
    total-variation distance between the two forms — by ``2nΦ̄(K)``. The other elements run the
    pulse loop (:func:`_looped_pulses`).
    """

    def __init__(self, device: RealizedDevice, dw_min: Any, noise: PulseNoise | None = None) -> None:
        ap, bp, am, bm = (np.asarray(c, dtype=float) for c in device.affine())  # type: ignore[misc]
        self.device, self.dw_min = device, dw_min
        self._coef_by_shape: dict[tuple[int, ...], tuple[Array, Array, Array]] = {}   # see _unsafe_coefficients
        dw = np.asarray(dw_min, dtype=float)
        # elements whose map is a contraction (b+ < 0 < b-, δ|b| < 1); the others (e.g. an extreme
        # device-to-device draw) always take the pulse loop, decided per element so that one trial's
        # draw never changes another trial's path or random stream
        self.qualify = (bp < 0) & (bm > 0) & (dw * -bp < 1) & (dw * bm < 1)
        if not np.all(self.qualify):
            bp = np.where(self.qualify, bp, -1.0)
            bm = np.where(self.qualify, bm, 1.0)
            dw = np.where(self.qualify, dw, 0.5)
        self.log_up = np.log1p(dw * bp)
        self.fix_up = -ap / bp
        self.log_dn = np.log1p(-dw * bm)
        self.fix_dn = -am / bm
        self._r_less_1_cache: dict[bool, Array | None] = {}     # see _r_less_1
        lo, hi = device.bounds
        self.lo, self.hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        self.noise = noise if noise is not None and noise.active else None
        if self.noise is not None:
            self.sig_up = np.asarray(dw_min * np.asarray(self.noise.up, dtype=float))
            self.sig_dn = np.asarray(dw_min * np.asarray(self.noise.down, dtype=float))
            self.inv_up = -1.0 / np.expm1(2.0 * self.log_up)     # 1/(1 − r²)
            self.inv_dn = -1.0 / np.expm1(2.0 * self.log_dn)
        # the noise-free result lies between w and the fixed point: no clipping when the fixed points are the bounds
        self.clip = not (np.allclose(self.fix_up, self.hi, rtol=1e-12, atol=1e-15)
                         and np.allclose(self.fix_dn, self.lo, rtol=1e-12, atol=1e-15))

    @staticmethod
    def of(device: RealizedDevice, dw_min: Any, noise: PulseNoise | None = None) -> "PulseMap | None":
        """A map if ``device`` is affine and, without noise, contracting everywhere (``b+ < 0 < b-``,
        ``δ|b| < 1``); with additive noise the elements that are not contracting use the pulse loop."""
        if noise is not None and noise.multiplicative and noise.active:
            return None
        aff = device.affine()
        if aff is None:
            return None
        bp, bm = np.asarray(aff[1], dtype=float), np.asarray(aff[3], dtype=float)
        dw = np.asarray(dw_min, dtype=float)
        noisy = noise is not None and noise.active
        # with noise, elements that do not qualify take the per-element loop inside the map (their own
        # blocks' streams); without noise the map is exact only if every element qualifies
        if not noisy and not (np.all(bp < 0) and np.all(bm > 0) and np.all(dw * -bp < 1) and np.all(dw * bm < 1)):
            return None
        return PulseMap(device, dw_min, noise)

    @staticmethod
    def build(device: RealizedDevice, mode: Any) -> "PulseMap | None":
        """The map of ``device`` in ``mode`` (None unless ``mode`` is :class:`Pulsed` and the device qualifies)."""
        if not isinstance(mode, Pulsed):
            return None
        return PulseMap.of(device, mode.dw_min, _as_noise(mode.c2c))

    def _finish(self, out: Array) -> Array:
        if self.clip:
            np.clip(out, self.lo, self.hi, out=out)
        return out

    def _noisy_pass(self, w: Array, n: Array, up: Any, rng: Any) -> Array:
        """One pass of ``n`` pulses of direction ``up`` (bool, array or scalar) with c2c noise."""
        if rng is None:
            raise ConfigError("pulses with cycle-to-cycle noise need an rng")
        log_r = np.where(up, self.log_up, self.log_dn)
        fix = np.where(up, self.fix_up, self.fix_dn)
        rn = np.exp(np.multiply(n, log_r))
        mean = np.subtract(w, fix)
        mean *= rn
        mean += fix
        var = np.multiply(rn, rn)
        np.subtract(1.0, var, out=var)
        var *= np.where(up, self.inv_up, self.inv_dn)
        sd = np.sqrt(var, out=var)
        sd *= np.where(up, self.sig_up, self.sig_dn)
        try:  # single-precision normals halve the generator's cost; ample for a noise term
            xi = rng.standard_normal(mean.shape, dtype=np.float32)
        except TypeError:  # a Generator-like object without dtype support
            xi = rng.standard_normal(mean.shape)
        out = mean + sd * xi
        env = sd * ENVELOPE_K
        safe = np.minimum(w, mean) - env >= self.lo
        safe &= np.maximum(w, mean) + env <= self.hi
        np.logical_or(safe, n == 0, out=safe)
        safe &= self.qualify
        if not safe.all():
            self._loop_unsafe(out, w, n, up, ~safe, rng)
        np.clip(out, self.lo, self.hi, out=out)
        return out

    def _loop_unsafe(self, out: Array, w: Array, n: Array, up: Any, unsafe: Array, rng: Any) -> None:
        """The pulse-by-pulse reference on the ``unsafe`` elements only (compacted), written into ``out``.

        Same recursion and the same draws as :func:`_looped_pulses` with the affine responses
        ``q_s = a_s + b_s w``: in pass ``m`` each trial block of ``rng`` draws one normal for each of its
        unsafe elements with ``n > m``, in C order (so the draws depend on the block's own data only).
        """
        shape = out.shape
        idx = np.nonzero(unsafe)
        upc = np.broadcast_to(np.asarray(up, dtype=bool), shape)[idx]
        coef_up, coef_dn, lo_hi = self._unsafe_coefficients(shape)
        sel = (slice(None),) + idx
        a, b, sigma, step = np.where(upc, coef_up[sel], coef_dn[sel])
        lo, hi = lo_hi[sel]
        wc = np.array(np.broadcast_to(w, shape)[idx], dtype=float)
        nc = np.broadcast_to(n, shape)[idx]
        streams = _trial_blocks(rng, shape[0])
        cuts = np.searchsorted(idx[0], [(sl.start, sl.stop) for sl, _ in streams])
        blocks = [(gen, int(lo_k), int(hi_k), int(nc[lo_k:hi_k].max()) if hi_k > lo_k else 0)
                  for (_, gen), (lo_k, hi_k) in zip(streams, cuts)]
        xi = np.zeros(wc.shape)
        for m in range(max((blk[3] for blk in blocks), default=0)):
            active = nc > m
            for gen, lo_k, hi_k, count in blocks:
                if m < count:
                    act = active[lo_k:hi_k]
                    xi[lo_k:hi_k][act] = gen.standard_normal(int(np.count_nonzero(act)))
            new = a + b * wc                 # q_s(w)
            new += sigma * xi
            new *= step
            new += wc
            np.clip(new, lo, hi, out=new)
            wc = np.where(active, new, wc)
        out[idx] = wc

    def _unsafe_coefficients(self, shape: tuple[int, ...]) -> tuple[Array, Array, Array]:
        """Per element of an array of ``shape``: ``(a+, b+, σ+, δ)``, ``(a−, b−, σ−, −δ)`` and ``(lo, hi)``, stacked
        on a leading axis, for :meth:`_loop_unsafe` to gather; kept per shape for arrays up to 2¹⁶ elements (the
        small tiles whose pulse loop is dominated by this set-up), rebuilt for larger ones."""
        cache = self._coef_by_shape
        if shape in cache:
            return cache[shape]
        ap, bp, am, bm = (np.asarray(c, dtype=float) for c in self.device.affine())  # type: ignore[misc]
        noise = self.noise
        dw = np.asarray(self.dw_min, dtype=float)

        def stack(*parts: Any) -> Array:
            return np.stack([np.broadcast_to(p, shape) for p in parts])

        coefs = (stack(ap, bp, np.asarray(noise.up, dtype=float), dw),          # type: ignore[union-attr]
                 stack(am, bm, np.asarray(noise.down, dtype=float), -dw),      # type: ignore[union-attr]
                 stack(self.lo, self.hi))
        if math.prod(shape) <= 1 << 16:
            cache[shape] = coefs
        return coefs

    def _r_less_1(self, up: bool) -> Array | None:
        """``r − 1`` per element for direction ``up``, ``r = exp(log r)`` the per-pulse factor, when ``1 + (r − 1)``
        gives r back exactly in every element (so for r in [1/2, 2]); None for a scalar ratio or when it does not.
        Made on first use and kept, for :func:`_times_powers`."""
        if up not in self._r_less_1_cache:
            log_r = self.log_up if up else self.log_dn
            rl1 = None
            if np.ndim(log_r) > 0:
                r = np.exp(log_r)
                rl1 = r - 1.0
                if not np.array_equal(rl1 + 1.0, r):
                    rl1 = None
            self._r_less_1_cache[up] = rl1
        return self._r_less_1_cache[up]

    def down_up(self, w: Array, n_down: Array, n_up: Array, rng: Any = None) -> Array:
        """``n_down`` down pulses, then ``n_up`` up pulses (float64 counts are consumed as scratch space;
        counts of another dtype are copied to float64 first, so ``r^n`` is always evaluated in float64)."""
        if self.noise is not None:
            return self._noisy_pass(self._noisy_pass(w, n_down, False, rng), n_up, True, rng)
        out = np.subtract(w, self.fix_dn)
        _times_powers(out, n_down, self.log_dn, self._r_less_1(False))
        out += self.fix_dn
        out -= self.fix_up
        _times_powers(out, n_up, self.log_up, self._r_less_1(True))
        out += self.fix_up
        return self._finish(out)

    def signed(self, w: Array, n: Array, up: Array, rng: Any = None) -> Array:
        """``n`` pulses of direction ``up`` (bool) per element."""
        if self.noise is not None:
            return self._noisy_pass(w, n, up, rng)
        fix = np.where(up, self.fix_up, self.fix_dn)
        if np.ndim(self.log_up) == 0 == np.ndim(self.log_dn) and self.log_up == self.log_dn:   # one ratio both ways
            rn = _exp_counts(np.asarray(n), self.log_up, np.float64)
        else:
            log_r = np.where(up, self.log_up, self.log_dn)
            rn = np.exp(np.multiply(n, log_r, out=log_r), out=log_r)
        out = np.subtract(w, fix)
        out *= rn
        out += fix
        return self._finish(out)


def pulsed_update(w: Array, dw: Array, device: RealizedDevice, mode: Pulsed, rng: Any, scratch: bool = False) -> Array:
    """The pulsed realisation of the desired update ``dw`` (see module docstring): :func:`pulse_counts`, then
    :func:`apply_pulses` with the signs of ``dw``. ``scratch``: ``dw`` is the caller's temporary and may be
    overwritten. The usual noise-free scalar soft-bounds write takes :func:`_pulsed_symmetric`, the same
    arithmetic fused."""
    out = _pulsed_symmetric(w, dw, device, mode, rng, scratch)
    if out is not None:
        return out
    n = pulse_counts(dw, mode, rng)
    return apply_pulses(w, n, dw >= 0, device, mode.dw_min, c2c=mode.c2c, rng=rng)


@functools.lru_cache(maxsize=256)
def _symmetric_ratio(device: Device, dw_min: float) -> tuple[float, float, float] | None:
    """``(log r, w⋆, 2³²/δ)`` when n noise-free pulses of the scalar affine ``device`` take :func:`_affine_pulses`'s
    scalar path with one ratio ``r`` for both directions, fixed points ``±w⋆`` (w⋆ > 0) and no clipping, as for
    soft bounds symmetric about 0; else None."""
    aff = device.affine()
    if aff is None or not all(isinstance(c, float) for c in aff):
        return None
    ap, bp, am, bm = aff
    if not (bp < 0 < bm and dw_min * max(-bp, bm) < 1):
        return None
    log_dn, log_up = math.log1p(-dw_min * bm), math.log1p(dw_min * bp)
    fix_up, fix_down = -ap / bp, -am / bm
    lo, hi = device.bounds
    if log_dn != log_up or not (fix_up > 0 and fix_down == -fix_up and math.isfinite(fix_up)):
        return None
    if not _fixed_points_are_bounds(fix_up, fix_down, lo, hi, fix_up, fix_down):
        return None
    return log_up, fix_up, (1.0 / dw_min) * 2.0 ** 32


#: The sign bit of each float type the fused write takes, as the signed integer of its width.
_SIGN_BIT = {np.dtype(np.float64): np.int64(np.iinfo(np.int64).min),
             np.dtype(np.float32): np.int32(np.iinfo(np.int32).min)}


def _pulsed_symmetric(w: Array, dw: Array, device: Any, mode: Pulsed, rng: Any, scratch: bool) -> Array | None:
    r""":func:`pulse_counts` (stochastic rounding) then :func:`apply_pulses` for a noise-free scalar device with
    one pulse ratio r and fixed points ±w⋆ (:func:`_symmetric_ratio`), float64 or float32 arrays (the networks'
    weights are float32, evaluated in float32 as :func:`_affine_pulses` does): the same operations on every element,
    fused (tests/test_fused_paths.py checks it bit for bit against the two-step form).

    ``w_n = F + rⁿ (w − F)`` with ``F = ±w⋆`` by the sign of dW (dW ≥ 0: up) taken from its sign bit (−0.0, the
    one value where sign bit and ``dW ≥ 0`` disagree, is mended), and ``n = ⌊|dW|/δ + k/2³²⌋`` evaluated as
    ``⌊(|dW|·(2³²/δ) + k)·2⁻³²⌋`` (scaling by powers of 2 is exact, so the sum rounds alike) with k the 32-bit
    draws of each trial block's stream (:func:`convergence.rng.bits32_from`, what ``uniform32`` scales) added in
    one mixed-type addition (in float64, then rounded to the weights' type, as ``x += uniform`` does). An element
    pulses iff that sum reaches 2³² (or is NaN). On float32 weights, when at most 1/64 of the elements pulse (a
    network's usual step), the sums and rⁿ are formed only there (:func:`_few_pulses`), as :func:`_affine_pulses`
    does; otherwise rⁿ is looked up by count (:func:`_powers`) unless a NaN is among them or evaluating it is faster
    on this machine (:func:`_gather_pays`). Returns None (nothing drawn, ``dw`` untouched) when the fused form does
    not apply.
    """
    if (mode.c2c or mode.rounding != "stochastic" or not isinstance(device, Device) or type(w) is not np.ndarray
            or type(dw) is not np.ndarray or w.dtype not in _SIGN_BIT or dw.dtype != w.dtype or w.shape != dw.shape
            or not dw.size):
        return None
    blocks = _bit_blocks(rng, dw.shape)
    if blocks is None:
        return None
    try:
        const = _symmetric_ratio(device, float(mode.dw_min))
    except TypeError:   # an unhashable Device subclass
        return None
    if const is None:
        return None
    log_r, fix, scale = const
    ft = w.dtype.type
    sign = _SIGN_BIT[w.dtype]
    f = ft(fix)
    if not np.isfinite(ft(scale)):
        return None
    fixed = np.bitwise_and(dw.view(sign.dtype), sign)      # copysign(w⋆, dW) by the sign bit
    fixed |= f.view(sign.dtype)
    fixed = fixed.view(w.dtype)
    x = np.abs(dw, out=dw if scratch else None)
    smallest = np.minimum.reduce(x, axis=None)      # NaN if any element is
    if not smallest > 0.0:    # zeros (−0.0 counts as up) or NaN (its result is NaN whatever F)
        fixed[x == 0.0] = f
    x *= scale      # (1/δ)·2³² in the weights' type, as pulse_counts's 1/δ
    bits = _bits32(blocks, x.shape)
    few = _few_pulses(x, bits) if x.size >= _SPARSE_MIN and x.dtype == np.float32 else None
    if few is not None:        # few elements pulse: their sums only, rⁿ only there
        hits, y = few
        n = np.floor(np.multiply(y, ft(2.0 ** -32), out=y), out=y)
        np.minimum(n, mode.bl, out=n)
        rn = np.exp(np.multiply(n, log_r, out=n), out=n)
        out = np.subtract(w, fixed, out=x)
        out.reshape(-1)[hits] *= rn
        out += fixed
        return out
    np.add(x, bits, out=x)
    x *= 2.0 ** -32
    top = np.fmax.reduce(x, axis=None)     # ⌊top⌋: the largest count (NaN ignored)
    if top > mode.bl:      # ⌊min(x, bl)⌋ = min(⌊x⌋, bl): the cap
        np.minimum(x, mode.bl, out=x)
        top = mode.bl
    if smallest == smallest and top <= _TABLE_MAX and _gather_pays(w.dtype):   # no NaN: the counts ⌊x⌋ are 0..⌊top⌋
        rn = np.take(_powers(log_r, w.dtype, int(top)), x.astype(np.int32), out=x, mode="clip")
    else:
        n = np.floor(x, out=x)
        rn = np.multiply(n, log_r, out=n)
        np.exp(rn, out=rn)
    rn *= np.subtract(w, fixed)      # (w − F) rⁿ + F, in the counts' buffer
    rn += fixed
    return rn


#: Largest pulse count whose rⁿ :func:`_pulsed_symmetric` looks up in a table (:func:`_powers`) instead of evaluating.
_TABLE_MAX = 1 << 12


@functools.lru_cache(maxsize=64)
def _table(log_r: float, dtype: np.dtype, size: int) -> Array:
    table = np.multiply(np.arange(size, dtype=dtype), log_r)
    np.exp(table, out=table)
    table.flags.writeable = False
    return table


def _powers(log_r: float, dtype: np.dtype, top: int) -> Array:
    """``rⁿ = exp(n · log r)`` for n = 0 … ``top`` (at least): the same two operations in ``dtype`` as on an array of
    counts (``log r`` a Python float, so it is rounded to ``dtype`` first, as there), so a lookup gives the evaluated
    numbers bit for bit (tests/test_fused_paths.py checks it wherever a count stands in a long array). A dense pulsed
    write then takes one gather instead of one exponential per element: its costliest pass where NumPy's float64
    exponential is slow (about 6 ns per element on an AVX2-only AMD EPYC, three times a uniform draw)."""
    return _table(log_r, np.dtype(dtype), 1 << max(top, 1).bit_length())


#: Per float dtype: whether gathering rⁿ beats evaluating it on this machine (:func:`_gather_pays`, decided on first
#: use; the tests set it to take either form, which give the same numbers).
_GATHER_PAYS: dict[np.dtype, bool] = {}


def _gather_pays(dtype: Any) -> bool:
    """True when gathering rⁿ from :func:`_powers` (integer cast, take) costs less here than evaluating
    ``exp(n · log r)`` in ``dtype``: both timed once per process on 16 Ki counts, best of three.
    NumPy picks its exponential's kernel by CPU, and the two forms ranked differently on two machines (the gather
    twice as fast on an AVX2-only AMD EPYC, slightly slower on an earlier one); both give the same numbers, so the
    outcome decides only the speed."""
    dt = np.dtype(dtype)
    pays = _GATHER_PAYS.get(dt)
    if pays is None:
        n = (np.arange(1 << 14) % 32).astype(dt)
        table = _powers(-1e-3, dt, 31)

        def gather() -> None:
            np.take(table, n.astype(np.int32), mode="clip")

        def evaluate() -> None:
            np.exp(np.multiply(n, -1e-3))

        pays = _GATHER_PAYS[dt] = best_time(gather, 3) < best_time(evaluate, 3)
    return pays


#: Fewest elements for which :func:`_exp_counts` checks for integer counts (the check's fixed cost).
_GATHER_MIN = 256


def _exp_counts(n: Array, log_r: Any, dtype: Any, out: Array | None = None) -> Array:
    """``exp(n · log r)`` in ``dtype``, elementwise (``out`` may be ``n``): for a scalar ``log r`` and counts ``n`` that
    are all integers in 0 … :data:`_TABLE_MAX` (checked: a NaN or a fraction is evaluated) a gather from
    :func:`_powers`, the same numbers, where that is faster (:func:`_gather_pays`)."""
    if (np.ndim(log_r) == 0 and isinstance(n, np.ndarray) and n.size >= _GATHER_MIN and n.dtype.kind == "f"
            and _gather_pays(dtype)):
        lo, hi = np.minimum.reduce(n, axis=None), np.maximum.reduce(n, axis=None)     # NaN if any is
        if lo >= 0 and hi <= _TABLE_MAX:
            idx = n.astype(np.int32)
            if np.equal(idx, n).all():
                return np.take(_powers(float(log_r), dtype, int(hi)), idx, out=out, mode="clip")
    rn = np.multiply(n, log_r, dtype=dtype, out=out)
    return np.exp(rn, out=rn)


def _times_powers(out: Array, n: Any, log_r: Any, r_less_1: Array | None = None) -> None:
    """``out *= rⁿ`` in place, ``rⁿ = exp(n · log r)`` in float64 for counts ``n`` (float64 counts may be consumed as
    scratch space; others are exact in float64, so the mixed multiply equals casting first) and a finite ``log r``
    (scalar or of ``out``'s shape). Where at most 1/16 of the counts are nonzero (a small learning rate's usual write)
    only those are evaluated and multiplied: elsewhere rⁿ = exp(±0) = 1 exactly, so the product is ``out`` itself
    and the result the same bits.

    ``r_less_1``: ``r − 1`` for a per-element ``log r`` (float64, its shape), with ``r = exp(log r)`` and
    ``1 + (r − 1) = r`` exact in every element (:meth:`PulseMap._r_less_1`). Then counts of 0 and 1 need no
    exponential: ``1 + n·(r − 1)`` is 1 or r¹ = exp(1 · log r) bit for bit. Where at most 1/8 of the counts are
    anything else (2 or more, a fraction, NaN) only those are evaluated; this is the usual write of a network with
    device-to-device spread (mostly 0 or 1 pulse per weight), whose exponential costs 6–10 ns per element here.
    Otherwise rⁿ comes from :func:`_exp_counts`."""
    n = np.asarray(n)
    hits = None
    per_element = np.ndim(log_r) > 0 and np.shape(log_r) == out.shape and log_r.flags.c_contiguous
    if out.flags.c_contiguous and (np.ndim(log_r) == 0 or per_element):
        hits = _sparse_hits(n, out.shape, share=16)
    if hits is not None:
        lr = log_r if np.ndim(log_r) == 0 else log_r.reshape(-1)[hits]
        out.reshape(-1)[hits] *= np.exp(np.multiply(n.reshape(-1)[hits], lr, dtype=np.float64))
        return
    if (r_less_1 is not None and per_element and out.flags.c_contiguous and n.shape == out.shape
            and n.dtype in (np.float64, np.float32) and n.flags.c_contiguous and n.size >= _SPARSE_MIN):
        rest = np.not_equal(n, 0.0)                # counts other than 0 and 1, NaN included
        rest &= np.not_equal(n, 1.0)
        idx = np.flatnonzero(rest)
        if 8 * idx.size <= n.size:
            flat = n.reshape(-1)
            powers = np.exp(np.multiply(flat[idx], log_r.reshape(-1)[idx]))
            # 0 or r − 1 where n is 0 or 1 (float64 counts: their last use, so written over)
            factor = np.multiply(n, r_less_1, out=n if n.dtype == np.float64 else None)
            factor += 1.0
            factor.reshape(-1)[idx] = powers
            out *= factor
            return
    out *= _exp_counts(n, log_r, np.float64, out=n if n.dtype == np.float64 else None)


def _few_pulses(x: Array, bits: Array) -> tuple[Array, Array] | None:
    """For :func:`_pulsed_symmetric` on float32 weights (the networks): the flat indices of the elements that pulse,
    ``x + k ≥ 2³²`` (the sum in float64 rounded to float32, as there) or NaN, and those sums, when at most 1/64 of
    the elements do; else None.

    Candidates come from the same sum in float32 (k rounded to float32 is within 2⁷ of k, the sum within 2⁸ more), which
    a pulsing element passes with room to spare at ``≥ 2³² − 2¹⁰``; the exact sum is formed for the candidates only.
    """
    s = bits.astype(np.float32)
    s += x
    idle = np.less(s, np.float32(2.0 ** 32 - 2.0 ** 10))      # NaN compares False: a candidate, and kept below
    if 64 * (x.size - np.count_nonzero(idle)) > x.size:
        return None
    idx = np.flatnonzero(np.logical_not(idle, out=idle))
    y = np.add(x.reshape(-1)[idx], bits.reshape(-1)[idx], out=np.empty(idx.size, x.dtype))
    keep = np.logical_not(np.less(y, 2.0 ** 32))      # n ≥ 1, or NaN (whose count and result are NaN, as there)
    return idx[keep], y[keep]


def analog_update(w: Array, dw: Array, device: AnyDevice, mode: UpdateMode = EXPECTED, rng: Any = None,
                  scratch: bool = False) -> Array:
    """Apply the desired update ``dw`` to weights ``w`` living on ``device`` in ``mode``.

    Args:
        w: weights, shape (trials, ...).
        dw: desired update, same shape.
        device: a Device or DeviceArray.
        mode: :class:`Expected` or :class:`Pulsed`.
        rng: Generator or TrialStreams; required by stochastic rounding and c2c noise.
        scratch: ``dw`` is the caller's temporary and may be overwritten (pulsed mode).
    """
    if isinstance(mode, Expected):
        return expected_update(w, dw, device)
    check_mode(mode)
    if rng is None and (mode.rounding == "stochastic" or mode.c2c):
        raise ConfigError("pulsed mode with stochastic rounding or c2c noise needs an rng")
    return pulsed_update(w, dw, device, mode, rng, scratch)


def check_mode(mode: Any, device: Any = None) -> UpdateMode:
    """``mode`` if it is an update mode; with ``device`` (a Device, or a realised array: its nominal device), a
    :class:`Pulsed` mode's ``dw_min`` is also checked against it: below the range's width, and for an affine device
    small enough that one pulse moves a weight towards its fixed point without passing it, ``1 + δ b₊ > 0`` and
    ``1 − δ b₋ > 0`` (the per-pulse factors r of P1 eq 15–16; soft bounds: δ < τ)."""
    if not isinstance(mode, (Expected, Pulsed)):
        raise ConfigError(f"mode must be Expected() or Pulsed(...) (got {mode!r})")
    nominal = getattr(device, "base", device)
    if not (isinstance(mode, Pulsed) and isinstance(nominal, Device) and np.ndim(mode.dw_min) == 0):
        return mode
    dw = float(mode.dw_min)
    lo, hi = nominal.bounds
    limit = hi - lo
    aff = nominal.affine()
    if aff is not None:
        _, bp, _, bm = aff
        for slope in (-bp, bm):
            if slope > 0:
                limit = min(limit, 1.0 / slope)
    if not dw < limit:
        raise ConfigError(f"Pulsed dw_min = {dw:g} is too large for the {nominal.name} device: it must be below "
                          f"{limit:g}, or one pulse would overshoot the range (or the fixed point it moves towards)")
    return mode


def n_pulse_closed_form_softbounds(w: float, n: int, tau: float, dw_min: float, up: bool = True) -> float:
    """n soft-bounds pulses (P1 eq 15–16 iterated).

    ``τ − (1 − δ/τ)^n (τ − w)`` (up) or ``−τ + (1 − δ/τ)^n (τ + w)`` (down).
    """
    r = (1.0 - dw_min / tau) ** n
    return tau - r * (tau - w) if up else -tau + r * (tau + w)


__all__ = ["Expected", "Pulsed", "UpdateMode", "EXPECTED", "analog_update", "expected_update",
           "pulsed_update", "pulse_counts", "apply_pulses", "AffineResponse", "PulseMap", "ExpectedMap", "PulseNoise",
           "ENVELOPE_K",
           "n_pulse_closed_form_softbounds"]
