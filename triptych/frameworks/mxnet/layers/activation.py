"""Element-wise activations -> Gluon's activation blocks (LeakyReLU in float64 builds: an
exact `leaky_relu_exact` block, since MXNet's op keeps its slope as float32)."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext


def leaky_relu_exact(slope: float) -> nn.HybridLambda:
    """PyTorch's LeakyReLU with a float64 slope (x if x > 0 else slope * x; the gradient at
    0 is ``slope``, as PyTorch's); MXNet's op keeps its slope as float32."""
    return nn.HybridLambda(lambda F, x: F.where(x > 0, x, x * slope))


@CONVERTERS.register(S.ReLU)
def relu(layer: S.ReLU, ctx: BuildContext) -> nn.HybridBlock:
    return nn.Activation("relu")


@CONVERTERS.register(S.LeakyReLU)
def leaky_relu(layer: S.LeakyReLU, ctx: BuildContext) -> nn.HybridBlock:
    if ctx.exact:
        return leaky_relu_exact(layer.negative_slope)
    return nn.LeakyReLU(layer.negative_slope)


@CONVERTERS.register(S.Sigmoid)
def sigmoid(layer: S.Sigmoid, ctx: BuildContext) -> nn.HybridBlock:
    return nn.Activation("sigmoid")


@CONVERTERS.register(S.Tanh)
def tanh(layer: S.Tanh, ctx: BuildContext) -> nn.HybridBlock:
    return nn.Activation("tanh")
