"""Index arithmetic on token ids before an embedding's Gather, dropped where it is the
identity on every valid id: Keras' ``Embedding`` wraps negative ids (``Where(ids < 0, ids +
V, ids)``) and exporters add Casts between int types. The chain from the network's int64
input to the Gather's indices is evaluated on every id in [0, V) (V the table's rows); when
it gives each id back, the Gather reads the input directly and the chain's nodes go (those
nothing else reads). Ids outside [0, V) are outside `S.Embedding`'s contract anyway."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from triptych.export.reference_ops import reference_evaluator


def drop_identity_id_chains(graph) -> list[onnx.NodeProto]:  # graph: reader.OnnxGraph
    """``graph.nodes`` with each identity id chain before a table Gather removed."""
    value = next(v for v in graph.model.graph.input if v.name == graph.input)
    if value.type.tensor_type.elem_type not in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
        return graph.nodes
    nodes, dropped = list(graph.nodes), set()
    for k, gather in [(k, n) for k, n in enumerate(nodes) if n.op_type == "Gather"]:
        table, ids = gather.input[0], gather.input[1]
        if table not in graph.constants or ids == graph.input or ids in graph.constants:
            continue
        rows = int(np.shape(graph.constants[table])[0])
        chain = _chain(graph, ids)
        if chain is None or not _is_identity(graph, chain, ids, rows):
            continue
        reading = onnx.NodeProto()  # a copy: the caller's model stays as it was
        reading.CopyFrom(gather)
        reading.input[1] = graph.input
        nodes[k] = reading
        dropped.update(id(n) for n in chain)
    if not dropped:
        return nodes
    kept = [n for n in nodes if id(n) not in dropped]
    read = {i for n in kept for i in n.input} | {graph.output}
    gone = [n for n in nodes if id(n) in dropped and not any(o in read for o in n.output)]
    return [n for n in nodes if not any(n is g for g in gone)]


#: ops that compute with token ids (comparisons, index arithmetic, shapes, masks); a chain
#: through anything else (an embedding's Gather, a MatMul) computes with the model's data
ID_OPS = {"Equal", "Not", "And", "Or", "Xor", "Less", "Greater", "LessOrEqual",
          "GreaterOrEqual", "Cast", "Where", "Add", "Sub", "Mul", "Identity", "Reshape",
          "Unsqueeze", "Squeeze", "Expand", "Tile", "Transpose", "Concat", "Slice", "Shape",
          "ConstantOfShape", "Mod"}  # fmt: skip


def _chain(graph, value: str) -> list[onnx.NodeProto] | None:
    """The nodes computing ``value`` from the graph input and constants only, by `ID_OPS`, in
    file order; None when anything else (another data value, another op) feeds it."""
    members: dict[int, onnx.NodeProto] = {}
    todo = [value]
    while todo:
        v = todo.pop()
        if v == graph.input or v in graph.constants or not v:
            continue
        node = graph.producer.get(v)
        if node is None or node.op_type not in ID_OPS:
            return None
        if id(node) not in members:
            members[id(node)] = node
            todo.extend(node.input)
    return [n for n in graph.nodes if id(n) in members]


def _is_identity(graph, chain: list[onnx.NodeProto], ids: str, rows: int) -> bool:
    length = int(np.prod(graph.shape(graph.input) or (1,)))
    batch = -(-rows // length)
    every = np.resize(np.arange(rows, dtype=np.int64), batch * length)
    feed = every.reshape(batch, *(graph.shape(graph.input) or (1,)))
    used = {i for n in chain for i in n.input if i in graph.constants}
    inits = [numpy_helper.from_array(np.asarray(graph.constants[i]), i) for i in sorted(used)]
    first = next(v for v in graph.model.graph.input if v.name == graph.input)
    g = helper.make_graph(chain, "ids", [first],
                          [helper.make_tensor_value_info(ids, onnx.TensorProto.UNDEFINED, None)],
                          inits)  # fmt: skip
    model = helper.make_model(g, opset_imports=list(graph.model.opset_import))
    try:
        elem = first.type.tensor_type.elem_type
        x = feed.astype(np.int32) if elem == onnx.TensorProto.INT32 else feed
        out = np.asarray(reference_evaluator(model).run(None, {graph.input: x})[0])
    except Exception:  # not evaluable: left to the converters (and their refusals)
        return False
    return out.shape == feed.shape and np.array_equal(out.astype(np.int64), feed)
