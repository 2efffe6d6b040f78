"""Max, average and global average pooling -> Chainer functions."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.chainer.compat import F
from triptych.frameworks.chainer.layers.context import CONVERTERS, BuildContext, Call


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> Call:
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    return lambda x: F.max_pooling_2d(x, k, s, p, cover_all=False)  # padding is -inf: PyTorch's


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> Call:
    k, s, p = layer.kernel, layer.effective_stride, layer.padding
    return lambda x: F.average_pooling_2d(x, k, s, p)  # zero padding averaged in: PyTorch's


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> Call:
    shape = ctx.input_shape
    window = (int(shape[1]), int(shape[2]))  # a whole-image pool: AveragePool in ONNX
    return lambda x: F.reshape(F.average_pooling_2d(x, window), (-1, int(shape[0])))
