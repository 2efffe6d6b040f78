"""Max, average and global average pooling."""

from __future__ import annotations

from triptych.common import spec as S
from triptych.frameworks.mxnet.compat import nn
from triptych.frameworks.mxnet.layers.context import CONVERTERS, BuildContext


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> nn.HybridBlock:
    return nn.MaxPool2D(layer.kernel, layer.effective_stride, layer.padding)


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> nn.HybridBlock:
    return nn.AvgPool2D(layer.kernel, layer.effective_stride, layer.padding, count_include_pad=True)


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> nn.HybridBlock:
    # a global pooling + flatten exports as GlobalAveragePool (mean() as ReduceMean with an
    # axes attribute, which the opset 18 conversion leaves invalid)
    return nn.HybridLambda(
        lambda F, x: F.flatten(F.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg"))
    )
