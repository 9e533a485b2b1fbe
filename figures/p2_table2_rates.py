r"""P2 Table 2 — Tiki-Taka (P1, γ = 0) against residual learning (P2, γ ≠ 0): which responses, which rate.

Generated from the registered bound objects and the device models, not typed in:

* **P1's Tiki-Taka, generic response** — no result (P1 Theorem 4 assumes the soft-bounds device).
* **P1's Tiki-Taka, linear response** — ``p1.thm4.rate``: √((f₀ − f*)σ²L/K)/(1 − 33P²max/τ²), void unless
  P_max/τ < 1/√33.
* **P2's residual learning, generic response** — ``p2.thm3.rate``: √((f₀ − f*)σ²L/K)/M_min^RL with
  M_min^RL the smallest q₊q₋ the residual array P meets (P2 Theorem 3 / Corollary 1, zero shift G(0) = 0).
* **P2's residual learning, linear response** — the same bound with M_min^RL evaluated on the soft-bounds
  device at ±P_max (``bounds.m_min``), which is 1 − P²max/τ².

The rate factor of a row is its bound divided by the ideal-device value (P_max = 0, M_min = 1), so the
O(·) constants cancel; it is shown at ``rho`` = P_max/τ and, on the right, over ρ, together with two
generic responses of P2 (power, eq 144, and exponential, eq 145, each with M_min^RL from its q₊q₋ at
±P_max). Both results have no asymptotic term (residual learning needs the zero shift G(0) = 0; its
asymptotic term ``p2.thm3.floor`` = 24F_maxσ²S_K^RL vanishes then). Claims: P2's factor is below P1's
wherever P1's holds, it is finite on the whole range P_max < τ (P1's only below τ/√33), the linear-response
entry is 1 − P²max/τ², and the generic responses give a finite rate where P1 has none. Arithmetic only:
every claim is decided (margin 1e-9 relative).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from convergence.experiments import recipe_kit as C
from convergence.physics.devices import SoftBounds
from convergence.sim.specs import parse_device
from convergence.theory.bounds import get_bound, m_min
from convergence.theory.verdicts import ResolvingPower, decide

NAME = "p2_table2"
TITLE = "Tiki-Taka (P1) vs residual learning (P2): response functions covered and rate factors, from the bounds"
PAPER = "P2 Table 2"
SEED = 0

_BASE = {"rho": 0.1, "rho_wide": 0.5, "sigma": 1.0, "L": 1.0, "f_gap": 1.0, "tau": 1.0, "K": 1e4,
         "generic": ["power:tau=1,gamma=0.5", "exp:tau=1,gamma=2"]}
SCALES = {"quick": {**_BASE, "n_rho": 51}, "default": {**_BASE, "n_rho": 191}, "paper": {**_BASE, "n_rho": 381}}
RTOL = 1e-9


def m_min_at(device: Any, rho: Any, tau: float) -> np.ndarray:
    """M_min^RL of ``device`` for ‖P‖∞ ≤ ρτ: min of q₊q₋ over P ∈ {−ρτ, +ρτ} (q₊q₋ is smallest at the edges
    for the devices here, whose q₊q₋ falls away from 0), per ρ."""
    return np.array([m_min(device, np.array([-r * tau, r * tau])) for r in np.ravel(rho)])


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Rate factors over ρ (P1 TT; P2 RL on soft bounds and generic responses) and the table's numbers."""
    tau = float(cfg["tau"])
    rho = np.linspace(0.0, 0.98, int(cfg["n_rho"]))
    common = {k: cfg[k] for k in ("f_gap", "sigma", "L", "K")}
    tt, rl = get_bound("p1.thm4.rate"), get_bound("p2.thm3.rate")

    def tt_factor(r: Any) -> np.ndarray:
        out = tt(**common, P_max=np.asarray(r) * tau, tau=tau) / tt(**common, P_max=0.0, tau=tau)
        return np.where(33.0 * np.asarray(r) ** 2 < 1.0, out, np.nan)

    def rl_factor(m: Any) -> np.ndarray:
        return rl(**common, M_min=m) / rl(**common, M_min=1.0)

    m_ald = m_min_at(SoftBounds(tau), rho, tau)
    generic = [parse_device(s) for s in cfg["generic"]]
    m_gen = np.stack([m_min_at(d, rho, tau) for d in generic])
    pts = np.array([float(cfg["rho"]), float(cfg["rho_wide"])])
    m_pts = m_min_at(SoftBounds(tau), pts, tau)
    return {
        "rho": rho, "m_ald": m_ald, "factor_tt": tt_factor(rho), "factor_rl_ald": rl_factor(m_ald),
        "factor_rl_generic": rl_factor(m_gen), "generic": np.array([str(s) for s in cfg["generic"]]),
        "rho_points": pts, "table_tt": tt_factor(pts), "table_rl_ald": rl_factor(m_pts),
        "table_rl_generic": np.stack([rl_factor(m_min_at(d, pts, tau)) for d in generic]),
        "tt_limit": np.array(1.0 / np.sqrt(33.0)),
    }


def _tex(*exprs: Any) -> str:
    import sympy as sp

    names = {"f_gap": r"\Delta_0", "sigma": r"\sigma", "tau": r"\tau", "P_max": r"P_{\max}",
             "M_min": r"M_{\min}^{RL}"}
    parts = [sp.latex(e, symbol_names={s: names.get(s.name, s.name) for s in e.free_symbols})
             .replace(r"\left", "").replace(r"\right", "").replace(r"\frac", r"\dfrac") for e in exprs]
    return "$" + r" \cdot ".join(parts) + "$"


def _rows(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[list[str]]:
    import sympy as sp

    tt, rl = get_bound("p1.thm4.rate").expr, get_bound("p2.thm3.rate").expr
    tt0 = tt.subs({s: 0 for s in tt.free_symbols if s.name == "P_max"})
    m = next(s for s in rl.free_symbols if s.name == "M_min")
    rl0 = rl.subs(m, 1)
    P, tau = sp.Symbol("P_max", nonnegative=True), sp.Symbol("tau", positive=True)
    rl_ald = rl.subs(m, 1 - P**2 / tau**2)           # the soft-bounds q+q- at ±P_max (checked by claim ald_m_min)

    def fmt(x: float) -> str:
        return "—" if not np.isfinite(x) else f"{x:.4g}"

    gen = [" / ".join(fmt(x) for x in data["table_rl_generic"][:, j]) for j in range(2)]   # power / exp per ρ
    return [
        ["P1 Tiki-Taka (γ = 0)", "generic", "no result", "—", "—", "—"],
        ["P1 Tiki-Taka (γ = 0)", "linear (soft bounds)", _tex(tt0, tt / tt0), "P_max < τ/√33", fmt(data["table_tt"][0]),
         fmt(data["table_tt"][1])],
        ["P2 residual learning (γ > 0)", "generic", _tex(rl0, rl / rl0), "M_min^RL > 0", gen[0], gen[1]],
        ["P2 residual learning (γ > 0)", "linear (soft bounds)", _tex(rl0, rl_ald / rl0), "P_max < τ",
         fmt(data["table_rl_ald"][0]), fmt(data["table_rl_ald"][1])],
    ]


def _header(data: dict[str, np.ndarray]) -> tuple[str, ...]:
    r0, r1 = data["rho_points"]
    return ("method", "response", "rate (zero shift, no asympt. term)", "valid for", f"factor, ρ = {r0:g}",
            f"factor, ρ = {r1:g}")


def table(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> str:
    """Markdown version (formulas as LaTeX from the bound objects; the generic row: power then exponential)."""
    rows = _rows(data, cfg)
    rows[2][1] = "generic (" + ", ".join(str(s) for s in data["generic"]) + ")"
    return C.markdown_table(_header(data), rows)


#: plain-text cells of ``_rows`` as drawn in the figure (mathtext; the Markdown table keeps the plain text)
_PLOT_CELLS = {"P_max < τ/√33": "$P_{\\max} < \\tau/\\sqrt{33}$", "M_min^RL > 0": "$M_{\\min}^{\\mathrm{RL}} > 0$",
               "P_max < τ": "$P_{\\max} < \\tau$"}


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    from convergence.experiments import plotting as P

    rows = [[_PLOT_CELLS.get(c, c) for c in r] for r in _rows(data, cfg)]
    rows[2][1] = "generic\n(power / exp)"
    with C.cv_style() as plt:
        fig = plt.figure(figsize=P.figure_size("full", 0.9))
        gs = fig.add_gridspec(2, 2, height_ratios=[1.0, 1.3])
        header = list(_header(data))
        header[2] = "rate\n(zero shift, no asympt. term)"
        C.draw_table(fig.add_subplot(gs[0, :]), header, rows, fontsize=6.5, row_scale=3.2,
                     col_widths=[0.2, 0.16, 0.25, 0.12, 0.135, 0.135])
        ax = fig.add_subplot(gs[1, 0])
        rho = data["rho"]
        ax.semilogy(rho, data["factor_tt"], "C2-", label="P1 Tiki-Taka, soft bounds")
        ax.semilogy(rho, data["factor_rl_ald"], "C1-", label="P2 residual learning, soft bounds")
        for i, s in enumerate(data["generic"]):
            ax.semilogy(rho, data["factor_rl_generic"][i], ls="--", color=f"C{4 + i}",
                        label=f"P2, {P.device_title(str(s))}")
        ax.axvline(float(data["tt_limit"]), color="C2", ls=":", lw=0.8, label="P1 condition edge $1/\\sqrt{33}$")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.set_xlabel("$\\rho = P_{\\max}/\\tau$")
        ax.set_ylabel("rate factor vs ideal device")
        ax.set_title("rate factors over the residual array's range")
        P.legend_outside(ax, "below", ncols=1)
        bx = fig.add_subplot(gs[1, 1])
        edge = float(data["tt_limit"])
        inside = rho < edge                     # P1's denominator, drawn down to its zero at 1/√33
        r_p1 = np.append(rho[inside], edge)
        bx.plot(rho, data["m_ald"], "C1-", label="soft bounds: min $q_+q_-$ at $\\pm P_{\\max}$")
        bx.plot(rho, 1 - rho**2, "k:", label="$1 - P_{\\max}^2/\\tau^2$ (Table 2)")
        bx.plot(r_p1, 1 - 33 * r_p1**2, "C2:", label="$1 - 33P_{\\max}^2/\\tau^2$ (P1), down to its zero")
        bx.set_ylim(-0.05, 1.05)
        bx.set_xlabel("$\\rho = P_{\\max}/\\tau$")
        bx.set_ylabel("denominator of the rate")
        bx.set_title("$M_{\\min}^{\\mathrm{RL}}$ on soft bounds vs P1's denominator")
        P.legend_outside(bx, "below", ncols=1)
        P.label_panels((ax, bx))
        fig.suptitle(f"{PAPER}: rates of Tiki-Taka (P1) and residual learning (P2), from the bound objects")
    return fig


def _decided(holds: bool, effect: float) -> str:
    return decide(bool(holds), ResolvingPower(effect=abs(float(effect)), margin=RTOL)).value


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    rho, ft, fr = data["rho"], data["factor_tt"], data["factor_rl_ald"]
    res = []
    both = np.isfinite(ft) & (rho > 0)
    gap = float(np.min(ft[both] - fr[both]))
    res.append(C.claim(f"{NAME}.rl_improves_on_tt",
                       "Wherever P1's Tiki-Taka rate holds (0 < P_max/τ < 1/√33), P2's residual-learning factor "
                       "1/(1 − P²max/τ²) is smaller than P1's 1/(1 − 33P²max/τ²)",
                       "factor_RL < factor_TT on the common range [measured: smallest gap, largest ratio]",
                       [gap, float(np.max(ft[both] / fr[both]))], [0.0, 0.0], _decided(gap > 0, gap), PAPER))
    edge_tt = float(rho[np.isfinite(ft)].max())
    ok = bool(np.all(np.isfinite(fr)) and np.all(fr > 0) and edge_tt < float(data["tt_limit"]))
    res.append(C.claim(f"{NAME}.rl_wider_range",
                       "P2's linear-response rate is finite on the whole range P_max/τ < 1 "
                       f"(checked up to {rho[-1]:g}),"
                       f" P1's only below 1/√33 (largest valid grid point {edge_tt:.3g})",
                       "RL finite on all ρ < 1; TT void for ρ ≥ 1/√33", [float(rho[-1]), edge_tt], [0.0, 0.0],
                       _decided(ok, rho[-1] - edge_tt), PAPER))
    err = float(np.max(np.abs(data["m_ald"] - (1 - rho**2))))
    res.append(C.claim(f"{NAME}.ald_m_min",
                       "Table 2's linear-response entry: on the soft-bounds device the smallest q₊q₋ over "
                       "‖P‖∞ ≤ P_max is 1 − P²max/τ² (device model, evaluated)",
                       "max |M_min^RL − (1 − ρ²)| ≤ 1e-12", err, 0.0,
                       decide(err <= 1e-12, ResolvingPower(effect=float(np.max(rho**2)), margin=1e-12)).value, PAPER))
    fg = data["factor_rl_generic"]
    inside = rho < 0.95
    ok = bool(np.all(np.isfinite(fg[:, inside])) and np.all(fg[:, inside] >= 1.0))
    res.append(C.claim(f"{NAME}.generic_covered",
                       "P2's rate covers generic responses where P1 has no result: for "
                       + " and ".join(str(s) for s in data["generic"])
                       + " the factor 1/M_min^RL is finite (≥ 1) for every P_max/τ < 0.95",
                       "factor finite and ≥ 1 [measured: each device's factor at ρ = 0.5]",
                       data["table_rl_generic"][:, 1], np.zeros(len(data["generic"])),
                       _decided(ok, 1.0), PAPER))
    return res
