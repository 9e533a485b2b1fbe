"""Command-line interface: ``convergence <command> ...`` (also ``python -m convergence``).

Commands:
    simulate   run an algorithm on an objective with gradient noise, print tail statistics
    device     plot q+, q-, F, G and the symmetric point of a device
    proofs     run the sympy / numerical checks of proofs_checks/ (cli_proofs)
    errata     print the papers' errata with their evidence (cli_proofs)
    figures    regenerate the figures and the verification report (cli_figures)
    demo       teaching demos: ``demo bias`` (cli_figures)
    check      the property battery on an algorithm factory (cli_check)
    train      train the papers' FCN/CNN with an analog optimizer (cli_nn)
    data       data-set status and the MNIST download (cli_nn)
    transfer   the analog transfer-learning study on the micro Swin (cli_transfer)

Bad input exits with code 2 and one line naming the bad field.
"""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from typing import Any, Sequence

import numpy as np

from convergence import __version__
from convergence.cli import figures as cli_figures
from convergence._alloc import tune_allocator
from convergence.cli import proofs as cli_proofs
from convergence.cli import check as cli_check
from convergence.cli import train as cli_nn
from convergence.cli import transfer_study as cli_transfer
from convergence._validate import (ConfigError, available_memory, check_memory, finite_float, json_text,
                                   output_file)
from convergence.cli._args import (SEED_MAX, float_arg, int_arg, interrupt_guard, interrupted, path_arg,
                                   size_arg)
from convergence.physics.pulses import Pulsed
from convergence.sim.algorithms import analog_sgd, digital_sgd, tiki_taka
from convergence.physics.devices import Device, realize
from convergence.sim.objectives import weight_dim
from convergence.rng import DEVICE, DEFAULT_BLOCK, TrialStreams
from convergence.sim.simulate import simulate
from convergence.sim.specs import (objective_step_bytes, parse_device, parse_noise, parse_objective, parse_pulsed,
                                   parse_spec, parse_variation)

PROG = "convergence"
#: default bound on the number of recorded steps of ``simulate`` (``--record-every`` overrides it)
MAX_RECORDS = 10_000
#: image formats ``device --out`` and ``demo --out`` write
IMAGE_FORMATS = ("png", "pdf", "svg")


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


#: The device of ``simulate``'s analog algorithms when ``--device`` is not given.
DEFAULT_DEVICE = "softbounds:tau=1"

#: ``simulate`` options that only Tiki-Taka reads, with the value that means "not given".
_TT_ONLY = {"device_fast": None, "lr_fast": None, "lr_transfer": None, "gamma": 0.0, "transfer_every": 1,
            "read_noise": 0.0}
#: ``simulate`` options that only the analog algorithms read.
_ANALOG_ONLY = {"device": None, "pulsed": None, "variation": None}


def _check_options(args: argparse.Namespace) -> None:
    """Say (one line on stderr) which given options the chosen algorithm does not use, so that a run never looks
    as if they had acted, then fill in the default device of the analog algorithms. Not an error: one command line
    looped over the algorithms (as docs/teaching.md does) is the natural comparison."""
    unused = dict(_TT_ONLY) if args.algorithm != "tiki-taka" else {}
    if args.algorithm == "digital-sgd":
        unused.update(_ANALOG_ONLY)
    given = [k for k, none in unused.items() if getattr(args, k) != none]
    if given:
        names = ", ".join("--" + k.replace("_", "-") for k in given)
        print(f"{PROG} simulate: note: {names}: not used by --algorithm {args.algorithm}", file=sys.stderr, flush=True)
    if args.device is None and args.algorithm != "digital-sgd":
        args.device = DEFAULT_DEVICE


def _add_simulate(sub: Any) -> None:
    p = sub.add_parser("simulate", help="simulate a training algorithm on an objective",
                       description="Simulate an algorithm on an objective with gradient noise; print tail statistics.")
    p.add_argument("--algorithm", required=True, choices=["digital-sgd", "analog-sgd", "tiki-taka"])
    p.add_argument("--device", default=None,
                   help=f"device spec, e.g. softbounds:tau=0.8 (analog algorithms; default {DEFAULT_DEVICE})")
    p.add_argument("--device-fast", default=None, help="device of the fast array P (tiki-taka; default: --device)")
    p.add_argument("--objective", required=True, help="objective spec, e.g. quadratic:d=1,L=2,w_star=0.3")
    p.add_argument("--noise", default="none", help="noise spec, e.g. gaussian:sigma=0.4")
    p.add_argument("--lr", type=float_arg(0.0, strict_min=True), default=None,
                   help="step size α (SGD; tiki-taka transfer default)")
    p.add_argument("--lr-fast", type=float_arg(0.0, strict_min=True), default=None,
                   help="tiki-taka: step size on P (default --lr)")
    p.add_argument("--lr-transfer", type=float_arg(0.0, strict_min=True), default=None,
                   help="tiki-taka: transfer step size (default --lr)")
    p.add_argument("--gamma", type=float_arg(0.0), default=0.0, help="tiki-taka: mixing W + γP")
    p.add_argument("--transfer-every", type=int_arg(1), default=1, help="tiki-taka: transfer every N steps (default 1)")
    p.add_argument("--read-noise", type=float_arg(0.0), default=0.0, help="tiki-taka: std of transfer-read noise")
    p.add_argument("--pulsed", default=None, metavar="dw_min=X,bl=N", help="pulsed mode (default: expected)")
    p.add_argument("--variation", default=None, metavar="KEY=V,...",
                   help="device-to-device variation: dw_min_dtod, up_down_dtod, range_dtod, sym_skew, sym_dtod")
    p.add_argument("--steps", type=int_arg(1), required=True, help="iterations per trial")
    p.add_argument("--trials", type=int_arg(1), default=1,
                   help="independent trials (default 1; standard errors need at least 2)")
    p.add_argument("--seed", type=int_arg(0, SEED_MAX), default=0, help="root seed (default 0)")
    p.add_argument("--init", default="0", metavar="W0", help="initial weight: scalar or comma-separated vector")
    p.add_argument("--tail", type=float_arg(0.0, 1.0, strict_min=True), default=0.5,
                   help="tail fraction of the steps (default 0.5)")
    p.add_argument("--record-every", type=int_arg(1), default=None,
                   help=f"record metrics every N steps (default: about {MAX_RECORDS} records in all)")
    p.add_argument("--trial-block", type=int_arg(1), default=DEFAULT_BLOCK, help="trials per random stream")
    p.add_argument("--max-memory", type=size_arg(), default=None, metavar="SIZE",
                   help="refuse runs estimated to need more than SIZE (e.g. 2G; default: available memory)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show a progress bar (default: when stderr is a terminal)")


def _add_device(sub: Any) -> None:
    p = sub.add_parser("device", help="plot a device's response functions",
                       description="Plot q+, q-, F, G and the symmetric point of a device; print its summary.")
    p.add_argument("spec", help="device spec, e.g. softbounds:tau=0.8")
    p.add_argument("--out", type=path_arg(), default=None, help="output image (.png/.pdf/.svg); default: print only")
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Check analog in-memory training theory against simulation.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__} (analog-convergence)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_simulate(sub)
    _add_device(sub)
    cli_proofs.add_parser(sub)
    cli_figures.add_parser(sub)
    cli_check.add_parser(sub)
    cli_nn.add_parser(sub)
    cli_transfer.add_parser(sub)
    return parser


def _parse_init(text: str, d: int) -> Any:
    parts = [t for t in text.split(",") if t.strip()]
    if not parts:
        raise ConfigError("--init: empty value")
    vals = [finite_float("--init", t) for t in parts]
    if len(vals) == 1:
        return vals[0]
    if len(vals) != d:
        raise ConfigError(f"--init: {len(vals)} values given but the objective has {d} weights")
    return np.array(vals)


def _check_init_in_range(w0: Any, device: Device, spec: str) -> None:
    """Refuse an initial weight outside the device's range: no conductance starts there, and every trial
    would be flagged out of range and its statistics left NaN."""
    lo, hi = device.bounds
    w = np.atleast_1d(np.asarray(w0, dtype=float))
    outside = w[(w < lo) | (w > hi)]
    if outside.size:
        raise ConfigError(f"--init: {outside[0]:g} lies outside the range [{lo:g}, {hi:g}] of --device {spec}")


def _require_positive(name: str, value: float | None) -> float:
    if value is None:
        raise ConfigError(f"{name} is required for this algorithm")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0 (got {value})")
    return value


def _check_init_in_realized(w0: Any, device: Any, option: str, variation: str) -> None:
    """Refuse a run in which the device-to-device variation puts the initial weights outside every trial's range
    (each trial would be flagged out of range at step 0 and its statistics left NaN); warn when it does so for
    some trials only (those are flagged and left out of the statistics)."""
    lo, hi = device.bounds
    w = np.broadcast_to(np.asarray(w0, dtype=float), np.shape(device.shift))
    outside = np.any((w < lo) | (w > hi), axis=1)
    if outside.all():
        i = int(np.argmax((w < lo) | (w > hi)))
        flat_lo = np.broadcast_to(lo, w.shape).reshape(-1)[i]
        flat_hi = np.broadcast_to(hi, w.shape).reshape(-1)[i]
        raise ConfigError(f"--variation {variation}: the initial weight {w.reshape(-1)[i]:g} lies outside the realised "
                          f"range of {option} in every trial (e.g. [{flat_lo:g}, {flat_hi:g}]): a smaller sym_skew or "
                          "another --init")
    if outside.any():
        print(f"{PROG} simulate: warning: --variation {variation} puts the initial weights outside the realised "
              f"range of {option} in {int(outside.sum())} of {outside.size} trials; they will end out_of_range",
              file=sys.stderr, flush=True)


def build_algorithm(args: argparse.Namespace, shape: tuple[int, int], w0: Any = None) -> Any:
    """Resolve the algorithm from parsed CLI arguments (realising device variation if asked; with ``w0``, checking
    that the initial weights lie in the realised ranges)."""
    mode = parse_pulsed(args.pulsed)
    variation = parse_variation(args.variation)
    if args.algorithm == "digital-sgd":
        return digital_sgd(_require_positive("--lr", args.lr))

    def device_of(spec: str, purpose_offset: int) -> Any:
        option = "--device-fast" if purpose_offset else "--device"
        dev = parse_device(spec, option)
        if variation.is_zero:
            return dev
        streams = TrialStreams(args.seed, shape[0], purpose=DEVICE + 16 * purpose_offset, block=args.trial_block)
        realized = realize(dev, variation, shape, streams)
        if w0 is not None:
            _check_init_in_realized(w0, realized, option, args.variation)
        return realized

    device = device_of(args.device, 0)
    if args.algorithm == "analog-sgd":
        return analog_sgd(_require_positive("--lr", args.lr), device, mode=mode)
    lr_fast = args.lr_fast if args.lr_fast is not None else args.lr
    lr_transfer = args.lr_transfer if args.lr_transfer is not None else args.lr
    if args.transfer_every < 1:
        raise ConfigError(f"--transfer-every must be an integer >= 1 (got {args.transfer_every})")
    if not math.isfinite(args.gamma) or args.gamma < 0:
        raise ConfigError(f"--gamma must be a finite number >= 0 (got {args.gamma})")
    if not math.isfinite(args.read_noise) or args.read_noise < 0:
        raise ConfigError(f"--read-noise must be a finite number >= 0 (got {args.read_noise})")
    fast = device if args.device_fast is None else device_of(args.device_fast, 1)
    return tiki_taka(_require_positive("--lr-fast (or --lr)", lr_fast),
                     _require_positive("--lr-transfer (or --lr)", lr_transfer), device, device_fast=fast,
                     gamma=args.gamma, transfer_every=args.transfer_every, read_noise=args.read_noise, mode=mode)


def simulate_bytes(args: argparse.Namespace, objective: Any, noise: Any, d: int,
                   record_every: int) -> tuple[float, float]:
    """(total, recording) estimated peak bytes of a ``simulate`` run, before anything is allocated.

    Per trial and weight: the algorithm's arrays (tiki-taka keeps W and P), the init, the tail sums and
    about ten step temporaries; realised device variation adds six per-element parameters per array.
    Per trial: the objective's gradient temporaries and minibatch rows. Recording: 3 + 3 per analog
    array metrics per recorded step and trial, plus the set of recorded step indices (~64 B each).
    """
    trials, n_arrays = args.trials, {"digital-sgd": 1, "analog-sgd": 1, "tiki-taka": 2}[args.algorithm]
    per_weight = n_arrays + 14 + (6 * n_arrays if args.variation else 0)
    obj_name, _ = parse_spec(args.objective, "--objective")
    n = getattr(objective, "n_samples", None)
    sizes = {"d": d, "n": n if isinstance(n, int) else 1}
    if obj_name == "twolayer":
        sizes["h"] = int(objective.h)
    per_trial = objective_step_bytes(obj_name, sizes)
    batch = getattr(noise, "batch", None)
    if isinstance(batch, int):
        per_trial += 8 * batch * (d + 2)
    n_rec = -(-args.steps // record_every) + 1
    n_metrics = 3 + 3 * (0 if args.algorithm == "digital-sgd" else n_arrays)
    recording = 8.0 * n_rec * trials * n_metrics + 64.0 * n_rec
    return 8.0 * trials * d * per_weight + float(trials) * per_trial + recording, recording


def _warn_slow_pulses(args: argparse.Namespace, alg: Any, objective: Any, noise: Any, w0: Any, d: int) -> None:
    """Warn once when the pulse-by-pulse loop (no closed form) will take long: its cost per update is
    the largest pulse count, about min(bl, α·|g|/Δw_min) passes over all trials × d elements."""
    mode = parse_pulsed(args.pulsed) if args.pulsed is not None else None
    if not isinstance(mode, Pulsed) or args.algorithm == "digital-sgd":
        return
    dev = parse_device(args.device)
    if dev.affine() is not None and mode.c2c == 0.0:
        return
    g0 = np.asarray(objective.grad(np.broadcast_to(np.asarray(w0, dtype=float), (1, d)).copy()))
    scale = float(np.sqrt(np.mean(g0 * g0))) + float(getattr(noise, "sigma", 0.0) or 0.0)
    lr = max(v for v in (args.lr, args.lr_fast, args.lr_transfer) if v is not None)
    pulses = min(float(mode.bl), max(1.0, lr * scale / mode.dw_min))
    elements = args.trials * d
    seconds = args.steps * pulses * (5e-6 + 2e-8 * elements)
    if seconds > 10:
        print(f"{PROG} simulate: warning: pulsed mode needs about {pulses:.3g} pulses per element and update "
              f"(alpha |g| / dw_min, cap bl={mode.bl}) on a device without a closed form: {args.steps} steps x "
              f"{pulses:.3g} pulses x {elements} elements, roughly {seconds:.3g} s; raise dw_min or lower bl",
              file=sys.stderr, flush=True)


def cmd_simulate(args: argparse.Namespace) -> int:
    _check_options(args)
    limit = args.max_memory if args.max_memory is not None else available_memory()
    objective = parse_objective(args.objective, max_bytes=limit)
    noise = parse_noise(args.noise)
    d = weight_dim(objective)
    record_every = args.record_every if args.record_every is not None else max(1, -(-args.steps // MAX_RECORDS))
    need, recording = simulate_bytes(args, objective, noise, d, record_every)
    if recording > need / 2 and args.steps // record_every > 100:
        hint = f"record less often with --record-every (now {record_every})"
    else:
        hint = "use fewer --trials or a smaller objective"
    check_memory(f"simulate with {args.trials} trials x {d} weights x {args.steps} steps", need,
                 limit=args.max_memory, hint=hint)
    w0 = _parse_init(args.init, d)
    if args.algorithm != "digital-sgd":
        _check_init_in_range(w0, parse_device(args.device), args.device)
    alg = build_algorithm(args, (args.trials, d), w0)
    _warn_slow_pulses(args, alg, objective, noise, w0, d)
    seconds = args.steps * (2e-5 + 3e-8 * args.trials * d)
    if seconds > 3600:
        print(f"{PROG} simulate: warning: {args.steps} steps x {args.trials * d} elements will take roughly "
              f"{seconds / 3600:.3g} h; Ctrl-C stops it", file=sys.stderr, flush=True)
    args.record_every = record_every
    traj = simulate(alg, objective, noise, w0, args.steps, trials=args.trials, seed=args.seed,
                    record_every=record_every, tail=args.tail, progress=args.progress,
                    trial_block=args.trial_block)
    summary = traj.summary()
    summary["config"]["cli"] = {k: v for k, v in vars(args).items() if k not in ("func",)}
    if args.json:
        print(json_text(summary))
    else:
        print(_format_summary(summary))
    return 0




def _format_summary(s: dict[str, Any]) -> str:
    cfg = s["config"]
    t = s["tail"]
    lines = [f"{cfg['algorithm']['name']} on {cfg['objective']['name']} (d={cfg['objective']['d']}), "
             f"{cfg['trials']} trials x {cfg['steps']} steps, seed {cfg['seed']}",
             f"tail (last {cfg['tail']:.0%} of steps, from step {t['start_step']}):"]
    # the weights every metric is taken at: W, or Tiki-Taka's presented W + γP
    w = "W + γP" if np.any(np.asarray(cfg["algorithm"].get("gamma") or 0.0, dtype=float) != 0) else "W"
    for key, label in (("grad_norm_sq", "E||grad f||^2"), ("loss", "E f - f*"), ("dist_sq", f"E||{w} - W*||^2")):
        se = t[key]["stderr"]
        lines.append(f"  {label:<18} {t[key]['mean']:.6g} ± {f'{se:.2g}' if math.isfinite(se) else 'n/a'} (stderr)")
    ok, trials = s["status"]["ok"], cfg["trials"]
    bad = ", ".join(f"{v} {k}" for k, v in s["status"].items() if k != "ok" and v)
    if ok == 0:
        lines.append(f"  (no trial ended ok ({bad}): the tail statistics are over ok trials only; a smaller --lr, "
                     "or an --init and device range that fit, may help)")
    elif ok < 2:
        lines.append("  (a standard error needs at least 2 trials that end ok: " +
                     ("raise --trials)" if trials < 2 else f"only 1 of {trials} did ({bad}))"))
    bias = t["bias_sq"]     # ‖E∇f‖² with the mean's sampling variance removed (Trajectory.bias_sq)
    if math.isfinite(bias["stderr"]):
        lines.append(f"  {'||E grad f||^2':<18} {bias['mean']:.6g} ± {bias['stderr']:.2g} (stderr; squared mean "
                     "gradient, its sampling variance removed" + ("; an estimate below 0 means a bias too small to "
                     "see" if bias["mean"] < 0 else "") + ")")
    elif ok == 1:
        lines.append(f"  {'||E grad f||^2':<18} {t['mean_grad_norm_sq']:.6g} (squared mean gradient of one trial's "
                     "tail, noise included)")
    w_mean, w_se = t["w_mean"], t["w_stderr"]
    more = ", ..." if len(w_mean) > 5 else ""
    shown = ", ".join(f"{v:.5g}" for v in w_mean[:5]) + more
    se = " ± [" + ", ".join(f"{v:.2g}" for v in w_se[:5]) + more + "] (stderr)" \
        if all(math.isfinite(v) for v in w_se[:5]) else ""
    lines.append(f"  {'mean ' + w:<18} [{shown}]{se}")
    lines.append("status: " + ", ".join(f"{k} {v}" for k, v in s["status"].items()))
    lines.append(f"time: {s['seconds']:.2f} s")
    return "\n".join(lines)


def cmd_device(args: argparse.Namespace) -> int:
    dev = parse_device(args.spec, "device spec")
    if args.out is not None:
        output_file("--out", args.out, IMAGE_FORMATS)
    info = describe_device(dev)
    if args.out is not None:
        from convergence.experiments.plotting import plot_device
        plot_device(dev, args.out)
        info["out"] = args.out
    if args.json:
        print(json_text({"status": "ok", **info}))
    else:
        if not math.isfinite(info["symmetric_point"]):
            sym = "no symmetric point (G is nonzero in the whole range)"
        elif np.any(dev.G(np.array([w for w in (info["w_min"], info["symmetric_point"] - 0.5,
                                              info["symmetric_point"] + 0.5, info["w_max"]) if math.isfinite(w)]))):
            sym = f"symmetric point {info['symmetric_point']:.6g}, F(w_sym) = {info['F_at_sym']:.6g}"
        else:     # G = 0 everywhere (e.g. ideal, constant steps with up_down 0): every weight is symmetric
            sym = (f"every point symmetric (G = 0; {info['symmetric_point']:.6g} by convention), "
                   f"F = {info['F_at_sym']:.6g}")
        print(f"{dev.spec()}\n  {dev.equations}\n  range [{info['w_min']:.6g}, {info['w_max']:.6g}], {sym}"
              + (f"\n  wrote {args.out}" if args.out else ""))
    return 0


def describe_device(dev: Device) -> dict[str, Any]:
    lo, hi = dev.bounds
    sym = dev.symmetric_point + 0.0   # + 0.0 turns a -0.0 into 0.0 (no "symmetric point -0")
    return {"device": dev.as_dict(), "w_min": lo, "w_max": hi, "symmetric_point": sym,
            "F_at_sym": float(dev.F(sym)) if math.isfinite(sym) else math.nan}


def _interrupted(args: argparse.Namespace) -> str:
    """What an interrupt kept, and how to continue, per subcommand (one line)."""
    cmd = args.command
    if cmd == "train" and getattr(args, "checkpoint", None):
        return (f"interrupted; {args.checkpoint}.npz/.json hold the last finished epoch (if one finished); "
                f"continue with the same command plus --resume")
    if cmd == "figures":
        return ("interrupted; figures computed so far are in the data cache; rerun the same command to compute "
                "only the rest")
    if cmd == "transfer":
        return ("interrupted; the pretraining is in the cache if it had finished (the next run reuses it), "
                "the fine-tuning runs were not kept; rerun the same command to continue")
    return "interrupted; nothing was kept (rerun the command to start again)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand. Exit codes: 0 ok, 1 a check/recipe failed, 2 bad input, 130 interrupted.

    Every refusal is one line on stderr; no traceback reaches the user (``CONVERGENCE_DEBUG=1`` re-raises
    unexpected errors for debugging).
    """
    tune_allocator()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0) if isinstance(exc.code, (int, type(None))) else 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    handler = {"simulate": cmd_simulate, "proofs": cli_proofs.run, "errata": cli_proofs.run, "device": cmd_device,
               "figures": cli_figures.run, "demo": cli_figures.run, "check": cli_check.run, "train": cli_nn.run,
               "data": cli_nn.run, "transfer": cli_transfer.run}[args.command]
    where = f"{PROG} {args.command}"
    try:
        with interrupt_guard():
            code = handler(args)
        if interrupted():   # the interrupt was swallowed below us: still stop with exit 130
            raise KeyboardInterrupt
        return code
    except KeyboardInterrupt:
        print(f"{where}: {_interrupted(args)}", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - an error caused by an interrupt is an interrupt
        if interrupted():
            print(f"{where}: {_interrupted(args)}", file=sys.stderr)
            return 130
        return _report(where, exc)


def _report(where: str, exc: Exception) -> int:
    """One stderr line for an exception; the exit code (2 bad input, 1 internal error)."""
    if isinstance(exc, ConfigError):
        print(f"{where}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    if isinstance(exc, MemoryError):
        print(f"{where}: error: out of memory; use smaller sizes (fewer trials/steps, --record-every, "
              f"--max-memory to check first)", file=sys.stderr)
        return 2
    if isinstance(exc, BrokenPipeError):  # the reader stopped (``| head``): stop quietly, as other tools do
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    if isinstance(exc, OSError):  # a file could not be read or written (disk full, permissions, ...)
        name = f" {exc.filename}:" if getattr(exc, "filename", None) else ""
        print(f"{where}: error:{name} {exc.strerror or _one_line(exc)}", file=sys.stderr)
        return 2
    if os.environ.get("CONVERGENCE_DEBUG"):
        raise exc
    print(f"{where}: internal error (please report; CONVERGENCE_DEBUG=1 shows the traceback): "
          f"{type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
    return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
