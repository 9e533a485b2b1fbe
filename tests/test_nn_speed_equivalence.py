"""The fast paths of convergence.nn (first-layer input-gradient skip, im2col/col2im by kernel
offsets, channel-major convolution outputs, max pooling by strided views) against slow
reference loops written here independently of the layers: forward values, every weight
gradient and the tie rule of max pooling (the first maximal element in row-major window order
gets the gradient, like torch)."""
from __future__ import annotations

import numpy as np
import pytest

import convergence as cv
from convergence.nn import layers as L
from convergence.nn import optim
from convergence.nn import training as T
from convergence.nn.losses import nll_loss
from convergence.nn.model import fcn, lenet
from convergence.periphery import IOParameters


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)


def _factories():
    dev = cv.SoftBounds(0.7)
    return {"digital": None,
            "asgd": lambda name, shape: optim.AnalogSGD(dev),
            "tt": lambda name, shape: optim.TikiTakaV1(dev, fast_lr=0.1, transfer_every=2)}


def _noisy_io():
    return IOParameters(out_noise=0.05), IOParameters(out_noise=0.05)


def _grads(net):
    out = {}
    for name, lay in net.weighted():
        out[name + ".w"] = lay.core.weight_grad()
        if lay.core.grad_bias is not None:
            out[name + ".b"] = lay.core.grad_bias
    return out


# -- 1. no input gradient for the first layer --------------------------------------------------

@pytest.mark.parametrize("arch", ["fcn", "cnn"])
@pytest.mark.parametrize("noisy", [False, True])
def test_input_grad_false_returns_none_and_keeps_every_weight_gradient(rng, arch, noisy):
    """The first layer's backward MVM is the last computation of the pass, so skipping it changes
    no weight gradient (even with a noisy backward periphery, whose last draw it is)."""
    io = dict(zip(("io_forward", "io_backward"), _noisy_io())) if noisy else {}
    build = (lambda: fcn(sizes=(20, 7, 5), seed=3, **io)) if arch == "fcn" else \
        (lambda: lenet(channels=(3, 4), hidden=6, n_classes=5, in_hw=16, seed=3, **io))
    x = rng.random((3, 20) if arch == "fcn" else (3, 1, 16, 16), dtype=np.float32)
    nets = [build(), build()]
    outs = [n.forward(x) for n in nets]
    np.testing.assert_array_equal(outs[0], outs[1])
    dy = rng.standard_normal(outs[0].shape).astype(np.float32)
    dx = nets[0].backward(dy)
    assert dx.shape == x.shape
    assert nets[1].backward(dy, input_grad=False) is None
    g0, g1 = _grads(nets[0]), _grads(nets[1])
    assert g0.keys() == g1.keys() and len(g0) >= 4
    for k in g0:
        np.testing.assert_array_equal(g0[k], g1[k], err_msg=k)


@pytest.mark.parametrize("alg", ["digital", "asgd", "tt"])
def test_train_step_equals_full_backward_then_step(rng, alg):
    """train_step (input_grad=False) updates the weights exactly as backward + step did."""
    f = _factories()[alg]
    nets = [lenet(f, channels=(3, 4), hidden=6, n_classes=5, in_hw=16, seed=5) for _ in range(2)]
    for _ in range(3):
        x = rng.random((4, 1, 16, 16), dtype=np.float32)
        y = rng.integers(0, 5, 4)
        out = nets[0].forward(x, True)
        loss0, g = nll_loss(out, y)
        nets[0].backward(g.astype(np.float32))
        nets[0].step(0.1, np.random.default_rng(1))
        loss1 = T.train_step(nets[1], x, y, 0.1, np.random.default_rng(1))
        assert loss0 == loss1
    a, b = nets[0].state_arrays(), nets[1].state_arrays()
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
