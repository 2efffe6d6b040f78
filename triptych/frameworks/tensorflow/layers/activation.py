"""Element-wise activations -> Keras layers (LeakyReLU through `float64_ops` in float64
builds: Keras' op rounds its slope through float32)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.tensorflow import float64_ops
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import CONVERTERS, BuildContext, KerasNode


@CONVERTERS.register(S.ReLU)
def relu(layer: S.ReLU, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(keras.layers.ReLU(**ctx.kw))


@CONVERTERS.register(S.LeakyReLU)
def leaky_relu(layer: S.LeakyReLU, ctx: BuildContext) -> KerasNode:
    cls = float64_ops.LeakyReLU64 if ctx.dtype == "float64" else keras.layers.LeakyReLU
    return KerasNode.of(cls(negative_slope=layer.negative_slope, **ctx.kw))


@CONVERTERS.register(S.Sigmoid)
def sigmoid(layer: S.Sigmoid, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(keras.layers.Activation("sigmoid", **ctx.kw))


@CONVERTERS.register(S.Tanh)
def tanh(layer: S.Tanh, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(keras.layers.Activation("tanh", **ctx.kw))
