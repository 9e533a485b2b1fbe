r"""Training the micro Swin with any subset of its linear layers on analog tiles.

Each analog linear layer is one crossbar tile (aihwkit maps every ``nn.Linear`` to a tile) driven
by one of the toolkit's matrix-tile algorithms (:mod:`convergence.tile.transfer_family`: in-memory SGD,
TT-v2, c-TTv2, AGAD) through :class:`ScaledTile` (an :class:`~convergence.nn.adapters.AlgorithmLayer`).
Everything else (biases, LayerNorms,
bias tables, digital linear layers) is trained by digital SGD with the same learning rate.

Weight mapping (aihwkit ``weight_scaling_omega`` with ``weight_scaling_columnwise``): a tile
stores ``W_dev = W₀ / s`` with the per-row scale ``s_i = max_j |W₀_ij| / ω``, so every row's
largest weight sits at ω in device units; the network uses ``W = s ⊙ W_dev``. The tile is fed
``x`` and ``d / s`` (``d = ∂L/∂y``), so its *desired* update ``ΔW_dev = −lr (d/s)ᵀ x`` is exactly
digital SGD in network units, ``ΔW = −lr dᵀx`` (on an ideal device with Expected updates the
analog run equals the digital run; a test checks this). The scales stay fixed. The rows reach the
tile algorithm in the network's dtype (:class:`RowNumerics`): the gradient write's products over
``N`` rows run in float32 while the tile's arrays stay float64.

Device knobs beyond the symmetric point (all off by default; each calls the toolkit's one implementation):
cycle-to-cycle pulse noise (:class:`convergence.physics.pulses.Pulsed` ``c2c``), device-to-device spreads of
the step and of the range (:func:`convergence.physics.reference_device.offset_softbounds`), write noise on the
weights the network sees (:func:`convergence.physics.reference_device.write_noise`), and the forward pass of
every analog layer through aihwkit's periphery (:func:`convergence.physics.periphery.forward`: output noise,
DAC/ADC steps), computed in device units, ``y = s ⊙ MVM_io(W_dev, x)``. The mean pulse response is the step
δ = 2τ/n_states itself: with the range fixed, the number of states is the knob that moves it.

Per-layer transfer cadence: a layer sees ``N = batch × tokens`` vector updates per mini-batch
(every token is one rank-1 update, as on a tile). ``transfer_every`` is set per layer to
``max(1, N // (in · sweeps_per_batch))`` so each layer reads about ``sweeps_per_batch`` full
column sweeps of A per mini-batch (aihwkit counts ``transfer_every`` in vector updates too).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from concurrent.futures import Future
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from convergence.tile import transfer_family as tr
from convergence.nn.adapters import AlgorithmLayer
from convergence.nn import _fastmath
from convergence.nn._threads import blas_threads
from convergence.sim.algorithms import Algorithm
from convergence._validate import ConfigError, non_negative, positive, positive_int
from convergence.physics.devices import Ideal
from convergence.physics.periphery import IOParameters, forward as periphery_forward
from convergence.physics.reference_device import offset_softbounds, write_noise
from convergence.physics.pulses import Expected, Pulsed
from convergence.swin import model as M

Array = NDArray[Any]

__all__ = ["AnalogSpec", "ALGORITHMS", "ScaledTile", "RowNumerics", "ROWS", "make_tile_algorithm", "TrainState",
           "init_train_state", "train_step", "visible_params", "layer_tokens", "PeripheryParams"]

ALGORITHMS = ("digital", "sgd", "ttv2", "c-ttv2", "agad")


@dataclass(frozen=True)
class AnalogSpec:
    """Device and algorithm settings of the analog tiles (hashable, JSON-able).

    Device: soft bounds with range [−τ, τ] (τ = 1), ``n_states = 2τ/δ`` pulses over the range
    (δ = dw_min), symmetric point at ``sym_skew + sym_dtod ξ`` per element
    (SP skew and device-to-device SP variability; :func:`convergence.physics.reference_device.offset_softbounds`),
    up/down asymmetry spread ``asym_dtod``. ``pulsed``: stochastic-rounded pulse counts of δ
    (:class:`convergence.physics.pulses.Pulsed`); else the Expected (mean-field) update with granularity δ.
    The variation applies to every analog array (A and C of the transfer algorithms, W of SGD).

    The mean pulse response (aihwkit ``dw_min``) is δ = 2τ/``n_states``: on a fixed range [−τ, τ] a larger mean
    step is the same thing as fewer states, so ``n_states`` is this study's mean-pulse-response knob.
    """

    algorithm: str = "c-ttv2"
    n_states: int = 1000
    sym_skew: float = 0.0
    sym_dtod: float = 0.0
    asym_dtod: float = 0.0
    read_noise: float = 0.0
    """Std of the additive Gaussian noise on each transfer read of A (device units)."""
    lr_fast: float = 0.05
    """λ_A: learning rate of the gradient write onto A (device units, per unit desired update)."""
    transfer_lr: float = 1.0
    sweeps_per_batch: float = 1.0
    in_chop_prob: float = 0.1
    transfer_max_pulses: int = 1
    """Cap on the pulses written to C per element per read (aihwkit ``transfer_update.desired_bl``; 1 in
    every preset): C moves at most ``transfer_max_pulses·δ`` per read, so with many states (small δ)
    the transfer rate, not the gradient, limits how fast the weights can follow."""
    omega: float = 0.5
    pulsed: bool = True
    ideal: bool = False
    """Ideal device with Expected updates (for the metamorphic test analog SGD == digital SGD)."""
    write_noise: float = 0.0
    """Write noise in units of δ (aihwkit ``write_noise_std``): the network sees the persistent weights of C (of W
    for in-memory SGD) plus ``write_noise·δ·ξ``, drawn when the layer is programmed and re-drawn on every element
    an update moves (:func:`convergence.physics.reference_device.write_noise`); the fast array A is read without
    it (not modelled)."""
    dw_min_std: float = 0.0
    """Cycle-to-cycle (pulse-to-pulse) update noise σ_c relative to δ, additive at every pulse (aihwkit
    ``dw_min_std``; :class:`convergence.physics.pulses.Pulsed` ``c2c``); pulsed mode only."""
    dw_min_dtod: float = 0.0
    """Device-to-device spread of the mean step, gain ``|1 + dw_min_dtod ξ|`` per element (aihwkit ``dw_min_dtod``;
    :func:`convergence.physics.reference_device.offset_softbounds`)."""
    range_dtod: float = 0.0
    """Device-to-device spread of the conductance range, bounds ``±τ|1 + range_dtod ξ|`` around the element's
    symmetric point (aihwkit ``w_max_dtod`` = ``w_min_dtod``;
    :func:`convergence.physics.reference_device.offset_softbounds`)."""
    out_noise: float = 0.0
    """Std of the additive output noise of every forward MVM of an analog layer (aihwkit ``forward.out_noise``), in
    units of the abs-max-normalised input times device weights (:func:`convergence.physics.periphery.forward`)."""
    inp_res: float = 0.0
    """DAC resolution of the forward pass as a fraction of the input range ±1 (aihwkit ``forward.inp_res``; step
    ``inp_res·2``; 0 = continuous; a value r > 1 means 1/r)."""
    out_res: float = 0.0
    """ADC resolution of the forward pass as a fraction of the output range ``±out_bound`` (aihwkit
    ``forward.out_res``; step ``out_res·2·out_bound``; 0 = continuous)."""
    out_bound: float = 12.0
    """Output clip of the forward periphery in device units (aihwkit ``forward.out_bound``, default 12); used only
    when ``out_noise``, ``inp_res`` or ``out_res`` switch the periphery on."""

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm must be one of {', '.join(ALGORITHMS)} (got {self.algorithm!r})")
        positive_int("n_states", self.n_states, minimum=2)
        positive_int("transfer_max_pulses", self.transfer_max_pulses)
        for name in ("sym_dtod", "asym_dtod", "read_noise", "write_noise", "dw_min_std", "dw_min_dtod", "range_dtod",
                     "out_noise", "inp_res", "out_res"):
            non_negative(name, getattr(self, name))
        for name in ("lr_fast", "transfer_lr", "sweeps_per_batch", "omega", "out_bound"):
            positive(name, getattr(self, name))
        if not 0.0 < self.in_chop_prob <= 1.0:
            raise ConfigError(f"in_chop_prob must lie in (0, 1] (got {self.in_chop_prob!r})")

    @property
    def dw_min(self) -> float:
        return 2.0 / self.n_states

    @property
    def forward_io(self) -> IOParameters | None:
        """The forward periphery of the analog layers (aihwkit ``rpu_config.forward``: abs-max noise management,
        inputs on ±1, outputs clipped at ±``out_bound``), or None for an exact MVM (the default)."""
        if not (self.out_noise or self.inp_res or self.out_res):
            return None
        return IOParameters(out_noise=self.out_noise, inp_res=self.inp_res, out_res=self.out_res, inp_bound=1.0,
                            out_bound=self.out_bound, noise_management="abs_max")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def layer_tokens(cfg: M.SwinConfig, name: str) -> int:
    """Rows per image seen by linear layer ``name`` (tokens of its stage; 1 for the head)."""
    if name == "head":
        return 1
    if name == "embed":
        return (cfg.img // cfg.patch) ** 2
    s = int(name[1:name.index(".")])
    res = (cfg.img // cfg.patch) // 2 ** s
    if ".merge." in name:
        return (res // 2) ** 2
    return res * res


def make_tile_algorithm(spec: AnalogSpec, shape: tuple[int, int], rows_per_batch: int, rng: np.random.Generator,
                        numerics: Any = None) -> tuple[Algorithm, Any]:
    """The toolkit tile algorithm for one layer of ``shape`` (out, in) and its realised device.

    ``numerics``: how the tile holds and writes its arrays (default: a :class:`RowNumerics` of the layer's own, the
    rows in the network's dtype; :data:`convergence.tile.transfer_family.TILE` gives the float64 reference)."""
    numerics = RowNumerics() if numerics is None else numerics
    n_out, n_in = shape
    if spec.ideal:
        dev: Any = Ideal()
        mode: Any = Expected()
    else:
        dev = offset_softbounds((1, n_out, n_in), rng, skew=spec.sym_skew, sigma_r=spec.sym_dtod,
                               asym_dtod=spec.asym_dtod, tau=1.0, dw_min_dtod=spec.dw_min_dtod,
                               range_dtod=spec.range_dtod)
        mode = Pulsed(dw_min=spec.dw_min, c2c=spec.dw_min_std) if spec.pulsed else Expected()
    gran = None if isinstance(mode, Pulsed) else spec.dw_min
    if spec.algorithm == "sgd":
        return tr.tile_sgd_algorithm(tr.TileSGDConfig(1.0, dev, mode, "signs", numerics=numerics)), dev
    te = max(1, int(rows_per_batch // (n_in * spec.sweeps_per_batch)))
    common = dict(mode=mode, transfer_lr=spec.transfer_lr, transfer_every=te, read_noise=spec.read_noise,
                  granularity=gran, accumulate="signs", max_pulses=spec.transfer_max_pulses, numerics=numerics)
    if spec.algorithm == "ttv2":
        return tr.ttv2(spec.lr_fast, dev, **common), dev
    if spec.algorithm == "c-ttv2":
        return tr.chopped_ttv2(spec.lr_fast, dev, in_chop_prob=spec.in_chop_prob, **common), dev
    if spec.algorithm == "agad":
        return tr.agad(spec.lr_fast, dev, in_chop_prob=spec.in_chop_prob, **common), dev
    raise ConfigError(f"no tile algorithm for {spec.algorithm!r}")


def _rows(a: Array | Sequence[Array], dtype: Any, factor: Array | None = None) -> Array:
    """Rows of ``dtype`` from an array or a list of row blocks (one pass either way), times ``factor``
    (per column, already in ``dtype``) if given: each block is multiplied straight into its rows."""
    blocks = list(a) if isinstance(a, (list, tuple)) else [a]
    n = sum(len(b) for b in blocks)
    out = np.empty((n,) + np.shape(blocks[0])[1:], dtype=dtype)
    i = 0
    for b in blocks:
        if factor is None:
            out[i:i + len(b)] = b
        else:
            np.multiply(b, factor, out=out[i:i + len(b)], dtype=dtype)
        i += len(b)
    return out


class RowNumerics(tr.TileNumerics):
    r"""The tile numerics with the rows ``x`` (N, in) and ``d`` (N, out) in the network's float dtype.

    The gradient write's two products ``Σ_b d_b x_bᵀ`` and ``Σ_b |d_b||x_b|ᵀ`` over the ``N = batch × tokens``
    rows (:func:`convergence.tile.transfer_family.gradient_write`), the bulk of an analog Swin step, then run
    in ``dtype`` (float32) like the network's own weight gradients; the arrays A, C, H, the pulse application
    and the transfers stay float64. Chopped rows ``c_in ⊙ x`` are ±x, so casting them back is exact. Relative
    to float64 rows the desired update changes by float32 rounding (about 1e-7 relative), which moves a
    stochastically rounded pulse count only where ``|ΔA|/δ + u`` lies that close to an integer.

    The products may be handed over ready (:meth:`offer`, from :meth:`ScaledTile.prepare`): the write then skips
    them, and a chopped write takes them with the signs flipped
    (:func:`convergence.tile.transfer_family.chopped_products`, exact). One instance per layer.
    """

    def __init__(self, dtype: Any = np.float32) -> None:
        self.dtype = np.dtype(dtype)
        """The dtype of the rows and of the gradient write's products."""
        self._offer: tuple[Array, Array, tuple[Array, Array]] | None = None

    def offer(self, x: Array, d: Array, products: tuple[Array, Array]) -> None:
        """Hand over the :func:`~convergence.tile.transfer_family.signs_products` of the rows ``x`` (N, in) and
        ``d`` (N, out), computed ahead (:meth:`ScaledTile.prepare`), for the next write of exactly these rows
        (chopped or not: :func:`~convergence.tile.transfer_family.chopped_products`); used once."""
        self._offer = (x, d, products)

    def withdraw(self) -> None:
        self._offer = None

    def _offered(self, x: Array, d: Array, accumulate: str, mode: Any) -> tuple[Array, Array] | None:
        o = self._offer
        if o is None or accumulate != "signs" or isinstance(mode, tr.TileWrite) or x.shape[1] == 1 \
                or x.base is not o[0] or d.base is not o[1] or x.shape[1:] != o[0].shape or d.shape[1:] != o[1].shape:
            return None
        self._offer = None
        return o[2]

    def inputs(self, x: Any, d: Any, w: Array) -> tuple[Array, Array]:
        x, d = np.asarray(x), np.asarray(d)
        if x.ndim != 3 or d.ndim != 3 or x.shape[1] != d.shape[1]:
            return super().inputs(x, d, w)            # raises; its error names the shapes
        super().inputs(x[:, :0], d[:, :0], w)         # the other shape checks, on empty views (no copy)
        return x.astype(self.dtype, copy=False), d.astype(self.dtype, copy=False)

    def write(self, a: Array, x: Array, d: Array, rate: Any, device: Any, mode: Any, rng: Any, accumulate: str,
              kernel: Any) -> Array:
        products = self._offered(x, d, accumulate, mode)
        if products is not None:
            return tr.signs_write(a, products, rate, device, mode, rng, kernel)
        return super().write(a, x.astype(self.dtype, copy=False), d.astype(self.dtype, copy=False), rate, device,
                             mode, rng, accumulate, kernel)

    def chopped_write(self, a: Array, x: Array, d: Array, c_in: Array | None, c_out: Array | None, rate: Any,
                      device: Any, mode: Any, rng: Any, accumulate: str, kernel: Any) -> Array:
        products = self._offered(x, d, accumulate, mode)
        if products is not None:
            return tr.signs_write(a, tr.chopped_products(products, c_in, c_out), rate, device, mode, rng, kernel)
        return super().chopped_write(a, x.astype(self.dtype, copy=False), d.astype(self.dtype, copy=False), c_in,
                                     c_out, rate, device, mode, rng, accumulate, kernel)

    def as_dict(self) -> dict[str, Any]:
        return {"numerics": f"tile, {self.dtype.name} rows"}


ROWS = RowNumerics()


class ScaledTile:
    """One analog linear layer of the Swin: an :class:`~convergence.nn.adapters.AlgorithmLayer` (one trial of a
    tile algorithm, the adapter the network layers use) behind the fixed per-row weight scales ``s``
    (module docstring).

    Pure: the layer state (the adapter's dict, from :meth:`init`) is passed in and returned.
    :meth:`weights` gives the network-unit matrix ``s ⊙ W_dev``; :meth:`update` feeds the rows ``x`` (N, in)
    and ``lr · d / s`` (the algorithms' own rates multiply it; for in-memory SGD the base rate is 1,
    so its step is exactly ``lr``) and returns the new state.

    ``write_noise`` (σ_w in device units, aihwkit ``write_noise_std·dw_min``): the state also holds the visible
    device weights ``"visible"`` (:func:`convergence.physics.reference_device.write_noise`), drawn at :meth:`init`
    and re-drawn where an update moved the persistent weights; :meth:`weights` then shows them.
    """

    def __init__(self, alg: Algorithm, w0: Array, omega: float, dtype: Any = np.float32,
                 write_noise: float = 0.0) -> None:
        w0 = np.asarray(w0, dtype=np.float64)
        m = np.abs(w0).max(axis=1)
        self.scale = np.where(m > 0, m / omega, 1.0)
        self.alg = alg
        self.layer = AlgorithmLayer(alg)
        self.dtype = np.dtype(dtype)
        self._w0 = w0 / self.scale[:, None]
        numerics = getattr(getattr(alg, "config", None), "numerics", None)
        self._rows_numerics = numerics if isinstance(numerics, RowNumerics) else None
        self.rows_dtype = numerics.dtype if isinstance(numerics, RowNumerics) else np.dtype(np.float64)
        """The dtype the rows reach the algorithm in (:class:`RowNumerics`: the network's)."""
        self.write_noise = non_negative("write_noise", write_noise)
        """σ_w: write noise std in device units (0: the visible weights are the persistent ones)."""

    def init(self, rng: np.random.Generator | None = None) -> dict:
        """The initial layer state (device weights ``W₀ / s``; with write noise, programming draws it from ``rng``)."""
        state = self.layer.init(self._w0)
        if self.write_noise:
            if rng is None:
                raise ConfigError("a layer with write noise needs an rng to program its weights")
            state["visible"] = write_noise(self.layer.weights(state), self.write_noise, rng)
        return state

    def weights(self, state: dict) -> Array:
        return (self.scale[:, None] * self.device_weights(state)).astype(self.dtype)

    def device_weights(self, state: dict) -> Array:
        """The device weights the network sees (with write noise: the visible ones)."""
        return state["visible"] if "visible" in state else self.layer.weights(state)

    def analog(self, state: dict) -> Sequence[tuple[str, Array, Any]]:
        """The arrays on devices (name, (out, in) array, device) of ``state``."""
        return self.layer.arrays(state)

    def prepare(self, x: Array | Sequence[Array], d: Array | Sequence[Array], lr: float
                ) -> tuple[Array, Array, tuple[Array, Array] | None]:
        """The rows the tile is fed, ``x`` and ``lr · d / s``, and (:class:`RowNumerics`) the gradient write's
        products of them (:func:`convergence.tile.transfer_family.signs_products`). Pure and free of random draws,
        so :func:`train_step` runs it for every layer ahead, on worker threads."""
        xx = _rows(x, self.rows_dtype)
        # one rounding of the factor, then a same-dtype multiply of each row block into place
        dd = _rows(d, self.rows_dtype, (lr / self.scale).astype(self.rows_dtype)[None, :])
        return xx, dd, tr.signs_products(xx[None], dd[None]) if self._rows_numerics is not None else None

    def update(self, state: dict, x: Array | Sequence[Array] | None, d: Array | Sequence[Array] | None, lr: float,
               rng: np.random.Generator, prepared: tuple[Array, Array, Any] | None = None) -> dict:
        """One tile update from the rows ``x`` (N, in) and ``d`` (N, out) (or shard lists of them), or from
        ``prepared`` = :meth:`prepare` ``(x, d, lr)``; the new state."""
        xx, dd, products = self.prepare(x, d, lr) if prepared is None else prepared
        if products is not None:
            self._rows_numerics.offer(xx, dd, products)         # type: ignore[union-attr]
        try:
            new = self.layer.update(state, xx, dd, 1.0, rng)
        finally:
            if products is not None:
                self._rows_numerics.withdraw()                  # type: ignore[union-attr]
        if self.write_noise:
            w = self.layer.weights(new)
            new["visible"] = write_noise(w, self.write_noise, rng, state["visible"], w != self.layer.weights(state))
        return new

    def mvm(self, state: dict, io: IOParameters, rng: np.random.Generator) -> Any:
        """The layer's forward MVM through the periphery ``io`` for :func:`convergence.swin.model.forward`:
        ``x ↦ s ⊙ MVM_io(W_dev, x)`` (rows x (N, in), device weights as :meth:`device_weights`)."""
        wd = np.asarray(self.device_weights(state), dtype=np.float64)[None]
        scale = self.scale

        def run(x: Array, w: Array) -> Array:
            y = periphery_forward(wd, np.asarray(x, dtype=np.float64)[None], io, rng)[0]
            return (y * scale).astype(x.dtype, copy=False)
        return run


@dataclass
class TrainState:
    """Digital parameters and the analog tiles of a network being trained (the imperative shell:
    :func:`train_step` replaces its arrays and tile states by the new ones)."""

    cfg: M.SwinConfig
    digital: dict[str, Array]
    tiles: dict[str, ScaledTile]
    spec: AnalogSpec | None
    tile_states: dict[str, dict] = dataclasses.field(default_factory=dict)
    """The layer state of each tile (:meth:`ScaledTile.init`)."""
    step: int = 0
    shards: int = 2
    """Data-parallel shards of each mini-batch (:func:`convergence.swin.model.sharded_loss_and_grads`)."""
    io_rng: np.random.Generator | None = None
    """Stream of the forward periphery's noise (None when the spec has no forward periphery)."""


def init_train_state(params: M.Params, cfg: M.SwinConfig, spec: AnalogSpec | None, analog: list[str] | None,
                     batch: int, rng: np.random.Generator, numerics: Any = None) -> TrainState:
    """Split ``params`` into digital arrays and analog tiles (``analog`` layer names; default
    :func:`convergence.swin.model.default_analog`; ignored when ``spec`` is None or digital);
    ``numerics`` as in :func:`make_tile_algorithm`."""
    digital = {k: np.array(v, copy=True) for k, v in params.items()}
    tiles: dict[str, ScaledTile] = {}
    if spec is not None and spec.algorithm != "digital":
        names = M.default_analog(params) if analog is None else list(analog)
        known = set(M.linear_names(params))
        for name in names:
            if name not in known:
                raise ConfigError(f"unknown linear layer {name!r} (known: {', '.join(sorted(known))})")
            w0 = digital.pop(name + ".w")
            alg, _ = make_tile_algorithm(spec, w0.shape, batch * layer_tokens(cfg, name), rng, numerics)
            tiles[name] = ScaledTile(alg, w0, spec.omega, dtype=w0.dtype, write_noise=spec.write_noise * spec.dw_min)
    # the knobs that are off draw nothing, so the default spec's streams are unchanged
    states = {name: tile.init(rng if tile.write_noise else None) for name, tile in tiles.items()}
    io_rng = None
    if tiles and spec is not None and spec.forward_io is not None:
        io_rng = np.random.default_rng(rng.integers(2 ** 63))
    return TrainState(cfg, digital, tiles, spec, states, io_rng=io_rng)


class PeripheryParams(dict):
    """The network parameters with the analog layers' forward MVMs through the periphery: ``mvm[name](x, w)``
    replaces ``x @ wᵀ`` in :func:`convergence.swin.model.forward`. :meth:`for_shard` gives each data-parallel
    shard its own noise stream (drawn in order before the shards run, so results do not depend on threads)."""

    def __init__(self, params: M.Params, state: TrainState, rng: np.random.Generator) -> None:
        super().__init__(params)
        self._state = state
        io = state.spec.forward_io if state.spec is not None else None
        self.mvm = {name: tile.mvm(state.tile_states[name], io, rng) for name, tile in state.tiles.items()}
        self._rng = rng

    def for_shard(self, i: int) -> "PeripheryParams":
        return PeripheryParams(self, self._state, np.random.default_rng(self._rng.integers(2 ** 63)))


def visible_params(state: TrainState) -> M.Params:
    """The parameters the forward pass uses (tiles read as network-unit matrices; with a forward periphery a
    :class:`PeripheryParams` whose analog layers compute through it)."""
    p = dict(state.digital)
    for name, tile in state.tiles.items():
        p[name + ".w"] = tile.weights(state.tile_states[name])
    if state.io_rng is not None:
        return PeripheryParams(p, state, state.io_rng)
    return p


#: Layers whose rows and products are prepared ahead of the update in progress (bounds the rows held at once).
_LOOKAHEAD = 4


def _ahead(fn: Callable[[], Any]) -> Future:
    """``fn`` started on a worker thread of :mod:`convergence.nn._fastmath` (run here when single-threaded)."""
    if _fastmath._threads() == 1 or _fastmath._inside_task():
        done: Future = Future()
        done.set_result(fn())
        return done
    return _fastmath._pool().submit(fn)


def train_step(state: TrainState, x: Array, y: Array, lr: float, rng: np.random.Generator,
               params: M.Params | None = None) -> float:
    """One SGD step (forward, backward, update) in place; returns the mini-batch loss.

    The tile updates: each layer's rows and gradient-write products (:meth:`ScaledTile.prepare`, no random
    draws) are computed a few layers ahead on worker threads while this thread runs the updates, with their
    random draws, in layer order, so the results do not depend on the threads."""
    p = visible_params(state) if params is None else params
    loss, grads, io = M.sharded_loss_and_grads(p, x, y, state.cfg, keep_io=state.tiles.keys(), shards=state.shards)
    lr32 = np.asarray(lr, dtype=next(iter(state.digital.values())).dtype)
    for name, g in grads.items():
        state.digital[name] -= lr32 * g
    with blas_threads(1):     # the layers' rows and products are prepared on worker threads, one BLAS thread each
        names = list(io)
        ahead = {j: _ahead(partial(state.tiles[names[j]].prepare, *io[names[j]], lr))
                 for j in range(min(_LOOKAHEAD, len(names)))}
        for i, name in enumerate(names):             # the updates (random draws) in layer order
            prepared = ahead.pop(i).result()
            j = i + _LOOKAHEAD
            if j < len(names):
                ahead[j] = _ahead(partial(state.tiles[names[j]].prepare, *io[names[j]], lr))
            state.tile_states[name] = state.tiles[name].update(state.tile_states[name], None, None, lr, rng, prepared)
    state.step += 1
    return loss
