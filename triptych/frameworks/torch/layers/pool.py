"""Max, average and global average pooling."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


class GlobalAvgPool(nn.Module):
    """(N, C, H, W) -> (N, C): the mean over H and W, as an average pool over the whole
    (known) H x W and a flatten, which every exporter writes as AveragePool + Flatten: a
    ``mean`` (or adaptive pool, under dynamo) becomes a ReduceMean whose opset-18 form
    neither the opset 17 conversion nor onnx2torch takes."""

    def __init__(self, shape: S.Shape) -> None:
        super().__init__()
        self.window = (int(shape[1]), int(shape[2]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.avg_pool2d(x, self.window), 1)


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> nn.Module:
    return nn.MaxPool2d(layer.kernel, layer.effective_stride, layer.padding)


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> nn.Module:
    return nn.AvgPool2d(layer.kernel, layer.effective_stride, layer.padding)


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> nn.Module:
    return GlobalAvgPool(ctx.input_shape)
