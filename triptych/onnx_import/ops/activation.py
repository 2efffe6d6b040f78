"""Element-wise activations (the index map of their input carries over: they commute with
data movement), and the fused patterns of `triptych.onnx_import.patterns` (SiLU, GELU,
HardSwish, Mish written as several ops)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import INode, Val, identity_index
from triptych.onnx_import.ops.common import Unsupported, attrs, f32
from triptych.onnx_import.ops.merge import BIG, bijective, per_channel
from triptych.onnx_import.ops.reduce import _as_transpose
from triptych.onnx_import.ops.registry import OPS

#: ONNX's (and PyTorch's) SELU constants
SELU_ALPHA, SELU_GAMMA = 1.6732632423543772, 1.0507009873554805


def add_activation(b: ConvertContext, node: onnx.NodeProto, cls: type[S.Layer],
                   args: dict[str, Any]) -> None:  # fmt: skip
    """``cls(**args)`` on the node's input; its output keeps the input's index map (a value
    with Pad zeros is resolved first: f(0) need not be 0)."""
    val = b.data(node.input[0])
    if val.padded:
        val = b.ir.value(b.resolve(val, node))
    shape = b.ir.shape_of(val.source)
    try:
        cls(**args)
    except S.SpecError as e:
        raise Unsupported(str(e)) from None
    nid = b.ir.add(INode(cls, args, [val.source], shape, source=node.name))
    b.set(node.output[0], Val(nid, val.index, val.batch_axis))


def _activation(
    cls: type[S.Layer], **fixed: Callable[[dict[str, Any]], Any]
) -> Callable[[ConvertContext, onnx.NodeProto], None]:
    def convert(b: ConvertContext, node: onnx.NodeProto) -> None:
        add_activation(b, node, cls, {k: f(attrs(node)) for k, f in fixed.items()})

    return convert


def _sixth(x: float) -> float:
    """1/6 exactly where the file has float32(1/6) (PyTorch's hard sigmoid)."""
    return 1.0 / 6.0 if np.float32(x) == np.float32(1.0 / 6.0) else f32(x)


OPS.register("Relu", versions=(6, 14))(_activation(S.ReLU))
OPS.register("LeakyRelu", versions=(6, 16))(
    _activation(S.LeakyReLU, negative_slope=lambda a: f32(a.get("alpha", 0.01)))
)
OPS.register("Sigmoid", versions=(6, 13))(_activation(S.Sigmoid))
OPS.register("Tanh", versions=(6, 13))(_activation(S.Tanh))
OPS.register("HardSigmoid", versions=(6, 22))(
    _activation(
        S.HardSigmoid,
        alpha=lambda a: _sixth(a.get("alpha", 0.2)),
        beta=lambda a: f32(a.get("beta", 0.5)),
    )
)
OPS.register("HardSwish", versions=(14, 22))(_activation(S.HardSwish))
OPS.register("Elu", versions=(6, 22))(_activation(S.ELU, alpha=lambda a: f32(a.get("alpha", 1.0))))
OPS.register("Softplus", versions=(1, 22))(_activation(S.Softplus))
OPS.register("Mish", versions=(18, 22))(_activation(S.Mish))
OPS.register("SiLU", fused=True)(_activation(S.SiLU))
OPS.register("HardSwish", fused=True)(_activation(S.HardSwish))
OPS.register("Mish", fused=True)(_activation(S.Mish))


@OPS.register("Selu", versions=(6, 22))
def selu(b: ConvertContext, node: onnx.NodeProto) -> None:
    a = attrs(node)
    alpha, gamma = a.get("alpha", SELU_ALPHA), a.get("gamma", SELU_GAMMA)
    if not (math.isclose(alpha, SELU_ALPHA, rel_tol=1e-6)
            and math.isclose(gamma, SELU_GAMMA, rel_tol=1e-6)):  # fmt: skip
        raise Unsupported(f"Selu alpha {alpha}, gamma {gamma}; only the standard constants")
    add_activation(b, node, S.SELU, {})


@OPS.register("Gelu", versions=(20, 20))
@OPS.register("Gelu", fused=True)
def gelu(b: ConvertContext, node: onnx.NodeProto) -> None:
    """Gelu (opset 20, exact or tanh), or the erf pattern fused."""
    add_activation(b, node, S.GELU, {"approximate": attrs(node).get("approximate", "none")})


def _bound(b: ConvertContext, node: onnx.NodeProto, k: int, key: str, default: float) -> float:
    """Clip's bound: input ``k`` (opset 11+) or attribute ``key`` (opset 6), else default."""
    if len(node.input) > k and node.input[k]:
        value = b.const(node.input[k], key)
        if value.size != 1:
            raise Unsupported(f"Clip {key} of shape {value.shape}; only one value")
        return float(value.ravel()[0])
    return float(attrs(node).get(key, default))


@OPS.register("Clip", versions=(6, 13))
def clip(b: ConvertContext, node: onnx.NodeProto) -> None:
    """Clip(low, high); Clip(0, no bound) is ReLU."""
    low, high = _bound(b, node, 1, "min", -BIG), _bound(b, node, 2, "max", BIG)
    low, high = max(low, -BIG), min(high, BIG)
    if low == 0.0 and high == BIG:
        add_activation(b, node, S.ReLU, {})
        return
    add_activation(b, node, S.Clip, {"low": f32(low), "high": f32(high)})


@OPS.register("PRelu", versions=(7, 16))
def prelu(b: ConvertContext, node: onnx.NodeProto) -> None:
    """PRelu with a constant slope: one for all, or one per channel of the source."""
    slope = b.const(node.input[1], "slope")
    val = bijective(b, b.data(node.input[0]), node)
    vec, _ = per_channel(b, val, slope)
    shared = slope.size == 1
    weight = vec[:1] if shared else vec
    nid = b.layer(node, S.PReLU, {"shared": shared}, [val.source], {"weight": weight},
                  node.input[1], output=False)  # fmt: skip
    b.set(node.output[0], Val(nid, val.index))


@OPS.register("Softmax", versions=(13, 22))
def softmax(b: ConvertContext, node: onnx.NodeProto) -> None:
    """Softmax along one axis -> Softmax on the NCHW (or token) axis it is, also on a
    transposed view (tf2onnx's NHWC channel softmax)."""
    val = b.data(node.input[0])
    if val.batch_axis:
        raise Unsupported("a softmax of a value whose batch axis is moved or merged")
    rank = len(val.shape) + 1
    axis = int(attrs(node).get("axis", -1)) % rank
    if axis == 0:
        raise Unsupported("a softmax over the batch axis")
    source_shape = b.ir.shape_of(val.source)
    perm = _as_transpose(val, source_shape)
    if perm is None:
        x, perm = b.resolve(val, node), tuple(range(len(val.shape)))
    else:
        x = b.resolve(Val(val.source, identity_index(source_shape)), node)
    nid = b.layer(node, S.Softmax, {"axis": perm[axis - 1]}, [x], {}, None, output=False)
    b.set(node.output[0], Val(nid, identity_index(b.ir.shape_of(nid)).transpose(perm)))
