"""Conv2d and ConvTranspose2d -> ``L.Convolution2D`` / ``L.Deconvolution2D`` (W OIHW and
IOHW: the canonical layouts)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import L, chainer
from triptych.frameworks.chainer.layers.context import (
    CONVERTERS,
    PLAIN_WEIGHTS,
    WEIGHT_LAYOUTS,
    ZERO,
    BuildContext,
    cast_params,
)


def _conv(cls: type, layer: S.Conv2d | S.ConvTranspose2d, ctx: BuildContext) -> chainer.Link:
    link = cls(
        ctx.input_shape[0],
        layer.out_channels,
        layer.kernel,
        layer.stride,
        layer.padding,
        nobias=not layer.bias,
        initialW=ZERO,
    )
    return cast_params(link, ctx.dtype)


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> chainer.Link:
    return _conv(L.Convolution2D, layer, ctx)


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> chainer.Link:
    return _conv(L.Deconvolution2D, layer, ctx)


@WEIGHT_LAYOUTS.register(S.Conv2d, S.ConvTranspose2d)
def conv_weights(layer: S.Conv2d | S.ConvTranspose2d) -> dict[str, str]:
    return PLAIN_WEIGHTS
