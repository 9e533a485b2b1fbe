r"""Fast elementwise kernels for the NumPy networks (float32 training paths).

``scipy.special.erf``/``ndtr`` cost ~15 ns per float32 element here (they evaluate in double
precision one element at a time), which made the exact GELU a fifth of a micro-Swin training
step. For float32 inputs :func:`normal_cdf` therefore evaluates the standard normal CDF with
Abramowitz & Stegun (1964) formula 7.1.26,

.. math:: \operatorname{erf}(z) = 1 - (a_1 t + a_2 t^2 + a_3 t^3 + a_4 t^4 + a_5 t^5)\,e^{-z^2}
          + \epsilon(z),\qquad t = \frac{1}{1 + p z},\quad |\epsilon(z)| \le 1.5\times 10^{-7}\ (z \ge 0),

with :math:`z = |x|/\sqrt2`, so :math:`\Phi(x) = \tfrac12 + \operatorname{sign}(x)\,(\tfrac12 - Q)` and
:math:`Q = \tfrac12(a_1 t + \dots + a_5 t^5)\,e^{-x^2/2}` is the upper tail at :math:`|x|`. The
absolute error on :math:`\Phi` is below :math:`4\times 10^{-7}` including float32 rounding (tested
against ``scipy.special.ndtr`` in float64), i.e. a few float32 ulps — the same order as
float32 rounding of the exact formula. Every other dtype (float64: the finite-difference
tests) uses ``scipy.special.ndtr`` exactly.
"""
from __future__ import annotations

import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence, TypeVar

import numpy as np
from numpy.typing import NDArray
from scipy import special

Array = NDArray[Any]

__all__ = ["normal_cdf", "gelu", "gelu_grad", "run_tasks", "CDF_ABS_ERROR_F32"]

T = TypeVar("T")
_LOCAL = threading.local()

#: Bound on |normal_cdf(x) − Φ(x)| for float32 inputs (A&S 7.1.26 error / 2 plus float32 rounding).
CDF_ABS_ERROR_F32 = 4e-7

_MIN_PARALLEL = 1 << 17                     # elements; below this one thread is faster
_AS_P = 0.3275911 / math.sqrt(2.0)          # p of 7.1.26 with z = |x|/√2 folded in
_AS_A_HALF = tuple(0.5 * a for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))


@functools.lru_cache(maxsize=1)
def _cores() -> int:
    """``os.cpu_count()``, asked once: glibc reads a file in /sys for it (7–30 µs a call here, and a Swin step asks
    about twenty times)."""
    return os.cpu_count() or 1


def _threads() -> int:
    env = os.environ.get("CONVERGENCE_ELEMENTWISE_THREADS")
    if env is not None:
        return max(1, int(env))
    return max(1, min(4, _cores()))


_POOL: ThreadPoolExecutor | None = None


def _blocks(n: int) -> list[slice]:
    """Contiguous slices of ``range(n)`` for the worker threads (one slice when n is small)."""
    k = _threads() if n >= _MIN_PARALLEL else 1
    edges = [n * i // k for i in range(k + 1)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=_threads(), thread_name_prefix="convergence-ew")
    return _POOL


def _inside_task() -> bool:
    return bool(getattr(_LOCAL, "busy", False))


def run_tasks(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Run independent callables on the worker threads; results in order.

    The calling thread runs the first task itself. Calls made from inside a task (e.g. a GELU inside a
    data-parallel shard) run inline, so the pool never waits on itself. With one thread
    (``CONVERGENCE_ELEMENTWISE_THREADS=1``) the tasks run one after the other — same results.
    """
    if len(tasks) <= 1 or _threads() == 1 or _inside_task():
        return [t() for t in tasks]

    def flagged(task: Callable[[], T]) -> Callable[[], T]:
        def run() -> T:
            _LOCAL.busy = True
            try:
                return task()
            finally:
                _LOCAL.busy = False
        return run

    futures = [_pool().submit(flagged(t)) for t in tasks[1:]]
    first = flagged(tasks[0])()
    return [first] + [f.result() for f in futures]


def _run_blocks(fn: Callable[[slice], None], n: int) -> None:
    """Apply ``fn`` to every block of ``range(n)``; NumPy ufuncs release the GIL, so blocks run on
    separate cores. Elementwise results do not depend on the split (bit-identical for any thread count)."""
    blocks = [slice(0, n)] if _inside_task() else _blocks(n)
    run_tasks([lambda blk=blk: fn(blk) for blk in blocks])


def _cdf_f32(x: Array, cdf: Array, gauss: Array) -> None:
    """A&S 7.1.26 on float32 1-D views, writing Φ(x) into ``cdf`` and exp(−x²/2) into ``gauss``."""
    f = np.float32
    np.multiply(x, x, out=gauss)
    gauss *= f(-0.5)
    np.exp(gauss, out=gauss)
    t = np.abs(x)
    t *= f(_AS_P)
    t += f(1.0)
    np.reciprocal(t, out=t)
    np.multiply(t, f(_AS_A_HALF[4]), out=cdf)
    for a in _AS_A_HALF[3::-1]:          # Horner: ((a5 t + a4) t + …) t
        cdf += f(a)
        cdf *= t
    cdf *= gauss                         # Q(|x|) = 1 − Φ(|x|)
    np.subtract(f(0.5), cdf, out=cdf)
    np.copysign(cdf, x, out=cdf)
    cdf += f(0.5)


def normal_cdf(x: Array) -> tuple[Array, Array]:
    r"""``(Φ(x), exp(−x²/2))`` elementwise; the second factor gives the density ``φ = exp(−x²/2)/√(2π)``.

    float32: A&S 7.1.26 (module docstring), ~4 ns per element per thread; otherwise ``scipy.special.ndtr``.
    """
    x = np.asarray(x)
    if x.dtype != np.float32:
        gauss = np.multiply(x, x)
        gauss *= gauss.dtype.type(-0.5)
        np.exp(gauss, out=gauss)
        return special.ndtr(x), gauss
    xf = np.ascontiguousarray(x).reshape(-1)
    cdf = np.empty_like(xf)
    gauss = np.empty_like(xf)
    _run_blocks(lambda sl: _cdf_f32(xf[sl], cdf[sl], gauss[sl]), xf.size)
    return cdf.reshape(x.shape), gauss.reshape(x.shape)


def gelu(x: Array) -> tuple[Array, tuple[Array, Array]]:
    """GELU(x) = x Φ(x) (the exact erf form) and the cache ``(Φ(x), exp(−x²/2))`` for :func:`gelu_grad`."""
    cdf, gauss = normal_cdf(x)
    y = np.empty_like(cdf)
    yf, xf, cf = y.reshape(-1), np.asarray(x, dtype=cdf.dtype).reshape(-1), cdf.reshape(-1)
    _run_blocks(lambda sl: np.multiply(xf[sl], cf[sl], out=yf[sl]), yf.size)
    return y, (cdf, gauss)


def gelu_grad(dy: Array, x: Array, cache: tuple[Array, Array]) -> Array:
    """``dy · GELU'(x)`` with GELU' = Φ(x) + x φ(x), φ = exp(−x²/2)/√(2π), from :func:`gelu`'s cache."""
    cdf, gauss = cache
    d = np.empty_like(cdf)
    df, xf, cf, gf = d.reshape(-1), np.asarray(x).reshape(-1), cdf.reshape(-1), gauss.reshape(-1)
    dyf = np.ascontiguousarray(dy, dtype=cdf.dtype).reshape(-1)
    inv = cdf.dtype.type(1.0 / math.sqrt(2.0 * math.pi))

    def block(sl: slice) -> None:
        out = df[sl]
        np.multiply(xf[sl], gf[sl], out=out)
        out *= inv
        out += cf[sl]
        out *= dyf[sl]

    _run_blocks(block, df.size)
    return d
