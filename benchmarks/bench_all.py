"""Every benchmark in one run, one table of ratios against baselines measured in the same run.

Rows (benchmark: case, then what it is compared with):

* steps (``bench_steps.py``): one Analog SGD / Tiki-Taka step vs a bare NumPy streaming pass over the
  same array (``np.add(w, g, out=w)``), and a Python loop over trials vs the batched step; the pulsed Analog
  SGD step also vs its generator drawing one uniform per weight (same shape, float64: ``uniform draw``) and
  vs the 32-bit uniforms its stochastic rounding actually draws (``uniform32 draw``);
* simulate (``bench_steps.simulate_vs_loop``): ``convergence.simulate`` at the CLI's default recording
  vs a bare loop of the same recursion (same calls and random streams, final weights checked equal);
* tile (``bench_tile.py``): the P1 Fig. 3 pulse-train workload, 4 τ × 10 seeds batched on the trials
  axis vs 40 single runs one after the other (a per-trial loop), and aihwkit's 40 runs vs the batched run: measured
  in this run when ``AIHWKIT_PYTHON`` names an interpreter with aihwkit (never a dependency), else aihwkit 1.2.0's
  stated 42.7 s measured on this machine, nearly idle (full runs only);
* transfer (``bench_transfer.py``): one 512×512 batch-32 update of each transfer algorithm vs the
  digital update ``W -= lr dᵀx`` of the same tile;
* fcn (``bench_fcn.py``) and swin (``bench_swin.py``): an analog training step vs the digital step of the
  same network (the Swin at batch 128, and also as the transfer study fine-tunes: batch 32, one thread);
  NumPy's digital step vs PyTorch CPU's when ``TORCH_PYTHON`` names an interpreter with torch (torch is never a
  dependency; without it the row says "not measured").

Times are minima over repeats (robust to a shared machine), or median steps where models step in turn (the Swin
rows); the load average is printed with the table. ``--rounds N`` runs everything N times in turn and merges the
rows (:func:`merge_rounds`: median ratio, range, a verdict over the rounds); ``make bench`` uses 3. ``--quick``
shrinks every workload so the whole run takes a few seconds (a smoke test: its ratios are noisier, and it leaves
out the study-batch Swin rows and the stated aihwkit reference). Run: ``make bench`` or
``python benchmarks/bench_all.py [--quick] [--rounds N]``.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np

from convergence._timing import best_time

HERE = Path(__file__).resolve().parent


def _load(name: str) -> ModuleType:
    """A sibling benchmark script as a module (they are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def row(bench: str, case: str, t: float | None, baseline: str, t_base: float | None,
        target: tuple[str, float] | None = None, note: str = "") -> dict[str, Any]:
    """One table row: ratio = t / t_base; ``target`` = ("<=" or ">=", value) on that ratio."""
    ratio = None if t is None or t_base is None else t / t_base
    verdict = ""
    if ratio is not None and target is not None:
        op, v = target
        verdict = "met" if (ratio <= v if op == "<=" else ratio >= v) else "NOT met"
    return {"bench": bench, "case": case, "t": t, "baseline": baseline, "t_base": t_base, "ratio": ratio,
            "target": "" if target is None else f"{target[0]} {target[1]:g}", "verdict": verdict, "note": note,
            "spread": ""}


def merge_rounds(rounds: list[list[dict]]) -> list[dict]:
    """One row per (benchmark, case, baseline) from several rounds of the same benchmarks, run one after another.

    Within a round a ratio's two times are measured back to back, so the ratio is taken per round; the merged row
    gives the median of the rounds' ratios and their range, and the median of each time column over the rounds
    that measured it (so the two time columns need not divide to the median ratio). Its verdict follows a rule
    fixed in this code, not chosen after seeing the numbers: "met" when every round meets the target, "NOT met"
    when none does, else "met in k of n rounds" (the machine's noise is larger than the distance to the target). A
    row that some rounds did not measure (a failed peer run, say) counts those rounds as not meeting the target
    and says "measured in k of n rounds"."""
    n = len(rounds)
    if n == 1:
        return rounds[0]
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for rows in rounds:
        for r in rows:
            groups.setdefault((r["bench"], r["case"], r["baseline"]), []).append(r)
    out = []
    for rs in groups.values():
        first = dict(rs[0])
        for key in ("t", "t_base"):      # the median of the rounds that measured it
            times = [r[key] for r in rs if r[key] is not None]
            first[key] = float(np.median(times)) if times else None
        measured = [r for r in rs if r["ratio"] is not None]
        notes = [r["note"] for r in rs if r["note"]]
        first["note"] = notes[0] if notes and not measured else ""
        if not measured:
            first.update(ratio=None, verdict="")
            out.append(first)
            continue
        ratios = [r["ratio"] for r in measured]
        first.update(ratio=float(np.median(ratios)), spread=f"{min(ratios):.4g}-{max(ratios):.4g}")
        if len(measured) < n:
            first["note"] = f"measured in {len(measured)} of {n} rounds"
        if first["target"]:
            met = sum(r["verdict"] == "met" for r in measured)
            first["verdict"] = "met" if met == n else "NOT met" if met == 0 else f"met in {met} of {n} rounds"
        out.append(first)
    return out


def bench_steps(quick: bool) -> list[dict]:
    m = _load("bench_steps")
    repeats = 2 if quick else 7
    cases = [("analog-sgd", "expected", 1024, 50), ("analog-sgd", "pulsed", 1024, 50)]
    if not quick:
        cases += [(a, mo, t, d) for a in ("analog-sgd", "tiki-taka") for mo in ("expected", "pulsed")
                  for (t, d) in ((1024, 50), (1, 512 * 512)) if (a, mo, t, d) not in cases]
    rows = []
    for alg, mode, t, d in cases:
        r = m.bench_case(alg, mode, t, d, repeats, loop_trials=16 if quick else 128)
        target = ("<=", 4.0 if mode == "expected" else 10.0) if alg == "analog-sgd" else None
        rows.append(row("steps", f"{alg} {mode} {t}x{d}", r["t_step"], "streaming pass", r["t_stream"], target))
        if mode == "pulsed" and alg == "analog-sgd":
            rows.append(row("steps", f"{alg} {mode} {t}x{d}", r["t_step"], "uniform draw", r["t_uniform"], ("<=", 2.0)))
            rows.append(row("steps", f"{alg} {mode} {t}x{d}", r["t_step"], "uniform32 draw", r["t_rng"]))
        if "t_loop" in r:
            rows.append(row("steps", f"{alg} {mode} {t}x{d}: per-trial loop", r["t_loop"], "batched step", r["t_step"],
                            (">=", 50.0) if alg == "analog-sgd" else None))
    s = m.simulate_vs_loop(steps=2000 if quick else 20000, repeats=2 if quick else 3)
    rows.append(row("simulate", f"analog-sgd {s['trials']}x{s['d']}, {s['steps']} steps, record every "
                    f"{s['record_every']}", s["t_sim"], "bare NumPy loop", s["t_bare"], ("<=", 1.3)))
    return rows


def bench_tile(quick: bool) -> list[dict]:
    m = _load("bench_tile")
    iters, repeats = (20, 1) if quick else (2500, 3)
    batched = min(m.fig3_run(m.TAUS, 10, iters, seed=r)[0] for r in range(repeats))
    single = min(m.fig3_run((1.0,), 1, iters, seed=r)[0] for r in range(repeats))
    loop = 40 * single
    rows = [row("tile", f"P1 Fig. 3 pulse train, 4 taus x 10 seeds, {iters} iterations: per-trial loop", loop,
                "batched run", batched, (">=", 1.0))]
    # aihwkit's 40 runs of the same iterations, measured now when AIHWKIT_PYTHON names an interpreter with it;
    # else (full runs only) the stated 42.7 s of aihwkit 1.2.0 on this machine (aihwkit is not a dependency)
    peer = m.aihwkit_run(m.TAUS, 10, iters)
    if peer is not None:
        rows.append(row("tile", f"P1 Fig. 3 pulse train, 40 runs: aihwkit {peer['aihwkit']} (measured)",
                        peer["seconds"], "batched run", batched, (">=", 100.0)))
    elif not quick:
        rows.append(row("tile", "P1 Fig. 3 pulse train, 40 runs: aihwkit 1.2.0 (42.7 s)",
                        40 * m.AIHWKIT_SECONDS_PER_RUN, "batched run", batched, (">=", 100.0),
                        "stated reference (set AIHWKIT_PYTHON)"))
    return rows


def bench_transfer(quick: bool) -> list[dict]:
    """One BLAS thread, as ``bench_transfer.py`` sets it and as the aihwkit references were measured."""
    from convergence.nn._threads import blas_threads

    with blas_threads(1):
        return _bench_transfer(quick)


def _bench_transfer(quick: bool) -> list[dict]:
    m = _load("bench_transfer")
    repeats, warmup = (2, 1) if quick else (15, 3)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((m.BATCH, m.N))
    d = 0.1 * rng.standard_normal((m.BATCH, m.N))
    w = np.zeros((m.N, m.N))

    def digital() -> None:
        np.subtract(w, m.LR * (d.T @ x), out=w)

    t_dig = best_time(digital, 5 * repeats)
    algs = m.algorithms("signs", np.random.default_rng(1))
    names = ("sgd", "c-ttv2") if quick else tuple(algs)
    rows = []
    signs = {}
    for name in names:
        wall, _ = m.time_steps(algs[name], repeats, warmup, seed=2)
        signs[name] = min(wall)
        rows.append(row("transfer", f"{name} 512x512 batch 32 (signs)", signs[name], "digital update", t_dig))
    # the tile's per-sample write (aihwkit's pulse trains) against the batch stochastic-rounding write
    for name, alg in m.tile_write_algorithms("pulse_train", np.random.default_rng(1)).items():
        if name not in signs:
            wall, _ = m.time_steps(algs[name], repeats, warmup, seed=2)
            signs[name] = min(wall)
        wall, _ = m.time_steps(alg, max(2, repeats // 2), min(warmup, 2), seed=2)
        rows.append(row("transfer", f"{name} 512x512 batch 32, tile pulse trains (TileWrite)", min(wall),
                        "signs write", signs[name], ("<=", 10.0)))
    return rows


def _torch_python() -> str | None:
    """The interpreter named by ``TORCH_PYTHON`` if it exists (PyTorch is compared only from a separate env)."""
    p = os.environ.get("TORCH_PYTHON")
    return p if p and os.path.exists(p) else None


def bench_fcn(quick: bool) -> list[dict]:
    m = _load("bench_fcn")
    steps, repeats = (5, 1) if quick else (100, 10)
    cfgs = m.configs()
    names = ["digital SGD"] + [n for n, c in cfgs.items() if c.get("target") is not None]
    with m.blas_threads(1):   # the models timed in turn in every repeat, so the ratios share the machine's state
        models = {n: m.fcn(cfgs[n]["factory"], sizes=m.SIZES, seed=0, **cfgs[n].get("kw", {})) for n in names}
        times = m.time_interleaved(models, steps, repeats)
    dig = times["digital SGD"]
    rows = [row("fcn", n, times[n], "digital step", dig, ("<=", cfgs[n]["target"])) for n in names[1:]]
    tp = _torch_python()
    tt = None
    if tp is not None:
        out = subprocess.run([tp, "-c", m.TORCH_SCRIPT, str(steps), str(repeats), str(m.BATCH)], capture_output=True,
                             text=True, timeout=600)
        tt = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    rows.append(row("fcn", "NumPy digital step", dig, "PyTorch CPU step", None if tt is None else tt["torch_step_s"],
                    ("<=", 1.5), "" if tt is not None else "not measured (set TORCH_PYTHON)"))
    return rows


def bench_swin(quick: bool) -> list[dict]:
    m = _load("bench_swin")
    steps, batch = (2, 8) if quick else (20, 128)
    algs = ("c-ttv2",) if quick else ("sgd", "ttv2", "c-ttv2", "agad")
    t = {a: r["median_s"] for a, r in m.time_interleaved(("digital",) + algs, steps, batch).items()}
    dig = t["digital"]
    rows = [row("swin", f"{a} step, batch {batch}", t[a], "digital step", dig, ("<=", 1.3)) for a in algs]
    tp = _torch_python()
    tt = None
    if tp is not None:
        threads = 2
        out = subprocess.run([tp, "-c", m.TORCH_SCRIPT, str(threads), str(steps), str(batch)], capture_output=True,
                             text=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)), timeout=600)
        tt = json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 else None
    note = "" if tt is not None else "not measured (set TORCH_PYTHON)"
    rows.append(row("swin", f"NumPy digital step, batch {batch}", dig, "PyTorch CPU step",
                    None if tt is None else tt["median_s"], None, note))
    if not quick:
        rows += _swin_study_rows(m, 30)
    return rows


def _swin_study_rows(m: ModuleType, steps: int) -> list[dict]:
    """The analog steps as the transfer study runs them: its fine-tune batch (32 at default), rate and device, on
    one thread, as each worker of a figures run has, a fresh class-conditional mini-batch every step
    (``bench_swin.time_interleaved`` with ``data="task"``). Median step time, the algorithms stepping in turn."""
    from convergence.nn._threads import blas_threads
    from convergence.swin.runner import SCALES

    study = SCALES["default"]
    batch = int(study["finetune"]["batch"])
    with mock.patch.dict(os.environ, {"CONVERGENCE_ELEMENTWISE_THREADS": "1"}), blas_threads(1):
        algs = ("digital", "sgd", "c-ttv2")
        res = m.time_interleaved(algs, steps, batch, data="task", device=study["device"],
                                 lr=float(study["finetune"]["lr"]))
    t = {a: r["median_s"] for a, r in res.items()}
    return [row("swin", f"{a} step, batch {batch}, 1 thread (the study's fine-tune)", t[a],
                "digital step, same", t["digital"], ("<=", 1.3)) for a in algs[1:]]


BENCHES = {"steps": bench_steps, "tile": bench_tile, "transfer": bench_transfer, "fcn": bench_fcn, "swin": bench_swin}


def _ms(t: float | None) -> str:
    return "-" if t is None else f"{1e3 * t:.3g}"


def table(rows: list[dict]) -> str:
    spread = any(r.get("spread") for r in rows)
    head = ("benchmark", "case", "ms", "baseline", "baseline ms", "ratio") + (("range",) if spread else ()) + \
        ("target", "")
    lines = [head] + [(r["bench"], r["case"], _ms(r["t"]), r["baseline"], _ms(r["t_base"]),
                       "not measured" if r["ratio"] is None else f"{r['ratio']:.3g}")
                      + ((r.get("spread", ""),) if spread else ())
                      + (r["target"], "; ".join(v for v in (r["verdict"], r["note"]) if v)) for r in rows]
    widths = [max(len(str(ln[i])) for ln in lines) for i in range(len(head))]
    left = {0, 1, 3, len(head) - 1}
    fmt = "  ".join(f"{{:{'<' if i in left else '>'}{w}}}" for i, w in enumerate(widths))
    out = [fmt.format(*ln).rstrip() for ln in lines]
    out.insert(1, "-" * len(out[0]))
    return "\n".join(out)


def machine() -> str:
    """The CPU model, its widest SIMD extension, and the NumPy version: ratios depend on them (NumPy and its BLAS pick
    their kernels by CPU; the pulsed step against its uniforms read 2.2 on one 2-core machine and 4.3 on another)."""
    model, flags = "", set()
    try:
        for ln in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, val = ln.partition(":")
            if key.strip() == "model name" and not model:
                model = val.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(val.split())
    except OSError:
        import platform
        model = platform.processor() or platform.machine()
    simd = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("sse4_2", "SSE4.2"))
                 if flag in flags), "SIMD unknown")
    return f"{model or 'unknown CPU'}, {simd}, NumPy {np.__version__}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny workloads: the whole run in a few seconds")
    ap.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the rows as JSON")
    ap.add_argument("--rounds", type=int, default=1, metavar="N",
                    help="run the benchmarks N times in turn; each row then shows the median ratio, its range, and "
                         "'met' only when every round meets its target")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error(f"--rounds must be at least 1 (got {args.rounds})")
    from convergence._alloc import tune_allocator

    tune_allocator()
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    names = list(dict.fromkeys(args.only.split(",")))     # each benchmark once per round
    for name in names:
        if name not in BENCHES:
            ap.error(f"unknown benchmark {name!r} (known: {', '.join(BENCHES)})")
    rounds = []
    for _ in range(args.rounds):
        rounds.append([r for name in names for r in BENCHES[name](args.quick)])
    rows = merge_rounds(rounds)
    load1 = os.getloadavg()
    print(table(rows))
    how = "each the best of its repeats, or the median step where the models step in turn" + (
        "" if args.rounds == 1 else f"; per round, then the median and range over {args.rounds} rounds")
    print(f"\nratio = time / baseline time, both measured in this run ({how}); "
          f"{'quick mode, ' if args.quick else ''}{time.perf_counter() - t0:.1f} s; "
          f"load average before/after {load0[0]:.2f} / {load1[0]:.2f} on {os.cpu_count()} cores")
    print(f"machine: {machine()}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
