"""Transfer-learning study plumbing: analog tiles as weight stores, metamorphic identities, cache, CLI."""
from __future__ import annotations

import numpy as np
import pytest

from convergence import ConfigError
from convergence.cli.main import main
from convergence.swin import analog as A
from convergence.swin import model as M
from convergence.swin import runner as R
from convergence.swin import study as S

CFG = M.SwinConfig(img=16, patch=4, embed=8, depths=(2,), heads=(2,), window=2, n_classes=5)


def _batch(seed=0, n=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 1, 16, 16)).astype(np.float32), rng.integers(0, 5, n)


def test_analog_sgd_on_ideal_device_equals_digital_sgd():
    """Ideal device + Expected update: W ← W + ΔW exactly, so the analog run is digital SGD (to float rounding)."""
    p = M.init(CFG, 1)
    rng = np.random.default_rng(0)
    dig = A.init_train_state(p, CFG, None, None, 6, rng)
    ana = A.init_train_state(p, CFG, A.AnalogSpec(algorithm="sgd", ideal=True), None, 6, rng)
    assert set(ana.tiles) == set(M.default_analog(p))
    for k in range(3):
        x, y = _batch(k)
        A.train_step(dig, x, y, 0.1, rng)
        A.train_step(ana, x, y, 0.1, rng)
    vp = A.visible_params(ana)
    for k, v in A.visible_params(dig).items():
        np.testing.assert_allclose(vp[k], v, rtol=2e-5, atol=2e-6)


def test_tile_mapping_reproduces_initial_weights_and_omega():
    p = M.init(CFG, 2)
    st = A.init_train_state(p, CFG, A.AnalogSpec(algorithm="c-ttv2", omega=0.5), None, 6, np.random.default_rng(0))
    for name, tile in st.tiles.items():
        np.testing.assert_allclose(tile.weights(st.tile_states[name]), p[name + ".w"], rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(np.abs(tile.device_weights(st.tile_states[name])).max(axis=1), 0.5, rtol=1e-12)


def test_transfer_cadence_is_one_sweep_per_batch():
    spec = A.AnalogSpec(algorithm="ttv2")
    alg, _ = A.make_tile_algorithm(spec, (24, 8), rows_per_batch=6 * 16, rng=np.random.default_rng(0))
    assert alg.as_dict()["transfer_every"] == 6 * 16 // 8
    assert A.layer_tokens(CFG, "s0.b0.attn.qkv") == 16 and A.layer_tokens(CFG, "head") == 1


@pytest.mark.parametrize("alg", ["sgd", "ttv2", "c-ttv2", "agad"])
def test_every_algorithm_trains_and_stays_in_device_bounds(alg):
    p = M.init(CFG, 3)
    st = A.init_train_state(p, CFG, A.AnalogSpec(algorithm=alg, n_states=200), None, 6, np.random.default_rng(1))
    for k in range(4):
        x, y = _batch(k)
        loss = A.train_step(st, x, y, 0.1, np.random.default_rng(k))
        assert np.isfinite(loss)
    for name, tile in st.tiles.items():
        for _, arr, dev in tile.analog(st.tile_states[name]):
            lo, hi = dev.bounds
            assert np.all(arr >= lo - 1e-9) and np.all(arr <= hi + 1e-9)


def test_bad_spec_and_layer_names_raise():
    with pytest.raises(ConfigError):
        A.AnalogSpec(algorithm="adam")
    with pytest.raises(ConfigError, match="transfer_max_pulses"):
        A.AnalogSpec(transfer_max_pulses=0)
    with pytest.raises(ConfigError):
        A.init_train_state(M.init(CFG, 0), CFG, A.AnalogSpec(), ["nope"], 6, np.random.default_rng(0))


def test_pretrain_cache_roundtrip_without_pickle(tmp_path):
    task = S.synthetic_task(40, 20, img=16)
    pre = {"epochs": 1, "lr": 1e-3, "batch": 20, "seed": 0}
    p1, hit1 = S.pretrained(CFG, task, pre, "syn", cache_root=tmp_path)
    p2, hit2 = S.pretrained(CFG, task, pre, "syn", cache_root=tmp_path)
    assert (hit1, hit2) == (False, True)
    files = list(tmp_path.glob("swin_pretrain-*.npz"))
    assert len(files) == 1
    with np.load(files[0], allow_pickle=False) as z:
        assert set(z.files) == set(p1) | {"__sha256__"}   # the arrays and their self-check digest
    for k in p1:
        np.testing.assert_array_equal(p1[k], p2[k])


def test_finetune_is_deterministic_given_seed():
    task = S.synthetic_task(30, 20, img=16, classes=(5, 6, 7, 8, 9))
    p = M.init(CFG, 0)
    ft = S.FinetuneConfig(epochs=1, batch=10, lr=0.05)
    a = S.finetune(p, CFG, task, A.AnalogSpec(algorithm="c-ttv2"), ft, 7)
    b = S.finetune(p, CFG, task, A.AnalogSpec(algorithm="c-ttv2"), ft, 7)
    np.testing.assert_array_equal(a["acc"], b["acc"])
    np.testing.assert_array_equal(a["loss"], b["loss"])


@pytest.mark.parametrize("spec", [A.AnalogSpec(algorithm="c-ttv2"), A.AnalogSpec(algorithm="sgd", out_noise=0.1)],
                         ids=["no-periphery", "output-noise"])
def test_finetune_without_its_curve_gives_the_same_run(spec, monkeypatch):
    """``curve=False`` skips the test passes before the last epoch, unless a forward periphery draws noise from the
    stream the training shares (then every pass runs): the final accuracy, the losses and the trained weights are
    the same bit for bit either way."""
    task = S.synthetic_task(30, 20, img=16, classes=(5, 6, 7, 8, 9))
    p = M.init(CFG, 0)
    ft = S.FinetuneConfig(epochs=3, batch=10, lr=0.05)
    calls = []
    evaluate = S.evaluate
    monkeypatch.setattr(S, "evaluate", lambda *a, **k: calls.append(1) or evaluate(*a, **k))
    full = S.finetune(p, CFG, task, spec, ft, 7)
    n_full = len(calls)
    final = S.finetune(p, CFG, task, spec, ft, 7, curve=False)
    noisy = spec.forward_io is not None
    assert (n_full, len(calls) - n_full) == (3, 3 if noisy else 1)
    assert np.isfinite(full["acc"]).all()
    if noisy:
        np.testing.assert_array_equal(final["acc"], full["acc"])
    else:
        assert np.isnan(final["acc"][:-1]).all() and final["acc"][-1] == full["acc"][-1]
    np.testing.assert_array_equal(final["loss"], full["loss"])
    a, b = A.visible_params(full["state"]), A.visible_params(final["state"])
    for k in ("head.w", *full["state"].tiles):
        key = k if k == "head.w" else k + ".w"
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]))


def test_digital_finetune_learns_the_synthetic_task():
    """Gratings are separable: digital SGD from scratch must beat chance (0.2) by a wide margin
    (binomial s.e. of accuracy on 200 test images at p = 0.2 is 0.028; margin > 5 s.e.)."""
    task = S.synthetic_task(400, 200, img=16, classes=(0, 3, 5, 7, 9))
    r = S.finetune(M.init(CFG, 0), CFG, task, None, S.FinetuneConfig(epochs=6, batch=20, lr=0.1), 0)
    assert r["acc"][-1] > 0.2 + 5 * 0.028


def test_cli_quick_synthetic(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("CONVERGENCE_CACHE", str(tmp_path))
    out = tmp_path / "r.npz"
    assert main(["transfer", "--scale", "quick", "--synthetic", "--quiet", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for alg in ("digital", "sgd", "ttv2", "c-ttv2", "agad"):
        assert f"| {alg} |" in text
    with np.load(out, allow_pickle=False) as z:
        assert z["main_acc"].shape == (5, 1, 1)
        assert z["sym_skew_acc"].shape == (2, 2, 1)
    assert list(R.SCALES) == ["quick", "default", "long", "paper"]
    # the study driver of paper_repro/transfer_swin reports those arrays; with one seed it says why it has no claims
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "paper_repro" / "transfer_swin" / "run.py"
    spec = importlib.util.spec_from_file_location("transfer_swin_run", path)
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    assert run.main(["quick", "--out", str(tmp_path / "rep"), "--from-npz", str(out)]) == 0
    results = (tmp_path / "rep" / "RESULTS.md").read_text()
    assert "None at scale quick: 1 seed(s) give no uncertainty" in results
    assert (tmp_path / "rep" / "transfer_swin_study.png").exists()


def test_cli_quick_real_data_when_installed(tmp_path, capsys, monkeypatch):
    from convergence.nn.data import find_idx_dir
    if find_idx_dir("fashion-mnist") is None:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    monkeypatch.setenv("CONVERGENCE_CACHE", str(tmp_path))
    assert main(["transfer", "--scale", "quick", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "Fashion-MNIST classes 0-4" in text and "| c-ttv2 |" in text
    assert len(list(tmp_path.glob("swin_pretrain-*.npz"))) == 1


def test_sweeps_reuse_identical_runs_and_apply_fixed_fields(tmp_path, monkeypatch):
    """A sweep point equal to an earlier run (nominal device, or another sweep's point) is reused —
    same seed, same numbers — and ``fixed`` settings reach the device spec."""
    import copy

    cfg = copy.deepcopy(R.SCALES["quick"])
    cfg["algorithms"] = ["digital", "c-ttv2"]
    cfg["scratch"] = False
    cfg["sweeps"] = {"n_states": {"values": [100], "algorithms": ["c-ttv2"]},
                     "cap_100": {"field": "transfer_max_pulses", "fixed": {"n_states": 100}, "values": [3],
                                 "algorithms": ["c-ttv2"]}}
    specs = []
    real = S.finetune

    def counting(params, cfg_, task, spec, ft, seed, **kw):
        specs.append(spec)
        return real(params, cfg_, task, spec, ft, seed, **kw)

    monkeypatch.setattr(S, "finetune", counting)
    d = R.run_study(cfg, np.random.SeedSequence(3), synthetic=True, cache_root=str(tmp_path))
    analog = [s for s in specs if s is not None]
    # main c-ttv2 (1000 states), n_states=100, then cap 3 at 100 states; the cap sweep's first point
    # (100 states, cap 1) is the n_states sweep's second point, not a new run
    assert [(s.n_states, s.transfer_max_pulses) for s in analog] == [(1000, 1), (100, 1), (100, 3)]
    assert d["cap_100_values"].tolist() == [1.0, 3.0] and str(d["cap_100_field"]) == "transfer_max_pulses"
    assert d["cap_100_acc"][0, 0, 0] == d["n_states_acc"][0, 1, 0]
    assert d["n_states_acc"][0, 0, 0] == d["main_acc"][1, 0, -1]
    cfg["sweeps"] = {"bad": {"field": "tau", "values": [1], "algorithms": ["c-ttv2"]}}
    with pytest.raises(ConfigError, match="field"):
        R.run_study(cfg, np.random.SeedSequence(3), synthetic=True, cache_root=str(tmp_path))


def test_scaled_tile_update_is_pure():
    p = M.init(CFG, 4)
    st = A.init_train_state(p, CFG, A.AnalogSpec(algorithm="ttv2", pulsed=False), None, 6, np.random.default_rng(0))
    name, tile = next(iter(st.tiles.items()))
    s0 = st.tile_states[name]
    before = tile.weights(s0).copy()
    rows = np.random.default_rng(1).standard_normal((12, tile.scale.size))
    x = np.random.default_rng(2).standard_normal((12, tile.device_weights(s0).shape[1]))
    s1 = tile.update(s0, x, rows, 0.1, None)
    np.testing.assert_array_equal(tile.weights(s0), before)
    np.testing.assert_array_equal(tile.weights(tile.update(s0, x, rows, 0.1, None)), tile.weights(s1))
    assert s1["inner"].k == s0["inner"].k + 12        # one vector update per row, as aihwkit counts


def _run_rows(alg, pulsed, numerics, steps=3):
    p = M.init(CFG, 5)
    st = A.init_train_state(p, CFG, A.AnalogSpec(algorithm=alg, pulsed=pulsed), None, 6, np.random.default_rng(0),
                            numerics=numerics)
    r = np.random.default_rng(9)
    losses = [A.train_step(st, *_batch(k), 0.1, r) for k in range(steps)]
    return losses, st


@pytest.mark.parametrize("alg", ["sgd", "c-ttv2"])
def test_float32_rows_match_the_float64_reference(alg):
    """The gradient write on float32 rows (RowNumerics, the default) against float64 rows (TILE).

    Expected mode: the arrays differ by float32 rounding of the desired update only; stated tolerance
    1e-6 of the largest array entry per step (observed ~1e-7). Pulsed mode: a count moves only where
    |ΔA|/δ + u lies within float32 rounding of an integer, so (almost) no element differs (tolerance 1e-3
    of the elements; observed none).
    """
    from convergence.tile import transfer_family as tr
    assert A.make_tile_algorithm(A.AnalogSpec(algorithm=alg), (8, 4), 12, np.random.default_rng(0))[0] \
        .config.numerics.dtype == np.float32
    for pulsed in (False, True):
        l32, s32 = _run_rows(alg, pulsed, None)
        l64, s64 = _run_rows(alg, pulsed, tr.TILE)
        np.testing.assert_allclose(l32, l64, rtol=1e-5)
        for name, tile in s32.tiles.items():
            for (n, a32, _), (_, a64, _) in zip(tile.analog(s32.tile_states[name]),
                                                s64.tiles[name].analog(s64.tile_states[name])):
                assert a32.dtype == a64.dtype == np.float64          # the arrays stay float64
                if pulsed:
                    assert np.count_nonzero(a32 != a64) <= 1e-3 * a32.size, (name, n)
                else:
                    assert np.abs(a32 - a64).max() <= 1e-6 * 3 * max(np.abs(a64).max(), 1e-3), (name, n)


class _NoOffers(A.RowNumerics):
    """RowNumerics that never takes the products prepared ahead: every write computes them from its own rows."""

    def _offered(self, *args):
        return None


@pytest.mark.parametrize("alg", ["sgd", "ttv2", "c-ttv2", "agad"])
def test_products_prepared_ahead_give_the_same_arrays(alg):
    """train_step prepares every layer's rows and products on worker threads and hands them to the write (chopped
    products as sign flips of the unchopped ones); the arrays must equal, bit for bit, those of writes that form
    the (chopped) rows and multiply them themselves, and every write must have taken its prepared products."""
    taken = []
    original = A.RowNumerics._offered

    def counting(self, *args):
        out = original(self, *args)
        taken.append(out is not None)
        return out

    spec = A.AnalogSpec(algorithm=alg, n_states=50, sym_dtod=0.3, dw_min_std=0.2, read_noise=0.01, in_chop_prob=0.5)
    runs = []
    for numerics in (None, _NoOffers()):   # default: a RowNumerics per layer, fed the products prepared ahead
        st = A.init_train_state(M.init(CFG, 5), CFG, spec, None, 6, np.random.default_rng(0), numerics=numerics)
        r = np.random.default_rng(9)
        A.RowNumerics._offered = counting
        try:
            losses = [A.train_step(st, *_batch(k), 0.1, r) for k in range(4)]
        finally:
            A.RowNumerics._offered = original
        runs.append((losses, st))
    assert len(taken) == 4 * len(runs[0][1].tiles) and all(taken)     # the default run took every one
    (l1, s1), (l2, s2) = runs
    assert l1 == l2
    for name, tile in s1.tiles.items():
        other = s2.tiles[name].analog(s2.tile_states[name])
        for (n, a1, _), (_, a2, _) in zip(tile.analog(s1.tile_states[name]), other):
            np.testing.assert_array_equal(a1, a2, err_msg=f"{name} {n}")
