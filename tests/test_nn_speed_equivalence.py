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
from convergence.physics.periphery import IOParameters


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


# -- 2. slow references (loops over output pixels / windows; float64) -------------------------

def _pad(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


def ref_im2col(x, k, s, p):
    xp = _pad(x, p)
    B, C, H, W = xp.shape
    ho, wo = (H - k) // s + 1, (W - k) // s + 1
    rows = np.zeros((B, ho, wo, C * k * k), dtype=x.dtype)
    for i in range(ho):
        for j in range(wo):
            rows[:, i, j] = xp[:, :, i * s:i * s + k, j * s:j * s + k].reshape(B, -1)
    return rows.reshape(B * ho * wo, -1)


def ref_col2im(cols, shape, k, s, p):
    B, C, H, W = shape
    out = np.zeros((B, C, H + 2 * p, W + 2 * p))
    ho, wo = (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1
    c = cols.reshape(B, ho, wo, C, k, k)
    for i in range(ho):
        for j in range(wo):
            out[:, :, i * s:i * s + k, j * s:j * s + k] += c[:, i, j]
    return out[:, :, p:p + H, p:p + W]


def ref_conv(x, w, b, k, s=1, p=0):
    """y[b, o, i, j] = Σ_{c,u,v} w[o, c, u, v] x_pad[b, c, s i + u, s j + v] + b[o]."""
    xp = _pad(x.astype(np.float64), p)
    O = w.shape[0]
    wk = w.astype(np.float64).reshape(O, x.shape[1], k, k)
    ho, wo = (xp.shape[2] - k) // s + 1, (xp.shape[3] - k) // s + 1
    y = np.zeros((x.shape[0], O, ho, wo))
    for i in range(ho):
        for j in range(wo):
            y[:, :, i, j] = np.einsum("bcuv,ocuv->bo", xp[:, :, i * s:i * s + k, j * s:j * s + k], wk)
    return y if b is None else y + np.asarray(b, np.float64)[:, None, None]


def ref_conv_backward(x, w, dy, k, s=1, p=0):
    """(dx, dW, db) of ref_conv by the chain rule, loop over output pixels."""
    xp = _pad(x.astype(np.float64), p)
    O, C = w.shape[0], x.shape[1]
    wk = w.astype(np.float64).reshape(O, C, k, k)
    dy = dy.astype(np.float64)
    dxp, dw = np.zeros_like(xp), np.zeros_like(wk)
    for i in range(dy.shape[2]):
        for j in range(dy.shape[3]):
            patch = xp[:, :, i * s:i * s + k, j * s:j * s + k]
            dw += np.einsum("bo,bcuv->ocuv", dy[:, :, i, j], patch)
            dxp[:, :, i * s:i * s + k, j * s:j * s + k] += np.einsum("bo,ocuv->bcuv", dy[:, :, i, j], wk)
    return dxp[:, :, p:p + x.shape[2], p:p + x.shape[3]], dw.reshape(O, -1), dy.sum(axis=(0, 2, 3))


def ref_pool(x, k):
    """(y, dy ↦ dx): max over each k×k window; the gradient to the first max in row-major order."""
    B, C, H, W = x.shape
    ho, wo = H // k, W // k
    y = np.zeros((B, C, ho, wo), dtype=x.dtype)
    first = np.zeros((B, C, ho, wo, 2), dtype=int)
    for i in range(ho):
        for j in range(wo):
            win = x[:, :, i * k:i * k + k, j * k:j * k + k].reshape(B, C, k * k)
            y[:, :, i, j] = win.max(axis=-1)
            q = np.argmax(win == y[:, :, i, j, None], axis=-1)      # first index equal to the max
            first[:, :, i, j] = np.stack([i * k + q // k, j * k + q % k], axis=-1)

    def back(dy):
        dx = np.zeros(x.shape)
        bb, cc, ii, jj = np.indices((B, C, ho, wo))
        dx[bb, cc, first[..., 0], first[..., 1]] = dy
        return dx
    return y, back


def _channels_last(a):
    """The same values stored channels-last (the layout Conv2d outputs have)."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


# -- 3. the layers against the references ------------------------------------------------------

IM2COL_CASES = [((2, 3, 7, 6), 3, 2, 1), ((3, 1, 9, 9), 5, 1, 0), ((2, 4, 8, 8), 5, 1, 0), ((1, 2, 6, 7), 2, 3, 2)]


@pytest.mark.parametrize("shape,k,s,p", IM2COL_CASES)
@pytest.mark.parametrize("layout", ["nchw", "channels_last", "strided"])
@pytest.mark.parametrize("window_min", [None, 0])
def test_im2col_and_col2im_match_pixel_loops(rng, monkeypatch, shape, k, s, p, layout, window_min):
    """Both im2col forms (k² offset copies; one copy of the window view, ``window_min=0``) against the loops."""
    if window_min is not None:
        monkeypatch.setattr(L, "IM2COL_WINDOW_MIN", window_min)
    x = rng.standard_normal(shape)
    xin = {"nchw": x, "channels_last": _channels_last(x),
           "strided": np.repeat(x, 2, axis=3)[..., ::2]}[layout]
    cols, (ho, wo) = L.im2col(xin, k, s, p)
    ref = ref_im2col(x, k, s, p)
    np.testing.assert_array_equal(cols, ref)            # a pure copy: exact
    assert cols.shape == (shape[0] * ho * wo, shape[1] * k * k)
    c = rng.standard_normal(cols.shape)
    np.testing.assert_allclose(L.col2im(c, shape, k, s, p), ref_col2im(c, shape, k, s, p), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("stride,pad", [(1, 0), (2, 1)])
@pytest.mark.parametrize("scaled", [False, True])
@pytest.mark.parametrize("periphery", [False, True])
def test_conv2d_float32_forward_and_all_gradients_match_the_reference(rng, stride, pad, scaled, periphery):
    """float32 layer vs float64 loops: forward, dx, dW, db (and the periphery path: a deterministic
    non-perfect periphery, out_bound huge, runs the generic MVM + col2im)."""
    kw = {"omega": 0.6, "learn_out_scale": True} if scaled else {}
    if periphery:
        kw.update(io_forward=IOParameters(out_bound=1e9), io_backward=IOParameters(out_bound=1e9))
    conv = L.Conv2d(3, 4, 3, stride=stride, padding=pad, rng=rng, **kw)
    assert (conv.core.io_backward is not None) == periphery
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    w = conv.core.effective_weight
    y = conv.forward(x)
    np.testing.assert_allclose(y, ref_conv(x, w, conv.core.bias, 3, stride, pad), rtol=1e-5, atol=1e-5)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = conv.backward(dy)
    rdx, rdw, rdb = ref_conv_backward(x, w, dy, 3, stride, pad)
    assert dx.dtype == np.float32 and dx.shape == x.shape
    np.testing.assert_allclose(dx, rdx, rtol=1e-5, atol=1e-5)
    # the core's W is in device units: ∂L/∂W = s ⊙ ∂L/∂(sW)
    s = conv.core.out_scale[:, None]
    np.testing.assert_allclose(conv.core.weight_grad(), s * rdw, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(conv.core.grad_bias, rdb, rtol=1e-5, atol=1e-4)
    if scaled:   # ∂L/∂s_o = Σ dy_o z_o with z = MVM(W, x)
        z = ref_conv(x, conv.core.weight, None, 3, stride, pad)
        np.testing.assert_allclose(conv.core.grad_scale, np.einsum("bohw,bohw->o", dy, z), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("k,shape", [(2, (2, 3, 6, 8)), (2, (2, 3, 5, 7)), (3, (1, 2, 7, 6))])
@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_maxpool_matches_the_window_loop_including_ties(rng, k, shape, layout):
    """Values from {0, 1, 2}: most windows have ties; the gradient must go to the first max only."""
    x = rng.integers(0, 3, shape).astype(np.float32)
    xin = x if layout == "nchw" else _channels_last(x)
    pool = L.MaxPool2d(k)
    y = pool.forward(xin)
    ry, back = ref_pool(x, k)
    np.testing.assert_array_equal(y, ry)
    for dy_layout in ("nchw", "channels_last"):
        dy = rng.standard_normal(y.shape).astype(np.float32)
        dyin = dy if dy_layout == "nchw" else _channels_last(dy)
        dx = pool.backward(dyin)
        assert dx.shape == x.shape and dx.dtype == np.float32
        np.testing.assert_array_equal(dx, back(dy))


def test_maxpool_without_ties_matches_the_window_loop(rng):
    x = _channels_last(rng.standard_normal((3, 4, 8, 8)).astype(np.float32))
    pool = L.MaxPool2d(2)
    ry, back = ref_pool(np.ascontiguousarray(x), 2)
    np.testing.assert_array_equal(pool.forward(x), ry)
    dy = rng.standard_normal(ry.shape).astype(np.float32)
    np.testing.assert_array_equal(pool.backward(dy), back(dy))


def test_tanh_backward_is_dy_times_one_minus_y_squared(rng):
    t = L.Tanh()
    x = _channels_last(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
    y = t.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    np.testing.assert_array_equal(t.backward(dy), dy * (np.float32(1) - y * y))


def test_lenet_float32_forward_and_every_weight_gradient_match_the_reference_network(rng):
    """The whole CNN (conv-tanh-pool ×2, tanh, FC-tanh-FC, log-softmax) by the loop references in
    float64 vs the float32 network: output and the gradients of all four weight layers."""
    net = lenet(channels=(4, 6), hidden=7, n_classes=5, in_hw=16, seed=9)
    x = rng.random((3, 1, 16, 16), dtype=np.float32)
    lay = dict(zip(net.names, net.layers))
    W = {n: lay[n].core.effective_weight.astype(np.float64) for n in ("conv1", "conv2", "fc1", "fc2")}
    b = {n: lay[n].core.bias.astype(np.float64) for n in W}
    # reference forward
    z1 = ref_conv(x, W["conv1"], b["conv1"], 5)
    a1 = np.tanh(z1)
    p1, back1 = ref_pool(a1, 2)
    z2 = ref_conv(p1, W["conv2"], b["conv2"], 5)
    a2 = np.tanh(z2)
    p2, back2 = ref_pool(a2, 2)
    a3 = np.tanh(p2)
    f = a3.reshape(3, -1)
    h = np.tanh(f @ W["fc1"].T + b["fc1"])
    o = h @ W["fc2"].T + b["fc2"]
    logp = o - o.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    out = net.forward(x)
    np.testing.assert_allclose(out, logp, rtol=1e-5, atol=1e-5)
    # reference backward of L = Σ R ⊙ out
    R = rng.standard_normal(out.shape)
    do = R - np.exp(logp) * R.sum(axis=1, keepdims=True)
    g = {"fc2": (do.T @ h, do.sum(0))}
    dh = (do @ W["fc2"]) * (1 - h * h)
    g["fc1"] = (dh.T @ f, dh.sum(0))
    da3 = (dh @ W["fc1"]).reshape(a3.shape) * (1 - a3 * a3)
    dz2 = back2(da3) * (1 - a2 * a2)
    dp1, dw2, db2 = ref_conv_backward(p1, W["conv2"], dz2, 5)
    g["conv2"] = (dw2, db2)
    dz1 = back1(dp1) * (1 - a1 * a1)
    _, dw1, db1 = ref_conv_backward(x, W["conv1"], dz1, 5)
    g["conv1"] = (dw1, db1)
    assert net.backward(R.astype(np.float32), input_grad=False) is None
    for n, (gw, gb) in g.items():
        core = lay[n].core
        scale = np.abs(gw).max()
        np.testing.assert_allclose(core.weight_grad(), gw, rtol=1e-4, atol=1e-5 * scale, err_msg=n)
        np.testing.assert_allclose(core.grad_bias, gb, rtol=1e-4, atol=1e-5 * np.abs(gb).max(), err_msg=n)


@pytest.mark.parametrize("alg", ["asgd", "tt"])
@pytest.mark.parametrize("noisy", [False, True])
def test_analog_cnn_trains_with_and_without_periphery(rng, alg, noisy):
    io = dict(zip(("io_forward", "io_backward"), _noisy_io())) if noisy else {}
    net = lenet(_factories()[alg], channels=(3, 4), hidden=6, n_classes=5, in_hw=16, seed=4, **io)
    before = {k: v.copy() for k, v in net.state_arrays().items()}
    for _ in range(3):
        loss = T.train_step(net, rng.random((4, 1, 16, 16), dtype=np.float32), rng.integers(0, 5, 4), 0.1,
                            np.random.default_rng(2))
        assert np.isfinite(loss)
    after = net.state_arrays()
    for n in ("conv1", "conv2", "fc1", "fc2"):
        k = n + ".opt.w" if n + ".opt.w" in after else next(a for a in after if a.startswith(n + ".opt"))
        assert np.all(np.isfinite(after[k])) and not np.array_equal(after[k], before[k]), k


@pytest.mark.parametrize("dev", [cv.SoftBounds(0.7), cv.Ideal(), cv.ConstantStep(0.5, -0.5, up_down=0.2),
                                 cv.Power(0.6, 0.5), cv.Power(0.6, 1.0)], ids=lambda d: d.spec())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_expected_write_with_cached_coefficients_is_the_expected_update(rng, dev, dtype):
    """The layers' expected-mode write (``optim._update``: an affine device's coefficients cached once) equals
    :func:`convergence.physics.pulses.expected_update` bit for bit (net form; a non-affine device's net write is
    its "signs" form with S = |ΔW|)."""
    from convergence.physics.pulses import EXPECTED, expected_update
    w = rng.uniform(-0.3, 0.3, (7, 9)).astype(dtype)
    dw = (rng.standard_normal((7, 9)) * 0.05).astype(dtype)
    got = optim._update(w, dw, dev, EXPECTED, None)
    ref = expected_update(w, dw, dev) if dev.affine() is not None else expected_update(w, dw, dev, total=np.abs(dw))
    assert got.dtype == ref.dtype == dtype
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(optim._update(w, dw, dev, EXPECTED, None), ref)     # second call: the cached map
