"""``convergence transfer``: the analog transfer-learning study on the micro Swin.

Pretrains (or loads from ``data/cache``) a digital micro Swin on the source task, fine-tunes it on
the target task with digital SGD, Analog SGD, TT-v2, c-TTv2 and AGAD and runs the device sweeps of
the chosen scale; prints the results table (mean ± standard error over seeds) and optionally saves
the arrays (``--out FILE.npz``).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

from convergence._validate import output_file
from convergence.cli._args import SEED_MAX, int_arg

SEED = 20250516


def add_parser(sub: Any) -> None:
    p = sub.add_parser("transfer", help="analog transfer-learning study on a NumPy micro Swin",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=["quick", "default", "paper"], default="quick")
    p.add_argument("--seed", type=int_arg(0, SEED_MAX), default=SEED)
    p.add_argument("--synthetic", action="store_true", help="synthetic gratings instead of Fashion-MNIST/CIFAR")
    p.add_argument("--out", default=None, help="save the result arrays to this .npz (checked before the study runs)")
    p.add_argument("--quiet", action="store_true")


def run(args: argparse.Namespace) -> int:
    from convergence.swin import runner as R

    if args.out is not None:
        output_file("--out", args.out, ("npz",))

    t0 = time.perf_counter()
    say = (lambda s: None) if args.quiet else (lambda s: print(f"[{time.perf_counter() - t0:6.1f}s] {s}",
                                                                 file=sys.stderr, flush=True))
    data = R.run_study(R.SCALES[args.scale], np.random.SeedSequence(args.seed), synthetic=args.synthetic,
                       progress=say)
    print(f"data: {data['data'][0]} -> {data['data'][1]}; source acc {float(data['source_acc']):.3f}")
    print("\n".join(R.summarize(data)))
    if args.out:
        np.savez(args.out, **data)
    return 0
