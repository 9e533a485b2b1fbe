r"""P1 Fig. 5 and its tables — FCN and LeNet-like CNN: digital SGD vs Analog SGD vs TT-v1 over τ.

Setup (THEORY §5.1, P1 §5.3 / App. I.2): FCN 784-256-128-10 (sigmoid, log-softmax/NLL, batch 10)
and the LeNet-like CNN (batch 8); every weight layer analog on soft bounds τ ∈ {0.70, 0.78, 0.80}
(FCN) / {0.6, 0.7, 0.8} (CNN); lr α = 0.1 digital, 0.05 analog; TT fast rate β = 0.01 and transfer
rate α; StepLR(35, 0.1); AIHWKit-style periphery (``p1`` preset of :mod:`convergence.nn.experiments`:
8-bit I/O, bounds, output noise, noise/bound management) and a learnable output scale.

Data: MNIST when present, else Fashion-MNIST (the offline machine has only the latter; the
claims say which). Fashion-MNIST is harder (digital FCNs reach ≈ 89 %, not 98 %), so absolute
numbers are not comparable with the paper's; the claims test the paper's *orderings*.

Scales: ``paper`` = full data, 80 epochs, 3 repeats, expected-mode updates, TT transfers one
column per mini-batch (P1 App. I.2). ``default`` (about 160 s on 2 cores) = 6k/2k FCN images for 2
epochs and 6k/2k CNN images for 3 epochs without periphery (the periphery's
convolution MVMs cost ~40 ms per CNN step), two repeats, and TT transfers the whole P each step
(with column-wise transfer each of fc1's 784 columns would be visited only ~1.5 times in this
budget, so TT would not move; this is a stated scale-down choice). ``quick`` = seconds.
Analog SGD on the FCN at ``default`` scale (1200 steps) is still on the sigmoid FCN's initial plateau
(loss ≈ ln 10) at every τ, so ``fcn_asgd_improves_with_tau`` reports "not testable at this scale". Not a
bug: the asymmetric term −Σ_b|ΔW_b|⊙W/τ pulls the small initial weights back towards 0 and lengthens
the plateau (digital SGD leaves it after ~500 steps; Analog SGD with τ = 100 behaves like digital; the
periphery changes little). Diagnostics (6000 images, batch 10, p1 periphery, test accuracy after 6000
steps, τ = 0.8 vs 0.7): 57.3 vs 44.6, 47.7 vs 39.9, 39.4 vs 22.7 % for three seeds, but 34.7 vs 37.6 %
with the recipe's seed — the τ ordering is real but the seed-dependent plateau-escape time dominates it
unless one trains for many more steps or repeats (the paper: 80 epochs of 60k images), which does
not fit the main job's budget.
On all 60k Fashion-MNIST training images (batch 10, p1 periphery, 6 epochs, two seeds, 15 s per epoch
and run) Analog SGD leaves the plateau within the first epoch and τ = 0.80 leads τ = 0.70 at 11 of
12 epoch ends: after epoch 1 47.2 vs 23.6 % and 41.7 vs 35.3 %, after epoch 6 77.0 vs 70.2 % and
76.2 vs 73.5 % — the paper's ordering, but resolving it at 3 s.e. needs ~6 such repeats (~3 min
more on 2 cores), beyond what the main job can still take.
Table statistic (P1 repo S4.1-plot): mean over the last 5 epochs of the repeat-mean accuracy
(the last epoch only at the quick/default scales, which train 1–2 epochs).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from convergence.figures_api import recipe_helpers
from convergence.nn import experiments as E


C = recipe_helpers(__file__)

NAME = "p1_fig5"
TITLE = "MNIST FCN/CNN: digital SGD vs Analog SGD vs Tiki-Taka over the dynamic range τ"
PAPER = "P1 Fig. 5 + tables"
SEED = 20240605

#: the paper's table (test accuracy %, mean ± std), THEORY §5.1
PAPER_TABLE = {
    "fcn": {"digital": (98.15, 0.04), "asgd": [(11.35, 0.00), (97.71, 0.63), (97.78, 0.36)],
            "tt": [(97.64, 0.17), (97.62, 0.05), (97.50, 0.11)]},
    "cnn": {"digital": (99.16, 0.08), "asgd": [(88.99, 0.89), (92.15, 0.48), (93.45, 0.46)],
            "tt": [(98.84, 0.07), (98.87, 0.04), (98.86, 0.07)]},
}

_ARCH = {"fcn": {"taus": [0.70, 0.78, 0.80], "batch": 10}, "cnn": {"taus": [0.6, 0.7, 0.8], "batch": 8}}
_BASE = {"lr_digital": 0.1, "lr_analog": 0.05, "fast_lr": 0.01, "step_size": 35, "step_gamma": 0.1,
         "periphery": "p1", "dataset": "auto", "last": 5}
SCALES = {
    "quick": {**_BASE, "last": 1, "archs": ["fcn"], "fcn": {"n_train": 1000, "n_test": 500, "epochs": 1},
              "repeats": 1, "columnwise": False},
    # CNN: 6000 images x 3 epochs x 2 repeats is the smallest budget tried that separates the
    # algorithms (digital 84.5 %, Analog SGD 67.6/69.2/71.0 %, TT 76.5/77.4/76.0 % on Fashion-MNIST);
    # 1500 images x 2 epochs x 1 repeat left TT and Analog SGD within noise
    "default": {**_BASE, "last": 1, "archs": ["fcn", "cnn"], "fcn": {"n_train": 6000, "n_test": 2000, "epochs": 2},
                "cnn": {"n_train": 6000, "n_test": 2000, "epochs": 3, "periphery": "none"}, "repeats": 2,
                "columnwise": False},
    "paper": {**_BASE, "archs": ["fcn", "cnn"], "fcn": {"n_train": None, "n_test": None, "epochs": 80},
              "cnn": {"n_train": None, "n_test": None, "epochs": 80}, "repeats": 3, "columnwise": True},
}


def settings(arch: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Digital, then Analog SGD at each τ, then TT at each τ."""
    a = _ARCH[arch]
    run = {**cfg[arch], "arch": arch, "batch": a["batch"], "step_size": cfg["step_size"],
           "step_gamma": cfg["step_gamma"], "periphery": cfg[arch].get("periphery", cfg["periphery"])}
    out = [{**run, "alg": "digital", "lr": cfg["lr_digital"]}]
    for alg in ("asgd", "tt"):
        for tau in a["taus"]:
            out.append({**run, "alg": alg, "lr": cfg["lr_analog"], "fast_lr": cfg["fast_lr"],
                        "columnwise": cfg["columnwise"], "device": {"kind": "softbounds", "tau": tau}})
    return out


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    return E.run_archs(cfg, seed, settings)


def _labels(arch: str) -> list[str]:
    return C.tau_labels(_ARCH[arch]["taus"])


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    return C.plot_accuracy_curves(data, _labels, lambda arch: f"{arch.upper()} on {data['dataset']}")


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    res = []
    ds = str(data["dataset"])
    for arch in ("fcn", "cnn"):
        if f"acc_{arch}" not in data:
            continue
        acc = data[f"acc_{arch}"]
        n = int(data[f"n_test_{arch}"])
        m, sd = E.final_accuracy(acc, int(cfg["last"]))
        se = E.binomial_se(m, n) / np.sqrt(acc.shape[1])
        taus = _ARCH[arch]["taus"]
        tab = PAPER_TABLE[arch]
        paper_vals = [tab["digital"][0]] + [v[0] for v in tab["asgd"]] + [v[0] for v in tab["tt"]]
        labels = _labels(arch)
        table = "; ".join(f"{lab}: ours {100 * m[i]:.2f} vs paper {paper_vals[i]:.2f}" for i, lab in enumerate(labels))
        nt = len(taus)
        asgd, tt = m[1:1 + nt], m[1 + nt:]
        se_a, se_t = se[1:1 + nt], se[1 + nt:]
        # TT vs Analog SGD at the smallest tau (paper: FCN 97.64 vs 11.35, CNN 98.84 vs 88.99)
        diff = tt[0] - asgd[0]
        unc = C.K_SIGMA * float(np.hypot(se_t[0], se_a[0]))
        res.append(C.claim(f"{NAME}.{arch}_tt_beats_asgd_small_tau",
                           f"{arch.upper()} on {ds}: at the smallest τ = {taus[0]:g} Tiki-Taka reaches a higher test "
                           f"accuracy than Analog SGD (paper {arch.upper()}/MNIST: TT {tab['tt'][0][0]} vs ASGD "
                           f"{tab['asgd'][0][0]}). Table — {table}",
                           "TT − ASGD > 0 (beyond 3 binomial standard errors)", diff, unc, bool(diff > unc),
                           PAPER))
        # digital above every analog setting
        gap = float(m[0] - m[1:].max())
        unc = C.K_SIGMA * float(np.hypot(se[0], se[1:][np.argmax(m[1:])]))
        res.append(C.claim(f"{NAME}.{arch}_digital_best",
                           f"{arch.upper()} on {ds}: digital SGD is at least as accurate as every analog setting "
                           f"(paper: {tab['digital'][0]} above all analog entries)",
                           "digital − best analog ≥ −3 s.e.", gap, unc, bool(gap >= -unc), PAPER))
        # Analog SGD improves with tau (paper: monotone in both tables)
        inc = float(asgd[-1] - asgd[0])
        unc = C.K_SIGMA * float(np.hypot(se_a[-1], se_a[0]))
        stuck = bool(np.all(asgd < 0.1 + C.K_SIGMA * se_a))
        note = (" — not testable at this scale: Analog SGD is still on the network's initial plateau (at chance) "
                "at every τ; see the recipe docstring" if stuck else "")
        res.append(C.claim(f"{NAME}.{arch}_asgd_improves_with_tau",
                           f"{arch.upper()} on {ds}: Analog SGD accuracy increases from τ = {taus[0]:g} to "
                           f"τ = {taus[-1]:g} (paper: {tab['asgd'][0][0]} → {tab['asgd'][-1][0]}){note}",
                           "ASGD(τ_max) − ASGD(τ_min) > 0 beyond 3 s.e.", inc, unc, bool(inc > unc), PAPER))
    return res
