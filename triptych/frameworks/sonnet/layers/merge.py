"""Add and Concat as plain TensorFlow (several inputs; a canonical NCHW concat axis moved to
NHWC)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import tf
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode
from triptych.frameworks.tensorflow.shared import NHWC_AXIS


@CONVERTERS.register(S.Add)
def add(layer: S.Add, ctx: BuildContext) -> SonnetNode:
    return SonnetNode(lambda xs, t: tf.add_n(xs))


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> SonnetNode:
    axis = NHWC_AXIS[layer.axis] if len(ctx.input_shape) == 3 else layer.axis
    return SonnetNode(lambda xs, t: tf.concat(xs, axis=axis))
