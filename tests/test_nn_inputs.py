"""Bad inputs to the NumPy networks (convergence.nn) are refused with one ConfigError naming the argument.

Each test reproduces a finding of a new-user trial: before the checks these inputs were accepted silently
(a wrong model or NaN weights) or failed deep in NumPy (matmul, broadcasting, ZeroDivisionError, TypeError).
Valid inputs keep their results (the last tests).
"""
from __future__ import annotations

import numpy as np
import pytest

from convergence import ConfigError, nn
from convergence.nn import training as T


def _batch(n=4, d=8, k=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, d), dtype=np.float32), rng.integers(0, k, n)


def _weights(model):
    return [layer.core.weight.copy() for _, layer in model.weighted()]


# -- 1. Linear's w0 ----------------------------------------------------------------------------

@pytest.mark.parametrize("bias", [False, True])
def test_linear_refuses_w0_of_another_shape(bias):
    with pytest.raises(ConfigError, match=r"w0 must have shape \(n_out, n_in\) = \(2, 3\) \(got \(5, 3\)\)"):
        nn.Linear(3, 2, bias=bias, w0=np.zeros((5, 3)))
    with pytest.raises(ConfigError, match="w0"):
        nn.Linear(3, 2, bias=bias, w0=np.zeros(6))


def test_linear_refuses_non_finite_w0():
    w0 = np.zeros((2, 3))
    w0[1, 2] = np.nan
    with pytest.raises(ConfigError, match="w0 must be finite"):
        nn.Linear(3, 2, w0=w0)


# -- 2. input width at a Linear layer's forward ---------------------------------------------------

def test_fcn_names_the_layer_given_inputs_of_the_wrong_width():
    x, _ = _batch(2)
    model = nn.fcn(sizes=(8, 4, 3))
    with pytest.raises(ConfigError, match=r"^layer fc1: Linear expects inputs \(batch, 8\) \(got shape \(2, 5\)\)$"):
        model.forward(x[:, :5])


def test_lenet_names_fc1_when_the_image_size_is_wrong():
    model = nn.lenet()
    with pytest.raises(ConfigError, match=r"layer fc1: .*\(batch, 512\).*\(2, 800\)"):
        model.forward(np.ones((2, 1, 32, 32), np.float32))


def test_linear_alone_and_nested_models_report_the_width():
    with pytest.raises(ConfigError, match=r"^Linear expects inputs \(batch, 3\) \(got shape \(4, 2\)\)$"):
        nn.Linear(3, 2).forward(np.ones((4, 2), np.float32))
    inner = nn.Sequential([nn.Linear(3, 2), nn.Sigmoid()], names=["dense", "act"])
    outer = nn.Sequential([inner], names=["block1"])
    with pytest.raises(ConfigError, match=r"^layer block1\.dense: Linear expects"):
        outer.forward(np.ones((4, 5), np.float32))


# -- 3. train_step / evaluate ---------------------------------------------------------------------

@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -0.1, np.float64("nan"), "fast"])
def test_train_step_refuses_bad_lr_and_leaves_the_model_alone(lr):
    model = nn.fcn(sizes=(8, 4, 3))
    before = _weights(model)
    x, y = _batch()
    with pytest.raises(ConfigError, match="^lr must be"):
        T.train_step(model, x, y, lr, np.random.default_rng(0))
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)


def test_train_step_with_lr_zero_does_not_update():
    model = nn.fcn(sizes=(8, 4, 3))
    before = _weights(model)
    x, y = _batch()
    T.train_step(model, x, y, 0.0, np.random.default_rng(0))
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)


def test_fractional_labels_are_refused_not_truncated():
    x, y = _batch()
    with pytest.raises(ConfigError, match="labels must be integer class indices"):
        T.train_step(nn.fcn(sizes=(8, 4, 3)), x, y.astype(float) + 0.5, 0.1)
    with pytest.raises(ConfigError, match="labels must be integer class indices"):
        T.evaluate(nn.fcn(sizes=(8, 4, 3)), x, y.astype(float) + 0.5)
    with pytest.raises(ConfigError, match="labels must be integer class indices"):
        nn.nll_loss(np.zeros((2, 3)), np.array([0.0, np.nan]))
    with pytest.raises(ConfigError, match="labels must be integer class indices"):
        nn.cross_entropy(np.zeros((2, 3)), np.array(["a", "b"]))


def test_whole_number_float_labels_train_as_integer_labels():
    x, y = _batch()
    a, b = nn.fcn(sizes=(8, 4, 3)), nn.fcn(sizes=(8, 4, 3))
    assert T.train_step(a, x, y, 0.1) == T.train_step(b, x, y.astype(float), 0.1)
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)
    assert T.evaluate(a, x, y) == T.evaluate(a, x, y.astype(float))


def test_empty_batch_is_refused():
    x, y = _batch()
    with pytest.raises(ConfigError, match="at least one sample"):
        T.train_step(nn.fcn(sizes=(8, 4, 3)), x[:0], y[:0], 0.1)
    with pytest.raises(ConfigError, match="at least one sample"):
        nn.nll_loss(np.zeros((0, 3)), np.zeros(0, int))


@pytest.mark.parametrize("batch", [0, -3, 2.5, None])
def test_evaluate_refuses_a_bad_batch(batch):
    x, y = _batch()
    model = nn.fcn(sizes=(8, 4, 3))
    with pytest.raises(ConfigError, match="^batch must be an integer >= 1"):
        T.evaluate(model, x, y, batch=batch)
    with pytest.raises(ConfigError, match="^batch must be an integer >= 1"):
        T.evaluate_samples(model, x, y, batch=batch)


def test_evaluate_refuses_labels_of_another_length():
    x, y = _batch()
    with pytest.raises(ConfigError, match="one label per sample"):
        T.evaluate(nn.fcn(sizes=(8, 4, 3)), x, y[:3])


def test_train_refuses_a_bad_eval_batch_before_training():
    x, y = _batch(20)
    with pytest.raises(ConfigError, match="^eval_batch must be"):
        T.train(nn.fcn(sizes=(8, 4, 3)), x, y, x, y, epochs=1, batch_size=5, schedule=0.1, eval_batch=0,
                progress=False)


# -- 4. the model builders --------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [-1, "a", 1.5, None])
@pytest.mark.parametrize("build", [nn.fcn, nn.lenet])
def test_builders_refuse_bad_seeds(build, seed):
    with pytest.raises(ConfigError, match="^seed must be a non-negative integer"):
        build(seed=seed)


@pytest.mark.parametrize("sizes", [(), (8,), 8, "84", (8, 0, 3), (8, 2.5, 3), (8, -4)])
def test_fcn_refuses_bad_sizes(sizes):
    with pytest.raises(ConfigError, match="^sizes"):
        nn.fcn(sizes=sizes)


@pytest.mark.parametrize("in_hw", [0, -28, 15, 2.5, "a"])
def test_lenet_refuses_inputs_too_small_for_its_convolutions(in_hw):
    with pytest.raises(ConfigError, match="^in_hw must be an integer >= 16"):
        nn.lenet(in_hw=in_hw)


@pytest.mark.parametrize("kw", [{"channels": (16,)}, {"channels": (16, 0)}, {"hidden": 0}, {"n_classes": -1}])
def test_lenet_refuses_bad_widths(kw):
    with pytest.raises(ConfigError, match="^(channels|hidden|n_classes)"):
        nn.lenet(**kw)


def test_unknown_keywords_are_named():
    with pytest.raises(ConfigError, match=r"^fcn got unknown keyword argument 'foo' \(allowed: bias, "):
        nn.fcn(foo=1)
    with pytest.raises(ConfigError, match=r"^lenet got unknown keyword arguments 'bar', 'foo'"):
        nn.lenet(foo=1, bar=2)
    with pytest.raises(ConfigError, match=r"^Linear got unknown keyword argument 'omgea'"):
        nn.Linear(3, 2, omgea=0.5)
    with pytest.raises(ConfigError, match=r"^Conv2d got unknown keyword argument 'foo'"):
        nn.Conv2d(1, 2, 3, foo=1)


# -- valid inputs keep their results ----------------------------------------------------------------

def test_builder_seeds_give_the_same_streams_as_before():
    """A seed int, its SeedSequence and a Generator seeded with it build the same weights; fc1 is drawn first
    from ``default_rng(seed)`` (the builders' stream before the seed check)."""
    ref = np.random.default_rng(7).uniform(-1 / np.sqrt(8), 1 / np.sqrt(8), (4, 8)).astype(np.float32)
    for seed in (7, np.random.SeedSequence(7), np.random.default_rng(7), np.int64(7)):
        model = nn.fcn(sizes=(8, 4, 3), seed=seed)
        np.testing.assert_array_equal(next(model.weighted())[1].core.weight, ref)
    a, b = nn.lenet(in_hw=16, seed=3), nn.lenet(in_hw=16, seed=np.random.SeedSequence(3))
    for wa, wb in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(wa, wb)


def test_builders_accept_their_analog_keywords_and_minimal_sizes():
    model = nn.fcn(sizes=(4, 2), seed=0, bias=False, omega=0.5, learn_out_scale=True, columnwise=False,
                   io_forward=None, io_backward=None)
    assert model.forward(np.ones((3, 4), np.float32)).shape == (3, 2)
    assert nn.lenet(in_hw=16, channels=(2, 3), hidden=4, n_classes=3).forward(
        np.ones((2, 1, 16, 16), np.float32)).shape == (2, 3)


@pytest.mark.parametrize("builder", ["resnet_small", "mobilenet_small"])
def test_the_resnet_builders_check_seeds_and_widths(builder):
    from convergence.nn import resnet
    make = getattr(resnet, builder)
    for kwargs, needle in (({"seed": -1}, "seed"), ({"seed": "a"}, "seed"), ({"channels": ()}, "channels"),
                           ({"channels": (8, 0)}, r"channels\[1\]"), ({"n_classes": 0}, "n_classes")):
        with pytest.raises(ConfigError, match=needle):
            make(**kwargs)
    a, b = make(seed=3), make(seed=np.random.SeedSequence(3))     # the same weights as default_rng(3) gave
    ref = getattr(resnet, builder)(seed=np.random.default_rng(3))
    for m in (a, b):
        assert all(np.array_equal(x, y) for x, y in zip(m.state_arrays().values(), ref.state_arrays().values()))
