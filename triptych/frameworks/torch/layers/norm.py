"""BatchNorm -> ``nn.BatchNorm1d`` on features, ``nn.BatchNorm2d`` on images; LayerNorm over
channels, layer scale and the fixed per-channel affine."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


@CONVERTERS.register(S.BatchNorm)
def batchnorm(layer: S.BatchNorm, ctx: BuildContext) -> nn.Module:
    cls = nn.BatchNorm1d if len(ctx.input_shape) == 1 else nn.BatchNorm2d
    return cls(ctx.input_shape[0], eps=layer.eps, momentum=layer.momentum)


class LayerNorm2d(nn.LayerNorm):
    """``nn.LayerNorm`` over the channels of each pixel of (N, C, H, W) (ConvNeXt's form:
    permute to channels-last, normalise, permute back); plain LayerNorm on (N, F)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            return super().forward(x)
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class LayerScale(nn.Module):
    """x · weight per channel (``weight`` (C,))."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight.view(-1, *([1] * (x.dim() - 2)))


class ChannelAffine(nn.Module):
    """x · scale + offset per channel, constants (not in the state_dict)."""

    def __init__(self, scale: tuple[float, ...], offset: tuple[float, ...], rank: int) -> None:
        super().__init__()
        shape = (-1, *([1] * (rank - 1)))
        exact = {"dtype": torch.float64}  # the build's .to(dtype) rounds once for float32
        self.register_buffer("scale", torch.tensor(scale, **exact).view(shape), persistent=False)
        self.register_buffer("offset", torch.tensor(offset, **exact).view(shape), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.offset


@CONVERTERS.register(S.LayerNorm2d)
def layer_norm2d(layer: S.LayerNorm2d, ctx: BuildContext) -> nn.Module:
    return LayerNorm2d(ctx.input_shape[0], eps=layer.eps)


@CONVERTERS.register(S.LayerScale)
def layer_scale(layer: S.LayerScale, ctx: BuildContext) -> nn.Module:
    return LayerScale(ctx.input_shape[0])


@CONVERTERS.register(S.ChannelAffine)
def channel_affine(layer: S.ChannelAffine, ctx: BuildContext) -> nn.Module:
    return ChannelAffine(layer.scale, layer.offset, len(ctx.input_shape))


class RMSNorm(nn.Module):
    """x · rsqrt(mean(x², last axis) + eps) · weight, in elementary ops: ``nn.RMSNorm`` is
    the same function, but TorchScript's ONNX exporter has no ``aten::rms_norm``."""

    def __init__(self, features: int, eps: float) -> None:
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(features)), eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


@CONVERTERS.register(S.RMSNorm)
def rms_norm(layer: S.RMSNorm, ctx: BuildContext) -> nn.Module:
    return RMSNorm(ctx.input_shape[-1], layer.eps)


@CONVERTERS.register(S.LayerNorm)
def layer_norm(layer: S.LayerNorm, ctx: BuildContext) -> nn.Module:
    return nn.LayerNorm(ctx.input_shape[-1], eps=layer.eps)
