r"""Rasch et al. (Nat. Commun. 2024) Fig. 3 — a constant gradient through TT-v2, c-TTv2 and AGAD, with and
without a reference offset.

Set-up (the figure's stated settings): a 5×5 tile, only the first element plotted; soft-bounds devices
(τ = 1, range ±1) with step δ = 0.05 and every spread 0.3: bound variation σ_b, up/down asymmetry σ_±,
device-to-device step variation σ_d-to-d and cycle-to-cycle noise σ_c-to-c (pulsed updates, stochastic
rounding). The fast array A's symmetric point is compensated (aihwkit ``subtract_symmetry_point``) and,
in the second row, offset by 0.8 against the reference (the paper's r = a* − 0.8: A reads +0.8 at its
symmetric point); A starts at its symmetric point, C at 0. The gradient is constant: every update has
the same input x = 1 and error d = 1, so the desired write −λ_A d xᵀ pushes every A element down and C
should move down too. The reference is read every 25 updates (all columns), the choppers switch at
regular intervals (every ``1/in_chop_prob`` reads) for c-TTv2 and AGAD. λ_A = ``lr_fast`` and
``transfer_lr`` (H in pulses of C, λ_H = transfer_lr/δ) are our choice (not stated in the caption); the
traces are A as read (blue), the buffer H (green, threshold ±1 dotted), C (orange), for AGAD the running
mean p (reddish purple) and the frozen reference p_ref (orange); grey dashed lines mark chopper switches.

Claims (over all elements of every trial; trials are independent device/pulse seeds, the paper shows one
element): without offset all three move C the right way; with the offset TT-v2 breaks down — the
elements whose A cannot read below the reference (A's lower bound above 0, decided from the device
realisation before the run) move the wrong way, and TT-v2's mean progress falls below a quarter of its
offset-free value — c-TTv2 only slows down (less progress, same direction), and AGAD's progress equals its
offset-free progress (within 3 se + δ). Resolving power: the claims compare movements of at least one
pulse δ against 3 × the c2c spread of a pulse averaged over the elements (declared from the config).

The earlier version of this recipe programmed a tile to a random target under a noisy gradient (the
Fig. 4 task with a uniform offset); that is what ``rasch_fig4`` measures over the whole (σ_r, n_states)
grid, so it was replaced by the figure's own constant-gradient set-up.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import convergence as cv
from convergence.experiments import recipe_kit as C
from convergence.physics.reference_device import offset_softbounds
from convergence.theory.verdicts import ResolvingPower, decide
from convergence.tile import transfer_family as T
from convergence.tile.programming import constant_gradient_run

NAME = "rasch_fig3"
TITLE = ("Constant gradient: TT-v2 breaks down, c-TTv2 slows down, AGAD is exact under a reference offset "
         "(5×5, δ = 0.05)")
PAPER = "Rasch et al. 2024 Fig. 3"
SEED = 20240304

_BASE = {"n": 5, "dw_min": 0.05, "tau": 1.0, "spread": 0.3, "offsets": [0.0, 0.8], "x": 1.0, "d": 1.0,
         "lr_fast": 0.01, "transfer_lr": 0.025, "transfer_every": 25, "in_chop_prob": 0.25,
         "tail_weightening": 5.0, "trace_every": 5}
SCALES = {
    "quick": {**_BASE, "steps": 800, "trials": 6},
    "default": {**_BASE, "steps": 2500, "trials": 12},
    "paper": {**_BASE, "steps": 5000, "trials": 32},
}
ALGS = ("ttv2", "c-ttv2", "agad")
LABELS = {"ttv2": "TT-v2", "c-ttv2": "c-TTv2", "agad": "AGAD"}


def devices(cfg: dict[str, Any], offset: float, seed: np.random.SeedSequence) -> tuple[Any, Any]:
    """(A's device, C's device): soft bounds with every spread ``spread``; A's symmetric point at ``offset``."""
    n, trials, s = int(cfg["n"]), int(cfg["trials"]), float(cfg["spread"])
    rng = np.random.default_rng(C.sub(seed, 1))           # the same device draws for every offset and algorithm
    spreads = dict(asym_dtod=s, dw_min_dtod=s, range_dtod=s, tau=float(cfg["tau"]))
    dev_a = offset_softbounds((trials, n, n), rng, skew=offset, **spreads)
    dev_c = offset_softbounds((trials, n, n), rng, **spreads)
    return dev_a, dev_c


def make_algorithm(name: str, cfg: dict[str, Any], dev_a: Any, dev_c: Any) -> T.TransferAlgorithm:
    """TT-v2 / c-TTv2 / AGAD, pulsed with c2c noise, all columns read every ``transfer_every`` updates."""
    common = dict(mode=cv.Pulsed(float(cfg["dw_min"]), c2c=float(cfg["spread"])), device_fast=dev_a,
                  transfer_lr=float(cfg["transfer_lr"]), transfer_every=int(cfg["transfer_every"]), n_reads=None)
    lr, p = float(cfg["lr_fast"]), float(cfg["in_chop_prob"])
    if name == "ttv2":
        return T.ttv2(lr, dev_c, **common)
    if name == "c-ttv2":
        return T.chopped_ttv2(lr, dev_c, in_chop_prob=p, chop_random=False, **common)
    if name == "agad":
        return T.agad(lr, dev_c, in_chop_prob=p, tail_weightening=float(cfg["tail_weightening"]), **common)
    raise ValueError(f"unknown algorithm {name!r}")


def _run(item: tuple[dict[str, Any], str, float, np.random.SeedSequence]) -> dict[str, np.ndarray]:
    cfg, name, offset, seed = item
    n, trials = int(cfg["n"]), int(cfg["trials"])
    dev_a, dev_c = devices(cfg, offset, seed)
    x = np.full((trials, 1, n), float(cfg["x"]))
    d = np.full((trials, 1, n), float(cfg["d"]))
    r = constant_gradient_run(make_algorithm(name, cfg, dev_a, dev_c), x, d, int(cfg["steps"]),
                              np.random.default_rng(C.sub(seed, 2)), a0=dev_a.symmetric_point)
    every = int(cfg["trace_every"])
    out = {k: r[k][:, 0] for k in ("a", "h", "w", "chop", "mean", "ref")}          # trial 0, element (0, 0)
    out["w_mean"] = r["w_all"][::every].mean(axis=(2, 3))                           # (records, trials)
    out["w_final"] = r["w_all"][-1]
    out["a_low"] = np.broadcast_to(dev_a.bounds[0], r["w_all"][-1].shape).copy()  # A's lowest visible value
    return out


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence) -> dict[str, np.ndarray]:
    """Element traces (alg, offset, step), mean-C traces (alg, offset, record, trial), final C and A's lower
    bounds (alg, offset, trial, n, n)."""
    offsets = [float(o) for o in cfg["offsets"]]
    out = C.parallel_map(_run, [(cfg, a, o, seed) for a in ALGS for o in offsets])
    shape = (len(ALGS), len(offsets))
    data = {k: np.stack([o[k] for o in out]).reshape(*shape, *out[0][k].shape) for k in out[0]}
    data["offsets"] = np.array(offsets)
    data["steps"] = np.arange(int(cfg["steps"]) + 1, dtype=float)
    data["record_steps"] = data["steps"][::int(cfg["trace_every"])]
    return data


#: colours of the mean-C panels, apart from the trace colours (A C0, C C1, H C2, p C3, p_ref C4)
_ALG_COLORS = {"ttv2": "C6", "c-ttv2": "C5", "agad": "0.55"}
#: AGAD's grey is dashed: beside TT-v2's black and the grey bands, colour alone hardly tells them apart
_ALG_STYLES = {"agad": "--"}


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    from convergence.experiments import plotting as P

    offsets, k = data["offsets"], data["steps"]
    every = int(cfg["transfer_every"])
    with C.cv_style() as plt:
        fig, axes = plt.subplots(len(offsets), len(ALGS) + 1, figsize=P.figure_size("full", 0.3 * len(offsets) + 0.05),
                                 squeeze=False)
        for j, off in enumerate(offsets):
            for i, alg in enumerate(ALGS):
                ax = axes[j][i]
                a = data["a"][i, j]
                ax.plot(k, a, color="C0", lw=0.8, label="A (read)")
                ax.plot(k[::every], a[::every], ".", color="C0", ms=2.0)
                ax.plot(k, data["h"][i, j], color="C2", lw=0.8, label="H (pulses of C)")
                ax.plot(k, data["w"][i, j], color="C1", lw=1.4, label="C (weight)")
                if alg == "agad":
                    ax.plot(k, data["mean"][i, j], color="C3", lw=0.7, label="$p$ (running mean)")
                    ax.plot(k, data["ref"][i, j], color="C4", lw=0.7, label="$p_{\\mathrm{ref}}$ (reference)")
                for t in k[1:][np.diff(data["chop"][i, j]) != 0]:
                    ax.axvline(t, color="0.6", ls="--", lw=0.5)
                for y in (-1.0, 1.0):
                    ax.axhline(y, color="k", ls=":", lw=0.6)
                ax.axhline(0.0, color="0.3", lw=0.4)
                if off:
                    ax.axhline(off, color="C0", ls="--", lw=0.7, label="A's symmetric point (offset vs reference)")
                if i:
                    ax.sharey(axes[j][0])
                    ax.tick_params(labelleft=False)
                ax.set_ylim(-1.6, 1.6)
                ax.set_title(f"{LABELS[alg]}, offset {off:g}")
                ax.set_xlabel("updates")
            axes[j][0].set_ylabel("A, H, C (first element)")
            ax = axes[j][-1]
            for i, alg in enumerate(ALGS):
                m, se = C.mean_se(data["w_mean"][i, j], axis=1)
                C.band(ax, data["record_steps"], m, se, color=_ALG_COLORS[alg], ls=_ALG_STYLES.get(alg, "-"),
                       label=f"mean C, {LABELS[alg]}")
            ax.axhline(0.0, color="k", lw=0.6)
            ax.set_title(f"all elements, offset {off:g}")
            ax.set_xlabel("updates")
            ax.set_ylabel("mean of C")
        P.label_panels(axes.ravel())
        P.figure_legend(fig, ncols=4)
        title = (f"{PAPER}: constant gradient, 5×5, $\\delta$ = {cfg['dw_min']:g}, spreads $\\sigma_b$, "
                 f"$\\sigma_\\pm$, device-to-device and cycle-to-cycle = {cfg['spread']:g}; A read every {every} "
                 "updates (dots); traces of the first element in trial 0, dashed grey lines: chopper sign flips")
        fig.suptitle(P.wrap_text(fig, title, 0.95 * fig.get_figwidth(), plt.rcParams["figure.titlesize"]))
    return fig


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    offsets = list(data["offsets"])
    j0, j1 = offsets.index(0.0), int(np.argmax(np.abs(data["offsets"])))
    off, dw, k = float(data["offsets"][j1]), float(cfg["dw_min"]), C.K_SIGMA
    prog = data["w_final"].mean(axis=(3, 4))                  # (alg, offset, trial): mean C change (C starts at 0)
    n_el = data["w_final"][0, 0].size
    rp = ResolvingPower(effect=dw, margin=k * dw * float(cfg["spread"]) / np.sqrt(n_el))
    res = []
    m0, s0 = C.mean_se(prog[:, j0], axis=1)
    res.append(C.claim(f"{NAME}.correct_without_offset",
                       "Without offset TT-v2, c-TTv2 and AGAD all move the weights along the negative gradient "
                       "(mean C change below −δ)", "mean ΔC + 3se < −δ for each algorithm", m0, k * s0,
                       decide(bool(np.all(m0 + k * s0 < -dw)), rp).value, PAPER))
    # TT-v2 with offset: elements whose A cannot read below the reference (lower bound > 0) move the wrong way
    wf, low = data["w_final"][0, j1], data["a_low"][0, j1]
    broken = low > 0
    per_trial = np.array([wf[t][broken[t]].mean() if broken[t].any() else np.nan for t in range(wf.shape[0])])
    mb, sb = C.mean_se(per_trial)
    ratio = float(prog[0, j1].mean() / prog[0, j0].mean())
    ok = bool(mb - k * sb > 0 and ratio < 0.25)
    res.append(C.claim(f"{NAME}.ttv2_breaks",
                       f"TT-v2 breaks down with offset {off:g}: the {broken.mean():.0%} of elements whose A cannot "
                       "read "
                       f"below the reference (A's lower bound > 0) move the wrong way (mean ΔC {mb:.3g} > 0), and its "
                       f"overall progress is {ratio:.2f} of the offset-free one (< 0.25)",
                       "ΔC(broken elements) − 3se > 0; progress ratio < 0.25 [measured: ΔC broken, ratio]",
                       [mb, ratio], [k * sb, 0.0], decide(ok, rp).value, PAPER))
    d, dse = C.paired_diff(prog[1, j1], prog[1, j0])
    m1, s1 = C.mean_se(prog[1, j1])
    ok = bool(m1 + k * s1 < -dw and d - k * dse > 0)
    res.append(C.claim(f"{NAME}.cttv2_slows",
                       f"c-TTv2 with offset {off:g} only slows down: C still moves the right way (mean ΔC {m1:.3g}) "
                       f"but by {d:.3g} less than without offset (paired by seed)",
                       "ΔC(offset) + 3se < −δ and ΔC(offset) − ΔC(0) > 3se [measured: ΔC(offset), difference]",
                       [m1, d], [k * s1, k * dse], decide(ok, rp).value, PAPER))
    d, dse = C.paired_diff(prog[2, j1], prog[2, j0])
    ok, why = C.band_claim(abs(d), k * dse, dw)
    res.append(C.claim(f"{NAME}.agad_exact",
                       f"AGAD is unaffected by the offset {off:g}: its mean progress equals the offset-free one "
                       "(paired difference within 3 se + δ)", "|ΔC(offset) − ΔC(0)| ≤ 3se + δ",
                       [d, float(prog[2, j0].mean())], [k * dse, 0.0],
                       ok if ok == "inconclusive" else decide(ok, rp).value, PAPER, note=why))
    return res
