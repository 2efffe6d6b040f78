"""Element-wise merges (broadcasting) and Concat -> `Merge` (several inputs)."""

from __future__ import annotations

import functools

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext

#: element-wise merge -> the binary torch op folded over its inputs
OPS = {
    "add": torch.add,
    "mul": torch.mul,
    "sub": torch.sub,
    "div": torch.div,
    "maximum": torch.maximum,
    "minimum": torch.minimum,
}


class Merge(nn.Module):
    """An element-wise ``op`` (a key of `OPS`) folded over the inputs, left to right, with
    broadcasting; or Concat along a canonical NCHW axis (``concat_axis``)."""

    def __init__(self, concat_axis: int | None = None, op: str = "add") -> None:
        super().__init__()
        self.concat_axis, self.op = concat_axis, op

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.concat_axis is not None:
            return torch.cat(xs, dim=self.concat_axis)
        return functools.reduce(OPS[self.op], xs)


@CONVERTERS.register(S.Add, S.Mul, S.Sub, S.Div, S.Maximum, S.Minimum)
def elementwise(layer: S.Layer, ctx: BuildContext) -> nn.Module:
    return Merge(op=layer.kind)


@CONVERTERS.register(S.Concat)
def concat(layer: S.Concat, ctx: BuildContext) -> nn.Module:
    return Merge(layer.axis)
