"""Post-processing every raw export goes through, whichever framework produced it.

1. one input and one output, renamed to the canonical names (`io_names`);
2. dim 0 of input and output is the symbolic ``batch`` (tf2onnx's ``unk__N``, dynamo's
   ``s0`` ... renamed), other dims fixed to the spec's shape (NCHW);
3. initializers removed from the graph inputs (MXNet lists them; ORT cannot constant-fold);
4. converted to the requested opset when the exporter wrote another one (mx2onnx: 13);
   ``ir_version`` lowered to the minimum the opset needs (so older runtimes load it);
5. ``metadata_props``: framework, model, network, spec hash, exporter and version, triptych
   version, opset;
6. ``Reshape(allowzero=1)`` whose target shape is a constant without a zero becomes
   ``allowzero=0`` (equivalent there; torch's dynamo exporter writes 1, which independent
   consumers such as onnx2torch and onnxsim do not take);
7. ``Identity`` copies of initializers become initializers (`inline_constant_identities`);
   a zero ``Pad`` feeding only a ``Conv`` becomes the Conv's own ``pads`` (`fold_zero_pads`:
   tf2onnx leaves Keras' ZeroPadding2D before a depthwise convolution, and the opset-18
   Pad is one that consumers such as onnx2torch do not take);
8. ``onnx.checker.check_model(full_check=True)`` and data-propagating shape inference, so
   every value carries a shape (MXNet's Reshape after a Dense has none otherwise).
"""

from __future__ import annotations

import onnx
import onnx.numpy_helper
from onnx import helper, shape_inference, version_converter

from triptych.common import spec as S
from triptych.common.version import __version__

BATCH = "batch"
#: networks whose final Dense output is a score (pre-sigmoid/softmax), named ``logits``
LOGIT_NETWORKS = ("discriminator", "critic", "head", "classifier")


class ExportError(RuntimeError):
    """An export that could not be completed or did not pass the checks."""


def io_names(network: S.Network) -> tuple[str, str]:
    """Canonical (input, output) names: ``z`` into a generator else ``x``; ``logits`` out of
    a network that ends in a Dense and is a scorer (`LOGIT_NETWORKS`), else ``y``."""
    name_in = "z" if network.name == "generator" else "x"
    scorer = network.name in LOGIT_NETWORKS and isinstance(network.layers[-1], S.Dense)
    return name_in, "logits" if scorer else "y"


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        node.input[:] = [new if i == old else i for i in node.input]
        node.output[:] = [new if o == old else o for o in node.output]
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if vi.name == old:
            vi.name = new


def _set_shape(vi: onnx.ValueInfoProto, shape: S.Shape) -> None:
    dims = vi.type.tensor_type.shape.dim
    del dims[:]
    first = dims.add()
    first.dim_param = BATCH
    for s in shape:
        dims.add().dim_value = int(s)


def _constants(graph: onnx.GraphProto) -> dict[str, onnx.TensorProto]:
    """Initializers and Constant-node values by name."""
    found = {i.name: i for i in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    found[node.output[0]] = attr.t
    return found


def relax_allowzero(graph: onnx.GraphProto) -> int:
    """Set ``allowzero`` to 0 on Reshapes whose constant target shape has no zero (then 0
    and 1 mean the same); returns how many were changed."""
    constants = _constants(graph)
    changed = 0
    for node in graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        allow = [a for a in node.attribute if a.name == "allowzero"]
        target = constants.get(node.input[1])
        if not allow or allow[0].i == 0 or target is None:
            continue
        if 0 not in onnx.numpy_helper.to_array(target).tolist():
            node.attribute.remove(allow[0])
            changed += 1
    return changed


def inline_constant_identities(graph: onnx.GraphProto) -> int:
    """Replace ``Identity`` nodes that copy an initializer (torch's TorchScript exporter
    deduplicates equal folded tensors that way) by a copy of the initializer under the
    output's name; consumers such as onnx2torch expect weights to be initializers. Returns
    how many were replaced."""
    inits = {i.name: i for i in graph.initializer}
    replaced = []
    for node in graph.node:
        if node.op_type == "Identity" and node.input[0] in inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[node.input[0]])
            copy.name = node.output[0]
            graph.initializer.append(copy)
            replaced.append(node)
    for node in replaced:
        graph.node.remove(node)
    return len(replaced)


def _consumers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def _zero_pad_hw(node: onnx.NodeProto, constants: dict[str, onnx.TensorProto]) -> list[int] | None:
    """(top, left, bottom, right) of a constant-mode, zero-valued Pad of an NCHW tensor
    that pads H and W only; None for any other Pad."""
    mode = next((a.s for a in node.attribute if a.name == "mode"), b"constant")
    inputs = list(node.input) + [""] * (4 - len(node.input))
    if mode != b"constant" or inputs[1] not in constants or inputs[3]:  # no axes input
        return None
    if inputs[2] and (
        inputs[2] not in constants or onnx.numpy_helper.to_array(constants[inputs[2]]).any()
    ):
        return None
    pads = onnx.numpy_helper.to_array(constants[inputs[1]]).tolist()
    if len(pads) != 8 or any(pads[i] for i in (0, 1, 4, 5)) or min(pads) < 0:
        return None
    return [pads[2], pads[3], pads[6], pads[7]]


def fold_zero_pads(graph: onnx.GraphProto) -> int:
    """Fold each zero ``Pad`` (of H and W, constant mode) whose one consumer is a ``Conv``
    without ``auto_pad`` into that Conv's ``pads``; returns how many were folded."""
    constants, users = _constants(graph), _consumers(graph)
    outputs = {o.name for o in graph.output}
    folded = []
    for node in graph.node:
        if node.op_type != "Pad" or node.output[0] in outputs:
            continue
        extra = _zero_pad_hw(node, constants)
        consumers = users.get(node.output[0], [])
        if extra is None or len(consumers) != 1 or consumers[0].op_type != "Conv":
            continue
        conv = consumers[0]
        attrs = {a.name: a for a in conv.attribute}
        if "auto_pad" in attrs and attrs["auto_pad"].s not in (b"NOTSET", b""):
            continue
        old = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
        if "pads" in attrs:
            conv.attribute.remove(attrs["pads"])
        conv.attribute.append(helper.make_attribute("pads", [a + b for a, b in zip(
            old, extra, strict=True)]))  # fmt: skip
        conv.input[0] = node.input[0]
        folded.append(node)
    for node in folded:
        graph.node.remove(node)
    return len(folded)


def unshaped_values(model: onnx.ModelProto) -> list[str]:
    """Names of node outputs that carry no shape after shape inference (should be none)."""
    shaped = {
        vi.name
        for vi in [*model.graph.value_info, *model.graph.output, *model.graph.input]
        if vi.type.tensor_type.HasField("shape")
    }
    return [o for n in model.graph.node for o in n.output if o and o not in shaped]


def finalize(
    model: onnx.ModelProto,
    network: S.Network,
    *,
    framework: str,
    model_name: str,
    spec_hash: str,
    exporter: str,
    opset: int,
) -> onnx.ModelProto:
    """Apply the steps in the module docstring; raises `ExportError` naming what failed."""
    graph = model.graph
    init_names = {i.name for i in graph.initializer}
    real_inputs = [i for i in graph.input if i.name not in init_names]
    if len(real_inputs) != 1 or len(graph.output) != 1:
        raise ExportError(
            f"{framework} export of {network.name!r} has inputs "
            f"{[i.name for i in real_inputs]} and outputs "
            f"{[o.name for o in graph.output]}; expected one of each"
        )
    del graph.input[:]
    graph.input.extend(real_inputs)
    name_in, name_out = io_names(network)
    _rename(graph, real_inputs[0].name, name_in)
    _rename(graph, graph.output[0].name, name_out)
    _set_shape(graph.input[0], network.input_shape)
    _set_shape(graph.output[0], network.output_shape)
    del graph.value_info[:]  # stale after renames; shape inference recomputes it
    relax_allowzero(graph)
    inline_constant_identities(graph)
    fold_zero_pads(graph)

    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if current is not None and current != opset:
        try:
            model = version_converter.convert_version(model, opset)
        except Exception as e:
            raise ExportError(
                f"{framework} export of {network.name!r}: cannot convert opset "
                f"{current} to {opset} ({e})"
            ) from None
    model.ir_version = helper.find_min_ir_version_for(list(model.opset_import))
    model.producer_name = "triptych"
    model.producer_version = __version__
    meta = {
        "framework": framework,
        "model": model_name,
        "network": network.name,
        "spec_hash": spec_hash,
        "exporter": exporter,
        "triptych_version": __version__,
        "opset": str(opset),
        "input": name_in,
        "output": name_out,
        "layout": "NCHW",
    }
    del model.metadata_props[:]
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    try:
        onnx.checker.check_model(model, full_check=True)
        model = shape_inference.infer_shapes(
            model, check_type=True, strict_mode=True, data_prop=True
        )
    except Exception as e:
        raise ExportError(
            f"{framework} export of {network.name!r} fails the ONNX checker: {e}"
        ) from None
    return model
