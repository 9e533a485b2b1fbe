"""Objectives (gradients, constants) and noise models (moments)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from convergence import (ConfigError, Gaussian, LeastSquares, LogisticNonconvex, Minibatch, NoNoise, Quadratic,
                         TwoLayerRegression, TwoPoint)
from convergence.sim.objectives import weight_dim

OBJECTIVES = [Quadratic(d=3, L=2.0, mu=0.5, w_star=0.3), LeastSquares(d=5, n=12, seed=1),
              LeastSquares(d=4, n=10, bias=True, label_bias=0.1, loss="sum", seed=2),
              LogisticNonconvex(d=4, n=30, lam=0.2, seed=1), TwoLayerRegression(p=3, h=4, n=25, seed=2)]


@pytest.mark.parametrize("obj", OBJECTIVES, ids=lambda o: o.name)
def test_gradient_matches_central_finite_differences(obj):
    rng = np.random.default_rng(0)
    d = weight_dim(obj)
    w = rng.normal(0, 0.7, size=(3, d))
    g = obj.grad(w)
    h = 1e-6
    fd = np.empty_like(w)
    for j in range(d):
        e = np.zeros(d)
        e[j] = h
        fd[:, j] = (obj.value(w + e) - obj.value(w - e)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("obj", OBJECTIVES, ids=lambda o: o.name)
def test_w_star_is_stationary_and_f_star_is_its_value(obj):
    ws = np.asarray(obj.w_star)[None]
    assert np.linalg.norm(obj.grad(ws)) < 1e-6
    assert obj.value(ws)[0] == pytest.approx(obj.f_star, abs=1e-10)


def test_least_squares_constants_and_normalisations():
    a = LeastSquares(d=6, n=20, sigma_a=0.5, seed=4)
    A = a.A
    np.testing.assert_allclose(a.L, np.linalg.eigvalsh(2 / 20 * A.T @ A)[-1], rtol=1e-12)
    w = np.random.default_rng(1).normal(size=(2, 6))
    r = w @ A.T - a.b
    np.testing.assert_allclose(a.value(w), (r ** 2).mean(axis=1), rtol=1e-12)             # torch MSELoss
    s = LeastSquares(d=6, n=20, sigma_a=0.5, seed=4, loss="sum")
    np.testing.assert_allclose(s.value(w), 0.5 * (r ** 2).sum(axis=1), rtol=1e-12)          # P1 eq 141
    assert a.plot_scale == pytest.approx(1 / 12)
    assert a.f_star == pytest.approx(0.0, abs=1e-20)                                        # realisable
    b = LeastSquares(d=6, n=20, bias=True, label_bias=0.3, seed=4)
    assert weight_dim(b) == 7 and b.w_star[-1] == pytest.approx(0.3)


def test_quadratic_eigenvalues_span_mu_to_L():
    q = Quadratic(d=4, L=3.0, mu=1.0)
    np.testing.assert_allclose(q.h, [1.0, 5 / 3, 7 / 3, 3.0])
    assert Quadratic(d=2, L=2.0).mu == 2.0


def test_two_layer_local_curvature_constant():
    t = TwoLayerRegression(p=2, h=3, n=40, seed=0)
    # L is lambda_max of the Hessian at the teacher: check against a finite-difference Hessian
    d = weight_dim(t)
    H = np.empty((d, d))
    for j in range(d):
        e = np.zeros(d)
        e[j] = 1e-5
        H[:, j] = (t.grad(t.w_star[None] + e) - t.grad(t.w_star[None] - e))[0] / 2e-5
    assert t.L == pytest.approx(np.linalg.eigvalsh(0.5 * (H + H.T))[-1], rel=1e-5)


# --- noise ------------------------------------------------------------------------------------------

def test_gaussian_noise_has_per_coordinate_std_sigma():
    obj = Quadratic(d=4, L=1.0)
    g = Gaussian(0.3).sample(obj, np.zeros((50000, 4)), np.random.default_rng(0))
    assert np.all(np.abs(g.mean(axis=0)) < 4 * 0.3 / math.sqrt(50000))
    assert np.all(np.abs(g.std(axis=0) - 0.3) < 4 * 0.3 / math.sqrt(2 * 50000))


@pytest.mark.parametrize("w", [0.0, 0.4, -0.7])
def test_two_point_noise_moments_D8(w):
    """E xi = 0, E xi^2 = sigma^2/D, E|g + xi| = (sigma/sqrt D) sqrt(1 - w^2/tau^2) - (w/tau) g (P1 Lemma 4)."""
    sigma, tau, D, n = 0.5, 1.0, 4, 200000
    obj = Quadratic(d=D, L=1.0, w_star=0.0)
    noise = TwoPoint(sigma, tau)
    W = np.full((n, D), w)
    xi = noise.sample(obj, W, np.random.default_rng(1)) - obj.grad(W)
    assert np.all(xi == xi[:, :1])                                   # one xi shared by all coordinates
    x = xi[:, 0]
    se = x.std() / math.sqrt(n)
    assert abs(x.mean()) < 4 * se
    assert abs((x ** 2).mean() - sigma ** 2 / D) <= 4 * (x ** 2).std() / math.sqrt(n) + 1e-15
    g = 0.05
    a = np.abs(g + x)
    pred = sigma / math.sqrt(D) * math.sqrt(1 - w ** 2 / tau ** 2) - (w / tau) * g
    assert abs(a.mean() - pred) < 4 * a.std() / math.sqrt(n)


def test_minibatch_gradient_is_unbiased():
    obj = LeastSquares(d=3, n=15, seed=5)
    w = np.tile(np.array([[0.2, -0.1, 0.4]]), (40000, 1))
    g = Minibatch(4).sample(obj, w, np.random.default_rng(2))
    se = g.std(axis=0) / math.sqrt(g.shape[0])
    assert np.all(np.abs(g.mean(axis=0) - obj.grad(w[:1])[0]) < 4 * se)
    with pytest.raises(ConfigError, match="samples"):
        Minibatch(4).sample(Quadratic(d=1), np.zeros((1, 1)), np.random.default_rng(0))


def test_no_noise_is_the_gradient():
    obj = Quadratic(d=2, L=1.0, w_star=1.0)
    assert np.array_equal(NoNoise().sample(obj, np.zeros((1, 2)), None), obj.grad(np.zeros((1, 2))))


@pytest.mark.parametrize("make, field", [
    (lambda: Quadratic(d=0), "d"), (lambda: Quadratic(L=-1), "L"), (lambda: Quadratic(L=1, mu=2), "mu"),
    (lambda: Quadratic(d=2, w_star=[1, 2, 3]), "w_star"), (lambda: LeastSquares(loss="l1"), "loss"),
    (lambda: LeastSquares(n=0), "n"), (lambda: LeastSquares(sigma_a=0), "sigma_a"),
    (lambda: Gaussian(-1.0), "sigma"), (lambda: TwoPoint(0.1, tau=0), "tau"), (lambda: Minibatch(0), "batch"),
    (lambda: LogisticNonconvex(lam=-1), "lam"), (lambda: TwoLayerRegression(h=0), "h"),
])
def test_bad_objective_and_noise_parameters_are_rejected(make, field):
    with pytest.raises(ConfigError, match=field):
        make()


def test_convexity_is_a_property_of_the_objective_not_a_setting():
    """A spec cannot label a nonconvex objective convex (the run's config record reads ``convex``)."""
    from convergence.sim.specs import parse_objective
    assert LogisticNonconvex(d=3, n=20).as_dict()["convex"] is False
    assert Quadratic(d=2).as_dict()["convex"] is True
    for spec in ("logistic:convex=1", "twolayer:convex=1", "quadratic:convex=0"):
        with pytest.raises(ConfigError, match="unknown key 'convex'"):
            parse_objective(spec)
