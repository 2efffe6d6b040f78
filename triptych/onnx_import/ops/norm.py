"""BatchNormalization (inference form) -> BatchNorm."""

from __future__ import annotations

import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ops.common import Unsupported, attrs, f32
from triptych.onnx_import.ops.registry import OPS


@OPS.register("BatchNormalization", versions=(7, 15))
def batch_norm(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    if a.get("training_mode", 0) or any(o for o in node.output[1:]):
        raise Unsupported("training-mode BatchNormalization; only the inference form")
    names = ("weight", "bias", "running_mean", "running_var")
    weights = {n: b.const(i, n) for n, i in zip(names, node.input[1:5], strict=True)}
    args = {"eps": f32(a.get("epsilon", 1e-5)),
            "momentum": round(1.0 - float(a.get("momentum", 0.9)), 6)}  # fmt: skip
    b.layer(node, S.BatchNorm, args, [b.resolved(node.input[0])], weights, node.input[1])
