"""Conv2d and ConvTranspose2d -> ``nn.Conv2d`` / ``nn.ConvTranspose2d`` (canonical layouts)."""

from __future__ import annotations

from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> nn.Module:
    return nn.Conv2d(
        ctx.input_shape[0],
        layer.out_channels,
        layer.kernel,
        layer.stride,
        layer.padding,
        bias=layer.bias,
    )


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> nn.Module:
    return nn.ConvTranspose2d(
        ctx.input_shape[0],
        layer.out_channels,
        layer.kernel,
        layer.stride,
        layer.padding,
        bias=layer.bias,
    )
