"""Add, Sub, Mul (a per-channel constant folded into the layer before, or Add of two
tensors) and Concat."""

from __future__ import annotations

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import INPUT
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.registry import OPS


def _channel_vector(b: ConvertContext, const: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A constant that broadcasts per channel over a value of per-sample ``shape``."""
    try:
        full = np.broadcast_to(const, (1, *shape))[0].reshape(shape[0], -1)
    except ValueError:
        raise Unsupported(f"constant of shape {const.shape} on a value of {shape}") from None
    if const.ndim > len(shape) + 1 or not (full == full[:, :1]).all():
        raise Unsupported(f"constant of shape {const.shape} is not one value per channel")
    return full[:, 0].astype(np.float32)


def _affine(b: ConvertContext, node: onnx.NodeProto, scale: bool) -> None:
    """Mul/Add/Sub by a per-channel constant right after a Conv, ConvTranspose or Dense with
    no other user: folded into its weight and bias."""
    data = [i for i in node.input if i not in b.graph.constants]
    consts = [i for i in node.input if i in b.graph.constants]
    if len(data) != 1 or len(consts) != 1:
        raise Unsupported("needs one data input and one constant")
    src = b.resolved(data[0])
    vec = _channel_vector(b, b.graph.constants[consts[0]], b.ir.shape_of(src))
    if node.op_type == "Sub":
        if node.input[0] != data[0]:
            raise Unsupported("constant - x (only x - constant)")
        vec = -vec
    target = b.ir.nodes[src] if src != INPUT else None
    foldable = (S.Conv2d, S.ConvTranspose2d, S.Dense)
    if (
        target is None
        or target.cls not in foldable
        or target.users
        or len(b.graph.consumers.get(data[0], [])) != 1
    ):
        where = "scale" if scale else "shift"
        raise Unsupported(f"a per-channel {where} that does not directly follow a Conv, "
                          "ConvTranspose or Dense (nothing to fold it into)")  # fmt: skip
    axis = 1 if target.cls is S.ConvTranspose2d else 0
    if scale:
        shape = [1] * target.weights["weight"].ndim
        shape[axis] = -1
        target.weights["weight"] = (target.weights["weight"] * vec.reshape(shape)).astype(
            np.float32
        )
        if "bias" in target.weights:
            target.weights["bias"] = (target.weights["bias"] * vec).astype(np.float32)
    else:
        old = target.weights.get("bias", np.zeros_like(vec))
        target.weights["bias"] = (old + vec).astype(np.float32)
        target.args["bias"] = True
    b.set(node.output[0], b.ir.value(src))


@OPS.register("Add", versions=(7, 14))
def add(b: ConvertContext, node: onnx.NodeProto) -> None:
    if any(i in b.graph.constants for i in node.input):
        _affine(b, node, scale=False)
        return
    inputs = [b.resolved(i) for i in node.input]
    b.layer(node, S.Add, {}, inputs, {}, None)


@OPS.register("Sub", versions=(7, 14))
def sub(b: ConvertContext, node: onnx.NodeProto) -> None:
    _affine(b, node, scale=False)


@OPS.register("Mul", versions=(7, 14))
def mul(b: ConvertContext, node: onnx.NodeProto) -> None:
    _affine(b, node, scale=True)


@OPS.register("Concat", versions=(4, 13))
def concat(b: ConvertContext, node: onnx.NodeProto) -> None:
    axis = int(attrs(node)["axis"])
    inputs = [b.resolved(i) for i in node.input]
    rank = len(b.ir.shape_of(inputs[0])) + 1
    axis = axis + rank if axis < 0 else axis
    if not 1 <= axis < rank:
        raise Unsupported(f"concatenation along axis {axis} (the batch axis)")
    b.layer(node, S.Concat, {"axis": axis}, inputs, {}, None)
