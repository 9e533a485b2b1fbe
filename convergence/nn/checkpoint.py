"""Checkpoints without pickle: ``<path>.npz`` (arrays, loaded with ``allow_pickle=False``) + ``<path>.json``.

The JSON holds the model spec (layers, optimizers, devices, periphery), the caller's metadata
(epoch, history, config) and the training Generator's bit-generator state, so a run can be
resumed bit-for-bit by rebuilding the same model and calling :func:`load_checkpoint`.

Integrity: each file is written to a temporary name and renamed into place, and the JSON carries a
SHA-256 over *both* files' contents (the npz bytes and the JSON document without the digest). A
crash between the two renames leaves a new npz next to an old JSON (or the reverse); that torn pair,
a truncated or edited file, all fail the digest and are refused with one line. A checkpoint of a
different model (architecture, algorithm, device, periphery) is refused naming what differs.
"""
from __future__ import annotations

import hashlib
import json
import os
import pathlib
import zipfile
from typing import Any

import numpy as np

from convergence._validate import ConfigError

__all__ = ["save_checkpoint", "load_checkpoint", "read_checkpoint", "checkpoint_exists", "spec_differences",
           "FORMAT"]

FORMAT = "convergence-nn-checkpoint/2"


def _paths(path: str | os.PathLike[str]) -> tuple[pathlib.Path, pathlib.Path]:
    p = pathlib.Path(path)
    base = p.with_suffix("") if p.suffix in (".npz", ".json") else p
    return base.with_name(base.name + ".npz"), base.with_name(base.name + ".json")


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float) and not np.isfinite(x):
        return str(x)
    return x


def _digest(npz_bytes: bytes, doc: dict[str, Any]) -> str:
    body = {k: v for k, v in doc.items() if k != "sha256"}
    h = hashlib.sha256(npz_bytes)
    h.update(json.dumps(body, sort_keys=True).encode())
    return h.hexdigest()


def checkpoint_exists(path: str | os.PathLike[str]) -> bool:
    """True if either file of the checkpoint exists (a half-present pair is then refused on load)."""
    npz, js = _paths(path)
    return npz.exists() or js.exists()


def save_checkpoint(path: str | os.PathLike[str], model: Any, meta: dict[str, Any] | None = None,
                    rng: np.random.Generator | None = None) -> pathlib.Path:
    """Write ``path.npz`` + ``path.json``; returns the npz path. Each write is atomic (temp file + rename)
    and the JSON's digest covers both files, so a pair torn between the two renames is detected on load."""
    npz, js = _paths(path)
    npz.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.asarray(v) for k, v in model.state_arrays().items()}
    for k, v in arrays.items():
        if v.dtype == object:
            raise ConfigError(f"checkpoint array {k!r} has dtype object (not storable without pickle)")
    doc = {"format": FORMAT, "model": _jsonable(model.as_dict()), "meta": _jsonable(meta or {}),
           "rng": _jsonable(rng.bit_generator.state) if rng is not None else None}
    tmp = npz.with_name(npz.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    doc["sha256"] = _digest(tmp.read_bytes(), doc)
    tmpj = js.with_name(js.name + ".tmp")
    tmpj.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, npz)
    os.replace(tmpj, js)
    return npz


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The verified (JSON document, arrays) of a checkpoint; ConfigError (one line) if missing or corrupt."""
    npz, js = _paths(path)
    if not npz.exists() or not js.exists():
        raise ConfigError(f"checkpoint {npz.with_suffix('')} not found (need both .npz and .json)")
    try:
        doc = json.loads(js.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"checkpoint {js} is corrupt (not JSON: {exc}); delete it or start without --resume") \
            from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigError(f"{js} is not a {FORMAT} checkpoint")
    raw = npz.read_bytes()
    if doc.get("sha256") != _digest(raw, doc):
        raise ConfigError(f"checkpoint {npz.with_suffix('')} is corrupt or torn (its .npz and .json do not match "
                          "their digest, e.g. a crash between the two writes); delete it or start without --resume")
    try:
        with np.load(npz, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(f"checkpoint {npz} cannot be read ({type(exc).__name__}: {exc})") from None
    return doc, arrays


def spec_differences(saved: Any, current: Any, where: str = "") -> list[str]:
    """Paths (``layers[0].optimizer.device.tau``) at which two model specs differ."""
    if isinstance(saved, dict) and isinstance(current, dict):
        out = []
        for k in sorted(set(saved) | set(current), key=str):
            sub = f"{where}.{k}" if where else str(k)
            if k not in saved or k not in current:
                out.append(sub)
            else:
                out += spec_differences(saved[k], current[k], sub)
        return out
    if isinstance(saved, list) and isinstance(current, list):
        if len(saved) != len(current):
            return [f"{where} (length {len(saved)} vs {len(current)})"]
        return [d for i, (a, b) in enumerate(zip(saved, current)) for d in spec_differences(a, b, f"{where}[{i}]")]
    return [] if saved == current else [f"{where} ({saved!r} in the checkpoint, {current!r} now)"]


def load_checkpoint(path: str | os.PathLike[str], model: Any, rng: np.random.Generator | None = None
                    ) -> dict[str, Any]:
    """Load arrays into ``model`` (built the same way) and restore ``rng``; returns the metadata.

    Refuses (ConfigError) a corrupt or torn checkpoint, and one saved from a model whose spec differs
    (naming the first differences), before touching ``model``.
    """
    doc, arrays = read_checkpoint(path)
    diff = spec_differences(doc["model"], _jsonable(model.as_dict()))
    if diff:
        shown = "; ".join(diff[:3]) + (f"; and {len(diff) - 3} more" if len(diff) > 3 else "")
        raise ConfigError(f"checkpoint {_paths(path)[0].with_suffix('')} was saved with a different model: {shown}")
    try:
        model.load_state_arrays(arrays)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"checkpoint {_paths(path)[0]} does not fit the model ({exc})") from None
    if rng is not None and doc.get("rng") is not None:
        rng.bit_generator.state = doc["rng"]
    return doc["meta"]
