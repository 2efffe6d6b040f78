"""Add and Concat -> ``keras.layers.Add`` / ``Concatenate`` (several inputs; a canonical
NCHW concat axis moved to NHWC)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode
from triptych.frameworks.tensorflow.shared import NHWC_AXIS


@CONVERTERS.register(S.Add)
def add(layer: S.Add, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(keras.layers.Add(**ctx.kw))


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> KerasNode:
    axis = NHWC_AXIS[layer.axis] if len(ctx.input_shape) == 3 else layer.axis
    return KerasNode.of(keras.layers.Concatenate(axis=axis, **ctx.kw))
