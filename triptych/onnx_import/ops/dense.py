"""Gemm and MatMul by a constant -> Dense; on an NHWC view of an NCHW tensor (ConvNeXt's
``nn.Linear`` on channels-last) -> a 1x1 Conv2d of the tensor, the view kept; on (L, C)
tokens -> Dense on each token."""

from __future__ import annotations

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import MERGED, Val, channels_last, identity_index
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.registry import OPS
from triptych.onnx_import.ops.tokens import merged_rows, per_sample_rows


def _dense(b: ConvertContext, node: onnx.NodeProto, weight: np.ndarray, bias: np.ndarray | None,
           weight_name: str) -> None:  # fmt: skip
    """``weight`` (out, in) against the ONNX input's element order; a flat input that is a
    permutation of a tensor (a Keras NHWC flatten) permutes the weight's columns instead."""
    val = b.data(node.input[0])
    if len(val.shape) != 1:
        _pointwise(b, node, val, weight, bias, weight_name)
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
    x = b.resolve(val, node)
    args = {"units": int(weight.shape[0]), "bias": bias is not None}
    weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    b.layer(node, S.Dense, args, [x], weights, weight_name)


def _pointwise(b: ConvertContext, node: onnx.NodeProto, val: Val, weight: np.ndarray,
               bias: np.ndarray | None, weight_name: str) -> None:  # fmt: skip
    """x @ W on a view whose last axis is the channels of a (C, H, W) source: a 1x1 Conv2d
    of the source; the output is the same view of the Conv's output."""
    src_shape = b.ir.shape_of(val.source)
    if val.batch_axis == MERGED and val.index.ndim == 2:
        _merged_rows(b, node, val, weight, bias, weight_name)
        return
    pos = channels_last(val, src_shape) if len(src_shape) == 3 else None
    if pos is None and len(val.shape) == 2:  # (L, C) tokens: Dense on each token
        x = b.resolve(val, node)
        args = {"units": int(weight.shape[0]), "bias": bias is not None}
        weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
        b.layer(node, S.Dense, args, [x], weights, weight_name)
        return
    if pos is None:
        raise Unsupported(f"input of per-sample shape {val.shape} that is not a channels-last "
                          "view of a (C, H, W) tensor; Dense needs a flat input")  # fmt: skip
    units = int(weight.shape[0])
    args = {"out_channels": units, "kernel": 1, "bias": bias is not None}
    weights = {"weight": weight[:, :, None, None]} | ({"bias": bias} if bias is not None else {})
    nid = b.layer(node, S.Conv2d, args, [val.source], weights, weight_name, output=False)
    hw = int(np.prod(src_shape[1:]))
    b.set(node.output[0], Val(nid, np.arange(units, dtype=np.int64) * hw + pos[..., None]))


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
    _dense(b, node, np.ascontiguousarray(w, dtype=np.float32), c, node.input[1])


@OPS.register("MatMul", versions=(1, 13))
def matmul(b: ConvertContext, node: onnx.NodeProto) -> None:
    w = b.const(node.input[1], "weight")
    if w.ndim != 2:
        raise Unsupported(f"MatMul with a {w.ndim}-D weight; only x @ W with W 2-D")
    _dense(b, node, np.ascontiguousarray(w.T, dtype=np.float32), None, node.input[1])


def _merged_rows(b: ConvertContext, node: onnx.NodeProto, val: Val, weight: np.ndarray,
                 bias: np.ndarray | None, weight_name: str) -> None:  # fmt: skip
    """x @ W on tokens with the batch merged into the rows, (N·L, C) (tf2onnx's Tensordot,
    MXNet's FullyConnected on 3-D input): Dense on each sample's (L, C) tokens, the rows
    merged the same way after it."""
    x = per_sample_rows(b, val, node)
    args = {"units": int(weight.shape[0]), "bias": bias is not None}
    weights = {"weight": weight} | ({"bias": bias} if bias is not None else {})
    nid = b.layer(node, S.Dense, args, [x], weights, weight_name, output=False)
    b.set(node.output[0], merged_rows(b, nid))
