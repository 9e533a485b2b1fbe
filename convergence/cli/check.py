"""CLI subcommand ``check``: run the property battery on a user's algorithm factory.

``convergence check TARGET [--claims NAME,...] [--budget quick|full] [--json] [--seed S] [--k K]
[--expect exact|biased] [--pulsed dw_min=X,bl=N]``

``TARGET`` is ``package.module:factory`` (imported with the working directory on ``sys.path``)
or a built-in short name (``digital-sgd``, ``analog-sgd``, ``tiki-taka``); the factory contract
is documented in :mod:`convergence.theory.battery._target`. Prints a table (or one JSON object with
``--json``). Exit code 0 when every claim holds (skipped / n/a claims do not fail), 1 when a
claim fails, is inconclusive or raised, 2 on bad input (one line naming the problem).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from convergence._validate import ConfigError, json_text
from convergence.cli._args import SEED_MAX, float_arg, int_arg

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``check`` on the main parser's subparsers."""
    from convergence.theory.battery import BUDGETS, CLAIMS

    p = sub.add_parser("check", help="check the theory's claims on your algorithm (property battery)",
                       description="Run the property battery (claims: " + ", ".join(CLAIMS) + ") on an algorithm "
                                   "factory(lr, device, *, mode) -> Algorithm and print a verdict per claim.",
                       epilog="The module is imported with the working directory on the import path (as with "
                              "python -m). Exit code 0 when every claim holds (skipped and n/a do not count), 1 when "
                              "one fails, is inconclusive or raised, 2 on bad input (one line). The factory contract "
                              "and how to read every line: docs/tutorials/property-testing.md.")
    p.add_argument("target", help="package.module:factory, or digital-sgd / analog-sgd / tiki-taka")
    p.add_argument("--claims", default=None, metavar="NAME,...", help="comma-separated claims (default: all)")
    p.add_argument("--budget", default="quick", choices=list(BUDGETS),
                   help="quick (default, < 60 s per algorithm on 2 cores) or full")
    p.add_argument("--seed", type=int_arg(0, SEED_MAX), default=0, help="root seed (default 0)")
    p.add_argument("--k", type=float_arg(0.0, 100.0, strict_min=True), default=3.0,
                   help="statistical margin in standard errors (default 3)")
    p.add_argument("--expect", default=None, choices=["exact", "biased"],
                   help="also require this floor-vs-lr classification")
    p.add_argument("--pulsed", default=None, metavar="dw_min=X,bl=N",
                   help="pass a pulsed update mode to the factory (default: the factory's own mode)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """Run the battery; return the exit code (ConfigError propagates to the CLI's exit-2 handler)."""
    from convergence.theory.battery import check
    from convergence.theory.battery import resolve_factory
    from convergence.sim.specs import parse_pulsed

    mode = parse_pulsed(args.pulsed) if args.pulsed is not None else None
    if mode is not None and args.target == "digital-sgd":
        raise ConfigError("--pulsed: digital-sgd has no analog device, so an update mode does not apply "
                          "(use analog-sgd, tiki-taka or your own factory)")
    try:   # the factory is user code: whatever it raises while being probed is bad input, one line
        resolve_factory(args.target, mode=mode)
    except (ConfigError, KeyboardInterrupt):
        raise
    except BaseException as exc:  # noqa: BLE001 - includes SystemExit from a user module
        raise ConfigError(f"target {args.target}: the factory raised {type(exc).__name__}: {exc}") from None
    report = check(args.target, args.claims, budget=args.budget, seed=args.seed, k=args.k, mode=mode,
                   expect=args.expect)
    print(json_text({"status": "ok" if report.all_hold else "failed", **report.as_dict()}) if args.json
          else report.table())
    sys.stdout.flush()
    return report.exit_code
