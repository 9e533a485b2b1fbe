"""Plotting helpers (matplotlib, Agg backend). Plots read arrays only; they never simulate."""
from __future__ import annotations

import os
from contextlib import contextmanager
from importlib import resources
from typing import Any, Iterator

import numpy as np

from convergence.physics.devices import Device


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


@contextmanager
def paper_style() -> Iterator[Any]:
    """Context with the toolkit's shared matplotlib style; yields pyplot."""
    plt = _pyplot()
    style = resources.files("convergence") / "styles" / "paper.mplstyle"
    with resources.as_file(style) as path, plt.style.context(str(path)):
        yield plt


def save_figure(fig: Any, path: str | os.PathLike[str]) -> None:
    """Save deterministically (no creation date in PDFs), creating parent folders."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    meta = {"CreationDate": None} if path.endswith(".pdf") else ({"Software": None} if path.endswith(".png") else None)
    fig.savefig(path, metadata=meta)


def device_curves(device: Device, n: int = 401, margin: float = 0.0) -> dict[str, np.ndarray]:
    """Arrays of q+, q-, F, G over the device range (or [-2, 2] when unbounded)."""
    lo, hi = device.bounds
    if not np.isfinite(lo) or not np.isfinite(hi):
        lo, hi = -2.0, 2.0
    span = hi - lo
    w = np.linspace(lo - margin * span, hi + margin * span, n)
    return {"w": w, "q_plus": device.q_plus(w), "q_minus": device.q_minus(w), "F": device.F(w), "G": device.G(w)}


def plot_device(device: Device, out: str | os.PathLike[str]) -> None:
    """Two panels: q+ and q- (left), F and G (right), with the symmetric point marked."""
    c = device_curves(device)
    sym = device.symmetric_point
    with paper_style() as plt:
        fig, (a, b) = plt.subplots(1, 2, figsize=(7.5, 3.0), constrained_layout=True)
        a.plot(c["w"], c["q_plus"], label="$q_+(w)$ (up)")
        a.plot(c["w"], c["q_minus"], label="$q_-(w)$ (down)")
        b.plot(c["w"], c["F"], label="$F = (q_- + q_+)/2$")
        b.plot(c["w"], c["G"], label="$G = (q_- - q_+)/2$")
        b.axhline(0.0, color="0.5", lw=0.6)
        for ax in (a, b):
            if np.isfinite(sym):
                ax.axvline(sym, color="k", ls=":", lw=0.9, label=f"symmetric point $w_\\diamond$ = {sym:.3g}")
            ax.set_xlabel("weight $w$")
            ax.legend(loc="best")
        a.set_title("response functions")
        b.set_title("symmetric / asymmetric parts")
        fig.suptitle(device.spec(), fontsize=9)
        save_figure(fig, out)
        plt.close(fig)
