"""Pad: zero padding of the spatial axes stays an index map (padded entries index -1, a
zero) for a Conv or pooling after it to take in, or becomes a `S.Pad` layer where nothing
takes it in (`IR.resolve`); reflect, edge and non-zero constant padding become a `S.Pad`
layer at once, also on a transposed view (tf2onnx's NHWC graphs pad H and W of NHWC)."""

from __future__ import annotations

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import Val, identity_index
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.reduce import _as_transpose
from triptych.onnx_import.ops.registry import OPS
from triptych.onnx_import.ops.reshape import _constant_inputs

#: ONNX Pad modes -> the spec's
MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge"}


def _widths(b: ConvertContext, node: onnx.NodeProto, rank: int) -> tuple[list, float]:
    """Per-axis (before, after) widths of the batch-first value of ``rank``, and the
    constant value."""
    rest = _constant_inputs(b, node)
    pads = [int(p) for p in np.ravel(rest[0])]
    value = rest[1] if len(rest) > 1 else None
    fill = float(np.ravel(value)[0]) if value is not None and np.size(value) else 0.0
    axes = [int(x) for x in np.ravel(rest[2])] if len(rest) > 2 and rest[2] is not None else list(
        range(rank))  # fmt: skip
    axes = [x + rank if x < 0 else x for x in axes]
    widths = [(0, 0)] * rank
    for k, axis in enumerate(axes):
        widths[axis] = (pads[k], pads[k + len(axes)])
    if widths[0] != (0, 0) or any(p < 0 for w in widths for p in w):
        raise Unsupported(f"pads {pads}: only non-negative padding of per-sample axes")
    return widths, fill


@OPS.register("Pad", versions=(11, 21))
def pad(b: ConvertContext, node: onnx.NodeProto) -> None:
    mode = attrs(node).get("mode", "constant")
    if isinstance(mode, bytes):
        mode = mode.decode()
    if mode not in MODES:
        raise Unsupported(f"mode {mode!r}; allowed {', '.join(MODES)}")
    val = b.data(node.input[0])
    if val.batch_axis:
        raise Unsupported("padding of a value whose batch axis is moved or merged")
    widths, fill = _widths(b, node, val.index.ndim + 1)
    if mode == "constant" and fill == 0.0:
        out = np.pad(val.index, widths[1:], constant_values=-1)
        b.set(node.output[0], Val(val.source, out))
        return
    source_shape = b.ir.shape_of(val.source)
    perm = _as_transpose(val, source_shape)
    if perm is None:
        x = b.resolve(val, node)
        source_shape, perm = b.ir.shape_of(x), tuple(range(val.index.ndim))
    else:
        x = b.resolve(Val(val.source, identity_index(source_shape)), node)
    canonical = [(0, 0)] * len(source_shape)
    for axis, w in enumerate(widths[1:]):
        canonical[perm[axis]] = w
    if len(source_shape) != 3 or canonical[0] != (0, 0):
        raise Unsupported(
            f"{mode} padding {widths[1:]} of a per-sample {val.shape} value; "
            "only H and W of (C, H, W)"
        )
    (t, bottom), (left, r) = canonical[1], canonical[2]
    args = {"pads": (t, left, bottom, r), "mode": MODES[mode]} | ({"value": fill} if fill else {})
    nid = b.layer(node, S.Pad, args, [x], {}, None, output=False)
    out_shape = b.ir.shape_of(nid)
    b.set(node.output[0], Val(nid, identity_index(out_shape).transpose(perm)))
