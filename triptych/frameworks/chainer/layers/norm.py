"""BatchNorm -> `BatchNormalization` (Chainer's, able to run frozen inside a training step).
Chainer's decay is ``1 - momentum``; its running variance is unbiased, PyTorch's rule.

LayerNorm2d -> `LayerNorm2d` and LayerScale -> `LayerScale`, links composing Chainer's
reductions and broadcasting arithmetic along axis 1 (the channels of each pixel of NCHW, or
the features of a flat input): ``F.layer_normalization`` takes (N, C) only and onnx-chainer
has no converter for it, while ReduceMean/Sub/Mul/Sqrt/Div export as they are.
LayerNorm (over the last axis of (L, C) or (F,)) -> `LayerNorm`, Chainer's own
``L.LayerNormalization`` on (N·L, C) rows (``F.layer_normalization`` takes rank 2 only); the
export writes its function as ReduceMean/Sub/Mul/Sqrt/Div (onnx-chainer has no converter,
and opset 11 no LayerNormalization op). RMSNorm -> `RMSNorm`, x / sqrt(mean(x²) + eps) · weight
over the last axis from the same exportable ops. ChannelAffine -> x · scale + offset with the
constants held as (C, 1, 1) variables in the build's dtype (exact in the float64 oracle,
rounded once in float32)."""

from __future__ import annotations

from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F, L, chainer
from triptych.frameworks.chainer.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    Call,
    cast_params,
    constant,
)

#: canonical name -> Chainer BatchNormalization's attribute
BN_WEIGHTS = {
    "weight": "gamma",
    "bias": "beta",
    "running_mean": "avg_mean",
    "running_var": "avg_var",
}


class BatchNormalization(L.BatchNormalization):
    """``L.BatchNormalization`` (its name kept) that, while ``frozen`` (set by the training
    step), runs with ``train=False`` inside a training step: running statistics used, not
    updated."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.frozen = False

    def forward(self, x: Any, **kwargs: Any) -> Any:
        if self.frozen:
            with chainer.using_config("train", False):
                return super().forward(x, **kwargs)
        return super().forward(x, **kwargs)


@CONVERTERS.register(S.BatchNorm)
def batchnorm(layer: S.BatchNorm, ctx: BuildContext) -> chainer.Link:
    link = BatchNormalization(ctx.input_shape[0], decay=1.0 - layer.momentum, eps=layer.eps)
    if ctx.dtype != np.float32:  # running statistics are not parameters: cast them too
        link.avg_mean = link.avg_mean.astype(ctx.dtype)
        link.avg_var = link.avg_var.astype(ctx.dtype)
    return cast_params(link, ctx.dtype)


@WEIGHT_LAYOUTS.register(S.BatchNorm)
def batchnorm_weights(layer: S.BatchNorm) -> dict[str, str]:
    return BN_WEIGHTS


def _per_channel(shape: S.Shape) -> tuple[int, ...]:
    """The shape a (C,) vector takes to broadcast along axis 1 of (N, *shape)."""
    return (1, int(shape[0]), *([1] * (len(shape) - 1)))


class LayerNorm2d(chainer.Link):
    """(x - mean) / sqrt(var + eps) · gamma + beta over axis 1 (biased variance), gamma
    and beta (C,)."""

    def __init__(self, shape: S.Shape, eps: float, dtype: np.dtype) -> None:
        super().__init__()
        self.eps, self.view = float(eps), _per_channel(shape)
        with self.init_scope():
            self.gamma = chainer.Parameter(np.ones(shape[0], dtype))
            self.beta = chainer.Parameter(np.zeros(shape[0], dtype))

    def forward(self, x: Any) -> Any:
        d = x - F.mean(x, axis=1, keepdims=True)
        var = F.mean(d * d, axis=1, keepdims=True)
        y = d / F.sqrt(var + self.eps)
        return y * F.reshape(self.gamma, self.view) + F.reshape(self.beta, self.view)


class LayerScale(chainer.Link):
    """x · W per channel (axis 1), W (C,)."""

    def __init__(self, shape: S.Shape, dtype: np.dtype) -> None:
        super().__init__()
        self.view = _per_channel(shape)
        with self.init_scope():
            self.W = chainer.Parameter(np.ones(shape[0], dtype))

    def forward(self, x: Any) -> Any:
        return x * F.reshape(self.W, self.view)


class LayerNorm(L.LayerNormalization):
    """``L.LayerNormalization`` (gamma, beta (C,)) over the last axis; (N, L, C) tokens are
    normalised as (N·L, C) rows, the batch left to -1 in both reshapes."""

    def forward(self, x: Any) -> Any:
        if x.ndim == 2:
            return super().forward(x)
        length, c = x.shape[1:]
        return F.reshape(super().forward(F.reshape(x, (-1, c))), (-1, length, c))


class RMSNorm(chainer.Link):
    """PyTorch's ``nn.RMSNorm(C, eps)`` over the last axis of (N, L, C) or (N, F):
    x / sqrt(mean(x²) + eps) · weight, ``weight`` (C,) (Chainer's arithmetic broadcasts it
    over the leading axes)."""

    def __init__(self, channels: int, eps: float, dtype: np.dtype) -> None:
        super().__init__()
        self.eps = float(eps)
        with self.init_scope():
            self.weight = chainer.Parameter(np.ones(int(channels), dtype))

    def forward(self, x: Any) -> Any:
        mean_square = F.mean(x * x, axis=x.ndim - 1, keepdims=True)
        return x / F.sqrt(mean_square + self.eps) * self.weight


@CONVERTERS.register(S.RMSNorm)
def rms_norm(layer: S.RMSNorm, ctx: BuildContext) -> chainer.Link:
    return RMSNorm(ctx.input_shape[-1], layer.eps, ctx.dtype)


@WEIGHT_LAYOUTS.register(S.RMSNorm)
def rms_norm_weights(layer: S.RMSNorm) -> dict[str, str]:
    return {"weight": "weight"}


@CONVERTERS.register(S.LayerNorm)
def layer_norm(layer: S.LayerNorm, ctx: BuildContext) -> chainer.Link:
    return cast_params(LayerNorm(ctx.input_shape[-1], eps=layer.eps), ctx.dtype)


@WEIGHT_LAYOUTS.register(S.LayerNorm)
def layer_norm_weights(layer: S.LayerNorm) -> dict[str, str]:
    return {"weight": "gamma", "bias": "beta"}


@CONVERTERS.register(S.LayerNorm2d)
def layer_norm2d(layer: S.LayerNorm2d, ctx: BuildContext) -> chainer.Link:
    return LayerNorm2d(ctx.input_shape, layer.eps, ctx.dtype)


@CONVERTERS.register(S.LayerScale)
def layer_scale(layer: S.LayerScale, ctx: BuildContext) -> chainer.Link:
    return LayerScale(ctx.input_shape, ctx.dtype)


@WEIGHT_LAYOUTS.register(S.LayerNorm2d)
def layer_norm2d_weights(layer: S.LayerNorm2d) -> dict[str, str]:
    return {"weight": "gamma", "bias": "beta"}


@WEIGHT_LAYOUTS.register(S.LayerScale)
def layer_scale_weights(layer: S.LayerScale) -> dict[str, str]:
    return {"weight": "W"}


@CONVERTERS.register(S.ChannelAffine)
def channel_affine(layer: S.ChannelAffine, ctx: BuildContext) -> Call:
    view = _per_channel(ctx.input_shape)[1:]
    scale, offset = (
        constant(np.asarray(v, np.float64).reshape(-1, *view[1:]), ctx.dtype)
        for v in (layer.scale, layer.offset)
    )
    return lambda x: x * scale + offset
