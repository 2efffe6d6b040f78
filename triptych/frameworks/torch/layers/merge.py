"""Add and Concat -> `Merge` (several inputs)."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


class Merge(nn.Module):
    """Add (elementwise sum) or Concat (along a canonical NCHW axis) of several inputs."""

    def __init__(self, concat_axis: int | None = None) -> None:
        super().__init__()
        self.concat_axis = concat_axis

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.concat_axis is not None:
            return torch.cat(xs, dim=self.concat_axis)
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


@CONVERTERS.register(S.Add)
def add(layer: S.Add, ctx: BuildContext) -> nn.Module:
    return Merge()


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> nn.Module:
    return Merge(layer.axis)
