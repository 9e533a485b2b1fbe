r"""P1 Table 1 — convergence rate and asymptotic error of digital SGD, Analog SGD and Tiki-Taka.

The table is generated from the registered bound objects (``convergence.theory.bounds``), not typed in:

* **Digital SGD** — P1 Theorem 2's bound ``p1.thm2`` in the ideal-device limit (W_max/τ → 0, S_K = 0):
  ``4√((f₀ − f*)σ²L/K)``, no asymptotic error (the rate of Arjevani et al.'s lower bound up to constants).
* **Analog SGD** — ``p1.thm2``: the rate term slowed by the saturation factor 1/(1 − W²max/τ²) plus the
  asymptotic term ``p1.thm2.floor`` = 4σ²S_K, the limit of the bound as K → ∞.
* **Lower bound** — P1 Theorem 3 (``p1.thm3.lower``): the instance's error is at least σ²S_K (the constant the
  derivation supports; the printed 4σ²S_K, ``p1.thm3.lower_printed``, is an erratum).
* **Tiki-Taka** — P1 Theorem 4 (``p1.thm4.rate``): rate term slowed by 1/(1 − 33P²max/τ²), no asymptotic term;
  the statement is void unless 33P²max/τ² < 1 (P_max/τ < 1/√33 ≈ 0.174).

The rate factor of each row is its bound divided by the same bound in the ideal-device limit, so the O(·)
constants cancel. Columns of the numeric part are evaluated at the saturation degree ``rho`` (W_max/τ for
Analog SGD, P_max/τ for Tiki-Taka) and σ = L = f₀ − f* = τ = 1; the right panel shows the rate factors
over ρ and the left-bottom panel the bounds against K at ``rho``. Claims check the orderings P1 states:
Analog SGD is slower than digital SGD by the saturation factor and keeps an asymptotic error 4σ²S_K > 0,
Tiki-Taka and digital SGD have none, and the lower bound does not exceed the upper bound's asymptotic
term. All numbers are arithmetic, so every claim is decided (margin: 1e-9 relative).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from convergence.experiments import recipe_kit as C
from convergence.theory.bounds import get_bound
from convergence.theory.verdicts import ResolvingPower, decide

NAME = "p1_table1"
TITLE = "Rates and asymptotic errors of digital SGD, Analog SGD and Tiki-Taka from the bound objects"
PAPER = "P1 Table 1"
SEED = 0

_BASE = {"rho": 0.5, "rho_tt": 0.1, "sigma": 1.0, "L": 1.0, "f_gap": 1.0, "tau": 1.0, "K_min": 1e2, "K_max": 1e12}
SCALES = {"quick": {**_BASE, "n_rho": 51, "n_K": 21}, "default": {**_BASE, "n_rho": 191, "n_K": 41},
          "paper": {**_BASE, "n_rho": 381, "n_K": 81}}
ROWS = ("Digital SGD", "Analog SGD (Thm 2)", "lower bound (Thm 3)", "Tiki-Taka (Thm 4)")
#: relative tolerance of the arithmetic claims (floating point only)
RTOL = 1e-9


def _thm2(cfg: dict[str, Any], K: Any, rho: Any, S: Any) -> np.ndarray:
    tau = float(cfg["tau"])
    return get_bound("p1.thm2")(f_gap=cfg["f_gap"], sigma=cfg["sigma"], L=cfg["L"], K=K, W_max=np.asarray(rho) * tau,
                                tau=tau, S_K=S)


def _tt(cfg: dict[str, Any], K: Any, rho: Any) -> np.ndarray:
    tau = float(cfg["tau"])
    out = get_bound("p1.thm4.rate")(f_gap=cfg["f_gap"], sigma=cfg["sigma"], L=cfg["L"], K=K,
                                    P_max=np.asarray(rho) * tau, tau=tau)
    return np.where(33.0 * np.asarray(rho) ** 2 < 1.0, out, np.nan)      # void statement outside its condition


def saturation_sum(rho: Any) -> np.ndarray:
    """S_K of P1 Theorem 2 for a run that stays at ‖W_k‖∞/τ = ρ: ρ²/(1 − ρ²)."""
    rho = np.asarray(rho, dtype=float)
    return rho**2 / (1.0 - rho**2)


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Rate factors over ρ, bounds over K at ``rho`` and the table's numbers (deterministic)."""
    rho = np.linspace(0.0, 0.95, int(cfg["n_rho"]))
    K = np.geomspace(float(cfg["K_min"]), float(cfg["K_max"]), int(cfg["n_K"]))
    r, r_tt, s2 = float(cfg["rho"]), float(cfg["rho_tt"]), float(cfg["sigma"]) ** 2
    S = float(saturation_sum(r))
    k0 = K[0]
    ideal = _thm2(cfg, k0, 0.0, 0.0)
    lower, lower_printed = get_bound("p1.thm3.lower"), get_bound("p1.thm3.lower_printed")
    floor = get_bound("p1.thm2.floor")
    return {
        "rho": rho, "K": K,
        "factor_asgd": _thm2(cfg, k0, rho, 0.0) / ideal,
        "factor_tt": _tt(cfg, k0, rho) / _tt(cfg, k0, 0.0),
        "bound_digital_K": _thm2(cfg, K, 0.0, 0.0),
        "bound_asgd_K": _thm2(cfg, K, r, S),
        "bound_tt_K": _tt(cfg, K, r_tt),
        "floor_asgd": floor(sigma=cfg["sigma"], S_K=S),
        "lower": lower(sigma=cfg["sigma"], S_K=S),
        "lower_printed": lower_printed(sigma=cfg["sigma"], S_K=S),
        "S_K": np.array(S),
        "table_factor": np.array([1.0, float(_thm2(cfg, k0, r, 0.0) / ideal), np.nan,
                                  float(_tt(cfg, k0, r_tt) / _tt(cfg, k0, 0.0))]),
        "table_floor": np.array([0.0, float(floor(sigma=cfg["sigma"], S_K=S)), float(lower(sigma=cfg["sigma"],
                                 S_K=S)), 0.0]),
        "tt_limit": np.array(1.0 / np.sqrt(33.0)),
        "sigma_sq": np.array(s2),
    }


def _tex(*exprs: Any) -> str:
    """Mathtext of the product of ``exprs`` (each a sympy expression from a bound object), shown factor by factor."""
    import sympy as sp

    names = {"f_gap": r"\Delta_0", "sigma": r"\sigma", "tau": r"\tau", "W_max": r"W_{\max}", "P_max": r"P_{\max}",
             "S_K": "S_K", "M_min": r"M_{\min}^{RL}", "F_max": r"F_{\max}", "S_K_asgd": r"S_K^{ASGD}",
             "S_K_rl": r"S_K^{RL}"}
    parts = []
    for e in exprs:
        sym = {s: names.get(s.name, s.name) for s in e.free_symbols}
        parts.append(sp.latex(e, symbol_names=sym).replace(r"\left", "").replace(r"\right", "")
                     .replace(r"\frac", r"\dfrac"))
    return "$" + r" \cdot ".join(parts) + "$"


def _formulas() -> list[tuple[str, str]]:
    """(rate, asymptotic error) of each row in mathtext: the digital rate and each row's factor over it, both
    read off the bound objects' sympy expressions."""
    thm2, thm4 = get_bound("p1.thm2"), get_bound("p1.thm4.rate")
    zero = {s: 0 for s in thm2.expr.free_symbols if s.name in ("S_K", "W_max")}
    rate_asgd = thm2.expr.subs({s: 0 for s in thm2.expr.free_symbols if s.name == "S_K"})
    rate_dig = thm2.expr.subs(zero)
    tt_dig = thm4.expr.subs({s: 0 for s in thm4.expr.free_symbols if s.name == "P_max"})
    return [(_tex(rate_dig), "0"), (_tex(rate_dig, rate_asgd / rate_dig), _tex(get_bound("p1.thm2.floor").expr)),
            ("—", _tex(get_bound("p1.thm3.lower").expr)), (_tex(tt_dig, thm4.expr / tt_dig), "0")]


def _rows(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[list[str]]:
    forms = _formulas()
    refs = ("p1.thm2, W_max = S_K = 0", "p1.thm2, p1.thm2.floor", "p1.thm3.lower", "p1.thm4.rate")
    rho = (f"{cfg['rho']:g}", f"{cfg['rho']:g}", f"{cfg['rho']:g}", f"{cfg['rho_tt']:g}")
    out = []
    for i, name in enumerate(ROWS):
        fac = data["table_factor"][i]
        out.append([name, forms[i][0], forms[i][1], refs[i], rho[i],
                    "—" if not np.isfinite(fac) else f"{fac:.4g}", f"{data['table_floor'][i]:.4g}"])
    return out


_HEADER = ("algorithm", "rate of (1/K) Σ E‖∇f(W_k)‖²", "asympt. error", "bound object", "ρ", "factor at ρ",
           "error at ρ")


def table(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> str:
    """The Markdown version of the table (formulas as LaTeX from the bound objects; Δ₀ = f(W₀) − f*,
    ρ = W_max/τ or P_max/τ, σ = L = Δ₀ = τ = 1)."""
    return C.markdown_table(_HEADER, _rows(data, cfg))


#: the table's header as drawn in the figure (mathtext; the Markdown table keeps ``_HEADER``)
_PLOT_HEADER = ("algorithm", "rate of $(1/K)\\Sigma_k\\mathbb{E}\\|\\nabla f(W_k)\\|^2$", "asympt. error",
                "bound object", "$\\rho$", "factor at $\\rho$", "error at $\\rho$")


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    from convergence.experiments import plotting as P

    rows = _rows(data, cfg)
    rows[0][3] = "p1.thm2, $W_{\\max} = S_K = 0$"
    with C.cv_style() as plt:
        fig = plt.figure(figsize=P.figure_size("full", 0.95))
        gs = fig.add_gridspec(2, 2, height_ratios=[1.0, 1.25])
        C.draw_table(fig.add_subplot(gs[0, :]), _PLOT_HEADER, rows, fontsize=6.5, row_scale=3.2,
                     col_widths=[0.17, 0.26, 0.12, 0.19, 0.05, 0.105, 0.105])
        ax = fig.add_subplot(gs[1, 0])
        K = data["K"]
        ax.loglog(K, data["bound_digital_K"], "k-", label="digital SGD")
        ax.loglog(K, data["bound_asgd_K"], "C0-", label=f"Analog SGD, $\\rho$ = {cfg['rho']:g}")
        ax.loglog(K, data["bound_tt_K"], "C2-", label=f"Tiki-Taka ($O(\\cdot)$ const. 1), $\\rho$ = {cfg['rho_tt']:g}")
        ax.axhline(float(data["floor_asgd"]), color="C0", ls=":", label="Analog SGD asymptotic $4\\sigma^2 S_K$")
        ax.axhline(float(data["lower"]), color="C3", ls="--", label="lower bound $\\sigma^2 S_K$ (Thm 3)")
        ax.set_xlabel("iterations $K$")
        ax.set_ylabel("bound on $(1/K)\\Sigma_k\\mathbb{E}\\|\\nabla f(W_k)\\|^2$")
        ax.set_title("bounds vs $K$ ($\\sigma = L = \\Delta_0 = \\tau = 1$)")
        P.legend_outside(ax, "below", ncols=1)
        bx = fig.add_subplot(gs[1, 1])
        bx.semilogy(data["rho"], data["factor_asgd"], "C0-", label="Analog SGD: $1/(1 - W_{\\max}^2/\\tau^2)$")
        bx.semilogy(data["rho"], data["factor_tt"], "C2-", label="Tiki-Taka: $1/(1 - 33P_{\\max}^2/\\tau^2)$")
        bx.axvline(float(data["tt_limit"]), color="C2", ls=":", lw=0.8, label="TT condition edge $1/\\sqrt{33}$")
        bx.axhline(1.0, color="k", lw=0.8, label="digital SGD")
        bx.set_xlabel("saturation degree $\\rho$ ($W_{\\max}/\\tau$ or $P_{\\max}/\\tau$)")
        bx.set_ylabel("rate factor vs digital SGD")
        bx.set_title("rate slow-down by saturation")
        P.legend_outside(bx, "below", ncols=1)
        P.label_panels((ax, bx))
        fig.suptitle(f"{PAPER}: rates and asymptotic errors, evaluated from the bound objects")
    return fig


def _decided(holds: bool, effect: float) -> str:
    """Arithmetic claims: resolvable when the effect exceeds the floating-point margin (declared, RTOL)."""
    return decide(bool(holds), ResolvingPower(effect=abs(float(effect)), margin=RTOL)).value


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    rho, fa, ft = data["rho"], data["factor_asgd"], data["factor_tt"]
    res = []
    ok = bool(abs(fa[0] - 1.0) <= RTOL and np.all(np.diff(fa) > 0) and np.all(fa >= 1.0))
    res.append(C.claim(f"{NAME}.asgd_slower_than_digital",
                       "Analog SGD's rate is digital SGD's slowed by the saturation factor: the ratio of the bounds is "
                       f"1 at W_max = 0 and grows strictly with W_max/τ (to {fa[-1]:.3g} at {rho[-1]:g})",
                       "factor(0) = 1, factor increasing in ρ", [fa[0], fa[-1]], [0.0, 0.0],
                       _decided(ok, fa[-1] - 1.0), PAPER))
    K, b = data["K"], data["bound_asgd_K"]
    fl = float(data["floor_asgd"])
    gap = (b[-1] - fl) / fl
    ok = bool(fl > 0 and np.all(np.diff(b) < 0) and np.all(b > fl) and gap < 1e-3)
    res.append(C.claim(f"{NAME}.asgd_asymptotic_error",
                       f"Analog SGD keeps an asymptotic error: its bound decreases in K to 4σ²S_K = {fl:.4g} > 0 "
                       f"(ρ = {cfg['rho']:g}; at K = {K[-1]:.0e} it is within {gap:.1e} of it)",
                       "bound decreasing in K, bound(K) → 4σ²S_K > 0", [b[-1], fl], [0.0, 0.0],
                       _decided(ok, fl), PAPER))
    slopes = []
    for key in ("bound_digital_K", "bound_tt_K"):
        y = data[key]
        slopes.append(float(np.polyfit(np.log(K), np.log(y), 1)[0]))
    ok = bool(np.all(np.abs(np.array(slopes) + 0.5) <= 1e-9))
    res.append(C.claim(f"{NAME}.exact_without_asymptotic_error",
                       "Digital SGD and Tiki-Taka have no asymptotic error: their bounds fall as K^(−1/2) to 0 "
                       "(log-log slopes over K)", "slope −1/2 for both", slopes, [0.0, 0.0], _decided(ok, 0.5), PAPER))
    lo, lp = float(data["lower"]), float(data["lower_printed"])
    ok = bool(lo <= fl * (1 + RTOL) and abs(lp - fl) <= RTOL * fl)
    res.append(C.claim(f"{NAME}.lower_below_upper",
                       "Theorem 3's lower bound does not exceed Theorem 2's asymptotic term: σ²S_K ≤ 4σ²S_K (a "
                       "factor 4 apart with the supported constant; the printed 4σ²S_K would make them equal)",
                       "σ²S_K ≤ 4σ²S_K; printed lower = upper", [lo, fl, lp], [0.0, 0.0, 0.0],
                       _decided(ok, fl - lo), PAPER))
    valid = np.isfinite(ft)
    edge = float(rho[valid].max())
    ok = bool(edge < float(data["tt_limit"]) and np.all(ft[valid] >= fa[valid]) and np.all(ft[valid][1:] > 0))
    res.append(C.claim(f"{NAME}.tt_condition_narrow",
                       "Tiki-Taka's rate holds only for P_max/τ < 1/√33 ≈ 0.174 and there its saturation factor is at "
                       "least Analog SGD's at the same saturation degree (33 vs 1 in front of ρ²)",
                       "largest valid ρ < 1/√33; factor_TT ≥ factor_ASGD", [edge, float(np.nanmax(ft / fa))],
                       [0.0, 0.0], _decided(ok, float(data["tt_limit"]) - edge), PAPER))
    return res
