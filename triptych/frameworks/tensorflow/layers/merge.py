"""Element-wise merges -> ``keras.layers.Add`` / ``Multiply`` / ``Subtract`` / ``Maximum`` /
``Minimum`` (folded left to right over the inputs, broadcasting sizes of 1, as PyTorch's)
and `Divide` (Keras has no division layer); Concat -> ``Concatenate`` (one input or more; a
canonical NCHW concat axis moved to NHWC)."""

from __future__ import annotations

from typing import Any

from keras import ops

from triptych.common import spec as S
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode
from triptych.frameworks.tensorflow.shared import NHWC_AXIS


class Divide(keras.layers.Layer):
    """The first of two inputs divided by the second, broadcasting (ONNX Div)."""

    def call(self, inputs: list[Any]) -> Any:
        a, b = inputs
        return ops.divide(a, b)

    def compute_output_shape(self, shapes: list[Any]) -> Any:
        return tuple(a if b == 1 else b for a, b in zip(shapes[0], shapes[1], strict=True))


#: element-wise merge -> the Keras layer folding it over the inputs
ELEMENTWISE: dict[type[S.Layer], type[keras.layers.Layer]] = {
    S.Add: keras.layers.Add,
    S.Mul: keras.layers.Multiply,
    S.Sub: keras.layers.Subtract,
    S.Div: Divide,
    S.Maximum: keras.layers.Maximum,
    S.Minimum: keras.layers.Minimum,
}


@CONVERTERS.register(*ELEMENTWISE)
def elementwise(layer: S.Layer, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(ELEMENTWISE[type(layer)](**ctx.kw))


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> KerasNode:
    axis = NHWC_AXIS[layer.axis] if len(ctx.input_shape) == 3 else layer.axis
    return KerasNode.of(keras.layers.Concatenate(axis=axis, **ctx.kw))
