"""Read an ONNX file for import: load, check, infer shapes (data-propagating), and find its
constants (initializers, Constant nodes, and everything computable from them and from the
static per-sample shapes, evaluated at batch 1)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from triptych.export.reference_ops import reference_evaluator

#: opsets the importer is tested on
OPSETS = range(13, 19)
#: a per-sample shape (batch axis removed); None where shape inference gave none
Shape = tuple[int, ...]


@dataclass
class OnnxGraph:
    """A loaded, shape-inferred graph: nodes in file (topological) order, per-sample shapes
    of every value, constants, who consumes what, the one input and the one output."""

    path: str
    model: onnx.ModelProto
    opset: int
    input: str
    output: str
    nodes: list[onnx.NodeProto]
    shapes: dict[str, Shape | None]
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    consumers: dict[str, list[onnx.NodeProto]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)

    def shape(self, value: str) -> Shape | None:
        return self.shapes.get(value)


def _dims(vi: onnx.ValueInfoProto) -> tuple[int | None, ...] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim)


def per_sample(dims: tuple[int | None, ...] | None) -> Shape | None:
    """Drop the batch axis; None when any other dim is unknown (or there is no batch axis)."""
    if dims is None or len(dims) < 1 or any(d is None or d <= 0 for d in dims[1:]):
        return None
    return tuple(int(d) for d in dims[1:])


def load(path: str | os.PathLike | onnx.ModelProto) -> onnx.ModelProto:
    """The model (from a path or as given), checked; `ValueError` naming the file if not."""
    if isinstance(path, onnx.ModelProto):
        model = path
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"no ONNX file at {p}")
        try:
            model = onnx.load(str(p))
        except Exception as e:  # protobuf DecodeError on corrupt files
            raise ValueError(f"{p} is not a valid ONNX file ({type(e).__name__})") from None
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        raise ValueError(f"{path if not isinstance(path, onnx.ModelProto) else 'model'} "
                         f"fails the ONNX checker: {e}") from None  # fmt: skip
    return model


def read(path: str | os.PathLike | onnx.ModelProto) -> OnnxGraph:
    """Load, check and shape-infer ``path``; `ValueError` when it has not exactly one
    input and one output or its opset is outside `OPSETS`."""
    label = "<model>" if isinstance(path, onnx.ModelProto) else str(path)
    model = load(path)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset not in OPSETS:
        raise ValueError(f"{label}: opset {opset}; the importer supports opsets 13 to 18")
    model = shape_inference.infer_shapes(model, data_prop=True)
    g = model.graph
    inits = {i.name for i in g.initializer}
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1 or len(g.output) != 1:
        raise ValueError(
            f"{label}: {len(inputs)} inputs and {len(g.output)} outputs; one of each is "
            "supported (a multi-network model is one file per network)"
        )
    shapes: dict[str, Shape | None] = {}
    for vi in [*g.input, *g.value_info, *g.output]:
        shapes[vi.name] = per_sample(_dims(vi))
    graph = OnnxGraph(label, model, opset, inputs[0].name, g.output[0].name, list(g.node), shapes)
    graph.metadata = {p.key: p.value for p in model.metadata_props}
    for node in g.node:
        for i in node.input:
            graph.consumers.setdefault(i, []).append(node)
    graph.consumers.setdefault(g.output[0].name, []).append(None)  # the graph output uses it
    graph.constants = fold_constants(graph)
    return graph


def run_node(node: onnx.NodeProto, values: list[np.ndarray | None], opset: int) -> list:
    """Evaluate one node with the ONNX reference evaluator (numpy in and out)."""
    names = [f"i{k}" if v is not None else "" for k, v in enumerate(values)]
    clone = helper.make_node(node.op_type, names, [f"o{k}" for k in range(len(node.output))],
                             domain=node.domain)  # fmt: skip
    clone.attribute.extend(node.attribute)
    feeds = {n: v for n, v in zip(names, values, strict=True) if n}
    graph = helper.make_graph(
        [clone],
        "fold",
        [
            helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
            for n, v in feeds.items()
        ],
        [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in clone.output],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    return reference_evaluator(model).run(None, feeds)


#: ops that are never folded (their value depends on data, or they are data-path layers)
_NO_FOLD = {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial"}


def fold_constants(graph: OnnxGraph) -> dict[str, np.ndarray]:
    """Initializers, Constant outputs, ``Shape`` of values with a static per-sample shape
    (at batch 1), and every node whose inputs are all such constants."""
    g = graph.model.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    for node in graph.nodes:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(
                next(a.t for a in node.attribute if a.name == "value")
            ) if any(a.name == "value" for a in node.attribute) else run_node(
                node, [], graph.opset)[0]  # fmt: skip
            continue
        if node.op_type == "Shape" and node.input[0] not in consts:
            s = graph.shape(node.input[0])
            if s is not None and not node.attribute:
                consts[node.output[0]] = np.array([1, *s], dtype=np.int64)
            continue
        if node.op_type in _NO_FOLD or not node.input:
            continue
        if all((i == "" or i in consts) for i in node.input):
            try:
                out = run_node(node, [consts[i] if i else None for i in node.input], graph.opset)
            except Exception:  # an op the reference evaluator cannot fold: leave it
                continue
            for name, value in zip(node.output, out, strict=False):
                consts[name] = np.asarray(value)
    return consts
