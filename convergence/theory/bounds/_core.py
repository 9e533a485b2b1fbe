r"""Bounds as executable objects: a sympy expression plus a cached numeric evaluator.

A :class:`Bound` is one theorem or derived prediction: the right-hand side in
the paper's symbols (``expr``), the argument order of its numeric evaluator
(``params``), its ``kind`` and a ``reference``. ``bound(**values)`` evaluates
it with NumPy broadcasting over array-valued parameters; ``bound.check(...)``
compares empirical numbers with it and returns a :class:`CheckResult` whose
fields are arrays of the broadcast shape (SciPy's batched-result convention).

Kinds and what :meth:`Bound.check` means by "holds" (``margin = k * stderr``):

* ``upper``       value <= bound + margin
* ``lower``       value >= bound − margin
* ``exact``       |value − bound| <= margin + rtol·|bound|  (stationary values)
* ``asymptotic``  same test as ``exact``; the prediction is a limit (α → 0,
  small-gradient expansion), so a non-zero ``rtol`` is usually appropriate.

``rtol`` defaults to :attr:`Bound.rtol` (0 for exact identities) and can be
passed to ``check``. ``slack`` is signed so that slack >= 0 means "holds
without the statistical margin": bound − value (upper), value − bound (lower),
rtol·|bound| − |value − bound| (exact/asymptotic).

Implicit predictions (e.g. ``d3.asgd_floor``, Analog SGD's mean-field fixed point, which solves an equation)
store the defining equation ``equation = 0`` in the unknown ``unknown`` and
evaluate ``expr`` at its root; the root is found numerically (``numeric`` or,
by default, vectorized bisection on ``bracket``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Mapping

import numpy as np
import sympy as sp
from numpy.typing import ArrayLike, NDArray

from convergence._validate import ConfigError
from convergence.theory.verdicts import Claim, Verdict

Array = NDArray[np.float64]

KINDS = ("upper", "lower", "exact", "asymptotic")

__all__ = ["Bound", "CheckResult", "CheckOutcome", "Claim", "Verdict", "KINDS", "LATEX_NAMES", "bisect_roots"]

#: LaTeX spellings of the symbols used in the registry (for :meth:`Bound.latex`).
LATEX_NAMES: dict[str, str] = {
    "f_gap": r"f(W_0) - f^*", "sigma": r"\sigma", "tau": r"\tau", "K": "K", "L": "L",
    "W_max": r"W_{\max}", "S_K": "S_K", "S_K_asgd": r"S_K^{\mathrm{ASGD}}", "S_K_rl": r"S_K^{\mathrm{RL}}",
    "F_max": r"F_{\max}",
    "alpha": r"\alpha", "beta": r"\beta", "gamma": r"\gamma", "c": "c", "D": "D", "w": "w",
    "w_star": "w^*", "w_sym": r"w_\diamond", "Sigma": r"\Sigma", "dR": r"R'(w_\diamond)",
    "w_s": "w_s", "abs_g": r"\mathbb{E}|g|", "g": "g", "p": "p", "P_max": r"P_{\max}",
    "M_min": r"M_{\min}", "lr": r"\alpha", "c_lin": r"c_{\mathrm{Lin}}", "h": "h", "mu": r"\mu",
}


@lru_cache(maxsize=None)
def _lambdify(params: tuple[sp.Symbol, ...], expr: sp.Expr) -> Callable[..., Any]:
    return sp.lambdify(params, expr, modules=["numpy", "scipy"])


def bisect_roots(fn: Callable[[Array], Array], lo: ArrayLike, hi: ArrayLike, *, iters: int = 200) -> Array:
    """Vectorized bisection: a root of ``fn`` in each bracket [lo, hi] (fn(lo), fn(hi) of opposite sign).

    Elements whose bracket has no sign change return nan; a bracket end that is
    an exact root is returned as is.
    """
    lo = np.array(lo, dtype=float, copy=True)
    hi = np.array(hi, dtype=float, copy=True)
    lo, hi = np.broadcast_arrays(lo, hi)
    lo, hi = lo.copy(), hi.copy()
    flo, fhi = fn(lo), fn(hi)
    exact_lo, exact_hi = flo == 0, fhi == 0
    valid = (np.sign(flo) * np.sign(fhi) <= 0)
    neg_lo = flo < 0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        fm = fn(mid)
        go_right = np.where(neg_lo, fm < 0, fm > 0)
        lo = np.where(go_right, mid, lo)
        hi = np.where(go_right, hi, mid)
        if np.all(hi - lo <= 4 * np.finfo(float).eps * np.maximum(1.0, np.abs(hi))):
            break
    root = 0.5 * (lo + hi)
    root = np.where(exact_lo, lo, np.where(exact_hi, hi, root))
    return np.where(valid, root, np.nan)


@dataclass(frozen=True)
class CheckResult:
    """Element-wise comparison of empirical numbers with a bound (arrays of the broadcast shape).

    Attributes:
        name: the bound's name.
        kind: the bound's kind.
        value: empirical values.
        bound: the bound (prediction) evaluated at the given parameters.
        slack: signed slack (>= 0: holds even without the margin; see module docstring).
        ratio: value / bound.
        margin: statistical margin k · stderr.
        holds: bool array, the verdict with the margin.
        verdict: :class:`~convergence.theory.verdicts.Verdict` values per element (``"holds"`` /
            ``"fails"``, a string array).
        rtol: relative tolerance used for exact/asymptotic kinds.
        reference: the bound's reference (paper, theorem, equation).
        description: the bound's one-line description.
    """

    name: str
    kind: str
    value: Array
    bound: Array
    slack: Array
    ratio: Array
    margin: Array
    holds: Array
    verdict: Array
    rtol: float = 0.0
    reference: str = ""
    description: str = ""

    @property
    def all_hold(self) -> bool:
        """True if every element holds."""
        return bool(np.all(self.holds))

    def claims(self) -> tuple[Claim, ...]:
        """One :class:`~convergence.theory.verdicts.Claim` per element (C order).

        ``id`` is the bound's name (with ``[i, j]`` appended for array results), ``prediction`` the
        bound, ``measured`` the value, ``uncertainty`` the margin k · stderr; ``details`` holds the
        slack, ratio and rtol.
        """
        out = []
        shape = np.shape(self.holds)
        rel = {"upper": "<=", "lower": ">=", "exact": "==", "asymptotic": "~="}[self.kind]
        for idx in np.ndindex(*shape):
            label = self.name + (f"[{', '.join(map(str, idx))}]" if shape else "")
            out.append(Claim(
                id=label, statement=self.description or f"measured {rel} {self.name}", reference=self.reference,
                verdict=Verdict(str(self.verdict[idx])), prediction=float(self.bound[idx]),
                measured=float(self.value[idx]), uncertainty=float(self.margin[idx]),
                method=f"{self.kind} bound", prediction_label=f"{self.kind} bound (measured {rel} bound)",
                note=f"slack {float(self.slack[idx]):.4g}, ratio {float(self.ratio[idx]):.4g}",
                details={"slack": float(self.slack[idx]), "ratio": float(self.ratio[idx]), "rtol": self.rtol,
                         "index": list(idx)}))
        return tuple(out)

    def __str__(self) -> str:
        v, b = np.ravel(self.value), np.ravel(self.bound)
        if v.size == 1:
            return (f"{self.name} [{self.kind}]: value {v[0]:.6g} vs bound {b[0]:.6g} "
                    f"(margin {float(np.ravel(self.margin)[0]):.3g}, ratio {float(np.ravel(self.ratio)[0]):.4g}) "
                    f"-> {np.ravel(self.verdict)[0]}")
        return f"{self.name} [{self.kind}]: {int(np.sum(self.holds))}/{self.holds.size} hold"


def CheckOutcome(name: str, claim: str, source: str, method: str, passed: bool, details: str = "",
                 erratum: str = "") -> Claim:
    """The :class:`~convergence.theory.verdicts.Claim` of one ``proofs_checks`` module.

    Args:
        name: check name (module name), the claim's ``id``.
        claim: the statement checked (one line).
        source: where the claim comes from (paper and equation, or the derivation it checks).
        method: "sympy", "numeric (dense evaluation)" or "monte carlo" (combinations joined by " + ").
        passed: whether the check passed.
        details: the evidence (numbers), printed by ``convergence proofs``/``errata``.
        erratum: for checks reproducing an erratum: "printed: ... | corrected: ..." (else "").

    Returns:
        A Claim with verdict ``erratum confirmed`` (passed, with an erratum), ``holds`` (passed) or
        ``fails``; ``claim.passed`` is ``passed``.
    """
    verdict = Verdict.from_bool(bool(passed))
    if verdict is Verdict.HOLDS and erratum:
        verdict = Verdict.ERRATUM_CONFIRMED
    return Claim(id=name, statement=claim, reference=source, method=method, verdict=verdict, details=details,
                 erratum=erratum)


def _as_symbol_tuple(params: Any) -> tuple[sp.Symbol, ...]:
    return tuple(params)


@dataclass(frozen=True)
class Bound:
    r"""One theorem or derived prediction as an executable object.

    Attributes:
        name: registry name, e.g. ``"p1.thm2"``.
        expr: right-hand side in the paper's symbols (sympy).
        params: argument order of the numeric evaluator (sympy Symbols; values are
            passed by the symbols' names).
        kind: "upper" | "lower" | "exact" | "asymptotic".
        reference: paper, theorem and equation (or the derivation in :mod:`.derived`).
        assumptions: the hypotheses the statement needs (human-readable).
        description: one line saying what the quantity is and how to measure it.
        rtol: default relative tolerance of :meth:`check` for exact/asymptotic kinds.
        erratum: non-empty for a printed statement that the derivation does not support;
            says what is wrong and which bound is the corrected one.
        equation: for implicit predictions, the expression whose root (in ``unknown``) is used.
        unknown: the symbol solved for in ``equation``.
        bracket: ``bracket(**values) -> (lo, hi)`` arrays bracketing the root of ``equation``.
        numeric: optional evaluator ``numeric(**values) -> array`` replacing lambdify
            (used for implicit predictions that wrap an existing solver).
        trajectory: optional ``trajectory(traj, **values) -> dict`` extracting the run-dependent
            quantities (see :meth:`from_trajectory`).
    """

    name: str
    expr: sp.Expr
    params: tuple[sp.Symbol, ...]
    kind: str
    reference: str
    assumptions: tuple[str, ...] = ()
    description: str = ""
    rtol: float = 0.0
    erratum: str = ""
    equation: sp.Expr | None = None
    unknown: sp.Symbol | None = None
    bracket: Callable[..., tuple[Any, Any]] | None = field(default=None, compare=False, repr=False)
    numeric: Callable[..., Any] | None = field(default=None, compare=False, repr=False)
    trajectory: Callable[..., dict[str, Any]] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {', '.join(KINDS)} (got {self.kind!r})")
        object.__setattr__(self, "params", _as_symbol_tuple(self.params))
        object.__setattr__(self, "assumptions", tuple(self.assumptions))
        allowed = set(self.params) | ({self.unknown} if self.unknown is not None else set())
        extra = set(self.expr.free_symbols) - allowed
        if extra:
            raise ConfigError(f"bound {self.name}: expr has symbols {sorted(map(str, extra))} not in params")
        if self.equation is not None:
            if self.unknown is None:
                raise ConfigError(f"bound {self.name}: an implicit equation needs its unknown")
            extra = set(self.equation.free_symbols) - allowed
            if extra:
                raise ConfigError(f"bound {self.name}: equation has symbols {sorted(map(str, extra))} not in params")
            if self.numeric is None and self.bracket is None:
                raise ConfigError(f"bound {self.name}: an implicit equation needs a bracket or a numeric solver")

    # -- evaluation ---------------------------------------------------------------------
    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the parameters, in evaluator order."""
        return tuple(p.name for p in self.params)

    @property
    def is_erratum(self) -> bool:
        return bool(self.erratum)

    def _args(self, values: Mapping[str, Any]) -> list[Array]:
        missing = [n for n in self.param_names if n not in values]
        if missing:
            raise ConfigError(f"bound {self.name} needs {', '.join(missing)} "
                              f"(parameters: {', '.join(self.param_names)})")
        return [np.asarray(values[n], dtype=float) for n in self.param_names]

    def solve(self, **values: ArrayLike) -> Array:
        """The root of ``equation`` in ``unknown`` (implicit predictions only), broadcasting."""
        if self.equation is None or self.unknown is None:
            raise ConfigError(f"bound {self.name} is explicit; nothing to solve")
        args = self._args(values)
        h = _lambdify((self.unknown, *self.params), self.equation)
        lo, hi = self.bracket(**{n: a for n, a in zip(self.param_names, args)})  # type: ignore[misc]
        shape = np.broadcast_shapes(np.shape(lo), np.shape(hi), *(np.shape(a) for a in args))
        lo, hi = np.broadcast_to(lo, shape), np.broadcast_to(hi, shape)
        return bisect_roots(lambda x: np.asarray(h(x, *args), dtype=float), lo, hi)

    def __call__(self, **values: ArrayLike) -> Array:
        """Evaluate the bound, broadcasting over array-valued parameters.

        Extra keyword values that are not parameters are ignored (so one dict of
        settings can feed several bounds).
        """
        if self.numeric is not None:
            self._args(values)
            return np.asarray(self.numeric(**{n: values[n] for n in self.param_names}), dtype=float)
        args = self._args(values)
        if self.unknown is not None:
            root = self.solve(**values)
            fn = _lambdify((self.unknown, *self.params), self.expr)
            out = fn(root, *args)
        else:
            fn = _lambdify(self.params, self.expr)
            out = fn(*args)
        shape = np.broadcast_shapes(np.shape(out), *(np.shape(a) for a in args))
        return np.broadcast_to(np.asarray(out, dtype=float), shape).copy()

    # -- comparison ---------------------------------------------------------------------
    def check(self, empirical: ArrayLike, *, stderr: ArrayLike = 0.0, k: float = 3.0,
              rtol: float | None = None, **values: ArrayLike) -> CheckResult:
        """Compare ``empirical`` with the bound evaluated at ``values``.

        Args:
            empirical: measured values (broadcast with the parameters).
            stderr: their standard errors (across independent trials).
            k: number of standard errors in the margin (margin = k · stderr).
            rtol: relative tolerance for exact/asymptotic kinds (default: ``self.rtol``).
            **values: parameter values (arrays broadcast).
        """
        if not (isinstance(k, (int, float)) and k >= 0 and math.isfinite(k)):
            raise ConfigError(f"k must be a finite number >= 0 (got {k!r})")
        rtol = self.rtol if rtol is None else float(rtol)
        if rtol < 0:
            raise ConfigError(f"rtol must be >= 0 (got {rtol!r})")
        stderr_arr = np.asarray(stderr, dtype=float)
        if np.any(stderr_arr < 0):
            raise ConfigError("stderr must be >= 0")
        b = self(**values)
        value, b, se = np.broadcast_arrays(np.asarray(empirical, dtype=float), b, stderr_arr)
        margin = k * se
        if self.kind == "upper":
            slack = b - value
            holds = value <= b + margin
        elif self.kind == "lower":
            slack = value - b
            holds = value >= b - margin
        else:
            tol = rtol * np.abs(b)
            slack = tol - np.abs(value - b)
            holds = np.abs(value - b) <= margin + tol
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = value / b
        holds = np.asarray(holds & np.isfinite(value), dtype=bool)
        verdict = np.where(holds, Verdict.HOLDS.value, Verdict.FAILS.value)
        return CheckResult(self.name, self.kind, np.array(value), np.array(b), np.array(slack), np.array(ratio),
                           np.array(margin), holds, verdict, rtol, self.reference, self.description)

    # -- presentation -------------------------------------------------------------------
    def latex(self) -> str:
        """LaTeX of the right-hand side (and of the defining equation for implicit predictions)."""
        names = {s: LATEX_NAMES.get(s.name, sp.latex(s)) for s in set(self.params) | (
            {self.unknown} if self.unknown is not None else set())}
        out = sp.latex(self.expr, symbol_names=names)
        if self.equation is not None:
            out += r",\quad " + sp.latex(self.equation, symbol_names=names) + " = 0"
        return out

    def from_trajectory(self, traj: Any, **values: Any) -> dict[str, Any]:
        """Run-dependent quantities of this bound measured on a Trajectory.

        Returns a dict of per-trial arrays / scalars keyed by parameter names (e.g.
        ``S_K``, ``W_max``, ``K``, ``f_gap``) plus ``"measured"`` (per trial),
        ``"measured_mean"`` and ``"measured_stderr"`` (across ok trials) where the
        bound's left-hand side can be read off the run, so that
        ``bound.check(v["measured"], **v)`` works directly. ``values`` supply what
        the trajectory cannot know (e.g. ``tau`` of a realised device array) and
        override what it records.
        """
        if self.trajectory is None:
            raise ConfigError(f"bound {self.name} does not depend on a trajectory")
        return self.trajectory(traj, **values)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able description."""
        return {"name": self.name, "kind": self.kind, "expr": str(self.expr), "latex": self.latex(),
                "params": list(self.param_names), "reference": self.reference,
                "assumptions": list(self.assumptions), "description": self.description,
                "erratum": self.erratum, "rtol": self.rtol,
                "equation": None if self.equation is None else str(self.equation)}
