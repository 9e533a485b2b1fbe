"""The float32 fast kernels (A&S 7.1.26 normal CDF, GELU, threaded blocks) against exact references.

References are independent of the code under test: ``scipy.special.ndtr`` in float64 and the
analytic GELU derivative Φ + xφ evaluated in float64.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from convergence.nn import _fastmath as F
from convergence.swin import model as M


def _grid() -> np.ndarray:
    rng = np.random.default_rng(5)
    return np.concatenate([np.linspace(-12, 12, 400_001), 3 * rng.standard_normal(300_000),
                           [0.0, -0.0, 1e-30, -1e-30]]).astype(np.float32)


def test_float32_normal_cdf_within_stated_error_of_exact():
    x = _grid()
    cdf, gauss = F.normal_cdf(x)
    x64 = x.astype(np.float64)
    assert cdf.dtype == np.float32 and gauss.dtype == np.float32
    assert np.abs(cdf - special.ndtr(x64)).max() <= F.CDF_ABS_ERROR_F32
    ref = np.exp(-0.5 * x64 * x64)
    eps32 = float(np.finfo(np.float32).eps)        # exponent x²/2 carries a relative rounding of ~2 eps
    assert np.all(np.abs(gauss - ref) <= 4 * eps32 * (1 + 0.5 * x64 * x64) * ref + 1e-44)
    assert np.all((cdf >= 0) & (cdf <= 1))


def test_float64_path_is_scipy_exactly():
    x = np.linspace(-9, 9, 1001)
    cdf, _ = F.normal_cdf(x)
    np.testing.assert_array_equal(cdf, special.ndtr(x))


def test_float32_gelu_and_its_gradient_match_the_exact_erf_form():
    x = _grid()
    x64 = x.astype(np.float64)
    phi = special.ndtr(x64)
    y, cache = F.gelu(x)
    eps32 = np.finfo(np.float32).eps
    # error of x·Φ: |x|·(CDF error) + float32 rounding of the product
    assert np.all(np.abs(y - x64 * phi) <= np.abs(x64) * F.CDF_ABS_ERROR_F32 + 2 * eps32 * np.abs(x64 * phi) + 1e-37)
    dy = np.random.default_rng(1).standard_normal(x.size).astype(np.float32)
    g = F.gelu_grad(dy, x, cache)
    exact = dy * (phi + x64 * np.exp(-0.5 * x64 * x64) / math.sqrt(2 * math.pi))
    # Φ error plus a few ulps of each of the four float32 operations
    assert np.all(np.abs(g - exact) <= np.abs(dy) * (F.CDF_ABS_ERROR_F32 + 8 * eps32 * (1 + np.abs(x64) * 0.4)))


@pytest.mark.parametrize("threads", ["1", "2", "3"])
def test_threaded_blocks_are_bit_identical_to_one_thread(monkeypatch, threads):
    x = np.random.default_rng(2).standard_normal((700, 513)).astype(np.float32)   # above the parallel threshold
    monkeypatch.setenv("CONVERGENCE_ELEMENTWISE_THREADS", "1")
    y1, c1 = F.gelu(x)
    g1 = F.gelu_grad(x, x, c1)
    monkeypatch.setenv("CONVERGENCE_ELEMENTWISE_THREADS", threads)
    y, c = F.gelu(x)
    np.testing.assert_array_equal(y, y1)
    np.testing.assert_array_equal(c[0], c1[0])
    np.testing.assert_array_equal(F.gelu_grad(x, x, c), g1)


@pytest.mark.parametrize("n", [1, 2, 7, 16, 49])
def test_row_reductions_match_numpy(n):
    a = np.random.default_rng(n).standard_normal((3, 5, n)).astype(np.float32)
    np.testing.assert_array_equal(M._row_max(a), a.max(axis=-1, keepdims=True))
    np.testing.assert_allclose(M._row_sum(a), a.sum(axis=-1, keepdims=True), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(M._row_mean(a), a.mean(axis=-1, keepdims=True), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(M._col_sum(a), a.reshape(-1, n).sum(axis=0), rtol=1e-5, atol=1e-5)


def test_float32_swin_step_agrees_with_float64():
    """The float32 training path (fast GELU, BLAS reductions) gives the float64 logits and gradients
    to float32 accuracy on the micro-Swin."""
    cfg = M.SwinConfig()
    p64 = M.init(cfg, 3, dtype=np.float64)
    p32 = {k: v.astype(np.float32) for k, v in p64.items()}
    rng = np.random.default_rng(4)
    x = rng.standard_normal((16, 1, 32, 32))
    y = rng.integers(0, cfg.n_classes, 16)
    l64, g64 = M.loss_and_grads(p64, x, y, cfg)
    l32, g32 = M.loss_and_grads(p32, x.astype(np.float32), y, cfg)
    assert abs(l32 - l64) <= 1e-5 * abs(l64)
    for k, g in g64.items():
        scale = np.abs(g).max() + 1e-12
        assert np.abs(g32[k] - g).max() <= 1e-3 * scale, k


def test_sharded_gradients_equal_the_whole_batch_gradients():
    """Data-parallel shards (threads) give the whole-batch loss and gradients (float64, exact up to
    the summation order)."""
    cfg = M.SwinConfig(img=16, embed=16, heads=(2, 2), n_classes=3)
    p = M.init(cfg, 7, dtype=np.float64)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((9, 1, 16, 16))
    y = rng.integers(0, 3, 9)
    loss, ref = M.loss_and_grads(p, x, y, cfg)
    keep = {"head", "s0.b0.mlp.fc1"}
    for shards in (1, 2, 4, 20):
        l2, g, io = M.sharded_loss_and_grads(p, x, y, cfg, keep_io=keep, shards=shards)
        assert abs(l2 - loss) <= 1e-13 * abs(loss)
        assert set(io) == keep and all(k + ".w" not in g for k in keep)
        for name in keep:
            xs, ds = io[name]
            g[name + ".w"] = np.concatenate(ds).T @ np.concatenate(xs)
        assert set(g) == set(ref)
        for k, v in ref.items():
            np.testing.assert_allclose(g[k], v, rtol=1e-10, atol=1e-14 * (np.abs(v).max() + 1e-300))


def test_train_step_bit_identical_for_any_thread_count(monkeypatch):
    from convergence.swin.analog import AnalogSpec, init_train_state, train_step, visible_params

    cfg = M.SwinConfig(img=16, embed=16, heads=(2, 2), n_classes=3)
    rng = np.random.default_rng(9)
    x = rng.standard_normal((12, 1, 16, 16)).astype(np.float32)
    y = rng.integers(0, 3, 12)
    out = []
    for threads in ("1", "2"):
        monkeypatch.setenv("CONVERGENCE_ELEMENTWISE_THREADS", threads)
        for spec in (None, AnalogSpec(algorithm="c-ttv2", n_states=200)):
            st = init_train_state(M.init(cfg, 1), cfg, spec, None, 12, np.random.default_rng(2))
            r = np.random.default_rng(3)
            losses = [train_step(st, x, y, 0.05, r) for _ in range(3)]
            out.append((losses, visible_params(st)))
    for a, b in ((out[0], out[2]), (out[1], out[3])):
        assert a[0] == b[0]
        for k in a[1]:
            np.testing.assert_array_equal(a[1][k], b[1][k])
