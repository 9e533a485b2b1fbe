r"""P2 Fig. 2 — Tiki-Taka degrades as the symmetric point of the residual array moves away from 0 (c_Lin).

Setup (P2 experiments (docs/theory/theorems.md#p2-experiments), the authors' script NeurIPS-2025/S1-TT-fails.py in
github.com/Zhaoxian-Wu/analog-training): least squares D = 50, N = 100, A ~ N(0, 1),
x* ~ N(0, 0.5²), **no** bias in model or labels, all weights initialised to 1.0; both arrays are the
c_Lin linear device (soft bounds τ = 3.5 with up/down asymmetry c_Lin ∈ {0, 0.1, 0.2, 0.3}, so
w⋄ = c·τ and G(0) = −c); Analog SGD vs Tiki-Taka / residual learning with γ = 0.4, transfer of all
columns every step; pulsed updates with Δw_min = 1e-4.

Settings choices (and why they differ from the script):

* **Step sizes α = β = 0.005** (script: 0.8 for both). In the toolkit's recursion the MSE Hessian
  has L ≈ 5.2, so α = 0.8 is unstable (αL > 2); AIHWKit survives it only through its per-sample
  pulse clipping. The floors compared here are step-size independent (D2, D13), the fluctuations
  are ∝ α, so a small α exposes them.
* **Gaussian gradient noise std 0.1 per coordinate** stands in for AIHWKit's stochastic
  pulse-coincidence noise (the script injects no gradient noise; with the toolkit's pulse model
  alone the noise is too small to show any floor). The aihwkit-faithful version is p2_fig2_tile.
* Pulse cap per step = N · BL = 100 · 8 = 800: AIHWKit applies one pulse train of BL = 8 per
  sample of the batch of N = 100.
* 12000 iterations (script: 1000) so that the small-α runs reach their floors; loss MSE/(2D),
  EMA 0.9 for plotting only; floors = tail means (last half), error bars across trials.

Predictions: TT floor(c) − floor(0) = ½ gᵀH⁻¹g with g = g_c·1, g_c = c·E|g_c + ε| (D13,
self-consistent); Analog SGD floor from the mean-field stationary point of the c_Lin device (D2).

Finding (stated with its numbers, verdict ``noted``): this stand-in does not reproduce the paper's "TT
worse than Analog SGD at c_Lin = 0.3" (default scale: TT 1.6e-4 vs Analog SGD 2.0e-4, TT lower), and its
own mean-field predictions (D13 vs D2 + D4) give no TT deficit either; the pulse-train tile version
``p2_fig2_tile`` reproduces the paper's order.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

import convergence as cv
from convergence.experiments import recipe_kit as C
from convergence.theory.meanfield import tt_clin_floor_selfconsistent
from convergence.theory.verdicts import ResolvingPower

NAME = "p2_fig2"
TITLE = "Tiki-Taka degrades as c_Lin shifts the residual array's symmetric point; Analog SGD for contrast"
PAPER = "P2 Fig. 2"
SEED = 20250202

_BASE = {"d": 50, "n": 100, "sigma_a": 1.0, "x_scale": 0.5, "bias": False, "init": 1.0, "tau": 3.5,
         "gamma": 0.4, "lr": 0.005, "noise_std": 0.1, "dw_min": 1e-4, "bl": 800, "steps": 12000, "n_points": 300,
         "tail": 0.5, "ema": 0.9}
SCALES = {
    "quick": {**_BASE, "c_lins": [0.0, 0.3], "lr": 0.02, "steps": 2000, "n_points": 100, "trials": 4},
    "default": {**_BASE, "c_lins": [0.0, 0.1, 0.2, 0.3], "trials": 24},
    "paper": {**_BASE, "c_lins": [0.0, 0.1, 0.2, 0.3], "trials": 100},
}
ALGS = ("analog-sgd", "tiki-taka")


def _run(item: tuple[dict[str, Any], str, float, np.random.SeedSequence]) -> tuple[np.ndarray, ...]:
    cfg, alg, c, seed = item
    obj = C.lsq(cfg)
    dev = cv.CLin(float(cfg["tau"]), c)
    mode = cv.Pulsed(float(cfg["dw_min"]), bl=int(cfg["bl"]))
    lr = float(cfg["lr"])
    algorithm = (cv.analog_sgd(lr, dev, mode=mode) if alg == "analog-sgd"
                 else cv.tiki_taka(lr, lr, dev, gamma=float(cfg["gamma"]), mode=mode))
    steps = int(cfg["steps"])
    traj = cv.simulate(algorithm, obj, cv.Gaussian(float(cfg["noise_std"])), float(cfg["init"]), steps,
                       trials=int(cfg["trials"]), seed=seed, record_every=max(1, steps // int(cfg["n_points"])),
                       tail=float(cfg["tail"]), progress=False)
    return C.curve_stats(traj, obj.plot_scale)


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Curves (alg, c, record), per-trial floors (alg, c, trial) and the D2/D13 predictions."""
    cs = [float(c) for c in cfg["c_lins"]]
    items = [(cfg, a, c, C.sub(seed, i)) for a in ALGS for i, c in enumerate(cs)]
    out = C.parallel_map(_run, items)
    obj = C.lsq(cfg)
    sigma = float(cfg["noise_std"])
    ones = np.ones(obj.d_weights)
    q = float(ones @ np.linalg.solve(obj.H, ones))
    tt_excess = np.array([0.5 * tt_clin_floor_selfconsistent(c, sigma) * q * obj.plot_scale for c in cs])
    asgd_bias = []
    for c in cs:
        w_s = C.lsq_meanfield_stationary_device(obj.H, obj.w_star, sigma, cv.CLin(float(cfg["tau"]), c))
        asgd_bias.append(float(obj.value(w_s[None])[0] - obj.f_star) * obj.plot_scale)
    return {
        "c_lins": np.array(cs),
        "steps": out[0][0],
        "curve_mean": np.stack([o[1] for o in out]).reshape(len(ALGS), len(cs), -1),
        "floor_trials": np.stack([o[3] for o in out]).reshape(len(ALGS), len(cs), -1),
        "tt_excess_pred": tt_excess,
        "asgd_bias_pred": np.array(asgd_bias),
        "digital_pred": np.array(C.digital_lsq_floor(obj.H, float(cfg["lr"]), sigma) * obj.plot_scale),
    }


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    from convergence.experiments import plotting as P

    cs = data["c_lins"]
    every = C.record_spacing(data["steps"])   # the spacing the run recorded
    names = {"analog-sgd": "Analog SGD", "tiki-taka": "Tiki-Taka"}
    with C.cv_style() as plt:
        fig, (ax, bx) = plt.subplots(1, 2, figsize=P.figure_size("full", 0.45))
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for a_i, (alg, ls) in enumerate(zip(ALGS, ("--", "-"))):
            for i, c in enumerate(cs):
                y = C.ema(data["curve_mean"][a_i, i], float(cfg["ema"]), every)
                ax.plot(data["steps"], C.positive_floor(y), ls, color=colors[i % len(colors)],
                        label=f"{'TT' if alg == 'tiki-taka' else 'ASGD'}, $c_{{\\mathrm{{Lin}}}}$ = {c:g}")
        ax.set_yscale("log")
        ax.set_xlabel("iteration $k$")
        ax.set_ylabel("$f(W_k)-f^*$ (MSE/2D, EMA)")
        ax.set_title("Tiki-Taka (—) and Analog SGD (--)")
        P.span_limits(ax, "y")
        P.legend_outside(ax, "below", ncols=2)
        # (b) in black and grey: in (a) the colours stand for c_Lin, here the line styles of (a) tell the algorithms
        for a_i, (alg, fmt, col) in enumerate(zip(ALGS, ("s--", "o-"), ("0.45", "k"))):
            m, se = C.mean_se(data["floor_trials"][a_i])
            P.log_errorbar(bx, cs, m, C.K_SIGMA * se, fmt=fmt, color=col, capsize=2, label=names[alg])
        m0, _ = C.mean_se(data["floor_trials"][1, 0])
        bx.plot(cs, m0 + data["tt_excess_pred"], "k:", label="TT: floor at $c_{\\mathrm{Lin}}$ = 0 + D13 bias")
        bx.plot(cs, data["asgd_bias_pred"] + data["digital_pred"], color="0.5", lw=0.8,
                label="ASGD: mean field (D2) + D4")
        bx.set_yscale("log")
        bx.set_xlabel("$c_{\\mathrm{Lin}}$")
        bx.set_ylabel("error floor (tail mean)")
        bx.set_title("floor vs $c_{\\mathrm{Lin}}$")
        P.span_limits(bx, "y")
        P.legend_outside(bx, "below", ncols=1)
        P.label_panels((ax, bx))
        fig.suptitle(f"{PAPER}: $\\tau$ = {cfg['tau']:g}, $\\gamma$ = {cfg['gamma']:g}, $\\alpha = \\beta$ = "
                     f"{cfg['lr']:g}, noise std {cfg['noise_std']:g}")
    return fig


def _zero_rule(cfg: dict[str, Any]) -> Any:
    r"""Declared before the run, from theory and the config alone: the c_Lin = 0 comparison needs Analog SGD's
    mean-field bias f(W_s) − f* (D2; TT's is 0 at c_Lin = 0) above the margin k·√2·D4·√2/√trials: the α-driven
    fluctuation D4 = Σ ασ²/(2(2 − αh_i)) bounds a tail-mean floor's spread across trials by √2·D4 (the spread
    of a sum of scaled χ²₁ terms), √2 again for a difference of two floors."""
    obj = C.lsq(cfg)
    sigma = float(cfg["noise_std"])
    w_s = C.lsq_meanfield_stationary_device(obj.H, obj.w_star, sigma, cv.CLin(float(cfg["tau"]), 0.0))
    effect = float(obj.value(w_s[None])[0] - obj.f_star) * obj.plot_scale
    d4 = C.digital_lsq_floor(obj.H, float(cfg["lr"]), sigma) * obj.plot_scale
    return ResolvingPower(effect=effect, margin=C.K_SIGMA * 2.0 * d4 / math.sqrt(int(cfg["trials"])))


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    cs = data["c_lins"]
    ft = data["floor_trials"]
    res = []
    m_tt, se_tt = C.mean_se(ft[1])
    m_as, se_as = C.mean_se(ft[0])
    ok = bool(np.all(np.diff(m_tt) > C.K_SIGMA * np.hypot(se_tt[1:], se_tt[:-1])))
    res.append(C.claim(f"{NAME}.tt_degrades_with_clin", "Tiki-Taka's error floor grows as c_Lin grows "
                       "(P2 Fig. 2 headline; docs/theory/theorems.md#property-checks (property 13))",
                       "floor(c_Lin) strictly increasing", m_tt,
                       C.K_SIGMA * se_tt, ok, PAPER))
    excess = m_tt - m_tt[0]
    ex_se = np.hypot(se_tt, se_tt[0])
    pred = data["tt_excess_pred"]
    ok, why = C.band_claim(np.abs(excess[1:] - pred[1:]) / pred[1:], C.K_SIGMA * ex_se[1:] / pred[1:], 0.2)
    res.append(C.claim(f"{NAME}.tt_floor_D13", "TT's extra floor equals the shifted-symmetric-point bias "
                       "½gᵀH⁻¹g, g = c·E|g + ε| per coordinate (D13 (docs/theory/derivations.md)), 20 % tolerance",
                       "predicted " + ", ".join(f"{p:.3g}" for p in pred[1:]), excess[1:], C.K_SIGMA * ex_se[1:],
                       ok, PAPER, note=why))
    pred_as = data["asgd_bias_pred"] + float(data["digital_pred"])
    ok, why = C.band_claim(np.abs(m_as - pred_as) / pred_as, C.K_SIGMA * se_as / pred_as, 0.2)
    res.append(C.claim(f"{NAME}.asgd_floor_D2", "Analog SGD's floor on the c_Lin device = mean-field stationary "
                       "point of g⊙F + E|g+ε|⊙G = 0 (D2) + digital fluctuation (D4), 20 % tolerance",
                       "predicted " + ", ".join(f"{p:.3g}" for p in pred_as), m_as, C.K_SIGMA * se_as, ok, PAPER,
                       note=why))
    d0 = m_as[0] - m_tt[0]
    s0 = math.hypot(se_as[0], se_tt[0])
    res.append(C.claim(f"{NAME}.tt_beats_asgd_at_zero", "With c_Lin = 0 (zero-shifted P) Tiki-Taka reaches a lower "
                       "error than Analog SGD (P2 Fig. 2)", "floor(ASGD) − floor(TT) > 0", d0, C.K_SIGMA * s0,
                       d0 > C.K_SIGMA * s0, PAPER, rule=_zero_rule, cfg=cfg, scales=SCALES))
    # A stated finding, not a claim: this stand-in (Gaussian gradient noise on the expected recursion) does not
    # reproduce the paper's "TT worse than Analog SGD at c_Lin = 0.3"; its mean-field predictions (D13 for TT,
    # D2 + D4 for Analog SGD) are stated next to the measurement. The pulse-train tile version does reproduce it.
    dl = m_tt[-1] - m_as[-1]
    sl = math.hypot(se_as[-1], se_tt[-1])
    pred_tt_max = float(m_tt[0] + data["tt_excess_pred"][-1])
    sign = "above" if dl > C.K_SIGMA * sl else ("below" if dl < -C.K_SIGMA * sl else "indistinguishable from")
    ratio = pred_tt_max / pred_as[-1]
    res.append(C.claim(
        f"{NAME}.tt_vs_asgd_at_max_finding",
        f"Finding (not reproduced by this stand-in): P2 Fig. 2's text says Tiki-Taka is worse than Analog SGD at "
        f"c_Lin = {cs[-1]:g}. In this recursion with Gaussian gradient noise TT's floor {m_tt[-1]:.3g} is "
        f"{sign} Analog SGD's {m_as[-1]:.3g} (difference {dl:.3g} ± {C.K_SIGMA * sl:.2g}); the mean-field "
        f"predictions of this set-up give TT floor(0) + D13 = {pred_tt_max:.3g} and Analog SGD D2 + D4 = "
        f"{pred_as[-1]:.3g} (ratio {ratio:.2f}), i.e. no clear TT deficit either. The paper's order comes with "
        "AIHWKit's pulse-train update, which the tile version reproduces (p2_fig2_tile.tt_worse_at_clin_0.3)",
        "finding: floor(TT) − floor(ASGD) at c_Lin max, with the D13 and D2 + D4 predictions [measured: TT, ASGD]",
        [dl, m_tt[-1], m_as[-1]], [C.K_SIGMA * sl, C.K_SIGMA * se_tt[-1], C.K_SIGMA * se_as[-1]], "noted", PAPER))
    # which curve family is which: TT is the family that is lowest at c = 0 and degrades most (relatively)
    rel_tt, rel_as = m_tt[-1] / m_tt[0], m_as[-1] / m_as[0]
    # delta-method errors of the two ratios (floors at c = 0 and c_max from separate runs)
    rel_tt_se = rel_tt * math.hypot(se_tt[-1] / m_tt[-1], se_tt[0] / m_tt[0])
    rel_as_se = rel_as * math.hypot(se_as[-1] / m_as[-1], se_as[0] / m_as[0])
    ok = d0 > C.K_SIGMA * s0 and rel_tt - rel_as > C.K_SIGMA * math.hypot(rel_tt_se, rel_as_se)
    res.append(C.claim(f"{NAME}.family_identification",
                       "Which curve family is which: in our runs Tiki-Taka (run_TT) is "
                       "the family that is lowest at c_Lin = 0 and rises most steeply (relatively) with c_Lin, while "
                       "Analog SGD (run_AGD) is higher at c_Lin = 0 and changes less. The authors' script "
                       "(NeurIPS-2025/S1-TT-fails.py) styles run_AGD '-'/'*' but its custom legend calls '-'/'*' "
                       "Tiki-Taka, i.e. the legend is swapped "
                       "relative to the data (P2 experiments (docs/theory/theorems.md#p2-experiments); "
                       "docs/theory/errata.md#errata)",
                       "TT: lower floor at c = 0 and larger ratio floor(c_max)/floor(0), by more than 3 s.e. "
                       "[measured: TT ratio, ASGD ratio]",
                       [rel_tt, rel_as], [C.K_SIGMA * rel_tt_se, C.K_SIGMA * rel_as_se], ok, PAPER, rule=_zero_rule,
                       cfg=cfg, scales=SCALES))
    return res
