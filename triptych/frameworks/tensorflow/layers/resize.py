"""Upsample -> ``UpSampling2D`` (nearest or bilinear, integer scale); bilinear through
`float64_ops` in float64 builds (Keras' kernel interpolates in float32)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.tensorflow import float64_ops
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode


@CONVERTERS.register(S.Upsample)
def upsample(layer: S.Upsample, ctx: BuildContext) -> KerasNode:
    if ctx.dtype == "float64" and layer.mode == "bilinear":
        return KerasNode.of(float64_ops.BilinearUpSampling64(layer.scale, **ctx.kw))
    return KerasNode.of(keras.layers.UpSampling2D(layer.scale, interpolation=layer.mode, **ctx.kw))
