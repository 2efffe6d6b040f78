"""Dense -> ``nn.Linear`` (weight (out, in): the canonical layout)."""

from __future__ import annotations

from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


@CONVERTERS.register(S.Dense)
def dense(layer: S.Dense, ctx: BuildContext) -> nn.Module:
    return nn.Linear(ctx.input_shape[-1], layer.units, bias=layer.bias)  # (L, C) tokens too
