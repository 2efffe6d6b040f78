"""BatchNormalization (inference form) -> BatchNorm; LayerNormalization over channels ->
LayerNorm2d, over the features of (L, C) tokens -> LayerNorm."""

from __future__ import annotations

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import MERGED, Val, channels_last
from triptych.onnx_import.ops.common import Unsupported, attrs, f32
from triptych.onnx_import.ops.registry import OPS
from triptych.onnx_import.ops.tokens import merged_rows, per_sample_rows


@OPS.register("BatchNormalization", versions=(7, 15))
def batch_norm(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    if a.get("training_mode", 0) or any(o for o in node.output[1:]):
        raise Unsupported("training-mode BatchNormalization; only the inference form")
    names = ("weight", "bias", "running_mean", "running_var")
    weights = {n: b.const(i, n) for n, i in zip(names, node.input[1:5], strict=True)}
    args = {
        "eps": f32(a.get("epsilon", 1e-5)),
        "momentum": round(1.0 - float(a.get("momentum", 0.9)), 6),
    }
    b.layer(node, S.BatchNorm, args, [b.resolved(node.input[0])], weights, node.input[1])


@OPS.register("LayerNormalization", fused=True)  # written out in elementary ops (`layernorm`)
@OPS.register("LayerNormalization", versions=(17, 17))
def layer_norm(b: ConvertContext, node: onnx.NodeProto) -> None:
    """LayerNormalization over the last axis of a view whose last axis is its source's
    channels (ConvNeXt: NCHW transposed to NHWC; or a (N, F) vector) -> LayerNorm2d on the
    source, the view kept."""
    a = attrs(node)
    val = b.data(node.input[0])
    axis = int(a.get("axis", -1))
    if axis not in (-1, len(val.shape)):
        raise Unsupported(f"normalisation from axis {axis}; only over the last axis")
    src_shape = b.ir.shape_of(val.source)
    if val.batch_axis == MERGED and val.index.ndim == 2:  # (N·L, C) rows (Chainer's export)
        x = per_sample_rows(b, val, node)
        nid = _token_norm(b, node, b.ir.value(x), a, output=False)
        b.set(node.output[0], merged_rows(b, nid))
        return
    if len(val.shape) == 2 and channels_last(val, src_shape) is None:
        _token_norm(b, node, val, a)
        return
    if channels_last(val, src_shape) is None:
        raise Unsupported(
            f"the last axis of a value of shape {val.shape} is not the channel "
            f"axis of a (C, H, W) or (F,) tensor (its source {src_shape})"
        )
    c = src_shape[0]
    weight = b.const(node.input[1], "scale").reshape(-1)
    bias = b.optional_const(node, 2)
    bias = np.zeros(c, np.float32) if bias is None else bias.reshape(-1)
    if weight.size != c or bias.size != c:
        raise Unsupported(f"scale/bias of {weight.size}/{bias.size} values for {c} channels")
    if a.get("stash_type", 1) != 1 or any(o for o in node.output[1:]):
        raise Unsupported("the Mean / InvStdDev outputs, or a stash_type other than float")
    args = {"eps": f32(a.get("epsilon", 1e-5))}
    nid = b.layer(
        node,
        S.LayerNorm2d,
        args,
        [val.source],
        {"weight": weight, "bias": bias},
        node.input[1],
        output=False,
    )
    b.set(node.output[0], Val(nid, val.index))


def _token_norm(b: ConvertContext, node: onnx.NodeProto, val: Val, a: dict,
                output: bool = True) -> int:  # fmt: skip
    """LayerNormalization over the last axis of (L, C) tokens -> LayerNorm (its IR node)."""
    x = b.resolve(val, node)
    c = b.ir.shape_of(x)[-1]
    weight = b.const(node.input[1], "scale").reshape(-1)
    bias = b.optional_const(node, 2)
    bias = np.zeros(c, np.float32) if bias is None else bias.reshape(-1)
    if weight.size != c or bias.size != c:
        raise Unsupported(f"scale/bias of {weight.size}/{bias.size} values for {c} features")
    args = {"eps": f32(a.get("epsilon", 1e-5))}
    weights = {"weight": weight, "bias": bias}
    return b.layer(node, S.LayerNorm, args, [x], weights, node.input[1], output=output)
