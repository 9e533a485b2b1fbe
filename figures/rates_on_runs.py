r"""The 1/√K rates of P1 Theorem 4 (Tiki-Taka) and P2 Theorem 3 (residual learning), measured on runs.

Both theorems state an O(·) rate without a usable constant, so a run cannot be compared with a number;
what a run can show is the *shape*: with the step sizes scaled as 1/√K,

    E_K = (1/K) Σ_{k<K} E‖∇f(W̄_k)‖²  ∝  √((f(W₀) − f*)σ²L/K)

(exact convergence: log E_K against log K has slope −½ and E_K·√K stays bounded), while Analog SGD
at P1 Theorem 2's step size flattens onto its floor (slope → 0, E_K·√K grows). Set-up: a 4-D
quadratic (L = 1, W* = (0.5, −0.3, 0.2, 0.4)) on soft bounds τ = 1 (zero-shifted, so P2's
Assumption 4 holds), Gaussian noise of std 0.3 per coordinate, W₀ = 0. Step sizes: Analog SGD
α = √((f₀ − f*)/(σ²LK)); Tiki-Taka (γ = 0) transfer rate α and fast rate β = 8αL (P1 Theorem 4's
statement); residual learning γ = 0.5 with fast rate α and transfer rate 8α.

Also checked: P1 Lemma 7's bound E‖P_k‖²∞ ≤ P²_max = 41L²τ⁴D/(c²σ²) against the simulated
max_k ‖P_k‖²∞ (the bound holds by orders of magnitude, and the theorem's condition 33P²_max/τ² < 1
fails by as much: the rate is observed outside the theorem's hypothesis), and P2 Corollary 1's
condition "γ large enough": the constant of γ ≥ Ω(q_min^{−2/5}) is not given, so the check is its
consequence on a γ sweep, E_K^RL not increasing as γ grows past γ_c = ‖W* − W₀‖∞/τ (where P*(W₀) =
(W* − W₀)/γ first fits in P's range).

Slope rules (declared before the run): a slope needs at least three values of K (fewer: inconclusive
at this scale); the rates hold when the fitted slope is ≤ −0.35 (a floor gives 0, the rate −0.5),
Analog SGD's floor shows when its slope is ≥ −0.3 *and* E_K·√K grows by more than 2× over the range.

Measured at ``default`` on 2 cores (2026-12-06): slopes TT −0.45, RL −0.44, Analog SGD −0.16
over K = 300…10⁴; at paper scale (K to 10⁵) E_K·√K of TT went 0.75 → 1.08 while Analog SGD's went
0.82 → 7.5.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

import convergence as cv
from convergence.experiments import recipe_kit as C
from convergence.theory.bounds import gaussian_c, get_bound, tt_condition_value

NAME = "rates_on_runs"
TITLE = "P1 Theorem 4 and P2 Theorem 3: the 1/√K rate on runs, against Analog SGD's floor"
PAPER = "toolkit figure (P1 Theorem 4, P2 Theorem 3 / Corollary 1, not a paper figure)"
SEED = 20261207

_BASE = {"d": 4, "w_star": [0.5, -0.3, 0.2, 0.4], "tau": 1.0, "noise_std": 0.3, "gamma_rl": 0.5, "n_points": 400}
SCALES = {
    "quick": {**_BASE, "Ks": [300, 1000], "trials": 8, "gammas": [0.1, 1.0], "K_gamma": 300},
    "default": {**_BASE, "Ks": [300, 1000, 3000, 10000], "trials": 32, "gammas": [0.05, 0.2, 0.5, 1.0, 2.0],
                "K_gamma": 3000},
    "paper": {**_BASE, "Ks": [300, 1000, 3000, 10000, 30000, 100000], "trials": 64,
              "gammas": [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0], "K_gamma": 10000},
}
ALGOS = ("asgd", "tt", "rl")
LABELS = {"asgd": "Analog SGD (P1 Thm 2)", "tt": r"Tiki-Taka, $\gamma = 0$ (P1 Thm 4)",
          "rl": r"residual learning, $\gamma = 0.5$ (P2 Thm 3)"}


def _problem(cfg: dict[str, Any]) -> tuple[Any, float, float]:
    obj = cv.Quadratic(d=int(cfg["d"]), L=1.0, w_star=np.asarray(cfg["w_star"], float))
    f_gap = float(obj.value(np.zeros((1, obj.d)))[0] - obj.f_star)
    return obj, f_gap, float(cfg["noise_std"]) * math.sqrt(obj.d)


def _algorithm(kind: str, K: int, cfg: dict[str, Any], gamma: float | None = None) -> Any:
    obj, f_gap, sigma = _problem(cfg)
    a = math.sqrt(f_gap / (sigma**2 * obj.L * K))
    dev = cv.SoftBounds(float(cfg["tau"]))
    if kind == "asgd":
        return cv.analog_sgd(a, dev)
    if kind == "tt":
        return cv.tiki_taka(8 * a * obj.L, a, dev)
    return cv.tiki_taka(a, 8 * a, dev, gamma=float(cfg["gamma_rl"] if gamma is None else gamma))


def _run(item: tuple[str, int, float | None, dict[str, Any], np.random.SeedSequence]) -> np.ndarray:
    kind, K, gamma, cfg, seed = item
    obj, _, _ = _problem(cfg)
    traj = cv.simulate(_algorithm(kind, K, cfg, gamma), obj, cv.Gaussian(float(cfg["noise_std"])), 0.0, K,
                       trials=int(cfg["trials"]), seed=seed, record_every=max(1, K // int(cfg["n_points"])),
                       progress=False)
    e_k = traj.metrics["grad_norm_sq"].mean(axis=0)                        # per trial
    p_inf_sq = (traj.metrics["sat_p"].max(axis=0) * float(cfg["tau"])) ** 2 if "sat_p" in traj.metrics \
        else np.full(traj.n_trials, np.nan)
    return np.stack([e_k, p_inf_sq])


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """E_K per trial for each algorithm and K, the γ sweep of residual learning, and max_k ‖P_k‖²∞."""
    Ks = [int(k) for k in cfg["Ks"]]
    gammas = [float(g) for g in cfg["gammas"]]
    items = [(kind, K, None, cfg, C.sub(seed, 10 * j + i)) for j, kind in enumerate(ALGOS) for i, K in enumerate(Ks)]
    items += [("rl", int(cfg["K_gamma"]), g, cfg, C.sub(seed, 100 + i)) for i, g in enumerate(gammas)]
    out = C.parallel_map(_run, items)
    n_k = len(Ks)
    data: dict[str, np.ndarray] = {"Ks": np.array(Ks, float), "gammas": np.array(gammas)}
    for j, kind in enumerate(ALGOS):
        block = np.stack(out[j * n_k:(j + 1) * n_k])                        # (K, 2, trial)
        data[f"{kind}_E"] = block[:, 0]
        data[f"{kind}_P_inf_sq"] = block[:, 1]
    data["gamma_E"] = np.stack([o[0] for o in out[len(ALGOS) * n_k:]])     # (gamma, trial)
    obj, f_gap, sigma = _problem(cfg)
    data.update({"f_gap": np.array(f_gap), "sigma_total": np.array(sigma), "L": np.array(obj.L)})
    return data


def fit_slope(Ks: np.ndarray, e: np.ndarray) -> tuple[float, float]:
    """Slope of log mean E_K against log K and its standard error (weighted least squares; per-K errors
    by the delta method, SE(log m) = SE(m)/m, from the independent runs at each K)."""
    m = e.mean(axis=-1)
    se = e.std(axis=-1, ddof=1) / math.sqrt(e.shape[-1])
    x, y, s = np.log(Ks), np.log(m), np.maximum(se / m, 1e-12)
    w = 1.0 / s**2
    xb = np.sum(w * x) / np.sum(w)
    sxx = np.sum(w * (x - xb) ** 2)
    slope = float(np.sum(w * (x - xb) * (y - np.sum(w * y) / np.sum(w))) / sxx)
    return slope, float(1.0 / math.sqrt(sxx))


def _rate_scale(data: dict[str, np.ndarray]) -> np.ndarray:
    return np.sqrt(float(data["f_gap"]) * float(data["sigma_total"]) ** 2 * float(data["L"]) / data["Ks"])


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    Ks = data["Ks"]
    from convergence.experiments import plotting as P

    with C.cv_style() as plt:
        fig, axes = plt.subplots(1, 3, figsize=P.figure_size("full", 0.42))
        ax = axes[0]
        for kind in ALGOS:
            m, se = C.mean_se(data[f"{kind}_E"])
            ax.errorbar(Ks, m, yerr=C.K_SIGMA * se, fmt="o-", capsize=2, label=LABELS[kind])
        ref = _rate_scale(data)
        ax.plot(Ks, ref, "k:", label=r"$\sqrt{(f_0 - f^*)\sigma^2 L/K}$")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(r"iterations $K$ (step sizes $\propto 1/\sqrt{K}$)")
        ax.set_ylabel(r"$E_K = (1/K)\sum_k \|\nabla f(\bar W_k)\|^2$")
        ax.set_title("rate against floor")

        ax = axes[1]
        for kind in ALGOS:
            m, se = C.mean_se(data[f"{kind}_E"])
            ax.errorbar(Ks, m / ref, yerr=C.K_SIGMA * se / ref, fmt="o-", capsize=2, label=LABELS[kind])
        ax.set_xscale("log")
        ax.set_xlabel(r"iterations $K$")
        ax.set_ylabel(r"$E_K / \sqrt{(f_0 - f^*)\sigma^2 L/K}$")
        ax.set_title("the rate's constant")
        ax.set_ylim(bottom=0)

        ax = axes[2]
        g = data["gammas"]
        m, se = C.mean_se(data["gamma_E"])
        ax.errorbar(g, m, yerr=C.K_SIGMA * se, fmt="o-", capsize=2, color="C2")
        gc = float(np.max(np.abs(np.asarray(cfg["w_star"], float)))) / float(cfg["tau"])
        ax.axvline(gc, color="k", ls="--", lw=0.8, label=r"$\gamma_c = \|W^* - W_0\|_\infty/\tau$")
        ax.set_xscale("log")
        ax.set_xlabel(r"mixing $\gamma$")
        ax.set_ylabel(r"$E_K^{\mathrm{RL}}$" + f" at K = {int(cfg['K_gamma'])}")
        ax.set_title("P2 Corollary 1: mixing")
        P.label_panels(axes)
        P.figure_legend(fig, axes, fontsize=6)
    return fig


#: the band of the "no larger" claim of P2 Corollary 1, relative to the best E_K below γ_c (10 %, as the toolkit's
#: other tolerance claims)
NOT_WORSE = C.EQUAL_BAND


def _slope_rule(cfg: dict[str, Any]) -> Any:
    """Declared before the run: a rate (a slope over K) needs at least 3 values of K, like the other slope claims."""
    return C.count_rule(len(cfg["Ks"]), 3, "values of K", "for a slope")


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    Ks = data["Ks"]
    rule = {"rule": _slope_rule, "cfg": cfg, "scales": SCALES}
    res = []
    slopes = {kind: fit_slope(Ks, data[f"{kind}_E"]) for kind in ALGOS}
    names = {"tt": "Tiki-Taka (γ = 0)", "rl": "residual learning (γ = 0.5)"}
    for kind, thm in (("tt", "P1 Thm 4"), ("rl", "P2 Thm 3")):
        s, se = slopes[kind]
        res.append(C.claim(f"{NAME}.{kind}_rate", f"{names[kind]} converges at the 1/√K rate: the "
                           f"slope of log E_K against log K is ≤ −0.35 (rate −½, a floor 0; needs ≥ 3 values of K)",
                           "slope + 3 s.e. ≤ −0.35 (rate −½)", s, C.K_SIGMA * se, bool(s + C.K_SIGMA * se <= -0.35),
                           thm, **rule))
    ref = _rate_scale(data)
    e_tt, e_se = C.mean_se(data["tt_E"])          # per K (independent runs), over trials
    c_tt, c_se = e_tt / ref, e_se / ref
    hi, lo = int(np.argmax(c_tt)), int(np.argmin(c_tt))
    spread = float(c_tt[hi] / c_tt[lo])
    spread_se = spread * math.hypot(c_se[hi] / c_tt[hi], c_se[lo] / c_tt[lo])   # delta method
    holds, note = C.within_verdict(spread, C.K_SIGMA * spread_se, 2.0)
    res.append(C.claim(f"{NAME}.tt_rate_constant", "P1 Theorem 4's rate constant is bounded on the run: "
                       "E_K/√((f₀ − f*)σ²L/K) of Tiki-Taka varies by less than 2× over the K range",
                       "max/min < 2", spread, C.K_SIGMA * spread_se, holds, "P1 Thm 4", note=note, **rule))
    s, se = slopes["asgd"]
    c_asgd = data["asgd_E"].mean(axis=-1) / ref
    floor_shows = (s - C.K_SIGMA * se >= -0.3) and (c_asgd[-1] / c_asgd[0] > 2.0)
    res.append(C.claim(f"{NAME}.asgd_floor", "Analog SGD, same problem and P1 Theorem 2's step size, does not "
                       "converge at the rate: slope ≥ −0.3 and E_K·√K grows by more than 2× (its floor, P1 Thm 2/3)",
                       "slope − 3 s.e. ≥ −0.3 and E_K·√K(K_max)/E_K·√K(K_min) > 2 (a floor)", s, C.K_SIGMA * se,
                       bool(floor_shows), "P1 Thm 2/3", **rule))
    # P1 Lemma 7: E||P||_inf^2 <= 41 L^2 tau^4 D / (c^2 sigma^2)
    d = int(cfg["d"])
    sigma, L, tau = float(data["sigma_total"]), float(data["L"]), float(cfg["tau"])
    c = float(gaussian_c(d))
    p_bound = float(get_bound("p1.thm4.p_max_sq")(L=L, tau=tau, D=d, c=c, sigma=sigma))
    p_mean, p_se = C.mean_se(data["tt_P_inf_sq"])
    worst = int(np.argmax(p_mean))
    p_meas = float(p_mean[worst])
    holds, note = C.within_verdict(p_meas, C.K_SIGMA * float(p_se[worst]), p_bound)
    cond = float(tt_condition_value(L, tau, d, sigma))
    res.append(C.claim(f"{NAME}.lemma7_p_max", f"P1 Lemma 7: E‖P_k‖²∞ ≤ P²max = 41L²τ⁴D/(c²σ²) = {p_bound:.3g} "
                       f"(simulated max over k, mean over trials; the theorem's condition 33P²max/τ² = {cond:.3g} "
                       "is not < 1, yet the rate above is observed)", f"≤ {p_bound:.3g}", p_meas,
                       C.K_SIGMA * float(p_se[worst]), holds, "P1 Lemma 7", note=note))
    g = data["gammas"]
    m, se_g = C.mean_se(data["gamma_E"])
    gc = float(np.max(np.abs(np.asarray(cfg["w_star"], float)))) / tau
    below, above = g < gc, g >= gc
    if below.any() and above.any():
        worst_above = int(np.flatnonzero(above)[np.argmax(m[above])])
        best_below = int(np.flatnonzero(below)[np.argmin(m[below])])
        diff = m[worst_above] - m[best_below]
        unc = C.K_SIGMA * math.hypot(se_g[worst_above], se_g[best_below])
        # "no larger" is a band claim: within NOT_WORSE of the best γ < γ_c, decided only when the margin is below
        # that band (recipe_kit.band_verdict)
        ok_g, why = C.band_claim(diff / m[best_below], unc / m[best_below], NOT_WORSE)
        meas = [float(m[best_below]), float(m[worst_above])]
    else:
        ok_g, why, meas, unc = "inconclusive", "", [math.nan, math.nan], 0.0
    res.append(C.claim(f"{NAME}.cor1_gamma", f"P2 Corollary 1 (γ large enough): with γ ≥ γ_c = {gc:g} residual "
                       "learning's E_K is no larger than with any γ < γ_c (measured: E_K of the best γ below γ_c, then "
                       "of the worst γ at or above it; the ± is the 3-SE margin of their difference)",
                       f"E_K(γ ≥ γ_c) ≤ (1 + {NOT_WORSE:g})·E_K(γ < γ_c) + 3 SE; holds only when 3 SE < "
                       f"{NOT_WORSE:g}·E_K(γ < γ_c)", meas, unc, ok_g, "P2 Cor 1", note=why))
    return res
