"""Flatten, Unflatten and Identity. A Flatten/Unflatten the layout plan marks fast reshapes
NHWC as it is (the Dense beside it has permuted weights); any other transposes to the
canonical C, H, W order around the reshape; (L, C) tokens (canonical) flatten as they are,
token by token. Flatten start=2 (never fast) reshapes NHWC to (H·W, C) and transposes to the
canonical (C, H·W). ChannelShuffle regroups NHWC's last axis with
``Reshape``/``Permute``; Slice is a strided slice along the NHWC axis of the canonical one."""

from __future__ import annotations

from typing import Any

from triptych.common import spec as S
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode
from triptych.frameworks.tensorflow.shared import NHWC_AXIS


@CONVERTERS.register(S.Flatten)
def flatten(layer: S.Flatten, ctx: BuildContext) -> KerasNode:
    if len(ctx.input_shape) == 1:
        return KerasNode.of(keras.layers.Identity(**ctx.kw))
    if layer.start == 2:  # (H, W, C) -> (H·W, C) -> canonical (C, H·W)
        c, h, w = ctx.input_shape
        return KerasNode.of(
            keras.layers.Reshape((h * w, c), **ctx.kw), keras.layers.Permute((2, 1), **ctx.kw)
        )
    if ctx.fast_flatten or len(ctx.input_shape) == 2:  # (L, C) tokens: token by token
        return KerasNode.of(keras.layers.Flatten(**ctx.kw))
    return KerasNode.of(keras.layers.Permute((3, 1, 2), **ctx.kw), keras.layers.Flatten(**ctx.kw))


@CONVERTERS.register(S.Unflatten)
def unflatten(layer: S.Unflatten, ctx: BuildContext) -> KerasNode:
    c, h, w = layer.shape
    if ctx.fast_unflatten:
        return KerasNode.of(keras.layers.Reshape((h, w, c), **ctx.kw))
    return KerasNode.of(
        keras.layers.Reshape((c, h, w), **ctx.kw), keras.layers.Permute((2, 3, 1), **ctx.kw)
    )


@CONVERTERS.register(S.Identity)
def identity(layer: S.Identity, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(keras.layers.Identity(**ctx.kw))


@CONVERTERS.register(S.ChannelShuffle)
def channel_shuffle(layer: S.ChannelShuffle, ctx: BuildContext) -> KerasNode:
    """(H, W, C) -> (H, W, groups, C/groups) -> (H, W, C/groups, groups) -> (H, W, C)."""
    c, h, w = ctx.input_shape
    g = layer.groups
    return KerasNode.of(
        keras.layers.Reshape((h, w, g, c // g), **ctx.kw),
        keras.layers.Permute((1, 2, 4, 3), **ctx.kw),
        keras.layers.Reshape((h, w, c), **ctx.kw),
    )


class Slice(keras.layers.Layer):
    """Elements ``start:stop`` along native ``axis`` (batch is 0)."""

    def __init__(self, axis: int, start: int, stop: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis, self.start, self.stop = int(axis), int(start), int(stop)

    def call(self, x: Any) -> Any:
        return x[(slice(None),) * self.axis + (slice(self.start, self.stop),)]

    def compute_output_shape(self, shape: Any) -> Any:
        out = list(shape)
        out[self.axis] = self.stop - self.start
        return tuple(out)


@CONVERTERS.register(S.Slice)
def slice_(layer: S.Slice, ctx: BuildContext) -> KerasNode:
    axis = NHWC_AXIS[layer.axis] if len(ctx.input_shape) == 3 else layer.axis
    return KerasNode.of(Slice(axis, layer.start, layer.stop, **ctx.kw))
