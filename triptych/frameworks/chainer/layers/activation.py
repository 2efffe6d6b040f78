"""Element-wise activations -> Chainer functions, or compositions of them where Chainer (or
onnx-chainer) has no function of that name; PReLU -> `PReLU`, a link holding the slopes.

Chainer's own: relu, leaky_relu, sigmoid, tanh, clip, elu, selu, softplus, prelu and softmax
(each exported by onnx-chainer as the ONNX op of that name; a softmax over another axis than
the last between two Transposes, as ONNX's opset-11 Softmax flattens the axes after its own).
Composed: HardSigmoid (clip of alpha·x + beta: ``F.hard_sigmoid`` has alpha 0.2 fixed),
HardSwish (x · clip(x + 3, 0, 6) / 6), SiLU (x · sigmoid(x)), Mish (x · tanh(softplus(x))),
GELU (0.5·x·(1 + erf(x/√2)) with ``F.erf``, exported as ONNX Erf by the export's own
converter; the tanh form from tanh and products). All of them run in float64 as in float32."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F, chainer
from triptych.frameworks.chainer.layers.context import (
    CONVERTERS,
    WEIGHT_LAYOUTS,
    BuildContext,
    Call,
)


@CONVERTERS.register(S.ReLU)
def relu(layer: S.ReLU, ctx: BuildContext) -> Call:
    return F.relu


@CONVERTERS.register(S.LeakyReLU)
def leaky_relu(layer: S.LeakyReLU, ctx: BuildContext) -> Call:
    return lambda x: F.leaky_relu(x, layer.negative_slope)


@CONVERTERS.register(S.Sigmoid)
def sigmoid(layer: S.Sigmoid, ctx: BuildContext) -> Call:
    return F.sigmoid


@CONVERTERS.register(S.Tanh)
def tanh(layer: S.Tanh, ctx: BuildContext) -> Call:
    return F.tanh


@CONVERTERS.register(S.Clip)
def clip(layer: S.Clip, ctx: BuildContext) -> Call:
    low, high = float(layer.low), float(layer.high)
    if low == high:  # F.clip needs low < high; the output is the constant
        return lambda x: x * 0.0 + low
    return lambda x: F.clip(x, low, high)


@CONVERTERS.register(S.HardSigmoid)
def hard_sigmoid(layer: S.HardSigmoid, ctx: BuildContext) -> Call:
    alpha, beta = float(layer.alpha), float(layer.beta)
    return lambda x: F.clip(x * alpha + beta, 0.0, 1.0)


@CONVERTERS.register(S.HardSwish)
def hard_swish(layer: S.HardSwish, ctx: BuildContext) -> Call:
    return lambda x: x * F.clip(x + 3.0, 0.0, 6.0) / 6.0


@CONVERTERS.register(S.SiLU)
def silu(layer: S.SiLU, ctx: BuildContext) -> Call:
    return lambda x: x * F.sigmoid(x)


def _gelu_erf(x: Any) -> Any:
    return x * (F.erf(x * (1.0 / math.sqrt(2.0))) + 1.0) * 0.5


def _gelu_tanh(x: Any) -> Any:
    inner = (x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)
    return x * (F.tanh(inner) + 1.0) * 0.5


@CONVERTERS.register(S.GELU)
def gelu(layer: S.GELU, ctx: BuildContext) -> Call:
    return _gelu_tanh if layer.approximate == "tanh" else _gelu_erf


@CONVERTERS.register(S.Softmax)
def softmax(layer: S.Softmax, ctx: BuildContext) -> Call:
    axis = layer.resolved_axis(ctx.input_shape) + 1  # the batch first
    return lambda x: F.softmax(x, axis=axis)


@CONVERTERS.register(S.ELU)
def elu(layer: S.ELU, ctx: BuildContext) -> Call:
    return lambda x: F.elu(x, float(layer.alpha))


@CONVERTERS.register(S.SELU)
def selu(layer: S.SELU, ctx: BuildContext) -> Call:
    return F.selu  # alpha 1.6732632423543772, scale 1.0507009873554805: the spec's


@CONVERTERS.register(S.Softplus)
def softplus(layer: S.Softplus, ctx: BuildContext) -> Call:
    return F.softplus


@CONVERTERS.register(S.Mish)
def mish(layer: S.Mish, ctx: BuildContext) -> Call:
    return lambda x: x * F.tanh(F.softplus(x))


class PReLU(chainer.Link):
    """max(x, 0) + W · min(x, 0) along axis 1 (``F.prelu``): ``W`` (C,), or (1,) when
    ``shared`` (broadcast to the C channels first: ``F.prelu`` wants one slope each)."""

    def __init__(self, slopes: int, channels: int, dtype: np.dtype) -> None:
        super().__init__()
        self.channels = channels
        with self.init_scope():
            self.W = chainer.Parameter(np.full((slopes,), 0.25, dtype))

    def forward(self, x: Any) -> Any:
        w = self.W
        if w.shape[0] != self.channels:
            w = F.broadcast_to(w, (self.channels,))
        return F.prelu(x, w)


@CONVERTERS.register(S.PReLU)
def prelu(layer: S.PReLU, ctx: BuildContext) -> chainer.Link:
    channels = int(ctx.input_shape[0])
    return PReLU(1 if layer.shared else channels, channels, ctx.dtype)


@WEIGHT_LAYOUTS.register(S.PReLU)
def prelu_weights(layer: S.PReLU) -> dict[str, str]:
    return {"weight": "W"}
