"""The study's scales and its single entry point :func:`run_study` (used by the CLI, the figure
recipes ``figures/transfer_swin_*.py`` and ``paper_repro/transfer_swin``).

One run = fine-tune the cached, digitally pretrained micro Swin on the target task with one
algorithm and one device setting, for one seed. The main comparison runs every algorithm at the
nominal device; each sweep changes one device knob (transfer read noise, SP skew, SP
device-to-device variability, number of states = the mean pulse response; on the ``long`` scale also
write noise, pulse-to-pulse update noise, device-to-device spreads of the step and of the conductance
range, forward output noise and I/O resolution; diagnostics: the transfer pulse cap, the chopper
rate), optionally on top of ``fixed`` settings (and ``also``: further fields set to the swept value),
and its first value is the unswept point (a run already made is reused, not repeated). ``variants``
repeat the main comparison on a second target subset or a second model (keys ``<variant>_…``).
Run ``si`` of every algorithm and setting uses the same seed key (data order, head init, device
draws), so comparisons are paired by seed and adding a sweep value does not change the others.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from convergence._validate import ConfigError
from convergence.swin import model as M
from convergence.swin import study as S
from convergence.swin.analog import ALGORITHMS, AnalogSpec

__all__ = ["SCALES", "SWEEPS", "run_study", "summarize"]

_MICRO = {"img": 32, "patch": 4, "embed": 32, "depths": [2, 2], "heads": [2, 4], "window": 4}
_TINY = {"img": 32, "patch": 8, "embed": 16, "depths": [2], "heads": [2], "window": 2}
#: the second model: the micro Swin 1.5 times wider (48 → 96 channels, 3 → 6 heads), about twice the parameters
_SMALL = {"img": 32, "patch": 4, "embed": 48, "depths": [2, 2], "heads": [3, 6], "window": 4}
#: the second target subset: the three footwear classes of Fashion-MNIST (Sandal, Sneaker, Ankle boot), a
#: fine-grained task among classes the source never saw
_FOOTWEAR = [5, 7, 9]

#: sweep name -> AnalogSpec field (a sweep config may name another ``field`` and hold ``fixed`` fields)
SWEEPS = {"read_noise": "read_noise", "sym_skew": "sym_skew", "sym_dtod": "sym_dtod", "n_states": "n_states",
          "in_chop_prob": "in_chop_prob", "transfer_max_pulses": "transfer_max_pulses",
          "write_noise": "write_noise", "dw_min_std": "dw_min_std", "dw_min_dtod": "dw_min_dtod",
          "range_dtod": "range_dtod", "out_noise": "out_noise", "io_res": "inp_res", "out_res": "out_res"}

_KNOB_ALGS = ["sgd", "c-ttv2"]
#: the device knobs of the journal version's list that the default scale does not sweep (values: aihwkit's
#: presets lie inside each range, e.g. write_noise_std 56, dw_min_std 3.75 (ReRAM soft-bounds preset; additive
#: relative noise), dw_min_dtod 0.3, w_max_dtod 0.24-0.4, out_noise 0.04-0.1, 7-9 bit DAC/ADC)
_KNOB_SWEEPS: dict[str, dict[str, Any]] = {
    "write_noise": {"values": [20.0, 60.0], "algorithms": _KNOB_ALGS},
    "dw_min_std": {"values": [1.0, 4.0], "algorithms": _KNOB_ALGS},
    "dw_min_dtod": {"values": [0.3, 0.6], "algorithms": _KNOB_ALGS},
    "range_dtod": {"values": [0.2, 0.4], "algorithms": _KNOB_ALGS},
    "out_noise": {"values": [0.1, 0.3], "algorithms": _KNOB_ALGS},
    "io_res": {"also": ["out_res"], "values": [1 / 254, 1 / 30], "algorithms": _KNOB_ALGS},
}

SCALES: dict[str, dict[str, Any]] = {
    "quick": {"model": _TINY, "n_source": 500, "n_source_test": 200,
              "pretrain": {"epochs": 1, "lr": 2e-3, "batch": 50, "seed": 0},
              "n_per_class": 20, "n_test": 200, "finetune": {"epochs": 1, "batch": 20, "lr": 0.05},
              "seeds": 1, "sweep_seeds": 1, "algorithms": list(ALGORITHMS),
              "device": {"n_states": 1000, "lr_fast": 1.0},
              "sweeps": {"read_noise": {"values": [0.05], "algorithms": ["c-ttv2"]},
                         "sym_skew": {"values": [0.5], "algorithms": ["ttv2", "c-ttv2"]},
                         "sym_dtod": {"values": [0.3], "algorithms": ["c-ttv2"]},
                         "n_states": {"values": [100], "algorithms": ["c-ttv2"]}},
              "scratch": False},
    "default": {"model": _MICRO, "n_source": 15000, "n_source_test": 1000,
                "pretrain": {"epochs": 4, "lr": 2e-3, "batch": 64, "seed": 0},
                "n_per_class": 300, "n_test": 1000, "finetune": {"epochs": 5, "batch": 32, "lr": 0.1},
                "seeds": 3, "sweep_seeds": 2, "algorithms": list(ALGORITHMS),
                "device": {"n_states": 1000, "lr_fast": 1.0},
                "sweeps": {"read_noise": {"values": [0.05], "algorithms": ["ttv2", "c-ttv2"]},
                           "sym_skew": {"values": [0.6], "algorithms": ["ttv2", "c-ttv2"]},
                           "sym_dtod": {"values": [0.3], "algorithms": ["ttv2", "c-ttv2"]},
                           "n_states": {"values": [100, 4000], "algorithms": ["c-ttv2"]},
                           "transfer_cap_4000": {"field": "transfer_max_pulses", "fixed": {"n_states": 4000},
                                                 "values": [4], "algorithms": ["c-ttv2"]},
                           "in_chop_prob": {"values": [0.01], "algorithms": ["c-ttv2"]}},
                "scratch": True},
    "paper": {"model": _MICRO, "n_source": 30000, "n_source_test": 5000,
              "pretrain": {"epochs": 5, "lr": 2e-3, "batch": 64, "seed": 0},
              "n_per_class": 300, "n_test": 5000, "finetune": {"epochs": 20, "batch": 32, "lr": 0.1},
              "seeds": 5, "sweep_seeds": 3, "algorithms": list(ALGORITHMS),
              "device": {"n_states": 1000, "lr_fast": 1.0},
              "sweeps": {"read_noise": {"values": [0.005, 0.01, 0.02, 0.05, 0.1], "algorithms": ["ttv2", "c-ttv2",
                                                                                                "agad"]},
                         "sym_skew": {"values": [0.2, 0.4, 0.6, 0.8], "algorithms": ["sgd", "ttv2", "c-ttv2", "agad"]},
                         "sym_dtod": {"values": [0.1, 0.3, 0.5], "algorithms": ["sgd", "ttv2", "c-ttv2", "agad"]},
                         "n_states": {"values": [20, 100, 4000], "algorithms": ["sgd", "ttv2", "c-ttv2", "agad"]},
                         "transfer_cap_4000": {"field": "transfer_max_pulses", "fixed": {"n_states": 4000},
                                               "values": [2, 4, 8], "algorithms": ["ttv2", "c-ttv2", "agad"]},
                         "in_chop_prob": {"values": [0.01, 0.3], "algorithms": ["c-ttv2"]}},
              "scratch": True},
}
# long: the default's pretraining (same cache entry), a shorter fine-tune (200 images per class, 3 epochs) so that
# every device knob of the journal version's list that the default leaves out fits in about 40 minutes on two
# shared cores, then the main comparison on the second target subset and on the second model (2 seeds)
_VARIANT_ALGS = ["digital", "sgd", "c-ttv2"]
SCALES["long"] = {**{k: v for k, v in SCALES["default"].items() if k != "sweeps"},
                  "n_per_class": 200, "finetune": {"epochs": 3, "batch": 32, "lr": 0.1},
                  "algorithms": _VARIANT_ALGS, "sweeps": dict(_KNOB_SWEEPS), "scratch": False,
                  "variants": {"footwear": {"target_classes": _FOOTWEAR, "algorithms": _VARIANT_ALGS},
                               "small": {"model": _SMALL, "algorithms": _VARIANT_ALGS, "seeds": 2}}}
SCALES = {k: SCALES[k] for k in ("quick", "default", "long", "paper")}


def _ss(seed: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(seed.entropy, spawn_key=tuple(seed.spawn_key) + tuple(int(k) for k in key))


def _tasks(cfg: dict[str, Any], synthetic: bool) -> tuple[S.Task, S.Task, dict[str, Any]]:
    classes = cfg.get("target_classes")
    if synthetic:
        src = S.synthetic_task(cfg["n_source"], cfg["n_source_test"], img=cfg["model"]["img"], classes=(0, 1, 2, 3, 4))
        tc = (5, 6, 7, 8, 9) if classes is None else tuple(int(c) for c in classes)
        tgt = S.synthetic_task(len(tc) * cfg["n_per_class"], cfg["n_test"], img=cfg["model"]["img"],
                               classes=tc, seed=1)
        return src, tgt, {"source": "synthetic gratings 0-4",
                          "target": "synthetic gratings " + ("5-9" if classes is None else ",".join(map(str, tc)))}
    return S.load_tasks(n_per_class=cfg["n_per_class"], n_test=cfg["n_test"], n_source=cfg["n_source"],
                        n_source_test=cfg["n_source_test"],
                        target_classes=None if classes is None else tuple(int(c) for c in classes))


def _pretrain_task(item: tuple[M.SwinConfig, S.Task, dict[str, Any]]) -> M.Params:
    """The digital pretraining as one task (runs on a worker)."""
    mcfg, src, pre = item
    return S.pretrain(mcfg, src, **pre)


def _finetune_task(shared: tuple[M.Params, M.SwinConfig, S.Task, S.FinetuneConfig],
                   task: tuple[AnalogSpec | None, np.random.SeedSequence, M.Params | None, bool]) -> dict[str, Any]:
    """One fine-tune run (a task): the pretrained weights, model, target task and schedule are the map's
    shared input; the task holds the device spec, the seed, for a run from scratch its own weights, and
    whether its accuracy curve is kept (a sweep point keeps its final accuracy only)."""
    params, mcfg, tgt, ft = shared
    sp, ss, own, curve = task
    r = S.finetune(params if own is None else own, mcfg, tgt, sp, ft, ss, curve=curve)
    return {k: v for k, v in r.items() if k != "state"}


def _serial_map(fn: Callable[..., Any], tasks: list[Any], *, shared: Any = None, desc: str | None = None) -> list[Any]:
    return [fn(shared, t) for t in tasks]


def run_study(cfg: dict[str, Any], seed: np.random.SeedSequence, *, synthetic: bool = False,
              cache_root: str | None = None, progress: Callable[[str], None] | None = None,
              pmap: Callable[..., list[Any]] | None = None) -> dict[str, np.ndarray]:
    """Run the study at one scale config; returns named arrays (see keys below).

    The runs are independent tasks: the pretraining is one task (or the npz cache), then every distinct
    fine-tune run (main comparison, runs from scratch, sweep points) is one task of a single map whose
    shared input is the pretrained weights. ``pmap(fn, tasks, shared=x, desc=...)`` runs them (the figure
    runner's :func:`~convergence.experiments.parallel.parallel_map`; default: one after the other);
    results are the same either way.

    ``cfg["variants"]`` (optional): name → overrides of the config (e.g. ``model``, ``target_classes``,
    ``algorithms``) under which the main comparison is repeated (no sweeps, no runs from scratch); its arrays
    come back as ``<name>_<key>`` and ``variants`` lists the names.

    Keys: ``algorithms`` (names), ``main_acc`` (alg, seeds, epochs), ``main_ips`` (alg, seeds) images/s,
    ``source_acc`` (), ``scratch_acc`` (seeds, epochs) digital from random init (if ``scratch``),
    and per sweep ``<sweep>_values`` (V,), ``<sweep>_algorithms``, ``<sweep>_acc`` (A, V, seeds)
    final accuracies (value 0 of every sweep is the nominal device, taken from the main runs).
    """
    say = progress or (lambda s: None)
    src, tgt, info = _tasks(cfg, synthetic)
    mcfg = M.SwinConfig(**{**cfg["model"], "depths": tuple(cfg["model"]["depths"]),
                           "heads": tuple(cfg["model"]["heads"]), "n_classes": 5})
    data_id = f"{info['source']}|n={len(src.y_train)}"
    pre = dict(cfg["pretrain"])
    remote = None if pmap is None else (lambda: pmap(_pretrain_task, [(mcfg, src, pre)], desc="pretrain")[0])
    params, hit = S.pretrained(mcfg, src, pre, data_id, cache_root=cache_root, progress=say, compute=remote)
    src_acc = S.evaluate(params, src, mcfg)
    say(f"pretrained ({'cache' if hit else 'computed'}): source test acc {src_acc:.3f}")
    ft = S.FinetuneConfig(**cfg["finetune"])
    dev = dict(cfg["device"])
    algs = list(cfg["algorithms"])
    for a in algs:
        if a not in ALGORITHMS:
            raise ConfigError(f"algorithm must be one of {', '.join(ALGORITHMS)} (got {a!r})")

    def spec(alg: str, **kw: Any) -> AnalogSpec | None:
        return None if alg == "digital" else AnalogSpec(algorithm=alg, **{**dev, **kw})

    # the distinct runs, keyed on (algorithm, device spec, seed): a sweep point equal to the nominal
    # device (or to another sweep's point) reuses that run -- same seed, same numbers. A task is (device spec, seed,
    # the own weights of a run from scratch, whether its accuracy curve is kept): the main and scratch runs keep
    # theirs (registered first); a sweep point that is not one of them keeps its final accuracy only
    runs: dict[tuple[Any, ...], int] = {}
    tasks: list[tuple[AnalogSpec | None, np.random.SeedSequence, M.Params | None, bool]] = []

    def want(alg: str, si: int, curve: bool = False, **kw: Any) -> int:
        sp = spec(alg, **kw)
        key = (alg, sp, si)
        if key not in runs:
            runs[key] = len(tasks)
            tasks.append((sp, _ss(seed, 0, si), None, curve))
        return runs[key]

    n_seeds = int(cfg["seeds"])
    main_idx = [[want(alg, si, curve=True) for si in range(n_seeds)] for alg in algs]
    scratch_idx: list[int] = []
    if cfg.get("scratch"):
        fresh = M.init(mcfg, np.random.default_rng(_ss(seed, 9)))
        scratch_idx = list(range(len(tasks), len(tasks) + n_seeds))
        tasks.extend((None, _ss(seed, 0, si), fresh, True) for si in range(n_seeds))
    nominal = AnalogSpec(**dev)
    n_sw = int(cfg["sweep_seeds"])
    sweeps: list[tuple[str, str, list[Any], list[str], list[list[list[int]]]]] = []
    for sweep, scfg in cfg["sweeps"].items():
        field = scfg.get("field", SWEEPS.get(sweep))
        if field not in SWEEPS.values():
            raise ConfigError(f"sweep {sweep!r}: field must be one of {', '.join(SWEEPS.values())} (got {field!r})")
        fixed = dict(scfg.get("fixed", {}))
        also = list(scfg.get("also", []))
        for f in also:
            if f not in SWEEPS.values():
                raise ConfigError(f"sweep {sweep!r}: also must name fields among {', '.join(SWEEPS.values())} "
                                  f"(got {f!r})")
        base = dataclasses.replace(nominal, **fixed)
        kind = type(getattr(nominal, field))
        values = [getattr(base, field)] + list(scfg["values"])
        salgs = list(scfg["algorithms"])
        idx = [[[want(alg, si, **{**fixed, **{f: kind(val) for f in [field] + also}}) for si in range(n_sw)]
                for val in values] for alg in salgs]
        sweeps.append((sweep, field, values, salgs, idx))

    done = (pmap or _serial_map)(_finetune_task, tasks, shared=(params, mcfg, tgt, ft), desc="swin runs")

    main = np.zeros((len(algs), n_seeds, ft.epochs))
    ips = np.zeros((len(algs), n_seeds))
    for ai, alg in enumerate(algs):
        for si in range(n_seeds):
            r = done[main_idx[ai][si]]
            main[ai, si], ips[ai, si] = r["acc"], r["images_per_s"]
            say(f"main {alg} seed {si}: acc {r['acc'][-1]:.3f} ({r['images_per_s']:.0f} img/s)")
    out: dict[str, np.ndarray] = {"algorithms": np.asarray(algs), "main_acc": main, "main_ips": ips,
                                  "source_acc": np.asarray(src_acc), "n_target_train": np.asarray(len(tgt.y_train)),
                                  "n_target_test": np.asarray(len(tgt.y_test)),
                                  "data": np.asarray([info["source"], info["target"]]),
                                  "sweeps": np.asarray(list(cfg["sweeps"]), dtype=str)}
    if scratch_idx:
        sc = np.stack([done[i]["acc"] for i in scratch_idx])
        out["scratch_acc"] = sc
        say(f"digital from scratch: acc {sc[:, -1].mean():.3f}")
    for sweep, field, values, salgs, idx in sweeps:
        acc = np.full((len(salgs), len(values), n_sw), np.nan)
        for ai, alg in enumerate(salgs):
            for vi, val in enumerate(values):
                for si in range(n_sw):
                    acc[ai, vi, si] = done[idx[ai][vi][si]]["acc"][-1]
                    say(f"sweep {sweep}: {field}={val} {alg} seed {si}: acc {acc[ai, vi, si]:.3f}")
        out[f"{sweep}_values"] = np.asarray(values, dtype=float)
        out[f"{sweep}_algorithms"] = np.asarray(salgs)
        out[f"{sweep}_acc"] = acc
        out[f"{sweep}_field"] = np.asarray(field)
    variants = dict(cfg.get("variants") or {})
    if variants:
        out["variants"] = np.asarray(list(variants), dtype=str)
    for name, over in variants.items():
        say(f"variant {name}: {over}")
        sub = {**cfg, "sweeps": {}, "scratch": False, "variants": {}, **over}
        for k, v in run_study(sub, seed, synthetic=synthetic, cache_root=cache_root, progress=progress,
                              pmap=pmap).items():
            out[f"{name}_{k}"] = v
    return out


def _se_text(se: float) -> str:
    """A standard error for the table: "n/a" for one seed (as ``convergence simulate`` prints), not "nan"."""
    return f"{se:.3f}" if np.isfinite(se) else "n/a"


def summarize(data: dict[str, np.ndarray]) -> list[str]:
    """Markdown results table: final accuracy mean ± standard error over seeds."""
    lines = ["| algorithm | final test accuracy (mean ± s.e.) | seeds | images/s |", "|---|---|---|---|"]
    main = data["main_acc"][..., -1]
    for ai, alg in enumerate(data["algorithms"]):
        v = main[ai]
        se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
        lines.append(f"| {alg} | {v.mean():.3f} ± {_se_text(se)} | {len(v)} | {data['main_ips'][ai].mean():.0f} |")
    if "scratch_acc" in data:
        v = data["scratch_acc"][:, -1]
        se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
        lines.append(f"| digital from scratch | {v.mean():.3f} ± {_se_text(se)} | {len(v)} | |")
    for sweep in [str(v) for v in data.get("sweeps", SWEEPS)]:
        if f"{sweep}_acc" not in data:
            continue
        vals, acc = data[f"{sweep}_values"], data[f"{sweep}_acc"]
        lines += ["", f"| {sweep} | " + " | ".join(f"{v:g}" for v in vals) + " |",
                  "|---|" + "---|" * len(vals)]
        for ai, alg in enumerate(data[f"{sweep}_algorithms"]):
            cells = []
            for vi in range(len(vals)):
                v = acc[ai, vi]
                se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
                cells.append(f"{v.mean():.3f} ± {_se_text(se)}")
            lines.append(f"| {alg} | " + " | ".join(cells) + " |")
    for name in [str(v) for v in data.get("variants", [])]:
        sub = {k[len(name) + 1:]: v for k, v in data.items() if k.startswith(name + "_")}
        if "main_acc" in sub:
            lines += ["", f"variant {name}: {' -> '.join(str(t) for t in sub.get('data', []))}", ""]
            lines += summarize(sub)
    return lines

