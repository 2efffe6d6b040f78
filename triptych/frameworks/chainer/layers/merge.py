"""Add and Concat -> Chainer sums and ``concat`` (several inputs)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, Call


@CONVERTERS.register(S.Add)
def add(layer: S.Add, ctx: BuildContext) -> Call:
    return lambda *xs: sum(xs[1:], xs[0])


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> Call:
    return lambda *xs: F.concat(xs, axis=layer.axis)
