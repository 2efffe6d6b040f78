"""BatchNorm -> `TorchStyleBatchNorm` (channels last; its vectors permuted by the layout plan
where it sits between a Flatten and a Dense); LayerNorm2d and LayerNorm ->
``LayerNormalization`` over the last axis (NHWC's channels, a token's or a flat input's
features); RMSNorm -> Keras's own ``RMSNormalization`` over the last axis (x ·
rsqrt(mean(x²) + eps) · scale: PyTorch's ``nn.RMSNorm``); LayerScale -> `LayerScale`; the fixed
ChannelAffine -> `ConstantAffine` (all computing in the input's dtype, float64 included)."""

from __future__ import annotations

from typing import Any

from keras import ops

from triptych.common import spec as S
from triptych.frameworks.tensorflow import layout
from triptych.frameworks.tensorflow.compat import keras
from triptych.frameworks.tensorflow.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    KerasNode,
)
from triptych.frameworks.tensorflow.layers.custom import ConstantAffine


class TorchStyleBatchNorm(keras.layers.BatchNormalization):
    """Keras BatchNormalization whose moving variance uses the *unbiased* batch variance.

    PyTorch normalises with the biased batch variance but tracks the unbiased one
    (n/(n-1) ×); stock Keras tracks the biased one. Normalisation itself is unchanged.
    """

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if not (training and self.trainable):
            return super().call(inputs, training=False, mask=mask)
        dtype = keras.backend.result_type(inputs.dtype, "float32")  # as Keras: f32 or f64
        inputs = ops.cast(inputs, dtype)
        mean, variance = self._moments(inputs, mask)
        shape = ops.shape(inputs)
        n = ops.cast(shape[0], dtype)
        for d in inputs.shape[1:-1]:
            n = n * float(d)
        unbiased = variance * n / ops.maximum(n - 1.0, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(
            self.moving_variance * self.momentum + unbiased * (1.0 - self.momentum)
        )
        return ops.batch_normalization(
            inputs,
            mean,
            variance,
            axis=self.axis,
            offset=self.beta,
            scale=self.gamma,
            epsilon=self.epsilon,
        )


@CONVERTERS.register(S.BatchNorm)
def batchnorm(layer: S.BatchNorm, ctx: BuildContext) -> KerasNode:
    # Keras' momentum is the kept fraction, PyTorch's the new one
    bn = TorchStyleBatchNorm(axis=-1, momentum=1.0 - layer.momentum, epsilon=layer.eps, **ctx.kw)
    return KerasNode.of(bn, holder=bn)


@WEIGHT_LAYOUTS.register(S.BatchNorm)
def batchnorm_weights(
    layer: S.BatchNorm, holder: TorchStyleBatchNorm, ctx: BuildContext
) -> layout.ParamMap:
    return layout.vector_params(
        {
            "weight": holder.gamma,
            "bias": holder.beta,
            "running_mean": holder.moving_mean,
            "running_var": holder.moving_variance,
        },
        ctx.p_in,
    )


@CONVERTERS.register(S.LayerNorm2d, S.LayerNorm)
def layer_norm(layer: S.LayerNorm2d | S.LayerNorm, ctx: BuildContext) -> KerasNode:
    """Both normalise the last axis natively: NHWC's channels, a token's features (a
    (N, L, C) tensor is canonical), a flat input's features."""
    norm = keras.layers.LayerNormalization(axis=-1, epsilon=layer.eps, **ctx.kw)
    return KerasNode.of(norm, holder=norm)


@WEIGHT_LAYOUTS.register(S.LayerNorm2d, S.LayerNorm)
def layer_norm_weights(
    layer: S.LayerNorm2d | S.LayerNorm,
    holder: keras.layers.LayerNormalization,
    ctx: BuildContext,
) -> layout.ParamMap:
    return layout.vector_params({"weight": holder.gamma, "bias": holder.beta}, ctx.p_in)


@CONVERTERS.register(S.RMSNorm)
def rms_norm(layer: S.RMSNorm, ctx: BuildContext) -> KerasNode:
    """The last axis: a token's features ((N, L, C) is canonical) or a flat input's."""
    norm = keras.layers.RMSNormalization(axis=-1, epsilon=layer.eps, **ctx.kw)
    return KerasNode.of(norm, holder=norm)


@WEIGHT_LAYOUTS.register(S.RMSNorm)
def rms_norm_weights(
    layer: S.RMSNorm, holder: keras.layers.RMSNormalization, ctx: BuildContext
) -> layout.ParamMap:
    return layout.vector_params({"weight": holder.scale}, ctx.p_in)


class LayerScale(keras.layers.Layer):
    """x · weight along the last axis (NHWC's channels, or the features); ``weight`` (C,)."""

    def build(self, shape: Any) -> None:
        self.weight = self.add_weight(shape=(shape[-1],), initializer="ones", name="weight")

    def call(self, x: Any) -> Any:
        return x * self.weight

    def compute_output_shape(self, shape: Any) -> Any:
        return shape


@CONVERTERS.register(S.LayerScale)
def layer_scale(layer: S.LayerScale, ctx: BuildContext) -> KerasNode:
    made = LayerScale(**ctx.kw)
    return KerasNode.of(made, holder=made)


@WEIGHT_LAYOUTS.register(S.LayerScale)
def layer_scale_weights(
    layer: S.LayerScale, holder: LayerScale, ctx: BuildContext
) -> layout.ParamMap:
    return layout.vector_params({"weight": holder.weight}, ctx.p_in)


@CONVERTERS.register(S.ChannelAffine)
def channel_affine(layer: S.ChannelAffine, ctx: BuildContext) -> KerasNode:
    # one value per channel (the last axis) or one for all: both broadcast there
    return KerasNode.of(ConstantAffine(layer.scale, layer.offset, **ctx.kw))
