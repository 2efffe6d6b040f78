"""Values passed through (Identity, inference Dropout, Cast to float) and data-movement ops
(Transpose, Reshape, ...) evaluated on index maps."""

from __future__ import annotations

import numpy as np
import onnx

from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import Val
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.registry import OPS
from triptych.onnx_import.reader import run_node


@OPS.register("Identity", versions=(1, 25))
@OPS.register("Dropout", versions=(7, 22))
@OPS.register("Cast", versions=(6, 28))
def passthrough(b: ConvertContext, node: onnx.NodeProto) -> None:
    """Identity, Dropout (inference), Cast to float: the value itself."""
    mask = node.output[1] if node.op_type == "Dropout" and len(node.output) > 1 else ""
    if mask and b.graph.consumers.get(mask):
        raise Unsupported("the Dropout mask output is used")
    if node.op_type == "Cast" and attrs(node).get("to") != onnx.TensorProto.FLOAT:
        raise Unsupported("a cast of data to a type other than float32")
    b.set(node.output[0], b.data(node.input[0]))


def movement(b: ConvertContext, node: onnx.NodeProto, as_float: bool = False) -> None:
    """A data-movement op: run it on the input's index map (batch 1) with the reference
    evaluator; the result is the output's index map."""
    val = b.data(node.input[0])
    rest = []
    for i in node.input[1:]:
        if i and i not in b.graph.constants:
            raise Unsupported(f"its input {i!r} is computed from data, not a constant")
        rest.append(b.graph.constants[i] if i else None)
    index = val.index[None].astype(np.float64 if as_float else np.int64)
    try:
        out = np.asarray(run_node(node, [index, *rest], b.graph.opset)[0])
    except Exception as e:
        raise Unsupported(f"cannot evaluate it ({type(e).__name__}: {e})") from None
    inferred = b.graph.shape(node.output[0])
    if out.ndim < 1 or out.shape[0] != 1 or (inferred is not None and out.shape[1:] != inferred):
        raise Unsupported(f"it moves data across the batch axis (output {out.shape} at batch 1)")
    b.set(node.output[0], Val(val.source, out[0].astype(np.int64)))


#: data-movement ops are evaluated by the reference evaluator at the file's own opset, so
#: every version it implements is supported
OPS.register("Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", versions=(1, 25))(movement)
OPS.register("Tile", "Slice", "Gather", versions=(1, 13))(movement)
OPS.register("Expand", versions=(8, 13))(movement)
