"""Max, average, global and adaptive average pooling."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.common.layers.pool import adaptive_matrix
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


class GlobalPool(nn.Module):
    """(N, C, H, W) -> (N, C) (or (N, C, 1, 1) with ``keepdims``): the mean (or max) over H
    and W, as a pool over the whole (known) H x W, which every exporter writes as
    AveragePool/MaxPool (+ Flatten): a ``mean`` (or adaptive pool, under dynamo) becomes a
    ReduceMean whose opset-18 form neither the opset 17 conversion nor onnx2torch takes."""

    def __init__(self, shape: S.Shape, keepdims: bool = False, reduce: str = "mean") -> None:
        super().__init__()
        self.window = (int(shape[1]), int(shape[2]))
        self.keepdims, self.reduce = keepdims, reduce

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = nn.functional.avg_pool2d if self.reduce == "mean" else nn.functional.max_pool2d
        y = pool(x, self.window)
        return y if self.keepdims else torch.flatten(y, 1)


@CONVERTERS.register(S.MaxPool2d)
def maxpool2d(layer: S.MaxPool2d, ctx: BuildContext) -> nn.Module:
    return nn.MaxPool2d(
        layer.kernel,
        layer.effective_stride,
        layer.padding,
        dilation=layer.dilation,
        ceil_mode=layer.ceil_mode,
    )


@CONVERTERS.register(S.AvgPool2d)
def avgpool2d(layer: S.AvgPool2d, ctx: BuildContext) -> nn.Module:
    return nn.AvgPool2d(
        layer.kernel,
        layer.effective_stride,
        layer.padding,
        ceil_mode=layer.ceil_mode,
        count_include_pad=layer.count_include_pad,
    )


@CONVERTERS.register(S.GlobalAvgPool)
def global_avgpool(layer: S.GlobalAvgPool, ctx: BuildContext) -> nn.Module:
    return GlobalPool(ctx.input_shape, layer.keepdims, "mean")


@CONVERTERS.register(S.GlobalMaxPool)
def global_maxpool(layer: S.GlobalMaxPool, ctx: BuildContext) -> nn.Module:
    return GlobalPool(ctx.input_shape, layer.keepdims, "max")


class AdaptivePool2d(nn.Module):
    """Adaptive average pooling with unequal windows as P_h · X · P_wᵀ, two matmuls with
    constant pooling matrices (`adaptive_matrix`): ``nn.AdaptiveAvgPool2d`` there fails the
    torchscript exporter ("output size that are not factor of input size") and becomes a
    Gather/Where chain under dynamo; MatMul with constants exports alike in both. The
    matrices are made in float64 (the build's ``.to(dtype)`` rounds them once for float32)
    and are not weights (not in the state_dict)."""

    def __init__(self, shape: S.Shape, size: tuple[int, int]) -> None:
        super().__init__()
        exact = {"dtype": torch.float64}
        rows = torch.tensor(adaptive_matrix(shape[1], size[0]), **exact)
        cols = torch.tensor(adaptive_matrix(shape[2], size[1]), **exact).T.contiguous()
        self.register_buffer("rows", rows, persistent=False)  # (out_h, H)
        self.register_buffer("cols", cols, persistent=False)  # (W, out_w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(torch.matmul(self.rows, x), self.cols)


@CONVERTERS.register(S.AdaptiveAvgPool2d)
def adaptive_avgpool2d(layer: S.AdaptiveAvgPool2d, ctx: BuildContext) -> nn.Module:
    """Equal windows of H/out_h x W/out_w: an AvgPool2d, which exports as AveragePool
    everywhere; unequal ones (H or W not a multiple): `AdaptivePool2d`."""
    (oh, ow), shape = layer.size_hw, ctx.input_shape
    if layer.uneven(shape):
        return AdaptivePool2d(shape, (oh, ow))
    window = (shape[1] // oh, shape[2] // ow)
    return nn.AvgPool2d(window, window)
