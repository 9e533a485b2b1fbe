"""CLI subcommands ``figures`` (make-style figure runner + verification report) and ``demo`` (teaching).

``convergence figures [NAME...] [--scale quick|default|long|paper] [--force] [--jobs N]
[--backend joblib|dask] [--scheduler ADDRESS] [--out build]`` runs the recipes ``figures/*.py``
(from the repository root), caches their data under ``data/cache/``, writes
``<out>/figures/<NAME>.png|pdf`` and the report ``<out>/REPORT.md`` + ``<out>/report.html``; with NAMEs
it updates those figures' entries in the report and keeps the others.
All recipes share one pool of workers (``--jobs`` local processes or the dask cluster); ``--dry-run``
prints what would be computed with each recipe's estimated CPU time and memory (docs/scale.md).
Exit code 0 when every figure was produced or skipped for lack of data, 1 when a recipe failed, 2 on bad input.

``convergence demo bias [--tau T --sigma S --lr A --out FILE]`` draws the Analog-SGD bias figure
(:mod:`convergence.experiments.demo`) and prints its numbers.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from typing import Any

from convergence._validate import (ConfigError, available_memory, check_memory, format_bytes, memory_refusal,
                                   output_dir, output_file)
from convergence.cli._args import SEED_MAX, float_arg, int_arg, interrupted, path_arg, size_arg

__all__ = ["add_parser", "run"]


DEMO_OUT = os.path.join("build", "demo_bias.png")


def _default_jobs() -> int:
    return max(1, os.cpu_count() or 1)


def add_parser(sub: Any) -> None:
    """Register ``figures`` and ``demo`` on the main parser's subparsers."""
    p = sub.add_parser("figures", help="regenerate the figures and the verification report (build/)",
                       description="Regenerate the paper figures (recipes figures/*.py, run from the repository "
                                   "root), rebuilding only those whose inputs changed, and write the verification "
                                   "report build/REPORT.md and build/report.html.")
    p.add_argument("names", nargs="*", metavar="NAME", help="recipes to run (NAME or file stem; default: all)")
    p.add_argument("--scale", default="default", choices=["quick", "default", "long", "paper"],
                   help="quick (tests), default (make figures), long (make figures-long: only the recipes that "
                        "define it), paper (papers' iteration/repeat counts)")
    p.add_argument("--force", action="store_true", help="recompute even when the cache is valid")
    p.add_argument("--jobs", type=int_arg(1, 4096), default=None, metavar="N",
                   help=f"local worker processes for sweeps (default: CPU count, here {_default_jobs()})")
    p.add_argument("--backend", default="joblib", choices=["joblib", "dask"],
                   help="joblib (local processes) or dask (a distributed cluster, needs --scheduler)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="dask scheduler, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--out", type=path_arg(), default="build", help="output folder (default build)")
    p.add_argument("--cache", type=path_arg(), default=None, help="cache folder (default data/cache)")
    p.add_argument("--no-errata", action="store_true", help="leave the errata section out of the report")
    p.add_argument("--list", action="store_true", help="list the recipes (NAME, file, paper — title) and exit")
    p.add_argument("--dry-run", action="store_true",
                   help="say which figures are cached and which would be computed, with each recipe's estimated "
                        "CPU time and memory (from the costs recorded by earlier runs), then exit")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars (default: when stderr is a terminal)")
    p.add_argument("--max-memory", type=size_arg(), default=None, metavar="SIZE",
                   help="refuse a run whose recipes to compute are estimated to need more than SIZE together (e.g. 2G "
                        "= 2 GiB; default: the memory available); --dry-run says whether the run fits")

    d = sub.add_parser("demo", help="teaching demos (demo bias: the Analog SGD bias in one figure)",
                       description="Teaching demos. 'bias': Analog SGD on a scalar quadratic settles at a biased "
                                   "point; digital SGD and Tiki-Taka for contrast.")
    d.add_argument("topic", choices=["bias"], help="which demo")
    d.add_argument("--tau", type=float_arg(0.0, strict_min=True), default=1.0, help="soft-bounds τ (default 1)")
    d.add_argument("--sigma", type=float_arg(0.0), default=0.5, help="gradient-noise std σ (default 0.5)")
    d.add_argument("--lr", type=float_arg(0.0, 1.0, strict_min=True), default=0.02,
                   help="step size α in (0, 1) (default 0.02)")
    d.add_argument("--w-star", type=float_arg(), default=0.5, help="minimiser w* inside (-τ, τ) (default 0.5)")
    d.add_argument("--trials", type=int_arg(2), default=1000, help="independent trials (default 1000)")
    d.add_argument("--steps", type=int_arg(2, 10**8), default=None, help="iterations (default 60/α, at least 500)")
    d.add_argument("--seed", type=int_arg(0, SEED_MAX), default=2024,
                   help="root seed (default 2024, the seed of the numbers in docs/teaching.md)")
    d.add_argument("--out", type=path_arg(), default=DEMO_OUT,
                   help="output image, .png/.pdf/.svg (default build/demo_bias.png)")


def run(args: argparse.Namespace) -> int:
    """Dispatch ``figures`` / ``demo``."""
    if args.command == "demo":
        return _run_demo(args)
    return _run_figures(args)


def _run_demo(args: argparse.Namespace) -> int:
    from convergence.experiments.demo import bias_demo, format_bias_demo, plot_bias_demo
    from convergence.experiments.plotting import save_figure

    if args.out == DEMO_OUT:   # the default folder is created; a folder the user names must exist
        os.makedirs(os.path.dirname(DEMO_OUT), exist_ok=True)
    output_file("--out", args.out, ("png", "pdf", "svg"))
    # per trial: three algorithms' weights and temporaries plus ~300 recorded weights and metrics each
    check_memory(f"demo bias with {args.trials} trials", 8.0 * args.trials * (3 * 300 * 4 + 40),
                 hint="use fewer --trials")
    data = bias_demo(tau=args.tau, sigma=args.sigma, lr=args.lr, w_star=args.w_star, trials=args.trials,
                     steps=args.steps, seed=args.seed)
    fig = plot_bias_demo(data)
    save_figure(fig, args.out)
    import matplotlib.pyplot as plt

    plt.close(fig)
    print(format_bias_demo(data))
    print(f"wrote {args.out}")
    return 0


def _list(args: argparse.Namespace, root: Any, cache_dir: str, jobs: int) -> int:
    from convergence.experiments.cache import Cache
    from convergence.experiments.runner import cache_status, selected

    # the run's own selection: a file that does not import is a row of its own (the run reports it and computes the
    # others), not a refusal of the whole listing
    broken: dict[str, str] = {}
    recipes = selected(root, args.names, None if args.list else args.scale, broken)
    bad = [stem for stem in broken if not args.names or stem in args.names]
    from convergence.experiments.costs import estimate

    cache = Cache(cache_dir)
    # the calibration run must record its costs in the cache this dry run reads
    calibrate = "convergence figures --scale quick" + (f" --cache {shlex.quote(args.cache)}" if args.cache else "")
    cpu_total, unknown = 0.0, 0
    mem_max: float | None = None
    # the short columns padded to their longest entry; paper and title, of any length, last (so nothing misaligns)
    w_name = max([len(r.name) for r in recipes] + [len(stem) for stem in bad], default=0)
    w_file = max([len(r.path.name) for r in recipes] + [len(stem) + 3 for stem in bad], default=0)
    for r in recipes:
        if args.list:
            print(f"{r.name:<{w_name}}  {r.path.name:<{w_file}}  {r.paper} — {r.title}")
        else:
            key, state = cache_status(r, args.scale, cache)
            todo = "up to date" if state == "cached" and not args.force else \
                f"would compute ({'--force' if args.force else state})"
            est = estimate(r, args.scale, cache, calibrate)
            if est.cpu_hours == est.cpu_hours:   # not NaN
                cpu_total += est.cpu_hours
                if est.peak_gb == est.peak_gb:   # not NaN
                    mem_max = est.peak_gb if mem_max is None else max(mem_max, est.peak_gb)
                mem = ("memory not recorded" if est.peak_gb != est.peak_gb else   # NaN: no peak in the sidecar
                       f"{'<=' if est.peak_is_bound else '~'}{format_bytes(est.peak_gb * 1e9)}")   # <=: a bound
                cost = f"{_about(est.cpu_hours)} CPU, {mem} ({est.basis})"
            else:
                unknown += 1
                cost = est.basis
            print(f"{r.name:<28} {args.scale:<8} {key[:16]}  {todo:<28} {cost}")
    for stem in bad:
        if args.list:
            print(f"{stem:<{w_name}}  {stem + '.py':<{w_file}}  (does not import) {broken[stem]}")
        else:
            print(f"{stem:<28} {args.scale:<8} {'-':<16}  {'would fail':<28} {broken[stem]}")
    if not args.list and not recipes:
        print("total: nothing to compute")
    elif not args.list and unknown == len(recipes):   # a total of 0 s would read as "free"
        print(f"total: unknown, none of the {unknown} recipe(s) measured yet (run: {calibrate}, then --dry-run again)")
    elif not args.list:
        print(f"total{f' of the {len(recipes) - unknown} measured' if unknown else ''}: {_about(cpu_total)} CPU"
              + (f" (~{cpu_total:.3g} CPU-hours), " if 3600 * cpu_total >= 0.01 else ", ")
              + ("largest recipe peak: memory not recorded" if mem_max is None
                 else f"largest recipe peak ~{format_bytes(mem_max * 1e9)} (one process)")
              + (f"; {unknown} recipe(s) not measured" if unknown else ""))
    if not args.list:   # the check a run makes before it starts (--max-memory, else the memory available now)
        try:
            need, limit = _check_figures_memory(args, root, cache_dir, jobs)
        except ConfigError as exc:     # what the run itself would say, with its exit code
            print(f"memory: the run would be refused: {exc}")
            print(f"convergence figures: error: the run would be refused: {exc}", file=sys.stderr)
            return 2
        else:
            where = "on this machine" if args.backend == "dask" else f"with {jobs} job(s)"
            print("memory: nothing to compute" if not need else
                  f"memory: the run needs about {format_bytes(need)} {where} in all processes together (the model "
                  "--max-memory checks), "
                  f"within {'--max-memory' if args.max_memory is not None else 'available memory'} "
                  f"{format_bytes(limit)}")
    return 0


def _about(h: float) -> str:
    """An estimated CPU time: ``~`` and :func:`_hours`, or its bound alone ("< 0.01 s", not "~< 0.01 s")."""
    text = _hours(h)
    return text if text.startswith("<") else f"~{text}"


def _hours(h: float) -> str:
    """CPU time for people: seconds, minutes or hours."""
    s = 3600.0 * h
    if s < 0.01:   # "~0.00018 s" reads as a measurement of that precision
        return "< 0.01 s"
    return f"{s:.2g} s" if s < 10 else f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{h:.1f} h"


def recipe_bytes(recipe: Any, scale: str, jobs: int) -> float:
    """Estimated peak bytes of one recipe (:func:`convergence.experiments.costs.structural_bytes`)."""
    from convergence.experiments.costs import structural_bytes

    return structural_bytes(recipe.config(scale), jobs)


def _check_figures_memory(args: argparse.Namespace, root: Any, cache_dir: str, jobs: int) -> tuple[float, int]:
    """Refuse, before any recipe runs, a run whose recipes to compute (not cached) exceed the limit together
    (:func:`convergence.experiments.costs.run_bytes`: with more than one job they run concurrently, and the main
    process holds every network recipe's data set at once); the message names the largest recipe and the option
    that makes the run fit (the most --jobs with which it does; on dask, a serial joblib run if that holds less;
    else a smaller --scale; at quick, more memory). On a dask cluster the workers are other processes, so this
    machine holds the main process alone, whatever --jobs says. Returns the run's estimated bytes and the limit it
    fits within."""
    from convergence.experiments.cache import Cache
    from convergence.experiments.costs import run_bytes
    from convergence.experiments.runner import cache_status, selected

    dask = args.backend == "dask"
    local = 1 if dask else jobs   # processes of this run on this machine (1: the main one alone)
    limit = args.max_memory if args.max_memory is not None else available_memory()
    recipes = selected(root, args.names, args.scale, {})     # the files that do not import: the run reports them
    cache = Cache(cache_dir)
    todo = [r for r in recipes if args.force or cache_status(r, args.scale, cache)[1] != "cached"]
    cfgs = [r.config(args.scale) for r in todo]

    def need(j: int) -> float:
        return run_bytes(cfgs, j, concurrent=dask or j > 1)

    total = need(local)
    if total <= limit:
        return total, limit
    fits = [] if dask else [j for j in range(local - 1, 0, -1) if need(j) <= limit]
    if fits:
        hint = f"use --jobs {fits[0]}"
    elif dask and run_bytes(cfgs, 1, concurrent=False) <= limit:   # one recipe at a time: one data set held
        hint = "use --backend joblib --jobs 1 (the dask client holds every network recipe's data set at once)"
    elif args.scale != "quick":
        hint = "use a smaller --scale"
    else:
        hint = "raise --max-memory" if args.max_memory is not None else "free memory or give a larger --max-memory"
    worst = max(todo, key=lambda r: recipe_bytes(r, args.scale, local))
    where = "on this machine (dask workers not counted)" if dask else f"with {jobs} job(s)"
    others = f" with {len(todo) - 1} other recipe(s)" if len(todo) > 1 else ""
    # the limit read once (the available memory, read again, could differ between the decision and the message)
    raise memory_refusal(f"figure {worst.name}{others} at scale {args.scale} {where}", total, limit,
                         "--max-memory" if args.max_memory is not None else "available memory", hint)


def _writable_folder(name: str, path: str) -> None:
    """Create ``path`` (with its parents) and write a temporary file in it; ConfigError naming ``name`` if not."""
    import tempfile

    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise ConfigError(f"{name}: cannot write into the folder {path} ({exc.strerror or exc})") from None


def _run_figures(args: argparse.Namespace) -> int:
    from convergence.experiments.recipes import find_repo_root
    from convergence.experiments.runner import run_figures
    from convergence.experiments.report import collect_errata, write_report

    from convergence.experiments.parallel import _validate_settings

    jobs = _default_jobs() if args.jobs is None else args.jobs
    _validate_settings(jobs, args.backend, args.scheduler)   # before the run's first line, which names the scheduler
    root = find_repo_root()
    out = args.out if os.path.isabs(args.out) else os.path.join(root, args.out)
    cache = args.cache or os.path.join(root, "data", "cache")
    output_dir("--cache", cache)
    if not (args.list or args.dry_run):
        output_dir("--out", out)
        output_dir("--out", os.path.join(out, "figures"))   # where the images go: a file there fails every plot
    if args.list or args.dry_run:
        return _list(args, root, cache, jobs)
    _check_figures_memory(args, root, cache, jobs)
    # made and written to now (after every refusal, which leaves nothing behind), so that a folder the checks above
    # cannot judge (a read-only or special file system, where root passes every permission test) fails here in one
    # line, not after the computation
    _writable_folder("--cache", cache)
    _writable_folder("--out", os.path.join(out, "figures"))

    where = f"dask scheduler {args.scheduler}" if args.backend == "dask" else f"{jobs} local job(s)"
    # the header waits for the run's first message, so that a bad name or scale is one line on stderr;
    # with dask it comes at once, since connecting to the scheduler may take a while
    header = [f"figures: scale {args.scale}, {where}; data cache {cache}"]

    def flush_header() -> None:
        if header:
            print(header.pop(), flush=True)

    def log(msg: str) -> None:
        if interrupted():   # a recipe error caused by Ctrl-C: stop instead of reporting it
            raise KeyboardInterrupt
        flush_header()
        print(msg, file=sys.stderr if msg.startswith(("ERROR",)) or ": ERROR" in msg else sys.stdout, flush=True)

    t0 = time.perf_counter()
    if args.backend == "dask":
        flush_header()
    results = run_figures(args.names, scale=args.scale, root=root, out_dir=out, cache_dir=cache, force=args.force,
                          jobs=jobs, backend=args.backend, scheduler=args.scheduler, progress=args.progress, log=log)
    flush_header()
    errata = None if args.no_errata else collect_errata(root, cache, log=log)
    command = " ".join(["convergence figures", *map(shlex.quote, args.names), "--scale", args.scale]
                       + (["--force"] if args.force else []) + ["--jobs", str(jobs), "--backend", args.backend]
                       + (["--scheduler", args.scheduler] if args.scheduler else []))
    rerun = (["--out", args.out] if args.out not in ("build", "build/") else []) \
        + (["--cache", args.cache] if args.cache else [])
    meta = {"command": command, "total_seconds": time.perf_counter() - t0,
            "jobs": jobs, "backend": args.backend, "created": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "rerun_args": " ".join(map(shlex.quote, rerun))}
    # a run of named figures updates their entries in the report and keeps the others
    paths = write_report(results, scale=args.scale, out_dir=out, errata=errata, meta=meta, partial=bool(args.names))
    failed = [r.name for r in results if r.status == "error"]
    skipped = [r.name for r in results if r.status == "skipped"]
    n_claims = sum(len(r.claims) for r in results)
    n_fail = sum(c["verdict"] == "fails" for r in results for c in r.claims)
    n_open = sum(c["verdict"] == "inconclusive" for r in results for c in r.claims)
    made = len(results) - len(skipped) - len(failed)
    not_made = f" ({len(skipped)} skipped)" if skipped else ""
    print(f"{made} figure(s) in {out}/figures{not_made}, {n_claims} claim(s) ({n_fail} fail, {n_open} inconclusive at "
          f"this scale{'; the quick scale is a smoke test' if args.scale == 'quick' else ''}); "
          f"report {paths['md']} and {paths['html']} ({time.perf_counter() - t0:.1f} s)")
    if skipped:
        print(f"convergence figures: {len(skipped)} recipe(s) skipped, data unavailable: {', '.join(skipped)} "
              "(get a data set with `make data`, then rerun)", file=sys.stderr)
    if failed:
        print(f"convergence figures: {len(failed)} recipe(s) failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
