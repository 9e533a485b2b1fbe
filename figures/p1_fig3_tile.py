r"""P1 Fig. 3 on the aihwkit-faithful tile: eq (3) vs the tile in expected, rounding and pulse-train modes.

Setup (P1 experiments (docs/theory/theorems.md#p1-experiments); ``run_AGD`` of the authors' script
NeurIPS-2024/S2-dynamic-verification.py in github.com/Zhaoxian-Wu/analog-training): least squares
D = 40, N = 100, A ~ N(0, 0.5²), x* ~ 0.3·N(0, I), labels A x*; ``Linear(40, 1)`` with a
**digital bias**, init 0, loss MSE/2, lr α = 0.03, 2500 iterations, τ ∈ {1, 1.5, 2, 2.5}.
Device: ``SoftBoundsReference(dw_min = τ/300, w_max = −w_min = τ, subtract_symmetry_point)``,
all variations and pulse noise 0. Periphery (forward and backward): ``w_noise = 0.1/s̄_A``
(s̄_A = mean singular value of A, additive-constant weight noise), ``inp_bound = out_bound = 10``,
no noise/bound management. Every iteration the full batch of 100 samples is read through the
noisy forward pass and applied as 100 sequential rank-1 updates with ``desired_bl = 5000``.

Curves per τ (means over repeats; EMA 0.8 for plotting only, as the paper):

* ``eq3`` — the paper's "AnalogGD Dynamic": P1 eq (3) on weights and bias with Gaussian gradient
  noise of std 0.1 (the paper's comparison curve; :func:`convergence.sim.simulate`);
* ``expected`` — the tile, per-sample expected update (the theory's recursion driven by the
  tile's own read noise);
* ``rounding`` — the tile, stochastic rounding of each element's pulse count;
* ``pulse_train`` — the tile, aihwkit's StochasticCompressed pulse trains with BL/update management.

The loss is recorded on the exact (noise-free) weights as MSE/(2D), as the script's
``get_loss(for_training=False)``. Plateaus are per-trial means over the last ``tail`` fraction.
aihwkit 1.2.0's own plateaus on this set-up (measured in a separate environment; aihwkit is not a dependency)
are compared with the pulse-train tile in ``tests/test_aihwkit_peer.py``.

At ``default`` (10 repeats, 2026-12-06): plateau ratio eq3/pulse-train 1.74 ± 0.20, 2.74 ± 0.48, 2.37 ± 0.37,
2.06 ± 0.38 (3 s.e.) at τ = 1, 1.5, 2, 2.5, so ``eq3_tracks_tile`` fails at τ = 1.5 (with 4 repeats the
margins, up to 1.5, had left it undecided); expected/pulse-train 0.78 … 0.18 (fails: at 300 states the pulse
granularity is not a higher-order effect here); rounding/pulse-train 0.94 … 1.11 (holds on margins up to 0.29,
undecided by the band rule below).

"Equals" claims are band claims: ratio = 1 within ``EQUAL_BAND`` (10 %, the tolerance of the toolkit's other
"≈ equal" claims, e.g. ``p1_fig4_left.large_tau_is_digital``). One holds only when every 3-s.e. margin is below the
band (with no band, "= 1 within 3 s.e." would hold whenever the run is too noisy to see a difference) and fails
when a ratio lies beyond band + margin, however wide the margin
(:func:`~convergence.experiments.recipe_kit.band_claim`); otherwise it is inconclusive.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import convergence as cv
from convergence.experiments import recipe_kit as C
from convergence.sim.simulate import tail_start
from convergence.physics.periphery import IOParameters
from convergence.tile.analog_tile import AnalogTile, UpdateParameters
from convergence.tile.programming import lsq_tile_losses
from convergence.physics.reference_device import SoftBoundsReference, concatenate_devices

NAME = "p1_fig3_tile"
TITLE = "P1 Fig. 3 on an aihwkit-like tile: eq (3) vs expected, rounding and pulse-train updates"
PAPER = "P1 Fig. 3"
SEED = 20240604

_BASE = {"d": 40, "n": 100, "sigma_a": 0.5, "x_scale": 0.3, "data_seed": 42, "lr": 0.03, "states": 300,
         "desired_bl": 5000, "grad_noise": 0.1, "weight_noise": 0.1, "io_bound": 10.0, "iters": 2500,
         "tail": 0.2, "ema": 0.8, "modes": ["eq3", "expected", "rounding", "pulse_train"]}
SCALES = {
    "quick": {**_BASE, "taus": [1.0, 2.5], "repeats": 2, "iters": 300},
    # the paper's 10 repeats: the whole recipe costs about 15 CPU-seconds, and with 4 repeats the 3-s.e. margins of
    # the plateau ratios (up to 1.5 at tau = 1.5) were too wide to place them against eq3_tracks_tile's factor 2
    "default": {**_BASE, "taus": [1.0, 1.5, 2.0, 2.5], "repeats": 10},
    "paper": {**_BASE, "taus": [1.0, 1.5, 2.0, 2.5], "repeats": 10},
}
LABELS = {"eq3": "eq (3), grad. noise 0.1", "expected": "tile: expected update",
          "rounding": "tile: stochastic rounding", "pulse_train": "tile: pulse trains (aihwkit)"}
STYLES = {"eq3": ("C1", "-"), "expected": ("C0", ":"), "rounding": ("C3", "--"), "pulse_train": ("C2", "-")}


def problem(cfg: dict[str, Any], data: Any = None) -> cv.LeastSquares:
    """The least-squares instance with the bias column (weights d + 1), loss MSE/2: the script's draw from
    ``cfg``, or the user's ``data`` — a :class:`~convergence.sim.objectives.LeastSquares` (its features without
    the bias column are used) or a pair ``(A, y)`` of features (n, d) and labels (n,)."""
    if data is None:
        return cv.LeastSquares(d=int(cfg["d"]), n=int(cfg["n"]), sigma_a=float(cfg["sigma_a"]),
                               x_scale=float(cfg["x_scale"]), bias=True, loss="half_mse",
                               seed=int(cfg["data_seed"]))
    if isinstance(data, cv.LeastSquares):
        A = data.A[:, :-1] if data.bias else data.A
        return cv.LeastSquares.from_data(A, data.b, bias=True, loss="half_mse")
    if isinstance(data, (tuple, list)) and len(data) == 2:
        return cv.LeastSquares.from_data(data[0], data[1], bias=True, loss="half_mse")
    raise cv.ConfigError("problem must be a LeastSquares or a pair (A, y)")


def run_eq3(cfg: dict[str, Any], tau: float, seed: np.random.SeedSequence, data: Any = None) -> np.ndarray:
    """P1 eq (3) with N(0, grad_noise²) gradient noise on weights and bias: (repeats, iters) losses/D."""
    obj = problem(cfg, data)
    traj = cv.simulate(cv.analog_sgd(float(cfg["lr"]), cv.SoftBounds(tau)), obj, cv.Gaussian(float(cfg["grad_noise"])),
                       0.0, int(cfg["iters"]), trials=int(cfg["repeats"]), seed=seed, record_every=1, progress=False)
    return (traj.metrics["loss_gap"] / obj.d).T


def run_tile(cfg: dict[str, Any], mode: str, seed: np.random.SeedSequence, data: Any = None) -> np.ndarray:
    """The tile experiment for all τ × repeats at once (trials axis): (n_taus, repeats, iters) losses/D.

    P1's least-squares loop on the tile with a digital bias (:func:`convergence.tile.programming.lsq_tile_losses`),
    the tile's update in its write ``mode``."""
    obj = problem(cfg, data)
    d, n, reps = obj.d, obj.n, int(cfg["repeats"])
    taus = [float(t) for t in cfg["taus"]]
    T = len(taus) * reps
    A = obj.A[:, :d]
    y_true = obj.b
    rng = np.random.default_rng(seed)
    dev = concatenate_devices([
        SoftBoundsReference(dw_min=t / float(cfg["states"]), w_max=t, w_min=-t, subtract_symmetry_point=True)
        .realize((reps, 1, d), rng) for t in taus])
    s_mean = float(np.linalg.svd(A, compute_uv=False).mean())
    io = IOParameters(w_noise=float(cfg["weight_noise"]) / s_mean, inp_bound=float(cfg["io_bound"]),
                      out_bound=float(cfg["io_bound"]))
    tile = AnalogTile(dev, (T, 1, d), update=UpdateParameters(mode=mode, desired_bl=int(cfg["desired_bl"])),
                      forward_io=io, backward_io=io, rng=rng)
    out = 0.5 * lsq_tile_losses(tile, A, y_true, float(cfg["lr"]), int(cfg["iters"])) / (n * d)
    iters = out.shape[0]
    return out.T.reshape(len(taus), reps, iters)


def _run(item: tuple[dict[str, Any], str, int, np.random.SeedSequence, Any]) -> np.ndarray:
    """One task: the eq-3 recursion at tau index ``t_i``, or the tile in ``mode`` at every tau."""
    cfg, mode, t_i, seed, problem = item
    return run_eq3(cfg, float(cfg["taus"][t_i]), seed, problem) if mode == "eq3" else run_tile(cfg, mode, seed,
                                                                                                problem)


def compute(cfg: dict[str, Any], seed: np.random.SeedSequence, problem: Any = None) -> dict[str, np.ndarray]:
    """Mean curves (mode, tau, iter) and per-trial plateaus (mode, tau, repeat).

    ``problem``: a user's least-squares instance (a LeastSquares or ``(A, y)``); default the script's draw."""
    taus = [float(t) for t in cfg["taus"]]
    modes = list(cfg["modes"])
    # independent tasks (the runner's pool): eq3 per tau, each tile mode with all taus on its trials axis
    items = [(cfg, mode, t_i, C.sub(seed, 0, t_i), problem) for m_i, mode in enumerate(modes) if mode == "eq3"
             for t_i in range(len(taus))]
    items += [(cfg, mode, -1, C.sub(seed, 1, m_i), problem) for m_i, mode in enumerate(modes) if mode != "eq3"]
    out = iter(C.parallel_map(_run, items))
    eq3 = [np.stack([next(out) for _ in taus]) for mode in modes if mode == "eq3"]
    tiles = list(out)
    curves = np.stack([eq3.pop(0) if mode == "eq3" else tiles.pop(0) for mode in modes])  # (mode, tau, rep, iter)
    iters = curves.shape[-1]
    start = tail_start(iters, float(cfg["tail"]))
    return {"taus": np.array(taus), "steps": np.arange(iters, dtype=float),
            "curve_mean": curves.mean(axis=2), "plateau": curves[..., start:].mean(axis=-1)}


def plot(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> Any:
    from convergence.experiments import plotting as P

    taus = data["taus"]
    modes = list(cfg["modes"])
    with C.cv_style() as plt:
        ncol = min(len(taus), 4)
        nrow = -(-len(taus) // ncol)
        fig, axes = plt.subplots(nrow, ncol, figsize=P.figure_size("full", (0.45 if ncol <= 2 else 0.36) * nrow),
                                 sharey=True, squeeze=False)
        for i, ax in enumerate(axes.ravel()[:len(taus)]):
            for m_i, mode in enumerate(modes):
                color, ls = STYLES.get(mode, (None, "-"))
                y = C.ema(data["curve_mean"][m_i, i], float(cfg["ema"]), C.record_spacing(data["steps"]))
                ax.plot(data["steps"], C.positive_floor(y), ls, color=color, label=LABELS.get(mode, mode))
            ax.set_yscale("log")
            ax.set_title(f"τ = {taus[i]:g}, $\\Delta w_{{\\min}}$ = τ/{cfg['states']}")
            ax.set_xlabel("iteration $k$")
        for ax in axes.ravel()[len(taus):]:
            ax.set_visible(False)
        for row in axes:
            row[0].set_ylabel("$f(W_k)-f^*$ (MSE/2D, EMA)")
        P.label_panels(axes.ravel()[:len(taus)])
        P.figure_legend(fig, ncols=4)
        fig.suptitle(f"{PAPER} on an aihwkit-like tile: α = {cfg['lr']:g}, desired BL {cfg['desired_bl']}, "
                     f"weight noise {cfg['weight_noise']:g}/$\\bar{{s}}_A$")
    return fig


#: the band of the "equals" claims (relative plateau difference), declared with them
EQUAL_BAND = C.EQUAL_BAND


def claims(data: dict[str, np.ndarray], cfg: dict[str, Any]) -> list[dict[str, Any]]:
    modes = list(cfg["modes"])
    taus = data["taus"]
    pl = data["plateau"]
    res = []
    if "eq3" in modes and "pulse_train" in modes:
        e, p = modes.index("eq3"), modes.index("pulse_train")
        rs = [C.ratio_se(pl[e, i], pl[p, i]) for i in range(len(taus))]
        r, se = np.array([x[0] for x in rs]), np.array([x[1] for x in rs])
        ok, why = C.within_verdict(r, C.K_SIGMA * se, 2.0, low=0.5)
        res.append(C.claim(f"{NAME}.eq3_tracks_tile", "P1's eq (3) (gradient noise 0.1) tracks the aihwkit-like "
                           "pulse-train tile (read noise 0.1/s̄_A) on the Fig. 3 problem: plateau ratio "
                           "eq3/pulse-train within a factor 2 at every τ",
                           "ratio ± 3 s.e. in [0.5, 2] per τ = " + ", ".join(f"{t:g}" for t in taus) +
                           " (fails when one lies wholly outside)", r, C.K_SIGMA * se, ok, PAPER, note=why))
    if "rounding" in modes and "pulse_train" in modes:
        a, p = modes.index("rounding"), modes.index("pulse_train")
        rs = [C.ratio_se(pl[a, i], pl[p, i]) for i in range(len(taus))]
        r, se = np.array([x[0] for x in rs]), np.array([x[1] for x in rs])
        ok, why = C.band_claim(np.abs(r - 1.0), C.K_SIGMA * se, EQUAL_BAND)
        res.append(C.claim(f"{NAME}.rounding_equals_pulse_train", "Stochastic rounding of per-element counts "
                           "and correlated pulse trains give the same plateau (only the mean pulse count "
                           "matters at this granularity)",
                           f"ratio rounding/pulse-train = 1 within {EQUAL_BAND:g} + 3 s.e.; holds only when "
                           f"3 s.e. < {EQUAL_BAND:g}", r, C.K_SIGMA * se, ok, "new", note=why))
    if "expected" in modes and "pulse_train" in modes:
        a, p = modes.index("expected"), modes.index("pulse_train")
        rs = [C.ratio_se(pl[a, i], pl[p, i]) for i in range(len(taus))]
        r, se = np.array([x[0] for x in rs]), np.array([x[1] for x in rs])
        ok, why = C.band_claim(np.abs(r - 1.0), C.K_SIGMA * se, EQUAL_BAND)
        res.append(C.claim(f"{NAME}.expected_equals_pulse_train", "With the same read noise, the tile's "
                           "expected (dw_min → 0) update reproduces the pulse-train plateau at 300 states "
                           "(docs/theory/device-model.md#paper-pulse-settings: granularity is a higher-order effect)",
                           f"ratio expected/pulse-train = 1 within {EQUAL_BAND:g} + 3 s.e.; holds only when "
                           f"3 s.e. < {EQUAL_BAND:g}", r, C.K_SIGMA * se, ok, PAPER, note=why))
    return res
