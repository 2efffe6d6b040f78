"""Clean-ups of the ONNX graph tf2onnx writes for a jax2tf function, so the file reads like
the other backends' exports (and ONNX readers recognise their patterns).

jax2tf writes a reduction that keeps its axes (``jnp.sum(..., keepdims=True)``, a layer
norm's statistics) as ``ReduceSum(keepdims=0)`` followed by a ``Reshape`` to the kept shape,
whose target is computed at run time from ``Shape(x)`` (the batch is symbolic). That pair
is ``ReduceSum(keepdims=1)`` (ReduceMax likewise: a softmax's): `keep_reduced_dims`
rewrites it so, the form TensorFlow's and PyTorch's exports have."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

#: reductions that take their axes as an input (opset 18)
REDUCTIONS = ("ReduceSum", "ReduceMax", "ReduceMin", "ReduceMean")


def _dims(info: dict[str, list], name: str) -> list | None:
    return info.get(name)


def keep_reduced_dims(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` with each Reduce*(keepdims=0) -> Reshape-to-the-kept-shape pair replaced by
    one Reduce*(keepdims=1) (the Reshape's consumers read the reduction)."""
    inferred = shape_inference.infer_shapes(model, data_prop=True)
    values = [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]
    info = {
        v.name: [d.dim_value if d.HasField("dim_value") else None
                 for d in v.type.tensor_type.shape.dim]
        for v in values
        if v.type.tensor_type.HasField("shape")
    }  # fmt: skip
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    drop, rename = set(), {}
    for n in model.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type not in REDUCTIONS or attrs.get("keepdims", 1) != 0 or len(n.input) < 2:
            continue
        users = consumers.get(n.output[0], [])
        src, out = _dims(info, n.input[0]), None
        if len(users) != 1 or users[0].op_type != "Reshape" or src is None:
            continue
        out = _dims(info, users[0].output[0])
        axes = consts.get(n.input[1])
        if out is None or axes is None or len(out) != len(src):
            continue
        axes = {int(a) % len(src) for a in np.ravel(axes)}
        if 0 in axes or any(out[a] != 1 for a in axes):
            continue
        if any(out[i] != src[i] for i in range(1, len(src)) if i not in axes):
            continue
        for a in n.attribute:
            if a.name == "keepdims":
                a.i = 1
        drop.add(id(users[0]))
        rename[users[0].output[0]] = n.output[0]
    if not drop:
        return model
    nodes = [n for n in model.graph.node if id(n) not in drop]
    for n in nodes:
        for k, name in enumerate(n.input):
            if name in rename:
                n.input[k] = rename[name]
    for o in model.graph.output:
        if o.name in rename:  # a graph output keeps its name: keep that Reshape
            return model
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model
