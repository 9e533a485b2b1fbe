"""The result vocabulary: Verdict round-trips through JSON, every producer yields a Claim, the resolving-power rule."""
from __future__ import annotations

import json
import math
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

from convergence._validate import ConfigError
from convergence.experiments import recipes
from convergence.theory.battery import check
from convergence.theory.bounds import CheckOutcome, get_bound
from convergence.theory.verdicts import VERDICTS, Claim, ResolvingPower, Verdict, as_claim, decide

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# -- Verdict --------------------------------------------------------------------------------------

@pytest.mark.parametrize("v", list(Verdict))
def test_verdict_round_trips_through_json_and_behaves_as_its_string(v: Verdict) -> None:
    text = json.dumps({"verdict": v, v: 1})
    back = json.loads(text)
    assert back == {"verdict": v.value, v.value: 1}
    assert Verdict.parse(back["verdict"]) is v
    assert v == v.value and hash(v) == hash(v.value) and v in {v.value} and {v.value: 7}[v] == 7
    assert f"{v}" == str(v) == v.value
    assert Verdict.parse(v.name) is v and Verdict.parse(v.label.upper()) is v


def test_inconclusive_reads_as_inconclusive_at_this_scale() -> None:
    assert Verdict.INCONCLUSIVE.label == "inconclusive at this scale"
    assert Verdict.parse("inconclusive at this scale") is Verdict.INCONCLUSIVE
    assert VERDICTS == (Verdict.HOLDS, Verdict.FAILS, Verdict.ERRATUM_CONFIRMED, Verdict.INCONCLUSIVE)


@pytest.mark.parametrize("bad", ["hold", "pass", "", "erratum", None, 1, True])
def test_unknown_verdicts_raise_config_error(bad) -> None:
    with pytest.raises(ConfigError, match="verdict"):
        Verdict.parse(bad)
    with pytest.raises(ConfigError, match="verdict"):
        Claim(id="x", statement="s", verdict=bad)
    with pytest.raises(ConfigError, match="verdict"):
        Claim.from_dict({"id": "x", "statement": "s", "verdict": bad})


def test_from_bool_accepts_bools_only() -> None:
    assert Verdict.from_bool(True) is Verdict.HOLDS and Verdict.from_bool(np.False_) is Verdict.FAILS
    for bad in ("fails", 1, None):
        with pytest.raises(ConfigError):
            Verdict.from_bool(bad)


# -- resolving power ----------------------------------------------------------------------------

@pytest.mark.parametrize("effect,margin,resolvable", [(0.03, 0.02, True), (0.02, 0.02, False), (0.01, 0.02, False),
                                                      (1e-9, 0.0, True), (0.0, 0.0, False)])
def test_decide_is_inconclusive_exactly_when_the_effect_does_not_exceed_the_margin(effect, margin, resolvable):
    power = ResolvingPower(effect=effect, margin=margin)
    assert power.resolvable is resolvable
    for holds in (True, False):
        expected = Verdict.from_bool(holds) if resolvable else Verdict.INCONCLUSIVE
        assert decide(holds, power) is expected
        assert decide(holds, resolvable) is expected


@pytest.mark.parametrize("points,min_points,resolvable", [(2, 3, False), (3, 3, True), (5, 3, True), (0, 0, True)])
def test_decide_for_a_slope_needs_the_declared_number_of_points(points, min_points, resolvable):
    power = ResolvingPower(points=points, min_points=min_points)
    assert power.resolvable is resolvable
    assert decide(False, power) is (Verdict.FAILS if resolvable else Verdict.INCONCLUSIVE)
    # both rules together: either one can make the claim unresolvable
    both = ResolvingPower(effect=1.0, margin=0.5, points=points, min_points=min_points)
    assert both.resolvable is resolvable
    assert ResolvingPower(effect=0.1, margin=0.5, points=points, min_points=min_points).resolvable is False
    assert str(min_points) in power.describe()


def test_no_rule_is_resolvable_and_bad_rules_raise() -> None:
    assert ResolvingPower().resolvable and decide(True, ResolvingPower()) is Verdict.HOLDS
    for kw in ({"effect": -1.0, "margin": 0.1}, {"effect": 0.1}, {"points": -1}, {"points": 2.5},
               {"min_points": True}):
        with pytest.raises(ConfigError):
            ResolvingPower(**kw)
    with pytest.raises(ConfigError):
        decide(True, "yes")


# -- the record -----------------------------------------------------------------------------------

def test_claim_json_round_trip_and_old_names() -> None:
    c = Claim(id="a.b", statement="floor = D3", verdict="holds", reference="P1 Thm 2", prediction=0.0216,
              measured=np.float64(0.02161), uncertainty=[0.0004, 0.0005], note="ok",
              details={"per_lr": np.array([1.0, 2.0]), "n": np.int64(3)}, seconds=1.5)
    d = c.as_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    back = Claim.from_dict(json.loads(json.dumps(d)))
    assert back.as_dict() == d and back.verdict is Verdict.HOLDS
    assert back.details == {"per_lr": [1.0, 2.0], "n": 3}
    assert (c.name, c.claim, c.source, c["paper"], c["verdict"]) == ("a.b", "floor = D3", "P1 Thm 2", "P1 Thm 2",
                                                                    "holds")
    assert c.passed and not c.failed
    assert "paper" in c and "verdict" in c and "nope" not in c and c.get("nope", 5) == 5
    with pytest.raises(KeyError):
        c["nope"]
    with pytest.raises(TypeError):
        list(c)
    # non-finite numbers become null (JSON has no NaN) and come back as "not measured"
    nan = Claim(id="n", statement="s", verdict=Verdict.INCONCLUSIVE, measured=math.nan)
    assert nan.as_dict()["measured"] is None and nan.failed and not nan.passed
    # old key names are read
    old = Claim.from_dict({"name": "chk", "claim": "1 = 1", "source": "none", "method": "sympy", "passed": True,
                           "details": "ok", "erratum": "printed: 2 | corrected: 1"})
    assert old.verdict is Verdict.ERRATUM_CONFIRMED and old.reference == "none"
    with pytest.raises(ConfigError, match="unknown key"):
        Claim.from_dict({"id": "x", "statement": "s", "verdict": "holds", "verdcit": "x"})
    with pytest.raises(ConfigError, match="missing statement"):
        Claim.from_dict({"id": "x", "verdict": "holds"})


def test_every_producer_yields_the_same_record_type(tmp_path) -> None:
    # a bound compared with a measurement
    res = get_bound("p1.thm2").check(np.array([0.01, 1.0]), f_gap=0.5, sigma=0.1, L=1.0, K=1e4, W_max=0.5, tau=1.0,
                                     S_K=0.3)
    bound_claims = res.claims()
    # a proofs check (the cheapest one, imported from the repository)
    sys.path.insert(0, ROOT)
    try:
        from proofs_checks.p1_linear_step_g_sign import check_p1_linear_step_g_sign
        proof = check_p1_linear_step_g_sign()
    finally:
        sys.path.remove(ROOT)
    # the battery
    battery = check("digital-sgd", "reduces-to-digital")["reduces-to-digital"]
    # a recipe's claim dict, normalised by the figure runner
    recipe = SimpleNamespace(name="fake", stem="fake", paper="P1 Fig. 99")
    recipe_claims = recipes.normalise_claims([
        {"id": "fake.ok", "statement": "s", "prediction": "0.1", "measured": np.float64(0.1), "uncertainty": 0.0,
         "verdict": "holds", "paper": "P1 Fig. 99"},
        {"id": "fake.bad", "statement": "s", "prediction": "0.1", "measured": 0.1, "uncertainty": 0.0,
         "verdict": "holdz"},
        "not a dict"], recipe)
    for c in (*bound_claims, proof, battery, *recipe_claims, CheckOutcome("x", "c", "s", "sympy", False)):
        assert type(c) is Claim
        assert as_claim(c) is c and Claim.from_dict(json.loads(json.dumps(c.as_dict()))).verdict is c.verdict
    assert [c.verdict for c in bound_claims] == [Verdict.HOLDS, Verdict.FAILS]
    assert [c.id for c in bound_claims] == ["p1.thm2[0]", "p1.thm2[1]"]
    assert bound_claims[1].prediction == pytest.approx(float(res.bound[1])) and bound_claims[1].measured == 1.0
    assert proof.verdict is Verdict.ERRATUM_CONFIRMED and proof.passed
    assert battery.verdict is Verdict.HOLDS and battery.seconds > 0
    ok, bad, junk = recipe_claims
    assert ok.verdict is Verdict.HOLDS and ok.reference == "P1 Fig. 99" and type(ok.measured) is float
    assert bad.verdict is Verdict.FAILS and "holdz" in bad.note and bad.statement.startswith("malformed claim")
    assert junk.verdict is Verdict.FAILS and junk.details["invalid"] == "'not a dict'"


def test_figure_claim_helper_validates_the_verdict() -> None:
    from convergence.experiments.recipe_kit import claim

    c = claim("x", "s", "p", np.float64(1.0), 0.1, np.bool_(True), "P1")
    assert c["verdict"] is Verdict.HOLDS and type(c["measured"]) is float
    assert claim("x", "s", "p", 1.0, 0.1, "erratum confirmed", "P1")["verdict"] is Verdict.ERRATUM_CONFIRMED
    one = claim("x", "s", "p", np.array([0.05]), [0.1], True, "P1")         # a one-element list reads as a number
    assert (one["measured"], one["uncertainty"]) == (0.05, 0.1)
    two = claim("x", "s", "p", [0.05, 0.2], [0.1, 0.3], True, "P1")
    assert (two["measured"], two["uncertainty"]) == ([0.05, 0.2], [0.1, 0.3])
    with pytest.raises(ConfigError, match="verdict"):
        claim("x", "s", "p", 1.0, 0.1, "confirmed", "P1")


def test_a_claim_value_json_cannot_hold_becomes_a_failing_claim_not_an_error():
    recipe = SimpleNamespace(name="fake", stem="fake", paper="P1 Fig. 99")
    good = {"id": "fake.ok", "statement": "s", "prediction": "p", "measured": 1.0, "uncertainty": 0.0,
            "verdict": "holds"}
    bad = dict(good, id="fake.bad", measured=object())
    ok, broken = recipes.normalise_claims([good, bad], recipe)
    assert ok.verdict is Verdict.HOLDS
    assert broken.verdict is Verdict.FAILS and broken.statement.startswith("malformed claim")


# -- scale rules declared in the recipes' claim code ----------------------------------------------

def test_count_rule_describes_its_unit_and_purpose() -> None:
    from convergence.experiments import recipe_kit as C

    rule = C.count_rule(100, 1200, "training steps", "to leave the plateau")
    assert not rule.resolvable and rule.describe() == "100 training steps < 1200 needed to leave the plateau"
    assert C.count_rule(1200, 1200, "training steps", "x").resolvable
    one = C.count_rule(1, 2, "paired repeats", "for the spread")
    assert one.describe() == "1 paired repeat < 2 needed for the spread"
    assert C.count_rule(1, 9, "training steps with column-wise transfer", "").describe() == \
        "1 training step with column-wise transfer < 9 needed"
    assert C.count_rule(0, 2, "paired repeats", "").describe() == "0 paired repeats < 2 needed"
    with pytest.raises(ConfigError, match="unit"):
        ResolvingPower(points=1, min_points=1, unit=3)
    # mini-batch steps: ceil(n / batch) per epoch; None is the full 60000-image training set
    assert C.sgd_steps(1001, 2, 10) == 2 * 101 and C.sgd_steps(None, 1, 8) == 7500


_SCALES = {"quick": {"n": 2}, "default": {"n": 5}, "paper": {"n": 9}}


def _n_rule(cfg):
    from convergence.experiments import recipe_kit as C

    return C.count_rule(cfg["n"], 3, "points", "for the slope")


@pytest.mark.parametrize("holds", [True, False])
def test_a_rule_makes_the_claim_inconclusive_whatever_it_measured_and_names_the_deciding_scale(holds) -> None:
    from convergence.experiments import recipe_kit as C

    c = C.claim("fig.slope", "s", "p", 1.0, 0.1, holds, "P1", rule=_n_rule, cfg=_SCALES["quick"], scales=_SCALES)
    assert c["verdict"] is Verdict.INCONCLUSIVE
    assert "2 points < 3 needed for the slope" in c["note"] and "'default' scale decides it" in c["note"]
    assert "`convergence figures fig --scale default`" in c["note"] and c["note"].endswith(".")
    d = C.claim("fig.slope", "s", "p", 1.0, 0.1, holds, "P1", rule=_n_rule, cfg=_SCALES["default"], scales=_SCALES)
    assert d["verdict"] is Verdict.from_bool(holds) and d["note"].startswith("Resolving power: 5 points ≥ 3")
    # an erratum check is not a measurement a budget can undecide, and no rule means no note
    e = C.claim("fig.e", "s", "p", 1.0, 0.1, "erratum confirmed", "P1", rule=_n_rule, cfg=_SCALES["quick"],
                scales=_SCALES)
    assert e["verdict"] is Verdict.ERRATUM_CONFIRMED
    assert "note" not in C.claim("fig.x", "s", "p", 1.0, 0.1, holds, "P1")
    with pytest.raises(ValueError, match="cfg and scales"):
        C.claim("fig.x", "s", "p", 1.0, 0.1, holds, "P1", rule=_n_rule)


def test_a_claim_the_recipe_leaves_undecided_under_a_satisfied_rule_keeps_the_rule_as_its_resolving_power() -> None:
    """A recipe's own declared margin rule may leave a claim inconclusive where the scale rule is met: the note then
    states the rule as met, never that the scale cannot decide it."""
    from convergence.experiments import recipe_kit as C

    c = C.claim("fig.band", "s", "p", 0.0, 0.5, "inconclusive", "P1", rule=_n_rule, cfg=_SCALES["default"],
                scales=_SCALES, note="Undecided: the margin is not below the band.")
    assert c["verdict"] is Verdict.INCONCLUSIVE
    assert c["note"] == ("Undecided: the margin is not below the band. "
                         "Resolving power: 5 points ≥ 3 needed for the slope.")


def test_p2_fig4_cnn_claims_need_the_long_budget_with_columnwise_transfer() -> None:
    """The CNN's rule reads the config only: 2 paired repeats and MIN_CNN_STEPS steps of column-wise transfer
    (default: whole-matrix, 375 steps, undecided; long and paper decide)."""
    mod = _recipe("p2_fig4_power")
    assert not mod._cnn_rule(mod.SCALES["default"]).resolvable
    assert mod._cnn_rule(mod.SCALES["long"]).resolvable and mod._cnn_rule(mod.SCALES["paper"]).resolvable
    short = {**mod.SCALES["long"], "cnn": {**mod.SCALES["long"]["cnn"], "epochs": 7}}      # 52 500 steps
    assert not mod._cnn_rule(short).resolvable
    assert not mod._cnn_rule({**mod.SCALES["long"], "repeats": 1}).resolvable
    assert not mod._cnn_rule({**mod.SCALES["long"], "columnwise": False}).resolvable


def test_a_band_claim_holds_only_when_every_margin_is_below_the_band() -> None:
    """recipe_kit.band_verdict: a margin at or above the band leaves the claim undecided (it could hold on noise
    alone); band_claim fails a deviation beyond band + margin whatever the margin."""
    from convergence.experiments import recipe_kit as C

    for ok in (True, False):
        assert C.band_verdict(ok, np.array([0.002, 0.009]), 0.01) == (ok, "")
        assert C.band_verdict(ok, 0.019, 0.02) == (ok, "")
        verdict, note = C.band_verdict(ok, np.array([0.002, 0.01]), 0.01)
        assert verdict == "inconclusive" and "up to 0.01" in note and "0.01 band" in note
    assert C.band_claim(0.05, 0.02, 0.01) == (False, "")             # 0.05 > 0.01 + 0.02: outside by more than 3 s.e.
    assert C.band_claim(0.02, 0.02, 0.01)[0] == "inconclusive"       # inside band + margin, margin above the band
    assert C.band_claim(0.0, 0.02, 0.01, also=False)[0] == "inconclusive"   # a side condition not shown on noise


def test_band_claim_reads_every_deviation_against_band_plus_margin() -> None:
    """recipe_kit.band_claim: holds when every deviation lies within band + margin, fails when one lies beyond it,
    stays undecided when a margin reaches the band, and a false side condition fails the claim."""
    from convergence.experiments import recipe_kit as C

    assert C.band_claim([0.004, 0.012], [0.003, 0.003], 0.01) == (True, "")       # 0.012 <= 0.01 + 0.003
    assert C.band_claim([0.004, 0.014], [0.003, 0.003], 0.01) == (False, "")      # 0.014 > 0.013
    assert C.band_claim(-0.5, 0.001, 0.01) == (True, "")                           # one-sided: far on the good side
    assert C.band_claim(0.004, 0.003, 0.01, also=False) == (False, "")
    verdict, note = C.band_claim(0.0, 0.01, 0.01)
    assert verdict == "inconclusive" and "0.01 band" in note
    # one-sided, margin wider than the band but the whole interval on the good side: shown
    assert C.band_claim(-0.068, 0.043, 0.01) == (True, "")                        # -0.025 <= 0.01
    assert C.band_claim(-0.068, 0.043, 0.01, also=False)[0] == "inconclusive"     # the side condition is not shown
    assert C.band_claim(-0.02, 0.043, 0.01)[0] == "inconclusive"                   # 0.023 > 0.01: could be outside


@pytest.mark.parametrize("measured, margin, expected", [
    (0.01, 0.03, True),                        # the whole interval inside the band
    (0.10, 0.03, False),                       # shown outside it
    (0.04, 0.03, "inconclusive"),              # the edge 0.05 inside [0.01, 0.07]
    ([0.01, 0.10], [0.01, 0.01], False),       # one value shown outside decides
    ([0.01, 0.04], [0.01, 0.03], "inconclusive"),
])
def test_within_verdict_decides_a_band_claim_by_its_interval(measured, margin, expected) -> None:
    from convergence.experiments import recipe_kit as C

    holds, note = C.within_verdict(measured, margin, 0.05)
    assert holds == expected and (note == "") == (expected != "inconclusive")


@pytest.mark.parametrize("measured, margin, expected", [
    ([1.0, 1.5], [0.3, 0.4], True),            # every interval inside [0.5, 2]
    ([1.0, 3.0], [0.3, 0.5], False),           # one wholly above 2
    ([1.0, 0.3], [0.3, 0.1], False),           # one wholly below 0.5
    ([1.6, 3.0], [0.4, 1.5], "inconclusive"),  # 2 inside [1.5, 4.5] and none wholly outside
])
def test_within_verdict_with_a_lower_edge_reads_both_sides(measured, margin, expected) -> None:
    from convergence.experiments import recipe_kit as C

    holds, note = C.within_verdict(measured, margin, 2.0, low=0.5)
    assert holds == expected and (note == "") == (expected != "inconclusive")


@pytest.mark.parametrize("measured, margin, expected", [
    (0.20, 0.05, True),                        # shown above 0
    (0.00, 0.01, False),                       # shown below the least effect 0.05: no effect
    (-0.30, 0.05, False),                      # shown of the other sign
    (0.07, 0.075, "inconclusive"),             # reaches both 0 and 0.05
    ([0.20, 0.07], [0.05, 0.075], "inconclusive"),
    ([0.20, 0.00], [0.05, 0.01], False),
])
def test_exceeds_verdict_decides_an_effect_claim_by_its_interval(measured, margin, expected) -> None:
    from convergence.experiments import recipe_kit as C

    holds, note = C.exceeds_verdict(measured, margin, 0.05)
    assert holds == expected and (note == "") == (expected != "inconclusive")


def test_deciding_scale_passes_over_scales_the_rule_cannot_read() -> None:
    from convergence.experiments import recipe_kit as C

    assert C.deciding_scale(_n_rule, {"quick": {"n": 1}, "long": {"m": 7}, "paper": {"n": 3}}) == "paper"
    assert C.deciding_scale(_n_rule, {"quick": {"n": 1}}) == ""
    c = C.claim("fig.s", "s", "p", 1.0, 0.1, True, "P1", rule=_n_rule, cfg={"n": 1}, scales={"quick": {"n": 1}})
    assert "no scale of this recipe decides it" in c["note"]


def _recipe(stem: str):
    return recipes.load_recipe(os.path.join(ROOT, "figures", f"{stem}.py")).module


#: every claim the declared rules gate: (recipe file stem, the rule as a function of the module)
GATED = {
    "asgd_floor_vs_lr.analog_flat": ("asgd_floor_vs_lr", lambda m: m._flat_rule),
    "asgd_floor_vs_lr.digital_D4": ("asgd_floor_vs_lr", lambda m: m._d4_rule),
    "p1_fig1.analog_floor_flat": ("p1_fig1_lr", lambda m: m._slope_rule),
    "p1_fig5.fcn orderings": ("p1_fig5_mnist", lambda m: m._rule("fcn", m._NEED)),
    "p1_fig5.fcn_asgd_improves_with_tau": ("p1_fig5_mnist", lambda m: m._rule("fcn", m._NEED_TAU)),
    "p1_fig7.tt_wmax_larger": ("p1_fig7_histograms", lambda m: m._rule),
    "p2_fig2 c_Lin = 0 claims": ("p2_fig2_clin", lambda m: m._zero_rule),
    "p2_fig2_tile.tt_beats_asgd_symmetric": ("p2_fig2_tile", lambda m: m._iters_rule),
    "p2_fig4.fcn claims": ("p2_fig4_power", lambda m: m._fcn_rule),
    "p2_tables78 claims": ("p2_tables78", lambda m: m._rule),
}


@pytest.mark.parametrize("what", sorted(GATED))
def test_each_scale_rule_undecides_quick_only_and_default_decides(what) -> None:
    """The rules are functions of a scale's config: quick cannot decide these claims, default and paper can (so a
    claim that fails at default still fails there; the rules cannot hide it)."""
    stem, get = GATED[what]
    mod = _recipe(stem)
    rule = get(mod)
    assert not rule(mod.SCALES["quick"]).resolvable
    assert rule(mod.SCALES["default"]).resolvable and rule(mod.SCALES["paper"]).resolvable


def test_the_transient_rule_bounds_gradient_descent_from_its_first_principles() -> None:
    """lsq_transient_steps: noise-free gradient descent (α ≤ 1/L) from w = 0 has fallen below rel × floor where the
    tail of the returned run length starts (the gap contracts by at least (1 − αμ)² per step); a larger floor or
    a shorter tail needs fewer steps, and a step size outside (0, 1/μ) or a gap already below the target gives 0."""
    import convergence as cv
    from convergence.experiments import recipe_kit as C

    obj = cv.LeastSquares(d=20, n=60, sigma_a=1.0, x_scale=0.5, bias=True, seed=3)
    lam = np.linalg.eigvalsh(obj.H)
    lr = 1.0 / lam[-1]
    gap = lambda w: float(obj.value(w[None])[0] - obj.f_star)           # noqa: E731
    w = np.zeros(obj.dim)
    gap0, floor, tail = gap(w), 1e-6 * gap(w), 0.5
    need = C.lsq_transient_steps(obj, lr, gap0, floor, tail)
    start = math.ceil((1 - tail) * need)
    for _ in range(start):
        w = w - lr * obj.H @ (w - obj.w_star)
    assert gap(w) <= 0.01 * floor
    # and no shorter run would do for a start on the slowest mode alone (its gap contracts exactly (1 − αμ)²)
    v = np.linalg.eigh(obj.H)[1][:, 0]
    u = obj.w_star + math.sqrt(gap0 / gap(obj.w_star + v)) * v          # the slowest mode, with the same gap0
    assert gap(u) == pytest.approx(gap0, rel=1e-9)
    for _ in range(start - 1):
        u = u - lr * obj.H @ (u - obj.w_star)
    assert gap(u) > 0.01 * floor
    assert C.lsq_transient_steps(obj, lr, gap0, 10 * floor, tail) < need
    assert C.lsq_transient_steps(obj, lr, gap0, floor, 0.25) < need
    assert C.lsq_transient_steps(obj, 2.0 / lam[0], gap0, floor, tail) == 0
    assert C.lsq_transient_steps(obj, lr, 0.001 * floor, floor, tail) == 0
    mod = _recipe("p1_fig4_middle_sigma")                # its floor claims: the script's 200 iterations are too few
    cfg = mod.SCALES["default"]
    assert mod._floor_rule(cfg).resolvable and not mod._floor_rule({**cfg, "steps": 200}).resolvable


def test_the_d4_margin_predicts_the_measured_standard_error() -> None:
    """asgd_floor_vs_lr's digital_D4 rule predicts, from the AR(1) autocorrelation alone, the relative 3-s.e. margin
    a run reaches; a run measures it. Over R = 128 trials the sample standard error has a relative spread of about
    1/√(2R) = 6 %; the prediction must fall within 4 of those (25 %)."""
    mod = _recipe("asgd_floor_vs_lr")
    cfg = {**mod.SCALES["default"], "lrs": [0.05, 0.02], "n_mix": 40.0, "trials": 128}
    ft = mod._run((cfg, 0, np.random.SeedSequence(mod.SEED)))          # digital SGD, (lr, trial)
    lrs = np.asarray(cfg["lrs"])
    floor = lrs * cfg["L"] * cfg["sigma"] ** 2 / (2 - lrs * cfg["L"])
    measured = np.max(3.0 * ft.std(axis=1, ddof=1) / math.sqrt(cfg["trials"]) / floor)
    assert mod._d4_margin(cfg) == pytest.approx(measured, rel=0.25)


def test_the_zero_rule_compares_the_meanfield_bias_with_the_fluctuation_margin() -> None:
    """p2_fig2's rule from theory alone: effect = ASGD's D2 bias at c_Lin = 0, margin = 2·k·D4/√trials with
    D4 = Σ ασ²/(2(2 − αh_i)) (digital SGD's stationary floor), both in plotted units."""
    from convergence.experiments import recipe_kit as C

    mod = _recipe("p2_fig2_clin")
    for scale in ("quick", "default"):
        cfg = mod.SCALES[scale]
        power = mod._zero_rule(cfg)
        obj = C.lsq(cfg)
        h = np.linalg.eigvalsh(obj.H)
        h = h[h > 1e-12 * h.max()]
        d4 = float(np.sum(cfg["lr"] * cfg["noise_std"] ** 2 / (2 * (2 - cfg["lr"] * h)))) * obj.plot_scale
        assert power.margin == pytest.approx(C.K_SIGMA * 2 * d4 / math.sqrt(cfg["trials"]), rel=1e-12)
        assert power.effect > 0
    assert mod._zero_rule(mod.SCALES["quick"]).effect == pytest.approx(mod._zero_rule(mod.SCALES["default"]).effect)
def test_a_recipe_may_state_a_finding_but_not_claim_a_status():
    recipe = SimpleNamespace(name="fake", stem="fake", paper="P1 Fig. 99")
    base = {"statement": "s", "prediction": "p", "measured": 1.0, "uncertainty": 0.0}
    noted, skipped = recipes.normalise_claims([dict(base, id="fake.finding", verdict="noted"),
                                               dict(base, id="fake.skip", verdict="skipped")], recipe)
    assert noted.verdict is Verdict.NOTED and not noted.failed and noted.id == "fake.finding"
    assert skipped.verdict is Verdict.FAILS and "skipped" in skipped.note
