r"""Classification losses with their gradients (mean over the batch, like ``torch.nn`` defaults).

* :func:`nll_loss` — ``L = −(1/B) Σ_b logp[b, y_b]`` on log-probabilities (``F.nll_loss``);
  gradient ``−onehot/B``.
* :func:`cross_entropy` — softmax cross-entropy on logits = ``nll_loss(log_softmax(z))``;
  gradient ``(softmax(z) − onehot)/B``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError

Array = NDArray[Any]

__all__ = ["log_softmax", "nll_loss", "cross_entropy", "accuracy"]


def _check_labels(z: Array, y: Array) -> Array:
    """``y`` as int64 class indices for scores ``z`` (batch, classes), else ConfigError.

    Labels are integers (any integer or boolean dtype); float labels are accepted only when every one is a whole
    number (as :func:`~convergence.nn.training.evaluate` compares them with the arg-max exactly), never
    truncated. The batch must not be empty (the loss is a mean over it).
    """
    y = np.asarray(y)
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ConfigError(f"expected scores (batch, classes) and labels (batch,) (got {z.shape} and {y.shape})")
    if y.shape[0] == 0:
        raise ConfigError("the loss needs a batch of at least one sample (got an empty batch)")
    if y.dtype.kind not in "iub":                 # integer labels: a dtype check only
        if y.dtype.kind != "f":
            raise ConfigError(f"labels must be integer class indices (got dtype {y.dtype})")
        if not np.array_equal(y, np.trunc(y)):    # NaN is never equal: refused too
            raise ConfigError("labels must be integer class indices (got fractional or NaN float labels)")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        raise ConfigError(f"labels must lie in [0, {z.shape[1]}) (got min {y.min()}, max {y.max()})")
    return y.astype(np.int64, copy=False)


def log_softmax(z: Array) -> Array:
    """Numerically stable log softmax over the last axis."""
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def nll_loss(logp: Array, y: Array) -> tuple[float, Array]:
    """Mean negative log-likelihood and its gradient w.r.t. ``logp``."""
    y = _check_labels(logp, y)
    B = logp.shape[0]
    rows = np.arange(B)
    loss = -float(logp[rows, y].sum()) / B
    g = np.zeros_like(logp)
    g[rows, y] = -1.0 / B
    return loss, g


def cross_entropy(z: Array, y: Array) -> tuple[float, Array]:
    """Mean softmax cross-entropy of logits ``z`` and its gradient ``(softmax − onehot)/B``."""
    y = _check_labels(z, y)
    B = z.shape[0]
    logp = log_softmax(z)
    rows = np.arange(B)
    loss = -float(logp[rows, y].sum()) / B
    g = np.exp(logp)
    g[rows, y] -= 1.0
    g /= B
    return loss, g


def accuracy(z: Array, y: Array) -> float:
    """Fraction of rows whose arg-max equals the label."""
    return float(np.mean(np.argmax(z, axis=-1) == np.asarray(y)))
