"""Conv and ConvTranspose -> Conv2d / ConvTranspose2d."""

from __future__ import annotations

import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ops.common import Unsupported, attrs, padding, plain_window, square
from triptych.onnx_import.ops.registry import OPS


@OPS.register("Conv", versions=(1, 22))
def conv(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    plain_window(a, "convolution")
    w = b.const(node.input[1], "weight")
    if w.ndim != 4:
        raise Unsupported(f"{w.ndim - 2}-D convolution; only 2-D")
    k = square(list(w.shape[2:]), "kernel")
    s = square(list(a.get("strides", [1, 1])), "strides")
    bias = b.optional_const(node, 2)
    args = {"out_channels": int(w.shape[0]), "kernel": k, "stride": s,
            "padding": padding(node, a, k, s), "bias": bias is not None}  # fmt: skip
    weights = {"weight": w} | ({"bias": bias} if bias is not None else {})
    b.layer(node, S.Conv2d, args, [b.resolved(node.input[0])], weights, node.input[1])


@OPS.register("ConvTranspose", versions=(1, 22))
def conv_transpose(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    plain_window(a, "transposed convolution")
    if any(p != 0 for p in a.get("output_padding", [0, 0])) or "output_shape" in a:
        raise Unsupported("output_padding / output_shape; only output_padding 0")
    w = b.const(node.input[1], "weight")
    if w.ndim != 4:
        raise Unsupported(f"{w.ndim - 2}-D transposed convolution; only 2-D")
    k = square(list(w.shape[2:]), "kernel")
    s = square(list(a.get("strides", [1, 1])), "strides")
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported(f"auto_pad {a['auto_pad']}")
    bias = b.optional_const(node, 2)
    args = {"out_channels": int(w.shape[1]), "kernel": k, "stride": s,
            "padding": padding(node, a, k, s), "bias": bias is not None}  # fmt: skip
    weights = {"weight": w} | ({"bias": bias} if bias is not None else {})
    b.layer(node, S.ConvTranspose2d, args, [b.resolved(node.input[0])], weights, node.input[1])
