"""Flatten, Unflatten, Identity, ChannelShuffle and Slice as plain TensorFlow. A Flatten/
Unflatten the layout plan marks fast reshapes NHWC as it is (the Dense beside it has permuted
weights, `triptych.frameworks.tensorflow.layout`); any other transposes to the canonical C,
H, W order around the reshape; (L, C) tokens (canonical) flatten as they are, token by
token; start=2 reshapes NHWC to (H·W, C) and transposes to the canonical (C, H·W).
ChannelShuffle regroups the last (channel) axis; Slice takes its canonical axis moved to
NHWC (`NHWC_AXIS`)."""

from __future__ import annotations

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import tf
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode
from triptych.frameworks.tensorflow.shared import NHWC_AXIS


@CONVERTERS.register(S.Flatten)
def flatten(layer: S.Flatten, ctx: BuildContext) -> SonnetNode:
    shape = ctx.input_shape
    n = int(np.prod(shape))
    if layer.start == 2:  # (H, W, C) -> (H·W, C) -> canonical (C, H·W)
        c, h, w = shape
        return SonnetNode(lambda xs, t: tf.transpose(tf.reshape(xs[0], [-1, h * w, c]), [0, 2, 1]))
    if len(shape) == 3 and not ctx.fast_flatten:
        return SonnetNode(lambda xs, t: tf.reshape(tf.transpose(xs[0], [0, 3, 1, 2]), [-1, n]))
    return SonnetNode(lambda xs, t: tf.reshape(xs[0], [-1, n]))


@CONVERTERS.register(S.Unflatten)
def unflatten(layer: S.Unflatten, ctx: BuildContext) -> SonnetNode:
    c, h, w = layer.shape
    if ctx.fast_unflatten:
        return SonnetNode(lambda xs, t: tf.reshape(xs[0], [-1, h, w, c]))
    return SonnetNode(lambda xs, t: tf.transpose(tf.reshape(xs[0], [-1, c, h, w]), [0, 2, 3, 1]))


@CONVERTERS.register(S.Identity)
def identity(layer: S.Identity, ctx: BuildContext) -> SonnetNode:
    return SonnetNode(lambda xs, t: tf.identity(xs[0]))


@CONVERTERS.register(S.ChannelShuffle)
def channel_shuffle(layer: S.ChannelShuffle, ctx: BuildContext) -> SonnetNode:
    """(N, H, W, C): channels as (groups, C/groups) -> (C/groups, groups), by reshape,
    transpose and reshape (ONNX: Reshape, Transpose, Reshape)."""
    c, h, w = ctx.input_shape
    g = layer.groups

    def call(xs: list, t: bool) -> tf.Tensor:
        y = tf.reshape(xs[0], [-1, h, w, g, c // g])
        return tf.reshape(tf.transpose(y, [0, 1, 2, 4, 3]), [-1, h, w, c])

    return SonnetNode(call)


@CONVERTERS.register(S.Slice)
def slice_(layer: S.Slice, ctx: BuildContext) -> SonnetNode:
    """Elements ``start:stop`` along the canonical axis (C, H, W of an image: NHWC's 3, 1,
    2; a flat input's features: 1)."""
    axis = NHWC_AXIS[layer.axis] if len(ctx.input_shape) == 3 else layer.axis
    index = [slice(None)] * (len(ctx.input_shape) + 1)
    index[axis] = slice(layer.start, layer.stop)
    key = tuple(index)
    return SonnetNode(lambda xs, t: xs[0][key])
