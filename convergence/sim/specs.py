"""Parse ``name:key=value,...`` specs into devices, objectives, noise models and update modes.

Every failure raises :class:`~convergence._validate.ConfigError` with one line
naming the option, the bad field and what is allowed.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping

from convergence._validate import ConfigError, format_bytes, integer, parse_number
from convergence.physics.devices import DEVICES, Device, Variation
from convergence.sim.noise import NOISES, Noise
from convergence.sim.objectives import OBJECTIVES, Objective
from convergence.physics.pulses import Expected, Pulsed, UpdateMode

__all__ = ["parse_spec", "parse_device", "parse_objective", "objective_bytes", "objective_step_bytes", "parse_noise",
           "parse_pulsed", "parse_variation"]


def parse_spec(text: str, what: str) -> tuple[str, dict[str, str]]:
    """Split ``name:k=v,k=v`` into the name and a dict of raw strings."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{what}: empty spec (expected name:key=value,...)")
    name, _, rest = text.strip().partition(":")
    name = name.strip().lower()
    params: dict[str, str] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key = key.strip()
            if not eq or not key or not value.strip():
                raise ConfigError(f"{what}: bad item {item.strip()!r} in {text!r} (expected key=value)")
            if key in params:
                raise ConfigError(f"{what}: key {key!r} given twice")
            params[key] = value.strip()
    return name, params


def _convert(value: str, like: Any, what: str, key: str) -> Any:
    """Convert the raw string to the type of the field's default (numbers through one grammar:
    :func:`~convergence._validate.integer` / :func:`~convergence._validate.parse_number`)."""
    low = value.lower()
    if isinstance(like, bool):
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{what}: {key}={value!r} is not true/false")
    try:
        if isinstance(like, int):
            return integer(f"{key}", value)
        if isinstance(like, str):
            return value
        return parse_number(f"{key}", value, allow_inf=True)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _kwargs(cls: type, params: Mapping[str, str], what: str, name: str,
            convert_overrides: Mapping[str, Callable[[str], Any]] | None = None) -> dict[str, Any]:
    flds = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(params) - set(flds))
    if unknown:
        allowed = ", ".join(flds) or "no keys"
        raise ConfigError(f"{what}: unknown key {unknown[0]!r} for {name!r} (allowed: {allowed})")
    kwargs = {}
    for key, raw in params.items():
        if convert_overrides and key in convert_overrides:
            kwargs[key] = convert_overrides[key](raw)
            continue
        default = flds[key].default
        like = default if default not in (dataclasses.MISSING, None) else 0.0
        kwargs[key] = _convert(raw, like, what, key)
    return kwargs


def _construct(cls: type, kwargs: Mapping[str, Any], what: str) -> Any:
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{what}: {exc}") from None


def _build(cls: type, params: Mapping[str, str], what: str, name: str,
           convert_overrides: Mapping[str, Callable[[str], Any]] | None = None) -> Any:
    return _construct(cls, _kwargs(cls, params, what, name, convert_overrides), what)


def _field(cls: type, kwargs: Mapping[str, Any], key: str, fallback: int = 1) -> int:
    """The integer value a field will take (given, else the dataclass default); 1 when not an int."""
    if key in kwargs:
        v = kwargs[key]
    else:
        v = next((f.default for f in dataclasses.fields(cls) if f.name == key), fallback)
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else fallback


def objective_bytes(name: str, kwargs: Mapping[str, Any]) -> int:
    """Estimated bytes an objective allocates when built (its data matrices and their products).

    Quadratic: a few (d,) vectors. Least squares / logistic: the (n, d) design matrix, and for least
    squares the (d, d) Gram matrix whose eigenvalues give L and mu. Two-layer: (n, p) inputs.
    """
    cls = OBJECTIVES[name]
    d, n = _field(cls, kwargs, "d"), _field(cls, kwargs, "n")
    if name == "quadratic":
        return 8 * 4 * d
    if name == "lsq":
        return 8 * (3 * n * d + 2 * d * d + 2 * n)
    if name == "twolayer":
        p, h = _field(cls, kwargs, "p"), _field(cls, kwargs, "h")
        return 8 * (3 * n * p + 2 * h * p + 2 * n)
    return 8 * (3 * n * d + 2 * n)


def objective_step_bytes(name: str, kwargs: Mapping[str, Any]) -> int:
    """Estimated bytes per trial of the temporaries of one gradient evaluation (a few (n,) and (d,) rows)."""
    cls = OBJECTIVES[name]
    d, n = _field(cls, kwargs, "d"), _field(cls, kwargs, "n")
    if name == "quadratic":
        return 8 * 4 * d
    if name == "twolayer":
        h = _field(cls, kwargs, "h")
        return 8 * (4 * n * h + 4 * d)
    return 8 * (4 * n + 4 * d)


def _choices(registry: Mapping[str, Any]) -> str:
    return ", ".join(sorted(registry))


def parse_device(text: str, what: str = "--device") -> Device:
    """``softbounds:tau=0.8``, ``linear:tau=3.5,c=0.2``, ``power:tau=1,gamma=0.5``, ``ideal`` ...

    ``what`` names the argument in error messages (``convergence device`` takes the spec positionally)."""
    name, params = parse_spec(text, what)
    if name not in DEVICES:
        raise ConfigError(f"{what}: unknown device {name!r} (allowed: {_choices(DEVICES)})")
    return _build(DEVICES[name], params, what, name)


def parse_objective(text: str, *, max_bytes: int | None = None) -> Objective:
    """``quadratic:d=1,L=2,w_star=0.3``, ``lsq:d=40,n=100``, ``logistic:d=10``, ``twolayer:p=4,h=6``.

    With ``max_bytes`` an objective whose data would not fit is refused before anything is allocated.
    """
    name, params = parse_spec(text, "--objective")
    if name not in OBJECTIVES:
        raise ConfigError(f"--objective: unknown objective {name!r} (allowed: {_choices(OBJECTIVES)})")
    overrides = {"mu": lambda raw: _convert(raw, 0.0, "--objective", "mu"),
                 "w_star": lambda raw: _convert(raw, 0.0, "--objective", "w_star")}
    kwargs = _kwargs(OBJECTIVES[name], params, "--objective", name, overrides)
    if max_bytes is not None:
        need = objective_bytes(name, kwargs)
        if need > max_bytes:
            raise ConfigError(f"--objective: {name} with these sizes needs about {format_bytes(need)} for its data "
                              f"but the memory limit is {format_bytes(max_bytes)}; choose smaller d/n")
    return _construct(OBJECTIVES[name], kwargs, "--objective")


def parse_noise(text: str) -> Noise:
    """``none``, ``gaussian:sigma=0.4``, ``twopoint:sigma=0.1,tau=1``, ``minibatch:batch=10``."""
    name, params = parse_spec(text, "--noise")
    if name not in NOISES:
        raise ConfigError(f"--noise: unknown noise {name!r} (allowed: {_choices(NOISES)})")
    return _build(NOISES[name], params, "--noise", name)


def parse_pulsed(text: str | None) -> UpdateMode:
    """``dw_min=0.001,bl=100[,c2c=0.1,rounding=stochastic]``; None gives the expected mode."""
    if text is None:
        return Expected()
    _, params = parse_spec("pulsed:" + text, "--pulsed")
    if "dw_min" not in params:
        raise ConfigError("--pulsed: dw_min is required (e.g. --pulsed dw_min=0.001,bl=100)")
    return _build(Pulsed, params, "--pulsed", "pulsed")


def parse_variation(text: str | None) -> Variation:
    """``dw_min_dtod=0.3,sym_skew=0.1,sym_dtod=0.05,...`` (device-to-device variation)."""
    if text is None:
        return Variation()
    if not text.strip():
        raise ConfigError("--variation: empty value (expected KEY=V,..., e.g. dw_min_dtod=0.3)")
    _, params = parse_spec("variation:" + text, "--variation")
    return _build(Variation, params, "--variation", "variation")
