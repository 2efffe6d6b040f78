"""What the op converters share: attribute reading, float32 attribute values, square
windows, padding (symmetric, or per side), and a Pad's zeros taken into a window op."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper

from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.errors import Unsupported
from triptych.onnx_import.ir import Val

__all__ = ["Unsupported", "attrs", "f32", "padded_input", "padding", "pads4", "square"]
Pads = tuple[int, int, int, int]


def attrs(node: onnx.NodeProto) -> dict[str, Any]:
    out = {}
    for a in node.attribute:
        v = helper.get_attribute_value(a)
        out[a.name] = v.decode() if isinstance(v, bytes) else v
    return out


def f32(x: float) -> float:
    """The shortest decimal of a float32 attribute (0.2, not 0.20000000298023224)."""
    return float(str(np.float32(x)))


def square(values: list[int], what: str) -> int:
    if len(set(values)) != 1:
        raise Unsupported(f"non-square {what} {list(values)}")
    return int(values[0])


def padding(node: onnx.NodeProto, a: dict[str, Any], kernel: int, stride: int) -> int:
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


def kernel_arg(values: list[int]) -> int | tuple[int, int]:
    """A 2-D window's (height, width) as the spec takes it: an int when square."""
    kh, kw = (int(v) for v in values)
    return kh if kh == kw else (kh, kw)


def pads4(
    a: dict[str, Any],
    kernel: int | tuple[int, int],
    stride: int,
    dilation: int,
    hw: tuple[int, int],
) -> Pads:
    """(top, left, bottom, right) of a window op (``kernel`` an int or (height, width)) on
    an input of spatial size ``hw``: explicit ``pads`` or ``auto_pad`` (SAME_UPPER puts the
    odd pixel bottom/right, SAME_LOWER top/left)."""
    auto = a.get("auto_pad", "NOTSET")
    if auto == "VALID":
        return (0, 0, 0, 0)
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        ks = (kernel, kernel) if isinstance(kernel, int) else kernel
        total = [
            max((-(-n // stride) - 1) * stride + (k - 1) * dilation + 1 - n, 0)
            for n, k in zip(hw, ks, strict=True)
        ]
        small = [t // 2 for t in total]
        big = [t - t // 2 for t in total]
        if auto == "SAME_LOWER":
            small, big = big, small
        return (small[0], small[1], big[0], big[1])
    pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
    if len(pads) != 4 or any(p < 0 for p in pads):
        raise Unsupported(f"pads {pads}")
    return (pads[0], pads[1], pads[2], pads[3])


def padded_input(b: ConvertContext, name: str, node: onnx.NodeProto) -> tuple[int, Pads]:
    """The IR node of the data value ``name`` and the zero padding (top, left, bottom,
    right) a Pad before it added (all 0 without one): a window op takes the Pad in."""
    val = b.data(name)
    if not val.padded or val.batch_axis or val.index.ndim != 3:
        return b.resolve(val, node), (0, 0, 0, 0)
    inside = val.index >= 0
    rows, cols = np.flatnonzero(inside.any(axis=(0, 2))), np.flatnonzero(inside.any(axis=(0, 1)))
    if not rows.size:
        raise Unsupported("its input is all padding")
    t, btm = int(rows[0]), val.index.shape[1] - 1 - int(rows[-1])
    left, r = int(cols[0]), val.index.shape[2] - 1 - int(cols[-1])
    core = val.index[:, t : val.index.shape[1] - btm, left : val.index.shape[2] - r]
    outside = inside.copy()
    outside[:, t : val.index.shape[1] - btm, left : val.index.shape[2] - r] = False
    if (core < 0).any() or outside.any():
        raise Unsupported("a Pad that is not zeros around the whole of H and W")
    return b.resolve(Val(val.source, core), node), (t, left, btm, r)
