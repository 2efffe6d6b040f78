"""Element-wise activations -> their ``torch.nn`` modules."""

from __future__ import annotations

from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


@CONVERTERS.register(S.ReLU)
def relu(layer: S.ReLU, ctx: BuildContext) -> nn.Module:
    return nn.ReLU()


@CONVERTERS.register(S.LeakyReLU)
def leaky_relu(layer: S.LeakyReLU, ctx: BuildContext) -> nn.Module:
    return nn.LeakyReLU(layer.negative_slope)


@CONVERTERS.register(S.Sigmoid)
def sigmoid(layer: S.Sigmoid, ctx: BuildContext) -> nn.Module:
    return nn.Sigmoid()


@CONVERTERS.register(S.Tanh)
def tanh(layer: S.Tanh, ctx: BuildContext) -> nn.Module:
    return nn.Tanh()
