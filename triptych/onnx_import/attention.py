"""Self-attention regions fused into one ``MultiHeadAttention`` node (domain `FUSED`), found
and read by evaluating them, not by matching one exporter's op sequence.

Exporters write attention many ways (torch's SDPA under dynamo or TorchScript, with the
scale on the scores or split over q and k; a fused in-projection or three; tf2onnx's
Einsums). What they share: a ``Softmax`` between two MatMuls of data, ``scores = A @ B``
before it and ``O = P @ V`` after, where A, B and V are affine in the block's input tokens
``x`` (N, L, C) and the block's output ``y`` (N, L, C) is affine in O. So the region is
found from the Softmax (x: the nearest common (L, C) ancestor of A, B and V; y: O's chain
through the output projection), and its weights are read by evaluating the region with the
ONNX reference evaluator in float64 on one-hot probes: a column of the q, k, v and output
projections per probe, the biases at zero, the scale on the scores by least squares. The
fused layer is then checked against the region on random tokens; a region that is not
attention in PyTorch's form (a mask other than causal, a non-affine projection) is left
alone, and its nodes are refused one by one as before.
"""

from __future__ import annotations

from collections.abc import Iterable

import onnx
from onnx import helper

from triptych.onnx_import.attention_weights import (
    MOVES,
    PASS_OPS,
    SCORE_OPS,
    _back,
    _forward,
    read_weights,
)
from triptych.onnx_import.patterns import FUSED


def fuse_attention(graph) -> list[onnx.NodeProto]:  # graph: reader.OnnxGraph
    """``graph.nodes`` with every self-attention region replaced by one fused node; its
    weights become constants of ``graph`` (``<y>::in_proj_weight``, ...)."""
    nodes = list(graph.nodes)
    for softmax in [n for n in graph.nodes if n.op_type == "Softmax"]:
        found = next(
            ((m, x, y, w) for m, x, y in _regions(graph, nodes, softmax)
             if (w := read_weights(graph, m, x, y, softmax)) is not None),
            None,
        )  # fmt: skip
        if found is None:
            continue
        members, x, y, weights = found
        heads, causal, tensors, pad = weights
        names = []
        for key, value in tensors.items():
            name = f"{y}::{key}"
            graph.constants[name] = value
            names.append(name)
        padding = {} if pad is None else {"pad_id": int(pad)}  # the ids are its last input
        ins = [x, *names, *([graph.input] if padding else [])]
        fused = helper.make_node("MultiHeadAttention", ins, [y], name=f"{y}::attention",
                                 domain=FUSED, heads=heads, causal=int(causal),
                                 **padding)  # fmt: skip
        last = max(nodes.index(n) for n in members)
        ids = {id(n) for n in members}
        nodes = [
            fused if i == last else n for i, n in enumerate(nodes) if id(n) not in ids or i == last
        ]
        graph.nodes = nodes
        graph.link()
        if padding:  # the mask's chain from the ids now feeds nothing
            graph.nodes = nodes = _live(graph, nodes)
            graph.link()
    return nodes


def _live(graph, nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """``nodes`` without those whose outputs nothing reads (repeatedly)."""
    while True:
        read = {i for n in nodes for i in n.input} | {graph.output}
        kept = [n for n in nodes if any(o in read for o in n.output)]
        if len(kept) == len(nodes):
            return kept
        nodes = kept


def _ancestors(graph, value: str) -> set[str]:
    """Every data value ``value`` is computed from (itself included)."""
    seen, todo = set(), [value]
    while todo:
        v = todo.pop()
        if v in seen or v in graph.constants:
            continue
        seen.add(v)
        node = graph.producer.get(v)
        if node is not None:
            todo.extend(node.input)
    return seen


def _regions(graph, nodes: list[onnx.NodeProto], softmax: onnx.NodeProto):
    """Candidate (member nodes, x, y) of the attention around ``softmax``, nearest x first
    (a per-sample (L, C) value read by the projections; torch's (L, N, C) values inside
    also look like one, and fail when evaluated)."""
    scores = _back(graph, softmax.input[0], SCORE_OPS)
    pv = _forward(graph, softmax.output[0], PASS_OPS)
    if scores is None or pv is None or scores.op_type != "MatMul" or pv.op_type != "MatMul":
        return
    a, b = scores.input
    v = pv.input[1]
    if any(i in graph.constants for i in (a, b, v)):
        return
    order = {o: k for k, n in enumerate(nodes) for o in n.output}
    common = _ancestors(graph, a) & _ancestors(graph, b) & _ancestors(graph, v)
    tokens = [c for c in common if graph.shape(c) is not None and len(graph.shape(c)) == 2
              and _projected(graph, c)]  # fmt: skip
    for x in sorted(tokens, key=lambda c: -order.get(c, -1)):
        y = _output_projection(graph, pv.output[0], graph.shape(x))
        if y is None:
            continue
        members = _between(graph, nodes, x, y)
        ids = {id(m) for m in members}
        leaks = [
            o
            for m in members
            for o in m.output
            if o != y and any(_reads_outside(graph, u, ids) for u in graph.consumers.get(o, []))
        ]
        if not leaks and y in {o for m in members for o in m.output}:
            yield members, x, y


def _reads_outside(graph, user: onnx.NodeProto | None, ids: set[int]) -> bool:
    """Is ``user`` outside the region and needs its input at run time (a node whose outputs
    are all folded constants, e.g. a Shape, does not)?"""
    if user is None:
        return True
    return id(user) not in ids and not all(o in graph.constants for o in user.output if o)


def _projected(graph, value: str) -> bool:
    """Is ``value`` read, through data movement, by a MatMul or Gemm by a constant (an input
    projection)?"""
    todo, seen = [value], set()
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        for u in graph.consumers.get(v, []):
            if u is None:
                continue
            if (
                u.op_type in ("MatMul", "Gemm")
                and u.input[0] == v
                and u.input[1] in graph.constants
            ):
                return True
            if u.op_type in MOVES:
                todo.append(u.output[0])
    return False


def _output_projection(graph, value: str, tokens: tuple[int, ...]) -> str | None:
    """From the attention output, through data movement to a MatMul/Gemm by a constant and
    an Add of a constant after it, then through data movement to the first (N, L, C) value
    (the block's output y)."""
    node = _forward(graph, value, MOVES)
    if node is None or node.op_type not in ("MatMul", "Gemm"):
        return None
    if node.input[1] not in graph.constants:
        return None
    out = node.output[0]
    users = graph.consumers.get(out, [])
    if (
        len(users) == 1
        and users[0] is not None
        and users[0].op_type == "Add"
        and any(i in graph.constants for i in users[0].input)
    ):
        out = users[0].output[0]
    while graph.shape(out) != tokens:
        after = [u for u in graph.consumers.get(out, []) if u is None or u.op_type != "Shape"]
        if len(after) != 1 or after[0] is None or after[0].op_type not in MOVES:
            return None
        out = after[0].output[0]  # e.g. (L·N, C) -> (L, N, C) -> (N, L, C)
    return out


def _between(graph, nodes: Iterable[onnx.NodeProto], x: str, y: str) -> list[onnx.NodeProto]:
    """Nodes downstream of ``x`` and upstream of ``y`` (``y``'s producer included)."""
    up = set()
    todo = [y]
    while todo:
        v = todo.pop()
        node = graph.producer.get(v)
        if node is None or id(node) in up or v == x:
            continue
        up.add(id(node))
        todo.extend(node.input)
    down_values, members = {x}, []
    for n in nodes:
        if any(i in down_values for i in n.input):
            down_values.update(n.output)
            if id(n) in up:
                members.append(n)
    return members
