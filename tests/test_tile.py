"""The aihwkit-like tile: device pulses, pulse trains, update management, modes, determinism.

Reference numbers were measured with aihwkit 1.2.0 (CPU) or come from
closed forms derived in the test docstrings — never from the code under test.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import convergence as cv
from convergence._validate import ConfigError
from convergence.physics.periphery import IOParameters
from convergence.tile.analog_tile import (AnalogTile, FixedInput, UpdateParameters, coincidence_counts, coincidences,
                              pulse_train_parameters, pulse_train_probabilities)
from convergence.physics.reference_device import SoftBoundsReference, apply_device_pulses, concatenate_devices
from convergence.physics.pulses import apply_pulses

K = 4.0  # statistical margin in standard errors


def _single_pulse_trajectory(device, n_up=60, n_down=60, **kw):
    """aihwkit §8 method: 1×1 tile, lr = granularity, |x| = |d| = 1 ⇒ BL = 1, p = q = 1: one pulse per update."""
    dw = kw.pop("dw_min", None)
    tile = AnalogTile(device, (1, 1, 1), update=UpdateParameters(desired_bl=1), rng=0, dw_min=dw, **kw)
    lr = dw if dw is not None else tile.model.dw_min.item()
    one = np.ones((1, 1, 1))
    traj = [tile.w.item()]
    for k in range(n_up + n_down):
        # lr > 0, x = 1: d = -1 gives sign(x)sign(d)sign(lr) < 0 -> an up pulse
        tile.update(one, -one if k < n_up else one, lr)
        traj.append(tile.w.item())
    return np.array(traj), tile


# -- device pulses: numbers measured with aihwkit 1.2.0 ------------------------------------------------------------

def test_reference_device_reproduces_aihwkit_table():
    """SoftBoundsReference up_down 0.2, subtract_symmetry_point: w* = 0.111111, 0.624397, −0.451736."""
    dev = SoftBoundsReference(dw_min=0.02, w_max=1.0, w_min=-1.0, up_down=0.2, subtract_symmetry_point=True)
    traj, tile = _single_pulse_trajectory(dev)
    assert tile.device.ref.item() == pytest.approx(0.111111, abs=1e-6)
    assert traj[0] == 0.0
    assert traj[60] == pytest.approx(0.624397, abs=2e-6)
    assert traj[120] == pytest.approx(-0.451736, abs=2e-6)


def test_softbounds_row_without_reference():
    """aihwkit SoftBounds w_max = 1, w_min = −0.5 (noise-free): 0.702447 and −0.396166."""
    dev = SoftBoundsReference(dw_min=0.02, w_max=1.0, w_min=-0.5)
    traj, _ = _single_pulse_trajectory(dev)
    assert traj[60] == pytest.approx(0.702447, abs=2e-6)
    assert traj[120] == pytest.approx(-0.396166, abs=2e-6)


@pytest.mark.parametrize("up_down,after_up,after_down", [(0.0, 1.0, -0.2), (0.3, 1.0, 0.16)])
def test_constant_step_rows_through_the_fallback_path(up_down, after_up, after_down):
    """ConstantStep numbers measured with aihwkit 1.2.0 (hard bounds: the sequential, clipping path)."""
    traj, tile = _single_pulse_trajectory(cv.ConstantStep(1.0, -1.0, up_down), dw_min=0.02)
    assert not tile.model.closed_form
    assert traj[60] == pytest.approx(after_up, abs=1e-9)
    assert traj[120] == pytest.approx(after_down, abs=1e-9)


def test_alternating_pulses_settle_at_the_subtracted_symmetric_point():
    """Measured with aihwkit 1.2.0: 4000 alternating ± pulses from visible 0.5 end within one step of 0."""
    dev = SoftBoundsReference(dw_min=0.02, w_max=1.0, w_min=-1.0, up_down=0.2, subtract_symmetry_point=True)
    tile = AnalogTile(dev, (1, 1, 1), update=UpdateParameters(desired_bl=1), rng=0, w0=0.5)
    one = np.ones((1, 1, 1))
    for k in range(4000):
        tile.update(one, one if k % 2 else -one, 0.02)
    assert abs(tile.w.item()) <= 0.02


def test_symmetric_point_formula_matches_equal_steps():
    """At w* − ref the up and down steps are equal (definition of the symmetric point)."""
    dev = SoftBoundsReference(dw_min=0.01, w_max=0.8, w_min=-1.2, up_down=-0.15, up_down_dtod=0.05,
                              dw_min_dtod=0.1, w_max_dtod=0.1, w_min_dtod=0.1
                              ).realize((3, 2, 4), np.random.default_rng(1))
    ws = dev.symmetric_point
    assert np.allclose(dev.q_plus(ws), dev.q_minus(ws), rtol=0, atol=1e-12)


def test_closed_form_composition_equals_pulse_by_pulse(monkeypatch):
    """Both composers (sparse pulse groups and dense per-sample rows) equal applying every sample's
    pulses in order with the per-pulse closed form (``apply_pulses``)."""
    from convergence.tile import analog_tile
    from convergence.tile.analog_tile import _compose, _compose_counts, _compose_pulses
    rng = np.random.default_rng(3)
    dev = SoftBoundsReference(dw_min=0.05, w_max=1.0, w_min=-0.7, up_down=0.1, dw_min_dtod=0.2,
                              w_max_dtod=0.1).realize((5, 2, 3), rng)
    tile = AnalogTile(dev, (5, 2, 3), update=UpdateParameters(desired_bl=6), rng=4, w0=0.2)
    assert tile.model.closed_form
    x = rng.standard_normal((5, 7, 3))
    d = rng.standard_normal((5, 7, 2))
    bl, a, b = pulse_train_parameters(x, d, 0.3, 0.05, tile.update_parameters)
    counts = coincidence_counts(x, d, a, b, bl, rng)
    assert np.any(counts > 1)
    sign = -np.sign(d)[:, :, :, None] * np.sign(x)[:, :, None, :]
    w = tile.w.copy()
    for s in range(7):
        w = apply_pulses(w, counts[:, s], sign[:, s], dev, dev.dw_min)
    t, s_, i, j = np.nonzero(counts)
    elem = (t * 2 + i) * 3 + j
    fast = _compose_pulses(tile.w, elem, counts[t, s_, i, j], sign[t, s_, i, j], tile.model)
    assert np.allclose(fast, w, rtol=0, atol=1e-12)
    m = tile.model
    up = sign > 0
    log_alpha = counts * np.where(up, m.log_r_up[:, None], m.log_r_dn[:, None])
    beta = -np.expm1(log_alpha) * np.where(up, m.hi[:, None], m.lo[:, None])
    dense = _compose(tile.w, np.repeat(np.arange(5), 7), log_alpha.reshape(35, 2, 3), beta.reshape(35, 2, 3))
    assert np.allclose(dense, w, rtol=0, atol=1e-12)
    # the counts composer, batched and row by row (the large-tile order of evaluation)
    rows, ups = counts.reshape(35, 2, 3), up.reshape(35, 2, 3)
    t_rows = np.repeat(np.arange(5), 7)
    batched = _compose_counts(tile.w, t_rows, rows, lambda r, out: np.where(ups[r], 1.0, -1.0), m)
    assert np.array_equal(batched, dense)
    monkeypatch.setattr(analog_tile, "_ROW_LOOP_MIN", 1)
    by_row = _compose_counts(tile.w, t_rows, rows, lambda r, out: np.where(ups[r], 1.0, -1.0), m)
    assert np.allclose(by_row, w, rtol=0, atol=1e-12)
    assert np.allclose(by_row, batched, rtol=0, atol=4 * np.finfo(float).eps)


@pytest.mark.parametrize("S, scale, device", [(1, 4e-4, "reference"), (5, 6e-4, "reference"), (9, 4e-4, "device"),
                                              (100, 2e-4, "reference"), (140, 2e-4, "device"),
                                              (300, 2e-4, "reference")])
def test_sparse_rounding_write_equals_the_dense_composition_bit_for_bit(monkeypatch, S, scale, device):
    """The rounding write composes only its nonzero counts (_compose_sparse) where few are nonzero; it gives the
    dense composition's numbers bit for bit (the zero counts add −0.0 and ±0 only) for sample counts on every path
    of NumPy's summation (fewer than 9 rows, up to 129, more), a realised reference device with device-to-device
    spread and a toolkit device, pulses in both directions and pulsed-element masks, over several steps."""
    from convergence.tile import analog_tile

    rng = np.random.default_rng(S)
    T, n_out, n_in = 3, 2, 5
    if device == "reference":
        dev = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-0.8, up_down=0.1, dw_min_dtod=0.2,
                                  w_max_dtod=0.1).realize((T, n_out, n_in), rng)
        kw = {}
    else:
        dev, kw = cv.SoftBounds(0.9), {"dw_min": np.array([0.01, 0.02, 0.015])}
    runs, taken = {}, []
    sparse = analog_tile._compose_sparse

    def spy(*args):
        out = sparse(*args)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(analog_tile, "_compose_sparse", spy)
    for share in (analog_tile._SPARSE_SHARE, -1.0):           # -1: every write takes the dense composition
        monkeypatch.setattr(analog_tile, "_SPARSE_SHARE", share)
        tile = AnalogTile(dev, (T, n_out, n_in), update=UpdateParameters(mode="rounding"), rng=7, w0=0.3, **kw)
        assert tile.model.closed_form
        g = np.random.default_rng(11)
        masks = []
        for _ in range(6):
            x, d = g.standard_normal((T, S, n_in)), g.standard_normal((T, S, n_out))
            new, mask = analog_tile.tile_update(tile.w, x, d, scale, tile.model, tile.update_parameters, tile.rng,
                                                want_pulsed=True)
            tile.w = new
            masks.append(mask)
        runs[share] = (tile.w, np.stack(masks))
    (w_sparse, m_sparse), (w_dense, m_dense) = runs[analog_tile._SPARSE_SHARE], runs[-1.0]
    assert np.array_equal(m_sparse, m_dense) and m_dense.any()
    assert w_sparse.tobytes() == w_dense.tobytes()
    assert sum(taken[:6]) >= 4 and not any(taken[6:])       # the first run wrote sparsely, the second densely
    # weights outside the range (a write that did not come through set_weights) are clipped by both forms alike
    g = np.random.default_rng(12)
    x, d = g.standard_normal((T, S, n_in)), g.standard_normal((T, S, n_out))
    w_out = w_dense + np.where(np.arange(n_in) % 2, 2.0, -2.0)
    got = []
    for share in (analog_tile._SPARSE_SHARE, -1.0):
        monkeypatch.setattr(analog_tile, "_SPARSE_SHARE", share)
        got.append(analog_tile.tile_update(w_out, x, d, scale, tile.model, tile.update_parameters,
                                           np.random.default_rng(5))[0])
    assert got[0].tobytes() == got[1].tobytes() and np.all(got[0] <= tile.model.hi)


@pytest.mark.parametrize("mode, share", [("rounding", None), ("rounding", -1.0), ("expected", None)])
def test_a_trials_write_does_not_depend_on_the_other_trials(monkeypatch, mode, share):
    """Every composition keeps its running sums within one trial (and one element), and the expected write chooses
    its closed form per trial: with the same random draws, the other trials of a write whose trial 0 gets other (or
    NaN) gradients come out bit for bit as before. (Not so for pulse trains: their draws are one array over the
    tile's trials, sized by the longest train, as aihwkit draws for a whole tile.)"""
    from convergence.tile import analog_tile

    if share is not None:
        monkeypatch.setattr(analog_tile, "_SPARSE_SHARE", share)
    T, S, n_out, n_in = 4, 30, 2, 6
    dev = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-0.8, dw_min_dtod=0.2).realize((T, n_out, n_in),
                                                                                             np.random.default_rng(1))
    tile = AnalogTile(dev, (T, n_out, n_in), update=UpdateParameters(mode=mode, desired_bl=31), rng=3, w0=0.2)
    g = np.random.default_rng(2)
    x, d = g.standard_normal((T, S, n_in)), 0.3 * g.standard_normal((T, S, n_out))
    ref = analog_tile.tile_update(tile.w, x, d, 0.05, tile.model, tile.update_parameters, np.random.default_rng(9))[0]
    for change in (2.0, np.nan):
        d2 = d.copy()
        d2[0] *= change
        new = analog_tile.tile_update(tile.w, x, d2, 0.05, tile.model, tile.update_parameters,
                                      np.random.default_rng(9))[0]
        assert new[1:].tobytes() == ref[1:].tobytes(), change


@pytest.mark.parametrize("n_out, sparse, max_bits", [(4, False, 1 << 22), (4, False, 1), (1, False, 1 << 22),
                                                     (4, True, 1 << 22), (4, True, 1)])
def test_dense_counts_are_the_coincidences_of_the_same_trains(n_out, sparse, max_bits):
    """The per-sample count matrices (a float32 bit-matrix product) equal, exactly, the coincidences of
    the same drawn trains counted one by one (same generator state)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 6, 16))
    if sparse:                                   # one-hot inputs take the compacted path
        x = np.zeros_like(x)
        x[:, np.arange(6), rng.integers(0, 16, 6)] = 1.0
    d = rng.standard_normal((3, 6, n_out))
    bl, a, b = pulse_train_parameters(x, d, 0.5, 0.01, UpdateParameters(desired_bl=9))
    dense = coincidence_counts(x, d, a, b, bl, np.random.default_rng(8), max_bits=max_bits)
    assert dense.sum() > 50
    assert np.array_equal(dense, _entries_as_counts(x, d, a, b, bl, np.random.default_rng(8), max_bits=max_bits))


# -- pulse trains and update management -------------------------------------------------------

def test_um_probabilities_closed_form():
    r"""Without clipping p_j = √(k/BL)|x_j|/max|x|, q_i = √(k/BL)|d_i|/max|d|; with k > BL_des,
    B = 1/max|x| and A = lr max|x|/(δ BL) (derived from aihwkit's update management)."""
    x = np.array([[[0.5, -1.0, 0.2, 0.0, 2.0, -0.3]]])
    d = np.array([[[0.3, -0.1, 0.05, 1.0]]])
    lr, dw = 0.01, 0.001
    k = lr * 2.0 * 1.0 / dw                                     # 20 expected pulses
    bl, p, q = pulse_train_probabilities(x, d, lr, dw, UpdateParameters(desired_bl=5000))
    assert bl.item() == 20
    assert np.allclose(p[0, 0], math.sqrt(k / 20) * np.abs(x[0, 0]) / 2.0, atol=1e-15)
    assert np.allclose(q[0, 0], math.sqrt(k / 20) * np.abs(d[0, 0]) / 1.0, atol=1e-15)
    bl, p, q = pulse_train_probabilities(x, d, lr, dw, UpdateParameters(desired_bl=8))
    assert bl.item() == 8
    assert np.allclose(p[0, 0], np.abs(x[0, 0]) / 2.0, atol=1e-15)
    assert np.allclose(q[0, 0], np.minimum(1.0, lr * 2.0 * np.abs(d[0, 0]) / (dw * 8)), atol=1e-15)
    # BL management off: BL = desired_bl
    bl, _, _ = pulse_train_probabilities(x, d, lr, dw, UpdateParameters(desired_bl=31, update_bl_management=False))
    assert bl.item() == 31
    # tiny gradients: BL = 1
    bl, _, _ = pulse_train_probabilities(x, 1e-6 * d, lr, dw, UpdateParameters(desired_bl=31))
    assert bl.item() == 1
    # zero input: no pulses
    bl, p, q = pulse_train_probabilities(0 * x, d, lr, dw, UpdateParameters())
    assert bl.item() == 0 and not p.any() and not q.any()


def _entries_as_counts(x, d, a, b, bl, rng, max_bits=1 << 22):
    counts = np.zeros(d.shape + (x.shape[-1],))
    t, s, i, j = coincidences(x, d, a, b, bl, rng, max_bits)
    np.add.at(counts, (t, s, i, j), 1.0)
    return counts


SAMPLERS = {
    "dense": coincidence_counts,
    "entries": _entries_as_counts,
    # one BL slot per chunk: exercises the merging of chunks
    "dense_chunked": lambda *args: coincidence_counts(*args, max_bits=1),
    "entries_chunked": lambda *args: _entries_as_counts(*args, max_bits=1),
}


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_coincidence_marginals_are_binomial_and_rows_correlate(sampler):
    """n_ij ~ Binomial(BL, p_j q_i) (chi-square) and Cov(n_ij, n_ij') = BL q_i(1 − q_i) p_j p_j'."""
    T = 20000
    x = np.broadcast_to(np.array([0.9, -0.4, 0.25]), (T, 1, 3)).copy()
    d = np.broadcast_to(np.array([0.5, -0.2]), (T, 1, 2)).copy()
    up = UpdateParameters(desired_bl=6)
    lr, dw = 0.1, 0.01                     # k = 4.5: BL = 5, p_max = q_max = √0.9
    bl, a, b = pulse_train_parameters(x, d, lr, dw, up)
    _, p, q = pulse_train_probabilities(x[:1], d[:1], lr, dw, up)
    p, q, BL = p[0, 0], q[0, 0], int(bl[0, 0])
    counts = SAMPLERS[sampler](x, d, a, b, bl, np.random.default_rng(11))[:, 0]      # (T, 2, 3)
    for i in range(2):
        for j in range(3):
            pij = p[j] * q[i]
            expected = stats.binom.pmf(np.arange(BL + 1), BL, pij) * T
            observed = np.bincount(counts[:, i, j].astype(int), minlength=BL + 1)
            keep = expected >= 5
            obs = np.r_[observed[keep], observed[~keep].sum()]
            exp = np.r_[expected[keep], expected[~keep].sum()]
            if exp[-1] < 5:
                obs, exp = obs[:-1], exp[:-1]
            exp = exp * obs.sum() / exp.sum()
            assert stats.chisquare(obs, exp).pvalue > 1e-4, (i, j)
    for i in range(2):
        c = np.cov(counts[:, i, 0], counts[:, i, 1])[0, 1]
        theory = BL * q[i] * (1 - q[i]) * p[0] * p[1]
        se = np.std((counts[:, i, 0] - counts[:, i, 0].mean())
                    * (counts[:, i, 1] - counts[:, i, 1].mean())) / math.sqrt(T)
        assert abs(c - theory) <= K * se + 1e-12
    # different rows, same column: Cov = BL p_j(1 - p_j) q_i q_i'
    c = np.cov(counts[:, 0, 1], counts[:, 1, 1])[0, 1]
    theory = BL * p[1] * (1 - p[1]) * q[0] * q[1]
    se = np.std((counts[:, 0, 1] - counts[:, 0, 1].mean()) * (counts[:, 1, 1] - counts[:, 1, 1].mean())) / math.sqrt(T)
    assert abs(c - theory) <= K * se + 1e-12


@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_sparse_inputs_are_compacted_without_changing_the_law(sampler):
    """One-hot inputs (transfer reads) use the compact path: pulses only in the hot column,
    with mean BL·p·q (k·s.e. margin)."""
    T, n_in = 6000, 16
    x = np.zeros((T, 2, n_in))
    x[:, 0, 3] = 0.7
    x[:, 1, 11] = -0.35
    d = np.broadcast_to(np.array([[0.4, -0.1], [0.2, 0.3]]), (T, 2, 2)).copy()
    up = UpdateParameters(desired_bl=4)
    bl, a, b = pulse_train_parameters(x, d, 0.05, 0.01, up)
    _, p, q = pulse_train_probabilities(x[:1], d[:1], 0.05, 0.01, up)
    counts = SAMPLERS[sampler](x, d, a, b, bl, np.random.default_rng(5))
    for s, col in ((0, 3), (1, 11)):
        others = np.delete(counts[:, s], col, axis=-1)
        assert not others.any()
        for i in range(2):
            mean = bl[0, s] * p[0, s, col] * q[0, s, i]
            c = counts[:, s, i, col]
            assert abs(c.mean() - mean) <= K * c.std(ddof=1) / math.sqrt(T) + 1e-12


def _mean_update(mode, T=4000, desired_bl=5000, seed=5):
    x = np.array([0.5, -1.0, 0.2, 0.0, 2.0, -0.3])
    d = np.array([0.3, -0.1, 0.05, 1.0])
    tile = AnalogTile(cv.ConstantStep(100.0, -100.0), (T, 4, 6), dw_min=0.001,
                      update=UpdateParameters(mode=mode, desired_bl=desired_bl), rng=seed)
    tile.update(np.broadcast_to(x, (T, 1, 6)).copy(), np.broadcast_to(d, (T, 1, 4)).copy(), 0.01)
    return tile.w, -0.01 * np.outer(d, x)


@pytest.mark.parametrize("mode", ["pulse_train", "rounding"])
def test_expected_update_is_minus_lr_d_xT(mode):
    """Measured with aihwkit 1.2.0: mean ΔW over 4000 single updates = −lr d xᵀ (constant step, wide bounds)."""
    dw, target = _mean_update(mode)
    mean = dw.mean(axis=0)
    se = dw.std(axis=0, ddof=1) / math.sqrt(dw.shape[0])
    assert np.all(np.abs(mean - target) <= K * se + 1e-12)
    if mode == "pulse_train":
        # row 3, col 4: k = 20 ⇒ BL = 20 and p = q = 1: exactly 20 down pulses in every trial
        assert np.allclose(dw[:, 3, 4], -0.02, rtol=0, atol=1e-12)


@pytest.mark.parametrize("lr", [0.01, 0.0004])
def test_expected_update_on_the_closed_form_paths(lr):
    """Reference device with wide bounds (step ≈ δ): mean ΔW = −lr d xᵀ, through the dense-rows
    (many pulses, lr 0.01) and the sparse-entries (few pulses, lr 0.0004) regimes."""
    T = 4000
    x = np.array([0.5, -1.0, 0.2, 0.0, 2.0, -0.3])
    d = np.array([0.3, -0.1, 0.05, 1.0])
    tile = AnalogTile(SoftBoundsReference(dw_min=0.001, w_max=1000.0, w_min=-1000.0), (T, 4, 6),
                      update=UpdateParameters(desired_bl=5000), rng=8)
    assert tile.model.closed_form
    tile.update(np.broadcast_to(x, (T, 1, 6)).copy(), np.broadcast_to(d, (T, 1, 4)).copy(), lr)
    mean = tile.w.mean(axis=0)
    se = tile.w.std(axis=0, ddof=1) / math.sqrt(T)
    target = -lr * np.outer(d, x)
    assert np.all(np.abs(mean - target) <= K * se + 1e-4 * np.abs(target) + 1e-15)


def test_expected_mode_matches_sequential_expected_updates():
    """Expected mode = per-sample ``W + dW F(W) − |dW| G(W)`` applied in sample order (slow loop)."""
    rng = np.random.default_rng(2)
    dev = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-0.8, up_down=0.1, dw_min_dtod=0.1).realize((3, 2, 4), rng)
    tile = AnalogTile(dev, (3, 2, 4), update=UpdateParameters(mode="expected"), rng=0, w0=0.1)
    x, d = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 5, 2))
    w = tile.w.copy()
    for s in range(5):
        dwm = -0.2 * d[:, s, :, None] * x[:, s, None, :]
        w = w + dwm * dev.F(w) - np.abs(dwm) * dev.G(w)
    tile.update(x, d, 0.2)
    assert np.allclose(tile.w, w, rtol=0, atol=1e-12)


def test_lr_sign_sets_the_direction():
    """aihwkit: down pulse iff sign(x) sign(d) sign(lr) > 0."""
    one = np.ones((1, 1, 1))
    for lr, direction in ((0.01, -1.0), (-0.01, 1.0)):
        tile = AnalogTile(cv.ConstantStep(1.0, -1.0), (1, 1, 1), dw_min=0.01, update=UpdateParameters(desired_bl=1))
        tile.update(one, one, lr)
        assert tile.w.item() == pytest.approx(direction * 0.01, abs=1e-15)


def test_per_trial_lr_and_granularity():
    """lr and dw_min may differ across trials (a τ sweep on the trials axis)."""
    devs = [SoftBoundsReference(dw_min=t / 300, w_max=t, w_min=-t).realize((1, 1, 1), np.random.default_rng(0))
            for t in (1.0, 2.0)]
    tile = AnalogTile(concatenate_devices(devs), (2, 1, 1), update=UpdateParameters(desired_bl=1), rng=0)
    one = np.ones((2, 1, 1))
    tile.update(one, -one, np.array([1 / 300, 2 / 300]))
    # one up pulse each from 0: Δ = dw_min (1 − 0/τ)
    assert np.allclose(tile.w.ravel(), [1 / 300, 2 / 300], rtol=0, atol=1e-15)


# -- noise ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("mult", [False, True])
def test_pulse_noise_moments(mult):
    """One up pulse at visible w: mean Δ(1 − g/b_max), std Δσ (additive) or Δ(1 − g/b_max)σ (mult)."""
    T, sigma, dw, w0 = 20000, 0.3, 0.01, 0.4
    dev = SoftBoundsReference(dw_min=dw, w_max=1.0, w_min=-1.0, dw_min_std=sigma, mult_noise=mult)
    real = dev.realize((T, 1, 1), np.random.default_rng(0))
    w = np.full((T, 1, 1), w0)
    out = apply_device_pulses(w, np.ones_like(w), np.ones_like(w), real, np.random.default_rng(1))
    step = out.ravel() - w0
    mean = dw * (1 - w0)
    std = dw * sigma * ((1 - w0) if mult else 1.0)
    assert abs(step.mean() - mean) <= K * std / math.sqrt(T)
    assert abs(step.std(ddof=1) / std - 1.0) <= K * math.sqrt(0.5 / T) * 1.5


def test_write_noise_redrawn_only_where_pulsed():
    T = 20000
    dev = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-1.0, write_noise_std=2.0)
    tile = AnalogTile(dev, (T, 1, 2), update=UpdateParameters(desired_bl=1), rng=3)
    before = tile.weights.copy()
    x = np.broadcast_to(np.array([1.0, 0.0]), (T, 1, 2)).copy()
    tile.update(x, -np.ones((T, 1, 1)), 0.01)
    assert np.array_equal(tile.weights[:, 0, 1], before[:, 0, 1])          # never pulsed
    noise = tile.weights[:, 0, 0] - tile.w[:, 0, 0]
    assert np.allclose(tile.w[:, 0, 0], 0.01)
    assert abs(noise.std(ddof=1) / 0.02 - 1.0) <= K * math.sqrt(0.5 / T) * 1.5
    assert abs(noise.mean()) <= K * 0.02 / math.sqrt(T)


# -- fixed inputs: the cached and fused forms equal the array path ------------------------------------------------

def _fixed_input_cases():
    """(name, n_out, inputs shared by the trials, sparse inputs, device write noise, learning rates, error scale)."""
    return [
        ("one line, shared", 1, True, False, 0.0, (0.03, 0.03, -0.03, 0.05), 0.02),
        ("one line, per trial", 1, False, False, 0.0, (0.03, 0.03), 0.02),
        ("one line, BL > 1", 1, True, False, 0.0, (0.03, 0.03), 0.5),
        ("one line, dense trains", 1, True, False, 0.0, (0.3, 0.3, 0.3), 0.03),
        ("one line, write noise", 1, True, False, 1.0, (0.03, 0.03), 0.02),
        ("one line, sparse inputs", 1, True, True, 0.0, (0.03, 0.03), 0.02),
        ("three lines", 3, True, False, 0.0, (0.03, 0.03), 0.05),
        ("three lines, sparse inputs", 3, False, True, 0.0, (0.03, 0.03), 0.05),
    ]


@pytest.mark.parametrize("case", _fixed_input_cases(), ids=lambda c: c[0])
def test_fixed_input_reads_and_writes_equal_the_array_path(case, monkeypatch):
    """A FixedInput (cached max|x|, norms, input lines and signs; inputs shared by the trials kept once; the fused
    one-output-line write) gives, bit for bit, the reads and writes of passing the array itself (the general
    path), in every write mode and over several steps (changing learning rate, dense trains, BL > 1, write noise,
    compacted sparse inputs)."""
    from convergence.tile import analog_tile
    name, n_out, shared, sparse, wn, lrs, scale = case
    T, S, n_in = 6, 12, 16
    rng = np.random.default_rng(7)
    x = rng.choice([-1.0, 1.0], (1 if shared else T, S, n_in)) * rng.uniform(0.5, 1.0, (1 if shared else T, S, n_in))
    if sparse:
        x[..., 2:] = 0.0
    x = np.ascontiguousarray(np.broadcast_to(x, (T, S, n_in)))
    dev = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-1.0, dw_min_dtod=0.1, write_noise_std=wn,
                              subtract_symmetry_point=True).realize((T, n_out, n_in), rng)
    io = IOParameters(w_noise=0.1, inp_bound=10.0, out_bound=10.0)
    fused = []
    original = analog_tile._one_line_write

    def spy(*args):
        out = original(*args)
        fused.append(type(out).__name__)
        return out

    monkeypatch.setattr(analog_tile, "_one_line_write", spy)
    for mode in ("pulse_train", "rounding", "expected"):
        tiles = [AnalogTile(dev, (T, n_out, n_in), update=UpdateParameters(mode=mode, desired_bl=20), forward_io=io,
                            backward_io=io, rng=11, w0=0.1) for _ in range(2)]
        fixed = FixedInput(x)
        for lr in lrs:
            ys = [tile.forward(inp) for tile, inp in zip(tiles, (x, fixed))]
            assert np.array_equal(ys[0], ys[1])
            d = scale * np.tanh(ys[0])
            for tile, inp in zip(tiles, (x, fixed)):
                tile.update(inp, d, lr)
            assert np.array_equal(tiles[0].w, tiles[1].w)
            assert np.array_equal(tiles[0].weights, tiles[1].weights)
    if n_out == 1 and not sparse and not wn:      # the fused write ran (the dense case handing its trains on)
        assert "ndarray" in fused or "list" in fused
        if name == "one line, dense trains":
            assert "list" in fused
        if name == "one line, BL > 1":
            assert "NoneType" in fused


def test_pulse_train_parameters_fast_forms_equal_the_masked_form():
    """The all-live (no masks) and BL = 1 forms of update management give exactly the values of the masked general
    form: adding a dead sample (zero error) or one with many pulses (BL > 1) changes no other sample's A, B, BL."""
    rng = np.random.default_rng(3)
    x, d = rng.standard_normal((4, 9, 5)), 0.01 * rng.standard_normal((4, 9, 2))
    up = UpdateParameters(desired_bl=40)
    bl, a, b = pulse_train_parameters(x, d, 0.05, 0.01, up)
    assert np.all(bl == 1)                                     # the BL = 1, all-live form
    for extra in (0.0, 30.0, 1e4):                             # dead; BL > 1; BL capped with gradient clipping
        d2 = np.concatenate([d, np.full((4, 1, 2), extra)], axis=1)
        x2 = np.concatenate([x, np.ones((4, 1, 5))], axis=1)
        bl2, a2, b2 = pulse_train_parameters(x2, d2, 0.05, 0.01, up)
        assert np.array_equal(bl2[:, :9], bl) and np.array_equal(a2[:, :9], a) and np.array_equal(b2[:, :9], b)
        assert (bl2[:, 9] == 0).all() if extra == 0 else (bl2[:, 9] > 1).all()


def test_one_pulse_groups_equal_groups_of_count_one():
    """_compose_pulses with one pulse per group (tabulated β) equals the same groups given counts of 1."""
    from convergence.tile.analog_tile import _compose_pulses
    rng = np.random.default_rng(2)
    dev = SoftBoundsReference(dw_min=0.02, w_max=1.0, w_min=-0.8, up_down=0.1, dw_min_dtod=0.2).realize((3, 2, 5), rng)
    tile = AnalogTile(dev, (3, 2, 5), rng=0, w0=0.3)
    elem = rng.integers(0, 30, 400)
    sign = rng.choice([-1.0, 1.0], 400)
    assert np.array_equal(_compose_pulses(tile.w, elem, None, sign, tile.model),
                          _compose_pulses(tile.w, elem, np.ones(400), sign, tile.model))


# -- determinism and validation --------------------------------------------------------------

@pytest.mark.parametrize("mode", ["pulse_train", "rounding", "expected"])
def test_same_seed_same_result(mode):
    def run(seed):
        dev = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-1.0, dw_min_dtod=0.2,
                                  dw_min_std=0.1 if mode != "expected" else 0.0)
        io = IOParameters(w_noise=0.05, out_noise=0.01, inp_res=1 / 126, out_res=1 / 510, noise_management="abs_max",
                          bound_management="iterative", out_bound=3.0, inp_bound=1.0)
        tile = AnalogTile(dev, (3, 2, 4), update=UpdateParameters(mode=mode, desired_bl=7), forward_io=io,
                          backward_io=io, rng=seed)
        r = np.random.default_rng(99)
        for _ in range(3):
            x = r.standard_normal((3, 5, 4))
            y = tile.forward(x)
            tile.update(x, 0.1 * y, 0.1)
            tile.backward(y)
        return tile.w.copy()
    assert np.array_equal(run(1), run(1))
    if mode != "expected":
        assert not np.array_equal(run(1), run(2))


def test_bad_parameters_raise_config_error():
    with pytest.raises(ConfigError, match="mode"):
        UpdateParameters(mode="deterministic")
    with pytest.raises(ConfigError, match="desired_bl"):
        UpdateParameters(desired_bl=0)
    with pytest.raises(ConfigError, match="w_min"):
        SoftBoundsReference(w_min=0.1)
    with pytest.raises(ConfigError, match="dw_min"):
        SoftBoundsReference(dw_min=-0.01)
    with pytest.raises(ConfigError, match="dw_min"):
        SoftBoundsReference(dw_min=1.0, w_max=0.6)
    with pytest.raises(ConfigError, match="up_down"):
        SoftBoundsReference(up_down=1.5)
    with pytest.raises(ConfigError, match="dw_min_std"):
        SoftBoundsReference(dw_min_std=-0.1)
    with pytest.raises(ConfigError, match="dw_min"):
        AnalogTile(cv.SoftBounds(1.0), (1, 2, 3))
    with pytest.raises(ConfigError, match="shape"):
        AnalogTile(SoftBoundsReference().realize((2, 2, 3), np.random.default_rng(0)), (1, 2, 3))
    tile = AnalogTile(SoftBoundsReference(), (2, 1, 3))
    with pytest.raises(ConfigError, match="x must have shape"):
        tile.update(np.ones((2, 4, 2)), np.ones((2, 4, 1)), 0.1)
    with pytest.raises(ConfigError, match="d must have shape"):
        tile.update(np.ones((2, 4, 3)), np.ones((2, 3, 1)), 0.1)
    with pytest.raises(ConfigError):
        AnalogTile("softbounds", (1, 1, 1))


# -- the analog linear layer ----------------------------------------------------------------------------------

def _layer_imports():
    from convergence.tile.analog_tile import TileWrite
    from convergence.tile.layer import AnalogLinear
    from convergence.tile.transfer_family import analog_sgd_tile
    return TileWrite, AnalogLinear, analog_sgd_tile


@pytest.mark.parametrize("mode", ["pulse_train", "rounding", "expected"])
def test_layer_over_tile_sgd_is_the_hand_written_tile_loop(mode):
    """AnalogLinear(analog_sgd_tile(TileWrite)) with a digital bias = an AnalogTile driven by hand (noisy forward,
    update, b ← b − lr Σ d), bit for bit: the layer is the recipes' loop."""
    TileWrite, AnalogLinear, analog_sgd_tile = _layer_imports()
    rng = np.random.default_rng(0)
    dev = SoftBoundsReference(dw_min=0.01, w_max=1.0, w_min=-1.0, subtract_symmetry_point=True).realize((3, 2, 4), rng)
    io = IOParameters(w_noise=0.05, inp_bound=10.0, out_bound=10.0)
    up = UpdateParameters(mode=mode, desired_bl=50)
    layer = AnalogLinear(analog_sgd_tile(1.0, dev, mode=TileWrite(update=up)), np.zeros((3, 2, 4)), bias="digital",
                         forward_io=io, backward_io=io, rng=np.random.default_rng(1))
    tile = AnalogTile(dev, (3, 2, 4), update=up, forward_io=io, backward_io=io, rng=np.random.default_rng(1))
    bias = np.zeros((3, 1, 2))
    x = rng.standard_normal((3, 6, 4))
    y_true = rng.standard_normal((3, 6, 2))
    for _ in range(5):
        err_l = 0.1 * (layer.forward(x) - y_true)
        layer.step(x, err_l, 0.3)
        err_t = 0.1 * (tile.forward(x) + bias - y_true)
        tile.update(x, err_t, 0.3)
        bias = bias - 0.3 * err_t.sum(axis=1, keepdims=True)
        np.testing.assert_array_equal(layer.weights, tile.w)
        np.testing.assert_array_equal(layer.bias, bias[:, 0, :])


def test_layer_passes_and_analog_bias():
    """Exact periphery, ideal device, expected write: y = W x + b, z = Wᵀ d (no bias row), and one step moves
    W by −lr Σ d xᵀ and an analog bias (an extra column fed 1) by −lr Σ d, like a digital one."""
    TileWrite, AnalogLinear, analog_sgd_tile = _layer_imports()
    import convergence as cv
    rng = np.random.default_rng(2)
    w0, b0 = rng.uniform(-0.5, 0.5, (2, 3, 4)), rng.uniform(-0.5, 0.5, (2, 3))
    x, d = rng.standard_normal((2, 5, 4)), 0.1 * rng.standard_normal((2, 5, 3))
    for kind in ("analog", "digital"):
        layer = AnalogLinear(analog_sgd_tile(1.0, cv.Ideal(), mode=cv.Expected()), w0, bias=kind, bias0=b0)
        np.testing.assert_allclose(layer.forward(x), np.einsum("toi,tsi->tso", w0, x) + b0[:, None, :],
                                   rtol=0, atol=1e-13)
        z = layer.backward(d)
        assert z.shape == (2, 5, 4)
        np.testing.assert_allclose(z, np.einsum("toi,tso->tsi", w0, d), rtol=0, atol=1e-13)
        layer.step(x, d, 0.5)
        np.testing.assert_allclose(layer.weights, w0 - 0.5 * np.einsum("tso,tsi->toi", d, x), rtol=0, atol=1e-13)
        np.testing.assert_allclose(layer.bias, b0 - 0.5 * d.sum(axis=1), rtol=0, atol=1e-13)
    plain = AnalogLinear(analog_sgd_tile(1.0, cv.Ideal()), w0)
    assert plain.bias is None


def test_layer_bad_input():
    TileWrite, AnalogLinear, analog_sgd_tile = _layer_imports()
    import convergence as cv
    alg = analog_sgd_tile(1.0, cv.Ideal())
    with pytest.raises(ConfigError, match="bias"):
        AnalogLinear(alg, np.zeros((1, 2, 2)), bias="float")
    with pytest.raises(ConfigError, match="w0"):
        AnalogLinear(alg, np.zeros((2, 2)))
    with pytest.raises(ConfigError, match="matrix Algorithm"):
        AnalogLinear(cv.analog_sgd(0.1, cv.Ideal()), np.zeros((1, 2, 2)))
    with pytest.raises(ConfigError, match="forward_io"):
        AnalogLinear(alg, np.zeros((1, 2, 2)), forward_io="perfect")


@pytest.mark.parametrize("name", ["p1_fig3_tile", "p2_fig2_tile"])
def test_tile_recipes_take_a_users_least_squares_instance(name):
    """compute(cfg, seed, problem): the recipe's own draw passed as a LeastSquares or as (A, y) gives the
    default result bit for bit; another instance gives another result."""
    from _recipes import load

    import convergence as cv
    rec = load(name)
    cfg = {**rec.SCALES["quick"], "iters": 6, "repeats": 2}
    own = rec.problem(cfg)
    feats = own.A[:, :-1] if own.bias else own.A
    seed = np.random.SeedSequence(3)
    base = rec.compute(cfg, seed)
    for user in (own, (feats, own.b)):
        np.testing.assert_array_equal(rec.compute(cfg, seed, problem=user)["curve_mean"], base["curve_mean"])
    other = (np.random.default_rng(4).standard_normal(feats.shape), own.b)
    assert not np.array_equal(rec.compute(cfg, seed, problem=other)["curve_mean"], base["curve_mean"])
    with pytest.raises(cv.ConfigError, match="problem"):
        rec.compute(cfg, seed, problem="lsq")


def _expected_soft_bounds_oracle(A, b, lr, tau, iters, bound):
    """P2 Fig. 2's least squares by the per-sample mean-field recursion, one scalar loop per sample: each
    iteration reads y = clip(A w, ±bound) (no clip when ``bound`` is None), then for every sample s in order
    w ← w + Δ − |Δ| w/τ with Δ = −lr (y_s − b_s)/n · a_s (soft bounds with c_Lin = 0: F = 1, G = w/τ), and
    clips w to [−τ, τ] after the sample loop. Returns the loss MSE/(2D) after each iteration."""
    n, d = A.shape
    w, out = np.ones(d), []
    for _ in range(iters):
        y = A @ w if bound is None else np.clip(A @ w, -bound, bound)
        for s in range(n):
            delta = -lr * (y[s] - b[s]) / n * A[s]
            w = w + delta - np.abs(delta) * w / tau
        w = np.clip(w, -tau, tau)
        r = A @ w - b
        out.append(0.5 * r @ r / (n * d))
    return np.array(out)


def test_p2_fig2_tile_expected_mode_at_symmetric_c_lin_is_a_two_cycle():
    """The recipe's expected-mode Analog SGD at c_Lin = 0 equals the scalar recursion above (the recipe records
    the loss before each step), and what its report notes holds for that recursion: at the script's lr 0.8,
    without the BL cap, it does not converge. With the ±10 output bound it ends on a period-2 orbit (two
    alternating losses, equal every second iteration); without the bound its loss grows."""
    from _recipes import load
    rec = load("p2_fig2_tile")
    iters = 400
    cfg = {**rec.SCALES["default"], "cs": [0.0], "repeats": 1, "iters": iters}
    tile = rec.run(cfg, "asgd", "expected", np.random.SeedSequence(1))[0, 0]
    obj = rec.problem(cfg)
    bounded = _expected_soft_bounds_oracle(obj.A, obj.b, 0.8, cfg["tau"], iters, cfg["io_bound"])
    np.testing.assert_allclose(tile[1:], bounded[:-1], rtol=1e-12, atol=0)
    tail = bounded[-100:]
    np.testing.assert_allclose(tail[2:], tail[:-2], rtol=1e-6, atol=0)        # period 2 ...
    assert abs(tail[1] - tail[0]) > 0.1 * tail[0]                              # ... and not period 1
    assert tail.min() > 50 * _expected_soft_bounds_oracle(obj.A, obj.b, 0.4, cfg["tau"], iters, cfg["io_bound"])[-1]
    free = _expected_soft_bounds_oracle(obj.A, obj.b, 0.8, cfg["tau"], iters, None)
    assert free[-1] > free[99] > free[9]


def test_least_squares_from_data_matches_the_drawn_instance():
    """LeastSquares.from_data(A, b) of a drawn instance's features and labels has the same derived quantities."""
    import convergence as cv
    for bias in (False, True):
        own = cv.LeastSquares(d=7, n=30, bias=bias, loss="half_mse", seed=5)
        feats = own.A[:, :-1] if bias else own.A
        new = cv.LeastSquares.from_data(feats, own.b, bias=bias, loss="half_mse")
        for k in ("A", "b", "H", "w_star"):
            np.testing.assert_array_equal(getattr(new, k), getattr(own, k))
        assert (new.L, new.mu, new.f_star, new.d, new.n, new.dim) == (own.L, own.mu, own.f_star, own.d, own.n, own.dim)
        w = np.random.default_rng(0).standard_normal((3, own.dim))
        np.testing.assert_array_equal(new.value(w), own.value(w))
    with pytest.raises(ConfigError, match="least-squares data"):
        cv.LeastSquares.from_data(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ConfigError, match="loss"):
        cv.LeastSquares.from_data(np.ones((3, 2)), np.ones(3), loss="l1")


def test_segments_without_run_ids_and_repeated_ends_equal_the_run_id_form():
    """``_segments(key, runs=False)`` gives the same starts and ends, and repeating a per-run value by the run
    lengths (what ``_compose_pulses`` does) equals indexing it by the run ids."""
    from convergence.tile.analog_tile import _segments
    rng = np.random.default_rng(5)
    for n in (1, 2, 17, 600):
        key = np.sort(rng.integers(0, max(1, n // 3), n))
        starts, ends, run = _segments(key)
        s2, e2, none = _segments(key, runs=False)
        assert none is None and np.array_equal(starts, s2) and np.array_equal(ends, e2)
        assert np.array_equal(run, np.searchsorted(np.unique(key), key))        # run ids from first principles
        value = rng.standard_normal(starts.size)
        assert np.array_equal(value.repeat(ends - starts + 1), value[run])


def test_compose_pulses_radix_and_timsort_orders_agree(monkeypatch):
    """_compose_pulses gives the same weights whichever stable sort orders its groups (radix sort of 16-bit keys from
    ``_RADIX_MIN`` groups, timsort below), for groups in trial order (the one-line write) and in random order."""
    from convergence.tile import analog_tile
    rng = np.random.default_rng(8)
    dev = SoftBoundsReference(dw_min=0.02, w_max=1.0, w_min=-0.8, up_down=0.1, dw_min_dtod=0.2).realize((4, 1, 9), rng)
    tile = AnalogTile(dev, (4, 1, 9), rng=0, w0=0.1)
    for elem in (np.sort(rng.integers(0, 4, 700)) * 9 + rng.integers(0, 9, 700), rng.integers(0, 36, 700)):
        up = rng.random(700) < 0.5
        outs = []
        for radix_min in (0, 10 ** 9):
            monkeypatch.setattr(analog_tile, "_RADIX_MIN", radix_min)
            outs.append(analog_tile._compose_pulses(tile.w, elem, None, up, tile.model))
        assert np.array_equal(outs[0], outs[1])
        assert not np.array_equal(outs[0], tile.w)


def test_a_nan_pulse_count_stays_in_its_element():
    """The pulse-group composer keeps one running sum over all groups, except when a count is NaN: then the sums
    restart per element, and only that element's weight becomes NaN (the others as without it, to rounding)."""
    from convergence.tile.analog_tile import _compose_pulses

    rng = np.random.default_rng(5)
    dev = SoftBoundsReference(dw_min=0.05, w_max=1.0, w_min=-0.7).realize((3, 2, 4), rng)
    tile = AnalogTile(dev, (3, 2, 4), rng=4, w0=0.1)
    elem = np.sort(rng.integers(0, 24, 60))
    counts = rng.integers(1, 4, 60).astype(float)
    up = rng.random(60) < 0.5
    clean = _compose_pulses(tile.w, elem, counts, up, tile.model)
    bad = counts.copy()
    bad[np.flatnonzero(elem == elem[10])[0]] = np.nan
    got = _compose_pulses(tile.w, elem, bad, up, tile.model)
    nan = np.isnan(got).reshape(-1)
    assert nan.sum() == 1 and nan[elem[10]]
    np.testing.assert_allclose(got.reshape(-1)[~nan], clean.reshape(-1)[~nan], rtol=0, atol=1e-14)
