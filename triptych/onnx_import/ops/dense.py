"""Gemm and MatMul by a constant -> Dense; on an NHWC view of an NCHW tensor (ConvNeXt's
``nn.Linear`` on channels-last) -> a 1x1 Conv2d of the tensor, the view kept; on (L, C)
tokens -> Dense on each token. `linear_map` is what they share (Einsum by a constant weight,
`triptych.onnx_import.ops.einsum`, uses it too)."""

from __future__ import annotations

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import MERGED, Val, channels_last, identity_index
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.registry import OPS
from triptych.onnx_import.ops.tokens import merged_rows, per_sample_rows


def linear_map(b: ConvertContext, node: onnx.NodeProto, weight: np.ndarray,
               bias: np.ndarray | None, weight_name: str, data: str | None = None,
               split: tuple[int, ...] | None = None) -> None:  # fmt: skip
    """x @ weight.T (+ bias) on the last axis of the data input ``data`` (the node's first
    input by default): ``weight`` (out, in) against the ONNX input's element order; a flat
    input that is a permutation of a tensor (a Keras NHWC flatten) permutes the weight's
    columns instead. With ``split`` (whose product is ``out``) the node's output is the
    layer's last axis viewed as ``split`` (an Einsum's two new axes: data movement, as a
    Reshape after it would be)."""
    val = b.data(node.input[0] if data is None else data)
    if len(val.shape) != 1:
        _pointwise(b, node, val, weight, bias, weight_name, split)
        return
    n = int(np.prod(b.ir.shape_of(val.source)))
    flat = val.index.ravel()
    if (
        val.index.size == n
        and not np.array_equal(flat, np.arange(n))
        and np.array_equal(np.sort(flat), np.arange(n))
    ):
        canonical = np.empty_like(weight)
        canonical[:, flat] = weight
        weight = canonical
        val = Val(val.source, identity_index((n,)))
    _add_dense(b, node, b.resolve(val, node), weight, bias, weight_name, split)


def _add_dense(b: ConvertContext, node: onnx.NodeProto, x: int, weight: np.ndarray,
               bias: np.ndarray | None, weight_name: str,
               split: tuple[int, ...] | None) -> None:  # fmt: skip
    """A Dense of IR node ``x``, the node's output (viewed as ``split``, if given)."""
    args = {"units": int(weight.shape[0]), "bias": bias is not None}
    weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    nid = b.layer(node, S.Dense, args, [x], weights, weight_name, output=split is None)
    if split is not None:
        b.set(node.output[0], _split(b.ir.value(nid), split))


def _split(val: Val, split: tuple[int, ...] | None) -> Val:
    """``val`` with its last axis viewed as ``split`` (unchanged without one)."""
    if split is None:
        return val
    return Val(val.source, val.index.reshape(*val.index.shape[:-1], *split), val.batch_axis)


def _pointwise(b: ConvertContext, node: onnx.NodeProto, val: Val, weight: np.ndarray,
               bias: np.ndarray | None, weight_name: str,
               split: tuple[int, ...] | None = None) -> None:  # fmt: skip
    """x @ W on a view whose last axis is the channels of a (C, H, W) source: a 1x1 Conv2d
    of the source; the output is the same view of the Conv's output. (L, C) tokens that are
    not such a view, or whose output is ``split``, get a Dense on each token (an Unflatten of
    its (L, units) output is a spec layer; one of the Conv's view is not)."""
    src_shape = b.ir.shape_of(val.source)
    if val.batch_axis == MERGED and val.index.ndim == 2:
        _merged_rows(b, node, val, weight, bias, weight_name, split)
        return
    pos = channels_last(val, src_shape) if len(src_shape) == 3 else None
    if len(val.shape) == 2 and (pos is None or split is not None):  # Dense on each token
        _add_dense(b, node, b.resolve(val, node), weight, bias, weight_name, split)
        return
    if pos is None:
        raise Unsupported(f"input of per-sample shape {val.shape} that is not a channels-last "
                          "view of a (C, H, W) tensor; Dense needs a flat input")  # fmt: skip
    units = int(weight.shape[0])
    args = {"out_channels": units, "kernel": 1, "bias": bias is not None}
    weights = {"weight": weight[:, :, None, None]} | ({"bias": bias} if bias is not None else {})
    nid = b.layer(node, S.Conv2d, args, [val.source], weights, weight_name, output=False)
    hw = int(np.prod(src_shape[1:]))
    view = Val(nid, np.arange(units, dtype=np.int64) * hw + pos[..., None])
    b.set(node.output[0], _split(view, split))


@OPS.register("Gemm", versions=(7, 13))
def gemm(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    if a.get("transA", 0):
        raise Unsupported("transA=1")
    w = b.const(node.input[1], "weight")
    w = w if a.get("transB", 0) else w.T
    if a.get("alpha", 1.0) != 1.0:
        w = w * np.float32(a["alpha"])
    c = b.optional_const(node, 2)
    if c is not None:
        c = np.broadcast_to(c * np.float32(a.get("beta", 1.0)), (w.shape[0],)).copy()
    linear_map(b, node, np.ascontiguousarray(w, dtype=np.float32), c, node.input[1])


@OPS.register("MatMul", versions=(1, 13))
def matmul(b: ConvertContext, node: onnx.NodeProto) -> None:
    w = b.const(node.input[1], "weight")
    if w.ndim != 2:
        raise Unsupported(f"MatMul with a {w.ndim}-D weight; only x @ W with W 2-D")
    linear_map(b, node, np.ascontiguousarray(w.T, dtype=np.float32), None, node.input[1])


def _merged_rows(b: ConvertContext, node: onnx.NodeProto, val: Val, weight: np.ndarray,
                 bias: np.ndarray | None, weight_name: str,
                 split: tuple[int, ...] | None) -> None:  # fmt: skip
    """x @ W on tokens with the batch merged into the rows, (N·L, C) (tf2onnx's Tensordot,
    MXNet's FullyConnected on 3-D input): Dense on each sample's (L, C) tokens, the rows
    merged the same way after it."""
    x = per_sample_rows(b, val, node)
    args = {"units": int(weight.shape[0]), "bias": bias is not None}
    weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    nid = b.layer(node, S.Dense, args, [x], weights, weight_name, output=False)
    b.set(node.output[0], _split(merged_rows(b, nid), split))
