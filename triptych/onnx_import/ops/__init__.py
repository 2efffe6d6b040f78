"""The ONNX op converters, one module per layer family (as `triptych.common.layers`), each
registered in `OPS` with the op versions it supports. Importing the package registers them
all."""

from triptych.onnx_import.ops import (  # noqa: F401  (registers the converters)
    activation,
    attention,
    conv,
    dense,
    einsum,
    merge,
    norm,
    pad,
    pool,
    reduce,
    reshape,
    resize,
)
from triptych.onnx_import.ops.common import Unsupported
from triptych.onnx_import.ops.registry import OPS, op_version

__all__ = ["OPS", "Unsupported", "op_version"]
