r"""P1 Fig. 2 and Fig. 6 — response factors of the ideal, soft-bounds (ALD), linear-step, power and
exponential devices, their symmetric/asymmetric parts F and G, and pulse-train responses.

* Fig. 2 (P1 §2.2): q±(w) of the ideal device (q± = 1) and of the ALD q± = 1 ∓ (w − w⋄)/τ
  (τ = 1, w⋄ ∈ {0, 0.3}), plus the weight under a train of up pulses followed by down pulses
  (``convergence.physics.pulses.apply_pulses``; Δw_min = 0.01) — the device-physics view of the same curves.
* Fig. 6 (P1 App. C): the *un-normalised* P1 forms on w ∈ [−4, 4], which differ from P2's
  zero-shifted power/exponential devices (docs/theory/device-model.md#devices) and are therefore written here:
  linear step q₊ = 1 − w/τ_max, q₋ = 1 − w/τ_min (C.1); power q₊ = ((τ_max − w)/(τ_max − τ_min))^γ₊,
  q₋ = ((w − τ_min)/(τ_max − τ_min))^γ₋ (C.2); exponential q₊ = 1 − exp(−γ₊(τ_max − w)/(τ_max − τ_min)),
  q₋ = 1 − exp(−γ₋(w − τ_min)/(τ_max − τ_min)) (C.3). P1 does not state the plotted parameters;
  we use τ_max = 4, τ_min = −4 (linear step: τ_min = −3), (γ₊, γ₋) = (2, 1.5) (power) and (3, 2)
  (exponential) — illustrative, chosen so that the symmetric points differ from 0.

Deterministic (the seed is unused). Claims: the ALD identities F ≡ 1, G = (w − w⋄)/τ; the sign
erratum of P1 eq (23) for the linear-step G; pulse trains stay inside [−τ, τ] (P1 Thm 1) and match
the exact n-pulse composition (D9 (docs/theory/derivations.md)).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

import convergence as cv
from convergence.experiments import recipe_kit as C
from convergence.physics.pulses import apply_pulses

NAME = "p1_fig2_fig6"
TITLE = "Response factors q±, F and G of the ALD, linear-step, power and exponential devices (P1)"
PAPER = "P1 Fig. 2 and Fig. 6"
SEED = 20240602

_BASE = {"tau": 1.0, "w_syms": [0.0, 0.3], "dw_min": 0.01, "pulses": 300, "tau_max": 4.0, "tau_min": -4.0,
         "tau_min_linear": -3.0, "power_gammas": [2.0, 1.5], "exp_gammas": [3.0, 2.0]}
SCALES = {"quick": {**_BASE, "n_grid": 101}, "default": {**_BASE, "n_grid": 801}, "paper": {**_BASE, "n_grid": 2001}}


def p1_responses(w: np.ndarray, cfg: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(q+, q-) of the P1 App. C devices on the grid ``w`` (un-normalised forms)."""
    tmax, tmin, tmin_lin = float(cfg["tau_max"]), float(cfg["tau_min"]), float(cfg["tau_min_linear"])
    gp, gm = (float(g) for g in cfg["power_gammas"])
    ep, em = (float(g) for g in cfg["exp_gammas"])
    span = tmax - tmin
    return {
        "linear step": tuple(np.where(w >= tmin_lin, q, np.nan) for q in (1.0 - w / tmax, 1.0 - w / tmin_lin)),
        "power": (np.clip((tmax - w) / span, 0, None) ** gp, np.clip((w - tmin) / span, 0, None) ** gm),
        "exponential": (1.0 - np.exp(-ep * (tmax - w) / span), 1.0 - np.exp(-em * (w - tmin) / span)),
    }


DEVICES6 = ("linear step", "power", "exponential")


def _symmetric_point(w: np.ndarray, G: np.ndarray) -> float:
    """Zero of G on the grid by linear interpolation at the first sign change (nan if none)."""
    s = np.sign(G)
    idx = np.nonzero(s[:-1] * s[1:] <= 0)[0]
    if not idx.size:
        return math.nan
    i = int(idx[0])
    return float(w[i] - G[i] * (w[i + 1] - w[i]) / (G[i + 1] - G[i])) if G[i + 1] != G[i] else float(w[i])


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    tau = float(cfg["tau"])
    n = int(cfg["n_grid"])
    syms = [float(s) for s in cfg["w_syms"]]
    ald = [cv.SoftBounds(tau, w_sym=s) for s in syms]
    w2s = [np.linspace(d.bounds[0], d.bounds[1], n) for d in ald]
    out: dict[str, np.ndarray] = {
        "w_ald": np.stack(w2s),
        "ald_q_plus": np.stack([d.q_plus(x) for d, x in zip(ald, w2s)]),
        "ald_q_minus": np.stack([d.q_minus(x) for d, x in zip(ald, w2s)]),
        "ald_F": np.stack([d.F(x) for d, x in zip(ald, w2s)]),
        "ald_G": np.stack([d.G(x) for d, x in zip(ald, w2s)]),
        "w_syms": np.array(syms),
    }
    # pulse trains: `pulses` up pulses then `pulses` down pulses, one pulse at a time
    k = int(cfg["pulses"])
    dw = float(cfg["dw_min"])
    devs = [cv.Ideal(), ald[0]]
    trains = np.zeros((len(devs), 2 * k + 1))
    for j, dev in enumerate(devs):
        x = np.zeros((1, 1))
        for p in range(2 * k):
            sign = np.ones((1, 1)) if p < k else -np.ones((1, 1))
            x = apply_pulses(x, np.ones((1, 1)), sign, dev, dw)
            trains[j, p + 1] = x[0, 0]
    out["pulse_train"] = trains
    # exact composition (D9 (docs/theory/derivations.md)) of the ALD train: up n pulses from 0, then down
    n_up = np.arange(k + 1)
    up = tau - (1 - dw / tau) ** n_up * tau
    top = up[-1]
    down = -tau + (1 - dw / tau) ** n_up[1:] * (tau + top)
    out["pulse_train_exact"] = np.concatenate([up, down])
    w6 = np.linspace(-4.0, 4.0, n)
    r = p1_responses(w6, cfg)
    out["w6"] = w6
    out["q6_plus"] = np.stack([r[name][0] for name in DEVICES6])
    out["q6_minus"] = np.stack([r[name][1] for name in DEVICES6])
    out["F6"] = 0.5 * (out["q6_plus"] + out["q6_minus"])
    out["G6"] = 0.5 * (out["q6_minus"] - out["q6_plus"])
    out["sym6"] = np.array([_symmetric_point(w6, g) for g in out["G6"]])
    # linear-step G: printed (P1 eq 23) vs corrected sign
    tmax, tmin = float(cfg["tau_max"]), float(cfg["tau_min_linear"])
    inside = np.where(w6 >= tmin, 1.0, np.nan)   # the linear-step device lives on [tau_min, tau_max]
    out["G_linear_printed"] = -0.5 * (1 / tmax - 1 / tmin) * w6 * inside
    out["G_linear_corrected"] = 0.5 * (1 / tmax - 1 / tmin) * w6 * inside
    return out


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    from convergence.experiments import plotting as P

    with C.cv_style() as plt:
        fig, axes = plt.subplots(2, 3, figsize=P.figure_size("full", 0.86))
        ax = axes[0, 0]
        ax.axhline(1.0, color="k", lw=1.0, label="ideal: $q_\\pm = 1$")
        for i, s in enumerate(data["w_syms"]):
            x = data["w_ald"][i]
            ax.plot(x, data["ald_q_plus"][i], "-", label=f"ALD $q_+$, $w_\\diamond$ = {s:g}")
            ax.plot(x, data["ald_q_minus"][i], "--", label=f"ALD $q_-$, $w_\\diamond$ = {s:g}")
            ax.axvline(s, color="0.5", ls=":", lw=0.8)
        ax.set_xlabel("weight $w$")
        ax.set_ylabel("response factor")
        ax.set_title(f"ALD responses (τ = {cfg['tau']:g})")
        P.legend_outside(ax, "below", ncols=1)
        ax = axes[0, 1]
        for i, s in enumerate(data["w_syms"]):
            ax.plot(data["w_ald"][i], data["ald_F"][i], "-", label=f"$F$, $w_\\diamond$ = {s:g}")
            ax.plot(data["w_ald"][i], data["ald_G"][i], "--", label=f"$G$, $w_\\diamond$ = {s:g}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlabel("weight $w$")
        ax.set_ylabel("$F(w)$, $G(w)$")
        ax.set_title("ALD: $F\\equiv 1$, $G=(w-w_\\diamond)/\\tau$")
        P.legend_outside(ax, "below", ncols=1)
        ax = axes[0, 2]
        n = np.arange(data["pulse_train"].shape[1])
        ax.plot(n, data["pulse_train"][0], label="ideal device")
        ax.plot(n, data["pulse_train"][1], label="ALD (pulsed)")
        ax.plot(n, data["pulse_train_exact"], "k:", label="exact composition")
        ax.set_xlabel("pulse number (up, then down)")
        ax.set_ylabel("weight $w$")
        ax.set_title(f"pulse response, $\\Delta w_{{\\min}}$ = {cfg['dw_min']:g}")
        P.legend_outside(ax, "below", ncols=1)
        for j, name in enumerate(DEVICES6):
            ax = axes[1, j]
            w = data["w6"]
            ax.plot(w, data["q6_plus"][j], label="$q_+$")
            ax.plot(w, data["q6_minus"][j], label="$q_-$")
            ax.plot(w, data["F6"][j], "--", label="$F$")
            ax.plot(w, data["G6"][j], ":", label="$G$")
            if np.isfinite(data["sym6"][j]):
                ax.axvline(data["sym6"][j], color="k", lw=0.7, ls="-.", label="symmetric point $w_\\diamond$")
            if name == "linear step":
                ax.plot(w, data["G_linear_printed"], color="#E69F00", lw=0.9, ls="-.", label="$G$ as printed (eq 23)")
            ax.axhline(0, color="k", lw=0.5)
            ax.set_xlabel("weight $w$")
            ax.set_ylabel("response factor")
            sym = data["sym6"][j]
            ax.set_title(name + (f", $w_\\diamond$ = {P.clean_number(sym, '.2f')}" if np.isfinite(sym) else ""))
        P.label_panels(axes.ravel())
        P.figure_legend(fig, list(axes[1]), ncols=6)
        fig.suptitle("P1 Fig. 2 (a–c): the asymmetric linear device (ALD); P1 Fig. 6 (d–f): other response families")
    return fig


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    tau = float(cfg["tau"])
    res = []
    dev_F = float(np.max(np.abs(data["ald_F"] - 1.0)))
    dev_G = float(np.max(np.abs(data["ald_G"] - (data["w_ald"] - data["w_syms"][:, None]) / tau)))
    res.append(C.claim("p1_fig2.ald_F_G", "ALD: F ≡ 1 and G = (w − w⋄)/τ (P1 eq 8)", "max deviation ≤ 1e-12",
                       max(dev_F, dev_G), 0.0, max(dev_F, dev_G) <= 1e-12, "P1 Fig. 2 / eq 8"))
    tr = data["pulse_train"][1]
    gap = float(np.max(np.abs(tr - data["pulse_train_exact"])))
    inside = float(np.max(np.abs(tr)))
    res.append(C.claim("p1_fig2.pulse_train", "ALD pulse trains stay in [−τ, τ] (P1 Thm 1) and equal the exact "
                       "n-pulse composition τ − (1 − δ/τ)^n (τ − w) (D9 (docs/theory/derivations.md))",
                       f"max|w| ≤ τ = {tau}; |pulsed − closed form| ≤ 1e-12", [inside, gap], [0.0, 0.0],
                       inside <= tau and gap <= 1e-12, "P1 Thm 1 / App. B"))
    d_corr = float(np.nanmax(np.abs(data["G6"][0] - data["G_linear_corrected"])))
    d_print = float(np.nanmax(np.abs(data["G6"][0] - data["G_linear_printed"])))
    verdict = "erratum confirmed" if d_corr <= 1e-12 and d_print > 1e-3 else "fails"
    res.append(C.claim("p1_fig6.linear_step_G_sign", "P1 App. C eq (23) prints G = −½(1/τ_max − 1/τ_min)(w − w⋄) for "
                       "the linear step device; (q₋ − q₊)/2 has the opposite sign",
                       "corrected sign matches exactly, printed sign does not",
                       [d_corr, d_print], [0.0, 0.0], verdict, "P1 App. C eq (23)"))
    return res
