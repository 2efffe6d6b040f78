"""triptych: write a model once, run it identically in PyTorch, TensorFlow/Keras, Sonnet,
MXNet/Gluon and Chainer, export every build to ONNX and prove with numbers that they agree.

Importing triptych imports no framework; each is imported when first used. This module is
the public facade, the top layer of the layer map (docs/architecture.md): library code never
imports it (tests/architecture/test_layering.py).
"""

from __future__ import annotations

import os
from typing import Any

from triptych.common.compare import Comparison, compare_outputs
from triptych.common.spec import ModelSpec
from triptych.common.version import __version__
from triptych.common.zoo import names as _zoo_names
from triptych.frameworks.base import FrameworkUnavailable, available
from triptych.model import Model, create, load
from triptych.onnx_import import UnsupportedOnnx, import_onnx
from triptych.verify.checks import ParityReport
from triptych.verify.engine import parity as _parity
from triptych.verify.models import compare_models


def frameworks() -> list[str]:
    """Installed and usable frameworks: a subset of ["torch", "tensorflow", "mxnet"] plus
    any registered through the ``triptych.frameworks`` entry-point group."""
    return available()


def compare(a: Any, b: Any, atol: float = 1e-5, rtol: float = 1e-4, **kwargs: Any) -> Comparison:
    """Compare two `Model`s (every network, same seeded inputs) or arrays/dicts of arrays.

    ``b`` is the reference. Returns a `Comparison`: truthy on pass, printable, with numbers.
    """
    if isinstance(a, Model) and isinstance(b, Model):
        return compare_models(a, b, atol=atol, rtol=rtol, **kwargs)
    return compare_outputs(a, b, atol=atol, rtol=rtol, **kwargs)


def parity(
    model: str | os.PathLike | ModelSpec,
    frameworks: list[str] | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> ParityReport:
    """The cross-framework parity matrix (levels 1-4) of a zoo model, spec or checkpoint
    (a checkpoint's own weights are checked). Returns a `ParityReport`: truthy on pass,
    printable; keyword options are those of `triptych.verify.engine.run_parity`."""
    return _parity(model, frameworks, seed=seed, **kwargs)


def models() -> list[str]:
    """Names of the zoo models."""
    return _zoo_names()


__all__ = [
    "Comparison",
    "FrameworkUnavailable",
    "Model",
    "ParityReport",
    "UnsupportedOnnx",
    "__version__",
    "compare",
    "create",
    "frameworks",
    "import_onnx",
    "load",
    "models",
    "parity",
]
