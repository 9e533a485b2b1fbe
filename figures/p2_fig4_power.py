r"""P2 Fig. 4 — FCN and CNN on a power-response device: digital SGD vs Analog SGD vs Tiki-Taka.

Setup (P2 experiments (docs/theory/theorems.md#p2-experiments), P2 §6 / App. K.3, the authors' scripts
NeurIPS-2025/S2-mnist-FCN.py and S2-mnist-CNN.py in github.com/Zhaoxian-Wu/analog-training): power response
q±(w) = (1 ∓ w/τ)^{γ_res} with γ_res = 0.5 (paper text; the commands of their NeurIPS-2025/README.md use soft bounds —
a stated discrepancy, we follow the paper), τ ∈ {0.5, 0.6, 0.7} (FCN) / {0.6, 0.7, 0.8} (CNN);
lr 0.1 digital, 0.05 analog, P rate 0.01; FCN StepLR(15, 0.5), CNN StepLR(35, 0.1); 30 epochs;
periphery ``p2`` (P2-CR Table 4: 7-bit DAC, 9-bit ADC, bounds 1/12, output noise 0.06).
``paper`` scale: pulsed updates with Δw_min = 2τ/1200 and at most BL = 32 pulses, full data, 3
repeats, column-wise TT transfer. ``default``: expected-mode updates, 6k/2k FCN images for 2 epochs
(1 repeat), 1.5k CNN training images for 2 epochs with 2 repeats, tested on all 10k test images,
without periphery (the periphery's convolution MVMs cost ~40 ms per CNN step), whole-matrix TT
transfer (see p1_fig5_mnist for why).
``long`` (optional scale, ``make figures-long``): the CNN only, all 60k/10k images, 8 epochs
(statistic: mean of the last 3 epochs), 2 paired repeats, the paper's column-wise TT transfer,
otherwise as ``default`` (20 min on 2 cores). Data: MNIST if present, else Fashion-MNIST.
Comparisons are paired over repeats (common random numbers) and over the test images.

Paper headline: TT within < 1 % of digital; Analog SGD slower on the FCN and stuck near 80 % on
the CNN.

TT's curves over τ nearly coincide (CNN at default, 2026-12-07: 67.07, 67.08 and 67.06 % after epoch 2). τ does
reach TT: the test suite trains each setting 10 steps on one batch and finds different weights for every τ. The
differences are smaller than Analog SGD's because TT's asymmetric drift acts on the small fast array (on the FCN
its entries stayed below 1e-4 over the first 12 steps) and reaches C only through the transfers, while Analog
SGD's acts on the visible weights.

Declared rules (before the run): the CNN's two claims are decided only with 2 paired repeats and at least
:data:`MIN_CNN_STEPS` steps of column-wise TT transfer (:func:`_cnn_rule`: the ``long`` budget, the least at
which the ordering below was resolved), so ``default`` leaves them inconclusive; a ``*_tt_near_digital`` claim
holds only when its 3-s.e. margin is below the 1-point band, else it would hold on noise, and fails when the gap
lies beyond band + margin (:func:`~convergence.experiments.recipe_kit.band_claim`).

The CNN's TT > Analog SGD ordering is not resolvable at ``default`` scale, and a larger budget does
not help within the main job. The paired gap is dominated by the seed: at ``default`` (all 10k test
images, so the paired test-set error is only ≈ 0.45 pp) TT − ASGD was 4.6/4.4/4.2 pp in repeat 0 and
0.6/−0.3/−1.1 pp in repeat 1 at τ = 0.6/0.7/0.8 — with one repeat the claim would have "held" only
because the seed spread went unestimated. Earlier, unpaired over test images: with P1 Fig. 5's CNN
budget (6k/2k images, 3 epochs, 2 repeats; 330 s here, over the ~160 s allowed) TT − ASGD =
1.3/2.1/1.4 pp ± 2.9 (3 s.e.) at τ = 0.6/0.7/0.8 (digital
84.1 %, ASGD 74.6/71.9/73.7 %, TT 75.9/74.0/75.1 %), and one 12k-image, 3-epoch run at τ = 0.6 gave
ASGD 76.0 vs TT 76.9 %. The power response with γ_res = 0.5 has G(w) ≈ w/(2τ) near 0, half the soft
bounds' asymmetry, so Analog SGD's drift caps the CNN only late in training (the paper's ≈ 80 %
plateau after 30 epochs of 60k images); the small original budget (1.5k training images, 2 epochs)
is kept and the claim says so.

Longer training separates them only with the paper's column-wise transfer. ``long`` as configured
(Fashion-MNIST, 2 paired repeats, mean of epochs 6–8, 10k test images; 20 min on 2 cores): digital
87.7 %, Analog SGD 72.4/75.0/75.7 %, TT 89.4/89.4/89.5 % at τ = 0.6/0.7/0.8, TT − ASGD =
17.0 ± 1.9, 14.4 ± 2.2, 13.8 ± 0.5 pp (s.e.) — the paper's picture: Analog SGD stalls near 75 % and
its test accuracy swings between epochs (63–79 %), while TT rises epoch by epoch (80.3–80.9 →
89.4–89.9 %, dips of at most 0.5 pp) and ends level with or above digital SGD at lr 0.1 (which
oscillates between 85 and 89 %). Under :func:`_cnn_rule` that run decides ``cnn_tt_beats_asgd``: it holds
(each gap is more than 3 s.e.). The same
budget with *whole-matrix* transfer (the ``default`` choice) did not separate them: TT
76.7/76.2/69.7 % vs Analog SGD 75.0/75.9/77.3 %, TT − ASGD = 1.7 ± 0.6, 0.3 ± 2.0, −7.6 ± 5.0 pp,
with TT swinging between epochs as much as Analog SGD (τ = 0.8, repeat 0: 77.6 → 62.8 → 58.4 %):
transferring all of P every step makes W follow P like heavy-momentum SGD, too aggressive at this
learning rate once the network is trained; one earlier whole-matrix run at τ = 0.6 (one repeat) had
shown TT 80.6 vs ASGD 73.3 %.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from convergence.experiments import recipe_kit as C
from convergence.experiments import networks as E


NAME = "p2_fig4"
TITLE = "Power response (γ_res = 0.5): digital SGD, Analog SGD and Tiki-Taka on the FCN and the CNN"
PAPER = "P2 Fig. 4"
SEED = 20250604

_ARCH = {"fcn": {"taus": [0.5, 0.6, 0.7], "batch": 10, "step_size": 15, "step_gamma": 0.5},
         "cnn": {"taus": [0.6, 0.7, 0.8], "batch": 8, "step_size": 35, "step_gamma": 0.1}}
_BASE = {"lr_digital": 0.1, "lr_analog": 0.05, "fast_lr": 0.01, "gamma_res": 0.5, "periphery": "p2",
         "dataset": "auto", "states": 1200, "bl": 32, "last": 3}
SCALES = {
    "quick": {**_BASE, "last": 1, "archs": ["fcn"], "fcn": {"n_train": 1000, "n_test": 500, "epochs": 1}, "repeats": 1,
              "columnwise": False, "pulsed": False},
    "default": {**_BASE, "last": 1, "archs": ["fcn", "cnn"], "fcn": {"n_train": 6000, "n_test": 2000, "epochs": 2},
                "cnn": {"n_train": 1500, "n_test": None, "epochs": 2, "periphery": "none", "repeats": 2}, "repeats": 1,
                "columnwise": False,
                "pulsed": False},
    # long (`make figures-long`, optional scale): the CNN only (the FCN's ordering shows at default), on all
    # images for 8 epochs with the paper's column-wise TT transfer; with whole-matrix transfer at this
    # budget TT oscillated like Analog SGD and did not separate from it (see the docstring)
    "long": {**_BASE, "archs": ["cnn"], "cnn": {"n_train": None, "n_test": None, "epochs": 8, "periphery": "none"},
             "repeats": 2, "columnwise": True, "pulsed": False},
    "paper": {**_BASE, "archs": ["fcn", "cnn"], "fcn": {"n_train": None, "n_test": None, "epochs": 30},
              "cnn": {"n_train": None, "n_test": None, "epochs": 30}, "repeats": 3, "columnwise": True,
              "pulsed": True},
}


def settings(arch: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    a = _ARCH[arch]
    run = {**cfg[arch], "arch": arch, "batch": a["batch"], "step_size": a["step_size"],
           "step_gamma": a["step_gamma"], "periphery": cfg[arch].get("periphery", cfg["periphery"])}
    out = [{**run, "alg": "digital", "lr": cfg["lr_digital"]}]
    for alg in ("asgd", "tt"):
        for tau in a["taus"]:
            mode = ({"mode": "pulsed", "dw_min": 2 * tau / cfg["states"], "bl": cfg["bl"]} if cfg["pulsed"]
                    else {"mode": "expected"})
            out.append({**run, "alg": alg, "lr": cfg["lr_analog"], "fast_lr": cfg["fast_lr"],
                        "columnwise": cfg["columnwise"], "mode": mode,
                        "device": {"kind": "power", "tau": tau, "gamma": cfg["gamma_res"]}})
    return out


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    return E.run_archs(cfg, seed, settings)


def _labels(arch: str) -> list[str]:
    return C.tau_labels(_ARCH[arch]["taus"])


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    def title(arch: str) -> str:
        return f"{arch.upper()}, power $\\gamma_{{\\mathrm{{res}}}}$ = {cfg['gamma_res']:g}, {data['dataset']}"

    return C.plot_accuracy_curves(data, _labels, title)


def _fcn_rule(cfg: dict[str, Any]) -> Any:
    """Declared before the run: the FCN's orderings need it off its initial plateau
    (:data:`~convergence.experiments.recipe_kit.MIN_FCN_STEPS` mini-batch steps of batch 10)."""
    return C.network_rule(C.sgd_steps(cfg["fcn"].get("n_train"), cfg["fcn"]["epochs"], _ARCH["fcn"]["batch"]))


#: The CNN's Tiki-Taka vs Analog SGD comparison was resolved only with the paper's column-wise transfer, 2 paired
#: repeats and all training images for 8 epochs (the ``long`` scale: 60 000 steps of batch 8; TT − ASGD 13.8 to
#: 17.0 pp, s.e. ≤ 2.2). At that budget with whole-matrix transfer, and at ``default`` (375 steps), the paired gap
#: changed sign with the seed (module docstring).
MIN_CNN_STEPS = 60000

#: The band of the ``*_tt_near_digital`` claims (P2 Fig. 4's headline: TT within 1 point of digital SGD).
NEAR = C.NEAR_DIGITAL


def _cnn_rule(cfg: dict[str, Any]) -> Any:
    """Declared before the run: the CNN's claims need 2 paired repeats and :data:`MIN_CNN_STEPS` mini-batch steps
    with column-wise TT transfer (Analog SGD's drift caps the CNN only late in training)."""
    c = cfg["cnn"]
    steps = C.sgd_steps(c.get("n_train"), c["epochs"], _ARCH["cnn"]["batch"]) if cfg["columnwise"] else 0
    return C.paired_rule(c.get("repeats", cfg["repeats"]),
                         C.count_rule(steps, MIN_CNN_STEPS, "training steps with column-wise TT transfer"
                                      + ("" if cfg["columnwise"] else " (which this scale does not use)"),
                                      "for Analog SGD's drift to cap the CNN"), 2)


def _fcn_band_rule(cfg: dict[str, Any]) -> Any:
    """Declared before the run: the FCN's band claim (TT near digital) needs
    :data:`~convergence.experiments.recipe_kit.MIN_BAND_REPEATS` paired repeats (its margin must hold the
    seed-to-seed spread), then the FCN's step rule."""
    return C.band_rule(int(cfg["fcn"].get("repeats", cfg["repeats"])), _fcn_rule(cfg))


def _gate(arch: str, cfg: dict[str, Any], band: bool = False) -> dict[str, Any]:
    """The claim's resolving-power rule: the FCN's step rule (with the repeats of a band claim), the CNN's
    :func:`_cnn_rule`."""
    fcn = _fcn_band_rule if band else _fcn_rule
    return {"rule": fcn if arch == "fcn" else _cnn_rule, "cfg": cfg, "scales": SCALES}


def table(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> str:
    """Final test accuracy (%) per network and setting, as the claims read it (the last ``last`` epochs), mean ± 3 s.e.
    over repeats (the repeats' spread only; the claims' paired margins also count the shared test set)."""
    rows = []
    for arch in C.networks_run(data):
        acc = data[f"acc_{arch}"]
        cells = C.accuracy_cells(acc, int(cfg[arch].get("last", cfg["last"])))
        rows += [[arch.upper(), lab, cell, acc.shape[1]] for lab, cell in zip(_labels(arch), cells)]
    return C.markdown_table(["network", "setting", f"ours on {data['dataset']} (%, ± {C.K_SIGMA:g} s.e.)",
                             "repeats"], rows)


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    res = []
    ds = str(data["dataset"])
    for arch in C.networks_run(data):
        acc = data[f"acc_{arch}"]
        n = int(data[f"n_test_{arch}"])
        cor = data.get(f"correct_{arch}")             # per-image correctness: test error paired over images
        last = int(cfg[arch].get("last", cfg["last"]))
        R = acc.shape[1]
        m, _ = E.final_accuracy(acc, last)
        nt = len(_ARCH[arch]["taus"])
        ia, it = np.arange(1, 1 + nt), np.arange(1 + nt, 1 + 2 * nt)
        reps = f"{R} paired repeat{'s' if R > 1 else ''}" + ("" if R > 1 else " (test-set error only)")
        diff, se = E.paired_difference(acc, it, ia, n, last, cor)
        unc = C.K_SIGMA * se
        res.append(C.claim(f"{NAME}.{arch}_tt_beats_asgd",
                           f"{arch.upper()} on {ds}, power response: Tiki-Taka is more accurate than Analog SGD "
                           "at every "
                           f"τ (paper Fig. 4, on MNIST: TT within <1 % of digital, ASGD lags; CNN ASGD ≈ 80 %; "
                           f"{reps}; all settings in the table with the figure)",
                           "TT − ASGD > 3 s.e. at each τ (paired)", diff.tolist(), unc.tolist(),
                           bool(np.all(diff > unc)), PAPER, **_gate(arch, cfg)))
        gap, se = E.paired_difference(acc, np.zeros_like(it), it, n, last, cor)
        near, why = C.band_claim(gap, C.K_SIGMA * se, NEAR)
        res.append(C.claim(f"{NAME}.{arch}_tt_near_digital",
                           f"{arch.upper()} on {ds}: Tiki-Taka is within 1 percentage point of digital SGD at every τ "
                           f"(paper Fig. 4 headline, on MNIST; expected to hold only at paper scale; {reps})",
                           f"digital − TT < {NEAR:g} + 3 s.e. (paired); holds only when 3 s.e. < {NEAR:g}",
                           gap.tolist(), (C.K_SIGMA * se).tolist(), near, PAPER, note=why, **_gate(arch, cfg, True)))
    return res
