"""Multi-op patterns that exporters write for one activation, fused into one node of the
private domain `FUSED` before conversion (the op converters register for it like any op):

* GELU as ``x * 0.5 * (1 + erf(x / sqrt 2))`` (torch below opset 20; the three orders the
  exporters use, and ``x * (1 / sqrt 2)`` for the division) -> ``Gelu``;
* SiLU as ``x * sigmoid(x)`` (EfficientNet; tf2onnx's swish) -> ``SiLU``;
* HardSwish as ``x * hard_sigmoid(x)`` (alpha 1/6, beta 1/2) -> ``HardSwish``;
* Mish as ``x * tanh(softplus(x))`` -> ``Mish``.

A pattern is fused only when its intermediate values feed nothing else, so the function is
unchanged; nodes of a partial match stay as they are (and are refused one by one).
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np
import onnx
from onnx import helper

#: the domain of fused nodes (never in a file)
FUSED = "ai.triptych.fused"


class OnnxGraph(Protocol):
    """What matching reads of `triptych.onnx_import.reader.OnnxGraph` (which imports this
    module, so it is named by its shape)."""

    nodes: list[onnx.NodeProto]
    constants: dict[str, np.ndarray]
    consumers: dict[str, list[onnx.NodeProto | None]]
    producer: dict[str, onnx.NodeProto]


def fuse(graph: OnnxGraph) -> list[onnx.NodeProto]:
    """``graph.nodes`` with every pattern replaced by its fused node (at the position of
    the pattern's last node, so the order stays topological)."""
    matcher = _Matcher(graph)
    replaced: dict[int, onnx.NodeProto] = {}
    removed: set[int] = set()
    for node in graph.nodes:
        if id(node) in removed:
            continue
        found = matcher.match(node)
        if found is None or any(id(n) in removed for n in found[0]):
            continue
        members, fused = found
        removed.update(id(n) for n in members)
        replaced[id(members[-1])] = fused
    return [
        replaced.get(id(n), n) for n in graph.nodes if id(n) not in removed or id(n) in replaced
    ]


class _Matcher:
    """Pattern matching on one graph's producers, consumers and constants."""

    def __init__(self, graph: OnnxGraph) -> None:
        self.g = graph

    def sole(self, value: str, op_type: str) -> onnx.NodeProto | None:
        """The only consumer of ``value`` when it is an ``op_type`` node, else None."""
        users = self.g.consumers.get(value, [])
        if len(users) == 1 and users[0] is not None and users[0].op_type == op_type:
            return users[0]
        return None

    def near(self, value: str, target: float) -> bool:
        """Is ``value`` a one-element constant equal to ``target`` (float32 rounding)?"""
        c = self.g.constants.get(value)
        return c is not None and np.size(c) == 1 and math.isclose(
            float(np.ravel(c)[0]), target, rel_tol=1e-6, abs_tol=1e-7)  # fmt: skip

    def other(self, node: onnx.NodeProto, value: str) -> str | None:
        """The other input of a two-input ``node`` one of whose inputs is ``value``."""
        ins = list(node.input)
        if len(ins) != 2 or value not in ins:
            return None
        return ins[1] if ins[0] == value else ins[0]

    def made_by(self, value: str, op_type: str) -> onnx.NodeProto | None:
        node = self.g.producer.get(value)
        return node if node is not None and node.op_type == op_type else None

    def match(self, node: onnx.NodeProto) -> tuple[list[onnx.NodeProto], onnx.NodeProto] | None:
        """(the pattern's nodes, last one last; the fused node) of a pattern that ``node``
        starts (Erf) or ends (the gating Mul), or None."""
        if node.op_type == "Mul":
            return self.gate(node)
        if node.op_type == "Erf":
            return self.gelu(node)
        return None

    def gate(self, mul: onnx.NodeProto) -> tuple[list, onnx.NodeProto] | None:
        """x * f(x) with f sigmoid, hard sigmoid (1/6, 1/2) or tanh(softplus)."""
        for k in (0, 1):
            gate, x = mul.input[k], mul.input[1 - k]
            inner = self.g.producer.get(gate)
            if inner is None or self.sole(gate, "Mul") is not mul or x in self.g.constants:
                continue
            if inner.op_type == "Sigmoid" and inner.input[0] == x:
                return [inner, mul], _node("SiLU", x, mul)
            if inner.op_type == "HardSigmoid" and inner.input[0] == x:
                a = {at.name: helper.get_attribute_value(at) for at in inner.attribute}
                if math.isclose(a.get("alpha", 0.2), 1 / 6, rel_tol=1e-6) and math.isclose(
                    a.get("beta", 0.5), 0.5
                ):
                    return [inner, mul], _node("HardSwish", x, mul)
            if inner.op_type == "Tanh":
                soft = self.made_by(inner.input[0], "Softplus")
                if soft is not None and soft.input[0] == x and self.sole(soft.output[0], "Tanh"):
                    return [soft, inner, mul], _node("Mish", x, mul)
        return None

    def gelu(self, erf: onnx.NodeProto) -> tuple[list, onnx.NodeProto] | None:
        """x * 0.5 * (1 + erf(x / sqrt 2)), in any of the exporters' orders."""
        scaled = self.g.producer.get(erf.input[0])
        if scaled is None or self.sole(erf.input[0], "Erf") is not erf:
            return None
        x = None
        if scaled.op_type == "Div" and self.near(scaled.input[1], math.sqrt(2.0)):
            x = scaled.input[0]
        elif scaled.op_type == "Mul":
            for k in (0, 1):
                if self.near(scaled.input[k], 1 / math.sqrt(2.0)):
                    x = scaled.input[1 - k]
        one = self.sole(erf.output[0], "Add")
        if x is None or x in self.g.constants or one is None:
            return None
        if not self.near(self.other(one, erf.output[0]) or "", 1.0):
            return None
        m1 = self.sole(one.output[0], "Mul")
        if m1 is None:
            return None
        partner = self.other(m1, one.output[0]) or ""
        half = self.made_by(partner, "Mul")
        if self.near(partner, 0.5) or partner == x:  # (0.5 * (1 + erf)) * x, (x * (1 + erf)) * 0.5
            m2 = self.sole(m1.output[0], "Mul")
            want = x if self.near(partner, 0.5) else None
            last = self.other(m2, m1.output[0]) if m2 is not None else None
            if last is not None and (last == want or (want is None and self.near(last, 0.5))):
                return [scaled, erf, one, m1, m2], _node("Gelu", x, m2)
        elif (  # (x * 0.5) * (1 + erf)
            half is not None
            and self.sole(partner, "Mul") is m1
            and x in half.input
            and self.near(self.other(half, x) or "", 0.5)
        ):
            return [half, scaled, erf, one, m1], _node("Gelu", x, m1)
        return None


def _node(op_type: str, x: str, last: onnx.NodeProto) -> onnx.NodeProto:
    """The fused node: ``op_type`` of ``x`` into ``last``'s output, named after ``last``."""
    return helper.make_node(op_type, [x], [last.output[0]], name=last.name, domain=FUSED)
