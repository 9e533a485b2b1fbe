"""Command-line interface: ``convergence <command> ...`` (also ``python -m convergence``).

Commands:
    simulate   run an algorithm on an objective with gradient noise, print tail statistics
    device     plot q+, q-, F, G and the symmetric point of a device
    figures    regenerate the figures and the verification report (cli_figures)
    demo       teaching demos: ``demo bias`` (cli_figures)

Bad input exits with code 2 and one line naming the bad field.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any, Sequence

import numpy as np

from convergence.cli import figures as cli_figures
from convergence._alloc import tune_allocator
from convergence.cli import proofs as cli_proofs
from convergence.cli import check as cli_check
from convergence.cli import train as cli_nn
from convergence.cli import transfer_study as cli_transfer
from convergence._validate import ConfigError, finite_float
from convergence.sim.algorithms import analog_sgd, digital_sgd, tiki_taka
from convergence.physics.devices import Device, realize
from convergence.sim.objectives import weight_dim
from convergence.rng import DEVICE, DEFAULT_BLOCK, TrialStreams
from convergence.sim.simulate import simulate
from convergence.sim.specs import parse_device, parse_noise, parse_objective, parse_pulsed, parse_variation

PROG = "convergence"


class _Parser(argparse.ArgumentParser):
    """argparse that reports errors in one line with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_simulate(sub: Any) -> None:
    p = sub.add_parser("simulate", help="simulate a training algorithm on an objective",
                       description="Simulate an algorithm on an objective with gradient noise; print tail statistics.")
    p.add_argument("--algorithm", required=True, choices=["digital-sgd", "analog-sgd", "tiki-taka"])
    p.add_argument("--device", default="softbounds:tau=1", help="device spec, e.g. softbounds:tau=0.8")
    p.add_argument("--device-fast", default=None, help="device of the fast array P (tiki-taka; default: --device)")
    p.add_argument("--objective", required=True, help="objective spec, e.g. quadratic:d=1,L=2,w_star=0.3")
    p.add_argument("--noise", default="none", help="noise spec, e.g. gaussian:sigma=0.4")
    p.add_argument("--lr", type=float, default=None, help="step size α (SGD; tiki-taka transfer default)")
    p.add_argument("--lr-fast", type=float, default=None, help="tiki-taka: step size on P (default --lr)")
    p.add_argument("--lr-transfer", type=float, default=None, help="tiki-taka: transfer step size (default --lr)")
    p.add_argument("--gamma", type=float, default=0.0, help="tiki-taka: mixing W + γP")
    p.add_argument("--transfer-every", type=int, default=1)
    p.add_argument("--read-noise", type=float, default=0.0, help="tiki-taka: std of transfer-read noise")
    p.add_argument("--pulsed", default=None, metavar="dw_min=X,bl=N", help="pulsed mode (default: expected)")
    p.add_argument("--variation", default=None, metavar="KEY=V,...",
                   help="device-to-device variation: dw_min_dtod, up_down_dtod, range_dtod, sym_skew, sym_dtod")
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--trials", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", default="0", metavar="W0", help="initial weight: scalar or comma-separated vector")
    p.add_argument("--tail", type=float, default=0.5, help="tail fraction of the steps (default 0.5)")
    p.add_argument("--record-every", type=int, default=1)
    p.add_argument("--trial-block", type=int, default=DEFAULT_BLOCK, help="trials per random stream")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None)


def _add_device(sub: Any) -> None:
    p = sub.add_parser("device", help="plot a device's response functions",
                       description="Plot q+, q-, F, G and the symmetric point of a device; print its summary.")
    p.add_argument("spec", help="device spec, e.g. softbounds:tau=0.8")
    p.add_argument("--out", default=None, help="output image (png/pdf/svg); default: print only")
    p.add_argument("--json", action="store_true")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Check analog in-memory training theory against simulation.")
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


def _require_positive(name: str, value: float | None) -> float:
    if value is None:
        raise ConfigError(f"{name} is required for this algorithm")
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{name} must be a finite number > 0 (got {value})")
    return value


def build_algorithm(args: argparse.Namespace, shape: tuple[int, int]) -> Any:
    """Resolve the algorithm from parsed CLI arguments (realising device variation if asked)."""
    mode = parse_pulsed(args.pulsed)
    variation = parse_variation(args.variation)
    if args.algorithm == "digital-sgd":
        return digital_sgd(_require_positive("--lr", args.lr))

    def device_of(spec: str, purpose_offset: int) -> Any:
        dev = parse_device(spec)
        if variation.is_zero:
            return dev
        streams = TrialStreams(args.seed, shape[0], purpose=DEVICE + 16 * purpose_offset, block=args.trial_block)
        return realize(dev, variation, shape, streams)

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


def cmd_simulate(args: argparse.Namespace) -> int:
    objective = parse_objective(args.objective)
    noise = parse_noise(args.noise)
    for name in ("steps", "trials", "record_every", "trial_block"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be an integer >= 1 (got {getattr(args, name)})")
    if args.seed < 0:
        raise ConfigError(f"--seed must be a non-negative integer (got {args.seed})")
    if not (0.0 < args.tail <= 1.0):
        raise ConfigError(f"--tail must be a fraction in (0, 1] (got {args.tail})")
    d = weight_dim(objective)
    w0 = _parse_init(args.init, d)
    alg = build_algorithm(args, (args.trials, d))
    traj = simulate(alg, objective, noise, w0, args.steps, trials=args.trials, seed=args.seed,
                    record_every=args.record_every, tail=args.tail, progress=args.progress,
                    trial_block=args.trial_block)
    summary = traj.summary()
    summary["config"]["cli"] = {k: v for k, v in vars(args).items() if k not in ("func",)}
    if args.json:
        print(json.dumps(_jsonable(summary)))
    else:
        print(_format_summary(summary))
    return 0


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        f = float(x)
        return f if math.isfinite(f) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return x


def _format_summary(s: dict[str, Any]) -> str:
    cfg = s["config"]
    t = s["tail"]
    lines = [f"{cfg['algorithm']['name']} on {cfg['objective']['name']} (d={cfg['objective']['d']}), "
             f"{cfg['trials']} trials x {cfg['steps']} steps, seed {cfg['seed']}",
             f"tail (last {cfg['tail']:.0%} of steps, from step {t['start_step']}):"]
    for key, label in (("grad_norm_sq", "E||grad f||^2"), ("loss", "E f - f*"), ("dist_sq", "E||W - W*||^2")):
        lines.append(f"  {label:<18} {t[key]['mean']:.6g} ± {t[key]['stderr']:.2g} (stderr)")
    lines.append(f"  {'||E grad f||^2':<18} {t['mean_grad_norm_sq']:.6g}")
    w_mean = t["w_mean"]
    shown = ", ".join(f"{v:.5g}" for v in w_mean[:5]) + (", ..." if len(w_mean) > 5 else "")
    lines.append(f"  {'mean W':<18} [{shown}]")
    lines.append("status: " + ", ".join(f"{k} {v}" for k, v in s["status"].items()))
    lines.append(f"time: {s['seconds']:.2f} s")
    return "\n".join(lines)


def cmd_device(args: argparse.Namespace) -> int:
    dev = parse_device(args.spec)
    info = describe_device(dev)
    if args.out:
        from convergence.experiments.plotting import plot_device
        plot_device(dev, args.out)
        info["out"] = args.out
    if args.json:
        print(json.dumps(_jsonable(info)))
    else:
        print(f"{dev.spec()}\n  {dev.equations}\n  range [{info['w_min']:.6g}, {info['w_max']:.6g}], "
              f"symmetric point {info['symmetric_point']:.6g}, F(w_sym) = {info['F_at_sym']:.6g}"
              + (f"\n  wrote {args.out}" if args.out else ""))
    return 0


def describe_device(dev: Device) -> dict[str, Any]:
    lo, hi = dev.bounds
    sym = dev.symmetric_point
    return {"device": dev.as_dict(), "w_min": lo, "w_max": hi, "symmetric_point": sym,
            "F_at_sym": float(dev.F(sym)) if math.isfinite(sym) else math.nan}


def main(argv: Sequence[str] | None = None) -> int:
    tune_allocator()
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    handler = {"simulate": cmd_simulate, "proofs": cli_proofs.run, "errata": cli_proofs.run, "device": cmd_device, "figures": cli_figures.run, "demo": cli_figures.run, "check": cli_check.run, "train": cli_nn.run, "data": cli_nn.run, "transfer": cli_transfer.run}[args.command]
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"{PROG} {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
