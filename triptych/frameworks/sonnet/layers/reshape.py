"""Flatten, Unflatten and Identity as plain TensorFlow. A Flatten/Unflatten the layout plan
marks fast reshapes NHWC as it is (the Dense beside it has permuted weights,
`triptych.frameworks.tensorflow.layout`); any other transposes to the canonical C, H, W
order around the reshape."""

from __future__ import annotations

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import tf
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode


@CONVERTERS.register(S.Flatten)
def flatten(layer: S.Flatten, ctx: BuildContext) -> SonnetNode:
    shape = ctx.input_shape
    n = int(np.prod(shape))
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
