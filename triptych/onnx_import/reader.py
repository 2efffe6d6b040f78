"""Read an ONNX file for import: load, check, infer shapes (data-propagating), and find its
constants (initializers, Constant nodes, and everything computable from them and from the
static per-sample shapes, evaluated at batch 2, or at the file's batch where the input's is
fixed: data movement is evaluated at that batch too); shape inference runs again with the folded
constants until no value gains a shape (torchscript's shape arithmetic through Div and Cast
defeats one pass). Multi-op patterns (`patterns`) are then fused into one node each, and
layer norms written out in elementary ops and self-attention regions into one node each
(`layernorm`, `attention`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from triptych.export.reference_ops import reference_evaluator
from triptych.onnx_import.attention import fuse_attention
from triptych.onnx_import.ids import drop_identity_id_chains
from triptych.onnx_import.layernorm import fuse_layer_norms
from triptych.onnx_import.patterns import fuse

#: opsets the importer is tested on
OPSETS = range(13, 21)
#: how often shape inference reruns with newly folded constants, at most
_REINFER = 64
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
    consumers: dict[str, list[onnx.NodeProto | None]] = field(default_factory=dict)
    #: whole static shapes at ``batch`` of values whose batch is not the first axis
    #: (torch's (L, N, C) inside TorchScript-exported attention); Shape of them folds
    moved_batch: dict[str, tuple[int, ...]] = field(default_factory=dict)
    producer: dict[str, onnx.NodeProto] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    #: the batch size constants computed from shapes are folded at
    batch: int = 2

    def shape(self, value: str) -> Shape | None:
        return self.shapes.get(value)

    def is_weight(self, name: str) -> bool:
        """Is ``name`` an initializer, or an Identity of one (torchscript's shared weights)?"""
        inits = {i.name for i in self.model.graph.initializer}
        while name not in inits:
            node = self.producer.get(name)
            if node is None or node.op_type != "Identity":
                return False
            name = node.input[0]
        return True

    def link(self) -> None:
        """(Re)build ``consumers`` and ``producer`` from ``nodes`` (the graph output counts
        as a consumer, None)."""
        self.consumers, self.producer = {}, {}
        for node in self.nodes:
            for i in node.input:
                self.consumers.setdefault(i, []).append(node)
            for o in node.output:
                self.producer[o] = node
        self.consumers.setdefault(self.output, []).append(None)


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
        raise ValueError(f"{label}: opset {opset}; the importer supports opsets "
                         f"{OPSETS.start} to {OPSETS.stop - 1}")  # fmt: skip
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
    dims = _dims(inputs[0])
    graph.batch = dims[0] if dims and dims[0] else 2
    graph.link()
    graph.constants = fold_constants(graph)
    for _ in range(_REINFER):
        if not _reinfer(graph):
            break
        graph.constants = fold_constants(graph)
    graph.nodes = drop_identity_id_chains(graph)
    graph.link()
    graph.nodes = fuse(graph)
    graph.link()
    graph.nodes = fuse_layer_norms(graph)
    graph.link()
    graph.nodes = fuse_attention(graph)
    graph.link()
    return graph


def _reinfer(graph: OnnxGraph) -> bool:
    """Infer shapes again on the data nodes with every folded constant as an initializer
    (large weights as inputs of known shape); True when a value gained a per-sample shape."""
    data_nodes = [n for n in graph.nodes if not all(o in graph.constants for o in n.output if o)]
    unknown = {o for n in data_nodes for o in n.output if o and graph.shape(o) is None}
    if not unknown:
        return False
    g = graph.model.graph
    used = {i for n in data_nodes for i in n.input if i in graph.constants}
    inits, inputs = (
        [],
        [_at_batch(i, graph.batch) for i in g.input if i.name not in graph.constants],
    )
    for name in sorted(used):
        value = np.asarray(graph.constants[name])
        if value.size > 64:  # only its shape matters to inference
            dtype = helper.np_dtype_to_tensor_dtype(value.dtype)
            inputs.append(helper.make_tensor_value_info(name, dtype, value.shape))
        else:
            inits.append(numpy_helper.from_array(value, name))
    clone = helper.make_graph(data_nodes, g.name, inputs, list(g.output), inits)
    model = helper.make_model(clone, opset_imports=list(graph.model.opset_import))
    model.ir_version = graph.model.ir_version
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True).graph
    except Exception:  # inference that fails on the rewritten graph adds nothing
        return False
    gained = False
    for vi in [*inferred.value_info, *inferred.output]:
        dims = _dims(vi)
        if dims and dims[0] != graph.batch:  # the batch not first: (L, N, C), (N·h, L, d)
            static = all(isinstance(d, int) and d > 0 for d in dims)
            if static and vi.name not in graph.moved_batch:
                graph.moved_batch[vi.name], gained = tuple(int(d) for d in dims), True
            continue
        if not dims:
            continue
        shape = per_sample(dims)
        if vi.name in unknown and shape is not None:
            graph.shapes[vi.name], gained = shape, True
    return gained


def _at_batch(vi: onnx.ValueInfoProto, batch: int) -> onnx.ValueInfoProto:
    """``vi`` with its first (batch) dim set to ``batch``: a Reshape to (N, C, -1) then has a
    size inference can compute (the constants are folded at that batch too)."""
    vi = onnx.ValueInfoProto.FromString(vi.SerializeToString())
    dims = vi.type.tensor_type.shape.dim
    if len(dims):
        dims[0].ClearField("dim_param")
        dims[0].dim_value = int(batch)
    return vi


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
    (at ``graph.batch``), and every node whose inputs are all such constants."""
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
            s, moved = graph.shape(node.input[0]), graph.moved_batch.get(node.input[0])
            if s is not None or moved is not None:
                a = {at.name: helper.get_attribute_value(at) for at in node.attribute}
                full = np.array([graph.batch, *s] if s is not None else moved, dtype=np.int64)
                consts[node.output[0]] = full[a.get("start", 0) : a.get("end", len(full))]
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
