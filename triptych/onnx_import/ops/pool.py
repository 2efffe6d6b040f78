"""MaxPool, AveragePool (``ceil_mode``, ``count_include_pad``, bottom/right-only padding as
ceil mode, a zero Pad before them taken in where that is the same function),
GlobalAveragePool / GlobalMaxPool, and ReduceMean / ReduceMax / ReduceSum (spatial: a global
pool; over size-1 axes only: data movement; otherwise `ops.reduce`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import INPUT, MERGED, Val, identity_index
from triptych.onnx_import.ops.common import Unsupported, attrs, padded_input, pads4, square
from triptych.onnx_import.ops.reduce import reduce_axes
from triptych.onnx_import.ops.registry import OPS

#: layers whose output is >= 0 (max pooling over a Pad's zeros after them is plain max pooling)
NON_NEGATIVE = (S.ReLU, S.Sigmoid, S.HardSigmoid, S.Softplus)
#: consumers that read a global pool's output as a flat vector (else it keeps H, W = 1)
FLAT_READERS = {"Flatten", "Reshape", "Squeeze", "Gemm", "MatMul"}


def _window(b: ConvertContext, node: onnx.NodeProto, avg: bool) -> tuple[int, dict[str, Any]]:
    """The input's IR node and the pool's arguments; `Unsupported` when the padding is none
    that the spec's pools compute alike."""
    a = attrs(node)
    if a.get("storage_order", 0):
        raise Unsupported("storage_order 1 (column-major Indices)")
    d = square(list(a.get("dilations", [1, 1])), "dilations")
    if avg and d != 1:
        raise Unsupported(f"dilations {a['dilations']} of an average pool")
    k = square(list(a["kernel_shape"]), "kernel")
    s = square(list(a.get("strides", [1, 1])), "strides")
    x, extra = padded_input(b, node.input[0], node)
    shape = b.ir.shape_of(x)
    if len(shape) != 3:
        raise Unsupported(f"input of per-sample shape {shape}; pooling needs (C, H, W)")
    hw = (shape[1] + extra[0] + extra[2], shape[2] + extra[1] + extra[3])
    own = pads4(a, k, s, d, hw)
    include = bool(a.get("count_include_pad", 0)) if avg else False
    ceil = bool(a.get("ceil_mode", 0))
    if any(extra):
        node_cls = b.ir.nodes[x].cls if x != INPUT else None
        if any(own) or (avg and len(set(extra)) != 1):
            raise Unsupported(f"a Pad {list(extra)} before a pool with pads {list(own)}")
        if (
            not avg
            and node_cls not in NON_NEGATIVE
            and not (node_cls is S.Clip and b.ir.nodes[x].args["low"] >= 0)
        ):
            raise Unsupported("a zero Pad before MaxPool on values that may be negative")
        own, include = extra, True  # zeros counted (avg) or never the max (max, x >= 0)
    top, left, bottom, right = own
    if len(set(own)) != 1:
        if top != left or bottom != right or bottom < top or (avg and include):
            raise Unsupported(f"asymmetric pads {list(own)}")
        ceil = True  # only the bottom/right overhang: what ceil mode computes
    args: dict[str, Any] = {"kernel": k, "stride": s, "padding": top}
    if d != 1:
        args["dilation"] = d
    if ceil:
        args["ceil_mode"] = True
    if avg and top and not include:
        args["count_include_pad"] = False
    return x, args


@OPS.register("MaxPool", versions=(1, 22))
def max_pool(b: ConvertContext, node: onnx.NodeProto) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise Unsupported("the Indices output is used")
    x, args = _window(b, node, avg=False)
    b.layer(node, S.MaxPool2d, args, [x], {}, None)


@OPS.register("AveragePool", versions=(7, 22))
def average_pool(b: ConvertContext, node: onnx.NodeProto) -> None:
    x, args = _window(b, node, avg=True)
    b.layer(node, S.AvgPool2d, args, [x], {}, None)


def _keepdims(b: ConvertContext, name: str) -> bool:
    """Should a global pool whose output is ``name`` keep H and W (a Conv or a broadcast
    gate reads it), rather than give a flat vector (a Flatten or Dense reads it)?"""
    users = b.graph.consumers.get(name, [])
    return any(u is None or u.op_type not in FLAT_READERS for u in users)


def _global(b: ConvertContext, node: onnx.NodeProto, cls: type[S.Layer], x: int,
            out_index: np.ndarray) -> None:  # fmt: skip
    """A global pool of IR node ``x``; the output value is ``out_index`` into its (C,)."""
    keep = _keepdims(b, node.output[0])
    nid = b.layer(node, cls, {"keepdims": True} if keep else {}, [x], {}, None, output=False)
    b.set(node.output[0], Val(nid, out_index))


@OPS.register("GlobalAveragePool", versions=(1, 22))
@OPS.register("GlobalMaxPool", versions=(1, 22))
def global_pool(b: ConvertContext, node: onnx.NodeProto) -> None:
    x = b.resolved(node.input[0])
    shape = b.ir.shape_of(x)
    if len(shape) != 3:
        raise Unsupported(f"input of per-sample shape {shape}; a global pool needs (C, H, W)")
    cls = S.GlobalAvgPool if node.op_type == "GlobalAveragePool" else S.GlobalMaxPool
    _global(b, node, cls, x, np.arange(shape[0], dtype=np.int64).reshape(shape[0], 1, 1))


@OPS.register("ReduceMean", versions=(1, 18))
@OPS.register("ReduceMax", versions=(1, 20))
@OPS.register("ReduceSum", versions=(1, 21))
def reduce(b: ConvertContext, node: onnx.NodeProto) -> None:
    """A mean (max) over exactly the spatial positions of each channel: a global pool; over
    axes of size 1 only: data movement; over other axes: a spec reduction
    (`ops.reduce.reduce_axes`)."""
    a = attrs(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = [int(x) for x in b.const(node.input[1], "axes").ravel()]
    val = b.data(node.input[0])
    full = val.index if val.batch_axis else val.index[None]
    rank = full.ndim
    axes = sorted(x + rank if x < 0 else x for x in (axes or []))
    if not axes and a.get("noop_with_empty_axes", 0):
        b.set(node.output[0], val)
        return
    axes = axes or list(range(rank))
    keepdims = bool(a.get("keepdims", 1))
    merged = val.batch_axis == MERGED
    if all(full.shape[d] == 1 for d in axes) and (merged or val.batch_axis not in axes):
        out = full if keepdims else np.squeeze(full, axis=tuple(axes))  # size-1 axes only
        ba = val.batch_axis
        if not keepdims and not merged:
            ba -= sum(d < val.batch_axis for d in axes)
        b.set(node.output[0], Val(val.source, out, ba) if ba else Val(val.source, out[0]))
        return
    if val.batch_axis:
        raise Unsupported("a reduction of a value whose batch axis is moved or merged")
    try:
        if node.op_type == "ReduceSum":
            raise Unsupported("a sum is no global pool")
        _spatial(b, node, val, axes, keepdims)
    except Unsupported:
        reduce_axes(b, node, val, axes, keepdims)


def _spatial(b: ConvertContext, node: onnx.NodeProto, val: Val, axes: list[int],
             keepdims: bool) -> None:  # fmt: skip
    src_shape = b.ir.shape_of(val.source)
    rank = len(val.shape) + 1
    if 0 in axes or len(src_shape) != 3 or val.padded:
        raise Unsupported(f"reduction over axes {axes}; only over the spatial axes")
    moved = np.moveaxis(val.index, [d - 1 for d in axes], list(range(-len(axes), 0)))
    hw = src_shape[1] * src_shape[2]
    rows = moved.reshape(-1, math.prod(val.shape[d - 1] for d in axes))
    chan = rows[:, 0] // hw
    ok = rows.shape[1] == hw and all(
        (r // hw == c).all() and np.array_equal(np.sort(r % hw), np.arange(hw))
        for r, c in zip(rows, chan, strict=True)
    )
    if not ok:
        raise Unsupported(f"reduction over axes {axes} is not one over H and W per channel")
    x = b.resolve(b.ir.value(val.source) if val.source == INPUT else Val(
        val.source, identity_index(src_shape)), node)  # fmt: skip
    keep = [d - 1 for d in range(1, rank) if d not in axes]
    out_shape = [1 if d + 1 in axes else val.shape[d] for d in range(rank - 1)] if keepdims else [
        val.shape[d] for d in keep]  # fmt: skip
    cls = S.GlobalAvgPool if node.op_type == "ReduceMean" else S.GlobalMaxPool
    _global(b, node, cls, x, chan.reshape(out_shape).astype(np.int64))
