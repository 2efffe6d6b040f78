"""Parity assertions for users' own test suites.

    from triptych.testing import assert_parity
    assert_parity(model_tf, model_torch)  # bounds derived from both models' float64 builds
    assert_parity(model_tf, model_torch, atol=1e-5, rtol=1e-4)  # or a fixed tolerance

The pytest plugin (`triptych.testing.plugin`, registered automatically) adds a
``triptych_framework`` fixture parametrised over every framework triptych knows, skipping
absent ones with their reason.
"""

from __future__ import annotations

from typing import Any

from triptych.common.compare import Comparison, compare_outputs
from triptych.model import Model
from triptych.verify.models import compare_models


def assert_parity(
    a: Any, b: Any, atol: float | None = None, rtol: float | None = None, **kwargs: Any
) -> Comparison:
    """Assert two Models (every network, same seeded inputs) or arrays agree; ``b`` is the
    reference. Models without atol/rtol: the bound derived from float64, as `triptych
    parity` judges (`triptych.verify.models`); arrays: atol 1e-5, rtol 1e-4 unless given.
    Raises AssertionError with the full table and every failure listed."""
    if isinstance(a, Model) and isinstance(b, Model):
        result = compare_models(a, b, atol=atol, rtol=rtol, **kwargs)
    else:
        result = compare_outputs(
            a, b, atol=1e-5 if atol is None else atol, rtol=1e-4 if rtol is None else rtol,
            **kwargs,
        )  # fmt: skip
    return result.raise_if_failed()


__all__ = ["assert_parity"]
