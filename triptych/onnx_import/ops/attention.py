"""Fused self-attention (`triptych.onnx_import.attention`) -> MultiHeadAttention on the
block's input tokens, with the weights read from the region."""

from __future__ import annotations

import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import INPUT
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.registry import OPS

KEYS = ("in_proj_weight", "in_proj_bias", "out_proj_weight", "out_proj_bias")


@OPS.register("MultiHeadAttention", fused=True)
def attention(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    x = b.resolved(node.input[0])
    if len(b.ir.shape_of(x)) != 2:
        raise Unsupported(f"attention over a per-sample {b.ir.shape_of(x)} value; only (L, C)")
    weights = {k: b.const(i, k) for k, i in zip(KEYS, node.input[1:5], strict=True)}
    args = {"heads": int(a["heads"])} | ({"causal": True} if a.get("causal") else {})
    if "pad_id" not in a:
        b.layer(node, S.MultiHeadAttention, args, [x], weights, node.input[1])
        return
    # a key-padding mask: PaddingMask on the token ids, then the masked attention
    keep = b.layer(node, S.PaddingMask, {"pad_id": int(a["pad_id"])}, [INPUT], {}, None,
                   output=False)  # fmt: skip
    b.layer(node, S.MaskedMultiHeadAttention, args, [x, keep], weights, node.input[1])
