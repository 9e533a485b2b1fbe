"""Bad inputs to the aihwkit-like tile (convergence.tile.analog_tile.AnalogTile) are refused with one ConfigError.

Each test reproduces a finding of a new-user trial: before the checks these inputs were broadcast silently over
the trials, left the weights silently unchanged (a NaN or infinite learning rate), or failed deep in NumPy
(matmul in the periphery, broadcast_to, reshape, SeedSequence). Valid inputs keep working (negative and
per-trial learning rates included).
"""
from __future__ import annotations

import numpy as np
import pytest

import convergence as cv
from convergence._validate import ConfigError
from convergence.physics.reference_device import SoftBoundsReference
from convergence.tile.analog_tile import AnalogTile, FixedInput, UpdateParameters


def _tile(shape=(1, 2, 3), **kw):
    kw.setdefault("rng", 0)
    return AnalogTile(SoftBoundsReference(dw_min=0.01), shape, update=UpdateParameters(desired_bl=31), **kw)


# -- 5. forward / backward shapes -------------------------------------------------------------------

def test_forward_refuses_more_trials_than_the_tile():
    with pytest.raises(ConfigError, match=r"^x must have shape \(1, samples, 3\) \(got \(2, 4, 3\)\)$"):
        _tile().forward(np.ones((2, 4, 3)))


@pytest.mark.parametrize("shape", [(1, 4, 5), (4, 3), (1, 1, 4, 3)])
def test_forward_refuses_the_wrong_input_width_or_rank(shape):
    with pytest.raises(ConfigError, match=r"^x must have shape \(1, samples, 3\)"):
        _tile().forward(np.ones(shape))


def test_forward_refuses_fixed_inputs_of_another_shape():
    with pytest.raises(ConfigError, match=r"^x must have shape \(3, samples, 3\) \(got \(3, 4, 5\)\)$"):
        _tile((3, 2, 3)).forward(FixedInput(np.ones((3, 4, 5))))


@pytest.mark.parametrize("shape", [(1, 4, 3), (2, 4, 2), (1, 4)])
def test_backward_refuses_the_wrong_shape(shape):
    with pytest.raises(ConfigError, match=r"^d must have shape \(1, samples, 2\)"):
        _tile().backward(np.ones(shape))


def test_forward_and_backward_of_the_right_shapes():
    t = _tile((3, 2, 4), w0=0.1)
    assert t.forward(np.ones((3, 5, 4))).shape == (3, 5, 2)
    assert t.forward(FixedInput(np.ones((3, 5, 4)))).shape == (3, 5, 2)
    assert t.forward(np.ones((3, 5, 4)).tolist()).shape == (3, 5, 2)
    assert t.backward(np.ones((3, 5, 2))).shape == (3, 5, 4)


# -- 6. the learning rate of an update ---------------------------------------------------------------

@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -float("inf"), np.float64("nan"), np.array(np.inf),
                                np.array([0.01, np.nan, 0.01, 0.01]), [0.01] * 3 + [np.inf]])
def test_update_refuses_a_non_finite_lr(lr):
    t = _tile((4, 2, 3))
    w = t.w.copy()
    with pytest.raises(ConfigError, match="^lr must be finite"):
        t.update(np.ones((4, 5, 3)), np.ones((4, 5, 2)), lr)
    np.testing.assert_array_equal(t.w, w)


@pytest.mark.parametrize("lr", [np.ones(3) * 0.01, np.ones(5) * 0.01, np.ones((2, 2)) * 0.01, "fast"])
def test_update_refuses_a_per_trial_lr_of_the_wrong_length(lr):
    with pytest.raises(ConfigError, match=r"^lr must be a number or one"):
        _tile((4, 2, 3)).update(np.ones((4, 5, 3)), np.ones((4, 5, 2)), lr)


def test_update_refuses_x_absmax_of_another_shape():
    with pytest.raises(ConfigError, match=r"^x_absmax must have shape \(4, 5\)"):
        _tile((4, 2, 3)).update(np.ones((4, 5, 3)), np.ones((4, 5, 2)), 0.01, x_absmax=np.ones((4, 3)))


@pytest.mark.parametrize("mode", ["pulse_train", "rounding", "expected"])
def test_negative_and_per_trial_learning_rates_still_write(mode):
    """The sign of lr is the direction of the write (lr_sign): a negative rate moves the weights up here."""
    up = UpdateParameters(mode=mode, desired_bl=31)
    x, d = np.ones((4, 5, 3)), np.ones((4, 5, 2))
    for lr in (-0.05, np.full(4, -0.05), np.full((4, 1, 1), -0.05), np.float32(-0.05), [-0.05] * 4):
        t = AnalogTile(SoftBoundsReference(dw_min=0.01), (4, 2, 3), update=up, rng=0)
        t.update(x, d, lr)
        assert np.all(t.w > 0)
    a = AnalogTile(SoftBoundsReference(dw_min=0.01), (4, 2, 3), update=up, rng=0)
    b = AnalogTile(SoftBoundsReference(dw_min=0.01), (4, 2, 3), update=up, rng=0)
    a.update(x, d, 0.05)
    b.update(x, d, np.full(4, 0.05))
    np.testing.assert_array_equal(a.w, b.w)


# -- 7. the constructor ----------------------------------------------------------------------------------

@pytest.mark.parametrize("w0", [float("nan"), float("inf"), np.array([[[0.0, np.nan, 0.0]]])])
def test_constructor_refuses_non_finite_w0(w0):
    with pytest.raises(ConfigError, match="^w0 must be finite"):
        _tile(w0=w0)


@pytest.mark.parametrize("w0", [np.zeros((2, 2)), np.zeros((2, 2, 3)), np.zeros(4)])
def test_constructor_refuses_w0_of_another_shape(w0):
    with pytest.raises(ConfigError, match=r"^w0 must be a number or an array broadcasting to the tile shape "
                                          r"\(1, 2, 3\) \(got shape"):
        _tile(w0=w0)


def test_set_weights_refuses_another_shape():
    with pytest.raises(ConfigError, match=r"^weights must be a number or an array broadcasting"):
        _tile().set_weights(np.zeros((3, 2)))


@pytest.mark.parametrize("dw_min", [[0.01, 0.02], np.full(4, 0.01), np.full((3, 2), 0.01)])
def test_constructor_refuses_dw_min_of_the_wrong_length(dw_min):
    with pytest.raises(ConfigError, match=r"^dw_min must be a number or one value per trial, shape \(3,\)"):
        AnalogTile(cv.SoftBounds(1.0), (3, 2, 3), dw_min=dw_min)


def test_constructor_accepts_dw_min_per_trial():
    t = AnalogTile(cv.SoftBounds(1.0), (3, 2, 3), dw_min=[0.01, 0.02, 0.03], rng=0)
    np.testing.assert_array_equal(t.model.dw_min[:, 0, 0], [0.01, 0.02, 0.03])


@pytest.mark.parametrize("rng", ["x", -1, 1.5, None])
def test_constructor_refuses_a_bad_rng(rng):
    with pytest.raises(ConfigError, match="^rng must be a numpy Generator or a seed"):
        _tile(rng=rng)


def test_seeds_give_the_generator_streams_as_before():
    """rng=seed, rng=SeedSequence(seed) and rng=default_rng(seed) realise the same device and write the same."""
    x, d = np.ones((2, 5, 3)), np.ones((2, 5, 2))
    tiles = [_tile((2, 2, 3), rng=r, w0=0.1) for r in (5, np.random.SeedSequence(5), np.random.default_rng(5))]
    for t in tiles:
        t.update(x, d, 0.03)
    for t in tiles[1:]:
        np.testing.assert_array_equal(t.w, tiles[0].w)
