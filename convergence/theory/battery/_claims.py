r"""The claims of the property battery, each a function ``claim(ctx) -> Claim``.

Scalar test problem (predictions ``d3.*``, ``d13.*`` of :mod:`convergence.theory.bounds.derived`):
f(w) = (L/2)(w − w*)² with L = τ = 1, w* = 0.5, Gaussian gradient noise σ = 0.5; zero-shifted device
``SoftBounds(1)``, shifted device ``CLin(1, c = 0.3)`` (symmetric point 0.3). Reference predictions:
Analog SGD's mean-field floor D3 = 0.021580 (zero-shifted) and 0.004003 (shifted); Tiki-Taka's c_Lin
floor D13 = c²(2/π)σ² = 0.014324.

Two floor measures are used, both per step size across independent trials:
``E‖∇f‖²`` (tail mean: bias² + variance; the variance part is O(lr)) and the bias
``‖E∇f‖²`` (squared trial-and-tail mean gradient, de-biased by its sampling variance; the
mean-field predictions D3/D13 are statements about this quantity).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from convergence.theory import meanfield
from convergence.sim.algorithms import digital_sgd
from convergence.physics.devices import CLin, Device, Ideal, SoftBounds
from convergence.physics.pulses import Expected
from convergence.sim.noise import Gaussian
from convergence.sim.objectives import LeastSquares, Quadratic
from convergence.rng import child, generator
from convergence.sim.simulate import STATUS_OK, Trajectory, simulate
from convergence.theory.battery._report import ClaimResult
from convergence.theory.verdicts import Claim, Verdict
from convergence.theory.battery._target import make_algorithm

__all__ = ["Budget", "BUDGETS", "Context", "CLAIMS", "SCALAR", "ZERO_DEVICE", "SHIFT_DEVICE"]

#: the scalar quadratic of the mean-field predictions d3 / d13
SCALAR = {"L": 1.0, "w_star": 0.5, "sigma": 0.5, "tau": 1.0}
ZERO_DEVICE = SoftBounds(1.0)
SHIFT_DEVICE = CLin(1.0, 0.3)
#: exact-vs-biased threshold on the log-log slope of E||grad f||^2 vs lr (exact ~ 1, biased ~ 0)
SLOPE_THRESHOLD = 0.5


@dataclass(frozen=True)
class Budget:
    """Simulation sizes of a battery run.

    Attributes:
        name: preset name.
        sweep_lrs: step sizes of the scalar-quadratic sweep (descending); the two smallest
            decide the exact/biased classification and are reused by the shift claim.
        sweep_trials: independent trials per step size.
        sweep_steps: steps per trial (tail = last half).
        reduce_trials, reduce_steps: size of the trajectory comparison with digital SGD.
        range_trials, range_steps: size of each stays-in-range scenario (every step recorded).
        thm2_instances, thm2_trials, thm2_steps: random least-squares instances for P1 Thm 2
            and trials / iterations K per instance (every step recorded).
    """

    name: str
    sweep_lrs: tuple[float, ...] = (0.1, 0.03, 0.01)
    sweep_trials: int = 256
    sweep_steps: int = 5000
    reduce_trials: int = 8
    reduce_steps: int = 300
    range_trials: int = 32
    range_steps: int = 2000
    thm2_instances: int = 3
    thm2_trials: int = 64
    thm2_steps: int = 2000

    def shift_lrs(self) -> tuple[float, ...]:
        return tuple(sorted(self.sweep_lrs)[:2])


BUDGETS: dict[str, Budget] = {
    "quick": Budget("quick"),
    "full": Budget("full", sweep_lrs=(0.1, 0.03, 0.01, 0.003), sweep_trials=512, sweep_steps=30000,
                   reduce_trials=32, reduce_steps=2000, range_trials=256, range_steps=10000,
                   thm2_instances=8, thm2_trials=256, thm2_steps=10000),
}


@dataclass
class Context:
    """Everything a claim needs: the factory, budget, seed, margin and a cache of shared sweeps."""

    factory: Callable[..., Any]
    budget: Budget
    seed: int
    k: float = 3.0
    mode: Any = None
    expect: str | None = None
    cache: dict[Any, Any] = field(default_factory=dict)

    def make(self, lr: Any, device: Device) -> Any:
        return make_algorithm(self.factory, lr, device, self.mode)

    def sweep(self, device: Device, lrs: tuple[float, ...] | None = None) -> "Sweep":
        """The scalar-quadratic sweep on ``device`` (cached; a sub-range of lrs reuses a larger sweep)."""
        lrs = self.budget.sweep_lrs if lrs is None else lrs
        for (dev, cached_lrs), sw in self.cache.items():
            if dev == device and set(lrs) <= set(cached_lrs):
                return sw.select(lrs)
        sw = _run_sweep(self, device, lrs)
        self.cache[(device, tuple(lrs))] = sw
        return sw


# -- the scalar sweep ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Group:
    """Per-step-size statistics across independent trials (ok trials only)."""

    lr: float
    grad_sq: float        # E||grad f||^2 (tail mean)
    grad_sq_se: float
    bias: float           # ||E grad f||^2, de-biased
    bias_se: float
    w_mean: float
    n_ok: int
    n_bad: int

    def as_dict(self) -> dict[str, float]:
        return {"lr": self.lr, "grad_norm_sq": self.grad_sq, "grad_norm_sq_stderr": self.grad_sq_se,
                "bias_sq": self.bias, "bias_sq_stderr": self.bias_se, "w_mean": self.w_mean,
                "ok_trials": self.n_ok, "bad_trials": self.n_bad}


@dataclass(frozen=True)
class Sweep:
    device: Device
    groups: tuple[Group, ...]

    def select(self, lrs: tuple[float, ...]) -> "Sweep":
        return Sweep(self.device, tuple(g for g in self.groups if g.lr in set(lrs)))

    @property
    def n_bad(self) -> int:
        return sum(g.n_bad for g in self.groups)

    def smallest(self, n: int = 2) -> list[Group]:
        return sorted(self.groups, key=lambda g: g.lr)[:n]

    def local_slope(self) -> tuple[float, float]:
        """Log-log slope of E||grad f||^2 between the two smallest step sizes, with its stderr (delta method)."""
        a, b = self.smallest(2)
        if not (a.grad_sq > 0 and b.grad_sq > 0):
            return math.nan, math.nan
        span = math.log(b.lr / a.lr)
        s = math.log(b.grad_sq / a.grad_sq) / span
        se = math.hypot(a.grad_sq_se / a.grad_sq, b.grad_sq_se / b.grad_sq) / span
        return s, se

    def details(self) -> list[dict[str, float]]:
        return [g.as_dict() for g in self.groups]


def _group_stats(traj: Trajectory, sl: slice, lr: float) -> Group:
    ok = traj.ok[sl]
    per = traj.per_trial_tail("grad_norm_sq")[sl][ok]
    n = int(ok.sum())
    if n < 2:
        return Group(lr, math.nan, math.nan, math.nan, math.nan, math.nan, n, int((~ok).sum()))
    bias, bias_se = traj.bias_sq(sl)
    return Group(lr, float(per.mean()), float(per.std(ddof=1) / math.sqrt(n)), bias, bias_se,
                 float(traj.tail_w_mean[sl][ok].mean()), n, int((~ok).sum()))


def _run_sweep(ctx: Context, device: Device, lrs: tuple[float, ...]) -> Sweep:
    n = ctx.budget.sweep_trials
    lr = np.repeat(np.asarray(lrs, dtype=float), n)[:, None]
    obj = Quadratic(d=1, L=SCALAR["L"], w_star=SCALAR["w_star"])
    key = 3 if device == ZERO_DEVICE else 5
    traj = simulate(ctx.make(lr, device), obj, Gaussian(SCALAR["sigma"]), 0.0, ctx.budget.sweep_steps,
                    trials=n * len(lrs), seed=child(ctx.seed, key), record_every=5, tail=0.5)
    return Sweep(device, tuple(_group_stats(traj, slice(i * n, (i + 1) * n), float(x)) for i, x in enumerate(lrs)))


def _classify(sw: Sweep, k: float) -> tuple[str, float, float]:
    s, se = sw.local_slope()
    if not math.isfinite(s):
        return "undetermined", s, se
    if abs(s - SLOPE_THRESHOLD) <= k * se:
        return "inconclusive", s, se
    return ("exact" if s > SLOPE_THRESHOLD else "biased"), s, se


# -- claims -------------------------------------------------------------------------------------

def reduces_to_digital(ctx: Context) -> Claim:
    """On an ideal device (Ideal() and SoftBounds(tau=inf)) the trajectory equals digital SGD's."""
    name = "reduces-to-digital"
    statement = "on an ideal device (F = 1, G = 0) the trajectory equals digital SGD's with the same noise"
    ref = "P1 eq (2) vs eq (3) with tau -> inf; docs/theory/theorems.md#property-checks (property 3)"
    if ctx.mode is not None and not isinstance(ctx.mode, Expected):
        # whole pulses of dw_min: even Analog SGD on an ideal device is digital SGD plus rounding noise
        return ClaimResult(name, statement, ref, Verdict.NOT_APPLICABLE, math.nan, math.nan, "", math.nan, "", "",
                           "a pulsed update rounds every step to whole pulses of dw_min, so it cannot equal digital "
                           "SGD bit for bit; check this claim without a pulsed mode", {"mode": repr(ctx.mode)})
    b = ctx.budget
    rng = generator(ctx.seed, 1)
    d = 6
    obj = Quadratic(d=d, L=1.0, mu=0.2, w_star=rng.uniform(-0.5, 0.5, d))
    lr = np.geomspace(0.01, 0.3, b.reduce_trials)[:, None]
    w0 = rng.uniform(-0.5, 0.5, (b.reduce_trials, d))
    kw = dict(trials=b.reduce_trials, seed=child(ctx.seed, 1), record_every=1, record_w=True)
    ref_traj = simulate(digital_sgd(lr), obj, Gaussian(0.3), w0, b.reduce_steps, **kw)
    scale = 1.0 + float(np.max(np.abs(ref_traj.w)))
    diffs = {}
    for label, dev in (("ideal", Ideal()), ("softbounds(tau=inf)", SoftBounds(math.inf))):
        traj = simulate(ctx.make(lr, dev), obj, Gaussian(0.3), w0, b.reduce_steps, **kw)
        diff = np.abs(traj.w - ref_traj.w)
        diffs[label] = float(np.max(diff)) / scale if np.all(np.isfinite(diff)) else math.inf
    worst = max(diffs.values())
    tol = 1e-12
    holds = worst <= tol
    note = ("identical to digital SGD" + (" bit for bit" if worst == 0 else f" within {tol:g}")) if holds else \
        ("differs from digital SGD: " + ", ".join(f"{k} {v:.3g}" for k, v in diffs.items())
         + ("; the weights became non-finite" if math.isinf(worst) else
            "; if it is not meant to be SGD on an ideal device (momentum, residual learning), declare this claim "
            "in the factory's not_applicable"))
    return ClaimResult(name, statement, ref, Verdict.from_bool(holds), worst, 0.0,
                       "max |W - W_digital| / (1 + max|W|)", 0.0, f"(tolerance {tol:g})", "", note,
                       {"per_device": diffs, "steps": b.reduce_steps, "trials": b.reduce_trials,
                        "lr_range": [0.01, 0.3], "tolerance": tol})


def _range_scenarios() -> list[tuple[str, Device, Quadratic, float, float]]:
    """(label, device, objective, noise std, lr): optima outside or at the edge of the range, so the
    gradient pushes the weights into the bounds; lr * max|g| <= tau by construction (P1 Thm 1)."""
    return [
        ("softbounds(tau=1), w*=1.5", SoftBounds(1.0), Quadratic(d=1, L=1.0, w_star=1.5), 0.5, 0.05),
        ("softbounds(tau=0.5,w_sym=0.2), d=4", SoftBounds(0.5, 0.2),
         Quadratic(d=4, L=1.0, mu=0.5, w_star=[1.0, -0.6, 0.2, 0.9]), 0.3, 0.05),
        ("linear(tau=1,c=0.3), d=3", CLin(1.0, 0.3), Quadratic(d=3, L=1.0, w_star=[-2.0, 0.5, 2.0]), 0.5, 0.05),
    ]


def stays_in_range(ctx: Context) -> Claim:
    """Weights stay inside the device range under P1 Theorem 1's conditions; report the max saturation."""
    name = "stays-in-range"
    statement = "||W_0|| inside the range and |dW| <= tau  =>  every analog array stays inside its device range"
    ref = ("P1 Theorem 1 (bounded weights, no projection); P1 Lemma 1 / Theorem 1 (docs/theory/derivations.md); "
           "docs/theory/theorems.md#property-checks (property 2)")
    b = ctx.budget
    per: dict[str, Any] = {}
    worst, bad, analog_seen = 0.0, 0, False
    for i, (label, dev, obj, s, lr) in enumerate(_range_scenarios()):
        lo, hi = dev.bounds
        rng = generator(ctx.seed, 2, i)
        w0 = lo + (hi - lo) * (0.05 + 0.9 * rng.random((b.range_trials, obj.d)))   # strictly inside
        traj = simulate(ctx.make(lr, dev), obj, Gaussian(s), w0, b.range_steps, trials=b.range_trials,
                        seed=child(ctx.seed, 2, i), record_every=1)
        sats = {m[4:]: float(np.nanmax(traj.metrics[m])) for m in traj.metrics if m.startswith("sat_")}
        analog_seen |= bool(sats)
        n_bad = int(np.sum(traj.status != STATUS_OK))
        per[label] = {"max_saturation": sats, "bad_trials": n_bad, "status": traj.status_counts()}
        bad += n_bad
        if sats:
            worst = max(worst, max(sats.values()))
    if not analog_seen:
        return ClaimResult(name, statement, ref, Verdict.NOT_APPLICABLE, math.nan, math.nan, "", math.nan, "", "",
                           "the algorithm has no analog arrays", per)
    holds = bad == 0 and worst <= 1.0 + 1e-9
    note = "all weights inside their ranges" if holds else \
        f"{bad} trials left the range or became non-finite (max saturation {worst:.4g})"
    return ClaimResult(name, statement, ref, Verdict.from_bool(holds), worst, 0.0, "max saturation",
                       1.0, "<= 1 (range bound)", "", note, per)


def floor_vs_lr(ctx: Context) -> Claim:
    """Exact (floor -> 0 with lr) or biased (floor levels off) on the scalar quadratic, vs D3."""
    from convergence.theory.bounds import get_bound

    name = "floor-vs-lr"
    statement = ("the stationary E||grad f||^2 vanishes as lr -> 0 (exact), or levels off at a floor no larger "
                 "than Analog SGD's mean-field floor (biased)")
    ref = ("D3 (docs/theory/derivations.md); D4 (docs/theory/derivations.md); D14 (docs/theory/derivations.md); "
           "docs/theory/theorems.md#property-checks (property 5 and 12); P1 Fig. 1, P1 Thm 4, P2 Cor. 1")
    sw = ctx.sweep(ZERO_DEVICE)
    d3 = get_bound("d3.asgd_floor")
    pred = float(d3(**SCALAR))
    details: dict[str, Any] = {"problem": dict(SCALAR, device=ZERO_DEVICE.spec()), "per_lr": sw.details(),
                               "d3_floor": pred, "slope_threshold": SLOPE_THRESHOLD,
                               "d4_digital": {str(g.lr): meanfield.digital_sgd_floor(g.lr, 1.0, 0.5)[1]
                                              for g in sw.groups}}
    if sw.n_bad:
        return ClaimResult(name, statement, ref, Verdict.FAILS, math.nan, math.nan, "", pred, "", "",
                           f"{sw.n_bad} trials diverged or left the device range", details)
    cls, s, se = _classify(sw, ctx.k)
    details.update(slope=s, slope_stderr=se, classification=cls)
    if cls in ("inconclusive", "undetermined"):
        return ClaimResult(name, statement, ref, Verdict.INCONCLUSIVE, s, se, "log-log slope", SLOPE_THRESHOLD,
                           "exact/biased threshold", cls,
                           "slope too close to the threshold: use --budget full", details)
    if ctx.expect and ctx.expect != cls:
        return ClaimResult(name, statement, ref, Verdict.FAILS, s, se, "log-log slope", SLOPE_THRESHOLD,
                           "exact/biased threshold", cls, f"expected {ctx.expect}, measured {cls}", details)
    if cls == "exact":
        g = sw.smallest(1)[0]
        note = (f"E||grad f||^2 ~ lr^{s:.2f}: {g.grad_sq:.3g} at lr {g.lr:g} (bias^2 {g.bias:.2g}); "
                f"D3 floor of Analog SGD {pred:.4g}")
        return ClaimResult(name, statement, ref, Verdict.HOLDS, s, se, "log-log slope of E||grad f||^2", 1.0,
                           "(exact: > 0.5)", cls, note, details)
    g = sw.smallest(1)[0]
    res = d3.check(g.bias, stderr=g.bias_se, k=ctx.k, **SCALAR)
    upper = pred * (1.0 + d3.rtol) + ctx.k * g.bias_se
    details.update(d3_check={"agrees": res.all_hold, "ratio": float(res.ratio), "rtol": d3.rtol})
    if g.bias <= upper:
        verdict = Verdict.HOLDS
        note = (f"floor levels off (slope {s:.2f}); bias^2 at lr {g.lr:g} "
                + ("agrees with" if res.all_hold else "is below") + f" D3 (ratio {float(res.ratio):.3f})")
    else:
        verdict = Verdict.FAILS
        note = f"floor {g.bias:.4g} exceeds Analog SGD's mean-field floor D3 {pred:.4g} (ratio {float(res.ratio):.2f})"
    return ClaimResult(name, statement, ref, verdict, g.bias, g.bias_se, "||E grad f||^2 at smallest lr", pred,
                       f"D3 (<= with rtol {d3.rtol:g})", cls, note, details)


def _lsq_instance(ctx: Context, i: int) -> tuple[LeastSquares, float, float]:
    seed = int(generator(ctx.seed, 4, i).integers(2**31 - 1))
    obj = LeastSquares(d=8, n=40, sigma_a=1.0, x_scale=0.3, loss="half_mse", seed=seed)
    tau = 1.5 * float(np.max(np.abs(obj.w_star)))
    return obj, tau, 0.15   # per-coordinate noise std


def p1_thm2_bound(ctx: Context) -> Claim:
    """P1 Theorem 2's upper bound holds on random least-squares instances at the theorem's step size."""
    from convergence.theory.bounds import asgd_step_size, asgd_step_size_valid, get_bound

    name = "p1-thm2-bound"
    statement = ("(1/K) sum_k E||grad f(W_k)||^2 <= 4 sqrt((f0 - f*) sigma^2 L / K)/(1 - W_max^2/tau^2) "
                 "+ 4 sigma^2 S_K at alpha = sqrt((f0 - f*)/(sigma^2 L K))")
    ref = ("P1 Theorem 2, eq (9)/(65); P1 Theorem 2 (docs/theory/theorems.md#p1-thm2); "
           "docs/theory/theorems.md#property-checks (property 8)")
    thm2 = get_bound("p1.thm2")
    b = ctx.budget
    K = b.thm2_steps
    rows, ok_all, worst_ratio = [], True, 0.0
    for i in range(b.thm2_instances):
        obj, tau, s = _lsq_instance(ctx, i)
        d = obj.d_weights
        sigma = s * math.sqrt(d)
        f_gap = float(obj.value(np.zeros((1, d)))[0] - obj.f_star)
        alpha = float(asgd_step_size(f_gap, sigma, obj.L, K))
        if not bool(asgd_step_size_valid(f_gap, sigma, obj.L, K)):   # pragma: no cover - sizes chosen valid
            raise RuntimeError(f"instance {i}: alpha {alpha:.3g} > 1/(2L)")
        traj = simulate(ctx.make(alpha, SoftBounds(tau)), obj, Gaussian(s), 0.0, K, trials=b.thm2_trials,
                        seed=child(ctx.seed, 4, i), record_every=1)
        per_trial = traj.metrics["grad_norm_sq"].mean(axis=0)[traj.ok]
        n_ok = per_trial.size
        measured = float(per_trial.mean()) if n_ok else math.nan
        se = float(per_trial.std(ddof=1) / math.sqrt(n_ok)) if n_ok >= 2 else math.nan
        arrays = [m[4:] for m in traj.metrics if m.startswith("sat_")]
        if arrays:
            a = "w" if "w" in arrays else arrays[0]
            s_k = float(np.mean(traj.metrics[f"s_k_{a}"][-1][traj.ok])) if n_ok else math.inf
            w_max = tau * float(np.max(traj.metrics[f"sat_{a}"]))
        else:
            a, s_k, w_max = "", 0.0, 0.0
        row = {"instance": i, "L": obj.L, "tau": tau, "sigma_total": sigma, "f_gap": f_gap, "alpha": alpha, "K": K,
               "array": a, "S_K": s_k, "W_max": w_max, "measured": measured, "stderr": se,
               "bad_trials": int(traj.n_trials - n_ok)}
        if n_ok < traj.n_trials or not (w_max < tau) or not math.isfinite(measured):
            row.update(bound=math.nan, holds=False, reason="A4 violated (weights reached the bound) or trials "
                                                          "diverged")
            ok_all = False
        else:
            res = thm2.check(measured, stderr=se, k=ctx.k, f_gap=f_gap, sigma=sigma, L=obj.L, K=K,
                             W_max=w_max, tau=tau, S_K=s_k)
            row.update(bound=float(res.bound), ratio=float(res.ratio), holds=res.all_hold)
            ok_all &= res.all_hold
            worst_ratio = max(worst_ratio, float(res.ratio))
        rows.append(row)
    worst = max(rows, key=lambda r: r.get("ratio", math.inf))
    note = (f"{sum(r['holds'] for r in rows)}/{len(rows)} instances hold; largest measured/bound "
            f"{worst.get('ratio', math.nan):.3g}")
    return ClaimResult(name, statement, ref, Verdict.from_bool(ok_all), worst["measured"], worst["stderr"],
                       "(1/K) sum E||grad f||^2 (worst instance)", worst.get("bound", math.nan),
                       "P1 Thm 2 bound (upper)", "", note, {"instances": rows})


def shifted_symmetric_point(ctx: Context) -> Claim:
    """Floor with a shifted symmetric point vs zero-shifted, against D13 (residual learning) or D3."""
    from convergence.theory.bounds import get_bound

    name = "shifted-symmetric-point"
    statement = ("with the symmetric point shifted (c_Lin = 0.3) the floor is no larger than the theory's "
                 "prediction: D13 for exact (residual-learning type), D3 on the shifted device for biased")
    ref = ("P2 Assumption 4 / Corollary 1, P2 Fig. 2; D13 (docs/theory/derivations.md); "
           "docs/theory/theorems.md#property-checks (property 13)")
    lrs = ctx.budget.shift_lrs()
    zero = ctx.sweep(ZERO_DEVICE)
    shifted = ctx.sweep(SHIFT_DEVICE, lrs)
    d13 = get_bound("d13.tt_clin_floor")
    d3 = get_bound("d3.asgd_floor")
    r0 = float(SHIFT_DEVICE.G(0.0) / SHIFT_DEVICE.F(0.0))
    pred_d13 = float(d13(c_lin=r0, sigma=SCALAR["sigma"]))
    pred_d3 = meanfield.asgd_quadratic_fixed_point(SCALAR["L"], SCALAR["w_star"], SCALAR["sigma"],
                                                   device=SHIFT_DEVICE)[1]
    details: dict[str, Any] = {"device": SHIFT_DEVICE.spec(), "G0_over_F0": r0, "d13": pred_d13,
                               "d3_shifted": pred_d3, "per_lr_shifted": shifted.details(),
                               "per_lr_zero": zero.select(lrs).details()}
    if shifted.n_bad or zero.n_bad:
        return ClaimResult(name, statement, ref, Verdict.FAILS, math.nan, math.nan, "", math.nan, "", "",
                           f"{shifted.n_bad + zero.n_bad} trials diverged or left the device range", details)
    cls, _, _ = _classify(zero.select(lrs), ctx.k)
    g = shifted.smallest(1)[0]
    g0 = zero.select((g.lr,)).groups[0]
    s_shift, se_shift = shifted.local_slope()
    details.update(zero_shift_class=cls, shifted_slope=s_shift, shifted_slope_stderr=se_shift,
                   sensitivity=g.bias - g0.bias)
    if cls == "exact":
        pred, label, rtol = pred_d13, "D13 c^2(2/pi)sigma^2", d13.rtol
    elif cls == "biased":
        pred, label, rtol = pred_d3, "D3 on the shifted device", d3.rtol
    else:
        return ClaimResult(name, statement, ref, Verdict.INCONCLUSIVE, g.bias, g.bias_se, "||E grad f||^2 (shifted)",
                           math.nan, "", cls, "zero-shift class undetermined: use --budget full", details)
    label += f" (<= with rtol {rtol:g})"
    sens = f"bias^2 {g0.bias:.3g} -> {g.bias:.3g} at lr {g.lr:g}"
    # "robust" is for an exact algorithm only: a biased one whose shifted bias is small (w⋄ = 0.3 near w* = 0.5)
    # can show a variance-dominated slope > 0.5 although its bias^2 does not vanish
    if cls == "exact" and math.isfinite(s_shift) and s_shift - ctx.k * se_shift > SLOPE_THRESHOLD:
        return ClaimResult(name, statement, ref, Verdict.HOLDS, g.bias, g.bias_se, "||E grad f||^2 (shifted)", pred,
                           label, "robust", f"floor still vanishes with lr (slope {s_shift:.2f}); {sens}", details)
    agrees = abs(g.bias - pred) <= rtol * pred + ctx.k * g.bias_se
    if g.bias <= pred * (1 + rtol) + ctx.k * g.bias_se:
        note = f"{sens}; " + ("agrees with " if agrees else "below ") + label.split(" (")[0]
        verdict = Verdict.HOLDS
    else:
        note = f"{sens}; exceeds {label.split(' (')[0]} ({pred:.4g})"
        verdict = Verdict.FAILS
    details["agrees_with_prediction"] = agrees
    # the outcome's class: "floor" (an exact algorithm whose shifted floor levels off, compared with D13), or
    # "biased" (compared with D3); "robust" above. The zero-shift class stays in details["zero_shift_class"].
    return ClaimResult(name, statement, ref, verdict, g.bias, g.bias_se, "||E grad f||^2 (shifted, smallest lr)",
                       pred, label, "floor" if cls == "exact" else cls, note, details)


#: claim name -> implementation, in the order they run
CLAIMS: dict[str, Callable[[Context], Claim]] = {
    "reduces-to-digital": reduces_to_digital,
    "stays-in-range": stays_in_range,
    "floor-vs-lr": floor_vs_lr,
    "p1-thm2-bound": p1_thm2_bound,
    "shifted-symmetric-point": shifted_symmetric_point,
}


def run_claim(name: str, ctx: Context) -> Claim:
    """Run one claim, timing it; an exception raised by the algorithm becomes verdict ``error``."""
    t0 = time.perf_counter()
    try:
        res = CLAIMS[name](ctx)
    except Exception as exc:  # noqa: BLE001 - the user's algorithm may raise anything
        fn = CLAIMS[name]
        res = ClaimResult(name, (fn.__doc__ or "").strip().splitlines()[0], "", Verdict.ERROR,
                          note=f"{type(exc).__name__}: {exc}")
    return dataclasses.replace(res, seconds=time.perf_counter() - t0)
