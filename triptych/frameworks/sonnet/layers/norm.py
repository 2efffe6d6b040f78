"""BatchNorm -> `TorchBatchNorm`, a ``snt.Module`` with PyTorch's convention; LayerNorm2d ->
`ChannelLayerNorm`, LayerScale -> `ChannelScale`, RMSNorm -> `RMSNorm` (``snt.Module``s holding
their per-channel vectors; Sonnet has no RMS norm); LayerNorm -> Sonnet's own ``snt.LayerNorm`` over
the last axis (PyTorch's formula: ``tf.nn.moments``, biased variance, eps inside the root; its
variables take the first call's dtype); ChannelAffine -> constants of the build's dtype. All run on
the last axis: NHWC's channels, a token's features ((N, L, C) is canonical), or a flat input's
features.

``snt.BatchNorm`` is not used: its moving statistics are ``snt.ExponentialMovingAverage``s,
which debias by the update count (``hidden / (1 - decay**t)``) and track the *biased* batch
variance, so neither a loaded running mean/variance nor PyTorch's update rule can be
expressed with it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.sonnet.compat import snt, tf
from triptych.frameworks.sonnet.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    SonnetNode,
)
from triptych.frameworks.tensorflow import layout


class TorchBatchNorm(snt.Module):
    """BatchNorm over the last axis with PyTorch's convention.

    Training: normalise with the biased batch variance; update ``moving = moving·(1-m) +
    batch·m`` with the *unbiased* batch variance (n/(n-1)×), momentum ``m`` (default 0.1),
    eps (default 1e-5). Inference (or ``frozen``, read when a step traces): the moving
    statistics, not updated. ``scale``/``offset`` are trainable, the moving ones are not.
    ``synchronized`` (data parallel, read when a step traces): the batch sum, sum of
    squares and count are all-reduced over the replicas first, so mean, variance and n are
    the global batch's (as ``snt.distribute.CrossReplicaBatchNorm`` does with its moments).
    Every variable is of ``dtype`` (float32, or float64 for a float64 build).
    """

    def __init__(
        self,
        channels: int,
        momentum: float = 0.1,
        eps: float = 1e-5,
        name: str | None = None,
        dtype: str = "float32",
    ) -> None:
        super().__init__(name=name)
        self.momentum, self.eps = float(momentum), float(eps)
        self.frozen = self.synchronized = False
        ones, zeros = tf.ones([channels], dtype), tf.zeros([channels], dtype)
        self.scale = tf.Variable(ones, name="scale")
        self.offset = tf.Variable(zeros, name="offset")
        self.moving_mean = tf.Variable(zeros, trainable=False, name="moving_mean")
        self.moving_var = tf.Variable(ones, trainable=False, name="moving_var")

    def __call__(self, x: Any, is_training: bool) -> Any:
        if not is_training or self.frozen:
            mean, var = self.moving_mean, self.moving_var
        else:
            axes = list(range(len(x.shape) - 1))
            n = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), x.dtype)
            if self.synchronized:
                sums = [tf.reduce_sum(x, axes), tf.reduce_sum(tf.square(x), axes), n]
                ctx = tf.distribute.get_replica_context()
                total, squares, n = ctx.all_reduce(tf.distribute.ReduceOp.SUM, sums)
                mean = total / n
                var = tf.maximum(squares / n - tf.square(mean), 0.0)
            else:
                mean, var = tf.nn.moments(x, axes)
            unbiased = var * n / tf.maximum(n - 1.0, 1.0)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * (1.0 - m) + mean * m)
            self.moving_var.assign(self.moving_var * (1.0 - m) + unbiased * m)
        return tf.nn.batch_normalization(x, mean, var, self.offset, self.scale, self.eps)


@CONVERTERS.register(S.BatchNorm)
def batchnorm(layer: S.BatchNorm, ctx: BuildContext) -> SonnetNode:
    mod = TorchBatchNorm(
        ctx.input_shape[0], layer.momentum, layer.eps, name=ctx.name, dtype=ctx.dtype
    )
    return SonnetNode(lambda xs, t: mod(xs[0], t), mod)


@WEIGHT_LAYOUTS.register(S.BatchNorm)
def batchnorm_weights(
    layer: S.BatchNorm, holder: TorchBatchNorm, ctx: BuildContext
) -> layout.ParamMap:
    return layout.vector_params(
        {
            "weight": holder.scale,
            "bias": holder.offset,
            "running_mean": holder.moving_mean,
            "running_var": holder.moving_var,
        },
        ctx.p_in,
    )


class ChannelLayerNorm(snt.Module):
    """Layer normalisation over the last axis (the channels of each pixel; a flat input's
    features): (x - mean) / sqrt(var + eps) · scale + offset, the biased variance, as
    PyTorch's ``nn.LayerNorm``. ``scale`` (C,) starts at 1, ``offset`` at 0, of ``dtype``."""

    def __init__(
        self, channels: int, eps: float = 1e-6, name: str | None = None, dtype: str = "float32"
    ) -> None:
        super().__init__(name=name)
        self.eps = float(eps)
        self.scale = tf.Variable(tf.ones([channels], dtype), name="scale")
        self.offset = tf.Variable(tf.zeros([channels], dtype), name="offset")

    def __call__(self, x: Any) -> Any:
        mean, var = tf.nn.moments(x, [-1], keepdims=True)
        return (x - mean) * tf.math.rsqrt(var + self.eps) * self.scale + self.offset


class ChannelScale(snt.Module):
    """x · scale on the last axis; ``scale`` (C,) of ``dtype`` (ConvNeXt's layer scale)."""

    def __init__(self, channels: int, name: str | None = None, dtype: str = "float32") -> None:
        super().__init__(name=name)
        self.scale = tf.Variable(tf.ones([channels], dtype), name="scale")

    def __call__(self, x: Any) -> Any:
        return x * self.scale


class RMSNorm(snt.Module):
    """x · rsqrt(mean(x², last axis) + eps) · scale (PyTorch's ``nn.RMSNorm``, Keras's
    ``RMSNormalization`` op for op); ``scale`` (C,) of ``dtype``."""

    def __init__(
        self, channels: int, eps: float, name: str | None = None, dtype: str = "float32"
    ) -> None:
        super().__init__(name=name)
        self.eps = float(eps)
        self.scale = tf.Variable(tf.ones([channels], dtype), name="scale")

    def __call__(self, x: Any) -> Any:
        mean_square = tf.reduce_mean(tf.square(x), axis=-1, keepdims=True)
        eps = tf.constant(self.eps, x.dtype)  # float64 builds: eps itself, not its float32
        return x * tf.math.rsqrt(mean_square + eps) * self.scale


@CONVERTERS.register(S.RMSNorm)
def rms_norm(layer: S.RMSNorm, ctx: BuildContext) -> SonnetNode:
    """The last axis: a token's features ((N, L, C) is canonical) or a flat input's."""
    mod = RMSNorm(ctx.input_shape[-1], layer.eps, name=ctx.name, dtype=ctx.dtype)
    return SonnetNode(lambda xs, t: mod(xs[0]), mod)


@WEIGHT_LAYOUTS.register(S.RMSNorm)
def rms_norm_weights(layer: S.RMSNorm, holder: RMSNorm, ctx: BuildContext) -> layout.ParamMap:
    return layout.vector_params({"weight": holder.scale}, ctx.p_in)


@CONVERTERS.register(S.LayerNorm2d)
def layer_norm2d(layer: S.LayerNorm2d, ctx: BuildContext) -> SonnetNode:
    mod = ChannelLayerNorm(ctx.input_shape[0], layer.eps, name=ctx.name, dtype=ctx.dtype)
    return SonnetNode(lambda xs, t: mod(xs[0]), mod)


@WEIGHT_LAYOUTS.register(S.LayerNorm2d)
def layer_norm2d_weights(
    layer: S.LayerNorm2d, holder: ChannelLayerNorm, ctx: BuildContext
) -> layout.ParamMap:
    return layout.vector_params({"weight": holder.scale, "bias": holder.offset}, ctx.p_in)


@CONVERTERS.register(S.LayerNorm)
def layer_norm(layer: S.LayerNorm, ctx: BuildContext) -> SonnetNode:
    mod = snt.LayerNorm(-1, create_scale=True, create_offset=True, eps=layer.eps, name=ctx.name)
    return SonnetNode(lambda xs, t: mod(xs[0]), mod)


@WEIGHT_LAYOUTS.register(S.LayerNorm)
def layer_norm_weights(
    layer: S.LayerNorm, holder: snt.LayerNorm, ctx: BuildContext
) -> layout.ParamMap:
    return layout.vector_params({"weight": holder.scale, "bias": holder.offset}, ctx.p_in)


@CONVERTERS.register(S.LayerScale)
def layer_scale(layer: S.LayerScale, ctx: BuildContext) -> SonnetNode:
    mod = ChannelScale(ctx.input_shape[0], name=ctx.name, dtype=ctx.dtype)
    return SonnetNode(lambda xs, t: mod(xs[0]), mod)


@WEIGHT_LAYOUTS.register(S.LayerScale)
def layer_scale_weights(
    layer: S.LayerScale, holder: ChannelScale, ctx: BuildContext
) -> layout.ParamMap:
    return layout.vector_params({"weight": holder.scale}, ctx.p_in)


@CONVERTERS.register(S.ChannelAffine)
def channel_affine(layer: S.ChannelAffine, ctx: BuildContext) -> SonnetNode:
    """x · scale + offset on the last axis, the spec's values as constants of the build's
    dtype (float64 builds get the values themselves, not their float32 roundings)."""
    scale = np.asarray(layer.scale, np.float64)
    offset = np.asarray(layer.offset, np.float64)

    def call(xs: list[Any], t: bool) -> Any:
        x = xs[0]  # the constants made while tracing: graph constants (an export's too)
        return x * tf.constant(scale, x.dtype) + tf.constant(offset, x.dtype)

    return SonnetNode(call)
