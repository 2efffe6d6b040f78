"""Flatten, Unflatten, Identity, channel shuffle and slices."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


class ConstantUnflatten(nn.Module):
    """(N, ...) -> (N, *shape) as ``reshape(-1, *shape)`` (Unflatten's (C, H, W), Flatten
    start=2's (C, H·W)): the exporters then write a Reshape to a constant shape that shape
    inference (and onnx2torch) can follow; ``nn.Unflatten`` exports through a
    Shape/Gather/Mod chain that leaves every value after it without a shape."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, *self.shape)


@CONVERTERS.register(S.Flatten)
def flatten(layer: S.Flatten, ctx: BuildContext) -> nn.Module:
    """start=1: ``nn.Flatten``; start=2 on (C, H, W): a constant reshape to (C, H·W)."""
    shape = ctx.input_shape
    if layer.start == 2:
        c, h, w = shape
        return ConstantUnflatten((c, h * w))
    return nn.Flatten() if len(shape) > 1 else nn.Identity()


@CONVERTERS.register(S.Unflatten)
def unflatten(layer: S.Unflatten, ctx: BuildContext) -> nn.Module:
    return ConstantUnflatten(layer.shape)


@CONVERTERS.register(S.Identity)
def identity(layer: S.Identity, ctx: BuildContext) -> nn.Module:
    return nn.Identity()


class ChannelShuffle(nn.Module):
    """(N, C, H, W): channels as (groups, C/groups) -> (C/groups, groups), by reshape and
    transpose (what ShuffleNet's own code exports)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = int(groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        y = x.reshape(n, self.groups, c // self.groups, h, w).transpose(1, 2)
        return y.reshape(n, c, h, w)


class Slice(nn.Module):
    """Elements ``start:stop`` along the canonical ``axis`` (batch is 0)."""

    def __init__(self, axis: int, start: int, stop: int) -> None:
        super().__init__()
        self.axis, self.start, self.length = int(axis), int(start), int(stop - start)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.narrow(self.axis, self.start, self.length)


@CONVERTERS.register(S.ChannelShuffle)
def channel_shuffle(layer: S.ChannelShuffle, ctx: BuildContext) -> nn.Module:
    return ChannelShuffle(layer.groups)


@CONVERTERS.register(S.Slice)
def slice_(layer: S.Slice, ctx: BuildContext) -> nn.Module:
    return Slice(layer.axis, layer.start, layer.stop)
