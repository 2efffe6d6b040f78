"""Conv and ConvTranspose -> Conv2d / ConvTranspose2d: grouped and depthwise (``group``),
dilated (Conv), padded on any side (Conv: explicit ``pads``, ``auto_pad`` SAME_*, and a
zero Pad before it taken in), ``output_padding`` (ConvTranspose)."""

from __future__ import annotations

import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ops.common import (
    Unsupported,
    attrs,
    kernel_arg,
    padded_input,
    padding,
    pads4,
    square,
)
from triptych.onnx_import.ops.registry import OPS


@OPS.register("Conv", versions=(1, 22))
def conv(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    w = b.const(node.input[1], "weight")
    if w.ndim != 4:
        raise Unsupported(f"{w.ndim - 2}-D convolution; only 2-D")
    k = kernel_arg(list(w.shape[2:]))
    s = square(list(a.get("strides", [1, 1])), "strides")
    d = square(list(a.get("dilations", [1, 1])), "dilations")
    x, extra = padded_input(b, node.input[0], node)
    c, h, wd = b.ir.shape_of(x)[:3] if len(b.ir.shape_of(x)) == 3 else (0, 0, 0)
    if not c:
        raise Unsupported(f"input of per-sample shape {b.ir.shape_of(x)}; Conv needs (C, H, W)")
    hw = (h + extra[0] + extra[2], wd + extra[1] + extra[3])
    own = pads4(a, k, s, d, hw)
    pads = tuple(p + q for p, q in zip(own, extra, strict=True))
    groups = int(a.get("group", 1))
    bias = b.optional_const(node, 2)
    args = {
        "out_channels": int(w.shape[0]),
        "kernel": k,
        "stride": s,
        "padding": pads[0] if len(set(pads)) == 1 else pads,
        "bias": bias is not None,
    }
    if groups != 1:
        args["groups"] = groups
    if d != 1:
        args["dilation"] = d
    weights = {"weight": w} | ({"bias": bias} if bias is not None else {})
    b.layer(node, S.Conv2d, args, [x], weights, node.input[1])


@OPS.register("ConvTranspose", versions=(1, 22))
def conv_transpose(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    if any(dd != 1 for dd in a.get("dilations", [1, 1])):
        raise Unsupported(f"dilations {a['dilations']} (dilated transposed convolution)")
    if "output_shape" in a:
        raise Unsupported("output_shape; only pads and output_padding")
    w = b.const(node.input[1], "weight")
    if w.ndim != 4:
        raise Unsupported(f"{w.ndim - 2}-D transposed convolution; only 2-D")
    k = square(list(w.shape[2:]), "kernel")
    s = square(list(a.get("strides", [1, 1])), "strides")
    out_pad = square(list(a.get("output_padding", [0, 0])), "output_padding")
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported(f"auto_pad {a['auto_pad']}")
    groups = int(a.get("group", 1))
    bias = b.optional_const(node, 2)
    args = {
        "out_channels": int(w.shape[1]) * groups,
        "kernel": k,
        "stride": s,
        "padding": padding(node, a, k, s),
        "bias": bias is not None,
    }
    if groups != 1:
        args["groups"] = groups
    if out_pad:
        args["output_padding"] = out_pad
    weights = {"weight": w} | ({"bias": bias} if bias is not None else {})
    b.layer(node, S.ConvTranspose2d, args, [b.resolved(node.input[0])], weights, node.input[1])
