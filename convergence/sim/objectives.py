r"""Objectives with the constants the bounds need (L, mu, w_star, f_star).

Every objective evaluates ``value(w) -> (trials,)`` and ``grad(w) -> (trials, d)``
for weights of shape ``(trials, d)``; objectives built from samples also
provide ``sample_grad(w, idx)`` for minibatch noise (``idx``: (trials, batch)).

References: docs/theory/theorems.md#lsq-conventions (least-squares conventions of both papers' code).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from numpy.typing import NDArray

from convergence._validate import ConfigError, finite_float, non_negative, positive, positive_int

Array = NDArray[np.float64]

__all__ = ["Objective", "Quadratic", "LeastSquares", "LogisticNonconvex", "TwoLayerRegression", "OBJECTIVES"]


class Objective:
    """Base class. Subclasses set ``d, L, mu, w_star, f_star`` and implement value/grad."""

    name: ClassVar[str] = "objective"
    d: int
    L: float
    mu: float
    w_star: Array
    f_star: float
    #: number of samples for minibatch noise (None: not a finite sum)
    n_samples: int | None = None
    #: multiply ``value - f_star`` by this to get the papers' plotted loss
    plot_scale: float = 1.0
    #: whether f is convex: a property of the class (the nonconvex objectives set False), not a setting
    convex: ClassVar[bool] = True

    def value(self, w: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def grad(self, w: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def value_stack(self, ws: Array) -> Array:
        """f at a stack of weights ``ws`` (n, trials, d): (n, trials), ``value`` of each (n) slice."""
        return np.stack([self.value(w) for w in ws]) if len(ws) else np.empty(np.shape(ws)[:2])

    def sample_grad(self, w: Array, idx: Array) -> Array:
        raise ConfigError(f"objective {self.name!r} has no samples, so minibatch noise is not available")

    def check_weights(self, w: Array) -> Array:
        w = np.asarray(w, dtype=float)
        if w.ndim != 2 or w.shape[1] != self.d:
            raise ConfigError(f"weights must have shape (trials, {self.d}) for {self.name} (got {w.shape})")
        return w

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "d": self.d, "L": self.L, "mu": self.mu, "f_star": self.f_star,
                "convex": self.convex}


@dataclass(frozen=True, eq=False)
class Quadratic(Objective):
    r"""f(w) = ½ Σ_i h_i (w_i − w*_i)², h linearly spaced in [mu, L] (isotropic when mu = L).

    ``w_star`` may be a scalar (all coordinates), a length-d sequence, or a (T, d) array: a batch of
    T instances that differ only in their optimum, one per trial (then :attr:`instances` = T and a
    simulation must run exactly T trials; f* = 0 for every instance).
    """

    d: int = 1
    L: float = 1.0
    mu: float | None = None
    w_star: Any = 0.0
    name: ClassVar[str] = "quadratic"
    instances: int | None = field(init=False, default=None)
    """T when ``w_star`` is a (T, d) batch of instances (one per trial), else None."""
    h: Array = field(init=False, repr=False)
    f_star: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        d = positive_int("d", self.d)
        L = positive("L", self.L)
        mu = L if self.mu is None else positive("mu", self.mu)
        if mu > L:
            raise ConfigError(f"mu must be <= L (got mu={mu}, L={L})")
        ws = np.asarray(self.w_star, dtype=float)
        if ws.ndim == 0:
            ws = np.full(d, float(finite_float("w_star", ws)))
        if ws.shape[-1:] != (d,) or ws.ndim > 2 or ws.size == 0 or not np.all(np.isfinite(ws)):
            raise ConfigError(f"w_star must be a finite scalar, have length d={d} or shape (instances, {d}) "
                              f"(got shape {ws.shape})")
        object.__setattr__(self, "instances", int(ws.shape[0]) if ws.ndim == 2 else None)
        for k, v in (("d", d), ("L", L), ("mu", mu), ("w_star", ws),
                     ("h", np.linspace(mu, L, d) if d > 1 else np.array([L]))):
            object.__setattr__(self, k, v)

    def value(self, w: Array) -> Array:
        diff = w - self.w_star
        return 0.5 * np.einsum("td,d,td->t", diff, self.h, diff)

    def value_stack(self, ws: Array) -> Array:
        """:meth:`value` of each (trials, d) slice of ``ws`` in one einsum (the same products summed in the
        same order over d, so bit-identical to the per-slice calls; tested)."""
        plane = np.ascontiguousarray(np.broadcast_to(self.w_star, ws.shape[1:])).reshape(-1)
        diff = np.subtract(ws.reshape(len(ws), -1), plane).reshape(ws.shape)   # ws - w*, long inner loops
        return self.value_of_diffs(diff)

    def value_of_diffs(self, diff: Array) -> Array:
        """:meth:`value_stack` from the stack ``diff`` = ws − w* (n, trials, d)."""
        return 0.5 * np.einsum("ntd,d,ntd->nt", diff, self.h, diff)

    def grad(self, w: Array) -> Array:
        return (w - self.w_star) * self.h


LOSSES = ("mse", "half_mse", "sum")


@dataclass(frozen=True, eq=False)
class LeastSquares(Objective):
    r"""The papers' least-squares problem (docs/theory/theorems.md#lsq-conventions).

    ``A ~ N(0, sigma_a²)`` of shape (n, d); ``x* = x_scale · N(0, I_d)``;
    labels ``b = A x* + label_bias``. With ``bias=True`` the model has a digital-
    style bias weight (a column of ones appended; weight dimension d + 1), as the
    papers' ``torch.nn.Linear(D, 1)``. ``loss`` selects the normalisation:

    * ``mse`` (default, the code's ``MSELoss``): f = (1/n)‖A w − b‖²;
    * ``half_mse``: f = (1/(2n))‖A w − b‖²;
    * ``sum`` (the papers' formula, P1 eq 141): f = ½‖A w − b‖².

    ``plot_scale = 1/(2d)`` converts an ``mse`` loss into the papers' plotted
    ``MSE/(2D)``. Data come from ``numpy.random.default_rng(seed)`` (the papers
    used torch seed 42; the draws differ, the distribution is the same).
    """

    d: int = 40
    n: int = 100
    sigma_a: float = 1.0
    x_scale: float = 0.45
    label_bias: float = 0.0
    bias: bool = False
    loss: str = "mse"
    seed: int = 42
    name: ClassVar[str] = "lsq"

    def __post_init__(self) -> None:
        d = positive_int("d", self.d)
        n = positive_int("n", self.n)
        sigma_a = positive("sigma_a", self.sigma_a)
        x_scale = non_negative("x_scale", self.x_scale)
        label_bias = finite_float("label_bias", self.label_bias)
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)} (got {self.loss!r})")
        seed = positive_int("seed", self.seed, minimum=0)
        rng = np.random.default_rng(seed)
        A = sigma_a * rng.standard_normal((n, d))
        x_true = x_scale * rng.standard_normal(d)
        b = A @ x_true + label_bias
        self._derive(A, b, x_true)

    @classmethod
    def from_data(cls, A: Any, b: Any, *, bias: bool = False, loss: str = "mse") -> "LeastSquares":
        """The problem of a user's data: features ``A`` (n, d) (without the bias column) and labels ``b`` (n,).

        ``seed`` is −1 and ``x_true`` the least-squares solution of the features alone (the data's own truth is
        unknown); everything else as for a drawn instance."""
        A = np.asarray(A, dtype=float)
        b = np.asarray(b, dtype=float).reshape(-1)
        if A.ndim != 2 or b.shape != (A.shape[0],) or not (np.all(np.isfinite(A)) and np.all(np.isfinite(b))):
            raise ConfigError(f"least-squares data must be finite A (n, d) and b (n,) (got {A.shape} and {b.shape})")
        if loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)} (got {loss!r})")
        obj = cls.__new__(cls)
        for k, v in (("d", A.shape[1]), ("n", A.shape[0]), ("sigma_a", float(A.std())), ("x_scale", 0.0),
                     ("label_bias", 0.0), ("bias", bool(bias)), ("loss", loss), ("seed", -1)):
            object.__setattr__(obj, k, v)
        obj._derive(A, b, np.linalg.lstsq(A, b, rcond=None)[0])
        return obj

    def _derive(self, A: Array, b: Array, x_true: Array) -> None:
        """The derived quantities (Hessian, L, μ, w*, f*) of features ``A`` and labels ``b``."""
        n, d = A.shape
        if self.bias:
            A = np.hstack([A, np.ones((n, 1))])
        c = {"mse": 1.0 / n, "half_mse": 0.5 / n, "sum": 0.5}[self.loss]
        H = 2.0 * c * (A.T @ A)
        eig = np.linalg.eigvalsh(H)
        w_star, *_ = np.linalg.lstsq(A, b, rcond=None)
        resid = A @ w_star - b
        f_star = max(float(c * resid @ resid), 0.0)
        dim = A.shape[1]
        for k, v in (("A", A), ("b", b), ("x_true", x_true), ("_c", c), ("H", H), ("_Atb", 2.0 * c * (A.T @ b)),
                     ("L", float(eig[-1])), ("mu", float(max(eig[0], 0.0))), ("w_star", w_star),
                     ("f_star", f_star), ("n_samples", n), ("plot_scale", 1.0 / (2 * d)), ("dim", dim)):
            object.__setattr__(self, k, v)

    # the weight dimension (d, or d + 1 with a bias column)
    @property
    def d_weights(self) -> int:
        return int(self.dim)  # type: ignore[attr-defined]

    def check_weights(self, w: Array) -> Array:
        w = np.asarray(w, dtype=float)
        if w.ndim != 2 or w.shape[1] != self.dim:  # type: ignore[attr-defined]
            raise ConfigError(f"weights must have shape (trials, {self.dim}) for lsq (got {w.shape})")  # type: ignore[attr-defined]
        return w

    def value(self, w: Array) -> Array:
        r = _rowwise(w, self.A.T) - self.b  # type: ignore[attr-defined]
        return self._c * np.einsum("tn,tn->t", r, r)  # type: ignore[attr-defined]

    def grad(self, w: Array) -> Array:
        return _rowwise(w, self.H) - self._Atb  # type: ignore[attr-defined]

    def sample_grad(self, w: Array, idx: Array) -> Array:
        """Unbiased minibatch gradient: the same loss averaged over the rows ``idx`` (trials, batch)."""
        A_b = self.A[idx]  # type: ignore[attr-defined]
        r = np.einsum("tbd,td->tb", A_b, w) - self.b[idx]  # type: ignore[attr-defined]
        scale = 2.0 * self._c * self.n / idx.shape[1]  # type: ignore[attr-defined]
        return scale * np.einsum("tbd,tb->td", A_b, r)

    def as_dict(self) -> dict[str, Any]:
        out = super().as_dict()
        out.update(n=self.n, sigma_a=self.sigma_a, x_scale=self.x_scale, label_bias=self.label_bias,
                   bias=self.bias, loss=self.loss, seed=self.seed, weights=self.dim)  # type: ignore[attr-defined]
        return out


@dataclass(frozen=True, eq=False)
class LogisticNonconvex(Objective):
    r"""Logistic regression with a nonconvex regulariser (nonconvex, L-smooth).

    .. math:: f(w) = \frac1n\sum_i \log(1 + e^{-y_i a_i^\top w}) + \lambda \sum_j \frac{w_j^2}{1 + w_j^2}

    Features a_i ~ N(0, I/d) scaled by 3, labels from a planted separator with 10 %
    flips. ``L = λ_max(AᵀA)/(4n) + 2λ`` (the regulariser's curvature lies in
    [−λ/2, 2λ]). ``w_star`` is a stationary point found by L-BFGS from 0 and
    ``f_star`` its value (a local reference, not a certified global minimum).
    """

    d: int = 10
    n: int = 200
    lam: float = 0.1
    seed: int = 0
    name: ClassVar[str] = "logistic"
    convex: ClassVar[bool] = False

    def __post_init__(self) -> None:
        from scipy.optimize import minimize

        d = positive_int("d", self.d)
        n = positive_int("n", self.n)
        lam = non_negative("lam", self.lam)
        rng = np.random.default_rng(positive_int("seed", self.seed, minimum=0))
        A = 3.0 * rng.standard_normal((n, d)) / np.sqrt(d)
        planted = rng.standard_normal(d)
        y = np.sign(A @ planted + 1e-12)
        flips = rng.random(n) < 0.1
        y[flips] *= -1.0
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "y", y)
        L = float(np.linalg.eigvalsh(A.T @ A)[-1]) / (4 * n) + 2 * lam
        res = minimize(lambda v: float(self.value(v[None])[0]), np.zeros(d),
                       jac=lambda v: self.grad(v[None])[0], method="L-BFGS-B",
                       options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 10_000})
        for k, v in (("L", L), ("mu", 0.0), ("w_star", res.x), ("f_star", float(res.fun)), ("n_samples", n)):
            object.__setattr__(self, k, v)

    def _data_terms(self, w: Array, A: Array, y: Array) -> tuple[Array, Array]:
        m = np.einsum("nd,td->tn", A, w) * y if A.ndim == 2 else np.einsum("tbd,td->tb", A, w) * y
        return np.logaddexp(0.0, -m), -y * _sigmoid(-m)

    def value(self, w: Array) -> Array:
        loss, _ = self._data_terms(w, self.A, self.y)  # type: ignore[attr-defined]
        return loss.mean(axis=1) + self.lam * np.sum(w * w / (1.0 + w * w), axis=1)

    def _reg_grad(self, w: Array) -> Array:
        return self.lam * 2.0 * w / (1.0 + w * w) ** 2

    def grad(self, w: Array) -> Array:
        _, dm = self._data_terms(w, self.A, self.y)  # type: ignore[attr-defined]
        return _rowwise(dm, self.A) / self.A.shape[0] + self._reg_grad(w)  # type: ignore[attr-defined]

    def sample_grad(self, w: Array, idx: Array) -> Array:
        A_b, y_b = self.A[idx], self.y[idx]  # type: ignore[attr-defined]
        _, dm = self._data_terms(w, A_b, y_b)
        return np.einsum("tb,tbd->td", dm, A_b) / idx.shape[1] + self._reg_grad(w)


def _sigmoid(x: Array) -> Array:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


@dataclass(frozen=True, eq=False)
class TwoLayerRegression(Objective):
    r"""Teacher–student regression with a two-layer tanh network (nonconvex, realisable).

    .. math:: f(\theta) = \frac{1}{2n} \sum_i \big(v^\top \tanh(W_1 x_i) - y_i\big)^2,
              \quad y_i = v_*^\top \tanh(W_{1*} x_i)

    θ = (W1 flattened row-major (h×p), v (h)); ``w_star`` = the teacher, ``f_star = 0``.
    ``L`` is the curvature at the teacher, λ_max(JᵀJ)/n (exact Hessian there since the
    residual vanishes); it is a local constant, not a global smoothness bound.
    """

    p: int = 4
    h: int = 6
    n: int = 200
    seed: int = 0
    name: ClassVar[str] = "twolayer"
    convex: ClassVar[bool] = False

    def __post_init__(self) -> None:
        p, h, n = positive_int("p", self.p), positive_int("h", self.h), positive_int("n", self.n)
        rng = np.random.default_rng(positive_int("seed", self.seed, minimum=0))
        X = rng.standard_normal((n, p))
        W1 = rng.standard_normal((h, p)) / np.sqrt(p)
        v = rng.standard_normal(h) / np.sqrt(h)
        theta = np.concatenate([W1.ravel(), v])
        object.__setattr__(self, "X", X)
        object.__setattr__(self, "y", np.tanh(X @ W1.T) @ v)
        object.__setattr__(self, "d", h * p + h)
        J = self._jacobian(theta)
        # JᵀJ and JJᵀ share their nonzero eigenvalues: decompose the smaller one (d = hp + h can reach
        # thousands while n stays in the hundreds: O(min(n, d)³) instead of O(d³))
        gram = J.T @ J if J.shape[1] <= J.shape[0] else J @ J.T
        L = float(np.linalg.eigvalsh(gram / n)[-1])
        for k, val in (("L", L), ("mu", 0.0), ("w_star", theta), ("f_star", 0.0), ("n_samples", n)):
            object.__setattr__(self, k, val)

    def _split(self, w: Array) -> tuple[Array, Array]:
        t = w.shape[0]
        return w[:, : self.h * self.p].reshape(t, self.h, self.p), w[:, self.h * self.p:]

    def _jacobian(self, theta: Array) -> Array:
        W1, v = self._split(theta[None])
        Z = np.tanh(self.X @ W1[0].T)                           # (n, h)
        dW1 = ((1 - Z ** 2) * v[0])[:, :, None] * self.X[:, None, :]  # (n, h, p)
        return np.hstack([dW1.reshape(self.n, -1), Z])

    def _forward(self, w: Array, X: Array, y: Array) -> tuple[Array, Array, Array, Array]:
        W1, v = self._split(w)
        if X.ndim == 2:
            Z = np.tanh(np.einsum("np,thp->tnh", X, W1))
        else:
            Z = np.tanh(np.einsum("tnp,thp->tnh", X, W1))
        r = np.einsum("tnh,th->tn", Z, v) - y
        return Z, r, W1, v

    def value(self, w: Array) -> Array:
        _, r, _, _ = self._forward(w, self.X, self.y)  # type: ignore[attr-defined]
        return 0.5 * np.mean(r * r, axis=1)

    def _grad_from(self, w: Array, X: Array, y: Array) -> Array:
        Z, r, W1, v = self._forward(w, X, y)
        m = r.shape[1]
        gv = np.einsum("tn,tnh->th", r, Z) / m
        back = r[:, :, None] * (1 - Z ** 2) * v[:, None, :]    # (t, n, h)
        gW1 = (np.einsum("tnh,np->thp", back, X) if X.ndim == 2 else np.einsum("tnh,tnp->thp", back, X)) / m
        return np.concatenate([gW1.reshape(w.shape[0], -1), gv], axis=1)

    def grad(self, w: Array) -> Array:
        return self._grad_from(w, self.X, self.y)  # type: ignore[attr-defined]

    def sample_grad(self, w: Array, idx: Array) -> Array:
        return self._grad_from(w, self.X[idx], self.y[idx])  # type: ignore[attr-defined]


def _rowwise(w: Array, M: Array) -> Array:
    """``w @ M`` computed as one vector-matrix product per trial.

    A plain ``w @ M`` lets BLAS pick a kernel (and so a summation order) by the
    number of rows; per-trial products make a trial's numbers independent of how
    many trials share the batch, so batches equal stacked single runs bit for bit.
    """
    return np.matmul(w[:, None, :], M)[:, 0, :]


OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls for cls in (Quadratic, LeastSquares, LogisticNonconvex, TwoLayerRegression)
}


def weight_dim(obj: Objective) -> int:
    """Number of weights the objective takes (d, or d + 1 for lsq with a bias column)."""
    return int(getattr(obj, "dim", obj.d))
