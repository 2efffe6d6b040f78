"""Conv2d and ConvTranspose2d -> ``nn.Conv2D`` / the cured `Conv2DTranspose` (OIHW and IOHW:
the canonical layouts)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import (
    CONVERTERS,
    PLAIN_WEIGHTS,
    WEIGHT_LAYOUTS,
    BuildContext,
)
from triptych.frameworks.mxnet.onednn import Conv2DTranspose


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> nn.HybridBlock:
    return nn.Conv2D(
        layer.out_channels,
        layer.kernel,
        layer.stride,
        layer.padding,
        in_channels=ctx.input_shape[0],
        use_bias=layer.bias,
    )


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> nn.HybridBlock:
    return Conv2DTranspose(  # oneDNN's reorder failure cured (see onednn.py)
        layer.out_channels,
        layer.kernel,
        layer.stride,
        layer.padding,
        in_channels=ctx.input_shape[0],
        use_bias=layer.bias,
    )


@WEIGHT_LAYOUTS.register(S.Conv2d, S.ConvTranspose2d)
def conv_weights(layer: S.Conv2d | S.ConvTranspose2d) -> dict[str, str]:
    return PLAIN_WEIGHTS
