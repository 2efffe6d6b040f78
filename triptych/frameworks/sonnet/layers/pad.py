"""Pad as plain TensorFlow on NHWC tensors (`spatial_ops.pad_image`: ``tf.pad`` for
constant and reflect, a gather of clamped indices for edge, which ``tf.pad`` lacks)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode
from triptych.frameworks.tensorflow.spatial_ops import pad_image


@CONVERTERS.register(S.Pad)
def pad(layer: S.Pad, ctx: BuildContext) -> SonnetNode:
    pads, mode, value = layer.pads, layer.mode, layer.value
    return SonnetNode(lambda xs, t: pad_image(xs[0], pads, mode, value))
