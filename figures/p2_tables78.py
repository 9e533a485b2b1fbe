r"""P2 Tables 7–8 — cycle-to-cycle variation (FCN and CNN) and the response-function ablation (FCN) on MNIST.

* **Table 7** (P2-CR Table 7 / v3 Table 5): pulsed updates with cycle-to-cycle noise
  σ_c ∈ {10, 30, 60, 90, 120} % (P2 eq 26: each pulse w ← w + s Δw_min (q_s(w) + σ_c ξ)),
  Analog SGD vs Tiki-Taka. The device is not stated in the table; we use P2's main setting, the
  power response γ_res = 0.5 with τ = 0.6, Δw_min = 2τ/1200, at most BL = 32 pulses (P2-CR Table 4).
  Paper (FCN): DSGD 98.17; ASGD 97.22/96.97/96.33/95.99/96.19; TT 97.66/97.07/97.70/97.44/96.97 —
  accuracy is nearly flat in σ_c (cycle noise is a higher-order effect, P2 Thm 4).
  Paper (CNN): DSGD 99.09; ASGD 92.68/93.36/93.07/91.87/91.57; TT 98.74/98.89/98.68/98.92/98.85.
  The CNN half (P2 Fig. 4's LeNet-like CNN, batch 8, StepLR(35, 0.1)) uses the same device and pulses,
  column-wise TT transfer at every scale and, below ``paper``, no periphery (as p2_fig4_power's CNN).
* **Table 8** (P2-CR Table 8 / v3 Table 6): γ_res ∈ {0.5, 1, 2} × τ ∈ {0.6, 0.7, 0.8}, power and
  exponential responses, Analog SGD vs TT (expected-mode updates below ``paper``, pulsed at ``paper``
  like the paper's AIHWKit runs). Paper: ASGD fails (< 15 %) for γ_res ≥ 1 and for exponential at small τ;
  TT ≈ 97 % everywhere.

Scales: ``quick`` seconds; ``default`` 6k/5k images, 2 epochs (1200 steps: the least that gets the
sigmoid FCN off its initial plateau, see SCALES), 2 paired repeats (Table 7's FCN half 4), a subset of the grids
(σ_c ∈ {0.1, 1.2}; γ_res ∈ {0.5, 2}; τ = 0.7 only), whole-matrix TT transfer; ``paper`` full data, 30 epochs, all
cells, 3 repeats, column-wise transfer; ``long`` (``make figures-long``) every σ_c and every (γ_res, τ) cell
of both responses at the default's per-run budget (6000 images × 2 epochs, 5000 test images), 2 paired repeats
(Table 7's FCN half 4). The FCN periphery is P2's (``p2`` preset). Data: MNIST if present, else Fashion-MNIST.

The CNN half of Table 7 is decided only at ``long`` (rule :func:`_cnn_rule`: 2 paired repeats and
:data:`MIN_CNN_STEPS` = 3750 mini-batch steps, where the CNN's column-wise TT is past its initial rise).
``default`` runs a small case within about half a CPU-minute (σ_c ∈ {0.1, 1.2}, 1500 images × 2 epochs =
375 steps, 1 repeat, 2000 test images), which that rule leaves inconclusive; there the column-wise TT is
still near chance (13–15 %). ``long`` trains it on 7500 images × 4 epochs (3752 steps; statistic: mean of the last 2
epochs), 5000 test images, 2 paired repeats, at σ_c ∈ {0.1, 0.6, 1.2}: three of the paper's five levels,
so that it ran in 41 minutes on 2 cores shared with other jobs (all five levels: 22 instead of 14 runs;
``paper`` has all five).

Run at ``long`` (2026-12-06, Fashion-MNIST, 5000 test images, both halves: 18 minutes on 2 workers sharing the
machine with two other jobs): Table 7, Analog SGD 20.04 / 20.73 / 21.20 / 22.09 / 22.36 % and TT 76.48 / 76.37 /
76.64 / 77.06 / 77.83 % over σ_c = 10 … 120 %; paired change from 10 to 120 %, ± 3 s.e. over the 2 repeats and
the test set: Analog SGD +2.3 ± 2.8 pp (``t7_asgd_flat_in_c2c`` inconclusive: the margin is above the 2-point
band, mostly seed-to-seed spread), TT +1.4 ± 1.3 pp (``t7_tt_flat_in_c2c`` holds); Table 8, TT − ASGD between
+50.6 and +53.5 points (3 s.e. 3.9–6.2) in all 12 cells with γ_res ≥ 1, power and exponential, τ = 0.6 / 0.7 /
0.8 (holds). ``default`` runs the same per-run budget with the same seeds, so its cells σ_c = 10 and 120 % repeated
these numbers while the periphery was computed in float64. Since 2026-12-07 the FCN computes it in its float32 (same
noise draws, a DAC/ADC level differs by one step for about 1 output in 10⁵), and ``default`` gave Analog SGD
20.32 / 22.42 % and TT 76.07 / 77.85 % at σ_c = 10 / 120 %: TT's paired change +1.8 ± 2.4 pp left
``t7_tt_flat_in_c2c`` inconclusive, where the float64 run's +1.4 ± 1.3 pp had decided it; two repeats estimate the
seed-to-seed spread poorly, so the margin itself moved that much between two such runs. Table 7's FCN half
therefore runs 4 paired repeats (``repeats7``; the recipe took 518 CPU-seconds instead of 324): Analog SGD
20.22 / 22.49 % and TT 75.67 / 77.76 %, paired changes +2.3 ± 1.8 and +2.1 ± 1.3 pp, so both FCN flat claims hold
(2026-12-07). Later that day the pulse loop began drawing one normal per applied pulse instead of one per element
and pass: the same noise, another realisation of it, and the recipe in 6 instead of 9 CPU-minutes by ``--dry-run``.
That run gave Analog SGD 20.24 / 23.11 % and TT 75.26 / 77.81 %, paired changes +2.9 ± 2.1 and +2.5 ± 1.1 pp: TT's
flat claim holds, and Analog SGD's is inconclusive, its margin (2.06 pp) just above the 2-point band. Four repeats
sit at the edge of resolving it. On an AVX-512 machine (2026-12-07) OpenBLAS runs another float32 matrix kernel,
which sums in another order, so a few borderline stochastic roundings go the other way and the runs are another
realisation of the same experiment. There the default gave Analog SGD 20.00 / 23.18 % and TT 75.61 / 78.15 %, paired
changes +3.2 ± 1.0 and +2.5 ± 1.9 pp: Analog SGD's flat claim fails (its interval lies above the band) and TT's
holds. With ``OPENBLAS_CORETYPE=Haswell`` the same machine repeated the numbers of the previous run exactly. Over
the realisations so far Analog SGD's change was +2.3 to +3.2 pp: at this budget, where Analog SGD is barely off the
plateau, more cycle-to-cycle noise helps it by about the band's width, and the verdict between "inconclusive" and
"fails" depends on how well 4 repeats estimate the spread. An earlier long run (2000 test images) and the earlier
one-repeat default reported both FCN flat claims as holding; with one repeat the margin is the test set's alone, so
band claims now need 2 paired repeats (:func:`~convergence.experiments.recipe_kit.band_rule`).

The CNN half alone at ``long`` (2026-12-06, Fashion-MNIST; accuracy = mean of epochs 3–4 and of the 2
repeats, ± s.e. from the repeat spread and the test set): digital SGD 83.9 ± 0.6 %; Analog SGD 70.2 ± 1.3 /
69.7 ± 1.8 / 68.8 ± 1.7 % and TT 70.7 ± 0.7 / 70.8 ± 0.7 / 70.7 ± 0.8 % at σ_c = 10 / 60 / 120 %. Paired
change from σ_c = 10 to 120 %: Analog SGD −1.33 ± 0.39 pp (s.e.), TT −0.03 ± 0.19 pp — both within 2 pp
(``t7_cnn_asgd_flat_in_c2c``, ``t7_cnn_tt_flat_in_c2c``: hold). Analog SGD's small but resolved loss is the
paper's too (92.68 → 91.57 on MNIST); TT's curve is flat to 0.2 pp. At 3752 steps TT is still rising
(35–40 → 59–60 → 68–70 → 72–73 % over the 4 epochs) while Analog SGD swings between epochs (74 → 63 % in
repeat 0), as in p2_fig4_power's long run; at this budget TT is not yet ahead of Analog SGD (the paper's CNN:
98.7 vs 92.7 %).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from convergence.experiments import recipe_kit as C
from convergence.experiments import networks as E


NAME = "p2_tables78"
TITLE = "Cycle-to-cycle variation (Table 7, FCN and CNN) and response-function ablation (Table 8, FCN)"
PAPER = "P2 Tables 7-8"
SEED = 20250708

PAPER_T7 = {"c2c": [0.1, 0.3, 0.6, 0.9, 1.2], "digital": 98.17, "asgd": [97.22, 96.97, 96.33, 95.99, 96.19],
            "tt": [97.66, 97.07, 97.70, 97.44, 96.97]}
#: Table 7, CNN half (same σ_c levels)
PAPER_T7_CNN = {"c2c": [0.1, 0.3, 0.6, 0.9, 1.2], "digital": 99.09, "asgd": [92.68, 93.36, 93.07, 91.87, 91.57],
                "tt": [98.74, 98.89, 98.68, 98.92, 98.85]}
#: Table 8 (FCN): [response][gamma] -> per tau (0.6, 0.7, 0.8); None = "< 15" (total failure)
PAPER_T8 = {"power": {0.5: {"asgd": [96.01, 97.40, 97.38], "tt": [96.92, 97.05, 96.82]},
                      1.0: {"asgd": [None] * 3, "tt": [97.39, 97.33, 97.34]},
                      2.0: {"asgd": [None] * 3, "tt": [96.93, 97.27, 97.18]}},
            "exp": {0.5: {"asgd": [None, None, 94.00], "tt": [97.27, 97.39, 97.16]},
                    1.0: {"asgd": [None] * 3, "tt": [97.46, 97.49, 97.25]},
                    2.0: {"asgd": [None] * 3, "tt": [97.19, 97.72, 97.06]}}}
TAUS8 = [0.6, 0.7, 0.8]

_BASE = {"lr_digital": 0.1, "lr_analog": 0.05, "fast_lr": 0.01, "periphery": "p2", "dataset": "auto",
         "step_size": 15, "step_gamma": 0.5, "t7_tau": 0.6, "t7_gamma": 0.5, "states": 1200, "bl": 32, "last": 3}
#: Table 7's CNN half (P2 Fig. 4's CNN: batch 8, StepLR(35, 0.1)); the FCN's c2c levels, device and pulses.
#: No periphery below ``paper`` (it doubles the CNN's cost per step) and column-wise TT transfer at every scale:
#: with whole-matrix transfer the CNN's TT accuracy swings between epochs as much as Analog SGD's (p2_fig4_power).
_CNN = {"batch": 8, "step_size": 35, "step_gamma": 0.1, "periphery": "none", "columnwise": True}
SCALES = {
    "quick": {**_BASE, "last": 1, "n_train": 500, "n_test": 300, "epochs": 1, "repeats": 1, "columnwise": False,
              "c2c": [0.1, 1.2], "gammas": [0.5, 2.0], "taus": [0.7], "pulsed8": False,
              "cnn": {**_CNN, "c2c": [0.1, 1.2], "n_train": 200, "n_test": 300, "epochs": 1, "repeats": 1, "last": 1}},
    # default: 6000 images x 2 epochs = 1200 steps. With 2000 x 2 (400 steps) the sigmoid FCN was still on
    # its initial plateau (digital 24 %, Analog SGD at chance), so Table 7 compared plateau-escape times:
    # TT 17.7 % (sigma_c 0.1) vs 50.4 % (1.2). At 1200 steps: digital 60.5 %, ASGD 23.2/21.6 %,
    # TT 75.4/78.6 % (sigma_c 0.1/1.2), i.e. flat within noise; compute ~100 s on 2 busy cores. At 400 steps
    # TT with sigma_c = 1.2 was ahead for 3 of 3 seeds (+12 to +33 pp) and the gain came from the noise on P
    # (c2c 1.2 on P only: 47.2/37.6 %, on W only: 33.1/32.5 %, both 0.1: 30.2/32.4 %): W integrates P's slowly
    # varying noise through the every-step transfer, which perturbs the plateau; by 1200-1800 steps it is gone.
    # 2 paired repeats: a flat claim is a band claim, whose margin must hold the seed-to-seed spread
    # (recipe_kit.band_rule); the second repeat adds about 80 CPU-seconds. 5000 test images: the test set's part
    # of the margin (3 s.e. of the paired error) was 1.9 / 2.2 pp (ASGD / TT) at 2000; evaluation is cheap.
    # Table 7's FCN half has 4 paired repeats (repeats7): with 2, TT's margin was 1.3 pp in one run and 2.4 pp in
    # the next (float32 periphery), i.e. one degree of freedom could not place it below the 2-point band; the two
    # more repeats cost about 190 CPU-seconds
    "default": {**_BASE, "last": 1, "n_train": 6000, "n_test": 5000, "epochs": 2, "repeats": 2, "repeats7": 4,
                "columnwise": False,
                "c2c": [0.1, 1.2], "gammas": [0.5, 2.0], "taus": [0.7], "pulsed8": False,
                # the CNN half's small case (~375 steps, 1 repeat; inconclusive by _cnn_rule): the budget allows
                # about a minute more than the FCN tables
                "cnn": {**_CNN, "c2c": [0.1, 1.2], "n_train": 1500, "n_test": 2000, "epochs": 2, "repeats": 1,
                        "last": 1}},
    # long (make figures-long): every cell of both tables at the default's per-run budget, 2 paired repeats (Table
    # 7's FCN half 4, as at default; never fewer repeats or test images than the default: a larger scale must not
    # resolve less)
    "long": {**_BASE, "last": 1, "n_train": 6000, "n_test": 5000, "epochs": 2, "repeats": 2, "repeats7": 4,
             "columnwise": False,
             "c2c": [0.1, 0.3, 0.6, 0.9, 1.2], "gammas": [0.5, 1.0, 2.0], "taus": TAUS8, "pulsed8": False,
             # the CNN half: MIN_CNN_STEPS steps (7500 images x 4 epochs), 2 paired repeats, three of the five
             # sigma_c levels (all five and the FCN tables would take over an hour on this shared machine)
             "cnn": {**_CNN, "c2c": [0.1, 0.6, 1.2], "n_train": 7500, "n_test": 5000, "epochs": 4, "repeats": 2,
                     "last": 2}},
    "paper": {**_BASE, "n_train": None, "n_test": None, "epochs": 30, "repeats": 3, "columnwise": True,
              "c2c": [0.1, 0.3, 0.6, 0.9, 1.2], "gammas": [0.5, 1.0, 2.0], "taus": TAUS8, "pulsed8": True,
              "cnn": {**_CNN, "c2c": [0.1, 0.3, 0.6, 0.9, 1.2], "n_train": None, "n_test": None, "epochs": 30,
                      "repeats": 3, "last": 3,
                      "periphery": "p2"}},
}


def _run(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"arch": "fcn", "batch": 10, "epochs": cfg["epochs"], "step_size": cfg["step_size"],
            "step_gamma": cfg["step_gamma"], "periphery": cfg["periphery"], "n_train": cfg["n_train"],
            "n_test": cfg["n_test"]}


def _t7(run: dict[str, Any], cfg: dict[str, Any], columnwise: bool, levels: list[float]) -> list[dict[str, Any]]:
    """Table 7's settings for one network: digital SGD, then Analog SGD and TT at each σ_c of ``levels``."""
    tau = cfg["t7_tau"]
    out = [{**run, "alg": "digital", "lr": cfg["lr_digital"]}]
    for alg in ("asgd", "tt"):
        for c2c in levels:
            out.append({**run, "alg": alg, "lr": cfg["lr_analog"], "fast_lr": cfg["fast_lr"],
                        "columnwise": columnwise,
                        "mode": {"mode": "pulsed", "dw_min": 2 * tau / cfg["states"], "bl": cfg["bl"], "c2c": c2c},
                        "device": {"kind": "power", "tau": tau, "gamma": cfg["t7_gamma"]}})
    return out


def settings7(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    return _t7(_run(cfg), cfg, cfg["columnwise"], cfg["c2c"])


def settings7_cnn(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Table 7 on the CNN: the FCN's device and pulses with the CNN's run settings and σ_c levels (``cfg["cnn"]``)."""
    c = cfg["cnn"]
    run = {"arch": "cnn", "batch": c["batch"], "epochs": c["epochs"], "step_size": c["step_size"],
           "step_gamma": c["step_gamma"], "periphery": c["periphery"], "n_train": c["n_train"], "n_test": c["n_test"]}
    return _t7(run, cfg, c["columnwise"], c["c2c"])


def settings8(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    run = _run(cfg)
    out = []
    for kind in ("power", "exp"):
        for g in cfg["gammas"]:
            for tau in cfg["taus"]:
                mode = ({"mode": "pulsed", "dw_min": 2 * tau / cfg["states"], "bl": cfg["bl"]} if cfg["pulsed8"]
                        else {"mode": "expected"})
                for alg in ("asgd", "tt"):
                    out.append({**run, "alg": alg, "lr": cfg["lr_analog"], "fast_lr": cfg["fast_lr"],
                                "columnwise": cfg["columnwise"], "mode": mode,
                                "device": {"kind": kind, "tau": tau, "gamma": g}})
    return out


def WORK(cfg: dict[str, Any]) -> float:
    """Cost model for ``figures --dry-run``: training images through a network, summed over every run of both
    tables and the CNN half (runs × repeats × images × epochs). The generic count would multiply the CNN half's
    counts into the FCN tables' and Table 7's σ_c levels into Table 8's grid (estimating 10⁷ CPU-hours at
    ``paper``), while they run one after the other."""
    c = cfg["cnn"]
    fcn = (len(settings7(cfg)) * _repeats7(cfg) + len(settings8(cfg)) * int(cfg["repeats"])) * cfg["epochs"]
    cnn = len(settings7_cnn(cfg)) * int(c["repeats"]) * c["epochs"]
    return float(fcn * (cfg["n_train"] or C.FULL_TRAIN) + cnn * (c["n_train"] or C.FULL_TRAIN))


def _repeats7(cfg: dict[str, Any]) -> int:
    """Paired repeats of Table 7's FCN half (``repeats7``, else ``repeats``). Repeat r draws from the seed (r,) in
    every table, so more repeats add runs and leave the first ones as they were."""
    return int(cfg.get("repeats7", cfg["repeats"]))


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    name, arrays = E.load_data(cfg)
    r7 = E.run_grid(settings7(cfg), arrays, C.sub(seed, 7), _repeats7(cfg))
    r8 = E.run_grid(settings8(cfg), arrays, C.sub(seed, 8), int(cfg["repeats"]))
    out = {"dataset": np.asarray(name), "acc7": r7["acc"], "acc8": r8["acc"], "correct7": r7["correct"],
           "correct8": r8["correct"], "n_test": np.asarray(len(arrays[3]))}
    return {**out, **compute_cnn(cfg, seed)}


def compute_cnn(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Table 7's CNN half: ``acc7_cnn``, ``correct7_cnn`` (:func:`E.run_grid`) and ``n_test_cnn``.

    Its own child stream ``(70,)`` of the recipe's seed (the FCN tables draw from ``(7,)`` and ``(8,)``), so
    the FCN results do not depend on it and it can be run alone."""
    c = cfg["cnn"]
    _, arrays = E.load_data({**cfg, "n_train": c["n_train"], "n_test": c["n_test"]})
    r = E.run_grid(settings7_cnn(cfg), arrays, C.sub(seed, 70), int(c["repeats"]))
    return {"acc7_cnn": r["acc"], "correct7_cnn": r["correct"], "n_test_cnn": np.asarray(len(arrays[3]))}


def _t8_table(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> np.ndarray:
    """(response, gamma, tau, alg) final accuracies."""
    m, _ = E.final_accuracy(data["acc8"], int(cfg["last"]))
    return m.reshape(2, len(cfg["gammas"]), len(cfg["taus"]), 2)


def _t7_panel(ax: Any, m7: np.ndarray, levels: list[float], paper: dict[str, Any], title: str) -> None:
    """Table 7 for one network: accuracy (%) against σ_c, ours (repeat mean, last epochs) and the paper's."""
    nc = len(levels)
    c = 100 * np.asarray(levels)
    ax.plot(c, 100 * m7[1:1 + nc], "o--", label="Analog SGD (ours)")
    ax.plot(c, 100 * m7[1 + nc:], "s-", label="Tiki-Taka (ours)")
    ax.axhline(100 * m7[0], color="k", label="Digital SGD (ours)")
    pc = 100 * np.asarray(paper["c2c"])            # the paper's numbers are on MNIST, whatever data ours ran on
    ax.plot(pc, paper["asgd"], "o:", color="C0", alpha=0.4, label="Analog SGD (paper, MNIST)")
    ax.plot(pc, paper["tt"], "s:", color="C1", alpha=0.4, label="Tiki-Taka (paper, MNIST)")
    ax.set_xlabel("cycle-to-cycle variation $\\sigma_c$ (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt
    from convergence.experiments import plotting as P

    m7, _ = E.final_accuracy(data["acc7"], int(cfg["last"]))
    t8 = _t8_table(data, cfg)
    cnn = "acc7_cnn" in data
    with P.paper_style():
        fig, grid = plt.subplots(2, 2, figsize=P.figure_size("full", 0.75), squeeze=False)
        t7_axes = [grid[0, 0]] + ([grid[0, 1]] if cnn else [])
        if not cnn:
            grid[0, 1].remove()
        _t7_panel(grid[0, 0], m7, cfg["c2c"], PAPER_T7, f"Table 7, FCN ({data['dataset']})")
        if cnn:
            m7c, _ = E.final_accuracy(data["acc7_cnn"], int(cfg["cnn"]["last"]))
            _t7_panel(grid[0, 1], m7c, cfg["cnn"]["c2c"], PAPER_T7_CNN, f"Table 7, CNN ({data['dataset']})")
        for j, kind in enumerate(("power", "exp")):
            ax = grid[1, j]
            im = ax.imshow(100 * t8[j].reshape(len(cfg["gammas"]), -1), vmin=0, vmax=100, cmap="viridis",
                           aspect="auto")
            ax.set_yticks(range(len(cfg["gammas"])), [f"{g:g}" for g in cfg["gammas"]])
            ax.set_xticks(range(2 * len(cfg["taus"])),
                          [f"{a}\nτ={t:g}" for t in cfg["taus"] for a in ("ASGD", "TT")], fontsize=6.5)
            ax.grid(False)
            for (gi, k), v in np.ndenumerate(100 * t8[j].reshape(len(cfg["gammas"]), -1)):
                ax.text(k, gi, f"{v:.1f}", ha="center", va="center", color="w" if v < 60 else "k", fontsize=6.5)
            ax.set_title(f"Table 8, FCN, {kind} response")
            ax.set_xlabel("algorithm, device range")
            ax.set_ylabel("response exponent γ")
        fig.colorbar(im, ax=list(grid[1]), shrink=0.9, label="test accuracy (%)")
        P.label_panels(t7_axes + list(grid[1]))
        P.figure_legend(fig, t7_axes, ncols=3)
    return fig


def _rule(cfg: dict[str, Any]) -> Any:
    """Declared before the run: the FCN (batch 10) must train long enough to leave its initial plateau
    (:data:`~convergence.experiments.recipe_kit.MIN_FCN_STEPS`; see the default scale's comment)."""
    return C.network_rule(C.sgd_steps(cfg["n_train"], cfg["epochs"], 10))


#: Training steps (batch 8) Table 7's CNN claims need: the CNN's column-wise Tiki-Taka rises slowly (one column of
#: each P transferred per mini-batch). Measured here (Fashion-MNIST, 10k images, τ = 0.6, σ_c = 0.1, one seed):
#: 46.7 / 65.8 / 71.0 % after 1250 / 2500 / 3750 steps, still rising by about 5 pp per 1250 steps; its c2c
#: dependence is read from 3750 steps on, where it is within about 10 pp of its one-epoch accuracy on all 60k
#: images (80 %, p2_fig4_power's long run). Analog SGD stops rising by about 750 steps.
MIN_CNN_STEPS = 3750


def _band_rule(cfg: dict[str, Any]) -> Any:
    """Declared before the run: Table 7's FCN claims are band claims, decided with
    :data:`~convergence.experiments.recipe_kit.MIN_BAND_REPEATS` paired repeats (the margin must hold the
    seed-to-seed spread) and the FCN's :func:`_rule`."""
    return C.band_rule(_repeats7(cfg), _rule(cfg))


def _cnn_rule(cfg: dict[str, Any]) -> Any:
    """Declared before the run: Table 7's CNN half needs 2 paired repeats (a band claim; on the CNN the seed, not
    the test set, dominates a paired accuracy gap; see p2_fig4_power) and :data:`MIN_CNN_STEPS` mini-batch steps."""
    c = cfg["cnn"]
    steps = C.count_rule(C.sgd_steps(c["n_train"], c["epochs"], c["batch"]), MIN_CNN_STEPS, "training steps",
                         "for the CNN's column-wise Tiki-Taka to be past its initial rise")
    return C.band_rule(int(c["repeats"]), steps)


def _t7_claims(data: dict[str, np.ndarray], cfg: dict[str, Any], arch: str) -> list[dict[str, Any]]:
    """Table 7 for one network: per algorithm, accuracy nearly flat in σ_c (paired change from the smallest to
    the largest σ_c)."""
    cnn = arch == "cnn"
    acc, cor = (data["acc7_cnn"], data.get("correct7_cnn")) if cnn else (data["acc7"], data.get("correct7"))
    n = int(data["n_test_cnn"] if cnn else data["n_test"])
    last = int(cfg["cnn"]["last"] if cnn else cfg["last"])
    paper_t7, rule, tag = (PAPER_T7_CNN, _cnn_rule, "cnn_") if cnn else (PAPER_T7, _band_rule, "")
    ds = str(data["dataset"])
    R = acc.shape[1]
    reps = f"{R} paired repeat{'s' if R > 1 else ''}" + ("" if R > 1 else ", test-set error only")
    m7, _ = E.final_accuracy(acc, last)
    levels = cfg["cnn"]["c2c"] if cnn else cfg["c2c"]
    nc = len(levels)
    res = []
    # paper: within ~1 pp for ASGD, ~0.7 pp for TT (FCN); ~1.8 pp and ~0.2 pp (CNN)
    for name, first in (("asgd", 1), ("tt", 1 + nc)):
        arr = m7[first:first + nc]
        drop, se = E.paired_difference(acc, first, first + nc - 1, n, last, cor)
        unc = C.K_SIGMA * float(se)
        paper = paper_t7[name]
        learned = bool(arr[0] > 0.1 + C.K_SIGMA * E.binomial_se(arr[0], n))     # 10 classes: chance = 0.1
        note = "" if learned else " — not testable here: at σ_c = %g the network stayed at chance" % levels[0]
        flat, why = C.band_claim(abs(drop), unc, 0.02, also=learned)
        res.append(C.claim(f"{NAME}.t7_{tag}{name}_flat_in_c2c",
                           f"{arch.upper()} on {ds}: {name.upper()} accuracy barely changes (either way) from "
                           f"σ_c = {levels[0]:g} to "
                           f"{levels[-1]:g} (paper, on MNIST: {paper[0]} → {paper[-1]}; ours on {ds}: "
                           f"{', '.join(f'{100 * v:.2f}' for v in arr)}; {reps}){note}",
                           "learns (above chance) and |change| < 0.02 (2 pp) + 3 s.e. (paired; accuracies as "
                           "fractions); holds only when 3 s.e. < 0.02", -float(drop), unc, flat, PAPER, rule=rule,
                           cfg=cfg, scales=SCALES, note=why))
        # measured: the change acc(last σ_c) − acc(first σ_c), as the statement reads
    return res


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    """Paired differences over repeats (common random numbers; :func:`E.paired_difference`)."""
    res = _t7_claims(data, cfg, "fcn")
    if "acc7_cnn" in data:
        res += _t7_claims(data, cfg, "cnn")
    ds = str(data["dataset"])
    n = int(data["n_test"])
    last = int(cfg["last"])
    R = data["acc8"].shape[1]        # Table 8's repeats (Table 7's FCN half may have more: repeats7)
    reps = f"{R} paired repeat{'s' if R > 1 else ''}" + ("" if R > 1 else ", test-set error only")
    # Table 8: TT beats ASGD where the paper reports ASGD failure (gamma >= 1)
    G, T = len(cfg["gammas"]), len(cfg["taus"])
    idx = np.arange(2 * G * T * 2).reshape(2, G, T, 2)          # settings8 order: (response, gamma, tau, alg)
    big = np.asarray(cfg["gammas"]) >= 1.0
    if np.any(big):
        sel = idx[:, big]
        diff, se = E.paired_difference(data["acc8"], sel[..., 1].ravel(), sel[..., 0].ravel(), n, last,
                                       data.get("correct8"))
        unc = C.K_SIGMA * se
        res.append(C.claim(f"{NAME}.t8_tt_beats_asgd_gamma_ge_1",
                           f"FCN on {ds}: for γ_res ≥ 1 (power and exponential) Tiki-Taka is more accurate than Analog "
                           f"SGD in every cell (paper Table 8, on MNIST: ASGD < 15 %, TT ≈ 97 %; {reps})",
                           "TT − ASGD > 3 s.e. in every cell (paired)", diff.tolist(), unc.tolist(),
                           bool(np.all(diff > unc)), PAPER, rule=_rule, cfg=cfg, scales=SCALES))
    return res
