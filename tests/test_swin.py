"""Micro Swin: shape contracts, static tables from first principles, finite-difference gradients (float64)."""
from __future__ import annotations

import numpy as np
import pytest

from convergence import ConfigError
from convergence.swin import model as M

TINY = [M.SwinConfig(img=8, patch=2, embed=8, depths=(2, 2), heads=(2, 2), window=2, n_classes=3),
        M.SwinConfig(img=16, patch=2, embed=8, depths=(2, 1), heads=(2, 2), window=4, n_classes=3)]


def _perturbed(cfg, seed=0):
    rng = np.random.default_rng(seed)
    p = M.init(cfg, rng, dtype=np.float64)
    # move away from the symmetric init (zero biases, unit gains) so every term is exercised
    return {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in p.items()}, rng


def _loss(p, x, y, cfg):
    return M.cross_entropy(M.forward(p, x, cfg)[0], y)[0]


@pytest.mark.parametrize("cfg", TINY, ids=["shift1-window2", "shift2-window4"])
def test_every_parameter_gradient_matches_central_differences(cfg):
    p, rng = _perturbed(cfg)
    x = rng.standard_normal((3, 1, cfg.img, cfg.img))
    y = np.array([0, 1, 2])
    _, g = M.loss_and_grads(p, x, y, cfg)
    assert set(g) == set(p)
    eps = 1e-6
    for k in p:   # one random direction per parameter array: <g, v> vs (L(p+εv) − L(p−εv))/2ε
        v = rng.standard_normal(p[k].shape)
        lp = _loss({**p, k: p[k] + eps * v}, x, y, cfg)
        lm = _loss({**p, k: p[k] - eps * v}, x, y, cfg)
        fd, an = (lp - lm) / (2 * eps), float((g[k] * v).sum())
        assert abs(fd - an) <= 1e-6 * (abs(fd) + abs(an)) + 1e-9, (k, fd, an)


def test_input_gradient_matches_central_differences():
    cfg = TINY[1]
    p, rng = _perturbed(cfg, 1)
    x = rng.standard_normal((2, 1, cfg.img, cfg.img))
    y = np.array([1, 2])
    logits, cache = M.forward(p, x, cfg)
    _, dl = M.cross_entropy(logits, y)
    _, _, dx = M.backward(p, cache, dl, cfg, input_grad=True)
    v = rng.standard_normal(x.shape)
    fd = (_loss(p, x + 1e-6 * v, y, cfg) - _loss(p, x - 1e-6 * v, y, cfg)) / 2e-6
    assert fd == pytest.approx(float((dx * v).sum()), rel=1e-6)


def test_relative_index_and_shift_mask_from_first_principles():
    m = 3
    idx = M.relative_position_index(m)
    for i in range(m * m):
        for j in range(m * m):
            (ri, ci), (rj, cj) = divmod(i, m), divmod(j, m)
            assert idx[i, j] == (ri - rj + m - 1) * (2 * m - 1) + (ci - cj + m - 1)
    # mask of an 8x8 map, window 4, shift 2: after rolling by −2 the regions are rows/cols
    # [0,4), [4,6), [6,8); two tokens may attend iff both coordinates lie in the same region
    mask = M.shift_mask(8, 4, 2)
    region = lambda a: 0 if a < 4 else (1 if a < 6 else 2)  # noqa: E731
    for w in range(4):
        wr, wc = divmod(w, 2)
        for i in range(16):
            for j in range(16):
                ri, ci = wr * 4 + i // 4, wc * 4 + i % 4
                rj, cj = wr * 4 + j // 4, wc * 4 + j % 4
                same = region(ri) == region(rj) and region(ci) == region(cj)
                assert mask[w, i, j] == (0.0 if same else -100.0)


def test_window_partition_roundtrip_and_shapes():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 8, 3))
    w = M.window_partition(x, 4)
    assert w.shape == (8, 16, 3)
    np.testing.assert_array_equal(w[1].reshape(4, 4, 3), x[0, 0:4, 4:8])
    np.testing.assert_array_equal(M.window_reverse(w, 4, 2, 8, 8), x)


def test_micro_config_shapes_and_param_count():
    cfg = M.SwinConfig()
    p = M.init(cfg, 0)
    assert all(v.dtype == np.float32 for v in p.values())
    # hand count: embed 16*32+32, LN 2*32; stage-1 block: 2 LN (128) + qkv 32*96+96 + rpb 49*2 + proj 32*32+32
    # + fc1 32*128+128 + fc2 128*32+32; merge LN 2*128 + 128*64; stage-2 block (C=64, 4 heads, M=4);
    # final LN 128 and head 64*5+5
    blk = lambda c, h: 4 * c + (3 * c * c + 3 * c) + 49 * h + (c * c + c) + (4 * c * c + 4 * c) + (4 * c * c + c)  # noqa
    expected = (16 * 32 + 32) + 64 + 2 * blk(32, 2) + (256 + 128 * 64) + 2 * blk(64, 4) + 128 + (64 * 5 + 5)
    assert M.n_params(p) == expected
    x = np.zeros((3, 1, 32, 32), np.float32)
    logits, _ = M.forward(p, x, cfg)
    assert logits.shape == (3, 5) and logits.dtype == np.float32
    assert sorted(M.default_analog(p)) == sorted(
        [f"s{s}.b{j}.{n}" for s in (0, 1) for j in (0, 1) for n in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")]
        + ["head"])


def test_bad_configs_raise():
    with pytest.raises(ConfigError):
        M.SwinConfig(img=30, patch=4)
    with pytest.raises(ConfigError):
        M.SwinConfig(embed=30, heads=(4, 4))
    with pytest.raises(ConfigError):
        M.forward(M.init(M.SwinConfig(), 0), np.zeros((1, 3, 32, 32)), M.SwinConfig())
