r"""Cost estimates of the figure recipes for ``convergence figures --dry-run`` (CPU-hours and memory).

Every computed cache entry records what its recipe cost: ``cpu_seconds`` (CPU time of the recipe's
driver thread plus its tasks on the workers) and ``peak_rss_bytes`` (the largest resident-set peak
of a process during one task; for a recipe without worker tasks, the main process's peak, an upper bound
when other recipes ran beside it: ``peak_scope`` "shared"). Those sidecars are the calibration table: a quick run
(``convergence figures --scale quick``, about a minute) measures every recipe. A scale that was
not measured is extrapolated from the largest measured one by the ratio of *work units*,

.. math::  \widehat{\mathrm{cpu}}(s) = \mathrm{cpu}(m)\,\frac{W(\mathrm{cfg}_s)}{W(\mathrm{cfg}_m)},\qquad
           \widehat{\mathrm{mem}}(s) = P + (\mathrm{mem}(m) - P)\,V(\mathrm{cfg}_m \to \mathrm{cfg}_s),

or, when two scales were measured, by the line through them (a fixed cost plus a cost per work unit),
where :math:`W` multiplies the config's counts (steps, iterations, epochs, trials, repeats, seeds,
training-set sizes, grid points) and the lengths of its sweep lists (nested parts, e.g. one per
architecture, add up), :math:`V` is the largest growth of a count that sizes arrays (trials, data and
grid sizes, not steps) and :math:`P` the memory of an idle worker process (:data:`PROCESS_BYTES`).
A recipe may define ``WORK(cfg)`` (a float) when this generic count is a poor model of its cost.

A network recipe (a config that names ``n_train``) holds a data set whose size is known, and the rest of its
peak (the model, its activations, the evaluation batches) does not grow with the data. Its memory is the
measured peak plus the growth of the data set,

.. math::  \widehat{\mathrm{mem}}(s) = \mathrm{mem}(m) + D(\mathrm{cfg}_s) - D(\mathrm{cfg}_m),

with :math:`D` = :func:`network_bytes`, instead of a proportional scaling, which read a quick run's imports and
buffers as if they grew with the data (about 46 GB for P2 Tables 7 and 8 at ``paper``, where a worker holds
about 1 GB).
:func:`structural_bytes` is the estimate before anything was measured, which ``figures --max-memory`` checks.
Checked against the default scale (``make figures``, 2 cores) from the quick scale: within a factor of
about 10, mostly overestimating, because a quick run is dominated by fixed costs that do not grow;
with both scales measured, the fit removes most of that. These are order-of-magnitude planning
numbers, not promises.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

from convergence.experiments.cache import Cache
from convergence.experiments.parallel import SHARED_KEEP
from convergence.experiments.recipes import Recipe

__all__ = ["TIME_KEYS", "SIZE_KEYS", "PROCESS_BYTES", "MAIN_PROCESS_BYTES", "FULL_DATA", "IMAGE_BYTES", "TRAIN_COPIES",
           "TEST_COPIES", "RAW_DATA_BYTES", "CNN_BYTES", "EVAL_BATCH", "work_units", "size_units", "network_bytes",
           "structural_bytes", "run_bytes", "Estimate", "estimate", "measured"]

#: config keys counting repetitions in time (steps of a recursion, training epochs, pulses)
TIME_KEYS = frozenset({"steps", "iters", "epochs", "pulses", "Ks"})
#: config keys counting things held in memory at once (trials, repeats, data points, grid points)
SIZE_KEYS = frozenset({"trials", "repeats", "seeds", "sweep_seeds", "n_train", "n_per_class", "n_source", "n_grid"})
#: resident memory of a worker process before any task (interpreter, NumPy, SciPy, the package: 80 MB measured)
PROCESS_BYTES = 80e6
#: resident memory of the main ``convergence`` process before any recipe (NumPy, SciPy, Matplotlib's pyplot and the
#: runner: 114 MB measured, with room for the report's figures)
MAIN_PROCESS_BYTES = 160e6
#: the size a ``None`` data count means (the whole data set: an MNIST-like training or test set)
FULL_DATA = {"n_train": 60000, "n_test": 10000, "n_source": 30000}
#: bytes of one MNIST-like image in float32 (28 x 28 pixels of 4 bytes)
IMAGE_BYTES = 784 * 4
#: float32 copies of each training and of each test image resident in a process that trains a network on them,
#: measured with one P2 Fig. 4 CNN run (peak resident memory of one process): 2700 more training images cost
#: 17 MB more (2.0 copies), 8000 more test images 103 MB more (4.1 copies)
TRAIN_COPIES, TEST_COPIES = 2, 4
#: the raw MNIST-like set (70000 images of 784 bytes) the main process loads for a network recipe
RAW_DATA_BYTES = 70000 * 784
#: what a process training the CNN (a config part under the key ``cnn``) holds beyond the FCN's: the unfolded
#: inputs of its convolutions for one evaluation batch of 1000 test images (measured: 0.37 GB more than the FCN at
#: equal data, P2 Fig. 4's CNN); a smaller test set scales it down
CNN_BYTES = 0.4e9
#: test images per evaluation batch (:func:`convergence.nn.training.evaluate_samples`)
EVAL_BATCH = 1000


def _walk(cfg: Any, keys: frozenset[str], lists: bool, key: str = "") -> float:
    """The count of a config: at each level of nesting, the product of the numbers under ``keys`` (a list
    under such a key counts by its sum) and, when ``lists``, of the lengths of the other flat lists (sweep
    axes), times the *sum* over the nested dicts (parts that run one after the other, e.g. per architecture)."""
    if isinstance(cfg, dict):
        prod, parts = 1.0, []
        for k, v in cfg.items():
            if isinstance(v, dict):
                parts.append(_walk(v, keys, lists, str(k)))
            else:
                prod *= _walk(v, keys, lists, str(k))
        return prod * (sum(parts) if parts else 1.0)
    if key in keys:
        if cfg is None:
            return float(FULL_DATA.get(key, 1))
        if isinstance(cfg, (list, tuple)):
            vals = [float(v) for v in cfg if isinstance(v, (int, float)) and not isinstance(v, bool)]
            return max(1.0, sum(vals))
        if isinstance(cfg, (int, float)) and not isinstance(cfg, bool):
            return max(1.0, float(cfg))
        return 1.0
    if lists and isinstance(cfg, (list, tuple)) and cfg and not isinstance(cfg[0], (list, tuple, dict)):
        return float(len(cfg))
    return 1.0


def work_units(recipe: Recipe, cfg: dict[str, Any]) -> float:
    """The work proxy :math:`W`: the recipe's ``WORK(cfg)`` if it defines one, else the generic count."""
    fn = getattr(recipe.module, "WORK", None)
    if callable(fn):
        return float(fn(cfg))
    return _walk(cfg, TIME_KEYS | SIZE_KEYS, True)


def size_units(cfg: dict[str, Any], ref: dict[str, Any]) -> float:
    """The memory growth :math:`V` from config ``ref`` to ``cfg``: the largest ratio of a count that sizes
    arrays (trials, data and grid sizes), at least 1."""
    def counts(c: Any, out: dict[str, float], path: str = "") -> dict[str, float]:
        if isinstance(c, dict):
            for k, v in c.items():
                if k in SIZE_KEYS and not isinstance(v, (dict, list, tuple, bool)):
                    out[f"{path}{k}"] = float(FULL_DATA.get(k, 1) if v is None else v)
                counts(v, out, f"{path}{k}.")
        return out

    new, old = counts(cfg, {}), counts(ref, {})
    return max([1.0] + [new[k] / old[k] for k in new if old.get(k, 0) > 0])


def network_bytes(cfg: Any) -> float | None:
    """:math:`D`: the bytes one process holds while it trains a network of this config that grow with the data or
    depend on the architecture: ``IMAGE_BYTES * (TRAIN_COPIES * n_train + TEST_COPIES * n_test)``, plus
    ``CNN_BYTES * min(1, n_test / EVAL_BATCH)`` for a CNN (a part under the key ``cnn``), for the part of the config
    (an architecture, or the whole config) that names ``n_train`` with the largest total (a missing or ``None``
    count is the full set: :data:`FULL_DATA`); None when no part names ``n_train`` (the recipe trains no network)."""
    found: list[float] = []

    def count(part: dict[str, Any], key: str) -> float:
        v = part.get(key)
        if v is None:
            return float(FULL_DATA[key])
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{key} must be a number or None (got {v!r})")
        return float(v)

    def walk(x: Any, key: str) -> None:
        if isinstance(x, dict):
            if "n_train" in x:
                n_test = count(x, "n_test")
                found.append(IMAGE_BYTES * (TRAIN_COPIES * count(x, "n_train") + TEST_COPIES * n_test)
                             + (CNN_BYTES * min(1.0, n_test / EVAL_BATCH) if key == "cnn" else 0.0))
            for k, v in x.items():
                walk(v, str(k))
        elif isinstance(x, (list, tuple)):
            for v in x:
                walk(v, key)

    walk(cfg, "")
    return max(found) if found else None


def structural_bytes(cfg: dict[str, Any], jobs: int) -> float:
    """Peak bytes of a run of one recipe before anything was measured: the main process and, with more than
    one job, an idle process per worker; for a network recipe also the raw data set in the main process and
    the data set's :func:`network_bytes` in the main process and in every worker."""
    workers = jobs if jobs > 1 else 0
    data = network_bytes(cfg)
    total = MAIN_PROCESS_BYTES + workers * PROCESS_BYTES
    return float(total if data is None else total + RAW_DATA_BYTES + (1 + workers) * data)


def run_bytes(cfgs: Sequence[dict[str, Any]], jobs: int, *, concurrent: bool) -> float:
    """Peak bytes of a figures run computing the recipes with configs ``cfgs`` (:func:`structural_bytes`'s model).
    One after the other (``concurrent`` False: one local job), the largest recipe's. Concurrently (more jobs, or a
    dask cluster with ``jobs`` = 1: no local workers), every recipe's driver holds its data set in the main process
    at once, and each worker keeps the shared inputs of up to :data:`~convergence.experiments.parallel.SHARED_KEEP`
    network recipes: the main process with all data sets, plus per worker an idle process and the largest few."""
    if not cfgs:
        return 0.0
    if not concurrent:
        return max(structural_bytes(c, jobs) for c in cfgs)
    workers = jobs if jobs > 1 else 0
    data = sorted((d for d in map(network_bytes, cfgs) if d is not None), reverse=True)
    main = MAIN_PROCESS_BYTES + (RAW_DATA_BYTES + sum(data) if data else 0.0)
    return float(main + workers * (PROCESS_BYTES + sum(data[:SHARED_KEEP])))


@dataclass(frozen=True)
class Estimate:
    """Estimated cost of one recipe at one scale."""

    name: str
    scale: str
    cpu_hours: float
    """estimated CPU time, hours (NaN: nothing measured yet)"""
    peak_gb: float
    """estimated peak resident memory of one worker process, GB (NaN: nothing measured yet)"""
    basis: str
    """where the numbers come from: "measured at <scale>" or "from <scale> x<ratio>", or why there are none"""
    peak_is_bound: bool = False
    """the memory was measured as the peak of the main process while other recipes ran in it (a recipe with no
    worker tasks in a concurrent run), so ``peak_gb`` is an upper bound"""


def measured(recipe: Recipe, cache: Cache) -> dict[str, dict[str, Any]]:
    """The newest recorded cost of ``recipe`` per scale: scale -> sidecar (with ``cpu_seconds``). A sidecar that
    cannot be read, or whose costs or config are not usable numbers (damaged or edited by hand: not finite,
    negative, a config without work or one the recipe's ``WORK`` cannot read), is left out."""
    out: dict[str, dict[str, Any]] = {}
    for side in cache.folder.glob(f"{recipe.name}-*.json"):
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError):
            continue
        if not (isinstance(meta, dict) and meta.get("name") == recipe.name and _usable(recipe, meta)):
            continue
        scale = str(meta.get("scale", ""))
        if scale not in out or str(meta.get("created", "")) >= str(out[scale].get("created", "")):
            out[scale] = meta
    return out


def _usable(recipe: Recipe, meta: dict[str, Any]) -> bool:
    """The sidecar's costs are finite non-negative numbers (the peak may be missing) and its config gives a finite
    positive work count and finite data sizes, so every estimate made from it is a finite non-negative number."""
    if not (_number(meta.get("cpu_seconds")) and _number(meta.get("peak_rss_bytes"), none=True)
            and isinstance(meta.get("config"), dict)):
        return False
    cfg = meta["config"]
    try:
        work, data = work_units(recipe, cfg), network_bytes(cfg)
        size_units(cfg, cfg)
    except Exception:  # noqa: BLE001 - a damaged config can fail a recipe's own WORK(cfg) in any way
        return False
    return math.isfinite(work) and work > 0 and (data is None or math.isfinite(data))


def _number(x: Any, none: bool = False) -> bool:
    """``x`` is a finite non-negative real number (not a bool), or None when ``none``."""
    return (none and x is None) or (isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                                    and x >= 0)


def estimate(recipe: Recipe, scale: str, cache: Cache, calibrate: str = "convergence figures --scale quick"
             ) -> Estimate:
    """CPU-hours and peak memory of ``recipe`` at ``scale`` from its recorded costs (see the module docstring);
    ``calibrate`` is the command that measures it, named when nothing is measured yet (with the run's ``--cache``,
    where that run must record its costs)."""
    runs = measured(recipe, cache)
    cfg = recipe.config(scale)
    if not runs:
        return Estimate(recipe.name, scale, math.nan, math.nan, f"not measured (run: {calibrate})")
    if scale in runs and runs[scale].get("config") == cfg:
        m, cpu, vratio, basis = runs[scale], float(runs[scale]["cpu_seconds"]), 1.0, f"measured at {scale}"
    else:   # extrapolate from the measured runs with the most work (closest to the target)
        pts = sorted(((work_units(recipe, r["config"]), float(r["cpu_seconds"]), s) for s, r in runs.items()),
                     reverse=True)
        w = work_units(recipe, cfg)
        (w2, t2, ref), m = pts[0], runs[pts[0][2]]
        cpu, basis = t2 * w / max(w2, 1e-300), f"from {ref} x{w / max(w2, 1e-300):.3g}"
        if len(pts) > 1 and pts[1][0] < w2 and t2 > pts[1][1]:   # two scales: fixed cost + cost per work unit
            w1, t1, ref1 = pts[1]
            slope = (t2 - t1) / (w2 - w1)
            cpu = max(0.0, t2 - slope * w2) + slope * w
            basis = f"fit to {ref1} and {ref}"
        vratio = size_units(cfg, m["config"])
    # 0: the platform gave no peak (parallel._peak_rss_bytes), as good as none recorded
    peak = float(m["peak_rss_bytes"]) if m.get("peak_rss_bytes") else math.nan
    data, data_m = network_bytes(cfg), network_bytes(m["config"])
    if data is not None and data_m is not None:   # a network: the measured peak plus its data set's growth
        mem = max(min(peak, PROCESS_BYTES), peak + data - data_m)
    else:
        mem = min(peak, PROCESS_BYTES) + max(0.0, peak - PROCESS_BYTES) * vratio
    if not math.isfinite(cpu):   # finite records extrapolated past the float range: nothing to plan with
        return Estimate(recipe.name, scale, math.nan, math.nan, f"recorded costs out of range ({basis})")
    return Estimate(recipe.name, scale, cpu / 3600.0, mem / 1e9 if math.isfinite(mem) else math.nan, basis,
                    m.get("peak_scope") == "shared")
