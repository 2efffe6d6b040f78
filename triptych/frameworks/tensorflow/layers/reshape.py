"""Flatten, Unflatten and Identity. A Flatten/Unflatten the layout plan marks fast reshapes
NHWC as it is (the Dense beside it has permuted weights); any other transposes to the
canonical C, H, W order around the reshape."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode


@CONVERTERS.register(S.Flatten)
def flatten(layer: S.Flatten, ctx: BuildContext) -> KerasNode:
    if len(ctx.input_shape) == 1:
        return KerasNode.of(keras.layers.Identity(**ctx.kw))
    if ctx.fast_flatten:
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
