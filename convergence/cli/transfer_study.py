"""``convergence transfer``: the analog transfer-learning study on the micro Swin.

Pretrains (or loads from ``data/cache``) a digital micro Swin on the source task, fine-tunes it on
the target task with digital SGD, Analog SGD, TT-v2, c-TTv2 and AGAD and runs the device sweeps of
the chosen scale; prints the results table (mean ± standard error over seeds) and optionally saves
the arrays (``--out FILE.npz``).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

import numpy as np

from convergence._validate import available_memory, check_memory, format_bytes, output_dir, output_file
from convergence.cli._args import SEED_MAX, int_arg, path_arg, size_arg

SEED = 20250516


def add_parser(sub: Any) -> None:
    p = sub.add_parser("transfer", help="analog transfer-learning study on a NumPy micro Swin",
                       description=__doc__.replace("``", ""), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=["quick", "default", "long", "paper"], default="quick",
                   help="study size: quick, default, long or paper; default %(default)s")
    p.add_argument("--seed", type=int_arg(0, SEED_MAX), default=SEED, help="root seed; default %(default)s")
    p.add_argument("--synthetic", action="store_true",
                   help="synthetic gratings instead of real data (Fashion-MNIST, or CIFAR-10 and CIFAR-100)")
    p.add_argument("--out", type=path_arg(), default=None,
                   help="save the result arrays to this .npz (checked before the study runs)")
    p.add_argument("--quiet", action="store_true", help="print only the results (no first line, no progress on stderr)")
    p.add_argument("--max-memory", type=size_arg(), default=None, metavar="SIZE",
                   help="refuse a study estimated to need more than SIZE (e.g. 2G; default: available memory)")


def study_bytes(cfg: dict[str, Any], synthetic: bool) -> float:
    """Estimated peak bytes of :func:`convergence.swin.runner.run_study` at one scale config.

    The process; the data set as loaded (Fashion-MNIST: 70000 28x28 bytes and their float copies, about
    270 MiB measured; CIFAR-10 + CIFAR-100: 2 x 60000 x 3072 bytes plus float64 grey conversions); the
    float32 task images, source and target, train and test, at img x img; and the training activations
    (batch x tokens x embed x blocks, about 64 floats each for attention, MLP and their gradients) of the widest
    model (the main one or a variant's).
    """
    from convergence.experiments.costs import MAIN_PROCESS_BYTES
    from convergence.swin.study import _cifar_path

    m = cfg["model"]
    img = int(m["img"])
    n_img = int(cfg["n_source"]) + int(cfg["n_source_test"]) + 5 * int(cfg["n_per_class"]) + int(cfg["n_test"])
    tasks = 4.0 * img * img * n_img * 2
    if synthetic:
        data = 0.0
    elif _cifar_path("cifar-10") is not None and _cifar_path("cifar-100") is not None:   # as load_tasks decides
        data = 2 * 60000 * 3072 * (1.0 + 8.0 / 3)
    else:
        data = 70000 * 784 * (1.0 + 4.0)
    batch = max(int(cfg["pretrain"]["batch"]), int(cfg["finetune"]["batch"]))
    act = 0.0
    for mm in [m] + [v["model"] for v in (cfg.get("variants") or {}).values() if "model" in v]:   # the widest model
        tokens = (int(mm["img"]) // int(mm["patch"])) ** 2
        act = max(act, 4.0 * 64 * batch * tokens * int(mm["embed"]) * sum(mm["depths"]) * 2 ** (len(mm["depths"]) - 1))
    return MAIN_PROCESS_BYTES + data + tasks + act


def run(args: argparse.Namespace) -> int:
    from convergence.swin import runner as R

    if args.out is not None:
        output_file("--out", args.out, ("npz",))
    cache = os.environ.get("CONVERGENCE_CACHE")   # checked now, not after the pretraining it would store
    output_dir("CONVERGENCE_CACHE", cache if cache else "data/cache")
    cfg = R.SCALES[args.scale]
    limit = args.max_memory if args.max_memory is not None else available_memory()
    need = study_bytes(cfg, args.synthetic)
    if need > limit:   # name the largest setting that fits
        options = [(f"--scale {s}" + (" --synthetic" if syn else ""), study_bytes(R.SCALES[s], syn))
                   for syn in sorted({args.synthetic, True}) for s in R.SCALES]
        fits = sorted((b, o) for o, b in options if b <= limit)
        check_memory(f"transfer at scale {args.scale}", need, limit=args.max_memory,
                     hint=f"use {fits[-1][1]}" if fits else "free memory or raise --max-memory")

    t0 = time.perf_counter()
    say = (lambda s: None) if args.quiet else (lambda s: print(f"[{time.perf_counter() - t0:6.1f}s] {s}",
                                                                 file=sys.stderr, flush=True))
    if not args.quiet:   # on stdout, like figures' first line: stderr stays one line when the data is refused
        print(f"transfer: scale {args.scale}{' (synthetic data)' if args.synthetic else ''}, estimated peak memory "
              f"{format_bytes(need)}", flush=True)
    data = R.run_study(cfg, np.random.SeedSequence(args.seed), synthetic=args.synthetic,
                       progress=say)
    print(f"data: {data['data'][0]} -> {data['data'][1]}; source acc {float(data['source_acc']):.3f}")
    print("\n".join(R.summarize(data)))
    if args.out:
        np.savez(args.out, **data)
    return 0
