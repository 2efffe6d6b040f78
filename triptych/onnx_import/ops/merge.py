"""Element-wise arithmetic and Concat.

Of two (or more) tensors: Add/Sum, Sub, Mul, Div, Max, Min -> `Add`, `Sub`, `Mul`, `Div`,
`Maximum`, `Minimum` (broadcasting sizes of 1: squeeze-and-excitation's gate). By a constant
that is one value per channel (or one value): folded into the Conv, ConvTranspose or Dense
it directly follows (a BatchNorm the exporter fused) or into a fixed `ChannelAffine` it
follows; else a `LayerScale` whose weight is the constant when that is a learned per-channel
initializer (ConvNeXt's ``layer_scale``), else a fixed `ChannelAffine` (Keras' Rescaling and
Normalization). A constant named as a layer scale is never folded away. An (L, C) table on
tokens -> `PositionEmbedding` (on `Tokens` of an image first). Max/Min by one value ->
`Clip`. The constant is matched to the channels of the value's source through its index
map, so NHWC views (Keras, ConvNeXt) work as NCHW ones do. Concat of one input is that
input.
"""

from __future__ import annotations

import re

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import INPUT, Val
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.registry import OPS
from triptych.onnx_import.ops.tokens import tokens_by_constant

#: initializer names of learned layer scales (torchvision ``layer_scale``, timm ``gamma``)
LAYER_SCALE = re.compile(r"layer_?scale|(^|[./_])(gamma|ls\d*)($|[./_:])", re.IGNORECASE)
#: float32's largest value: an unbounded side of a Clip
BIG = float(np.finfo(np.float32).max)
_TENSOR_OPS = {"Add": S.Add, "Sum": S.Add, "Mul": S.Mul, "Sub": S.Sub, "Div": S.Div,
               "Max": S.Maximum, "Min": S.Minimum}  # fmt: skip


def per_channel(b: ConvertContext, val: Val, const: np.ndarray) -> tuple[np.ndarray, bool]:
    """``const`` (broadcast over ``val``, a permutation of its source) as one value per
    channel of the source, and whether all those values are equal."""
    shape = (1, *val.shape)
    try:
        ok = np.broadcast_shapes(const.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise Unsupported(f"constant of shape {const.shape} on a value of shape {val.shape}")
    src_shape = b.ir.shape_of(val.source)
    spread = np.empty(int(np.prod(src_shape)), dtype=np.float32)
    spread[val.index.ravel()] = np.broadcast_to(const, shape)[0].ravel()
    rows = spread.reshape(src_shape[0], -1)
    if not (rows == rows[:, :1]).all():
        raise Unsupported(f"constant of shape {const.shape} is not one value per channel")
    vec = rows[:, 0].astype(np.float32)
    return vec, bool((vec == vec[0]).all())


def bijective(b: ConvertContext, val: Val, node: onnx.NodeProto) -> Val:
    """``val`` itself when it is a permutation of its source, else its resolved tensor."""
    n = int(np.prod(b.ir.shape_of(val.source)))
    flat = val.index.ravel()
    if not val.batch_axis and flat.size == n and np.array_equal(np.sort(flat), np.arange(n)):
        return val
    return b.ir.value(b.resolve(val, node))


def _tokens_view(b: ConvertContext, val: Val, node: onnx.NodeProto, const: np.ndarray) -> Val:
    """``val``, (L, C) tokens viewing a (C, H, W) image, as it is when ``const`` is one value
    per channel (a bias, folded into the image's layer); else (an (L, C) table: a ViT's or an
    MAE's position embedding with no class token before it) the tokens made a tensor of their
    own (`Tokens`), so that the table becomes a `PositionEmbedding` on them."""
    try:
        per_channel(b, val, const)
    except Unsupported:
        return b.ir.value(b.resolve(val, node))
    return val


def _fold(b: ConvertContext, src: int, vec: np.ndarray, scale: bool) -> None:
    """Fold ``x * vec`` or ``x + vec`` into the Conv/ConvTranspose/Dense node ``src``."""
    target = b.ir.nodes[src]
    if scale:
        shape = [1] * target.weights["weight"].ndim
        shape[1 if target.cls is S.ConvTranspose2d else 0] = -1
        if target.cls is S.ConvTranspose2d and target.args.get("groups", 1) != 1:
            w = target.weights["weight"]  # (in, out/g, k, k): scale per output channel
            g = target.args["groups"]
            per = vec.reshape(g, 1, -1, 1, 1)
            w = (w.reshape(g, -1, *w.shape[1:]) * per).reshape(w.shape)
            target.weights["weight"] = w.astype(np.float32)
        else:
            target.weights["weight"] = (target.weights["weight"] * vec.reshape(shape)).astype(
                np.float32
            )
        if "bias" in target.weights:
            target.weights["bias"] = (target.weights["bias"] * vec).astype(np.float32)
    else:
        old = target.weights.get("bias", np.zeros_like(vec))
        target.weights["bias"] = (old + vec).astype(np.float32)
        target.args["bias"] = True


def _by_constant(b: ConvertContext, node: onnx.NodeProto) -> None:
    """x op c for a per-channel constant c (module docstring)."""
    data = [i for i in node.input if i not in b.graph.constants]
    consts = [i for i in node.input if i in b.graph.constants]
    if len(data) != 1 or len(consts) != 1:
        raise Unsupported("needs one data input and one constant")
    op, const_name = node.op_type, consts[0]
    if op in ("Max", "Min"):
        c = b.graph.constants[const_name]
        if np.size(c) != 1:
            raise Unsupported(f"{op} with a constant of shape {np.shape(c)}; only one value")
        low, high = (float(np.ravel(c)[0]), BIG) if op == "Max" else (-BIG, float(np.ravel(c)[0]))
        x = b.resolved(data[0])
        b.layer(node, S.Clip, {"low": low, "high": high}, [x], {}, None)
        return
    val = bijective(b, b.data(data[0]), node)
    if len(val.shape) == 2 and len(b.ir.shape_of(val.source)) == 3:
        val = _tokens_view(b, val, node, np.asarray(b.graph.constants[const_name], np.float32))
    if len(b.ir.shape_of(val.source)) == 2:
        tokens_by_constant(b, node, val, data[0], const_name)
        return
    vec, uniform = per_channel(b, val, np.asarray(b.graph.constants[const_name], np.float32))
    first = node.input[0] == data[0]
    scale = op in ("Mul", "Div")
    if op == "Div":
        if not first:
            raise Unsupported("constant / x (only x / constant)")
        vec = (np.float32(1) / vec).astype(np.float32)
    elif op == "Sub":
        vec = -vec if first else vec
    src = val.source
    target = b.ir.nodes[src] if src != INPUT else None
    mine = target is not None and target.users == 0 and b.sole_use(data[0])
    learned = b.graph.is_weight(const_name)
    named_scale = bool(LAYER_SCALE.search(const_name))
    if op == "Sub" and not first:  # c - x = -x + c
        if mine and target.cls is S.ChannelAffine:
            target.args["scale"] = tuple(-v for v in target.args["scale"])
            target.args["offset"] = tuple(-v for v in target.args["offset"])
        else:
            src = _affine_node(b, node, src, (-1.0,), (0.0,))
        _merge_affine(b, src, None, vec)
    elif mine and target.cls in (S.Conv2d, S.ConvTranspose2d, S.Dense) and not named_scale:
        _fold(b, src, vec, scale)
    elif mine and target.cls is S.ChannelAffine and not named_scale:
        _merge_affine(b, src, vec if scale else None, None if scale else vec)
    elif op == "Mul" and learned and (named_scale or not uniform):
        src = b.layer(node, S.LayerScale, {}, [src], {"weight": vec}, const_name, output=False)
    else:
        values = tuple(float(v) for v in (vec[:1] if uniform else vec))
        args = (values, (0.0,)) if scale else ((1.0,), values)
        src = _affine_node(b, node, src, *args)
    b.set(node.output[0], Val(src, val.index))


def _affine_node(b: ConvertContext, node: onnx.NodeProto, src: int, scale: tuple,
                 offset: tuple) -> int:  # fmt: skip
    return b.layer(node, S.ChannelAffine, {"scale": scale, "offset": offset}, [src], {}, None,
                   output=False)  # fmt: skip


def _merge_affine(b: ConvertContext, nid: int, mul: np.ndarray | None,
                  add: np.ndarray | None) -> None:  # fmt: skip
    """ChannelAffine ``nid`` followed by ``* mul`` or ``+ add`` (per channel), as one."""
    args = b.ir.nodes[nid].args
    scale, offset = np.asarray(args["scale"], np.float32), np.asarray(args["offset"], np.float32)
    if mul is not None:
        scale, offset = scale * mul, offset * mul
    if add is not None:
        offset = offset + add
    for key, v in (("scale", scale), ("offset", offset)):
        args[key] = tuple(float(x) for x in (v[:1] if (v == v.flat[0]).all() else v))


def elementwise(b: ConvertContext, node: onnx.NodeProto) -> None:
    """Add/Sum, Sub, Mul, Div, Max, Min: of tensors, or of a tensor and a constant."""
    ins = [i for i in node.input if i]
    if any(i in b.graph.constants for i in ins):
        _by_constant(b, node)
        return
    cls = _TENSOR_OPS[node.op_type]
    if len(ins) == 1:  # a one-input Sum / Max / Min is its input
        b.set(node.output[0], b.data(ins[0]))
        return
    vals = [b.data(i) for i in ins]
    first = vals[0]
    alike = all(
        not v.batch_axis and not v.padded and np.array_equal(v.index, first.index)
        and b.ir.shape_of(v.source) == b.ir.shape_of(first.source)
        for v in vals
    )  # fmt: skip
    if alike:  # the same view of each source (both NHWC, say): merge the sources
        nid = b.layer(node, cls, {}, [v.source for v in vals], {}, None, output=False)
        b.set(node.output[0], Val(nid, first.index))
        return
    b.layer(node, cls, {}, [b.resolve(v, node) for v in vals], {}, None)


OPS.register("Add", "Sub", "Mul", "Div", versions=(7, 14))(elementwise)
OPS.register("Sum", "Max", "Min", versions=(8, 13))(elementwise)


@OPS.register("Concat", versions=(4, 13))
def concat(b: ConvertContext, node: onnx.NodeProto) -> None:
    ins = [i for i in node.input if i]
    if len(ins) == 1:  # DenseNet's first block: a concatenation of one tensor
        b.set(node.output[0], b.data(ins[0]))
        return
    axis = int(attrs(node)["axis"])
    if len(ins) == 2 and ins[0] in b.graph.constants and ins[1] not in b.graph.constants:
        _class_token(b, node, b.graph.constants[ins[0]], ins[1], axis)
        return
    inputs = [b.resolved(i) for i in ins]
    rank = len(b.ir.shape_of(inputs[0])) + 1
    axis = axis + rank if axis < 0 else axis
    if not 1 <= axis < rank:
        raise Unsupported(f"concatenation along axis {axis} (the batch axis)")
    b.layer(node, S.Concat, {"axis": axis}, inputs, {}, None)


def _class_token(b: ConvertContext, node: onnx.NodeProto, token: np.ndarray, name: str,
                 axis: int) -> None:  # fmt: skip
    """A learned (1, C) row, broadcast over the batch, before (N, L, C) tokens along the
    token axis (ViT's ``cat([class_token.expand(N, -1, -1), x], 1)``) -> ClassToken."""
    x = b.resolved(name)
    shape = b.ir.shape_of(x)
    if len(shape) != 2 or axis not in (1, -2):
        raise Unsupported("a constant concatenated with data other than a token before (L, C)")
    token = np.asarray(token, np.float32)
    if token.ndim != 3 or token.shape[1:] != (1, shape[1]) or not (token == token[:1]).all():
        raise Unsupported(f"a constant of shape {token.shape} before tokens {shape}; only a "
                          "(1, C) class token repeated over the batch")  # fmt: skip
    b.layer(node, S.ClassToken, {}, [x], {"token": token[0]}, node.input[0])
