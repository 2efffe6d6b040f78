"""What the op converters share: attribute reading, float32 attribute values, square
windows and symmetric padding."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx import helper

from triptych.onnx_import.errors import Unsupported

__all__ = ["Unsupported", "attrs", "f32", "padding", "plain_window", "square"]


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


def plain_window(a: dict[str, Any], op: str) -> None:
    if any(d != 1 for d in a.get("dilations", [1, 1])):
        raise Unsupported(f"dilations {a['dilations']}")
    if a.get("group", 1) != 1:
        raise Unsupported(f"group={a['group']} (grouped/depthwise {op}); only group 1")
