"""Upsample (integer scale) as plain TensorFlow: nearest repeats rows then columns (as Keras's
``UpSampling2D``); bilinear uses half-pixel centres (PyTorch's ``align_corners=False``)
through `float64_ops` (exact in float64 builds)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import tf
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode
from triptych.frameworks.tensorflow import float64_ops


@CONVERTERS.register(S.Upsample)
def upsample(layer: S.Upsample, ctx: BuildContext) -> SonnetNode:
    s = int(layer.scale)
    if layer.mode == "nearest":
        return SonnetNode(lambda xs, t: tf.repeat(tf.repeat(xs[0], s, axis=1), s, axis=2))
    size = (ctx.input_shape[1] * s, ctx.input_shape[2] * s)
    return SonnetNode(lambda xs, t: float64_ops.resize_bilinear(xs[0], size))
