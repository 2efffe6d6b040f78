"""Dropout -> `MaskedDropout`, StochasticDepth -> `MaskedStochasticDepth` (exact masks in
training parity, PyTorch's own RNG otherwise)."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext


class MaskedDropout(nn.Dropout):
    """``nn.Dropout`` that, in train mode with a mask set (`set_dropout_masks`), multiplies
    by that mask (exact Dropout, `triptych.common.dropout`); otherwise PyTorch's own Dropout.
    Eval mode is the identity, and export sees plain ``nn.Dropout`` behaviour. The mask is a
    plain attribute, not a buffer: the state_dict is unchanged."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__(p)
        self.mask: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.mask is not None:
            return x * self.mask
        return super().forward(x)


@CONVERTERS.register(S.Dropout)
def dropout(layer: S.Dropout, ctx: BuildContext) -> nn.Module:
    return MaskedDropout(layer.p)


class MaskedStochasticDepth(MaskedDropout):
    """Stochastic depth ("row" mode, torchvision's ``stochastic_depth``): in train mode each
    sample is kept with probability 1-p and scaled by 1/(1-p), by the set mask (batch, 1,
    ..., 1) when there is one, else by PyTorch's RNG. Eval mode is the identity."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        if self.mask is not None:
            return x * self.mask
        keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
        return x * keep.bernoulli_(1.0 - self.p).div_(1.0 - self.p)


@CONVERTERS.register(S.StochasticDepth)
def stochastic_depth(layer: S.StochasticDepth, ctx: BuildContext) -> nn.Module:
    return MaskedStochasticDepth(layer.p)
