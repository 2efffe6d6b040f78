"""ONNX cures shared by the exporters written against older onnx (mx2onnx, onnx-chainer).

* `onnx_mapping`: ``onnx.mapping`` (removed in onnx 1.15) rebuilt from ``onnx.helper``, as a
  module (``from onnx.mapping import ...`` works), for the duration of a block;
* `half_pixel_resize`: linear ``Resize`` nodes get half-pixel coordinates (PyTorch's
  ``align_corners=False``), where an exporter writes another rule regardless of the layer.

Imports nothing but onnx and numpy, so any backend may use it.
"""

from __future__ import annotations

import contextlib
import sys
import types
from collections.abc import Iterator

import numpy as np
import onnx
from onnx import helper


def _mapping_module() -> types.ModuleType:
    pairs, fields = [], {}
    for t in helper.get_all_tensor_dtypes():
        with contextlib.suppress(Exception):
            fields[t] = helper.tensor_dtype_to_field(t)
        if t in (0, 8):  # UNDEFINED and STRING have no numpy dtype of their own
            continue
        with contextlib.suppress(Exception):
            pairs.append((np.dtype(helper.tensor_dtype_to_np_dtype(t)), t))
    module = types.ModuleType("onnx.mapping")
    module.NP_TYPE_TO_TENSOR_TYPE = dict(pairs)  # type: ignore[attr-defined]
    module.TENSOR_TYPE_TO_NP_TYPE = {t: d for d, t in pairs}  # type: ignore[attr-defined]
    module.STORAGE_TENSOR_TYPE_TO_FIELD = fields  # type: ignore[attr-defined]
    return module


@contextlib.contextmanager
def onnx_mapping() -> Iterator[None]:
    """``onnx.mapping`` present inside the block (as attribute and module), undone after;
    a no-op where onnx still has it."""
    if hasattr(onnx, "mapping"):
        yield
        return
    module = _mapping_module()
    onnx.mapping = module  # type: ignore[attr-defined]
    sys.modules["onnx.mapping"] = module
    try:
        yield
    finally:
        del onnx.mapping  # type: ignore[attr-defined]
        sys.modules.pop("onnx.mapping", None)


def half_pixel_resize(model: onnx.ModelProto) -> int:
    """Linear Resize nodes use half-pixel coordinates; returns how many were changed."""
    n = 0
    for node in model.graph.node:
        if node.op_type != "Resize":
            continue
        modes = {a.name: a for a in node.attribute}
        if "mode" in modes and modes["mode"].s == b"linear":
            for a in [a for a in node.attribute if a.name == "coordinate_transformation_mode"]:
                node.attribute.remove(a)
            node.attribute.append(
                helper.make_attribute("coordinate_transformation_mode", "half_pixel")
            )
            n += 1
    return n
