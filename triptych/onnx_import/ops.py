"""The op converters: ONNX op type -> a function that adds IR nodes (or index maps) for one
node. Each raises `Unsupported` with the reason when the node is outside the vocabulary."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import onnx
from onnx import helper

from triptych.common import spec as S
from triptych.onnx_import.ir import INPUT, INode, Val, identity_index
from triptych.onnx_import.reader import run_node

if TYPE_CHECKING:
    from triptych.onnx_import.builder import Builder


class Unsupported(ValueError):
    """This node cannot become spec layers (the message is the reason)."""


def attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def _f32(x: float) -> float:
    """The shortest decimal of a float32 attribute (0.2, not 0.20000000298023224)."""
    return float(str(np.float32(x)))


def _square(values: list[int], what: str) -> int:
    if len(set(values)) != 1:
        raise Unsupported(f"non-square {what} {list(values)}")
    return int(values[0])


def _padding(node: onnx.NodeProto, a: dict[str, Any], kernel: int, stride: int) -> int:
    auto = a.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return 0
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        if stride == 1 and kernel % 2:
            return (kernel - 1) // 2
        raise Unsupported(f"auto_pad {auto} with kernel {kernel}, stride {stride} is asymmetric")
    pads = list(a.get("pads", [0, 0, 0, 0]))
    if len(set(pads)) != 1:
        raise Unsupported(f"asymmetric pads {pads}")
    return int(pads[0])


def _plain_window(a: dict[str, Any], op: str) -> None:
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise Unsupported(f"dilations {a['dilations']}")
    if a.get("group", 1) != 1:
        raise Unsupported(f"group={a['group']} (grouped/depthwise {op}); only group 1")


def conv(b: Builder, node: onnx.NodeProto) -> None:
    a = attrs(node)
    _plain_window(a, "convolution")
    w = b.const(node.input[1], "weight")
    if w.ndim != 4:
        raise Unsupported(f"{w.ndim - 2}-D convolution; only 2-D")
    k = _square(list(w.shape[2:]), "kernel")
    s = _square(list(a.get("strides", [1, 1])), "strides")
    bias = b.optional_const(node, 2)
    args = {"out_channels": int(w.shape[0]), "kernel": k, "stride": s,
            "padding": _padding(node, a, k, s), "bias": bias is not None}  # fmt: skip
    weights = {"weight": w} | ({"bias": bias} if bias is not None else {})
    b.layer(node, S.Conv2d, args, [b.resolved(node.input[0])], weights, node.input[1])


def conv_transpose(b: Builder, node: onnx.NodeProto) -> None:
    a = attrs(node)
    _plain_window(a, "transposed convolution")
    if any(p != 0 for p in a.get("output_padding", [0, 0])) or "output_shape" in a:
        raise Unsupported("output_padding / output_shape; only output_padding 0")
    w = b.const(node.input[1], "weight")
    if w.ndim != 4:
        raise Unsupported(f"{w.ndim - 2}-D transposed convolution; only 2-D")
    k = _square(list(w.shape[2:]), "kernel")
    s = _square(list(a.get("strides", [1, 1])), "strides")
    if a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise Unsupported(f"auto_pad {a['auto_pad']}")
    bias = b.optional_const(node, 2)
    args = {"out_channels": int(w.shape[1]), "kernel": k, "stride": s,
            "padding": _padding(node, a, k, s), "bias": bias is not None}  # fmt: skip
    weights = {"weight": w} | ({"bias": bias} if bias is not None else {})
    b.layer(node, S.ConvTranspose2d, args, [b.resolved(node.input[0])], weights, node.input[1])


def batch_norm(b: Builder, node: onnx.NodeProto) -> None:
    a = attrs(node)
    if a.get("training_mode", 0) or any(o for o in node.output[1:]):
        raise Unsupported("training-mode BatchNormalization; only the inference form")
    names = ("weight", "bias", "running_mean", "running_var")
    weights = {n: b.const(i, n) for n, i in zip(names, node.input[1:5], strict=True)}
    args = {"eps": _f32(a.get("epsilon", 1e-5)),
            "momentum": round(1.0 - float(a.get("momentum", 0.9)), 6)}  # fmt: skip
    b.layer(node, S.BatchNorm, args, [b.resolved(node.input[0])], weights, node.input[1])


def _dense(b: Builder, node: onnx.NodeProto, weight: np.ndarray, bias: np.ndarray | None,
           weight_name: str) -> None:  # fmt: skip
    """``weight`` (out, in) against the ONNX input's element order; a flat input that is a
    permutation of a tensor (a Keras NHWC flatten) permutes the weight's columns instead."""
    val = b.data(node.input[0])
    if len(val.shape) != 1:
        raise Unsupported(f"input of per-sample shape {val.shape}; Dense needs a flat input")
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


def gemm(b: Builder, node: onnx.NodeProto) -> None:
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


def matmul(b: Builder, node: onnx.NodeProto) -> None:
    w = b.const(node.input[1], "weight")
    if w.ndim != 2:
        raise Unsupported(f"MatMul with a {w.ndim}-D weight; only x @ W with W 2-D")
    _dense(b, node, np.ascontiguousarray(w.T, dtype=np.float32), None, node.input[1])


def _channel_vector(b: Builder, const: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A constant that broadcasts per channel over a value of per-sample ``shape``."""
    try:
        full = np.broadcast_to(const, (1, *shape))[0].reshape(shape[0], -1)
    except ValueError:
        raise Unsupported(f"constant of shape {const.shape} on a value of {shape}") from None
    if const.ndim > len(shape) + 1 or not (full == full[:, :1]).all():
        raise Unsupported(f"constant of shape {const.shape} is not one value per channel")
    return full[:, 0].astype(np.float32)


def _affine(b: Builder, node: onnx.NodeProto, scale: bool) -> None:
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


def add(b: Builder, node: onnx.NodeProto) -> None:
    if any(i in b.graph.constants for i in node.input):
        _affine(b, node, scale=False)
        return
    inputs = [b.resolved(i) for i in node.input]
    b.layer(node, S.Add, {}, inputs, {}, None)


def sub(b: Builder, node: onnx.NodeProto) -> None:
    _affine(b, node, scale=False)


def mul(b: Builder, node: onnx.NodeProto) -> None:
    _affine(b, node, scale=True)


def concat(b: Builder, node: onnx.NodeProto) -> None:
    axis = int(attrs(node)["axis"])
    inputs = [b.resolved(i) for i in node.input]
    rank = len(b.ir.shape_of(inputs[0])) + 1
    axis = axis + rank if axis < 0 else axis
    if not 1 <= axis < rank:
        raise Unsupported(f"concatenation along axis {axis} (the batch axis)")
    b.layer(node, S.Concat, {"axis": axis}, inputs, {}, None)


def _activation(cls: type[S.Layer], **fixed: Any) -> Callable[[Builder, onnx.NodeProto], None]:
    def convert(b: Builder, node: onnx.NodeProto) -> None:
        args = {k: f(attrs(node)) for k, f in fixed.items()}
        val = b.data(node.input[0])
        shape = b.ir.shape_of(val.source)
        nid = b.ir.add(INode(cls, args, [val.source], shape, source=node.name))
        b.set(node.output[0], Val(nid, val.index))  # element-wise: the index map carries over

    return convert


def _window(a: dict[str, Any], op: str) -> tuple[int, int]:
    if a.get("ceil_mode", 0):
        raise Unsupported("ceil_mode=1; only floor")
    if any(d != 1 for d in a.get("dilations", [1, 1])) or a.get("storage_order", 0):
        raise Unsupported("dilations or storage_order")
    k = _square(list(a["kernel_shape"]), "kernel")
    return k, _square(list(a.get("strides", [1, 1])), "strides")


def max_pool(b: Builder, node: onnx.NodeProto) -> None:
    if len(node.output) > 1 and node.output[1]:
        raise Unsupported("the Indices output is used")
    a = attrs(node)
    k, s = _window(a, "MaxPool")
    args = {"kernel": k, "stride": s, "padding": _padding(node, a, k, s)}
    b.layer(node, S.MaxPool2d, args, [b.resolved(node.input[0])], {}, None)


def average_pool(b: Builder, node: onnx.NodeProto) -> None:
    a = attrs(node)
    k, s = _window(a, "AveragePool")
    p = _padding(node, a, k, s)
    if p and not a.get("count_include_pad", 0):
        raise Unsupported("count_include_pad=0 with padding; only count_include_pad=1")
    args = {"kernel": k, "stride": s, "padding": p}
    b.layer(node, S.AvgPool2d, args, [b.resolved(node.input[0])], {}, None)


def global_average_pool(b: Builder, node: onnx.NodeProto) -> None:
    x = b.resolved(node.input[0])
    c = b.ir.shape_of(x)[0]
    nid = b.layer(node, S.GlobalAvgPool, {}, [x], {}, None, output=False)
    b.set(node.output[0], Val(nid, np.arange(c, dtype=np.int64).reshape(c, 1, 1)))


def reduce_mean(b: Builder, node: onnx.NodeProto) -> None:
    """A mean over exactly the spatial positions of each channel: GlobalAvgPool."""
    a = attrs(node)
    axes = a.get("axes")
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = [int(x) for x in b.const(node.input[1], "axes").ravel()]
    val = b.data(node.input[0])
    rank = len(val.shape) + 1
    axes = sorted(x + rank if x < 0 else x for x in (axes or []))
    src_shape = b.ir.shape_of(val.source)
    if not axes or 0 in axes or len(src_shape) != 3:
        raise Unsupported(f"mean over axes {axes}; only over the spatial axes (GlobalAvgPool)")
    keep = [d - 1 for d in range(1, rank) if d not in axes]
    moved = np.moveaxis(val.index, [d - 1 for d in axes], list(range(-len(axes), 0)))
    hw = src_shape[1] * src_shape[2]
    rows = moved.reshape(-1, math.prod(val.shape[d - 1] for d in axes))
    chan = rows[:, 0] // hw
    ok = rows.shape[1] == hw and all(
        (r // hw == c).all() and np.array_equal(np.sort(r % hw), np.arange(hw))
        for r, c in zip(rows, chan, strict=True)
    )
    if not ok:
        raise Unsupported(f"mean over axes {axes} is not a mean over H and W per channel")
    x = b.resolve(b.ir.value(val.source) if val.source == INPUT else Val(
        val.source, identity_index(src_shape)), node)  # fmt: skip
    nid = b.layer(node, S.GlobalAvgPool, {}, [x], {}, None, output=False)
    out_shape = [val.shape[d] for d in keep]
    if a.get("keepdims", 1):
        out_shape = [1 if d + 1 in axes else val.shape[d] for d in range(rank - 1)]
    b.set(node.output[0], Val(nid, chan.reshape(out_shape).astype(np.int64)))


def resize(b: Builder, node: onnx.NodeProto) -> None:
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


def passthrough(b: Builder, node: onnx.NodeProto) -> None:
    """Identity, Dropout (inference), Cast to float: the value itself."""
    mask = node.output[1] if node.op_type == "Dropout" and len(node.output) > 1 else ""
    if mask and b.graph.consumers.get(mask):
        raise Unsupported("the Dropout mask output is used")
    if node.op_type == "Cast" and attrs(node).get("to") != onnx.TensorProto.FLOAT:
        raise Unsupported("a cast of data to a type other than float32")
    b.set(node.output[0], b.data(node.input[0]))


def movement(b: Builder, node: onnx.NodeProto, as_float: bool = False) -> None:
    """A data-movement op: run it on the input's index map (batch 1) with the reference
    evaluator; the result is the output's index map."""
    val = b.data(node.input[0])
    rest = []
    for i in node.input[1:]:
        if i and i not in b.graph.constants:
            raise Unsupported(f"its input {i!r} is computed from data, not a constant")
        rest.append(b.graph.constants[i] if i else None)
    index = val.index[None].astype(np.float64 if as_float else np.int64)
    try:
        out = np.asarray(run_node(node, [index, *rest], b.graph.opset)[0])
    except Exception as e:
        raise Unsupported(f"cannot evaluate it ({type(e).__name__}: {e})") from None
    inferred = b.graph.shape(node.output[0])
    if out.ndim < 1 or out.shape[0] != 1 or (inferred is not None and out.shape[1:] != inferred):
        raise Unsupported(f"it moves data across the batch axis (output {out.shape} at batch 1)")
    b.set(node.output[0], Val(val.source, out[0].astype(np.int64)))


CONVERTERS: dict[str, Callable[[Builder, onnx.NodeProto], None]] = {
    "Conv": conv,
    "ConvTranspose": conv_transpose,
    "BatchNormalization": batch_norm,
    "Gemm": gemm,
    "MatMul": matmul,
    "Add": add,
    "Sub": sub,
    "Mul": mul,
    "Concat": concat,
    "Relu": _activation(S.ReLU),
    "LeakyRelu": _activation(S.LeakyReLU, negative_slope=lambda a: _f32(a.get("alpha", 0.01))),
    "Sigmoid": _activation(S.Sigmoid),
    "Tanh": _activation(S.Tanh),
    "MaxPool": max_pool,
    "AveragePool": average_pool,
    "GlobalAveragePool": global_average_pool,
    "ReduceMean": reduce_mean,
    "Resize": resize,
    "Identity": passthrough,
    "Dropout": passthrough,
    "Cast": passthrough,
    **{
        op: movement
        for op in (
            "Transpose",
            "Reshape",
            "Flatten",
            "Squeeze",
            "Unsqueeze",
            "Tile",
            "Slice",
            "Expand",
            "Gather",
        )
    },
}
