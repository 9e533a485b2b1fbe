"""The verification report: ``build/REPORT.md`` and a self-contained ``build/report.html``.

For every claim returned by the figure recipes' ``claims(data, cfg)`` (a
:class:`~convergence.theory.verdicts.Claim` after the runner's normalisation) the report gives the paper's
statement, the prediction, the measured value with its uncertainty, the verdict
(:class:`~convergence.theory.verdicts.Verdict`: holds / fails / erratum confirmed / inconclusive at this
scale) and the figure. When :mod:`convergence.theory.errata` exists, its errata are listed
with their evidence: each ``math`` erratum's ``proofs_checks`` module is run (results cached under
``data/cache/`` keyed by the check's source and the package version) and its verdict is
"erratum confirmed" when the check reproduces the printed-vs-corrected discrepancy. The report also
states the scale, each figure's compute and plot time (and whether it came from the cache),
versions and seeds. ``build/report.json`` holds the same content for machines.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import importlib
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from convergence import __version__
from convergence.experiments.cache import _atomic_write, _json_default
from convergence.experiments.runner import FigureResult, versions
from convergence.theory.verdicts import VERDICTS, Claim, Verdict, as_claim

__all__ = ["collect_errata", "write_report", "render_markdown", "render_html", "fmt_value"]

#: the one command that makes a skipped network recipe run
DATA_FIX = ("`make data` (MNIST by the pinned-hash download when online, else Fashion-MNIST from the Debian "
            "package `dataset-fashion-mnist`)")

_ICON = {Verdict.HOLDS: "✅", Verdict.FAILS: "❌", Verdict.ERRATUM_CONFIRMED: "⚠️", Verdict.INCONCLUSIVE: "❔",
         Verdict.NOT_CHECKED: "…", Verdict.NOTED: "ℹ️"}
#: verdict -> its text in the report (icon and label)
VERDICT_MARK = {v: f"{_ICON[v]} {v.label}" if v in _ICON else v.label for v in Verdict}
_CLASS = {Verdict.HOLDS: "holds", Verdict.FAILS: "fails", Verdict.ERRATUM_CONFIRMED: "erratum",
          Verdict.INCONCLUSIVE: "inconclusive"}


def _claims(r: FigureResult) -> list[Claim]:
    return [as_claim(c) for c in r.claims]


# -- errata ---------------------------------------------------------------------------------------

def _errata_module() -> Any:
    """``convergence.theory.errata`` if it exists (another part of the project), else None."""
    try:
        return importlib.import_module("convergence.theory.errata")
    except ImportError:
        return None


def _check_digest(check_path: Path) -> str:
    h = hashlib.sha256()
    for p in [check_path] + sorted(check_path.parent.glob("_*.py")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _run_check(root: Path, check: str) -> dict[str, Any]:
    """Import ``proofs_checks.<check>`` from ``root`` and call ``check_<check>()`` (a CheckOutcome)."""
    added = False
    before = set(sys.modules)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
        added = True
    try:
        for name in [n for n in sys.modules if n == "proofs_checks" or n.startswith("proofs_checks.")]:
            mod = sys.modules[name]
            f = getattr(mod, "__file__", None) or ""
            if f and root not in Path(f).resolve().parents:
                del sys.modules[name]  # a proofs_checks package from another root
        mod = importlib.import_module(f"proofs_checks.{check}")
        t0 = time.perf_counter()
        outcome = getattr(mod, f"check_{check}")()
        seconds = time.perf_counter() - t0
    finally:
        for name in set(sys.modules) - before:
            if name == "proofs_checks" or name.startswith("proofs_checks."):
                del sys.modules[name]  # leave no modules of this root behind for other importers
        if added:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(root))
    return {"passed": bool(outcome.passed), "claim": str(getattr(outcome, "claim", "")),
            "method": str(getattr(outcome, "method", "")), "details": str(getattr(outcome, "details", "")),
            "erratum": str(getattr(outcome, "erratum", "")), "seconds": seconds}


def collect_errata(root: str | os.PathLike[str], cache_dir: str | os.PathLike[str], *,
                   run_checks: bool = True, log: Callable[[str], None] | None = None) -> list[dict[str, Any]] | None:
    """The errata of :mod:`convergence.theory.errata` with their evidence; None if that module is absent.

    Verdicts: "erratum confirmed" (the check passed: it reproduces the printed statement's error
    and supports the corrected one), "fails" (the check ran and did not confirm it), "not checked"
    (no check module found, or ``run_checks`` is False), "noted" (kinds without a mathematical
    check: settings, code, presentation).
    """
    errata = _errata_module()
    if errata is None or not hasattr(errata, "ERRATA"):
        return None
    log = log or (lambda s: None)
    root, cache = Path(root).resolve(), Path(cache_dir)
    out = []
    for e in errata.ERRATA:
        row = {"id": e.id, "source": e.source, "printed": e.printed, "corrected": e.corrected, "kind": e.kind,
               "check": getattr(e, "check", ""), "bounds": list(getattr(e, "bounds", ())), "evidence": "",
               "verdict": e.verdict(None), "seconds": math.nan, "from_cache": False}
        check = row["check"]
        if e.kind == "math" or check:
            path = root / "proofs_checks" / f"{check}.py"
            if not check or not path.exists():
                row["evidence"] = f"check module proofs_checks/{check}.py not found" if check else "no check"
            elif run_checks:
                key = hashlib.sha256(json.dumps({"check": check, "source": _check_digest(path),
                                                 "version": __version__}).encode()).hexdigest()
                entry = cache / f"errata-{check}-{key[:16]}.json"
                res = None
                with contextlib.suppress(OSError, ValueError):
                    res = json.loads(entry.read_text())
                    if not isinstance(res, dict) or res.get("key") != key:
                        log(f"errata: cache entry {entry.name} is invalid; recomputing")
                        res = None
                if res is not None:
                    row["from_cache"] = True
                else:
                    try:
                        res = {**_run_check(root, check), "key": key}
                        text = json.dumps(res, default=_json_default)
                        _atomic_write(entry, lambda f, text=text: f.write(text.encode()))
                    except Exception as exc:  # noqa: BLE001 - one broken check must not stop the report
                        res = {"passed": None, "details": f"check raised {type(exc).__name__}: {exc}",
                               "erratum": "", "method": "", "seconds": math.nan}
                        log(f"errata: {check} raised {type(exc).__name__}: {exc}")
                passed = res.get("passed")
                row["verdict"] = e.verdict(None if passed is None else bool(passed))
                row["evidence"] = "; ".join(x for x in (res.get("erratum", ""), res.get("details", "")) if x)
                row["method"] = res.get("method", "")
                row["seconds"] = res.get("seconds", math.nan)
        out.append(row)
    return out


# -- formatting -----------------------------------------------------------------------------------

def fmt_value(x: Any, digits: int = 4) -> str:
    """A number (``4.56e-03``), a list of numbers (``[1, 2]``), a string as is; None as ``—``."""
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, float)):
        return f"{x:.{digits}g}" if math.isfinite(float(x)) else str(x)
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(fmt_value(v, digits) for v in x) + "]"
    return str(x)


def _measured(c: Claim) -> str:
    m, u = c.measured, c.uncertainty
    if u is None or (isinstance(u, float) and not math.isfinite(u)):
        return fmt_value(m)
    if isinstance(m, (list, tuple)) and isinstance(u, (list, tuple)) and len(m) == len(u):
        return "[" + ", ".join(f"{fmt_value(a)} ± {fmt_value(b, 2)}" for a, b in zip(m, u)) + "]"
    return f"{fmt_value(m)} ± {fmt_value(u, 2)}"


def _secs(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.1f} s"


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _counts(results: Sequence[FigureResult], errata: list[dict[str, Any]] | None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        for c in _claims(r):
            counts[c.verdict] = counts.get(c.verdict, 0) + 1
    for e in errata or []:
        v = Verdict.parse(e["verdict"])
        counts[v] = counts.get(v, 0) + 1
    return counts


def _header(scale: str, meta: dict[str, Any]) -> dict[str, Any]:
    return {"scale": scale, "created": meta.get("created", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
            "command": meta.get("command", ""), "total_seconds": meta.get("total_seconds", math.nan),
            "versions": meta.get("versions") or versions(), "jobs": meta.get("jobs", 1),
            "backend": meta.get("backend", "joblib")}


def render_markdown(results: Sequence[FigureResult], errata: list[dict[str, Any]] | None, *, scale: str,
                    meta: dict[str, Any] | None = None, out_dir: str | os.PathLike[str] = "build") -> str:
    """The Markdown report (figure links relative to ``out_dir``)."""
    h = _header(scale, meta or {})
    out_dir = Path(out_dir)
    counts = _counts(results, errata)
    L = ["# Verification report — analog-convergence", "",
         f"Scale **{h['scale']}** · generated {h['created']} · total {_secs(h['total_seconds'])} · "
         f"{h['jobs']} job(s), backend {h['backend']}",
         "", "Versions: " + ", ".join(f"{k} {v}" for k, v in h["versions"].items()), ""]
    if h["command"]:
        L += [f"Command: `{h['command']}`", ""]
    L += ["Verdicts: " + (", ".join(f"{VERDICT_MARK[k]}: {v}" for k, v in sorted(counts.items())) or "none"),
          "", "Uncertainties are the recipes' statistical margins (k × standard error across independent trials, "
          "k stated by the recipe; 3 by default).", ""]
    failing = [(r, c) for r in results for c in _claims(r) if c.verdict is Verdict.FAILS]
    if failing:
        L += ["## Claims that fail", ""] + [f"- [{r.name}](#{_anchor(r.name)}) `{_md_cell(c.id)}`: "
                                             f"{_md_cell(c.statement)}" for r, c in failing] + [""]
    skipped = [r for r in results if r.status == "skipped"]
    if skipped:
        L += ["## Figures skipped: data unavailable", "",
              f"Get a data set, then rerun: {DATA_FIX}.", ""] + [f"- **{r.name}**" for r in skipped] + [""]
    errors = [r for r in results if r.status == "error"]
    if errors:
        L += ["## Figures that failed", ""] + [f"- **{r.name}**: `{_md_cell(r.error)}`" for r in errors] + [""]
    L += ["## Summary", "", "| figure | paper | data | compute | plot | claims |", "|---|---|---|---|---|---|"]
    for r in results:
        src = r.status if r.status != "ok" else ("cache" if r.from_cache else "computed")
        comp = (f"{_secs(r.cached_compute_seconds)} (cached)" if r.from_cache else _secs(r.compute_seconds))
        plot = "up to date" if r.plot_skipped else _secs(r.plot_seconds)
        v = [c.verdict for c in _claims(r)]
        cl = ", ".join(f"{v.count(k)} {k.label}" for k in VERDICTS if v.count(k)) or "—"
        L.append(f"| [{r.name}](#{_anchor(r.name)}) | {_md_cell(r.paper)} | {src} | {comp} | {plot} | {cl} |")
    L.append("")
    L += ["## Claims", ""]
    for r in results:
        L += [f"### {r.name}", f'<a id="{_anchor(r.name)}"></a>', "", f"**{_md_cell(r.title)}** — {r.paper}", "",
              f"Seed {r.seed} · cache key `{r.key[:16]}` · "
              + ("data from cache" if r.from_cache else f"data computed ({r.cache_note})") + " · "
              f"compute {_secs(r.cached_compute_seconds if r.from_cache else r.compute_seconds)} · "
              f"plot {'up to date' if r.plot_skipped else _secs(r.plot_seconds)}", ""]
        if r.status == "skipped":
            L += [f"**Skipped, data unavailable.** {DATA_FIX}.", ""]
            continue
        if r.status != "ok":
            L += [f"**Error:** `{_md_cell(r.error)}`", ""]
            continue
        if r.claims:
            L += ["| id | paper's statement | prediction | measured (± margin) | verdict |", "|---|---|---|---|---|"]
            for c in _claims(r):
                L.append(f"| {_md_cell(c.id)} | {_md_cell(c.statement)} | {_md_cell(fmt_value(c.prediction))}"
                         f" | {_md_cell(_measured(c))} | {VERDICT_MARK[c.verdict]} |")
            L.append("")
        else:
            L += ["(no claims: illustrative figure)", ""]
        if r.table:
            L += [r.table, ""]
        if r.png:
            rel = os.path.relpath(r.png, out_dir) if os.path.isabs(r.png) else r.png
            L += [f"![{r.name}]({Path(rel).as_posix()})", ""]
        L += ["<details><summary>config</summary>", "", "```json", json.dumps(r.config, sort_keys=True),
              "```", "</details>", ""]
    if errata is not None:
        L += ["## Errata", "", "Each `math` erratum is reproduced by its `proofs_checks` module (printed and corrected "
              "statement side by side); the other kinds are documentation findings.", "",
              "| id | where | printed | corrected | verdict | evidence |", "|---|---|---|---|---|---|"]
        for e in errata:
            ev = e["evidence"] + (f" ({e['check']}, {_secs(e['seconds'])}{', cached' if e['from_cache'] else ''})"
                                  if e["check"] and e["evidence"] else "")
            L.append(f"| {_md_cell(e['id'])} | {_md_cell(e['source'])} | {_md_cell(e['printed'])} | "
                     f"{_md_cell(e['corrected'])} | {VERDICT_MARK[Verdict.parse(e['verdict'])]} | {_md_cell(ev)} |")
        L.append("")
    return "\n".join(L)


def _anchor(name: str) -> str:
    return "fig-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower())


_CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}td,th{border:1px solid #ccc;padding:3px 6px;
vertical-align:top}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee}code{font-size:.9em}
.holds{color:#176117}.fails{color:#a00;font-weight:bold}.erratum{color:#9a5b00;font-weight:bold}
.inconclusive{color:#555;font-style:italic}
.meta{color:#555;font-size:.9em}"""


def _table_html(md: str) -> str:
    """A recipe's Markdown table (pipe rows; the ``|---|`` rule skipped) as an HTML table, text escaped."""
    rows = [ln.strip().strip("|").split("|") for ln in md.splitlines() if ln.strip().startswith("|")]
    rows = [r for r in rows if not all(set(c.strip()) <= set("-: ") for c in r)]
    if not rows:
        return f"<pre>{html.escape(md)}</pre>"
    head, body = rows[0], rows[1:]
    return ("<table><tr>" + "".join(f"<th>{html.escape(c.strip())}</th>" for c in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{html.escape(c.strip())}</td>" for c in r) + "</tr>" for r in body)
            + "</table>")


def _verdict_html(v: Verdict | str) -> str:
    v = Verdict.parse(v)
    return f'<span class="{_CLASS.get(v, "")}">{html.escape(VERDICT_MARK[v])}</span>'


def render_html(results: Sequence[FigureResult], errata: list[dict[str, Any]] | None, *, scale: str,
                meta: dict[str, Any] | None = None) -> str:
    """A self-contained HTML page (figures inline as base64 PNG)."""
    h = _header(scale, meta or {})
    e = html.escape
    counts = _counts(results, errata)
    P = ["<!doctype html><html><head><meta charset='utf-8'><title>analog-convergence verification report</title>",
         f"<style>{_CSS}</style></head><body>", "<h1>Verification report — analog-convergence</h1>",
         f"<p class='meta'>Scale <b>{e(h['scale'])}</b> · generated {e(str(h['created']))} · total "
         f"{_secs(h['total_seconds'])} · {h['jobs']} job(s), backend {e(str(h['backend']))}<br>Versions: "
         + e(", ".join(f"{k} {v}" for k, v in h["versions"].items()))
         + (f"<br>Command: <code>{e(h['command'])}</code>" if h["command"] else "") + "</p>",
         "<p>Verdicts: " + (", ".join(f"{_verdict_html(k)}: {v}" for k, v in sorted(counts.items())) or "none")
         + "</p>"]
    failing = [(r, c) for r in results for c in _claims(r) if c.verdict is Verdict.FAILS]
    if failing:
        P.append("<h2>Claims that fail</h2><ul>" + "".join(
            f"<li><a href='#{_anchor(r.name)}'>{e(r.name)}</a> <code>{e(c.id)}</code>: "
            f"{e(c.statement)}</li>" for r, c in failing) + "</ul>")
    skipped = [r for r in results if r.status == "skipped"]
    if skipped:
        P.append(f"<h2>Figures skipped: data unavailable</h2><p>Get a data set, then rerun: {e(DATA_FIX)}.</p><ul>"
                 + "".join(f"<li>{e(r.name)}</li>" for r in skipped) + "</ul>")
    errors = [r for r in results if r.status == "error"]
    if errors:
        P.append("<h2>Figures that failed</h2><ul>" + "".join(
            f"<li>{e(r.name)}: <code>{e(r.error)}</code></li>" for r in errors) + "</ul>")
    P += ["<h2>Summary</h2><table><tr><th>figure</th><th>paper</th><th>data</th><th>compute</th>"
         "<th>plot</th><th>verdicts</th></tr>"]
    for r in results:
        src = r.status if r.status != "ok" else ("cache" if r.from_cache else "computed")
        comp = f"{_secs(r.cached_compute_seconds)} (cached)" if r.from_cache else _secs(r.compute_seconds)
        v = " ".join(_verdict_html(c.verdict) for c in _claims(r)) or "—"
        P.append(f"<tr><td><a href='#{_anchor(r.name)}'>{e(r.name)}</a></td><td>{e(r.paper)}</td><td>{src}</td>"
                 f"<td>{comp}</td><td>{'up to date' if r.plot_skipped else _secs(r.plot_seconds)}</td>"
                 f"<td>{v}</td></tr>")
    P.append("</table><h2>Claims and figures</h2>")
    for r in results:
        P.append(f"<h3 id='{_anchor(r.name)}'>{e(r.name)} — {e(r.title)}</h3>"
                 f"<p class='meta'>{e(r.paper)} · seed {r.seed} · cache key <code>{e(r.key[:16])}</code> · "
                 + ("data from cache" if r.from_cache else e(f"data computed ({r.cache_note})"))
                 + f" · compute {_secs(r.cached_compute_seconds if r.from_cache else r.compute_seconds)}"
                 f" · plot {'up to date' if r.plot_skipped else _secs(r.plot_seconds)}</p>")
        if r.status == "skipped":
            P.append(f"<p class='meta'>Skipped, data unavailable. {e(DATA_FIX)}.</p>")
            continue
        if r.status != "ok":
            P.append(f"<p class='fails'>Error: <code>{e(r.error)}</code></p>")
            continue
        if r.claims:
            P.append("<table><tr><th>id</th><th>paper's statement</th><th>prediction</th>"
                     "<th>measured (± margin)</th><th>verdict</th></tr>")
            for c in _claims(r):
                P.append(f"<tr><td>{e(c.id)}</td><td>{e(c.statement)}</td>"
                         f"<td>{e(fmt_value(c.prediction))}</td><td>{e(_measured(c))}</td>"
                         f"<td>{_verdict_html(c.verdict)}</td></tr>")
            P.append("</table>")
        if r.table:
            P.append(_table_html(r.table))
        if r.png and Path(r.png).exists():
            b64 = base64.b64encode(Path(r.png).read_bytes()).decode()
            P.append(f"<img alt='{e(r.name)}' src='data:image/png;base64,{b64}'>")
        if r.docstring:
            P.append(f"<details><summary>recipe notes</summary><pre>{e(r.docstring)}</pre></details>")
        P.append(f"<details><summary>config</summary><pre>{e(json.dumps(r.config, sort_keys=True, indent=1))}"
                 "</pre></details>")
    if errata is not None:
        P.append("<h2>Errata</h2><table><tr><th>id</th><th>where</th><th>printed</th><th>corrected</th>"
                 "<th>verdict</th><th>evidence</th></tr>")
        for x in errata:
            P.append(f"<tr><td>{e(x['id'])}</td><td>{e(x['source'])}</td><td>{e(x['printed'])}</td>"
                     f"<td>{e(x['corrected'])}</td><td>{_verdict_html(x['verdict'])}</td>"
                     f"<td>{e(x['evidence'])}{(' <i>(' + e(x['check']) + ')</i>') if x['check'] else ''}</td></tr>")
        P.append("</table>")
    P.append("</body></html>")
    return "\n".join(P)


def write_report(results: Sequence[FigureResult], *, scale: str, out_dir: str | os.PathLike[str] = "build",
                 errata: list[dict[str, Any]] | None = None, meta: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write REPORT.md, report.html and report.json into ``out_dir`` (atomically); returns their paths."""
    out = Path(out_dir)
    meta = {**(meta or {})}
    meta.setdefault("versions", versions())
    md = render_markdown(results, errata, scale=scale, meta=meta, out_dir=out)
    page = render_html(results, errata, scale=scale, meta=meta)
    data = {"scale": scale, "meta": meta, "figures": [r.as_dict() for r in results], "errata": errata}
    paths = {"md": out / "REPORT.md", "html": out / "report.html", "json": out / "report.json"}
    _atomic_write(paths["md"], lambda f: f.write(md.encode()))
    _atomic_write(paths["html"], lambda f: f.write(page.encode()))
    text = json.dumps(data, indent=1, default=_json_default)
    _atomic_write(paths["json"], lambda f: f.write(text.encode()))
    return paths
