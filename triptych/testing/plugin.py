"""pytest plugin: ``triptych_framework`` runs a test once per framework and
``triptych_framework_pair`` once per pair; absent frameworks skip with the reason and the pip
extra to install (never silently)."""

from __future__ import annotations

import itertools

import pytest


def framework_params() -> list:
    """One ``pytest.param`` per registered framework, skip-marked with its reason if absent."""
    from triptych.frameworks.base import FRAMEWORKS, unavailable_reason

    params = []
    for name in FRAMEWORKS:
        reason = unavailable_reason(name)
        marks = [pytest.mark.skip(reason=f"{name} unavailable: {reason}")] if reason else []
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def framework_pair_params() -> list:
    """One ``pytest.param((a, b))`` per unordered pair of registered frameworks."""
    from triptych.frameworks.base import FRAMEWORKS, unavailable_reason

    params = []
    for a, b in itertools.combinations(FRAMEWORKS, 2):
        reasons = [r for r in (unavailable_reason(a), unavailable_reason(b)) if r]
        marks = [pytest.mark.skip(reason="; ".join(reasons))] if reasons else []
        params.append(pytest.param((a, b), marks=marks, id=f"{a}-{b}"))
    return params


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "triptych_framework" in metafunc.fixturenames:
        metafunc.parametrize("triptych_framework", framework_params())
    if "triptych_framework_pair" in metafunc.fixturenames:
        metafunc.parametrize("triptych_framework_pair", framework_pair_params())
