"""Element-wise activations -> Keras layers: Keras' own (``ReLU``, ``LeakyReLU``, ``ELU``,
``PReLU``, ``Activation`` of a Keras activation) where one computes PyTorch's formula,
small layers (`Clip`, `HardSigmoid`) where none does. LeakyReLU goes through `float64_ops`
in float64 builds (Keras' op rounds its slope through float32); GELU through
`float64_ops.gelu` in every build (``tf.nn.gelu`` rounds its constants through float32 and
computes an erfc tf2onnx cannot write); the others compute in the input's dtype. Softmax is
Keras's along the canonical axis moved to the native tensor (an image's channels: NHWC's
last)."""

from __future__ import annotations

from typing import Any

from keras import ops

from triptych.common import spec as S
from triptych.frameworks.tensorflow import float64_ops, layout, token_ops
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    KerasNode,
)


class Clip(keras.layers.Layer):
    """min(max(x, low), high) (``clip_by_value``: exports as ONNX Clip)."""

    def __init__(self, low: float, high: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low, self.high = float(low), float(high)

    def call(self, x: Any) -> Any:
        return ops.clip(x, self.low, self.high)

    def compute_output_shape(self, shape: Any) -> Any:
        return shape


class HardSigmoid(keras.layers.Layer):
    """max(0, min(1, alpha · x + beta)) for any alpha and beta (Keras' hard_sigmoid has
    PyTorch's fixed 1/6 and 1/2 only)."""

    def __init__(self, alpha: float, beta: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha, self.beta = float(alpha), float(beta)

    def call(self, x: Any) -> Any:
        return ops.clip(x * self.alpha + self.beta, 0.0, 1.0)

    def compute_output_shape(self, shape: Any) -> Any:
        return shape


def _gelu(x: Any) -> Any:
    return float64_ops.gelu(x, approximate=False)


def _gelu_tanh(x: Any) -> Any:
    return float64_ops.gelu(x, approximate=True)


def _activation(fn: Any, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(keras.layers.Activation(fn, **ctx.kw))


@CONVERTERS.register(S.ReLU)
def relu(layer: S.ReLU, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(keras.layers.ReLU(**ctx.kw))


@CONVERTERS.register(S.LeakyReLU)
def leaky_relu(layer: S.LeakyReLU, ctx: BuildContext) -> KerasNode:
    cls = float64_ops.LeakyReLU64 if ctx.dtype == "float64" else keras.layers.LeakyReLU
    return KerasNode.of(cls(negative_slope=layer.negative_slope, **ctx.kw))


@CONVERTERS.register(S.Sigmoid)
def sigmoid(layer: S.Sigmoid, ctx: BuildContext) -> KerasNode:
    return _activation("sigmoid", ctx)


@CONVERTERS.register(S.Tanh)
def tanh(layer: S.Tanh, ctx: BuildContext) -> KerasNode:
    return _activation("tanh", ctx)


@CONVERTERS.register(S.Clip)
def clip(layer: S.Clip, ctx: BuildContext) -> KerasNode:
    if (layer.low, layer.high) == (0.0, 6.0):
        return _activation("relu6", ctx)  # tf.nn.relu6: ONNX Clip(0, 6)
    return KerasNode.of(Clip(layer.low, layer.high, **ctx.kw))


@CONVERTERS.register(S.HardSigmoid)
def hard_sigmoid(layer: S.HardSigmoid, ctx: BuildContext) -> KerasNode:
    if (layer.alpha, layer.beta) == (1.0 / 6.0, 0.5):
        return _activation("hard_sigmoid", ctx)  # relu6(x + 3) / 6, PyTorch's formula
    return KerasNode.of(HardSigmoid(layer.alpha, layer.beta, **ctx.kw))


@CONVERTERS.register(S.HardSwish)
def hard_swish(layer: S.HardSwish, ctx: BuildContext) -> KerasNode:
    return _activation("hard_silu", ctx)


@CONVERTERS.register(S.SiLU)
def silu(layer: S.SiLU, ctx: BuildContext) -> KerasNode:
    return _activation("silu", ctx)


@CONVERTERS.register(S.GELU)
def gelu(layer: S.GELU, ctx: BuildContext) -> KerasNode:
    # not Keras' gelu: tf.nn.gelu's erfc does not export, its float64 is 5e-9 off
    return _activation(_gelu_tanh if layer.approximate == "tanh" else _gelu, ctx)


@CONVERTERS.register(S.ELU)
def elu(layer: S.ELU, ctx: BuildContext) -> KerasNode:
    return KerasNode.of(keras.layers.ELU(alpha=layer.alpha, **ctx.kw))


@CONVERTERS.register(S.SELU)
def selu(layer: S.SELU, ctx: BuildContext) -> KerasNode:
    return _activation("selu", ctx)


@CONVERTERS.register(S.Softplus)
def softplus(layer: S.Softplus, ctx: BuildContext) -> KerasNode:
    return _activation("softplus", ctx)


@CONVERTERS.register(S.Mish)
def mish(layer: S.Mish, ctx: BuildContext) -> KerasNode:
    return _activation("mish", ctx)


@CONVERTERS.register(S.PReLU)
def prelu(layer: S.PReLU, ctx: BuildContext) -> KerasNode:
    """Keras PReLU (relu(x) - alpha · relu(-x)) with its slopes shared over H and W (one per
    channel, the last axis), or over every axis (``shared``)."""
    rank = len(ctx.input_shape)
    shared = list(range(1, rank + 1)) if layer.shared else list(range(1, rank))
    made = keras.layers.PReLU(shared_axes=shared or None, **ctx.kw)
    return KerasNode.of(made, holder=made)


@WEIGHT_LAYOUTS.register(S.PReLU)
def prelu_weights(layer: S.PReLU, holder: keras.layers.PReLU, ctx: BuildContext) -> layout.ParamMap:
    # (C,) <-> Keras' (1, 1, C) (or (1, 1, 1); (F,) or (1,) on flat input)
    return layout.shaped_vector_params({"weight": holder.alpha}, None if layer.shared else ctx.p_in)


@CONVERTERS.register(S.Softmax)
def softmax(layer: S.Softmax, ctx: BuildContext) -> KerasNode:
    rank = len(ctx.input_shape)
    axis = token_ops.native_axis(layer.resolved_axis(ctx.input_shape), rank)
    return KerasNode.of(keras.layers.Softmax(axis=axis, **ctx.kw))
