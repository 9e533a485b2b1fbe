r"""What ``convergence check`` accepts: an *algorithm factory*, and how built-ins are adapted.

The factory contract
--------------------
A factory is a callable::

    factory(lr, device, *, mode=Expected()) -> convergence.sim.algorithms.Algorithm

* ``lr`` — the step size: a Python float, or a float64 array of shape ``(trials, 1)``
  holding one step size per trial. The battery sweeps step sizes by passing such an
  array, so a whole sweep runs in one batched simulation; the factory must use ``lr``
  with NumPy broadcasting against weights of shape ``(trials, d)`` (as the built-ins
  do via :func:`convergence._validate.hyperparameter`).
* ``device`` — a :class:`convergence.physics.devices.Device` (the battery uses ``Ideal()``,
  ``SoftBounds(tau)`` including ``tau = inf``, ``SoftBounds(tau, w_sym)`` and
  ``CLin(tau, c)``). Every analog array of the algorithm should live on it (or on a
  device derived from it).
* ``mode`` (optional keyword) — an update mode; passed only when the user asks for one
  (``check(..., mode=Pulsed(...))``); the claims' predictions are for ``Expected()``.

The returned :class:`~convergence.sim.algorithms.Algorithm` has the built-ins' step API:
``init(w0)`` with ``w0`` of shape (trials, d), ``query(state)`` (where the gradient is
sampled), ``step(state, g, rng=None)`` (pure), ``analog(state)`` listing
``(name, array, device)`` for every array that lives on a device (an empty list for a
digital algorithm), and ``as_dict()``, a JSON-able description of its configuration.

A factory may carry an attribute ``not_applicable``: a mapping ``claim name -> reason``
for claims that do not apply to it (they are reported as ``skipped`` unless named
explicitly). Factories that take only ``lr`` (digital algorithms) are accepted and
called without the device.

Built-in adapters
-----------------
``convergence.sim.algorithms:digital_sgd`` → ``digital_sgd(lr)`` (device ignored);
``convergence.sim.algorithms:analog_sgd`` is a factory as is;
``convergence.sim.algorithms:tiki_taka`` → ``tiki_taka(lr, lr, device, mode=mode)``
(``lr_fast = lr_transfer = lr``, γ = 0, P on the same device: P1's TT-v1 in P2's sign
convention). The short names ``digital-sgd``, ``analog-sgd``, ``tiki-taka`` also work.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
import os
import sys
from typing import Any, Callable, Mapping

import numpy as np

from convergence._validate import ConfigError
from convergence.sim.algorithms import EXPECTED, Algorithm, analog_sgd, digital_sgd, tiki_taka
from convergence.physics.devices import SoftBounds

__all__ = ["Factory", "digital_sgd_factory", "analog_sgd_factory", "tiki_taka_factory", "BUILTIN_FACTORIES",
           "resolve_factory", "make_algorithm", "not_applicable"]

Factory = Callable[..., Algorithm]


def digital_sgd_factory(lr: Any, device: Any = None, *, mode: Any = EXPECTED) -> Algorithm:
    """Digital SGD in the factory contract (the device and mode are ignored)."""
    return digital_sgd(lr)


def analog_sgd_factory(lr: Any, device: Any, *, mode: Any = EXPECTED) -> Algorithm:
    """Analog SGD (P1 eq 3, P2 eq 2) in the factory contract."""
    return analog_sgd(lr, device, mode=mode)


def tiki_taka_factory(lr: Any, device: Any, *, mode: Any = EXPECTED) -> Algorithm:
    """Tiki-Taka with ``lr_fast = lr_transfer = lr``, γ = 0, both arrays on ``device``."""
    return tiki_taka(lr, lr, device, mode=mode)


tiki_taka_factory.not_applicable = {  # type: ignore[attr-defined]
    "reduces-to-digital": "on an ideal device Tiki-Taka is a double integrator (P never decays: "
                          "P <- P - lr g, W <- W + lr P), not SGD; the claim does not apply",
}

#: short names accepted by ``convergence check``
BUILTIN_FACTORIES: dict[str, Factory] = {"digital-sgd": digital_sgd_factory, "analog-sgd": analog_sgd_factory,
                                         "tiki-taka": tiki_taka_factory}

#: built-in algorithm constructors whose signatures differ from the contract -> adapter
_ADAPTERS: dict[Any, Factory] = {digital_sgd: digital_sgd_factory, tiki_taka: tiki_taka_factory,
                                 analog_sgd: analog_sgd_factory}


def not_applicable(factory: Any) -> Mapping[str, str]:
    """The factory's ``not_applicable`` mapping (claim -> reason), empty if absent."""
    out = getattr(factory, "not_applicable", None)
    return dict(out) if isinstance(out, Mapping) else {}


def did_you_mean(name: str, choices: Any) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices`` to a mistyped ``name``, else ``""``."""
    close = difflib.get_close_matches(name, [str(c) for c in choices], n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _import_target(text: str) -> Any:
    if ":" not in text:
        hint = did_you_mean(text.lower().replace("_", "-"), BUILTIN_FACTORIES)
        raise ConfigError(f"target {text!r} must be 'package.module:factory' or one of "
                          f"{', '.join(BUILTIN_FACTORIES)}{hint}")
    module_name, _, attr = text.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"target {text!r} must be 'package.module:factory'")
    stem = os.path.splitext(os.path.basename(module_name.replace("\\", "/")))[0]
    path_hint = (f"give the module's import name, not a file path: {stem}:{attr}, run from the folder that holds "
                 f"{stem}.py or with that folder on PYTHONPATH")
    if "/" in module_name or "\\" in module_name:   # never part of a module name
        raise ConfigError(f"target {text!r}: {path_hint}")
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())   # like `python -m`: modules in the working directory import
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        if module_name.endswith(".py"):
            raise ConfigError(f"cannot import module {module_name!r}: {path_hint}") from None
        where = ""
        if isinstance(exc, ModuleNotFoundError) and exc.name == module_name.split(".")[0]:
            where = (f" (modules import from the working directory {os.getcwd()} and from PYTHONPATH: run from the "
                     "folder that holds it, or add that folder to PYTHONPATH)")
        raise ConfigError(f"cannot import module {module_name!r}: {exc}{where}") from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - a user module that fails on import is bad input
        raise ConfigError(f"importing module {module_name!r} raised {type(exc).__name__}: {exc}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(obj) if not n.startswith("_")]
            raise ConfigError(f"module {module_name!r} has no attribute {attr!r}{did_you_mean(part, public)}")
        obj = getattr(obj, part)
    return obj


def _binds(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bool:
    """True if ``fn``'s signature accepts these arguments (False when it has no readable signature)."""
    try:
        inspect.signature(fn).bind(*args, **kwargs)
        return True
    except (TypeError, ValueError):
        return False


def _accepts_device(fn: Callable[..., Any]) -> bool:
    """False only when ``fn`` binds ``(lr)`` but not ``(lr, device)``; otherwise the probe reports any error."""
    return _binds(fn, 0.1, SoftBounds(1.0)) or not _binds(fn, 0.1)


def _accepts_mode(fn: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "mode" or p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def make_algorithm(factory: Factory, lr: Any, device: Any, mode: Any = None) -> Algorithm:
    """Call ``factory`` per the contract (device only if accepted, ``mode`` only if given)."""
    if mode is not None:
        if not _accepts_mode(factory):
            raise ConfigError(f"factory {_label(factory)} does not accept a mode= keyword")
        return factory(lr, device, mode=mode)
    return factory(lr, device)


def _label(obj: Any) -> str:
    mod = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    return f"{mod}:{name}" if mod else str(name)


def _state_arrays(alg: Any, state: Any) -> list[np.ndarray]:
    """query(state) and the arrays analog(state) lists (entries of another form are left to the probe's check)."""
    out = [np.asarray(alg.query(state))]
    for entry in alg.analog(state):
        if isinstance(entry, (tuple, list)) and len(entry) == 3:
            out.append(np.asarray(entry[1]))
    return out


def _trials_differ(arrays: list[np.ndarray]) -> bool:
    """Some array (trials first, two trials) holds different values for its two trials."""
    return any(np.ndim(a) >= 1 and len(a) == 2 and not np.array_equal(a[0], a[1], equal_nan=True) for a in arrays)


def _probe(factory: Factory, label: str, mode: Any) -> None:
    """Build the algorithm once with a per-trial lr array and take one step (contract check)."""
    lr = np.array([[0.01], [0.02]])
    try:
        alg = make_algorithm(factory, lr, SoftBounds(1.0), mode)
    except ConfigError:
        raise
    except TypeError as exc:
        if _binds(factory, lr, SoftBounds(1.0), **({} if mode is None else {"mode": mode})):
            # the call matched the signature, so the TypeError came from inside the factory (often float(lr))
            raise ConfigError(f"{label}(lr, device) raised TypeError: {exc} (the battery calls factory(lr, device) "
                              "in this order; lr is a float64 array of shape (trials, 1), one step size per trial: "
                              "use it by broadcasting, never float(lr))") from None
        raise ConfigError(f"{label} cannot be called as factory(lr, device): {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the user's factory may fail in any way: an unusable target
        raise ConfigError(f"{label}(lr, device) raised {type(exc).__name__}: {exc}") from None
    if not isinstance(alg, Algorithm) and not all(hasattr(alg, a) for a in ("init", "query", "step", "analog")):
        raise ConfigError(f"{label}(lr, device) returned {type(alg).__name__}, not a convergence Algorithm "
                          "(needs init, query, step, analog)")
    shape = (2, 3)   # (trials, d), d > 1 so that code that only works for scalar weights shows here
    try:
        state = alg.init(np.full(shape, 0.1))
        x = np.asarray(alg.query(state))
        kept = [np.array(a, copy=True) for a in _state_arrays(alg, state)]
        after = alg.step(state, np.full(shape, 0.5), rng=np.random.default_rng(0))   # a step that moves W
        x_after = np.asarray(alg.query(after))
        arrays = list(alg.analog(after))
        now = _state_arrays(alg, state)
        # the two trials (lr 0.01, 0.02) start alike and see the same gradients: some state must differ between
        # them within a few steps, else the factory ignored its per-trial lr (e.g. float(lr.ravel()[0]))
        probe, per_trial = after, _trials_differ(_state_arrays(alg, after))
        for _ in range(2):
            if per_trial:
                break
            probe = alg.step(probe, np.full(shape, 0.5), rng=np.random.default_rng(0))
            per_trial = _trials_differ(_state_arrays(alg, probe))
    except Exception as exc:  # noqa: BLE001 - any failure here is a contract violation
        raise ConfigError(f"{label}: the algorithm does not follow the step API "
                          f"(init/query/step/analog on weights of shape (trials, d)): {type(exc).__name__}: {exc}") \
            from None
    if any(a.shape != b.shape or not np.array_equal(a, b, equal_nan=True) for a, b in zip(kept, now)):
        raise ConfigError(f"{label}: step changed its input state in place; the step API's step returns the new "
                          "state and leaves its input as it was (write w = w - lr * g, not w -= lr * g)")
    if not per_trial:
        raise ConfigError(f"{label}: two trials with step sizes 0.01 and 0.02 stayed identical for 3 steps of the same "
                          "gradient: the algorithm ignores its per-trial lr (a float64 array of shape (trials, 1); "
                          "use it by broadcasting, never float(lr) or lr[0])")
    for what, got in (("query(state)", x), ("query(step(state, g))", x_after)):
        if got.shape != shape:
            raise ConfigError(f"{label}: {what} returned shape {got.shape}, expected (trials, d) = {shape}")
    for entry in arrays:
        seq = isinstance(entry, (tuple, list))
        if not (seq and len(entry) == 3 and np.ndim(entry[1]) >= 1 and np.shape(entry[1])[0] == shape[0]):
            got = f"a {type(entry).__name__}" + (f" of length {len(entry)}" if seq and len(entry) != 3 else "")
            if seq and len(entry) == 3:
                got = f"an array of shape {np.shape(entry[1])} for {entry[0]!r}"
            raise ConfigError(f"{label}: analog(state) must list (name, array, device) for every array on a device, "
                              f"each array with the trials axis first (got {got})")


def resolve_factory(target: Any, *, mode: Any = None) -> tuple[Factory, str]:
    """Turn a target (callable, ``"module:attr"`` or a built-in short name) into a checked factory.

    Returns ``(factory, label)``. Raises :class:`ConfigError` (one line) if the target cannot be
    imported, is not callable, is an Algorithm instance rather than a factory, or does not
    produce an Algorithm with the step API.
    """
    if isinstance(target, str):
        label = target
        obj = BUILTIN_FACTORIES[target] if target in BUILTIN_FACTORIES else _import_target(target)
    else:
        obj, label = target, _label(target)
    if isinstance(obj, Algorithm):
        raise ConfigError(f"{label} is an Algorithm instance, not a factory; pass a function "
                          "(lr, device, *, mode) -> Algorithm")
    if not callable(obj):
        raise ConfigError(f"{label} is not an Algorithm factory (a {type(obj).__name__}, not callable)")
    factory: Factory = _ADAPTERS.get(obj, obj)
    if factory is obj and not _accepts_device(obj):
        inner = obj

        def factory(lr: Any, device: Any = None, *, mode: Any = None) -> Algorithm:  # type: ignore[misc]
            if mode is None:
                return inner(lr)
            if not _accepts_mode(inner):
                raise ConfigError(f"factory {_label(inner)} does not accept a mode= keyword")
            return inner(lr, mode=mode)

        factory.not_applicable = not_applicable(inner)  # type: ignore[attr-defined]
        factory.__qualname__ = getattr(inner, "__qualname__", "factory")
        factory.__module__ = getattr(inner, "__module__", None)  # type: ignore[assignment]
    _probe(factory, label, mode)
    return factory, label
