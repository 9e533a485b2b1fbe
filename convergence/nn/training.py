"""Minibatch training loop: shuffle, forward, loss, backward, update; evaluation per epoch.

:func:`train` runs ``epochs`` epochs of SGD-style updates with the epoch's learning rate from a
schedule (:mod:`convergence.nn.schedules`) through the library's step driver
(:func:`convergence.sim.driver.run` fed by :class:`~convergence.sim.driver.Minibatches`), evaluates
test accuracy after each epoch (the driver's observation points), shows a tqdm progress bar (only
on a terminal unless ``progress`` says otherwise), stops after an epoch whose training loss is not
finite, and optionally writes a checkpoint after every epoch (:mod:`convergence.nn.checkpoint`;
``resume=True`` continues from it).
All randomness (shuffling, pulses, periphery noise) comes from Generators seeded by ``seed``.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
from numpy.typing import NDArray

from convergence._alloc import tune_allocator
from convergence._validate import ConfigError, non_negative, positive_int
from convergence.rng import as_seed_sequence, child
from convergence.nn.checkpoint import checkpoint_exists, load_checkpoint, save_checkpoint
from convergence.nn.losses import nll_loss
from convergence.nn.model import Sequential
from convergence.nn.schedules import Constant, Schedule
from convergence.nn._threads import blas_threads
from convergence.sim import driver
from convergence.sim.driver import Minibatches

Array = NDArray[Any]

__all__ = ["train", "evaluate", "evaluate_samples", "train_step"]

#: stream purposes of the training loop (never renumber)
SHUFFLE, UPDATE = 0, 1


def train_step(model: Any, x: Array, y: Array, lr: float, rng: Any = None,
               loss_fn: Callable[[Array, Array], tuple[float, Array]] = nll_loss) -> float:
    """One forward/backward/update on a batch; returns the batch loss.

    ``lr`` is a finite number >= 0 (0: no update); ``y`` holds integer class labels (see
    :func:`~convergence.nn.losses.nll_loss`); the batch has at least one sample.
    """
    if not (type(lr) is float and 0.0 <= lr < math.inf):    # O(1): the usual float rate passes at once
        non_negative("lr", lr)
    if len(x) == 0:
        raise ConfigError("train_step needs a batch of at least one sample (got an empty batch)")
    out = model.forward(x, True)
    loss, g = loss_fn(out, y)
    g = g.astype(out.dtype, copy=False)
    if isinstance(model, Sequential):
        model.backward(g, input_grad=False)   # the data need no gradient: no first-layer backward MVM
    else:
        model.backward(g)
    model.step(lr, rng)
    return loss


def evaluate_samples(model: Any, x: Array, y: Array, batch: int = 1000,
                     loss_fn: Callable[[Array, Array], tuple[float, Array]] = nll_loss) -> tuple[float, Array]:
    """(mean loss, per-sample correctness ``argmax f(x_n) == y_n`` as a bool array (n,)) over ``x, y``,
    in batches (forward only). The per-sample record lets two models evaluated on the same test set
    be compared pairwise (:func:`convergence.experiments.networks.paired_difference`)."""
    n = len(x)
    if n == 0:
        raise ConfigError("evaluate needs at least one sample")
    if len(y) != n:
        raise ConfigError(f"evaluate needs one label per sample (got {n} samples and {len(y)} labels)")
    batch = positive_int("batch", batch)
    tot_loss = 0.0
    correct = np.empty(n, dtype=bool)
    for i in range(0, n, batch):
        out = model.forward(x[i:i + batch], False)
        loss, _ = loss_fn(out, y[i:i + batch])
        tot_loss += loss * len(out)
        correct[i:i + len(out)] = np.argmax(out, axis=-1) == y[i:i + batch]
    return tot_loss / n, correct


def evaluate(model: Any, x: Array, y: Array, batch: int = 1000,
             loss_fn: Callable[[Array, Array], tuple[float, Array]] = nll_loss) -> tuple[float, float]:
    """(mean loss, accuracy) over ``x, y`` in batches (forward only)."""
    loss, correct = evaluate_samples(model, x, y, batch, loss_fn)
    return loss, float(np.count_nonzero(correct)) / len(correct)


def train(model: Any, x_train: Array, y_train: Array, x_test: Array, y_test: Array, *, epochs: int,
          batch_size: int, schedule: Schedule | float, seed: int | np.random.SeedSequence = 0,
          progress: bool | None = None, checkpoint: str | None = None, resume: bool = False,
          loss_fn: Callable[[Array, Array], tuple[float, Array]] = nll_loss, eval_batch: int = 1000,
          on_epoch: Callable[[int, dict[str, Any]], None] | None = None, desc: str = "train",
          record_correct: bool = False, run_info: dict[str, Any] | None = None) -> dict[str, Array]:
    """Train ``model`` and return the history arrays.

    Returns:
        ``{"epoch", "lr", "train_loss", "test_loss", "test_acc"}`` (one entry per epoch; accuracy in
        [0, 1]), plus ``"diverged"`` (1 if a non-finite loss stopped training early) and, with
        ``record_correct``, ``"test_correct"`` (epochs, n_test) bool: which test samples each epoch's
        model classifies correctly (not kept across a ``resume``: the arrays are not checkpointed).
        ``run_info`` (JSON values, e.g. the seed and data subset) is stored in every checkpoint under
        ``run`` so a resume can be checked against the run that wrote it.
    """
    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    eval_batch = positive_int("eval_batch", eval_batch)
    tune_allocator()   # the analog steps' large temporaries: reuse heap blocks instead of fresh mmap pages
    sched = Constant(schedule) if isinstance(schedule, (int, float)) else schedule
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ConfigError("inputs and labels must have the same length")
    seed = as_seed_sequence(seed)
    shuffle_rng = np.random.default_rng(child(seed, SHUFFLE))
    update_rng = np.random.default_rng(child(seed, UPDATE))
    hist: dict[str, list[float]] = {"epoch": [], "lr": [], "train_loss": [], "test_loss": [], "test_acc": []}
    correct_epochs: list[Array] = []
    start = 0
    if resume and checkpoint is not None and checkpoint_exists(checkpoint):
        # a missing checkpoint starts afresh; a corrupt, torn or mismatched one is refused (never overwritten)
        meta = load_checkpoint(checkpoint, model, update_rng)
        if meta is not None:
            hist = {k: list(v) for k, v in meta["history"].items()}
            start = int(meta["epoch"]) + 1
            shuffle_rng.bit_generator.state = meta["shuffle_rng"]
    n = len(x_train)
    feed = Minibatches(n, batch_size, shuffle_rng)
    steps = feed.per_epoch
    recorded = len(hist["epoch"])

    # the driver's state is the epoch's running loss sum (the model is the imperative shell)
    def step(k: int, total: float) -> float:
        idx = feed.batch(k)
        loss = train_step(model, x_train[idx], y_train[idx], sched(start + k // steps), update_rng, loss_fn)
        return (0.0 if k % steps == 0 else total) + loss * len(idx)

    def end_of_epoch(k: int, total: float) -> None:
        epoch = start + k // steps - 1
        test_loss, correct = evaluate_samples(model, x_test, y_test, eval_batch, loss_fn)
        test_acc = float(np.count_nonzero(correct)) / len(correct)
        if record_correct:
            correct_epochs.append(correct)
        for key, v in (("epoch", epoch), ("lr", sched(epoch)), ("train_loss", total / n), ("test_loss", test_loss),
                       ("test_acc", test_acc)):
            hist[key].append(float(v))
        if checkpoint is not None:
            save_checkpoint(checkpoint, model, {"epoch": epoch, "history": hist,
                                                "shuffle_rng": shuffle_rng.bit_generator.state,
                                                **({"run": run_info} if run_info is not None else {})},
                            update_rng)
        if on_epoch is not None:
            on_epoch(epoch, {key: v[-1] for key, v in hist.items()})

    def diverging(k: int, total: float) -> bool:
        return not np.isfinite(total / n)

    with blas_threads(1):  # batch-10 GEMMs are far faster single-threaded
        driver.run(0.0, step, (epochs - start) * steps, observe=end_of_epoch,
                   observe_at=set(feed.epoch_ends(epochs - start)), stop=diverging, progress=progress,
                   unit="batch", desc=desc)
    diverged = len(hist["epoch"]) > recorded and not np.isfinite(hist["train_loss"][-1])
    out = {k: np.asarray(v, dtype=float) for k, v in hist.items()}
    out["diverged"] = np.asarray(int(diverged))
    if record_correct:
        out["test_correct"] = (np.stack(correct_epochs) if correct_epochs
                               else np.zeros((0, len(x_test)), dtype=bool))
    return out
