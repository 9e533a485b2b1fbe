"""One training update of a 512x512 tile (batch 32) for Analog SGD, TT-v1, TT-v2, c-TTv2 and AGAD, pulsed mode.

Reference (docs/theory/aihwkit.md#aihwkit-peer): aihwkit 1.2.0, CPU build, this 2-core machine, per batch-32 update
(aihwkit pulses sample by sample): SGD (SoftBoundsReferenceDevice defaults) 159 ms, Tiki-Taka
(TikiTakaReRamSBPreset, TT-v1) 149 ms, c-TTv2 (ChoppedTTv2ReRamSBPreset) 348 ms, AGAD
(AGADReRamSBPreset) 313 ms. Target: >= 10x faster in a mode whose expected update matches aihwkit's.

What is timed (``convergence.tile.transfer_family``), per algorithm, one ``step`` = gradient write of the 32
outer products into A (or W for SGD), all transfers due (c-TTv2/AGAD/TT-v2: one column read per
mat-vec = 32 column reads per batch, as the presets' ``transfer_every=1, units_in_mbatch=False``;
TT-v1: one column per mini-batch, ``units_in_mbatch=True``), threshold writes to C and chopper
updates:

* ``signs`` (headline): one batched write applying the batch's total up and total down pulse
  counts separately; its expected update equals aihwkit's per-sample update to first order in
  dw_min, including the asymmetric drift Σ_b |λ d_b x_bᵀ| G(W);
* ``net``: one write of the net batch update (smaller drift; faster);
* ``sample`` (``--sample``): sequential per-sample writes, transfers at exact mat-vec counts
  (the closest to aihwkit; Python loop over the batch);
* ``signs+c2c``: ``signs`` with the presets' additive cycle-to-cycle pulse noise (dw_min_std 0.3
  for SGD's SoftBoundsReferenceDevice defaults, 3.75 for ReRamSB), with noise and clipping at every
  pulse as in aihwkit (:class:`convergence.physics.pulses.PulseMap`: one Gaussian sum per pass only for
  elements whose pass cannot reach a bound, the pulse loop for the others; with 3.75 per-pulse noise many
  elements reach a bound, so these rows cost more than an aggregated-only write).

Devices (realised per element, ~aihwkit presets): SGD — soft bounds ±0.6, dw_min 0.001,
dw_min_dtod 0.3, up_down_dtod 0.01, bound spread 0.1 (0.3 would let |1 + 0.3ξ| come near 0 on 262k elements, where one
pulse overshoots the range); transfer algorithms — ReRamSB-like linear
step (bounds −0.75/+1.25, symmetric point 0), dw_min 0.002, dw_min_dtod 0.3, up_down_dtod 0.01,
bound spread 0.1 (as for SGD), symmetric point subtracted. x ~ N(0, 1), d ~ 0.1 N(0, 1), lr 0.01; c-TTv2/AGAD
with auto_scale, fast_lr 0.5, desired_bl 31, auto_granularity 1000, in_chop_prob 0.01/0.02.

Modelling differences vs aihwkit (also printed): per-batch instead of per-sample pulse counts
(signs/net); stochastic rounding of |ΔW|/dw_min instead of Bernoulli pulse-train coincidences
(same mean, smaller variance; no update-management clipping, cap = 31 pulses × 32 samples);
cycle-to-cycle pulse noise only in the ``signs+c2c`` rows; transfer
reads without ADC/IO noise; TT-v1 transfer through the stochastic-rounded pulsed update.
If ``aihwkit`` is importable, its tiles are timed side by side (never a dependency; untested on
this machine, where it is not installed).

Run: ``python benchmarks/bench_transfer.py [--quick] [--sample]``.
"""
from __future__ import annotations

import os

# one BLAS thread, set before NumPy loads OpenBLAS: the aihwkit references used torch threads = 1, and on this
# shared 2-core machine a multi-threaded OpenBLAS spins for ~30 ms on a 512x32x512 product (0.4 ms on one thread)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import convergence as cv  # noqa: E402
from convergence.tile import transfer_family as T  # noqa: E402
from convergence.tile.analog_tile import TileWrite, UpdateParameters  # noqa: E402
from convergence._alloc import tune_allocator  # noqa: E402

AIHWKIT_MS = {"sgd": 159.0, "ttv1": 149.0, "ttv2": 149.0, "c-ttv2": 348.0, "agad": 313.0}
AIHWKIT_NOTE = {"ttv2": "vs the TikiTaka (TT-v1) preset time; aihwkit's TTv2 preset was not timed"}
N, BATCH, LR = 512, 32, 0.01


def devices(rng: np.random.Generator) -> tuple[Any, Any]:
    var = cv.Variation(dw_min_dtod=0.3, up_down_dtod=0.01, range_dtod=0.1)
    sgd = cv.realize(cv.SoftBounds(0.6), var, (1, N, N), rng)
    reram = cv.realize(cv.LinearStep(tau_max=1.25, tau_min=-0.75), var, (1, N, N), rng)
    return sgd, reram


def algorithms(accumulate: str, rng: np.random.Generator, c2c: bool = False) -> dict[str, T.TransferAlgorithm]:
    """The five algorithms; ``c2c`` adds the presets' additive cycle-to-cycle noise (0.3 SGD, 3.75 ReRamSB)."""
    dev_sgd, dev = devices(rng)
    sgd_mode = cv.Pulsed(0.001, bl=31 * BATCH, c2c=0.3 if c2c else 0.0)
    mode = cv.Pulsed(0.002, bl=31 * BATCH, c2c=3.75 if c2c else 0.0)
    common = dict(mode=mode, accumulate=accumulate, transfer_lr=LR)
    chopped = dict(auto_scale=True, desired_bl=31, auto_granularity=1000.0, **common)
    return {
        "sgd": T.analog_sgd_tile(LR, dev_sgd, mode=sgd_mode, accumulate=accumulate),
        "ttv1": T.ttv1(LR, dev, **common),
        "ttv2": T.ttv2(0.5, dev, **chopped),
        "c-ttv2": T.chopped_ttv2(0.5, dev, in_chop_prob=0.01, **chopped),
        "agad": T.agad(0.5, dev, in_chop_prob=0.02, tail_weightening=5.0, **chopped),
    }


def tile_write_algorithms(update_mode: str, rng: np.random.Generator) -> dict[str, T.TransferAlgorithm]:
    """Analog SGD and TT-v2 writing through the tile's per-sample write (``TileWrite``) in ``update_mode``
    (``"pulse_train"``: aihwkit's bit trains; ``"rounding"``; ``"expected"``), same devices and rates."""
    dev_sgd, dev = devices(rng)
    up = UpdateParameters(mode=update_mode)
    return {"sgd": T.analog_sgd_tile(LR, dev_sgd, mode=TileWrite(0.001, up)),
            "ttv2": T.ttv2(0.5, dev, mode=TileWrite(0.002, up), transfer_lr=LR, auto_scale=True, desired_bl=31,
                           auto_granularity=1000.0)}


def time_steps(alg: T.TransferAlgorithm, repeats: int, warmup: int, seed: int) -> tuple[list[float], list[float]]:
    """Wall-clock and process-CPU seconds of ``repeats`` single steps after ``warmup`` steps."""
    rng = np.random.default_rng(seed)
    state = alg.init(np.zeros((1, N, N)))
    xs = rng.standard_normal((4, 1, BATCH, N))
    ds = 0.1 * rng.standard_normal((4, 1, BATCH, N))
    for i in range(warmup):
        state = alg.step(state, xs[i % 4], ds[i % 4], rng)
    wall, cpu = [], []
    for i in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        state = alg.step(state, xs[i % 4], ds[i % 4], rng)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def aihwkit_side_by_side(repeats: int) -> dict[str, float]:
    """Time aihwkit tiles if the package is importable (optional; returns {} otherwise)."""
    try:
        import torch
        from aihwkit.simulator.configs import SingleRPUConfig
        from aihwkit.simulator.configs.devices import SoftBoundsReferenceDevice
        from aihwkit.simulator.presets import AGADReRamSBPreset, ChoppedTTv2ReRamSBPreset, TikiTakaReRamSBPreset
        from aihwkit.simulator.tiles import AnalogTile
    except Exception:  # noqa: BLE001 - optional peer
        return {}
    torch.set_num_threads(1)
    configs = {"sgd": SingleRPUConfig(device=SoftBoundsReferenceDevice()), "ttv1": TikiTakaReRamSBPreset(),
               "c-ttv2": ChoppedTTv2ReRamSBPreset(), "agad": AGADReRamSBPreset()}
    out = {}
    x = torch.randn(BATCH, N)
    d = 0.1 * torch.randn(BATCH, N)
    for name, cfg in configs.items():
        try:
            tile = AnalogTile(N, N, cfg)
            tile.set_learning_rate(LR)
            tile.update(x, d)
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                tile.update(x, d)
                ts.append(time.perf_counter() - t0)
            out[name] = 1e3 * statistics.median(ts)
        except Exception as exc:  # noqa: BLE001
            print(f"  aihwkit {name}: failed ({type(exc).__name__}: {exc})")
    return out


def main() -> None:
    tune_allocator()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats (smoke test)")
    parser.add_argument("--sample", action="store_true", help="also time the per-sample mode (slow)")
    args = parser.parse_args()
    repeats, warmup = (3, 2) if args.quick else (15, 5)
    load0 = os.getloadavg()
    print(f"512x512 tile, batch {BATCH}, one update (write + transfers + choppers), pulsed; "
          f"load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} on {os.cpu_count()} cores")
    modes = ["signs", "net", "signs+c2c"] + (["sample"] if args.sample else [])
    results: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    for mode_name in modes:
        accumulate = mode_name.split("+")[0]
        algs = algorithms(accumulate, np.random.default_rng(0), c2c=mode_name.endswith("c2c"))
        for name, alg in algs.items():
            r = max(2, repeats // 5) if accumulate == "sample" else repeats
            results[(mode_name, name)] = time_steps(alg, r, 1 if accumulate == "sample" else warmup, 1)
    load1 = os.getloadavg()
    print(f"{'mode':9s} {'algorithm':8s} {'wall med':>9s} {'wall min':>9s} {'cpu med':>8s} {'aihwkit':>8s} "
          f"{'speed-up (wall med / min)':>26s}")
    for (accumulate, name), (wall, cpu) in results.items():
        med, best, cmed = 1e3 * statistics.median(wall), 1e3 * min(wall), 1e3 * statistics.median(cpu)
        ref = AIHWKIT_MS[name]
        note = f"  ({AIHWKIT_NOTE[name]})" if name in AIHWKIT_NOTE and accumulate == "signs" else ""
        print(f"{accumulate:9s} {name:8s} {med:9.1f} {best:9.1f} {cmed:8.1f} {ref:8.0f} "
              f"{ref / med:12.1f}x / {ref / best:5.1f}x{note}")
    headline = [AIHWKIT_MS[n] / (1e3 * statistics.median(results[("signs", n)][0]))
                for n in ("sgd", "ttv2", "c-ttv2", "agad")]
    print(f"headline (signs mode, wall-clock median; times in ms): speed-ups SGD {headline[0]:.1f}x, "
          f"TT-v2 {headline[1]:.1f}x, c-TTv2 {headline[2]:.1f}x, AGAD {headline[3]:.1f}x; target >= 10x")
    cpu = [AIHWKIT_MS[n] / (1e3 * statistics.median(results[("signs", n)][1])) for n in ("sgd", "ttv2", "c-ttv2",
                                                                                       "agad")]
    print(f"same on process CPU time (single-threaded, so ~ the wall time of an idle machine): SGD {cpu[0]:.1f}x, "
          f"TT-v2 {cpu[1]:.1f}x, c-TTv2 {cpu[2]:.1f}x, AGAD {cpu[3]:.1f}x")
    print(f"load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f} (machine shared with other jobs; "
          "aihwkit references were measured on an idle machine)")
    side = aihwkit_side_by_side(max(3, repeats // 3))
    if side:
        print("aihwkit side by side (median ms): " + ", ".join(f"{k} {v:.1f}" for k, v in side.items()))
    else:
        print("aihwkit not importable: speed-ups are against the reference numbers of "
              "docs/theory/aihwkit.md#aihwkit-peer")
    print("modelling differences: per-batch (signs/net) instead of per-sample pulse counts; stochastic rounding "
          "instead of Bernoulli pulse trains (same mean); c2c pulse noise only in signs+c2c rows; "
          "no IO/ADC noise on transfer reads; "
          "cap 31 pulses x 32 samples per element and batch")


if __name__ == "__main__":
    main()
