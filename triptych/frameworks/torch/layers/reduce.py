"""ReduceMean, ReduceSum, ReduceMax -> `Reduce` (``torch.mean`` / ``sum`` / ``amax``)."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


class Reduce(nn.Module):
    """``op`` ("mean", "sum" or "amax") over per-sample ``axes`` (batch excluded)."""

    def __init__(self, op: str, axes: tuple[int, ...], keepdims: bool) -> None:
        super().__init__()
        self.op, self.keepdims = op, keepdims
        self.dims = tuple(a + 1 for a in axes)  # the batch axis first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(torch, self.op)(x, dim=self.dims, keepdim=self.keepdims)


def _reduce(op: str):
    def convert(layer: S.ReduceMean, ctx: BuildContext) -> nn.Module:
        return Reduce(op, layer.resolved_axes(ctx.input_shape), layer.keepdims)

    return convert


CONVERTERS.register(S.ReduceMean)(_reduce("mean"))
CONVERTERS.register(S.ReduceSum)(_reduce("sum"))
CONVERTERS.register(S.ReduceMax)(_reduce("amax"))
