r"""The papers' MNIST network settings (P1 §5.3 / App. I.2, P2 §6 / App. K.3), shared by the figure recipes.

A *setting* is a JSON-able dict::

    {"arch": "fcn"|"cnn", "alg": "digital"|"asgd"|"tt",
     "device": {"kind": "softbounds"|"power"|"exp", "tau": .., "gamma": ..},
     "mode": {"mode": "expected"} | {"mode": "pulsed", "dw_min": .., "bl": .., "c2c": ..},
     "periphery": "none"|"p1"|"p2", "lr": .., "fast_lr": .., "gamma_tt": ..,
     "epochs": .., "batch": .., "step_size": .., "step_gamma": .., "n_train": .., "n_test": ..,
     "omega": .., "learn_out_scale": ..}

:func:`run_setting` trains one network and returns its per-epoch test accuracy plus the final
analog arrays (for the P1 Fig. 7 histograms). Every weight layer is analog for ``asgd``/``tt``
(aihwkit ``convert_to_analog`` of the whole network, as the papers' scripts do); biases are digital.

Periphery presets (docs/theory/device-model.md#paper-pulse-settings):

* ``p1`` — P1 App. I.2 "AIHWKit standard settings": 8-bit input/output quantisation
  (``inp_res = out_res = 1/254``), input bound 1, output bound 20, output noise 0.1, abs-max noise
  management and iterative bound management (forward). Backward: same without bound management.
* ``p2`` — P2-CR Table 4: DAC 7 bit (1/126), input bound 1, ADC 9 bit (1/510), output bound 12,
  output noise N(0, 0.06²), noise/bound management as above.

Settings choices stated for the report: the TT fast rate β is absolute (P1/P2 β = 0.01), the
transfer rate α = lr (aihwkit ``transfer_lr = 1`` scaled by the SGD lr); one column of P is
transferred per mini-batch (P1 App. I.2; aihwkit ``units_in_mbatch``); the initial weights are
left unmapped (``omega = 0``: device weights = network weights, PyTorch's default initialisation, far
inside every τ; the papers' ω is not stated and mapping to a small ω slows learning by s²) with a
learnable digital output scale; the mini-batch is written as its separate up and down requests
(``accumulate="signs"``, the first-order effect of aihwkit's sample-by-sample pulsing, whose asymmetric
drift ``Σ_b|ΔW_b|⊙G`` is larger than the net step's).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from convergence._validate import ConfigError
from convergence.experiments.parallel import parallel_map
from convergence.physics.devices import Exponential, Power, SoftBounds, saturation
from convergence.physics.periphery import IOParameters
from convergence.physics.pulses import Expected, Pulsed
from convergence.nn.model import fcn, lenet
from convergence.nn.optim import AnalogSGD, DigitalSGD, TikiTakaV1
from convergence.nn.schedules import StepLR
from convergence.nn.training import train

__all__ = ["P1_IO", "P2_IO", "make_device", "make_mode", "make_factory", "build", "run_setting", "periphery_pair",
           "run_grid", "run_archs", "load_data", "final_accuracy", "tail_accuracy", "paired_difference", "binomial_se"]

P1_IO = IOParameters(inp_res=1 / 254, out_res=1 / 254, inp_bound=1.0, out_bound=20.0, out_noise=0.1,
                     noise_management="abs_max", bound_management="iterative")
P2_IO = IOParameters(inp_res=1 / 126, out_res=1 / 510, inp_bound=1.0, out_bound=12.0, out_noise=0.06,
                     noise_management="abs_max", bound_management="iterative")


def periphery_pair(name: str) -> tuple[Any, Any]:
    """(forward, backward) IOParameters of a preset; backward never uses bound management."""
    if name == "none":
        return None, None
    io = {"p1": P1_IO, "p2": P2_IO}.get(name)
    if io is None:
        raise ConfigError(f"periphery must be none, p1 or p2 (got {name!r})")
    d = io.as_dict()
    d["bound_management"] = "none"
    return io, IOParameters(**d)


def make_device(spec: dict[str, Any]) -> Any:
    kind = spec.get("kind", "softbounds")
    tau = float(spec["tau"])
    if kind == "softbounds":
        return SoftBounds(tau)
    if kind == "power":
        return Power(tau, float(spec.get("gamma", 1.0)))
    if kind in ("exp", "exponential"):
        return Exponential(tau, float(spec.get("gamma", 1.0)))
    raise ConfigError(f"device kind must be softbounds, power or exp (got {kind!r})")


def make_mode(spec: dict[str, Any] | None) -> Any:
    if not spec or spec.get("mode", "expected") == "expected":
        return Expected()
    return Pulsed(dw_min=float(spec["dw_min"]), bl=int(spec.get("bl", 1_000_000)), c2c=float(spec.get("c2c", 0.0)))


def make_factory(setting: dict[str, Any]) -> Any:
    """A per-layer optimizer factory for the setting's algorithm."""
    alg = setting["alg"]
    if alg == "digital":
        return lambda name, shape: DigitalSGD()
    device = make_device(setting["device"])
    mode = make_mode(setting.get("mode"))
    acc = setting.get("accumulate", "signs")
    if alg == "asgd":
        return lambda name, shape: AnalogSGD(device, mode, accumulate=acc)
    if alg == "tt":
        return lambda name, shape: TikiTakaV1(device, fast_lr=float(setting.get("fast_lr", 0.01)), transfer_lr=1.0,
                                              columnwise=bool(setting.get("columnwise", True)),
                                              gamma=float(setting.get("gamma_tt", 0.0)), mode=mode,
                                              accumulate=acc)
    raise ConfigError(f"alg must be digital, asgd or tt (got {alg!r})")


def build(setting: dict[str, Any], seed: int | np.random.SeedSequence) -> Any:
    analog = setting["alg"] != "digital"
    kw: dict[str, Any] = {}
    if analog:
        fwd, bwd = periphery_pair(setting.get("periphery", "none"))
        kw = {"io_forward": fwd, "io_backward": bwd, "omega": float(setting.get("omega", 0.0)),
              "learn_out_scale": bool(setting.get("learn_out_scale", True))}
    arch = setting["arch"]
    if arch == "fcn":
        return fcn(make_factory(setting), seed=seed, **kw)
    if arch == "cnn":
        return lenet(make_factory(setting), seed=seed, **kw)
    raise ConfigError(f"arch must be fcn or cnn (got {arch!r})")


def run_setting(setting: dict[str, Any], data: tuple[np.ndarray, ...], seed: np.random.SeedSequence,
                progress: bool | None = None) -> dict[str, np.ndarray]:
    """Train one network; returns ``test_acc`` (epochs,), ``test_correct`` (epochs, n_test) bool (which
    test images each epoch's network classifies correctly), ``train_loss``, and the first layer's
    analog arrays ``w_fc1`` (device units), ``sat_fc1`` (saturation, |W|/τ for soft bounds), ``p_fc1``."""
    xtr, ytr, xte, yte = data
    if setting["arch"] == "cnn":
        xtr, xte = xtr.reshape(-1, 1, 28, 28), xte.reshape(-1, 1, 28, 28)
    else:
        xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    init_seed = np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (0,))
    train_seed = np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (1,))
    model = build(setting, int(init_seed.generate_state(1)[0]))
    sched = StepLR(float(setting["lr"]), int(setting.get("step_size", 35)), float(setting.get("step_gamma", 0.1)))
    hist = train(model, xtr, ytr, xte, yte, epochs=int(setting["epochs"]), batch_size=int(setting["batch"]),
                 schedule=sched, seed=train_seed, progress=progress, desc=_label(setting), record_correct=True)
    out = {"test_acc": hist["test_acc"], "test_correct": hist["test_correct"], "train_loss": hist["train_loss"]}
    name, layer = next(iter(model.weighted()))
    arrays = {n: (a, dev) for n, a, dev in layer.optimizer.arrays(layer.core.state)}
    w, dev = arrays["w"]
    out["w_first"] = np.asarray(w, dtype=np.float32).ravel()
    if dev is not None:
        out["sat_first"] = np.asarray(saturation(dev, np.asarray(w, float)), np.float32).ravel()
    else:
        tau = float(setting.get("device", {}).get("tau", math.inf))
        out["sat_first"] = (np.abs(w) / tau).astype(np.float32).ravel()
    if "a" in arrays:          # the fast array P of Tiki-Taka (the transfer algorithms' A)
        out["p_first"] = np.asarray(arrays["a"][0], np.float32).ravel()
    return out


def _label(setting: dict[str, Any]) -> str:
    dev = setting.get("device", {})
    return f"{setting['arch']}-{setting['alg']}" + (f"-tau{dev.get('tau')}" if setting["alg"] != "digital" else "")


# -- helpers shared by the figure recipes ------------------------------------------------------

def load_data(cfg: dict[str, Any]) -> tuple[str, tuple[np.ndarray, ...]]:
    """(dataset name, prepared arrays) for a recipe cfg: MNIST if present, else Fashion-MNIST.

    cfg keys: ``dataset`` (auto|mnist|fashion-mnist), ``data_dir``, ``n_train``, ``n_test``
    (None = all), ``data_seed``. Raises :class:`convergence.nn.data.DataUnavailable` (one message).
    """
    from convergence.nn import data as _data
    ds = _data.load_mnist_like(cfg.get("dataset", "auto"), cfg.get("data_dir"))
    arrays = _data.prepare(ds, n_train=cfg.get("n_train"), n_test=cfg.get("n_test"), flatten=True,
                           seed=int(cfg.get("data_seed", 0)))
    return ds.name, arrays


def run_grid(settings: list[dict[str, Any]], arrays: tuple[np.ndarray, ...], seed: np.random.SeedSequence,
             repeats: int, keep_weights: bool = False) -> dict[str, np.ndarray]:
    """Run every setting ``repeats`` times, in parallel when the figures runner provides a map.

    Common random numbers: repeat ``r`` of *every* setting uses the seed ``(r,)`` — the same initial
    weights, mini-batch order and noise streams — so settings are compared in pairs and the
    repeat-to-repeat spread of a paired difference (:func:`paired_difference`) measures the effect
    of the setting, not of the seed (P1 Fig. 5's τ ordering is invisible unpaired at a laptop budget,
    because when each run leaves the sigmoid FCN's initial plateau depends mostly on the seed).

    Returns ``acc`` (S, R, E), ``correct`` (S, R, E, n_test) bool (per test image; epochs a diverged
    run did not reach are False, as their accuracy is NaN) and, if ``keep_weights``, ``w``/``sat``/``p``
    of the first layer of repeat 0 (S, n) (``p`` zeros for algorithms without P) and ``w_absmax`` (S, R), the
    largest ``|W|`` of the first layer of every run."""
    items = [(i, r) for i in range(len(settings)) for r in range(repeats)]
    tasks = [(settings[i], np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + (r,)))
             for i, r in items]
    results = _parallel_map(_run_task, tasks, shared=arrays)   # the data set travels once per worker
    epochs = max(len(res["test_acc"]) for res in results)
    n_test = len(arrays[3])
    acc = np.full((len(settings), repeats, epochs), np.nan)
    correct = np.zeros((len(settings), repeats, epochs, n_test), dtype=bool)
    for (i, r), res in zip(items, results):
        acc[i, r, :len(res["test_acc"])] = res["test_acc"]
        correct[i, r, :len(res["test_correct"])] = res["test_correct"]
    out = {"acc": acc, "correct": correct}
    if keep_weights:
        first = [res for (i, r), res in zip(items, results) if r == 0]
        out["w"] = np.stack([f["w_first"] for f in first])
        out["sat"] = np.stack([f["sat_first"] for f in first])
        out["p"] = np.stack([f.get("p_first", np.zeros_like(f["w_first"])) for f in first])
        out["w_absmax"] = np.zeros((len(settings), repeats))
        for (i, r), res in zip(items, results):
            out["w_absmax"][i, r] = np.max(np.abs(res["w_first"]))
    return out


def run_archs(cfg: dict[str, Any], seed: np.random.SeedSequence, settings: Any) -> dict[str, np.ndarray]:
    """Accuracy curves for every architecture in ``cfg["archs"]`` (the FCN/CNN figure recipes).

    ``settings(arch, cfg)`` lists the runs of one architecture; architecture ``k`` draws from
    the child stream ``(k,)`` of ``seed``; ``cfg[arch]["repeats"]`` overrides ``cfg["repeats"]``.
    Returns ``acc_<arch>``, ``correct_<arch>``, ``n_test_<arch>`` and ``dataset``.
    """
    from convergence.rng import child

    out: dict[str, np.ndarray] = {}
    for k, arch in enumerate(cfg["archs"]):
        name, arrays = load_data({**cfg[arch], "dataset": cfg["dataset"], "data_dir": cfg.get("data_dir")})
        repeats = int(cfg[arch].get("repeats", cfg["repeats"]))
        res = run_grid(settings(arch, cfg), arrays, child(seed, k), repeats)
        out[f"acc_{arch}"] = res["acc"]
        out[f"correct_{arch}"] = res["correct"]
        out[f"n_test_{arch}"] = np.asarray(len(arrays[3]))
        out["dataset"] = np.asarray(name)
    return out


def _run_task(arrays: tuple[np.ndarray, ...],
              task: tuple[dict[str, Any], np.random.SeedSequence]) -> dict[str, np.ndarray]:
    """One (setting, seed) task on the shared data; module level so process pools can pickle it."""
    setting, seed = task
    return run_setting(setting, arrays, seed, progress=False)


def _parallel_map(fn: Any, items: list[Any], shared: Any = None) -> list[Any]:
    """The runner's parallel map (serial outside the figures runner), labelled "networks"."""
    return parallel_map(fn, items, desc="networks", shared=shared)


def final_accuracy(acc: np.ndarray, last: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """P1's table statistic: mean over the last ``last`` epochs of the repeat-mean accuracy, and the
    mean over those epochs of the across-repeat std (``acc`` (S, R, E), returns (S,), (S,))."""
    k = min(last, acc.shape[-1])
    tail = acc[..., -k:]
    return np.nanmean(tail.mean(axis=1), axis=-1), np.nanmean(tail.std(axis=1), axis=-1)


def tail_accuracy(acc: np.ndarray, last: int = 1) -> np.ndarray:
    """Per-run statistic: mean test accuracy over the last ``last`` epochs (``acc`` (S, R, E) → (S, R))."""
    k = min(max(int(last), 1), acc.shape[-1])
    return np.nanmean(acc[..., -k:], axis=-1)


def paired_difference(acc: np.ndarray, i: Any, j: Any, n_test: int, last: int = 1,
                      correct: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard error of ``acc[i] − acc[j]`` over repeats (runs of :func:`run_grid`).

    ``d_r = a_i,r − a_j,r`` with ``a`` the :func:`tail_accuracy` of repeat ``r``; the two runs of a
    repeat share their seed (common random numbers), and all runs share the test images. The
    estimate is the mean of ``d_{r,x} = c_i,r,x − c_j,r,x`` over repeats ``r`` and test images ``x``
    (``c`` = correct, averaged over the last epochs), a two-way (seed × image) design. Its standard
    error adds two parts:

    * seed: ``sd_r(d_r) / √R`` (sample sd, R − 1 degrees of freedom; 0 when R = 1, which the
      callers' claim texts then say);
    * test set, *paired over images* when ``correct`` (S, R, E, n_test) is given:
      ``sd_x(d̄_x) / √n_test`` with ``d̄_x`` the repeat mean of ``d_{r,x}`` — the McNemar-type
      variance, in which images that both settings classify alike contribute nothing. Without
      ``correct`` it falls back to ``√((p_i(1 − p_i) + p_j(1 − p_j)) / n_test)``, the binomial error
      of two accuracies taken as independent (too large whenever the two networks' errors are
      positively correlated, as for networks trained on the same data, which err on largely the
      same images). Either is *not* divided by R, since every repeat uses the
      same test images.

    Under the random-effects model ``d_{r,x} = μ + a_r + b_x + e_{r,x}`` the sum estimates
    ``σ_a²/R + σ_b²/n + 2σ_e²/(R n)``: the interaction is counted twice, so the error is slightly
    conservative, never optimistic.

    ``i``/``j`` are setting indices or index arrays (broadcast); returns arrays of their shape.
    """
    a = tail_accuracy(acc, last)
    ii, jj = np.asarray(i), np.asarray(j)
    ai, aj = a[ii], a[jj]
    d = ai - aj
    R = d.shape[-1]
    mean = d.mean(axis=-1)
    var_seed = d.var(axis=-1, ddof=1) / R if R > 1 else np.zeros_like(mean)
    if correct is not None:
        if correct.shape[:3] != acc.shape or correct.shape[-1] != int(n_test):
            raise ConfigError(f"correct must have shape {acc.shape + (int(n_test),)} (got {correct.shape})")
        k = min(max(int(last), 1), acc.shape[-1])
        tail = correct[:, :, -k:].mean(axis=2, dtype=np.float64)              # (S, R, n)
        d_img = (tail[ii] - tail[jj]).mean(axis=-2)                           # repeat mean: (..., n)
        var_test = d_img.var(axis=-1, ddof=1) / max(int(n_test), 1)
    else:
        pi, pj = ai.mean(axis=-1), aj.mean(axis=-1)
        var_test = (np.clip(pi * (1 - pi), 0, None) + np.clip(pj * (1 - pj), 0, None)) / max(int(n_test), 1)
    return mean, np.sqrt(var_seed + var_test)


def binomial_se(p: Any, n: int) -> np.ndarray:
    """Standard error of an accuracy measured on ``n`` test images."""
    p = np.asarray(p, float)
    return np.sqrt(np.clip(p * (1 - p), 1e-12, None) / max(n, 1))
