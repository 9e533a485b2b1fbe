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
"""
from __future__ import annotations

import ctypes
import ctypes.util
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


def tune_allocator(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Raise glibc's mmap/trim thresholds once per process. Returns True if applied."""
    global _done
    if _done:
        return True
    libc = _libc()
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    _done = ok
    return ok
