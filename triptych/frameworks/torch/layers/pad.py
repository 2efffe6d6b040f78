"""Pad -> `ImagePad` (``F.pad`` with PyTorch's constant, reflect and replicate modes)."""

from __future__ import annotations

import torch
from torch import nn

from triptych.common import spec as S
from triptych.frameworks.torch.layers.context import CONVERTERS, BuildContext

#: spec mode -> ``F.pad``'s name for it
TORCH_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate"}


class ImagePad(nn.Module):
    """Pads H and W by ``pads`` (top, left, bottom, right) in ``mode`` (``F.pad``'s)."""

    def __init__(self, pads: tuple[int, int, int, int], mode: str, value: float) -> None:
        super().__init__()
        top, left, bottom, right = pads
        self.pads = (left, right, top, bottom)  # F.pad's order: last axis first
        self.mode, self.value = mode, value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "constant":
            return nn.functional.pad(x, self.pads, value=self.value)
        return nn.functional.pad(x, self.pads, mode=self.mode)


@CONVERTERS.register(S.Pad)
def pad(layer: S.Pad, ctx: BuildContext) -> nn.Module:
    return ImagePad(layer.pads, TORCH_MODES[layer.mode], layer.value)
