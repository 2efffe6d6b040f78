"""ReduceMean / ReduceSum / ReduceMax over any per-sample axes -> the spec's reductions
(`S.ReduceMean`, ...), also on a transposed view of a layer's output (tf2onnx's NHWC graphs
reduce over a Transpose of the NCHW value): the axes are carried through the transpose. A
mean or max over exactly H and W per channel stays a global pool (`ops.pool`)."""

from __future__ import annotations

import itertools

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import Val, identity_index
from triptych.onnx_import.ops.common import Unsupported

REDUCTIONS: dict[str, type[S.Layer]] = {
    "ReduceMean": S.ReduceMean,
    "ReduceSum": S.ReduceSum,
    "ReduceMax": S.ReduceMax,
}


def _as_transpose(val: Val, source_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The permutation ``perm`` with ``val.index == identity(source_shape).transpose(perm)``
    (the value is its source's tensor with axes permuted), or None."""
    if val.padded or len(val.shape) != len(source_shape):
        return None
    ident = identity_index(source_shape)
    for perm in itertools.permutations(range(len(source_shape))):
        if tuple(source_shape[p] for p in perm) == val.shape and np.array_equal(
            val.index, ident.transpose(perm)
        ):
            return perm
    return None


def reduce_axes(
    b: ConvertContext, node: onnx.NodeProto, val: Val, axes: list[int], keepdims: bool
) -> None:
    """``node`` reducing per-sample axes ``axes`` (1-based: 0 is the batch) of ``val``."""
    if 0 in axes:
        raise Unsupported(f"a reduction over the batch axis (axes {axes})")
    source_shape = b.ir.shape_of(val.source)
    perm = _as_transpose(val, source_shape)
    if perm is None:
        x = b.resolve(val, node)  # the value in a layout of its own, or Unsupported
        source_shape, perm = b.ir.shape_of(x), tuple(range(len(val.shape)))
    else:
        x = b.resolve(Val(val.source, identity_index(source_shape)), node)
    spec_axes = tuple(sorted(perm[d - 1] for d in axes))
    cls = REDUCTIONS[node.op_type]
    nid = b.layer(node, cls, {"axes": spec_axes}, [x], {}, None, output=False)
    kept = tuple(1 if i in spec_axes else s for i, s in enumerate(source_shape))
    index = identity_index(kept).transpose(perm)
    if not keepdims:
        index = np.squeeze(index, axis=tuple(d - 1 for d in axes))
    b.set(node.output[0], Val(nid, index))


__all__ = ["REDUCTIONS", "reduce_axes"]
