"""Element-wise activations -> their ``torch.nn`` modules."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


class Clip(nn.Module):
    """min(max(x, low), high) (exports as ONNX Clip)."""

    def __init__(self, low: float, high: float) -> None:
        super().__init__()
        self.low, self.high = float(low), float(high)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x, self.low, self.high)


class HardSigmoid(nn.Module):
    """max(0, min(1, alpha · x + beta)) for any alpha and beta."""

    def __init__(self, alpha: float, beta: float) -> None:
        super().__init__()
        self.alpha, self.beta = float(alpha), float(beta)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.alpha * x + self.beta, 0.0, 1.0)


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


@CONVERTERS.register(S.Clip)
def clip(layer: S.Clip, ctx: BuildContext) -> nn.Module:
    return nn.ReLU6() if (layer.low, layer.high) == (0.0, 6.0) else Clip(layer.low, layer.high)


@CONVERTERS.register(S.HardSigmoid)
def hard_sigmoid(layer: S.HardSigmoid, ctx: BuildContext) -> nn.Module:
    if (layer.alpha, layer.beta) == (1.0 / 6.0, 0.5):
        return nn.Hardsigmoid()
    return HardSigmoid(layer.alpha, layer.beta)


@CONVERTERS.register(S.HardSwish)
def hard_swish(layer: S.HardSwish, ctx: BuildContext) -> nn.Module:
    return nn.Hardswish()


@CONVERTERS.register(S.SiLU)
def silu(layer: S.SiLU, ctx: BuildContext) -> nn.Module:
    return nn.SiLU()


@CONVERTERS.register(S.GELU)
def gelu(layer: S.GELU, ctx: BuildContext) -> nn.Module:
    return nn.GELU(approximate=layer.approximate)


@CONVERTERS.register(S.ELU)
def elu(layer: S.ELU, ctx: BuildContext) -> nn.Module:
    return nn.ELU(layer.alpha)


@CONVERTERS.register(S.SELU)
def selu(layer: S.SELU, ctx: BuildContext) -> nn.Module:
    return nn.SELU()


@CONVERTERS.register(S.Softplus)
def softplus(layer: S.Softplus, ctx: BuildContext) -> nn.Module:
    return nn.Softplus()


@CONVERTERS.register(S.Mish)
def mish(layer: S.Mish, ctx: BuildContext) -> nn.Module:
    return nn.Mish()


@CONVERTERS.register(S.PReLU)
def prelu(layer: S.PReLU, ctx: BuildContext) -> nn.Module:
    return nn.PReLU(1 if layer.shared else ctx.input_shape[0])


@CONVERTERS.register(S.Softmax)
def softmax(layer: S.Softmax, ctx: BuildContext) -> nn.Module:
    return nn.Softmax(dim=layer.resolved_axis(ctx.input_shape) + 1)
