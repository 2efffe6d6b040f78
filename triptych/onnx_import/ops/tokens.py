"""Elementwise arithmetic with a constant on (L, C) token values: a bias folded into the
Dense before it (its features are the last axis, not the first as an image's channels), a
learned (L, C) table added to the tokens -> PositionEmbedding."""

from __future__ import annotations

import numpy as np
import onnx

from triptych.common import spec as S
from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ir import INPUT, MERGED, Val, identity_index
from triptych.onnx_import.ops.common import Unsupported


def tokens_by_constant(b: ConvertContext, node: onnx.NodeProto, val: Val, data: str,
                       const_name: str) -> None:  # fmt: skip
    """``val`` (a permutation of an (L, C) source) ``op`` the constant ``const_name``."""
    src_shape = b.ir.shape_of(val.source)
    const = np.asarray(b.graph.constants[const_name], np.float32)
    try:
        full = np.broadcast_to(const, (1, *val.shape))[0]
    except ValueError:
        raise Unsupported(f"constant of shape {const.shape} on tokens {val.shape}") from None
    table = np.empty(int(np.prod(src_shape)), np.float32)
    table[val.index.ravel()] = full.ravel()
    table = table.reshape(src_shape)
    op, first = node.op_type, node.input[0] == data
    if op == "Sub":
        table = -table if first else table
    if op == "Div":
        if not first:
            raise Unsupported("constant / x (only x / constant)")
        table = (np.float32(1) / table).astype(np.float32)
    per_feature = bool((table == table[:1]).all())
    target = b.ir.nodes[val.source] if val.source != INPUT else None
    mine = target is not None and target.users == 0 and b.sole_use(data)
    if op == "Sub" and not first:
        raise Unsupported("constant - tokens")
    if per_feature and mine and target.cls is S.Dense:
        vec, scale = table[0], op in ("Mul", "Div")
        if scale:
            target.weights["weight"] = (target.weights["weight"] * vec[:, None]).astype(np.float32)
            if "bias" in target.weights:
                target.weights["bias"] = (target.weights["bias"] * vec).astype(np.float32)
        else:
            target.weights["bias"] = (target.weights.get("bias", 0) + vec).astype(np.float32)
            target.args["bias"] = True
        b.set(node.output[0], val)
        return
    if op in ("Add", "Sub"):
        x = b.resolve(Val(val.source, identity_index(src_shape)), node)
        nid = b.layer(node, S.PositionEmbedding, {}, [x], {"weight": table}, const_name,
                      output=False)  # fmt: skip
        b.set(node.output[0], Val(nid, val.index))
        return
    raise Unsupported(
        f"{op} of tokens {src_shape} by a constant after a layer it cannot be folded into; "
        "only a Dense's bias or scale, or an added (L, C) table (a position embedding)"
    )


def per_sample_rows(b: ConvertContext, val: Val, node: onnx.NodeProto) -> int:
    """The IR node of one sample's (L, C) tokens, when ``val`` is tokens with the batch
    merged into the rows, (N·L, C) (a Reshape(-1, C) before a row-wise op)."""
    if val.batch_axis != MERGED or val.index.ndim != 2:
        raise Unsupported(f"a per-sample {val.shape} value with its batch axis moved")
    size = int(np.prod(b.ir.shape_of(val.source)))
    n, rows = b.graph.batch, val.index.shape[0]
    per = val.index.reshape(n, rows // n, -1) if rows % n == 0 else None
    if per is None or not all(np.array_equal(per[k] - k * size, per[0]) for k in range(n)):
        raise Unsupported("merged rows that are not the same rows of every sample")
    return b.resolve(Val(val.source, per[0]), node)


def merged_rows(b: ConvertContext, nid: int) -> Val:
    """The output of IR node ``nid`` (per sample (L, C')) with the batch merged into the
    rows again, as the row-wise op it replaces returned it."""
    out = identity_index(b.ir.shape_of(nid))
    n = b.graph.batch
    return Val(nid, np.concatenate([out + k * out.size for k in range(n)]), MERGED)
