"""The verification report: Markdown + self-contained HTML from a tiny fake recipe, and the errata path."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from convergence.experiments import runner as fa
from convergence.experiments import report
from convergence.theory.verdicts import Claim

RECIPE = '''
"""Fake recipe with one claim of each verdict and one malformed claim."""
import numpy as np

NAME = "fake_claims"
TITLE = "A fake figure with claims"
PAPER = "P1 Fig. 99"
SEED = 3
SCALES = {"quick": {"n": 4}, "default": {"n": 4}, "paper": {"n": 4}}

def compute(cfg, seed):
    return {"y": np.arange(cfg["n"], dtype=float)}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot(data["y"])
    return fig

def claims(data, cfg):
    return [
        {"id": "fake.holds", "statement": "the floor equals D3 <tag>", "prediction": "0.0216",
         "measured": 0.02161, "uncertainty": 0.0004, "verdict": "holds", "paper": PAPER},
        {"id": "fake.fails", "statement": "slopes are equal", "prediction": "slope 1",
         "measured": [1.0, 0.2], "uncertainty": [0.05, 0.03], "verdict": "fails", "paper": PAPER},
        {"id": "fake.erratum", "statement": "printed factor 4", "prediction": "factor 1",
         "measured": 1.01, "uncertainty": None, "verdict": "erratum confirmed", "paper": PAPER},
        {"id": "fake.small", "statement": "effect below the margin", "prediction": "0.001",
         "measured": 0.0, "uncertainty": 0.01, "verdict": "inconclusive", "paper": PAPER},
        {"id": "fake.bad", "statement": "no verdict"},
    ]
'''


@pytest.fixture
def built(tmp_path: Path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fake.py").write_text(RECIPE)
    results = fa.run_figures(scale="quick", root=tmp_path, out_dir=tmp_path / "build", cache_dir=tmp_path / "cache",
                             progress=False)
    meta = {"command": "convergence figures --scale quick", "total_seconds": 1.5, "jobs": 2, "backend": "joblib"}
    paths = report.write_report(results, scale="quick", out_dir=tmp_path / "build", errata=None, meta=meta)
    return tmp_path, results, paths


def test_markdown_report_lists_each_claim_with_verdict_measurement_and_figure(built):
    root, results, paths = built
    md = paths["md"].read_text()
    assert "Scale **quick**" in md and "2 job(s), backend joblib" in md and "total 1.5 s" in md
    for needle in ("the floor equals D3 <tag>", "0.02161 ± 0.0004", "[1 ± 0.05, 0.2 ± 0.03]",
                   "✅ holds", "❌ fails", "⚠️ erratum confirmed", "❔ inconclusive at this scale",
                   "malformed claim", "Seed 3",
                   "![fake_claims](figures/fake_claims.png)", "numpy", "matplotlib"):
        assert needle in md, needle
    # timing: computed this time, and the summary row says so
    assert re.search(r"\| \[fake_claims\]\(#fig-fake-claims\) \| P1 Fig\. 99 \| computed \| \d+\.\d s \|", md)
    assert "Errata" not in md          # errata=None: no section
    failing = md.split("## Claims that fail", 1)[1].split("##", 1)[0]
    assert "fake.fails" in failing and "malformed claim" in failing and "fake.holds" not in failing


def test_html_report_is_self_contained_with_inline_png(built):
    root, results, paths = built
    page = paths["html"].read_text()
    assert "the floor equals D3 &lt;tag&gt;" in page                       # escaped
    assert "<h2>Claims that fail</h2>" in page
    srcs = re.findall(r"src='([^']*)'", page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)   # nothing external
    png = base64.b64decode(srcs[0].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == Path(results[0].png).read_bytes()
    data = json.loads(paths["json"].read_text())
    assert [c["verdict"] for c in data["figures"][0]["claims"]] == ["holds", "fails", "erratum confirmed",
                                                                   "inconclusive", "fails"]
    assert all(type(c) is Claim for c in results[0].claims)
    first = data["figures"][0]["claims"][0]
    assert Claim.from_dict({k: v for k, v in first.items() if k != "paper"}) == results[0].claims[0]
    assert first["paper"] == first["reference"] == "P1 Fig. 99"


def test_cached_rerun_reports_cache_and_recorded_compute_time(built):
    root, first, _ = built
    again = fa.run_figures(scale="quick", root=root, out_dir=root / "build", cache_dir=root / "cache", progress=False)
    assert again[0].from_cache and again[0].cached_compute_seconds == pytest.approx(first[0].compute_seconds)
    md = report.render_markdown(again, None, scale="quick", out_dir=root / "build")
    assert "| cache |" in md and "(cached)" in md and "data from cache" in md


def test_errata_absent_gives_no_section(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "_errata_module", lambda: None)
    assert report.collect_errata(tmp_path, tmp_path / "cache") is None


CHECK = '''
from types import SimpleNamespace
import pathlib

def check_{stem}():
    p = pathlib.Path(__file__).with_name("runs_{stem}.txt")
    p.write_text(p.read_text() + "x" if p.exists() else "x")
    return SimpleNamespace(passed={passed}, claim="c", method="sympy", details="numbers {stem}",
                           erratum="printed: 4 | corrected: 1")
'''


def test_errata_section_with_evidence_and_cache(tmp_path):
    errata = pytest.importorskip("convergence.theory.errata", reason="convergence.theory.errata not present in this "
                                                                     "checkout")
    with_checks = [e for e in errata.ERRATA if e.kind == "math" and e.check]
    if len(with_checks) < 2:
        pytest.skip("convergence.theory.errata lists fewer than two math errata with checks")
    ok, bad = with_checks[0], with_checks[1]
    pc = tmp_path / "proofs_checks"
    pc.mkdir()
    (pc / f"{ok.check}.py").write_text(CHECK.format(stem=ok.check, passed=True))
    (pc / f"{bad.check}.py").write_text(CHECK.format(stem=bad.check, passed=False))

    rows = report.collect_errata(tmp_path, tmp_path / "cache")
    by = {r["id"]: r for r in rows}
    assert len(rows) == len(errata.ERRATA)
    assert by[ok.id]["verdict"] == "erratum confirmed" and f"numbers {ok.check}" in by[ok.id]["evidence"]
    assert "printed: 4 | corrected: 1" in by[ok.id]["evidence"] and not by[ok.id]["from_cache"]
    assert by[bad.id]["verdict"] == "fails"
    others = [e for e in errata.ERRATA if e.id not in (ok.id, bad.id)]
    for e in others:   # no check module in this tmp root, or not a math erratum
        assert by[e.id]["verdict"] == ("not checked" if (e.kind == "math" or e.check) else "noted")

    again = {r["id"]: r for r in report.collect_errata(tmp_path, tmp_path / "cache")}
    assert again[ok.id]["from_cache"] and again[ok.id]["verdict"] == "erratum confirmed"
    assert (pc / f"runs_{ok.check}.txt").read_text() == "x"        # the check ran once

    md = report.render_markdown([], rows, scale="quick")
    assert "## Errata" in md and ok.source.split("|")[0].strip()[:20] in md and "⚠️ erratum confirmed" in md
    page = report.render_html([], rows, scale="quick")
    assert "<h2>Errata</h2>" in page


def test_a_recipes_table_and_finding_appear_in_both_reports(tmp_path: Path):
    bad = '''        {"id": "fake.bad", "statement": "no verdict"},'''
    src = RECIPE.replace(bad, '''        {"id": "fake.finding", "statement": "not reproduced here", "prediction": "p",
         "measured": 1.0,
         "uncertainty": 0.0, "verdict": "noted", "paper": PAPER},''') + '''

def table(data, cfg):
    return "| a | b<c |\\n|---|---|\\n| 1 | 2 |"
'''
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "fake.py").write_text(src)
    results = fa.run_figures(scale="quick", root=tmp_path, out_dir=tmp_path / "build", cache_dir=tmp_path / "cache",
                             progress=False)
    assert results[0].table.startswith("| a |")
    paths = report.write_report(results, scale="quick", out_dir=tmp_path / "build", errata=None, meta={})
    md, page = paths["md"].read_text(), paths["html"].read_text()
    assert "| a | b<c |\n|---|---|\n| 1 | 2 |" in md and "ℹ️ noted" in md
    assert "<th>b&lt;c</th>" in page and "<td>2</td>" in page
    failing = md.split("## Claims that fail", 1)[1].split("##", 1)[0]
    assert "fake.finding" not in failing
    assert json.loads(paths["json"].read_text())["figures"][0]["table"].startswith("| a |")
