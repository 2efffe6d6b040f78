"""Gluon block -> ONNX with ``mxnet.onnx.export_model`` (mx2onnx), with its compat cures.

mx2onnx translates to ONNX opset 13 (its newest translations) but stamps the model with
``onnx.defs.onnx_opset_version()`` (28 with onnx 1.23), which then fails checks; the export
runs with that function pinned to 13, and the common post-processing converts to the opset
asked for. ``onnx.mapping`` (removed in onnx 1.15) is `onnx_compat.onnx_mapping`'s.
mx2onnx writes ``contrib.BilinearResize2D`` as a linear ``Resize`` with
``align_corners`` coordinates whatever the block's own flag; triptych's bilinear Upsample
runs with ``align_corners=False``, so those nodes get ``half_pixel``
(`onnx_compat.half_pixel_resize`).
mx2onnx has no translation for ``broadcast_maximum`` (the broadcasting Maximum merge): the
export registers one (ONNX Max, which broadcasts as numpy does), as it has for
``broadcast_minimum``.
mx2onnx checks its graph with ``onnx.checker.check_graph``'s default context, the newest
opset (where ReduceMean/ReduceMax take ``axes`` as an input), not the opset 13 it translates
to (``axes`` an attribute): the export checks against opset 13 instead, and the version
conversion moves the attribute to an input.
Some translations make constants they do not use (``softmax`` on the last axis makes a
``_0`` tensor; ONNX Runtime warns about each when it loads the model): the export drops
initializers that no node reads.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import onnx
import onnx.checker
import onnx.defs
import onnx.helper

from triptych.common import spec as S
from triptych.frameworks.mxnet.build import GluonBuilt
from triptych.frameworks.mxnet.compat import mx
from triptych.frameworks.mxnet.onednn import plain_graphs
from triptych.frameworks.onnx_compat import half_pixel_resize, onnx_mapping

EXPORTERS = ("mx2onnx",)
MX2ONNX_OPSET = 13


def _register_translations() -> None:
    """The mx2onnx translations it lacks: ``broadcast_maximum`` -> Max (as its own
    ``broadcast_minimum`` -> Min). Adds only what is missing."""
    from mxnet.onnx.mx2onnx._export_onnx import MXNetGraph
    from mxnet.onnx.mx2onnx._op_translations import _op_translations_opset12 as ops12

    def broadcast_maximum(node, **kwargs):
        return ops12.create_basic_op_node("Max", node, kwargs)

    MXNetGraph.registry_.setdefault(12, {}).setdefault("broadcast_maximum", broadcast_maximum)


def _opset_checker(check_graph: Callable[..., None]) -> Callable[..., None]:
    """``check_graph`` against opset `MX2ONNX_OPSET` (mx2onnx passes no context: onnx's
    default one is the newest opset, which rejects opset 13's ReduceMean/ReduceMax axes)."""
    ctx = onnx.checker.C.CheckerContext()
    opset = onnx.helper.make_opsetid("", MX2ONNX_OPSET)
    ctx.ir_version = onnx.helper.find_min_ir_version_for([opset])
    ctx.opset_imports = {"": MX2ONNX_OPSET}

    def check(graph: onnx.GraphProto, *args: object, **kwargs: object) -> None:
        check_graph(graph, ctx)

    return check


def _drop_unused_initializers(model: onnx.ModelProto) -> None:
    """Remove the initializers (and their graph-input entries) that no node reads."""
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    used |= {out.name for out in graph.output}
    unused = {init.name for init in graph.initializer} - used
    if not unused:
        return
    keep = [init for init in graph.initializer if init.name not in unused]
    del graph.initializer[:]
    graph.initializer.extend(keep)
    inputs = [i for i in graph.input if i.name not in unused]
    del graph.input[:]
    graph.input.extend(inputs)


@contextlib.contextmanager
def _mx2onnx_compat() -> Iterator[None]:
    """onnx.mapping shim + opset pin (of the opset asked for and of the graph check), undone
    afterwards (mxnet/onnx: onnx.mapping removed); the missing translations registered."""
    original, check_graph = onnx.defs.onnx_opset_version, onnx.checker.check_graph
    onnx.defs.onnx_opset_version = lambda: MX2ONNX_OPSET
    onnx.checker.check_graph = _opset_checker(check_graph)
    try:
        with onnx_mapping():
            _register_translations()
            yield
    finally:
        onnx.defs.onnx_opset_version = original
        onnx.checker.check_graph = check_graph


def export_network(
    built: GluonBuilt, opset: int, exporter: str | None = None
) -> tuple[onnx.ModelProto, str]:
    """The block in inference mode as ONNX (opset 13, converted later), batch dynamic; the
    input is tensor(int64) for an int64 (token id) network, else tensor(float)."""
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
            in_types=[np.dtype(S.numpy_input_dtype(built.network, "float32"))],
            onnx_file_path=str(path),
            dynamic=True,
            dynamic_input_shapes=[(None, *shape)],
        )
        model = onnx.load(str(path))
    half_pixel_resize(model)
    _drop_unused_initializers(model)
    return model, f"mxnet.onnx.export_model {mx.__version__}"
