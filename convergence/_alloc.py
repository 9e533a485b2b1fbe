"""Keep large temporaries on the heap (glibc): a measured 10x on small-array steps.

NumPy allocates a new array for every temporary. glibc serves blocks above its
mmap threshold (128 KiB at start) with fresh ``mmap`` pages, so a (1024, 50)
float64 temporary costs ~100 page faults on every step — in the benchmark an
expected-mode Analog SGD step took 490 µs instead of 50 µs. Raising the mmap and
trim thresholds lets freed blocks be reused. The setting is process-wide, so the
toolkit applies it only from its own entry points (``simulate``, network and Swin
training, the CLI, benchmarks); library users can call :func:`tune_allocator` themselves. It is a
no-op off glibc.

The raised trim threshold keeps up to 256 MiB of freed heap resident, so a process's resident-set peak
also counts what earlier work freed; :func:`release_free_heap` hands it back before a peak is measured.

The same entry points stop NumPy from asking the kernel for transparent huge pages on its large arrays
(:func:`small_pages`). On the 2-core machine the docs measure on, a first touch of a fresh 100 MB buffer
(the im2col rows of a CNN's evaluation batch of 1000 images) in huge pages sometimes took 0.7–1.4 s instead of
0.05 s. A P1 Fig. 5 CNN run (Analog SGD, 2250 steps, three evaluations of 10k images) took 26–30 CPU-seconds
with huge pages and 17–21 without (three runs each), the whole P1 Fig. 5 recipe at default 546 and 481 worker
CPU-seconds, and the Swin steps did not change beyond noise. A user's own ``NUMPY_MADVISE_HUGEPAGE`` setting is left
alone.

The mmap threshold is 256 MiB, above that 100 MB buffer, so the buffer too is reused from the heap instead of
faulted in afresh for every evaluation batch. On an AVX-512 machine the CNN's evaluation of 10k images took
1.50–1.69 s with it (im2col 0.56–0.65 s of that) and 2.03 s with a 64 MiB threshold (im2col 0.92–1.01 s).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release_free_heap() -> bool:
    """Return the heap's free blocks to the system (glibc ``malloc_trim(0)``, ~2 ms), so that the resident set
    is the live memory again. Returns True if applied (False off glibc)."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return False
    trim(0)
    return True


def small_pages() -> bool:
    """Stop NumPy from advising transparent huge pages for its large arrays (NumPy's ``NUMPY_MADVISE_HUGEPAGE``
    set to 0 from inside the process), unless the user set that variable. Returns True if applied. Memory
    layout only: no result changes."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return False
    import numpy as np

    core = getattr(np, "_core", None) or getattr(np, "core", None)
    setter = getattr(getattr(core, "multiarray", None), "_set_madvise_hugepage", None)
    if setter is None:
        return False
    setter(False)
    return True


def tune_allocator(mmap_threshold: int = 256 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Raise glibc's mmap/trim thresholds once per process, and keep NumPy's arrays on small pages
    (:func:`small_pages`). Returns True if the thresholds were applied."""
    global _done
    if _done:
        return True
    small_pages()
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    _done = ok
    return ok
