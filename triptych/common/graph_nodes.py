"""A network's graph as data: `LayerInfo` (one node with its shapes and counts) and the
stable topological order of the layers between an input and an output (`topological`).
Re-exported by `triptych.common.spec`."""

from __future__ import annotations

from dataclasses import dataclass

from triptych.common.layers import Layer, Node, Shape, SpecError, Tensor


@dataclass(frozen=True)
class LayerInfo:
    """One node of a network: its layer, where its inputs come from (node indices, -1 is
    the network input), shapes, and counts. ``key`` prefixes its canonical weight names
    (the layer's ``name``, else its index)."""

    index: int
    layer: Layer
    input_shape: Shape
    output_shape: Shape
    params: int
    flops: int
    key: str = ""
    inputs: tuple[int, ...] = ()
    input_shapes: tuple[Shape, ...] = ()


#: (layer, input node indices) in topological order; -1 is the network input
NodeList = list[tuple[Layer, tuple[int, ...]]]


def topological(inputs: Tensor, outputs: Tensor, name: str) -> tuple[NodeList, int]:
    """The nodes between ``inputs`` and ``outputs`` in a stable topological order (inputs
    before users, in call order), as (layer, input indices); and the output node's index."""
    index: dict[int, int] = {id(inputs.node): -1}
    nodes: NodeList = []
    layer_owner: dict[int, int] = {}

    def visit(node: Node, path: tuple[int, ...]) -> int:
        if id(node) in index:
            return index[id(node)]
        if node.layer is None:
            raise SpecError(
                f"network {name!r}: the output depends on an S.Input{node.shape} that is not "
                f"the network's input {inputs.shape} (a dangling input)"
            )
        if id(node) in path:
            raise SpecError(f"network {name!r}: the graph has a cycle at {node.layer.describe()}")
        sources = tuple(visit(src, (*path, id(node))) for src in node.inputs)
        owner = layer_owner.get(id(node.layer))
        if owner is not None and node.layer.param_shapes(node.inputs[0].shape):
            raise SpecError(
                f"network {name!r}: {node.layer.describe()} is applied twice (nodes {owner} and "
                f"{len(nodes)}); weight sharing is not supported: make a second layer"
            )
        layer_owner[id(node.layer)] = len(nodes)
        nodes.append((node.layer, sources))
        index[id(node)] = len(nodes) - 1
        return index[id(node)]

    out = visit(outputs.node, ())
    if out == -1:
        raise SpecError(f"network {name!r}: its output is its input; add a layer")
    return nodes, out
