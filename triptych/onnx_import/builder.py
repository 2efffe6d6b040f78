"""Walk an `OnnxGraph` node by node into the IR, collect every refusal, then emit the spec
network and its canonical weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import import names
from triptych.onnx_import.errors import Unsupported, UnsupportedOnnx, where
from triptych.onnx_import.ir import INPUT, IR, INode, NotExpressible, Val, identity_index
from triptych.onnx_import.ops import OPS
from triptych.onnx_import.reader import OnnxGraph

#: ops that only compute shapes (folded into constants when their input shapes are static)
SHAPE_OPS = {"Shape", "Constant"}


class Builder:
    """The state of one import: the graph, the IR, the value of every ONNX data value; the
    `ConvertContext` every op converter gets."""

    def __init__(self, graph: OnnxGraph) -> None:
        self.graph = graph
        shape = graph.shape(graph.input)
        if shape is None or len(shape) not in (1, 3):
            raise UnsupportedOnnx(graph.path, [
                f"input {graph.input}: per-sample shape {shape}; a triptych network takes "
                "(F,) or (C, H, W) with static sizes and a batch axis first"])  # fmt: skip
        self.input_layout = _input_layout(graph, shape)
        input_dtype = _input_dtype(graph)
        if self.input_layout == "NHWC":  # the network takes (C, H, W); the file's view of it
            h, w, c = shape
            self.ir = IR((c, h, w))
            view = identity_index((c, h, w)).transpose(1, 2, 0)
            self.vals: dict[str, Val] = {graph.input: Val(INPUT, view)}
        else:
            self.ir = IR(shape, input_dtype)
            self.vals = {graph.input: Val(INPUT, identity_index(shape))}
        self.broken: set[str] = set()
        self.taken: set[str] = set()
        self.problems: list[str] = []
        self._current: onnx.NodeProto | None = None

    # -- what converters use ----------------------------------------------------------------
    def data(self, name: str) -> Val:
        if name in self.graph.constants:
            raise Unsupported(f"input {name!r} is a constant where data is expected")
        return self.vals[name]

    def const(self, name: str, what: str) -> np.ndarray:
        if name not in self.graph.constants:
            raise Unsupported(f"its {what} {name!r} is computed from data, not a constant")
        return np.array(self.graph.constants[name], dtype=np.float32)

    def optional_const(self, node: onnx.NodeProto, k: int) -> np.ndarray | None:
        if len(node.input) <= k or not node.input[k]:
            return None
        return self.const(node.input[k], "bias")

    def resolve(self, val: Val, node: onnx.NodeProto | None = None) -> int:
        try:
            return self.ir.resolve(val, node.name if node else "")
        except NotExpressible as e:
            raise Unsupported(str(e)) from None

    def resolved(self, name: str) -> int:
        return self.resolve(self.data(name), self._current)

    def set(self, name: str, val: Val) -> None:
        self.vals[name] = val

    def sole_use(self, name: str) -> bool:
        """Is the data value ``name`` the only use of the IR node it indexes: it, and every
        value that data movement carried from that node to it, has one consumer?"""
        src = self.vals[name].source
        while True:
            if len(self.graph.consumers.get(name, [])) != 1:
                return False
            producer = self.graph.producer.get(name)
            ins = [i for i in producer.input if i in self.vals] if producer is not None else []
            if len(ins) != 1 or self.vals[ins[0]].source != src:
                return True
            name = ins[0]

    def layer(
        self,
        node: onnx.NodeProto,
        cls: type[S.Layer],
        args: dict[str, Any],
        inputs: list[int],
        weights: dict[str, np.ndarray],
        weight_name: str | None,
        output: bool = True,
    ) -> int:
        """Add one layer (its output shape checked by the spec's own inference); unless
        ``output`` is False the node's first output becomes its value."""
        shapes = [self.ir.shape_of(i) for i in inputs]
        try:
            probe = cls(**args)
            out = probe.merge_shape(shapes) if probe.merge else probe.output_shape(shapes[0])
            expected = probe.param_shapes(shapes[0])
        except S.SpecError as e:
            raise Unsupported(str(e)) from None
        for key, arr in weights.items():
            if key in expected and tuple(arr.shape) != tuple(expected[key]):
                raise Unsupported(f"{key} of shape {arr.shape}, expected {expected[key]}")
        inferred = self.graph.shape(node.output[0])
        if output and inferred is not None and tuple(inferred) != tuple(out):
            raise Unsupported(f"output shape {inferred}, the spec layer gives {out}")
        name = names.unique(names.pick(weight_name, node.name), self.taken) if weights else None
        nid = self.ir.add(INode(cls, dict(args), list(inputs), tuple(out),
                                {k: np.asarray(v, np.float32) for k, v in weights.items()},
                                name, node.name))  # fmt: skip
        if output:
            self.set(node.output[0], self.ir.value(nid))
        return nid

    # -- the walk ---------------------------------------------------------------------------
    def run(self) -> int:
        """Convert every data node; returns the IR node of the graph output."""
        for node in self.graph.nodes:
            outs = [o for o in node.output if o]
            if node.op_type in SHAPE_OPS or all(o in self.graph.constants for o in outs):
                continue
            data_in = [i for i in node.input if i and i not in self.graph.constants]
            if any(i in self.broken for i in data_in):
                self.broken.update(outs)
                continue
            self._current = node
            try:
                convert = OPS.lookup(node, self.graph.opset)
                missing = [i for i in data_in if i not in self.vals]
                if missing:
                    raise Unsupported(f"inputs {missing} are neither data nor constants")
                convert(self, node)
            except Unsupported as e:
                self.problems.append(f"{where(node.op_type, node.name)}: {e}")
                self._stand_in(outs)
        out = self.graph.output
        if not self.problems and out not in self.vals:
            self.problems.append(f"output {out}: not computed from the input")
        if self.problems:
            raise UnsupportedOnnx(self.graph.path, self.problems)
        try:
            got = self.ir.resolve(self.vals[out], "output")
        except NotExpressible as e:
            raise UnsupportedOnnx(self.graph.path, [f"output {out}: {e}"]) from None
        if got == INPUT:
            raise UnsupportedOnnx(self.graph.path, [f"output {out}: it is the input itself"])
        return got

    def _stand_in(self, outs: list[str]) -> None:
        """After a refusal: outputs of a known (F,) or (C, H, W) shape get a stand-in
        value, so that the nodes after them are still examined (and their problems listed);
        the others are broken, and so is everything computed from them."""
        for name in outs:
            shape = self.graph.shape(name)
            if shape is None or len(shape) not in (1, 3):
                self.broken.add(name)
                continue
            nid = self.ir.add(INode(S.Identity, {}, [], tuple(shape), source="refused"))
            self.vals[name] = self.ir.value(nid)

    def emit(self, network: str, output: int) -> tuple[S.Network, dict[str, np.ndarray]]:
        """The spec network (functional form) and its canonical weights."""
        x = S.Input(self.ir.input_shape, dtype=self.ir.input_dtype)
        tensors: dict[int, S.Tensor] = {INPUT: x}
        layer_of: dict[int, INode] = {}
        for i, node in enumerate(self.ir.nodes):
            if not _needed(self.ir, output, i):
                continue
            layer = node.cls(**node.args, name=node.name)
            ins = [tensors[j] for j in node.inputs]
            tensors[i] = layer(ins if layer.merge else ins[0])
            layer_of[id(layer)] = node
        net = S.Network(network, inputs=x, outputs=tensors[output])
        weights: dict[str, np.ndarray] = {}
        for info in net.infos:
            node = layer_of[id(info.layer)]
            for param in {**info.layer.param_shapes(info.input_shape),
                          **info.layer.buffer_shapes(info.input_shape)}:  # fmt: skip
                weights[f"{network}.{info.key}.{param}"] = np.ascontiguousarray(
                    node.weights[param], dtype=np.float32
                )
        return net, weights


def _needed(ir: IR, output: int, node: int, _cache: dict | None = None) -> bool:
    """Is ``node`` an ancestor of (or is) ``output``?"""
    seen, stack = set(), [output]
    while stack:
        n = stack.pop()
        if n == node:
            return True
        if n == INPUT or n in seen:
            continue
        seen.add(n)
        stack.extend(ir.nodes[n].inputs)
    return False


def _input_dtype(graph: OnnxGraph) -> str:
    """ "int64" for integer token ids (int64 or int32 in the file), "float" for float32/64;
    UnsupportedOnnx naming the type otherwise."""
    value = next(v for v in graph.model.graph.input if v.name == graph.input)
    elem = value.type.tensor_type.elem_type
    if elem in (onnx.TensorProto.INT64, onnx.TensorProto.INT32):
        return "int64"
    if elem in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
        return "float"
    raise UnsupportedOnnx(graph.path, [
        f"input {graph.input}: element type {onnx.TensorProto.DataType.Name(elem)}; a "
        "triptych network takes float tensors or int64/int32 token ids"])  # fmt: skip


def _input_layout(graph: OnnxGraph, shape: tuple[int, ...]) -> str:
    """ "NHWC" when the file's (H, W, C) input is read through a Transpose to NCHW
    (tf2onnx's Keras graphs without ``inputs_as_nchw``): the imported network then takes
    (C, H, W) and the spec's ``options["input_layout"]`` says the file took NHWC; else
    "NCHW" (or "flat" for a vector input)."""
    if len(shape) != 3:
        return "flat"
    users = graph.consumers.get(graph.input, [])
    to_nchw = [
        u
        for u in users
        if u is not None
        and u.op_type == "Transpose"
        and [int(p) for p in next((a.ints for a in u.attribute if a.name == "perm"), [])]
        == [0, 3, 1, 2]
    ]
    return "NHWC" if to_nchw else "NCHW"
