"""CLI subcommands ``train`` (a network on MNIST / Fashion-MNIST) and ``data`` (dataset status / download).

``convergence train [--arch fcn|cnn] [--alg digital|asgd|tt] [--device softbounds|power|exp --tau T
--gamma-res G] [--mode expected|pulsed --dw-min D --bl N --c2c S] [--periphery none|p1|p2]
[--lr A --fast-lr B --epochs E --batch B --step-size K --step-gamma g] [--n-train N --n-test N]
[--dataset auto|mnist|fashion-mnist] [--data-dir DIR] [--checkpoint PATH [--resume]] [--seed S]
[--json]`` trains one of the papers' networks (:mod:`convergence.experiments.networks`) and prints the
test accuracy per epoch (tqdm bar on a terminal). Missing data is one error line (exit 2) that says
how to get it. ``convergence data [status|fetch-mnist] [--data-dir DIR]`` shows which datasets are
found or downloads MNIST (pinned hashes).
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from convergence._validate import ConfigError, json_text, output_file
from convergence.cli._args import SEED_MAX, float_arg, int_arg, path_arg

__all__ = ["add_parser", "run"]


def add_parser(sub: Any) -> None:
    """Register ``train`` and ``data`` on the main parser's subparsers."""
    p = sub.add_parser("train", help="train the papers' FCN/CNN on MNIST or Fashion-MNIST (digital/analog)",
                       description="Train the FCN 784-256-128-10 or the LeNet-like CNN of P1/P2 with digital SGD, "
                                   "Analog SGD or Tiki-Taka on a device, printing test accuracy per epoch.")
    p.add_argument("--arch", default="fcn", choices=["fcn", "cnn"],
                   help="network: fcn (784-256-128-10) or cnn (the LeNet-like CNN); default %(default)s")
    p.add_argument("--alg", default="digital", choices=["digital", "asgd", "tt"],
                   help="digital (digital SGD), asgd (Analog SGD) or tt (Tiki-Taka); default %(default)s")
    p.add_argument("--device", default="softbounds", choices=["softbounds", "power", "exp"],
                   help="response of the analog weights (asgd, tt): softbounds, power or exp; default %(default)s")
    p.add_argument("--tau", type=float_arg(0.0, strict_min=True), default=0.7,
                   help="dynamic-range radius τ of the device; default %(default)s")
    p.add_argument("--gamma-res", type=float_arg(0.0, strict_min=True), default=1.0,
                   help="γ_res of the power/exp response; default %(default)s")
    p.add_argument("--mode", default="expected", choices=["expected", "pulsed"],
                   help="analog update: expected (the first-order update) or pulsed (pulse trains); "
                        "default %(default)s")
    p.add_argument("--dw-min", type=float_arg(0.0, strict_min=True), default=1e-3,
                   help="pulse size Δw_min (pulsed mode); default %(default)s")
    p.add_argument("--bl", type=int_arg(1), default=31,
                   help="most pulses per weight and update (pulsed mode); default %(default)s")
    p.add_argument("--c2c", type=float_arg(0.0), default=0.0,
                   help="cycle-to-cycle noise σ_c (pulsed mode); default %(default)s")
    p.add_argument("--accumulate", default="signs", choices=["signs", "net"],
                   help="write the batch's up/down requests separately (signs, aihwkit-like drift) or its net "
                        "step (net); default %(default)s")
    p.add_argument("--periphery", default="none", choices=["none", "p1", "p2"],
                   help="periphery of the analog matrix-vector products: none (exact), p1 (P1's AIHWKit settings, "
                        "8-bit) or p2 (P2's Table 4: 7-bit DAC, 9-bit ADC); default %(default)s")
    p.add_argument("--columnwise", action="store_true", help="TT: transfer one column per mini-batch (P1)")
    p.add_argument("--lr", type=float_arg(0.0, strict_min=True), default=None,
                   help="learning rate α; default 0.1 digital, 0.05 analog (P1)")
    p.add_argument("--fast-lr", type=float_arg(0.0, strict_min=True), default=0.01,
                   help="TT rate β on P; default %(default)s")
    p.add_argument("--epochs", type=int_arg(1, 10**6), default=1,
                   help="passes over the training images; default %(default)s")
    p.add_argument("--batch", type=int_arg(1), default=None, help="mini-batch size; default 10 (FCN) / 8 (CNN)")
    p.add_argument("--step-size", type=int_arg(1), default=35,
                   help="multiply the learning rate by --step-gamma every this many epochs; default %(default)s")
    p.add_argument("--step-gamma", type=float_arg(0.0, strict_min=True), default=0.1,
                   help="factor of that learning-rate decay; default %(default)s")
    p.add_argument("--n-train", type=int_arg(1), default=None,
                   help="train on a random subset of this many images; default: all")
    p.add_argument("--n-test", type=int_arg(1), default=None,
                   help="test on a random subset of this many images; default: all")
    p.add_argument("--dataset", default="auto", choices=["auto", "mnist", "fashion-mnist"],
                   help="auto (MNIST if found, else Fashion-MNIST), mnist or fashion-mnist; default %(default)s")
    p.add_argument("--data-dir", type=path_arg(), default=None,
                   help="the only folder to look in for the IDX files (or its mnist/ or fashion-mnist/ "
                        "subfolder); default: $CONVERGENCE_DATA, the download cache, then Debian's Fashion-MNIST")
    p.add_argument("--checkpoint", type=path_arg(), default=None, metavar="PATH",
                   help="write PATH.npz + PATH.json every epoch")
    p.add_argument("--resume", action="store_true", help="continue from --checkpoint if it exists")
    p.add_argument("--seed", type=int_arg(0, SEED_MAX), default=0,
                   help="seed of the initial weights and of the training draws; default %(default)s")
    p.add_argument("--json", action="store_true",
                   help="print the history as JSON (non-finite values as null; status ok or diverged)")
    q = sub.add_parser("data", help="dataset status, or download MNIST (pinned hashes)",
                       description="Show where MNIST and Fashion-MNIST are found (status), or download MNIST "
                                   "with pinned hashes (fetch-mnist). Fashion-MNIST is not downloaded: install "
                                   "the Debian package dataset-fashion-mnist.")
    q.add_argument("action", nargs="?", default="status", choices=["status", "fetch-mnist"],
                   help="status or fetch-mnist; default %(default)s")
    q.add_argument("--data-dir", type=path_arg(), default=None,
                   help="status: the only folder to look in (default: $CONVERGENCE_DATA, the download cache "
                        "~/.cache/convergence, /usr/share/datasets/fashion-mnist); fetch-mnist: download into "
                        "its mnist/ subfolder (default: the download cache)")


def _setting(args: Any) -> dict[str, Any]:
    analog = args.alg != "digital"
    mode: dict[str, Any] = {"mode": "expected"}
    if args.mode == "pulsed":
        mode = {"mode": "pulsed", "dw_min": args.dw_min, "bl": args.bl, "c2c": args.c2c}
    return {"arch": args.arch, "alg": args.alg, "lr": args.lr if args.lr is not None else (0.05 if analog else 0.1),
            "fast_lr": args.fast_lr, "columnwise": args.columnwise, "accumulate": args.accumulate,
            "device": {"kind": args.device, "tau": args.tau, "gamma": args.gamma_res}, "mode": mode,
            "periphery": args.periphery, "epochs": args.epochs,
            "batch": args.batch or (10 if args.arch == "fcn" else 8), "step_size": args.step_size,
            "step_gamma": args.step_gamma}


def run(args: Any) -> int:
    from convergence.nn import data as _data
    if args.command == "data":
        if args.action == "fetch-mnist":
            if args.data_dir is not None and os.path.exists(args.data_dir) and not os.path.isdir(args.data_dir):
                raise ConfigError(f"--data-dir {args.data_dir} is not a folder (fetch-mnist downloads into its "
                                  "mnist/ subfolder)")
            print(_data.fetch_mnist(None if args.data_dir is None else os.path.join(args.data_dir, "mnist")))
            return 0
        found = _data.available(args.data_dir)
        for name, where in found.items():
            print(f"{name}: {where or 'not found'}")
        if not any(found.values()):
            print(_data.HOW_TO_GET)
        return 0
    from convergence.experiments import networks as E
    from convergence.nn.schedules import StepLR
    from convergence.nn.training import train
    if args.resume and not args.checkpoint:
        raise ConfigError("--resume needs --checkpoint")
    if args.checkpoint is not None:
        output_file("--checkpoint", args.checkpoint)
    setting = _setting(args)
    ds = _data.load_mnist_like(args.dataset, args.data_dir)
    for flag, n, have in (("--n-train", args.n_train, len(ds.y_train)), ("--n-test", args.n_test, len(ds.y_test))):
        if n is not None and n > have:   # a silent clamp would report a run on fewer images than asked
            raise ConfigError(f"{flag} {n} exceeds the {have} images of {ds.name} (allowed: 1 to {have})")
    name = ds.name
    xtr, ytr, xte, yte = _data.prepare(ds, n_train=args.n_train, n_test=args.n_test, flatten=True, seed=0)
    if setting["batch"] > len(xtr):
        raise ConfigError(f"--batch {setting['batch']} exceeds the {len(xtr)} training images "
                          f"(allowed: 1 to {len(xtr)})")
    if args.arch == "cnn":
        xtr, xte = xtr.reshape(-1, 1, 28, 28), xte.reshape(-1, 1, 28, 28)
    seed = np.random.SeedSequence(args.seed)
    model = E.build(setting, int(np.random.SeedSequence(seed.entropy, spawn_key=(0,)).generate_state(1)[0]))
    sched = StepLR(setting["lr"], setting["step_size"], setting["step_gamma"])
    # what else makes a run: resuming with another seed, data subset or batch size would splice two runs
    run_info = {"seed": args.seed, "dataset": name, "n_train": len(xtr), "n_test": len(xte),
                "batch": setting["batch"]}
    done = _check_resume(args.checkpoint, model, sched, run_info) if args.resume else 0

    def report(epoch: int, row: dict[str, Any]) -> None:
        if not args.json:
            acc = (f"test acc {100 * row['test_acc']:.2f} %" if _finite(row) else
                   "diverged (non-finite loss; no accuracy)")
            print(f"epoch {epoch + 1:3d}  lr {row['lr']:.4g}  train loss {row['train_loss']:.4f}  {acc}", flush=True)

    if not args.json:
        print(f"{args.arch.upper()} / {args.alg} on {name} ({len(xtr)} train, {len(xte)} test images)")
        if done >= args.epochs:
            print(f"nothing to train: the checkpoint already holds {done} epoch(s) of --epochs {args.epochs} "
                  "(raise --epochs to continue)", flush=True)
    with np.errstate(over="ignore", invalid="ignore"):   # a diverging run is reported by its status instead
        hist = train(model, xtr, ytr, xte, yte, epochs=args.epochs, batch_size=setting["batch"], schedule=sched,
                     seed=np.random.SeedSequence(seed.entropy, spawn_key=(1,)), checkpoint=args.checkpoint,
                     resume=args.resume, on_epoch=report, desc=E._label(setting), run_info=run_info)
    if args.json:
        print(json_text(history_json(name, setting, hist)))
    return 0


def _finite(row: dict[str, Any]) -> bool:
    return bool(np.isfinite(row["train_loss"]) and np.isfinite(row["test_loss"]))


def history_json(name: str, setting: dict[str, Any], hist: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` document: valid JSON (non-finite numbers become null), ``status`` ok or diverged,
    and no accuracy (null) for an epoch whose model produced a non-finite loss."""
    rows = {k: np.asarray(v, dtype=float) for k, v in hist.items() if k not in ("diverged", "test_correct")}
    bad = ~(np.isfinite(rows["train_loss"]) & np.isfinite(rows["test_loss"]))
    rows["test_acc"] = np.where(bad, np.nan, rows["test_acc"])
    diverged = bool(bad.any() or int(np.asarray(hist.get("diverged", 0))))
    clean = {k: [float(x) if np.isfinite(x) else None for x in v] for k, v in rows.items()}
    return {"dataset": name, "setting": setting, "status": "diverged" if diverged else "ok",
            **({"reason": "non-finite training or test loss"} if diverged else {}), **clean}


_RUN_FLAGS = {"seed": "--seed", "dataset": "--dataset/--data-dir", "n_train": "--n-train", "n_test": "--n-test",
              "batch": "--batch"}


def _check_resume(path: str, model: Any, sched: Any, run_info: dict[str, Any] | None = None) -> int:
    """Refuse a resume whose checkpoint is corrupt or was made with another configuration (naming it); returns the
    number of epochs the checkpoint holds (0 without one)."""
    from convergence.nn.checkpoint import checkpoint_exists, read_checkpoint, spec_differences, _jsonable
    if not checkpoint_exists(path):
        return 0
    doc, _ = read_checkpoint(path)
    diff = spec_differences(doc["model"], _jsonable(model.as_dict()))
    if diff:
        raise ConfigError(f"--resume: checkpoint {path} was made with a different --arch/--alg/--device/--mode/"
                          f"--periphery ({'; '.join(diff[:2])}); use another --checkpoint or the same options")
    saved = doc.get("meta", {}).get("run")
    if run_info is not None and isinstance(saved, dict):
        for key, flag in _RUN_FLAGS.items():
            if key in saved and saved[key] != run_info.get(key):
                raise ConfigError(f"--resume: checkpoint {path} was made with {flag} giving {key}={saved[key]!r}, "
                                  f"these options give {run_info.get(key)!r}; use the same options or another "
                                  f"--checkpoint")
    lrs = doc.get("meta", {}).get("history", {}).get("lr", [])
    for epoch, lr in enumerate(lrs):
        if not np.isclose(float(lr), sched(epoch), rtol=1e-12, atol=0.0):
            raise ConfigError(f"--resume: checkpoint {path} used lr {float(lr):g} in epoch {epoch + 1} but these "
                              f"options give {sched(epoch):g} (--lr/--step-size/--step-gamma differ)")
    return len(lrs)
