"""Element-wise merges and Concat as plain TensorFlow (several inputs; a canonical NCHW
concat axis moved to NHWC). Element-wise merges broadcast sizes of 1 (NHWC broadcasts as
NCHW does: both shapes are moved alike) and fold the binary op over the inputs left to
right, as PyTorch's; an Add of equal shapes stays one ``tf.add_n``."""

from __future__ import annotations

import functools

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import tf
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode
from triptych.frameworks.tensorflow.shared import NHWC_AXIS

#: element-wise merge kind -> the binary TensorFlow op folded over its inputs
OPS = {
    "add": tf.add,
    "mul": tf.multiply,
    "sub": tf.subtract,
    "div": tf.math.divide,
    "maximum": tf.maximum,
    "minimum": tf.minimum,
}


@CONVERTERS.register(S.Add, S.Mul, S.Sub, S.Div, S.Maximum, S.Minimum)
def elementwise(layer: S.Layer, ctx: BuildContext) -> SonnetNode:
    shapes = ctx.info.input_shapes
    if layer.kind == "add" and len(set(shapes)) <= 1:
        return SonnetNode(lambda xs, t: tf.add_n(xs))
    op = OPS[layer.kind]
    return SonnetNode(lambda xs, t: functools.reduce(op, xs))


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> SonnetNode:
    axis = NHWC_AXIS[layer.axis] if len(ctx.input_shape) == 3 else layer.axis
    return SonnetNode(lambda xs, t: tf.concat(xs, axis=axis))
