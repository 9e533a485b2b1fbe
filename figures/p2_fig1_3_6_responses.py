r"""P2 Fig. 1, Fig. 3 and Fig. 6 (CR numbering; Fig. 5 in v3) — response-function examples.

* Fig. 1: pulse-train responses (weight vs pulse number, up then down) of the ideal device and of
  asymmetric devices (soft bounds, c_Lin linear device c = 0.3, power γ = 2), Δw_min = 0.01, τ = 1.
* Fig. 3: examples of response functions with their symmetric point w⋄: linear (c_Lin device,
  τ = 1, c = 0.3, w⋄ = cτ), non-linear monotone (exponential, γ = 2) and non-monotone. P2 draws the
  last one schematically; here q₊(w) = (1 − w/τ)(1 + a sin(3πw/τ)), q₋(w) = (1 + w/τ)(1 − a sin(3πw/τ))
  with a = 0.1 (positive on (−τ, τ) and non-monotone, while G = w/τ − a sin(3πw/τ) stays
  increasing since 3πa < 1, so w⋄ = 0 is unique; our illustrative choice).
* Fig. 6: q±, F and G of P2's zero-shifted power and exponential responses (``cv.Power``,
  ``cv.Exponential``; P2-v3 App. K.1 eqs 144–145) for γ_res ∈ {0.2, 1, 2}, τ = 1.

Deterministic (the seed is unused). Claims: D6 (c_Lin: w⋄ = cτ, F(w⋄) = 1 − c²) and D7 (power /
exponential: q±(0) = 1, q₊(τ) = q₋(−τ) = 0, G(0) = 0, G'(0) = γ/τ resp. γe^γ/((e^γ − 1)τ)).
"""
from __future__ import annotations

from typing import Any

import numpy as np

import convergence as cv
from convergence.experiments import recipe_kit as C
from convergence.physics.pulses import apply_pulses

NAME = "p2_fig1_3_6"
TITLE = "Response-function examples, symmetric points and the F/G decomposition (P2)"
PAPER = "P2 Fig. 1, Fig. 3 and Fig. 6"
SEED = 20250201

_BASE = {"tau": 1.0, "c_lin": 0.3, "exp_gamma": 2.0, "wiggle": 0.1, "gammas": [0.2, 1.0, 2.0], "dw_min": 0.01,
         "pulses": 300}
SCALES = {"quick": {**_BASE, "n_grid": 101}, "default": {**_BASE, "n_grid": 801}, "paper": {**_BASE, "n_grid": 2001}}
FIG1 = ("ideal", "soft bounds", "c_Lin", "power γ=2")
FIG3 = ("linear (c_Lin)", "non-linear monotone (exp)", "non-monotone")


def _fig1_devices(cfg: dict[str, Any]) -> list[Any]:
    tau = float(cfg["tau"])
    return [cv.Ideal(), cv.SoftBounds(tau), cv.CLin(tau, float(cfg["c_lin"])), cv.Power(tau, 2.0)]


def _nonmonotone(w: np.ndarray, tau: float, a: float) -> tuple[np.ndarray, np.ndarray]:
    s = a * np.sin(3 * np.pi * w / tau)
    return (1 - w / tau) * (1 + s), (1 + w / tau) * (1 - s)


def _zeros(w: np.ndarray, G: np.ndarray) -> np.ndarray:
    """All sign changes of G on the grid (linear interpolation), padded to 5 with nan."""
    idx = np.nonzero(np.sign(G[:-1]) * np.sign(G[1:]) < 0)[0]
    z = [w[i] - G[i] * (w[i + 1] - w[i]) / (G[i + 1] - G[i]) for i in idx]
    z += [w[i] for i in np.nonzero(G == 0)[0]]
    z = sorted(set(float(v) for v in z))[:5]
    return np.array(z + [np.nan] * (5 - len(z)))


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    tau = float(cfg["tau"])
    n = int(cfg["n_grid"])
    w = np.linspace(-tau, tau, n)
    out: dict[str, np.ndarray] = {"w": w}
    k, dw = int(cfg["pulses"]), float(cfg["dw_min"])
    trains = np.zeros((len(FIG1), 2 * k + 1))
    for j, dev in enumerate(_fig1_devices(cfg)):
        x = np.zeros((1, 1))
        for p in range(2 * k):
            x = apply_pulses(x, np.ones((1, 1)), np.full((1, 1), 1.0 if p < k else -1.0), dev, dw)
            trains[j, p + 1] = x[0, 0]
    out["pulse_train"] = trains
    clin = cv.CLin(tau, float(cfg["c_lin"]))
    expo = cv.Exponential(tau, float(cfg["exp_gamma"]))
    nm = _nonmonotone(w, tau, float(cfg["wiggle"]))
    q3p = np.stack([clin.q_plus(w), expo.q_plus(w), nm[0]])
    q3m = np.stack([clin.q_minus(w), expo.q_minus(w), nm[1]])
    out["q3_plus"], out["q3_minus"] = q3p, q3m
    out["G3"] = 0.5 * (q3m - q3p)
    out["sym3"] = np.stack([_zeros(w, g) for g in out["G3"]])
    out["clin_sym"] = np.array(clin.symmetric_point)
    out["clin_F_sym"] = np.array(float(clin.F(clin.symmetric_point)))
    gammas = [float(g) for g in cfg["gammas"]]
    devs = [cv.Power(tau, g) for g in gammas] + [cv.Exponential(tau, g) for g in gammas]
    out["gammas"] = np.array(gammas)
    out["q6_plus"] = np.stack([d.q_plus(w) for d in devs]).reshape(2, len(gammas), n)
    out["q6_minus"] = np.stack([d.q_minus(w) for d in devs]).reshape(2, len(gammas), n)
    out["F6"] = 0.5 * (out["q6_plus"] + out["q6_minus"])
    out["G6"] = 0.5 * (out["q6_minus"] - out["q6_plus"])
    # D7 checks: q±(0), q₊(τ), q₋(−τ), G(0) and G'(0) by a central difference
    h = 1e-6
    out["d7_values"] = np.array([[float(d.q_plus(0.0)), float(d.q_minus(0.0)), float(d.q_plus(tau)),
                                  float(d.q_minus(-tau)), float(d.G(0.0)),
                                  float((d.G(h) - d.G(-h)) / (2 * h))] for d in devs])
    return out


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    from convergence.experiments import plotting as P

    w = data["w"]
    with C.cv_style() as plt:
        fig, axes = plt.subplots(2, 4, figsize=P.figure_size("full", 0.62))
        ax = axes[0, 0]
        for j, name in enumerate(FIG1):
            ax.plot(np.arange(data["pulse_train"].shape[1]), data["pulse_train"][j],
                    label=name.replace("c_Lin", "$c_{\\mathrm{Lin}}$"))
        ax.set_xlabel("pulse number (up, then down)")
        ax.set_ylabel("weight $w$")
        ax.set_title(f"pulses, $\\Delta w_{{\\min}}$ = {cfg['dw_min']:g}")
        P.legend_outside(ax, "below")
        for j, name in enumerate(FIG3):
            ax = axes[0, j + 1]
            ax.plot(w, data["q3_plus"][j], label="$q_+$")
            ax.plot(w, data["q3_minus"][j], label="$q_-$")
            ax.plot(w, data["G3"][j], ":", label="$G$")
            for z in data["sym3"][j]:
                if np.isfinite(z):
                    ax.axvline(z, color="k", lw=0.7, ls="-.", label="symmetric point(s)")
            ax.axhline(0, color="k", lw=0.5)
            ax.set_xlabel("weight $w$")
            ax.set_ylabel("response factor")
            ax.set_title(name.replace("c_Lin", "$c_{\\mathrm{Lin}}$"))
        P.legend_outside(axes[0, 3], "below")
        for r, kind in enumerate(("power", "exponential")):
            ax, bx = axes[1, 2 * r], axes[1, 2 * r + 1]
            for i, g in enumerate(data["gammas"]):
                (line,) = ax.plot(w, data["q6_plus"][r, i], label=f"γ = {g:g}")
                ax.plot(w, data["q6_minus"][r, i], "--", color=line.get_color())
                bx.plot(w, data["F6"][r, i], color=line.get_color(), label=f"γ = {g:g}")
                bx.plot(w, data["G6"][r, i], ":", color=line.get_color())
            short = {"exponential": "exp."}.get(kind, kind)
            ax.set_title(f"{short}: $q_+$ (—), $q_-$ (--)")
            bx.set_title(f"{short}: $F$ (—), $G$ (··)")
            ax.set_ylabel("response factor")
            bx.set_ylabel("$F(w)$, $G(w)$")
            for a in (ax, bx):
                a.set_xlabel("weight $w$")
        P.label_panels(axes.ravel())
        P.figure_legend(fig, [axes[1, 0]], ncols=3)
        fig.suptitle("P2 Fig. 1 (a), Fig. 3 (b–d) and Fig. 6 (e–h): response functions and symmetric points")
    return fig


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    tau, c = float(cfg["tau"]), float(cfg["c_lin"])
    res = []
    err = [abs(float(data["clin_sym"]) - c * tau), abs(float(data["clin_F_sym"]) - (1 - c * c))]
    res.append(C.claim("p2_fig3.clin_symmetric_point",
                       "c_Lin device: w⋄ = c·τ and F(w⋄) = 1 − c² (P2 §4; D6 (docs/theory/derivations.md))",
                       "deviations ≤ 1e-12", err, [0.0, 0.0], max(err) <= 1e-12, "P2 §1.1/§4"))
    v = data["d7_values"]
    g = data["gammas"]
    slope = np.concatenate([g / tau, g * np.exp(g) / np.expm1(g) / tau])
    dev = np.array([np.max(np.abs(v[:, 0] - 1)), np.max(np.abs(v[:, 1] - 1)), np.max(np.abs(v[:, 2])),
                    np.max(np.abs(v[:, 3])), np.max(np.abs(v[:, 4])), np.max(np.abs(v[:, 5] - slope))])
    ok = bool(np.all(dev[:5] <= 1e-12) and dev[5] <= 1e-6)
    res.append(C.claim("p2_fig6.power_exp_identities", "Power/exponential responses: q±(0) = 1, q₊(τ) = q₋(−τ) = 0, "
                       "G(0) = 0 (zero-shifted) and G'(0) = γ/τ (power), γe^γ/((e^γ − 1)τ) (exp) (D7 "
                       "(docs/theory/derivations.md))",
                       "identities to 1e-12, slopes to 1e-6 (finite difference)", dev, np.zeros_like(dev), ok,
                       "P2 App. K.1"))
    n_sym = int(np.sum(np.isfinite(data["sym3"][2])))
    res.append(C.claim("p2_fig3.nonmonotone_symmetric_point", "A non-monotone response can still have a unique "
                       "symmetric point (G crosses zero once) — P2 Fig. 3 right", "exactly one zero of G",
                       n_sym, 0.0, n_sym == 1, "P2 Fig. 3"))
    return res
