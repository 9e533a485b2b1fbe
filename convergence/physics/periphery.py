r"""The analog matrix-vector product with its periphery (aihwkit ``IOParameters``).

One analog MVM of sample ``x`` (forward ``y = W x``; backward ``z = Wᵀ d`` with the
roles of the sizes swapped) follows aihwkit's ``ForwardBackwardPassIOManaged``
(paraphrased from its source):

1. noise management: ``s_nm = max_j |x_j|`` (``abs_max``; capped by ``nm_thres`` if > 0),
   or 1 (``none``); a zero input gives a zero output;
2. bound management round ``r = 0, 1, …`` with reduction ``β = 2^r`` (``iterative``) or 1;
   the input is scaled by ``1/(s_nm β)``;
3. DAC: ``x̃ = clip(Q(x/(s_nm β), Δ_in), ±inp_bound) + inp_noise·ξ``
   with ``Q(v, r) = r·round(v/r)`` (stochastic rounding if ``inp_sto_round``) and the step
   ``Δ_in = inp_res·2·inp_bound`` (see below);
4. crossbar: ``ỹ = W x̃ + w_noise·‖x̃‖₂·ξ`` (``w_noise_type = ADDITIVE_CONSTANT``: fresh
   weight noise of std ``w_noise`` on every element, summed analytically);
5. ADC: ``ŷ = clip(Q(ỹ + out_noise·ξ, Δ_out), ±out_bound)``, ``Δ_out = out_res·2·out_bound``;
   with bound management the round is repeated with ``β ← 2β`` for samples where
   ``|ỹ| > out_bound`` until none saturate, or ``β > max_bm_factor``, or (``inp_res > 0`` and
   ``β > max_bm_res/Δ_in``);
6. ``y = s_nm β ŷ``.

Resolutions are aihwkit's: ``inp_res``/``out_res`` are fractions of the full range
``[−bound, bound]`` (a value ``r > 1`` is read as ``1/r``, i.e. ``r`` steps over the range), so
the quantisation step is ``Δ = res·2·bound``. Examples: ``inp_res = 1/126`` with
``inp_bound = 1`` is a 7-bit DAC of step 2/126 ≈ 0.0159; ``out_res = 1/510`` with
``out_bound = 12`` (aihwkit's default transfer read) is an ADC of step 24/510 ≈ 0.047.
A resolution therefore needs a finite bound.

Every non-ideality is **off by default** (our ``IOParameters()`` is a perfect MVM;
aihwkit's defaults are not). Backward passes never use bound management (aihwkit
forces it off there). Vectorized over trials and samples: ``W`` (trials, out, in),
``x`` (trials, samples, in).

Our name = aihwkit name for every field (``noise_management`` ``"none"|"abs_max"`` =
``NoiseManagementType.NONE|ABS_MAX``; ``bound_management`` ``"none"|"iterative"`` =
``BoundManagementType.NONE|ITERATIVE``). Not modelled: IR drop, voltage offsets,
output non-linearity, asymmetries, PCM read noise, ``out_noise_std`` d2d spread,
``AbsMaxNPSum``/average noise management, ``IterativeWorstCase``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, non_negative, positive, positive_int

Array = NDArray[np.float64]

__all__ = ["IOParameters", "PERFECT", "AIHWKIT_TRANSFER_FORWARD", "InputNorms", "mvm", "forward", "backward",
           "discretize"]

NOISE_MANAGEMENT = ("none", "abs_max")
# the reductions behind ndarray.min/max without their Python wrappers (same values, NaN included)
_amin, _amax = np.minimum.reduce, np.maximum.reduce
BOUND_MANAGEMENT = ("none", "iterative")


@dataclass(frozen=True)
class IOParameters:
    """Periphery of one analog MVM direction; all fields keep aihwkit's names."""

    w_noise: float = 0.0
    """Std of additive weight noise per MVM (aihwkit ``w_noise``, ``w_noise_type=ADDITIVE_CONSTANT``); 0 = off."""
    inp_noise: float = 0.0
    """Std of additive input noise after the DAC (aihwkit ``inp_noise``)."""
    out_noise: float = 0.0
    """Std of additive output noise before the ADC (aihwkit ``out_noise``)."""
    inp_res: float = 0.0
    """DAC resolution as a fraction of the input range ``2·inp_bound`` (aihwkit ``inp_res``): the step is
    ``Δ_in = inp_res·2·inp_bound`` (:attr:`inp_step`); 0 = continuous; a value r > 1 is read as 1/r (r steps over
    the range, e.g. 1/126 or 126: a 7-bit DAC with 127 levels); needs a finite ``inp_bound``."""
    out_res: float = 0.0
    """ADC resolution as a fraction of the output range ``2·out_bound`` (aihwkit ``out_res``): the step is
    ``Δ_out = out_res·2·out_bound`` (:attr:`out_step`), e.g. 1/510 with out_bound 12 gives 24/510 ≈ 0.047 (a 9-bit
    ADC); same conventions as ``inp_res``; needs a finite ``out_bound``."""
    inp_bound: float = math.inf
    """Input clip ±inp_bound (aihwkit ``inp_bound``; inf = off)."""
    out_bound: float = math.inf
    """Output clip ±out_bound (aihwkit ``out_bound``; inf = off)."""
    inp_sto_round: bool = False
    """Stochastic instead of nearest rounding of the DAC (aihwkit ``inp_sto_round``)."""
    out_sto_round: bool = False
    """Stochastic instead of nearest rounding of the ADC (aihwkit ``out_sto_round``)."""
    noise_management: str = "none"
    """``"none"`` or ``"abs_max"`` input scaling (aihwkit ``noise_management``)."""
    nm_thres: float = 0.0
    """Cap of the abs-max scale if > 0 (aihwkit ``nm_thres``)."""
    bound_management: str = "none"
    """``"none"`` or ``"iterative"`` output-bound management, forward only (aihwkit ``bound_management``)."""
    max_bm_factor: int = 1000
    """Largest bound-management reduction (aihwkit ``max_bm_factor``, default 1000)."""
    max_bm_res: float = 0.25
    """Stop when the reduction exceeds max_bm_res/Δ_in, Δ_in the DAC step (aihwkit ``max_bm_res``, default 0.25)."""

    def __post_init__(self) -> None:
        for name in ("w_noise", "inp_noise", "out_noise", "inp_res", "out_res", "nm_thres"):
            object.__setattr__(self, name, non_negative(name, getattr(self, name)))
        for name in ("inp_res", "out_res"):
            v = getattr(self, name)
            if v > 1.0:
                object.__setattr__(self, name, 1.0 / v)
        for name in ("inp_bound", "out_bound"):
            object.__setattr__(self, name, positive(name, getattr(self, name), allow_inf=True))
        for res, bound in (("inp_res", "inp_bound"), ("out_res", "out_bound")):
            if getattr(self, res) > 0 and not math.isfinite(getattr(self, bound)):
                raise ConfigError(f"{res} > 0 needs a finite {bound} (the step is {res}·2·{bound})")
        if self.noise_management not in NOISE_MANAGEMENT:
            raise ConfigError(f"noise_management must be one of {', '.join(NOISE_MANAGEMENT)} "
                              f"(got {self.noise_management!r})")
        if self.bound_management not in BOUND_MANAGEMENT:
            raise ConfigError(f"bound_management must be one of {', '.join(BOUND_MANAGEMENT)} "
                              f"(got {self.bound_management!r})")
        if self.bound_management != "none" and not math.isfinite(self.out_bound):
            raise ConfigError("bound_management needs a finite out_bound")
        object.__setattr__(self, "max_bm_factor", positive_int("max_bm_factor", self.max_bm_factor))
        object.__setattr__(self, "max_bm_res", positive("max_bm_res", self.max_bm_res))
        for name in ("inp_sto_round", "out_sto_round"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise ConfigError(f"{name} must be True or False (got {getattr(self, name)!r})")

    @property
    def is_perfect(self) -> bool:
        """True if the MVM is exact (aihwkit ``is_perfect``)."""
        return (self.w_noise == 0 and self.inp_noise == 0 and self.out_noise == 0 and self.inp_res == 0
                and self.out_res == 0 and math.isinf(self.inp_bound) and math.isinf(self.out_bound)
                and self.noise_management == "none" and self.bound_management == "none")

    @property
    def inp_step(self) -> float:
        """DAC step ``Δ_in = inp_res·2·inp_bound`` in input units (0 = continuous)."""
        return self.inp_res * 2.0 * self.inp_bound if self.inp_res > 0 else 0.0

    @property
    def out_step(self) -> float:
        """ADC step ``Δ_out = out_res·2·out_bound`` in output units (0 = continuous)."""
        return self.out_res * 2.0 * self.out_bound if self.out_res > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


PERFECT = IOParameters()

AIHWKIT_TRANSFER_FORWARD = IOParameters(inp_res=1 / 126, inp_bound=1.0, out_res=1 / 510, out_bound=12.0,
                                        out_noise=0.06)
"""The read of a transfer compound's fast array by default in aihwkit: its ``IOParameters()`` defaults (7-bit DAC
on ±1, 9-bit ADC on ±12, i.e. steps 2/126 and 24/510, output noise 0.06, no weight noise) with noise and bound
management off, as ``TransferCompound`` sets them for ``transfer_forward``."""


def discretize(v: Array, res: float, sto_round: bool = False, rng: Any = None) -> Array:
    """``res·round(v/res)`` (nearest, or stochastic rounding ``res·floor(v/res + u)``); identity if res = 0.

    The result has ``v``'s float dtype; stochastic rounding adds the float64 uniform ``u`` in float64 (a float32
    ``u`` could round up to 1) before the result is cast back."""
    if res <= 0:
        return v
    if sto_round:
        q = res * np.floor(v / res + rng.random(np.shape(v)))
        return q.astype(v.dtype, copy=False) if isinstance(v, np.ndarray) and v.dtype.kind == "f" else q
    return res * np.round(v / res)


def _absmax_last(a: Array) -> Array:
    """``max |a|`` over the last axis (NumPy's reduction over a short last axis is slow: unroll it)."""
    n = a.shape[-1]
    if n > 8:
        return np.abs(a).max(axis=-1)
    out = np.abs(a[..., 0])
    for j in range(1, n):
        np.maximum(out, np.abs(a[..., j]), out=out)
    return out


def _matvec(w: Array, x: Array, transposed: bool) -> Array:
    """Batched ``x @ Wᵀ`` (forward) or ``x @ W`` (backward); w (T, out, in), x (T, S, ·)."""
    return np.matmul(x, w) if transposed else np.matmul(x, w.swapaxes(-1, -2))


def _clip(v: Array, bound: float) -> Array:
    """``clip(v, -bound, bound)``, skipping the copy when nothing exceeds the bound."""
    if not math.isfinite(bound) or v.size == 0:
        return v
    if _amax(v, axis=None) <= bound and _amin(v, axis=None) >= -bound:
        return v
    return np.minimum(np.maximum(v, -bound), bound)


class InputNorms:
    """Per-sample quantities of fixed inputs ``x`` (trials, samples, in) that a read derives from them, computed
    once: ``Σ_j x_j²`` (``np.einsum("tsi,tsi->ts", x, x)``, as :func:`mvm` forms it), its largest value and, per
    ``w_noise``, the weight-noise scale ``w_noise·‖x‖₂`` (trials, samples, 1)."""

    def __init__(self, x: Array) -> None:
        self.sq = np.einsum("tsi,tsi->ts", x, x)
        """``Σ_j x_j²`` per sample (trials, samples)."""
        self.sq_max = float(self.sq.max(initial=0.0))
        """The largest ``Σ_j x_j²``."""
        self._scales: dict[float, Array] = {}

    def noise_scale(self, w_noise: float) -> Array:
        """``w_noise·√(Σ_j x_j²)`` (trials, samples, 1), kept per ``w_noise``."""
        scale = self._scales.get(w_noise)
        if scale is None:
            scale = self._scales[w_noise] = w_noise * np.sqrt(self.sq)[..., None]
        return scale


def _normal(rng: Any, shape: tuple[int, ...], dtype: Any) -> Array:
    """Standard normals of ``shape``: the generator's float64 draws (the same stream for every dtype), cast to
    ``dtype``."""
    return rng.standard_normal(shape).astype(dtype, copy=False)


def _single_pass(w: Array, x: Array, io: IOParameters, rng: Any, transposed: bool,
                 norms: InputNorms | None = None) -> tuple[Array, Array | None]:
    """One DAC → crossbar → ADC pass for already scaled inputs; returns (output, saturated samples or None).

    ``norms``: :class:`InputNorms` of these inputs, precomputed for fixed inputs; used only when the DAC neither
    quantises nor clips (the crossbar then sees the inputs unchanged)."""
    if io.inp_step > 0:
        x, norms = discretize(x, io.inp_step, io.inp_sto_round, rng), None
    sq = None
    if io.w_noise and not io.inp_noise:
        # ‖x‖₂ ≤ inp_bound everywhere implies no element exceeds the bound: skip the clip test
        if norms is None:
            sq = np.einsum("tsi,tsi->ts", x, x)
            big = math.isfinite(io.inp_bound) and sq.max(initial=0.0) > io.inp_bound ** 2
        else:
            big = math.isfinite(io.inp_bound) and norms.sq_max > io.inp_bound ** 2
        if big:
            x, norms = _clip(x, io.inp_bound), None
            sq = np.einsum("tsi,tsi->ts", x, x)
    else:
        x, norms = _clip(x, io.inp_bound), None
    if io.inp_noise:
        x = x + io.inp_noise * _normal(rng, x.shape, x.dtype)
    y = _matvec(w, x, transposed)
    if io.w_noise:
        if norms is not None:
            z = _normal(rng, y.shape, y.dtype)
            z *= norms.noise_scale(io.w_noise)
            y += z
        else:
            if sq is None:
                sq = np.einsum("tsi,tsi->ts", x, x)
            y += io.w_noise * np.sqrt(sq)[..., None] * _normal(rng, y.shape, y.dtype)
    if io.out_noise:
        y += io.out_noise * _normal(rng, y.shape, y.dtype)
    y = discretize(y, io.out_step, io.out_sto_round, rng)
    saturated = None
    if math.isfinite(io.out_bound):
        if io.bound_management != "none" and not transposed:
            n = y.shape[-1]
            saturated = np.abs(y[..., 0]) > io.out_bound
            for i in range(1, n) if n <= 8 else ():
                saturated |= np.abs(y[..., i]) > io.out_bound
            if n > 8:
                saturated = np.any(np.abs(y) > io.out_bound, axis=-1)
        y = _clip(y, io.out_bound)
    return y, saturated


def mvm(w: Array, x: Array, io: IOParameters = PERFECT, rng: Any = None, *, transposed: bool = False,
        x_norms: InputNorms | None = None, dtype: Any = np.float64) -> Array:
    """The analog MVM ``W x`` (or ``Wᵀ x``) of every sample through the periphery ``io``.

    Args:
        w: weights (trials, out, in).
        x: inputs (trials, samples, in) — or (trials, samples, out) if ``transposed``.
        io: periphery parameters (:class:`IOParameters`).
        rng: numpy Generator (or TrialStreams) for the noises and stochastic rounding.
        transposed: compute ``Wᵀ x`` (backward pass; bound management is ignored).
        x_norms: optional :class:`InputNorms` of ``x``, an optimisation for fixed inputs (same results); used
            where the inputs enter the DAC unscaled.
        dtype: the float dtype of the arithmetic and the result (default float64; the network layers pass their
            float32, as aihwkit computes). The random draws are the generator's float64 values whatever the dtype.

    Returns:
        (trials, samples, out) — or (trials, samples, in) if ``transposed``.
    """
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise ConfigError(f"the periphery computes in a float dtype (got {dtype})")
    w = np.asarray(w, dtype=dtype)
    x = np.asarray(x, dtype=dtype)
    if x_norms is not None and x_norms.sq.dtype != dtype:
        x_norms = None          # norms of the inputs in another dtype: formed again from x, as without them
    if io.is_perfect:
        return _matvec(w, x, transposed)
    needs_rng = io.w_noise or io.inp_noise or io.out_noise or io.inp_sto_round or io.out_sto_round
    if needs_rng and rng is None:
        raise ConfigError("a noisy or stochastically rounded periphery needs an rng")
    if io.noise_management == "abs_max":
        s_nm = _absmax_last(x)[..., None]
        if io.nm_thres > 0:
            s_nm = np.minimum(s_nm, io.nm_thres)
        zero = s_nm <= 0
        s_nm = np.where(zero, 1.0, s_nm)
    else:
        s_nm = 1.0
        zero = None
    bm = io.bound_management == "iterative" and not transposed
    beta = np.ones(x.shape[:2] + (1,), dtype=dtype) if bm else 1.0
    if io.noise_management != "none":
        y, sat = _single_pass(w, x / s_nm, io, rng, transposed)
    else:
        y, sat = _single_pass(w, x, io, rng, transposed, x_norms)
    if bm:
        limit = io.max_bm_factor
        if io.inp_res > 0:
            limit = min(limit, io.max_bm_res / io.inp_step)
        todo = sat
        reduction = 1.0
        while np.any(todo) and reduction <= limit:
            reduction *= 2.0
            beta = np.where(todo[..., None], reduction, beta)
            y_new, sat_new = _single_pass(w, x / (s_nm * beta), io, rng, transposed)
            y = np.where(todo[..., None], y_new, y)
            todo = todo & sat_new
    if io.noise_management != "none" or bm:
        y = y * (s_nm * beta)
    if zero is not None and io.inp_noise <= 0:
        y = np.where(zero, 0.0, y)
    return y


def forward(w: Array, x: Array, io: IOParameters = PERFECT, rng: Any = None,
            x_norms: InputNorms | None = None, dtype: Any = np.float64) -> Array:
    """Forward pass ``y = W x`` (aihwkit ``rpu_config.forward``); ``x_norms`` and ``dtype`` as in :func:`mvm`."""
    return mvm(w, x, io, rng, x_norms=x_norms, dtype=dtype)


def backward(w: Array, d: Array, io: IOParameters = PERFECT, rng: Any = None, dtype: Any = np.float64) -> Array:
    """Backward pass ``z = Wᵀ d`` (aihwkit ``rpu_config.backward``; no bound management); ``dtype`` as in
    :func:`mvm`."""
    return mvm(w, d, io, rng, transposed=True, dtype=dtype)
