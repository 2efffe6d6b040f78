"""Element-wise activations -> Gluon's activation blocks and ops, or compositions of
float64-exact ops.

MXNet keeps the float scalars of several ops as float32 (LeakyReLU's slope and its ELU,
SELU, GELU and PReLU forms, ``clip``'s bounds, ``hard_sigmoid``'s alpha and beta), so a
float64 build runs those layers as compositions of ops whose scalars are doubles
(``_mul_scalar``, ``_maximum_scalar``, ...) or whose kernels are float64 (``erf``,
``expm1``). Compositions that are exact in float64 and export through mx2onnx serve both
builds (HardSigmoid, HardSwish, SiLU, tanh-GELU, Mish, PReLU)."""

from __future__ import annotations

import math

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, WEIGHT_LAYOUTS, BuildContext

#: SELU's constants (PyTorch's and ONNX's, in float64)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
#: the tanh approximation of GELU: sqrt(2 / pi) and the cubic coefficient (PyTorch's)
GELU_BETA = math.sqrt(2.0 / math.pi)
GELU_KAPPA = 0.044715


def leaky_relu_exact(slope: float) -> nn.HybridLambda:
    """PyTorch's LeakyReLU with a float64 slope (x if x > 0 else slope * x; the gradient at
    0 is ``slope``, as PyTorch's); MXNet's op keeps its slope as float32."""
    return nn.HybridLambda(lambda F, x: F.where(x > 0, x, x * slope))


def _elu_exact(F, x, alpha: float):  # Gluon passes the namespace as F
    """x for x > 0, alpha · expm1(x) otherwise, every scalar a double."""
    return F.relu(x) + F.expm1(F.minimum(x, 0.0)) * alpha


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


@CONVERTERS.register(S.Clip)
def clip(layer: S.Clip, ctx: BuildContext) -> nn.HybridBlock:
    low, high = float(layer.low), float(layer.high)
    if ctx.exact:  # clip's bounds are float32; the scalar max/min keep doubles
        return nn.HybridLambda(lambda F, x: F.minimum(F.maximum(x, low), high))
    return nn.HybridLambda(lambda F, x: F.clip(x, low, high))  # exports as Clip


@CONVERTERS.register(S.HardSigmoid)
def hard_sigmoid(layer: S.HardSigmoid, ctx: BuildContext) -> nn.HybridBlock:
    # clip(alpha · x + beta, 0, 1): alpha and beta as double scalars (``hard_sigmoid``'s
    # are float32); 0 and 1 are exact in clip's float32 bounds
    alpha, beta = float(layer.alpha), float(layer.beta)
    return nn.HybridLambda(lambda F, x: F.clip(x * alpha + beta, 0.0, 1.0))


@CONVERTERS.register(S.HardSwish)
def hard_swish(layer: S.HardSwish, ctx: BuildContext) -> nn.HybridBlock:
    # PyTorch's x · relu6(x + 3) / 6, in its order (3, 0 and 6 are exact in float32)
    return nn.HybridLambda(lambda F, x: x * F.clip(x + 3.0, 0.0, 6.0) / 6.0)


@CONVERTERS.register(S.SiLU)
def silu(layer: S.SiLU, ctx: BuildContext) -> nn.HybridBlock:
    return nn.HybridLambda(lambda F, x: x * F.sigmoid(x))


def _gelu_erf(F, x):  # Gluon passes the namespace as F
    """PyTorch's x · 0.5 · (1 + erf(x / sqrt 2)) in float64 ops (LeakyReLU's gelu rounds to
    float32; ``erf`` has no mx2onnx translation, so float32 builds use LeakyReLU's)."""
    return x * 0.5 * (F.erf(x * math.sqrt(0.5)) + 1.0)


def _gelu_tanh(F, x):  # Gluon passes the namespace as F
    """PyTorch's 0.5 · x · (1 + tanh(sqrt(2/pi) · (x + 0.044715 · x³)))."""
    inner = (x + x * x * x * GELU_KAPPA) * GELU_BETA
    return x * 0.5 * (F.tanh(inner) + 1.0)


@CONVERTERS.register(S.GELU)
def gelu(layer: S.GELU, ctx: BuildContext) -> nn.HybridBlock:
    if layer.approximate == "tanh":
        return nn.HybridLambda(_gelu_tanh)
    if ctx.exact:
        return nn.HybridLambda(_gelu_erf)
    return nn.HybridLambda(lambda F, x: F.LeakyReLU(x, act_type="gelu"))  # exports as Erf


@CONVERTERS.register(S.ELU)
def elu(layer: S.ELU, ctx: BuildContext) -> nn.HybridBlock:
    alpha = float(layer.alpha)
    if ctx.exact:
        return nn.HybridLambda(lambda F, x: _elu_exact(F, x, alpha))
    return nn.ELU(alpha)  # LeakyReLU(act_type="elu"): exports as Elu


@CONVERTERS.register(S.SELU)
def selu(layer: S.SELU, ctx: BuildContext) -> nn.HybridBlock:
    if ctx.exact:
        return nn.HybridLambda(lambda F, x: _elu_exact(F, x, SELU_ALPHA) * SELU_SCALE)
    return nn.SELU()  # LeakyReLU(act_type="selu"): exports as Selu


@CONVERTERS.register(S.Softmax)
def softmax(layer: S.Softmax, ctx: BuildContext) -> nn.HybridBlock:
    """MXNet's ``softmax`` (max subtracted, float64 kernels in float64 builds) along the
    per-sample axis shifted past the batch; exports as ONNX Softmax on that axis."""
    axis = layer.resolved_axis(ctx.input_shape) + 1
    return nn.HybridLambda(lambda F, x: F.softmax(x, axis=axis))


@CONVERTERS.register(S.Softplus)
def softplus(layer: S.Softplus, ctx: BuildContext) -> nn.HybridBlock:
    # MXNet's softrelu is PyTorch's softplus (x itself above 20), float64 kernels included
    return nn.Activation("softrelu")


@CONVERTERS.register(S.Mish)
def mish(layer: S.Mish, ctx: BuildContext) -> nn.HybridBlock:
    return nn.HybridLambda(lambda F, x: x * F.tanh(F.Activation(x, act_type="softrelu")))


class PReLU(nn.PReLU):
    """Gluon's PReLU (parameter ``alpha``, (C,) or (1,)) computed as relu(x) + alpha ·
    min(x, 0) with alpha on the channel axis 1: exact in float64 (the LeakyReLU op's prelu
    rounds to float32), and it exports right (mx2onnx writes LeakyReLU's prelu as a PRelu
    whose (C,) slope ONNX broadcasts against W, not C)."""

    def __init__(self, channels: int, rank: int, **kwargs: object) -> None:
        super().__init__(in_channels=channels, **kwargs)
        self.slope_shape = (1, -1) + (1,) * (rank - 1)

    def _alias(self) -> str:
        return "prelu"

    def hybrid_forward(self, F, x, alpha):  # Gluon passes the namespace as F
        slope = F.reshape(alpha, shape=self.slope_shape)
        return F.relu(x) + F.broadcast_mul(F.minimum(x, 0.0), slope)


@CONVERTERS.register(S.PReLU)
def prelu(layer: S.PReLU, ctx: BuildContext) -> nn.HybridBlock:
    return PReLU(1 if layer.shared else ctx.input_shape[0], len(ctx.input_shape))


@WEIGHT_LAYOUTS.register(S.PReLU)
def prelu_weights(layer: S.PReLU) -> dict[str, str]:
    return {"weight": "alpha"}
