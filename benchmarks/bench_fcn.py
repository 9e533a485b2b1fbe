"""FCN 784-256-128-10 training throughput: digital vs each analog weight optimizer, and vs PyTorch CPU.

Prints, for batch 10 (the papers' FCN batch):

* ms per training step (forward + NLL + backward + update) and the time of one epoch
  (``--epoch-samples`` images, default 60000 = one MNIST epoch, extrapolated from the timed steps)
  for digital SGD, Analog SGD (expected / pulsed), Tiki-Taka (expected column-wise / whole matrix /
  pulsed), a toolkit Algorithm through :class:`~convergence.nn.optim.AlgorithmOptimizer`, and the
  P1 periphery (8-bit I/O, noise, bound management) on top of Analog SGD;
* the analog overhead ratio ``step(analog) / step(digital)`` (targets: 1.2 for Analog SGD and TT-v1 in
  expected mode; 3 in pulsed mode for Analog SGD, TT-v1, c-TTv2 and the pulse-train tile);
* ``numpy / torch``: our digital step over PyTorch CPU's on identical shapes (target ≤ 1.5), when
  torch is importable here or through ``--torch-python PATH`` (a separate interpreter with torch;
  torch is never a dependency of this project). Both sides use one BLAS/intra-op thread, the
  setting our training loop uses (batch-10 GEMMs are much slower multi-threaded on 2 cores).

Timings are the minimum over repeats of the mean over ``--steps`` steps, every model timed once per repeat
in turn (robust on a shared machine); ``--clock cpu`` times with the process's CPU time instead of the wall clock (on an
oversubscribed machine the wall clock mostly measures waiting for a core). Run:
``python benchmarks/bench_fcn.py [--quick] [--clock cpu] [--torch-python /tmp/torchvenv/bin/python]``.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import numpy as np

import convergence as cv
from convergence._alloc import tune_allocator
from convergence._timing import in_turn
from convergence.nn import AlgorithmOptimizer, AnalogSGD, DigitalSGD, TikiTakaV1, fcn
from convergence.nn._threads import blas_threads
from convergence.experiments.networks import periphery_pair
from convergence.nn.training import train_step

SIZES = (784, 256, 128, 10)
BATCH = 10

TORCH_SCRIPT = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
steps, repeats, batch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.Sigmoid(), torch.nn.Linear(256, 128), torch.nn.Sigmoid(),
                          torch.nn.Linear(128, 10), torch.nn.LogSoftmax(dim=1))
opt = torch.optim.SGD(net.parameters(), lr=0.05)
x = torch.rand(batch, 784)
y = torch.arange(batch) % 10
def step():
    opt.zero_grad(set_to_none=True)
    loss = torch.nn.functional.nll_loss(net(x), y)
    loss.backward()
    opt.step()
for _ in range(50): step()
best = float("inf")
for _ in range(repeats):
    t0 = time.perf_counter()
    for _ in range(steps): step()
    best = min(best, (time.perf_counter() - t0) / steps)
print(json.dumps({"torch_step_s": best, "torch": torch.__version__}))
"""


CLOCK = time.perf_counter


def time_steps(model, steps: int, repeats: int, seed: int = 0) -> float:
    """Seconds per training step of one model (minimum over ``repeats`` runs of ``steps`` steps)."""
    return time_interleaved({"model": model}, steps, repeats, seed)["model"]


def time_interleaved(models: dict, steps: int, repeats: int, seed: int = 0) -> dict:
    """Seconds per training step of each model, the models timed in turn within every repeat (minimum over the
    repeats): a slow spell of the machine then hits every model alike instead of the ratios."""
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH, SIZES[0]), dtype=np.float32)
    y = np.arange(BATCH) % 10
    upd = {name: np.random.default_rng(seed + 1) for name in models}
    for name, model in models.items():
        for _ in range(20):
            train_step(model, x, y, 0.05, upd[name])
    calls = {name: (lambda r, m=model, u=upd[name]: train_step(m, x, y, 0.05, u)) for name, model in models.items()}
    times = in_turn(calls, repeats, steps, clock=CLOCK)
    return {name: min(ts) for name, ts in times.items()}


def configs() -> dict[str, dict]:
    sb = cv.SoftBounds(0.7)
    pulsed = cv.Pulsed(dw_min=1e-3, bl=31)
    fwd, bwd = periphery_pair("p1")
    out = {
        "digital SGD": {"factory": lambda n, s: DigitalSGD()},
        "Analog SGD expected": {"factory": lambda n, s: AnalogSGD(sb), "target": 1.2},
        "TT-v1 expected (column-wise)": {"factory": lambda n, s: TikiTakaV1(sb), "target": 1.2},
        "TT-v1 expected (whole matrix)": {"factory": lambda n, s: TikiTakaV1(sb, columnwise=False)},
        "Analog SGD expected, signs (per-sample drift)": {"factory": lambda n, s: AnalogSGD(sb, accumulate="signs")},
        "TT-v1 expected, signs": {"factory": lambda n, s: TikiTakaV1(sb, accumulate="signs")},
        "Analog SGD pulsed (dw_min 1e-3, BL 31)": {"factory": lambda n, s: AnalogSGD(sb, pulsed), "target": 3.0},
        "TT-v1 pulsed (column-wise)": {"factory": lambda n, s: TikiTakaV1(sb, mode=pulsed), "target": 3.0},
        "Analog SGD power γ=0.5 expected": {"factory": lambda n, s: AnalogSGD(cv.Power(0.7, 0.5))},
        "toolkit analog_sgd via AlgorithmOptimizer": {
            "factory": lambda n, s: AlgorithmOptimizer(cv.analog_sgd(0.05, sb), lr_ref=0.05)},
        "Analog SGD expected + P1 periphery": {"factory": lambda n, s: AnalogSGD(sb),
                                                "kw": {"io_forward": fwd, "io_backward": bwd}},
    }
    try:  # the TT-v2 family and the aihwkit-faithful tile, when present
        from convergence.tile import transfer_family as transfer
        from convergence.tile import analog_tile as tile
        from convergence.nn.adapters import TileOptimizer, TransferOptimizer
        out["transfer.ttv1 via TransferOptimizer"] = {
            "factory": lambda n, s: TransferOptimizer(transfer.ttv1(0.01, sb), lr_ref=0.05)}
        from convergence.nn.optim import NETWORK
        out["c-TTv2 pulsed (network numerics)"] = {
            "factory": lambda n, s: TransferOptimizer(transfer.chopped_ttv2(0.01, sb, mode=pulsed, numerics=NETWORK),
                                                      lr_ref=0.05), "target": 3.0}
        out["transfer.chopped_ttv2 via TransferOptimizer"] = {
            "factory": lambda n, s: TransferOptimizer(
                transfer.chopped_ttv2(0.01, sb, granularity=1e-3, granularity_fast=1e-3), lr_ref=0.05)}
        out["tile pulse_train (BL 31, UM) via TileOptimizer"] = {
            "factory": lambda n, s: TileOptimizer(sb, update=tile.UpdateParameters(mode="pulse_train"), dw_min=1e-3),
            "target": 3.0}
    except ImportError:
        pass
    return out


def torch_time(python: str | None, steps: int, repeats: int) -> dict | None:
    try:
        import torch  # noqa: F401
        python = sys.executable
    except ImportError:
        if python is None:
            return None
    out = subprocess.run([python, "-c", TORCH_SCRIPT, str(steps), str(repeats), str(BATCH)], capture_output=True,
                         text=True, timeout=600)
    if out.returncode != 0:
        print(f"torch measurement failed: {out.stderr.strip()[-300:]}")
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--epoch-samples", type=int, default=60000)
    ap.add_argument("--torch-python", default=None, help="interpreter with torch installed (optional)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: time.perf_counter; cpu: time.process_time (this process's CPU time)")
    args = ap.parse_args(argv)
    tune_allocator()   # as the training loop does (nn.training.train)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    steps = args.steps or (30 if args.quick else 200)
    repeats = args.repeats or (2 if args.quick else 5)
    per_epoch = -(-args.epoch_samples // BATCH)
    with blas_threads(1):
        models = {name: fcn(c["factory"], sizes=SIZES, seed=0, **c.get("kw", {})) for name, c in configs().items()}
        results = time_interleaved(models, steps, repeats)
    dig = results["digital SGD"]
    print(f"FCN {'-'.join(map(str, SIZES))}, batch {BATCH}, {steps} steps x {repeats} repeats (min), 1 BLAS thread, "
          f"{args.clock} clock")
    print(f"{'optimizer':45s} {'ms/step':>8s} {'epoch s':>8s} {'x digital':>9s}  target")
    for name, c in configs().items():
        t = results[name]
        ratio = t / dig
        target = c.get("target")
        verdict = "" if target is None else (f"< {target:g}: " + ("met" if ratio < target else "MISSED"))
        print(f"{name:45s} {1e3 * t:8.3f} {t * per_epoch:8.1f} {ratio:9.2f}  {verdict}")
    tt = torch_time(args.torch_python, steps, repeats)
    if tt is None:
        print("PyTorch: not importable (pass --torch-python PATH to compare; torch is not a dependency)")
    else:
        ratio = dig / tt["torch_step_s"]
        print(f"PyTorch {tt['torch']} CPU (1 thread): {1e3 * tt['torch_step_s']:.3f} ms/step; "
              f"numpy/torch = {ratio:.2f} (target <= 1.5: {'met' if ratio <= 1.5 else 'MISSED'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
