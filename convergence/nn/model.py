r"""Sequential models and the papers' two architectures.

* :func:`fcn` — P1 §5.3 / P2 §6 FCN 784-256-128-10 with sigmoid activations, log-softmax output
  (train with :func:`~convergence.nn.losses.nll_loss`).
* :func:`lenet` — the LeNet-like CNN of P1/P2 (P1 experiments (docs/theory/theorems.md#p1-experiments)): conv5×5 16 →
  tanh → maxpool2 →
  conv5×5 32 → tanh → maxpool2 → tanh → flatten (512) → FC 128 → tanh → FC 10 → log-softmax.

Every weight layer gets its own weight optimizer from ``make_optimizer(name, shape)`` (so the
same recipe builds digital, Analog SGD, Tiki-Taka … networks) and the same analog keywords
(``io_forward``, ``io_backward``, ``omega``, ``learn_out_scale``; see
:class:`~convergence.nn.layers.WeightCore`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, positive_int
from convergence.nn.layers import (CORE_KEYWORDS, Conv2d, Flatten, Layer, Linear, LogSoftmax, MaxPool2d, Sigmoid, Tanh,
                                   _Weighted, check_keywords)
from convergence.nn.optim import WeightOptimizer
from convergence.rng import as_generator

Array = NDArray[Any]
OptimizerFactory = Callable[[str, tuple[int, int]], WeightOptimizer]

__all__ = ["Sequential", "fcn", "lenet", "OptimizerFactory"]


class Sequential(Layer):
    """Layers applied in order; ``step`` updates every layer with parameters."""

    def __init__(self, layers: Sequence[Layer], names: Sequence[str] | None = None) -> None:
        self.layers = list(layers)
        self.names = list(names) if names is not None else [f"{i}_{type(l).__name__.lower()}"
                                                            for i, l in enumerate(self.layers)]
        if len(self.names) != len(self.layers) or len(set(self.names)) != len(self.names):
            raise ConfigError("layer names must be unique and one per layer")

    def forward(self, x: Array, train: bool = True) -> Array:
        try:
            for layer in self.layers:
                x = layer.forward(x, train)
        except ConfigError as exc:          # name the layer that refused its input (no cost unless raised)
            raise _in_layer(exc, self.names[self.layers.index(layer)]) from None
        return x

    def backward(self, dy: Array, input_grad: bool = True) -> Array | None:
        """Back-propagate ``dy = ∂L/∂y``; returns ``∂L/∂x``.

        ``input_grad=False`` (training, where the input needs no gradient) lets the first layer,
        if it has weights, store only its weight gradients and skip its input-gradient MVM
        (see :meth:`~convergence.nn.layers.WeightCore.backward`); returns None then.
        """
        first = self.layers[0] if self.layers else None
        for layer in reversed(self.layers):
            if not input_grad and layer is first:
                if isinstance(layer, (_Weighted, Sequential)):
                    return layer.backward(dy, input_grad=False)
                layer.backward(dy)
                return None
            dy = layer.backward(dy)
        return None if not input_grad else dy

    def step(self, lr: float, rng: Any = None) -> None:
        for layer in self.layers:
            layer.step(lr, rng)

    def weighted(self) -> Iterator[tuple[str, _Weighted]]:
        """(name, layer) of every layer with a weight matrix."""
        for name, layer in zip(self.names, self.layers):
            if isinstance(layer, _Weighted):
                yield name, layer

    def state_arrays(self, prefix: str = "") -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, layer in zip(self.names, self.layers):
            out.update(layer.state_arrays(prefix + name))
        return out

    def load_state_arrays(self, arrays: dict[str, np.ndarray], prefix: str = "") -> None:
        for name, layer in zip(self.names, self.layers):
            layer.load_state_arrays(arrays, prefix + name)

    def as_dict(self) -> dict[str, Any]:
        return {"layer": "Sequential", "layers": [dict(name=n, **l.as_dict()) for n, l in zip(self.names, self.layers)]}


def _in_layer(exc: ConfigError, name: str) -> ConfigError:
    """``exc`` with the name of the layer it came from: ``layer fc1: …`` (nested models: ``layer block1.conv2: …``)."""
    path = (name,) + getattr(exc, "layer_path", ())
    base = getattr(exc, "base_message", str(exc))
    out = ConfigError(f"layer {'.'.join(path)}: {base}")
    out.layer_path, out.base_message = path, base  # type: ignore[attr-defined]
    return out


#: keywords the builders pass on to every weight layer (:class:`~convergence.nn.layers.WeightCore`'s, and ``bias``)
BUILDER_KEYWORDS = CORE_KEYWORDS + ("bias",)


def _opt(factory: OptimizerFactory | None, name: str, shape: tuple[int, int]) -> WeightOptimizer | None:
    return None if factory is None else factory(name, shape)


def fcn(make_optimizer: OptimizerFactory | None = None, *, sizes: Sequence[int] = (784, 256, 128, 10),
        seed: int | np.random.SeedSequence = 0, dtype: Any = np.float32, **analog: Any) -> Sequential:
    """The papers' FCN (sigmoid hidden layers, log-softmax output). ``analog``: WeightCore keywords.

    ``sizes``: the layer widths, inputs first and classes last (at least two, every one a positive integer).
    """
    check_keywords("fcn", analog, BUILDER_KEYWORDS)
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__len__"):
        raise ConfigError(f"sizes must be a sequence of layer widths, e.g. (784, 256, 128, 10) (got {sizes!r})")
    if len(sizes) < 2:
        raise ConfigError(f"sizes must list at least two layer widths, the inputs and the classes (got {sizes!r})")
    sizes = [positive_int(f"sizes[{i}]", s) for i, s in enumerate(sizes)]
    rng = as_generator(seed)
    layers: list[Layer] = []
    names: list[str] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        name = f"fc{i + 1}"
        layers.append(Linear(a, b, optimizer=_opt(make_optimizer, name, (b, a)), rng=rng, dtype=dtype, **analog))
        names.append(name)
        if i < len(sizes) - 2:
            layers.append(Sigmoid())
            names.append(f"sigmoid{i + 1}")
    layers.append(LogSoftmax())
    names.append("log_softmax")
    return Sequential(layers, names)


def lenet(make_optimizer: OptimizerFactory | None = None, *, channels: tuple[int, int] = (16, 32),
          hidden: int = 128, n_classes: int = 10, in_hw: int = 28, seed: int | np.random.SeedSequence = 0,
          dtype: Any = np.float32, **analog: Any) -> Sequential:
    """The papers' LeNet-like CNN on (B, 1, 28, 28) inputs. ``analog``: WeightCore keywords.

    ``in_hw``: the input height and width (at least 16: two 5×5 convolutions, each followed by a 2×2 pooling).
    """
    check_keywords("lenet", analog, BUILDER_KEYWORDS)
    if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or len(channels) != 2:
        raise ConfigError(f"channels must be two channel counts (conv1, conv2) (got {channels!r})")
    c1, c2 = (positive_int(f"channels[{i}]", c) for i, c in enumerate(channels))
    hidden, n_classes = positive_int("hidden", hidden), positive_int("n_classes", n_classes)
    try:
        in_hw = positive_int("in_hw", in_hw, minimum=16)
    except ConfigError:
        raise ConfigError(f"in_hw must be an integer >= 16: smaller inputs leave no pixel after two 5x5 "
                          f"convolutions, each followed by a 2x2 pooling (got {in_hw!r})") from None
    rng = as_generator(seed)
    hw = ((in_hw - 4) // 2 - 4) // 2
    flat = c2 * hw * hw

    def conv(name: str, cin: int, cout: int) -> Conv2d:
        return Conv2d(cin, cout, 5, optimizer=_opt(make_optimizer, name, (cout, cin * 25)), rng=rng, dtype=dtype,
                      **analog)

    def lin(name: str, a: int, b: int) -> Linear:
        return Linear(a, b, optimizer=_opt(make_optimizer, name, (b, a)), rng=rng, dtype=dtype, **analog)

    layers: list[Layer] = [conv("conv1", 1, c1), Tanh(), MaxPool2d(2), conv("conv2", c1, c2), Tanh(), MaxPool2d(2),
                           Tanh(), Flatten(), lin("fc1", flat, hidden), Tanh(), lin("fc2", hidden, n_classes),
                           LogSoftmax()]
    names = ["conv1", "tanh1", "pool1", "conv2", "tanh2", "pool2", "tanh3", "flatten", "fc1", "tanh4", "fc2",
             "log_softmax"]
    return Sequential(layers, names)
