"""MaxPool, AveragePool, GlobalAveragePool and a spatial ReduceMean."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import INPUT, Val, identity_index
from triptych.onnx_import.ops.common import Unsupported, attrs, padding, square
from triptych.onnx_import.ops.registry import OPS


def _window(a: dict[str, Any], op: str) -> tuple[int, int]:
    if a.get("ceil_mode", 0):
        raise Unsupported("ceil_mode=1; only floor")
    if any(d != 1 for d in a.get("dilations", [1, 1])) or a.get("storage_order", 0):
        raise Unsupported("dilations or storage_order")
    k = square(list(a["kernel_shape"]), "kernel")
    return k, square(list(a.get("strides", [1, 1])), "strides")


@OPS.register("MaxPool", versions=(1, 22))
def max_pool(b: ConvertContext, node: onnx.NodeProto) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise Unsupported("the Indices output is used")
    a = attrs(node)
    k, s = _window(a, "MaxPool")
    args = {"kernel": k, "stride": s, "padding": padding(node, a, k, s)}
    b.layer(node, S.MaxPool2d, args, [b.resolved(node.input[0])], {}, None)


@OPS.register("AveragePool", versions=(7, 22))
def average_pool(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    k, s = _window(a, "AveragePool")
    p = padding(node, a, k, s)
    if p and not a.get("count_include_pad", 0):
        raise Unsupported("count_include_pad=0 with padding; only count_include_pad=1")
    args = {"kernel": k, "stride": s, "padding": p}
    b.layer(node, S.AvgPool2d, args, [b.resolved(node.input[0])], {}, None)


@OPS.register("GlobalAveragePool", versions=(1, 22))
def global_average_pool(b: ConvertContext, node: onnx.NodeProto) -> None:
    x = b.resolved(node.input[0])
    c = b.ir.shape_of(x)[0]
    nid = b.layer(node, S.GlobalAvgPool, {}, [x], {}, None, output=False)
    b.set(node.output[0], Val(nid, np.arange(c, dtype=np.int64).reshape(c, 1, 1)))


@OPS.register("ReduceMean", versions=(1, 18))
def reduce_mean(b: ConvertContext, node: onnx.NodeProto) -> None:
    """A mean over exactly the spatial positions of each channel: GlobalAvgPool."""
    a = attrs(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = [int(x) for x in b.const(node.input[1], "axes").ravel()]
    val = b.data(node.input[0])
    rank = len(val.shape) + 1
    axes = sorted(x + rank if x < 0 else x for x in (axes or []))
    src_shape = b.ir.shape_of(val.source)
    if not axes or 0 in axes or len(src_shape) != 3:
        raise Unsupported(f"mean over axes {axes}; only over the spatial axes (GlobalAvgPool)")
    keep = [d - 1 for d in range(1, rank) if d not in axes]
    moved = np.moveaxis(val.index, [d - 1 for d in axes], list(range(-len(axes), 0)))
    hw = src_shape[1] * src_shape[2]
    rows = moved.reshape(-1, math.prod(val.shape[d - 1] for d in axes))
    chan = rows[:, 0] // hw
    ok = rows.shape[1] == hw and all(
        (r // hw == c).all() and np.array_equal(np.sort(r % hw), np.arange(hw))
        for r, c in zip(rows, chan, strict=True)
    )
    if not ok:
        raise Unsupported(f"mean over axes {axes} is not a mean over H and W per channel")
    x = b.resolve(b.ir.value(val.source) if val.source == INPUT else Val(
        val.source, identity_index(src_shape)), node)  # fmt: skip
    nid = b.layer(node, S.GlobalAvgPool, {}, [x], {}, None, output=False)
    out_shape = [val.shape[d] for d in keep]
    if a.get("keepdims", 1):
        out_shape = [1 if d + 1 in axes else val.shape[d] for d in range(rank - 1)]
    b.set(node.output[0], Val(nid, chan.reshape(out_shape).astype(np.int64)))
