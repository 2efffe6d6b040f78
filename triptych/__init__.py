"""triptych: write a model once, run it identically in PyTorch, TensorFlow/Keras and
MXNet/Gluon, export every build to ONNX and prove with numbers that they agree.

Importing triptych imports no framework; each is imported when first used.
"""

from __future__ import annotations

from typing import Any

from triptych.common.version import __version__
from triptych.common.zoo import names as _zoo_names
from triptych.frameworks.base import FrameworkUnavailable, available
from triptych.model import Model, create, load


def frameworks() -> list[str]:
    """Installed and usable frameworks: a subset of ["torch", "tensorflow", "mxnet"]."""
    return available()


def compare(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-4, **kwargs: Any) -> Any:
    """Compare two `Model`s (every network, same seeded inputs) or arrays/dicts of arrays.

    ``b`` is the reference. Returns a `Comparison`: truthy on pass, printable, with numbers.
    """
    from triptych.common.compare import compare_outputs
    from triptych.crosscheck import compare_models

    if isinstance(a, Model) and isinstance(b, Model):
        return compare_models(a, b, atol=atol, rtol=rtol, **kwargs)
    return compare_outputs(a, b, atol=atol, rtol=rtol, **kwargs)


def parity(model: Any, frameworks: list[str] | None = None, seed: int = 0, **kwargs: Any) -> Any:
    """The cross-framework parity matrix (levels 1-4) of a zoo model, spec or checkpoint.

    Returns a `ParityReport`: truthy on pass, printable; see `triptych.export.parity`.
    """
    from triptych.export.parity import parity as _parity

    return _parity(model, frameworks, seed=seed, **kwargs)


def models() -> list[str]:
    """Names of the zoo models."""
    return _zoo_names()


__all__ = [
    "FrameworkUnavailable",
    "Model",
    "__version__",
    "compare",
    "create",
    "frameworks",
    "load",
    "models",
]
