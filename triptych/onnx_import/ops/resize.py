"""Resize: nearest as data movement, linear (half-pixel) as a bilinear Upsample."""

from __future__ import annotations

import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.registry import OPS
from triptych.onnx_import.ops.reshape import movement


@OPS.register("Resize", versions=(11, 19))
def resize(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    mode = a.get("mode", "nearest")
    if mode == "nearest":
        movement(b, node, as_float=True)
        return
    if mode != "linear" or a.get("coordinate_transformation_mode", "half_pixel") not in (
        "half_pixel", "pytorch_half_pixel"
    ) or a.get("antialias", 0):  # fmt: skip
        raise Unsupported(f"mode {mode} / {a.get('coordinate_transformation_mode')}; only "
                          "nearest or linear with half_pixel")  # fmt: skip
    x = b.resolved(node.input[0])
    c, h, w = b.ir.shape_of(x)
    out = b.graph.shape(node.output[0])
    if out is None or out[0] != c or out[1] % h or out[1] // h != out[2] // w or out[2] % w:
        raise Unsupported(f"resize {(c, h, w)} -> {out}: only an integer scale on H and W")
    b.layer(node, S.Upsample, {"scale": out[1] // h, "mode": "bilinear"}, [x], {}, None)
