"""Einsum by a constant weight that is a linear map of the data's last axis -> Dense (as
MatMul: on an NHWC view a 1x1 Conv2d, on (L, C) tokens Dense on each token; a bias Add after
it is folded in as MatMul's is): ``torch.einsum("bld,dk->blk", x, W)`` (both exporters keep
the Einsum), ``"...d,dk->...k"``, ``"bd,kd->bk"`` (the weight transposed), Keras'
``EinsumDense`` where tf2onnx keeps an Einsum (an ellipsis equation; Keras 3 writes
``abc,cd->abd`` and ``abc,cde->abde`` as MatMul itself). The data's last axis is contracted
with one axis of the weight, every other data axis is kept in order, and the output is those
axes followed by the weight's other axes (in any order). Two or more new axes are a Dense to
their product (on tokens, not a Conv of an NHWC view) followed by a view of its features as
those axes (data movement, as a Reshape after a MatMul). Anything else (a product of two
data values outside an attention region, a trace, a weight shared over a data axis) is
refused, naming the equation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from triptych.onnx_import.context import ConvertContext
from triptych.onnx_import.ops.common import Unsupported, attrs
from triptych.onnx_import.ops.dense import linear_map
from triptych.onnx_import.ops.registry import OPS

#: one letter standing for an equation's ellipsis (never a subscript: those are letters)
ELLIPSIS = "*"
ONLY = "only a linear map of the data's last axis by a constant weight imports (Dense)"


@dataclass(frozen=True)
class LinearEinsum:
    """An equation read as ``out = data · weight``: which operand is the weight, the
    weight's permutation to (new axes in output order..., contracted axis), the new axes'
    count."""

    weight: int
    perm: tuple[int, ...]
    new: int


def parse(equation: str) -> tuple[list[str], str]:
    """The operands' subscripts and the output's, the ellipsis written `ELLIPSIS`; an
    implicit output is ONNX's (the ellipsis, then the letters used once, sorted)."""
    eq = equation.replace(" ", "").replace("...", ELLIPSIS)
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    if not arrow:
        letters = [c for t in terms for c in t if c != ELLIPSIS]
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        out = (ELLIPSIS if ELLIPSIS in lhs else "") + "".join(once)
    return terms, out


def linear_einsum(equation: str, constant: tuple[bool, ...]) -> LinearEinsum:
    """``equation`` (operands ``constant`` or data) as a linear map of the data's last
    axis; `Unsupported` naming the equation and why otherwise."""
    terms, out = parse(equation)

    def refuse(why: str) -> Unsupported:
        return Unsupported(f"equation {equation!r}: {why}; {ONLY}")

    if len(terms) != 2:
        raise refuse(f"{len(terms)} operand(s)")
    if not any(constant):
        raise refuse("a product of two data values outside a recognised attention region")
    k = constant.index(True)
    data, weight = terms[1 - k], terms[k]
    for what, t in (("data", data), ("weight", weight), ("output", out)):
        if len(set(t)) != len(t):
            raise refuse(f"the {what} subscripts {t!r} repeat an axis (a diagonal or a trace)")
    if ELLIPSIS in weight:
        raise refuse("an ellipsis in the weight's subscripts")
    if len(data) < 2 or data[-1] == ELLIPSIS:
        raise refuse("the data's last axis is not a named axis after its batch axis")
    c, kept = data[-1], data[:-1]
    new = [s for s in weight if s != c]
    shared = sorted(set(new) & set(data))
    if c not in weight:
        raise refuse(f"the data's last axis {c!r} is not contracted with the weight")
    if c in out:
        raise refuse(f"the data's last axis {c!r} is kept, not contracted")
    if shared:
        raise refuse(f"the weight shares the data's axes {shared} (not one weight per sample)")
    if not new:
        raise refuse("the weight has no axis besides the contracted one")
    if out[: len(kept)] != kept or sorted(out[len(kept) :]) != sorted(new):
        want = kept.replace(ELLIPSIS, "...") + "".join(new)
        raise refuse(f"the output is not the data's other axes in order, then the weight's "
                     f"(as {want!r})")  # fmt: skip
    perm = (*(weight.index(s) for s in out[len(kept) :]), weight.index(c))
    return LinearEinsum(k, perm, len(new))


@OPS.register("Einsum", versions=(12, 12))
def einsum(b: ConvertContext, node: onnx.NodeProto) -> None:
    equation = str(attrs(node).get("equation", ""))
    ins = list(node.input)
    form = linear_einsum(equation, tuple(i in b.graph.constants for i in ins))
    if not b.data(ins[1 - form.weight]).shape:
        raise Unsupported(f"equation {equation!r}: it contracts the batch axis")
    w = b.const(ins[form.weight], "weight")
    if w.ndim != len(form.perm):
        raise Unsupported(f"equation {equation!r}: a weight of rank {w.ndim}")
    w = w.transpose(form.perm)
    split = tuple(int(s) for s in w.shape[:-1]) if form.new > 1 else None
    weight = np.ascontiguousarray(w.reshape(-1, w.shape[-1]), dtype=np.float32)
    linear_map(b, node, weight, None, ins[form.weight], data=ins[1 - form.weight], split=split)
    got, inferred = b.data(node.output[0]), b.graph.shape(node.output[0])
    if not got.batch_axis and inferred is not None and tuple(inferred) != got.shape:
        raise Unsupported(f"equation {equation!r}: output shape {inferred}, the Dense gives "
                          f"{got.shape}")  # fmt: skip
