"""Element-wise activations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import INode, Val
from triptych.onnx_import.ops.common import attrs, f32
from triptych.onnx_import.ops.registry import OPS


def _activation(
    cls: type[S.Layer], **fixed: Any
) -> Callable[[ConvertContext, onnx.NodeProto], None]:
    def convert(b: ConvertContext, node: onnx.NodeProto) -> None:
        args = {k: f(attrs(node)) for k, f in fixed.items()}
        val = b.data(node.input[0])
        shape = b.ir.shape_of(val.source)
        nid = b.ir.add(INode(cls, args, [val.source], shape, source=node.name))
        b.set(node.output[0], Val(nid, val.index))  # element-wise: the index map carries over

    return convert


OPS.register("Relu", versions=(6, 14))(_activation(S.ReLU))
OPS.register("LeakyRelu", versions=(6, 16))(
    _activation(S.LeakyReLU, negative_slope=lambda a: f32(a.get("alpha", 0.01)))
)
OPS.register("Sigmoid", versions=(6, 13))(_activation(S.Sigmoid))
OPS.register("Tanh", versions=(6, 13))(_activation(S.Tanh))
