r"""The content-addressed data cache of the figure recipes (atomic writes, verification).

An entry's *key* is

.. math::  \mathrm{key} = \mathrm{sha256}(\mathrm{JSON}\{\texttt{NAME}, \texttt{SCALES[scale]},
           \texttt{SEED}, \text{code version}, \mathrm{sha256}(\text{recipe source}
           \,\|\, \text{figures/\_*.py})\}),

where the code version (:func:`code_version`) is ``convergence.__version__`` plus a digest of every
Python source of the package, so editing the library recomputes the figures instead of serving
stale data.

Cache entries are ``<NAME>-<key[:16]>.npz`` (``np.savez``; object arrays refused, loaded with
``allow_pickle=False``) plus a JSON sidecar holding the full key, the config, the seed, versions,
timing and the sha256 of the ``.npz`` bytes. Both files are written atomically (temporary file in
the same folder, fsync, ``os.replace``), the ``.npz`` first and the sidecar last, so the sidecar is
the commit record: an entry is valid only if its sidecar parses, names the same key and the
``.npz`` bytes hash to the recorded digest and load. Anything else (truncated archive, missing
sidecar, key mismatch) raises :class:`CacheEntryError`; the runner reports and recomputes it.
No pickle is used for stored data.
"""
from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import io
import json
import math
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

import convergence
from convergence import __version__
from convergence._validate import ConfigError

__all__ = ["CACHE_FORMAT", "Cache", "CacheEntryError", "cache_key", "code_version", "package_sources", "current_folder",
           "using_folder"]

#: the cache folder of the run whose recipe is computing in this thread (set by the runner)
_FOLDER: contextvars.ContextVar[Path | None] = contextvars.ContextVar("convergence_cache_folder", default=None)


def current_folder() -> Path | None:
    """The cache folder of the figures run computing the current recipe (None outside the runner): where a recipe
    keeps an input it caches itself (the Swin study's pretrained weights), next to the run's own entries."""
    return _FOLDER.get()


@contextlib.contextmanager
def using_folder(folder: str | os.PathLike[str]) -> Any:
    """Make ``folder`` the :func:`current_folder` inside the ``with`` block (this thread and context only)."""
    token = _FOLDER.set(Path(folder))
    try:
        yield Path(folder)
    finally:
        _FOLDER.reset(token)

#: format version of cache entries (part of the sidecar; a different value is a mismatch)
CACHE_FORMAT = 1


def package_sources() -> list[Path]:
    """Every Python source of the ``convergence`` package (all layers), sorted: what :func:`code_version` digests."""
    root = Path(convergence.__file__).resolve().parent
    return sorted(root.rglob("*.py"))


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """``convergence.__version__`` plus a digest of the package's Python sources (:func:`package_sources`).

    Part of every cache key, so editing the library (a device, the driver, a bound, the recipes'
    kit) recomputes the figures that depend on it instead of serving stale data.
    """
    h = hashlib.sha256()
    root = Path(convergence.__file__).resolve().parent
    for p in package_sources():
        h.update(str(p.relative_to(root)).encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return f"{__version__}+{h.hexdigest()[:16]}"


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=_json_default)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, (set, frozenset)):
        return sorted(x)
    raise TypeError(f"not JSON-able: {type(x).__name__}")


def cache_key(name: str, config: dict[str, Any], seed: int, version: str, source_sha256: str) -> str:
    """sha256 (hex) of the canonical JSON of (NAME, scale config, SEED, package version, source digest)."""
    payload = {"name": name, "config": config, "seed": int(seed), "version": version, "source": source_sha256,
               "format": CACHE_FORMAT}
    return hashlib.sha256(_canonical_json(payload).encode()).hexdigest()


class CacheEntryError(Exception):
    """A cache entry exists but is not valid (corrupt, truncated, incomplete or for another key)."""


def new_file_mode() -> int:
    """The permissions ``open()`` gives a new file here, 0o666 less the process's umask. A temporary file from
    ``tempfile.mkstemp`` is private (0o600); the files renamed into place from one get these instead, so that a
    report or figure can be shared as any other file the user writes."""
    mask = None
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status") as f:          # Linux: read it without changing it
            for line in f:
                if line.startswith("Umask:"):
                    mask = int(line.split()[1], 8)
    if mask is None:                                    # elsewhere: set and restore (not thread-safe, but brief)
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def _atomic_write(path: Path, write: Callable[[Any], None]) -> None:
    """Write via ``write(fileobj)`` to a temporary file in the same folder, fsync, then ``os.replace``; the file
    gets :func:`new_file_mode`'s permissions.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with contextlib.suppress(OSError):       # a file system without permissions (e.g. FAT) keeps its own
            os.fchmod(fd, new_file_mode())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename durable (not supported everywhere)
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)


def _check_arrays(data: Any, name: str) -> dict[str, np.ndarray]:
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {name}: compute must return a dict of arrays (got {type(data).__name__})")
    out: dict[str, np.ndarray] = {}
    for k, v in data.items():
        if not isinstance(k, str) or not k or k.startswith("__"):
            raise ConfigError(f"recipe {name}: array names must be non-empty strings not starting with '__' "
                              f"(got {k!r})")
        a = np.asarray(v)
        if a.dtype.hasobject:
            raise ConfigError(f"recipe {name}: array {k!r} has dtype object; cached data must be plain numeric/"
                              "string arrays (no pickle)")
        out[k] = a
    return out


class Cache:
    """The on-disk data cache (``data/cache/`` by default). See the module docstring for the format."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def paths(self, name: str, key: str) -> tuple[Path, Path]:
        stem = f"{name}-{key[:16]}"
        return self.folder / f"{stem}.npz", self.folder / f"{stem}.json"

    def load(self, name: str, key: str) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
        """(arrays, sidecar) of a valid entry; None if there is none.

        Raises:
            CacheEntryError: when files exist but do not form a valid entry for ``key``.
        """
        npz, side = self.paths(name, key)
        if not npz.exists() and not side.exists():
            return None
        if not side.exists():
            raise CacheEntryError(f"{npz.name}: sidecar {side.name} is missing")
        if not npz.exists():
            raise CacheEntryError(f"{side.name}: data file {npz.name} is missing")
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError) as exc:
            raise CacheEntryError(f"{side.name}: unreadable sidecar ({exc})") from None
        if not isinstance(meta, dict) or meta.get("key") != key or meta.get("format") != CACHE_FORMAT:
            raise CacheEntryError(f"{side.name}: key mismatch (sidecar belongs to another entry)")
        raw = npz.read_bytes()
        if hashlib.sha256(raw).hexdigest() != meta.get("npz_sha256"):
            raise CacheEntryError(f"{npz.name}: content does not match the sidecar's digest (truncated or modified)")
        try:
            with np.load(io.BytesIO(raw), allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
            raise CacheEntryError(f"{npz.name}: bad archive ({type(exc).__name__}: {exc})") from None
        stored_key = arrays.pop("__key__", None)
        if stored_key is None or str(stored_key) != key:
            raise CacheEntryError(f"{npz.name}: key mismatch inside the archive")
        return arrays, meta

    def store(self, name: str, key: str, data: dict[str, np.ndarray], meta: dict[str, Any]) -> dict[str, Any]:
        """Write an entry atomically (data first, sidecar last); returns the sidecar written."""
        npz, side = self.paths(name, key)
        arrays = _check_arrays(data, name)
        buf = io.BytesIO()
        np.savez(buf, __key__=np.array(key), **arrays)
        raw = buf.getvalue()
        meta = {**meta, "format": CACHE_FORMAT, "key": key, "name": name,
                "npz_sha256": hashlib.sha256(raw).hexdigest(),
                "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype)} for k, v in arrays.items()}}
        text = json.dumps(meta, indent=1, sort_keys=True, default=_json_default)
        _atomic_write(npz, lambda f: f.write(raw))
        _atomic_write(side, lambda f: f.write(text.encode()))
        return meta

    def prune(self, name: str, scale: str, keep: str) -> list[Path]:
        """Remove the entries of ``name`` at ``scale`` other than key ``keep`` (superseded inputs); returns them."""
        removed = []
        for side in self.folder.glob(f"{name}-*.json"):
            try:
                meta = json.loads(side.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and meta.get("name") == name and meta.get("scale") == scale \
                    and meta.get("key") != keep:
                for p in (side, side.with_suffix(".npz")):
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
                        removed.append(p)
        return removed

    def recorded_seconds(self, name: str, scale: str) -> float:
        """The compute time the newest entry of ``name`` at ``scale`` recorded (NaN when there is none)."""
        best, when = math.nan, ""
        for side in self.folder.glob(f"{name}-*.json"):
            try:
                meta = json.loads(side.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(meta, dict) and meta.get("name") == name and meta.get("scale") == scale:
                t = meta.get("compute_seconds")
                if isinstance(t, (int, float)) and str(meta.get("created", "")) >= when:
                    best, when = float(t), str(meta.get("created", ""))
        return best

    def discard(self, name: str, key: str) -> None:
        for p in self.paths(name, key):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()


