"""Normalisation layers and per-channel scales.

BatchNorm normalises with the batch's biased variance in train mode and tracks PyTorch's
running statistics (momentum ``m``: running = (1 - m) · running + m · batch, the variance
unbiased, n / (n - 1)); the new statistics go to ``run.updates``. In eval mode, or frozen
inside a training step, it uses the running ones."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.jax.compat import jax, jnp
from triptych.frameworks.jax.layers.context import (
    CONVERTERS,
    Array,
    BuildContext,
    Node,
    Run,
    channel_view,
)


def mean(x: Array, axis: int | tuple[int, ...]) -> Array:
    """The mean over ``axis`` (per-sample axes, or the batch too for BatchNorm), kept as
    size 1: sum / count. Over per-sample axes the kept dims come from a reshape with the
    batch as -1: ``jnp.mean(keepdims=True)`` under jax2tf's symbolic batch writes a sum
    broadcast back to the full shape (Expand) before the division, which ONNX readers do
    not take for a layer norm; this form is ReduceSum, Reshape, Div."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    count = 1
    for a in axes:
        count *= x.shape[a]
    if 0 in axes:
        return jnp.sum(x, axis=axes, keepdims=True) / count
    kept = tuple(1 if i in axes else d for i, d in enumerate(x.shape))[1:]
    return jnp.sum(x, axis=axes).reshape((-1, *kept)) / count


def _normalise(x: Array, mu: Array, var: Array, eps: float) -> Array:
    return (x - mu) / jnp.sqrt(var + eps)


@CONVERTERS.register(S.BatchNorm)
def batchnorm(layer: S.BatchNorm, ctx: BuildContext) -> Node:
    """Over the batch (and H, W of an image), per channel (axis 1)."""
    rank = len(ctx.input_shape)
    axes = (0, *range(2, rank + 1))
    key, index, eps, momentum = ctx.info.key, ctx.index, layer.eps, layer.momentum

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        x = xs[0]
        w, b = channel_view(p["weight"], rank), channel_view(p["bias"], rank)
        if not run.training or index in run.frozen:
            rmean = channel_view(p["running_mean"], rank)
            rvar = channel_view(p["running_var"], rank)
            return _normalise(x, rmean, rvar, eps) * w + b
        mu = mean(x, axes)
        var = mean(jnp.square(x - mu), axes)
        n = x.size // x.shape[1]
        unbiased = var.reshape(-1) * (n / max(n - 1, 1))
        run.updates[f"{key}.running_mean"] = jax.lax.stop_gradient(
            p["running_mean"] * (1.0 - momentum) + mu.reshape(-1) * momentum
        )
        run.updates[f"{key}.running_var"] = jax.lax.stop_gradient(
            p["running_var"] * (1.0 - momentum) + unbiased * momentum
        )
        return _normalise(x, mu, var, eps) * w + b

    return node


def _layer_norm(axis: int, eps: float, rank: int, per_channel: bool) -> Node:
    """(x - mean) / sqrt(var + eps) · weight + bias over ``axis`` of the batch (biased
    variance); ``per_channel``: weight and bias along axis 1 (LayerNorm2d), else the last."""

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        x = xs[0]
        mu = mean(x, axis % x.ndim)
        var = mean(jnp.square(x - mu), axis % x.ndim)
        w, b = p["weight"], p["bias"]
        if per_channel:
            w, b = channel_view(w, rank), channel_view(b, rank)
        return _normalise(x, mu, var, eps) * w + b

    return node


@CONVERTERS.register(S.LayerNorm)
def layer_norm(layer: S.LayerNorm, ctx: BuildContext) -> Node:
    return _layer_norm(-1, layer.eps, len(ctx.input_shape), per_channel=False)


@CONVERTERS.register(S.LayerNorm2d)
def layer_norm2d(layer: S.LayerNorm2d, ctx: BuildContext) -> Node:
    return _layer_norm(1, layer.eps, len(ctx.input_shape), per_channel=True)


@CONVERTERS.register(S.RMSNorm)
def rms_norm(layer: S.RMSNorm, ctx: BuildContext) -> Node:
    """x / sqrt(mean(x²) + eps) · weight over the last axis."""
    eps = layer.eps

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        x = xs[0]
        return x / jnp.sqrt(mean(jnp.square(x), x.ndim - 1) + eps) * p["weight"]

    return node


@CONVERTERS.register(S.LayerScale)
def layer_scale(layer: S.LayerScale, ctx: BuildContext) -> Node:
    rank = len(ctx.input_shape)

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return xs[0] * channel_view(p["weight"], rank)

    return node


@CONVERTERS.register(S.ChannelAffine)
def channel_affine(layer: S.ChannelAffine, ctx: BuildContext) -> Node:
    """x · scale + offset with numpy constants (one value, or one per channel)."""
    rank = len(ctx.input_shape)
    c = ctx.input_shape[0]
    scale = channel_view(ctx.const(layer.scale * (c // len(layer.scale))), rank)
    offset = channel_view(ctx.const(layer.offset * (c // len(layer.offset))), rank)

    def node(p: dict[str, Array], xs: list[Array], run: Run) -> Array:
        return xs[0] * scale + offset

    return node
