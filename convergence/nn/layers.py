r"""Network layers with explicit forward and backward passes (NumPy, no autograd, no torch).

Every layer maps a batch ``x`` to ``y = layer.forward(x)`` and, given ``dy = ∂L/∂y``, returns
``dx = layer.backward(dy)`` (using values cached by the last ``forward``). Layers with weights
(:class:`Linear`, :class:`Conv2d`) keep their weight matrix on a *weight optimizer*
(:mod:`convergence.nn.optim`): digital SGD, Analog SGD on a device, Tiki-Taka, or any toolkit
algorithm; ``step(lr, rng)`` applies the optimizer's update with the cached ``x`` and output
gradient ``d`` (desired ``ΔW = −lr dᵀx``). Compute is in the layer's ``dtype`` (float32 by
default; the finite-difference tests use float64).

Analog periphery (docs/theory/device-model.md#paper-pulse-settings, P1 App. I.2): an analog weight layer computes

.. math:: y = s \odot \mathrm{MVM}_{io}(W, x) + b

where ``MVM_io`` is the analog matrix-vector product through :mod:`convergence.physics.periphery`
(output/input noise, DAC/ADC quantisation, input/output bounds, noise and bound management;
perfect by default), ``s`` a per-output *output scale* (aihwkit ``weight_scaling_omega`` with
``weight_scaling_columnwise`` and ``learn_out_scaling``: the initial weights ``W₀`` are mapped to
``W₀/s`` with ``s_i = max_j |W₀_ij| / ω`` so every output row's largest weight is ω in device
units; ``s`` is learnt by digital SGD when ``learn_out_scale``), and ``b`` a digital bias (digital
SGD). The backward pass ``dx = MVMᵀ_io(W, s ⊙ dy)`` goes through the backward periphery.
"""
from __future__ import annotations

import inspect
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from numpy.lib.stride_tricks import as_strided
from scipy import special

from convergence._validate import ConfigError, non_negative, positive, positive_int
from convergence.nn.optim import DigitalSGD, WeightOptimizer, flat_state, load_flat_state

Array = NDArray[Any]

__all__ = ["Layer", "Linear", "Conv2d", "MaxPool2d", "Flatten", "Sigmoid", "Tanh", "ReLU", "GELU",
           "LogSoftmax", "LayerNorm", "WeightCore", "im2col", "col2im", "CORE_KEYWORDS", "check_keywords"]


class Layer:
    """Base class: stateless layers override ``forward``/``backward`` only."""

    def forward(self, x: Array, train: bool = True) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, dy: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, lr: float, rng: Any = None) -> None:
        """Apply the parameter update of the last backward pass (no-op without parameters)."""

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """All trainable state as named arrays (for checkpoints)."""
        return {}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        """Inverse of :meth:`state_arrays`."""

    def as_dict(self) -> dict[str, Any]:
        return {"layer": type(self).__name__}


# -- the weight core shared by Linear and Conv2d ---------------------------------------------

def check_keywords(where: str, given: Any, allowed: Any) -> None:
    """Refuse keyword arguments of ``where`` outside ``allowed`` with one ConfigError naming them (instead of
    Python's TypeError from deep inside a constructor)."""
    unknown = sorted(set(given) - set(allowed))
    if unknown:
        raise ConfigError(f"{where} got unknown keyword argument{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))} (allowed: {', '.join(sorted(allowed))})")


class WeightCore:
    r"""A weight matrix ``W`` (out, in) on a weight optimizer, with output scale, bias and periphery.

    ``forward(x)`` for ``x`` (N, in) returns ``y = s ⊙ MVM(W, x) + b`` (N, out);
    ``backward(dy)`` returns ``MVMᵀ(W, s ⊙ dy)`` and stores the gradients of ``b`` and ``s``;
    ``step(lr, rng)`` updates W through the optimizer with ``(x, s ⊙ dy)`` and ``b``, ``s`` by
    digital SGD.

    Args:
        w0: initial weights in *network units* (out, in).
        b0: initial bias (out,) or None for no bias.
        optimizer: a :class:`~convergence.nn.optim.WeightOptimizer` (default digital SGD).
        io_forward, io_backward: :class:`convergence.physics.periphery.IOParameters` or None (exact MVM).
        omega: weight-scaling target ω > 0 (maximal |weight| per output row in device units after
            mapping) or 0 for no mapping (s = 1).
        columnwise: one scale per output row (True) or one for the whole matrix.
        learn_out_scale: learn ``s`` by digital SGD.
        rng: Generator for the periphery noises.
    """

    def __init__(self, w0: Array, b0: Array | None, optimizer: WeightOptimizer | None = None, *,
                 io_forward: Any = None, io_backward: Any = None, omega: float = 0.0, columnwise: bool = True,
                 learn_out_scale: bool = False, rng: Any = None, dtype: Any = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        w0 = np.asarray(w0, dtype=self.dtype)
        if w0.ndim != 2:
            raise ConfigError(f"weights must be a matrix (out, in) (got shape {w0.shape})")
        self.optimizer = optimizer if optimizer is not None else DigitalSGD()
        if not isinstance(self.optimizer, WeightOptimizer):
            raise ConfigError("optimizer must implement init/weights/update/arrays/spec (convergence.nn.optim)")
        self.omega = non_negative("omega", omega)
        self.columnwise = bool(columnwise)
        self.learn_out_scale = bool(learn_out_scale)
        if self.omega > 0:
            m = np.abs(w0).max(axis=1) if self.columnwise else np.full(w0.shape[0], np.abs(w0).max())
            scale = np.where(m > 0, m / self.omega, 1.0).astype(self.dtype)
        else:
            scale = np.ones(w0.shape[0], dtype=self.dtype)
        self.out_scale = scale
        self.has_scale = self.omega > 0 or self.learn_out_scale
        self.state = self.optimizer.init(w0 / scale[:, None])
        self.bias = None if b0 is None else np.asarray(b0, dtype=self.dtype).copy()
        self.io_forward = _check_io(io_forward, "io_forward")
        self.io_backward = _check_io(io_backward, "io_backward")
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self._x: Array | None = None
        self._z: Array | None = None
        self._d: Array | None = None
        self.grad_bias: Array | None = None
        self.grad_scale: Array | None = None

    # weights -------------------------------------------------------------------------------
    @property
    def weight(self) -> Array:
        """The array weights used by the MVM (device units)."""
        return self.optimizer.weights(self.state)

    @property
    def effective_weight(self) -> Array:
        """``s ⊙ W`` in network units."""
        return self.out_scale[:, None] * self.weight

    # passes -------------------------------------------------------------------------------
    def forward(self, x: Array) -> Array:
        w = self.weight
        z = _mvm(w, x, self.io_forward, self.rng, transposed=False, dtype=self.dtype)
        self._x = x
        self._z = z if self.learn_out_scale else None      # only ∂L/∂s needs the pre-bias z
        y = z * self.out_scale if self.has_scale else z    # a fresh array either way
        if self.bias is not None:
            y += self.bias                                 # in place (z itself unless scaled)
        return y

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        """Store what :meth:`step` needs (``d = s ⊙ dy``, bias and scale gradients) and return
        ``dx = MVMᵀ(W, d)``.

        With ``input_grad=False`` the backward MVM is skipped and None returned: the network's
        first layer, whose input gradient training never uses (PyTorch/aihwkit do not compute
        it since the input does not require grad). For an analog layer with a noisy backward
        periphery this also skips that MVM's random draws (as aihwkit does), so the periphery
        generator's stream then differs from a call with ``input_grad=True``.
        """
        dy = np.asarray(dy, dtype=self.dtype)
        d = dy * self.out_scale if self.has_scale else dy
        self._d = d
        self.grad_bias = dy.sum(axis=0) if self.bias is not None else None
        self.grad_scale = np.einsum("no,no->o", dy, self._z) if self.learn_out_scale else None
        if not input_grad:
            return None
        return _mvm(self.weight, d, self.io_backward, self.rng, transposed=True, dtype=self.dtype)

    def weight_grad(self) -> Array:
        """∂L/∂W (device units) of the last backward pass: ``dᵀx`` (exact MVM)."""
        return self._d.T @ self._x

    def step(self, lr: float, rng: Any = None) -> None:
        if self._d is None:
            raise ConfigError("step() needs a forward and backward pass first")
        # the layer owns its optimizer state and drops the old one: an optimizer may then update it in place
        update = getattr(self.optimizer, "update_owned", None) or self.optimizer.update
        self.state = update(self.state, self._x, self._d, lr, rng)
        if self.bias is not None:
            self.bias -= np.asarray(lr, self.dtype) * self.grad_bias
        if self.learn_out_scale:
            self.out_scale -= np.asarray(lr, self.dtype) * self.grad_scale
        self._x = self._z = self._d = None

    # checkpoints -----------------------------------------------------------------------------
    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = flat_state(self.state, prefix + ".opt")
        out[prefix + ".out_scale"] = self.out_scale
        if self.bias is not None:
            out[prefix + ".bias"] = self.bias
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        self.state = load_flat_state(self.state, arrays, prefix + ".opt")
        self.out_scale = np.array(arrays[prefix + ".out_scale"], dtype=self.dtype)
        if self.bias is not None:
            self.bias = np.array(arrays[prefix + ".bias"], dtype=self.dtype)

    def as_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.as_dict(), "omega": self.omega, "columnwise": self.columnwise,
                "learn_out_scale": self.learn_out_scale,
                "io_forward": None if self.io_forward is None else self.io_forward.as_dict(),
                "io_backward": None if self.io_backward is None else self.io_backward.as_dict()}


def _check_io(io: Any, name: str) -> Any:
    if io is None:
        return None
    if not hasattr(io, "is_perfect"):
        raise ConfigError(f"{name} must be a convergence.physics.periphery.IOParameters or None")
    return None if io.is_perfect else io


def _mvm(w: Array, x: Array, io: Any, rng: Any, *, transposed: bool, dtype: Any) -> Array:
    """``x Wᵀ`` (forward, x (N, in)) or ``x W`` (backward, x (N, out)), exact or through the periphery, computed in
    the layer's ``dtype`` (float32 networks: float32 periphery arithmetic, as aihwkit's)."""
    if io is None:
        return x @ w if transposed else x @ w.T
    from convergence.physics import periphery
    fn = periphery.backward if transposed else periphery.forward
    return fn(w[None], x[None], io, rng, dtype=dtype)[0]


def _initial_weights(w0: Any, shape: tuple[int, int], dtype: Any) -> Array:
    """A layer's given initial weights ``w0`` as a finite ``dtype`` matrix of ``shape`` (out, in), else ConfigError."""
    try:
        w = np.asarray(w0, dtype)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"w0 must be a numeric matrix of shape (n_out, n_in) = {shape} (got {w0!r})") from None
    if w.shape != shape:
        raise ConfigError(f"w0 must have shape (n_out, n_in) = {shape} (got {w.shape})")
    if not np.isfinite(w).all():        # once, at construction
        raise ConfigError("w0 must be finite everywhere (it contains NaN or infinity)")
    return w


def _torch_like_init(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, dtype: Any) -> Array:
    """U(−1/√fan_in, 1/√fan_in): PyTorch's default for Linear/Conv weights and biases."""
    bound = 1.0 / math.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)



#: the keyword arguments of :class:`WeightCore` that :class:`Linear`, :class:`Conv2d` and the model builders pass on:
#: its keyword-only parameters but the two the layers set themselves (read from its signature, so never out of date)
CORE_KEYWORDS = tuple(name for name, p in inspect.signature(WeightCore.__init__).parameters.items()
                      if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("rng", "dtype"))


class _Weighted(Layer):
    core: WeightCore

    def step(self, lr: float, rng: Any = None) -> None:
        self.core.step(lr, rng)

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return self.core.state_arrays(prefix)

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        self.core.load_state_arrays(arrays, prefix)

    @property
    def optimizer(self) -> WeightOptimizer:
        return self.core.optimizer


class Linear(_Weighted):
    """Fully connected layer ``y = s ⊙ (W x) + b`` on a weight optimizer (see :class:`WeightCore`).

    Args:
        n_in, n_out: sizes. bias: with a digital bias.
        optimizer: weight optimizer (default digital SGD). rng: Generator or seed (init + periphery).
        other keywords: see :class:`WeightCore`.
    """

    def __init__(self, n_in: int, n_out: int, *, bias: bool = True, optimizer: WeightOptimizer | None = None,
                 rng: Any = 0, dtype: Any = np.float32, w0: Array | None = None, **core: Any) -> None:
        self.n_in, self.n_out = positive_int("n_in", n_in), positive_int("n_out", n_out)
        check_keywords("Linear", core, CORE_KEYWORDS)
        w = None if w0 is None else _initial_weights(w0, (self.n_out, self.n_in), dtype)
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        w = _torch_like_init(rng, (n_out, n_in), n_in, dtype) if w is None else w
        b = _torch_like_init(rng, (n_out,), n_in, dtype) if bias else None
        self.core = WeightCore(w, b, optimizer, rng=rng, dtype=dtype, **core)

    def forward(self, x: Array, train: bool = True) -> Array:
        shape = x.shape if type(x) is np.ndarray else np.shape(x)
        if not shape or shape[-1] != self.n_in:        # O(1): the MVM would fail deep in matmul (or broadcast)
            raise ConfigError(f"Linear expects inputs (batch, {self.n_in}) (got shape {shape})")
        return self.core.forward(x)

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        """``dx``; with ``input_grad=False`` only the weight/bias gradients (returns None; see
        :meth:`WeightCore.backward`)."""
        return self.core.backward(dy, input_grad)

    def as_dict(self) -> dict[str, Any]:
        return {"layer": "Linear", "n_in": self.n_in, "n_out": self.n_out, **self.core.as_dict()}


# -- convolution ---------------------------------------------------------------------------

def _out_size(n: int, k: int, stride: int) -> int:
    return (n - k) // stride + 1


#: ``cols`` size (elements) from which :func:`im2col` copies the whole window view at once (evaluation batches);
#: below it the k² offset copies are faster (training batches)
IM2COL_WINDOW_MIN = 1 << 20


def im2col(x: Array, k: int, stride: int = 1, padding: int = 0) -> tuple[Array, tuple[int, int]]:
    """Patches of ``x`` (B, C, H, W) as rows (B·Ho·Wo, C·k·k), ordered (b, i, j) × (c, u, v).

    ``cols[(b, i, j), (c, u, v)] = x_pad[b, c, stride·i + u, stride·j + v]``, C-contiguous, filled
    by one strided copy per kernel offset (u, v) of a (B, Ho, Wo, C) window (no copy per pixel).
    Fastest when ``x`` is stored channels-last, i.e. ``x.transpose(0, 2, 3, 1)`` is C-contiguous,
    as :class:`Conv2d` outputs (and everything computed elementwise from them) are. From
    :data:`IM2COL_WINDOW_MIN` elements on, one copy of the strided window view (the same values).
    """
    B, C, H, W = x.shape
    xs = x.transpose(0, 2, 3, 1)                                   # (B, H, W, C) view
    if padding:
        p = padding
        xp = np.zeros((B, H + 2 * p, W + 2 * p, C), dtype=x.dtype)
        xp[:, p:p + H, p:p + W] = xs
        xs, H, W = xp, H + 2 * p, W + 2 * p
    ho, wo = _out_size(H, k, stride), _out_size(W, k, stride)
    if ho <= 0 or wo <= 0:
        raise ConfigError(f"kernel {k} larger than the padded input {H}x{W}")
    cols = np.empty((B, ho, wo, C, k, k), dtype=x.dtype)
    if cols.size >= IM2COL_WINDOW_MIN:
        # large batches (evaluation): one copy of the (B, Ho, Wo, C, k, k) window view writes ``cols`` in
        # order; the k² strided copies below would each sweep the whole (cache-cold) output, ~5x slower
        s0, s1, s2, s3 = xs.strides
        np.copyto(cols, as_strided(xs, cols.shape, (s0, stride * s1, stride * s2, s3, s1, s2), writeable=False))
    else:
        hs, ws = stride * (ho - 1) + 1, stride * (wo - 1) + 1
        for u in range(k):
            for v in range(k):
                cols[..., u, v] = xs[:, u:u + hs:stride, v:v + ws:stride]
    return cols.reshape(B * ho * wo, C * k * k), (ho, wo)


def col2im(cols: Array, x_shape: tuple[int, int, int, int], k: int, stride: int = 1, padding: int = 0) -> Array:
    """Adjoint of :func:`im2col`: scatter-add rows (B·Ho·Wo, C·k·k) back to (B, C, H, W)."""
    C = x_shape[1]
    return _scatter_offsets(cols.reshape(-1, C, k * k).transpose(2, 0, 1), x_shape, k, stride, padding)


def _scatter_offsets(c: Array, x_shape: tuple[int, int, int, int], k: int, stride: int, padding: int) -> Array:
    """``col2im`` from per-offset blocks ``c[u·k + v]`` (B·Ho·Wo, C): one strided add per kernel offset
    into a channels-last (B, H, W, C) buffer; returns its (B, C, H, W) transposed view (the layout of
    :class:`Conv2d` outputs). Fastest when ``c`` is C-contiguous (k·k, B·Ho·Wo, C)."""
    B, C, H, W = x_shape
    Hp, Wp = H + 2 * padding, W + 2 * padding
    ho, wo = _out_size(Hp, k, stride), _out_size(Wp, k, stride)
    c = c.reshape(k, k, B, ho, wo, C)
    out = np.zeros((B, Hp, Wp, C), dtype=c.dtype)
    hs, ws = stride * (ho - 1) + 1, stride * (wo - 1) + 1
    for u in range(k):
        for v in range(k):
            out[:, u:u + hs:stride, v:v + ws:stride] += c[u, v]
    if padding:
        out = out[:, padding:padding + H, padding:padding + W]
    return out.transpose(0, 3, 1, 2)


class Conv2d(_Weighted):
    """2-D convolution (cross-correlation, like ``torch.nn.Conv2d``) by im2col on a weight optimizer.

    The kernel is the matrix W (out_ch, in_ch·k·k); every output pixel is one MVM with its patch
    (as an analog tile computes a convolution), so analog optimizers and periphery apply unchanged.

    Memory layout: the output is the MVM result (B·Ho·Wo, out) seen as (B, out, Ho, Wo), i.e. stored
    channels-last; :func:`im2col`, :class:`MaxPool2d`, the activations and the input gradient keep
    that layout, so no layer copies to change it. Without a backward periphery the input gradient
    is computed per kernel offset (``dx`` gets ``Σ_{u,v} shift_{u,v}(d W[:, (·, u, v)])``), the same
    sums as ``col2im(d W)``.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, *, stride: int = 1, padding: int = 0,
                 bias: bool = True, optimizer: WeightOptimizer | None = None, rng: Any = 0,
                 dtype: Any = np.float32, **core: Any) -> None:
        self.in_ch, self.out_ch = positive_int("in_ch", in_ch), positive_int("out_ch", out_ch)
        self.k = positive_int("kernel", kernel)
        self.stride = positive_int("stride", stride)
        self.padding = int(non_negative("padding", padding))
        check_keywords("Conv2d", core, CORE_KEYWORDS)
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        fan_in = in_ch * kernel * kernel
        w = _torch_like_init(rng, (out_ch, fan_in), fan_in, dtype)
        b = _torch_like_init(rng, (out_ch,), fan_in, dtype) if bias else None
        self.core = WeightCore(w, b, optimizer, rng=rng, dtype=dtype, **core)
        self._shape: tuple[int, ...] | None = None
        self._out_hw: tuple[int, int] | None = None

    def forward(self, x: Array, train: bool = True) -> Array:
        if x.ndim != 4 or x.shape[1] != self.in_ch:
            raise ConfigError(f"Conv2d expects (batch, {self.in_ch}, H, W) (got {x.shape})")
        cols, (ho, wo) = im2col(x, self.k, self.stride, self.padding)
        self._shape, self._out_hw = x.shape, (ho, wo)
        y = self.core.forward(cols)                        # (B·Ho·Wo, out), C-contiguous
        # a channels-last (B, Ho, Wo, out) array seen as (B, out, Ho, Wo): no copy here, and the
        # layout the next elementwise layer, pooling and im2col/col2im work in
        return y.reshape(x.shape[0], ho, wo, self.out_ch).transpose(0, 3, 1, 2)

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        """``dx``; with ``input_grad=False`` only the kernel/bias gradients, skipping the backward
        MVM and :func:`col2im` (returns None; see :meth:`WeightCore.backward`)."""
        d = dy.transpose(0, 2, 3, 1).reshape(-1, self.out_ch)     # (B·Ho·Wo, out), free if channels-last
        core, k = self.core, self.k
        if core.io_backward is not None or not input_grad:
            dcols = core.backward(d, input_grad)                  # periphery: its own MVM (and draws)
            if dcols is None:
                return None
            return col2im(dcols, self._shape, k, self.stride, self.padding)  # type: ignore[arg-type]
        # exact MVM dcols = d W computed per kernel offset, dc[u·k+v] = d W[:, (·, u, v)] (one batched
        # GEMM, (k², B·Ho·Wo, C) contiguous), so that col2im's adds read contiguous blocks
        core.backward(d, input_grad=False)                        # stores d = s ⊙ dy and the gradients
        w = core.weight
        wk = np.ascontiguousarray(w.reshape(self.out_ch, self.in_ch, k * k).transpose(2, 0, 1))
        dc = np.matmul(core._d, wk)
        return _scatter_offsets(dc, self._shape, k, self.stride, self.padding)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, Any]:
        return {"layer": "Conv2d", "in_ch": self.in_ch, "out_ch": self.out_ch, "kernel": self.k,
                "stride": self.stride, "padding": self.padding, **self.core.as_dict()}


class MaxPool2d(Layer):
    """Non-overlapping k×k max pooling (stride k, floor mode like torch); ties route to the first max.

    Works on the k² strided views ``x[:, :, u::k, v::k]`` (one per window offset, row-major), so
    the output keeps the input's memory layout (channels-last after a :class:`Conv2d`). The
    gradient of each window goes to its first element (in row-major window order) equal to the
    maximum, like torch (the other elements get ``0·dy``, so only a non-finite ``dy`` reaches them,
    as NaN); a window containing NaN outputs NaN and routes no gradient.
    """

    def __init__(self, k: int = 2) -> None:
        self.k = positive_int("kernel", k)

    def _views(self, x: Array) -> list[Array]:
        k = self.k
        ho, wo = x.shape[2] // k, x.shape[3] // k
        return [x[:, :, u:ho * k:k, v:wo * k:k] for u in range(k) for v in range(k)]

    def forward(self, x: Array, train: bool = True) -> Array:
        views = self._views(x)
        y = np.maximum(views[0], views[1]) if len(views) > 1 else views[0].copy(order="K")
        for view in views[2:]:
            np.maximum(y, view, out=y)
        self._x, self._y = x, y
        return y

    def backward(self, dy: Array) -> Array:
        x, y = self._x, self._y
        if dy.strides != y.strides:      # one copy into y's layout; then every op below is aligned
            aligned = np.empty_like(y, dtype=dy.dtype)
            aligned[...] = dy
            dy = aligned
        views = self._views(x)
        hits = [view == y for view in views]
        if sum(np.count_nonzero(h) for h in hits) != y.size or np.isnan(y).any():
            # ties (or NaN windows): keep only the first hit of every window
            free = ~hits[0]
            for h in hits[1:]:
                h &= free
                free &= ~h
        out = np.zeros_like(x, dtype=dy.dtype)   # same memory layout as x
        for h, o in zip(hits, self._views(out)):
            np.multiply(dy, h, out=o)
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"layer": "MaxPool2d", "kernel": self.k}


class Flatten(Layer):
    """(B, ...) → (B, prod(...))."""

    def forward(self, x: Array, train: bool = True) -> Array:
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dy: Array) -> Array:
        return dy.reshape(self._shape)


# -- activations ---------------------------------------------------------------------------

class Sigmoid(Layer):
    """σ(x) = 1/(1 + e^{−x}); σ' = σ(1 − σ)."""

    def forward(self, x: Array, train: bool = True) -> Array:
        self._y = special.expit(x)
        return self._y

    def backward(self, dy: Array) -> Array:
        y = self._y
        return dy * y * (1 - y)


class Tanh(Layer):
    """tanh(x); derivative 1 − tanh²."""

    def forward(self, x: Array, train: bool = True) -> Array:
        self._y = np.tanh(x)
        return self._y

    def backward(self, dy: Array) -> Array:
        if dy.dtype != self._y.dtype:
            return dy * (1 - self._y * self._y)
        g = self._y * self._y            # in y's memory layout (channels-last after a Conv2d)
        np.subtract(1, g, out=g)
        np.multiply(g, dy, out=g)        # = dy (1 − y²), one temporary
        return g


class ReLU(Layer):
    """max(x, 0); derivative 1{x > 0}."""

    def forward(self, x: Array, train: bool = True) -> Array:
        self._mask = x > 0
        return np.where(self._mask, x, 0).astype(x.dtype, copy=False)

    def backward(self, dy: Array) -> Array:
        return np.where(self._mask, dy, 0).astype(dy.dtype, copy=False)


class GELU(Layer):
    """Exact GELU x Φ(x) (torch default); derivative Φ(x) + x φ(x)."""

    def forward(self, x: Array, train: bool = True) -> Array:
        self._x = x
        self._cdf = 0.5 * (1 + special.erf(x * np.asarray(1 / math.sqrt(2), x.dtype)))
        return x * self._cdf

    def backward(self, dy: Array) -> Array:
        x = self._x
        pdf = np.exp(-0.5 * x * x) * np.asarray(1 / math.sqrt(2 * math.pi), x.dtype)
        return dy * (self._cdf + x * pdf)


class LogSoftmax(Layer):
    """log softmax over the last axis; backward ``dy − softmax · Σ dy``."""

    def forward(self, x: Array, train: bool = True) -> Array:
        m = x.max(axis=-1, keepdims=True)
        s = x - m
        y = s - np.log(np.exp(s).sum(axis=-1, keepdims=True))
        self._y = y
        return y

    def backward(self, dy: Array) -> Array:
        return dy - np.exp(self._y) * dy.sum(axis=-1, keepdims=True)


class LayerNorm(Layer):
    r"""Layer normalisation over the last axis: ``y = γ (x − μ)/√(σ² + ε) + β`` (digital SGD on γ, β)."""

    def __init__(self, n: int, eps: float = 1e-5, dtype: Any = np.float32) -> None:
        self.n = positive_int("n", n)
        self.eps = positive("eps", eps)
        self.gamma = np.ones(n, dtype=dtype)
        self.beta = np.zeros(n, dtype=dtype)

    def forward(self, x: Array, train: bool = True) -> Array:
        mu = x.mean(axis=-1, keepdims=True)
        xc = x - mu
        var = (xc * xc).mean(axis=-1, keepdims=True)
        rstd = 1 / np.sqrt(var + np.asarray(self.eps, x.dtype))
        xh = xc * rstd
        self._xh, self._rstd = xh, rstd
        return xh * self.gamma + self.beta

    def backward(self, dy: Array) -> Array:
        xh, rstd = self._xh, self._rstd
        red = tuple(range(dy.ndim - 1))
        self.grad_gamma = (dy * xh).sum(axis=red)
        self.grad_beta = dy.sum(axis=red)
        g = dy * self.gamma
        return rstd * (g - g.mean(axis=-1, keepdims=True) - xh * (g * xh).mean(axis=-1, keepdims=True))

    def step(self, lr: float, rng: Any = None) -> None:
        self.gamma -= np.asarray(lr, self.gamma.dtype) * self.grad_gamma
        self.beta -= np.asarray(lr, self.beta.dtype) * self.grad_beta

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {prefix + ".gamma": self.gamma, prefix + ".beta": self.beta}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        self.gamma = np.array(arrays[prefix + ".gamma"], dtype=self.gamma.dtype)
        self.beta = np.array(arrays[prefix + ".beta"], dtype=self.beta.dtype)

