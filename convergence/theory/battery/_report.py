"""Result objects of the property battery: one :class:`~convergence.theory.verdicts.Claim` per claim
(built by :func:`ClaimResult`), a :class:`CheckReport` per run."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Iterator

from convergence.theory.verdicts import FAILING, Claim, Verdict

__all__ = ["ClaimResult", "CheckReport", "VERDICTS", "FAILING"]

#: the verdicts a battery claim can get: holds / fails (the claim was measured); inconclusive (the
#: measurement could not decide at this budget; counts as a failure: increase the budget); skipped
#: (declared not applicable by the factory); n/a (vacuous for this algorithm, e.g. range claims for an
#: algorithm without analog arrays); error (the algorithm raised; counts as a failure). :data:`FAILING`
#: lists those that fail the run.
VERDICTS = (Verdict.HOLDS, Verdict.FAILS, Verdict.INCONCLUSIVE, Verdict.SKIPPED, Verdict.NOT_APPLICABLE,
            Verdict.ERROR)


def _fmt(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    out = f"{x:.5g}"
    if out in ("1", "-1") and x != float(out):     # e.g. a saturation of 1 - 3e-12: show that it is not 1
        out = f"{x:.13g}"
    return out


def ClaimResult(name: str, statement: str, reference: str, verdict: Verdict | str, measured: float = math.nan,
                uncertainty: float = math.nan, measured_label: str = "", prediction: float = math.nan,
                prediction_label: str = "", classification: str = "", note: str = "",
                details: dict[str, Any] | None = None, seconds: float = 0.0) -> Claim:
    """The :class:`~convergence.theory.verdicts.Claim` of one battery claim (arguments in the battery's order).

    Args:
        name: claim name (e.g. ``"floor-vs-lr"``), the record's ``id``.
        statement: what the claim asserts (one line).
        reference: paper / theorem / derivation.
        verdict: one of :data:`VERDICTS`.
        measured: the headline measured number (see ``measured_label``).
        uncertainty: its standard error across independent trials (0 for exact comparisons).
        measured_label: what ``measured`` is.
        prediction: the theory's number it is compared with (nan if none).
        prediction_label: what ``prediction`` is, with the comparison rule.
        classification: e.g. ``"exact"`` / ``"biased"`` for ``floor-vs-lr`` (else "").
        note: one line explaining the verdict.
        details: JSON-able numbers behind the verdict (per step size, per scenario, ...).
        seconds: wall-clock time of the claim.
    """
    return Claim(id=name, statement=statement, reference=reference, verdict=verdict, measured=measured,
                 uncertainty=uncertainty, measured_label=measured_label, prediction=prediction,
                 prediction_label=prediction_label, classification=classification, note=note,
                 details={} if details is None else details, seconds=seconds)


@dataclass(frozen=True)
class CheckReport:
    """All claim results of one ``check`` run.

    Attributes:
        target: label of the checked factory.
        claims: the results, in the order run.
        budget: budget name.
        seed: root seed.
        k: statistical margin in standard errors.
        seconds: total wall-clock time.
    """

    target: str
    claims: tuple[Claim, ...]
    budget: str
    seed: int
    k: float
    seconds: float

    def __iter__(self) -> Iterator[Claim]:
        return iter(self.claims)

    def __getitem__(self, name: str) -> Claim:
        for c in self.claims:
            if c.name == name:
                return c
        raise KeyError(f"no claim {name!r} in this report; ran: {', '.join(c.name for c in self.claims)}")

    @property
    def all_hold(self) -> bool:
        """True when no claim failed, was inconclusive or raised."""
        return not any(c.failed for c in self.claims)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.claims if c.failed]

    @property
    def exit_code(self) -> int:
        """0 if every claim holds (or was skipped / not applicable), else 1."""
        return 0 if self.all_hold else 1

    def as_dict(self) -> dict[str, Any]:
        """The JSON form; each claim is :meth:`Claim.as_dict` plus ``name`` (= ``id``, its key before the record)."""
        return {"target": self.target, "budget": self.budget, "seed": int(self.seed), "k": float(self.k),
                "seconds": float(self.seconds), "all_hold": self.all_hold, "exit_code": self.exit_code,
                "failed": self.failed, "claims": [{"name": c.id, **c.as_dict()} for c in self.claims]}

    def to_json(self) -> str:
        """``json.dumps(self.as_dict())`` (the ``convergence check --json`` output)."""
        return json.dumps(self.as_dict())

    def table(self) -> str:
        """A plain-text table: claim, verdict, measured ± uncertainty, prediction, note."""
        head = (f"convergence check {self.target}  (budget {self.budget}, seed {self.seed}, "
                f"margin {self.k:g} x stderr, {self.seconds:.1f} s)")
        rows = [("claim", "verdict", "measured", "prediction", "note")]
        for c in self.claims:
            if c.verdict is Verdict.SKIPPED:
                meas, pred = "-", "-"
            else:
                unc = "" if not c.uncertainty or math.isnan(c.uncertainty) else f" ± {_fmt(c.uncertainty)}"
                meas = f"{_fmt(c.measured)}{unc} {c.measured_label}".strip()
                pred = f"{_fmt(c.prediction)} {c.prediction_label}".strip() if c.prediction_label else "-"
            shown = c.classification and c.classification != c.verdict.value   # no "inconclusive (inconclusive)"
            verdict = c.verdict.value + (f" ({c.classification})" if shown else "")
            rows.append((c.name, verdict, meas, pred, c.note))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = [head]
        for r in rows:
            lines.append("  ".join(r[i].ljust(widths[i]) for i in range(4)) + "  " + r[4])
        lines.append("result: " + ("all claims hold" if self.all_hold else "FAILED: " + ", ".join(self.failed)))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()
