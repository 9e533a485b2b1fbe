"""The toolkit's figure rules (convergence.experiments.plotting): the checker catches each violation, the
helpers produce figures that pass it, device plots and the bias demo follow them, and the demo's title and
caption say what the run shows."""
from __future__ import annotations

import re

import numpy as np
import pytest

from convergence.experiments import plotting as P
from convergence.experiments.demo import bias_demo, demo_story, plot_bias_demo
from convergence.sim.specs import parse_device
from _recipes import load as _load_recipe


@pytest.fixture()
def plt():
    with P.paper_style() as plt:
        yield plt
        plt.close("all")


def _clean(plt, n=2):
    """A figure that follows every rule: n panels, labelled, lettered, legend outside."""
    fig, axes = plt.subplots(1, n, figsize=P.figure_size("full", 0.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        ax.plot([1, 2, 3], [1.0, 0.5, 0.2], label="curve $w_k$")
        ax.plot([1, 2, 3], [0.8, 0.4, 0.1], label="other")
        ax.set_xlabel("iteration $k$")
        ax.set_ylabel("value")
        ax.set_title(f"panel {i}")
    if n > 1:
        P.label_panels(axes[0])
    P.figure_legend(fig)
    return fig, axes[0]


def test_column_widths_are_the_page_widths():
    assert P.figure_size("full", 0.5) == pytest.approx((180 / 25.4, 90 / 25.4))
    assert P.figure_size("half", 1.0) == pytest.approx((88 / 25.4, 88 / 25.4))
    with pytest.raises(ValueError):
        P.figure_size("third")


def test_style_palette_is_okabe_ito(plt):
    cycle = [c.upper().lstrip("#") for c in plt.rcParams["axes.prop_cycle"].by_key()["color"]]
    assert cycle == [c.lstrip("#") for c in P.OKABE_ITO]


def test_clean_figure_has_no_problems(plt):
    fig, _ = _clean(plt)
    assert P.figure_problems(fig) == []


@pytest.mark.parametrize("spoil, needle", [
    (lambda fig, ax: fig.set_figwidth(6.0), "column width"),
    (lambda fig, ax: ax[0].set_xlabel(""), "no x label"),
    (lambda fig, ax: ax[1].set_ylabel(""), "no y label"),
    (lambda fig, ax: ax[0].set_title("(a) W^S literally"), "raw ^ or _"),
    (lambda fig, ax: ax[0].set_ylabel("f(W_k)"), "raw ^ or _"),
    (lambda fig, ax: ax[1].set_title("no letter"), "panel letters"),
    (lambda fig, ax: ax[0].legend(["a", "a"]), "repeats labels"),
    (lambda fig, ax: ax[0].legend(loc="center"), "covers data"),
    (lambda fig, ax: ax[0].set_ylim(0.3, 2.0), "cut off"),
])
def test_checker_catches_each_rule(plt, spoil, needle):
    fig, axes = _clean(plt)
    spoil(fig, axes)
    probs = P.figure_problems(fig)
    assert any(needle in p for p in probs), probs


def test_checker_catches_error_bars_through_zero_on_log_axes(plt):
    fig, ax = plt.subplots(figsize=P.figure_size("half", 0.8))
    ax.errorbar([1, 2], [1e-3, 1e-2], yerr=[5e-3, 1e-3])
    ax.set_yscale("log")
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    assert any("≤ 0" in p for p in P.figure_problems(fig))
    fig2, bx = plt.subplots(figsize=P.figure_size("half", 0.8))
    P.log_errorbar(bx, [1, 2], [1e-3, 1e-2], [5e-3, 1e-3])
    bx.set_yscale("log")
    bx.set_xlabel("x")
    bx.set_ylabel("y")
    assert P.figure_problems(fig2) == []
    lo = np.array([seg[0][1] for seg in bx.containers[0][2][0].get_segments()])
    assert np.all(lo > 0) and lo[1] == pytest.approx(9e-3)     # an unclipped lower end is untouched


def test_legend_entries_are_unique(plt):
    fig, axes = plt.subplots(1, 2, figsize=P.figure_size("full", 0.4))
    for ax in axes:
        ax.plot([0, 1], [0, 1], label="same")
    lg = P.figure_legend(fig)
    assert [t.get_text() for t in lg.get_texts()] == ["same"]


def test_raw_markup_detection():
    assert P.raw_markup("W^S") and P.raw_markup("S_K") and P.raw_markup("$a$ and b_c")
    assert not P.raw_markup("$W^{\\mathrm{S}}$ and $S_K$") and not P.raw_markup("plain text")


@pytest.mark.parametrize("spec", ["ideal", "softbounds:tau=1", "linear:tau=1,c=0.3", "power:tau=1,gamma=0.5",
                                  "linearstep:tau_max=1,tau_min=-0.5", "constant:w_max=1,w_min=-1,up_down=0.3",
                                  "exp:tau=2,gamma=2"])
def test_device_figures_follow_the_rules(plt, spec):
    dev = parse_device(spec)
    fig = P.device_figure(dev)
    assert P.figure_problems(fig) == []
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert not any(re.search(r"[-−]0(?![.\d])", t) for t in texts)     # no "w⋄ = -0"
    assert dev.spec() not in texts                                                       # a readable title


def test_device_title_and_clean_number():
    assert P.clean_number(-0.0) == "0" and P.clean_number(-1e-12, ".3g") == "-1e-12"
    assert P.clean_number(-1e-5, ".2f") == "0.00"
    t = P.device_title("softbounds:tau=1.0,w_sym=0.0")
    assert t == "soft bounds, $\\tau$ = 1, $w_\\diamond$ = 0" and not P.raw_markup(t)
    assert "None" not in P.device_title(parse_device("linearstep:tau_max=1,tau_min=-0.5").spec())


@pytest.fixture(scope="module")
def demos():
    kw = dict(tau=1.0, lr=0.05, w_star=0.5, trials=60, steps=800, seed=3)
    return {s: bias_demo(sigma=s, **kw) for s in (0.0, 0.5)}


def test_demo_caption_follows_the_run(demos):
    noisy_title, noisy_cap = demo_story(demos[0.5])
    clean_title, clean_cap = demo_story(demos[0.0])
    assert "biased point" in noisy_title and "biased" not in clean_title and "reaches" in clean_title
    assert noisy_cap != clean_cap and "σ = 0" in clean_cap
    assert f"{demos[0.5]['tail_analog']:.4f}" in noisy_cap                   # numbers of this run, not fixed text


def test_demo_bias_against_step_size(demos):
    d = demos[0.5]
    assert d["sweep_lrs"].size >= 3 and np.all(d["sweep_lrs"] * d["L"] < 0.5)
    # the mean-field bias w* - w_s is independent of the step size; O(α) finite-step correction allowed
    k = 3.0
    assert np.all(np.abs(d["sweep_bias"] - d["sweep_pred"]) <= k * d["sweep_bias_se"] + 0.05 * d["sweep_lrs"] + 2e-3)
    assert np.all(np.abs(demos[0.0]["sweep_bias"]) < 1e-3)                  # no noise, no bias


@pytest.mark.parametrize("sigma", [0.0, 0.5])
def test_demo_figure_follows_the_rules(plt, demos, sigma):
    fig = plot_bias_demo(demos[sigma])
    assert P.figure_problems(fig) == []
    assert fig.get_suptitle() == demo_story(demos[sigma])[0]
    # the predictions are drawn above the simulated curves
    ax = fig.axes[0]
    z_pred = max(ln.get_zorder() for ln in ax.get_lines() if "stationary point" in ln.get_label())
    z_sim = max(ln.get_zorder() for ln in ax.get_lines() if "mean ± 1 std" in ln.get_label())
    assert z_pred > z_sim
    assert any("symmetric point" in ln.get_label() for ln in ax.get_lines())


def _recipe(stem):
    return _load_recipe(stem)


def test_devices_gallery_follows_the_rules(plt):
    mod = _recipe("devices_gallery")
    cfg = mod.SCALES["quick"]
    fig = mod.plot(mod.compute(cfg, np.random.SeedSequence(0)), cfg)
    assert P.figure_problems(fig) == []


@pytest.mark.parametrize("archs", [("fcn",), ("fcn", "cnn")])
def test_accuracy_curves_follow_the_rules(plt, archs):
    from convergence.experiments.recipe_kit import plot_accuracy_curves, tau_labels

    rng = np.random.default_rng(0)
    data = {f"acc_{a}": rng.uniform(0.8, 0.95, size=(7, 2, 5)) for a in archs}
    fig = plot_accuracy_curves(data, lambda arch: tau_labels([0.6, 0.7, 0.8]), lambda arch: arch.upper())
    assert P.figure_problems(fig) == []


def test_histogram_figure_follows_the_rules(plt):
    mod = _recipe("p1_fig7_histograms")
    rng = np.random.default_rng(0)
    cfg = {**mod.SCALES["quick"]}
    fig = mod.plot({"w": rng.normal(0, 0.1, size=(3, 2000)), "dataset": np.array("synthetic")}, cfg)
    assert P.figure_problems(fig) == []


def test_plot_ema_follows_the_record_spacing():
    """The plots' EMA decays by β per *step*: a curve recorded every 10 steps is smoothed with β¹⁰ per record, so a
    drop between two records shows within a record or two, as in the per-step curve (P1 Fig. 1 had smoothed its
    records as if they were steps, which drew every step size's curve with the EMA's own memory)."""
    from convergence.experiments import recipe_kit as C
    steps = np.arange(0, 2001, 10)
    assert C.record_spacing(steps) == 10 and C.record_spacing([5]) == 1
    y = np.where(steps < 100, 1.0, 1e-6)
    per_record = C.ema(y, 0.9, C.record_spacing(steps))
    per_step = C.ema(np.where(np.arange(2001) < 100, 1.0, 1e-6), 0.9)[steps]
    assert per_record[15] < 0.01 and per_step[15] < 0.01   # 50 steps after the drop: 0.9**50 = 0.005 of the old level
    assert C.ema(y, 0.9)[15] > 0.2                          # β per record would still remember 0.9**6 = 0.53


def test_checker_catches_a_log_axis_with_one_label(plt):
    """τ from 2 to 50 on a log axis with its minor labels dropped shows only 10¹ (the checker flags it); ticks_at
    labels the values."""
    from matplotlib.ticker import NullFormatter

    taus = [2, 3, 5, 10, 20, 50]
    fig, ax = plt.subplots(figsize=P.figure_size("half", 0.8))
    ax.plot(taus, [1.0, 0.8, 0.6, 0.5, 0.45, 0.44], label="floor")
    ax.set_xscale("log")
    ax.set_xlabel("τ")
    ax.set_ylabel("floor")
    ax.xaxis.set_minor_formatter(NullFormatter())
    fig.canvas.draw()
    assert any("log x axis" in p for p in P.figure_problems(fig)), P.figure_problems(fig)
    P.ticks_at(ax, taus)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(t) for t in taus]
    assert not any("log x axis" in p for p in P.figure_problems(fig))


def test_ticks_at_keeps_decade_ticks_over_three_decades(plt):
    lrs = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0]
    fig, ax = plt.subplots(figsize=P.figure_size("half", 0.8))
    ax.plot(lrs, lrs)
    ax.set_xscale("log")
    P.ticks_at(ax, lrs)
    fig.canvas.draw()
    lo, hi = sorted(ax.get_xlim())
    shown = [t.get_text() for t in ax.get_xticklabels() if lo <= t.get_position()[0] <= hi and t.get_text()]
    assert len(shown) >= 3 and all("10" in s for s in shown), shown
