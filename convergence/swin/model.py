r"""A micro Swin transformer in NumPy with an explicit (manual) backward pass.

Functional style (docs/theory/transfer-study.md#micro-swin): ``init(cfg, rng) -> params`` is a flat ``dict[str,
ndarray]`` keyed
by layer path; :func:`forward` returns the logits and a cache; :func:`backward` returns the
gradients of every non-matrix parameter **and**, for every linear layer, the pair ``(x, d)`` of its
input rows and output gradients (``dW = dᵀx``), because analog optimizers consume ``(x, d)`` (a
crossbar tile is updated by the outer products, not by a digital ``dW``). :func:`weight_grads`
turns the pairs into ``dW``. No object holds mutable weights.

Architecture (Liu et al., ICCV 2021, arXiv 2103.14030, §3; docs/theory/transfer-study.md#micro-swin):

* patch embedding: non-overlapping p×p patches → Linear(p²·C_in → C) → LayerNorm;
* per stage, blocks alternate W-MSA and SW-MSA (pre-norm residuals)

  .. math:: \hat z = \mathrm{(S)W\text{-}MSA}(\mathrm{LN}(z)) + z,\qquad
            z' = \mathrm{MLP}(\mathrm{LN}(\hat z)) + \hat z,

  attention inside M×M windows, ``softmax(q kᵀ/√d + B + mask) v`` with the relative position bias
  ``B[i, j] = B̂[idx(i, j)]``, ``idx = (Δr + M − 1)(2M − 1) + (Δc + M − 1)``; the shifted block
  rolls the map by ``−⌊M/2⌋`` and masks (−100) token pairs from different original regions; when
  the map is not larger than the window, the window is the map and there is no shift;
* MLP = Linear(C → rC) → GELU (exact, erf) → Linear(rC → C);
* patch merging between stages: concat of the 2×2 neighbours (x[0::2,0::2], x[1::2,0::2],
  x[0::2,1::2], x[1::2,1::2]) → LayerNorm(4C) → Linear(4C → 2C, no bias);
* head: LayerNorm → mean over tokens → Linear(C_last → classes).

Shapes: images ``(B, C_in, H, W)``; token maps ``(B, h, w, C)``; linear layers act on rows
``(N, in)``. Compute follows the dtype of the parameters (float32 for training, float64 for the
finite-difference tests).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from convergence.nn._fastmath import gelu, gelu_grad, run_tasks
from convergence._validate import ConfigError, positive_int
from convergence.nn._threads import blas_threads

Array = NDArray[Any]
Params = dict[str, Array]

__all__ = ["SwinConfig", "init", "forward", "backward", "loss_and_grads", "weight_grads", "linear_names",
           "default_analog", "cross_entropy", "predict", "relative_position_index", "shift_mask",
           "window_partition", "window_reverse", "n_params", "sharded_loss_and_grads"]

MASK_VALUE = -100.0


@dataclass(frozen=True)
class SwinConfig:
    """Hyperparameters of the micro Swin (hashable; ``key()`` is a stable digest for caches)."""

    img: int = 32
    """Input side H = W (images are square)."""
    in_ch: int = 1
    patch: int = 4
    """Patch side p."""
    embed: int = 32
    """Embedding width C of stage 1 (doubles at each merge)."""
    depths: tuple[int, ...] = (2, 2)
    heads: tuple[int, ...] = (2, 4)
    window: int = 4
    """Window side M."""
    mlp_ratio: int = 4
    n_classes: int = 5
    ln_eps: float = 1e-5
    init_std: float = 0.02
    """Std of the truncated-normal init of linear weights and the bias table (official Swin)."""

    def __post_init__(self) -> None:
        for name in ("img", "in_ch", "patch", "embed", "window", "mlp_ratio", "n_classes"):
            positive_int(name, getattr(self, name))
        object.__setattr__(self, "depths", tuple(int(d) for d in self.depths))
        object.__setattr__(self, "heads", tuple(int(h) for h in self.heads))
        if len(self.depths) != len(self.heads) or not self.depths:
            raise ConfigError("depths and heads must be non-empty and of equal length")
        if self.img % self.patch:
            raise ConfigError(f"img ({self.img}) must be a multiple of patch ({self.patch})")
        res = self.img // self.patch
        for s, (d, h) in enumerate(zip(self.depths, self.heads)):
            c = self.embed * 2 ** s
            if d < 1 or h < 1 or c % h:
                raise ConfigError(f"stage {s}: depth >= 1, heads >= 1 and width {c} divisible by heads required")
            win = min(self.window, res)
            if res % win:
                raise ConfigError(f"stage {s}: resolution {res} not divisible by window {win}")
            if s < len(self.depths) - 1 and res % 2:
                raise ConfigError(f"stage {s}: resolution {res} must be even for patch merging")
            res //= 2 if s < len(self.depths) - 1 else 1

    def stage_geometry(self, s: int) -> tuple[int, int, int, int]:
        """(resolution, width C, window M, shift of the odd blocks) of stage ``s``."""
        res = (self.img // self.patch) // 2 ** s
        win = min(self.window, res)
        shift = 0 if res <= self.window else self.window // 2
        return res, self.embed * 2 ** s, win, shift

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["depths"], d["heads"] = list(self.depths), list(self.heads)
        return d

    def key(self) -> str:
        return hashlib.sha256(json.dumps(self.as_dict(), sort_keys=True).encode()).hexdigest()[:12]


# -- static index tables ---------------------------------------------------------------------

def relative_position_index(m: int) -> Array:
    """(M², M²) int index into the (2M − 1)² bias table: ``(Δr + M − 1)(2M − 1) + (Δc + M − 1)``."""
    r, c = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
    r, c = r.ravel(), c.ravel()
    dr = r[:, None] - r[None, :]
    dc = c[:, None] - c[None, :]
    return (dr + m - 1) * (2 * m - 1) + (dc + m - 1)


def window_partition(x: Array, m: int) -> Array:
    """(B, h, w, C) → (B·(h/M)·(w/M), M², C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.reshape(b, h // m, m, w // m, m, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b * (h // m) * (w // m), m * m, c)


def window_reverse(xw: Array, m: int, b: int, h: int, w: int) -> Array:
    """Inverse of :func:`window_partition`."""
    c = xw.shape[-1]
    x = xw.reshape(b, h // m, w // m, m, m, c).transpose(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def shift_mask(res: int, m: int, shift: int) -> Array:
    """(nW, M², M²) additive mask of the shifted block: −100 between tokens of different regions."""
    lab = np.zeros((1, res, res, 1))
    cnt = 0
    sl = (slice(0, -m), slice(-m, -shift), slice(-shift, None))
    for a in sl:
        for b in sl:
            lab[:, a, b, :] = cnt
            cnt += 1
    win = window_partition(lab, m)[..., 0]                       # (nW, M²)
    diff = win[:, :, None] != win[:, None, :]
    return np.where(diff, MASK_VALUE, 0.0)


# -- parameters ------------------------------------------------------------------------------

def _trunc_normal(rng: np.random.Generator, shape: tuple[int, ...], std: float) -> Array:
    x = rng.standard_normal(shape)
    bad = np.abs(x) > 2
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > 2
    return x * std


def _block_prefix(s: int, j: int) -> str:
    return f"s{s}.b{j}"


def init(cfg: SwinConfig, rng: Any, dtype: Any = np.float32) -> Params:
    """Initial parameters: linear weights truncated-normal(std ``init_std``), biases 0, LN (1, 0)."""
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    p: dict[str, Array] = {}
    std = cfg.init_std

    def lin(name: str, n_in: int, n_out: int, bias: bool = True) -> None:
        p[name + ".w"] = _trunc_normal(rng, (n_out, n_in), std)
        if bias:
            p[name + ".b"] = np.zeros(n_out)

    def ln(name: str, n: int) -> None:
        p[name + ".g"] = np.ones(n)
        p[name + ".b"] = np.zeros(n)

    lin("embed", cfg.in_ch * cfg.patch ** 2, cfg.embed)
    ln("embed_norm", cfg.embed)
    for s, (depth, heads) in enumerate(zip(cfg.depths, cfg.heads)):
        _, c, m, _ = cfg.stage_geometry(s)
        for j in range(depth):
            pre = _block_prefix(s, j)
            ln(pre + ".norm1", c)
            lin(pre + ".attn.qkv", c, 3 * c)
            p[pre + ".attn.rpb"] = _trunc_normal(rng, ((2 * m - 1) ** 2, heads), std)
            lin(pre + ".attn.proj", c, c)
            ln(pre + ".norm2", c)
            lin(pre + ".mlp.fc1", c, cfg.mlp_ratio * c)
            lin(pre + ".mlp.fc2", cfg.mlp_ratio * c, c)
        if s < len(cfg.depths) - 1:
            ln(f"s{s}.merge.norm", 4 * c)
            lin(f"s{s}.merge.red", 4 * c, 2 * c, bias=False)
    c_last = cfg.embed * 2 ** (len(cfg.depths) - 1)
    ln("norm", c_last)
    lin("head", c_last, cfg.n_classes)
    return {k: np.asarray(v, dtype=dtype) for k, v in p.items()}


def n_params(params: Params) -> int:
    return int(sum(v.size for v in params.values()))


def linear_names(params: Params) -> list[str]:
    """Names (without ``.w``) of every linear layer (each one crossbar tile)."""
    return [k[:-2] for k in params if k.endswith(".w") and params[k].ndim == 2]


def default_analog(params: Params) -> list[str]:
    """The default analog subset: all attention (qkv, proj) and MLP (fc1, fc2) projections plus the head."""
    return [n for n in linear_names(params) if n == "head" or ".attn." in n or ".mlp." in n]


# -- primitive layers (forward returns (y, cache); backward returns dx) ----------------------------

def _row_mean(a: Array) -> Array:
    """Mean over the last axis, keepdims; a BLAS matrix–vector product (a NumPy reduction over a short
    contiguous axis costs ~1 ns per element, the product ~0.1 ns)."""
    c = a.shape[-1]
    flat = a.reshape(-1, c) @ np.full(c, 1.0 / c, dtype=a.dtype)
    return flat.reshape(a.shape[:-1] + (1,))


def _row_sum(a: Array) -> Array:
    """Sum over the last axis, keepdims (matrix–vector product, see :func:`_row_mean`)."""
    c = a.shape[-1]
    return (a.reshape(-1, c) @ np.ones(c, dtype=a.dtype)).reshape(a.shape[:-1] + (1,))


def _row_max(a: Array) -> Array:
    """Max over the last axis, keepdims, by pairwise halving (``np.maximum`` of the two halves, SIMD
    over the whole array) — a NumPy max-reduction over a 16-long contiguous axis is ~10x slower."""
    while a.shape[-1] > 1:
        n = a.shape[-1]
        h = n // 2
        m = np.maximum(a[..., :h], a[..., h:2 * h])
        if n % 2:
            m[..., :1] = np.maximum(m[..., :1], a[..., 2 * h:])
        a = m
    return a


def _col_sum(a: Array) -> Array:
    """Sum over every axis but the last (the gradient of a per-channel parameter)."""
    c = a.shape[-1]
    return np.ones(a.size // c, dtype=a.dtype) @ a.reshape(-1, c)


def _ln_fwd(x: Array, g: Array, b: Array, eps: float) -> tuple[Array, tuple[Array, Array]]:
    xc = x - _row_mean(x)
    rstd = _row_mean(xc * xc)
    rstd += np.asarray(eps, x.dtype)
    np.sqrt(rstd, out=rstd)
    np.reciprocal(rstd, out=rstd)
    xh = xc
    xh *= rstd
    y = xh * g
    y += b
    return y, (xh, rstd)


def _ln_bwd(dy: Array, g: Array, cache: tuple[Array, Array], grads: Params, name: str) -> Array:
    r"""LayerNorm backward: ``dx = rstd (ĝ − mean(ĝ) − x̂ mean(ĝ x̂))`` with ``ĝ = γ ⊙ dy``."""
    xh, rstd = cache
    gh = dy * g
    grads[name + ".g"] = _col_sum(dy * xh)
    grads[name + ".b"] = _col_sum(dy)
    dx = xh * _row_mean(gh * xh)
    dx += _row_mean(gh)
    np.subtract(gh, dx, out=dx)
    dx *= rstd
    return dx


def _gelu_fwd(x: Array) -> tuple[Array, tuple[Array, Array]]:
    """GELU(x) = x Φ(x) (exact erf form; float32 via :func:`convergence.nn._fastmath.normal_cdf`)."""
    return gelu(x)


def _gelu_bwd(dy: Array, x: Array, cache: tuple[Array, Array]) -> Array:
    """GELU' = Φ(x) + x φ(x), φ(x) = exp(−x²/2)/√(2π) (both cached by the forward)."""
    return gelu_grad(dy, x, cache)


def _linear(x: Array, params: Params, name: str) -> Array:
    """``x Wᵀ + b``; a params mapping with an ``mvm`` dict computes the layers it names by ``mvm[name](x, W)``
    (an analog layer's forward MVM through its periphery, :class:`convergence.swin.analog.PeripheryParams`)."""
    hook = getattr(params, "mvm", None)
    y = hook[name](x, params[name + ".w"]) if hook and name in hook else x @ params[name + ".w"].T
    b = params.get(name + ".b")
    if b is not None:
        y += b
    return y


def _linear_bwd(dy: Array, x: Array, params: Params, name: str, grads: Params, io: dict[str, tuple[Array, Array]],
                need_dx: bool = True) -> Array | None:
    io[name] = (x, dy)
    if name + ".b" in params:
        grads[name + ".b"] = dy.sum(axis=0)
    return dy @ params[name + ".w"] if need_dx else None


# -- attention -----------------------------------------------------------------------------------

class _Geom:
    """Static tables per (resolution, window, shift): relative index and mask (built once, cached)."""

    _cache: dict[tuple[int, int, int], tuple[Array, Array | None]] = {}

    @classmethod
    def get(cls, res: int, m: int, shift: int) -> tuple[Array, Array | None]:
        key = (res, m, shift)
        if key not in cls._cache:
            cls._cache[key] = (relative_position_index(m), shift_mask(res, m, shift) if shift else None)
        return cls._cache[key]


def _attn_fwd(h: Array, params: Params, pre: str, heads: int, m: int, shift: int) -> tuple[Array, dict[str, Any]]:
    """(S)W-MSA on the normalised map h (B, r, r, C) → (B, r, r, C)."""
    b, r, _, c = h.shape
    idx, mask = _Geom.get(r, m, shift)
    if shift:
        h = np.roll(h, (-shift, -shift), axis=(1, 2))
    xw = window_partition(h, m)                                       # (Bn, T, C)
    bn, t, _ = xw.shape
    x2 = xw.reshape(bn * t, c)
    qkv = _linear(x2, params, pre + ".qkv")                           # (Bn T, 3C)
    hd = c // heads
    qkv = qkv.reshape(bn, t, 3, heads, hd).transpose(2, 0, 3, 1, 4)  # (3, Bn, nh, T, hd)
    scale = np.asarray(hd ** -0.5, h.dtype)
    q, k, v = qkv[0] * scale, qkv[1], qkv[2]
    att = q @ k.transpose(0, 1, 3, 2)                                # (Bn, nh, T, T)
    rpb = params[pre + ".rpb"]
    att += rpb[idx].transpose(2, 0, 1)                               # (nh, T, T)
    if mask is not None:
        nw = mask.shape[0]
        att = att.reshape(bn // nw, nw, heads, t, t)
        att += mask.astype(h.dtype)[None, :, None]
        att = att.reshape(bn, heads, t, t)
    att -= _row_max(att)
    np.exp(att, out=att)
    att /= _row_sum(att)
    o = att @ v                                                      # (Bn, nh, T, hd)
    o2 = o.transpose(0, 2, 1, 3).reshape(bn * t, c)
    y = _linear(o2, params, pre + ".proj")
    y = window_reverse(y.reshape(bn, t, c), m, b, r, r)
    if shift:
        y = np.roll(y, (shift, shift), axis=(1, 2))
    return y, {"x2": x2, "q": q, "k": k, "v": v, "att": att, "o2": o2, "shape": (b, r, c, bn, t, hd)}


def _attn_bwd(dy: Array, params: Params, pre: str, heads: int, m: int, shift: int, cache: dict[str, Any],
              grads: Params, io: dict[str, tuple[Array, Array]]) -> Array:
    b, r, c, bn, t, hd = cache["shape"]
    idx, _ = _Geom.get(r, m, shift)
    if shift:
        dy = np.roll(dy, (-shift, -shift), axis=(1, 2))
    dy2 = window_partition(dy, m).reshape(bn * t, c)
    do2 = _linear_bwd(dy2, cache["o2"], params, pre + ".proj", grads, io)
    do = do2.reshape(bn, t, heads, hd).transpose(0, 2, 1, 3)         # (Bn, nh, T, hd)
    att, q, k, v = cache["att"], cache["q"], cache["k"], cache["v"]
    datt = do @ v.transpose(0, 1, 3, 2)                               # (Bn, nh, T, T)
    dv = att.transpose(0, 1, 3, 2) @ do
    # softmax backward: dS = P ⊙ (dP − Σ_j P dP)
    ds = datt
    ds -= _row_sum(datt * att)
    ds *= att
    # relative position bias: scatter-add of Σ_windows dS into the table
    dbias = ds.sum(axis=0).transpose(1, 2, 0).reshape(t * t, heads)  # (T², nh)
    table = np.zeros_like(params[pre + ".rpb"])
    np.add.at(table, idx.ravel(), dbias)
    grads[pre + ".rpb"] = table
    scale = np.asarray(hd ** -0.5, dy.dtype)
    dq = (ds @ k) * scale
    dk = ds.transpose(0, 1, 3, 2) @ q                                 # q already scaled
    dqkv = np.stack([dq, dk, dv]).transpose(1, 3, 0, 2, 4).reshape(bn * t, 3 * c)
    dx2 = _linear_bwd(dqkv, cache["x2"], params, pre + ".qkv", grads, io)
    dh = window_reverse(dx2.reshape(bn, t, c), m, b, r, r)
    if shift:
        dh = np.roll(dh, (shift, shift), axis=(1, 2))
    return dh


# -- blocks ----------------------------------------------------------------------------------

def _block_fwd(z: Array, params: Params, pre: str, heads: int, m: int, shift: int, eps: float
               ) -> tuple[Array, dict[str, Any]]:
    b, r, _, c = z.shape
    h, c1 = _ln_fwd(z, params[pre + ".norm1.g"], params[pre + ".norm1.b"], eps)
    a, ca = _attn_fwd(h, params, pre + ".attn", heads, m, shift)
    z = z + a
    z2 = z.reshape(b * r * r, c)
    h2, c2 = _ln_fwd(z2, params[pre + ".norm2.g"], params[pre + ".norm2.b"], eps)
    u = _linear(h2, params, pre + ".mlp.fc1")
    g, cg = _gelu_fwd(u)
    y = _linear(g, params, pre + ".mlp.fc2")
    out = (z2 + y).reshape(b, r, r, c)
    return out, {"c1": c1, "ca": ca, "c2": c2, "h2": h2, "u": u, "g": g, "cg": cg}


def _block_bwd(dz: Array, params: Params, pre: str, heads: int, m: int, shift: int, cache: dict[str, Any],
               grads: Params, io: dict[str, tuple[Array, Array]]) -> Array:
    b, r, _, c = dz.shape
    dz2 = dz.reshape(b * r * r, c)
    dg = _linear_bwd(dz2, cache["g"], params, pre + ".mlp.fc2", grads, io)
    du = _gelu_bwd(dg, cache["u"], cache["cg"])
    dh2 = _linear_bwd(du, cache["h2"], params, pre + ".mlp.fc1", grads, io)
    dz2 = dz2 + _ln_bwd(dh2, params[pre + ".norm2.g"], cache["c2"], grads, pre + ".norm2")
    dz = dz2.reshape(b, r, r, c)
    dh = _attn_bwd(dz, params, pre + ".attn", heads, m, shift, cache["ca"], grads, io)
    return dz + _ln_bwd(dh, params[pre + ".norm1.g"], cache["c1"], grads, pre + ".norm1")


def _merge_fwd(z: Array, params: Params, pre: str, eps: float) -> tuple[Array, tuple[Any, ...]]:
    b, r, _, c = z.shape
    cat = np.concatenate([z[:, 0::2, 0::2], z[:, 1::2, 0::2], z[:, 0::2, 1::2], z[:, 1::2, 1::2]], axis=-1)
    cat2 = cat.reshape(-1, 4 * c)
    h, cn = _ln_fwd(cat2, params[pre + ".norm.g"], params[pre + ".norm.b"], eps)
    y = _linear(h, params, pre + ".red")
    return y.reshape(b, r // 2, r // 2, 2 * c), (cn, h, z.shape)


def _merge_bwd(dy: Array, params: Params, pre: str, cache: tuple[Any, ...], grads: Params,
               io: dict[str, tuple[Array, Array]]) -> Array:
    cn, h, shape = cache
    b, r, _, c = shape
    dh = _linear_bwd(dy.reshape(-1, 2 * c), h, params, pre + ".red", grads, io)
    dcat = _ln_bwd(dh, params[pre + ".norm.g"], cn, grads, pre + ".norm").reshape(b, r // 2, r // 2, 4 * c)
    dz = np.empty(shape, dtype=dy.dtype)
    dz[:, 0::2, 0::2] = dcat[..., 0:c]
    dz[:, 1::2, 0::2] = dcat[..., c:2 * c]
    dz[:, 0::2, 1::2] = dcat[..., 2 * c:3 * c]
    dz[:, 1::2, 1::2] = dcat[..., 3 * c:]
    return dz


def _patchify(x: Array, p: int) -> Array:
    b, ch, hh, ww = x.shape
    return x.reshape(b, ch, hh // p, p, ww // p, p).transpose(0, 2, 4, 1, 3, 5).reshape(b * (hh // p) * (ww // p),
                                                                                        ch * p * p)


def _unpatchify(cols: Array, shape: tuple[int, ...], p: int) -> Array:
    b, ch, hh, ww = shape
    return cols.reshape(b, hh // p, ww // p, ch, p, p).transpose(0, 3, 1, 4, 2, 5).reshape(shape)


# -- the network -----------------------------------------------------------------------------------

def forward(params: Params, x: Array, cfg: SwinConfig) -> tuple[Array, dict[str, Any]]:
    """Logits (B, classes) of images x (B, C_in, H, W) and the cache for :func:`backward`."""
    if x.ndim != 4 or x.shape[1:] != (cfg.in_ch, cfg.img, cfg.img):
        raise ConfigError(f"images must have shape (batch, {cfg.in_ch}, {cfg.img}, {cfg.img}) (got {x.shape})")
    dtype = params["head.w"].dtype
    x = np.asarray(x, dtype=dtype)
    b = x.shape[0]
    cache: dict[str, Any] = {"x_shape": x.shape}
    cols = _patchify(x, cfg.patch)
    cache["cols"] = cols
    e = _linear(cols, params, "embed")
    z, cache["embed_norm"] = _ln_fwd(e, params["embed_norm.g"], params["embed_norm.b"], cfg.ln_eps)
    res0 = cfg.img // cfg.patch
    z = z.reshape(b, res0, res0, cfg.embed)
    for s, (depth, heads) in enumerate(zip(cfg.depths, cfg.heads)):
        _, _, m, shift = cfg.stage_geometry(s)
        for j in range(depth):
            z, cache[f"s{s}.b{j}"] = _block_fwd(z, params, _block_prefix(s, j), heads, m, shift if j % 2 else 0,
                                               cfg.ln_eps)
        if s < len(cfg.depths) - 1:
            z, cache[f"s{s}.merge"] = _merge_fwd(z, params, f"s{s}.merge", cfg.ln_eps)
    bb, r, _, c = z.shape
    zn, cache["norm"] = _ln_fwd(z.reshape(bb, r * r, c), params["norm.g"], params["norm.b"], cfg.ln_eps)
    pooled = zn.mean(axis=1)
    cache["pooled"], cache["tokens"] = pooled, r * r
    return _linear(pooled, params, "head"), cache


def backward(params: Params, cache: dict[str, Any], dlogits: Array, cfg: SwinConfig, *, input_grad: bool = False
             ) -> tuple[Params, dict[str, tuple[Array, Array]], Array | None]:
    """Gradients of everything but the weight matrices, the ``(x, d)`` pairs of every linear layer, dx.

    Returns ``(grads, io, dx)``: ``grads`` maps bias/LayerNorm/bias-table names to ∂L/∂θ; ``io[name]
    = (x, d)`` with ``∂L/∂W = dᵀx``; ``dx`` the input gradient (only with ``input_grad``).
    """
    grads: Params = {}
    io: dict[str, tuple[Array, Array]] = {}
    dtype = params["head.w"].dtype
    dlogits = np.asarray(dlogits, dtype=dtype)
    dpooled = _linear_bwd(dlogits, cache["pooled"], params, "head", grads, io)
    t = cache["tokens"]
    b = dpooled.shape[0]
    dzn = np.broadcast_to((dpooled / np.asarray(t, dtype))[:, None, :], (b, t, dpooled.shape[1]))
    dz = _ln_bwd(dzn, params["norm.g"], cache["norm"], grads, "norm")
    r = int(round(math.sqrt(t)))
    dz = dz.reshape(b, r, r, -1)
    for s in reversed(range(len(cfg.depths))):
        _, _, m, shift = cfg.stage_geometry(s)
        if s < len(cfg.depths) - 1:
            dz = _merge_bwd(dz, params, f"s{s}.merge", cache[f"s{s}.merge"], grads, io)
        for j in reversed(range(cfg.depths[s])):
            dz = _block_bwd(dz, params, _block_prefix(s, j), cfg.heads[s], m, shift if j % 2 else 0,
                            cache[f"s{s}.b{j}"], grads, io)
    de = _ln_bwd(dz.reshape(-1, cfg.embed), params["embed_norm.g"], cache["embed_norm"], grads, "embed_norm")
    dcols = _linear_bwd(de, cache["cols"], params, "embed", grads, io, need_dx=input_grad)
    dx = _unpatchify(dcols, cache["x_shape"], cfg.patch) if input_grad else None
    return grads, io, dx


def weight_grads(io: dict[str, tuple[Array, Array]]) -> Params:
    """``∂L/∂W = dᵀx`` for every linear layer of :func:`backward`'s ``io``."""
    return {name + ".w": d.T @ x for name, (x, d) in io.items()}


def cross_entropy(logits: Array, y: Array) -> tuple[float, Array]:
    """Mean cross-entropy and its gradient w.r.t. the logits (``(softmax − onehot)/B``)."""
    z = logits - logits.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1, keepdims=True))
    logp = z - lse
    b = len(y)
    loss = float(-logp[np.arange(b), y].mean())
    d = np.exp(logp)
    d[np.arange(b), y] -= 1.0
    return loss, d / np.asarray(b, logits.dtype)


def loss_and_grads(params: Params, x: Array, y: Array, cfg: SwinConfig) -> tuple[float, Params]:
    """Loss and the full gradient dict (weight matrices included) — the reference for tests."""
    logits, cache = forward(params, x, cfg)
    loss, dl = cross_entropy(logits, y)
    grads, io, _ = backward(params, cache, dl, cfg)
    grads.update(weight_grads(io))
    return loss, grads


def sharded_loss_and_grads(params: Params, x: Array, y: Array, cfg: SwinConfig, *, keep_io: Any = (),
                           shards: int = 2
                           ) -> tuple[float, Params, dict[str, tuple[tuple[Array, ...], tuple[Array, ...]]]]:
    """Data-parallel forward + backward: the batch is cut into ``shards`` contiguous parts whose
    forward and backward passes run on worker threads (:func:`convergence.nn._fastmath.run_tasks`, BLAS
    single-threaded inside), with the loss normalised over the whole batch.

    Every layer acts on images independently, so the gradient is the sum of the shards' gradients
    (summed in shard order: the result depends on ``shards`` but not on the number of threads).
    Returns ``(loss, grads, io)``: ``grads`` holds every non-matrix gradient and ``∂L/∂W = Σ dᵀx``
    for each linear layer **not** in ``keep_io``; ``io[name] = (x parts, d parts)`` for the layers in
    ``keep_io`` (analog tiles consume the rows, not ``∂L/∂W``).
    """
    positive_int("shards", shards)
    b = len(x)
    k = max(1, min(int(shards), b))
    edges = [b * i // k for i in range(k + 1)]
    parts = [slice(edges[i], edges[i + 1]) for i in range(k)]
    keep = frozenset(keep_io)

    def back(i: int, fwd_cache: dict[str, Any], dl: Array) -> tuple[Params, dict[str, tuple[Array, Array]]]:
        g, io_i, _ = backward(params, fwd_cache, dl, cfg)
        for name in [n for n in io_i if n not in keep]:
            xx, dd = io_i.pop(name)
            g[name + ".w"] = dd.T @ xx
        return g, io_i

    # a params mapping with per-shard MVM streams (for_shard) gives each shard its own, drawn here in order
    per_shard = getattr(params, "for_shard", None)
    shard_params = [per_shard(i) for i in range(k)] if per_shard is not None else [params] * k
    with blas_threads(1):
        fw = run_tasks([lambda i=i, sl=sl: forward(shard_params[i], x[sl], cfg) for i, sl in enumerate(parts)])
        loss, dl = cross_entropy(np.concatenate([f[0] for f in fw]), y)
        bw = run_tasks([lambda i=i: back(i, fw[i][1], dl[parts[i]]) for i in range(k)])
    grads = dict(bw[0][0])
    for g, _ in bw[1:]:
        for name, v in g.items():
            grads[name] = grads[name] + v
    io = {name: (tuple(r[1][name][0] for r in bw), tuple(r[1][name][1] for r in bw)) for name in bw[0][1]}
    return loss, grads, io


def predict(params: Params, x: Array, cfg: SwinConfig, batch: int = 256) -> Array:
    """Predicted classes of x, in chunks of ``batch``."""
    out = [forward(params, x[i:i + batch], cfg)[0].argmax(axis=1) for i in range(0, len(x), batch)]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


_unused = field
