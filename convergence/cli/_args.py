"""argparse value types built on :mod:`convergence._validate`: one grammar and one message style.

A bad value makes argparse print ``convergence <cmd>: error: argument --steps: value must be an
integer >= 1 (got '0')`` and exit with code 2, before any work starts.
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from typing import Any, Callable, Iterator

from convergence._validate import ConfigError, INT_MAX, byte_size, integer, number, path_text

__all__ = ["int_arg", "float_arg", "size_arg", "path_arg", "SEED_MAX", "interrupt_guard", "interrupted"]

#: seeds are fed to numpy's SeedSequence, which takes any non-negative integer; keep them in int64
SEED_MAX = INT_MAX


def _wrap(fn: Callable[[str], Any], label: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return fn(text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = label   # argparse names the type in "invalid <name> value" messages
    return parse


def int_arg(minimum: int | None = None, maximum: int | None = INT_MAX) -> Callable[[str], int]:
    """An integer in [minimum, maximum] (``1e3`` accepted; inf, nan, 1.5, 1e400 refused)."""
    return _wrap(lambda t: integer("value", t, minimum=minimum, maximum=maximum), "integer")


def float_arg(minimum: float | None = None, maximum: float | None = None, *, strict_min: bool = False
              ) -> Callable[[str], float]:
    """A finite float in [minimum, maximum] (``(minimum, maximum]`` with ``strict_min``)."""
    return _wrap(lambda t: number("value", t, minimum=minimum, maximum=maximum, strict_min=strict_min), "number")


def size_arg() -> Callable[[str], int]:
    """A memory size such as ``2G`` or ``500M``, in bytes."""
    return _wrap(lambda t: byte_size("value", t), "size")


def path_arg() -> Callable[[str], str]:
    """A file or folder path: refuses empty or blank text and NUL characters (whether it must exist,
    or be writable, is checked by the command, which knows)."""
    return _wrap(lambda t: path_text("value", t), "path")


_interrupted = threading.Event()


def interrupted() -> bool:
    """True once SIGINT arrived during :func:`interrupt_guard` (library code may have swallowed the
    KeyboardInterrupt, e.g. inside a C extension; callbacks check this and raise it again)."""
    return _interrupted.is_set()


@contextlib.contextmanager
def interrupt_guard() -> Iterator[None]:
    """Within the block SIGINT raises KeyboardInterrupt and is remembered; the old handler is restored."""
    _interrupted.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        _interrupted.set()
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)
