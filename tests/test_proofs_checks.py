"""Every proofs_checks/check_* passes; the modules follow the contract (docstring, result object, errata)."""
from __future__ import annotations

import importlib
import os
import re
import sys

import pytest

from convergence.theory.verdicts import Claim, Verdict
from convergence.cli.proofs import discover
from convergence.theory.errata import ERRATA, math_errata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHECKS = discover(ROOT)
METHOD_WORDS = {"sympy", "numeric (dense evaluation)", "monte carlo"}


@pytest.mark.parametrize("stem,name,fn", CHECKS, ids=[f"{s}.{n}" for s, n, _ in CHECKS])
def test_check_passes(stem: str, name: str, fn) -> None:
    out = fn()
    assert type(out) is Claim
    assert out.passed, f"{out.name}: {out.details}"
    # a check that reproduces an erratum says so in its verdict
    assert out.verdict is (Verdict.ERRATUM_CONFIRMED if out.erratum else Verdict.HOLDS)
    assert out.claim and out.source and out.details
    assert set(out.method.split(" + ")) <= METHOD_WORDS, out.method


@pytest.mark.parametrize("stem", sorted({s for s, _, _ in CHECKS}))
def test_module_docstring_states_claim_source_method(stem: str) -> None:
    doc = importlib.import_module(f"proofs_checks.{stem}").__doc__ or ""
    for word in ("Claim", "Source", "Method"):
        assert word in doc, f"{stem}: docstring lacks {word!r}"


def test_every_derivation_d1_to_d14_has_a_check() -> None:
    stems = {s for s, _, _ in CHECKS}
    for k in range(1, 15):
        assert any(re.match(rf"d{k:02d}[a-z]?_", s) for s in stems), f"no check for D{k}"


def test_each_math_erratum_has_a_check_showing_printed_and_corrected() -> None:
    by_stem = {s: fn for s, _, fn in CHECKS}
    for e in math_errata():
        assert e.check in by_stem, e.id
        module = sys.modules[f"proofs_checks.{e.check}"]
        assert e.id in getattr(module, "ERRATA", ()), e.id
    # the outcomes are computed in test_check_passes; here only the cheap ones are re-run for the text
    for stem in ("p1_linear_step_g_sign", "p2_hypergradient", "p1_thm4_beta"):
        out = by_stem[stem]()
        assert "printed" in out.erratum and "corrected" in out.erratum
    assert all(e.kind in ("math", "settings", "code", "presentation") for e in ERRATA)
