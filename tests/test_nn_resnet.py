"""Residual, depthwise and pooling layers: gradients against central finite differences (float64)."""
from __future__ import annotations

import numpy as np
import pytest

from convergence._validate import ConfigError
from convergence.nn.layers import Conv2d, ReLU, Tanh
from convergence.nn.model import Sequential
from convergence.nn.resnet import DepthwiseConv2d, GlobalAvgPool, Residual, mobilenet_small, resnet_small


def _fd_input_grad(layer, x, r, eps=1e-6):
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (np.sum(layer.forward(xp) * r) - np.sum(layer.forward(xm) * r)) / (2 * eps)
    return g


@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 1), (1, 0)])
def test_depthwise_conv_gradients_match_finite_differences(stride, padding):
    rng = np.random.default_rng(0)
    layer = DepthwiseConv2d(3, 3, stride=stride, padding=padding, rng=1, dtype=np.float64)
    x = rng.standard_normal((2, 3, 5, 5))
    y = layer.forward(x)
    r = rng.standard_normal(y.shape)
    dx = layer.backward(r)
    np.testing.assert_allclose(dx, _fd_input_grad(layer, x, r), rtol=1e-6, atol=1e-8)
    # kernel gradient: d/dw_{c,u,v} of sum(y r)
    layer.forward(x)
    layer.backward(r)
    gw = layer.grad_w.copy()
    c, u, v, eps = 1, 2, 0, 1e-6
    layer.w[c, u, v] += eps
    up = np.sum(layer.forward(x) * r)
    layer.w[c, u, v] -= 2 * eps
    down = np.sum(layer.forward(x) * r)
    assert gw[c, u, v] == pytest.approx((up - down) / (2 * eps), rel=1e-6)


def test_depthwise_matches_a_dense_convolution_with_a_block_diagonal_kernel():
    rng = np.random.default_rng(2)
    dw = DepthwiseConv2d(2, 3, padding=1, rng=3, dtype=np.float64)
    dense = Conv2d(2, 2, 3, padding=1, rng=4, dtype=np.float64)
    k = np.zeros((2, 2, 3, 3))
    k[0, 0], k[1, 1] = dw.w[0], dw.w[1]
    dense.core.state = dense.core.optimizer.init(k.reshape(2, 18))
    dense.core.bias = dw.b.copy()
    x = rng.standard_normal((3, 2, 6, 6))
    np.testing.assert_allclose(dw.forward(x), dense.forward(x), rtol=1e-12, atol=1e-12)


def test_residual_and_pool_gradients_match_finite_differences():
    rng = np.random.default_rng(5)
    body = Sequential([Conv2d(2, 2, 3, padding=1, rng=6, dtype=np.float64), Tanh(),
                       Conv2d(2, 2, 3, padding=1, rng=7, dtype=np.float64)], ["c1", "t", "c2"])
    net = Sequential([Residual(body), ReLU(), GlobalAvgPool()], ["res", "relu", "pool"])
    x = rng.standard_normal((2, 2, 4, 4))
    y = net.forward(x)
    r = rng.standard_normal(y.shape)
    np.testing.assert_allclose(net.backward(r), _fd_input_grad(net, x, r), rtol=1e-5, atol=1e-8)
    with pytest.raises(ConfigError, match="projection"):
        Residual(Sequential([Conv2d(2, 3, 1, rng=0)], ["c"])).forward(x)


def test_small_backbones_shapes_and_training_step_reduces_the_loss():
    from convergence.nn.losses import nll_loss

    rng = np.random.default_rng(8)
    x = rng.standard_normal((16, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 16)
    for make in (resnet_small, mobilenet_small):
        feat = make(head=False, seed=1)
        assert feat.forward(x).shape[0] == 16 and feat.forward(x).ndim == 2
        net = make(seed=1)
        loss0 = None
        for _ in range(15):
            out = net.forward(x)
            loss, grad = nll_loss(out, labels)
            loss0 = loss if loss0 is None else loss0
            net.backward(grad, input_grad=False)
            net.step(0.1)
        assert loss < loss0                          # memorising 16 images: the loss must fall
