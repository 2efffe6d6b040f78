"""Pooling layers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from triptych.common.layers.base import (
    Layer,
    Shape,
    SpecError,
    _conv_out,
    _need_rank,
    numel,
    vocabulary,
)


@dataclass(frozen=True)
class _Pool2d(Layer):
    """Square window; stride defaults to the kernel size; symmetric explicit padding
    (at most half the kernel, as in PyTorch)."""

    kernel: int = 2
    stride: int | None = None
    padding: int = 0

    @property
    def effective_stride(self) -> int:
        return self.stride or self.kernel

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        c, h, w = shape
        if not 0 <= 2 * self.padding <= self.kernel:
            raise SpecError(
                f"{self.kind} padding {self.padding} must be between 0 and kernel/2 "
                f"(kernel {self.kernel})"
            )
        if self.kernel > h + 2 * self.padding or self.kernel > w + 2 * self.padding:
            raise SpecError(
                f"{self.kind} kernel {self.kernel} is larger than its input "
                f"{h}x{w} (input shape {shape}, padding {self.padding})"
            )
        s, p = self.effective_stride, self.padding
        return (c, _conv_out(h, self.kernel, s, p), _conv_out(w, self.kernel, s, p))

    def flops(self, shape: Shape) -> int:
        return numel(self.output_shape(shape)) * self.kernel * self.kernel


@vocabulary
@dataclass(frozen=True)
class MaxPool2d(_Pool2d):
    """Max pooling; padding counts as -inf (PyTorch's rule)."""

    kind: ClassVar[str] = "maxpool2d"

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        if not self.padding:
            d.pop("padding")  # unpadded pools keep their JSON (and spec hashes) as they were
        return d


@vocabulary
@dataclass(frozen=True)
class AvgPool2d(_Pool2d):
    """Average pooling; zero padding counts in the average (PyTorch's default,
    ``count_include_pad=True``)."""

    kind: ClassVar[str] = "avgpool2d"


@vocabulary
@dataclass(frozen=True)
class GlobalAvgPool(Layer):
    """(C, H, W) -> (C,): the mean over H and W."""

    kind: ClassVar[str] = "global_avgpool"

    def output_shape(self, shape: Shape) -> Shape:
        _need_rank(self, shape, (3,))
        return (shape[0],)

    def flops(self, shape: Shape) -> int:
        return numel(shape)
