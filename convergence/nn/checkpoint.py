"""Checkpoints without pickle: ``<path>.npz`` (arrays, loaded with ``allow_pickle=False``) + ``<path>.json``.

The JSON holds the model spec (layers, optimizers, devices, periphery), the caller's metadata
(epoch, history, config) and the training Generator's bit-generator state, so a run can be
resumed bit-for-bit by rebuilding the same model and calling :func:`load_checkpoint`.
"""
from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import numpy as np

from convergence._validate import ConfigError

__all__ = ["save_checkpoint", "load_checkpoint"]


def _paths(path: str | os.PathLike[str]) -> tuple[pathlib.Path, pathlib.Path]:
    p = pathlib.Path(path)
    base = p.with_suffix("") if p.suffix in (".npz", ".json") else p
    return base.with_suffix(".npz"), base.with_suffix(".json")


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return x


def save_checkpoint(path: str | os.PathLike[str], model: Any, meta: dict[str, Any] | None = None,
                    rng: np.random.Generator | None = None) -> pathlib.Path:
    """Write ``path.npz`` + ``path.json``; returns the npz path. Writes are atomic (temp file + rename)."""
    npz, js = _paths(path)
    npz.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in model.state_arrays().items()}
    for k, v in arrays.items():
        if v.dtype == object:
            raise ConfigError(f"checkpoint array {k!r} has dtype object (not storable without pickle)")
    doc = {"format": "convergence-nn-checkpoint/1", "model": _jsonable(model.spec()), "meta": _jsonable(meta or {}),
           "rng": _jsonable(rng.bit_generator.state) if rng is not None else None}
    tmp = npz.with_name(npz.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, npz)
    tmpj = js.with_name(js.name + ".tmp")
    tmpj.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmpj, js)
    return npz


def load_checkpoint(path: str | os.PathLike[str], model: Any, rng: np.random.Generator | None = None
                    ) -> dict[str, Any]:
    """Load arrays into ``model`` (built the same way) and restore ``rng``; returns the metadata."""
    npz, js = _paths(path)
    if not npz.exists() or not js.exists():
        raise ConfigError(f"checkpoint {npz.with_suffix('')} not found (need both .npz and .json)")
    doc = json.loads(js.read_text())
    if doc.get("format") != "convergence-nn-checkpoint/1":
        raise ConfigError(f"{js} is not a convergence-nn checkpoint")
    with np.load(npz, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    model.load_state_arrays(arrays)
    if rng is not None and doc.get("rng") is not None:
        rng.bit_generator.state = doc["rng"]
    return doc["meta"]
