"""Limit OpenBLAS threads at run time (small GEMMs of batch-10 training are 10x slower multi-threaded).

A minimal, best-effort stand-in for ``threadpoolctl`` (not a dependency): on Linux it finds the
OpenBLAS libraries loaded in this process (``/proc/self/maps``) and calls their
``*openblas_set_num_threads*`` / ``*openblas_get_num_threads*`` symbols through ctypes. Elsewhere,
or if no OpenBLAS is loaded, it does nothing. The env var ``CONVERGENCE_BLAS_THREADS`` overrides
the count (``0`` = leave BLAS alone).
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from typing import Any, Iterator

__all__ = ["blas_threads"]

_SUFFIXES = ("", "64_", "_64")


@functools.lru_cache(maxsize=1)
def _openblas_libs() -> list[Any]:
    """The OpenBLAS set/get-threads entry points loaded in this process (looked up once: reading
    /proc/self/maps costs ~2 ms, too much for a per-step toggle)."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split()[-1]
                if "openblas" in p.lower() and (p.endswith(".so") or ".so." in p):
                    if p not in paths:
                        paths.append(p)
    except OSError:
        return []
    libs = []
    for p in paths:
        try:
            lib = ctypes.CDLL(p)
        except OSError:
            continue
        setter = getter = None
        for prefix in ("scipy_openblas", "openblas"):
            for suf in _SUFFIXES:
                setter = setter or getattr(lib, f"{prefix}_set_num_threads{suf}", None)
                getter = getter or getattr(lib, f"{prefix}_get_num_threads{suf}", None)
        if setter is not None and getter is not None:
            libs.append((setter, getter))
    return libs


@contextlib.contextmanager
def blas_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` OpenBLAS threads, then restore the previous counts."""
    env = os.environ.get("CONVERGENCE_BLAS_THREADS")
    if env is not None:
        n = int(env)
    libs = _openblas_libs() if n > 0 else []
    old = []
    for setter, getter in libs:
        try:
            old.append(int(getter()))
            setter(int(n))
        except Exception:  # noqa: BLE001 - best effort
            old.append(None)
    try:
        yield
    finally:
        for (setter, _), prev in zip(libs, old):
            if prev is not None:
                setter(prev)
