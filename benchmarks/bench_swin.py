"""Micro-Swin training-step benchmark: NumPy (digital and every analog algorithm) vs PyTorch CPU.

One step = forward + backward + update on a batch of 128 float32 images (1×32×32), the micro
config of docs/theory/transfer-study.md#micro-swin (~135k parameters). PyTorch is never a dependency: when a Python with
torch is given (``--torch-python``, env ``TORCH_PYTHON``, or ``/tmp/torchvenv/bin/python``), the
identical architecture (same layer shapes, window/shifted attention with relative bias and mask,
patch merging, SGD update) is timed there in a subprocess with the same thread count.

``--clock cpu`` times with the process's CPU time (all threads) instead of the wall clock; on an
oversubscribed machine run it with one BLAS thread (``OPENBLAS_NUM_THREADS=1``), where spinning BLAS
threads would otherwise be counted.

The NumPy models step in turn on the same mini-batch (:func:`time_interleaved`; ``--data task`` gives them a fresh
class-conditional batch every step, as a fine-tune does).

Usage: ``python benchmarks/bench_swin.py [--steps 10] [--threads 2] [--clock cpu] [--data noise|task]
[--algorithms digital,sgd,...]``
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

TORCH_SCRIPT = r'''
import sys, time, json, torch, torch.nn as nn, torch.nn.functional as F
threads, steps, batch = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
M, C0 = 4, 32
def rel_index(m):
    r, c = torch.meshgrid(torch.arange(m), torch.arange(m), indexing="ij")
    r, c = r.flatten(), c.flatten()
    return (r[:, None] - r[None] + m - 1) * (2 * m - 1) + (c[:, None] - c[None] + m - 1)
def part(x, m):
    b, h, w, c = x.shape
    return x.view(b, h // m, m, w // m, m, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, m * m, c)
def rev(x, m, b, h, w):
    return x.view(b, h // m, w // m, m, m, -1).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, -1)
def mask(res, m, s):
    lab = torch.zeros(1, res, res, 1); k = 0
    for a in (slice(0, -m), slice(-m, -s), slice(-s, None)):
        for bb in (slice(0, -m), slice(-m, -s), slice(-s, None)):
            lab[:, a, bb] = k; k += 1
    w = part(lab, m)[..., 0]
    return (w[:, :, None] != w[:, None, :]).float() * -100.0
class Block(nn.Module):
    def __init__(s, c, h, m, res, shift):
        super().__init__(); s.h, s.m, s.shift = h, m, shift
        s.n1, s.n2 = nn.LayerNorm(c), nn.LayerNorm(c)
        s.qkv, s.proj = nn.Linear(c, 3 * c), nn.Linear(c, c)
        s.fc1, s.fc2 = nn.Linear(c, 4 * c), nn.Linear(4 * c, c)
        s.rpb = nn.Parameter(torch.zeros((2 * m - 1) ** 2, h))
        s.register_buffer("idx", rel_index(m)); s.register_buffer("mask", mask(res, m, shift) if shift else None)
    def forward(s, x):
        b, r, _, c = x.shape; h = s.n1(x)
        if s.shift: h = torch.roll(h, (-s.shift, -s.shift), (1, 2))
        w = part(h, s.m); bn, t, _ = w.shape
        q, k, v = s.qkv(w).view(bn, t, 3, s.h, c // s.h).permute(2, 0, 3, 1, 4)
        a = (q * (c // s.h) ** -0.5) @ k.transpose(-2, -1) + s.rpb[s.idx].permute(2, 0, 1)
        if s.mask is not None:
            nw = s.mask.shape[0]; a = (a.view(bn // nw, nw, s.h, t, t) + s.mask[None, :, None]).view(bn, s.h, t, t)
        o = (a.softmax(-1) @ v).transpose(1, 2).reshape(bn, t, c)
        y = rev(s.proj(o), s.m, b, r, r)
        if s.shift: y = torch.roll(y, (s.shift, s.shift), (1, 2))
        x = x + y
        return x + s.fc2(F.gelu(s.fc1(s.n2(x))))
class Net(nn.Module):
    def __init__(s):
        super().__init__()
        s.embed, s.en = nn.Linear(16, C0), nn.LayerNorm(C0)
        s.s0 = nn.Sequential(Block(32, 2, 4, 8, 0), Block(32, 2, 4, 8, 2))
        s.mn, s.mr = nn.LayerNorm(128), nn.Linear(128, 64, bias=False)
        s.s1 = nn.Sequential(Block(64, 4, 4, 4, 0), Block(64, 4, 4, 4, 0))
        s.n, s.head = nn.LayerNorm(64), nn.Linear(64, 5)
    def forward(s, x):
        b = x.shape[0]
        p = x.view(b, 1, 8, 4, 8, 4).permute(0, 2, 4, 1, 3, 5).reshape(b, 8, 8, 16)
        z = s.s0(s.en(s.embed(p)))
        z = torch.cat([z[:, 0::2, 0::2], z[:, 1::2, 0::2], z[:, 0::2, 1::2], z[:, 1::2, 1::2]], -1)
        z = s.s1(s.mr(s.mn(z)))
        return s.head(s.n(z.flatten(1, 2)).mean(1))
net = Net(); opt = torch.optim.SGD(net.parameters(), lr=0.05)
x = torch.randn(batch, 1, 32, 32); y = torch.randint(0, 5, (batch,))
n_params = sum(p.numel() for p in net.parameters())
def step():
    opt.zero_grad(); F.cross_entropy(net(x), y).backward(); opt.step()
for _ in range(3): step()
ts = []
for _ in range(steps):
    t = time.perf_counter(); step(); ts.append(time.perf_counter() - t)
ts.sort()
print(json.dumps({"median_s": ts[len(ts) // 2], "min_s": ts[0], "params": n_params, "torch": torch.__version__}))
'''


def _torch_python(arg: str | None) -> str | None:
    for cand in (arg, os.environ.get("TORCH_PYTHON"), "/tmp/torchvenv/bin/python"):
        if cand and os.path.exists(cand):
            return cand
    try:
        import torch  # noqa: F401
        return sys.executable
    except ImportError:
        return None


CLOCK = time.perf_counter


#: Images of the synthetic target task of :func:`time_interleaved` (300 per class, as the study's default).
TASK_IMAGES = 5 * 300


def time_interleaved(algorithms: tuple[str, ...], steps: int, batch: int, data: str = "noise",
                     device: dict | None = None, lr: float = 0.05) -> dict[str, dict[str, float]]:
    """Seconds per training step of each algorithm (``median_s``, ``min_s``), the algorithms stepping in turn on the
    same mini-batch at every step (after three warm-up steps each), so a slow spell of the machine hits them alike
    instead of the ratios; also ``params``, the model's parameter count.

    ``data="noise"``: one batch of standard-normal images over and over; ``"task"``: a fresh
    mini-batch every step from a class-conditional task (the synthetic textures, no data set needed), as a fine-tune
    takes them; an analog write's pulse counts, and so its cost, depend on the gradients. ``device``: AnalogSpec
    fields (e.g. the study's ``{"n_states": 1000, "lr_fast": 1.0}``; default: AnalogSpec's own)."""
    from convergence.swin import model as M, study as S
    from convergence.swin.analog import AnalogSpec, init_train_state, train_step
    from convergence._timing import in_turn

    if data not in ("noise", "task"):
        raise ValueError(f"data must be 'noise' or 'task' (got {data!r})")
    if data == "task" and not 0 < batch <= TASK_IMAGES:
        raise ValueError(f"batch must be 1..{TASK_IMAGES} with data='task' (got {batch})")
    cfg = M.SwinConfig()
    rng = np.random.default_rng(0)
    if data == "task":
        task = S.synthetic_task(TASK_IMAGES, 10, img=cfg.img, classes=(5, 6, 7, 8, 9), seed=1)
        xs, ys = task.x_train, task.y_train
    else:
        xs = rng.standard_normal((batch, cfg.in_ch, cfg.img, cfg.img)).astype(np.float32)
        ys = rng.integers(0, cfg.n_classes, batch)
    order = rng.permutation(len(ys))
    per_epoch = len(order) // batch
    states, upd = {}, {}
    n = 0
    for a in algorithms:
        upd[a] = np.random.default_rng(1)
        spec = None if a == "digital" else AnalogSpec(algorithm=a, **(device or {}))
        params = M.init(cfg, 0)          # each model its own weights: train_step updates them in place
        n = M.n_params(params)
        states[a] = init_train_state(params, cfg, spec, None, batch, upd[a])
    batch_of_round: dict[str, np.ndarray] = {}

    def take(k: int) -> None:
        idx = order[(k % per_epoch) * batch:][:batch]
        batch_of_round["x"], batch_of_round["y"] = xs[idx], ys[idx]

    calls = {a: (lambda k, a=a: train_step(states[a], batch_of_round["x"], batch_of_round["y"], lr, upd[a]))
             for a in algorithms}
    times = in_turn(calls, steps, warmup=3, before=take, clock=CLOCK)
    return {a: {"median_s": float(np.median(ts)), "min_s": float(min(ts)), "params": n} for a, ts in times.items()}


def main(argv: list[str] | None = None) -> int:
    from convergence._alloc import tune_allocator

    tune_allocator()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--algorithms", default="digital,sgd,ttv2,c-ttv2,agad")
    ap.add_argument("--torch-python", default=None)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: time.perf_counter; cpu: time.process_time (this process's CPU time)")
    ap.add_argument("--data", choices=("noise", "task"), default="noise",
                    help="noise: one batch of noise over and over; task: a fresh class-conditional batch every step")
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    rows = []
    tp = _torch_python(args.torch_python)
    torch_res = None
    if tp:
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
        out = subprocess.run([tp, "-c", TORCH_SCRIPT, str(args.threads), str(args.steps), str(args.batch)],
                             capture_output=True, text=True, env=env)
        if out.returncode == 0:
            torch_res = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append((f"pytorch {torch_res['torch']} (digital SGD)", torch_res))
        else:
            print("torch run failed:", out.stderr.strip().splitlines()[-1:], file=sys.stderr)
    algs = tuple(dict.fromkeys(args.algorithms.split(",")))
    numpy_res = time_interleaved(algs, args.steps, args.batch, data=args.data)   # the models step in turn
    rows += [(f"numpy {alg}", numpy_res[alg]) for alg in algs]
    print(f"micro-Swin training step, batch {args.batch}, float32, {args.threads} threads requested, "
          f"{args.clock} clock")
    dig = next((r for name, r in rows if name == "numpy digital"), None)
    print("| implementation | median step (s) | min step (s) | images/s | vs PyTorch | vs numpy digital (median) |")
    print("|---|---|---|---|---|---|")
    for name, r in rows:
        ratio = f"{r['median_s'] / torch_res['median_s']:.2f}x" if torch_res else "n/a"
        own = f"{r['median_s'] / dig['median_s']:.2f}x" if dig else "n/a"
        ips = args.batch / r["median_s"]
        print(f"| {name} | {r['median_s']:.3f} | {r['min_s']:.3f} | {ips:.0f} | {ratio} | {own} |")
    if torch_res:
        print(f"parameters: pytorch {torch_res['params']}, numpy {rows[-1][1]['params']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
