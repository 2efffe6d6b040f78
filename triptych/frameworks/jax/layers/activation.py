"""Activations, element-wise (PyTorch's formulas; each written with ops jax2tf lowers to
plain TensorFlow, so they export: exact GELU through ``erf``, not ``erfc``), PReLU with its
learned slope and Softmax along a per-sample axis."""

from __future__ import annotations

import math

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jax, jnp
from triptych.frameworks.jax.layers.context import (
    CONVERTERS,
    Array,
    BuildContext,
    Node,
    Run,
    channel_view,
    unary,
)

#: SELU's constants (PyTorch's and ONNX's)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
#: above this Softplus is the identity in float32 (PyTorch's threshold)
SOFTPLUS_THRESHOLD = 20.0


def softplus(x: Array, portable: bool = False) -> Array:
    """log(1 + exp(x)), the identity above `SOFTPLUS_THRESHOLD` (PyTorch's rule);
    ``portable``: ``log(1 + e)`` for ``log1p(e)`` (tf2onnx has no Log1p; the same to float
    rounding of 1 + e)."""
    e = jnp.exp(jnp.minimum(x, SOFTPLUS_THRESHOLD))
    return jnp.where(x > SOFTPLUS_THRESHOLD, x, jnp.log(1.0 + e) if portable else jnp.log1p(e))


def elu(x: Array, alpha: float, portable: bool = False) -> Array:
    """x for x > 0, alpha · (exp(x) - 1) otherwise (exp on the clipped negative side only);
    ``portable``: ``exp(x) - 1`` for ``expm1`` (tf2onnx has no Expm1)."""
    neg = jnp.minimum(x, 0)
    return jnp.where(x > 0, x, alpha * (jnp.exp(neg) - 1.0 if portable else jnp.expm1(neg)))


@CONVERTERS.register(S.ReLU)
def relu(layer: S.ReLU, ctx: BuildContext) -> Node:
    return unary(jax.nn.relu)


@CONVERTERS.register(S.LeakyReLU)
def leaky_relu(layer: S.LeakyReLU, ctx: BuildContext) -> Node:
    slope = layer.negative_slope
    return unary(lambda x: jnp.where(x >= 0, x, x * slope))


@CONVERTERS.register(S.Sigmoid)
def sigmoid(layer: S.Sigmoid, ctx: BuildContext) -> Node:
    return unary(jax.nn.sigmoid)


@CONVERTERS.register(S.Tanh)
def tanh(layer: S.Tanh, ctx: BuildContext) -> Node:
    return unary(jnp.tanh)


@CONVERTERS.register(S.Clip)
def clip(layer: S.Clip, ctx: BuildContext) -> Node:
    low, high = layer.low, layer.high
    return unary(lambda x: jnp.minimum(jnp.maximum(x, low), high))


@CONVERTERS.register(S.HardSigmoid)
def hard_sigmoid(layer: S.HardSigmoid, ctx: BuildContext) -> Node:
    alpha, beta = layer.alpha, layer.beta
    return unary(lambda x: jnp.minimum(jnp.maximum(x * alpha + beta, 0.0), 1.0))


@CONVERTERS.register(S.HardSwish)
def hard_swish(layer: S.HardSwish, ctx: BuildContext) -> Node:
    return unary(lambda x: x * jnp.minimum(jnp.maximum(x + 3.0, 0.0), 6.0) / 6.0)


@CONVERTERS.register(S.SiLU)
def silu(layer: S.SiLU, ctx: BuildContext) -> Node:
    return unary(lambda x: x * jax.nn.sigmoid(x))


@CONVERTERS.register(S.GELU)
def gelu(layer: S.GELU, ctx: BuildContext) -> Node:
    if layer.approximate == "tanh":
        c = math.sqrt(2.0 / math.pi)
        return unary(lambda x: 0.5 * x * (1.0 + jnp.tanh(c * (x + 0.044715 * x * x * x))))
    inv_sqrt2 = 1.0 / math.sqrt(2.0)
    return unary(lambda x: 0.5 * x * (1.0 + jax.lax.erf(x * inv_sqrt2)))


@CONVERTERS.register(S.ELU)
def elu_(layer: S.ELU, ctx: BuildContext) -> Node:
    alpha = layer.alpha
    return unary(lambda x: elu(x, alpha), lambda x: elu(x, alpha, True))


@CONVERTERS.register(S.SELU)
def selu(layer: S.SELU, ctx: BuildContext) -> Node:
    return unary(
        lambda x: SELU_SCALE * elu(x, SELU_ALPHA), lambda x: SELU_SCALE * elu(x, SELU_ALPHA, True)
    )


@CONVERTERS.register(S.Softplus)
def softplus_(layer: S.Softplus, ctx: BuildContext) -> Node:
    return unary(softplus, lambda x: softplus(x, True))


@CONVERTERS.register(S.Mish)
def mish(layer: S.Mish, ctx: BuildContext) -> Node:
    return unary(lambda x: x * jnp.tanh(softplus(x)), lambda x: x * jnp.tanh(softplus(x, True)))


@CONVERTERS.register(S.PReLU)
def prelu(layer: S.PReLU, ctx: BuildContext) -> Node:
    """max(x, 0) + a · min(x, 0); the slope ``weight`` (C,) along the first per-sample
    axis, or one (1,) for all."""
    rank = len(ctx.input_shape)

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        x, a = xs[0], p["weight"]
        a = a.reshape(()) if layer.shared else channel_view(a, rank)
        return jnp.where(x >= 0, x, x * a)

    return node


@CONVERTERS.register(S.Softmax)
def softmax(layer: S.Softmax, ctx: BuildContext) -> Node:
    """Stable softmax along the per-sample axis (the max subtracted first)."""
    axis = layer.resolved_axis(ctx.input_shape) + 1

    def fn(x: Array) -> Array:
        e = jnp.exp(x - jax.lax.stop_gradient(jnp.max(x, axis=axis, keepdims=True)))
        return e / jnp.sum(e, axis=axis, keepdims=True)

    return unary(fn)
