"""Shared test configuration: Hypothesis profiles and the slow-marker gate.

Profiles: ``ci`` (default; derandomized, few examples, no deadline) and ``dev``
(more examples). Select with ``HYPOTHESIS_PROFILE=dev``. Tests marked ``slow``
run only with ``CONVERGENCE_SLOW=1`` (``make test-slow``).
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("dev", max_examples=60, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("CONVERGENCE_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="paper-scale check: run `make test-slow` (CONVERGENCE_SLOW=1)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
