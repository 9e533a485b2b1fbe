"""The transfer study's device knobs reach the toolkit's physics: write noise, pulse-to-pulse noise, step and range
device-to-device spreads, the forward periphery (output noise, DAC/ADC steps); target subsets, variants, claims."""
from __future__ import annotations

import math
import pathlib

import numpy as np
import pytest

from convergence import ConfigError
from convergence.swin import analog as A
from convergence.swin import model as M
from convergence.swin import runner as R
from _recipes import load as _load_recipe

CFG = M.SwinConfig(img=16, patch=4, embed=8, depths=(2,), heads=(2,), window=2, n_classes=5)
ROOT = pathlib.Path(__file__).resolve().parents[1]
K = 5.0   # margin of the statistical checks, in standard errors


def _batch(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 16, 16)).astype(np.float32), rng.integers(0, 5, n)


def _persistent(tile, state):
    return tile.layer.weights(state)


def test_default_spec_switches_every_new_knob_off():
    spec = A.AnalogSpec()
    assert spec.forward_io is None
    st = A.init_train_state(M.init(CFG, 0), CFG, spec, None, 6, np.random.default_rng(0))
    assert st.io_rng is None and all("visible" not in s for s in st.tile_states.values())
    assert type(A.visible_params(st)) is dict


@pytest.mark.parametrize("bad", [{"write_noise": -1.0}, {"dw_min_std": -0.1}, {"dw_min_dtod": -1},
                                 {"range_dtod": -1}, {"out_noise": -1}, {"inp_res": -1}, {"out_bound": 0}])
def test_bad_knob_values_raise_naming_the_field(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        A.AnalogSpec(**bad)


def test_write_noise_is_drawn_at_programming_with_the_stated_std():
    """visible − persistent ~ N(0, (write_noise·δ)²) on every element after programming (aihwkit set_weights)."""
    spec = A.AnalogSpec(algorithm="c-ttv2", write_noise=30.0, n_states=1000)
    st = A.init_train_state(M.init(CFG, 1), CFG, spec, None, 6, np.random.default_rng(2))
    diffs = np.concatenate([(tile.device_weights(st.tile_states[n]) - _persistent(tile, st.tile_states[n])).ravel()
                            for n, tile in st.tiles.items()])
    sigma = 30.0 * spec.dw_min
    m = diffs.size
    assert abs(diffs.mean()) < K * sigma / math.sqrt(m)
    # the sample variance has standard error sigma² sqrt(2/(m−1))
    assert abs(diffs.var(ddof=1) - sigma ** 2) < K * sigma ** 2 * math.sqrt(2 / (m - 1))
    # the network sees the noisy weights, in network units
    name, tile = next(iter(st.tiles.items()))
    np.testing.assert_allclose(A.visible_params(st)[name + ".w"],
                               tile.scale[:, None] * tile.device_weights(st.tile_states[name]), rtol=1e-6)


def test_write_noise_is_redrawn_exactly_where_an_update_moved_the_weights():
    spec = A.AnalogSpec(algorithm="sgd", write_noise=10.0)
    st = A.init_train_state(M.init(CFG, 3), CFG, spec, None, 6, np.random.default_rng(4))
    before = {n: (dict(s), s["visible"].copy(), _persistent(st.tiles[n], s)) for n, s in st.tile_states.items()}
    x, y = _batch(5)
    A.train_step(st, x, y, 0.5, np.random.default_rng(6))
    moved_total = kept_total = 0
    for n, (_, vis0, w0) in before.items():
        tile, s = st.tiles[n], st.tile_states[n]
        w1, vis1 = _persistent(tile, s), s["visible"]
        moved = w1 != w0
        np.testing.assert_array_equal(vis1[~moved], vis0[~moved])      # not written: the old draw stays
        assert np.all(vis1[moved] != vis0[moved])                        # written: a fresh draw
        moved_total += int(moved.sum())
        kept_total += int((~moved).sum())
    assert moved_total > 0 and kept_total > 0


def test_write_noise_off_leaves_weights_persistent():
    st = A.init_train_state(M.init(CFG, 3), CFG, A.AnalogSpec(algorithm="sgd"), None, 6, np.random.default_rng(4))
    for n, tile in st.tiles.items():
        np.testing.assert_array_equal(tile.device_weights(st.tile_states[n]), _persistent(tile, st.tile_states[n]))


def test_pulse_to_pulse_noise_has_the_stated_std_per_pulse():
    """n pulses of additive noise σ_c δ each: the deviation from the noise-free write has std ≈ σ_c δ √n."""
    sigma_c, n = 0.5, 4
    spec0 = A.AnalogSpec(algorithm="sgd", n_states=1024)           # δ = 2/1024 exactly: integer pulse counts
    spec1 = A.AnalogSpec(algorithm="sgd", n_states=1024, dw_min_std=sigma_c)
    shape = (64, 64)
    outs = []
    for spec in (spec0, spec1):
        alg, _ = A.make_tile_algorithm(spec, shape, 1, np.random.default_rng(0), numerics=A.tr.TILE)
        assert alg.as_dict()["mode"]["c2c"] == spec.dw_min_std
        s = alg.init(np.zeros((1,) + shape))
        x = np.ones((1, 1, shape[1]))
        d = np.full((1, 1, shape[0]), -n * spec.dw_min)              # ΔW = +n δ on every element
        outs.append(alg.query(alg.step(s, x, d, np.random.default_rng(1))))
    dev = (outs[1] - outs[0]).ravel()
    expect = sigma_c * spec1.dw_min * math.sqrt(n)
    m = dev.size
    assert abs(dev.mean()) < K * expect / math.sqrt(m)
    assert abs(dev.std(ddof=1) / expect - 1) < K * math.sqrt(1 / (2 * (m - 1))) + 0.02   # 0.02: soft-bound curvature


def test_step_and_range_spreads_reach_the_device_and_keep_the_draws():
    shape = (40, 50)
    _, d0 = A.make_tile_algorithm(A.AnalogSpec(sym_dtod=0.2), shape, 10, np.random.default_rng(7))
    _, d1 = A.make_tile_algorithm(A.AnalogSpec(sym_dtod=0.2, dw_min_dtod=0.1, range_dtod=0.05), shape, 10,
                                  np.random.default_rng(7))
    assert np.all(d0.gain == 1.0) and np.all(d0.scale == 1.0)
    m = d1.gain.size
    for arr, sd in ((d1.gain, 0.1), (d1.scale, 0.05)):    # |1 + s ξ| = 1 + s ξ here (s ≤ 0.1: no sign flips)
        assert abs(arr.mean() - 1) < K * sd / math.sqrt(m)
        assert abs(arr.std(ddof=1) / sd - 1) < K * math.sqrt(1 / (2 * (m - 1)))
    # the draws do not depend on the spreads: the symmetric points are the same
    np.testing.assert_allclose(d1.symmetric_point, d0.symmetric_point, atol=1e-12)


def _one_tile_state(spec, seed=0):
    st = A.init_train_state(M.init(CFG, seed), CFG, spec, ["head"], 6, np.random.default_rng(seed))
    return st, st.tiles["head"], st.tile_states["head"]


def test_forward_output_noise_has_the_stated_std_in_device_units():
    out_noise = 0.2
    spec = A.AnalogSpec(algorithm="c-ttv2", out_noise=out_noise, out_bound=1e6)
    st, tile, s = _one_tile_state(spec)
    x = np.random.default_rng(1).standard_normal((4000, tile._w0.shape[1])).astype(np.float32)
    y = tile.mvm(s, spec.forward_io, np.random.default_rng(2))(x, None).astype(np.float64)
    exact = x.astype(np.float64) @ (tile.scale[:, None] * tile.device_weights(s)).T
    s_nm = np.abs(x).max(axis=1, keepdims=True).astype(np.float64)     # abs-max noise management
    z = (y - exact) / (tile.scale[None, :] * s_nm)
    m = z.size
    assert abs(z.mean()) < K * out_noise / math.sqrt(m) + 1e-5
    assert abs(z.std(ddof=1) / out_noise - 1) < K * math.sqrt(1 / (2 * (m - 1))) + 1e-3   # + float32 output


def test_io_resolution_quantises_to_res_times_two_bound():
    """DAC: x/s_nm on the grid inp_res·2 (bound 1); ADC: outputs (device units, per s_nm) on out_res·2·out_bound."""
    spec = A.AnalogSpec(algorithm="c-ttv2", inp_res=1 / 6, out_res=1 / 40, out_bound=4.0)
    st, tile, s = _one_tile_state(spec)
    x = np.random.default_rng(3).standard_normal((300, tile._w0.shape[1]))
    y = tile.mvm(s, spec.forward_io, np.random.default_rng(4))(x, None)
    s_nm = np.abs(x).max(axis=1, keepdims=True)
    ydev = y / (tile.scale[None, :] * s_nm)
    out_step = (1 / 40) * 2 * 4.0
    np.testing.assert_allclose(ydev / out_step, np.round(ydev / out_step), atol=1e-9)
    # with a fine ADC the output is W_dev applied to the DAC-rounded input (step 2/6 on ±1)
    fine = A.AnalogSpec(algorithm="c-ttv2", inp_res=1 / 6, out_res=0, out_bound=1e6)
    y2 = tile.mvm(s, fine.forward_io, None)(x, None)
    xq = np.round((x / s_nm) / (2 / 6)) * (2 / 6)
    np.testing.assert_allclose(y2, (xq @ tile.device_weights(s).T) * s_nm * tile.scale[None, :], rtol=1e-10,
                               atol=1e-12)


def test_periphery_training_is_deterministic_and_changes_the_run():
    x, y = _batch(8)

    def run(spec):
        st = A.init_train_state(M.init(CFG, 5), CFG, spec, None, 6, np.random.default_rng(9))
        losses = [A.train_step(st, x, y, 0.1, np.random.default_rng(k)) for k in range(2)]
        return losses, A.visible_params(st)

    l1, p1 = run(A.AnalogSpec(out_noise=0.1))
    l2, p2 = run(A.AnalogSpec(out_noise=0.1))
    l0, _ = run(A.AnalogSpec())
    assert l1 == l2 and all(np.array_equal(p1[k], p2[k]) for k in p1)
    assert l1 != l0


def test_io_res_sweep_sets_both_resolutions_and_variants_run(tmp_path):
    cfg = {**R.SCALES["quick"], "algorithms": ["digital", "c-ttv2"],
           "sweeps": {"io_res": {"also": ["out_res"], "values": [1 / 30], "algorithms": ["c-ttv2"]}},
           "variants": {"three": {"target_classes": [5, 7, 9], "algorithms": ["digital", "c-ttv2"]}}}
    out = R.run_study(cfg, np.random.SeedSequence(1), synthetic=True, cache_root=str(tmp_path))
    assert out["io_res_acc"].shape == (1, 2, 1) and str(out["io_res_field"]) == "inp_res"
    assert list(out["variants"]) == ["three"] and out["three_main_acc"].shape == (2, 1, 1)
    assert str(out["three_data"][1]).endswith("5,7,9")
    assert any("variant three" in ln for ln in R.summarize(out))
    bad = {**cfg, "variants": {}, "sweeps": {"io_res": {"also": ["nope"], "values": [0.1], "algorithms": ["sgd"]}}}
    with pytest.raises(ConfigError, match="also"):
        R.run_study(bad, np.random.SeedSequence(1), synthetic=True, cache_root=str(tmp_path))


def _recipe():
    return _load_recipe("transfer_swin_study")


def _fake_long(drop: float, seeds: int = 3) -> dict:
    """Study arrays in the long scale's layout: every knob costs ``drop`` accuracy at its last value (0 noise)."""
    rng = np.random.default_rng(0)
    algs = ["digital", "sgd", "c-ttv2"]
    base = {"digital": 0.9, "sgd": 0.6, "c-ttv2": 0.88}
    data = {"algorithms": np.asarray(algs),
            "main_acc": np.stack([np.full((seeds, 1), base[a]) + 0.001 * rng.standard_normal((seeds, 1))
                                  for a in algs]),
            "main_ips": np.ones((3, seeds)), "variants": np.asarray(["footwear"])}
    for sweep in R._KNOB_SWEEPS:
        acc = np.stack([np.stack([np.full(seeds, base[a]) - drop * v + 0.001 * rng.standard_normal(seeds)
                                  for v in (0.0, 0.5, 1.0)]) for a in ("sgd", "c-ttv2")])
        data[f"{sweep}_acc"], data[f"{sweep}_values"] = acc, np.asarray([0.0, 0.1, 0.2])
        data[f"{sweep}_algorithms"] = np.asarray(["sgd", "c-ttv2"])
    data["footwear_algorithms"] = data["algorithms"]
    data["footwear_main_acc"] = data["main_acc"]
    return data


def test_knob_and_variant_claims_follow_the_measurements_and_their_rules():
    rec = _recipe()
    long = rec.SCALES["long"]
    ids = {c[1] for c in rec.KNOB_CLAIMS}
    assert all(c["id"].startswith(f"{rec.NAME}.") for c in rec.claims(_fake_long(0.3), long))
    big = {c["id"].split(".", 1)[1]: c["verdict"] for c in rec.claims(_fake_long(0.3), long)}
    none = {c["id"].split(".", 1)[1]: c["verdict"] for c in rec.claims(_fake_long(0.0), long)}
    assert ids <= set(big) and {"footwear_ctt_close_to_digital", "footwear_sgd_falls_behind"} <= set(big)
    for _, cid, kind, *_ in rec.KNOB_CLAIMS:
        if kind == "falls":
            assert (big[cid], none[cid]) == ("holds", "fails"), cid
        elif kind == "band":
            assert (none[cid], big[cid]) == ("holds", "fails"), cid
    assert big["footwear_ctt_close_to_digital"] == "holds" and big["footwear_sgd_falls_behind"] == "holds"
    # a scale with one seed per sweep point cannot decide them
    one = {**long, "sweep_seeds": 1, "seeds": 1}
    few = {c["id"].split(".", 1)[1]: c for c in rec.claims(_fake_long(0.3, seeds=2), one)}
    assert all(few[i]["verdict"] == "inconclusive" for i in ids)
    assert "'long' scale decides it" in few["write_noise_hurts"]["note"]


def test_long_scale_figure_follows_the_figure_rules():
    from convergence.experiments import plotting as P
    rec = _recipe()
    fig = rec.plot(_fake_long(0.3), rec.SCALES["long"])
    assert P.figure_problems(fig) == []
