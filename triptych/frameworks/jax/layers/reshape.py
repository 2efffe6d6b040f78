"""Layers that change the shape, not the values: Flatten (C, H, W order), Unflatten,
Identity, ChannelShuffle and Slice, on the NCHW batch."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.jax.compat import lax
from triptych.frameworks.jax.layers.context import (
    CONVERTERS,
    Array,
    BuildContext,
    Node,
    unary,
)


@CONVERTERS.register(S.Flatten)
def flatten(layer: S.Flatten, ctx: BuildContext) -> Node:
    out = layer.output_shape(ctx.input_shape)
    return unary(lambda x: x.reshape((-1, *out)))


@CONVERTERS.register(S.Unflatten)
def unflatten(layer: S.Unflatten, ctx: BuildContext) -> Node:
    shape = layer.shape
    return unary(lambda x: x.reshape((-1, *shape)))


@CONVERTERS.register(S.Identity)
def identity(layer: S.Identity, ctx: BuildContext) -> Node:
    return unary(lambda x: x)


@CONVERTERS.register(S.ChannelShuffle)
def channel_shuffle(layer: S.ChannelShuffle, ctx: BuildContext) -> Node:
    """(N, C, H, W) -> (N, g, C/g, H, W) -> swap the two -> (N, C, H, W)."""
    c, h, w = ctx.input_shape
    g = layer.groups

    def fn(x: Array) -> Array:
        return x.reshape(-1, g, c // g, h, w).transpose(0, 2, 1, 3, 4).reshape(-1, c, h, w)

    return unary(fn)


@CONVERTERS.register(S.Slice)
def slice_(layer: S.Slice, ctx: BuildContext) -> Node:
    start, stop, axis = layer.start, layer.stop, layer.axis
    return unary(lambda x: lax.slice_in_dim(x, start, stop, axis=axis))
