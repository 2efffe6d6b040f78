"""Element-wise merges and Concat -> Chainer arithmetic, ``maximum``/``minimum`` (folded
left to right over the inputs) and ``concat`` (one input or several).

Chainer 7's binary arithmetic (``+ - * /``) and ``F.maximum``/``F.minimum`` broadcast sizes
of 1 themselves (numpy's rule; the backward sums the gradient back to each input's shape),
and ONNX's Add/Sub/Mul/Div/Max/Min broadcast alike, so no explicit ``broadcast_to`` (an
Expand to a fixed batch in the export) is written."""

from __future__ import annotations

import functools
import operator

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, Call

#: element-wise merge kind -> the binary op folded over its inputs
OPS = {
    "mul": operator.mul,
    "sub": operator.sub,
    "div": operator.truediv,
    "maximum": F.maximum,
    "minimum": F.minimum,
}


@CONVERTERS.register(S.Add)
def add(layer: S.Add, ctx: BuildContext) -> Call:
    return lambda *xs: sum(xs[1:], xs[0])


@CONVERTERS.register(S.Mul, S.Sub, S.Div, S.Maximum, S.Minimum)
def elementwise(layer: S.Layer, ctx: BuildContext) -> Call:
    op = OPS[layer.kind]
    return lambda *xs: functools.reduce(op, xs)


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> Call:
    return lambda *xs: F.concat(xs, axis=layer.axis)
