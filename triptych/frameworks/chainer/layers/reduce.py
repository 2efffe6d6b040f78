"""ReduceMean, ReduceSum, ReduceMax -> ``F.mean`` / ``F.sum`` / ``F.max`` over the
per-sample axes (shifted past the batch), exported as ONNX ReduceMean/ReduceSum/ReduceMax."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, Call


def _reduce(op: Callable[..., Any]) -> Callable[[S.ReduceMean, BuildContext], Call]:
    def convert(layer: S.ReduceMean, ctx: BuildContext) -> Call:
        axis = tuple(a + 1 for a in layer.resolved_axes(ctx.input_shape))  # batch first
        keepdims = layer.keepdims
        return lambda x: op(x, axis=axis, keepdims=keepdims)

    return convert


CONVERTERS.register(S.ReduceMean)(_reduce(F.mean))
CONVERTERS.register(S.ReduceSum)(_reduce(F.sum))
CONVERTERS.register(S.ReduceMax)(_reduce(F.max))
