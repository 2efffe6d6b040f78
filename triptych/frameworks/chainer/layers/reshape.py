"""Flatten, Unflatten and Identity -> Chainer reshapes (the batch left to -1, so the
export's Reshape is batch-free)."""

from __future__ import annotations

from typing import Any

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, Call


def same(x: Any) -> Any:
    """The input itself (Identity, and Flatten of features)."""
    return x


@CONVERTERS.register(S.Flatten)
def flatten(layer: S.Flatten, ctx: BuildContext) -> Call:
    shape = ctx.input_shape
    return (lambda x: F.reshape(x, (-1, S.numel(shape)))) if len(shape) == 3 else same


@CONVERTERS.register(S.Unflatten)
def unflatten(layer: S.Unflatten, ctx: BuildContext) -> Call:
    return lambda x: F.reshape(x, (-1, *layer.shape))


@CONVERTERS.register(S.Identity)
def identity(layer: S.Identity, ctx: BuildContext) -> Call:
    return same
