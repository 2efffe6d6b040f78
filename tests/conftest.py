"""Shared fixtures. ``framework`` / ``framework_pair`` come from triptych's own pytest plugin
(the registry, absent frameworks skipped with their reason); these aliases keep names short."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def framework(triptych_framework: str) -> str:
    return triptych_framework


@pytest.fixture
def framework_pair(triptych_framework_pair: tuple[str, str]) -> tuple[str, str]:
    return triptych_framework_pair
