r"""Fine-tuning with an analog last layer: the scaled-down form of P1 Table 2 and P2 Tables 1, 5 and 6.

The papers take an ImageNet-pretrained ResNet or MobileNet, replace its last fully connected layer
by an analog one and fine-tune on CIFAR-10/100; every other layer stays digital. Here, on 2 cores and
the data the toolkit can load (MNIST or Fashion-MNIST, 28×28):

1. **Pretraining** (the stand-in for ImageNet): a small backbone (:func:`~convergence.nn.resnet.resnet_small`
   or :func:`~convergence.nn.resnet.mobilenet_small`) is trained digitally on the *source* classes
   (by default 0–4).
2. **Fine-tuning** on the *target* classes (5–9), which the backbone never saw: the backbone is
   frozen (the papers fine-tune it digitally at a tenth of the rate; freezing isolates the analog
   layer and makes the features one fixed matrix), its pooled features are standardised on the
   training set, and the last layer ``logits = s·(W x) + b`` is trained with a matrix algorithm of
   :mod:`convergence.tile.transfer_family` on the given device: ``W`` on the device (device units),
   ``s = 1/τ`` a fixed digital output scale (so network weights in (−1, 1) map onto the device range,
   aihwkit's weight scaling), ``b`` a digital bias.

All repeats of one head algorithm run as the trials axis of one step loop (different initial heads
and mini-batch orders per trial), through the library's step driver.

Head algorithms (``HEADS``): ``digital`` (the tile SGD on an :class:`~convergence.physics.devices.Ideal`
device, which is exactly digital SGD), ``asgd`` (Analog SGD on the tile), ``tt`` (Tiki-Taka / residual
learning, every column transferred each step, mixing γ), ``ttv2`` and ``rlv2`` (P2 §5). Analog writes are
pulsed (stochastic rounding to ``dw_min``, at most ``bl`` pulses per element and step): without the cap an
expected-mode step of a fine-tuning rate overshoots a τ = 0.1 device's range.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from convergence._validate import ConfigError
from convergence.nn.losses import nll_loss
from convergence.nn.model import Sequential
from convergence.nn.resnet import mobilenet_small, resnet_small
from convergence.nn.schedules import StepLR
from convergence.nn.training import train
from convergence.physics.devices import Ideal
from convergence.physics.pulses import Expected, Pulsed
from convergence.sim import driver
from convergence.tile.transfer_family import analog_sgd_tile, rlv2, ttv1, ttv2

__all__ = ["HEADS", "BACKBONES", "split_classes", "pretrain", "features", "head_algorithm", "train_head"]

HEADS = ("digital", "asgd", "tt", "ttv2", "rlv2")
BACKBONES = {"resnet": resnet_small, "mobilenet": mobilenet_small}


def split_classes(x: np.ndarray, y: np.ndarray, classes: Any) -> tuple[np.ndarray, np.ndarray]:
    """The images of ``classes``, labels renumbered 0..len(classes) − 1 in the given order."""
    classes = list(classes)
    mask = np.isin(y, classes)
    lut = np.full(int(max(classes)) + 1, -1)
    lut[classes] = np.arange(len(classes))
    return x[mask], lut[y[mask]]


def pretrain(arch: str, x: np.ndarray, y: np.ndarray, n_classes: int, *, epochs: int, batch: int, lr: float,
             seed: np.random.SeedSequence) -> Sequential:
    """A backbone with a head trained digitally on (x, y) (the source task)."""
    if arch not in BACKBONES:
        raise ConfigError(f"backbone must be one of {', '.join(BACKBONES)} (got {arch!r})")
    s_init, s_train = seed.spawn(2)
    model = BACKBONES[arch](n_classes=n_classes, seed=s_init)
    train(model, x, y, x[:1], y[:1], epochs=epochs, batch_size=batch, schedule=lr, seed=s_train, progress=False,
          loss_fn=nll_loss)
    return model


def features(model: Sequential, x: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Pooled features of ``x``: the model's layers up to and including ``pool`` (forward only)."""
    stop = model.names.index("pool") + 1
    out = []
    for i in range(0, len(x), batch):
        h = x[i:i + batch]
        for layer in model.layers[:stop]:
            h = layer.forward(h, False)
        out.append(np.asarray(h, dtype=np.float64))
    return np.concatenate(out)


def head_algorithm(name: str, device: Any, cfg: dict[str, Any]) -> Any:
    """The head's matrix algorithm from ``cfg``: ``lr`` (the SGD step of ``asgd``; the transfer rate of ``tt`` and
    ``ttv2``), ``fast_lr`` (the rate on the fast array, aihwkit ``fast_lr``), ``gamma_tt`` (mixing γ of ``tt``
    and ``rlv2``), ``rl_beta`` (RL-v2's buffer rate β), ``granularity`` (δ of the arrays); expected-mode updates."""
    a, b, g = float(cfg["lr"]), float(cfg["fast_lr"]), float(cfg["gamma_tt"])
    # pulsed writes: at most bl pulses of dw_min per element and step, as aihwkit's pulse trains cap them
    mode = Pulsed(float(cfg["dw_min"]), int(cfg["bl"]))
    if name == "digital":
        return analog_sgd_tile(float(cfg["lr_digital"]), Ideal(), mode=Expected(), accumulate="net")
    if name == "asgd":
        return analog_sgd_tile(a, device, mode=mode, accumulate="net")
    if name == "tt":
        return ttv1(b, device, mode=mode, transfer_lr=a, n_reads=None, gamma=g, accumulate="net")
    if name == "ttv2":
        return ttv2(b, device, mode=mode, transfer_lr=a, n_reads=None, accumulate="net")
    if name == "rlv2":
        return rlv2(b, device, beta=float(cfg["rl_beta"]), gamma=g, mode=mode, accumulate="net")
    raise ConfigError(f"head algorithm must be one of {', '.join(HEADS)} (got {name!r})")


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def train_head(name: str, device: Any, f_train: np.ndarray, y_train: np.ndarray, f_test: np.ndarray,
               y_test: np.ndarray, cfg: dict[str, Any], seed: np.random.SeedSequence, *,
               w0: np.ndarray | None = None, b0: np.ndarray | None = None,
               record_correct: bool = False) -> Any:
    """Test accuracy (trials, epochs) of the analog head ``name`` on fixed features, ``cfg["repeats"]`` trials;
    with ``record_correct`` also which test samples each trial classifies correctly after the last epoch, as
    ``(acc, correct)`` with ``correct`` (trials, n_test) bool (for errors paired over the shared test set).

    ``cfg``: ``lr``, ``lr_digital``, ``fast_lr``, ``gamma_tt``, ``epochs``, ``batch``, ``repeats``,
    ``step_size``/``step_gamma`` (StepLR on the optimizer lr, per epoch), ``tau`` (the device's τ, for the
    output scale s = 1/τ). ``w0`` (trials, classes, features) in network units and ``b0`` (trials, classes)
    replace the random initial head (torch's ``Linear`` initialisation).
    """
    T, B, E = int(cfg["repeats"]), int(cfg["batch"]), int(cfg["epochs"])
    n, F = f_train.shape
    C = int(max(y_train.max(), y_test.max())) + 1
    steps_per_epoch = n // B
    if steps_per_epoch < 1:
        raise ConfigError(f"batch {B} is larger than the {n} training samples")
    s_init, s_order, s_alg = seed.spawn(3)
    rng_init = np.random.default_rng(s_init)
    scale = 1.0 / float(cfg["tau"])
    bound = 1.0 / math.sqrt(F)                                   # torch's Linear init, in network units
    w_net = rng_init.uniform(-bound, bound, (T, C, F)) if w0 is None else np.asarray(w0, float)
    bias = rng_init.uniform(-bound, bound, (T, C)) if b0 is None else np.array(b0, float)
    if w_net.shape != (T, C, F) or bias.shape != (T, C):
        raise ConfigError(f"w0 must have shape {(T, C, F)} and b0 {(T, C)} (got {w_net.shape}, {bias.shape})")
    w0 = w_net / scale
    alg = head_algorithm(name, device, cfg)
    state = alg.init(w0)
    order = np.random.default_rng(s_order)
    perms = np.argsort(order.random((E, T, n)), axis=-1)         # one shuffle per epoch and trial
    sched = StepLR(1.0, int(cfg["step_size"]), float(cfg["step_gamma"]))
    rng = np.random.default_rng(s_alg)
    onehot = np.eye(C)[y_train]
    acc = np.zeros((T, E))
    correct = np.zeros((T, len(y_test)), dtype=bool)

    def step(k: int, st: Any) -> Any:
        nonlocal bias
        e, j = divmod(k, steps_per_epoch)
        idx = perms[e, :, j * B:(j + 1) * B]                       # (T, B)
        x = f_train[idx]                                           # (T, B, F)
        w = alg.query(st)                                          # (T, C, F) device units
        z = scale * np.einsum("tcf,tbf->tbc", w, x) + bias[:, None, :]
        p = np.exp(_log_softmax(z))
        d = (p - onehot[idx]) / B                                  # ∂(mean CE)/∂z, (T, B, C)
        lr_mult = sched(e)
        bias = bias - float(cfg["lr_digital"] if name == "digital" else cfg["lr"]) * lr_mult * d.sum(axis=1)
        return alg.step(st, x, scale * d, rng=rng, lr=lr_mult)

    def observe(k: int, st: Any) -> None:
        if k == 0 or k % steps_per_epoch:
            return
        w = alg.query(st)
        z = scale * np.einsum("tcf,nf->tnc", w, f_test) + bias[:, None, :]
        hit = z.argmax(axis=-1) == y_test[None]
        acc[:, k // steps_per_epoch - 1] = hit.mean(axis=1)
        correct[...] = hit                                         # the last observation stays

    driver.run(state, step, E * steps_per_epoch, observe=observe, observe_at=range(steps_per_epoch,
                                                                                     E * steps_per_epoch + 1,
                                                                                     steps_per_epoch))
    return (acc, correct) if record_correct else acc
