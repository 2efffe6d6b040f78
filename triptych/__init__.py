"""triptych: write a model once, run it identically in PyTorch, TensorFlow/Keras and
MXNet/Gluon, export every build to ONNX and prove with numbers that they agree.

Importing triptych imports no framework; each is imported when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from triptych.common.zoo import names as _zoo_names  # noqa: E402
from triptych.frameworks.base import FrameworkUnavailable, available  # noqa: E402
from triptych.model import Model, create, load  # noqa: E402


def frameworks() -> list[str]:
    """Installed and usable frameworks: a subset of ["torch", "tensorflow", "mxnet"]."""
    return available()


def models() -> list[str]:
    """Names of the zoo models."""
    return _zoo_names()


__all__ = ["FrameworkUnavailable", "Model", "__version__", "create", "frameworks", "load",
           "models"]
