"""Max, average and global average pooling as plain TensorFlow: explicit padding, then
VALID (max pads with -inf, average with zeros that count, as PyTorch does)."""

from __future__ import annotations

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import tf
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode
from triptych.frameworks.sonnet.layers.conv import pad_hw


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> SonnetNode:
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    return SonnetNode(lambda xs, t: tf.nn.max_pool2d(pad_hw(xs[0], p, -np.inf), k, s, "VALID"))


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> SonnetNode:
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    return SonnetNode(lambda xs, t: tf.nn.avg_pool2d(pad_hw(xs[0], p), k, s, "VALID"))


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> SonnetNode:
    # a pool over the whole H x W exports as AveragePool (portable), as in the TF backend
    shape = ctx.input_shape
    window, c = (shape[1], shape[2]), shape[0]
    return SonnetNode(
        lambda xs, t: tf.reshape(tf.nn.avg_pool2d(xs[0], window, 1, "VALID"), [-1, c])
    )
