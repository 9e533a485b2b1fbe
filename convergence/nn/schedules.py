"""Learning-rate schedules (epoch-indexed, like ``torch.optim.lr_scheduler`` stepped once per epoch).

* :class:`Constant` — ``lr(e) = lr0``.
* :class:`StepLR` — ``lr(e) = lr0 · gamma^{⌊e / step_size⌋}`` (P1: StepLR(35, 0.1); P2 FCN StepLR(15, 0.5)).

``factor(e)`` is ``lr(e)/lr0``; epochs count from 0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from convergence._validate import ConfigError, positive, positive_int

__all__ = ["Constant", "StepLR", "Schedule", "make_schedule"]


@dataclass(frozen=True)
class Constant:
    lr: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", positive("lr", self.lr))

    def factor(self, epoch: int) -> float:
        return 1.0

    def __call__(self, epoch: int) -> float:
        return self.lr

    def as_dict(self) -> dict[str, Any]:
        return {"schedule": "constant", "lr": self.lr}


@dataclass(frozen=True)
class StepLR:
    lr: float
    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", positive("lr", self.lr))
        object.__setattr__(self, "step_size", positive_int("step_size", self.step_size))
        object.__setattr__(self, "gamma", positive("gamma", self.gamma))

    def factor(self, epoch: int) -> float:
        if epoch < 0:
            raise ConfigError(f"epoch must be >= 0 (got {epoch})")
        return self.gamma ** (epoch // self.step_size)

    def __call__(self, epoch: int) -> float:
        return self.lr * self.factor(epoch)

    def as_dict(self) -> dict[str, Any]:
        return {"schedule": "step", "lr": self.lr, "step_size": self.step_size, "gamma": self.gamma}


Schedule = Union[Constant, StepLR]


def make_schedule(spec: dict[str, Any]) -> Schedule:
    """From ``as_dict()`` output."""
    kind = spec.get("schedule", "constant")
    if kind == "constant":
        return Constant(spec["lr"])
    if kind == "step":
        return StepLR(spec["lr"], spec["step_size"], spec.get("gamma", 0.1))
    raise ConfigError(f"schedule must be 'constant' or 'step' (got {kind!r})")
