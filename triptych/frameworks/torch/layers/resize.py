"""Upsample -> ``nn.Upsample`` (nearest or bilinear, integer scale)."""

from __future__ import annotations

from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


@CONVERTERS.register(S.Upsample)
def upsample(layer: S.Upsample, ctx: BuildContext) -> nn.Module:
    return nn.Upsample(scale_factor=layer.scale, mode=layer.mode)
