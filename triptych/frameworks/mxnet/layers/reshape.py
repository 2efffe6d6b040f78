"""Flatten, Unflatten and Identity."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext
from triptych.frameworks.mxnet.onednn import fresh_gradient


@CONVERTERS.register(S.Flatten)
def flatten(layer: S.Flatten, ctx: BuildContext) -> nn.HybridBlock:
    return nn.Flatten() if len(ctx.input_shape) == 3 else nn.HybridLambda(lambda F, x: x)


@CONVERTERS.register(S.Unflatten)
def unflatten(layer: S.Unflatten, ctx: BuildContext) -> nn.HybridBlock:
    c, h, w = layer.shape

    def reshape(F, x):  # Gluon passes the namespace as F
        return fresh_gradient(F, F.reshape(x, shape=(-1, c, h, w)))  # see onednn.py

    return nn.HybridLambda(reshape)


@CONVERTERS.register(S.Identity)
def identity(layer: S.Identity, ctx: BuildContext) -> nn.HybridBlock:
    return nn.HybridLambda(lambda F, x: F.identity(x))  # an op, so the export has a node
