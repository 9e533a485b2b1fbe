r"""Simulation of a vector algorithm on an objective, through the step driver :func:`convergence.sim.driver.run`.

``simulate`` advances all trials together and records, every ``record_every``
steps (at the weights the algorithm presents, e.g. W + γP):

* ``loss_gap``  f(x_k) − f*            * ``grad_norm_sq``  ‖∇f(x_k)‖²
* ``dist_sq``   ‖x_k − W*‖²            * ``sat_<a>``       max_i saturation of analog array a
* ``s_k_<a>``   running P1 S_K = (1/(k+1)) Σ_{j≤k} s_j²/(1 − s_j²), s_j = ‖A_j‖∞/τ (P1 Thm 2)
* ``s_k_generic_<a>`` running P2 S_K^{ASGD} = (1/(k+1)) Σ ‖G(A_j)/√F(A_j)‖²∞ (P2 Thm 2)

S_K sums are accumulated at every step, not only at recorded ones. Per-trial
status: 0 ok, −1 non-finite values appeared (in the weights, or in a recorded metric: a
diverging trial overflows f and ‖∇f‖² before its weights), −2 an analog array left its device's
range (finite). The tail (last ``tail`` fraction of the steps) also accumulates
per-trial means of ∇f(x_k) and x_k for the trial-and-tail mean gradient.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
from numpy.typing import NDArray

from convergence import rng as rngmod
from convergence._alloc import tune_allocator
from convergence._validate import ConfigError, check_memory, positive_int
from convergence.sim import driver
from convergence.sim.algorithms import Algorithm
from convergence.physics.devices import Device, saturation
from convergence.sim.noise import Noise, NoNoise
from convergence.sim.objectives import Objective, weight_dim

Array = NDArray[np.float64]

STATUS_OK = 0
STATUS_NONFINITE = -1
STATUS_OUT_OF_RANGE = -2
STATUS_NAMES = {STATUS_OK: "ok", STATUS_NONFINITE: "nonfinite", STATUS_OUT_OF_RANGE: "out_of_range"}

__all__ = ["simulate", "Trajectory", "squared_mean", "recorded_steps", "recording_bytes", "tail_start",
           "STATUS_OK", "STATUS_NONFINITE", "STATUS_OUT_OF_RANGE"]


@dataclass(frozen=True)
class Trajectory:
    """Recorded metrics of a batch of trials.

    Attributes:
        steps: (n_rec,) step indices of the records.
        metrics: name -> (n_rec, trials) arrays.
        status: (trials,) status codes (0 ok, −1 non-finite, −2 out of device range).
        first_bad_step: (trials,) first recorded step with a bad status (−1 if none).
        tail_start: first step of the tail window.
        tail_grad_mean: (trials, d) mean over recorded tail steps of ∇f(x_k).
        tail_w_mean: (trials, d) mean over recorded tail steps of x_k.
        final_state: the algorithm state after the last step.
        config: JSON-able description of the run.
        w: (n_rec, trials, d) presented weights, if ``record_w``.
        seconds: wall-clock time of the loop.
    """

    steps: Array
    metrics: Mapping[str, Array]
    status: Array
    first_bad_step: Array
    tail_start: int
    tail_grad_mean: Array
    tail_w_mean: Array
    final_state: Any
    config: dict[str, Any]
    w: Array | None = None
    seconds: float = 0.0
    _ok: Array = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_ok", self.status == STATUS_OK)

    @property
    def n_trials(self) -> int:
        return int(self.status.shape[0])

    @property
    def ok(self) -> Array:
        """Boolean mask of trials with status ok."""
        return self._ok

    def _tail_rows(self) -> Array:
        rows = self.steps >= self.tail_start
        if not rows.any():
            rows[-1] = True
        return rows

    def _metric(self, name: str) -> Array:
        if name not in self.metrics:
            raise KeyError(f"no metric {name!r}; recorded: {', '.join(sorted(self.metrics))}")
        return self.metrics[name]

    def per_trial_tail(self, name: str) -> Array:
        """(trials,) mean of metric ``name`` over the recorded tail steps, per trial."""
        return self._metric(name)[self._tail_rows()].mean(axis=0)

    def tail_mean(self, name: str) -> float:
        """Mean over ok trials and the tail window of metric ``name`` (nan if no trial is ok)."""
        vals = self.per_trial_tail(name)[self._ok]
        return float(vals.mean()) if vals.size else math.nan

    def tail_stderr(self, name: str) -> float:
        """Standard error of :meth:`tail_mean` across independent trials (nan for < 2 ok trials).

        Trials are independent, so the spread of per-trial tail means gives an
        honest error bar despite the autocorrelation within a trajectory.
        """
        vals = self.per_trial_tail(name)[self._ok]
        return float(vals.std(ddof=1) / math.sqrt(vals.size)) if vals.size >= 2 else math.nan

    def final(self, name: str) -> Array:
        """(trials,) last recorded value of ``name``."""
        return self._metric(name)[-1]

    def mean_grad_norm_sq(self) -> float:
        """Squared norm of the trial-and-tail mean of ∇f(x_k) (ok trials): the plug-in ‖m‖², biased up by the
        mean's sampling variance (see :meth:`bias_sq` for the estimate with that removed and its error bar)."""
        g = self.tail_grad_mean[self._ok]
        return float(np.sum(g.mean(axis=0) ** 2)) if g.size else math.nan

    def bias_sq(self, trials: slice = slice(None)) -> tuple[float, float]:
        """‖E∇f‖², the squared mean gradient (the bias part of E‖∇f‖², P1 Thm 2's asymptotic floor), from the
        per-trial tail-mean gradients of the ok trials among ``trials``: :func:`squared_mean` (the plug-in's
        upward bias removed) and its standard error. ``(nan, nan)`` with fewer than 2 ok trials."""
        ok = self._ok[trials]
        if int(ok.sum()) < 2:
            return math.nan, math.nan
        bias, se = squared_mean(self.tail_grad_mean[trials][ok])
        return float(bias), float(se)

    def w_mean(self) -> Array:
        """Per-coordinate mean of the presented weights over ok trials and the tail."""
        w = self.tail_w_mean[self._ok]
        return w.mean(axis=0) if w.size else np.full(self.tail_w_mean.shape[1], np.nan)

    def w_stderr(self) -> Array:
        """Per-coordinate standard error of :meth:`w_mean` across independent ok trials (nan for < 2)."""
        w = self.tail_w_mean[self._ok]
        if w.shape[0] < 2:
            return np.full(self.tail_w_mean.shape[1], np.nan)
        return w.std(axis=0, ddof=1) / math.sqrt(w.shape[0])

    def status_counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.status == code)) for code, name in STATUS_NAMES.items()}

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (the CLI's ``--json`` output)."""
        with np.errstate(over="ignore", invalid="ignore"):     # an overflow gives inf (null in JSON), no warning
            return self._summary()

    def _summary(self) -> dict[str, Any]:
        def ms(name: str) -> dict[str, float]:
            return {"mean": self.tail_mean(name), "stderr": self.tail_stderr(name)}
        tail = {"grad_norm_sq": ms("grad_norm_sq"), "loss": ms("loss_gap"), "dist_sq": ms("dist_sq"),
                "mean_grad_norm_sq": self.mean_grad_norm_sq(), "bias_sq": dict(zip(("mean", "stderr"), self.bias_sq())),
                "w_mean": self.w_mean().tolist(),
                "w_stderr": self.w_stderr().tolist(), "start_step": self.tail_start}
        for name in self.metrics:
            if name.startswith(("sat_", "s_k_")):
                tail[name] = ms(name)
        return {"config": self.config, "tail": tail, "status": self.status_counts(),
                "final": {name: float(np.mean(self.final(name)[self._ok])) if self._ok.any() else math.nan
                          for name in self.metrics},
                "seconds": self.seconds}


def squared_mean(x: Array) -> tuple[Array, Array]:
    r"""‖E X‖² from n ≥ 2 independent samples of a vector X, without the plug-in's upward bias, and its standard
    error: ``x`` has shape (..., n, d) (samples along axis −2, coordinates along −1); both results have shape (...).

    With ``m`` the sample mean and ``s_i`` the standard error of its coordinate i, E‖m‖² = ‖E X‖² + Σ Var(m_i), so

    .. math:: \widehat{‖E X‖²} = ‖m‖² − Σ_i s_i², \qquad \mathrm{se} = \sqrt{Σ_i (4 m_i² s_i² + 2 s_i⁴)}

    (the variance of ‖m‖² for Gaussian m_i, 4μ_i²σ_i² + 2σ_i⁴, with m_i for μ_i: E m_i² = μ_i² + σ_i² makes it err
    on the wide side, by about √3 where the mean is zero (a little more for few samples) and by σ_i²/μ_i²
    relatively where it is not). The estimate may be slightly negative when ‖E X‖² is zero. Used for the squared
    mean gradient ‖E∇f‖² (independent trials: the error bar holds despite the autocorrelation within a trajectory).
    """
    x = np.asarray(x, dtype=float)
    n = x.shape[-2]
    m = x.mean(axis=-2)
    se_m = x.std(axis=-2, ddof=1) / math.sqrt(n)
    est = np.sum(m * m, axis=-1) - np.sum(se_m * se_m, axis=-1)
    return est, np.sqrt(np.sum(4 * m * m * se_m * se_m + 2 * se_m**4, axis=-1))


def _broadcast_init(w0: Any, trials: int, d: int) -> Array:
    w = np.asarray(w0, dtype=float)
    if w.ndim == 0:
        w = np.full((trials, d), float(w))
    elif w.ndim == 1:
        if w.shape[0] != d:
            raise ConfigError(f"init has {w.shape[0]} values but the objective has {d} weights")
        w = np.broadcast_to(w, (trials, d)).copy()
    elif w.shape != (trials, d):
        raise ConfigError(f"init must be a scalar, length {d}, or shape ({trials}, {d}) (got {w.shape})")
    if not np.all(np.isfinite(w)):
        raise ConfigError("init must be finite")
    return w


def _saturation_and_ratio(device: Any, a: Array) -> tuple[Array, Array]:
    """Per trial (the last axis holds the weights): max_i saturation(a_i) and max_i (G/√F)(a_i)².

    For a scalar :class:`~convergence.physics.devices.Device` both maxima are attained at the row's
    largest or smallest element (saturation grows away from w⋄, and G/√F is increasing for
    every device of the toolkit: ``Device.monotone_ratio``, tested), so two reductions over
    the weights replace several elementwise passes per step (:func:`_extremes_saturation_and_ratio`).
    """
    if _monotone(device):
        return _extremes_saturation_and_ratio(device, np.stack([a.max(axis=-1), a.min(axis=-1)]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = device.G(a) / np.sqrt(device.F(a))
        return np.max(saturation(device, a), axis=-1), np.max(r * r, axis=-1)


def _monotone(device: Any) -> bool:
    """A scalar device whose saturation and (G/√F)² peak at a row's largest or smallest weight."""
    return isinstance(device, Device) and device.monotone_ratio


def _extremes_saturation_and_ratio(device: Device, ext: Array) -> tuple[Array, Array]:
    """:func:`_saturation_and_ratio` of a monotone scalar device from each row's largest weight ``ext[0]`` and
    smallest ``ext[1]`` (elementwise, so any shape after the first axis: one step's (trials,) or a block of steps'
    (steps, trials)); both evaluated in one call per function."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        sat = saturation(device, ext)
        r = device.ratio(ext)
        r = r * r
        return np.maximum(sat[0], sat[1]), np.maximum(r[0], r[1])


class _RunningS:
    """P1's S_K and P2's S_K^{ASGD} of one analog array, accumulated at every step.

    :meth:`extend` takes a block of consecutive steps' per-trial maxima (saturation and (G/√F)²) and adds
    them in step order (``np.add.accumulate``: the same sequence of additions as one ``+=`` per step, so
    the sums are bit-identical to the step-by-step loop), returning the running sums of the block's steps.
    """

    def __init__(self, trials: int) -> None:
        self.s_sum = np.zeros(trials)
        self.gen_sum = np.zeros(trials)
        self._buf = np.empty((2, 1, trials))   # row 0 of each: the sum so far, rows 1..n: the block's terms

    def extend(self, sat: Array, ratio_sq: Array) -> tuple[Array, Array]:
        n = len(sat)
        if self._buf.shape[1] < n + 1:
            self._buf = np.empty((2, n + 1) + self._buf.shape[2:])
        s_buf, g_buf = self._buf[0, :n + 1], self._buf[1, :n + 1]
        s_buf[0], g_buf[0] = self.s_sum, self.gen_sum
        _p1_s(sat, out=s_buf[1:])
        g_buf[1:] = ratio_sq
        s_run = np.add.accumulate(s_buf, axis=0, out=s_buf)[1:]
        g_run = np.add.accumulate(g_buf, axis=0, out=g_buf)[1:]
        self.s_sum, self.gen_sum = s_run[-1].copy(), g_run[-1].copy()
        return s_run, g_run


def _p1_s(sat_max: Array, out: Array | None = None) -> Array:
    """P1's S_K summand s²/(1 − s²) (∞ from s ≥ 1 on, and for NaN), into ``out`` if given."""
    s2 = np.multiply(sat_max, sat_max, out=out)
    big = None if np.maximum.reduce(s2, axis=None) < 1.0 else ~(s2 < 1.0)   # s ≥ 1 (or NaN) somewhere: ∞ there
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.divide(s2, np.subtract(1.0, s2), out=s2)
    if big is not None:
        term[big] = np.inf
    return term


#: most steps per block of the recording (:class:`_StepBlock`)
_S_BLOCK = 256
#: bytes one stored array of a block may take (the block shrinks for large trials x d)
_BLOCK_BYTES = 1 << 23


class _StepBlock:
    """Copies of the analog arrays of a block of consecutive steps (and, at recorded steps, the presented
    weights and their gradients), so that the per-step reductions of the recording (row maxima, ‖∇f‖²,
    ‖x − W*‖², f(x)) run once per block on stacked arrays instead of once per step: for the small arrays
    of the vector simulations a reduction's fixed cost dwarfs its work. Every quantity is the same
    elementwise expression or the same reduction over the same axis as the per-step form, so the
    results are bit-identical (tests/test_simulate.py checks this against a step-by-step recording).
    """

    def __init__(self, steps: int, record_every: int) -> None:
        self.cap, self.rec_cap = 1, 1
        self.steps, self.record_every = steps, record_every
        self.arrays: list[Array] = []   # per analog array: (cap, *shape) copies (possibly a transposed view)
        self.raw: list[tuple[Array, int]] = []   # per analog array: its buffer and the axis of the row maxima
        self.kinds: list[tuple[Any, Any]] = []    # per analog array: (shape, dtype) of one step's copy
        self.rec_kind: tuple[Any, ...] | None = None   # (shape, dtype) of x and of ∇f
        self.x: Array | None = None     # (rec_cap, trials, d) presented weights at recorded steps
        self.g: Array | None = None     # (rec_cap, trials, d) ∇f at recorded steps
        self.x_buf: Array | None = None   # (rec_cap + 1, trials, d): x with a spare row in front
        self.g_buf: Array | None = None
        self.n = 0                      # steps stored
        self.rec: list[tuple[int, int, int]] = []   # (record row, step k, position in block)
        self.direct = False             # one step per block, held by reference and reduced at once (large arrays)

    def allocate(self, analog: Any, x: Array, grad: Array | None) -> None:
        """(Re)size the buffers for this step's arrays (the gradient buffer once a gradient is known)."""
        per_step = max([x.nbytes] + [arr.nbytes for _, arr, _ in analog])
        self.cap = max(1, min(self.steps, _S_BLOCK, _BLOCK_BYTES // max(per_step, 1)))
        self.rec_cap = min(self.cap, -(-self.cap // self.record_every) + 1)
        self.kinds = [(arr.shape, arr.dtype) for _, arr, _ in analog]
        self.rec_kind = None if grad is None else (x.shape, x.dtype, grad.shape, grad.dtype)
        # arrays too large to stack: no copies, the step's own arrays are reduced before the next step runs
        self.direct = self.cap == 1
        if self.direct:
            return
        self.arrays, self.raw = [], []
        for _, arr, _ in analog:
            # (trials, d) arrays with few weights per trial are stored weight-major, one (steps, trials) plane per
            # weight: the row maxima are then d − 1 elementwise maxima of contiguous planes
            t = arr.ndim == 2 and arr.shape[1] < arr.shape[0]
            raw = np.empty((arr.shape[1], self.cap, arr.shape[0]) if t else (self.cap,) + arr.shape, dtype=arr.dtype)
            self.raw.append((raw, t))
            self.arrays.append(raw.transpose(1, 2, 0) if t else raw)
        # one spare row in front: the tail sums are added in step order starting from it (flush)
        self.x_buf = np.empty((self.rec_cap + 1,) + x.shape, dtype=x.dtype)
        self.g_buf = None if grad is None else np.empty((self.rec_cap + 1,) + grad.shape, dtype=grad.dtype)
        self.x, self.g = self.x_buf[1:], None if self.g_buf is None else self.g_buf[1:]

    def store(self, analog: Any, k: int, r: int, x: Array, grad: Array | None) -> bool:
        """Store step ``k``'s analog arrays and, if it is recorded (as row ``r``), x_k and ∇f(x_k); False (and
        nothing stored) when the block is full or the arrays do not match its buffers (shape or dtype)."""
        n = self.n
        if self.direct:
            if n or len(analog) != len(self.kinds) or any((a.shape, a.dtype) != kd
                                                           for (_, a, _), kd in zip(analog, self.kinds)):
                return False
            self.arrays = [arr[None] for _, arr, _ in analog]
            self.raw = [(arr[None], False) for _, arr, _ in analog]
            if grad is not None:
                self.x, self.g = x[None], grad[None]
                self.rec.append((r, k, 0))
            self.n = 1
            return True
        if n >= self.cap or len(analog) != len(self.arrays):
            return False
        for buf, kind, (_, arr, _) in zip(self.arrays, self.kinds, analog):
            if (arr.shape, arr.dtype) != kind:
                return False
            buf[n] = arr
        if grad is not None:
            j = len(self.rec)
            if j >= self.rec_cap or self.g is None or (x.shape, x.dtype, grad.shape, grad.dtype) != self.rec_kind:
                return False
            self.x[j] = x       # type: ignore[index]
            self.g[j] = grad
            self.rec.append((r, k, n))
        self.n = n + 1
        return True


def _check_parts(algorithm: Any, objective: Any, noise: Any) -> None:
    """Refuse an algorithm, objective or noise of the wrong kind up front (they would fail deep inside the loop)."""
    if not isinstance(algorithm, Algorithm):
        hint = ": call the factory, e.g. analog_sgd(0.01, SoftBounds(1.0))" if callable(algorithm) else \
            " (e.g. analog_sgd(0.01, SoftBounds(1.0)))"
        raise ConfigError(f"algorithm must be an Algorithm, got {type(algorithm).__name__}{hint}")
    if not (callable(getattr(objective, "grad", None)) and hasattr(objective, "w_star")):
        raise ConfigError(f"objective must be an objective (e.g. Quadratic(d=2), LeastSquares(...)), got "
                          f"{type(objective).__name__}")
    if noise is not None and not callable(getattr(noise, "sample", None)):
        raise ConfigError(f"noise must be a noise model (e.g. Gaussian(0.5), NoNoise()) or None, got "
                          f"{type(noise).__name__}")


def tail_start(steps: int, tail: float, least: int = 1) -> int:
    """First step of the tail window over which floors are averaged: the last ``tail`` fraction of ``steps``
    (rounded up, at least ``least`` steps: 2 where the window is split in halves or pairs)."""
    return steps - max(least, int(math.ceil(tail * steps)))


def recorded_steps(steps: int, record_every: int) -> int:
    """Number of recorded steps: k = 0, record_every, 2·record_every, … and always the last step."""
    return -(-steps // record_every) + (1 if (steps - 1) % record_every else 0)


def recording_bytes(n_rec: int, trials: int, n_metrics: int, d: int, record_w: bool) -> float:
    """Bytes of a recording: ``n_metrics`` float64 per recorded step and trial, plus the weights if kept."""
    return 8.0 * n_rec * (trials * n_metrics + 1) + (8.0 * n_rec * trials * d if record_w else 0.0)


def simulate(algorithm: Algorithm, objective: Objective, noise: Noise | None, w0: Any, steps: int, *,
             trials: int | None = None, seed: int | np.random.SeedSequence = 0, record_every: int = 1,
             tail: float = 0.5, record_w: bool = False, progress: bool | None = None,
             trial_block: int = rngmod.DEFAULT_BLOCK, first_trial: int = 0,
             max_record_bytes: int | None = None) -> Trajectory:
    """Run ``algorithm`` on ``objective`` with gradient ``noise`` for ``steps`` steps.

    Args:
        algorithm: an :class:`~convergence.sim.algorithms.Algorithm`.
        objective: the objective (constants and gradient).
        noise: a noise model (None: exact gradients).
        w0: initial weights: scalar, (d,) or (trials, d).
        steps: number of steps K.
        trials: number of trials (default: from ``w0``'s leading axis, else 1).
        seed: root seed; noise and algorithm draw from separate per-block streams.
        record_every: record metrics every n steps (step 0 and the last step always).
        tail: fraction of the steps at the end that forms the tail window, in (0, 1].
        record_w: also keep the presented weights at recorded steps.
        progress: show a progress bar (default: when stderr is a terminal).
        trial_block: trials per random stream (1: each trial its own stream).
        first_trial: global index of the first trial (for workers handling a slice).
        max_record_bytes: refuse (ConfigError, before any allocation) a recording larger than this many
            bytes (default: the memory available now), naming the ``record_every`` that would fit.

    Returns:
        A :class:`Trajectory`.
    """
    tune_allocator()
    _check_parts(algorithm, objective, noise)
    steps = positive_int("steps", steps)
    record_every = positive_int("record_every", record_every)
    if not (isinstance(tail, (int, float)) and 0.0 < tail <= 1.0):
        raise ConfigError(f"tail must be a fraction in (0, 1] (got {tail!r})")
    noise = NoNoise() if noise is None else noise
    d = weight_dim(objective)
    try:
        w0_arr = np.asarray(w0, dtype=float)
    except (TypeError, ValueError):
        raise ConfigError(f"w0 must be a number or an array of numbers (got {w0!r:.60})") from None
    batch = getattr(objective, "instances", None)
    if trials is None:      # from w0's leading axis, else from a batch of objective instances, else 1
        trials = w0_arr.shape[0] if w0_arr.ndim == 2 else batch if batch is not None else 1
    trials = positive_int("trials", trials)
    if batch is not None and batch != trials:
        raise ConfigError(f"the objective is a batch of {batch} instances (one per trial); trials must be {batch} "
                          f"(got {trials})")
    w_init = _broadcast_init(w0, trials, d)

    noise_rng = rngmod.TrialStreams(seed, trials, purpose=rngmod.NOISE, block=trial_block, first_trial=first_trial)
    alg_rng = rngmod.TrialStreams(seed, trials, purpose=rngmod.ALGORITHM, block=trial_block, first_trial=first_trial)

    state = algorithm.init(w_init)
    first_tail = tail_start(steps, tail)
    last = steps - 1
    n_rec = recorded_steps(steps, record_every)

    analog0 = algorithm.analog(state)
    names = ["loss_gap", "grad_norm_sq", "dist_sq"]
    for a_name, _, _ in analog0:
        names += [f"sat_{a_name}", f"s_k_{a_name}", f"s_k_generic_{a_name}"]
    # refuse before allocating: the recording grows with steps / record_every
    check_memory(f"recording {n_rec} steps of {trials} trials", recording_bytes(n_rec, trials, len(names), d, record_w),
                 limit=max_record_bytes, hint=f"record less often (record_every > {record_every}) or run fewer trials")
    metrics = {name: np.empty((n_rec, trials)) for name in names}
    rec_steps = np.empty(n_rec, dtype=np.int64)
    w_hist = np.empty((n_rec, trials, d)) if record_w else None
    running = {a: _RunningS(trials) for a, _, _ in analog0}
    status = np.zeros(trials, dtype=np.int64)
    first_bad = np.full(trials, -1, dtype=np.int64)
    tail_g = np.zeros((trials, d))
    tail_w = np.zeros((trials, d))
    n_tail = 0
    w_star = np.asarray(objective.w_star, dtype=float)
    value_stack = getattr(objective, "value_stack", None)
    value_of_diffs = getattr(objective, "value_of_diffs", None)   # f from the stack of x − W* (computed anyway)

    # what observe(k) computed for step(k): the presented weights x_k and, at recorded steps, ∇f(x_k)
    x_k: Array = w_init
    grad_k: Array | None = None
    r = 0
    blk = _StepBlock(steps, record_every)
    meta = [(a_name, dev) for a_name, _, dev in analog0]   # (name, device) of the arrays in the block
    clean = True   # every trial's status still ok (then the status check may take its shortcut)

    def flush() -> None:
        """The recording of the block's steps: S_K sums at every step, the metrics at the recorded ones."""
        nonlocal n_tail, clean
        n, rows = blk.n, blk.rec
        if n == 0:
            return
        pos = _regular(np.array([p for _, _, p in rows], dtype=np.intp))
        ks = np.array([k for _, k, _ in rows], dtype=np.int64)
        rs = slice(rows[0][0], rows[0][0] + len(rows)) if rows else slice(0, 0)
        extremes: list[tuple[Array, Array] | None] = []
        for (a_name, dev), buf, (raw, weight_major) in zip(meta, blk.arrays, blk.raw):
            data = buf[:n]
            if _monotone(dev):
                ext = _row_extremes(raw, n, weight_major)
                sat, ratio_sq = _extremes_saturation_and_ratio(dev, ext.astype(float, copy=False))
                extremes.append((ext[0, pos], ext[1, pos]))
            else:
                sat, ratio_sq = _saturation_and_ratio(dev, data)
                extremes.append(None)
            sat, ratio_sq = sat.astype(float, copy=False), ratio_sq.astype(float, copy=False)
            s_run, g_run = running[a_name].extend(sat, ratio_sq)
            if rows:
                denom = (ks + 1)[:, None]
                metrics[f"sat_{a_name}"][rs] = sat[pos]
                metrics[f"s_k_{a_name}"][rs] = s_run[pos] / denom
                metrics[f"s_k_generic_{a_name}"][rs] = g_run[pos] / denom
        if rows:
            m = len(rows)
            xs, gs = blk.x[:m], blk.g[:m]  # type: ignore[index]
            diff = _minus_rows(xs, w_star)
            if value_of_diffs is not None:
                metrics["loss_gap"][rs] = value_of_diffs(diff) - objective.f_star
            elif value_stack is not None:
                metrics["loss_gap"][rs] = value_stack(xs) - objective.f_star
            else:
                metrics["loss_gap"][rs] = [objective.value(xi) - objective.f_star for xi in xs]
            metrics["grad_norm_sq"][rs] = np.einsum("ntd,ntd->nt", gs, gs)
            dist = metrics["dist_sq"][rs]
            dist[...] = np.einsum("ntd,ntd->nt", diff, diff)
            if w_hist is not None:
                w_hist[rs] = xs
            rec_steps[rs] = ks
            # the per-step status check, with its shortcut taken for the whole block when it holds for all
            recorded = (metrics["loss_gap"][rs], metrics["grad_norm_sq"][rs], dist)
            if not (clean and _all_fine(recorded, [(a, None, dev) for a, dev in meta], extremes)):
                for i, (_, k, p) in enumerate(rows):
                    analog = [(a, buf[p], dev) for (a, dev), buf in zip(meta, blk.arrays)]
                    ext = [None if e is None else (e[0][i], e[1][i]) for e in extremes]
                    row = tuple(m[i] for m in recorded)
                    if not (clean and _all_fine(row, analog, ext)):
                        _update_status(status, first_bad, k, xs[i], analog, row)
                        clean = not status.any()
            i0 = int(np.searchsorted(ks, first_tail))   # the block's recorded tail steps: rows i0..m-1
            if i0 < m:   # the same sequence of additions as one += per recorded step
                _add_rows(tail_g, gs, blk.g_buf, i0, m, blk.direct)
                _add_rows(tail_w, xs, blk.x_buf, i0, m, blk.direct)
                n_tail += m - i0
        blk.n, blk.rec = 0, []

    def observe(k: int, state: Any) -> None:
        nonlocal r, x_k, grad_k, meta
        x = algorithm.query(state)
        analog = algorithm.analog(state)
        if k == steps:  # the final state after the last step also decides the status
            flush()
            _update_status(status, first_bad, steps, x, analog)
            return
        grad = objective.grad(x) if k % record_every == 0 or k == last else None
        if not blk.store(analog, k, r, x, grad):
            flush()
            if not blk.store(analog, k, r, x, grad):
                blk.allocate(analog, x, grad)
                meta = [(a_name, dev) for a_name, _, dev in analog]
                blk.store(analog, k, r, x, grad)
        if blk.direct:
            flush()
        if grad is not None:
            r += 1
        x_k, grad_k = x, grad

    def step(k: int, state: Any) -> Any:
        g = noise.sample(objective, x_k, noise_rng, grad_k)
        return algorithm.step(state, g, rng=alg_rng)

    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):
        state = driver.run(state, step, steps, observe=observe, progress=progress)
    flush()
    seconds = time.perf_counter() - t0
    config = {"steps": steps, "trials": trials, "record_every": record_every, "tail": tail,
              "seed": _seed_repr(seed), "trial_block": trial_block, "first_trial": first_trial,
              "algorithm": {"name": algorithm.name, **algorithm.as_dict()},
              "objective": objective.as_dict(), "noise": noise.as_dict()}
    return Trajectory(rec_steps, metrics, status, first_bad, first_tail,
                      tail_g / max(n_tail, 1), tail_w / max(n_tail, 1), state, config, w_hist, seconds)


def _row_extremes(raw: Array, n: int, weight_major: bool) -> Array:
    """Each stored step's row maxima and minima over the weights, stacked (2, n, trials): from the weight-major
    buffer (d, cap, trials) as d − 1 elementwise maxima (minima) of its planes in weight order (what the reduction
    over that axis computes), else from (cap, trials, d) by a reduction over the last axis."""
    if not weight_major:
        return np.stack([np.maximum.reduce(raw[:n], axis=-1), np.minimum.reduce(raw[:n], axis=-1)])
    ext = np.empty((2,) + raw.shape[1:], dtype=raw.dtype)[:, :n]
    hi, lo = ext
    if len(raw) == 1:
        hi[...] = raw[0, :n]
        lo[...] = raw[0, :n]
        return ext
    np.maximum(raw[0, :n], raw[1, :n], out=hi)
    np.minimum(raw[0, :n], raw[1, :n], out=lo)
    for plane in raw[2:, :n]:
        np.maximum(hi, plane, out=hi)
        np.minimum(lo, plane, out=lo)
    return ext


def _add_rows(total: Array, rows: Array, buf: Array | None, i0: int, m: int, direct: bool) -> None:
    """``total += rows[i]`` for i = i0..m-1 in order, as one reduction over a stack of ``total`` and those rows: in
    the block's buffer ``buf`` (``rows[i]`` is ``buf[i + 1]``) ``total`` goes into the row before ``rows[i0]`` (the
    spare row or a record already consumed); held by reference (``direct``) the stack is a new array."""
    if direct or buf is None:
        np.add.reduce(np.concatenate([total[None], rows[i0:m]]), axis=0, out=total)
        return
    stack = buf[i0:m + 1]
    stack[0] = total
    np.add.reduce(stack, axis=0, out=total)


def _regular(pos: Array) -> Array | slice:
    """The positions ``pos`` as a slice when they are evenly spaced (a view instead of a gather), else as they are."""
    if len(pos) > 1:
        step = int(pos[1] - pos[0])
        if step > 0 and np.all(np.diff(pos) == step):
            return slice(int(pos[0]), int(pos[-1]) + 1, step)
    return pos


def _minus_rows(xs: Array, row: Array) -> Array:
    """``xs - row`` for a stack ``xs`` (n, trials, d) and ``row`` of shape (d,) or (trials, d), with ``row`` spread
    over one trial-by-weight plane first (the same elementwise subtraction, without a broadcast over a short last
    axis, whose inner loops of d elements cost more than the work)."""
    plane = np.ascontiguousarray(np.broadcast_to(row, xs.shape[1:])).reshape(-1)
    return np.subtract(xs.reshape(len(xs), -1), plane).reshape(xs.shape)


def _seed_repr(seed: Any) -> Any:
    if isinstance(seed, np.random.SeedSequence):
        return {"entropy": seed.entropy, "spawn_key": list(seed.spawn_key)}
    return int(seed)


def _all_fine(recorded: tuple[Array, ...], analog: Any, extremes: list[tuple[Array, Array] | None]) -> bool:
    """True when :func:`_update_status` would change nothing for trials whose status is ok: every recorded metric
    finite (f − f*, ‖∇f‖², ‖x − W*‖²: a finite sum over trials implies it, and a finite ‖x − W*‖² implies finite
    presented weights) and every analog array finite and inside its scalar device's range (from each row's
    largest and smallest weight; NaN propagates through max, min and sum). A cheap exact shortcut for the usual
    step; False sends the step through the full check (also when a sum of finite values overflows)."""
    if not all(math.isfinite(float(np.add.reduce(m, axis=None))) for m in recorded):
        return False
    for (_, _, dev), ext in zip(analog, extremes):
        if ext is None:
            return False
        lo, hi = dev.bounds
        span = hi - lo
        tol = 1e-9 * span if math.isfinite(span) else 0.0
        w_lo, w_hi = float(np.minimum.reduce(ext[1], axis=None)), float(np.maximum.reduce(ext[0], axis=None))
        if not (math.isfinite(w_lo) and math.isfinite(w_hi) and w_lo >= lo - tol and w_hi <= hi + tol):
            return False
    return True


def _update_status(status: Array, first_bad: Array, k: int, x: Array, analog: Any,
                   recorded: tuple[Array, ...] = ()) -> None:
    """Mark the trials that went bad at step ``k``: ``nonfinite`` when a presented weight, an analog weight or a
    recorded metric of step ``k`` (``recorded``: per-trial arrays, e.g. f − f*, ‖∇f‖², ‖x − W*‖²) is not finite (a
    diverging run whose weights are still finite overflows its metrics first); ``out_of_range`` when a finite
    analog weight lies outside its device's range (by more than 1e-9 of the range)."""
    finite = np.all(np.isfinite(x), axis=1)
    for m in recorded:
        finite &= np.isfinite(m)
    out_of_range = np.zeros_like(finite)
    for _, arr, dev in analog:
        finite &= np.all(np.isfinite(arr), axis=1)
        lo, hi = dev.bounds
        span = np.asarray(hi) - np.asarray(lo)
        tol = np.where(np.isfinite(span), 1e-9 * span, 0.0)
        out_of_range |= np.any((arr < lo - tol) | (arr > hi + tol), axis=1)
    newly_nonfinite = ~finite & (status != STATUS_NONFINITE)
    first_bad[newly_nonfinite & (first_bad < 0)] = k
    status[newly_nonfinite] = STATUS_NONFINITE
    newly_out = finite & out_of_range & (status == STATUS_OK)
    first_bad[newly_out] = k
    status[newly_out] = STATUS_OUT_OF_RANGE
