"""BatchNorm -> ``nn.BatchNorm1d`` on features, ``nn.BatchNorm2d`` on images."""

from __future__ import annotations

from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


@CONVERTERS.register(S.BatchNorm)
def batchnorm(layer: S.BatchNorm, ctx: BuildContext) -> nn.Module:
    cls = nn.BatchNorm1d if len(ctx.input_shape) == 1 else nn.BatchNorm2d
    return cls(ctx.input_shape[0], eps=layer.eps, momentum=layer.momentum)
