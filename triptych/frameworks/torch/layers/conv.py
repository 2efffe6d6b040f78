"""Conv2d and ConvTranspose2d -> ``nn.Conv2d`` / ``nn.ConvTranspose2d`` (canonical layouts;
grouped, depthwise and dilated with PyTorch's own kernels); asymmetric padding pads first."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


class PaddedConv2d(nn.Conv2d):
    """``nn.Conv2d`` after an explicit zero padding ``pads`` (top, left, bottom, right):
    the asymmetric (and "same" on even sizes) padding ``nn.Conv2d`` has no argument for.
    The parameters are the convolution's own (``weight``, ``bias``)."""

    def __init__(self, pads: tuple[int, int, int, int], *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        top, left, bottom, right = pads
        self.pads = (left, right, top, bottom)  # F.pad's order: last axis first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(nn.functional.pad(x, self.pads))


@CONVERTERS.register(S.Conv2d)
def conv2d(layer: S.Conv2d, ctx: BuildContext) -> nn.Module:
    top, left, bottom, right = layer.pads(ctx.input_shape)
    args = (ctx.input_shape[0], layer.out_channels, layer.kernel, layer.stride)
    kwargs = {"bias": layer.bias, "groups": layer.groups, "dilation": layer.dilation}
    if top == bottom and left == right:
        return nn.Conv2d(*args, padding=(top, left), **kwargs)
    return PaddedConv2d((top, left, bottom, right), *args, padding=0, **kwargs)


@CONVERTERS.register(S.ConvTranspose2d)
def conv_transpose2d(layer: S.ConvTranspose2d, ctx: BuildContext) -> nn.Module:
    return nn.ConvTranspose2d(
        ctx.input_shape[0],
        layer.out_channels,
        layer.kernel,
        layer.stride,
        layer.padding,
        output_padding=layer.output_padding,
        groups=layer.groups,
        bias=layer.bias,
    )
