r"""Device gallery — response functions q±(w) and their symmetric/asymmetric parts F, G of every device family.

The response curves of every device family side by side (P1 Fig. 2/6 and P2 Fig. 1/3/6 show
examples of the same curves): one panel per device with
q+(w) (up), q−(w) (down), F = (q− + q+)/2, G = (q− − q+)/2 and the symmetric point w⋄ (G(w⋄) = 0).
Single devices: ``convergence device SPEC --out FILE``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from convergence.experiments.plotting import device_curves
from convergence.sim.specs import parse_device

NAME = "devices_gallery"
TITLE = "Response functions q±, F, G and the symmetric point of every device family"
PAPER = "P1 Fig. 2/6, P2 Fig. 1/3/6 (examples)"
SEED = 0

_DEVICES = ["ideal", "softbounds:tau=1", "softbounds:tau=1,w_sym=0.3", "linear:tau=1,c=0.3",
            "linearstep:tau_max=1,tau_min=-0.5", "power:tau=1,gamma=0.5", "power:tau=1,gamma=2",
            "exp:tau=1,gamma=2", "constant:w_max=1,w_min=-1,up_down=0.3"]
SCALES = {"quick": {"devices": _DEVICES, "n": 101}, "default": {"devices": _DEVICES, "n": 401},
          "paper": {"devices": _DEVICES, "n": 801}}


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Curves on each device's range (deterministic; the seed is unused)."""
    curves = [device_curves(parse_device(s), n=int(cfg["n"])) for s in cfg["devices"]]
    devs = [parse_device(s) for s in cfg["devices"]]
    sym = np.array([d.symmetric_point for d in devs], dtype=float)
    g_sym = np.array([float(d.G(s)) if np.isfinite(s) else np.nan for d, s in zip(devs, sym)])
    out = {k: np.stack([c[k] for c in curves]) for k in ("w", "q_plus", "q_minus", "F", "G")}
    out.update(specs=np.array([str(s) for s in cfg["devices"]]), symmetric_point=sym, G_at_sym=g_sym)
    return out


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    from convergence.experiments import plotting as P

    n = len(data["specs"])
    cols = 3
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=P.figure_size("full", 0.3 * rows + 0.12), squeeze=False)
    shown = []
    for i, ax in enumerate(axes.ravel()):
        if i >= n:
            ax.set_visible(False)
            continue
        shown.append(ax)
        w = data["w"][i]
        ax.plot(w, data["q_plus"][i], label="$q_+$ (up)")
        ax.plot(w, data["q_minus"][i], label="$q_-$ (down)")
        ax.plot(w, data["F"][i], "--", label="$F=(q_-+q_+)/2$")
        ax.plot(w, data["G"][i], ":", label="$G=(q_--q_+)/2$")
        s = data["symmetric_point"][i]
        if np.isfinite(s):
            ax.axvline(s, color="k", lw=0.8, ls="-.", label="symmetric point $w_\\diamond$")
        ax.axhline(0.0, color="0.6", lw=0.5)
        ax.set_title(P.device_title(str(data["specs"][i]), multiline=True), fontsize=7)
        ax.set_xlabel("weight $w$")
        ax.set_ylabel("response factor")
    P.label_panels(shown)
    P.figure_legend(fig, ncols=5)
    return fig


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    g = data["G_at_sym"]
    finite = np.isfinite(g)
    worst = float(np.max(np.abs(g[finite]))) if finite.any() else 0.0
    identity = float(np.max(np.abs((data["q_plus"] - (data["F"] - data["G"])))))
    return [{"id": f"{NAME}.G_zero_at_symmetric_point",
             "statement": "G(w⋄) = 0 at every device's symmetric point, and q+ = F − G (P2 Definition 1 / eq 5)",
             "prediction": "max |G(w⋄)| and max |q+ − (F − G)| below 1e-9",
             "measured": [worst, identity], "uncertainty": None,
             "verdict": "holds" if worst < 1e-9 and identity < 1e-9 else "fails", "paper": PAPER}]
