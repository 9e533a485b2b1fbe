"""Figure recipes (figures/*.py): contract, data shapes, and each figure's message.

Every recipe runs at its ``quick`` scale (with tiny overrides where that keeps the message), once
per module (cached in a fixture); the tests then check array shapes, a few statistics that carry
the figure's message with explicit margins (k = 3 standard errors across independent trials, or
paired differences under common random numbers), that ``plot`` returns a Figure with the expected
number of axes, and that ``claims`` returns well-formed dicts. Recipes are imported by path since
``figures/`` is not a package.
"""
from __future__ import annotations

import json
import math
import pathlib

import numpy as np
import pytest
from _recipes import FIGURES, load as _load_recipe

FIG = pathlib.Path(__file__).resolve().parents[1] / "figures"
K = 3.0

#: recipe file -> (tiny overrides of the quick config, expected number of axes of the figure)
RECIPES = {
    "p1_fig1_lr": ({}, 3),
    "p1_fig2_fig6_responses": ({"n_grid": 41, "pulses": 50}, 6),
    "p1_fig3_dynamics": ({}, 2),
    "p1_fig4_left_tau": ({}, 2),
    "p1_fig4_middle_sigma": ({}, 2),
    "p1_fig4_right_init": ({}, 2),
    "p2_fig1_3_6_responses": ({"n_grid": 41, "pulses": 50}, 8),
    "p2_fig2_clin": ({}, 2),
    "p2_fig5_gamma": ({}, 2),
    "asgd_floor_grid": ({}, 3),           # heat map, its colour bar, the scatter
    "stationary_vs_penalty": ({}, 2),
    "asgd_floor_vs_lr": ({}, 1),
    "p1_thm2_bound": ({}, 1),
    "bound_tightness": ({"n_random": 8, "confirm_reps": 16, "lsq_instances": 1, "lsq_steps": 200}, 5),
    "rates_on_runs": ({"Ks": [100, 300], "K_gamma": 100}, 3),
}
VERDICTS = {"holds", "fails", "erratum confirmed", "inconclusive", "noted"}   # noted: a stated finding
#: recipes whose plot is being rewritten elsewhere and does not yet follow the figure rules
STYLE_PENDING: set[str] = set()


def load(stem: str):
    return _load_recipe(stem)


_RUNS: dict[str, tuple] = {}


def run(stem: str):
    """(module, cfg, data) of the recipe at quick scale, computed once per test session."""
    if stem not in _RUNS:
        mod = load(stem)
        cfg = {**mod.SCALES["quick"], **RECIPES[stem][0]}
        data = mod.compute(cfg, np.random.SeedSequence(mod.SEED))
        _RUNS[stem] = (mod, cfg, data)
    return _RUNS[stem]


def mse(x, axis=-1):
    x = np.asarray(x, float)
    return x.mean(axis=axis), x.std(axis=axis, ddof=1) / math.sqrt(x.shape[axis])


# -- the contract ---------------------------------------------------------------------------------

@pytest.mark.parametrize("stem", sorted(RECIPES))
def test_contract(stem):
    mod = load(stem)
    for attr in ("NAME", "TITLE", "PAPER", "SEED", "SCALES", "compute", "plot", "claims"):
        assert hasattr(mod, attr), attr
    assert {"quick", "default", "paper"} <= set(mod.SCALES) <= {"quick", "default", "long", "paper"}
    for cfg in mod.SCALES.values():
        json.dumps(cfg)                                   # JSON-able configs (cache keys)
    assert set(mod.SCALES["quick"]) == set(mod.SCALES["default"]) == set(mod.SCALES["paper"])


#: budget knobs that decide how much a scale can resolve (evaluation set, repeats, seeds, trials)
RESOLVING_KNOBS = ("n_test", "repeats", "seeds", "trials")


def _knobs(cfg, prefix=""):
    for key, value in cfg.items():
        if isinstance(value, dict):
            yield from _knobs(value, f"{prefix}{key}.")
        elif key in RESOLVING_KNOBS and isinstance(value, int) and not isinstance(value, bool):
            yield f"{prefix}{key}", value


@pytest.mark.parametrize("stem", [f.stem for f in sorted(FIGURES.glob("*.py")) if "long" in load(f.stem).SCALES])
def test_long_scale_never_resolves_less_than_default(stem):
    """``long`` exists to decide what ``default`` cannot: none of its test sets, repeats, seeds or trials is smaller
    (``paper`` follows the papers' own counts instead, which may be fewer repeats than the default's)."""
    scales = load(stem).SCALES
    default = dict(_knobs(scales["default"]))
    smaller = {k: (default[k], v) for k, v in _knobs(scales["long"]) if k in default and v < default[k]}
    assert not smaller, f"long has less than default (default, long): {smaller}"


def test_names_unique():
    names = [load(s).NAME for s in RECIPES]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("stem", sorted(RECIPES))
def test_data_plot_claims(stem):
    import matplotlib.figure

    mod, cfg, data = run(stem)
    assert data and all(isinstance(v, np.ndarray) for v in data.values())
    assert all(v.dtype != object for v in data.values())
    from convergence.experiments.plotting import figure_problems, paper_style

    with paper_style():                          # as the runner plots
        fig = mod.plot(data, cfg)
        assert isinstance(fig, matplotlib.figure.Figure)
        assert len(fig.axes) == RECIPES[stem][1]
        if stem not in STYLE_PENDING:
            assert figure_problems(fig) == []    # column width, labels, letters, legends, mathtext, limits
    import matplotlib.pyplot as plt
    plt.close(fig)
    claims = mod.claims(data, cfg)
    assert claims
    for c in claims:
        keys = {"id", "statement", "prediction", "measured", "uncertainty", "verdict", "paper"}
        assert keys <= set(c) <= keys | {"note"}                # note: a resolving-power rule's reading
        assert c["verdict"] in VERDICTS
        if c["verdict"] == "inconclusive":   # the report must say why, and which scale (or what) decides it
            assert "decides it" in c.get("note", "") or "Undecided" in c.get("note", ""), c["id"]
        assert isinstance(c["id"], str) and "." in c["id"] and c["id"].split(".")[0][:2] == mod.NAME[:2]
        json.dumps(c)


def test_compute_is_deterministic():
    mod = load("p1_fig4_middle_sigma")
    cfg = {**mod.SCALES["quick"], "trials": 3, "steps": 40}
    a = mod.compute(cfg, np.random.SeedSequence(mod.SEED))
    b = mod.compute(cfg, np.random.SeedSequence(mod.SEED))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


# -- each figure's message ------------------------------------------------------------------------

def test_p1_fig1_analog_floor_does_not_follow_step_size():
    mod, cfg, d = run("p1_fig1_lr")
    lrs = d["lrs"]
    n_a, n_l, n_t = 3, len(lrs), cfg["trials"]
    assert d["floor_trials"].shape == (n_a, n_l, n_t)
    assert d["curve_mean"].shape[:2] == (n_a, n_l)
    big, small = int(np.argmax(lrs)), int(np.argmin(lrs))
    ft = d["floor_trials"]
    # digital floors drop with the step size ...
    m, se = mse(ft[0, big] - ft[0, small])
    assert m > K * se
    # ... by much more than the pulsed-device analog floors do (ratios small/large α)
    r_dig = ft[0, small].mean() / ft[0, big].mean()
    r_pul = ft[2, small].mean() / ft[2, big].mean()
    assert r_pul > 1.2 * r_dig
    # at the smallest step size the analog floors sit above the digital one (paired)
    for a in (1, 2):
        m, se = mse(ft[a, small] - ft[0, small])
        assert m > K * se


def test_p1_fig3_recursion_tracks_device_and_floor_falls_with_tau():
    mod, cfg, d = run("p1_fig3_dynamics")
    ft = d["floor_trials"]
    assert ft.shape == (len(cfg["taus"]), 3, cfg["trials"])
    # analog recursion floor falls with τ (paired across τ: common random numbers per τ differ, so unpaired)
    m, se = mse(ft[:, 1])
    assert m[0] - m[-1] > K * math.hypot(se[0], se[-1])
    # at τ = 1 the recursion is closer to the device than the digital dynamic is
    gap_a = abs((ft[0, 1] - ft[0, 2]).mean())
    gap_d = abs((ft[0, 0] - ft[0, 2]).mean())
    assert gap_a < 0.5 * gap_d


def test_p1_fig4_left_floor_decreases_with_tau():
    mod, cfg, d = run("p1_fig4_left_tau")
    ft = d["floor_trials"]
    assert ft.shape == (2, len(cfg["taus"]), cfg["trials"])
    for mode in range(2):
        for i in range(len(cfg["taus"]) - 1):
            m, se = mse(ft[mode, i] - ft[mode, i + 1])      # paired (common random numbers)
            assert m > K * se


def test_p1_fig4_middle_floor_increases_with_sigma():
    mod, cfg, d = run("p1_fig4_middle_sigma")
    ft = d["floor_trials"]
    assert ft.shape == (3, len(cfg["sigma2s"]), cfg["trials"])
    for a in range(2):
        for i in range(len(cfg["sigma2s"]) - 1):
            m, se = mse(ft[a, i + 1] - ft[a, i])
            assert m > K * se


def test_p1_fig4_right_floor_independent_of_init():
    mod, cfg, d = run("p1_fig4_right_init")
    ft = d["floor_trials"]
    n_init = len(cfg["constants"]) + len(cfg["warm_starts"])             # quick: no two constants clip alike
    assert ft.shape == (2, n_init, cfg["trials"]) and d["inits"].shape[0] == n_init
    assert np.all(np.abs(d["inits"]) <= cfg["tau"])           # clipped into the device range
    ref = ft[:, -len(cfg["warm_starts"]) - 1]                 # the init 1e-2 (nearest 0)
    for a in range(2):
        rel = np.abs(ft[a].mean(axis=1) / ref[a].mean() - 1)
        assert np.all(rel < 0.05)
    # at default the constants 1000, 100, 10 and 1 all clip to τ = 1: one run, labelled so, not four
    full = mod.SCALES["default"]
    rows, names = mod.initialisations(full), mod.labels(full)
    assert rows.shape[0] == len(names) == 5
    assert all(not np.array_equal(rows[i], rows[j]) for i in range(5) for j in range(i))
    assert names[0] == "init 1000, 100, 10, 1 (all → 1)" and np.all(rows[0] == full["tau"])


def test_p1_responses_identities():
    mod, cfg, d = run("p1_fig2_fig6_responses")
    assert d["q6_plus"].shape == (3, cfg["n_grid"])
    assert np.all(np.abs(d["pulse_train"][1]) <= cfg["tau"])
    verdicts = {c["id"]: c["verdict"] for c in mod.claims(d, cfg)}
    assert verdicts == {"p1_fig2.ald_F_G": "holds", "p1_fig2.pulse_train": "holds",
                        "p1_fig6.linear_step_G_sign": "erratum confirmed"}


def test_p2_responses_identities():
    mod, cfg, d = run("p2_fig1_3_6_responses")
    assert d["F6"].shape == (2, len(cfg["gammas"]), cfg["n_grid"])
    assert all(c["verdict"] == "holds" for c in mod.claims(d, cfg))
    # symmetric point of the c_Lin device at c·τ (D6 (docs/theory/derivations.md)), derived independently here
    assert abs(float(d["clin_sym"]) - cfg["c_lin"] * cfg["tau"]) < 1e-12


def test_p2_fig2_tt_degrades_with_clin():
    mod, cfg, d = run("p2_fig2_clin")
    ft = d["floor_trials"]
    assert ft.shape == (2, len(cfg["c_lins"]), cfg["trials"])
    m, se = mse(ft[1])                                       # Tiki-Taka
    assert m[-1] - m[0] > K * math.hypot(se[-1], se[0])
    # the D13 bias grows like c²: prediction at c = 0 is zero
    assert d["tt_excess_pred"][0] == 0.0 and d["tt_excess_pred"][-1] > 0


def test_p2_fig5_gamma_not_worse():
    mod, cfg, d = run("p2_fig5_gamma")
    ft = d["floor_trials"]
    assert ft.shape == (len(cfg["gammas"]), cfg["trials"])
    m, se = mse(ft[-1] - ft[0])                              # paired: γ = max vs γ = 0
    assert m < K * se
    ma, sa = mse(d["asgd_trials"])
    mt, st = mse(ft[-1])
    assert mt + K * st < ma - K * sa                         # TT beats ASGD on the non-linear device


def test_asgd_floor_grid_matches_the_meanfield_floor_and_is_monotone():
    mod, cfg, d = run("asgd_floor_grid")
    shape = (len(cfg["sigmas"]), len(cfg["taus"]), cfg["trials"])
    assert d["grad_sq_trials"].shape == shape and d["d3_floor"].shape == shape[:2]
    m, se = mse(d["grad_sq_trials"])
    assert np.all(np.diff(m, axis=0) > K * np.hypot(se[1:], se[:-1]))     # increases with σ
    assert np.all(np.diff(m, axis=1) < -K * np.hypot(se[:, 1:], se[:, :-1]))  # decreases with τ
    g, gse = mse(d["grad_mean_trials"])
    assert np.all(np.abs(g ** 2 - d["d3_floor"]) <= 0.15 * d["d3_floor"] + K * 2 * np.abs(g) * gse)


def test_stationary_point_is_penalty_minimiser():
    mod, cfg, d = run("stationary_vs_penalty")
    assert d["w_trials"].shape == (3, len(cfg["offsets"]), cfg["trials"])
    m, se = mse(d["w_trials"])
    w_star = d["w_sym"][:, None] + d["offsets"][None, :]
    # much closer to argmin f_Σ than to W*, and never past W* or the symmetric point
    assert np.all(np.abs(m - d["penalty"]) < 0.3 * np.abs(m - w_star) + K * se)
    assert np.all((m - d["w_sym"][:, None] > 0) & (m < w_star))


def test_asgd_floor_vs_lr_shapes_and_limits():
    mod, cfg, d = run("asgd_floor_vs_lr")
    ft = d["floor_trials"]
    assert ft.shape == (3, len(cfg["lrs"]), cfg["trials"])
    big, small = int(np.argmax(d["lrs"])), int(np.argmin(d["lrs"]))
    for a in (0, 2):                                         # digital SGD and Tiki-Taka fall with α
        m, se = mse(ft[a, big] - ft[a, small])
        assert m > K * se
    m, se = mse(ft[1, small])                                # Analog SGD stays above the mean-field floor
    assert m > float(d["d3_floor"]) - K * se
    m, se = mse(ft[1, small] - ft[0, small])
    assert m > K * se


def test_p1_thm2_bound_holds():
    mod, cfg, d = run("p1_thm2_bound")
    assert d["measured"].shape == (len(cfg["Ks"]), cfg["trials"])
    m, se = mse(d["measured"])
    assert np.all(m <= d["bound"].mean(axis=-1) + K * se)
    assert np.all(d["alpha_valid"] == 1.0)
    # the slack claim reads the factor 4 its statement names, not "< 1" (bound_holds' own test): a run at half the
    # bound fails it, one at a tenth holds it
    for frac, verdict in ((0.5, "fails"), (0.1, "holds")):
        scaled = dict(d, measured=d["bound"] * frac * (1 + 1e-3 * np.sign(np.arange(cfg["trials"]) % 2 - 0.5)))
        c = next(c for c in mod.claims(scaled, cfg) if c["id"].endswith("bound_tightness"))
        assert c["verdict"] == verdict, frac
    np.testing.assert_allclose(d["bound"], d["rate_term"] + d["floor_term"], rtol=1e-12)


# -- P2 Table 7's CNN half (p2_tables78; the whole recipe's tiny run is in tests/test_nn_train.py) ------------

def _t7_cnn_data(cfg, shift, n=1000):
    """Synthetic Table 7 CNN arrays at ``cfg``'s shape: every run classifies the same 70 % of the images correctly
    (plus one image that depends on the repeat); Analog SGD and TT at the largest σ_c get ``shift`` of the images
    that all the other runs classify correctly wrong, in every repeat and epoch."""
    c = cfg["cnn"]
    nc, R, E = len(c["c2c"]), int(c["repeats"]), int(c["epochs"])
    correct = np.zeros((1 + 2 * nc, R, E, n), dtype=bool)
    correct[..., :700] = True
    for r in range(R):
        correct[:, r, :, 700 + r] = True
    k = int(round(shift * n))
    for last in (nc, 2 * nc):
        correct[last, :, :, :k] = False
    return {"acc7_cnn": correct.mean(axis=-1), "correct7_cnn": correct, "n_test_cnn": np.asarray(n),
            "dataset": np.asarray("fashion-mnist")}


def test_p2_tables78_cnn_rule_leaves_quick_and_default_undecided_and_long_decides():
    mod = load("p2_tables78")
    power = {s: mod._cnn_rule(cfg) for s, cfg in mod.SCALES.items()}
    assert not power["quick"].resolvable and not power["default"].resolvable
    assert power["long"].resolvable and power["paper"].resolvable
    from convergence.experiments import recipe_kit as C
    assert C.deciding_scale(mod._cnn_rule, mod.SCALES) == "long"
    long = mod.SCALES["long"]["cnn"]
    assert C.sgd_steps(long["n_train"], long["epochs"], long["batch"]) >= mod.MIN_CNN_STEPS


def test_network_band_claims_need_two_paired_repeats():
    """A band claim's margin must hold the seed-to-seed spread: with one repeat (test-set error only) the FCN band
    claims of P2 Table 7 and P2 Fig. 4 are not decidable, whatever their data; the scale that decides them has 2+."""
    from convergence.experiments import recipe_kit as C
    ok = C.network_rule(C.MIN_FCN_STEPS)
    assert not C.band_rule(1, ok).resolvable and C.band_rule(2, ok) is ok
    assert not C.band_rule(3, C.network_rule(10)).resolvable      # then the inner rule
    t78, fig4 = load("p2_tables78"), load("p2_fig4_power")

    def repeats(mod, cfg):      # the FCN band claims' repeats: Table 7's own (repeats7), P2 Fig. 4's FCN ones
        return t78._repeats7(cfg) if mod is t78 else int(cfg.get("fcn", {}).get("repeats", cfg["repeats"]))

    for mod, rule in ((t78, t78._band_rule), (fig4, fig4._fcn_band_rule)):
        scale = C.deciding_scale(rule, mod.SCALES)
        cfg = mod.SCALES[scale]
        assert repeats(mod, cfg) >= C.MIN_BAND_REPEATS, (mod.NAME, scale)
        for name, cfg in mod.SCALES.items():
            try:
                reps = repeats(mod, cfg)
            except KeyError:
                continue
            if "fcn" in cfg.get("archs", ["fcn"]) and reps < 2:
                assert not rule(cfg).resolvable, (mod.NAME, name)
    # the claims read the rule: one repeat leaves the FCN flat claims undecided although the test-set margin is small
    data = {"dataset": np.asarray("fashion-mnist"), "acc7": np.full((5, 1, 2), 0.5), "n_test": np.asarray(100000),
            "acc8": np.full((8, 1, 2), 0.5)}
    cfg = {**t78.SCALES["default"], "repeats": 1, "repeats7": 1}
    flat = [c for c in t78.claims(data, cfg) if c["id"].endswith("_flat_in_c2c")]
    assert flat and all(c["verdict"] == "inconclusive" for c in flat)



#: the band claims of the vector recipes ("|measured − predicted| ≤ tolerance"), with their per-trial arrays
VECTOR_BAND_CLAIMS = {
    "asgd_floor_grid": (("grad_mean_trials", "grad_sq_trials"), ("d3_matches", "d3_plus_d4")),
    "asgd_floor_vs_lr": (("floor_trials",), ("digital_D4", "analog_D3")),
    "p1_fig1_lr": (("floor_trials",), ("digital_floor_D4", "analog_meanfield_floor")),
    "p1_fig3_dynamics": (("floor_trials",), ("meanfield_floor",)),
    "p1_fig4_left_tau": (("floor_trials", "digital_trials"), ("large_tau_is_digital", "meanfield_floor")),
    "p1_fig4_middle_sigma": (("floor_trials",), ("floor_proportional_sigma2", "meanfield_floor")),
    "p1_fig4_right_init": (("floor_trials",), ("floor_independent_of_init.analog", "floor_independent_of_init.pulsed")),
    "p2_fig2_clin": (("floor_trials",), ("tt_floor_D13", "asgd_floor_D2")),
    "stationary_vs_penalty": (("w_trials",), ("penalty_minimiser", "d2_root")),
}


def _spread(data, keys, factor):
    """``data`` with each trial's deviation from the trial mean scaled by ``factor`` (means kept, s.e. × factor)."""
    out = dict(data)
    for k in keys:
        x = np.asarray(data[k], float)
        mean = x.mean(axis=-1, keepdims=True)
        out[k] = mean + factor * (x - mean)
    return out


@pytest.mark.parametrize("stem", sorted(VECTOR_BAND_CLAIMS))
def test_vector_band_claims_are_decided_only_when_the_margin_is_below_the_band(stem):
    """The band rule (recipe_kit.band_verdict) on every band claim of the vector recipes, as on the networks': with
    the trial spread blown up the claim would hold on its margin alone ("≤ band + 3 s.e."), so it is undecided; with
    the spread shrunk it is decided (holds or fails) on the same means."""
    mod, cfg, data = run(stem)
    keys, ids = VECTOR_BAND_CLAIMS[stem]
    if stem == "asgd_floor_vs_lr":
        # quick has no α ≤ 0.01, where analog_D3's band applies, and too few trials for digital_D4's margin
        # (asgd_floor_vs_lr._d4_rule; tests/test_verdicts.py checks that rule): their rules say so
        notes = {c["id"].split(".")[-1]: c.get("note", "") for c in mod.claims(data, cfg)}
        for cid in ("analog_D3", "digital_D4"):
            assert "Not decidable at this scale" in notes[cid], cid
        cfg = {**cfg, "lrs": [0.1, 0.01]}
        data = mod.compute(cfg, np.random.SeedSequence(mod.SEED))
        ids = tuple(i for i in ids if i != "digital_D4")
    ids = {f"{mod.NAME}.{i}" for i in ids}

    def verdicts(factor):
        got = {c["id"]: c for c in mod.claims(_spread(data, keys, factor), cfg) if c["id"] in ids}
        assert set(got) == ids
        return got

    for cid, c in verdicts(1e4).items():
        assert c["verdict"] == "inconclusive" and "not below the" in c["note"], cid
    for cid, c in verdicts(1e-6).items():
        assert c["verdict"] in ("holds", "fails"), cid


@pytest.mark.parametrize("gap, spread, verdict", [(0.15, 0.01, "holds"), (0.0, 0.001, "fails"),
                                                   (0.02, 0.05, "inconclusive"), (-0.1, 0.01, "fails")])
def test_p1_fig7_wmax_ordering_reads_the_paired_gap_over_repeats(gap, spread, verdict):
    """P1 Fig. 7's "TT reaches a larger W_max" is an effect claim on the paired gap over repeats (interval rule):
    a gap of 0.15 τ with a small seed spread holds, no gap (or a negative one) fails, and a gap whose interval
    reaches both 0 and one histogram bin is undecided."""
    mod = load("p1_fig7_histograms")
    cfg = mod.SCALES["default"]
    rng = np.random.default_rng(3)
    asgd = 0.06 + 0.01 * rng.standard_normal(cfg["repeats"])
    tt = asgd + gap + spread * np.array([1.0, -1.0, 1.0, -1.0])
    data = {"w_absmax": cfg["tau"] * np.stack([asgd + 0.1, asgd, tt]), "dataset": np.array("synthetic")}
    got = {c["id"]: c for c in mod.claims(data, cfg)}
    assert got["p1_fig7.tt_wmax_larger"]["verdict"] == verdict
    assert got["p1_fig7.asgd_bounded"]["verdict"] == "holds"
    # Analog SGD's W_max 0.06 τ = 0.042 is within 25 % of the initial bound 1/28: the note says it barely moved
    assert "barely moved" in got["p1_fig7.tt_wmax_larger"]["note"]
    data["w_absmax"] = data["w_absmax"] + 0.2 * cfg["tau"]
    assert "barely moved" not in {c["id"]: c for c in mod.claims(data, cfg)}["p1_fig7.tt_wmax_larger"].get("note", "")


def test_every_band_claim_states_its_deviation_not_its_outcome():
    """A recipe states a band claim with recipe_kit.band_claim (deviation, margin, band), which derives the outcome
    from the same band and margin that decide whether the claim is resolved; a hand-written outcome beside
    band_verdict could drift from them. At least the 26 band claims of the audit go through it."""
    sources = {p.name: p.read_text() for p in FIGURES.glob("*.py")}
    assert not [n for n, t in sources.items() if "band_verdict(" in t]
    assert sum(t.count("band_claim(") for t in sources.values()) >= 26


@pytest.mark.parametrize("spread, lead, verdict", [(0.0, 0.0, "holds"), (0.0, 0.05, "fails"),
                                                   (0.05, 0.0, "inconclusive")])
def test_p1_fig5_digital_best_is_a_band_claim(spread, lead, verdict):
    """'Digital best' (no analog setting ahead of digital) is a band claim like P2 Fig. 4's near-digital one: an analog
    setting ahead by more than 1 pp fails it when 3 s.e. is below 1 pp; a seed spread whose 3 s.e. exceeds the band
    leaves it undecided although every gap lies inside its margin."""
    mod = load("p1_fig5_mnist")
    cfg = {**mod.SCALES["default"], "archs": ["fcn"]}
    R = int(cfg["fcn"]["repeats"])
    seeds = np.array([-1.0, 0.0, 1.0])[:R] * spread                       # paired: one offset per repeat
    acc = np.full((7, R, 1), 0.80)
    acc[1:4] = 0.60                                                         # Analog SGD
    acc[4:] = 0.80 + lead + seeds[:, None]                                  # TT
    data = {"dataset": np.asarray("fashion-mnist"), "acc_fcn": acc, "n_test_fcn": np.asarray(10 ** 9)}
    c = next(c for c in mod.claims(data, cfg) if c["id"] == "p1_fig5.fcn_digital_best")
    assert c["verdict"] == verdict
    one = {**cfg, "fcn": {**cfg["fcn"], "repeats": 1}}                    # one repeat: no seed spread to read
    data1 = dict(data, acc_fcn=acc[:, :1])
    assert next(c for c in mod.claims(data1, one) if c["id"] == "p1_fig5.fcn_digital_best")["verdict"] == "inconclusive"

@pytest.mark.parametrize("shift, n, verdict", [(0.0, 1000, "holds"), (0.10, 5000, "fails"),
                                                (0.10, 1000, "fails"), (0.04, 800, "inconclusive")])
def test_p2_tables78_cnn_claims_read_the_paired_change(shift, n, verdict):
    """A 10-point change fails against the 2-point band, both when 3 s.e. of the paired change is below the band
    (5000 images: 1.3 points) and when it is not (1000 images: 2.8 points, still 10 > 2 + 2.8); a 4-point change on
    800 images (3 s.e. 2.1 points) lies within band + margin on a margin above the band: undecided."""
    mod = load("p2_tables78")
    cfg = mod.SCALES["long"]
    claims = mod._t7_claims(_t7_cnn_data(cfg, shift, n), cfg, "cnn")
    assert [c["id"] for c in claims] == ["p2_tables78.t7_cnn_asgd_flat_in_c2c", "p2_tables78.t7_cnn_tt_flat_in_c2c"]
    for c in claims:
        assert c["measured"] == pytest.approx(-shift, abs=1e-12)   # the change acc(σ_c max) − acc(σ_c min), paired
        # no seed spread here, so the margin is the paired test-set error: 3·sd over images / √n
        assert c["uncertainty"] == pytest.approx(3 * math.sqrt(shift * (1 - shift) * n / (n - 1) / n), rel=1e-9)
        assert c["verdict"] == verdict and "CNN" in c["statement"]
    # the same data at the default scale's shape (1 repeat) cannot decide it
    cfg = mod.SCALES["default"]
    assert {c["verdict"] for c in mod._t7_claims(_t7_cnn_data(cfg, shift, n), cfg, "cnn")} == {"inconclusive"}


def test_p2_tables78_table7_fcn_repeats_are_its_own():
    """Table 7's FCN half runs ``repeats7`` paired repeats (4 at default), Table 8 ``repeats`` (2): the T7 band
    rule counts the T7 repeats, each claim's statement names its own table's count, and the cost model counts
    both."""
    mod = load("p2_tables78")
    cfg = mod.SCALES["default"]
    assert mod._repeats7(cfg) == 4 and int(cfg["repeats"]) == 2 and mod._repeats7(mod.SCALES["quick"]) == 1
    assert mod._band_rule(cfg).resolvable and not mod._band_rule({**cfg, "repeats7": 1}).resolvable
    n, e = 1000, int(cfg["epochs"])
    rng = np.random.default_rng(0)
    c7 = rng.random((len(mod.settings7(cfg)), 4, e, n)) < 0.7
    c8 = rng.random((len(mod.settings8(cfg)), 2, e, n)) < 0.7
    data = {"acc7": c7.mean(-1), "correct7": c7, "acc8": c8.mean(-1), "correct8": c8, "n_test": np.asarray(n),
            "dataset": np.asarray("fashion-mnist")}
    got = {c["id"].split(".")[-1]: c["statement"] for c in mod.claims(data, cfg)}
    assert "4 paired repeats" in got["t7_tt_flat_in_c2c"] and "2 paired repeats" in got["t8_tt_beats_asgd_gamma_ge_1"]
    per_image = cfg["n_train"] * e
    work = mod.WORK(cfg) - len(mod.settings7_cnn(cfg)) * cfg["cnn"]["repeats"] * cfg["cnn"]["epochs"] \
        * cfg["cnn"]["n_train"]
    assert work == (len(mod.settings7(cfg)) * 4 + len(mod.settings8(cfg)) * 2) * per_image


def test_p2_tables78_plot_has_the_cnn_panel():
    from convergence.experiments.plotting import figure_problems, paper_style
    import matplotlib.pyplot as plt

    mod = load("p2_tables78")
    cfg = mod.SCALES["long"]
    rng = np.random.default_rng(0)
    data = {**_t7_cnn_data(cfg, 0.0), "acc7": rng.uniform(0.5, 0.9, (1 + 2 * len(cfg["c2c"]), 2, 2)),
            "acc8": rng.uniform(0.1, 0.9, (len(mod.settings8(cfg)), 2, 2))}
    with paper_style():
        fig = mod.plot(data, cfg)
        assert len(fig.axes) == 5                                        # Table 7 FCN and CNN, Table 8 x 2, colour bar
        assert figure_problems(fig) == []
        assert "CNN" in fig.axes[1].get_title()
        ours = [ln for ln in fig.axes[1].get_lines() if "ours" in ln.get_label() and len(ln.get_xdata()) > 2]
        np.testing.assert_allclose(ours[0].get_xdata(), 100 * np.asarray(cfg["cnn"]["c2c"]))
    plt.close(fig)


def test_p2_tables78_cnn_half_uses_the_fcn_devices_and_its_own_arrays():
    mod = load("p2_tables78")
    cfg = mod.SCALES["quick"]
    cnn, fcn = mod.settings7_cnn(cfg), mod.settings7(cfg)
    assert cfg["cnn"]["c2c"] == cfg["c2c"] and len(cnn) == len(fcn)
    for a, b in zip(cnn, fcn):                          # same algorithm, device, pulses and c2c level as the FCN
        assert a["arch"] == "cnn" and b["arch"] == "fcn"
        for key in ("alg", "lr", "mode", "device"):
            assert a.get(key) == b.get(key), key
    from convergence.nn import data as nn_data
    if not any(nn_data.available().values()):
        pytest.skip("neither MNIST nor Fashion-MNIST installed (apt-get install dataset-fashion-mnist)")
    tiny = {**cfg, "cnn": {**cfg["cnn"], "n_train": 64, "n_test": 50}}
    out = mod.compute_cnn(tiny, np.random.SeedSequence(mod.SEED))
    assert set(out) == {"acc7_cnn", "correct7_cnn", "n_test_cnn"}
    assert out["acc7_cnn"].shape == (len(cnn), 1, 1) and out["correct7_cnn"].shape == (len(cnn), 1, 1, 50)
    assert out["correct7_cnn"].dtype == bool and int(out["n_test_cnn"]) == 50
    np.testing.assert_allclose(out["acc7_cnn"], out["correct7_cnn"].mean(axis=-1), rtol=0, atol=1e-12)


def test_p2_fig5_gain_then_saturation_reads_the_paired_contrast():
    """The two gains floor(0) − floor(γ₁) and floor(γ₁) − floor(γ_max) share floor(γ₁) on common random numbers:
    the claim's s.e. is that of the per-trial contrast floor(0) − 2 floor(γ₁) + floor(γ_max). With the trial noise
    in floor(γ₁) alone that s.e. is 2 sd/√n, not √2 sd/√n, and a gap between the two leaves the claim undecided."""
    mod = load("p2_fig5_gamma")
    cfg = mod.SCALES["default"]
    g = np.array(cfg["gammas"], float)
    n = 64
    e = np.random.default_rng(4).standard_normal(n)
    e = (e - e.mean()) / e.std(ddof=1)                                      # sd 1, mean 0 exactly
    ft = np.empty((g.size, n))
    ft[0], ft[1:] = 10.0, 8.0                                               # first gain 2 ...
    ft[-1] = 8.0 - 1.35                                                     # ... second 1.35: contrast 0.65
    ft[1] = 8.0 + e                                                         # noise in floor(γ₁) only
    data = {"gammas": g, "floor_trials": ft, "asgd_trials": np.full(n, 20.0)}
    c = next(c for c in mod.claims(data, cfg) if c["id"].endswith("gain_then_saturation"))
    assert 3 * math.sqrt(2) / math.sqrt(n) < 0.65 < 3 * 2 / math.sqrt(n)   # 0.53 < 0.65 < 0.75
    assert c["verdict"] == "fails"
    ft[-1] = 8.0 - 1.2                                                      # contrast 0.8 > 0.75: holds
    assert next(c for c in mod.claims(data, cfg) if c["id"].endswith("gain_then_saturation"))["verdict"] == "holds"


def test_bound_tightness_search_rule_is_declared():
    """The search claims need 2 refinement rounds, declared with recipe_kit.count_rule: an undecided verdict names
    the scale that decides it."""
    mod, cfg, data = run("bound_tightness")
    assert int(cfg["rounds"]) < 2
    got = {c["id"].split(".")[1]: c for c in mod.claims(data, cfg)}
    for cid in ("thm2_reaches_ceiling", "thm2_worst_vs_random"):
        assert got[cid]["verdict"] == "inconclusive" and "'default' scale decides it" in got[cid]["note"], cid


@pytest.mark.parametrize("sd, verdict", [(1e-3, "holds"), (1.0, "inconclusive")])
def test_p2_fig5_not_worse_is_a_band_claim(sd, verdict):
    """'γ > 0 is not worse than γ = 0' is a band claim (within 10 % of floor(0)): with no difference and a trial
    spread whose 3 s.e. exceeds the band it is undecided ('≤ 3 s.e.' alone held on any noise)."""
    mod = load("p2_fig5_gamma")
    cfg = mod.SCALES["default"]
    g = np.array(cfg["gammas"], float)
    z = np.random.default_rng(5).standard_normal((g.size, 16))
    data = {"gammas": g, "floor_trials": 1.0 + sd * (z - z.mean(axis=1, keepdims=True)),
            "asgd_trials": np.full(16, 5.0)}
    c = next(c for c in mod.claims(data, cfg) if c["id"].endswith("gamma_not_worse"))
    assert c["verdict"] == verdict


@pytest.mark.parametrize("arch", ["fcn", "cnn"])
def test_p2_fig4_tau_reaches_both_analog_algorithms(arch):
    """P2 Fig. 4's TT curves over τ nearly coincide; that is the algorithm, not lost wiring: after the same 10 steps
    on the same batch, each τ gives TT different weights (less different than Analog SGD's, whose drift acts on the
    visible weights directly; TT's acts on the small fast array and on C through transfers). Weights, not outputs:
    the FCN's 9-bit ADC hides differences this small in the outputs."""
    from convergence.experiments import networks as E
    from convergence.nn.training import train_step

    mod = _load_recipe("p2_fig4_power")
    rng = np.random.default_rng(0)
    x = rng.random((8, 1, 28, 28) if arch == "cnn" else (10, 784), dtype=np.float32)
    y = np.arange(len(x)) % 10
    spread = {}
    for alg in ("asgd", "tt"):
        weights = []
        for s in (s for s in mod.settings(arch, mod.SCALES["default"]) if s["alg"] == alg):
            model, u = E.build(s, 1), np.random.default_rng(1)
            for _ in range(10):
                train_step(model, x, y, s["lr"], u)
            weights.append(np.concatenate([layer.core.weight.ravel() for _, layer in model.weighted()]))
        assert len(weights) == 3
        spread[alg] = min(float(np.abs(w - weights[0]).max()) for w in weights[1:])
    assert spread["tt"] > 0 and spread["asgd"] > spread["tt"]
