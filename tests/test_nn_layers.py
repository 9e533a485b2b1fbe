"""Layers of convergence.nn: every backward against central finite differences (float64),
forward passes against slow reference loops or closed-form values, weight optimizers against
their defining recursions."""
from __future__ import annotations

import math

import numpy as np
import pytest

import convergence as cv
from convergence.physics import periphery
from convergence.nn import layers as L
from convergence.nn import losses, optim
from convergence.nn.model import fcn, lenet

F64 = np.float64


def fd_grad(f, x, eps=1e-6):
    """Central finite differences of the scalar f at x (array modified in place and restored)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def check_layer(layer, x, rng, params=()):
    """Compare dx (and each (array, analytic-grad getter) in params) with finite differences
    of the scalar loss <R, layer(x)>."""
    y = layer.forward(x)
    R = rng.standard_normal(y.shape)

    def loss():
        return float(np.sum(R * layer.forward(x)))

    layer.forward(x)
    dx = layer.backward(R)
    analytic = [get() for _, get in params]
    np.testing.assert_allclose(dx, fd_grad(loss, x), rtol=1e-5, atol=1e-7)
    for (arr, _), a in zip(params, analytic):
        np.testing.assert_allclose(a, fd_grad(loss, arr), rtol=1e-5, atol=1e-7)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# -- weight layers ---------------------------------------------------------------------------

@pytest.mark.parametrize("omega,learn", [(0.0, False), (0.5, True)])
def test_linear_backward_matches_finite_differences(rng, omega, learn):
    lay = L.Linear(5, 3, rng=rng, dtype=F64, omega=omega, learn_out_scale=learn)
    x = rng.standard_normal((4, 5))
    core = lay.core
    params = [(core.state["w"], core.weight_grad), (core.bias, lambda: core.grad_bias)]
    if learn:
        params.append((core.out_scale, lambda: core.grad_scale))
    check_layer(lay, x, rng, params)


def test_weight_scaling_maps_row_max_to_omega_and_keeps_the_function(rng):
    w0 = rng.standard_normal((4, 6))
    lay = L.Linear(6, 4, rng=rng, dtype=F64, w0=w0, omega=0.3)
    np.testing.assert_allclose(np.abs(lay.core.weight).max(axis=1), 0.3, rtol=1e-12)
    np.testing.assert_allclose(lay.core.effective_weight, w0, rtol=1e-12)
    x = rng.standard_normal((2, 6))
    np.testing.assert_allclose(lay.forward(x), x @ w0.T + lay.core.bias, rtol=1e-12)


def _conv_reference(x, w, b, k, stride, pad):
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    B, C, H, W = x.shape
    O = w.shape[0]
    ho, wo = (H - k) // stride + 1, (W - k) // stride + 1
    out = np.zeros((B, O, ho, wo))
    wk = w.reshape(O, C, k, k)
    for i in range(ho):
        for j in range(wo):
            patch = x[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            out[:, :, i, j] = np.einsum("bcuv,ocuv->bo", patch, wk) + b
    return out


@pytest.mark.parametrize("stride,pad", [(1, 0), (2, 1)])
def test_conv2d_forward_matches_direct_loop_and_backward_matches_fd(rng, stride, pad):
    conv = L.Conv2d(2, 3, 3, stride=stride, padding=pad, rng=rng, dtype=F64)
    x = rng.standard_normal((2, 2, 6, 5))
    ref = _conv_reference(x, conv.core.weight, conv.core.bias, 3, stride, pad)
    np.testing.assert_allclose(conv.forward(x), ref, rtol=1e-12, atol=1e-12)
    core = conv.core
    check_layer(conv, x, rng, [(core.state["w"], core.weight_grad), (core.bias, lambda: core.grad_bias)])


def test_col2im_is_the_adjoint_of_im2col(rng):
    x = rng.standard_normal((2, 3, 7, 6))
    cols, _ = L.im2col(x, 3, 2, 1)
    c = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * L.col2im(c, x.shape, 3, 2, 1))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_maxpool_forward_reference_and_backward_fd(rng):
    pool = L.MaxPool2d(2)
    x = rng.standard_normal((2, 3, 5, 4))   # odd height: floor mode drops the last row
    y = pool.forward(x)
    ref = np.array([[[[x[b, c, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max() for j in range(2)] for i in range(2)]
                     for c in range(3)] for b in range(2)])
    np.testing.assert_array_equal(y, ref)
    check_layer(pool, x, rng)


def test_maxpool_ties_route_the_gradient_to_one_element():
    pool = L.MaxPool2d(2)
    x = np.ones((1, 1, 2, 2))
    pool.forward(x)
    g = pool.backward(np.ones((1, 1, 1, 1)))
    assert g.sum() == 1.0 and g[0, 0, 0, 0] == 1.0


# -- activations, normalisation, losses ----------------------------------------------------------

@pytest.mark.parametrize("cls", [L.Sigmoid, L.Tanh, L.GELU, L.LogSoftmax, L.Flatten])
def test_activation_backward_fd(rng, cls):
    check_layer(cls(), rng.standard_normal((3, 4)), rng)


def test_relu_backward_fd_away_from_the_kink(rng):
    x = rng.standard_normal((3, 5))
    x[np.abs(x) < 0.01] = 0.5
    check_layer(L.ReLU(), x, rng)


def test_activation_values_closed_form():
    x = np.array([[-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(L.GELU().forward(x), [[-0.15865525393145707, 0.0, 0.8413447460685429]], rtol=1e-12)
    np.testing.assert_allclose(L.Sigmoid().forward(x), [[1 / (1 + math.e), 0.5, 1 / (1 + 1 / math.e)]], rtol=1e-12)
    np.testing.assert_allclose(L.LogSoftmax().forward(np.zeros((1, 4))), np.full((1, 4), -math.log(4)), rtol=1e-12)


def test_layernorm_backward_fd_including_gamma_beta(rng):
    ln = L.LayerNorm(5, dtype=F64)
    ln.gamma[:] = rng.standard_normal(5)
    ln.beta[:] = rng.standard_normal(5)
    x = rng.standard_normal((3, 5))
    check_layer(ln, x, rng, [(ln.gamma, lambda: ln.grad_gamma), (ln.beta, lambda: ln.grad_beta)])
    y = L.LayerNorm(5, dtype=F64).forward(x)
    np.testing.assert_allclose(y.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(-1), 1 / (1 + 1e-5 / x.var(-1)), rtol=1e-9)


def test_cross_entropy_grad_fd_and_equals_nll_of_log_softmax(rng):
    z = rng.standard_normal((4, 6))
    y = np.array([0, 5, 2, 2])
    loss, g = losses.cross_entropy(z, y)
    np.testing.assert_allclose(g, fd_grad(lambda: losses.cross_entropy(z, y)[0], z), rtol=1e-6, atol=1e-9)
    assert loss == pytest.approx(losses.nll_loss(losses.log_softmax(z), y)[0], rel=1e-12)
    assert losses.cross_entropy(np.zeros((2, 10)), np.array([1, 2]))[0] == pytest.approx(math.log(10))
    lp = losses.log_softmax(z)
    _, gn = losses.nll_loss(lp, y)
    np.testing.assert_allclose(gn, fd_grad(lambda: losses.nll_loss(lp, y)[0], lp), atol=1e-9)


def test_losses_reject_bad_labels():
    with pytest.raises(cv.ConfigError, match="labels"):
        losses.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))


def test_whole_networks_backward_fd(rng):
    """End to end: the FCN's and the CNN's input gradients (float64, small shapes)."""
    net = fcn(sizes=(6, 5, 4, 3), seed=1, dtype=F64)
    x = rng.standard_normal((2, 6))
    check_layer(net, x, rng, [(net.layers[0].core.state["w"], net.layers[0].core.weight_grad)])
    cnn = lenet(channels=(2, 3), hidden=4, n_classes=3, in_hw=16, seed=2, dtype=F64)
    xc = rng.standard_normal((1, 1, 16, 16))
    conv1 = cnn.layers[0].core
    # only a few coordinates of the conv kernel by FD (cost)
    y = cnn.forward(xc)
    R = rng.standard_normal(y.shape)
    cnn.forward(xc)
    cnn.backward(R)
    gw = conv1.weight_grad()
    w = conv1.state["w"]
    for idx in [(0, 0), (1, 7), (1, 24)]:
        old = w[idx]
        w[idx] = old + 1e-6
        fp = np.sum(R * cnn.forward(xc))
        w[idx] = old - 1e-6
        fm = np.sum(R * cnn.forward(xc))
        w[idx] = old
        assert gw[idx] == pytest.approx((fp - fm) / 2e-6, rel=1e-5, abs=1e-8)


def test_float32_compute_end_to_end():
    x = np.random.default_rng(0).random((3, 784), dtype=np.float32)
    out = fcn(seed=0).forward(x)
    assert out.dtype == np.float32 and out.shape == (3, 10)
    xc = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    net = lenet(seed=0)
    out = net.forward(xc)
    assert out.dtype == np.float32 and out.shape == (2, 10)
    assert net.backward(np.ones_like(out)).dtype == np.float32


# -- weight optimizers -------------------------------------------------------------------------

def _xd(rng, n=4, i=5, o=3):
    return rng.standard_normal((n, i)), rng.standard_normal((n, o))


def test_digital_sgd_update_is_minus_lr_dT_x(rng):
    w0 = rng.standard_normal((3, 5))
    x, d = _xd(rng)
    opt = optim.DigitalSGD()
    st = opt.update(opt.init(w0), x, d, 0.1, None)
    ref = w0 - 0.1 * sum(np.outer(d[b], x[b]) for b in range(4))
    np.testing.assert_allclose(opt.weights(st), ref, rtol=1e-12)


def test_analog_sgd_expected_is_the_softbounds_recursion(rng):
    tau = 0.8
    w0 = rng.uniform(-0.5, 0.5, (3, 5))
    x, d = _xd(rng)
    opt = optim.AnalogSGD(cv.SoftBounds(tau))
    st = opt.update(opt.init(w0), x, d, 0.05, None)
    dw = -0.05 * d.T @ x
    np.testing.assert_allclose(opt.weights(st), w0 + dw - np.abs(dw) * w0 / tau, rtol=1e-12)   # P1 eq 8
    ideal = optim.AnalogSGD(cv.Ideal())
    st = ideal.update(ideal.init(w0), x, d, 0.05, None)
    np.testing.assert_allclose(ideal.weights(st), w0 + dw, rtol=1e-12)


@pytest.mark.parametrize("device", [cv.SoftBounds(0.7), cv.SoftBounds(1.0), cv.LinearStep(0.8, -0.6, 0.1), cv.Ideal()],
                         ids=["softbounds-0.7", "softbounds-1", "linear-step", "ideal"])
@pytest.mark.parametrize("lr", [0.05, 1.0])
def test_analog_sgd_bound_expected_map_equals_the_generic_step(rng, device, lr):
    """AnalogSGD's direct expected write (its bound map) gives the generic tile step's bits, float32 and float64."""
    from convergence.nn.adapters import AlgorithmLayer
    for dtype in (np.float32, np.float64):
        opt = optim.AnalogSGD(device)
        assert opt._emap is not None
        w0 = rng.uniform(-0.3, 0.3, (6, 9)).astype(dtype)
        fast = slow = opt.init(w0)
        owned = opt.init(w0)
        for _ in range(4):
            x, d = rng.standard_normal((5, 9)).astype(dtype), rng.standard_normal((5, 6)).astype(dtype)
            w_before = owned["inner"].w
            owned = opt.update_owned(owned, x, d, lr)
            fast, slow = opt.update(fast, x, d, lr), AlgorithmLayer.update(opt, slow, x, d, lr)
            assert owned["inner"].w is w_before                          # written in place
            assert fast["inner"].w.dtype == slow["inner"].w.dtype == dtype
            np.testing.assert_array_equal(fast["inner"].w, slow["inner"].w)
            np.testing.assert_array_equal(owned["inner"].w, slow["inner"].w)
            assert fast["inner"].k == slow["inner"].k == owned["inner"].k
    with pytest.raises(cv.ConfigError):       # wrong shapes still reach the generic step's check
        opt.update(fast, np.ones((5, 8)), np.ones((5, 6)), lr)


def test_analog_sgd_init_clips_to_the_device_range():
    opt = optim.AnalogSGD(cv.SoftBounds(0.5))
    np.testing.assert_array_equal(opt.weights(opt.init(np.array([[2.0, -3.0, 0.1]]))), [[0.5, -0.5, 0.1]])


def test_analog_sgd_pulsed_mean_matches_expected(rng):
    """Stochastic rounding is unbiased to first order: mean over 4000 draws within 4 standard errors
    (+ the O(dw_min) pulse-composition bias, D9 (docs/theory/derivations.md), bounded by n(n-1)δ²/(2τ))."""
    tau, dwm = 1.0, 1e-3
    w0 = np.full((1, 4000), 0.3)
    x = np.ones((1, 4000)) * 0.0137
    d = np.ones((1, 1))
    opt = optim.AnalogSGD(cv.SoftBounds(tau), cv.Pulsed(dw_min=dwm))
    st = opt.update(opt.init(w0), x, d, 1.0, np.random.default_rng(5))
    got = opt.weights(st)
    dw = -0.0137
    expected = 0.3 + dw - abs(dw) * 0.3 / tau
    se = got.std() / math.sqrt(got.size)
    assert abs(got.mean() - expected) < 4 * se + 14 * 13 * dwm ** 2 / (2 * tau)


def _named(opt, state):
    """The optimizer's device arrays by name (TT-v1: W is "w", the fast array P is "a")."""
    return {name: arr for name, arr, _ in opt.arrays(state)}


def test_tiki_taka_whole_matrix_matches_reference_loop(rng):
    """Ideal devices, whole-matrix transfer every step: P ← P − β g, W ← W + α P (P1 §4, P2 eqs 10–11)."""
    w0 = rng.standard_normal((3, 5))
    opt = optim.TikiTakaV1(cv.Ideal(), fast_lr=0.2, transfer_lr=0.5, columnwise=False)
    st = opt.init(w0)
    W, P = w0.copy(), np.zeros_like(w0)
    for _ in range(3):
        x, d = _xd(rng)
        st = opt.update(st, x, d, 0.1, None)
        P = P - 0.2 * d.T @ x
        W = W + 0.5 * 0.1 * P
    np.testing.assert_allclose(_named(opt, st)["w"], W, rtol=1e-12)
    np.testing.assert_allclose(_named(opt, st)["a"], P, rtol=1e-12)


def test_tiki_taka_columnwise_transfers_one_column_per_step_cyclically(rng):
    w0 = rng.uniform(-0.1, 0.1, (3, 4))
    opt = optim.TikiTakaV1(cv.SoftBounds(1.0), fast_lr=0.1, transfer_every=2, columnwise=True)
    st = opt.init(w0)
    touched = []
    for _ in range(8):
        before = _named(opt, st)["w"]
        x, d = _xd(rng, i=4)
        new = opt.update(st, x, d, 0.1, None)
        np.testing.assert_array_equal(_named(opt, st)["w"], before)      # the input state is unchanged
        st = new
        changed = np.flatnonzero(np.any(_named(opt, st)["w"] != before, axis=0))
        touched.append(changed.tolist())
    assert touched == [[], [0], [], [1], [], [2], [], [3]]


@pytest.mark.parametrize("columnwise", [True, False])
@pytest.mark.parametrize("mode", [cv.Expected(), cv.Pulsed(0.01)], ids=["expected", "pulsed"])
def test_tiki_taka_update_owned_equals_update_and_writes_only_the_transferred_column(rng, columnwise, mode):
    """The layer's in-place update gives update's bits; column-wise it writes the slow array's column in place."""
    opt = optim.TikiTakaV1(cv.SoftBounds(0.7), fast_lr=0.1, columnwise=columnwise, n_reads=2, mode=mode)
    ref = own = opt.init(rng.uniform(-0.3, 0.3, (3, 5)).astype(np.float32))
    for step in range(7):
        x, d = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
        w_own = own["inner"].w
        before = w_own.copy()
        ref = opt.update(ref, x, d, 0.05, np.random.default_rng(step))
        own = opt.update_owned(own, x, d, 0.05, np.random.default_rng(step))
        for name in ("w", "a"):
            np.testing.assert_array_equal(_named(opt, own)[name], _named(opt, ref)[name])
        if columnwise:
            assert own["inner"].w is w_own                                   # no copy of the slow array
            cols = [(2 * step + j) % 5 for j in range(2)]
            untouched = np.setdiff1d(np.arange(5), cols)
            np.testing.assert_array_equal(w_own[..., untouched], before[..., untouched])


@pytest.mark.parametrize("family", ["ttv2", "chopped_ttv2", "agad"])
@pytest.mark.parametrize("mode", [cv.Expected(), cv.Pulsed(0.01)], ids=["expected", "pulsed"])
def test_ttv2_family_update_owned_equals_update_and_writes_the_buffers_in_place(rng, family, mode):
    """A TT-v2-family layer on network numerics gets the owned form of its algorithm: update's bits, with the
    transferred columns of C, of the buffer H and of the pulse counts written into the arrays in place (the
    copying form copied every one of those matrices at every transfer)."""
    from convergence.nn.adapters import TransferOptimizer
    from convergence.tile import transfer_family as tr

    make = {"ttv2": tr.ttv2, "chopped_ttv2": tr.chopped_ttv2, "agad": tr.agad}[family]
    opt = TransferOptimizer(make(0.5, cv.SoftBounds(0.7), mode=mode, numerics=optim.NETWORK, transfer_every=1,
                                 granularity=0.01, granularity_fast=0.01, in_chop_prob=0.3)
                            if family != "ttv2" else
                            make(0.5, cv.SoftBounds(0.7), mode=mode, numerics=optim.NETWORK, transfer_every=1,
                                 granularity=0.01, granularity_fast=0.01), lr_ref=0.05)
    ref = own = opt.init(rng.uniform(-0.3, 0.3, (3, 5)).astype(np.float32))
    buffers = own["inner"].h
    wrote = 0
    for step in range(40):
        x, d = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((4, 3)).astype(np.float32)
        ref = opt.update(ref, x, d, 0.05, np.random.default_rng(step))
        own = opt.update_owned(own, x, d, 0.05, np.random.default_rng(step))
        for field in own["inner"]._fields:
            a, b = getattr(own["inner"], field), getattr(ref["inner"], field)
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b, err_msg=field)
        assert own["inner"].h is buffers                                    # no copy of the buffer
        wrote += int(np.any(own["inner"].pulses))
    assert wrote > 0                                                         # C was written


def test_layer_step_uses_the_owned_update():
    layer = L.Linear(4, 3, optimizer=optim.TikiTakaV1(cv.SoftBounds(1.0), fast_lr=0.1), rng=0)
    w = layer.core.state["inner"].w
    layer.forward(np.ones((2, 4), np.float32))
    layer.backward(np.ones((2, 3), np.float32))
    layer.step(0.1)
    assert layer.core.state["inner"].w is w


def test_tiki_taka_gamma_mixes_the_visible_weights(rng):
    opt = optim.TikiTakaV1(cv.Ideal(), gamma=0.4)
    st = opt.init(rng.standard_normal((2, 3)))
    x, d = _xd(rng, i=3, o=2)
    st = opt.update(st, x, d, 0.1, None)
    arr = _named(opt, st)
    np.testing.assert_allclose(opt.weights(st), arr["w"] + 0.4 * arr["a"], rtol=1e-12)


def test_algorithm_optimizer_wraps_toolkit_algorithms(rng):
    w0 = rng.uniform(-0.3, 0.3, (3, 5))
    x, d = _xd(rng)
    a = optim.AlgorithmOptimizer(cv.analog_sgd(0.05, cv.SoftBounds(0.8)), lr_ref=0.05)
    b = optim.AnalogSGD(cv.SoftBounds(0.8))
    sa = a.update(a.init(w0), x, d, 0.05, None)
    sb = b.update(b.init(w0), x, d, 0.05, None)
    np.testing.assert_allclose(a.weights(sa), b.weights(sb), rtol=1e-12)
    assert a.arrays(sa)[0][1].shape == (3, 5)


def test_optimizer_interface_is_checked():
    with pytest.raises(cv.ConfigError, match="optimizer"):
        L.Linear(2, 2, optimizer=object())
    with pytest.raises(cv.ConfigError, match="device"):
        optim.AnalogSGD("softbounds")


def test_analog_layer_trains_through_its_optimizer(rng):
    lay = L.Linear(5, 3, rng=rng, dtype=F64, optimizer=optim.AnalogSGD(cv.SoftBounds(0.8)))
    x = rng.standard_normal((4, 5))
    w_before = lay.core.weight.copy()
    lay.forward(x)
    lay.backward(np.ones((4, 3)))
    d = lay.core._d.copy()
    lay.step(0.1)
    dw = -0.1 * d.T @ x
    np.testing.assert_allclose(lay.core.weight, w_before + dw - np.abs(dw) * w_before / 0.8, rtol=1e-12)


# -- periphery -------------------------------------------------------------------------------

def test_periphery_output_quantisation_and_bounds(rng):
    io = periphery.IOParameters(out_res=0.05, out_bound=1.0)
    lay = L.Linear(6, 4, rng=rng, dtype=F64, bias=False, io_forward=io)
    y = lay.forward(rng.standard_normal((8, 6)))
    np.testing.assert_allclose(y / 0.05, np.round(y / 0.05), atol=1e-9)
    assert np.abs(y).max() <= 1.0 + 1e-12


def test_periphery_output_noise_has_the_stated_std(rng):
    io = periphery.IOParameters(out_noise=0.1)
    lay = L.Linear(3, 2000, rng=rng, dtype=F64, bias=False, io_forward=io)
    x = np.ones((5, 3))
    err = lay.forward(x) - x @ lay.core.weight.T
    sd = err.std()
    # 10000 Gaussian draws: std of the sample std ≈ 0.1/sqrt(2·10000); 5 standard errors
    assert abs(sd - 0.1) < 5 * 0.1 / math.sqrt(2 * err.size)


@pytest.mark.parametrize("dtype", [np.float32, F64])
def test_periphery_computes_in_the_layer_dtype(dtype):
    """A layer's forward and backward MVMs run the periphery in the layer's dtype (float32 networks: float32
    arithmetic, as aihwkit's), drawing from the layer's generator: the layer's outputs are those of
    periphery.forward / backward called with that dtype on the same stream."""
    io = periphery.IOParameters(inp_res=1 / 254, out_res=1 / 254, inp_bound=1.0, out_bound=20.0, out_noise=0.1,
                                noise_management="abs_max", bound_management="iterative")
    io_b = periphery.IOParameters(**{**io.as_dict(), "bound_management": "none"})
    lay = L.Linear(6, 4, rng=np.random.default_rng(3), dtype=dtype, bias=False, io_forward=io, io_backward=io_b)
    w = lay.core.weight.copy()
    state = lay.core.rng.bit_generator.state
    x = np.random.default_rng(4).standard_normal((8, 6)).astype(dtype)
    dy = np.random.default_rng(5).standard_normal((8, 4)).astype(dtype)
    y, dx = lay.forward(x), lay.backward(dy)
    ref = np.random.default_rng()
    ref.bit_generator.state = state
    y_ref = periphery.forward(w[None], x[None], io, ref, dtype=dtype)[0]
    dx_ref = periphery.backward(w[None], dy[None] * lay.core.out_scale, io_b, ref, dtype=dtype)[0]
    assert y.dtype == dx.dtype == dtype
    np.testing.assert_array_equal(y, y_ref * lay.core.out_scale)
    np.testing.assert_array_equal(dx, dx_ref)


@pytest.mark.parametrize("device", [cv.Power(0.8, 0.5), cv.Exponential(0.8, 2.0)])
def test_analog_sgd_nonaffine_shortcut_equals_the_F_G_form(rng, device):
    """W + dW⊙q_sign(dW)(W) (the optimizer's shortcut) = W + dW⊙F − |dW|⊙G (P2 eq 5, core update)."""
    w0 = rng.uniform(-0.6, 0.6, (3, 5))
    x, d = _xd(rng)
    opt = optim.AnalogSGD(device)
    st = opt.update(opt.init(w0), x, d, 0.05, None)
    dw = -0.05 * d.T @ x
    np.testing.assert_allclose(opt.weights(st), w0 + dw * device.F(w0) - np.abs(dw) * device.G(w0), rtol=1e-12)


def test_signed_parts_are_the_per_sample_positive_and_negative_sums(rng):
    x, d = _xd(rng, n=6)
    up, down = optim.signed_parts(x, d, 0.3)
    per = [-0.3 * np.outer(d[b], x[b]) for b in range(6)]
    np.testing.assert_allclose(up, sum(np.maximum(p, 0) for p in per), rtol=1e-12)
    np.testing.assert_allclose(down, sum(np.maximum(-p, 0) for p in per), rtol=1e-12)


@pytest.mark.parametrize("device", [cv.SoftBounds(0.8), cv.CLin(0.8, 0.2), cv.Power(0.8, 0.5)])
def test_signs_accumulation_has_the_per_sample_drift(rng, device):
    """Expected 'signs' write = W + ΔW⊙F − (Σ_b|ΔW_b|)⊙G (P2 eq 5 summed per sample, first order)."""
    tau = 0.8
    w0 = rng.uniform(-0.5, 0.5, (3, 5))
    x, d = _xd(rng, n=6)
    opt = optim.AnalogSGD(device, accumulate="signs")
    st = opt.update(opt.init(w0), x, d, 0.05, None)
    dw = -0.05 * d.T @ x
    abs_sum = sum(np.abs(-0.05 * np.outer(d[b], x[b])) for b in range(6))
    np.testing.assert_allclose(opt.weights(st), w0 + dw * device.F(w0) - abs_sum * device.G(w0), rtol=1e-12)
    with pytest.raises(cv.ConfigError, match="accumulate"):
        optim.AnalogSGD(cv.SoftBounds(tau), accumulate="per-sample")


# -- adapters to the tile and the transfer family ----------------------------------------------

def test_transfer_ttv1_adapter_equals_our_tiki_taka(rng):
    """Two independent implementations of column-wise TT-v1 (convergence.tile.transfer_family.ttv1 and
    nn.optim.TikiTakaV1) agree on ideal devices, step by step."""
    transfer = pytest.importorskip("convergence.tile.transfer_family")
    from convergence.nn.adapters import TransferOptimizer
    w0 = rng.standard_normal((3, 4))
    a = TransferOptimizer(transfer.ttv1(0.2, cv.Ideal(), transfer_lr=0.5))
    b = optim.TikiTakaV1(cv.Ideal(), fast_lr=0.2, transfer_lr=0.5, columnwise=True)
    sa, sb = a.init(w0), b.init(w0)
    for _ in range(6):
        x, d = _xd(rng, i=4)
        sa = a.update(sa, x, d, 1.0, rng)
        sb = b.update(sb, x, d, 1.0, rng)
        np.testing.assert_allclose(a.weights(sa), b.weights(sb), rtol=1e-12, atol=1e-15)
    names = [n for n, _, _ in a.arrays(sa)]
    assert names == ["w", "a"]


def test_tile_adapter_on_an_ideal_device_is_digital_sgd(rng):
    tile = pytest.importorskip("convergence.tile.analog_tile")
    from convergence.nn.adapters import TileOptimizer
    w0 = rng.standard_normal((3, 5))
    x, d = _xd(rng)
    t = TileOptimizer(cv.Ideal(), update=tile.UpdateParameters(mode="expected"), dw_min=1e-3)
    st = t.update(t.init(w0), x, d, 0.1)
    np.testing.assert_allclose(t.weights(st), w0 - 0.1 * d.T @ x, rtol=1e-12)


def test_device_to_device_variation_arrays_work_in_both_optimizers(rng):
    dev = cv.realize(cv.SoftBounds(0.8), cv.Variation(dw_min_dtod=0.3, up_down_dtod=0.1), (3, 4), rng)
    w0 = rng.uniform(-0.3, 0.3, (3, 4))
    x, d = _xd(rng, i=4)
    a = optim.AnalogSGD(dev)
    st = a.update(a.init(w0), x, d, 0.05, None)
    dw = -0.05 * d.T @ x
    np.testing.assert_allclose(a.weights(st), w0 + dw * dev.F(w0) - np.abs(dw) * dev.G(w0), rtol=1e-12)
    tt = optim.TikiTakaV1(dev, fast_lr=0.1, columnwise=True)
    s = tt.update(tt.init(w0), x, d, 0.05, None)
    s = _named(tt, s)
    p = s["a"]
    # column 0 of W moved with column 0's own device parameters
    exp0 = w0[:, 0] + 0.05 * p[:, 0] * dev.F(w0)[:, 0] - np.abs(0.05 * p[:, 0]) * dev.G(w0)[:, 0]
    np.testing.assert_allclose(s["w"][:, 0], exp0, rtol=1e-12)
    np.testing.assert_array_equal(s["w"][:, 1:], w0[:, 1:])


# -- one adapter: AlgorithmLayer ---------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: optim.AnalogSGD(cv.SoftBounds(0.8), accumulate="signs"),
                                  lambda: optim.TikiTakaV1(cv.SoftBounds(0.8), fast_lr=0.1, gamma=0.2),
                                  lambda: optim.DigitalSGD(),
                                  lambda: optim.AlgorithmOptimizer(cv.analog_sgd(0.05, cv.SoftBounds(0.8)), 0.05)],
                         ids=["asgd", "tt", "digital", "vector"])
def test_updates_are_pure_and_keep_the_layer_dtype(rng, make):
    opt = make()
    w0 = rng.uniform(-0.3, 0.3, (3, 5)).astype(np.float32)
    st = opt.init(w0)
    for _ in range(4):
        x, d = (a.astype(np.float32) for a in _xd(rng))
        before = opt.weights(st).copy()
        new = opt.update(st, x, d, 0.1, None)
        np.testing.assert_array_equal(opt.weights(st), before)
        assert opt.weights(new).dtype == np.float32
        assert not np.array_equal(opt.weights(new), before)
        st = new


def test_network_optimizers_are_algorithm_layers_over_the_tile_configs():
    from convergence.nn.adapters import AlgorithmLayer, TransferOptimizer
    from convergence.tile import transfer_family as T
    a, tt = optim.AnalogSGD(cv.SoftBounds(0.8)), optim.TikiTakaV1(cv.SoftBounds(0.8), columnwise=False)
    assert isinstance(a, AlgorithmLayer) and isinstance(tt, AlgorithmLayer)
    assert type(a.algorithm.config) is T.TileSGDConfig and type(tt.algorithm.config) is T.TTv1Config
    assert tt.algorithm.config.n_reads is None and tt.algorithm.config.scale_transfer_lr
    assert isinstance(TransferOptimizer(T.ttv2(0.1, cv.SoftBounds(1.0), mode=cv.Pulsed(0.01))), AlgorithmLayer)


def test_network_and_tile_numerics_agree_on_tt_v1_with_a_learning_rate(rng):
    """TikiTakaV1 (float64 weights, network numerics) and ttv1 through AlgorithmLayer (tile numerics) run
    the same algorithm: β absolute, α = transfer_lr·lr (aihwkit scale_transfer_lr)."""
    from convergence.nn.adapters import AlgorithmLayer
    from convergence.tile import transfer_family as T
    w0 = rng.uniform(-1.0, 1.0, (3, 4))         # inside the device range (the network layer clips)
    tt = T.ttv1(0.2, cv.SoftBounds(2.0), transfer_lr=0.5, n_reads=3, accumulate="net", scale_fast_lr=False)
    a = AlgorithmLayer(tt, lr_ref=0.5)
    b = optim.TikiTakaV1(cv.SoftBounds(2.0), fast_lr=0.2, transfer_lr=0.5, n_reads=3)
    sa, sb = a.init(w0), b.init(w0)
    for _ in range(7):
        x, d = _xd(rng, i=4)
        sa, sb = a.update(sa, x, d, 0.25, None), b.update(sb, x, d, 0.25 / 0.5, None)   # lr / lr_ref
        np.testing.assert_allclose(a.weights(sa), b.weights(sb), rtol=1e-12, atol=1e-14)


def test_tile_adapter_is_pure_the_returned_state_is_the_new_one(rng):
    tile = pytest.importorskip("convergence.tile.analog_tile")
    from convergence.nn.adapters import AlgorithmLayer, TileOptimizer
    w0 = rng.uniform(-0.5, 0.5, (3, 5))
    x, d = _xd(rng)
    t = TileOptimizer(cv.SoftBounds(1.0), update=tile.UpdateParameters(mode="expected"), dw_min=1e-3)
    assert isinstance(t, AlgorithmLayer)        # one adapter for tiles, tile algorithms and the Swin
    s0 = t.init(w0)
    before = t.weights(s0).copy()
    s1 = t.update(s0, x, d, 0.1)
    np.testing.assert_array_equal(t.weights(s0), before)          # the input state is untouched
    s1b = t.update(s0, x, d, 0.1)                                  # same state in, same state out
    np.testing.assert_array_equal(t.weights(s1), t.weights(s1b))
    assert not np.array_equal(t.weights(s1), before)


def test_tile_adapter_equals_driving_the_tile_directly_with_write_noise(rng):
    """The pure adapter reproduces the imperative tile step for step, write noise included."""
    tile = pytest.importorskip("convergence.tile.analog_tile")
    from convergence.physics.reference_device import SoftBoundsReference
    from convergence.nn.adapters import TileOptimizer
    dev = SoftBoundsReference(dw_min=0.01, write_noise_std=2.0, dw_min_dtod=0.2)
    up = tile.UpdateParameters(mode="pulse_train", desired_bl=15)
    w0 = rng.uniform(-0.3, 0.3, (4, 6))
    ref = tile.AnalogTile(dev, (1, 4, 6), update=up, rng=7, w0=w0[None])
    opt = TileOptimizer(dev, update=up, rng=7)
    st = opt.init(w0)
    np.testing.assert_array_equal(opt.weights(st), ref.weights[0])
    for _ in range(4):
        x, d = _xd(rng, i=6, o=4)
        ref.update(x[None], d[None], 0.2)
        st = opt.update(st, x, d, 0.2)
        np.testing.assert_array_equal(opt.weights(st), ref.weights[0])
        np.testing.assert_array_equal(opt.arrays(st)[0][1], ref.w[0])
    assert not np.array_equal(ref.weights, ref.w)        # the write noise is visible


@pytest.mark.parametrize("accumulate", ["net", "signs"])
def test_analog_sgd_pulsed_layer_writes_pulses_not_the_expected_map(rng, accumulate):
    """A pulsed AnalogSGD layer takes the generic pulsed step (same draws, same bits) and no expected-mode shortcut:
    its result differs from the expected write (stochastic rounding to whole pulses of dw_min)."""
    from convergence.nn.adapters import AlgorithmLayer
    dev, pulsed = cv.SoftBounds(0.7), cv.Pulsed(dw_min=1e-3, bl=31)
    opt = optim.AnalogSGD(dev, pulsed, accumulate=accumulate)
    assert opt._emap is None
    w0 = rng.uniform(-0.3, 0.3, (6, 9)).astype(np.float32)
    x, d = rng.standard_normal((5, 9)).astype(np.float32), rng.standard_normal((5, 6)).astype(np.float32)
    got = opt.update_owned(opt.init(w0), x, d, 0.05, np.random.default_rng(3))
    ref = AlgorithmLayer.update(opt, opt.init(w0), x, d, 0.05, np.random.default_rng(3))
    np.testing.assert_array_equal(got["inner"].w, ref["inner"].w)
    expected = optim.AnalogSGD(dev, accumulate=accumulate).update(opt.init(w0), x, d, 0.05)
    assert np.any(got["inner"].w != expected["inner"].w)


@pytest.mark.parametrize("numerics, rows_dtype", [("tile", np.float32), ("network", np.float64)])
def test_chopped_rows_take_the_dtype_the_numerics_declare(numerics, rows_dtype):
    """TileNumerics keeps chopped float32 rows in float32 (the signs are ±1); the network numerics form them in the
    float64 signs' dtype. Either way the chopped write equals the plain write of rows multiplied out by hand."""
    from convergence.tile.transfer_family import TILE

    num = {"tile": TILE, "network": optim.NETWORK}[numerics]
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 4, 6)).astype(np.float32)
    d = rng.standard_normal((1, 4, 3)).astype(np.float32)
    c_in, c_out = np.where(rng.random((1, 6)) < 0.5, -1.0, 1.0), np.where(rng.random((1, 3)) < 0.5, -1.0, 1.0)
    a = rng.uniform(-0.3, 0.3, (1, 3, 6)).astype(np.float32 if numerics == "network" else np.float64)
    dev, mode = cv.SoftBounds(1.0), cv.Expected()
    got = num.chopped_write(a, x, d, c_in, c_out, 0.1, dev, mode, None, "net", None)
    xc = (x.astype(rows_dtype) * c_in[:, None, :]).astype(rows_dtype)
    dc = (d.astype(rows_dtype) * c_out[:, None, :]).astype(rows_dtype)
    np.testing.assert_array_equal(got, num.write(a, xc, dc, 0.1, dev, mode, None, "net", None))
    if numerics == "tile":   # float32 rows: the write of float64 rows differs in the last bits
        assert not np.array_equal(got, num.write(a, x.astype(np.float64) * c_in[:, None, :],
                                                 d.astype(np.float64) * c_out[:, None, :], 0.1, dev, mode, None,
                                                 "net", None))
