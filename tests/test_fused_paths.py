"""Fused and cached forms of the hot paths against the plain forms they replace (bit for bit)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from convergence import rng as rngmod
from convergence.rng import TrialStreams


@pytest.mark.parametrize("trials, block, shape", [(10, 4, (5,)), (1, 64, (7, 3)), (130, 64, (3,)), (3, 1, (0,))])
def test_uniform32_fills_each_block_from_its_own_raw_stream(trials, block, shape):
    """TrialStreams.uniform32 (filled in place per block) = k / 2**32 with k the 32-bit halves of each block's raw
    64-bit draws, rebuilt here from fresh generators of the same (purpose, block) keys."""
    seed, purpose = 5, rngmod.ALGORITHM
    got = TrialStreams(seed, trials, purpose=purpose, block=block).uniform32((trials,) + shape)
    want = []
    for b, start in enumerate(range(0, trials, block)):
        rows = min(block, trials - start)
        size = rows * int(np.prod(shape))
        raw = rngmod.generator(seed, purpose, b).bit_generator.random_raw((size + 1) // 2)
        want.append((raw.view(np.uint32)[:size] * 2.0 ** -32).reshape((rows,) + shape))
    np.testing.assert_array_equal(got, np.concatenate(want))
    assert got.dtype == np.float64 and got.shape == (trials,) + shape


def _plain_counts(dw, mode, rng):
    """pulse_counts's stochastic rounding in its plain form: ⌊|dW|·(1/δ) + u⌋ with the float64 uniforms u of
    ``uniform32`` added to dW's dtype, then the cap (the reference the fused forms must equal bit for bit)."""
    from convergence.physics.pulses import _uniform32

    x = np.abs(dw)
    x *= 1.0 / mode.dw_min
    x += _uniform32(rng, np.shape(dw))
    n = np.floor(x, out=x)
    if n.size and np.fmax.reduce(n, axis=None) > mode.bl:
        np.minimum(n, mode.bl, out=n)
    return n


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("streams", ["generator", "blocks of 5", "one block"])
@pytest.mark.parametrize("dw_min, bl", [(1e-3, 32), (2 / 1200, 1_000_000), (0.3, 1), (1e-7, 5)])
def test_fused_pulse_counts_equal_the_plain_stochastic_rounding(dtype, streams, dw_min, bl, monkeypatch):
    """pulse_counts (the raw 32-bit draws added at the 2**32 scale) = the plain ⌊|dW|/δ + u⌋ with the same streams,
    bit for bit, in float64 and float32: zeros of both signs, NaN, ±inf, subnormals, values just below and at
    multiples of δ, counts far above the cap and values whose 2**32-scaled form overflows (both give the cap)."""
    from convergence import Pulsed
    from convergence.physics import pulses
    from convergence.physics.pulses import pulse_counts

    rng = np.random.default_rng(7)
    mode = Pulsed(dw_min, bl=bl)
    dw = (dw_min * rng.choice([0.01, 0.7, 3.0, 40.0], (64, 1)) * rng.standard_normal((64, 53))).astype(dtype)
    tiny = np.finfo(dtype).smallest_subnormal
    edge = [0.0, -0.0, np.nan, np.inf, -np.inf, tiny, -3 * tiny, np.finfo(dtype).max, 1e30, -1e30, dw_min,
            -2 * dw_min, dw_min * (1 - 2.0 ** -20), np.nextafter(dtype(dw_min), dtype(0)), 5e-39]
    dw.reshape(-1)[:len(edge)] = np.array(edge).astype(dtype)

    def make():
        if streams == "generator":
            return np.random.default_rng(3)
        return TrialStreams(3, dw.shape[0], purpose=rngmod.ALGORITHM, block=5 if streams == "blocks of 5" else 64)

    with np.errstate(over="ignore", invalid="ignore"):
        want = _plain_counts(dw, mode, make())
    drawn = []
    monkeypatch.setattr(pulses, "_bits32", lambda *a, _f=pulses._bits32: drawn.append(1) or _f(*a))
    got = pulse_counts(dw, mode, make())
    assert drawn == [1]           # the fused form was taken
    assert got.dtype == want.dtype == dtype
    np.testing.assert_array_equal(got, want)
    assert np.nanmax(got) == bl and np.isnan(got.reshape(-1)[2])


def test_pulse_counts_keep_the_plain_form_where_the_fused_one_does_not_apply():
    """Another rng (one without raw bits), a TrialStreams subclass with its own uniform32, a cap so large that the
    2**32 scale could overflow below it, and float16: the plain form's numbers, and the subclass's draws are used."""
    from convergence import Pulsed
    from convergence.physics import pulses
    from convergence.physics.pulses import pulse_counts

    class ThreeQuarters(TrialStreams):
        def uniform32(self, size):
            return np.full(size, 0.75)

    # ⌊1.5 + u⌋ is 2 for every u ≥ 0.5: the stream's own 64 draws would give some 1s (all ≥ 0.5 with odds 2⁻⁶⁴)
    halfway = np.full((1, 64), 1.5e-3)
    assert np.array_equal(pulse_counts(halfway, Pulsed(1e-3), ThreeQuarters(1, 1, purpose=1)), np.full((1, 64), 2.0))
    dw = np.array([[0.0, 1.25e-3, 2.75e-3]])
    huge = Pulsed(1e-3, bl=10 ** 30)
    assert pulses._count_scale(dw.astype(np.float32), huge) is None
    assert pulses._count_scale(dw.astype(np.float16), Pulsed(1e-3, bl=1000)) is None
    wide = np.array([[0.3e38, 1.7e38, 2.5e38]])       # with δ = 1e38, 1/δ is subnormal in float32: 2³² is not exact
    assert pulses._count_scale(wide.astype(np.float32), Pulsed(1e38)) is None
    assert pulses._count_scale(np.array([[1e308]]), Pulsed(1e308)) is None
    assert pulses._bit_blocks(TrialStreams(1, 2, purpose=1), dw.shape) is None      # 2 trials, 1 row: refused
    for d, mode in [(dw.astype(np.float32), huge), (dw.astype(np.float16), Pulsed(1e-3, bl=1000)),
                    (wide.astype(np.float32), Pulsed(1e38))]:
        np.testing.assert_array_equal(pulse_counts(d, mode, np.random.default_rng(1)),
                                      _plain_counts(d, mode, np.random.default_rng(1)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("coef", [(1.0, 0.0, 0.0, 1.0), (1.0, 0.0, 0.1, 0.8), (0.7, -0.2, 0.05, 1.3),
                                  (1.0, 0.0, 0.0, 0.0), (0.0, 0.4, 0.0, 0.0)],
                         ids=["softbounds", "shifted", "all terms", "ideal", "f1 only"])
@pytest.mark.parametrize("form", ["net", "signs", "into w", "into another"])
def test_affine_expected_by_blocks_equals_the_whole_array_form(dtype, coef, form, monkeypatch):
    """_affine_expected above _BLOCK_MIN_BYTES (its passes block by block, the last block short) = the same passes
    over the whole arrays, bit for bit, in the net and "signs" forms, written into a new array, into w itself or
    into another array; a NaN and an infinity among the updates stay where they are; arrays that are not
    C-contiguous, or an ``out`` that overlaps another input, take the whole-array form; ``out`` = dW itself keeps
    the blocks, with the same bits."""
    from convergence.physics import pulses

    rng = np.random.default_rng(12)
    shape = (37, 211)                       # 7807 elements: 7 blocks of 1024 and one of 639
    w = rng.uniform(-0.9, 0.9, shape).astype(dtype)
    dw = (0.05 * rng.standard_normal(shape)).astype(dtype)
    dw[3, 5], dw[30, 200] = np.nan, np.inf
    total = None if form == "net" else (np.abs(dw) * dtype(1.7)).astype(dtype)

    def run(blocked):
        monkeypatch.setattr(pulses, "_BLOCK_MIN_BYTES", 4096 * w.itemsize if blocked else 1 << 40)
        monkeypatch.setattr(pulses, "_BLOCK_BYTES", 1024 * w.itemsize)
        ww, out = w.copy(), None
        if form == "into w":
            out = ww
        elif form == "into another":
            out = np.full(shape, 7.0, dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            res = pulses._affine_expected(ww, dw.copy(), None if total is None else total.copy(), *coef, out=out)
        assert out is None or res is out
        return res

    blocks = []
    monkeypatch.setattr(pulses, "_affine_block", lambda *a, _f=pulses._affine_block: blocks.append(1) or _f(*a))
    want, got = run(False), run(True)
    assert len(blocks) == 1 + 8                     # one whole-array call, then eight blocks
    assert got.dtype == want.dtype == dtype
    bits = np.uint64 if dtype == np.float64 else np.uint32
    np.testing.assert_array_equal(got.view(bits), want.view(bits))
    blocks.clear()
    monkeypatch.setattr(pulses, "_BLOCK_MIN_BYTES", 4096 * w.itemsize)
    buf = np.concatenate([w.reshape(-1), [0.5]]).astype(dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        pulses._affine_expected(w.T, dw.T, None, *coef)                       # not C-contiguous
        head = buf[:-1]
        pulses._affine_expected(head, buf[1:], None, *coef, out=head)         # w written over a shifted dW
        assert blocks == [1, 1]
        # out is dW itself: every pass is elementwise, so the blocks repeat each element's operations exactly
        whole_dw, block_dw = dw.copy(), dw.copy()
        monkeypatch.setattr(pulses, "_BLOCK_MIN_BYTES", 1 << 40)
        pulses._affine_expected(w, whole_dw, None, *coef, out=whole_dw)
        monkeypatch.setattr(pulses, "_BLOCK_MIN_BYTES", 4096 * w.itemsize)
        pulses._affine_expected(w, block_dw, None, *coef, out=block_dw)
    assert len(blocks) == 2 + 1 + 8
    np.testing.assert_array_equal(block_dw.view(bits), whole_dw.view(bits))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rate", ["python float", "numpy float64", "per trial"])
@pytest.mark.parametrize("device", ["softbounds 0.8", "shifted"])
def test_expected_descent_by_blocks_equals_the_map_at_minus_rate_times_grad(dtype, rate, device, monkeypatch):
    """ExpectedMap.descent (−rate·grad formed block by block beside the map's passes) = the map at
    np.multiply(−rate, grad), bit for bit, for a Python float rate (blocks), a NumPy float64 rate (float64 blocks; on
    float32 weights the product is float64, so the whole-array form) and per-trial rates (the whole-array form); and
    analog_sgd's expected step, which writes through it, equals that composition."""
    from convergence import Expected, SoftBounds, analog_sgd
    from convergence.physics import pulses

    dev = SoftBounds(0.8) if device == "softbounds 0.8" else SoftBounds(0.7, w_sym=0.15)
    rng = np.random.default_rng(13)
    w = rng.uniform(-0.6, 0.6, (53, 97)).astype(dtype)          # 5141 elements: 5 blocks of 1024 and one of 21
    grad = rng.standard_normal(w.shape).astype(dtype)
    grad[7, 7] = np.nan
    lr = {"python float": 0.03, "numpy float64": np.float64(0.03),
          "per trial": rng.uniform(0.01, 0.05, (53, 1))}[rate]
    emap = pulses.ExpectedMap(dev)
    monkeypatch.setattr(pulses, "_BLOCK_BYTES", 1024 * w.itemsize)
    monkeypatch.setattr(pulses, "_BLOCK_MIN_BYTES", 1 << 40)
    with np.errstate(invalid="ignore"):
        want = emap(w, np.multiply(-lr, grad))
        monkeypatch.setattr(pulses, "_BLOCK_MIN_BYTES", 4096 * w.itemsize)
        whole = []        # descent's whole-array form calls the map itself
        monkeypatch.setattr(pulses.ExpectedMap, "__call__",
                            lambda *a, _f=pulses.ExpectedMap.__call__: whole.append(1) or _f(*a))
        got = emap.descent(w, grad, lr)
        assert len(whole) == (0 if rate == "python float" or (rate == "numpy float64" and dtype == np.float64) else 1)
        step = analog_sgd(lr, dev, mode=Expected()).step
        via_step = step(analog_sgd(lr, dev, mode=Expected()).init(w.astype(np.float64)), grad.astype(np.float64)).w
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    with np.errstate(invalid="ignore"):
        ref = emap(w.astype(np.float64), np.multiply(-lr, grad.astype(np.float64)))
    np.testing.assert_array_equal(via_step, ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_signed_parts_in_place_equal_half_the_sum_and_difference(dtype):
    """signed_parts (formed in the temporaries of the two products) = 0.5·(S ± ΔW) of those products, bit for bit; 1-D
    rows, whose products are scalars, take that expression itself."""
    from convergence.nn.optim import _net_and_total, signed_parts

    rng = np.random.default_rng(14)
    x, d = rng.standard_normal((10, 37)).astype(dtype), rng.standard_normal((10, 23)).astype(dtype)
    dw, s = _net_and_total(x, d, 0.05)
    up, down = signed_parts(x, d, 0.05)
    bits = np.uint64 if dtype == np.float64 else np.uint32
    np.testing.assert_array_equal(up.view(bits), (0.5 * (s + dw)).view(bits))
    np.testing.assert_array_equal(down.view(bits), (0.5 * (s - dw)).view(bits))
    dw1, s1 = _net_and_total(x[0, :23], d[0], 0.05)
    assert signed_parts(x[0, :23], d[0], 0.05) == (0.5 * (s1 + dw1), 0.5 * (s1 - dw1))


def _closed_form_by_gathers(w, n, up, aff, dw_min):
    """The scalar closed form w_n = w* + r^n (w − w*) with r^n and w* gathered per element (the plain form), in
    the weights' precision (float32 for float32 weights, else float64)."""
    import math
    ap, bp, am, bm = aff
    ct = np.float32 if w.dtype == np.float32 else np.float64
    pick = np.asarray(up, dtype=bool).view(np.uint8)
    log_r = np.array([math.log1p(-dw_min * bm), math.log1p(dw_min * bp)], dtype=ct).take(pick)
    rn = np.exp(np.multiply(n, log_r, out=log_r), out=log_r)
    fixed = np.array([-am / bm, -ap / bp], dtype=ct).take(pick)
    out = np.subtract(w, fixed)
    out *= rn
    out += fixed
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("device", ["softbounds 1", "softbounds 0.7 shifted", "clin", "softbounds 0.3"])
def test_affine_pulses_without_gathers_equal_the_gathered_closed_form(device, dtype):
    """_affine_pulses's scalar path (one ratio for symmetric responses, w* by exact arithmetic) = the closed form
    with both gathered per element, bit for bit, in float64 and (float32 weights) in float32, zero counts included."""
    from convergence import CLin, SoftBounds
    from convergence.physics.pulses import _affine_pulses

    dev = {"softbounds 1": SoftBounds(1.0), "softbounds 0.7 shifted": SoftBounds(0.7, w_sym=0.1),
           "clin": CLin(0.3), "softbounds 0.3": SoftBounds(0.3)}[device]
    rng = np.random.default_rng(1)
    lo, hi = dev.bounds
    w = rng.uniform(lo, hi, (40, 30)).astype(dtype)
    n = np.floor(rng.exponential(5.0, w.shape)).astype(dtype)
    n[::3] = 0
    up = rng.random(w.shape) < 0.5
    got, _ = _affine_pulses(w, n, up, dev.affine(), 1e-3, lo, hi)
    want = _closed_form_by_gathers(w, n, up, dev.affine(), 1e-3)
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))


def _expected_by_steps(w, dw, f0, f1, g0, g1):
    """W (1 + f1 dW − g1 |dW|) + f0 dW − g0 |dW| evaluated term by term, each multiplication done."""
    ad = np.abs(dw)
    coef = np.multiply(ad, -g1)
    coef += f1 * dw if f1 else 0.0
    coef += 1.0
    out = np.multiply(w, coef)
    out += f0 * dw if f0 != 1.0 else dw
    out -= g0 * ad if g0 else 0.0
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("device", ["softbounds 1", "softbounds 0.6", "clin", "shifted"])
def test_expected_map_and_analog_sgd_equal_the_expected_update_bit_for_bit(device, dtype):
    """ExpectedMap (coefficients cached, the unit g1 multiply skipped; a new array or written into W itself)
    = expected_update = the term-by-term form; analog_sgd's step through it = sgd_write's plain path."""
    from convergence import CLin, Expected, SoftBounds, analog_sgd
    from convergence.physics.devices import _affine_F_G
    from convergence.physics.pulses import ExpectedMap, expected_update
    from convergence.sim.algorithms import sgd_write

    dev = {"softbounds 1": SoftBounds(1.0), "softbounds 0.6": SoftBounds(0.6), "clin": CLin(0.3),
           "shifted": SoftBounds(0.8, w_sym=0.2)}[device]
    rng = np.random.default_rng(2)
    w = rng.uniform(-0.5, 0.5, (16, 20)).astype(dtype)
    dw = (0.05 * rng.standard_normal(w.shape)).astype(dtype)
    dw[0, :5] = -0.0
    kern = ExpectedMap.build(dev, Expected())
    got = kern(w, dw)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, expected_update(w, dw, dev))
    np.testing.assert_array_equal(got, _expected_by_steps(w, dw, *(dtype(c) for c in _affine_F_G(dev))))
    w_in = w.copy()
    assert kern.into(w_in, dw) is w_in                                    # in place: the same bits in w itself
    np.testing.assert_array_equal(w_in.view(np.uint8), got.view(np.uint8))
    g = rng.standard_normal(w.shape)
    alg = analog_sgd(0.03, dev)
    w64 = w.astype(np.float64)
    np.testing.assert_array_equal(alg.step(alg.init(w64), g).w, sgd_write(w64, g, 0.03, dev, Expected()))


@pytest.mark.parametrize("device", ["softbounds 0.7", "softbounds 1", "clin", "shifted"])
def test_affine_pulses_on_float32_weights_are_within_6_float32_ulps_of_the_float64_evaluation(device):
    """Float32 weights (the networks) take the closed form in float32: against the float64 evaluation of the same
    counts the error is a few rounding steps of float32 at the range's scale (stated tolerance: 6 ulp of
    max(|w_min|, |w_max|), about 4e-4 of a pulse of 1e-3 at τ = 0.7), and the result stays inside the range."""
    from convergence import CLin, SoftBounds
    from convergence.physics.pulses import _affine_pulses

    dev = {"softbounds 0.7": SoftBounds(0.7), "softbounds 1": SoftBounds(1.0), "clin": CLin(0.3),
           "shifted": SoftBounds(0.3, w_sym=0.1)}[device]
    rng = np.random.default_rng(3)
    lo, hi = dev.bounds
    w = rng.uniform(lo, hi, (200, 300)).astype(np.float32)
    w[0, :10] = np.float32(lo) if np.float32(lo) >= lo else np.nextafter(np.float32(lo), np.float32(0))
    n = np.minimum(np.floor(rng.exponential(8.0, w.shape)), 31).astype(np.float32)
    up = rng.random(w.shape) < 0.5
    o32, in_range = _affine_pulses(w, n, up, dev.affine(), 1e-3, lo, hi)
    o64, _ = _affine_pulses(w.astype(np.float64), n.astype(np.float64), up, dev.affine(), 1e-3, lo, hi)
    assert o32.dtype == np.float32 and in_range
    ulp = float(np.spacing(np.float32(max(abs(lo), abs(hi)))))
    assert np.abs(o32 - o64).max() <= 6 * ulp
    assert o32.min() >= lo and o32.max() <= hi
    assert np.abs(o32 - o64).max() > 0        # it is the float32 evaluation (not a cast of the float64 one)


def _tables_looked_up(monkeypatch, gather: bool) -> list:
    """Make the pulsed writes gather rⁿ (``gather``) or evaluate it, whatever this machine's timing decided (both give
    the same numbers), and return the list that records every table the writes ask for."""
    from convergence.physics import pulses

    calls: list = []
    def spy(*args, _f=pulses._powers):
        calls.append(args)
        return _f(*args)
    monkeypatch.setattr(pulses, "_powers", spy)
    monkeypatch.setattr(pulses, "_GATHER_PAYS", {np.dtype(np.float64): gather, np.dtype(np.float32): gather})
    return calls


@pytest.mark.parametrize("device", ["softbounds 1", "softbounds 0.7", "softbounds 0.1", "shifted", "clin"])
@pytest.mark.parametrize("streams", ["blocks of 4", "one block", "generator"])
@pytest.mark.parametrize("scratch", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pulsing", ["dense", "dense with a NaN", "sparse", "sparse with a NaN"])
@pytest.mark.parametrize("gather", [True, False], ids=["gathered", "evaluated"])
def test_fused_pulsed_write_equals_pulse_counts_then_apply_pulses(device, streams, scratch, dtype, pulsing, gather,
                                                                   monkeypatch):
    """pulsed_update's fused form (_pulsed_symmetric: signs from the sign bit, counts at the 2**32 scale with the
    raw bits added in place) = the plain counts (_plain_counts) then apply_pulses with the same streams, bit for bit,
    in float64 and in float32 (the networks' weights), with every element pulsing (rⁿ looked up, or evaluated where a
    NaN is among them) or few (rⁿ evaluated only where n ≠ 0), including ±0.0 updates, counts above the cap, and a
    NaN; the devices it does not cover (shifted soft bounds, c_Lin) fall back to that form."""
    from convergence import CLin, Pulsed, SoftBounds
    from convergence.physics import pulses
    from convergence.physics.pulses import _pulsed_symmetric, apply_pulses, pulsed_update

    sparse_taken = []
    def spy(*args, _f=pulses._few_pulses):
        out = _f(*args)
        sparse_taken.append(out is not None)
        return out
    monkeypatch.setattr(pulses, "_few_pulses", spy)
    looked_up = _tables_looked_up(monkeypatch, gather)

    # τ = 0.1 rounds up in float32 (w⋆ just outside the range: the two-step form clips there)
    dev = {"softbounds 1": SoftBounds(1.0), "softbounds 0.7": SoftBounds(0.7), "softbounds 0.1": SoftBounds(0.1),
           "shifted": SoftBounds(0.8, w_sym=0.2), "clin": CLin(1.0, c=0.3)}[device]
    mode = Pulsed(1e-3, bl=40)
    rng = np.random.default_rng(4)
    lo, hi = dev.bounds
    dense = pulsing.startswith("dense")
    shape, scale = ((9, 7), 0.01) if dense else ((12, 600), 1e-6)   # sparse: ~1/300 of them pulse
    w = rng.uniform(lo, hi, shape).astype(dtype)
    dw = (scale * rng.standard_normal(w.shape)).astype(dtype)
    dw[0, :3] = [0.0, -0.0, 1e-320 if dtype == np.float64 else 1e-44]
    w[0, :3] = 0.1                   # (0.1 − w⋆) + w⋆ differs from (0.1 + w⋆) − w⋆: the sign of a zero update matters
    dw[1, :2] = [0.5, -0.5]          # 500 pulses: capped at bl
    if pulsing.endswith("NaN"):
        dw[2, 0] = np.nan
    dw[2, 1:4] = [2.5e-3, -1.7e-3, 7e-4]
    w[3, :2] = [0.0, -0.0]

    def make():
        if streams == "generator":
            return np.random.default_rng(9)
        return TrialStreams(3, w.shape[0], purpose=rngmod.ALGORITHM, block=4 if streams == "blocks of 4" else 64)

    r_ref = make()
    n = _plain_counts(dw, mode, r_ref)
    assert np.nanmax(n) == mode.bl
    if not dense:
        assert 0 < np.count_nonzero(n) <= n.size / 64
    want = apply_pulses(w, n, dw >= 0, dev, mode.dw_min, rng=r_ref)
    assert want.dtype == dtype
    d = dw.copy()
    fused = _pulsed_symmetric(w, d, dev, mode, make(), scratch)
    assert (fused is not None) == device.startswith("softbounds")
    got = pulsed_update(w, dw.copy(), dev, mode, make(), scratch=scratch)
    bits = np.uint64 if dtype == np.float64 else np.uint32
    for out in (got,) if fused is None else (got, fused):
        assert out.dtype == dtype
        np.testing.assert_array_equal(out.view(bits), want.view(bits))
    if fused is not None:      # the sparse form is float32's, taken exactly when few pulse (a NaN among them too)
        assert any(sparse_taken) == (not dense and dtype == np.float32)
        # the dense form looks rⁿ up unless a NaN is among the counts (float64's sparse counts take it too)
        assert bool(looked_up) == (gather and (pulsing == "dense" or (pulsing == "sparse" and dtype == np.float64)))
    if not scratch:
        np.testing.assert_array_equal(d, dw)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_power_table_equals_the_exponential_of_every_count_wherever_it_stands(dtype):
    """_powers(log r, dtype, top)[n] = exp(n · log r) evaluated on an array (the dense pulsed write's two operations),
    bit for bit, for every count 0 … 4096 at many positions of long arrays (SIMD lanes, loop tails), for the ratios
    of several soft-bounds devices and pulse sizes."""
    from convergence.physics.pulses import _TABLE_MAX, _powers

    rng = np.random.default_rng(11)
    counts = np.tile(np.arange(_TABLE_MAX + 1, dtype=dtype), 5)
    bits = np.uint64 if dtype == np.float64 else np.uint32
    for tau, dw_min in [(1.0, 1e-3), (0.7, 1e-3), (0.1, 2e-3), (1.0, 0.3)]:
        log_r = math.log1p(-dw_min / tau)
        table = _powers(log_r, dtype, _TABLE_MAX)
        assert table.dtype == dtype and len(table) > _TABLE_MAX and not table.flags.writeable
        for n in (counts, rng.permutation(counts), rng.permutation(counts)[:12_345]):
            want = np.exp(np.multiply(n, log_r))
            got = table[n.astype(np.intp)]
            np.testing.assert_array_equal(got.view(bits), want.view(bits))


@pytest.mark.parametrize("case", ["counts", "float32 counts", "a fraction", "a NaN", "a negative", "above the table",
                                  "few elements"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_counts_gathers_integer_counts_and_evaluates_everything_else(case, dtype, monkeypatch):
    """_exp_counts(n, log r, dtype) = exp(n · log r) in dtype bit for bit: a gather from the table when every count is
    an integer in 0 … _TABLE_MAX (checked), the evaluated form for a fraction, a NaN, a negative count, a count above
    the table or an array too small to check."""
    from convergence.physics import pulses

    gathered = _tables_looked_up(monkeypatch, True)
    rng = np.random.default_rng(5)
    n = np.floor(rng.uniform(0, 40, size=(30, 50)))
    if case == "float32 counts":
        n = n.astype(np.float32)
    elif case == "a fraction":
        n[7, 3] = 2.5
    elif case == "a NaN":
        n[7, 3] = np.nan
    elif case == "a negative":
        n[7, 3] = -1.0
    elif case == "above the table":
        n[7, 3] = pulses._TABLE_MAX + 1
    elif case == "few elements":
        n = n[:2, :10]
    log_r = dtype(math.log1p(-1e-3 / 0.7))
    want = np.exp(np.multiply(n, log_r, dtype=dtype))
    got = pulses._exp_counts(n.copy(), log_r, dtype)
    assert got.dtype == dtype and got.shape == n.shape
    bits = np.uint64 if dtype == np.float64 else np.uint32
    np.testing.assert_array_equal(got.view(bits), want.view(bits))
    assert bool(gathered) == (case in ("counts", "float32 counts"))
    scratch = n.copy()
    if scratch.dtype == dtype:      # written into the counts' buffer when asked
        assert pulses._exp_counts(scratch, log_r, dtype, out=scratch) is scratch
        np.testing.assert_array_equal(scratch.view(bits), want.view(bits))


@pytest.mark.parametrize("counts", ["sparse", "dense", "sparse with a NaN and a fraction", "float32 sparse",
                                    "mostly 0 or 1", "mostly 0 or 1 with a NaN and a fraction",
                                    "float32 mostly 0 or 1"])
@pytest.mark.parametrize("device", ["scalar", "per element"])
@pytest.mark.parametrize("gather", [True, False], ids=["gathered", "evaluated"])
def test_pulse_map_down_up_equals_its_dense_closed_form(counts, device, gather, monkeypatch):
    """PulseMap.down_up = ((W − F₋)·r₋^n₋ + F₋ − F₊)·r₊^n₊ + F₊ with rⁿ = exp(n·log r) evaluated on every element (the
    definition, written out here), bit for bit, whether it multiplies only where a count is nonzero (few are), looks
    rⁿ up (a scalar ratio), takes 1 + n(r − 1) for the counts 0 and 1 of a per-element ratio (most counts are) or
    evaluates it everywhere; for a scalar and a realised (per-element) soft-bounds device."""
    import convergence as cv
    from convergence.physics import pulses
    from convergence.physics.pulses import PulseMap

    sparse, evaluated = [], []
    def spy(out, n, log_r, *rest, _f=pulses._times_powers):
        sparse.append(16 * np.count_nonzero(np.asarray(n) != 0) <= np.size(n))
        return _f(out, n, log_r, *rest)

    def spy_exp(*args, _f=pulses._exp_counts, **kw):
        evaluated.append(True)
        return _f(*args, **kw)
    monkeypatch.setattr(pulses, "_times_powers", spy)
    monkeypatch.setattr(pulses, "_exp_counts", spy_exp)
    monkeypatch.setattr(pulses, "_GATHER_PAYS", {np.dtype(np.float64): gather})
    rng = np.random.default_rng(21)
    shape = (2, 40, 80)
    dev = cv.SoftBounds(0.8)
    if device == "per element":
        dev = cv.realize(dev, cv.Variation(dw_min_dtod=0.3, up_down_dtod=0.05, range_dtod=0.1), shape, rng)
    pmap = PulseMap.of(dev, 1e-3)
    lo, hi = dev.bounds
    w = lo + (hi - lo) * rng.uniform(0.05, 0.95, shape)
    n_dn, n_up = np.floor(rng.uniform(0, 30, (2,) + shape))
    if "mostly" in counts:      # 0 or 1 pulse per weight, 5 % of the counts larger
        n_dn, n_up = (np.where(rng.random(shape) < 0.05, m, rng.integers(0, 2, shape)) for m in (n_dn, n_up))
    elif counts != "dense":
        n_dn[rng.random(shape) > 0.03] = 0.0
        n_up[rng.random(shape) > 0.03] = 0.0
    if counts.endswith("fraction"):
        n_dn[0, 1, 2], n_up[1, 3, 4] = np.nan, 2.5
    if counts.startswith("float32"):
        n_dn, n_up = n_dn.astype(np.float32), n_up.astype(np.float32)
    with np.errstate(invalid="ignore"):
        want = (w - pmap.fix_dn) * np.exp(np.multiply(n_dn, pmap.log_dn, dtype=np.float64)) + pmap.fix_dn
        want = (want - pmap.fix_up) * np.exp(np.multiply(n_up, pmap.log_up, dtype=np.float64)) + pmap.fix_up
        got = pmap.down_up(w, n_dn.copy(), n_up.copy())
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
    assert len(sparse) == 2 and all(sparse) == (counts != "dense" and "mostly" not in counts)
    # the counts 0 and 1 of a per-element ratio skip the exponential of every element
    assert bool(evaluated) == (not any(sparse) and not ("mostly" in counts and device == "per element"))


def test_pulse_map_keeps_r_less_1_only_where_one_plus_it_is_r_exactly():
    """PulseMap._r_less_1: exp(log r) − 1 per element, kept, when 1 + (r − 1) = r in every element; None for a scalar
    ratio and for a device whose pulses are so coarse that some r is below 1/2 (r − 1 is then rounded)."""
    import convergence as cv
    from convergence.physics.pulses import PulseMap

    rng = np.random.default_rng(3)
    shape = (1, 30, 40)
    fine = cv.realize(cv.SoftBounds(0.8), cv.Variation(dw_min_dtod=0.3), shape, rng)
    pmap = PulseMap.of(fine, 1e-3)
    for up, log_r in ((True, pmap.log_up), (False, pmap.log_dn)):
        got = pmap._r_less_1(up)
        assert got is pmap._r_less_1(up)
        np.testing.assert_array_equal(got, np.exp(log_r) - 1.0)
        np.testing.assert_array_equal(got + 1.0, np.exp(log_r))
    assert PulseMap.of(cv.SoftBounds(0.8), 1e-3)._r_less_1(True) is None
    coarse = PulseMap.of(cv.realize(cv.SoftBounds(1.0), cv.Variation(dw_min_dtod=0.05), shape, rng), 0.6)
    assert np.exp(coarse.log_up).min() < 0.5 and coarse._r_less_1(True) is None


def test_gather_or_evaluate_is_decided_once_per_dtype(monkeypatch):
    """_gather_pays times both forms once per dtype and keeps the answer (a bool) for the process."""
    from convergence.physics import pulses

    monkeypatch.setattr(pulses, "_GATHER_PAYS", {})
    first = pulses._gather_pays(np.float32)
    assert isinstance(first, bool) and pulses._GATHER_PAYS == {np.dtype(np.float32): first}
    pulses._GATHER_PAYS[np.dtype(np.float32)] = not first       # a kept answer is not timed again
    assert pulses._gather_pays(np.dtype(np.float32)) is (not first)


def test_pulse_map_signed_with_a_scalar_and_a_per_element_slope():
    """PulseMap.signed on a device whose up response has scalar coefficients and whose down response has one per
    element (the one-ratio shortcut must not compare those as a whole): F + exp(n · log r)(W − F) per element."""
    from convergence.physics.pulses import PulseMap

    class Mixed:
        bounds = (-1.0, 1.0)

        def affine(self):
            return 1.0, -1.0, np.full((2, 3), 1.0), np.array([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]])

    pmap = PulseMap.of(Mixed(), 1e-2)
    w = np.linspace(-0.5, 0.5, 6).reshape(2, 3)
    n = np.array([[3.0, 0.0, 7.0], [1.0, 2.0, 5.0]])
    up = np.array([[True, False, True], [False, True, False]])
    log_r, fix = np.where(up, pmap.log_up, pmap.log_dn), np.where(up, pmap.fix_up, pmap.fix_dn)
    np.testing.assert_array_equal(pmap.signed(w, n, up), (w - fix) * np.exp(n * log_r) + fix)


def test_device_ratio_with_the_responses_evaluated_once_equals_g_over_root_f():
    """Device.ratio evaluates q± once for G and F (when the class keeps the default F and G): bit for bit
    G(w)/√F(w), for every scalar device, including points outside the range (NaN where F < 0)."""
    from convergence.physics.devices import DEVICES, Device

    w = np.linspace(-3.0, 3.0, 601)
    for cls in DEVICES.values():
        dev = cls()
        if not isinstance(dev, Device):
            continue
        with np.errstate(all="ignore"):
            want = dev.G(w) / np.sqrt(dev.F(w))
        np.testing.assert_array_equal(dev.ratio(w), want, err_msg=cls.__name__)


def test_saturation_of_a_bounded_scalar_device_is_the_where_form():
    """saturation returns its fraction array itself when a scalar device's range is finite: the same values as
    the full form ``where(finite range, fraction, 0)``, for a bounded, a shifted and an unbounded device."""
    from convergence import CLin, Ideal, SoftBounds
    from convergence.physics.devices import saturation

    w = np.linspace(-2.0, 2.0, 402).reshape(2, -1)
    for dev in (SoftBounds(0.7), CLin(1.0, c=0.3), Ideal()):
        lo, hi = dev.bounds
        sym = dev.symmetric_point
        sym = sym if np.isfinite(sym) else 0.5 * (lo + hi)
        with np.errstate(all="ignore"):
            frac = np.where(w >= sym, (w - sym) / (hi - sym), (sym - w) / (sym - lo))
            want = np.where(np.isfinite(hi - sym) & np.isfinite(sym - lo), frac, 0.0)
        np.testing.assert_array_equal(saturation(dev, w), want)


def test_few_pulses_float32_filter_keeps_every_sum_that_rounds_up_to_two_to_the_32():
    """_few_pulses's float32 candidate filter against the exact rule (float64 sum rounded to float32, ≥ 2**32) on sums
    crafted at the edge: from 2**32 − 300 to 2**32 + 300, where rounding to float32 (ulp 256 below 2**32) decides."""
    from convergence.physics.pulses import _few_pulses

    rng = np.random.default_rng(11)
    size = 64 * 200
    k = rng.integers(0, 2 ** 32, size, dtype=np.uint64)
    x = (rng.random(size) * 2.0 ** 20).astype(np.float32)        # idle elements: x + k mostly far below 2**32
    edge = np.arange(0, 200)
    target = 2.0 ** 32 + np.linspace(-300.0, 300.0, edge.size)
    x[edge] = np.float32(rng.random(edge.size) * 3.0 + 0.25)      # fractional x near 1 ...
    k[edge] = np.floor(target - x[edge].astype(np.float64)).astype(np.uint64)   # ... and k putting x + k at the edge
    bits = k.astype(np.uint32)
    exact = np.add(x, bits).astype(np.float32) >= 2.0 ** 32        # the rule, as the dense form evaluates it
    assert 0 < exact[edge].sum() < edge.size
    got = _few_pulses(x, bits)
    assert got is not None
    idx, y = got
    np.testing.assert_array_equal(idx, np.flatnonzero(exact))
    np.testing.assert_array_equal(y, np.add(x, bits).astype(np.float32)[idx])


@pytest.mark.parametrize("x", [0.5, np.inf, -np.inf, np.nan, np.array([]), np.array([np.inf, 1.0]),
                               np.array([np.nan, -np.inf]), np.array([[2.0, np.inf], [np.nan, 3.0]]),
                               np.full((2, 3), np.inf), np.array([np.inf, np.nan, -np.inf])])
def test_finite_any_answers_as_the_full_scan(x):
    """_finite_any (a finite first element answers at once) = np.any(np.isfinite(x)) for scalars, empty arrays and
    arrays whose finite elements come first, later or nowhere."""
    from convergence.physics.pulses import _finite_any

    assert _finite_any(x) is bool(np.any(np.isfinite(x)))


def test_times_powers_takes_a_python_float_ratio_on_a_single_weight():
    """_times_powers on a 0-d weight with a plain float log r: out · exp(n · log r), the scalar path (a float has no
    array flags to ask)."""
    from convergence.physics.pulses import _times_powers

    out = np.array(2.0)
    _times_powers(out, np.array(3.0), -0.25)
    assert out == 2.0 * math.exp(3.0 * -0.25)
