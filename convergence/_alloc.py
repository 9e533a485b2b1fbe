"""Keep large temporaries on the heap (glibc): a measured 10x on small-array steps.

NumPy allocates a new array for every temporary. glibc serves blocks above its
mmap threshold (128 KiB at start) with fresh ``mmap`` pages, so a (1024, 50)
float64 temporary costs ~100 page faults on every step — in the benchmark an
expected-mode Analog SGD step took 490 µs instead of 50 µs. Raising the mmap and
trim thresholds lets freed blocks be reused. The setting is process-wide, so the
toolkit applies it only from its own entry points (``simulate``, network and Swin
training, the CLI, benchmarks); library users can call :func:`tune_allocator` themselves. It is a
no-op off glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def tune_allocator(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Raise glibc's mmap/trim thresholds once per process. Returns True if applied."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    _done = ok
    return ok
