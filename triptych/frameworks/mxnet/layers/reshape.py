"""Flatten, Unflatten, Identity, channel shuffle and slices."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext
from triptych.frameworks.mxnet.onednn import fresh_gradient


@CONVERTERS.register(S.Flatten)
def flatten(layer: S.Flatten, ctx: BuildContext) -> nn.HybridBlock:
    """(C, H, W) or (L, C) tokens (token by token) -> one row-major vector; (F,) as it is;
    start=2: (C, H, W) -> (C, H·W), a reshape to a constant shape."""
    if layer.start == 2:
        c, h, w = ctx.input_shape
        return nn.HybridLambda(lambda F, x: F.reshape(x, shape=(-1, c, h * w)))
    return nn.Flatten() if len(ctx.input_shape) > 1 else nn.HybridLambda(lambda F, x: x)


@CONVERTERS.register(S.Unflatten)
def unflatten(layer: S.Unflatten, ctx: BuildContext) -> nn.HybridBlock:
    c, h, w = layer.shape

    def reshape(F, x):  # Gluon passes the namespace as F
        return fresh_gradient(F, F.reshape(x, shape=(-1, c, h, w)))  # see onednn.py

    return nn.HybridLambda(reshape)


@CONVERTERS.register(S.Identity)
def identity(layer: S.Identity, ctx: BuildContext) -> nn.HybridBlock:
    return nn.HybridLambda(lambda F, x: F.identity(x))  # an op, so the export has a node


@CONVERTERS.register(S.ChannelShuffle)
def channel_shuffle(layer: S.ChannelShuffle, ctx: BuildContext) -> nn.HybridBlock:
    """(N, C, H, W) -> (N, g, C/g, H, W) -> swap axes 1 and 2 -> (N, C, H, W): reshapes to
    constant shapes (a Reshape each in ONNX) around a transpose."""
    c, h, w = ctx.input_shape
    g = layer.groups

    def shuffle(F, x):  # Gluon passes the namespace as F
        y = F.transpose(F.reshape(x, shape=(-1, g, c // g, h, w)), axes=(0, 2, 1, 3, 4))
        return fresh_gradient(F, F.reshape(y, shape=(-1, c, h, w)))  # see onednn.py

    return nn.HybridLambda(shuffle)


@CONVERTERS.register(S.Slice)
def slice_(layer: S.Slice, ctx: BuildContext) -> nn.HybridBlock:
    axis, start, stop = layer.axis, layer.start, layer.stop
    return nn.HybridLambda(lambda F, x: F.slice_axis(x, axis=axis, begin=start, end=stop))
