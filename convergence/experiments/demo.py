r"""Teaching demo: Analog SGD settles at a *biased* point (``convergence demo bias``).

Setting: the scalar quadratic f(w) = (L/2)(w − w*)² with additive Gaussian gradient noise
ε ~ N(0, σ²), a soft-bounds device q±(w) = 1 ∓ w/τ (P1 eq 8) and many independent trials.

* Digital SGD, w ← w − α(g + ε), fluctuates around w* (its mean is exactly w*).
* Analog SGD (P1 eq 3 / P2 eq 5), w ← w − α(g + ε)F(w) − α|g + ε|G(w) with F = 1, G = w/τ:
  the term −α|g + ε| w/τ pulls w towards the symmetric point 0 *on average*, because E|g + ε| > 0
  even where the mean gradient vanishes. The mean settles where the two drifts cancel, the
  mean-field root w_s of L(w − w*) + (w/τ)E|L(w − w*) + ε| = 0 (``asgd_quadratic_fixed_point``,
  docs/theory/derivations.md#derivations), close to the implicit-penalty minimiser
  W^S = Lw*/(L + Σ/τ), Σ = σ√(2/π) (P2 Theorem 5: Analog SGD behaves like SGD on f + (Σ/2τ)w²).
  The bias does not shrink with α; with σ = 0 it vanishes (|g| → 0 at w*).
* Tiki-Taka (P1 §4, P2 eqs 10–11) accumulates gradients on a second array P that hovers near
  its symmetric point, so the bias largely disappears: W ends near w*.

Reference numbers (L = τ = 1, w* = 0.5, σ = 0.5): w_s = 0.35310, W^S = 0.35741.
"""
from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from convergence.sim import algorithms
from convergence._validate import ConfigError
from convergence.physics.devices import SoftBounds
from convergence.theory.meanfield import asgd_quadratic_fixed_point, implicit_penalty_minimizer_ald
from convergence.sim.noise import Gaussian
from convergence.sim.objectives import Quadratic
from convergence.sim.simulate import simulate

__all__ = ["bias_demo", "plot_bias_demo", "format_bias_demo", "demo_story", "LR_FACTORS"]

ALGS = ("digital", "analog", "tiki-taka")
LABELS = {"digital": "digital SGD", "analog": "Analog SGD", "tiki-taka": "Tiki-Taka"}

#: step sizes of the bias-vs-step-size panel, as multiples of the demo's α (kept below 0.5/L)
LR_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)


def _positive(name: str, value: Any) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be a finite number > 0 (got {value})")
    return v


def bias_demo(*, tau: float = 1.0, sigma: float = 0.5, lr: float = 0.02, w_star: float = 0.5, L: float = 1.0,
              trials: int = 1000, steps: int | None = None, seed: int = 2024) -> dict[str, Any]:
    """Simulate the three algorithms on the scalar quadratic; return trajectories and predictions.

    Args:
        tau: τ of the soft-bounds device (P1 eq 8).
        sigma: σ, std of the Gaussian gradient noise.
        lr: α, the step size of all three algorithms (Tiki-Taka: both rates).
        w_star: w*, the minimiser; must lie inside (−τ, τ).
        L: curvature of f.
        trials: independent trials.
        steps: iterations (default: 60/(αL), about 60 relaxation times, at least 500).
        seed: root seed.

    Returns:
        dict with ``steps`` (n_rec,), per algorithm ``mean_<a>``, ``std_<a>`` (n_rec,) of w across
        trials, ``tail_<a>`` and ``tail_se_<a>`` (mean of w over the last half, and its standard error
        across trials), the predictions ``w_s`` (mean-field root), ``w_S`` (implicit-penalty minimiser),
        ``w_star``, ``w_sym`` (the device's symmetric point), the inputs, and the step-size sweep of
        Analog SGD: ``sweep_lrs`` (α × :data:`LR_FACTORS` below 0.5/L), ``sweep_bias`` and ``sweep_bias_se``
        (w* minus the mean of w over the last half of ``sweep_steps`` steps, and its standard error),
        ``sweep_pred`` (the mean-field bias w* − w_s, independent of α). The sweep is one vectorized
        simulation: every step size is a block of trials (per-trial α).
    """
    tau, lr, L = (_positive(n, v) for n, v in (("--tau", tau), ("--lr", lr), ("L", L)))
    sigma = float(sigma)
    if not math.isfinite(sigma) or sigma < 0:
        raise ConfigError(f"--sigma must be a finite number >= 0 (got {sigma})")
    if not abs(w_star) < tau:
        raise ConfigError(f"--w-star must lie inside the device range (-tau, tau) = ({-tau:g}, {tau:g}) (got {w_star})")
    if lr * L >= 1:
        raise ConfigError(f"--lr must be < 1/L = {1 / L:g} for a stable demo (got {lr})")
    steps = int(steps) if steps is not None else max(500, int(math.ceil(60.0 / (lr * L))))
    if steps < 2:
        raise ConfigError(f"--steps must be an integer >= 2 (got {steps})")
    obj = Quadratic(d=1, L=L, w_star=w_star)
    dev = SoftBounds(tau)
    algs = {"digital": algorithms.digital_sgd(lr), "analog": algorithms.analog_sgd(lr, dev),
            "tiki-taka": algorithms.tiki_taka(lr, lr, dev)}
    every = max(1, steps // 300)
    out: dict[str, Any] = {"tau": tau, "sigma": sigma, "lr": lr, "w_star": w_star, "L": L, "trials": trials,
                           "n_steps": steps, "seed": seed}
    t0 = time.perf_counter()
    for name, alg in algs.items():
        # common random numbers: the same gradient-noise stream drives every algorithm
        tr = simulate(alg, obj, Gaussian(sigma), 0.0, steps, trials=trials, seed=seed, record_every=every,
                      record_w=True, progress=False)
        w = tr.w[:, :, 0]
        out["steps"] = tr.steps.astype(float)
        out[f"mean_{name}"] = w.mean(axis=1)
        out[f"std_{name}"] = w.std(axis=1)
        tail = w[tr.steps >= steps // 2].mean(axis=0)
        out[f"tail_{name}"] = float(tail.mean())
        out[f"tail_se_{name}"] = float(tail.std(ddof=1) / math.sqrt(trials)) if trials > 1 else math.nan
    out.update(_lr_sweep(obj, dev, sigma, lr, L, w_star, trials, seed))
    out["seconds"] = time.perf_counter() - t0
    out["w_s"] = float(asgd_quadratic_fixed_point(L, w_star, sigma, tau=tau)[0])
    out["w_S"] = float(implicit_penalty_minimizer_ald(L, w_star, tau, sigma))
    out["w_sym"] = float(dev.symmetric_point) + 0.0
    out["sweep_pred"] = np.full(out["sweep_lrs"].shape, w_star - out["w_s"])
    return out


def _lr_sweep(obj: Quadratic, dev: SoftBounds, sigma: float, lr: float, L: float, w_star: float, trials: int,
              seed: int) -> dict[str, Any]:
    """Analog SGD at the step sizes α × LR_FACTORS (< 0.5/L) in one simulation, a block of trials per α."""
    lrs = np.array(sorted({f * lr for f in LR_FACTORS if f * lr * L < 0.5}), dtype=float)
    per = max(2, min(int(trials), 200))
    steps = max(500, int(math.ceil(40.0 / (lrs.min() * L))))
    lr_trials = np.repeat(lrs, per)[:, None]
    tr = simulate(algorithms.analog_sgd(lr_trials, dev), obj, Gaussian(sigma), 0.0, steps, trials=lr_trials.size,
                  seed=np.random.SeedSequence([seed, 1]), record_every=max(1, steps // 100), record_w=True,
                  progress=False)
    tail = tr.w[tr.steps >= steps // 2, :, 0].mean(axis=0).reshape(lrs.size, per)
    return {"sweep_lrs": lrs, "sweep_steps": steps, "sweep_bias": w_star - tail.mean(axis=1),
            "sweep_bias_se": tail.std(axis=1, ddof=1) / math.sqrt(per)}


K_SE = 3.0
"""Standard errors within which a tail mean counts as equal to a prediction (demo captions)."""


def demo_story(d: dict[str, Any]) -> tuple[str, str]:
    """(title, caption) of the demo figure, computed from what this run shows.

    The title says "settles at a biased point" only if the Analog SGD tail mean differs from w* by more
    than K_SE standard errors and 2 % of the distance from w* to the symmetric point; otherwise (σ = 0,
    or a bias too small to resolve) it says that Analog SGD reaches w*."""
    w_star, w_sym, tail = d["w_star"], d["w_sym"], d["tail_analog"]
    se = d["tail_se_analog"] if math.isfinite(d["tail_se_analog"]) else 0.0
    bias = w_star - tail
    biased = abs(bias) > max(K_SE * se, 0.02 * abs(w_star - w_sym))
    nums = (f"(σ = {d['sigma']:g}, τ = {d['tau']:g}, α = {d['lr']:g}, {d['trials']} trials; "
            f"means over the last half of the run ± {K_SE:g} standard errors)")
    dig, tt = d["tail_digital"], d["tail_tiki-taka"]
    others = (f"Digital SGD ends at {dig:.4f} ± {K_SE * d['tail_se_digital']:.4f}"
              f"{' (unbiased)' if abs(dig - w_star) <= K_SE * d['tail_se_digital'] + 1e-9 else ''}; "
              f"Tiki-Taka at {tt:.4f} ± {K_SE * d['tail_se_tiki-taka']:.4f}")
    if not biased:
        if d["sigma"] == 0:
            title = "Without gradient noise Analog SGD reaches the minimiser $w^*$"
            why = ("With σ = 0 the gradient $g$ vanishes at $w^*$, and with it the pull $\\alpha|g|w/\\tau$ "
                   "towards the symmetric point: there is nothing to balance, so no bias.")
        else:
            title = "Analog SGD ends at the minimiser $w^*$ within the noise"
            why = (f"The pull $\\alpha|g+\\varepsilon|w/\\tau$ towards the symmetric point is too weak here to "
                   f"shift the mean measurably (predicted shift {w_star - d['w_s']:.4f}).")
        cap = (f"{why} Analog SGD ends at {tail:.4f} ± {K_SE * se:.4f}, the mean-field stationary point is "
               f"$w_s$ = {d['w_s']:.4f}, $w^*$ = {w_star:g}. {others}.")
        if d["sigma"] == 0 and abs(tt - w_star) > 1e-3 * max(abs(w_star - w_sym), 1e-12):
            # noise-free Tiki-Taka has w* as its only fixed point: an offset is a transient, not a bias
            cap += (" Tiki-Taka has not settled yet: P's pull towards its symmetric point, the only damping of the "
                    "W-P swing, fades with $|g|$ near $w^*$, so its tail mean averages an unfinished oscillation.")
        return title, f"{cap} {nums}"
    title = (f"Analog SGD settles at a biased point: {tail:.3f} instead of $w^*$ = {w_star:g} "
             f"(towards $w_\\diamond$ = {w_sym:g})")
    agree = abs(tail - d["w_s"]) <= K_SE * se + 0.02 * abs(bias)
    cap = (f"Analog SGD's mean weight settles at {tail:.4f} ± {K_SE * se:.4f}, a bias of {bias:.4f} towards the "
           f"device's symmetric point $w_\\diamond$ = {w_sym:g}: every pulse also moves $w$ towards $w_\\diamond$ by "
           f"$\\alpha|g+\\varepsilon|w/\\tau$, and $|g+\\varepsilon|$ stays positive on average even where the mean "
           f"gradient is zero. The weight settles where this pull balances the gradient, the mean-field "
           f"stationary point $w_s$ = {d['w_s']:.4f} ({'the mean is within' if agree else 'the mean misses it by'} "
           f"{abs(tail - d['w_s']):.4f}{' of it' if agree else ''}), close to the minimiser "
           f"$W^{{\\mathrm{{S}}}}$ = {d['w_S']:.4f} of the penalised $f+(\\Sigma/2\\tau)w^2$, Σ = σ√(2/π).")
    sb = d["sweep_bias"]
    lrs = d["sweep_lrs"]
    if sb.size > 1:
        flat = float(np.ptp(sb)) <= 0.25 * abs(bias)
        cap += (f" Over step sizes {lrs.min():g} to {lrs.max():g} the bias ranges from {sb.min():.4f} to "
                f"{sb.max():.4f}" + (": a smaller step size does not remove it." if flat else "."))
    removed = 100.0 * (1.0 - abs(w_star - tt) / abs(bias))
    cap += f" {others}, removing {removed:.0f} % of the bias. {nums}"
    return title, cap


def plot_bias_demo(d: dict[str, Any]) -> Any:
    """Full-width figure: (a) mean weight ± one std across trials over iterations with the predictions and
    the symmetric point, (b) the bias of Analog SGD against the step size (simulation and mean field),
    a legend and the caption of :func:`demo_story`."""
    from convergence.experiments.plotting import (figure_size, label_panels, paper_style, ticks_at, unique_handles,
                                                  wrap_text)

    title, caption = demo_story(d)
    with paper_style() as plt:
        fig = plt.figure(figsize=figure_size("full", 0.78))
        gs = fig.add_gridspec(3, 2, height_ratios=[3.0, 0.5, 0.65], width_ratios=[1.55, 1.0])
        ax, bx = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
        lax, cax = fig.add_subplot(gs[1, :]), fig.add_subplot(gs[2, :])
        x = d["steps"]
        colors = {"digital": "0.45", "analog": "#D55E00", "tiki-taka": "#0072B2"}
        for a in ALGS:
            m, s = d[f"mean_{a}"], d[f"std_{a}"]
            ax.plot(x, m, color=colors[a], lw=1.3, label=f"{LABELS[a]} (mean ± 1 std)", zorder=2)
            ax.fill_between(x, m - s, m + s, color=colors[a], alpha=0.13, lw=0, zorder=1)
        # predictions drawn on top of the curves, in colours none of the curves has
        ax.axhline(d["w_star"], color="k", lw=1.0, zorder=5, label=f"minimiser $w^*$ = {d['w_star']:g}")
        ax.axhline(d["w_s"], color="k", lw=1.3, ls=(0, (4, 2)), zorder=6,
                   label=f"mean-field stationary point $w_s$ = {d['w_s']:.4f}")
        ax.axhline(d["w_S"], color="#CC79A7", lw=1.4, ls=(0, (1, 1.5)), zorder=6,
                   label=f"implicit-penalty minimiser $W^{{\\mathrm{{S}}}}$ = {d['w_S']:.4f}")
        ax.axhline(d["w_sym"], color="0.3", lw=0.9, ls="-.", zorder=4,
                   label=f"symmetric point $w_\\diamond$ = {d['w_sym']:g}")
        ax.set_xlabel("iteration $k$")
        ax.set_ylabel("weight $w_k$ (mean ± 1 std over trials)")
        ax.set_xlim(0, x[-1])
        ax.set_title(f"weight over iterations (α = {d['lr']:g})")
        lrs, sb, se = d["sweep_lrs"], d["sweep_bias"], d["sweep_bias_se"]
        bx.errorbar(lrs, sb, yerr=K_SE * se, fmt="o-", color=colors["analog"], mfc="white", ms=4, zorder=3,
                    label=f"Analog SGD, simulated (± {K_SE:g} s.e.)")
        bx.plot(lrs, d["sweep_pred"], color="k", lw=1.3, ls=(0, (4, 2)), zorder=5,
                label="mean-field bias $w^*-w_s$")
        bx.axhline(0.0, color="0.45", lw=0.9, zorder=1, label="no bias (digital SGD)")
        bx.set_xscale("log")
        ticks_at(bx, lrs)
        bx.set_xlabel("step size α")
        bx.set_ylabel("bias $w^*-$ tail mean of $w$")
        bx.set_title("bias against the step size")
        top = max(float(np.max(sb + K_SE * se)), float(d["sweep_pred"][0]), 0.0)
        bot = min(float(np.min(sb - K_SE * se)), 0.0)
        pad = 0.08 * max(top - bot, 0.1 * abs(d["w_star"] - d["w_sym"]), 1e-3)   # a zero bias looks like zero
        bx.set_ylim(bot - pad, top + pad)
        label_panels((ax, bx))
        lax.axis("off")
        handles, labels = unique_handles((ax, bx))
        lax.legend(handles, labels, loc="center", ncols=3, fontsize=6.5)
        cax.axis("off")
        from matplotlib.transforms import blended_transform_factory

        # x in figure coordinates (the caption spans the page width), y at the top of the caption row
        cap = cax.text(0.015, 1.0, wrap_text(fig, caption, 0.97 * fig.get_figwidth(), 6.5), fontsize=6.5, va="top",
                       ha="left", transform=blended_transform_factory(fig.transFigure, cax.transAxes))
        cap.set_in_layout(False)
        fig.suptitle(title)
    return fig


def format_bias_demo(d: dict[str, Any]) -> str:
    """The numbers of the demo as text (tail means ± 3 standard errors across trials)."""
    lines = [f"scalar quadratic L = {d['L']:g}, w* = {d['w_star']:g}; soft bounds tau = {d['tau']:g}; "
             f"noise sigma = {d['sigma']:g}; lr = {d['lr']:g}; {d['trials']} trials x {d['n_steps']} steps "
             f"({d['seconds']:.1f} s)",
             "mean of w over the last half of the run (± 3 standard errors across trials):"]
    for a in ALGS:
        lines.append(f"  {LABELS[a]:<12} {d[f'tail_{a}']:.5f} ± {3 * d[f'tail_se_{a}']:.5f}")
    lines += [f"predictions: w* = {d['w_star']:.5f} (digital, unbiased); w_s = {d['w_s']:.5f} (Analog SGD, "
              f"mean-field root); W^S = {d['w_S']:.5f} (implicit-penalty minimiser)",
              f"bias of Analog SGD: w* - tail = {d['w_star'] - d['tail_analog']:.4f} "
              f"(predicted {d['w_star'] - d['w_s']:.4f})",
              "bias of Analog SGD against the step size (mean-field prediction independent of it): "
              + ", ".join(f"lr {a:g}: {b:.4f}" for a, b in zip(d["sweep_lrs"], d["sweep_bias"]))]
    return "\n".join(lines)
