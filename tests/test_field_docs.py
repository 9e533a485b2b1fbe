"""Every configuration field carries an attribute docstring (a string literal right below it)."""
from __future__ import annotations

import ast
import dataclasses
import inspect

import pytest

from convergence.physics import devices, pulses, reference_device
from convergence.physics.periphery import IOParameters
from convergence.tile.analog_tile import UpdateParameters

CLASSES = ([c for c in vars(devices).values() if inspect.isclass(c) and dataclasses.is_dataclass(c)
            and c.__module__ == devices.__name__]
           + [pulses.Expected, pulses.Pulsed, pulses.PulseNoise, reference_device.SoftBoundsReference,
              reference_device.ReferenceArray, IOParameters, UpdateParameters])


def _documented_fields(cls: type) -> set[str]:
    body = ast.parse(inspect.getsource(cls)).body[0].body
    out = set()
    for stmt, nxt in zip(body, body[1:]):
        if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str)
                and nxt.value.value.strip()):
            out.add(stmt.target.id)
    return out


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_field_has_an_attribute_docstring(cls):
    names = {f.name for f in dataclasses.fields(cls)}
    assert names - _documented_fields(cls) == set()
