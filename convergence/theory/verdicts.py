r"""One result vocabulary for every check in the package: :class:`Verdict` and the :class:`Claim` record.

Every producer of a result yields a :class:`Claim`: a bound compared with a measurement
(:meth:`convergence.theory.bounds.CheckResult.claims`), a derivation check in ``proofs_checks/``
(built by :func:`convergence.theory.bounds.CheckOutcome`), a claim of the property battery
(:func:`convergence.theory.battery.ClaimResult`) and a figure recipe's claim (the dicts of
``claims(data, cfg)``, turned into records by the figure runner). :meth:`Claim.as_dict` is the one
JSON form; :meth:`Claim.from_dict` reads it back.

Verdicts (the outcome of a measurement or derivation):

* ``holds``: the measured value agrees with the theory's statement within the declared margin.
* ``fails``: it does not; the statement is contradicted at this scale.
* ``erratum confirmed``: the printed statement is contradicted and the corrected one holds (a check
  written to reproduce a known erratum of a paper).
* ``inconclusive`` (shown as "inconclusive at this scale"): the run could not decide. Only a rule
  declared *before* the run may assign it: a claim's resolving power, i.e. the effect size the theory
  predicts against the margin the scale can reach, or the number of points a slope needs
  (:class:`ResolvingPower`, :func:`decide`). Never assign it after seeing the result because the result
  was inconvenient. The property battery's rule is of this kind: the exact/biased slope is undecided
  when the threshold lies inside the k-standard-error interval fixed by ``k`` before the run. So are the
  figure recipes' interval rules (:func:`convergence.experiments.recipe_kit.within_verdict`,
  ``exceeds_verdict``, ``band_verdict``), declared with each claim's prediction.

Statuses (no verdict was reached): ``skipped`` (declared not applicable by the algorithm's author),
``n/a`` (vacuous, e.g. a range claim for an algorithm without analog arrays), ``error`` (the code under
test raised), ``not checked`` (the check exists in principle but was not run or not found), ``noted``
(a documentation finding with no mathematical check).

:class:`Verdict` is a ``str`` enum: a member equals, hashes and serialises (``json.dumps``) like its
value, so ``verdict == "holds"`` and ``{"holds": 1}[Verdict.HOLDS]`` keep working.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field, fields
from typing import Any, Mapping

import numpy as np

from convergence._validate import ConfigError

__all__ = ["Verdict", "VERDICTS", "FAILING", "ResolvingPower", "decide", "Claim", "as_claim"]


class Verdict(str, enum.Enum):
    """The outcome of one claim (see the module docstring for what each value means)."""

    HOLDS = "holds"
    FAILS = "fails"
    ERRATUM_CONFIRMED = "erratum confirmed"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"
    NOT_APPLICABLE = "n/a"
    ERROR = "error"
    NOT_CHECKED = "not checked"
    NOTED = "noted"

    # behave like the plain string everywhere (f-strings, sets, dict keys; Enum hashes the name)
    __hash__ = str.__hash__

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @property
    def label(self) -> str:
        """Text for people: the value, except ``inconclusive at this scale``."""
        return _LABELS.get(self, str(self.value))

    @property
    def passed(self) -> bool:
        """True for ``holds`` and ``erratum confirmed`` (the check reproduced what it set out to)."""
        return self in (Verdict.HOLDS, Verdict.ERRATUM_CONFIRMED)

    @property
    def decided(self) -> bool:
        """True when a measurement or derivation decided the claim (holds, fails, erratum confirmed)."""
        return self in (Verdict.HOLDS, Verdict.FAILS, Verdict.ERRATUM_CONFIRMED)

    @classmethod
    def from_bool(cls, ok: Any) -> "Verdict":
        """``HOLDS`` if ``ok`` else ``FAILS``; ``ok`` must be a bool (NumPy bools included)."""
        if not isinstance(ok, (bool, np.bool_)):
            raise ConfigError(f"verdict: from_bool needs a bool (got {ok!r})")
        return cls.HOLDS if ok else cls.FAILS

    @classmethod
    def parse(cls, value: Any, name: str = "verdict") -> "Verdict":
        """A Verdict from a member, its value, its label or its member name (case-insensitive).

        Raises:
            ConfigError: unknown value, naming the field ``name`` and the known values.
        """
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            hit = _BY_TEXT.get(key)
            if hit is not None:
                return hit
        raise ConfigError(f"{name} must be one of {', '.join(repr(v.value) for v in cls)} (got {value!r})")


_LABELS = {Verdict.INCONCLUSIVE: "inconclusive at this scale"}
_BY_TEXT: dict[str, Verdict] = {}
for _v in Verdict:
    _BY_TEXT.update({_v.value: _v, _v.name.lower(): _v, _v.label: _v})
_BY_TEXT["not applicable"] = Verdict.NOT_APPLICABLE

#: the four verdicts proper (a decision on a claim); the other members are statuses
VERDICTS = (Verdict.HOLDS, Verdict.FAILS, Verdict.ERRATUM_CONFIRMED, Verdict.INCONCLUSIVE)

#: verdicts that count as "did not hold" where every claim must hold (the property battery's exit
#: code): contradicted, undecided by the budget, or not run because of an error.
FAILING = frozenset({Verdict.FAILS, Verdict.INCONCLUSIVE, Verdict.ERROR})


# -- resolving power: the only way to INCONCLUSIVE ------------------------------------------------

def _count(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x >= 0


@dataclass(frozen=True)
class ResolvingPower:
    """What a run at a given scale can resolve, declared from the configuration before the run.

    A claim is resolvable when the effect the theory predicts exceeds the margin the scale can reach
    (``effect > margin``) and, for a slope, when at least ``min_points`` points are available. A rule
    not given (``effect``/``margin`` nan, ``points`` None) does not restrict. Compute every field from
    the configuration (trial counts, step counts, a variance bound), never from the measured result.
    """

    effect: float = math.nan
    """Size of the effect the theory predicts, in the measured quantity's units (e.g. |floor_a − floor_b|)."""
    margin: float = math.nan
    """Margin the scale can reach: k × the standard error expected at this scale (same units as ``effect``)."""
    points: int | None = None
    """A count the scale provides: points available for a slope fit, or training steps of a network
    (None: no count rule)."""
    min_points: int = 0
    """Minimum of that count the claim needs."""
    unit: str = "points"
    """What ``points`` counts (``points``, ``step sizes``, ``training steps``)."""
    purpose: str = "for the slope"
    """What the count is needed for (one phrase, e.g. ``to leave the network's initial plateau``)."""

    def __post_init__(self) -> None:
        for name in ("effect", "margin"):
            x = getattr(self, name)
            if not isinstance(x, (int, float, np.floating, np.integer)) or isinstance(x, bool) or x < 0:
                raise ConfigError(f"ResolvingPower.{name} must be a number >= 0 or nan (got {x!r})")
        if math.isnan(self.effect) != math.isnan(self.margin):
            raise ConfigError("ResolvingPower: give both effect and margin, or neither")
        if self.points is not None and not _count(self.points):
            raise ConfigError(f"ResolvingPower.points must be an int >= 0 or None (got {self.points!r})")
        if not _count(self.min_points):
            raise ConfigError(f"ResolvingPower.min_points must be an int >= 0 (got {self.min_points!r})")
        for name in ("unit", "purpose"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"ResolvingPower.{name} must be a string (got {getattr(self, name)!r})")

    @property
    def resolvable(self) -> bool:
        """True when the declared rule says this scale can decide the claim."""
        ok = True
        if not math.isnan(self.effect):
            ok = self.effect > self.margin
        if self.points is not None:
            ok = ok and self.points >= self.min_points
        return bool(ok)

    def describe(self) -> str:
        """One line for a claim's note, e.g. ``predicted effect 0.001 ≤ margin 0.003 at this scale``."""
        parts = []
        if not math.isnan(self.effect):
            rel = ">" if self.effect > self.margin else "≤"
            parts.append(f"predicted effect {self.effect:.3g} {rel} margin {self.margin:.3g} at this scale")
        if self.points is not None:
            rel = "≥" if self.points >= self.min_points else "<"
            unit = _singular(self.unit) if self.points == 1 else self.unit
            parts.append(f"{self.points} {unit} {rel} {self.min_points} needed {self.purpose}".rstrip())
        return "; ".join(parts) or "no resolving-power rule"


def _singular(unit: str) -> str:
    """``unit`` for a count of one: its first plural word loses the "s" ("1 paired repeat", "1 training step with
    ...")."""
    words = unit.split(" ")
    for i, w in enumerate(words):
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            words[i] = w[:-1]
            break
    return " ".join(words)


def decide(holds: Any, resolvable: bool | ResolvingPower) -> Verdict:
    """The verdict under a resolving-power rule declared before the run.

    ``INCONCLUSIVE`` exactly when ``resolvable`` is False (a bool, or a :class:`ResolvingPower`
    whose rule says the scale cannot decide); otherwise ``HOLDS``/``FAILS`` from ``holds``. An
    unresolvable claim is inconclusive whatever it measured, so the verdict cannot be chosen
    after seeing the result.
    """
    ok = resolvable.resolvable if isinstance(resolvable, ResolvingPower) else resolvable
    if not isinstance(ok, (bool, np.bool_)):
        raise ConfigError(f"resolvable must be a bool or a ResolvingPower (got {resolvable!r})")
    if not ok:
        return Verdict.INCONCLUSIVE
    return Verdict.from_bool(holds)


# -- the record -----------------------------------------------------------------------------------

def _plain(x: Any) -> Any:
    """JSON-able plain Python: NumPy scalars/arrays to numbers/lists, non-finite floats to None."""
    if isinstance(x, enum.Enum):
        return _plain(x.value)
    if x is None or isinstance(x, (bool, str)):
        return x
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if isinstance(x, (int, np.integer)):
        return int(x)
    try:
        f = float(x)
    except (TypeError, ValueError):
        return str(x)
    return f if math.isfinite(f) else None


#: old key names accepted by :meth:`Claim.from_dict` and ``claim[key]``: proofs checks (name, claim,
#: source), recipe claim dicts (paper)
_ALIASES = {"name": "id", "claim": "statement", "source": "reference", "paper": "reference"}


@dataclass(frozen=True, kw_only=True)
class Claim:
    """One claim and its verdict: the result record of bounds, proofs checks, the battery and the figures.

    Construct with keywords; ``verdict`` accepts a :class:`Verdict` or its text (ConfigError if unknown).
    The old names stay readable: ``name`` (= ``id``), ``claim`` (= ``statement``), ``source``
    (= ``reference``), ``passed``, ``failed``, and ``claim["verdict"]`` as for the recipes' dicts.
    """

    id: str
    """Stable identifier: a recipe's claim id, a battery claim name, a proofs check name or a bound name."""
    statement: str
    """What the claim asserts, in one line (the paper's statement or the derived prediction)."""
    verdict: Verdict
    """The outcome (:class:`Verdict`)."""
    reference: str = ""
    """Where the claim comes from: paper, theorem and equation in the paper's own numbering."""
    prediction: Any = None
    """The theory's number (or short list, or text such as ``"slope 1"``) the measurement is compared with."""
    measured: Any = None
    """The measured number (or short list); None for a purely symbolic check."""
    uncertainty: Any = None
    """Uncertainty of ``measured`` as the producer states it: the figure recipes and bounds give the margin
    k × standard error, the property battery the standard error itself (its margin is ``k`` times it)."""
    note: str = ""
    """One line explaining the verdict."""
    details: Any = field(default_factory=dict)
    """The evidence behind the verdict: JSON-able numbers (a dict) or an evidence line (proofs checks)."""
    method: str = ""
    """How it was checked: ``sympy``, ``numeric (dense evaluation)``, ``monte carlo`` (joined by " + "),
    or the comparison rule of a bound."""
    erratum: str = ""
    """For a check reproducing an erratum: ``printed: ... | corrected: ...`` (else empty)."""
    measured_label: str = ""
    """What ``measured`` is (e.g. ``log-log slope``)."""
    prediction_label: str = ""
    """What ``prediction`` is, with the comparison rule."""
    classification: str = ""
    """A class the measurement puts the algorithm in, e.g. ``exact`` / ``biased`` (else empty)."""
    seconds: float = math.nan
    """Wall-clock time of the check (nan if not timed)."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ConfigError(f"claim id must be a non-empty string (got {self.id!r})")
        if not isinstance(self.statement, str):
            raise ConfigError(f"claim {self.id}: statement must be a string (got {self.statement!r})")
        object.__setattr__(self, "verdict", Verdict.parse(self.verdict, f"claim {self.id}: verdict"))

    # -- old names ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Same as ``id`` (the name used by the battery and the proofs checks)."""
        return self.id

    @property
    def claim(self) -> str:
        """Same as ``statement`` (the name used by the proofs checks)."""
        return self.statement

    @property
    def source(self) -> str:
        """Same as ``reference`` (the name used by the proofs checks)."""
        return self.reference

    @property
    def passed(self) -> bool:
        """True for ``holds`` and ``erratum confirmed``."""
        return self.verdict.passed

    @property
    def failed(self) -> bool:
        """True for the verdicts in :data:`FAILING` (fails, inconclusive, error)."""
        return self.verdict in FAILING

    def __getitem__(self, key: str) -> Any:
        """Read access by key (``c["verdict"]``, ``c["paper"]``) for code written against the claim dicts."""
        if not isinstance(key, str):
            raise TypeError(f"Claim keys are field names (got {key!r})")
        name = _ALIASES.get(key, key)
        if name not in _FIELDS:
            raise KeyError(key)
        return getattr(self, name)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and _ALIASES.get(key, key) in _FIELDS

    def get(self, key: str, default: Any = None) -> Any:
        """``self[key]``, or ``default`` for a key that is not a field."""
        return self[key] if key in self else default

    # -- JSON -----------------------------------------------------------------------------------
    def as_dict(self) -> dict[str, Any]:
        """The JSON form: every field, NumPy values as plain numbers, non-finite numbers as None."""
        return {f: _plain(getattr(self, f)) for f in _FIELDS}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Claim":
        """The record from :meth:`as_dict` output (old key names accepted: name, claim, source, paper,
        and ``passed`` when there is no ``verdict``).

        Raises:
            ConfigError: a missing id / statement / verdict, an unknown verdict or an unknown key.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"claim must be a mapping (got {type(data).__name__})")
        kw: dict[str, Any] = {}
        unknown = []
        passed = None
        for key, value in data.items():
            if key == "passed":
                passed = value
                continue
            k = _ALIASES.get(key, key)
            if k not in _FIELDS:
                unknown.append(key)
            elif k not in kw or key == k:
                kw[k] = value
        if unknown:
            raise ConfigError(f"claim {kw.get('id', '?')}: unknown key(s) {', '.join(map(repr, unknown))}; "
                              f"known: {', '.join(_FIELDS)}")
        if "verdict" not in kw and passed is not None:
            kw["verdict"] = (Verdict.ERRATUM_CONFIRMED if passed and kw.get("erratum") else Verdict.from_bool(passed))
        missing = [k for k in ("id", "statement", "verdict") if k not in kw]
        if missing:
            raise ConfigError(f"claim {kw.get('id', '?')}: missing {', '.join(missing)}")
        for k in ("seconds",):
            if kw.get(k) is None:
                kw.pop(k, None)
        if kw.get("details") is None:
            kw.pop("details", None)
        return cls(**kw)

    def __str__(self) -> str:
        head = f"[{self.verdict.label}] {self.id}: {self.statement}"
        src = "; ".join(x for x in (self.reference, self.method) if x)
        lines = [head + (f" ({src})" if src else "")]
        if self.measured is not None or self.prediction is not None:
            lines.append(f"    measured {self.measured!r} (± {self.uncertainty!r}) vs prediction {self.prediction!r}")
        for text in (self.note, self.details if isinstance(self.details, str) else "", self.erratum):
            if text:
                lines.append(f"    {text}")
        return "\n".join(lines)


_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Claim))


def as_claim(x: Any) -> Claim:
    """``x`` if it is a :class:`Claim`, else :meth:`Claim.from_dict` of the mapping ``x``."""
    return x if isinstance(x, Claim) else Claim.from_dict(x)
