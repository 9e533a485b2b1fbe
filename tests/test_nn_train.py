"""Training loop, schedules, checkpoints and a small end-to-end learning check (digital and analog)."""
from __future__ import annotations

import json

import numpy as np
import pytest

import convergence as cv
from convergence.nn import data
from convergence.nn import checkpoint, optim, schedules, training as T
from convergence.nn.model import fcn, lenet
from _recipes import load as _load_recipe


def blobs(n, d=8, k=3, seed=0, sep=3.0):
    """Class-conditional Gaussian blobs (linearly separable in expectation)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * sep
    y = rng.integers(0, k, n)
    x = (centers[y] + rng.standard_normal((n, d))).astype(np.float32)
    return x / np.abs(x).max(), y


def small_net(kind="digital", seed=0):
    def make(name, shape):
        if kind == "digital":
            return optim.DigitalSGD()
        if kind == "asgd":
            return optim.AnalogSGD(cv.SoftBounds(1.0))
        return optim.TikiTakaV1(cv.SoftBounds(1.0), fast_lr=0.1, columnwise=False)
    return fcn(make, sizes=(8, 16, 3), seed=seed)


def test_steplr_matches_definition():
    s = schedules.StepLR(0.05, 35, 0.1)
    assert [s(e) for e in (0, 34, 35, 69, 70)] == pytest.approx([0.05, 0.05, 0.005, 0.005, 0.0005])
    assert schedules.make_schedule(s.as_dict()) == s
    with pytest.raises(cv.ConfigError, match="step_size"):
        schedules.StepLR(0.1, 0)


@pytest.mark.parametrize("kind", ["digital", "asgd", "tt"])
def test_training_learns_blobs(kind):
    x, y = blobs(600)
    xt, yt = blobs(300, seed=0)[0][:300], blobs(300, seed=0)[1][:300]
    hist = T.train(small_net(kind), x, y, xt, yt, epochs=4, batch_size=10, schedule=0.5, seed=3)
    assert hist["test_acc"][-1] > 0.9, hist["test_acc"]
    assert hist["train_loss"][-1] < hist["train_loss"][0]


def test_training_is_deterministic_given_the_seed():
    x, y = blobs(200)
    h1 = T.train(small_net("tt"), x, y, x, y, epochs=2, batch_size=10, schedule=0.3, seed=7)
    h2 = T.train(small_net("tt"), x, y, x, y, epochs=2, batch_size=10, schedule=0.3, seed=7)
    np.testing.assert_array_equal(h1["train_loss"], h2["train_loss"])


def test_checkpoint_roundtrip_without_pickle(tmp_path):
    x, y = blobs(100)
    net = small_net("tt")
    T.train(net, x, y, x, y, epochs=1, batch_size=10, schedule=0.3, seed=1)
    path = checkpoint.save_checkpoint(tmp_path / "ck", net, {"epoch": 0, "note": "x"})
    with np.load(path, allow_pickle=False) as f:     # loadable with pickle disabled
        assert all(f[k].dtype != object for k in f.files)
    doc = json.loads((tmp_path / "ck.json").read_text())
    assert doc["model"]["layers"][0]["optimizer"]["optimizer"] == "tiki-taka"
    fresh = small_net("tt", seed=99)
    meta = checkpoint.load_checkpoint(tmp_path / "ck", fresh)
    assert meta["note"] == "x"
    np.testing.assert_array_equal(fresh.forward(x), net.forward(x))
    with pytest.raises(cv.ConfigError, match="not found"):
        checkpoint.load_checkpoint(tmp_path / "missing", fresh)


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    x, y = blobs(150)
    full = T.train(small_net("asgd"), x, y, x, y, epochs=3, batch_size=10, schedule=schedules.StepLR(0.3, 2, 0.5),
                   seed=5)
    ck = str(tmp_path / "run")
    T.train(small_net("asgd"), x, y, x, y, epochs=2, batch_size=10, schedule=schedules.StepLR(0.3, 2, 0.5), seed=5,
            checkpoint=ck)
    resumed = T.train(small_net("asgd"), x, y, x, y, epochs=3, batch_size=10,
                      schedule=schedules.StepLR(0.3, 2, 0.5), seed=5, checkpoint=ck, resume=True)
    np.testing.assert_array_equal(resumed["train_loss"], full["train_loss"])
    np.testing.assert_array_equal(resumed["lr"], [0.3, 0.3, 0.15])


def test_progress_bar_is_off_when_not_a_terminal():
    from convergence.sim.driver import _progress
    assert _progress(10, None, "batch", "x") is None     # pytest captures stderr: not a tty
    bar = _progress(10, True, "batch", "x")
    assert bar is not None
    bar.close()


def test_bad_arguments_are_config_errors():
    x, y = blobs(20)
    with pytest.raises(cv.ConfigError, match="epochs"):
        T.train(small_net(), x, y, x, y, epochs=0, batch_size=10, schedule=0.1)
    with pytest.raises(cv.ConfigError, match="same length"):
        T.train(small_net(), x, y[:5], x, y, epochs=1, batch_size=10, schedule=0.1)


def test_cnn_step_reduces_the_loss_on_a_fixed_batch():
    rng = np.random.default_rng(0)
    x = rng.random((8, 1, 28, 28), dtype=np.float32)
    y = np.arange(8) % 10
    net = lenet(seed=0)
    losses = [T.train_step(net, x, y, 0.1) for _ in range(30)]
    assert losses[-1] < 0.9 * losses[0] and np.all(np.diff(losses) < 0)


def test_fcn_on_real_data_when_available():
    try:
        ds = data.load_mnist_like("auto")
    except data.DataUnavailable:
        pytest.skip("neither MNIST nor Fashion-MNIST installed (apt-get install dataset-fashion-mnist)")
    xtr, ytr, xte, yte = data.prepare(ds, n_train=10000, n_test=2000, seed=0)
    hist = T.train(fcn(seed=0), xtr, ytr, xte, yte, epochs=2, batch_size=10, schedule=0.1, seed=0)
    # 10 classes: chance is 0.1; two epochs on 10000 images are well above it on either dataset
    assert hist["test_acc"][-1] > 0.6


def test_network_trains_on_aihwkit_style_pulse_trains_and_checkpoints(tmp_path):
    tile = pytest.importorskip("convergence.tile.analog_tile")
    from convergence.nn.adapters import TileOptimizer

    def make(name, shape):
        # τ = 3: at τ = 1 the per-sample drift Σ_b|ΔW_b|⊙W/τ stalls this small net for > 3 epochs
        # (the same happens with AnalogSGD(accumulate="signs"), its first-order twin)
        return TileOptimizer(cv.SoftBounds(3.0), update=tile.UpdateParameters(mode="pulse_train", desired_bl=31),
                             dw_min=1e-3, rng=len(name))
    x, y = blobs(400)
    net = fcn(make, sizes=(8, 16, 3), seed=0)
    hist = T.train(net, x, y, x, y, epochs=3, batch_size=10, schedule=0.5, seed=2)
    assert hist["test_acc"][-1] > 0.85, hist["test_acc"]
    checkpoint.save_checkpoint(tmp_path / "tile", net)
    fresh = fcn(make, sizes=(8, 16, 3), seed=1)
    checkpoint.load_checkpoint(tmp_path / "tile", fresh)
    np.testing.assert_allclose(fresh.forward(x), net.forward(x), rtol=1e-6)


# -- the network figure recipes (contract + a tiny run when data is present) ----------------------

RECIPES = {"p1_fig5_mnist": 1, "p1_fig7_histograms": 6, "p2_fig4_power": 1, "p2_tables78": 5}


def _recipe(stem):
    return _load_recipe(stem)


def _tiny(cfg):
    out = json.loads(json.dumps(cfg))
    for key in ("fcn", "cnn"):
        if key in out:
            out[key].update(n_train=200, n_test=200)
    if "n_train" in out:
        out.update(n_train=200, n_test=200)
    return out


@pytest.mark.parametrize("stem", sorted(RECIPES))
def test_recipe_contract_and_tiny_run(stem):
    mod = _recipe(stem)
    for attr in ("NAME", "TITLE", "PAPER", "SEED", "SCALES", "compute", "plot", "claims"):
        assert hasattr(mod, attr), attr
    assert {"quick", "default", "paper"} <= set(mod.SCALES) <= {"quick", "default", "long", "paper"}
    for cfg in mod.SCALES.values():
        json.dumps(cfg)
    if not any(data.available().values()):
        pytest.skip("neither MNIST nor Fashion-MNIST installed (apt-get install dataset-fashion-mnist)")
    cfg = _tiny(mod.SCALES["quick"])
    out = mod.compute(cfg, np.random.SeedSequence(mod.SEED))
    again = mod.compute(cfg, np.random.SeedSequence(mod.SEED))
    for k in out:                                   # deterministic given (cfg, seed)
        np.testing.assert_array_equal(out[k], again[k])
    assert str(out["dataset"]) in ("mnist", "fashion-mnist")
    accs = [v for k, v in out.items() if k.startswith("acc")]
    assert accs and all(np.all((a >= 0) & (a <= 1)) for a in accs)
    fig = mod.plot(out, cfg)
    assert len(fig.axes) >= RECIPES[stem]
    import matplotlib.pyplot as plt
    plt.close(fig)
    for c in mod.claims(out, cfg):
        keys = {"id", "statement", "prediction", "measured", "uncertainty", "verdict", "paper"}
        assert keys <= set(c) <= keys | {"note"}                # note: the resolving-power rule's reading
        assert c["verdict"] in {"holds", "fails", "erratum confirmed", "inconclusive"}
        json.dumps(c)


# -- CLI -----------------------------------------------------------------------------------------

def test_cli_train_json_and_checkpoint(tmp_path, capsys):
    from convergence.cli.main import main
    if not any(data.available().values()):
        pytest.skip("neither MNIST nor Fashion-MNIST installed (apt-get install dataset-fashion-mnist)")
    ck = str(tmp_path / "ck")
    rc = main(["train", "--alg", "asgd", "--n-train", "300", "--n-test", "200", "--epochs", "1", "--json",
               "--checkpoint", ck])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and len(out["test_acc"]) == 1 and out["setting"]["alg"] == "asgd"
    assert (tmp_path / "ck.npz").exists() and (tmp_path / "ck.json").exists()


def test_cli_missing_data_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    from convergence.cli.main import main
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "none")
    assert main(["train", "--epochs", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "apt-get install dataset-fashion-mnist" in err[0]
    assert main(["data"]) == 0
    assert main(["train", "--resume"]) == 2


# -- cycle-to-cycle noise in the Tiki-Taka transfer (P2 eq 26, P2 Table 7) --------------------------

@pytest.mark.parametrize("c2c", [0.0, 1.2])
def test_tt_transfer_pulses_carry_independent_c2c_noise_of_eq26(c2c):
    """Whole-matrix transfer of a constant P = 0.1 with α = lr = 0.05 asks for 5 pulses of δ = 1e-3 on
    every element of W (power response γ = 0.5, τ = 0.6, w = 0.2). P2 eq 26: each pulse adds
    s·δ·(q_s(w) + σ_c ξ) with independent ξ, so after 5 pulses the mean is the noiseless 5-pulse
    composition (a scalar loop here) and the std is √5·σ_c·δ (to O(δ/τ)); P receives no pulses
    because the layer gradient is zero."""
    dev = cv.Power(0.6, 0.5)
    delta, n_pulses, w0 = 1e-3, 5, 0.2
    mode = cv.Pulsed(delta, bl=32, c2c=c2c, rounding="nearest")
    tt = optim.TikiTakaV1(dev, fast_lr=0.01, columnwise=False, mode=mode)
    state = tt.init(np.full((200, 200), w0))
    state = {**state, "inner": state["inner"]._replace(a=np.full_like(state["inner"].a, 0.1))}
    x, d = np.ones((1, 200)), np.zeros((1, 200))
    state = tt.update(state, x, d, 0.05, np.random.default_rng(7))
    arrays = {name: arr for name, arr, _ in tt.arrays(state)}
    np.testing.assert_array_equal(arrays["a"], 0.1)
    ref = w0
    for _ in range(n_pulses):
        ref += delta * float(dev.q_plus(np.asarray(ref)))
    w = arrays["w"].ravel()
    std_pred = np.sqrt(n_pulses) * c2c * delta
    if c2c == 0:
        np.testing.assert_allclose(w, ref, rtol=0, atol=1e-12)
        return
    n = w.size
    assert abs(w.mean() - ref) < 4 * std_pred / np.sqrt(n), (w.mean(), ref)
    # std of a sample std ≈ σ/√(2n); the O(δ/τ) response change under noise is far smaller
    assert abs(w.std() - std_pred) < 4 * std_pred / np.sqrt(2 * n) + 1e-3 * std_pred, (w.std(), std_pred)


# -- paired comparisons (common random numbers) ----------------------------------------------------

def test_paired_difference_matches_its_definition():
    from convergence.experiments import networks as E
    # 3 settings x 4 repeats x 3 epochs; statistic = mean of the last 2 epochs
    acc = np.array([[[.1, .5, .7], [.1, .6, .6], [.2, .4, .8], [.1, .5, .5]],
                    [[.1, .3, .5], [.1, .2, .4], [.2, .5, .5], [.1, .3, .5]],
                    [[.0, .1, .1], [.0, .1, .1], [.0, .1, .1], [.0, .1, .1]]])
    d = np.array([(.6 - .4), (.6 - .3), (.6 - .5), (.5 - .4)])      # per-repeat tail means, by hand
    p0, p1 = .575, .4
    m, se = E.paired_difference(acc, 0, 1, n_test=500, last=2)
    assert m == pytest.approx(d.mean(), abs=1e-12)
    want = np.sqrt(d.var(ddof=1) / 4 + (p0 * (1 - p0) + p1 * (1 - p1)) / 500)
    assert se == pytest.approx(want, rel=1e-12)
    # vectorised over index arrays; one repeat leaves only the test-set error
    m2, se2 = E.paired_difference(acc, np.array([0, 0]), np.array([1, 2]), n_test=500, last=2)
    assert m2[0] == pytest.approx(m) and se2[0] == pytest.approx(se)
    m1, se1 = E.paired_difference(acc[:, :1], 0, 1, n_test=500, last=1)
    assert m1 == pytest.approx(.2) and se1 == pytest.approx(np.sqrt((.7 * .3 + .5 * .5) / 500))


def test_run_grid_repeats_share_their_seed_across_settings():
    """Repeat r of every setting uses seed (r,): two identical settings give identical curves (a zero
    paired difference), different repeats differ. Fails if seeds were drawn per (setting, repeat)."""
    from convergence.experiments import networks as E
    rng = np.random.default_rng(3)
    xtr = rng.random((120, 784), dtype=np.float32)
    ytr = rng.integers(0, 10, 120)
    arrays = (xtr, ytr, xtr[:60], ytr[:60])
    base = {"arch": "fcn", "alg": "asgd", "lr": 0.5, "batch": 10, "epochs": 2,
            "device": {"kind": "softbounds", "tau": 0.7}, "periphery": "p1"}
    res = E.run_grid([base, dict(base), {**base, "device": {"kind": "softbounds", "tau": 0.8}}], arrays,
                     np.random.SeedSequence(9), repeats=2)["acc"]
    np.testing.assert_array_equal(res[0], res[1])
    loss = [E.run_setting(base, arrays, np.random.SeedSequence(9, spawn_key=(r,)))["train_loss"] for r in (0, 1)]
    assert not np.array_equal(loss[0], loss[1])


def test_paired_difference_pairs_the_test_images():
    """With per-image correctness the test-set part is sd over images of the repeat-mean paired
    difference / √n (computed here by explicit loops); with R = 1 it is McNemar's variance
    (b + c)/n² − (b − c)²/n³ up to the n/(n−1) of the sample variance."""
    from convergence.experiments import networks as E
    rng = np.random.default_rng(11)
    S, R, Ep, n, last = 3, 3, 4, 400, 2
    correct = rng.random((S, R, Ep, n)) < np.linspace(.5, .8, S)[:, None, None, None]
    correct[1] = correct[0] ^ (rng.random((R, Ep, n)) < .1)      # setting 1 disagrees with 0 on ~10 %
    acc = correct.mean(axis=-1)
    m, se = E.paired_difference(acc, 0, 1, n, last, correct)
    d_r = [np.mean([correct[0, r, e].mean() - correct[1, r, e].mean() for e in range(Ep - last, Ep)])
           for r in range(R)]
    d_x = np.array([np.mean([float(correct[0, r, e, x]) - float(correct[1, r, e, x])
                             for r in range(R) for e in range(Ep - last, Ep)]) for x in range(n)])
    assert m == pytest.approx(np.mean(d_r), abs=1e-12) and m == pytest.approx(d_x.mean(), abs=1e-12)
    want = np.sqrt(np.var(d_r, ddof=1) / R + np.var(d_x, ddof=1) / n)
    assert se == pytest.approx(want, rel=1e-10)
    # pairing can only shrink the test-set part when the two settings agree on most images
    _, se_unpaired = E.paired_difference(acc, 0, 1, n, last)
    assert se < se_unpaired
    # R = 1, one epoch: McNemar
    c1 = correct[:, :1, -1:]
    b = int(np.sum(c1[0, 0, 0] & ~c1[1, 0, 0]))
    c = int(np.sum(~c1[0, 0, 0] & c1[1, 0, 0]))
    _, se1 = E.paired_difference(c1.mean(axis=-1), 0, 1, n, 1, c1)
    mcnemar = (b + c) / n**2 - (b - c) ** 2 / n**3
    assert se1**2 == pytest.approx(mcnemar * n / (n - 1), rel=1e-10)
    with pytest.raises(cv.ConfigError, match="correct must have shape"):
        E.paired_difference(acc, 0, 1, n + 1, last, correct)


def test_run_grid_records_which_test_images_each_run_gets_right():
    """``correct`` (S, R, E, n) reproduces ``acc`` exactly; ``evaluate_samples`` agrees with
    ``evaluate`` and with the network's argmax, image by image."""
    from convergence.experiments import networks as E
    from convergence.nn.training import evaluate, evaluate_samples
    rng = np.random.default_rng(4)
    xtr = rng.random((80, 784), dtype=np.float32)
    ytr = rng.integers(0, 10, 80)
    arrays = (xtr, ytr, xtr[:50], ytr[:50])
    base = {"arch": "fcn", "alg": "tt", "lr": 0.5, "fast_lr": 0.1, "batch": 10, "epochs": 2,
            "device": {"kind": "softbounds", "tau": 0.7}}
    res = E.run_grid([base, {**base, "alg": "digital"}], arrays, np.random.SeedSequence(2), repeats=2)
    assert res["correct"].shape == (2, 2, 2, 50) and res["correct"].dtype == bool
    np.testing.assert_array_equal(res["correct"].sum(axis=-1) / 50, res["acc"])
    model = E.build(base, 0)
    loss, acc = evaluate(model, xtr[:50], ytr[:50], batch=7)
    loss2, cor = evaluate_samples(model, xtr[:50], ytr[:50], batch=7)
    assert loss2 == loss and acc == cor.mean()
    out = model.forward(xtr[:50], False)
    np.testing.assert_array_equal(cor, np.argmax(out, axis=-1) == ytr[:50])
