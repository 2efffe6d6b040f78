"""Gluon block -> ONNX with ``mxnet.onnx.export_model`` (mx2onnx), with its compat cures.

mx2onnx translates to ONNX opset 13 (its newest translations) but stamps the model with
``onnx.defs.onnx_opset_version()`` (28 with onnx 1.23), which then fails checks; the export
runs with that function pinned to 13, and the common post-processing converts to the opset
asked for. ``onnx.mapping`` (removed in onnx 1.15) is provided from ``onnx.helper``.
mx2onnx writes ``contrib.BilinearResize2D`` as a linear ``Resize`` with
``align_corners`` coordinates whatever the block's own flag; triptych's bilinear Upsample
runs with ``align_corners=False``, so those nodes get ``half_pixel`` (`_half_pixel_resize`).
"""

from __future__ import annotations

import contextlib
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnx.defs
from onnx import helper

from triptych.frameworks.mxnet.build import GluonBuilt
from triptych.frameworks.mxnet.compat import mx
from triptych.frameworks.mxnet.onednn import plain_graphs

EXPORTERS = ("mx2onnx",)
MX2ONNX_OPSET = 13


@contextlib.contextmanager
def _mx2onnx_compat() -> Iterator[None]:
    """onnx.mapping shim + opset pin, undone afterwards (mxnet/onnx: onnx.mapping removed)."""
    had_mapping = hasattr(onnx, "mapping")
    if not had_mapping:
        types_ = [t for t in helper.get_all_tensor_dtypes() if t not in (0, 8)]
        pairs = []
        for t in types_:
            with contextlib.suppress(Exception):
                pairs.append((np.dtype(helper.tensor_dtype_to_np_dtype(t)), t))
        onnx.mapping = types.SimpleNamespace(  # type: ignore[attr-defined]
            NP_TYPE_TO_TENSOR_TYPE=dict(pairs), TENSOR_TYPE_TO_NP_TYPE={t: d for d, t in pairs}
        )
    original = onnx.defs.onnx_opset_version
    onnx.defs.onnx_opset_version = lambda: MX2ONNX_OPSET
    try:
        yield
    finally:
        onnx.defs.onnx_opset_version = original
        if not had_mapping:
            del onnx.mapping  # type: ignore[attr-defined]


def export_network(
    built: GluonBuilt, opset: int, exporter: str | None = None
) -> tuple[onnx.ModelProto, str]:
    """The block in inference mode as ONNX (opset 13, converted later), batch dynamic."""
    if exporter not in (None, *EXPORTERS):
        raise ValueError(f"unknown mxnet exporter {exporter!r}; allowed: mx2onnx")
    block = built.native
    shape = built.network.input_shape
    with plain_graphs():  # the layers as they are, without the oneDNN training cures
        sym = block(mx.sym.var("input"))
    params = {name: p.data() for name, p in block.collect_params().items()}
    with tempfile.TemporaryDirectory() as tmp, _mx2onnx_compat():
        path = Path(tmp) / "model.onnx"
        mx.onnx.export_model(
            sym,
            params,
            in_shapes=[(2, *shape)],
            in_types=[np.float32],
            onnx_file_path=str(path),
            dynamic=True,
            dynamic_input_shapes=[(None, *shape)],
        )
        model = onnx.load(str(path))
    _half_pixel_resize(model)
    return model, f"mxnet.onnx.export_model {mx.__version__}"


def _half_pixel_resize(model: onnx.ModelProto) -> None:
    """Linear Resize nodes use half-pixel coordinates, as the native BilinearResize2D with
    ``align_corners=False`` does (mx2onnx writes ``align_corners`` regardless)."""
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
