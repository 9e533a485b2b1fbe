"""The analog MVM periphery: exactness when perfect, DAC/ADC quantisation, bounds, noise and bound management."""
from __future__ import annotations

import math

import numpy as np
import pytest

from convergence._validate import ConfigError
from convergence.physics.periphery import IOParameters, backward, discretize, forward, mvm

K = 4.0


def _eye(T, n):
    return np.broadcast_to(np.eye(n), (T, n, n)).copy()


def test_perfect_io_is_the_exact_product():
    rng = np.random.default_rng(0)
    w, x, d = rng.standard_normal((3, 4, 5)), rng.standard_normal((3, 7, 5)), rng.standard_normal((3, 7, 4))
    assert IOParameters().is_perfect
    assert np.allclose(forward(w, x), np.einsum("toi,tsi->tso", w, x), rtol=0, atol=1e-13)
    assert np.allclose(backward(w, d), np.einsum("toi,tso->tsi", w, d), rtol=0, atol=1e-13)


def test_input_quantisation_and_bound():
    """With W = I the output shows the DAC: Q(x) = Δ·round(x/Δ), Δ = inp_res·2·inp_bound, then clip to ±inp_bound."""
    x = np.array([[[0.1, -0.37, 0.74, 1.6, -2.2]]])
    y = forward(_eye(1, 5), x, IOParameters(inp_res=0.125, inp_bound=1.0))      # Δ = 0.125·2 = 0.25
    assert np.allclose(y, [[[0.0, -0.25, 0.75, 1.0, -1.0]]], rtol=0, atol=1e-15)
    # aihwkit convention: a resolution r > 1 means 1/r (8 steps over the range [-1, 1])
    y8 = forward(_eye(1, 5), x, IOParameters(inp_res=8, inp_bound=1.0))
    assert np.array_equal(y, y8)
    # the same fraction on a wider range is a coarser step: inp_bound 2 -> Δ = 0.5
    y2 = forward(_eye(1, 5), x, IOParameters(inp_res=0.125, inp_bound=2.0))
    assert np.allclose(y2, [[[0.0, -0.5, 0.5, 1.5, -2.0]]], rtol=0, atol=1e-15)


def test_output_quantisation_and_bound():
    x = np.array([[[0.123, -0.456, 3.3]]])
    y = forward(_eye(1, 3), x, IOParameters(out_res=0.025, out_bound=2.0))       # Δ = 0.025·4 = 0.1
    assert np.allclose(y, [[[0.1, -0.5, 2.0]]], rtol=0, atol=1e-12)


def test_resolution_is_a_fraction_of_the_range():
    """aihwkit's rule: step = res·2·bound (res > 1 read as 1/res), e.g. the default transfer read of a
    TransferCompound (out_bound 12, out_res 1/510) quantises in steps of 24/510."""
    io = IOParameters(out_res=1 / 510, out_bound=12.0)
    assert io.out_step == pytest.approx(24 / 510, rel=1e-15)
    assert IOParameters(out_res=510, out_bound=12.0).out_step == pytest.approx(24 / 510, rel=1e-15)
    assert IOParameters(inp_res=1 / 126, inp_bound=1.0).inp_step == pytest.approx(1 / 63, rel=1e-15)
    assert IOParameters().inp_step == 0.0 and IOParameters().out_step == 0.0
    # hand-computed reads through W = I: 0.1 = 2.125 steps -> 2 steps = 0.0941176..; 0.07 = 1.4875 -> 1 step;
    # -0.3 = -6.375 -> -6 steps; 13 -> clipped to 12
    x = np.array([[[0.1, 0.07, -0.3, 13.0]]])
    y = forward(_eye(1, 4), x, io)
    assert np.allclose(y, [[[2 * 24 / 510, 24 / 510, -6 * 24 / 510, 12.0]]], rtol=0, atol=1e-12)
    # a 1/510 step of the *fraction* alone (the old reading) would have kept 0.1 at 51 steps of 1/510
    assert abs(y[0, 0, 0] - 0.1) > 0.005
    with pytest.raises(ConfigError, match="inp_res > 0 needs a finite inp_bound"):
        IOParameters(inp_res=0.1)
    with pytest.raises(ConfigError, match="out_res > 0 needs a finite out_bound"):
        IOParameters(out_res=0.1)


def test_noise_management_fits_inputs_into_the_bound():
    """abs-max NM divides by max|x| before the DAC and multiplies back: exact without res/noise."""
    rng = np.random.default_rng(1)
    w, x = rng.standard_normal((2, 3, 4)), 5 * rng.standard_normal((2, 6, 4))
    io = IOParameters(inp_bound=1.0, noise_management="abs_max")
    assert np.allclose(forward(w, x, io), np.einsum("toi,tsi->tso", w, x), rtol=0, atol=1e-12)
    # without NM the input is clipped
    clipped = np.einsum("toi,tsi->tso", w, np.clip(x, -1, 1))
    assert np.allclose(forward(w, x, IOParameters(inp_bound=1.0)), clipped, rtol=0, atol=1e-12)
    # with a DAC: y = s · W Q(x/s), s = max|x|
    io_r = IOParameters(inp_bound=1.0, inp_res=0.05, noise_management="abs_max")      # Δ = 0.05·2 = 0.1
    s = np.abs(x).max(axis=-1, keepdims=True)
    manual = s * np.einsum("toi,tsi->tso", w, 0.1 * np.round(x / s / 0.1))
    assert np.allclose(forward(w, x, io_r), manual, rtol=0, atol=1e-12)
    # zero input -> zero output
    assert not forward(w, np.zeros((2, 1, 4)), io_r).any()


def test_iterative_bound_management():
    """BM halves the input until no output saturates: exact result; stops at max_bm_factor (aihwkit rule)."""
    w = np.ones((1, 1, 5))
    x = np.ones((1, 1, 5))                       # W x = 5
    io = IOParameters(out_bound=1.0, bound_management="iterative")
    assert forward(w, x, io).item() == pytest.approx(5.0, abs=1e-12)
    assert forward(w, x, IOParameters(out_bound=1.0)).item() == pytest.approx(1.0, abs=1e-15)
    # reductions 1, 2 fail and 2 <= 2 allows one more round at 4: 4 · clip(5/4) = 4
    capped = IOParameters(out_bound=1.0, bound_management="iterative", max_bm_factor=2)
    assert forward(w, x, capped).item() == pytest.approx(4.0, abs=1e-12)
    # the DAC limit: stop when reduction > max_bm_res / Δ_in = 0.25/(0.0625·2) = 2
    res_cap = IOParameters(out_bound=1.0, bound_management="iterative", inp_res=0.0625, inp_bound=1.0)
    assert forward(w, x, res_cap).item() == pytest.approx(4.0, abs=1e-12)
    # a wider input range makes the same fraction a coarser step: Δ_in = 0.0625·2·2 = 0.25, limit 1, stop at 2
    res_cap = IOParameters(out_bound=1.0, bound_management="iterative", inp_res=0.0625, inp_bound=2.0)
    assert forward(w, x, res_cap).item() == pytest.approx(2.0, abs=1e-12)
    # backward never uses bound management (aihwkit forces it off)
    assert backward(np.ones((1, 5, 1)), x, io).item() == pytest.approx(1.0, abs=1e-15)


def test_weight_noise_is_additive_constant():
    """w_noise σ: y − W x ~ N(0, σ²‖x‖²) independently per output and sample."""
    T, S = 50, 400
    rng = np.random.default_rng(2)
    w, x = rng.standard_normal((T, 2, 3)), rng.standard_normal((T, S, 3))
    z = (forward(w, x, IOParameters(w_noise=0.2), rng) - np.einsum("toi,tsi->tso", w, x))
    z = z / (0.2 * np.linalg.norm(x, axis=-1, keepdims=True))
    n = z.size
    assert abs(z.mean()) <= K / math.sqrt(n)
    assert abs(z.var() - 1.0) <= K * math.sqrt(2.0 / n)


def test_output_noise_std():
    T, S = 20, 1000
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal((T, 3, 2)), rng.standard_normal((T, S, 2))
    z = forward(w, x, IOParameters(out_noise=0.05), rng) - np.einsum("toi,tsi->tso", w, x)
    assert abs(z.std() / 0.05 - 1.0) <= K * math.sqrt(0.5 / z.size)


def test_stochastic_rounding_is_unbiased():
    rng = np.random.default_rng(4)
    v = np.full((100000,), 0.37)
    q = discretize(v, 0.25, True, rng)
    assert set(np.unique(q)) <= {0.25, 0.5}
    se = q.std() / math.sqrt(q.size)
    assert abs(q.mean() - 0.37) <= K * se


def test_determinism():
    io = IOParameters(w_noise=0.1, out_noise=0.02, inp_res=1 / 126, out_res=1 / 510, inp_sto_round=True,
                      out_bound=2.0, bound_management="iterative", noise_management="abs_max", inp_bound=1.0)
    w, x = np.ones((2, 3, 4)), np.linspace(-3, 3, 2 * 5 * 4).reshape(2, 5, 4)
    a = forward(w, x, io, np.random.default_rng(7))
    b = forward(w, x, io, np.random.default_rng(7))
    c = forward(w, x, io, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_bad_io_parameters():
    with pytest.raises(ConfigError, match="out_bound"):
        IOParameters(out_bound=-1.0)
    with pytest.raises(ConfigError, match="w_noise"):
        IOParameters(w_noise=-0.1)
    with pytest.raises(ConfigError, match="noise_management"):
        IOParameters(noise_management="max")
    with pytest.raises(ConfigError, match="bound_management"):
        IOParameters(bound_management="iterative_worst_case", out_bound=1.0)
    with pytest.raises(ConfigError, match="finite out_bound"):
        IOParameters(bound_management="iterative")
    with pytest.raises(ConfigError, match="rng"):
        forward(np.ones((1, 1, 1)), np.ones((1, 1, 1)), IOParameters(out_noise=0.1))


def test_weight_noise_uses_the_clipped_input():
    """With a finite inp_bound the DAC clips first: mean W clip(x), noise std w_noise·‖clip(x)‖ —
    both when the bound binds and when every ‖x‖ is already inside it."""
    T, S = 200, 200
    w = np.broadcast_to(np.array([[1.0, -2.0, 0.5]]), (T, 1, 3)).copy()
    for x0 in (np.array([3.0, -0.2, 1.5]), np.array([0.3, -0.2, 0.1])):
        x = np.broadcast_to(x0, (T, S, 3)).copy()
        xc = np.clip(x0, -1.0, 1.0)
        y = forward(w, x, IOParameters(w_noise=0.1, inp_bound=1.0), np.random.default_rng(6))[..., 0]
        std = 0.1 * np.linalg.norm(xc)
        assert abs(y.mean() - w[0, 0] @ xc) <= K * std / math.sqrt(y.size)
        assert abs(y.std() / std - 1.0) <= K * math.sqrt(0.5 / y.size)


@pytest.mark.parametrize("io", [
    IOParameters(w_noise=0.1, inp_bound=10.0, out_bound=10.0),                      # norms used, bounds inactive
    IOParameters(w_noise=0.1, inp_bound=1.0, out_bound=2.0),                        # the input clip binds
    IOParameters(w_noise=0.1, inp_noise=0.05, inp_bound=10.0),                      # input noise: norms unusable
    IOParameters(w_noise=0.1, inp_res=1 / 126, inp_bound=3.0),                      # DAC steps: norms unusable
    IOParameters(w_noise=0.1, out_noise=0.02, noise_management="abs_max", inp_bound=1.0, out_bound=3.0,
                 bound_management="iterative"),                                      # scaled inputs: norms unusable
], ids=["inside", "clipped", "inp_noise", "inp_res", "nm_bm"])
def test_precomputed_input_norms_change_nothing(io):
    """A read of fixed inputs with their InputNorms (Σx², its maximum, the weight-noise scale) equals, bit for bit,
    the read that computes them, whether or not the norms apply to the inputs the crossbar sees."""
    from convergence.physics.periphery import InputNorms
    rng = np.random.default_rng(5)
    w, x = rng.standard_normal((3, 2, 6)), 0.6 * rng.standard_normal((3, 8, 6))
    norms = InputNorms(x)
    for _ in range(2):            # the second read uses the kept noise scale
        a = forward(w, x, io, np.random.default_rng(9))
        b = forward(w, x, io, np.random.default_rng(9), x_norms=norms)
        assert np.array_equal(a, b)


# -- float32 arithmetic (the network layers' dtype) against the float64 reference ---------------------------------

_P1 = IOParameters(inp_res=1 / 254, out_res=1 / 254, inp_bound=1.0, out_bound=20.0, out_noise=0.1,
                   noise_management="abs_max", bound_management="iterative")


def _both(io, transposed, seed=5):
    rng = np.random.default_rng(seed)
    w = rng.uniform(-0.3, 0.3, (1, 64, 200)).astype(np.float32)
    x = (0.5 * rng.standard_normal((1, 2000, 64 if transposed else 200))).astype(np.float32)
    y64 = mvm(w, x, io, np.random.default_rng(7), transposed=transposed)
    y32 = mvm(w, x, io, np.random.default_rng(7), transposed=transposed, dtype=np.float32)
    return w, x, y32, y64


@pytest.mark.parametrize("transposed", [False, True])
def test_float32_periphery_follows_the_float64_reference_up_to_rare_rounding_flips(transposed):
    """Computed in float32, a quantised MVM differs from the float64 one only where a value lies within float32
    rounding (relative 6e-8) of a DAC or ADC decision boundary: there the level flips by one step. With 127
    levels per side such an element occurs with probability of order 1e-5 per quantiser; we allow 1e-3 (a
    deterministic check on fixed seeds: 128 000 forward or 400 000 backward outputs). Every difference is at most
    one ADC step times the sample's noise-management scale (max |x| ≤ 2.5 here, β = 1 without saturation) plus
    float32 rounding."""
    io = _P1 if not transposed else IOParameters(**{**_P1.as_dict(), "bound_management": "none"})
    w, x, y32, y64 = _both(io, transposed)
    assert y32.dtype == np.float32 and y64.dtype == np.float64 and y32.shape == y64.shape
    diff = np.abs(y32.astype(np.float64) - y64)
    assert np.mean(diff > 1e-5 * (1.0 + np.abs(y64))) < 1e-3
    scale = np.abs(x).max(axis=-1, keepdims=True).astype(np.float64)     # s_nm per sample
    assert np.all(diff <= io.out_step * scale + 1e-5 * (1.0 + np.abs(y64)))


def test_float32_periphery_draws_the_same_noise():
    """The noises are the generator's float64 draws in either dtype: without quantisation the two results agree
    to float32 rounding (other draws would differ by the noise itself, std 0.1)."""
    io = IOParameters(out_noise=0.1, w_noise=0.05, inp_noise=0.02)
    w, x, y32, y64 = _both(io, False)
    np.testing.assert_allclose(y32, y64, rtol=2e-5, atol=2e-5)
    assert np.std(y64 - mvm(w, x, io, np.random.default_rng(8))) > 0.05     # a different stream: visibly different


def test_float64_is_the_default_and_a_non_float_dtype_is_refused():
    rng = np.random.default_rng(0)
    w, x = rng.standard_normal((1, 3, 4)), rng.standard_normal((1, 5, 4))
    io = IOParameters(out_noise=0.1, out_res=0.01, out_bound=10.0)
    a = forward(w, x, io, np.random.default_rng(1))
    b = forward(w, x, io, np.random.default_rng(1), dtype=np.float64)
    assert a.dtype == np.float64 and np.array_equal(a, b)
    with pytest.raises(ConfigError, match="float dtype"):
        forward(w, x, io, np.random.default_rng(1), dtype=np.int32)


def test_float64_input_norms_are_not_mixed_into_a_float32_read():
    """Precomputed norms (InputNorms, float64 for the tile's inputs) of another dtype than the read's are formed
    again from the inputs: a float32 read with them equals the same read without them."""
    from convergence.physics.periphery import InputNorms

    io = IOParameters(w_noise=0.05, out_noise=0.1)
    rng = np.random.default_rng(4)
    w, x = rng.uniform(-0.5, 0.5, (1, 6, 9)), rng.uniform(-1, 1, (1, 5, 9))
    a = mvm(w, x, io, np.random.default_rng(1), x_norms=InputNorms(x), dtype=np.float32)
    b = mvm(w, x, io, np.random.default_rng(1), dtype=np.float32)
    assert a.dtype == np.float32 and np.array_equal(a, b)
