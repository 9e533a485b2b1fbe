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

Claims that fail or are inconclusive come first, each with its numbers, its figure, its recipe file and
the one command that reruns it alone; a run of named figures updates their entries and keeps the rest
(:func:`write_report` with ``partial``). The ``quick`` scale's report is labelled a smoke test. The HTML
page needs no network: figures are inline PNGs, verdicts are CSS badges and maths is HTML sub/superscripts.
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import hashlib
import html
import importlib
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from convergence import __version__
from convergence._validate import ConfigError
from convergence.experiments.cache import _atomic_write, _json_default
from convergence.experiments.runner import FigureResult, versions
from convergence.theory.verdicts import VERDICTS, Claim, Verdict, as_claim

#: the summary's per-figure counts: the verdicts proper, then the statuses (noted findings, errors, ...), so that
#: each row adds up to the figure's claims
_SUMMARY_ORDER = VERDICTS + tuple(v for v in Verdict if v not in VERDICTS)

__all__ = ["collect_errata", "write_report", "render_markdown", "render_html", "fmt_value", "math_html",
           "rerun_command", "recipe_file", "result_from_dict", "VERDICT_MARK", "ATTENTION", "SMOKE_SCALES"]

#: the one command that makes a skipped network recipe run
DATA_FIX = ("`make data` (MNIST by the pinned-hash download when online, else Fashion-MNIST from the Debian "
            "package `dataset-fashion-mnist`)")

#: verdict -> its text in the report (words only; the HTML page styles them as badges)
VERDICT_MARK = {v: v.label for v in Verdict}
_CLASS = {Verdict.HOLDS: "holds", Verdict.FAILS: "fails", Verdict.ERROR: "fails", Verdict.ERRATUM_CONFIRMED: "erratum",
          Verdict.INCONCLUSIVE: "inconclusive"}
#: verdicts listed first in the report, in this order (a figure whose recipe raised counts as ``error``)
ATTENTION = (Verdict.FAILS, Verdict.ERROR, Verdict.INCONCLUSIVE)
#: scales whose report carries the smoke-test banner (too small to test the papers' claims)
SMOKE_SCALES = ("quick",)


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
    """A number (``4.56e−03``: a true minus sign), a list of numbers (``[1, 2]``), a string as is; None as ``—``."""
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, float)):
        return f"{x:.{digits}g}".replace("-", "−") if math.isfinite(float(x)) else str(x)
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(fmt_value(v, digits) for v in x) + "]"
    return str(x)


#: Significant digits of a margin in the report; the value it qualifies is given to the same decimal place.
MARGIN_DIGITS = 2


def _value_digits(m: Any, u: Any) -> int:
    """Significant digits that give ``m`` to the decimal place of its margin ``u`` shown with :data:`MARGIN_DIGITS`
    (at least 1, at most 6; 4 when either is not a finite nonzero number)."""
    try:
        m, u = abs(float(m)), abs(float(u))
    except (TypeError, ValueError):
        return 4
    if not (math.isfinite(m) and math.isfinite(u) and m > 0 and u > 0):
        return 4
    return max(1, min(6, math.floor(math.log10(m)) - math.floor(math.log10(u)) + MARGIN_DIGITS))


def _sig(x: Any, digits: int) -> str:
    """``x`` to ``digits`` significant digits, trailing zeros kept (``7.0``, ``0.20``: the digits say the
    precision), a true minus sign; zero as ``0``; anything else as :func:`fmt_value` gives it."""
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
        return fmt_value(x, digits)
    if x == 0:
        return "0"
    t = f"{float(x):#.{digits}g}".replace(".e", "e")
    return (t[:-1] if t.endswith(".") else t).replace("-", "−")


def _pair(m: Any, u: Any) -> str:
    """``m ± u`` with ``m`` to the decimal place of ``u`` (an exact ``u`` of 0 implies no precision: ``m`` as
    :func:`fmt_value` gives it)."""
    if isinstance(u, (int, float)) and not isinstance(u, bool) and u == 0:
        return f"{fmt_value(m)} ± 0"
    return f"{_sig(m, _value_digits(m, u))} ± {_sig(u, MARGIN_DIGITS)}"


def _measured(c: Claim) -> str:
    m, u = c.measured, c.uncertainty
    if u is None or (isinstance(u, float) and not math.isfinite(u)):
        return fmt_value(m)
    if isinstance(m, (list, tuple)) and isinstance(u, (list, tuple)) and len(m) == len(u):
        return "[" + ", ".join(_pair(a, b) for a, b in zip(m, u)) + "]"
    return _pair(m, u)


def _secs(x: float) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:.1f} s"


def _md_cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _sentence(text: Any) -> str:
    """``text`` stripped and ending with a full stop (so no entry of the report ends mid-sentence)."""
    t = " ".join(str(text).split())
    return t if not t or t[-1] in ".!?" else t + "."


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in str(text).lower())


def _anchor(name: str) -> str:
    """The anchor of a figure's section."""
    return "fig-" + _slug(name)


def _claim_anchor(r: FigureResult, c: Claim) -> str:
    """The anchor of a claim's row (recipe claim ids start with the figure's NAME; others get it prepended)."""
    return "claim-" + _slug(c.id if c.id.startswith(r.name) else f"{r.name}.{c.id}")


def _erratum_anchor(eid: str) -> str:
    return "erratum-" + _slug(eid)


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
            "backend": meta.get("backend", "joblib"), "updated": meta.get("updated") or [],
            "earlier": meta.get("earlier") or {}}


def rerun_command(name: str, scale: str, meta: dict[str, Any] | None = None) -> str:
    """The one command that reruns figure ``name`` alone and updates its entries in the report."""
    extra = str((meta or {}).get("rerun_args", "")).strip()
    return f"convergence figures {name} --scale {scale}" + (f" {extra}" if extra else "")


#: the command a claim's note gives for the scale that decides it (recipe_kit.claim)
_DECIDING_COMMAND = re.compile(r"`(convergence figures [\w.-]+ --scale \w+)`")


def _note(c: Claim, meta: dict[str, Any] | None) -> str:
    """The claim's note, its deciding-scale command completed with this run's --out/--cache (as the rerun command
    is), so that running it updates this report from this cache rather than the default ones."""
    extra = str((meta or {}).get("rerun_args", "")).strip()
    return _DECIDING_COMMAND.sub(lambda m: f"`{m.group(1)} {extra}`", c.note) if extra else c.note


def recipe_file(r: FigureResult) -> str:
    """The recipe's file, relative to the repository root."""
    return f"figures/{r.stem}.py"


def _attention(results: Sequence[FigureResult]) -> list[tuple[FigureResult, Claim | None]]:
    """Figures that raised (claim None) and claims that fail or are inconclusive, in :data:`ATTENTION` order."""
    rank = {v: i for i, v in enumerate(ATTENTION)}
    items: list[tuple[int, int, FigureResult, Claim | None]] = []
    for i, r in enumerate(results):
        if r.status == "error":
            items.append((rank[Verdict.ERROR], i, r, None))
        for c in _claims(r):
            if c.verdict in rank:
                items.append((rank[c.verdict], i, r, c))
    return [(r, c) for _, _, r, c in sorted(items, key=lambda t: (t[0], t[1]))]


def _failing_errata(errata: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    return [e for e in errata or [] if Verdict.parse(e["verdict"]) in ATTENTION]


def _smoke_text(scale: str) -> str:
    return (f"Smoke test. The `{scale}` scale runs every recipe in seconds to check that the code runs end to end; "
            "it is too small to test the papers' claims, and a claim that it cannot decide is marked inconclusive "
            "with the scale that decides it. The report to read is the one of `make figures` (scale default).")


# -- Markdown -------------------------------------------------------------------------------------

def _md_entry(r: FigureResult, c: Claim | None, scale: str, meta: dict[str, Any], out_dir: Path) -> str:
    where = (f"Figure [{r.name}](#{_anchor(r.name)})" + (f" (`{_rel(r.png, out_dir)}`)" if r.png else "")
             + f", recipe `{recipe_file(r)}`; rerun it alone: `{rerun_command(r.name, scale, meta)}`.")
    if c is None:
        return f"- **error** in figure {r.name}: {_sentence(_md_cell(r.error))} {where}"
    parts = [f"- **{c.verdict.label}** [`{_md_cell(c.id)}`](#{_claim_anchor(r, c)}):",
             _sentence(_md_cell(c.statement)), f"Prediction: {_sentence(_md_cell(fmt_value(c.prediction)))}",
             f"Measured: {_sentence(_md_cell(_measured(c)))}"]
    if c.note:
        parts.append(_sentence(_md_cell(_note(c, meta))))
    return " ".join(parts + [where])


def _rel(path: str, out_dir: Path) -> str:
    rel = os.path.relpath(path, out_dir) if os.path.isabs(path) else path
    return Path(rel).as_posix()


def render_markdown(results: Sequence[FigureResult], errata: list[dict[str, Any]] | None, *, scale: str,
                    meta: dict[str, Any] | None = None, out_dir: str | os.PathLike[str] = "build") -> str:
    """The Markdown report (figure links relative to ``out_dir``): claims that fail or are inconclusive first."""
    meta = meta or {}
    h = _header(scale, meta)
    out_dir = Path(out_dir)
    counts = _counts(results, errata)
    L = ["# Verification report — analog-convergence", ""]
    if scale in SMOKE_SCALES:
        L += [f"> **{_smoke_text(scale)}**", ""]
    L += [f"Scale **{h['scale']}** · generated {h['created']} · total {_secs(h['total_seconds'])} · "
          f"{h['jobs']} job(s), backend {h['backend']}",
          "", "Versions: " + ", ".join(f"{k} {v}" for k, v in h["versions"].items()), ""]
    if h["command"]:
        L += [f"Command: `{h['command']}`", ""]
    if h["updated"]:
        L += [f"Partial run: it updated {', '.join(h['updated'])}; the other entries come from an earlier run"
              + (f" (`{h['earlier'].get('command')}`, {h['earlier'].get('created', '')})."
                 if h["earlier"].get("command") else "."), ""]
    L += ["Verdicts: " + (", ".join(f"{VERDICT_MARK[k]}: {v}" for k, v in sorted(counts.items())) or "none") + ".",
          "", "Uncertainties are the recipes' statistical margins (k × standard error across independent trials, "
          "k stated by the recipe; 3 by default).", ""]
    attention = _attention(results)
    bad_errata = _failing_errata(errata)
    skipped = [r for r in results if r.status == "skipped"]
    L += ["## Contents", "",
          f"- [Claims that fail or are inconclusive](#attention) ({len(attention) + len(bad_errata)})"]
    if skipped:
        L.append("- [Figures skipped: data unavailable](#skipped)")
    L += ["- [Summary](#summary)", "- [Claims and figures](#figures)"]
    L += [f"  - [{r.name}](#{_anchor(r.name)})" for r in results]
    if errata is not None:
        L.append("- [Errata](#errata)")
    L += ["", '<a id="attention"></a>', "", "## Claims that fail or are inconclusive", ""]
    if attention or bad_errata:
        L += [_md_entry(r, c, scale, meta, out_dir) for r, c in attention]
        L += [f"- **{Verdict.parse(e['verdict']).label}** erratum [{_md_cell(e['id'])}](#{_erratum_anchor(e['id'])}): "
              f"{_sentence(_md_cell(e['source']))} Evidence: {_sentence(_md_cell(e['evidence'] or 'none'))}"
              for e in bad_errata]
    else:
        L.append("None: every claim holds or reproduces its erratum.")
    L.append("")
    if skipped:
        L += ['<a id="skipped"></a>', "", "## Figures skipped: data unavailable", "",
              f"Get a data set, then rerun: {DATA_FIX}.", ""] + [f"- **{r.name}**" for r in skipped] + [""]
    L += ['<a id="summary"></a>', "", "## Summary", "", "| figure | paper | data | compute | plot | claims |",
          "|---|---|---|---|---|---|"]
    for r in results:
        src = r.status if r.status != "ok" else ("cache" if r.from_cache else "computed")
        comp = (f"{_secs(r.cached_compute_seconds)} (cached)" if r.from_cache else _secs(r.compute_seconds))
        plot = "up to date" if r.plot_skipped else _secs(r.plot_seconds)
        v = [c.verdict for c in _claims(r)]
        cl = ", ".join(f"{v.count(k)} {k.label}" for k in _SUMMARY_ORDER if v.count(k)) or "—"
        L.append(f"| [{r.name}](#{_anchor(r.name)}) | {_md_cell(r.paper)} | {src} | {comp} | {plot} | {cl} |")
    L += ["", '<a id="figures"></a>', "", "## Claims and figures", ""]
    for r in results:
        L += [f"### {r.name}", f'<a id="{_anchor(r.name)}"></a>', "", f"**{_md_cell(r.title)}** — {r.paper}", "",
              f"Recipe `{recipe_file(r)}` · rerun alone: `{rerun_command(r.name, scale, meta)}` · seed {r.seed} · "
              f"cache key `{r.key[:16]}` · "
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
                note = f"<br>*{_md_cell(_sentence(_note(c, meta)))}*" if c.note else ""
                L.append(f'| <a id="{_claim_anchor(r, c)}"></a>{_md_cell(c.id)} | {_md_cell(c.statement)}{note} | '
                         f"{_md_cell(fmt_value(c.prediction))} | {_md_cell(_measured(c))} | "
                         f"{VERDICT_MARK[c.verdict] if c.verdict.passed else '**' + VERDICT_MARK[c.verdict] + '**'} |")
            L.append("")
        else:
            L += ["(no claims: illustrative figure)", ""]
        if r.table:
            L += [r.table, ""]
        if r.png:
            L += [f"![{r.name}]({_rel(r.png, out_dir)})", ""]
        L += ["<details><summary>config</summary>", "", "```json", json.dumps(r.config, sort_keys=True),
              "```", "</details>", ""]
    if errata is not None:
        L += ['<a id="errata"></a>', "", "## Errata", "",
              "Each `math` erratum is reproduced by its `proofs_checks` module (printed and corrected "
              "statement side by side); the other kinds are documentation findings.", "",
              "| id | where | printed | corrected | verdict | evidence |", "|---|---|---|---|---|---|"]
        for e in errata:
            ev = e["evidence"] + (f" ({e['check']}, {_secs(e['seconds'])}{', cached' if e['from_cache'] else ''})"
                                  if e["check"] and e["evidence"] else "")
            L.append(f'| <a id="{_erratum_anchor(e["id"])}"></a>{_md_cell(e["id"])} | {_md_cell(e["source"])} | '
                     f"{_md_cell(e['printed'])} | {_md_cell(e['corrected'])} | "
                     f"{VERDICT_MARK[Verdict.parse(e['verdict'])]} | {_md_cell(ev)} |")
        L.append("")
    return "\n".join(L)


# -- HTML -----------------------------------------------------------------------------------------

_CSS = """body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222;
line-height:1.4;overflow-wrap:break-word}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;overflow-wrap:anywhere}th{background:#f3f3f3}
table.claims,table.errata,table.summary{width:100%;table-layout:fixed}th{overflow-wrap:normal}
img{max-width:100%;height:auto;border:1px solid #eee}img.math{border:0;vertical-align:middle}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:.9em;
overflow-wrap:anywhere}
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#f8f8f8;padding:.5em}
.badge{display:inline-block;padding:0 .55em;border-radius:.8em;font-size:.85em;font-weight:600;
border:1px solid transparent}
.b-holds{background:#e4f3e4;color:#145214;border-color:#9ccf9c}
.b-fails{background:#fbe3e3;color:#8a0000;border-color:#e29a9a}
.b-erratum{background:#fdf0d8;color:#7a4700;border-color:#e8c27a}
.b-inconclusive{background:#ececec;color:#444;border-color:#bbb;font-style:italic}
.b-muted{background:#f5f5f5;color:#555;border-color:#ddd}
.banner{background:#fff6d6;border:2px solid #e0b400;padding:.6em 1em;margin:1em 0;font-weight:600}
.note{color:#444;font-size:.92em;margin-top:.25em}
.entry{margin:.5em 0}.where{color:#444;font-size:.92em}
nav ol{margin:.2em 0}.meta{color:#555;font-size:.9em}"""

_SUB = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z\u0370-\u03ff])_(\{[^{}<>]*\}|[A-Za-z0-9]+)")
_SUP = re.compile(r"(?<=[A-Za-z0-9)\u0370-\u03ff])\^(\{[^{}<>]*\}|[-−]?[A-Za-z0-9]+)")


def math_html(text: Any) -> str:
    """Escaped HTML of ``text`` with plain-text maths typeset by HTML alone (no script, no network):
    ``W_max``, ``σ_c``, ``x_{k+1}`` become subscripts and ``x^2``, ``e^{-t}`` superscripts; text in backticks
    becomes ``<code>`` and is left as written."""
    parts = html.escape(str(text), quote=False).split("`")
    if len(parts) % 2 == 0:         # an unpaired backtick: no code spans
        parts = ["`".join(parts)]
    out = []
    for i, t in enumerate(parts):
        if i % 2:                   # `code` (commands, file names) stays as written
            out.append(f"<code>{t}</code>")
            continue
        t = _SUB.sub(lambda m: f"{m.group(1)}<sub>{m.group(2).strip('{}')}</sub>", t)
        out.append(_SUP.sub(lambda m: f"<sup>{m.group(1).strip('{}')}</sup>", t))
    return "".join(out)


def _breakable(ident: str) -> str:
    """Escaped ``ident`` with line-break opportunities after its dots and underscores (long claim ids)."""
    return html.escape(ident).replace(".", ".<wbr>").replace("_", "_<wbr>")


@functools.lru_cache(maxsize=256)
def _formula_svg(tex: str) -> str | None:
    """``tex`` (one ``$…$`` formula) typeset by matplotlib's mathtext as an inline SVG image (base64), or None when
    mathtext cannot read it. The page needs no script or network; the TeX stays as the image's alt text."""
    import io

    import matplotlib
    from matplotlib import mathtext

    buf = io.BytesIO()
    try:
        with matplotlib.rc_context({"svg.hashsalt": "report", "svg.fonttype": "path"}):
            mathtext.math_to_image(tex, buf, format="svg")
    except Exception:    # noqa: BLE001 - any parse or font error: the cell falls back to its text
        return None
    svg = re.sub(rb"<metadata>.*?</metadata>", b"", buf.getvalue(), flags=re.S)   # no date: the same bytes per run
    data = base64.b64encode(svg).decode("ascii")
    return f'<img class="math" alt="{html.escape(tex)}" src="data:image/svg+xml;base64,{data}">'


def _cell_html(text: str) -> str:
    """A table cell: a cell that is one ``$…$`` formula (the theory tables' bounds) as typeset maths, any other text
    escaped."""
    t = text.strip()
    if len(t) > 2 and t[0] == t[-1] == "$" and t.count("$") == 2:
        img = _formula_svg(t)
        if img is not None:
            return img
    return html.escape(t)


def _table_html(md: str) -> str:
    """A recipe's Markdown table (pipe rows; the ``|---|`` rule skipped) as an HTML table, text escaped and
    formula cells typeset (:func:`_cell_html`)."""
    rows = [ln.strip().strip("|").split("|") for ln in md.splitlines() if ln.strip().startswith("|")]
    rows = [r for r in rows if not all(set(c.strip()) <= set("-: ") for c in r)]
    if not rows:
        return f"<pre>{html.escape(md)}</pre>"
    head, body = rows[0], rows[1:]
    return ("<table><tr>" + "".join(f"<th>{_cell_html(c)}</th>" for c in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{_cell_html(c)}</td>" for c in r) + "</tr>" for r in body)
            + "</table>")


def _verdict_html(v: Verdict | str) -> str:
    v = Verdict.parse(v)
    return f'<span class="badge b-{_CLASS.get(v, "muted")}">{html.escape(VERDICT_MARK[v])}</span>'


def _html_entry(r: FigureResult, c: Claim | None, scale: str, meta: dict[str, Any]) -> str:
    e = html.escape
    where = (f"<div class='where'>Figure <a href='#{_anchor(r.name)}'>{e(r.name)}</a> · recipe "
             f"<code>{e(recipe_file(r))}</code> · rerun it alone: <code>{e(rerun_command(r.name, scale, meta))}</code>"
             "</div>")
    if c is None:
        return (f"<li class='entry'>{_verdict_html(Verdict.ERROR)} figure {e(r.name)}: "
                f"<code>{e(_sentence(r.error))}</code>{where}</li>")
    note = f"<div class='note'>{math_html(_sentence(_note(c, meta)))}</div>" if c.note else ""
    return (f"<li class='entry'>{_verdict_html(c.verdict)} "
            f"<a href='#{_claim_anchor(r, c)}'><code>{e(c.id)}</code></a>: "
            f"{math_html(_sentence(c.statement))} Prediction: {math_html(_sentence(fmt_value(c.prediction)))} "
            f"Measured: {math_html(_sentence(_measured(c)))}{note}{where}</li>")


def render_html(results: Sequence[FigureResult], errata: list[dict[str, Any]] | None, *, scale: str,
                meta: dict[str, Any] | None = None) -> str:
    """A self-contained HTML page (figures inline as base64 PNG, no script, nothing fetched)."""
    meta = meta or {}
    h = _header(scale, meta)
    e = html.escape
    counts = _counts(results, errata)
    attention = _attention(results)
    bad_errata = _failing_errata(errata)
    skipped = [r for r in results if r.status == "skipped"]
    P = ["<!doctype html><html lang='en'><head><meta charset='utf-8'>"
         "<meta name='viewport' content='width=device-width, initial-scale=1'>"
         "<title>analog-convergence verification report</title>",
         f"<style>{_CSS}</style></head><body>", "<h1>Verification report — analog-convergence</h1>"]
    if scale in SMOKE_SCALES:
        P.append(f"<p class='banner' id='smoke-test'>{math_html(_smoke_text(scale))}</p>")
    P.append(f"<p class='meta'>Scale <b>{e(h['scale'])}</b> · generated {e(str(h['created']))} · total "
             f"{_secs(h['total_seconds'])} · {h['jobs']} job(s), backend {e(str(h['backend']))}<br>Versions: "
             + e(", ".join(f"{k} {v}" for k, v in h["versions"].items()))
             + (f"<br>Command: <code>{e(h['command'])}</code>" if h["command"] else "") + "</p>")
    if h["updated"]:
        earlier = h["earlier"]
        P.append(f"<p class='meta'>Partial run: it updated {e(', '.join(h['updated']))}; the other entries come from "
                 "an earlier run" + (f" (<code>{e(str(earlier.get('command')))}</code>, "
                                     f"{e(str(earlier.get('created', '')))})." if earlier.get("command") else ".")
                 + "</p>")
    P.append("<p>Verdicts: " + (", ".join(f"{_verdict_html(k)} {v}" for k, v in sorted(counts.items())) or "none")
             + "</p>")
    toc = [f"<li><a href='#attention'>Claims that fail or are inconclusive</a> ({len(attention) + len(bad_errata)})"
           "</li>"]
    if skipped:
        toc.append("<li><a href='#skipped'>Figures skipped: data unavailable</a></li>")
    toc += ["<li><a href='#summary'>Summary</a></li>", "<li><a href='#figures'>Claims and figures</a><ol>"
            + "".join(f"<li><a href='#{_anchor(r.name)}'>{e(r.name)}</a></li>" for r in results) + "</ol></li>"]
    if errata is not None:
        toc.append("<li><a href='#errata'>Errata</a></li>")
    P.append("<nav id='contents'><h2>Contents</h2><ol>" + "".join(toc) + "</ol></nav>")
    P.append("<h2 id='attention'>Claims that fail or are inconclusive</h2>")
    if attention or bad_errata:
        P.append("<ul>" + "".join(_html_entry(r, c, scale, meta) for r, c in attention) + "".join(
            f"<li class='entry'>{_verdict_html(x['verdict'])} erratum <a href='#{_erratum_anchor(x['id'])}'>"
            f"{e(x['id'])}</a>: {math_html(_sentence(x['source']))} Evidence: "
            f"{math_html(_sentence(x['evidence'] or 'none'))}</li>" for x in bad_errata) + "</ul>")
    else:
        P.append("<p>None: every claim holds or reproduces its erratum.</p>")
    if skipped:
        P.append(f"<h2 id='skipped'>Figures skipped: data unavailable</h2><p>Get a data set, then rerun: "
                 f"{e(DATA_FIX)}.</p><ul>" + "".join(f"<li>{e(r.name)}</li>" for r in skipped) + "</ul>")
    # fixed column widths: words wrap at spaces and only a token longer than its column breaks (in an automatic
    # layout the cells' break-anywhere rule let Chromium shrink the columns until "computed" split)
    P += ["<h2 id='summary'>Summary</h2><table class='summary'><colgroup><col style='width:25%'>"
          "<col style='width:20%'><col style='width:13%'><col style='width:11%'><col style='width:9%'>"
          "<col style='width:22%'></colgroup><tr><th>figure</th><th>paper</th><th>data</th><th>compute</th>"
          "<th>plot</th><th>verdicts</th></tr>"]
    for r in results:
        src = r.status if r.status != "ok" else ("cache" if r.from_cache else "computed")
        comp = f"{_secs(r.cached_compute_seconds)} (cached)" if r.from_cache else _secs(r.compute_seconds)
        v = [c.verdict for c in _claims(r)]
        cl = " ".join(f"{v.count(k)}&nbsp;{_verdict_html(k)}" for k in _SUMMARY_ORDER if v.count(k)) or "—"
        P.append(f"<tr><td><a href='#{_anchor(r.name)}'>{e(r.name)}</a></td><td>{e(r.paper)}</td><td>{src}</td>"
                 f"<td>{comp}</td><td>{'up to date' if r.plot_skipped else _secs(r.plot_seconds)}</td>"
                 f"<td>{cl}</td></tr>")
    P.append("</table><h2 id='figures'>Claims and figures</h2>")
    for r in results:
        P.append(f"<h3 id='{_anchor(r.name)}'>{e(r.name)} — {math_html(r.title)}</h3>"
                 f"<p class='meta'>{e(r.paper)} · recipe <code>{e(recipe_file(r))}</code> · rerun alone: "
                 f"<code>{e(rerun_command(r.name, scale, meta))}</code> · seed {r.seed} · cache key "
                 f"<code>{e(r.key[:16])}</code> · "
                 + ("data from cache" if r.from_cache else e(f"data computed ({r.cache_note})"))
                 + f" · compute {_secs(r.cached_compute_seconds if r.from_cache else r.compute_seconds)}"
                 f" · plot {'up to date' if r.plot_skipped else _secs(r.plot_seconds)}</p>")
        if r.status == "skipped":
            P.append(f"<p class='meta'>Skipped, data unavailable. {e(DATA_FIX)}.</p>")
            continue
        if r.status != "ok":
            P.append(f"<p>{_verdict_html(Verdict.ERROR)} <code>{e(r.error)}</code></p>")
            continue
        if r.claims:
            P.append("<table class='claims'><colgroup><col style='width:17%'><col style='width:39%'>"
                     "<col style='width:17%'><col style='width:15%'><col style='width:12%'></colgroup>"
                     "<tr><th>id</th><th>paper's statement</th><th>prediction</th>"
                     "<th>measured (± margin)</th><th>verdict</th></tr>")
            for c in _claims(r):
                note = f"<div class='note'>{math_html(_sentence(_note(c, meta)))}</div>" if c.note else ""
                P.append(f"<tr id='{_claim_anchor(r, c)}'><td><code>{_breakable(c.id)}</code></td>"
                         f"<td>{math_html(c.statement)}{note}</td><td>{math_html(fmt_value(c.prediction))}</td>"
                         f"<td>{e(_measured(c))}</td><td>{_verdict_html(c.verdict)}</td></tr>")
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
        P.append("<h2 id='errata'>Errata</h2><table class='errata'><colgroup><col style='width:11%'>"
                 "<col style='width:13%'><col style='width:15%'><col style='width:15%'><col style='width:10%'>"
                 "<col style='width:36%'></colgroup><tr><th>id</th><th>where</th><th>printed</th><th>corrected</th>"
                 "<th>verdict</th><th>evidence</th></tr>")
        for x in errata:
            P.append(f"<tr id='{_erratum_anchor(x['id'])}'><td>{e(x['id'])}</td><td>{math_html(x['source'])}</td>"
                     f"<td>{math_html(x['printed'])}</td><td>{math_html(x['corrected'])}</td>"
                     f"<td>{_verdict_html(x['verdict'])}</td><td>{math_html(x['evidence'])}"
                     f"{(' <i>(' + e(x['check']) + ')</i>') if x['check'] else ''}</td></tr>")
        P.append("</table>")
    P.append("</body></html>")
    return "\n".join(P)


# -- writing, and merging a partial run into the report it updates ---------------------------------

def result_from_dict(d: dict[str, Any]) -> FigureResult:
    """A :class:`FigureResult` from its ``report.json`` entry (:meth:`FigureResult.as_dict` plus report keys)."""
    known = {f.name for f in dataclasses.fields(FigureResult)}
    kw = {k: v for k, v in d.items() if k in known}
    kw["claims"] = [as_claim({k: v for k, v in c.items() if k != "paper"}) for c in d.get("claims") or []]
    for k in ("compute_seconds", "cached_compute_seconds", "plot_seconds"):
        if kw.get(k) is None:
            kw[k] = math.nan
    return FigureResult(**kw)


def _merge_earlier(results: Sequence[FigureResult], errata: list[dict[str, Any]] | None, scale: str,
                   meta: dict[str, Any], path: Path) -> tuple[list[FigureResult], list[dict[str, Any]] | None]:
    """This run's figures merged into the earlier report at ``path`` (same scale): this run's entries replace
    theirs, the others are kept in their order; the earlier errata are kept when this run has none."""
    try:
        old = json.loads(path.read_text())
        if not isinstance(old, dict) or old.get("scale") != scale:
            return list(results), errata
        earlier = [result_from_dict(d) for d in old.get("figures") or []]
    except (OSError, ValueError, TypeError, ConfigError):
        return list(results), errata      # no usable earlier report: this run's entries alone
    new = {r.name: r for r in results}
    merged = [new.pop(r.name, r) for r in earlier] + list(new.values())
    old_meta = old.get("meta") or {}
    meta["updated"] = [r.name for r in results]
    meta["earlier"] = old_meta.get("earlier") or {k: old_meta.get(k) for k in ("command", "created")}
    return merged, errata if errata is not None else old.get("errata")


def write_report(results: Sequence[FigureResult], *, scale: str, out_dir: str | os.PathLike[str] = "build",
                 errata: list[dict[str, Any]] | None = None, meta: dict[str, Any] | None = None,
                 partial: bool = False) -> dict[str, Path]:
    """Write REPORT.md, report.html and report.json into ``out_dir`` (atomically); returns their paths.

    ``partial`` (a run of named figures, ``convergence figures NAME ...``): this run's entries replace theirs
    in the report already in ``out_dir`` at the same scale and every other entry is kept.
    """
    out = Path(out_dir)
    meta = {**(meta or {})}
    meta.setdefault("versions", versions())
    paths = {"md": out / "REPORT.md", "html": out / "report.html", "json": out / "report.json"}
    results = list(results)
    if partial:
        results, errata = _merge_earlier(results, errata, scale, meta, paths["json"])
    md = render_markdown(results, errata, scale=scale, meta=meta, out_dir=out)
    page = render_html(results, errata, scale=scale, meta=meta)
    figures = [{**r.as_dict(), "recipe_file": recipe_file(r), "rerun": rerun_command(r.name, scale, meta)}
               for r in results]
    data = {"scale": scale, "smoke_test": scale in SMOKE_SCALES, "meta": meta, "figures": figures, "errata": errata}
    _atomic_write(paths["md"], lambda f: f.write(md.encode()))
    _atomic_write(paths["html"], lambda f: f.write(page.encode()))
    text = json.dumps(data, indent=1, default=_json_default)
    _atomic_write(paths["json"], lambda f: f.write(text.encode()))
    return paths
