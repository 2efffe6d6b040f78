"""The numpy reference evaluator in float64: the oracle of an ONNX file that has no spec.

A file made elsewhere (or an ONNX file given with ``parity --onnx``) cannot be rebuilt in a
framework's float64 build, but its graph can be run in float64: every float32 tensor of the
graph (initializers, Constant values, declared input/output/value types, ``Cast`` to float)
is turned into float64 and ``onnx.reference.ReferenceEvaluator`` (pure numpy) runs it. Its
output is the file's own float64 result, so ORT on the file and the file's other runners are
judged by the same derived bound as the frameworks (`triptych.verify.oracle`).

Tensors that ONNX requires to stay float32 whatever the data type (``Resize`` scales) are
numbers the graph reads as constants, and numpy reads float64 ones identically.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

from triptych.export.onnx_export import load_checked
from triptych.export.reference_ops import reference_evaluator
from triptych.model import Model
from triptych.verify.levels import Oracle
from triptych.verify.runners import RunnerId

FLOAT, DOUBLE = TensorProto.FLOAT, TensorProto.DOUBLE


def _tensor64(tensor: onnx.TensorProto) -> onnx.TensorProto:
    if tensor.data_type != FLOAT:
        return tensor
    return numpy_helper.from_array(numpy_helper.to_array(tensor).astype(np.float64), tensor.name)


def _retype(values: list[onnx.ValueInfoProto]) -> None:
    for value in values:
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type == FLOAT:
            tensor_type.elem_type = DOUBLE


def _graph64(graph: onnx.GraphProto) -> None:
    """Turn ``graph`` (and its subgraphs) to float64 in place."""
    inits = [_tensor64(t) for t in graph.initializer]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    for values in (graph.input, graph.output, graph.value_info):
        _retype(values)
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.TENSOR:
                attr.t.CopyFrom(_tensor64(attr.t))
            elif attr.type == onnx.AttributeProto.GRAPH:
                _graph64(attr.g)
            elif node.op_type == "Cast" and attr.name == "to" and attr.i == FLOAT:
                attr.i = DOUBLE


def as_float64(model: onnx.ModelProto) -> onnx.ModelProto:
    """A float64 copy of ``model`` (the original is untouched)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    _graph64(copy.graph)
    return copy


class Float64Reference:
    """``onnx.reference.ReferenceEvaluator`` on the float64 copy of the file at ``path``;
    calling it on a float32 batch returns the file's float64 output (first output)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(Path(path))
        proto = as_float64(load_checked(path))
        inits = {i.name for i in proto.graph.initializer}
        self.input = next(v.name for v in proto.graph.input if v.name not in inits)
        self.evaluator = reference_evaluator(proto)
        self.cache: dict[bytes, np.ndarray] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        key = x.tobytes() + str(x.shape).encode()
        if key not in self.cache:
            feed = x if x.dtype == np.int64 else np.asarray(x, np.float64)  # ids stay ids
            y = self.evaluator.run(None, {self.input: feed})[0]
            self.cache[key] = np.asarray(y, np.float64)
        return self.cache[key]


def native_oracle(models: dict[str, Model]) -> Oracle:
    """Each native/ORT runner's float64 reference: its framework's float64 build in
    ``models`` on the same batch (computed once per framework, network and batch)."""
    cache: dict[tuple[str, str, int], np.ndarray] = {}

    def reference(runner: RunnerId, x: np.ndarray) -> np.ndarray | None:
        if runner.framework not in models:
            return None
        key = (runner.framework, runner.network, len(x))
        if key not in cache:
            model = models[runner.framework]
            cache[key] = model.forward(x.astype(np.float64), runner.network)
        return cache[key]

    return reference


def file_oracle(path: str | os.PathLike, others: Oracle | None = None) -> Oracle:
    """The oracle of every runner on the file at ``path`` (ORT, the reference evaluator):
    its float64 evaluation; other runners go to ``others`` (e.g. frameworks' float64
    builds), or have none."""
    reference = Float64Reference(path)

    def oracle(runner: RunnerId, x: np.ndarray) -> np.ndarray | None:
        if runner.file == reference.path:
            return reference(x)
        return others(runner, x) if others else None

    return oracle
