r"""The analog transfer-learning study (Fagbohungbe et al., arXiv 2505.11067) on the micro Swin.

Protocol (docs/theory/transfer-study.md#transfer-protocol, our stand-in for CIFAR-10 → CIFAR-100 subset, because no
CIFAR is
available offline here; CIFAR archives are used when ``CONVERGENCE_DATA`` holds them):

1. **Source task**, digital pretraining (AdamW, float32): Fashion-MNIST classes 0–4 (T-shirt,
   Trouser, Pullover, Dress, Coat) — or CIFAR-10 when ``$CONVERGENCE_DATA/cifar-10-python.tar.gz``
   (or the extracted ``cifar-10-batches-py``) exists. Weights cached as ``swin_pretrain-<key>.npz``
   (``allow_pickle=False``) in the figures run's cache folder (``data/cache`` unless ``--cache`` says
   otherwise; ``$CONVERGENCE_CACHE`` or ``data/cache`` outside the runner), key = digest of the model and
   pretraining configs and the data identity.
2. **Target task**: the new classes 5–9 (Sandal, Shirt, Sneaker, Bag, Ankle boot) relabelled 0–4,
   with ``n_per_class`` training images per class (a class-stratified subsample), tested on
   ``n_test`` images of those classes (CIFAR-100: the first five fine classes when present).
   The head is replaced by a fresh one; the whole network is fine-tuned by SGD: the analog
   layers (default: attention, MLP, head) by the algorithm under test, the rest digitally.
3. Algorithms: digital SGD, in-memory Analog SGD, TT-v2, c-TTv2, AGAD
   (:mod:`convergence.tile.transfer_family`), on soft-bounds devices (:class:`~convergence.swin.analog.AnalogSpec`).

Images: ``[0, 1]`` scaling, zero-padding 28 → 32, normalisation by the source-set mean/std.
A synthetic class-conditional texture task (:func:`synthetic_task`) keeps tests offline.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pathlib
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from convergence._alloc import tune_allocator
from convergence._validate import ConfigError
from convergence.sim import driver
from convergence.sim.driver import Minibatches
from convergence.swin import model as M
from convergence.swin.analog import AnalogSpec, TrainState, init_train_state, train_step, visible_params

Array = NDArray[Any]

__all__ = ["Task", "load_tasks", "synthetic_task", "pretrain", "pretrained", "finetune", "evaluate",
           "cache_path", "FinetuneConfig"]


@dataclass(frozen=True)
class Task:
    """A classification task: float32 images (N, C, H, W) and int labels."""

    name: str
    x_train: Array
    y_train: Array
    x_test: Array
    y_test: Array

    @property
    def n_classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max()) + 1)


def _subsample(x: Array, y: Array, per_class: int | None, rng: np.random.Generator) -> tuple[Array, Array]:
    if per_class is None:
        return x, y
    idx = []
    for c in np.unique(y):
        cand = np.flatnonzero(y == c)
        idx.append(np.sort(rng.permutation(cand)[:per_class]))
    sel = np.sort(np.concatenate(idx))
    return x[sel], y[sel]


def _pad_norm(x: Array, img: int, mean: float, std: float) -> Array:
    x = x.astype(np.float32) * np.float32(1 / 255)
    if x.ndim == 3:
        x = x[:, None]
    h = x.shape[-1]
    if h < img:
        lo = (img - h) // 2
        x = np.pad(x, ((0, 0), (0, 0), (lo, img - h - lo), (lo, img - h - lo)))
    return ((x - np.float32(mean)) / np.float32(std)).astype(np.float32)


def _cifar_path(name: str) -> pathlib.Path | None:
    root = os.environ.get("CONVERGENCE_DATA")
    if not root:
        return None
    stems = {"cifar-10": ("cifar-10-python.tar.gz", "cifar-10-batches-py"),
             "cifar-100": ("cifar-100-python.tar.gz", "cifar-100-python")}[name]
    for s in stems:
        p = pathlib.Path(root) / s
        if p.exists():
            return p
    return None


def load_tasks(*, n_per_class: int, n_test: int, n_source: int | None = None, n_source_test: int = 1000,
               seed: int = 0, target_classes: tuple[int, ...] | None = None) -> tuple[Task, Task, dict[str, Any]]:
    """Source and target tasks from real data (CIFAR if present, else Fashion-MNIST 0–4 → 5–9).

    ``target_classes``: the target subset, relabelled 0, 1, … in the given order (Fashion-MNIST: classes
    among 5–9, the ones the source task never saw; CIFAR-100: fine classes); None = all five (5–9, or
    CIFAR-100 fine classes 0–4). ``n_test`` test images are split evenly over the target classes.
    Raises :class:`convergence.nn.data.DataUnavailable` when no data set is found.
    """
    from convergence.nn import data as D

    rng = np.random.default_rng(seed)
    c10, c100 = _cifar_path("cifar-10"), _cifar_path("cifar-100")
    if c10 is not None and c100 is not None:
        src, tgt = D.load_cifar(c10), D.load_cifar(c100)
        gray = lambda a: a.mean(axis=1, keepdims=True).astype(np.uint8)  # noqa: E731 - 1 channel model
        xs, ys, xst, yst = gray(src.x_train), src.y_train, gray(src.x_test), src.y_test
        classes = (0, 1, 2, 3, 4) if target_classes is None else tuple(int(c) for c in target_classes)
        keep_t = np.isin(tgt.y_train, classes)
        keep_tt = np.isin(tgt.y_test, classes)
        xt, yt = gray(tgt.x_train[keep_t]), _relabel(tgt.y_train[keep_t], classes)
        xtt, ytt = gray(tgt.x_test[keep_tt]), _relabel(tgt.y_test[keep_tt], classes)
        fine = "0-4" if target_classes is None else _names(classes)
        info = {"source": f"CIFAR-10 ({c10})", "target": f"CIFAR-100 fine classes {fine} ({c100})", "img": 32}
    else:
        try:
            fm = D.load_mnist_like("fashion-mnist")
        except D.DataUnavailable as exc:   # name both sources the study can use, and the synthetic stand-in
            raise D.DataUnavailable(f"the transfer study needs Fashion-MNIST, or CIFAR-10 and CIFAR-100 in "
                                    f"${D.ENV_VAR}, and found neither. {exc} Or run it on synthetic gratings "
                                    "(`convergence transfer --synthetic`).") from None
        src_tr, src_te = fm.y_train < 5, fm.y_test < 5
        xs, ys, xst, yst = fm.x_train[src_tr], fm.y_train[src_tr], fm.x_test[src_te], fm.y_test[src_te]
        if target_classes is None:
            classes: tuple[int, ...] = (5, 6, 7, 8, 9)
            xt, yt = fm.x_train[~src_tr], fm.y_train[~src_tr] - 5
            xtt, ytt = fm.x_test[~src_te], fm.y_test[~src_te] - 5
            target = "Fashion-MNIST classes 5-9"
        else:
            classes = tuple(int(c) for c in target_classes)
            if not classes or any(c not in (5, 6, 7, 8, 9) for c in classes) or len(set(classes)) != len(classes):
                raise ConfigError(f"target_classes must be distinct Fashion-MNIST classes among 5-9, the ones the "
                                  f"source task never saw (got {list(target_classes)})")
            keep_t, keep_tt = np.isin(fm.y_train, classes), np.isin(fm.y_test, classes)
            xt, yt = fm.x_train[keep_t], _relabel(fm.y_train[keep_t], classes)
            xtt, ytt = fm.x_test[keep_tt], _relabel(fm.y_test[keep_tt], classes)
            target = f"Fashion-MNIST classes {_names(classes)}"
        info = {"source": f"Fashion-MNIST classes 0-4 ({fm.source})", "target": target, "img": 32}
    mean = float(xs.mean() / 255.0)
    std = float(xs.std() / 255.0)
    per_src = None if n_source is None else max(1, n_source // 5)
    xs, ys = _subsample(xs, ys, per_src, rng)
    xst, yst = _subsample(xst, yst, max(1, n_source_test // 5), rng)
    xt, yt = _subsample(xt, yt, n_per_class, rng)
    xtt, ytt = _subsample(xtt, ytt, max(1, n_test // len(classes)), rng)
    f = lambda a: _pad_norm(a, 32, mean, std)  # noqa: E731
    info.update(mean=mean, std=std, n_source=len(ys), n_target_train=len(yt), n_target_test=len(ytt))
    return (Task("source", f(xs), ys.astype(np.int64), f(xst), yst.astype(np.int64)),
            Task("target", f(xt), yt.astype(np.int64), f(xtt), ytt.astype(np.int64)), info)


def _relabel(y: Array, classes: tuple[int, ...]) -> Array:
    """Labels ``classes[i]`` → ``i``."""
    lut = np.full(int(max(classes)) + 1, -1, dtype=np.int64)
    lut[list(classes)] = np.arange(len(classes))
    return lut[y]


def _names(classes: tuple[int, ...]) -> str:
    return ",".join(str(c) for c in classes)


def synthetic_task(n_train: int, n_test: int, *, img: int = 16, classes: tuple[int, ...] = (0, 1, 2, 3, 4),
                   seed: int = 0, name: str = "synthetic") -> Task:
    """Class-conditional oriented gratings with noise (offline stand-in for tests).

    Class c is a grating of angle ``c·π/10`` and frequency ``1 + c mod 3`` cycles per 8 pixels,
    with random phase, contrast and additive N(0, 0.5²) noise; labels are relabelled 0..len−1.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:img, 0:img].astype(np.float32)

    def draw(n: int) -> tuple[Array, Array]:
        lab = rng.integers(0, len(classes), n)
        cls = np.asarray(classes)[lab]
        ang = cls * np.pi / 10
        freq = (1 + cls % 3) * 2 * np.pi / 8
        phase = rng.uniform(0, 2 * np.pi, n)
        u = (np.cos(ang)[:, None, None] * xx + np.sin(ang)[:, None, None] * yy) * freq[:, None, None]
        x = rng.uniform(0.5, 1.5, n)[:, None, None] * np.sin(u + phase[:, None, None])
        x = x + 0.5 * rng.standard_normal(x.shape)
        return x[:, None].astype(np.float32), lab.astype(np.int64)

    xtr, ytr = draw(n_train)
    xte, yte = draw(n_test)
    return Task(name, xtr, ytr, xte, yte)


# -- pretraining ---------------------------------------------------------------------------------

def evaluate(params: M.Params, task: Task, cfg: M.SwinConfig, batch: int = 256) -> float:
    """Test accuracy of ``params`` on ``task``."""
    return float((M.predict(params, task.x_test, cfg, batch) == task.y_test).mean())


def pretrain(cfg: M.SwinConfig, task: Task, *, epochs: int, lr: float = 2e-3, batch: int = 64,
             weight_decay: float = 0.05, seed: int = 0, progress: Callable[[str], None] | None = None) -> M.Params:
    r"""Digital AdamW pretraining (float32) with a cosine learning-rate decay.

    .. math:: m \leftarrow \beta_1 m + (1-\beta_1) g,\ v \leftarrow \beta_2 v + (1-\beta_2) g^2,\
              \theta \leftarrow \theta - \eta_t (\hat m/(\sqrt{\hat v}+\epsilon) + \lambda\theta_{\rm matrix})
    """
    tune_allocator()
    rng = np.random.default_rng(seed)
    p = M.init(cfg, rng)
    b1, b2, eps = 0.9, 0.999, 1e-8
    feed = Minibatches(len(task.y_train), batch, rng, drop_last=True)
    steps = epochs * feed.per_epoch
    last = {"loss": float("nan")}

    Adam = tuple[M.Params, M.Params, M.Params]   # (θ, m, v)

    def step(k: int, s: Adam) -> Adam:
        p, m, v2 = s
        idx = feed.batch(k)
        loss, g, _ = M.sharded_loss_and_grads(p, task.x_train[idx], task.y_train[idx], cfg)
        last["loss"] = loss
        t = k + 1
        eta = lr * 0.5 * (1 + np.cos(np.pi * (t - 1) / steps))
        new_p, new_m, new_v = {}, {}, {}
        for key in p:
            new_m[key] = b1 * m[key] + (1 - b1) * g[key]
            new_v[key] = b2 * v2[key] + (1 - b2) * g[key] * g[key]
            upd = (new_m[key] / (1 - b1 ** t)) / (np.sqrt(new_v[key] / (1 - b2 ** t)) + eps)
            if p[key].ndim == 2:
                upd = upd + weight_decay * p[key]
            new_p[key] = (p[key] - eta * upd).astype(np.float32)
        return new_p, new_m, new_v

    def report(k: int, s: Adam) -> None:
        if progress is not None:
            progress(f"pretrain epoch {k // feed.per_epoch}/{epochs}: loss {last['loss']:.3f}, source test acc "
                     f"{evaluate(s[0], task, cfg):.3f}")

    zeros = {k: np.zeros_like(v) for k, v in p.items()}
    p, _, _ = driver.run((p, zeros, dict(zeros)), step, steps, observe=report,
                         observe_at=set(feed.epoch_ends(epochs)), progress=False)
    return p


def cache_path(key: str, root: str | os.PathLike[str] | None = None) -> pathlib.Path:
    base = pathlib.Path(root) if root is not None else pathlib.Path(os.environ.get("CONVERGENCE_CACHE",
                                                                                   "data/cache"))
    return base / f"swin_pretrain-{key}.npz"


def _params_digest(params: M.Params) -> str:
    """SHA-256 over every array's name, dtype, shape and bytes (sorted by name)."""
    h = hashlib.sha256()
    for k in sorted(params):
        a = np.ascontiguousarray(params[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


_DIGEST_KEY = "__sha256__"


def load_cached_params(path: pathlib.Path, cfg: M.SwinConfig) -> tuple[M.Params | None, str]:
    """Verified parameters from a pretraining cache file, or ``(None, why)`` if it is unusable.

    The file stores a digest of its arrays (:func:`_params_digest`); a truncated, garbage or edited file,
    or one without the digest or with the wrong shapes, is reported, never used.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            params = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001 - any unreadable cache file is recomputed
        return None, f"unreadable ({type(exc).__name__})"
    stored = params.pop(_DIGEST_KEY, None)
    if stored is None or stored.shape != () or str(stored) != _params_digest(params):
        return None, "its digest does not match its contents (edited or corrupt)"
    ref = M.init(cfg, 0)
    if set(params) != set(ref) or any(params[k].shape != ref[k].shape for k in ref):
        return None, "its arrays do not match the model"
    return params, ""


def save_cached_params(path: pathlib.Path, params: M.Params) -> None:
    """Write the parameters and their digest atomically (temporary file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")   # per process: two runs sharing a cache never mix writes
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **params, **{_DIGEST_KEY: np.array(_params_digest(params))})
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def pretrained(cfg: M.SwinConfig, task: Task, pre: dict[str, Any], data_id: str, *,
               cache_root: str | os.PathLike[str] | None = None, progress: Callable[[str], None] | None = None,
               compute: Callable[[], M.Params] | None = None) -> tuple[M.Params, bool]:
    """Pretrained parameters from the npz cache (``allow_pickle=False``) or by :func:`pretrain`.

    Returns ``(params, from_cache)``. The key digests the model config, ``pre`` and ``data_id``. A cache
    file that fails its self-check (:func:`load_cached_params`) is recomputed and replaced, with a
    note through ``progress``. ``compute`` (default: :func:`pretrain` here) runs the pretraining
    elsewhere, e.g. as one task on a worker; it must return what :func:`pretrain` returns.
    """
    key = hashlib.sha256(json.dumps({"model": cfg.as_dict(), "pre": pre, "data": data_id},
                                    sort_keys=True).encode()).hexdigest()[:16]
    path = cache_path(key, cache_root)
    if path.exists():
        params, why = load_cached_params(path, cfg)
        if params is not None:
            return params, True
        if progress is not None:
            progress(f"pretraining cache {path} is not usable ({why}); recomputing it")
    params = pretrain(cfg, task, progress=progress, **pre) if compute is None else compute()
    save_cached_params(path, params)
    return params, False


# -- fine-tuning -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FinetuneConfig:
    """Fine-tuning schedule: plain SGD at constant ``lr`` for ``epochs`` over the target set."""

    epochs: int = 5
    batch: int = 32
    lr: float = 0.05
    analog: tuple[str, ...] | None = None
    """Analog layer names (None = attention + MLP projections + head)."""

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["analog"] = None if self.analog is None else list(self.analog)
        return d


def finetune(params: M.Params, cfg: M.SwinConfig, task: Task, spec: AnalogSpec | None, ft: FinetuneConfig,
             seed: np.random.SeedSequence | int, *, new_head: bool = True, curve: bool = True) -> dict[str, Any]:
    """Fine-tune ``params`` on ``task`` with the algorithm of ``spec`` (None/``digital`` = digital SGD).

    Returns ``acc`` (test accuracy after each epoch, (epochs,)), ``loss`` (mean training loss per
    epoch), ``seconds`` and ``images_per_s``. Streams: data order, head init and device draws
    come from independent children of ``seed``.

    ``curve=False`` asks for the final accuracy only: the earlier epochs' entries of ``acc`` are NaN and
    their test passes are skipped (a third of a digital epoch's cost each). A test pass draws nothing
    except through a forward periphery, whose noise stream the training steps share; with one
    (``state.io_rng``) every epoch is still evaluated, so that the result never depends on ``curve``.
    """
    tune_allocator()
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    r_order, r_head, r_dev, r_upd = (np.random.default_rng(np.random.SeedSequence(ss.entropy,
                                     spawn_key=tuple(ss.spawn_key) + (k,))) for k in range(4))
    p = {k: np.array(v, copy=True) for k, v in params.items()}
    ccfg = dataclasses.replace(cfg, n_classes=task.n_classes)
    if new_head or p["head.w"].shape[0] != task.n_classes:
        fresh = M.init(ccfg, r_head)
        p["head.w"], p["head.b"] = fresh["head.w"], fresh["head.b"]
    state = init_train_state(p, ccfg, spec, None if ft.analog is None else list(ft.analog), ft.batch, r_dev)
    feed = Minibatches(len(task.y_train), ft.batch, r_order, drop_last=True)
    nb = feed.per_epoch
    accs, losses = [], []

    def step(k: int, total: float) -> float:   # the driver's state: the epoch's loss sum
        idx = feed.batch(k)
        return (0.0 if k % nb == 0 else total) + train_step(state, task.x_train[idx], task.y_train[idx], ft.lr, r_upd)

    steps = ft.epochs * nb                   # also the observation after the final epoch
    skip = not curve and state.io_rng is None

    def end_of_epoch(k: int, total: float) -> None:
        losses.append(total / nb)
        accs.append(np.nan if skip and k != steps else evaluate(visible_params(state), task, ccfg))

    t0 = time.perf_counter()
    driver.run(0.0, step, steps, observe=end_of_epoch, observe_at=set(feed.epoch_ends(ft.epochs)),
               progress=False)
    sec = time.perf_counter() - t0
    return {"acc": np.asarray(accs), "loss": np.asarray(losses), "seconds": sec,
            "images_per_s": ft.epochs * nb * ft.batch / sec, "state": state}


_unused = (ConfigError, TrainState)
