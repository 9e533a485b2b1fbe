"""CLI subcommands ``convergence proofs`` and ``convergence errata``.

``proofs`` discovers ``proofs_checks/*.py`` (files not starting with ``_``) in the
current directory, which must be the repository root (or ``--dir``), runs every
``check_*`` function, prints a table and exits 1 if any check fails (2 if the
directory is missing). ``errata`` prints the catalogue of
:mod:`convergence.theory.errata`; for each mathematical erratum it runs the linked
check and prints its printed-vs-corrected evidence (exit 1 if one is not
reproduced).
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import traceback
from dataclasses import asdict
from typing import Any, Callable

from convergence._validate import ConfigError, json_text
from convergence.cli._args import path_arg
from convergence.theory.bounds import CheckOutcome
from convergence.theory.verdicts import Claim
from convergence.theory.errata import ERRATA, Erratum

__all__ = ["add_parser", "run", "discover", "run_checks", "CHECKS_DIR"]

CHECKS_DIR = "proofs_checks"


def add_parser(sub: Any) -> None:
    """Register ``proofs`` and ``errata``."""
    p = sub.add_parser("proofs", help="run the symbolic/numeric derivation checks (proofs_checks/)",
                       description="Run every check_* in proofs_checks/*.py (run from the repository root).")
    p.add_argument("--only", default=None, help="run only checks whose name contains this text")
    p.add_argument("--dir", type=path_arg(), default=None,
                   help="repository root containing proofs_checks/ (default: cwd)")
    p.add_argument("--verbose", "-v", action="store_true", help="print each check's claim and evidence")
    p.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    e = sub.add_parser("errata", help="print the errata of the papers with their evidence",
                       description="Print the papers' errata; mathematical ones with the printed vs corrected numbers.")
    e.add_argument("--dir", type=path_arg(), default=None,
                   help="repository root containing proofs_checks/ (default: cwd)")
    e.add_argument("--json", action="store_true", help="print as JSON")


def _root(args: argparse.Namespace) -> str | None:
    root = os.path.abspath(args.dir or os.getcwd())
    return root if os.path.isdir(os.path.join(root, CHECKS_DIR)) else None


def discover(root: str) -> list[tuple[str, str, Callable[[], Claim]]]:
    """(module stem, function name, function) of every check in ``root/proofs_checks``, sorted by file name."""
    folder = os.path.join(root, CHECKS_DIR)
    if root not in sys.path:
        sys.path.insert(0, root)
    found = []
    for fname in sorted(os.listdir(folder)):
        if not fname.endswith(".py") or fname.startswith("_"):
            continue
        stem = fname[:-3]
        try:
            module = importlib.import_module(f"{CHECKS_DIR}.{stem}")
        except Exception as exc:  # noqa: BLE001 - a checks file that does not import is bad input, one line
            where = f" line {exc.lineno}" if isinstance(exc, SyntaxError) and exc.lineno else ""
            raise ConfigError(f"{os.path.join(folder, fname)}{where} cannot be imported: {type(exc).__name__}: "
                              f"{getattr(exc, 'msg', None) or exc}") from None
        for attr in sorted(dir(module)):
            fn = getattr(module, attr)
            if attr.startswith("check_") and callable(fn) and getattr(fn, "__module__", None) == module.__name__:
                found.append((stem, attr, fn))
    return found


def _run_one(stem: str, fn: Callable[[], Claim]) -> tuple[Claim, float]:
    t0 = time.perf_counter()
    try:
        out = fn()
        if not isinstance(out, Claim):
            out = CheckOutcome(stem, "(check returned no CheckOutcome)", "", "", False, repr(out))
    except Exception as exc:  # a crashing check is a failing check, reported with its cause
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        out = CheckOutcome(stem, "(check raised an exception)", "", "", False, tb)
    return out, time.perf_counter() - t0


def run_checks(root: str, only: str | None = None) -> list[tuple[Claim, float]]:
    """Run the discovered checks (optionally filtered by name) and return (outcome, seconds) pairs."""
    results = []
    for stem, name, fn in discover(root):
        if only and only not in stem and only not in name:
            continue
        results.append(_run_one(stem, fn))
    return results


def _table(results: list[tuple[Claim, float]], verbose: bool) -> str:
    width = max([len(o.name) for o, _ in results] + [5])
    lines = [f"{'check':<{width}}  {'result':<6}  {'time':>6}  {'method':<48}  claim"]
    lines.append("-" * len(lines[0]))
    for o, sec in results:
        claim = o.claim if verbose or len(o.claim) <= 90 else o.claim[:87] + "..."
        lines.append(f"{o.name:<{width}}  {'PASS' if o.passed else 'FAIL':<6}  {sec:5.1f}s  {o.method:<48}  {claim}")
        if verbose or not o.passed:
            lines.append(f"{'':<{width}}    source: {o.source}")
            lines.append(f"{'':<{width}}    evidence: {o.details}")
    return "\n".join(lines)


def _no_dir(command: str, args: argparse.Namespace) -> int:
    where = os.path.abspath(args.dir or os.getcwd())
    print(f"convergence {command}: error: no {CHECKS_DIR}/ directory in {where}; run from the repository root "
          f"(or pass --dir ROOT)", file=sys.stderr)
    return 2


def _as_json(o: Claim, seconds: float) -> dict[str, Any]:
    """:meth:`Claim.as_dict` plus the keys this command printed before the record (name, claim, source,
    passed), with this run's time."""
    return {"name": o.id, "claim": o.statement, "source": o.reference, "passed": o.passed,
            **o.as_dict(), "seconds": seconds}


def cmd_proofs(args: argparse.Namespace) -> int:
    root = _root(args)
    if root is None:
        return _no_dir("proofs", args)
    t0 = time.perf_counter()
    results = run_checks(root, args.only)
    total = time.perf_counter() - t0
    if not results:
        print(f"convergence proofs: error: no check matches {args.only!r}", file=sys.stderr)
        return 2
    n_fail = sum(not o.passed for o, _ in results)
    if args.json:
        print(json_text({"status": "failed" if n_fail else "ok", "checks": [_as_json(o, s) for o, s in results],
                         "passed": len(results) - n_fail, "failed": n_fail, "seconds": total}, indent=2))
    else:
        print(_table(results, args.verbose))
        print(f"\n{len(results)} checks: {len(results) - n_fail} passed, {n_fail} failed ({total:.1f} s)")
    return 1 if n_fail else 0


def _erratum_evidence(root: str, e: Erratum) -> tuple[Claim | None, float]:
    for stem, _, fn in discover(root):
        if stem == e.check:
            return _run_one(stem, fn)
    return None, 0.0


def cmd_errata(args: argparse.Namespace) -> int:
    root = _root(args)
    if root is None:
        return _no_dir("errata", args)
    rows = []
    cache: dict[str, tuple[Claim | None, float]] = {}
    for e in ERRATA:
        outcome = None
        if e.check:
            if e.check not in cache:
                cache[e.check] = _erratum_evidence(root, e)
            outcome = cache[e.check][0]
        rows.append((e, outcome))
    bad = [e.id for e, o in rows if e.kind == "math" and (o is None or not o.passed)]
    if args.json:
        print(json_text([{**asdict(e), "confirmed": None if e.kind != "math" else bool(o and o.passed),
                           "verdict": e.verdict(o.passed if o is not None else None),
                           "evidence": o.erratum if o else "", "details": o.details if o else ""}
                          for e, o in rows], indent=2))
        return 1 if bad else 0
    print("Mathematical errata (each reproduced by a check in proofs_checks/):\n")
    for e, o in rows:
        if e.kind != "math":
            continue
        status = "CONFIRMED" if o is not None and o.passed else "NOT REPRODUCED"
        print(f"[{status}] {e.id} — {e.source}")
        print(f"    printed:   {e.printed}")
        print(f"    corrected: {e.corrected}")
        if o is not None:
            print(f"    evidence ({e.check}, {o.method}): {o.erratum or o.details}")
        else:
            print(f"    evidence: check {e.check!r} not found in {CHECKS_DIR}/")
        if e.bounds:
            print(f"    bounds: {', '.join(e.bounds)}")
        print()
    print("Settings, code and presentation findings (documentation; no mathematical check):\n")
    for e, _ in rows:
        if e.kind == "math":
            continue
        print(f"[{e.kind}] {e.id} — {e.source}: printed {e.printed!r}; found {e.corrected!r}")
    n_math = sum(e.kind == "math" for e, _ in rows)
    print(f"\n{n_math - len(bad)}/{n_math} mathematical errata confirmed")
    return 1 if bad else 0


def run(args: argparse.Namespace) -> int:
    """Dispatch ``proofs`` / ``errata``."""
    return cmd_errata(args) if args.command == "errata" else cmd_proofs(args)
