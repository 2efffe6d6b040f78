"""Resampling layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    _need_rank,
    numel,
    vocabulary,
)


@vocabulary
@dataclass(frozen=True)
class Upsample(Layer):
    """(C, H, W) -> (C, H·scale, W·scale); ``mode`` nearest (default) or bilinear
    (half-pixel centres, PyTorch's ``align_corners=False``). FLOPs: 0 nearest, 8 per output
    element bilinear (4 multiply-adds)."""

    scale: int = 2
    mode: str = "nearest"
    kind: ClassVar[str] = "upsample"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        if self.mode not in ("nearest", "bilinear"):
            raise SpecError(f"upsample mode {self.mode!r}; allowed: nearest, bilinear")
        if int(self.scale) != self.scale or self.scale < 1:
            raise SpecError(f"upsample scale must be an integer >= 1, got {self.scale}")
        c, h, w = shape
        return (c, h * self.scale, w * self.scale)

    def flops(self, shape: Shape) -> int:
        return 0 if self.mode == "nearest" else 8 * numel(self.output_shape(shape))
