"""Dropout -> `MaskedDropout` (exact masks in training parity, PyTorch's own otherwise)."""

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
