"""Element-wise merges (broadcasting) and Concat -> `Merge` (one or several inputs)."""

from __future__ import annotations

import functools

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext

#: element-wise merge -> (its op on equal shapes, its broadcasting op); maximum and minimum
#: broadcast always (``mx.nd.maximum`` and ``mx.sym.maximum`` are different ops)
OPS = {
    "add": ("elemwise_add", "broadcast_add"),
    "mul": ("elemwise_mul", "broadcast_mul"),
    "sub": ("elemwise_sub", "broadcast_sub"),
    "div": ("elemwise_div", "broadcast_div"),
    "maximum": ("broadcast_maximum", "broadcast_maximum"),  # export: see export.py
    "minimum": ("broadcast_minimum", "broadcast_minimum"),
}


class Merge(nn.HybridBlock):
    """An element-wise ``op`` (a key of `OPS`) folded over the inputs, left to right
    (``broadcast``: sizes of 1 broadcast), or Concat along a canonical NCHW axis
    (``concat_axis``). Add of equal shapes stays ``elemwise_add`` / ``add_n``."""

    def __init__(
        self,
        concat_axis: int | None = None,
        op: str = "add",
        broadcast: bool = False,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.concat_axis, self.op, self.broadcast = concat_axis, op, broadcast

    def hybrid_forward(self, F, *xs):  # Gluon passes the namespace as F
        if self.concat_axis is not None:
            return F.concat(*xs, dim=self.concat_axis)
        if self.op == "add" and not self.broadcast:
            return F.add_n(*xs) if len(xs) > 2 else F.elemwise_add(xs[0], xs[1])
        return functools.reduce(getattr(F, OPS[self.op][self.broadcast]), xs)


@CONVERTERS.register(S.Add, S.Mul, S.Sub, S.Div, S.Maximum, S.Minimum)
def elementwise(layer: S.Layer, ctx: BuildContext) -> nn.HybridBlock:
    shapes = ctx.info.input_shapes
    return Merge(op=layer.kind, broadcast=any(s != shapes[0] for s in shapes))


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> nn.HybridBlock:
    return Merge(layer.axis)
