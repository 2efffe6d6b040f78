"""Values passed through (Identity, inference Dropout, Cast to float) and data-movement ops
(Transpose, Reshape, Split, Slice, Gather, GatherND, ...) evaluated on index maps; Pad is
`ops.pad`."""

from __future__ import annotations

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import INPUT, MERGED, Val
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.registry import OPS
from triptych.onnx_import.reader import run_node

#: ops that select part of their input: a permuted input (a channel shuffle) is made a
#: layer first, so that the parts are plain slices of it
SELECTING = {"Split", "Slice", "Gather", "GatherND"}


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


def _constant_inputs(b: ConvertContext, node: onnx.NodeProto) -> list[np.ndarray | None]:
    rest = []
    for i in node.input[1:]:
        if i and i not in b.graph.constants:
            raise Unsupported(f"its input {i!r} is computed from data, not a constant")
        rest.append(b.graph.constants[i] if i else None)
    return rest


def _selectable(b: ConvertContext, val: Val, node: onnx.NodeProto) -> Val:
    """``val``, or (a non-identity permutation of its source that resolves to a layer,
    e.g. a channel shuffle) the identity view of that layer."""
    n = int(np.prod(b.ir.shape_of(val.source)))
    flat = val.index.ravel()
    if val.batch_axis or flat.size != n or np.array_equal(flat, np.arange(n)):
        return val
    if not np.array_equal(np.sort(flat), np.arange(n)):
        return val
    try:
        return b.ir.value(b.resolve(val, node))
    except Unsupported:
        return val


def _batched(val: Val, n: int, batch: int) -> np.ndarray:
    """The value at ``batch`` samples: sample k's entries are sample 0's plus k·``n`` (Pad
    zeros stay -1)."""
    if val.batch_axis:
        return val.index
    return np.stack([np.where(val.index < 0, -1, val.index + k * n) for k in range(batch)])


def _find_batch(out: np.ndarray, n: int, batch: int) -> int | None:
    """The axis of ``out`` (an evaluation at ``batch`` > 1) that is the batch axis, else
    None."""
    for axis in range(out.ndim):
        if out.shape[axis] != batch:
            continue
        first = np.take(out, 0, axis=axis)
        if not (first < n).all():
            continue
        if all(np.array_equal(np.where(first < 0, -1, first + k * n), np.take(out, k, axis=axis))
               for k in range(1, batch)):  # fmt: skip
            return axis
    return None


def movement(b: ConvertContext, node: onnx.NodeProto, as_float: bool = False) -> None:
    """A data-movement op: run it on the input's index map with the reference evaluator; the
    results are the outputs' index maps. Evaluated at the batch constants were folded at
    (2 where the file fixes 1), to follow the batch axis: a Transpose may move it, a
    Reshape merge it into others, and later ops bring it back; else at batch 1."""
    val = b.data(node.input[0])
    if node.op_type in SELECTING:
        val = _selectable(b, val, node)
    rest = _constant_inputs(b, node)
    dtype = np.float64 if as_float else np.int64
    n, batch = int(np.prod(b.ir.shape_of(val.source))), max(b.graph.batch, 2)
    outs = _run(node, [_batched(val, n, batch).astype(dtype), *rest], b.graph.opset)
    if outs is not None:
        outs = [np.asarray(o).astype(np.int64) for o in outs]
        axes = [_find_batch(o, n, batch) for o in outs]
        if all(a is not None for a in axes):
            for name, out, axis in zip(node.output, outs, axes, strict=False):
                _check(b, name, out, axis)
                b.set(name, Val(val.source, out, axis) if axis else Val(val.source, out[0]))
            return
    if not val.batch_axis and _per_sample(b, node, val, dtype, rest):
        return
    if outs is None:
        raise Unsupported("it moves data across the batch axis, or cannot be evaluated")
    for name, out in zip(node.output, outs, strict=False):  # the batch merged into other axes
        b.set(name, Val(val.source, out, MERGED))


def _per_sample(b: ConvertContext, node: onnx.NodeProto, val: Val, dtype: type,
                rest: list) -> bool:  # fmt: skip
    """Evaluate at batch 1; False when the result does not keep a batch axis in front."""
    outs = _run(node, [val.index[None].astype(dtype), *rest], b.graph.opset)
    if outs is None:
        return False
    outs = [np.asarray(o) for o in outs]
    for name, out in zip(node.output, outs, strict=False):
        inferred = b.graph.shape(name)
        if (
            out.ndim < 1
            or out.shape[0] != 1
            or (inferred is not None and out.shape[1:] != inferred)
        ):
            return False
    for name, out in zip(node.output, outs, strict=False):
        b.set(name, Val(val.source, out[0].astype(np.int64)))
    return True


def _check(b: ConvertContext, name: str, out: np.ndarray, axis: int) -> None:
    inferred = b.graph.shape(name)
    per_sample = tuple(np.delete(np.array(out.shape), axis))
    if axis == 0 and inferred is not None and per_sample != tuple(inferred):
        raise Unsupported(f"output of per-sample shape {per_sample}, inferred {inferred}")


def _run(node: onnx.NodeProto, values: list, opset: int) -> list | None:
    """The node's outputs on ``values``, or None where the evaluator fails on them."""
    try:
        return run_node(node, values, opset)
    except Exception:
        return None


#: data-movement ops are evaluated by the reference evaluator at the file's own opset, so
#: every version it implements is supported
OPS.register("Transpose", "Reshape", "Flatten", "Squeeze", "Unsqueeze", versions=(1, 25))(movement)
OPS.register("Tile", "Slice", versions=(1, 13))(movement)


@OPS.register("Gather", versions=(1, 13))
def gather(b: ConvertContext, node: onnx.NodeProto) -> None:
    """Rows of a constant table picked by the network's int64 token ids -> Embedding (an
    ``nn.Embedding`` as every exporter writes it); else a data movement."""
    table, ids = node.input[0], node.input[1]
    if table not in b.graph.constants or ids in b.graph.constants:
        return movement(b, node)
    if b.ir.input_dtype != "int64" or node.input[1] != b.graph.input:
        raise Unsupported(
            f"a gather from the constant {table!r} by {ids!r}: only the network's int64 "
            "token ids index a table (an embedding)"
        )
    weight = np.asarray(b.graph.constants[table], np.float32)
    axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
    if weight.ndim != 2 or axis != 0:
        raise Unsupported(f"a table of shape {weight.shape} gathered on axis {axis}; an "
                          "embedding is a 2-D table gathered by rows (axis 0)")  # fmt: skip
    b.layer(node, S.Embedding, {"num_embeddings": weight.shape[0], "dim": weight.shape[1]},
            [INPUT], {"weight": weight}, table)  # fmt: skip


OPS.register("Expand", versions=(8, 13))(movement)
OPS.register("GatherND", versions=(11, 13))(movement)
OPS.register("Split", versions=(11, 18))(movement)
