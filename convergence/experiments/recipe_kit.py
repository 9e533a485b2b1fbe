r"""Library code of the figure recipes: seeds, problems, per-trial noise, statistics, theory, claims, plots.

Recipes (``figures/*.py``) import it as an ordinary module::

    from convergence.experiments import recipe_kit as C

Contents:

* seeds and sweeps: :func:`sub` (stable child SeedSequence of the recipe's seed),
  :func:`parallel_map` (the runner's map, :mod:`convergence.experiments.parallel`), :func:`cache_folder` (the
  run's cache folder, for inputs a recipe caches itself);
* objectives: :func:`lsq` builds the papers' least-squares problem from a cfg dict;
* noise: :class:`TrialGaussian` (per-trial Gaussian std, to sweep σ along the trials axis);
  per-trial τ comes from :func:`convergence.physics.devices.tau_sweep`;
* statistics: :func:`mean_se`, :func:`paired_diff`, :func:`ratio_se`, :func:`loglog_slope`;
* theory: :func:`lsq_meanfield_stationary` and :func:`lsq_meanfield_stationary_device` (mean-field
  stationary point of Analog SGD on a quadratic), :func:`digital_lsq_floor` (digital SGD's
  stationary loss on a quadratic);
* claims: :func:`claim` (the report's dict, with an optional resolving-power rule), :data:`K_SIGMA`,
  :func:`count_rule`, :func:`network_rule` (:data:`MIN_FCN_STEPS`), :func:`deciding_scale`;
* least-squares series: :func:`lsq_algorithm`, :func:`lsq_series`, :func:`curve_stats`;
* plotting: :func:`ema` (papers' smoothing, plots only), :func:`band`, :func:`positive_floor`, :func:`cv_style`;
* network figures: :func:`tau_labels`, :func:`plot_accuracy_curves` (P1 Fig. 5, P2 Fig. 4);
* tables: :func:`markdown_table` (a recipe's ``table``), :func:`draw_table` (a table as a figure).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import convergence as cv
from convergence.experiments.cache import current_folder as cache_folder
from convergence.experiments.parallel import parallel_map
from convergence.sim.noise import Noise
from convergence.theory.meanfield import abs_gaussian_mean

__all__ = ["K_SIGMA", "sub", "parallel_map", "cache_folder",
           "lsq", "TrialGaussian", "mean_se", "paired_diff", "ratio_se",
           "loglog_slope", "lsq_meanfield_stationary", "lsq_meanfield_stationary_device", "digital_lsq_floor",
           "claim", "EQUAL_BAND", "NEAR_DIGITAL", "band_verdict", "band_claim", "within_verdict", "exceeds_verdict",
           "deciding_scale", "count_rule", "MIN_BAND_REPEATS", "paired_rule", "band_rule", "MIN_FCN_STEPS",
           "MIN_FCN_STEPS_ASGD_TAU", "sgd_steps",
           "network_rule", "ema", "band", "positive_floor", "curve_stats", "cv_style", "lsq_algorithm",
           "lsq_series", "tau_labels", "plot_accuracy_curves", "markdown_table", "draw_table"]

#: claims use k = 3 standard errors (across independent trials) as their statistical margin
K_SIGMA = 3.0


# -- seeds ------------------------------------------------------------------------------------

def sub(seed: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    """Child SeedSequence with ``key`` appended to the spawn key (stable identity, not spawn order)."""
    return np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + tuple(int(k) for k in key))


# -- problems -----------------------------------------------------------------------------------

def lsq(cfg: dict[str, Any]) -> cv.LeastSquares:
    """The papers' least-squares problem from cfg keys d, n, sigma_a, x_scale, label_bias, bias (loss mse)."""
    return cv.LeastSquares(d=int(cfg["d"]), n=int(cfg.get("n", 100)), sigma_a=float(cfg["sigma_a"]),
                           x_scale=float(cfg["x_scale"]), label_bias=float(cfg.get("label_bias", 0.0)),
                           bias=bool(cfg.get("bias", True)), loss="mse", seed=int(cfg.get("data_seed", 42)))


@dataclass(frozen=True, eq=False)
class TrialGaussian(Noise):
    """Additive Gaussian gradient noise whose per-coordinate std differs across trials.

    ``sigma`` has shape (trials, 1) (or broadcastable); draws come from the simulator's
    trial streams, so results do not depend on how trials are batched.
    """

    sigma: Any = 0.1
    name = "trial-gaussian"

    def sample(self, objective: Any, w: np.ndarray, rng: Any, grad: np.ndarray | None = None) -> np.ndarray:
        g = objective.grad(w) if grad is None else grad
        return g + self.sigma * rng.standard_normal(w.shape)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sigma": np.ravel(self.sigma).tolist()}


# -- statistics ---------------------------------------------------------------------------------

def mean_se(x: Any, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of the mean along ``axis`` (the trials axis), ignoring NaN."""
    x = np.asarray(x, dtype=float)
    n = np.sum(np.isfinite(x), axis=axis)
    m = np.nanmean(x, axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.nanstd(x, axis=axis, ddof=1) / np.sqrt(n)
    return m, se


def paired_diff(a: Any, b: Any) -> tuple[float, float]:
    """Mean and standard error of a − b over paired trials (common random numbers)."""
    m, se = mean_se(np.asarray(a, float) - np.asarray(b, float))
    return float(m), float(se)


def ratio_se(a: Any, b: Any) -> tuple[float, float]:
    """Ratio of the trial means mean(a)/mean(b) and its delta-method standard error (independent a, b)."""
    ma, sa = mean_se(a)
    mb, sb = mean_se(b)
    r = float(ma / mb)
    return r, float(abs(r) * math.sqrt((sa / ma) ** 2 + (sb / mb) ** 2))


def loglog_slope(x: Any, y_trials: Any) -> tuple[float, float]:
    """Least-squares slope of log(mean y) vs log x, with a standard error from the trial spread.

    ``y_trials`` has shape (len(x), trials); the error propagates se(log mean y) = se/mean.
    """
    x = np.log(np.asarray(x, float))
    if x.size < 2:
        return math.nan, math.nan
    m, se = mean_se(y_trials)
    ly, sly = np.log(m), se / m
    xc = x - x.mean()
    w = xc / np.sum(xc * xc)
    return float(np.sum(w * ly)), float(math.sqrt(np.sum((w * sly) ** 2)))


# -- theory -------------------------------------------------------------------------------------

def lsq_meanfield_stationary(H: np.ndarray, w_star: np.ndarray, sigma: float, tau: float,
                             w_sym: float = 0.0, iters: int = 2000) -> np.ndarray:
    r"""Mean-field stationary point of Analog SGD on f = ½(w − w*)ᵀH(w − w*), soft bounds, N(0, σ²I) noise.

    The mean drift of the update vanishes coordinatewise (soft bounds, P1 eq 8):
    H(w − w*) + ((w − w⋄)/τ) ⊙ E|H(w − w*) + ε| = 0, i.e. w = (H + Diag(a/τ))⁻¹ (H w* + (a/τ) w⋄)
    with a = E|g + ε| at g = H(w − w*) (:func:`~convergence.theory.meanfield.abs_gaussian_mean`),
    solved by fixed-point iteration (a contraction for the small g of interest).
    """
    w = np.array(w_star, dtype=float)
    for _ in range(iters):
        g = H @ (w - w_star)
        a = np.asarray(abs_gaussian_mean(g, sigma)) / tau
        w_new = np.linalg.solve(H + np.diag(a), H @ w_star + a * w_sym)
        if np.max(np.abs(w_new - w)) < 1e-14:
            w = w_new
            break
        w = w_new
    return w


def digital_lsq_floor(H: np.ndarray, lr: float, sigma: float) -> float:
    r"""Stationary E[f − f*] of digital SGD on f = ½ xᵀHx with N(0, σ²I) gradient noise.

    In the eigenbasis h_i the stationary variance is ασ²/(h_i(2 − αh_i)), so
    E[f − f*] = ½ Σ_i h_i · ασ²/(h_i(2 − αh_i)) = Σ_i ασ²/(2(2 − αh_i)) over h_i > 0
    (zero-curvature directions carry no loss).
    """
    h = np.linalg.eigvalsh(H)
    h = h[h > 1e-12 * h.max()]
    return float(np.sum(lr * sigma ** 2 / (2.0 * (2.0 - lr * h))))


# -- claims -------------------------------------------------------------------------------------

def claim(id: str, statement: str, prediction: str, measured: Any, uncertainty: Any, holds: bool | str,
          paper: str, *, rule: Callable[[dict[str, Any]], Any] | None = None, cfg: dict[str, Any] | None = None,
          scales: Mapping[str, dict[str, Any]] | None = None, note: str = "") -> dict[str, Any]:
    """One entry of the verification report (the recipe contract's claim dict; the runner turns it into a
    :class:`convergence.theory.verdicts.Claim`).

    ``holds`` is a bool (holds/fails) or a :class:`~convergence.theory.verdicts.Verdict` or its text
    (e.g. "erratum confirmed"; ConfigError if unknown).
    ``measured``/``uncertainty`` are numbers (or short lists); uncertainty is K_SIGMA·stderr.

    ``rule`` (with ``cfg``, the run's config, and ``scales``, the recipe's ``SCALES``) is the claim's
    resolving-power rule, declared in the recipe before the run: a function of a config alone returning a
    :class:`~convergence.theory.verdicts.ResolvingPower`. When it says this scale cannot decide the claim
    the verdict is "inconclusive" whatever was measured (:func:`~convergence.theory.verdicts.decide`), and
    the note names the first scale of ``scales`` whose config the same rule accepts.
    """
    from convergence.theory.verdicts import Verdict, decide

    verdict = Verdict.parse(holds, f"claim {id}: verdict") if isinstance(holds, str) else Verdict.from_bool(bool(holds))
    if rule is not None:
        if cfg is None or scales is None:
            raise ValueError(f"claim {id}: a rule needs cfg and scales")
        power = rule(cfg)
        if verdict.decided and verdict is not Verdict.ERRATUM_CONFIRMED:
            verdict = decide(verdict is Verdict.HOLDS, power)
        if verdict is Verdict.INCONCLUSIVE and not power.resolvable:
            where = deciding_scale(rule, scales)
            then = (f"the {where!r} scale decides it (`convergence figures {id.split('.')[0]} --scale {where}`)"
                    if where else "no scale of this recipe decides it")
            why = f"Not decidable at this scale: {power.describe()}; {then}."
        else:
            why = f"Resolving power: {power.describe()}."
        note = f"{note} {why}".strip()
    value, margin = _num(measured), _num(uncertainty)
    if isinstance(value, list) and len(value) == 1 and (not isinstance(margin, list) or len(margin) == 1):
        value, margin = value[0], (margin[0] if isinstance(margin, list) else margin)   # one number reads as one
    out = {"id": id, "statement": statement, "prediction": prediction, "measured": value,
           "uncertainty": margin, "verdict": verdict, "paper": paper}
    if note:
        out["note"] = note
    return out


#: The relative band of the recipes' "equals" and "not worse than" claims that have no tolerance of their own
#: (P1 Fig. 3 tile's rounding/expected vs pulse-train ratios, P2 Fig. 5's and P2 Corollary 1's "not worse"): 10 %.
EQUAL_BAND = 0.1
#: The band of "within 1 point of digital SGD" on a network (P2 Fig. 4's headline; also P1 Fig. 5's "no analog
#: setting ahead of digital"), in accuracy units.
NEAR_DIGITAL = 0.01


def band_verdict(ok: bool, margin: Any, band: float) -> tuple[Any, str]:
    """A band claim's declared rule ("|x| ≤ band + margin", ``ok``): decided only when every margin (K_SIGMA standard
    errors) is below the band, else the claim could hold on noise alone. Returns the claim's ``holds`` (``ok`` or
    "inconclusive") and a note for the undecided case ("" otherwise). :func:`band_claim` adds the case this
    function cannot see: a deviation beyond band + margin fails the claim whatever the margin."""
    m = np.asarray(margin, dtype=float)
    if bool(np.all(m < band)):
        return ok, ""
    return "inconclusive", (f"Undecided: the margin ({K_SIGMA:g} s.e., up to {float(np.max(m)):.3g}) is not below the "
                            f"{band:g} band.")


def band_claim(deviation: Any, margin: Any, band: float, *, also: bool = True) -> tuple[Any, str]:
    """A band claim "deviation ≤ band" under the band rule, in one call. It fails when some deviation lies beyond
    band + margin (outside the band by more than its margin, however wide the margin is), and holds when every
    deviation + margin lies below the band (the whole interval inside it, however wide the margin: a two-sided
    claim needs a margin below the band for that anyway, a one-sided one can lie that far on its good side).
    Otherwise its outcome is ``also`` (a side condition the claim states besides its band, e.g. an ordering
    shown by 3 s.e.), decided only when every margin is below the band (:func:`band_verdict`): a margin at or
    above the band leaves it undecided, since the claim could then hold on noise alone, and so does a side
    condition not shown on such noise. ``deviation`` is ``|x − prediction|`` for a two-sided claim and the signed
    excess for a one-sided one ("not worse than": x − ref; "not ahead of": ref − x), relative to the prediction
    when the band is; ``margin`` is K_SIGMA standard errors of it, in the same units. Returns the claim's
    ``holds`` and a note ("" when decided)."""
    dev, m = np.asarray(deviation, dtype=float), np.asarray(margin, dtype=float)
    if not bool(np.all(dev <= band + m)):
        return False, ""
    if also and bool(np.all(dev + m < band)):
        return True, ""          # every interval lies inside the band: shown, however wide the margin
    return band_verdict(bool(also), m, band)


def within_verdict(measured: Any, margin: Any, band: float, low: float | None = None) -> tuple[Any, str]:
    """The interval rule of a claim "measured ≤ band" (or "low ≤ measured ≤ band"), declared with it (the property
    battery's rule for slopes): holds when every interval ``measured ± margin`` lies inside, fails when one lies
    wholly outside, and is inconclusive when an edge lies inside an interval. Returns the claim's ``holds`` and a
    note ("" when decided)."""
    x, m = np.asarray(measured, dtype=float), np.asarray(margin, dtype=float)
    lo = -np.inf if low is None else low
    if bool(np.all((x + m <= band) & (x - m >= lo))):
        return True, ""
    if bool(np.any((x - m > band) | (x + m < lo))):
        return False, ""
    edges = f"{band:g}" if low is None else f"[{low:g}, {band:g}]"
    return "inconclusive", f"Undecided: an edge of {edges} lies inside the measured value ± its margin."


def exceeds_verdict(measured: Any, margin: Any, negligible: float) -> tuple[Any, str]:
    """The interval rule of a claim "measured > 0" (an effect), declared with it: holds when every
    ``measured − margin > 0``, fails when some ``measured + margin < negligible`` (shown smaller than the least effect
    the claim means), and is inconclusive otherwise: the interval reaches both 0 and ``negligible``. Returns the
    claim's ``holds`` and a note ("" when decided)."""
    x, m = np.asarray(measured, dtype=float), np.asarray(margin, dtype=float)
    if bool(np.all(x - m > 0)):
        return True, ""
    if bool(np.any(x + m < negligible)):
        return False, ""
    return "inconclusive", (f"Undecided: the measured value ± its margin reaches both 0 and the least effect the "
                            f"claim means ({negligible:g}).")


def deciding_scale(rule: Callable[[dict[str, Any]], Any], scales: Mapping[str, dict[str, Any]]) -> str:
    """The first scale in ``scales`` (the recipe's SCALES, in its order) whose config ``rule`` accepts ("" if none;
    a scale whose config the rule cannot read, e.g. one without the claim's architecture, is passed over)."""
    for name, scfg in scales.items():
        try:
            if rule(scfg).resolvable:
                return str(name)
        except (KeyError, TypeError):
            continue
    return ""


def count_rule(count: int, need: int, unit: str, purpose: str) -> Any:
    """A :class:`~convergence.theory.verdicts.ResolvingPower` that needs ``count >= need`` (e.g. step sizes for
    a slope, training steps for a network ordering)."""
    from convergence.theory.verdicts import ResolvingPower

    return ResolvingPower(points=int(count), min_points=int(need), unit=unit, purpose=purpose)


#: Paired repeats a band claim on a network ("barely changes", "within a band of") needs: its margin must hold the
#: seed-to-seed spread, which one repeat cannot estimate (with one repeat the margin is the test set's alone, so a
#: claim could hold on a margin that leaves out the larger part of the noise). In P2 Table 7's long run (FCN,
#: Fashion-MNIST, 1200 steps, 5000 test images) the seed spread took Analog SGD's 3-s.e. margin of the paired
#: change to 2.8 points, about twice its test-set part.
MIN_BAND_REPEATS = 2


def paired_rule(repeats: int, then: Any, need: int = MIN_BAND_REPEATS) -> Any:
    """The resolving-power rule of a claim read from paired repeats on a network: ``need`` repeats to estimate the
    seed-to-seed spread, then the rule ``then`` (e.g. :func:`network_rule`)."""
    if int(repeats) < need:
        return count_rule(int(repeats), need, "paired repeats", "to estimate the seed-to-seed spread")
    return then


def band_rule(repeats: int, then: Any) -> Any:
    """The resolving-power rule of a band claim on a network: :data:`MIN_BAND_REPEATS` paired repeats
    (:func:`paired_rule`), then the rule ``then``."""
    return paired_rule(repeats, then)


#: The sigmoid FCN (784-256-128-10, batch 10) of the network figures starts on a plateau at chance accuracy.
#: Measured on Fashion-MNIST (the P1 Fig. 5 and P2 Tables 7/8 recipes' docstrings): digital SGD leaves it after
#: about 500 mini-batch steps, Analog SGD and Tiki-Taka by 1200 (at 400 steps every analog setting was still
#: at chance), so an ordering between settings needs at least this many steps.
MIN_FCN_STEPS = 1200
#: Analog SGD's dependence on τ needs longer (P1 Fig. 5 recipe, 6 paired seeds: τ = 0.80 ahead of 0.70 for
#: every seed only from 3600 steps on; at 1200 steps every τ was at chance).
MIN_FCN_STEPS_ASGD_TAU = 3600
#: training images when a scale says ``n_train: None`` (all of MNIST's or Fashion-MNIST's training set)
FULL_TRAIN = 60000


def sgd_steps(n_train: int | None, epochs: int, batch: int) -> int:
    """Mini-batch steps of a network run: ⌈n_train / batch⌉ · epochs (``n_train`` None: the full training set)."""
    n = FULL_TRAIN if n_train is None else int(n_train)
    return int(math.ceil(n / int(batch))) * int(epochs)


def network_rule(steps: int, need: int = MIN_FCN_STEPS) -> Any:
    """The resolving-power rule of a network ordering: at least ``need`` mini-batch steps
    (see :data:`MIN_FCN_STEPS`)."""
    return count_rule(steps, need, "training steps", "to leave the network's initial plateau at chance")


def _num(x: Any) -> Any:
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_num(v) for v in np.asarray(x, dtype=float).ravel().tolist()]
    return float(x)


# -- plotting -----------------------------------------------------------------------------------

def ema(y: Any, beta: float, every: int = 1) -> np.ndarray:
    """Exponential moving average along the last axis (plots only), as in the papers' scripts.

    s_k = b s_{k-1} + (1 − b) y_k with b = beta**every for curves recorded every ``every`` steps,
    started at s_0 = y_0.
    """
    y = np.asarray(y, dtype=float)
    b = float(beta) ** int(every)
    out = np.empty_like(y)
    s = y[..., 0]
    for k in range(y.shape[-1]):
        s = b * s + (1.0 - b) * y[..., k] if k else y[..., 0]
        out[..., k] = s
    return out


def record_spacing(steps: Any) -> int:
    """Steps between the first two records of a curve (``ema``'s ``every``); 1 with fewer than two records."""
    s = np.asarray(steps).ravel()
    return max(1, int(round(float(s[1] - s[0])))) if s.size > 1 else 1


def band(ax: Any, x: Any, m: Any, se: Any, k: float = K_SIGMA, **kw: Any) -> Any:
    """Line with a ±k·se shaded band; returns the line."""
    (line,) = ax.plot(x, m, **kw)
    lo = np.asarray(m) - k * np.asarray(se)
    hi = np.asarray(m) + k * np.asarray(se)
    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    return line


def positive_floor(y: Any, floor: float = 1e-300) -> np.ndarray:
    """Clip to a tiny positive value for log axes."""
    return np.maximum(np.asarray(y, dtype=float), floor)


def curve_stats(traj: cv.Trajectory, scale: float = 1.0, metric: str = "loss_gap") -> tuple[np.ndarray, ...]:
    """(steps, mean curve, se curve, per-trial tail means) of ``metric`` × ``scale`` from a Trajectory."""
    vals = traj.metrics[metric] * scale
    m, se = mean_se(vals, axis=1)
    return traj.steps.astype(float), m, se, traj.per_trial_tail(metric) * scale


def cv_style() -> Any:
    """The toolkit's shared matplotlib style (Agg backend); a context manager yielding pyplot."""
    from convergence.experiments.plotting import paper_style

    return paper_style()


def lsq_algorithm(spec: dict[str, Any]) -> cv.Algorithm:
    """digital / analog (expected recursion) / pulsed Analog SGD from a series spec.

    spec keys: ``alg`` ∈ {digital, analog, pulsed}, ``lr``, ``tau``, and for pulsed ``dw_min``, ``bl``.
    """
    lr = float(spec["lr"])
    if spec["alg"] == "digital":
        return cv.digital_sgd(lr)
    dev = cv.SoftBounds(float(spec["tau"]))
    if spec["alg"] == "analog":
        return cv.analog_sgd(lr, dev)
    if spec["alg"] == "pulsed":
        return cv.analog_sgd(lr, dev, mode=cv.Pulsed(float(spec["dw_min"]), bl=int(spec["bl"])))
    raise ValueError(f"unknown algorithm {spec['alg']!r}")


def lsq_series(item: tuple[dict[str, Any], dict[str, Any], np.random.SeedSequence]) -> tuple[np.ndarray, ...]:
    """One least-squares run (a sweep item): (steps, mean curve, se curve, per-trial tail floors).

    ``item = (problem cfg, series spec, seed)``; spec keys as :func:`lsq_algorithm` plus
    ``noise_std``, ``init`` (scalar or length-d list), ``steps``, ``n_points``, ``tail``,
    ``y_scale`` (plotted loss = (f − f*) · plot_scale · y_scale).
    """
    cfg, spec, seed = item
    obj = lsq(cfg)
    steps = int(spec["steps"])
    every = max(1, steps // int(spec.get("n_points", 200)))
    init = np.asarray(spec.get("init", 0.0), dtype=float)
    traj = cv.simulate(lsq_algorithm(spec), obj, cv.Gaussian(float(spec["noise_std"])), init, steps,
                       trials=int(spec["trials"]), seed=seed, record_every=every, tail=float(spec.get("tail", 0.5)),
                       progress=False)
    return curve_stats(traj, obj.plot_scale * float(spec.get("y_scale", 1.0)))


def lsq_transient_steps(obj: cv.LeastSquares, lr: float, gap0: float, floor: float, tail: float,
                        rel: float = 0.01) -> int:
    r"""Iterations a least-squares run needs before its last ``tail`` fraction reads a floor: the slowest mode's
    transient, decaying as :math:`(1 - \alpha\mu)^{2k}` in the loss (gradient descent at step size α on
    curvature μ = λ_min(H)), must have fallen from the initial gap ``gap0`` to ``rel`` × ``floor`` where the tail
    starts, :math:`(1 - \text{tail})\,K \ge \ln(\text{gap0}/(\text{rel}\cdot\text{floor})) / (-2\ln(1 - \alpha\mu))`.
    ``gap0`` and ``floor`` in the same units. A rule of thumb for the recursion near its floor, declared before the
    run, not a bound."""
    mu = float(np.linalg.eigvalsh(obj.H)[0])
    if not 0.0 < lr * mu < 1.0 or floor <= 0.0 or gap0 <= rel * floor:
        return 0
    k = math.log(gap0 / (rel * floor)) / (-2.0 * math.log1p(-lr * mu))
    return int(math.ceil(k / (1.0 - float(tail))))


def lsq_meanfield_stationary_device(H: np.ndarray, w_star: np.ndarray, sigma: float, device: Any) -> np.ndarray:
    r"""Mean-field stationary point of Analog SGD for a generic device, N(0, σ²I) noise.

    Solves g ⊙ F(w) + E|g + ε| ⊙ G(w) = 0 with g = H(w − w*) by ``scipy.optimize.root``
    started at w* (the root nearest W* between W* and the symmetric point).
    """
    from scipy.optimize import root

    def h(w: np.ndarray) -> np.ndarray:
        g = H @ (w - w_star)
        return g * device.F(w) + np.asarray(abs_gaussian_mean(g, sigma)) * device.G(w)

    sol = root(h, np.array(w_star, dtype=float), method="hybr", options={"xtol": 1e-13})
    return np.asarray(sol.x, dtype=float)


# -- network figures (P1 Fig. 5, P2 Fig. 4): digital SGD, Analog SGD at each τ, TT at each τ -------

def tau_labels(taus: Sequence[float]) -> list[str]:
    """Legend labels of the network recipes' settings: digital, then Analog SGD and TT at each τ."""
    return ["Digital SGD"] + [f"Analog SGD τ={t:g}" for t in taus] + [f"TT τ={t:g}" for t in taus]


def plot_accuracy_curves(data: dict[str, np.ndarray], labels: Callable[[str], list[str]],
                         title: Callable[[str], str]) -> Any:
    """Repeat-mean test accuracy (%) vs epoch, one panel per architecture present (``acc_fcn``,
    ``acc_cnn`` of shape (settings, repeats, epochs)); Analog SGD dashed with squares, TT solid with
    circles, one colour per τ; ``labels(arch)`` / ``title(arch)`` name the lines and the panel."""
    import matplotlib.pyplot as plt
    from convergence.experiments import plotting as P

    archs = networks_run(data)
    with P.paper_style():
        fig, axes = plt.subplots(1, len(archs), figsize=P.figure_size("full" if len(archs) > 1 else "half",
                                                                      0.5 if len(archs) > 1 else 1.2),
                                 squeeze=False)
        for ax, arch in zip(axes[0], archs):
            acc = 100 * data[f"acc_{arch}"]
            ep = np.arange(1, acc.shape[-1] + 1)
            colors = ["k", "C0", "C1", "C2", "C0", "C1", "C2"]
            for i, lab in enumerate(labels(arch)):
                ax.plot(ep, acc[i].mean(axis=0), "--" if 1 <= i <= 3 else "-", color=colors[i],
                        marker="o" if i > 3 else "s", ms=3, label=lab)
            ax.set_xlabel("epoch")
            ax.set_ylabel("test accuracy (%)")
            ax.set_title(title(arch))
            if acc.shape[-1] > 1:
                ax.set_xticks(ep if acc.shape[-1] <= 10 else ep[::max(1, acc.shape[-1] // 8)])
            else:
                ax.set_xticks(ep)
            P.legend_outside(ax, "below", ncols=2)   # per panel: the τ values differ between architectures
        if len(archs) > 1:
            P.label_panels(axes[0])
    return fig


# -- tables (the papers' rate and cost tables) ------------------------------------------------------

def networks_run(data: Mapping[str, Any], archs: Sequence[str] = ("fcn", "cnn")) -> list[str]:
    """The networks of ``archs`` whose accuracies (``acc_<arch>``) a network recipe's ``data`` holds, in order."""
    return [a for a in archs if f"acc_{a}" in data]


def accuracy_cells(acc: np.ndarray, last: int = 1) -> list[str]:
    """Per setting of ``acc`` (settings, repeats, epochs; fractions): the final test accuracy in % (mean over the last
    ``last`` epochs per run) as "mean ± K_SIGMA s.e." over the repeats (the repeats' spread only), or the mean alone
    from one repeat. For the tables of the network recipes."""
    from convergence.experiments.networks import tail_accuracy   # the training stack only where it is used

    per_run = 100 * tail_accuracy(acc, last)                            # (settings, repeats)
    m, r = per_run.mean(axis=1), per_run.shape[1]
    if r < 2:
        return [f"{x:.2f}" for x in m]
    se = per_run.std(axis=1, ddof=1) / math.sqrt(r)
    return [f"{x:.2f} ± {K_SIGMA * e:.2f}" for x, e in zip(m, se)]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown pipe table (cells as given; ``|`` in a cell escaped) for a recipe's ``table(data, cfg)``."""
    def cell(x: Any) -> str:
        return str(x).replace("|", r"\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def draw_table(ax: Any, header: Sequence[str], rows: Sequence[Sequence[Any]], *, fontsize: float = 7.5,
               col_widths: Sequence[float] | None = None, row_scale: float = 1.9) -> Any:
    """Draw a table filling ``ax`` (axis hidden), header row shaded; cells may hold mathtext ``$...$``."""
    ax.axis("off")
    tab = ax.table(cellText=[[str(c) for c in r] for r in rows], colLabels=[str(h) for h in header],
                   cellLoc="center", loc="center", colWidths=list(col_widths) if col_widths else None)
    tab.auto_set_font_size(False)
    tab.set_fontsize(fontsize)
    tab.scale(1.0, row_scale)
    for (r, _), cell in tab.get_celld().items():
        if r == 0:
            cell.set_facecolor("0.9")
            cell.set_text_props(weight="bold")
    return tab
