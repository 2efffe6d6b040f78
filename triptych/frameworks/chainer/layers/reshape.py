"""Flatten, Unflatten, Identity, channel shuffle and slices -> Chainer reshapes, transposes
and ``get_item`` (the batch left to -1, so the export's Reshape is batch-free; a slice
exports as ONNX Slice)."""

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
    """start=1: the whole sample to one vector; start=2: (C, H, W) -> (C, H·W)."""
    shape = ctx.input_shape
    if layer.start == 2:
        c, h, w = (int(s) for s in shape)
        return lambda x: F.reshape(x, (-1, c, h * w))
    return (lambda x: F.reshape(x, (-1, S.numel(shape)))) if len(shape) > 1 else same


@CONVERTERS.register(S.Unflatten)
def unflatten(layer: S.Unflatten, ctx: BuildContext) -> Call:
    return lambda x: F.reshape(x, (-1, *layer.shape))


@CONVERTERS.register(S.Identity)
def identity(layer: S.Identity, ctx: BuildContext) -> Call:
    return same


@CONVERTERS.register(S.ChannelShuffle)
def channel_shuffle(layer: S.ChannelShuffle, ctx: BuildContext) -> Call:
    """(N, C, H, W): channels as (groups, C/groups) -> (C/groups, groups): reshape,
    transpose, reshape."""
    c, h, w = (int(s) for s in ctx.input_shape)
    g = int(layer.groups)

    def shuffle(x: Any) -> Any:
        y = F.transpose(F.reshape(x, (-1, g, c // g, h, w)), (0, 2, 1, 3, 4))
        return F.reshape(y, (-1, c, h, w))

    return shuffle


@CONVERTERS.register(S.Slice)
def slice_(layer: S.Slice, ctx: BuildContext) -> Call:
    """Elements ``start:stop`` along the canonical ``axis`` (batch is 0)."""
    index = (slice(None),) * layer.axis + (slice(layer.start, layer.stop),)
    return lambda x: F.get_item(x, index)
