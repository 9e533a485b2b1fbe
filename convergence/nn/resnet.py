r"""Small residual and depthwise-separable networks (ResNet- and MobileNet-style) for 2 cores.

The papers fine-tune ImageNet-pretrained ResNet-18/34/50 and MobileNet-V2/V3 on CIFAR with only the
last fully connected layer on analog devices (P1 Table 2; P2 Tables 1, 5 and 6). These are the same
building blocks at a size a laptop trains in seconds:

* :class:`Residual` — ``y = body(x) + shortcut(x)`` (identity, or a 1×1 convolution when the shape
  changes), the block of He et al.'s ResNet;
* :class:`DepthwiseConv2d` — one k×k filter per channel (groups = channels), which with a 1×1
  :class:`~convergence.nn.layers.Conv2d` after it forms MobileNet's depthwise-separable block;
* :class:`GlobalAvgPool` — the mean over the spatial axes, (B, C, H, W) → (B, C);
* :func:`resnet_small` and :func:`mobilenet_small` — the two backbones (no batch normalisation:
  two or three blocks train stably without it).

Weight layers take an optimizer from ``make_optimizer(name, shape)`` like :func:`~convergence.nn.model.lenet`;
the depthwise filters are digital (the papers keep every layer but the last one digital).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, non_negative, positive_int
from convergence.nn.layers import Conv2d, Layer, Linear, LogSoftmax, ReLU
from convergence.nn.model import OptimizerFactory, Sequential
from convergence.rng import as_generator

Array = NDArray[Any]

__all__ = ["Residual", "DepthwiseConv2d", "GlobalAvgPool", "resnet_small", "mobilenet_small"]


class Residual(Layer):
    r"""``y = body(x) + shortcut(x)``; ``∂L/∂x = body.backward(dy) + shortcut.backward(dy)``.

    Args:
        body: the residual branch (a :class:`~convergence.nn.model.Sequential`).
        shortcut: None for the identity, or a layer (e.g. a 1×1 strided convolution) mapping x to
            the body's output shape.
    """

    def __init__(self, body: Sequential, shortcut: Layer | None = None) -> None:
        self.body, self.shortcut = body, shortcut

    def forward(self, x: Array, train: bool = True) -> Array:
        y = self.body.forward(x, train)
        s = x if self.shortcut is None else self.shortcut.forward(x, train)
        if s.shape != y.shape:
            raise ConfigError(f"residual branch gives {y.shape} but the shortcut {s.shape}; add a projection")
        return y + s

    def backward(self, dy: Array) -> Array:
        dx = self.body.backward(dy)
        ds = dy if self.shortcut is None else self.shortcut.backward(dy)
        return dx + ds

    def step(self, lr: float, rng: Any = None) -> None:
        self.body.step(lr, rng)
        if self.shortcut is not None:
            self.shortcut.step(lr, rng)

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        out = self.body.state_arrays(prefix + ".body.")
        if self.shortcut is not None:
            out.update(self.shortcut.state_arrays(prefix + ".shortcut"))
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        self.body.load_state_arrays(arrays, prefix + ".body.")
        if self.shortcut is not None:
            self.shortcut.load_state_arrays(arrays, prefix + ".shortcut")

    def as_dict(self) -> dict[str, Any]:
        return {"layer": "Residual", "body": self.body.as_dict(),
                "shortcut": None if self.shortcut is None else self.shortcut.as_dict()}


class GlobalAvgPool(Layer):
    """Mean over the spatial axes: (B, C, H, W) → (B, C)."""

    def forward(self, x: Array, train: bool = True) -> Array:
        self._shape = x.shape
        return x.mean(axis=(2, 3))

    def backward(self, dy: Array) -> Array:
        b, c, h, w = self._shape
        return np.broadcast_to((dy / (h * w))[:, :, None, None], self._shape).copy()


class DepthwiseConv2d(Layer):
    r"""Depthwise k×k convolution: channel c is filtered by its own kernel ``w[c]`` (digital SGD).

    .. math:: y_{b,c,i,j} = \sum_{u,v} w_{c,u,v}\, x^{\mathrm{pad}}_{b,c,\,s i + u,\,s j + v} + b_c

    computed as k² shifted, strided views of the padded input (no patch matrix), the same sums as a
    grouped ``torch.nn.Conv2d(C, C, k, groups=C)``.
    """

    def __init__(self, channels: int, kernel: int = 3, *, stride: int = 1, padding: int = 1, rng: Any = 0,
                 dtype: Any = np.float32) -> None:
        self.c, self.k = positive_int("channels", channels), positive_int("kernel", kernel)
        self.stride, self.padding = positive_int("stride", stride), int(non_negative("padding", padding))
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        bound = 1.0 / np.sqrt(kernel * kernel)          # torch's default fan-in bound (fan_in = k² per group)
        self.w = rng.uniform(-bound, bound, (channels, kernel, kernel)).astype(dtype)
        self.b = rng.uniform(-bound, bound, channels).astype(dtype)
        self.grad_w: Array | None = None
        self.grad_b: Array | None = None

    def _views(self, xp: Array, ho: int, wo: int) -> list[tuple[int, int, Array]]:
        s = self.stride
        return [(u, v, xp[:, :, u:u + s * (ho - 1) + 1:s, v:v + s * (wo - 1) + 1:s])
                for u in range(self.k) for v in range(self.k)]

    def forward(self, x: Array, train: bool = True) -> Array:
        if x.ndim != 4 or x.shape[1] != self.c:
            raise ConfigError(f"DepthwiseConv2d expects (batch, {self.c}, H, W) (got {x.shape})")
        p = self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        ho = (xp.shape[2] - self.k) // self.stride + 1
        wo = (xp.shape[3] - self.k) // self.stride + 1
        y = np.zeros((x.shape[0], self.c, ho, wo), dtype=np.result_type(x, self.w))
        for u, v, view in self._views(xp, ho, wo):
            y += self.w[None, :, u, v, None, None] * view
        y += self.b[None, :, None, None]
        self._xp, self._x_shape, self._hw = xp, x.shape, (ho, wo)
        return y

    def backward(self, dy: Array) -> Array:
        ho, wo = self._hw
        dxp = np.zeros_like(self._xp, dtype=dy.dtype)
        gw = np.empty_like(self.w)
        s = self.stride
        for u, v, view in self._views(self._xp, ho, wo):
            gw[:, u, v] = np.einsum("bchw,bchw->c", dy, view)
            dxp[:, :, u:u + s * (ho - 1) + 1:s, v:v + s * (wo - 1) + 1:s] += self.w[None, :, u, v, None, None] * dy
        self.grad_w, self.grad_b = gw, dy.sum(axis=(0, 2, 3)).astype(self.b.dtype)
        p = self.padding
        return dxp[:, :, p:dxp.shape[2] - p, p:dxp.shape[3] - p] if p else dxp

    def step(self, lr: float, rng: Any = None) -> None:
        if self.grad_w is not None:
            self.w -= np.asarray(lr, self.w.dtype) * self.grad_w
            self.b -= np.asarray(lr, self.b.dtype) * self.grad_b

    def state_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        return {f"{prefix}.w": self.w.copy(), f"{prefix}.b": self.b.copy()}

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str) -> None:
        self.w[...] = arrays[f"{prefix}.w"]
        self.b[...] = arrays[f"{prefix}.b"]

    def as_dict(self) -> dict[str, Any]:
        return {"layer": "DepthwiseConv2d", "channels": self.c, "kernel": self.k, "stride": self.stride,
                "padding": self.padding}


def _opt(factory: OptimizerFactory | None, name: str, shape: tuple[int, int]) -> Any:
    return None if factory is None else factory(name, shape)


def _pooled(layers: list[Layer], names: list[str], cin: int, n_classes: int,
            make_optimizer: OptimizerFactory | None, rng: np.random.Generator, dtype: Any, head: bool) -> Sequential:
    """Append the global average pool and, with ``head``, the linear classifier and log-softmax."""
    layers, names = [*layers, GlobalAvgPool()], [*names, "pool"]
    if head:
        layers += [Linear(cin, n_classes, optimizer=_opt(make_optimizer, "fc", (n_classes, cin)), rng=rng,
                          dtype=dtype), LogSoftmax()]
        names += ["fc", "log_softmax"]
    return Sequential(layers, names)


def _widths(channels: Any, n_classes: Any, in_ch: Any) -> tuple[tuple[int, ...], int, int]:
    """The builders' widths, checked: at least one channel count, every width a positive integer."""
    if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or not len(channels):
        raise ConfigError(f"channels must be a non-empty sequence of channel counts, e.g. (8, 16) (got {channels!r})")
    return (tuple(positive_int(f"channels[{i}]", c) for i, c in enumerate(channels)),
            positive_int("n_classes", n_classes), positive_int("in_ch", in_ch))


def resnet_small(make_optimizer: OptimizerFactory | None = None, *, channels: tuple[int, ...] = (8, 16),
                 n_classes: int = 10, in_ch: int = 1, seed: int | np.random.SeedSequence = 0,
                 dtype: Any = np.float32, head: bool = True) -> Sequential:
    """A small ResNet: 3×3 stem (stride 2) → one basic block per width (the first of each later width
    strided, with a 1×1 projection shortcut) → global average pool → linear head → log-softmax.

    ``head=False`` stops after the pool (a feature extractor of ``channels[-1]`` features)."""
    channels, n_classes, in_ch = _widths(channels, n_classes, in_ch)
    rng = as_generator(seed)

    def conv(name: str, cin: int, cout: int, k: int, stride: int) -> Conv2d:
        return Conv2d(cin, cout, k, stride=stride, padding=k // 2,
                      optimizer=_opt(make_optimizer, name, (cout, cin * k * k)), rng=rng, dtype=dtype)

    c0 = channels[0]
    layers: list[Layer] = [conv("stem", in_ch, c0, 3, 2), ReLU()]
    names = ["stem", "relu0"]
    cin = c0
    for i, c in enumerate(channels):
        stride = 1 if i == 0 else 2
        body = Sequential([conv(f"b{i}.conv1", cin, c, 3, stride), ReLU(), conv(f"b{i}.conv2", c, c, 3, 1)],
                          ["conv1", "relu", "conv2"])
        short = None if (stride == 1 and cin == c) else conv(f"b{i}.proj", cin, c, 1, stride)
        layers += [Residual(body, short), ReLU()]
        names += [f"block{i}", f"relu{i + 1}"]
        cin = c
    return _pooled(layers, names, cin, n_classes, make_optimizer, rng, dtype, head)


def mobilenet_small(make_optimizer: OptimizerFactory | None = None, *, channels: tuple[int, ...] = (8, 16, 32),
                    n_classes: int = 10, in_ch: int = 1, seed: int | np.random.SeedSequence = 0,
                    dtype: Any = np.float32, head: bool = True) -> Sequential:
    """A small MobileNet-style network: 3×3 stem (stride 2) → depthwise-separable blocks (depthwise 3×3,
    ReLU, pointwise 1×1, ReLU; stride 2 from the second block on) → global average pool → head."""
    channels, n_classes, in_ch = _widths(channels, n_classes, in_ch)
    rng = as_generator(seed)
    c0 = channels[0]
    layers: list[Layer] = [Conv2d(in_ch, c0, 3, stride=2, padding=1,
                                  optimizer=_opt(make_optimizer, "stem", (c0, in_ch * 9)), rng=rng, dtype=dtype),
                           ReLU()]
    names = ["stem", "relu0"]
    cin = c0
    for i, c in enumerate(channels[1:]):
        layers += [DepthwiseConv2d(cin, 3, stride=2 if i > 0 else 1, padding=1, rng=rng, dtype=dtype), ReLU(),
                   Conv2d(cin, c, 1, optimizer=_opt(make_optimizer, f"pw{i}", (c, cin)), rng=rng, dtype=dtype),
                   ReLU()]
        names += [f"dw{i}", f"relu_dw{i}", f"pw{i}", f"relu_pw{i}"]
        cin = c
    return _pooled(layers, names, cin, n_classes, make_optimizer, rng, dtype, head)
