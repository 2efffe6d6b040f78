"""Element-wise activations as plain TensorFlow (LeakyReLU through `float64_ops`: exact in
float64 builds, TensorFlow's own op in float32), PReLU as `PReLU`, a ``snt.Module`` holding
its slopes.

Each is PyTorch's formula in ops tf2onnx converts: GELU is written out with ``erf`` (``tf.nn.
gelu`` uses ``erfc``, which ONNX lacks); ELU with an alpha other than 1 is ``where(x > 0, x,
alpha · elu(x))`` (``tf.nn.elu`` has no alpha). Every op here computes in its input's dtype,
so float64 builds are float64 throughout. Softplus is TensorFlow's (log1p(exp(x)), x itself
past ~38 in float64); PyTorch returns x past 20, 2e-9 away at 20 in float64 (nothing in
float32). Softmax is ``tf.nn.softmax`` along the canonical axis moved to the native tensor
(an image's channels: NHWC's last).
"""

from __future__ import annotations

import math
from typing import Any

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.sonnet.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    SonnetNode,
)
from triptych.frameworks.tensorflow import float64_ops, layout, token_ops


def _node(fn: Any) -> SonnetNode:
    """A parameter-free node applying ``fn`` to its one input."""
    return SonnetNode(lambda xs, t: fn(xs[0]))


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


@CONVERTERS.register(S.Clip)
def clip(layer: S.Clip, ctx: BuildContext) -> SonnetNode:
    low, high = float(layer.low), float(layer.high)
    if (low, high) == (0.0, 6.0):
        return _node(tf.nn.relu6)
    return _node(lambda x: tf.clip_by_value(x, low, high))


@CONVERTERS.register(S.HardSigmoid)
def hard_sigmoid(layer: S.HardSigmoid, ctx: BuildContext) -> SonnetNode:
    alpha, beta = float(layer.alpha), float(layer.beta)
    if (alpha, beta) == (1.0 / 6.0, 0.5):  # PyTorch's nn.Hardsigmoid: relu6(x + 3) / 6
        return _node(lambda x: tf.nn.relu6(x + 3.0) / 6.0)
    return _node(lambda x: tf.clip_by_value(alpha * x + beta, 0.0, 1.0))


@CONVERTERS.register(S.HardSwish)
def hard_swish(layer: S.HardSwish, ctx: BuildContext) -> SonnetNode:
    return _node(lambda x: x * tf.nn.relu6(x + 3.0) / 6.0)


@CONVERTERS.register(S.SiLU)
def silu(layer: S.SiLU, ctx: BuildContext) -> SonnetNode:
    return _node(lambda x: x * tf.sigmoid(x))


def _gelu(x: Any) -> Any:
    return 0.5 * x * (1.0 + tf.math.erf(x * math.sqrt(0.5)))


def _gelu_tanh(x: Any) -> Any:
    return 0.5 * x * (1.0 + tf.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * (x * x * x))))


@CONVERTERS.register(S.GELU)
def gelu(layer: S.GELU, ctx: BuildContext) -> SonnetNode:
    return _node(_gelu_tanh if layer.approximate == "tanh" else _gelu)


@CONVERTERS.register(S.ELU)
def elu(layer: S.ELU, ctx: BuildContext) -> SonnetNode:
    alpha = float(layer.alpha)
    if alpha == 1.0:
        return _node(tf.nn.elu)
    return _node(lambda x: tf.where(x > 0, x, alpha * tf.nn.elu(x)))


@CONVERTERS.register(S.SELU)
def selu(layer: S.SELU, ctx: BuildContext) -> SonnetNode:
    return _node(tf.nn.selu)


@CONVERTERS.register(S.Softplus)
def softplus(layer: S.Softplus, ctx: BuildContext) -> SonnetNode:
    return _node(tf.nn.softplus)


@CONVERTERS.register(S.Mish)
def mish(layer: S.Mish, ctx: BuildContext) -> SonnetNode:
    return _node(lambda x: x * tf.tanh(tf.nn.softplus(x)))


class PReLU(snt.Module):
    """``x`` where positive, else ``weight · x`` (PyTorch's rule); ``weight`` (C,), one slope
    per channel (the last axis: NHWC's channels, a flat input's features), or (1,) shared;
    of ``dtype``."""

    def __init__(self, slopes: int, name: str | None = None, dtype: str = "float32") -> None:
        super().__init__(name=name)
        self.weight = tf.Variable(tf.fill([slopes], tf.constant(0.25, dtype)), name="weight")

    def __call__(self, x: Any) -> Any:
        return tf.where(x > 0, x, self.weight * x)


@CONVERTERS.register(S.PReLU)
def prelu(layer: S.PReLU, ctx: BuildContext) -> SonnetNode:
    mod = PReLU(1 if layer.shared else ctx.input_shape[0], name=ctx.name, dtype=ctx.dtype)
    return SonnetNode(lambda xs, t: mod(xs[0]), mod)


@WEIGHT_LAYOUTS.register(S.PReLU)
def prelu_weights(layer: S.PReLU, holder: PReLU, ctx: BuildContext) -> layout.ParamMap:
    perm = None if layer.shared else ctx.p_in
    return layout.vector_params({"weight": holder.weight}, perm)


@CONVERTERS.register(S.Softmax)
def softmax(layer: S.Softmax, ctx: BuildContext) -> SonnetNode:
    rank = len(ctx.input_shape)
    axis = token_ops.native_axis(layer.resolved_axis(ctx.input_shape), rank)
    return _node(lambda x: tf.nn.softmax(x, axis=axis))
