"""Element-wise activations as plain TensorFlow (LeakyReLU through `float64_ops`: exact in
float64 builds, TensorFlow's own op in float32)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import tf
from triptych.frameworks.sonnet.layers.context import CONVERTERS, BuildContext, SonnetNode
from triptych.frameworks.tensorflow import float64_ops


@CONVERTERS.register(S.ReLU)
def relu(layer: S.ReLU, ctx: BuildContext) -> SonnetNode:
    return SonnetNode(lambda xs, t: tf.nn.relu(xs[0]))


@CONVERTERS.register(S.LeakyReLU)
def leaky_relu(layer: S.LeakyReLU, ctx: BuildContext) -> SonnetNode:
    slope = float(layer.negative_slope)
    return SonnetNode(lambda xs, t: float64_ops.leaky_relu(xs[0], slope))


@CONVERTERS.register(S.Sigmoid)
def sigmoid(layer: S.Sigmoid, ctx: BuildContext) -> SonnetNode:
    return SonnetNode(lambda xs, t: tf.sigmoid(xs[0]))


@CONVERTERS.register(S.Tanh)
def tanh(layer: S.Tanh, ctx: BuildContext) -> SonnetNode:
    return SonnetNode(lambda xs, t: tf.tanh(xs[0]))
