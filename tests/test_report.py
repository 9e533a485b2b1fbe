"""The verification report: Markdown + self-contained HTML from a tiny fake recipe, and the errata path."""
from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

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
        {"id": "fake.note", "statement": "a finding beside the claims", "prediction": "-", "measured": 0.5,
         "uncertainty": None, "verdict": "noted", "paper": PAPER},
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
    for needle in ("the floor equals D3 <tag>", "0.02161 ± 0.00040", "[1.000 ± 0.050, 0.200 ± 0.030]",
                   "| holds |", "**fails**", "| erratum confirmed |", "**inconclusive at this scale**",
                   "malformed claim", "seed 3",
                   "![fake_claims](figures/fake_claims.png)", "numpy", "matplotlib"):
        assert needle in md, needle
    # timing: computed this time, and the summary row says so
    assert re.search(r"\| \[fake_claims\]\(#fig-fake-claims\) \| P1 Fig\. 99 \| computed \| \d+\.\d s \|", md)
    # the row's counts add up to the figure's six claims: the malformed one counts as failing, the noted finding too
    row = next(line for line in md.splitlines() if line.startswith("| [fake_claims]"))
    assert row.endswith("| 1 holds, 2 fails, 1 erratum confirmed, 1 inconclusive at this scale, 1 noted |"), row
    assert "Errata" not in md          # errata=None: no section
    failing = md.split("## Claims that fail or are inconclusive", 1)[1].split("##", 1)[0]
    assert "fake.fails" in failing and "malformed claim" in failing and "fake.holds" not in failing
    assert "fake.small" in failing and "fake.erratum" not in failing
    # fails before inconclusive, and the section comes before every figure's section
    assert failing.index("fake.fails") < failing.index("fake.small")
    assert md.index("## Claims that fail or are inconclusive") < md.index("## Summary") < md.index("### fake_claims")


def test_html_report_is_self_contained_with_inline_png(built):
    root, results, paths = built
    page = paths["html"].read_text()
    assert "the floor equals D3 &lt;tag&gt;" in page                       # escaped
    assert "<h2 id='attention'>Claims that fail or are inconclusive</h2>" in page
    srcs = re.findall(r"src='([^']*)'", page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)   # nothing external
    png = base64.b64decode(srcs[0].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == Path(results[0].png).read_bytes()
    data = json.loads(paths["json"].read_text())
    assert [c["verdict"] for c in data["figures"][0]["claims"]] == ["holds", "fails", "erratum confirmed",
                                                                   "inconclusive", "fails", "noted"]
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
    assert "## Errata" in md and ok.source.split("|")[0].strip()[:20] in md and "| erratum confirmed |" in md
    page = report.render_html([], rows, scale="quick")
    assert "<h2 id='errata'>Errata</h2>" in page
    for row in rows:                                     # every erratum has its anchor, and failing ones come first
        assert f"id='{report._erratum_anchor(row['id'])}'" in page
    first = md.split("## Claims that fail or are inconclusive", 1)[1].split("\n## ", 1)[0]
    assert f"erratum [{bad.id}]" in first and f"erratum [{ok.id}]" not in first


# -- what the report promises a reader -------------------------------------------------------------

SECOND = '''
"""A second fake recipe (one holding claim)."""
import numpy as np

NAME = "fake_second"
TITLE = "Second fake figure: W_max and σ_c"
PAPER = "P2 Fig. 98"
SEED = 4
SCALES = {"quick": {"n": 3}, "default": {"n": 3}, "paper": {"n": 3}}

def compute(cfg, seed):
    return {"y": np.arange(cfg["n"], dtype=float)}

def plot(data, cfg):
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(16, 2))        # wider than the page: the report scales it down
    ax.plot(data["y"])
    return fig

def claims(data, cfg):
    return [{"id": "fake_second.ok", "statement": "W_max grows like σ_c^2", "prediction": "x^{2}",
             "measured": 1.0, "uncertainty": 0.1, "verdict": "holds", "paper": PAPER, "note": "a note"}]
'''


def _sections(md: str) -> dict[str, str]:
    return {part.split("\n", 1)[0]: part for part in md.split("\n## ")[1:]}


def test_every_failing_or_inconclusive_entry_has_numbers_figure_recipe_and_rerun_command(built):
    root, results, paths = built
    first = _sections(paths["md"].read_text())["Claims that fail or are inconclusive"]
    entries = [line for line in first.splitlines() if line.startswith("- ")]
    assert len(entries) == 3                              # fails, malformed (fails), inconclusive
    for line in entries:
        assert "Measured:" in line and "Prediction:" in line
        assert "[fake_claims](#fig-fake-claims)" in line and "figures/fake_claims.png" in line
        assert "recipe `figures/fake.py`" in line and "`convergence figures fake_claims --scale quick`" in line
        assert line.endswith(".")                         # no entry ends mid-sentence
    assert "Measured: [1.000 ± 0.050, 0.200 ± 0.030]." in entries[0]
    page = paths["html"].read_text()
    attention = page.split("<h2 id='attention'>", 1)[1].split("<h2", 1)[0]
    assert attention.count("<li class='entry'>") == 3 and attention.count("figures/fake.py") == 3
    data = json.loads(paths["json"].read_text())
    assert data["smoke_test"] is True and data["figures"][0]["rerun"] == "convergence figures fake_claims --scale quick"
    assert data["figures"][0]["recipe_file"] == "figures/fake.py"


def test_quick_is_labelled_a_smoke_test_and_default_is_not(built):
    root, results, paths = built
    md, page = paths["md"].read_text(), paths["html"].read_text()
    assert "**Smoke test." in md.split("Scale **quick**", 1)[0]          # the banner precedes everything else
    assert "<p class='banner' id='smoke-test'>Smoke test." in page
    assert "Smoke test" not in report.render_markdown(results, None, scale="default", out_dir=root / "build")
    assert "smoke-test" not in report.render_html(results, None, scale="default")


def test_html_has_css_badges_contents_anchors_and_needs_no_network(built):
    root, results, paths = built
    page = paths["html"].read_text()
    assert not re.search("[\u2600-\u27bf\U0001f000-\U0001ffff]", page)       # no emoji or pictographs
    assert '<span class="badge b-fails">fails</span>' in page and ".b-fails{" in page
    assert '<span class="badge b-inconclusive">inconclusive at this scale</span>' in page
    assert "img{max-width:100%" in page
    # the contents link every section and figure, and every link points at an anchor on the page
    nav = page.split("<nav id='contents'>", 1)[1].split("</nav>", 1)[0]
    assert "href='#fig-fake-claims'" in nav and "href='#attention'" in nav and "href='#summary'" in nav
    ids = set(re.findall(r"id='([^']+)'", page))
    assert set(re.findall(r"href='#([^']+)'", page)) <= ids
    for c in results[0].claims:                           # every claim has its own anchor
        assert report._claim_anchor(results[0], c) in ids
    # nothing fetched: no scripts, no stylesheets or images from elsewhere
    assert "<script" not in page and "<link" not in page
    assert all(s.startswith("data:image/png;base64,") for s in re.findall(r"src='([^']*)'", page))


def test_maths_is_typeset_with_html_alone():
    assert report.math_html("W_max ≈ 0.2τ, σ_c, x^2, e^{-t}, f(W_s)") == (
        "W<sub>max</sub> ≈ 0.2τ, σ<sub>c</sub>, x<sup>2</sup>, e<sup>-t</sup>, f(W<sub>s</sub>)")
    # identifiers, code and markup are left alone
    assert report.math_html("run_TT p1_fig5.fcn `a_b` <b>") == "run_TT p1_fig5.fcn <code>a_b</code> &lt;b&gt;"


def test_a_partial_run_updates_its_entries_and_keeps_the_rest(built):
    root, first, paths = built
    (root / "figures" / "second.py").write_text(SECOND)
    both = fa.run_figures(scale="quick", root=root, out_dir=root / "build", cache_dir=root / "cache", progress=False)
    report.write_report(both, scale="quick", out_dir=root / "build", errata=[], meta={"command": "full run"})
    one = fa.run_figures(["fake_second"], scale="quick", root=root, out_dir=root / "build",
                         cache_dir=root / "cache", progress=False)
    one[0].title = "Second fake figure, redrawn"
    report.write_report(one, scale="quick", out_dir=root / "build", errata=None, meta={"command": "one"},
                        partial=True)
    data = json.loads(paths["json"].read_text())
    assert [f["name"] for f in data["figures"]] == ["fake_claims", "fake_second"]
    assert data["figures"][1]["title"] == "Second fake figure, redrawn" and data["errata"] == []
    assert data["figures"][0]["claims"] == json.loads(json.dumps([c.as_dict() | {"paper": c.reference}
                                                                   for c in both[0].claims]))
    md = paths["md"].read_text()
    assert "Partial run: it updated fake_second" in md and "`full run`" in md and "### fake_claims" in md
    assert "Second fake figure, redrawn" in paths["html"].read_text()
    # another scale's report is not merged into
    report.write_report(one, scale="default", out_dir=root / "build", errata=None, meta={}, partial=True)
    assert [f["name"] for f in json.loads(paths["json"].read_text())["figures"]] == ["fake_second"]


def test_a_partial_run_through_the_cli_keeps_the_other_figures(built, monkeypatch):
    from convergence.cli.main import main

    root, first, paths = built
    (root / "figures" / "second.py").write_text(SECOND)
    monkeypatch.chdir(root)
    args = ["--scale", "quick", "--no-errata", "--out", str(root / "build"), "--cache", str(root / "cache"),
            "--no-progress", "--jobs", "1"]
    assert main(["figures", *args]) == 0
    assert main(["figures", "fake_second", *args]) == 0
    md = paths["md"].read_text()
    assert "### fake_claims" in md and "### fake_second" in md and "Partial run: it updated fake_second" in md
    assert f"convergence figures fake_second --scale quick --out {root / 'build'} --cache {root / 'cache'}" in md


def test_no_development_wording_in_the_recipes_the_report_shows():
    from convergence.experiments.recipes import discover

    root = Path(__file__).resolve().parents[1]
    for r in discover(root):
        text = " ".join([r.docstring, r.title]).lower()
        for word in ("placeholder", "the old ", "used to draw", "todo", "fixme"):
            assert word not in text, (r.name, word)


# -- the page as a browser shows it -----------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
_CHECK_JS = r"""<script>
window.addEventListener('load', function () {
  var width = document.documentElement.clientWidth, bad = [];
  var imgs = Array.prototype.slice.call(document.images);
  imgs.forEach(function (im) { if (!im.complete || im.naturalWidth === 0) bad.push('image ' + im.alt); });
  document.querySelectorAll('table').forEach(function (t, i) {
    var r = t.getBoundingClientRect();
    if (r.right > width + 1 || t.scrollWidth > t.clientWidth + 1) bad.push('table ' + i + ' ' + r.right + '>' + width);
  });
  imgs.forEach(function (im) { if (im.getBoundingClientRect().right > width + 1) bad.push('wide image ' + im.alt); });
  document.querySelectorAll('table.summary td').forEach(function (td) {   // a word drawn on two lines is split
    var walk = document.createTreeWalker(td, NodeFilter.SHOW_TEXT), node, m;
    while ((node = walk.nextNode())) {
      var re = /[^\s-]+/g;   // a break after a hyphen is a line break, not a split word
      while ((m = re.exec(node.data))) {
        var rg = document.createRange();
        rg.setStart(node, m.index);
        rg.setEnd(node, m.index + m[0].length);
        if (rg.getClientRects().length > 1) bad.push('split word ' + m[0]);
      }
    }
  });
  if (document.documentElement.scrollWidth > width + 1) bad.push('page ' + document.documentElement.scrollWidth);
  var out = document.createElement('pre');
  out.id = 'render-check';
  out.textContent = JSON.stringify({images: imgs.length, tables: document.querySelectorAll('table').length, bad: bad});
  document.body.appendChild(out);
});
</script>"""


def _render(page: Path, tmp: Path, width: int, edit: Any = None) -> dict:
    import subprocess

    probe = tmp / f"probe-{width}.html"
    text = page.read_text().replace("</body>", _CHECK_JS + "</body>")
    probe.write_text(edit(text) if edit else text)
    cmd = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run",
           f"--user-data-dir={tmp / f'profile-{width}'}",
           f"--window-size={width},900", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    m = re.search(r'<pre id="render-check">(.*?)</pre>', res.stdout, re.S)
    assert m, f"chromium printed no check result (exit {res.returncode}): {res.stderr[-500:]}"
    return json.loads(html_unescape(m.group(1)))


def html_unescape(text: str) -> str:
    import html

    return html.unescape(text)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
@pytest.mark.parametrize("width", [1280, 800])
def test_headless_chromium_loads_every_image_and_no_table_overflows(built, tmp_path, width):
    root, results, paths = built
    (root / "figures" / "second.py").write_text(SECOND)
    both = fa.run_figures(scale="quick", root=root, out_dir=root / "build", cache_dir=root / "cache", progress=False)
    rows = [{"id": "E1", "source": "P1 App. C eq (23)", "printed": "G = −½(1/τ_max − 1/τ_min)(w − w⋄)" * 3,
             "corrected": "x" * 300, "kind": "math", "check": "c", "bounds": [], "evidence": "y" * 400,
             "verdict": "fails", "seconds": 0.1, "from_cache": False}]
    report.write_report(both, scale="quick", out_dir=root / "build", errata=rows, meta={"command": "c " * 200})
    # the summary row of the fake recipe carries the longest figure name and paper label of the real recipes
    from convergence.experiments.recipes import discover

    real = discover(Path(__file__).resolve().parents[1])
    name, paper = max((r.name for r in real), key=len), max((r.paper for r in real), key=len)
    row = ">fake_second</a></td><td>P2 Fig. 98</td>"

    def longest(text: str) -> str:
        assert row in text
        return text.replace(row, f">{name}</a></td><td>{paper}</td>", 1)

    got = _render(paths["html"], tmp_path, width, longest)
    assert got["images"] == 2 and got["tables"] >= 4
    assert got["bad"] == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium)")
def test_the_rendering_check_sees_a_broken_image_and_an_overflowing_figure(built, tmp_path):
    root, results, paths = built
    (root / "figures" / "second.py").write_text(SECOND)
    both = fa.run_figures(scale="quick", root=root, out_dir=root / "build", cache_dir=root / "cache", progress=False)
    report.write_report(both, scale="quick", out_dir=root / "build", errata=None, meta={})
    squeeze = ("<col style='width:13%'><col style='width:11%'>", "<col style='width:3%'><col style='width:11%'>")
    got = _render(paths["html"], tmp_path, 800, lambda t: t.replace("base64,iVBOR", "base64,AAAA", 1)
                  .replace("img{max-width:100%;", "img{").replace(*squeeze))
    assert any(b.startswith("image ") for b in got["bad"]) and any(b.startswith("wide image") for b in got["bad"])
    assert "split word computed" in got["bad"]              # the data column squeezed below the word's width


def test_a_recipe_that_raised_is_listed_first_as_an_error_with_its_rerun_command():
    broken = fa.FigureResult("broken_fig", "t", "P1 Fig. 9", "broken", "default", 1, status="error",
                             error="ValueError: the config has no key 'n'")
    md = report.render_markdown([broken], None, scale="default", meta={"rerun_args": "--out elsewhere"})
    first = _sections(md)["Claims that fail or are inconclusive"]
    assert ("- **error** in figure broken_fig: ValueError: the config has no key 'n'. Figure [broken_fig]"
            "(#fig-broken-fig), recipe `figures/broken.py`; rerun it alone: "
            "`convergence figures broken_fig --scale default --out elsewhere`.") in first
    assert not re.search("[\u2600-\u27bf\U0001f000-\U0001ffff]", md)
    page = report.render_html([broken], None, scale="default")
    assert '<span class="badge b-fails">error</span>' in page.split("<h2 id='summary'>")[0]


@pytest.mark.skipif(not Path("/usr/bin/make").exists(), reason="no make")
def test_one_make_target_per_figure_hands_the_figure_to_the_runner():
    import subprocess

    root = Path(__file__).resolve().parents[1]
    for args, scale in (([], "default"), (["SCALE=quick"], "quick")):
        res = subprocess.run(["make", "-n", "-C", str(root), "build/figures/p1_fig3.png", *args], capture_output=True,
                             text=True, timeout=60, check=False)
        assert res.returncode == 0, res.stderr
        assert f"-m convergence figures p1_fig3 --scale {scale}" in res.stdout


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
    assert "| a | b<c |\n|---|---|\n| 1 | 2 |" in md and re.search(r"\| \*{0,2}noted\*{0,2} \|", md)
    assert "<th>b&lt;c</th>" in page and "<td>2</td>" in page
    failing = md.split("## Claims that fail", 1)[1].split("##", 1)[0]
    assert "fake.finding" not in failing
    assert json.loads(paths["json"].read_text())["figures"][0]["table"].startswith("| a |")


def test_the_deciding_scale_command_of_an_undecided_claim_uses_this_runs_out_and_cache():
    # run as printed, the command must update this report from this cache, as the rerun command does
    from convergence.experiments import recipe_kit as C

    scales = {"quick": {"n": 2}, "default": {"n": 5}}
    raw = C.claim("slopes.rate", "a rate", "slope < 0", -0.4, 0.1, True, "P1",
                  rule=lambda cfg: C.count_rule(cfg["n"], 3, "points", "for a slope"), cfg=scales["quick"],
                  scales=scales)
    res = fa.FigureResult("slopes", "t", "P1 Fig. 1", "slopes", "quick", 1, claims=[Claim.from_dict(raw)])
    meta = {"rerun_args": "--out /tmp/o --cache /tmp/c"}
    want = "convergence figures slopes --scale default --out /tmp/o --cache /tmp/c"
    md = report.render_markdown([res], None, scale="quick", meta=meta)
    assert md.count(f"`{want}`") == 2                       # in the attention list and in the figure's table
    assert report.render_html([res], None, scale="quick", meta=meta).count(want) == 2
    assert "`convergence figures slopes --scale default`" in report.render_markdown([res], None, scale="quick")


def test_written_files_get_the_permissions_of_a_file_the_user_writes(tmp_path):
    """Files renamed into place from ``mkstemp`` (cache entries, the report, figures) kept its private 0o600: a report
    could not be shared or served as written. They now get 0o666 less the umask, as ``open()`` gives."""
    import os
    from convergence.experiments.cache import _atomic_write, new_file_mode
    old = os.umask(0o022)
    try:
        assert new_file_mode() == 0o644
        _atomic_write(tmp_path / "a.txt", lambda f: f.write(b"x"))
        assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        assert new_file_mode() == 0o600
    finally:
        os.umask(old)


def test_formula_cells_of_a_table_are_typeset_in_the_html_report():
    """A theory table's ``$…$`` cells (sympy's LaTeX) become inline SVG maths in the HTML report, with the TeX as
    alt text and no raw TeX on the page; a cell mathtext cannot read stays text; the same bytes on every call."""
    tex = r"$\dfrac{4 \sqrt{L} \sqrt{\Delta_0} \sigma}{\sqrt{K}} \cdot \dfrac{1}{- \dfrac{W_{\max}^{2}}{\tau^{2}} + 1}$"
    page = report._table_html(f"| bound | rate |\n|---|---|\n| {tex} | 0.5 |\n| $\\notacommand{{x}}$ | 1 |")
    cells = re.findall(r"<td>(.*?)</td>", page)
    assert cells[0].startswith('<img class="math" alt="$\\dfrac{4') and "data:image/svg+xml;base64," in cells[0]
    svg = base64.b64decode(cells[0].split("base64,", 1)[1].split('"', 1)[0])
    assert svg.lstrip().startswith((b"<?xml", b"<svg")) and b"<metadata>" not in svg
    assert cells[1] == "0.5" and cells[2] == "$\\notacommand{x}$"
    first = report._table_html(f"| a |\n|---|\n| {tex} |")
    report._formula_svg.cache_clear()
    assert report._table_html(f"| a |\n|---|\n| {tex} |") == first


@pytest.mark.parametrize("m, u, text", [
    (-0.004062, 0.0083, "−0.0041 ± 0.0083"),     # the value to the margin's decimal place, a true minus sign
    (-6.972, 2.1, "−7.0 ± 2.1"),                 # trailing zeros kept: they say the precision
    (0.02, 0.071, "0.020 ± 0.071"),
    (1.74, 0.2, "1.74 ± 0.20"),
    (0.02161, 0.0004, "0.02161 ± 0.00040"),
    (2.5432e-5, 1.2e-7, "2.543e−05 ± 1.2e−07"),
    (94.537, 0.31, "94.54 ± 0.31"),
    (1234.5, 300.0, "1.23e+03 ± 3.0e+02"),
    (0.0, 0.5, "0 ± 0.50"),
    (0.98, 0.0, "0.98 ± 0"),                      # an exact value: no margin to take the precision from
    ([1.0, -0.2], [0.05, 0.03], "[1.000 ± 0.050, −0.200 ± 0.030]"),
])
def test_measured_values_follow_their_margins(m, u, text):
    c = Claim(id="x.y", statement="s", reference="P1", prediction="p", measured=m, uncertainty=u, verdict="holds")
    assert report._measured(c) == text
